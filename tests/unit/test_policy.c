/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_policy.c - the pure policy code (policy/vcpu.c,
 * policy/dop.c) driven by synthetic samples: vCPU state derivation,
 * counters that go backwards, one-second rates, DoP hysteresis, the
 * capacity estimate and its EWMA, and a closed loop in which a guest
 * follows the advice and must not make it oscillate.
 */
#include <math.h>

#include "check.h"
#include "policy.h"

#define MS 1000000ull
#define S  1000000000ull

/* ---------------- per vCPU ---------------- */

struct vsim {
	struct pvs_vcpu_track t;
	uint64_t now, run, wait, invol;
};

static void vsim_init(struct vsim *v, char state)
{
	struct pvs_vcpu_sample s = {.task_state = state};

	pvs_vcpu_init(&v->t);
	v->now = 5 * S;
	v->run = 100 * MS;
	v->wait = 50 * MS;
	v->invol = 10;
	s.run_ns = v->run;
	s.wait_ns = v->wait;
	s.involuntary = v->invol;
	pvs_vcpu_update(&v->t, &s, v->now);
}

/* Advance by DT with RUN/WAIT more ns; returns what need_state said. */
static int vsim_step(struct vsim *v, uint64_t dt, uint64_t run, uint64_t wait, char state)
{
	struct pvs_vcpu_sample s = {0};
	int need;

	v->now += dt;
	v->run += run;
	v->wait += wait;
	v->invol += 1;
	need = pvs_vcpu_need_state(&v->t, v->run, v->wait, v->now);
	s.run_ns = v->run;
	s.wait_ns = v->wait;
	s.involuntary = v->invol;
	s.task_state = state;
	pvs_vcpu_update(&v->t, &s, v->now);
	return need;
}

static void t_vcpu_prime(void)
{
	struct pvs_vcpu_track t;
	struct pvs_vcpu_sample s = {
	        .run_ns = 1000, .wait_ns = 2000, .involuntary = 3, .task_state = 'R'};

	pvs_vcpu_init(&t);
	CHECK_EQU(t.state, PVSCHED_VCPU_UNKNOWN);
	CHECKM(pvs_vcpu_need_state(&t, 1000, 2000, S) == 1, "an unprimed track needs the state");
	pvs_vcpu_update(&t, &s, S);
	CHECK_EQ(t.primed, 1);
	CHECKM(t.state == PVSCHED_VCPU_RUNNING, "first sample 'R': RUNNING");
	CHECK_EQU(t.run_total, 0);
	CHECK_EQU(t.run_milli, 0);
	s.task_state = 'S';
	pvs_vcpu_init(&t);
	pvs_vcpu_update(&t, &s, S);
	CHECKM(t.state == PVSCHED_VCPU_IDLE, "first sample 'S': IDLE");
	s.task_state = 0;
	pvs_vcpu_init(&t);
	pvs_vcpu_update(&t, &s, S);
	CHECKM(t.state == PVSCHED_VCPU_UNKNOWN, "first sample without state: UNKNOWN");
}

static void t_vcpu_states(void)
{
	struct vsim v;
	struct pvsched_vcpu_host h;

	vsim_init(&v, 'R');
	NOTE("10 ms period: ran 8 ms, waited 1 ms");
	CHECK_EQ(vsim_step(&v, 10 * MS, 8 * MS, 1 * MS, 0), 0);
	CHECK_EQU(v.t.state, PVSCHED_VCPU_RUNNING);
	CHECK_EQU(v.t.run_milli, 800);
	CHECK_EQU(v.t.wait_milli, 100);
	CHECK_EQU(v.t.run_delta, 8 * MS);
	CHECK_EQU(v.t.wait_delta, 1 * MS);

	NOTE("ran 2 ms, waited 6 ms: PREEMPTED (wait > run)");
	CHECK_EQ(vsim_step(&v, 10 * MS, 2 * MS, 6 * MS, 0), 0);
	CHECK_EQU(v.t.state, PVSCHED_VCPU_PREEMPTED);
	CHECK_EQU(v.t.wait_milli, 600);

	NOTE("ran 4 ms, waited 4 ms: RUNNING (wait not > run)");
	vsim_step(&v, 10 * MS, 4 * MS, 4 * MS, 0);
	CHECK_EQU(v.t.state, PVSCHED_VCPU_RUNNING);

	NOTE("no recorded activity, task runnable: PREEMPTED since before the period");
	CHECKM(vsim_step(&v, 10 * MS, 0, 0, 'R') == 1, "need_state asked for the task state");
	CHECK_EQU(v.t.state, PVSCHED_VCPU_PREEMPTED);

	NOTE("no recorded activity, task sleeping: IDLE");
	vsim_step(&v, 10 * MS, 4 * MS, 4 * MS, 0);
	CHECK_EQ(vsim_step(&v, 10 * MS, 0, 0, 'S'), 1);
	CHECK_EQU(v.t.state, PVSCHED_VCPU_IDLE);
	vsim_step(&v, 10 * MS, 8 * MS, 0, 0);
	vsim_step(&v, 10 * MS, 0, 0, 'D');
	CHECK_EQU(v.t.state, PVSCHED_VCPU_IDLE);

	NOTE("little activity (5%%) after RUNNING, no task state: UNKNOWN");
	vsim_step(&v, 10 * MS, 8 * MS, 0, 0);
	CHECK_EQ(vsim_step(&v, 10 * MS, MS / 2, 0, 0), 1);
	CHECK_EQU(v.t.state, PVSCHED_VCPU_UNKNOWN);

	NOTE("exactly 10%% activity: the run/wait rule decides, state not needed");
	CHECK_EQ(vsim_step(&v, 10 * MS, MS / 2, MS / 2, 0), 0);
	CHECK_EQU(v.t.state, PVSCHED_VCPU_RUNNING);
	CHECK_EQ(vsim_step(&v, 10 * MS, MS / 4, 3 * MS / 4, 0), 0);
	CHECK_EQU(v.t.state, PVSCHED_VCPU_PREEMPTED);

	NOTE("shares clamp at 1000 when the counters overshoot the period");
	vsim_step(&v, 10 * MS, 12 * MS, 0, 0);
	CHECK_EQU(v.t.run_milli, 1000);

	pvs_vcpu_to_abi(&v.t, 42, &h);
	CHECK_EQU(h.state, v.t.state);
	CHECK_EQU(h.run_ns, v.t.run_total);
	CHECK_EQU(h.wait_ns, v.t.wait_total);
	CHECK_EQU(h.preemptions, v.t.preemptions);
	CHECK_EQU(h.update_ns, 42);
	CHECK_EQU(h.run_milli, 1000);
	CHECK_EQU(h.seq, 0);
}

/* Fewer task-state reads: a state that cannot have changed carries over. */
static void t_vcpu_carry(void)
{
	struct vsim v;

	vsim_init(&v, 'R');
	vsim_step(&v, 10 * MS, 0, 0, 'R');
	REQUIRE(v.t.state == PVSCHED_VCPU_PREEMPTED);
	NOTE("PREEMPTED and still no activity: cannot have slept without running");
	for (int i = 0; i < 20; i++) {
		CHECKQ(vsim_step(&v, 10 * MS, 0, 0, 0) == 0);
		CHECKQ_EQU(v.t.state, PVSCHED_VCPU_PREEMPTED);
	}
	CHECKM(v.t.state == PVSCHED_VCPU_PREEMPTED, "still PREEMPTED after 20 silent periods");
	NOTE("PREEMPTED with a little activity: ambiguous again");
	CHECK_EQ(vsim_step(&v, 10 * MS, MS / 2, 0, 0), 1);
	CHECK_EQU(v.t.state, PVSCHED_VCPU_UNKNOWN);

	NOTE("IDLE: silent or short no-wait bursts carry over for up to %u periods",
	     PVS_IDLE_VERIFY);
	vsim_step(&v, 10 * MS, 0, 0, 'S');
	REQUIRE(v.t.state == PVSCHED_VCPU_IDLE);
	int carried = 0;
	for (int i = 0; i < 30 && vsim_step(&v, 10 * MS, i % 2 ? MS / 4 : 0, 0, 0) == 0; i++) {
		carried++;
		CHECKQ_EQU(v.t.state, PVSCHED_VCPU_IDLE);
	}
	CHECKM(carried == PVS_IDLE_VERIFY - 1, "re-verified after %d carried periods (want %u)",
	       carried, PVS_IDLE_VERIFY - 1);
	CHECKM(v.t.state == PVSCHED_VCPU_UNKNOWN, "unverified idle is not reported as idle");
	vsim_step(&v, 10 * MS, 0, 0, 'S');
	CHECK_EQU(v.t.state, PVSCHED_VCPU_IDLE);
	CHECK_EQU(v.t.idle_unverified, 0);

	NOTE("IDLE, a short burst that waited >= %u milli: checked at once",
	     PVS_IDLE_WAIT_MAX_MILLI);
	CHECK_EQ(vsim_step(&v, 10 * MS, 0, MS / 4, 0), 1);
	vsim_step(&v, 10 * MS, 0, 0, 'S');
	CHECK_EQ(vsim_step(&v, 10 * MS, MS / 10, MS / 10, 0), 0);

	NOTE("an exact state from the sampler overrides the derivation");
	struct pvs_vcpu_sample s = {.run_ns = v.run + 9 * MS,
	                            .wait_ns = v.wait,
	                            .involuntary = PVS_NO_VALUE,
	                            .exact_state = PVSCHED_VCPU_PREEMPTED};
	pvs_vcpu_update(&v.t, &s, v.now += 10 * MS);
	CHECK_EQU(v.t.state, PVSCHED_VCPU_PREEMPTED);
	s.run_ns += 9 * MS;
	s.exact_state = PVSCHED_VCPU_STATE_MAX + 1; /* ignored */
	pvs_vcpu_update(&v.t, &s, v.now += 10 * MS);
	CHECK_EQU(v.t.state, PVSCHED_VCPU_RUNNING);
	struct pvs_vcpu_track t;
	pvs_vcpu_init(&t);
	s.exact_state = PVSCHED_VCPU_IDLE;
	s.task_state = 'R';
	pvs_vcpu_update(&t, &s, S);
	CHECKM(t.state == PVSCHED_VCPU_IDLE, "also on the priming sample");
}

static void t_vcpu_backwards(void)
{
	struct vsim v;
	struct pvs_vcpu_sample s = {0};
	uint64_t run_total;

	vsim_init(&v, 'R');
	vsim_step(&v, 10 * MS, 8 * MS, 1 * MS, 0);
	run_total = v.t.run_total;
	CHECK_EQU(run_total, 8 * MS);

	NOTE("a new thread behind the slot: run counter restarts near zero");
	v.now += 10 * MS;
	v.run = 3 * MS;
	v.wait = 1 * MS;
	CHECKM(pvs_vcpu_need_state(&v.t, v.run, v.wait, v.now) == 1,
	       "need_state on a backwards counter");
	s = (struct pvs_vcpu_sample){
	        .run_ns = v.run, .wait_ns = v.wait, .involuntary = 2, .task_state = 'R'};
	pvs_vcpu_update(&v.t, &s, v.now);
	CHECKM(v.t.run_total == run_total, "no huge delta: total unchanged (%llu)",
	       (unsigned long long)v.t.run_total);
	CHECK_EQU(v.t.run_delta, 0);
	CHECK_EQU(v.t.run_milli, 0);
	CHECK_EQU(v.t.state, PVSCHED_VCPU_RUNNING);
	NOTE("deltas resume from the new base");
	vsim_step(&v, 10 * MS, 5 * MS, 2 * MS, 0);
	CHECK_EQU(v.t.run_delta, 5 * MS);
	CHECK_EQU(v.t.run_total, run_total + 5 * MS);
	CHECK_EQU(v.t.run_milli, 500);

	NOTE("wait counter backwards re-primes too");
	v.now += 10 * MS;
	v.wait = 0;
	s = (struct pvs_vcpu_sample){.run_ns = v.run + MS,
	                             .wait_ns = v.wait,
	                             .involuntary = PVS_NO_VALUE,
	                             .task_state = 'S'};
	pvs_vcpu_update(&v.t, &s, v.now);
	CHECK_EQU(v.t.wait_delta, 0);
	CHECK_EQU(v.t.state, PVSCHED_VCPU_IDLE);

	NOTE("time not advancing re-primes instead of dividing by zero");
	v.run += MS;
	s = (struct pvs_vcpu_sample){.run_ns = v.run + 5 * MS,
	                             .wait_ns = v.wait,
	                             .involuntary = PVS_NO_VALUE,
	                             .task_state = 0};
	pvs_vcpu_update(&v.t, &s, v.now);
	CHECK_EQU(v.t.run_delta, 0);
	CHECK_EQU(v.t.state, PVSCHED_VCPU_UNKNOWN);
}

static void t_vcpu_preemptions(void)
{
	struct pvs_vcpu_track t;
	static const uint64_t invol[] = {10, 15, PVS_NO_VALUE, 20, 3, 4};
	static const uint64_t want[] = {0, 5, 5, 10, 10, 11};
	uint64_t now = S;

	pvs_vcpu_init(&t);
	NOTE("involuntary switches 10,15,(not read),20,3 (backwards),4");
	for (size_t i = 0; i < NCASES(invol); i++) {
		struct pvs_vcpu_sample s = {.run_ns = i * 5 * MS,
		                            .wait_ns = i * MS,
		                            .involuntary = invol[i],
		                            .task_state = 0};
		pvs_vcpu_update(&t, &s, now);
		now += 10 * MS;
		CHECKM(t.preemptions == want[i], "after sample %zu: %llu preemptions (want %llu)",
		       i, (unsigned long long)t.preemptions, (unsigned long long)want[i]);
	}
	NOTE("a first sample without the counter, then values");
	pvs_vcpu_init(&t);
	struct pvs_vcpu_sample s = {
	        .run_ns = 0, .wait_ns = 0, .involuntary = PVS_NO_VALUE, .task_state = 0};
	pvs_vcpu_update(&t, &s, S);
	s = (struct pvs_vcpu_sample){
	        .run_ns = MS, .wait_ns = 0, .involuntary = 100, .task_state = 0};
	pvs_vcpu_update(&t, &s, S + 10 * MS);
	CHECK_EQU(t.preemptions, 0);
	s = (struct pvs_vcpu_sample){
	        .run_ns = 2 * MS, .wait_ns = 0, .involuntary = 103, .task_state = 0};
	pvs_vcpu_update(&t, &s, S + 20 * MS);
	CHECK_EQU(t.preemptions, 3);
}

static void t_vcpu_rates(void)
{
	struct vsim v;

	vsim_init(&v, 'R');
	NOTE("100 ms periods: run 50 ms, wait 20 ms, 1 involuntary switch each");
	for (int i = 1; i <= 9; i++)
		vsim_step(&v, 100 * MS, 50 * MS, 20 * MS, 0);
	CHECKM(v.t.rate_valid == 0, "no rate before a full second");
	vsim_step(&v, 100 * MS, 50 * MS, 20 * MS, 0);
	CHECKM(v.t.rate_valid == 1, "rates valid after 1 s");
	CHECK_EQU(v.t.run_pct_x100, 5000);
	CHECK_EQU(v.t.wait_pct_x100, 2000);
	CHECK_EQU(v.t.preempt_per_s, 10);
	NOTE("the next second: 100%% run, no wait");
	for (int i = 0; i < 10; i++)
		vsim_step(&v, 100 * MS, 100 * MS, 0, 0);
	CHECK_EQU(v.t.run_pct_x100, 10000);
	CHECK_EQU(v.t.wait_pct_x100, 0);
}

/* ---------------- DoP advice ---------------- */

static void t_dop_hysteresis(void)
{
	static const struct {
		uint32_t cur;
		double cap;
		uint32_t want;
	} c[] = {
	        /* h = 0.15: from 2, up needs > 2.65, down needs < 1.35 */
	        {2, 2.0, 2}, {2, 2.5, 2}, {2, 2.6, 2},  {2, 2.64, 2}, {2, 2.66, 3}, {2, 3.4, 3},
	        {2, 1.5, 2}, {2, 1.4, 2}, {2, 1.36, 2}, {2, 1.34, 1}, {2, 0.2, 1},  {2, 3.9, 4},
	        {4, 3.4, 4}, {4, 3.3, 3}, {1, 1.6, 1},  {1, 1.7, 2},  {3, 2.36, 3}, {3, 2.34, 2},
	};

	NOTE("nr_vcpus 4, hysteresis 150 milli");
	for (size_t i = 0; i < NCASES(c); i++) {
		uint32_t got = pvs_dop_advise(c[i].cur, c[i].cap, 4, 150);
		CHECKM(got == c[i].want, "current %u, capacity %.2f -> %u (got %u)", c[i].cur,
		       c[i].cap, c[i].want, got);
	}
	NOTE("hysteresis 0: plain rounding");
	CHECK_EQU(pvs_dop_advise(2, 2.51, 4, 0), 3);
	CHECK_EQU(pvs_dop_advise(2, 2.49, 4, 0), 2);
	CHECK_EQU(pvs_dop_advise(2, 1.49, 4, 0), 1);
}

static void t_dop_clamp(void)
{
	CHECK_EQU(pvs_dop_advise(2, 100.0, 4, 150), 4);
	CHECK_EQU(pvs_dop_advise(2, -3.0, 4, 150), 1);
	CHECK_EQU(pvs_dop_advise(2, 0.0, 4, 150), 1);
	CHECK_EQU(pvs_dop_advise(0, 0.0, 4, 150), 1);
	CHECK_EQU(pvs_dop_advise(0, 2.6, 4, 150), 3);
	CHECKM(pvs_dop_advise(9, 2.0, 4, 150) == 2, "current beyond nr_vcpus: fresh advice");
	CHECKM(pvs_dop_advise(7, 100.0, 4, 150) == 4, "current beyond nr_vcpus, clamp to nr");
	CHECK_EQU(pvs_dop_advise(1, 5.0, 0, 150), 1);
	CHECK_EQU(pvs_dop_advise(1, 5.0, 1, 150), 1);
	NOTE("sweep capacity 0..8..0 by 0.01 on 6 vCPUs: monotone, every value in [1,6]");
	uint32_t cur = 0, changes = 0, ok = 1;
	for (int i = 0; i <= 1600; i++) {
		double cap = i <= 800 ? i / 100.0 : (1600 - i) / 100.0;
		uint32_t n = pvs_dop_advise(cur, cap, 6, 150);
		if (n < 1 || n > 6 || (cur && i <= 800 && n < cur) || (i > 800 && n > cur))
			ok = 0;
		changes += cur && n != cur;
		cur = n;
	}
	CHECK(ok);
	CHECKM(changes == 10, "5 steps up and 5 down (%u)", changes);
}

static void t_dop_noise(void)
{
	uint32_t cur = 0, changes = 0;
	uint64_t x = 12345;

	NOTE("capacity 2.5 +- 0.12 noise: the advice settles and stays");
	for (int i = 0; i < 10000; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		double cap = 2.5 + ((double)(x >> 11) / (double)(1ull << 53) - 0.5) * 0.24;
		uint32_t n = pvs_dop_advise(cur, cap, 4, 150);
		changes += cur && n != cur;
		cur = n;
	}
	CHECKM(changes == 0, "no change after the first advice (%u)", changes);
}

/* ---------------- per-VM capacity ---------------- */

static struct pvs_vm_obs obs(uint64_t dt, uint32_t nr, uint32_t cpus, double busy, double vm_run,
                             double vm_wait)
{
	struct pvs_vm_obs o = {
	        .dt_ns = dt,
	        .nr_vcpus = nr,
	        .host_cpus = cpus,
	        .host_busy_ns = (uint64_t)(busy * (double)dt),
	        .host_busy_valid = 1,
	        .vm_run_ns = (uint64_t)(vm_run * (double)dt),
	        .vm_wait_ns = (uint64_t)(vm_wait * (double)dt),
	};
	return o;
}

static void t_vm_capacity(void)
{
	struct pvs_dop_params p = {PVS_DOP_DEFAULT_WINDOW_US, PVS_DOP_DEFAULT_HYSTERESIS_MILLI, 0};
	struct pvs_vm_track t;
	struct pvs_vm_obs o;
	struct pvsched_vm out;

	NOTE("4 pCPUs, host busy 2.5, VM ran 1.5: others 1.0, capacity 3.0");
	pvs_vm_init(&t);
	o = obs(100 * MS, 4, 4, 2.5, 1.5, 0.25);
	o.preempted = 1;
	o.running = 2;
	o.idle = 1;
	pvs_vm_update(&t, &p, &o, 7 * S);
	CHECK_EQ(t.primed, 1);
	CHECK_NEAR(t.capacity, 3.0, 1e-6);
	CHECK_NEAR(t.preempted_avg, 0.25, 1e-6);
	CHECK_EQU(t.dop, 3);
	pvs_vm_to_abi(&t, &p, 10000, &out);
	CHECK_EQU(out.capacity_milli, 3000);
	CHECK_EQU(out.preempted_avg_milli, 250);
	CHECK_EQU(out.recommended_dop, 3);
	CHECK_EQU(out.preempted_now, 1);
	CHECK_EQU(out.running_now, 2);
	CHECK_EQU(out.idle_now, 1);
	CHECK_EQU(out.host_cpus, 4);
	CHECK_EQU(out.window_us, PVS_DOP_DEFAULT_WINDOW_US);
	CHECK_EQU(out.publish_period_us, 10000);
	CHECK_EQU(out.update_ns, 7 * S);

	NOTE("others take more than all pCPUs: capacity 0, advice 1");
	pvs_vm_init(&t);
	o = obs(100 * MS, 4, 4, 4.0, 0.0, 0.0);
	o.host_busy_ns = 500 * MS; /* 5 CPUs' worth: accounting skew */
	pvs_vm_update(&t, &p, &o, S);
	CHECK_NEAR(t.capacity, 0.0, 1e-9);
	CHECK_EQU(t.dop, 1);

	NOTE("an idle 8-pCPU host, 4 vCPUs: capacity clamps to nr_vcpus");
	pvs_vm_init(&t);
	o = obs(100 * MS, 4, 8, 0.5, 0.5, 0.0);
	pvs_vm_update(&t, &p, &o, S);
	CHECK_NEAR(t.capacity, 4.0, 1e-9);
	CHECK_EQU(t.dop, 4);

	NOTE("host_busy below the VM's own run time (skew): others = 0");
	pvs_vm_init(&t);
	o = obs(100 * MS, 4, 2, 1.0, 1.5, 0.0);
	pvs_vm_update(&t, &p, &o, S);
	CHECK_NEAR(t.capacity, 2.0, 1e-9);

	NOTE("no host-wide view: capacity = nr_vcpus - preempted (wait 1.5 on 4)");
	pvs_vm_init(&t);
	o = obs(100 * MS, 4, 4, 0.0, 2.0, 1.5);
	o.host_busy_valid = 0;
	pvs_vm_update(&t, &p, &o, S);
	CHECK_NEAR(t.capacity, 2.5, 1e-6);
	CHECK_NEAR(t.preempted_avg, 1.5, 1e-6);
	o = obs(100 * MS, 4, 4, 0.0, 0.0, 9.0);
	o.host_busy_valid = 0;
	pvs_vm_init(&t);
	pvs_vm_update(&t, &p, &o, S);
	CHECKM(t.preempted_avg == 4.0 && t.capacity == 0.0,
	       "preempted clamps to nr_vcpus (%.2f), capacity to 0 (%.2f)", t.preempted_avg,
	       t.capacity);

	NOTE("dt 0 or no vCPUs: counts copied, averages untouched");
	pvs_vm_init(&t);
	o = obs(0, 4, 4, 0, 0, 0);
	o.running = 3;
	pvs_vm_update(&t, &p, &o, S);
	CHECK_EQ(t.primed, 0);
	CHECK_EQU(t.running_now, 3);
	pvs_vm_to_abi(&t, &p, 10000, &out);
	CHECKM(out.capacity_milli == 4000 && out.recommended_dop == 4,
	       "unprimed: capacity and advice = nr_vcpus (%u, %u)", out.capacity_milli,
	       out.recommended_dop);
	o = obs(100 * MS, 0, 4, 1, 0, 0);
	pvs_vm_update(&t, &p, &o, S);
	CHECK_EQ(t.primed, 0);
	pvs_vm_to_abi(&t, &p, 10000, &out);
	CHECK_EQU(out.recommended_dop, 1);
}

static void t_vm_ewma(void)
{
	struct pvs_dop_params p = {250000, 150, 0};
	struct pvs_vm_track t, t2;
	struct pvs_vm_obs o;
	uint64_t now = S;

	CHECK_NEAR(pvs_ewma_alpha(10 * MS, 0), 1.0, 0);
	CHECK_NEAR(pvs_ewma_alpha(250 * MS, 250 * MS), 1.0 - exp(-1.0), 1e-12);
	CHECK_NEAR(pvs_ewma_alpha(0, 250 * MS), 0.0, 0);
	CHECK(pvs_ewma_alpha(100 * S, 250 * MS) <= 1.0);

	NOTE("step from capacity 4 to 1 (others 0 -> 3 on 4 pCPUs), window 250 ms");
	pvs_vm_init(&t);
	o = obs(10 * MS, 4, 4, 1.0, 1.0, 0);
	pvs_vm_update(&t, &p, &o, now);
	CHECK_NEAR(t.capacity, 4.0, 1e-9);
	o = obs(10 * MS, 4, 4, 4.0, 1.0, 0);
	for (int i = 0; i < 25; i++)
		pvs_vm_update(&t, &p, &o, now += 10 * MS);
	CHECKM(fabs(t.capacity - (1.0 + 3.0 * exp(-1.0))) < 1e-6,
	       "after one time constant: 63.2%% of the step (%.6f, want %.6f)", t.capacity,
	       1.0 + 3.0 * exp(-1.0));
	for (int i = 0; i < 25; i++)
		pvs_vm_update(&t, &p, &o, now += 10 * MS);
	CHECK_NEAR(t.capacity, 1.0 + 3.0 * exp(-2.0), 1e-6);

	NOTE("the same 250 ms in 5 steps of 50 ms gives the same value");
	pvs_vm_init(&t2);
	o = obs(10 * MS, 4, 4, 1.0, 1.0, 0);
	pvs_vm_update(&t2, &p, &o, S);
	o = obs(50 * MS, 4, 4, 4.0, 1.0, 0);
	for (int i = 0; i < 5; i++)
		pvs_vm_update(&t2, &p, &o, S + (uint64_t)(i + 1) * 50 * MS);
	CHECK_NEAR(t2.capacity, 1.0 + 3.0 * exp(-1.0), 1e-6);

	NOTE("converges: after 10 time constants within 0.1%% of the new value");
	for (int i = 0; i < 200; i++)
		pvs_vm_update(&t, &p, &o, now += 10 * MS);
	CHECK_NEAR(t.capacity, 1.0, 1e-3);
	CHECK_EQU(t.dop, 1);
}

/* vCPUs whose counters started this period (new or re-primed threads):
 * their CPU time is in host_busy but not in vm_run, so this period says
 * nothing about the others' load and the capacity is kept. */
static void t_vm_fresh(void)
{
	struct pvs_dop_params p = {250000, 150, 0};
	struct pvs_vm_track t;
	struct pvs_vm_obs o;

	NOTE("first period with a fresh vCPU: not primed, nr_vcpus published");
	pvs_vm_init(&t);
	o = obs(10 * MS, 4, 4, 3.5, 0.5, 0);
	o.fresh = 1;
	pvs_vm_update(&t, &p, &o, S);
	CHECK_EQU(t.primed, 0);
	{
		struct pvsched_vm abi;
		pvs_vm_to_abi(&t, &p, 10000, &abi);
		CHECK_EQU(abi.capacity_milli, 4000);
		CHECK_EQU(abi.recommended_dop, 4);
	}
	NOTE("the first real observation sets the average directly");
	o.fresh = 0;
	pvs_vm_update(&t, &p, &o, S + 10 * MS);
	CHECK_NEAR(t.capacity, 1.0, 1e-9);
	CHECK_EQU(t.dop, 1);
	NOTE("capacity 2.0, then a period with a fresh vCPU and busy 4.0: kept");
	pvs_vm_init(&t);
	o = obs(10 * MS, 4, 4, 3.0, 1.0, 0);
	pvs_vm_update(&t, &p, &o, S);
	CHECK_NEAR(t.capacity, 2.0, 1e-9);
	o = obs(10 * MS, 4, 4, 4.0, 1.0, 0);
	o.fresh = 2;
	for (int i = 1; i <= 10; i++)
		pvs_vm_update(&t, &p, &o, S + (uint64_t)i * 10 * MS);
	CHECK_NEAR(t.capacity, 2.0, 1e-9);
	CHECK_EQU(t.dop, 2);
	NOTE("the next normal period moves it again");
	o.fresh = 0;
	pvs_vm_update(&t, &p, &o, S + 200 * MS);
	CHECK(t.capacity < 2.0);
}

/* Oversubscribed: the others' use understates their demand; the VM's own
 * share (run / (run + wait)) recovers it, so the capacity is the same
 * whether the VM keeps 1 or 2 vCPUs busy beside a 1-CPU hog on 2 pCPUs. */
static void t_vm_contention(void)
{
	struct pvs_dop_params p = {250000, 150, 0};
	struct pvs_vm_track t;
	struct pvs_vm_obs o;

	NOTE("2 busy vCPUs + a hog on 2 pCPUs: each gets 2/3; hog's demand 1.0");
	pvs_vm_init(&t);
	o = obs(10 * MS, 2, 2, 2.0, 4.0 / 3, 2.0 / 3);
	pvs_vm_update(&t, &p, &o, S);
	CHECK_NEAR(t.capacity, 1.0, 1e-6);
	CHECK_EQU(t.dop, 1);
	NOTE("1 busy vCPU + the hog: no waiting, capacity 1.0 again");
	pvs_vm_init(&t);
	o = obs(10 * MS, 2, 2, 2.0, 1.0, 0);
	pvs_vm_update(&t, &p, &o, S);
	CHECK_NEAR(t.capacity, 1.0, 1e-6);
	NOTE("4 vCPUs on 2 pCPUs and nothing else: their own waiting is no other load");
	pvs_vm_init(&t);
	o = obs(10 * MS, 4, 2, 2.0, 2.0, 2.0);
	pvs_vm_update(&t, &p, &o, S);
	CHECK_NEAR(t.capacity, 2.0, 1e-6);
	NOTE("a VM barely runnable (below 5%% of a CPU): its share is not used");
	pvs_vm_init(&t);
	o = obs(10 * MS, 2, 2, 1.02, 0.01, 0.03);
	pvs_vm_update(&t, &p, &o, S);
	CHECK_NEAR(t.capacity, 0.99, 1e-6);
	NOTE("a starved VM (share 1%%): the scaling is capped at 10x");
	pvs_vm_init(&t);
	o = obs(10 * MS, 2, 2, 2.0, 0.01, 0.99);
	pvs_vm_update(&t, &p, &o, S);
	CHECK_NEAR(t.capacity, 0.0, 1e-6);
}

/* prime_after: the first real observations of a new VM may use a host
 * busy rate from before it existed; they are skipped, the VM's size stays
 * published, and the next one sets the averages directly. */
static void t_vm_prime_after(void)
{
	struct pvs_dop_params p = {250000, 150, 3};
	struct pvs_vm_track t;
	struct pvs_vm_obs o;
	struct pvsched_vm abi;

	pvs_vm_init(&t);
	NOTE("three observations with another process's load (capacity 0): skipped");
	o = obs(10 * MS, 2, 2, 2.0, 0.0, 0.0);
	for (int i = 0; i < 3; i++)
		pvs_vm_update(&t, &p, &o, S + (uint64_t)i * 10 * MS);
	CHECK_EQ(t.primed, 0);
	pvs_vm_to_abi(&t, &p, 10000, &abi);
	CHECK_EQU(abi.recommended_dop, 2);
	CHECK_EQU(abi.capacity_milli, 2000);
	NOTE("the fourth (a quiet host) sets capacity 2 directly");
	o = obs(10 * MS, 2, 2, 2.0, 2.0, 0.0);
	pvs_vm_update(&t, &p, &o, S + 30 * MS);
	CHECK_EQ(t.primed, 1);
	CHECK_NEAR(t.capacity, 2.0, 1e-9);
	CHECK_EQU(t.dop, 2);
	NOTE("the daemon's value: 50 ms of /proc/stat at a 10 ms period");
	CHECK_EQU(pvs_prime_after_periods(10000), 6);
	CHECK_EQU(pvs_prime_after_periods(1000), 51);
	CHECK_EQU(pvs_prime_after_periods(100000), 2);
}

/* A process VM (obs size = its pCPUs): an OpenMP process that follows the
 * advice down to one thread must be advised up again when the host frees
 * up; a QEMU VM (size 0) stays bounded by its vCPUs. */
static void t_vm_process_size(void)
{
	struct pvs_dop_params p = {250000, 150, 0};
	struct pvs_vm_track t;
	struct pvs_vm_obs o;
	struct pvsched_vm abi;

	NOTE("process VM, 1 thread, 2 pCPUs, 1 CPU of other load: advice 1");
	pvs_vm_init(&t);
	o = obs(10 * MS, 1, 2, 2.0, 1.0, 0);
	o.size = 2;
	pvs_vm_update(&t, &p, &o, S);
	CHECK_EQU(t.dop, 1);
	NOTE("the other load stops: capacity 2, advice 2 with one thread");
	o = obs(10 * MS, 1, 2, 1.0, 1.0, 0);
	o.size = 2;
	for (int i = 1; i <= 100; i++)
		pvs_vm_update(&t, &p, &o, S + (uint64_t)i * 10 * MS);
	CHECK_NEAR(t.capacity, 2.0, 0.05); /* 1 s = 4 time constants */
	CHECK_EQU(t.dop, 2);
	pvs_vm_to_abi(&t, &p, 10000, &abi);
	CHECK_EQU(abi.recommended_dop, 2);
	NOTE("size 0 (a QEMU VM with 1 vCPU): bounded by its vCPU");
	o.size = 0;
	pvs_vm_init(&t);
	for (int i = 0; i <= 100; i++)
		pvs_vm_update(&t, &p, &o, S + (uint64_t)i * 10 * MS);
	CHECK_NEAR(t.capacity, 1.0, 1e-9);
	CHECK_EQU(t.dop, 1);
	NOTE("before any observation a process VM advertises its size");
	pvs_vm_init(&t);
	o.size = 2;
	o.dt_ns = 0;
	pvs_vm_update(&t, &p, &o, S);
	pvs_vm_to_abi(&t, &p, 10000, &abi);
	CHECK_EQU(abi.recommended_dop, 2);
	CHECK_EQU(abi.capacity_milli, 2000);
}

/*
 * Closed loop: a host with CPUS pCPUs and OTHER CPUs' worth of other
 * demand, a guest that keeps exactly recommended_dop vCPUs busy.  The
 * host shares CPUs in proportion to demand when oversubscribed.  The
 * advice must settle and stay put.
 */
struct loop_stats {
	uint32_t final_dop, changes_after_settle, changes;
	double final_cap;
};

static struct loop_stats run_loop(uint32_t cpus, uint32_t nr, double (*other)(int step), int steps,
                                  int settle)
{
	struct pvs_dop_params p = {PVS_DOP_DEFAULT_WINDOW_US, PVS_DOP_DEFAULT_HYSTERESIS_MILLI, 0};
	struct pvs_vm_track t;
	struct loop_stats st = {0, 0, 0, 0};
	uint32_t dop = nr, prev = 0;
	uint64_t now = S, dt = 10 * MS;

	pvs_vm_init(&t);
	for (int i = 0; i < steps; i++) {
		double oth = other(i), demand = oth + dop, share = 1.0;
		if (demand > cpus)
			share = cpus / demand;
		double vm_run = dop * share, oth_run = oth * share;
		struct pvs_vm_obs o = obs(dt, nr, cpus, vm_run + oth_run, vm_run, dop - vm_run);
		o.running = dop;
		o.idle = nr - dop;
		pvs_vm_update(&t, &p, &o, now += dt);
		dop = t.dop; /* the guest follows the advice */
		if (prev && dop != prev) {
			st.changes++;
			if (i >= settle)
				st.changes_after_settle++;
		}
		prev = dop;
	}
	st.final_dop = dop;
	st.final_cap = t.capacity;
	return st;
}

static double other_1_5(int i)
{
	(void)i;
	return 1.5;
}

static double other_step(int i)
{
	return i < 500 ? 1.0 : i < 1000 ? 3.0 : 1.0;
}

static double other_noisy(int i)
{
	/* 1.5 +- 0.3, deterministic */
	uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ull;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 32;
	return 1.5 + ((double)(x & 0xffff) / 65535.0 - 0.5) * 0.6;
}

static double other_zero(int i)
{
	(void)i;
	return 0;
}

static void t_feedback(void)
{
	struct loop_stats s;

	NOTE("4 pCPUs, others 1.5 CPUs, 4 vCPUs following the advice for 10 s");
	s = run_loop(4, 4, other_1_5, 1000, 100);
	printf("  final dop %u, capacity %.3f, %u change(s)\n", s.final_dop, s.final_cap,
	       s.changes);
	CHECKM(s.changes_after_settle == 0, "no oscillation after 1 s (%u changes)",
	       s.changes_after_settle);
	CHECK(s.final_dop == 2 || s.final_dop == 3);
	CHECKM(s.changes <= 2, "at most 2 moves overall (%u)", s.changes);

	NOTE("others 1.0 -> 3.0 -> 1.0 CPUs: follows down and up, each once-ish");
	s = run_loop(4, 4, other_step, 1500, 0);
	CHECK_EQU(s.final_dop, 3);
	CHECKM(s.changes <= 4, "few moves (%u)", s.changes);
	s = run_loop(4, 4, other_step, 1000, 0);
	CHECKM(s.final_dop == 1 || s.final_dop == 2, "others 3.0: advice 1 or 2 (%u)", s.final_dop);

	NOTE("others 1.5 +- 0.3 noise: hysteresis holds");
	s = run_loop(4, 4, other_noisy, 3000, 200);
	printf("  final dop %u, capacity %.3f, %u change(s) after settling\n", s.final_dop,
	       s.final_cap, s.changes_after_settle);
	CHECKM(s.changes_after_settle <= 2, "at most 2 moves after settling (%u)",
	       s.changes_after_settle);

	NOTE("idle host: all vCPUs, never moves");
	s = run_loop(8, 4, other_zero, 500, 0);
	CHECK_EQU(s.final_dop, 4);
	CHECK_EQU(s.changes, 0);
}

/* The estimate must not depend on how many vCPUs the guest keeps busy. */
static void t_capacity_independent(void)
{
	struct pvs_dop_params p = {PVS_DOP_DEFAULT_WINDOW_US, PVS_DOP_DEFAULT_HYSTERESIS_MILLI, 0};
	double cap[5];

	NOTE("4 pCPUs, others 1.0: guest keeps 0..3 vCPUs busy");
	for (uint32_t busy = 0; busy <= 3; busy++) {
		struct pvs_vm_track t;
		struct pvs_vm_obs o = obs(10 * MS, 4, 4, 1.0 + busy, busy, 0);
		pvs_vm_init(&t);
		for (int i = 0; i < 100; i++)
			pvs_vm_update(&t, &p, &o, S + (uint64_t)i * 10 * MS);
		cap[busy] = t.capacity;
		CHECKM(fabs(cap[busy] - 3.0) < 1e-9, "busy %u: capacity %.6f", busy, cap[busy]);
	}
}

/* A vCPU skipped while quiet (bpf sampler: no event since it slept) and
 * then sampled again publishes what folding in every period would have. */
static void t_vcpu_quiet(void)
{
	struct pvs_vcpu_track a, b;
	struct pvs_vcpu_sample s = {.run_ns = 7 * MS,
	                            .wait_ns = 1 * MS,
	                            .involuntary = 3,
	                            .task_state = 'S',
	                            .exact_state = PVSCHED_VCPU_IDLE};
	uint64_t now = 10 * S, last = 0;

	pvs_vcpu_init(&a);
	pvs_vcpu_init(&b);
	NOTE("primed, then one period with run: not quiet");
	pvs_vcpu_update(&a, &s, now);
	pvs_vcpu_update(&b, &s, now);
	now += 10 * MS;
	s.run_ns += 2 * MS;
	pvs_vcpu_update(&a, &s, now);
	pvs_vcpu_update(&b, &s, now);
	CHECK(!pvs_vcpu_is_quiet(&b));
	NOTE("a period asleep with nothing recorded: quiet");
	now += 10 * MS;
	pvs_vcpu_update(&a, &s, now);
	pvs_vcpu_update(&b, &s, now);
	CHECK(pvs_vcpu_is_quiet(&b));
	NOTE("a folds 20 quiet periods in, b skips them");
	for (int i = 0; i < 20; i++) {
		now += 10 * MS;
		pvs_vcpu_update(&a, &s, now);
		CHECK(pvs_vcpu_is_quiet(&a));
		last = now;
	}
	NOTE("it wakes and runs 6 ms of the next 10 ms period");
	now += 10 * MS;
	s.run_ns += 6 * MS;
	s.task_state = 'R';
	s.exact_state = PVSCHED_VCPU_RUNNING;
	pvs_vcpu_update(&a, &s, now);
	pvs_vcpu_quiet_until(&b, last);
	pvs_vcpu_update(&b, &s, now);
	CHECK_EQU(b.run_milli, 600);
	CHECK_EQU(b.run_milli, a.run_milli);
	CHECK_EQU(b.wait_milli, a.wait_milli);
	CHECK_EQU(b.state, a.state);
	CHECK_EQU(b.run_total, a.run_total);
	CHECK_EQU(b.wait_total, a.wait_total);
	CHECK_EQU(b.t_last, a.t_last);
	CHECK(!pvs_vcpu_is_quiet(&b));
	NOTE("a track that is not primed is never quiet");
	pvs_vcpu_init(&b);
	CHECK(!pvs_vcpu_is_quiet(&b));
}

/* A 2-vCPU VM on 2 pCPUs beside 0.1 CPU of other load, 10 ms periods,
 * /proc/stat read every 5th period (50 ms, as the daemon does): the VM
 * runs RUN_BEFORE CPUs for 1 s, then RUN_AFTER for 1 s.  MATCHED: the
 * observations carry /proc/stat's interval (the daemon's), else only its
 * rate.  UPDATE_EVERY: the VM is updated every that many periods (a quiet
 * VM), OTHERS_AFTER: the others' load in the second second.  Returns the
 * lowest capacity after the change; *MIN_DOP the lowest advice, *LAST the
 * capacity at the end. */
static double sim_change(int matched, double run_before, double run_after, double others_after,
                         int update_every, uint32_t *min_dop, double *last)
{
	struct pvs_dop_params p = {PVS_DOP_DEFAULT_WINDOW_US, PVS_DOP_DEFAULT_HYSTERESIS_MILLI, 0};
	struct pvs_vm_track t;
	uint64_t busy = 0, iv_busy = 0, iv_start = 0, iv_end = 0, last_read = 0, last_upd = 0;
	uint64_t run_acc = 0;
	double lowest = 1e9;

	pvs_vm_init(&t);
	*min_dop = 99;
	for (int k = 1; k <= 200; k++) {
		uint64_t now = S + (uint64_t)k * 10 * MS;
		double run = k <= 100 ? run_before : run_after;
		double others = k <= 100 ? 0.1 : others_after;
		struct pvs_vm_obs o;

		busy += (uint64_t)((run + others) * 10 * MS);
		run_acc += (uint64_t)(run * 10 * MS);
		if (k % 5 == 0) { /* /proc/stat read at this tick */
			if (last_read) {
				iv_busy = busy;
				iv_start = last_read;
				iv_end = now;
			}
			busy = 0;
			last_read = now;
		}
		if (!iv_end || k % update_every)
			continue;
		o = obs(last_upd ? now - last_upd : 10 * MS, 2, 2, 0, 0, 0);
		o.vm_run_ns = run_acc;
		o.host_busy_ns = iv_busy * o.dt_ns / (iv_end - iv_start);
		if (matched) {
			o.host_iv_busy_ns = iv_busy;
			o.host_iv_start_ns = iv_start;
			o.host_iv_end_ns = iv_end;
		}
		run_acc = 0;
		last_upd = now;
		pvs_vm_update(&t, &p, &o, now);
		if (k > 100) {
			if (t.capacity < lowest)
				lowest = t.capacity;
			if (t.dop < *min_dop)
				*min_dop = t.dop;
		}
	}
	*last = t.capacity;
	return lowest;
}

static void t_vm_matched_intervals(void)
{
	uint32_t dop;
	double low, last;

	NOTE("the VM stops (1.8 CPUs -> 0) beside 0.1 CPU of others: with the busy rate");
	NOTE("of the last interval set against this period's run its own former load");
	NOTE("shows as the others' for up to 50 ms and the advice falls to 1");
	low = sim_change(0, 1.8, 0.0, 0.1, 1, &dop, &last);
	CHECKM(low < 1.35 && dop == 1, "per-period estimate dips: capacity %.2f, advice %u", low,
	       dop);
	NOTE("the same with the intervals matched: capacity stays near 1.9, advice 2");
	low = sim_change(1, 1.8, 0.0, 0.1, 1, &dop, &last);
	CHECKM(low > 1.85 && dop == 2, "matched: lowest capacity %.3f, advice %u", low, dop);
	CHECK_NEAR(last, 1.9, 0.01);
	NOTE("the team halves (1.8 -> 0.9): matched, the capacity does not move");
	low = sim_change(1, 1.8, 0.9, 0.1, 1, &dop, &last);
	CHECKM(low > 1.85 && dop == 2, "matched: lowest capacity %.3f, advice %u", low, dop);
	NOTE("others rise to 1.5 CPUs while the VM idles: matched, capacity follows to 0.5");
	low = sim_change(1, 0.0, 0.0, 1.5, 1, &dop, &last);
	CHECK_NEAR(last, 0.5, 0.01);
	CHECK_EQU(dop, 1);
	NOTE("a quiet VM updated every 3rd period (a close at its update every 15th):");
	NOTE("the per-period estimate follows the others all the same");
	low = sim_change(1, 0.0, 0.0, 1.5, 3, &dop, &last);
	CHECK_NEAR(last, 0.5, 0.05);
	CHECK_EQU(dop, 1);
}

static const struct tcase cases[] = {
        {"vcpu-quiet", t_vcpu_quiet},
        {"vcpu-prime", t_vcpu_prime},
        {"vcpu-states", t_vcpu_states},
        {"vcpu-carry", t_vcpu_carry},
        {"vcpu-backwards", t_vcpu_backwards},
        {"vcpu-preemptions", t_vcpu_preemptions},
        {"vcpu-rates", t_vcpu_rates},
        {"dop-hysteresis", t_dop_hysteresis},
        {"dop-clamp", t_dop_clamp},
        {"dop-noise", t_dop_noise},
        {"vm-capacity", t_vm_capacity},
        {"vm-ewma", t_vm_ewma},
        {"vm-fresh", t_vm_fresh},
        {"vm-process-size", t_vm_process_size},
        {"vm-contention", t_vm_contention},
        {"vm-prime-after", t_vm_prime_after},
        {"vm-matched-intervals", t_vm_matched_intervals},
        {"feedback", t_feedback},
        {"capacity-independent", t_capacity_independent},
};

int main(int argc, char **argv)
{
	return run_cases(argc, argv, cases, NCASES(cases));
}
