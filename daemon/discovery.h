/* SPDX-License-Identifier: MIT */
/*
 * daemon/discovery.h - daemon/discovery.c's interface: finding VMs (QEMU
 * processes, configured and attached process VMs) and their vCPU threads.
 */
#ifndef PVSCHED_DAEMON_DISCOVERY_H
#define PVSCHED_DAEMON_DISCOVERY_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"

/* Reconcile the VM list with /proc, the config and attaches. */
void pvs_discover(struct pvs_daemon *d);
/* Process VMs only: one stat() each; rescan a process whose thread count
 * changed (an OpenMP runtime starting its team), so a new thread becomes a
 * vCPU within pvs_quick_interval_ns() instead of a full rescan period.
 * Until then its CPU time counts as other load and lowers the capacity. */
void pvs_discover_quick(struct pvs_daemon *d);
/* Every period while there are few process VMs; at most 1000 stat()s a
 * second in total (1 ms per process VM), and at least every 100 ms. */
uint64_t pvs_quick_interval_ns(const struct pvs_daemon *d);
void pvs_discovery_free(void);
/* COMM matches one of the comma-separated globs GLOBS (qemu_comm). */
int pvs_comm_matches(const char *globs, const char *comm);
struct pvs_vm *pvs_find_vm(struct pvs_daemon *d, const char *name);
/* Attach a process VM now; returns 0 or -errno with a message in ERR. */
int pvs_attach_process(struct pvs_daemon *d, const char *name, pid_t pid, const char *threads,
                       char *err, size_t errlen);
int pvs_detach(struct pvs_daemon *d, const char *name, char *err, size_t errlen);

#endif
