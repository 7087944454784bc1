/* SPDX-License-Identifier: MIT */
/*
 * daemon/status.h - the status document (docs/control.md) and the per-VM
 * figures it shares with the metrics, so both report them alike.
 */
#ifndef PVSCHED_DAEMON_STATUS_H
#define PVSCHED_DAEMON_STATUS_H

#include <stdint.h>

#include "daemon.h"

struct json_object;

/* The answer to "status": a new object, the caller puts it. */
struct json_object *pvs_status_json(struct pvs_daemon *d);

/* "qemu" or "process". */
const char *pvs_status_kind_name(enum pvs_vm_kind kind);
/* A co-scheduling policy's name; "unknown" for a bad value. */
const char *pvs_status_policy_name(int policy);
/* VM's capacity in vCPUs: the smoothed estimate, the vCPU slots until the
 * first one. */
double pvs_status_capacity(const struct pvs_vm *vm);
/* VM's recommended degree of parallelism: the policy's, the vCPU slots (at
 * least 1) until the first estimate. */
uint32_t pvs_status_dop(const struct pvs_vm *vm);

#endif
