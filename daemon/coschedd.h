/* SPDX-License-Identifier: MIT */
/*
 * daemon/coschedd.h - daemon/cosched.c's interface: placement and
 * co-scheduling of VMs (policy/cosched.h is the pure policy it runs).
 */
#ifndef PVSCHED_DAEMON_COSCHEDD_H
#define PVSCHED_DAEMON_COSCHEDD_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"

/* The policy in force: as configured or set at run time, but relaxed for a
 * gang VM with more live vCPUs than pCPUs it may use. */
int pvs_cosched_policy(const struct pvs_daemon *d, const struct pvs_vm *vm);
uint32_t pvs_cosched_live_vcpus(const struct pvs_vm *vm);
/* pCPUs VM's vCPUs may be placed on (0: not known yet). */
uint32_t pvs_cosched_vm_cpus(const struct pvs_daemon *d, const struct pvs_vm *vm);
/* A VM's shares: pvschedctl's, its [vm] section's, its own cgroup's weight
 * (daemon/cgroup.c), the [daemon] default - the first there is; _from
 * says which ("pvschedctl", "config", "cgroup", "default"). */
uint32_t pvs_cosched_shares(const struct pvs_daemon *d, const struct pvs_vm *vm);
const char *pvs_cosched_shares_from(const struct pvs_daemon *d, const struct pvs_vm *vm);
/* After every sample: skew (relaxed), runnable VMs (gang), counters. */
void pvs_cosched_sample(struct pvs_daemon *d, uint64_t now_ns);
/* The gang rotation; returns when to run it again (UINT64_MAX: never). */
uint64_t pvs_cosched_tick(struct pvs_daemon *d, uint64_t now_ns);
/* pvschedctl policy: POLICY (-1 = back to the config: the shares too unless
 * SHARES is given) and SHARES (0 = keep) for VM; 0 or -errno with ERR. */
int pvs_cosched_set(struct pvs_daemon *d, struct pvs_vm *vm, int policy, uint32_t shares, char *err,
                    size_t errlen);

#endif
