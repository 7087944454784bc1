/* SPDX-License-Identifier: MIT */
/*
 * policy/boost.h - which vCPUs to boost now, from what the guest asked
 * (ABI 1.2: boost_req, boost_seq, wake_at_ns, wake_len_us), with the limits
 * that keep a guest from abusing it.  Pure: time is passed in; the daemon
 * applies the decisions (daemon/boost.c) and publishes the states.
 *
 * A vCPU wants a boost while its boost_req is > 0, or inside its deadline
 * window [wake_at - lead, wake_at + len).  An *episode* is one stretch of
 * wanting it: it starts when the want starts, when boost_seq changes
 * (the guest re-requested) or when the deadline moves.  Limits:
 *  - max_ns: one episode stays boosted at most this long; then the vCPU is
 *    THROTTLED until the episode ends (the guest drops or renews its
 *    request, or the deadline moves on);
 *  - budget: a token bucket per VM, budget_ns of boosted vCPU-time per
 *    window_ns, burst = budget_ns; empty, every vCPU of the VM is THROTTLED
 *    until it refills to a quarter;
 *  - max_changes: transitions into the boosted state per window per VM
 *    (each costs the daemon a system call); beyond, new boosts are
 *    THROTTLED until the window ends.  Unboosting is never limited.
 * The budget is charged with the CPU time a boosted vCPU thread used
 * (run_ns, when the sampler provides it), else with the time it was
 * boosted: a boosted vCPU that sleeps takes nothing from anyone.  A boost
 * whose want ended is kept linger_ns longer (unless the VM is throttled):
 * a guest that asks in short bursts (an RT task waking every 500 us, an
 * interrupt) is then boosted once for the whole stretch instead of once a
 * burst, which costs two system calls a burst and runs into max_changes.
 * Lingering is free only for a vCPU that sleeps: one whose thread ran at
 * least half of its last sample period (CPU-bound: the guest runs other
 * work between its requests) does not linger, or it would be boosted all
 * the time the guest did not ask and spend the VM's budget on it.
 */
#ifndef PVSCHED_POLICY_BOOST_H
#define PVSCHED_POLICY_BOOST_H

#include <stdint.h>

#include <pvsched/abi.h>

struct pvs_boost_params {
	int enabled;
	uint64_t max_ns;
	uint64_t budget_ns;
	uint64_t window_ns;
	uint64_t lead_ns;
	uint64_t hold_ns;   /* the deadline window's length when the guest gives none */
	uint64_t linger_ns; /* keep a boost this long after its want ended */
	uint32_t max_changes;
};

/* Defaults (docs/boost.md explains them). */
#define PVS_BOOST_MAX_NS      20000000ull  /* 20 ms */
#define PVS_BOOST_BUDGET_NS   500000000ull /* 50 % of one pCPU per VM */
#define PVS_BOOST_WINDOW_NS   1000000000ull
#define PVS_BOOST_LEAD_NS     100000ull /* 100 us */
#define PVS_BOOST_HOLD_NS     300000ull /* 300 us */
#define PVS_BOOST_MAX_CHANGES 2000u
#define PVS_BOOST_LINGER_NS   2000000ull /* 2 ms */

/* Deadlines further than this in the future, or older than this in the
 * past, are ignored (garbage, or a guest clock gone wrong). */
#define PVS_BOOST_HORIZON_NS 10000000000ull

/* What the guest wrote in one slot, read by this scan. */
struct pvs_boost_in {
	uint32_t req;
	uint32_t seq;
	uint64_t wake_at_ns;
	uint32_t wake_len_us;
	int has_run;        /* run_ns and run_at_ns are valid */
	uint64_t run_ns;    /* the vCPU thread's CPU time, cumulative ... */
	uint64_t run_at_ns; /* ... as sampled at this time (a new sample: a new value) */
};

struct pvs_boost_vcpu {
	int boosted;    /* the decision (the daemon applies it) */
	uint32_t state; /* PVSCHED_BOOST_* to publish */
	int wanting;    /* an episode is in progress */
	int blocked;    /* the episode ran past max_ns */
	uint32_t seq;   /* boost_seq of the episode */
	uint64_t wake_at_ns;
	uint64_t since_ns;    /* when the current boost began */
	uint64_t last_ns;     /* accounting */
	uint64_t want_end_ns; /* when the last want ended; 0 while wanting */
	uint64_t run_last;    /* run_ns of the last sample */
	uint64_t run_at;      /* run_at_ns of the last sample */
	uint64_t pend_ns;     /* time boosted since the last sample */
	int run_primed;
	int cpu_bound; /* it ran at least half of its last sample period: no linger */
	uint64_t boost_ns, boosts, throttles;
};

struct pvs_boost_vm {
	int primed;
	int64_t tokens_ns;
	uint64_t last_ns;
	uint64_t window_start_ns;
	uint32_t changes;
	int throttled;
};

/*
 * A slot has two deadlines (1.3): the program's (wake_at_ns, wake_len_us)
 * and the guest kernel driver's (kwake_at_ns, kwake_len_us).  Neither
 * cancels the other: the one that matters at NOW is the one whose window
 * is open or opens first; when both windows are over, the later one.  0
 * means none.  Lengths are taken as the window applies them (0: hold_ns, at
 * most max_ns).
 */
void pvs_boost_pick_wake(uint64_t a_ns, uint32_t a_len_us, uint64_t b_ns, uint32_t b_len_us,
                         const struct pvs_boost_params *p, uint64_t now_ns, uint64_t *wake_ns,
                         uint32_t *len_us);

void pvs_boost_vm_init(struct pvs_boost_vm *vm);
void pvs_boost_vcpu_init(struct pvs_boost_vcpu *v);
/*
 * Decide for the N vCPUs of one VM at time NOW.  Returns how many vCPUs'
 * `boosted` changed.  *NEXT_NS (if not NULL) is lowered to the earliest
 * future time at which a decision can change without a new guest write
 * (a deadline window opening or closing, max_ns, the budget running out
 * or refilling, the change window ending); the daemon arms a timer for it.
 */
uint32_t pvs_boost_step(struct pvs_boost_vm *vm, struct pvs_boost_vcpu *v,
                        const struct pvs_boost_in *in, uint32_t n, const struct pvs_boost_params *p,
                        uint64_t now_ns, uint64_t *next_ns);

#endif
