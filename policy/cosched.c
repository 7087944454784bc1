/* SPDX-License-Identifier: MIT */
/* policy/cosched.c - placement, gang rotation, relaxed skew (cosched.h). */
#include <string.h>

#include "cosched.h"

static const char *const names[PVS_CS_NR_POLICIES] = {"none", "spread", "dedicated", "gang",
                                                      "relaxed"};

const char *pvs_cs_policy_name(int policy)
{
	if (policy < 0 || policy >= PVS_CS_NR_POLICIES)
		return NULL;
	return names[policy];
}

int pvs_cs_policy_parse(const char *s)
{
	for (int i = 0; i < PVS_CS_NR_POLICIES; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

uint32_t pvs_cs_shares_from_cgroup(int v1, uint64_t value)
{
	if (v1)
		return value >= 2 && value <= 262144 ? (uint32_t)((value * 1000 + 512) / 1024) : 0;
	return value >= 1 && value <= 10000 ? (uint32_t)(value * 10) : 0;
}

/* ---------- placement ---------- */

/* The CPUs of M, least loaded first (ties: lower number first). */
static unsigned order_by_load(const struct pvs_cpuset *m, const uint32_t *load, uint16_t *out)
{
	unsigned n = 0;

	for (unsigned c = 0; c < PVS_CPUSET_MAX; c++) {
		unsigned j;

		if (!pvs_cpuset_test(m, c))
			continue;
		/* insertion sort: stable, CPU lists are short */
		for (j = n; j > 0 && load[out[j - 1]] > load[c]; j--)
			out[j] = out[j - 1];
		out[j] = (uint16_t)c;
		n++;
	}
	return n;
}

static void place_one(struct pvs_place_vm *vm, const struct pvs_cpuset *avail, uint32_t *load,
                      int dedicated, struct pvs_cpuset *claimed)
{
	uint16_t order[PVS_CPUSET_MAX];
	unsigned m = order_by_load(avail, load, order);
	uint32_t nv = vm->nr_vcpus;

	vm->shared = 0;
	vm->dedicated_short = 0;
	if (!nv)
		return;
	for (uint32_t i = 0; i < nv; i++)
		memset(&vm->out[i], 0, sizeof(vm->out[i]));
	if (!m) {
		/* nothing to place on (an empty allowed set): out stays empty,
		 * the caller leaves the threads as they are */
		vm->shared = nv;
		return;
	}
	if (dedicated) {
		/* one CPU each, as far as they go; what is left shares */
		unsigned k = m < nv ? m : nv;

		vm->dedicated_short = m < nv;
		for (uint32_t i = 0; i < nv; i++) {
			unsigned c = order[i % (k ? k : 1)];

			if (!k)
				break;
			pvs_cpuset_set(&vm->out[i], c);
			if (claimed)
				pvs_cpuset_set(claimed, c);
			load[c]++;
		}
		vm->shared = nv > k ? nv - k : 0;
		return;
	}
	if (m >= nv) {
		/* home CPUs: the nv least loaded; the rest dealt round-robin */
		for (unsigned j = 0; j < m; j++) {
			unsigned c = order[j];

			pvs_cpuset_set(&vm->out[j % nv], c);
			if (j < nv)
				load[c]++;
		}
	} else {
		for (uint32_t i = 0; i < nv; i++) {
			unsigned c = order[i % m];

			pvs_cpuset_set(&vm->out[i], c);
			load[c]++;
		}
		vm->shared = nv - m;
	}
}

void pvs_place(struct pvs_place_vm *vms, uint32_t n, const struct pvs_cpuset *usable)
{
	static uint32_t load[PVS_CPUSET_MAX]; /* policy code is single-threaded */
	struct pvs_cpuset claimed = {{0}};

	memset(load, 0, sizeof(load));
	for (uint32_t i = 0; i < n; i++) {
		struct pvs_cpuset avail, tmp;

		if (vms[i].policy != PVS_CS_DEDICATED)
			continue;
		pvs_cpuset_and(&tmp, &vms[i].allowed, usable);
		pvs_cpuset_andnot(&avail, &tmp, &claimed);
		if (!pvs_cpuset_count(&avail)) {
			/* every CPU it may use is dedicated already: spread it
			 * over them like a spread VM and say so */
			place_one(&vms[i], pvs_cpuset_count(&tmp) ? &tmp : &vms[i].allowed, load, 0,
			          NULL);
			vms[i].dedicated_short = 1;
			continue;
		}
		place_one(&vms[i], &avail, load, 1, &claimed);
	}
	for (uint32_t i = 0; i < n; i++) {
		struct pvs_cpuset avail, tmp;

		if (vms[i].policy == PVS_CS_NONE || vms[i].policy == PVS_CS_DEDICATED)
			continue;
		pvs_cpuset_and(&tmp, &vms[i].allowed, usable);
		pvs_cpuset_andnot(&avail, &tmp, &claimed);
		if (!pvs_cpuset_count(&avail))
			avail = pvs_cpuset_count(&tmp) ? tmp : vms[i].allowed;
		place_one(&vms[i], &avail, load, 0, NULL);
	}
}

/* ---------- gang ---------- */

#define STRIDE_SHIFT 20

void pvs_gang_init(struct pvs_gang *g)
{
	memset(g, 0, sizeof(*g));
	g->cur = -1;
}

static void charge(struct pvs_gang *g, struct pvs_gang_vm *vms, uint32_t n,
                   const struct pvs_gang_params *p, uint64_t dt)
{
	uint32_t rt = p->rt_pct ? p->rt_pct : 100;

	if (g->cur >= 0 && (uint32_t)g->cur < n) {
		struct pvs_gang_vm *v = &vms[g->cur];
		uint32_t sh = v->shares ? v->shares : 1;

		v->pass += (dt << STRIDE_SHIFT) / sh;
		v->run_ns += dt;
		/* gang time owes (100 - rt)/rt of itself as gap time */
		g->rt_debt_ns += (int64_t)(dt * (100 - rt) / rt);
	} else if (g->rt_debt_ns > 0) {
		g->gap_ns += dt;
		g->rt_debt_ns -= (int64_t)dt;
		if (g->rt_debt_ns < 0)
			g->rt_debt_ns = 0;
	}
}

int pvs_gang_step(struct pvs_gang *g, struct pvs_gang_vm *vms, uint32_t n,
                  const struct pvs_gang_params *p, uint64_t now, uint64_t *next_ns)
{
	uint64_t minpass = UINT64_MAX;
	int best = -1;

	if (g->t_last && now > g->t_last)
		charge(g, vms, n, p, now - g->t_last);
	g->t_last = now;
	if (g->cur >= 0 && (uint32_t)g->cur >= n)
		g->cur = -1;

	/* virtual time of those that stayed runnable; newcomers start there */
	for (uint32_t i = 0; i < n; i++)
		if (vms[i].runnable && vms[i].was_runnable && vms[i].pass < minpass)
			minpass = vms[i].pass;
	for (uint32_t i = 0; i < n; i++) {
		if (vms[i].runnable && !vms[i].was_runnable && minpass != UINT64_MAX &&
		    vms[i].pass < minpass)
			vms[i].pass = minpass;
		vms[i].was_runnable = vms[i].runnable;
	}
	/* keep passes small: only their differences matter (with shares 1 a
	 * pass would otherwise wrap after about 5 hours of slices) */
	if (minpass != UINT64_MAX && minpass > 0)
		for (uint32_t i = 0; i < n; i++)
			vms[i].pass = vms[i].pass > minpass ? vms[i].pass - minpass : 0;

	/* the current turn goes on: a slice while its VM is runnable, a gap
	 * while gang time is owed */
	if (now < g->slice_end) {
		if (g->cur >= 0 && vms[g->cur].runnable) {
			*next_ns = g->slice_end;
			return g->cur;
		}
		if (g->cur < 0 && g->rt_debt_ns > 0) {
			*next_ns = g->slice_end;
			return -1;
		}
	}

	if (g->rt_debt_ns > 0) {
		/* a gap: everything in the fair class until the debt is paid */
		g->cur = -1;
		g->slice_end = now + (uint64_t)g->rt_debt_ns;
		*next_ns = g->slice_end;
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (!vms[i].runnable)
			continue;
		/* ties (only before anything was charged): the lower index */
		if (best < 0 || vms[i].pass < vms[best].pass)
			best = (int)i;
	}
	g->cur = best;
	if (best < 0) {
		g->slice_end = 0;
		*next_ns = UINT64_MAX;
		return -1;
	}
	g->slice_end = now + p->slice_ns;
	*next_ns = g->slice_end;
	return best;
}

int pvs_gang_rt_fits(uint32_t rt_pct, int64_t runtime_us, uint64_t period_us, uint32_t *max_pct)
{
	uint64_t budget_pct; /* the kernel's RT share of a pCPU, rounded down */
	uint32_t max;

	if (runtime_us < 0 || !period_us || (uint64_t)runtime_us >= period_us) {
		if (max_pct)
			*max_pct = 100;
		return 1;
	}
	budget_pct = (uint64_t)runtime_us * 100u / period_us;
	max = budget_pct > PVS_GANG_RT_HEADROOM_PCT
	              ? (uint32_t)budget_pct - PVS_GANG_RT_HEADROOM_PCT
	              : 0;
	if (max_pct)
		*max_pct = max;
	return rt_pct <= max;
}

/* ---------- relaxed ---------- */

uint32_t pvs_relax_step(struct pvs_relax_vcpu *v, const struct pvs_relax_in *in, uint32_t n,
                        uint64_t dt, int plentiful, const struct pvs_relax_params *p)
{
	uint64_t min = UINT64_MAX;
	uint32_t stopped = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t ready = in[i].ready_ns < dt ? in[i].ready_ns : dt;

		if (in[i].idle) {
			v[i].lead_ns = 0;
			continue;
		}
		v[i].lead_ns += dt - ready;
		if (v[i].lead_ns < min)
			min = v[i].lead_ns;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (in[i].idle || plentiful) {
			v[i].lead_ns = in[i].idle ? 0 : v[i].lead_ns - min;
			if (plentiful)
				v[i].lead_ns = 0;
			v[i].stopped = 0;
			continue;
		}
		v[i].lead_ns -= min;
		/* a lead far beyond the threshold is history, not skew to repay */
		if (v[i].lead_ns > 4 * p->skew_ns)
			v[i].lead_ns = 4 * p->skew_ns;
		if (in[i].boosted)
			v[i].stopped = 0;
		else if (!v[i].stopped && v[i].lead_ns > p->skew_ns)
			v[i].stopped = 1;
		else if (v[i].stopped && v[i].lead_ns <= p->costart_ns)
			v[i].stopped = 0;
		stopped += (uint32_t)v[i].stopped;
	}
	/* the laggards may take the pCPUs the stopped give up */
	for (uint32_t i = 0; i < n; i++)
		v[i].widened = stopped && !v[i].stopped && !in[i].idle && !plentiful;
	return stopped;
}
