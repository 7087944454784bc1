/* SPDX-License-Identifier: MIT */
/* tests/unit/test_cosched_policy.c - policy/cosched.c: names, spread and
 * dedicated placement of N vCPUs on M pCPUs, the gang rotation by shares,
 * its RT bound and work conservation, relaxed skew tracking with co-stop,
 * co-start, widened laggards and the interaction with boosts. */
#include "check.h"
#include "cosched.h"

#define MS ((uint64_t)1000000)
#define S0 (1000ull * MS)

static struct pvs_cpuset cpus(unsigned first, unsigned n)
{
	struct pvs_cpuset m = {{0}};

	for (unsigned c = first; c < first + n; c++)
		pvs_cpuset_set(&m, c);
	return m;
}

static int disjoint(const struct pvs_cpuset *a, const struct pvs_cpuset *b)
{
	for (unsigned w = 0; w < PVS_CPUSET_WORDS; w++)
		if (a->w[w] & b->w[w])
			return 0;
	return 1;
}

static int subset(const struct pvs_cpuset *a, const struct pvs_cpuset *b)
{
	for (unsigned w = 0; w < PVS_CPUSET_WORDS; w++)
		if (a->w[w] & ~b->w[w])
			return 0;
	return 1;
}

static void t_names(void)
{
	for (int i = 0; i < PVS_CS_NR_POLICIES; i++)
		CHECK_EQ(pvs_cs_policy_parse(pvs_cs_policy_name(i)), i);
	CHECK_STR(pvs_cs_policy_name(PVS_CS_GANG), "gang");
	CHECK_EQ(pvs_cs_policy_parse("strict"), -1);
	CHECK_EQ(pvs_cs_policy_parse(""), -1);
	CHECK(pvs_cs_policy_name(-1) == NULL);
	CHECK(pvs_cs_policy_name(PVS_CS_NR_POLICIES) == NULL);
}

/* Siblings on different pCPUs whenever there are enough; groups cover the
 * allowed CPUs; two VMs' home CPUs balance. */
static void t_spread(void)
{
	struct pvs_cpuset out_a[4], out_b[2], usable = cpus(0, 8);
	struct pvs_place_vm v[2] = {
	        {.policy = PVS_CS_SPREAD, .nr_vcpus = 4, .allowed = cpus(0, 8), .out = out_a},
	        {.policy = PVS_CS_GANG, .nr_vcpus = 2, .allowed = cpus(0, 8), .out = out_b},
	};
	struct pvs_cpuset all = {{0}};

	pvs_place(v, 2, &usable);
	NOTE("4 vCPUs on 8 pCPUs: disjoint groups of 2 covering all 8");
	for (int i = 0; i < 4; i++) {
		CHECK_EQU(pvs_cpuset_count(&out_a[i]), 2);
		for (int j = i + 1; j < 4; j++)
			CHECK(disjoint(&out_a[i], &out_a[j]));
		for (unsigned w = 0; w < PVS_CPUSET_WORDS; w++)
			all.w[w] |= out_a[i].w[w];
	}
	CHECK_EQU(pvs_cpuset_count(&all), 8);
	CHECK_EQU(v[0].shared, 0);
	NOTE("the second VM's home CPUs are those the first left unloaded");
	CHECK(disjoint(&out_b[0], &out_b[1]));
	/* the first VM's home CPUs are 0..3 (ties: lower first); the
	 * second's are 4 and 5, then the rest is dealt alternately */
	CHECK(pvs_cpuset_test(&out_b[0], 4) && pvs_cpuset_test(&out_b[1], 5));
	CHECK_EQU(pvs_cpuset_count(&out_b[0]), 4);
	CHECK_EQU(pvs_cpuset_count(&out_b[1]), 4);

	NOTE("2 vCPUs on 2 pCPUs: one each");
	{
		struct pvs_cpuset o[2], u2 = cpus(0, 2);
		struct pvs_place_vm w = {
		        .policy = PVS_CS_SPREAD, .nr_vcpus = 2, .allowed = cpus(0, 2), .out = o};
		pvs_place(&w, 1, &u2);
		CHECK_EQU(pvs_cpuset_count(&o[0]), 1);
		CHECK_EQU(pvs_cpuset_count(&o[1]), 1);
		CHECK(disjoint(&o[0], &o[1]));
	}
	NOTE("3 vCPUs on 2 pCPUs: one pair must share, reported");
	{
		struct pvs_cpuset o[3], u2 = cpus(0, 2);
		struct pvs_place_vm w = {
		        .policy = PVS_CS_SPREAD, .nr_vcpus = 3, .allowed = cpus(0, 2), .out = o};
		pvs_place(&w, 1, &u2);
		CHECK_EQU(w.shared, 1);
		CHECK(disjoint(&o[0], &o[1]));
		for (int i = 0; i < 3; i++)
			CHECK_EQU(pvs_cpuset_count(&o[i]), 1);
	}
}

/* The VM's own CPU set and the reserved CPUs are honoured; NONE is left
 * alone. */
static void t_allowed(void)
{
	struct pvs_cpuset o[2], n[2], usable = cpus(1, 7); /* CPU 0 reserved */
	struct pvs_place_vm v[2] = {
	        {.policy = PVS_CS_RELAXED, .nr_vcpus = 2, .allowed = cpus(0, 4), .out = o},
	        {.policy = PVS_CS_NONE, .nr_vcpus = 2, .allowed = cpus(0, 8), .out = n},
	};

	memset(n, 0xab, sizeof(n));
	pvs_place(v, 2, &usable);
	{
		struct pvs_cpuset ok = cpus(1, 3);
		CHECK(subset(&o[0], &ok));
		CHECK(subset(&o[1], &ok));
		CHECK(!pvs_cpuset_test(&o[0], 0) && !pvs_cpuset_test(&o[1], 0));
	}
	CHECK(disjoint(&o[0], &o[1]));
	CHECK_EQ(n[0].w[0], (uint64_t)0xababababababababull);
}

/* Dedicated VMs get CPUs nobody else is placed on. */
static void t_dedicated(void)
{
	struct pvs_cpuset d[2], s[2], usable = cpus(0, 4);
	struct pvs_place_vm v[2] = {
	        {.policy = PVS_CS_SPREAD, .nr_vcpus = 2, .allowed = cpus(0, 4), .out = s},
	        {.policy = PVS_CS_DEDICATED, .nr_vcpus = 2, .allowed = cpus(0, 4), .out = d},
	};

	pvs_place(v, 2, &usable);
	for (int i = 0; i < 2; i++) {
		CHECK_EQU(pvs_cpuset_count(&d[i]), 1);
		for (int j = 0; j < 2; j++)
			CHECK(disjoint(&d[i], &s[j]));
	}
	CHECK(disjoint(&d[0], &d[1]));
	CHECK_EQ(v[1].dedicated_short, 0);
	NOTE("a second dedicated VM finds only what is left");
	{
		struct pvs_cpuset d2[3];
		struct pvs_place_vm w[2] = {
		        {.policy = PVS_CS_DEDICATED,
		         .nr_vcpus = 2,
		         .allowed = cpus(0, 4),
		         .out = d},
		        {.policy = PVS_CS_DEDICATED,
		         .nr_vcpus = 3,
		         .allowed = cpus(0, 4),
		         .out = d2},
		};
		pvs_place(w, 2, &usable);
		CHECK_EQ(w[1].dedicated_short, 1);
		CHECK_EQU(w[1].shared, 1);
		for (int i = 0; i < 3; i++)
			for (int j = 0; j < 2; j++)
				CHECK(disjoint(&d2[i], &d[j]));
	}
	NOTE("no free CPU left to dedicate: placed over its CPUs anyway, flagged");
	{
		struct pvs_cpuset a[2], b[2], u2 = cpus(0, 2);
		struct pvs_place_vm w[2] = {
		        {.policy = PVS_CS_DEDICATED,
		         .nr_vcpus = 2,
		         .allowed = cpus(0, 2),
		         .out = a},
		        {.policy = PVS_CS_DEDICATED,
		         .nr_vcpus = 2,
		         .allowed = cpus(0, 2),
		         .out = b},
		};
		pvs_place(w, 2, &u2);
		CHECK_EQ(w[0].dedicated_short, 0);
		CHECK_EQ(w[1].dedicated_short, 1);
		CHECK_EQU(pvs_cpuset_count(&b[0]), 1);
		CHECK_EQU(pvs_cpuset_count(&b[1]), 1);
		CHECK(disjoint(&b[0], &b[1]));
	}
	NOTE("an empty allowed set: nothing placed (empty masks), no crash");
	{
		struct pvs_cpuset o[2], u2 = cpus(0, 2);
		struct pvs_place_vm w = {.policy = PVS_CS_SPREAD, .nr_vcpus = 2, .out = o};
		pvs_place(&w, 1, &u2);
		CHECK_EQU(pvs_cpuset_count(&o[0]) + pvs_cpuset_count(&o[1]), 0);
	}
}

/* Run the rotation for DURATION with VMs always runnable; return each VM's
 * slice time. */
static void rotate(struct pvs_gang_vm *vms, uint32_t n, const struct pvs_gang_params *p,
                   uint64_t duration, uint64_t *gap)
{
	struct pvs_gang g;
	uint64_t now = S0, next = 0;

	pvs_gang_init(&g);
	while (now < S0 + duration) {
		pvs_gang_step(&g, vms, n, p, now, &next);
		if (next == UINT64_MAX)
			break;
		now = next;
	}
	if (gap)
		*gap = g.gap_ns;
}

static void t_gang_shares(void)
{
	struct pvs_gang_params p = {.slice_ns = 10 * MS, .rt_pct = 100};
	struct pvs_gang_vm v[3] = {{.shares = 2000, .runnable = 1},
	                           {.shares = 1000, .runnable = 1}};
	double r;

	rotate(v, 2, &p, 60000 * MS, NULL);
	r = (double)v[0].run_ns / (double)v[1].run_ns;
	NOTE("shares 2000:1000 -> slice time %.3f : 1", r);
	CHECK_NEAR(r, 2.0, 0.05);
	NOTE("shares 1:1 for 12 simulated hours: passes stay small, turns alternate");
	memset(v, 0, sizeof(v));
	v[0].shares = v[1].shares = 1;
	v[0].runnable = v[1].runnable = 1;
	{
		struct pvs_gang g;
		uint64_t next, now = S0;
		int last = -1, runs = 0, longest = 0;

		pvs_gang_init(&g);
		for (uint64_t t = 0; t < 12ull * 3600 * 100; t++) {
			int c = pvs_gang_step(&g, v, 2, &p, now, &next);
			runs = c == last ? runs + 1 : 1;
			if (runs > longest)
				longest = runs;
			last = c;
			now = next;
		}
		CHECK_EQ(longest, 1);
		CHECK(v[0].pass < (p.slice_ns << 21) && v[1].pass < (p.slice_ns << 21));
		CHECK_NEAR((double)v[0].run_ns / (double)v[1].run_ns, 1.0, 0.001);
	}
	NOTE("three equal VMs take turns");
	memset(v, 0, sizeof(v));
	for (int i = 0; i < 3; i++) {
		v[i].shares = 1000;
		v[i].runnable = 1;
	}
	{
		struct pvs_gang g;
		uint64_t next, now = S0;
		int seq[6];

		pvs_gang_init(&g);
		for (int i = 0; i < 6; i++) {
			seq[i] = pvs_gang_step(&g, v, 3, &p, now, &next);
			CHECK_EQU(next, now + p.slice_ns);
			now = next;
		}
		CHECK(seq[0] != seq[1] && seq[1] != seq[2] && seq[0] != seq[2]);
		CHECK(seq[3] == seq[0] && seq[4] == seq[1] && seq[5] == seq[2]);
	}
}

static void t_gang_rt_bound(void)
{
	struct pvs_gang_params p = {.slice_ns = 10 * MS, .rt_pct = 80};
	struct pvs_gang_vm v[2] = {{.shares = 1000, .runnable = 1},
	                           {.shares = 1000, .runnable = 1}};
	uint64_t gap;
	double rt;

	rotate(v, 2, &p, 10000 * MS, &gap);
	rt = (double)(v[0].run_ns + v[1].run_ns) / (double)(v[0].run_ns + v[1].run_ns + gap);
	NOTE("rt_pct 80: gang share of time %.3f", rt);
	CHECK_NEAR(rt, 0.80, 0.01);
	NOTE("one VM alone is bounded too");
	memset(v, 0, sizeof(v));
	v[0].shares = 1000;
	v[0].runnable = 1;
	p.rt_pct = 95;
	rotate(v, 1, &p, 10000 * MS, &gap);
	rt = (double)v[0].run_ns / (double)(v[0].run_ns + gap);
	CHECK_NEAR(rt, 0.95, 0.01);
}

/* The kernel's RT budget keeps 5 points for boosts, TCG main threads and
 * pvschedd beside the gang's turns. */
static void t_gang_rt_fits(void)
{
	uint32_t max = 1;

	NOTE("the kernel's default budget, 950000 of 1000000 us: up to 90 %%");
	CHECK(pvs_gang_rt_fits(90, 950000, 1000000, &max));
	CHECK_EQU(max, 90);
	CHECK(!pvs_gang_rt_fits(91, 950000, 1000000, NULL));
	CHECK(!pvs_gang_rt_fits(95, 950000, 1000000, &max));
	CHECK_EQU(max, 90);
	NOTE("no RT throttling (-1), or a runtime of the whole period: anything");
	CHECK(pvs_gang_rt_fits(100, -1, 1000000, &max));
	CHECK_EQU(max, 100);
	CHECK(pvs_gang_rt_fits(100, 1000000, 1000000, NULL));
	NOTE("a budget below the headroom leaves no gang time at all");
	CHECK(!pvs_gang_rt_fits(10, 40000, 1000000, &max));
	CHECK_EQU(max, 0);
	NOTE("rounded down, never divided by zero");
	CHECK(pvs_gang_rt_fits(84, 899999, 1000000, &max));
	CHECK_EQU(max, 84);
	CHECK(pvs_gang_rt_fits(95, 950000, 0, NULL));
}

/* A VM that stops being runnable loses the rest of its slice; one that
 * comes back gets no credit for the time it did not want. */
static void t_gang_work_conserving(void)
{
	struct pvs_gang_params p = {.slice_ns = 10 * MS, .rt_pct = 100};
	struct pvs_gang_vm v[2] = {{.shares = 1000, .runnable = 1},
	                           {.shares = 1000, .runnable = 1}};
	struct pvs_gang g;
	uint64_t next;
	int a;

	pvs_gang_init(&g);
	a = pvs_gang_step(&g, v, 2, &p, S0, &next);
	CHECK(a == 0 || a == 1);
	v[a].runnable = 0;
	NOTE("the holder went idle 2 ms in: the other VM gets the pCPUs now");
	CHECK_EQ(pvs_gang_step(&g, v, 2, &p, S0 + 2 * MS, &next), 1 - a);
	CHECK_EQU(next, S0 + 12 * MS);
	NOTE("nobody runnable: no slice, no timer");
	v[1 - a].runnable = 0;
	CHECK_EQ(pvs_gang_step(&g, v, 2, &p, S0 + 5 * MS, &next), -1);
	CHECK_EQU(next, UINT64_MAX);
	NOTE("VM b alone for 1 s, then a returns: a does not get 1 s of catch-up");
	v[1 - a].runnable = 1;
	{
		uint64_t now = S0 + 10 * MS;
		int got_a = 0;

		while (now < S0 + 1010 * MS) {
			pvs_gang_step(&g, v, 2, &p, now, &next);
			now = next;
		}
		v[a].runnable = 1;
		for (int i = 0; i < 10; i++) {
			got_a += pvs_gang_step(&g, v, 2, &p, now, &next) == a;
			now = next;
		}
		CHECK(got_a >= 4 && got_a <= 6);
	}
}

static void relax_in(struct pvs_relax_in *in, uint64_t r0, uint64_t r1, int idle1)
{
	memset(in, 0, 2 * sizeof(*in));
	in[0].ready_ns = r0;
	in[1].ready_ns = r1;
	in[1].idle = idle1;
}

static void t_relax_skew(void)
{
	struct pvs_relax_params p = {.skew_ns = 20 * MS, .costart_ns = 10 * MS};
	struct pvs_relax_vcpu v[2] = {{0}};
	struct pvs_relax_in in[2];

	NOTE("vCPU 0 runs, vCPU 1 waits 8 ms of each 10 ms period");
	relax_in(in, 0, 8 * MS, 0);
	CHECK_EQU(pvs_relax_step(v, in, 2, 10 * MS, 0, &p), 0);
	CHECK_EQU(v[0].lead_ns, 8 * MS);
	CHECK_EQU(pvs_relax_step(v, in, 2, 10 * MS, 0, &p), 0);
	NOTE("24 ms ahead > 20 ms: vCPU 0 co-stopped, the laggard is not");
	CHECK_EQU(pvs_relax_step(v, in, 2, 10 * MS, 0, &p), 1);
	CHECK(v[0].stopped && !v[1].stopped);
	NOTE("the laggard catches up: still stopped until the lead is 10 ms");
	relax_in(in, 8 * MS, 0, 0);
	pvs_relax_step(v, in, 2, 10 * MS, 0, &p);
	CHECK_EQU(v[0].lead_ns, 16 * MS);
	CHECK(v[0].stopped);
	pvs_relax_step(v, in, 2, 10 * MS, 0, &p);
	CHECK_EQU(v[0].lead_ns, 8 * MS);
	CHECK(!v[0].stopped);
	NOTE("equal progress: no skew grows");
	relax_in(in, 5 * MS, 5 * MS, 0);
	for (int i = 0; i < 100; i++)
		CHECKQ_EQU(pvs_relax_step(v, in, 2, 10 * MS, 0, &p), 0);
	CHECK_EQU(v[0].lead_ns, 8 * MS);
}

static void t_relax_idle(void)
{
	struct pvs_relax_params p = {.skew_ns = 20 * MS, .costart_ns = 10 * MS};
	struct pvs_relax_vcpu v[2] = {{0}};
	struct pvs_relax_in in[2];

	NOTE("an idle sibling keeps pace: a waiting busy vCPU is not 'behind' it");
	relax_in(in, 8 * MS, 0, 1);
	for (int i = 0; i < 20; i++)
		CHECKQ_EQU(pvs_relax_step(v, in, 2, 10 * MS, 0, &p), 0);
	CHECK(!v[0].stopped && !v[1].stopped);
	CHECK_EQU(v[1].lead_ns, 0);
	NOTE("a leader that goes idle is co-started (nothing to stop)");
	relax_in(in, 0, 9 * MS, 0);
	for (int i = 0; i < 4; i++)
		pvs_relax_step(v, in, 2, 10 * MS, 0, &p);
	CHECK(v[0].stopped);
	in[0].idle = 1;
	pvs_relax_step(v, in, 2, 10 * MS, 0, &p);
	CHECK(!v[0].stopped);
}

static void t_relax_plentiful_boost(void)
{
	struct pvs_relax_params p = {.skew_ns = 20 * MS, .costart_ns = 10 * MS};
	struct pvs_relax_vcpu v[2] = {{0}};
	struct pvs_relax_in in[2];

	relax_in(in, 0, 9 * MS, 0);
	for (int i = 0; i < 4; i++)
		pvs_relax_step(v, in, 2, 10 * MS, 0, &p);
	CHECK(v[0].stopped);
	NOTE("pCPUs plentiful: strict co-start, leads forgotten");
	CHECK_EQU(pvs_relax_step(v, in, 2, 10 * MS, 1, &p), 0);
	CHECK(!v[0].stopped && v[0].lead_ns == 0);
	NOTE("a boosted vCPU is never co-stopped, however far ahead");
	in[0].boosted = 1;
	for (int i = 0; i < 10; i++)
		CHECKQ_EQU(pvs_relax_step(v, in, 2, 10 * MS, 0, &p), 0);
	CHECK(v[0].lead_ns > p.skew_ns);
	NOTE("its lead is bounded (4 x skew): history is not repaid forever");
	CHECK(v[0].lead_ns <= 4 * p.skew_ns);
	in[0].boosted = 0;
	CHECK_EQU(pvs_relax_step(v, in, 2, 10 * MS, 0, &p), 1);
	NOTE("garbage: ready > interval counts as the interval");
	relax_in(in, UINT64_MAX, 0, 0);
	pvs_relax_step(v, in, 2, 10 * MS, 0, &p);
	CHECK(v[1].lead_ns <= 4 * p.skew_ns);
}

static void t_relax_widen(void)
{
	struct pvs_relax_params p = {.skew_ns = 20 * MS, .costart_ns = 10 * MS};
	struct pvs_relax_vcpu v[2] = {{0}};
	struct pvs_relax_in in[2];

	NOTE("vCPU 1 starved on its own pCPU (ready the whole period): nothing widened yet");
	relax_in(in, 0, 10 * MS, 0);
	pvs_relax_step(v, in, 2, 10 * MS, 0, &p);
	pvs_relax_step(v, in, 2, 10 * MS, 0, &p);
	CHECK(!v[0].widened && !v[1].widened);
	NOTE("the leader is co-stopped: the laggard may take its pCPU, the leader is not widened");
	CHECK_EQU(pvs_relax_step(v, in, 2, 10 * MS, 0, &p), 1);
	CHECK(v[0].stopped && !v[0].widened && v[1].widened);
	NOTE("both wait (the starved laggard and the SCHED_IDLE leader): still widened");
	relax_in(in, 10 * MS, 10 * MS, 0);
	for (int i = 0; i < 5; i++)
		pvs_relax_step(v, in, 2, 10 * MS, 0, &p);
	CHECK(v[0].stopped && v[1].widened);
	NOTE("the laggard runs (on the freed pCPU): the leader co-starts, the laggard is pinned "
	     "again");
	relax_in(in, 10 * MS, 0, 0);
	pvs_relax_step(v, in, 2, 10 * MS, 0, &p);
	pvs_relax_step(v, in, 2, 10 * MS, 0, &p);
	CHECK(!v[0].stopped && !v[1].widened);
	NOTE("an idle laggard is not widened; plentiful pCPUs widen nothing");
	relax_in(in, 0, 10 * MS, 0);
	for (int i = 0; i < 4; i++)
		pvs_relax_step(v, in, 2, 10 * MS, 0, &p);
	CHECK(v[0].stopped && v[1].widened);
	CHECK_EQU(pvs_relax_step(v, in, 2, 10 * MS, 1, &p), 0);
	CHECK(!v[0].widened && !v[1].widened);
	{
		struct pvs_relax_vcpu w[3] = {{0}};
		struct pvs_relax_in i3[3] = {{0}};

		i3[1].ready_ns = 10 * MS;
		i3[2].idle = 1;
		for (int i = 0; i < 4; i++)
			pvs_relax_step(w, i3, 3, 10 * MS, 0, &p);
		CHECK(w[0].stopped && w[1].widened && !w[2].widened);
	}
}

static const struct tcase cases[] = {
        {"names", t_names},
        {"spread", t_spread},
        {"allowed", t_allowed},
        {"dedicated", t_dedicated},
        {"gang-shares", t_gang_shares},
        {"gang-rt-bound", t_gang_rt_bound},
        {"gang-rt-fits", t_gang_rt_fits},
        {"gang-work-conserving", t_gang_work_conserving},
        {"relax-skew", t_relax_skew},
        {"relax-idle", t_relax_idle},
        {"relax-plentiful-boost", t_relax_plentiful_boost},
        {"relax-widen", t_relax_widen},
};

int main(int argc, char **argv)
{
	return run_cases(argc, argv, cases, NCASES(cases));
}
