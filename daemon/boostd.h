/* SPDX-License-Identifier: MIT */
/*
 * daemon/boostd.h - daemon/boost.c's and boost_params.c's interface: the
 * boost loop (policy/boost.h is the pure policy it runs).
 */
#ifndef PVSCHED_DAEMON_BOOSTD_H
#define PVSCHED_DAEMON_BOOSTD_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"

int pvs_boost_vm_enabled(const struct pvs_daemon *d, const struct pvs_vm *vm);
void pvs_boost_params(const struct pvs_daemon *d, const struct pvs_vm *vm,
                      struct pvs_boost_params *p);
/* Scan the VMs; returns the earliest time a decision changes by itself.
 * ALL = 0 skips VMs that ring their doorbell (pvs_vm.db_ring) until a
 * decision of theirs changes by itself: the boost_scan_us timer polls only
 * the VMs that cannot ring; the publish period's scan (ALL = 1) reads them
 * all, the safety net for a ring that was lost. */
uint64_t pvs_boost_scan(struct pvs_daemon *d, uint64_t now_ns, int all);
/* One VM, now (its doorbell rang). */
uint64_t pvs_boost_scan_vm(struct pvs_daemon *d, struct pvs_vm *vm, uint64_t now_ns);
/* Some VM has boosting on: decisions may change by themselves. */
int pvs_boost_active(const struct pvs_daemon *d);
/* Some VM has boosting on and cannot ring: the boost_scan_us timer runs. */
int pvs_boost_polled(const struct pvs_daemon *d);

#endif
