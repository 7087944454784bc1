/* SPDX-License-Identifier: MIT */
/* tests/unit/test_boost_policy.c - policy/boost.c: grant, nest, deadline
 * windows, max continuous boost, budget, change rate, disable, garbage. */
#include "boost.h"
#include "check.h"

#define US ((uint64_t)1000)
#define MS ((uint64_t)1000000)
#define S0 (1000ull * MS) /* an arbitrary start time */

static struct pvs_boost_params params(void)
{
	struct pvs_boost_params p = {
	        .enabled = 1,
	        .max_ns = PVS_BOOST_MAX_NS,
	        .budget_ns = PVS_BOOST_BUDGET_NS,
	        .window_ns = PVS_BOOST_WINDOW_NS,
	        .lead_ns = PVS_BOOST_LEAD_NS,
	        .hold_ns = PVS_BOOST_HOLD_NS,
	        .max_changes = PVS_BOOST_MAX_CHANGES,
	};
	return p;
}

struct sim {
	struct pvs_boost_params p;
	struct pvs_boost_vm vm;
	struct pvs_boost_vcpu v[4];
	struct pvs_boost_in in[4];
	uint64_t next;
};

static void sim_init(struct sim *s)
{
	memset(s, 0, sizeof(*s));
	s->p = params();
	pvs_boost_vm_init(&s->vm);
	for (int i = 0; i < 4; i++)
		pvs_boost_vcpu_init(&s->v[i]);
}

static uint32_t step(struct sim *s, uint32_t n, uint64_t now)
{
	s->next = UINT64_MAX;
	return pvs_boost_step(&s->vm, s->v, s->in, n, &s->p, now, &s->next);
}

/* A request is granted at once and released when the guest clears it. */
static void t_grant(void)
{
	struct sim s;

	sim_init(&s);
	NOTE("no request: nothing boosted");
	CHECK_EQU(step(&s, 2, S0), 0);
	CHECK_EQU(s.v[0].state, PVSCHED_BOOST_NONE);
	NOTE("vCPU 1 asks: granted, vCPU 0 untouched");
	s.in[1].req = 1;
	s.in[1].seq = 1;
	CHECK_EQU(step(&s, 2, S0 + MS), 1);
	CHECK(s.v[1].boosted && s.v[1].state == PVSCHED_BOOST_GRANTED);
	CHECK(!s.v[0].boosted);
	CHECK_EQU(s.v[1].boosts, 1);
	NOTE("the next event is the max_ns limit");
	CHECK_EQU(s.next, S0 + MS + PVS_BOOST_MAX_NS);
	NOTE("still asked 1 ms later: no change, 1 ms accounted");
	CHECK_EQU(step(&s, 2, S0 + 2 * MS), 0);
	CHECK_EQU(s.v[1].boost_ns, MS);
	NOTE("cleared: unboosted");
	s.in[1].req = 0;
	s.in[1].seq = 2;
	CHECK_EQU(step(&s, 2, S0 + 3 * MS), 1);
	CHECK(!s.v[1].boosted && s.v[1].state == PVSCHED_BOOST_NONE);
	CHECK_EQU(s.v[1].boost_ns, 2 * MS);
}

/* boost_req counts nested requests: any value > 0 is one request. */
static void t_nest(void)
{
	struct sim s;

	sim_init(&s);
	s.in[0].req = 3;
	s.in[0].seq = 3;
	step(&s, 1, S0);
	CHECK(s.v[0].boosted);
	NOTE("3 -> 2 (an inner unboost): still boosted, same episode");
	s.in[0].req = 2;
	CHECK_EQU(step(&s, 1, S0 + MS), 0);
	CHECK(s.v[0].boosted);
	CHECK_EQU(s.v[0].boosts, 1);
	NOTE("0: released");
	s.in[0].req = 0;
	step(&s, 1, S0 + 2 * MS);
	CHECK(!s.v[0].boosted);
}

/* A deadline boosts from wake_at - lead to wake_at + len. */
static void t_deadline(void)
{
	struct sim s;
	uint64_t wake = S0 + 10 * MS;

	sim_init(&s);
	s.in[0].wake_at_ns = wake;
	s.in[0].wake_len_us = 50;
	NOTE("before the window: not boosted, next event = window start");
	step(&s, 1, S0);
	CHECK(!s.v[0].boosted);
	CHECK_EQU(s.next, wake - PVS_BOOST_LEAD_NS);
	NOTE("at the window start: boosted, next event = its end");
	step(&s, 1, wake - PVS_BOOST_LEAD_NS);
	CHECK(s.v[0].boosted);
	CHECK_EQU(s.next, wake + 50 * US);
	NOTE("at the end: released");
	step(&s, 1, wake + 50 * US);
	CHECK(!s.v[0].boosted);
	NOTE("len 0: the host's hold");
	s.in[0].wake_at_ns = wake + 5 * MS;
	s.in[0].wake_len_us = 0;
	step(&s, 1, wake + 5 * MS);
	CHECK(s.v[0].boosted);
	CHECK_EQU(s.next, wake + 5 * MS + PVS_BOOST_HOLD_NS);
	NOTE("the guest moves its deadline on (its task ran): released now");
	s.in[0].wake_at_ns = wake + 6 * MS;
	step(&s, 1, wake + 5 * MS + 10 * US);
	CHECK(!s.v[0].boosted);
}

/* One episode is boosted at most max_ns, then THROTTLED until it ends. */
static void t_max_continuous(void)
{
	struct sim s;
	uint64_t t;

	sim_init(&s);
	s.in[0].req = 1;
	s.in[0].seq = 1;
	step(&s, 1, S0);
	t = S0 + PVS_BOOST_MAX_NS;
	NOTE("at max_ns: throttled, told so");
	CHECK_EQU(step(&s, 1, t), 1);
	CHECK(!s.v[0].boosted && s.v[0].state == PVSCHED_BOOST_THROTTLED);
	CHECK_EQU(s.v[0].throttles, 1);
	NOTE("still asking with the same request: stays throttled");
	step(&s, 1, t + 5 * MS);
	CHECK(!s.v[0].boosted && s.v[0].state == PVSCHED_BOOST_THROTTLED);
	CHECK_EQU(s.v[0].throttles, 1);
	NOTE("the guest drops the request and asks again: granted");
	s.in[0].req = 0;
	step(&s, 1, t + 6 * MS);
	CHECK_EQU(s.v[0].state, PVSCHED_BOOST_NONE);
	s.in[0].req = 1;
	s.in[0].seq = 3;
	step(&s, 1, t + 7 * MS);
	CHECK(s.v[0].boosted);
	NOTE("a re-request (new seq) with no visible gap also starts a new episode");
	step(&s, 1, t + 7 * MS + PVS_BOOST_MAX_NS - MS);
	s.in[0].seq = 4;
	step(&s, 1, t + 7 * MS + PVS_BOOST_MAX_NS);
	CHECK(s.v[0].boosted);
}

/* The VM's budget: a guest that holds boosts gets at most its budget. */
static void t_budget(void)
{
	struct sim s;
	uint64_t t = S0, boosted_in_window = 0;
	uint32_t seq = 0;

	sim_init(&s);
	s.p.max_ns = 1000 * MS; /* only the budget limits */
	NOTE("4 vCPUs asking continuously, re-requesting every 1 ms, for 5 s");
	for (int i = 0; i < 4; i++)
		s.in[i].req = 1;
	for (int k = 0; k < 5000; k++, t += MS) {
		for (int i = 0; i < 4; i++)
			s.in[i].seq = ++seq;
		step(&s, 4, t);
		if (t >= S0 + 4000 * MS)
			for (int i = 0; i < 4; i++)
				boosted_in_window += s.v[i].boosted ? MS : 0;
	}
	NOTE("boosted vCPU-time in the last second: at most the budget (+1 step)");
	CHECKM(boosted_in_window <= PVS_BOOST_BUDGET_NS + 4 * MS, "boosted %" PRIu64 " ms",
	       boosted_in_window / MS);
	CHECKM(boosted_in_window >= PVS_BOOST_BUDGET_NS / 2, "boosted %" PRIu64 " ms",
	       boosted_in_window / MS);
	CHECK(s.v[0].throttles > 0);
	NOTE("after a quiet window the budget is back: granted at once");
	for (int i = 0; i < 4; i++)
		s.in[i].req = 0;
	step(&s, 4, t);
	t += PVS_BOOST_WINDOW_NS;
	step(&s, 4, t);
	s.in[0].req = 1;
	s.in[0].seq = ++seq;
	step(&s, 4, t + MS);
	CHECK(s.v[0].boosted && s.v[0].state == PVSCHED_BOOST_GRANTED);
}

/* Two VMs: one exhausting its budget does not limit the other. */
static void t_vm_isolation(void)
{
	struct sim a, b;
	uint64_t t = S0;

	sim_init(&a);
	sim_init(&b);
	a.p.max_ns = 10000 * MS;
	a.in[0].req = a.in[1].req = 1;
	for (int k = 0; k < 2000 && a.v[0].state != PVSCHED_BOOST_THROTTLED; k++, t += MS)
		step(&a, 2, t);
	CHECK_EQU(a.v[0].state, PVSCHED_BOOST_THROTTLED);
	CHECK_EQU(a.v[1].state, PVSCHED_BOOST_THROTTLED);
	b.in[0].req = 1;
	step(&b, 1, t);
	CHECK(b.v[0].boosted && b.v[0].state == PVSCHED_BOOST_GRANTED);
}

/* A guest flipping its request at a high rate: boosts per window capped. */
static void t_flip_rate(void)
{
	struct sim s;
	uint64_t t = S0;
	uint32_t boosts_before;

	sim_init(&s);
	s.p.budget_ns = PVS_BOOST_WINDOW_NS; /* only the change limit */
	NOTE("flip every 10 us for 1 s: 50000 requests");
	for (int k = 0; k < 100000; k++, t += 10 * US) {
		s.in[0].req = k & 1;
		s.in[0].seq = (uint32_t)k;
		step(&s, 1, t);
	}
	CHECKM(s.v[0].boosts <= PVS_BOOST_MAX_CHANGES + 1, "%" PRIu64 " boosts", s.v[0].boosts);
	CHECK(s.v[0].throttles > 0);
	NOTE("the next window allows boosts again");
	boosts_before = (uint32_t)s.v[0].boosts;
	t += PVS_BOOST_WINDOW_NS;
	s.in[0].req = 0;
	step(&s, 1, t);
	s.in[0].req = 1;
	s.in[0].seq = 7;
	step(&s, 1, t + MS);
	CHECK(s.v[0].boosted);
	CHECK_EQU(s.v[0].boosts, boosts_before + 1u);
}

/* Disabled: requests are DENIED and nothing is boosted. */
static void t_disabled(void)
{
	struct sim s;

	sim_init(&s);
	s.p.enabled = 0;
	s.in[0].req = 1;
	s.in[1].wake_at_ns = S0;
	CHECK_EQU(step(&s, 2, S0), 0);
	CHECK(!s.v[0].boosted && s.v[0].state == PVSCHED_BOOST_DENIED);
	CHECK(!s.v[1].boosted && s.v[1].state == PVSCHED_BOOST_DENIED);
	NOTE("enabled at run time: granted; disabled again: released");
	s.p.enabled = 1;
	CHECK_EQU(step(&s, 2, S0 + 10 * US), 2);
	s.p.enabled = 0;
	CHECK_EQU(step(&s, 2, S0 + 20 * US), 2);
	CHECK(!s.v[0].boosted && !s.v[1].boosted);
}

/* Garbage: huge counts, absurd deadlines and lengths stay bounded. */
static void t_garbage(void)
{
	struct sim s;

	sim_init(&s);
	NOTE("deadline 1 h ahead or 1 h ago: ignored");
	s.in[0].wake_at_ns = S0 + 3600000 * MS;
	s.in[1].wake_at_ns = 1;
	step(&s, 2, 3600000 * MS);
	CHECK(!s.v[0].boosted && !s.v[1].boosted);
	CHECK(s.next > 3600000 * MS);
	NOTE("wake_len 4294 s: clamped to max_ns");
	s.in[0].wake_at_ns = S0 + MS;
	s.in[0].wake_len_us = UINT32_MAX;
	step(&s, 1, S0 + MS);
	CHECK(s.v[0].boosted);
	CHECK_EQU(s.next, S0 + MS + PVS_BOOST_MAX_NS);
	NOTE("req 0xffffffff is one request");
	sim_init(&s);
	s.in[0].req = UINT32_MAX;
	step(&s, 1, S0);
	CHECK(s.v[0].boosted);
	NOTE("time going backwards does not underflow the accounts");
	step(&s, 1, S0 - MS);
	CHECK(s.v[0].boost_ns == 0);
}

/* The program's and the guest kernel driver's deadlines (1.3): the one
 * whose window is open or opens first; both over: the later one. */
static void t_pick_wake(void)
{
	struct pvs_boost_params p = params();
	uint64_t w;
	uint32_t len;

	NOTE("one of them: that one, with its length");
	pvs_boost_pick_wake(0, 0, S0 + MS, 7, &p, S0, &w, &len);
	CHECK_EQU(w, S0 + MS);
	CHECK_EQU(len, 7);
	pvs_boost_pick_wake(S0 + 2 * MS, 9, 0, 0, &p, S0, &w, &len);
	CHECK_EQU(w, S0 + 2 * MS);
	CHECK_EQU(len, 9);
	pvs_boost_pick_wake(0, 5, 0, 6, &p, S0, &w, &len);
	CHECK_EQU(w, 0);
	NOTE("both ahead: the first to open, whichever field holds it");
	pvs_boost_pick_wake(S0 + 2 * MS, 0, S0 + MS, 0, &p, S0, &w, &len);
	CHECK_EQU(w, S0 + MS);
	pvs_boost_pick_wake(S0 + MS, 0, S0 + 2 * MS, 0, &p, S0, &w, &len);
	CHECK_EQU(w, S0 + MS);
	NOTE("one window open (now inside [wake, wake + hold)), one ahead: the open one");
	pvs_boost_pick_wake(S0 + 5 * MS, 0, S0 - 100 * US, 0, &p, S0, &w, &len);
	CHECK_EQU(w, S0 - 100 * US);
	NOTE("one over, one ahead: the one ahead");
	pvs_boost_pick_wake(S0 - MS, 0, S0 + 5 * MS, 0, &p, S0, &w, &len);
	CHECK_EQU(w, S0 + 5 * MS);
	pvs_boost_pick_wake(S0 + 5 * MS, 0, S0 - MS, 0, &p, S0, &w, &len);
	CHECK_EQU(w, S0 + 5 * MS);
	NOTE("the length decides when a window is over: 2 ms from 1 ms ago is open");
	pvs_boost_pick_wake(S0 - MS, 2000, S0 + 5 * MS, 0, &p, S0, &w, &len);
	CHECK_EQU(w, S0 - MS);
	CHECK_EQU(len, 2000);
	NOTE("both over: the later one");
	pvs_boost_pick_wake(S0 - 3 * MS, 0, S0 - 2 * MS, 0, &p, S0, &w, &len);
	CHECK_EQU(w, S0 - 2 * MS);
	NOTE("picked into a scan: the driver's deadline boosts while the program's is far off");
	{
		struct sim s;

		sim_init(&s);
		pvs_boost_pick_wake(S0 + 1000 * MS, 0, S0 + 50 * US, 0, &s.p, S0,
		                    &s.in[0].wake_at_ns, &s.in[0].wake_len_us);
		step(&s, 1, S0);
		CHECK(s.v[0].boosted);
	}
}

/* A rogue guest kernel: it asks all the time and renews the episode at
 * every scan (a new boost_seq), so max_ns never ends it.  The VM's budget
 * still bounds the boosted time: at most the burst plus the refill. */
static void t_rogue_driver(void)
{
	struct sim s;
	const uint64_t scan = 500 * US, span = 10000 * MS;
	uint64_t t, bound;

	sim_init(&s);
	for (t = 0; t <= span; t += scan) {
		s.in[0].req = 1;
		s.in[0].seq++;
		s.in[1].req = 1;
		s.in[1].seq += 3;
		step(&s, 2, S0 + t);
	}
	bound = s.p.budget_ns + span * s.p.budget_ns / s.p.window_ns + 2 * scan;
	NOTE("boosted %llu ms of vCPU time in %llu ms; bound %llu ms",
	     (unsigned long long)((s.v[0].boost_ns + s.v[1].boost_ns) / MS),
	     (unsigned long long)(span / MS), (unsigned long long)(bound / MS));
	CHECK(s.v[0].boost_ns + s.v[1].boost_ns <= bound);
	NOTE("and it was throttled, not simply boosted throughout");
	CHECK(s.v[0].throttles + s.v[1].throttles > 0);
	CHECK(s.v[0].boost_ns + s.v[1].boost_ns >= span * s.p.budget_ns / s.p.window_ns / 2);
}

/* A boost outlives its want by linger_ns: bursts closer than that are one
 * boost; a longer gap ends it; a throttled VM or boosting turned off ends
 * a lingering boost at once. */
static void t_linger(void)
{
	struct sim s;
	uint64_t t = S0;
	uint32_t boosts;

	sim_init(&s);
	s.p.linger_ns = 2 * MS;
	NOTE("bursts of 50 us every 500 us for 100 ms: one boost");
	for (int k = 0; k < 200; k++, t += 500 * US) {
		s.in[0].req = 1;
		s.in[0].seq++;
		step(&s, 1, t);
		CHECKQ(s.v[0].boosted);
		s.in[0].req = 0;
		step(&s, 1, t + 50 * US);
		CHECKQ(s.v[0].boosted && s.v[0].state == PVSCHED_BOOST_GRANTED);
		CHECKQ(s.next <= t + 50 * US + 2 * MS);
	}
	CHECK_EQU(s.v[0].boosts, 1);
	NOTE("then no request: released when the linger ends, not before");
	step(&s, 1, t + 1 * MS);
	CHECK(s.v[0].boosted);
	step(&s, 1, t - 500 * US + 50 * US + 2 * MS);
	CHECK(!s.v[0].boosted);
	CHECK_EQU(s.v[0].state, PVSCHED_BOOST_NONE);
	NOTE("a deadline window's end lingers the same way");
	boosts = (uint32_t)s.v[0].boosts;
	t += 100 * MS;
	s.in[0].wake_at_ns = t + 100 * US;
	step(&s, 1, t);
	CHECK(s.v[0].boosted);
	step(&s, 1, t + 100 * US + PVS_BOOST_HOLD_NS + 10 * US);
	CHECK(s.v[0].boosted);
	step(&s, 1, t + 100 * US + PVS_BOOST_HOLD_NS + 3 * MS);
	CHECK(!s.v[0].boosted);
	CHECK_EQU(s.v[0].boosts, boosts + 1);
	NOTE("boosting turned off while lingering: released at once");
	t += 100 * MS;
	s.in[0].wake_at_ns = 0;
	s.in[0].req = 1;
	step(&s, 1, t);
	s.in[0].req = 0;
	s.p.enabled = 0;
	step(&s, 1, t + 10 * US);
	CHECK(!s.v[0].boosted);
	NOTE("linger 0: released at once, as before");
	s.p.enabled = 1;
	s.p.linger_ns = 0;
	s.in[0].req = 1;
	step(&s, 1, t + MS);
	s.in[0].req = 0;
	step(&s, 1, t + MS + 10 * US);
	CHECK(!s.v[0].boosted);
}

/* A vCPU whose thread ran at least half of its last sample period does
 * not linger: between the guest's requests it runs other work, and a
 * lingering boost would be CPU time the guest did not ask for, charged to
 * its budget.  One that sleeps lingers as before; the sampler's next
 * period decides again. */
static void t_linger_cpu_bound(void)
{
	struct sim s;
	uint64_t t = S0, run = 0;
	const uint64_t period = 10 * MS;

	sim_init(&s);
	s.p.linger_ns = 2 * MS;
	NOTE("a spinning vCPU with a 130 us window every 500 us for 200 ms:");
	NOTE("boosted in each window, released at its end");
	for (int k = 0; k < 400; k++, t += 500 * US) {
		for (uint64_t u = 0; u < 500 * US; u += 10 * US) {
			uint64_t now = t + u;

			s.in[0].wake_at_ns = t + 100 * US;
			s.in[0].wake_len_us = 30;
			s.in[0].has_run = 1;
			s.in[0].run_at_ns = now - now % period;
			s.in[0].run_ns = s.in[0].run_at_ns - S0; /* it ran all of it */
			step(&s, 1, now);
			if (k >= 40 && u >= 130 * US + 10 * US)
				CHECKQ(!s.v[0].boosted);
			if (k >= 40 && u >= 10 * US && u < 130 * US)
				CHECKQ(s.v[0].boosted);
		}
		run = s.in[0].run_ns;
	}
	CHECK(s.v[0].cpu_bound);
	CHECK_EQU(s.v[0].throttles, 0);
	NOTE("the same vCPU now sleeping (run time unchanged for a period): lingers again");
	for (uint64_t u = 0; u < 3 * period; u += 10 * US) {
		uint64_t now = t + u;

		s.in[0].wake_at_ns = 0;
		s.in[0].req = u < 50 * US;
		s.in[0].seq += u == 0;
		s.in[0].run_at_ns = now - now % period;
		s.in[0].run_ns = run; /* nothing more */
		step(&s, 1, now);
	}
	CHECK(!s.v[0].cpu_bound);
	t += 3 * period;
	s.in[0].req = 1;
	s.in[0].seq++;
	step(&s, 1, t);
	s.in[0].req = 0;
	step(&s, 1, t + 50 * US);
	CHECK(s.v[0].boosted && s.v[0].state == PVSCHED_BOOST_GRANTED);
	step(&s, 1, t + 50 * US + 2 * MS + 10 * US);
	CHECK(!s.v[0].boosted);
}

/* With the sampler's run time the budget is charged with CPU time used
 * while boosted: a boosted vCPU that sleeps is never throttled; one that
 * runs is charged all of it, short boosts between two samples included. */
static void t_cpu_charge(void)
{
	struct sim s;
	uint64_t t, run = 0, ran_boosted = 0;
	const uint64_t scan = 500 * US, period = 10 * MS, span = 5000 * MS;

	sim_init(&s);
	s.p.max_ns = 10000 * MS;
	NOTE("2 vCPUs boosted for 5 s, halted (no run time): never throttled");
	for (t = 0; t <= span; t += scan) {
		for (int i = 0; i < 2; i++) {
			s.in[i].req = 1;
			s.in[i].has_run = 1;
			s.in[i].run_ns = 7 * MS; /* unchanged: it sleeps */
			s.in[i].run_at_ns = S0 + t / period * period;
		}
		step(&s, 2, S0 + t);
		CHECKQ(s.v[0].boosted && s.v[1].boosted);
	}
	CHECK_EQU(s.v[0].throttles + s.v[1].throttles, 0);
	CHECK(s.v[0].boost_ns >= span - scan); /* %BOOST still says boosted */

	NOTE("one vCPU spinning, its request on for 6 ms of every 10 (between samples):");
	NOTE("charged every ns it ran boosted, so the budget holds it");
	sim_init(&s);
	s.p.max_ns = 10000 * MS;
	for (t = 0; t <= span; t += scan) {
		int on = (t % period) < 6 * MS;

		s.in[0].req = on;
		s.in[0].seq += on;
		s.in[0].has_run = 1;
		s.in[0].run_ns = run - run % period; /* the sampler's view */
		s.in[0].run_at_ns = S0 + t / period * period;
		step(&s, 1, S0 + t);
		if (s.v[0].boosted)
			ran_boosted += scan;
		run += scan; /* it spins whatever its priority */
	}
	NOTE("boosted %llu ms of 5000; budget 500 ms + 2500 ms refill",
	     (unsigned long long)(ran_boosted / MS));
	CHECK(ran_boosted <=
	      PVS_BOOST_BUDGET_NS + span * PVS_BOOST_BUDGET_NS / PVS_BOOST_WINDOW_NS + 2 * period);
	CHECK(s.v[0].throttles > 0);
}

static const struct tcase cases[] = {
        {"linger", t_linger},
        {"linger-cpu-bound", t_linger_cpu_bound},
        {"cpu-charge", t_cpu_charge},
        {"pick-wake", t_pick_wake},
        {"rogue-driver", t_rogue_driver},
        {"grant", t_grant},
        {"nest", t_nest},
        {"deadline", t_deadline},
        {"max-continuous", t_max_continuous},
        {"budget", t_budget},
        {"vm-isolation", t_vm_isolation},
        {"flip-rate", t_flip_rate},
        {"disabled", t_disabled},
        {"garbage", t_garbage},
};

int main(int argc, char **argv)
{
	return run_cases(argc, argv, cases, NCASES(cases));
}
