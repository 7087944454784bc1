/* SPDX-License-Identifier: MIT */
/*
 * daemon/sampler.h - how pvschedd observes vCPU threads.  A sampler turns a
 * thread identity into cumulative run/wait samples; procfs is built in, a
 * BPF sampler (sched_switch into a mmapable array) is one more file with
 * these operations (init, fini, open, close, sample).
 */
#ifndef PVSCHED_DAEMON_SAMPLER_H
#define PVSCHED_DAEMON_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "vm.h"

struct pvs_sampler_ops {
	const char *name;
	/* Global setup and teardown; may be NULL.  init returns 0 or -errno
	 * with a message in ERR (e.g. BPF not available). */
	int (*init)(char *err, size_t errlen);
	void (*fini)(void);
	/* Prepare to sample V (open handles).  -ESRCH if the thread is gone or
	 * is not the thread V->id names (tid reused). */
	int (*open)(struct pvs_vcpu *v);
	void (*close)(struct pvs_vcpu *v);
	/* Take a sample.  NEED_INVOL asks for the involuntary switch counter
	 * (the sampler may read it at a slower cadence).  -ESRCH: gone. */
	int (*sample)(struct pvs_vcpu *v, uint64_t now_ns, int need_invol,
	              struct pvs_vcpu_sample *out);
	/* Has V's thread had a scheduler event since this was last asked?
	 * 0: none, so a sample would show the same counters and state as the
	 * last one (the daemon then skips a vCPU that slept at its last
	 * sample); 1: maybe (it clears the indication before answering, so
	 * an event after that is reported next time).  NULL: unknown, every
	 * vCPU is sampled every period (procfs). */
	int (*changed)(struct pvs_vcpu *v);
	/* Was a thread created in a process with an open vCPU since this was
	 * last asked (1, and cleared) or not (0)?  NULL: unknown (procfs),
	 * the daemon polls each process VM's thread count. */
	int (*new_threads)(void);
};

extern const struct pvs_sampler_ops pvs_sampler_procfs;

/* The sampler named NAME ("procfs", "bpf"), or NULL if not built in. */
const struct pvs_sampler_ops *pvs_sampler_find(const char *name);
/* Start the configured sampler: "auto" tries each built-in sampler in order
 * of preference and falls back; returns NULL with a message in ERR. */
const struct pvs_sampler_ops *pvs_sampler_start(const char *name, char *err, size_t errlen);

/* Host-wide CPU use, for the capacity the other load leaves to a VM. */
struct pvs_hoststat;
struct pvs_hoststat *pvs_hoststat_new(void);
void pvs_hoststat_free(struct pvs_hoststat *h);
/* Read /proc/stat unless it was read less than 50 ms before NOW_NS; returns
 * 0 or -errno.  After two reads, busy() answers. */
int pvs_hoststat_sample(struct pvs_hoststat *h, uint64_t now_ns);
/* Busy ns (user+nice+system+irq+softirq+steal) over the CPUs in MASK in
 * the interval (*START_NS, *END_NS] between the last two reads (the times
 * passed to sample()); -1 and zeros if unknown. */
int pvs_hoststat_interval(const struct pvs_hoststat *h, const struct pvs_cpuset *mask,
                          uint64_t *busy_ns, uint64_t *start_ns, uint64_t *end_ns);
unsigned pvs_hoststat_ncpus(const struct pvs_hoststat *h);

#endif
