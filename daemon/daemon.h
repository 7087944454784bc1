/* SPDX-License-Identifier: MIT */
/* daemon/daemon.h - pvschedd's state, shared by its files. */
#ifndef PVSCHED_DAEMON_DAEMON_H
#define PVSCHED_DAEMON_DAEMON_H

#include <stdint.h>

#include "config.h"
#include "sampler.h"
#include "vm.h"

/* A process VM attached at run time (pvschedctl attach). */
struct pvs_attach {
	char name[PVS_NAME_MAX];
	struct pvs_thread_id proc;
	char threads[64];
	char region[PVS_PATH_MAX];
	struct pvs_attach *next;
};

struct pvs_daemon {
	struct pvs_config *cfg;
	struct pvs_vm *vms;
	struct pvs_attach *attached;
	const struct pvs_sampler_ops *sampler;
	struct pvs_hoststat *hoststat;
	uint64_t tick;
	uint64_t last_tick_ns;
	uint64_t start_ns;
	int rescan_requested;
	/* self-accounting, for pvschedctl status */
	uint64_t samples, sample_errors, rescans;
	uint64_t samples_skipped; /* of samples: quiet vCPUs not read (sample.c) */
	/* boosting */
	struct pvs_journal *journal; /* NULL: boosting unavailable */
	uint64_t boost_scans, boost_syscalls, boost_grants;
	/* the ivshmem server (daemon/doorbell.c); NULL: none */
	struct pvs_doorbell *doorbell;
	uint64_t doorbell_scans; /* VM scans a ring caused */
	/* the daemon's own class: SCHED_FIFO above every boost and gang while
	 * it holds some thread in an RT class, else the fair class */
	int self_rt;
	int self_rt_failed;  /* the last attempt to raise itself failed (logged) */
	uint32_t rt_threads; /* vCPU threads it holds at an RT priority */
	/* co-scheduling (daemon/cosched.c) */
	struct pvs_gang gang;
	uint64_t cs_next_ns;        /* the next gang turn */
	uint64_t cs_last_ns;        /* the last pvs_cosched_sample */
	int placement_dirty;        /* VMs or policies changed: place again */
	uint64_t placement_sig;     /* of the VMs and threads placed last */
	struct pvs_vm *gang_holder; /* the VM whose gang holds the slice */
	uint64_t cs_syscalls;       /* attribute changes made for co-scheduling */
};

/* discovery.c: reconcile the VM list with /proc, the config and attaches. */
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

/* publish.c: the region of each VM. */
void pvs_publish_open(struct pvs_daemon *d, struct pvs_vm *vm);
/* VM is leaving (its process exited, it was detached or removed from the
 * configuration): remove a process VM's region file (see publish.c). */
void pvs_publish_remove(struct pvs_vm *vm);
void pvs_publish(struct pvs_daemon *d, struct pvs_vm *vm, uint64_t now_ns);

/* Write one vCPU's slot now (a boost verdict changed). */
void pvs_publish_vcpu(struct pvs_vm *vm, struct pvs_vcpu *v, uint64_t now_ns);

/* boost.c: the boost loop (see the file). */
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

/* actuate.c: give V's thread the attributes its layers ask for (boost,
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

/* cosched.c: placement and co-scheduling. */
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

/* sample.c: one period of sampling and policy for every VM. */
/* One period; returns the vCPUs that may have changed (all of them without
 * a sampler that can tell), 0 when every vCPU slept with nothing new. */
uint32_t pvs_sample_all(struct pvs_daemon *d, uint64_t now_ns);
/* How often a VM whose vCPUs all sleep with nothing new is updated and gets
 * its heartbeat, and the longest period of an idle host's ticks. */
uint64_t pvs_quiet_ns(const struct pvs_config *c);

#endif
