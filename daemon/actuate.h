/* SPDX-License-Identifier: MIT */
/*
 * daemon/actuate.h - daemon/actuate.c's interface: the attributes of vCPU
 * threads and of pvschedd itself, every change through the journal.
 */
#ifndef PVSCHED_DAEMON_ACTUATE_H
#define PVSCHED_DAEMON_ACTUATE_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"

/* Give V's thread the attributes its layers ask for (boost,
 * gang, co-stop, own) and its placement; 0 or -errno of the change that
 * failed (the layer it has is in V->layer).  Raises the daemon itself to
 * SCHED_FIFO before the first thread goes to an RT class. */
int pvs_actuate(struct pvs_daemon *d, struct pvs_vm *vm, struct pvs_vcpu *v);
/* The thread behind V changed or is gone: forget what was applied to the
 * old one (restored if it still exists). */
void pvs_actuate_release(struct pvs_daemon *d, struct pvs_vcpu *v);
/* If the thread behind V changed or is gone since something was applied
 * to it: release it and reset V's boost and co-scheduling state; 1 if so. */
int pvs_actuate_stale(struct pvs_daemon *d, struct pvs_vcpu *v);
/* Back to the fair class when no thread is held at an RT priority. */
void pvs_self_sched_update(struct pvs_daemon *d);
/* The daemon's own class: RT (SCHED_FIFO boost_priority + 1) or the fair
 * class (nice -10, 100 us slice).  0 or -errno. */
int pvs_self_sched(struct pvs_daemon *d, int rt);
/* VM goes away (or the daemon exits): every thread of it back as it was. */
void pvs_actuate_vm_release(struct pvs_daemon *d, struct pvs_vm *vm);

#endif
