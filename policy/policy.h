/* SPDX-License-Identifier: MIT */
/*
 * policy/policy.h - pvsched's pure policy code.
 *
 * Everything here is deterministic arithmetic on observations: no system
 * call, no clock read, no allocation.  Time is an argument.  pvschedd feeds
 * it from procfs; tests (and later pvsim) feed it synthetic samples.
 */
#ifndef PVSCHED_POLICY_H
#define PVSCHED_POLICY_H

#include <stdint.h>

#include <pvsched/abi.h>

#define PVS_NO_VALUE UINT64_MAX

/* ---------- per vCPU ---------- */

/* One observation of a vCPU thread.  run/wait are cumulative ns (schedstat
 * fields 1 and 2); involuntary is cumulative involuntary context switches or
 * PVS_NO_VALUE when not read this time; task_state is the stat state letter
 * or 0 when not read (the sampler reads it only when pvs_vcpu_need_state()
 * says so). */
struct pvs_vcpu_sample {
	uint64_t run_ns;
	uint64_t wait_ns;
	uint64_t involuntary;
	char task_state;
	/* PVSCHED_VCPU_* as seen at the sample instant by a sampler that knows
	 * (a scheduler-tracepoint sampler); 0 = derive it from the deltas. */
	uint32_t exact_state;
};

struct pvs_vcpu_track {
	int primed;
	uint64_t t_last;
	uint64_t last_run, last_wait, last_invol;
	uint64_t run_total, wait_total, preemptions; /* since attach */
	uint64_t run_delta, wait_delta;              /* of the last period */
	uint32_t state;                              /* PVSCHED_VCPU_* */
	uint32_t run_milli, wait_milli;              /* last period, clamped */
	/* one-second rates for operators */
	uint64_t rate_t0, rate_run0, rate_wait0, rate_pre0;
	uint32_t run_pct_x100, wait_pct_x100; /* %RUN, %RDY times 100 */
	uint32_t preempt_per_s;
	int rate_valid;
	uint32_t idle_unverified; /* idle periods carried over without a state read */
};

/* Below this share of a period with recorded run+wait, the schedstat deltas
 * cannot tell "slept" from "waited and has not run yet" (run_delay is only
 * accounted when the thread gets the CPU): the task state decides. */
#define PVS_ACTIVITY_MIN_MILLI 100u
/* An idle vCPU's state is re-read at least every this many periods. */
#define PVS_IDLE_VERIFY 8u
/* An idle vCPU that waited more than this share of a period to run its
 * short burst is checked at once: the host may be contended. */
#define PVS_IDLE_WAIT_MAX_MILLI 20u

void pvs_vcpu_init(struct pvs_vcpu_track *t);
/* Would a sample with these cumulative values need the task state? */
int pvs_vcpu_need_state(const struct pvs_vcpu_track *t, uint64_t run_ns, uint64_t wait_ns,
                        uint64_t now_ns);
/* Fold a sample in.  Counters that went backwards (a new thread behind the
 * same slot) re-prime the track instead of producing huge deltas. */
void pvs_vcpu_update(struct pvs_vcpu_track *t, const struct pvs_vcpu_sample *s, uint64_t now_ns);
/* True when T describes a vCPU that slept through its last period with no
 * run or wait recorded: while its thread has no scheduler event, every
 * further period would fold in the same (zero deltas, IDLE), so the daemon
 * may skip it and call pvs_vcpu_quiet_until() when it samples it again. */
int pvs_vcpu_is_quiet(const struct pvs_vcpu_track *t);
/* T was quiet (above) until T_NS, the last period it was skipped in: the
 * next update's deltas then cover one period, as if it had been folded in
 * every period. */
void pvs_vcpu_quiet_until(struct pvs_vcpu_track *t, uint64_t t_ns);
void pvs_vcpu_to_abi(const struct pvs_vcpu_track *t, uint64_t now_ns,
                     struct pvsched_vcpu_host *out);

/* ---------- per VM: capacity and degree-of-parallelism advice ---------- */

struct pvs_dop_params {
	uint32_t window_us;        /* EWMA time constant */
	uint32_t hysteresis_milli; /* extra margin before the advice moves */
	/* real observations to skip before the first sets the averages: the
	 * host-wide busy time is a rate over an interval that may predate the
	 * VM (another process's load); 0 = use the first */
	uint32_t prime_after;
};

#define PVS_DOP_DEFAULT_WINDOW_US        100000u
#define PVS_DOP_DEFAULT_HYSTERESIS_MILLI 150u

/* Real observations to skip before priming when host-wide busy time is a
 * rate re-read at most every 50 ms (PVS_HOSTSTAT_MIN_NS, daemon/hoststat.c): ceil(50 ms /
 * period) + 1. */
static inline uint32_t pvs_prime_after_periods(uint32_t period_us)
{
	uint64_t p = period_us ? period_us : 1;
	return (uint32_t)((50000u + p - 1) / p + 1);
}

/* Others' demand from their use and the VM's own share (policy/dop.c):
 * applied only when the VM's vCPUs were runnable for at least this many
 * CPUs' worth of the period, and never scaled by more than 1 / this share. */
#define PVS_DEMAND_MIN_ACTIVE 0.05
#define PVS_DEMAND_MIN_SHARE  0.1
/* ... and only when the VM's pCPUs were at least this busy (saturated). */
#define PVS_DEMAND_SATURATED 0.9

/* What happened to one VM over one period of dt_ns. */
struct pvs_vm_obs {
	uint64_t dt_ns;
	uint32_t nr_vcpus;     /* vCPUs known */
	uint32_t host_cpus;    /* pCPUs the VM may run on */
	uint64_t host_busy_ns; /* CPU time used on those pCPUs by anything, incl. steal */
	int host_busy_valid;
	uint64_t vm_run_ns;  /* sum of the vCPUs' run deltas */
	uint64_t vm_wait_ns; /* sum of the vCPUs' wait deltas */
	uint32_t preempted, running, idle;
	/* vCPUs whose counters started this period: their run time is in
	 * host_busy_ns but not in vm_run_ns, so capacity is not computed */
	uint32_t fresh;
	/* the most vCPUs the VM can use, when more than nr_vcpus (0 = none):
	 * a process VM's thread count follows its own parallelism, so its
	 * advice is bounded by its pCPUs, not by the threads it has now */
	uint32_t size;
	/* The host-wide busy time as measured: host_iv_busy_ns over the
	 * interval (host_iv_start_ns, host_iv_end_ns] between the last two
	 * reads of /proc/stat (0, 0: not given; host_busy_ns, the same rate
	 * applied to dt_ns, is then used as is).  The VM's run and wait are
	 * summed over the same interval, so the others' time is taken from
	 * one span instead of one from the last interval and the other from
	 * this period (docs/policy.md, "Matching intervals"). */
	uint64_t host_iv_busy_ns, host_iv_start_ns, host_iv_end_ns;
};

struct pvs_vm_track {
	int primed;
	uint32_t seen;        /* real observations before priming */
	double preempted_avg; /* vCPUs, smoothed */
	double capacity;      /* vCPUs, smoothed */
	uint32_t dop;
	uint32_t preempted_now, running_now, idle_now, nr_vcpus, host_cpus;
	uint32_t size; /* max(nr_vcpus, obs size): bound of capacity and advice */
	uint64_t update_ns;
	/* the VM's run and wait summed since acc_from_ns, periods up to
	 * acc_to_ns, for the host interval that ends there (acc_ok: no gap
	 * and no fresh vCPU in between); iv_cap: capacity of the last interval
	 * so matched, the input of the average until the next (iv_valid) */
	uint64_t acc_run_ns, acc_wait_ns, acc_from_ns, acc_to_ns, iv_end_ns;
	int acc_ok, iv_valid;
	double iv_cap;
};

void pvs_vm_init(struct pvs_vm_track *t);
void pvs_vm_update(struct pvs_vm_track *t, const struct pvs_dop_params *p,
                   const struct pvs_vm_obs *o, uint64_t now_ns);
/* Advice with hysteresis: where CURRENT should go given CAPACITY. */
uint32_t pvs_dop_advise(uint32_t current, double capacity, uint32_t nr_vcpus,
                        uint32_t hysteresis_milli);
void pvs_vm_to_abi(const struct pvs_vm_track *t, const struct pvs_dop_params *p, uint32_t period_us,
                   struct pvsched_vm *out);

/* EWMA weight of a new sample after dt with time constant tau. */
double pvs_ewma_alpha(uint64_t dt_ns, uint64_t tau_ns);

#endif
