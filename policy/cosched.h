/* SPDX-License-Identifier: MIT */
/*
 * policy/cosched.h - placement and co-scheduling of sibling vCPUs (pure).
 *
 * Three parts, each deterministic arithmetic on arguments (no system call,
 * no clock, no allocation), so pvsim and the unit tests run the daemon's
 * own decisions (docs/cosched.md explains the policies and defaults):
 *
 *   placement  which pCPUs each vCPU thread may use: `spread` keeps the
 *              vCPUs of one VM on different pCPUs, `dedicated` gives a VM
 *              pCPUs no other placed VM uses;
 *   gang       strict co-scheduling: time slices in which one VM's vCPUs
 *              run together (the daemon raises them to an RT priority),
 *              VMs chosen by stride scheduling over their shares, the RT
 *              share of every pCPU bounded;
 *   relaxed    ESX 4 style: each vCPU's progress against its slowest busy
 *              sibling (idle counts as progress); a vCPU that ran ahead by
 *              more than the skew threshold is co-stopped until the
 *              laggard catches up.
 */
#ifndef PVSCHED_POLICY_COSCHED_H
#define PVSCHED_POLICY_COSCHED_H

#include <stdint.h>

#include "pvs_cpuset.h" /* struct pvs_cpuset (pure, inline) */

enum pvs_cs_policy {
	PVS_CS_NONE = 0,      /* leave the threads to the host scheduler */
	PVS_CS_SPREAD = 1,    /* placement only: siblings on different pCPUs */
	PVS_CS_DEDICATED = 2, /* placement: pCPUs of its own, one per vCPU */
	PVS_CS_GANG = 3,      /* spread + strict co-scheduling */
	PVS_CS_RELAXED = 4,   /* spread + relaxed co-scheduling */
};
#define PVS_CS_NR_POLICIES  5
#define PVS_CS_POLICY_NAMES "none, spread, dedicated, gang or relaxed"

#define PVS_CS_SHARES_MIN 1u
#define PVS_CS_SHARES_MAX 1000000u

/* A cgroup's CPU weight on the shares scale (default 1000): V1's
 * cpu.shares (2..262144, default 1024) or v2's cpu.weight (1..10000,
 * default 100), rounded; 0 if VALUE is out of that range. */
uint32_t pvs_cs_shares_from_cgroup(int v1, uint64_t value);

/* "none", "spread", ...; NULL for a bad value. */
const char *pvs_cs_policy_name(int policy);
/* The policy named S, or -1. */
int pvs_cs_policy_parse(const char *s);

/* ---------- placement ---------- */

struct pvs_place_vm {
	int policy;                /* enum pvs_cs_policy */
	uint32_t nr_vcpus;         /* vCPUs to place (indices 0..nr-1) */
	struct pvs_cpuset allowed; /* CPUs the VM may use */
	struct pvs_cpuset *out;    /* [nr_vcpus]: filled for placed VMs */
	uint32_t shared;           /* out: vCPUs that had to share a pCPU
	                              with a sibling (too few CPUs) */
	int dedicated_short;       /* out: dedicated, but fewer free CPUs
	                              than vCPUs were left */
};

/*
 * Place every VM whose policy is not NONE.  USABLE: the host's online CPUs
 * minus reserved housekeeping CPUs (the caller falls back to all online
 * CPUs if that is empty).  Dedicated VMs first, in array order: each vCPU
 * gets one CPU of its own, taken from the least-used allowed CPUs; those
 * CPUs leave every other VM's set.  Then the others: with at least as
 * many CPUs as vCPUs, the VM's CPUs are dealt out so that the vCPUs get
 * disjoint groups (each vCPU a "home" CPU, the least loaded so far, then
 * the rest round-robin), so siblings never share a pCPU and each can still
 * move within its group; with fewer, vCPU i gets CPU i mod m alone.  A VM
 * whose allowed CPUs are all taken by dedicated VMs keeps its allowed set
 * (out = allowed ∩ usable, or allowed).  Deterministic.
 */
void pvs_place(struct pvs_place_vm *vms, uint32_t n, const struct pvs_cpuset *usable);

/* ---------- gang: strict co-scheduling ---------- */

struct pvs_gang_params {
	uint64_t slice_ns; /* one VM's turn */
	uint32_t rt_pct;   /* most of the time gang slices may take (10..100) */
};

/* Per VM taking part (policy GANG), kept by the caller between calls. */
struct pvs_gang_vm {
	uint32_t shares;  /* in: > 0 */
	int runnable;     /* in: some vCPU ran or waited to run lately */
	uint64_t pass;    /* stride-scheduling virtual time */
	int was_runnable; /* state */
	uint64_t run_ns;  /* out: slice time charged so far (for shares) */
};

struct pvs_gang {
	int cur;            /* VM index holding the slice, -1: none (gap) */
	uint64_t t_last;    /* last call */
	uint64_t slice_end; /* the current turn (slice or gap) ends */
	int64_t rt_debt_ns; /* gang time not yet balanced by gap time */
	uint64_t gap_ns;    /* total gap time (bounding RT use) */
};

void pvs_gang_init(struct pvs_gang *g);

/*
 * Whether gang turns of RT_PCT % leave the kernel's RT budget (RUNTIME_US
 * of every PERIOD_US: sched_rt_runtime_us / sched_rt_period_us, 950000 /
 * 1000000 by default; RUNTIME_US < 0: no RT throttling) at least
 * PVS_GANG_RT_HEADROOM_PCT points for everything else that runs at an RT
 * priority while a gang holds its turn: boosted vCPUs, the TCG main
 * threads raised with their gang, pvschedd itself.  Without it the kernel
 * throttles RT tasks in the middle of turns.  Returns 1 when it does, 0
 * when not, with *MAX_PCT (if not NULL) the largest RT_PCT that would
 * (0 when none would).
 */
#define PVS_GANG_RT_HEADROOM_PCT 5u
int pvs_gang_rt_fits(uint32_t rt_pct, int64_t runtime_us, uint64_t period_us, uint32_t *max_pct);

/*
 * Advance the rotation to NOW and return the VM that holds the slice now
 * (its vCPUs raised), or -1 (all VMs in the fair class: nobody runnable,
 * or a gap that keeps gang time within rt_pct).  Charges the time since
 * the last call to the VM that held it (pass += time * 2^20 / shares), so
 * a VM with twice the shares gets twice the slices under contention.  A
 * VM that becomes runnable starts at the smallest pass of the runnable
 * ones (no credit for time it did not want).  A slice that is still
 * running continues unless its VM stopped being runnable (work
 * conserving).  *NEXT_NS: when to call again (end of the turn).  VMs may
 * come and go between calls if the caller resets the index (CUR refers to
 * the array of the previous call: pass g->cur = -1 after reordering).
 */
int pvs_gang_step(struct pvs_gang *g, struct pvs_gang_vm *vms, uint32_t n,
                  const struct pvs_gang_params *p, uint64_t now, uint64_t *next_ns);

/* ---------- relaxed co-scheduling ---------- */

struct pvs_relax_params {
	uint64_t skew_ns;    /* co-stop a vCPU this far ahead of the slowest */
	uint64_t costart_ns; /* co-start it at or below this lead */
};

struct pvs_relax_in {
	uint64_t ready_ns; /* runnable but not running during the interval
	                      (co-stopped time included) */
	int idle;          /* slept the whole interval or is sleeping now */
	int boosted;       /* holds a boost: never co-stopped */
};

struct pvs_relax_vcpu {
	uint64_t lead_ns; /* progress ahead of the slowest busy sibling */
	int stopped;      /* co-stopped: the daemon demotes the thread */
	int widened;      /* a laggard while a sibling is co-stopped: it may run
	                     on every pCPU of its VM's placement, the stopped
	                     sibling's included (not only its own) */
};

/*
 * One interval of DT ns for the N vCPUs of one VM.  Progress = time not
 * spent ready: running and sleeping both count (an idle vCPU keeps pace
 * and is neither ahead nor behind: its lead is reset to 0 and it is never
 * co-stopped).  Leads are relative to the slowest busy vCPU.  A busy
 * vCPU whose lead exceeds skew_ns is co-stopped; it is co-started when its
 * lead falls to costart_ns.  While a busy vCPU is co-stopped, every busy
 * vCPU of the VM that is not is *widened*: co-stopping the leader only
 * helps if the laggards can take the pCPU it gives up, and with one pCPU
 * per vCPU (placement) a laggard starved on its own pCPU - by another VM
 * or host tasks - could not move there; the daemon then lets it run on the
 * VM's pCPUs together.  PLENTIFUL (enough free pCPUs for every busy
 * vCPU): everything is co-started (strict co-start) and leads reset.
 * Returns the number of vCPUs co-stopped after the step.
 */
uint32_t pvs_relax_step(struct pvs_relax_vcpu *v, const struct pvs_relax_in *in, uint32_t n,
                        uint64_t dt, int plentiful, const struct pvs_relax_params *p);

#endif
