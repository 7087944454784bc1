/* SPDX-License-Identifier: MIT */
/*
 * daemon/publish.h - daemon/publish.c's interface: each VM's shared region.
 */
#ifndef PVSCHED_DAEMON_PUBLISH_H
#define PVSCHED_DAEMON_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"

void pvs_publish_open(struct pvs_daemon *d, struct pvs_vm *vm);
/* VM is leaving (its process exited, it was detached or removed from the
 * configuration): remove a process VM's region file (see publish.c). */
void pvs_publish_remove(struct pvs_vm *vm);
void pvs_publish(struct pvs_daemon *d, struct pvs_vm *vm, uint64_t now_ns);

/* Write one vCPU's slot now (a boost verdict changed). */
void pvs_publish_vcpu(struct pvs_vm *vm, struct pvs_vcpu *v, uint64_t now_ns);

#endif
