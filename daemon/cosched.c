/* SPDX-License-Identifier: MIT */
/*
 * daemon/cosched.c - placement and co-scheduling of the VMs' vCPU threads.
 *
 * Decisions are policy/cosched.c's; this file feeds it the sampler's view,
 * turns its answers into layers and masks of the vCPUs, and lets
 * actuate.c apply them through the journal:
 *
 *   placement  recomputed when the set of placed VMs or their vCPU threads
 *              changes (a signature over them is checked every period);
 *   relaxed    one skew step per sampling period and VM; a laggard is
 *              widened to its VM's pCPUs while a sibling is co-stopped;
 *   gang       the rotation runs on the daemon's one-shot timer at slice
 *              boundaries (main.c), the runnable VMs taken from the last
 *              period's samples.
 *
 * esxtop counters: ready time (wait delta) while co-stopped - by relaxed,
 * or a gang VM outside its slice - is %CSTP; while a boost request is held
 * by the budget (THROTTLED) it is %MLMTD.
 */
#include <assert.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actuate.h"
#include "cgroup.h"
#include "coschedd.h"
#include "log.h"
#include "procfs.h"

static const struct pvs_config_vm *vm_conf(const struct pvs_daemon *d, const struct pvs_vm *vm)
{
	return pvs_vm_conf(d->cfg, vm);
}

static void vm_allowed(const struct pvs_daemon *d, const struct pvs_vm *vm,
                       struct pvs_cpuset *allowed, int warn);

/* The policy asked for: the run-time override, the VM's config, the default. */
static int wanted_policy(const struct pvs_daemon *d, const struct pvs_vm *vm)
{
	const struct pvs_config_vm *c;

	if (vm->cs_override >= 0)
		return vm->cs_override;
	c = vm_conf(d, vm);
	if (c && c->cosched >= 0)
		return c->cosched;
	return d->cfg->cosched.policy;
}

uint32_t pvs_cosched_live_vcpus(const struct pvs_vm *vm)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < vm->nr_vcpus; i++)
		n += vm->vcpus[i].live != 0;
	return n;
}

/* M less the reserved housekeeping CPUs, unless that leaves none. */
static void drop_reserved(const struct pvs_daemon *d, struct pvs_cpuset *m)
{
	struct pvs_cpuset all = *m;

	pvs_cpuset_andnot(m, m, &d->cfg->cosched.reserved);
	if (pvs_cpuset_empty(m))
		*m = all;
}

/* How many pCPUs VM's vCPUs may be placed on: its own CPUs narrowed by
 * cpus=, less the reserved ones (as placement takes them).  0 before its
 * threads' CPUs are known. */
uint32_t pvs_cosched_vm_cpus(const struct pvs_daemon *d, const struct pvs_vm *vm)
{
	struct pvs_cpuset allowed;

	vm_allowed(d, vm, &allowed, 0);
	drop_reserved(d, &allowed);
	return pvs_cpuset_count(&allowed);
}

/* A gang runs all its vCPUs at once on distinct pCPUs: with more live vCPUs
 * than pCPUs it may use, the ones left over would wait out every slice
 * behind SCHED_FIFO siblings (a lock holder among them with them), worse
 * than no co-scheduling.  Such a VM is co-scheduled relaxed instead. */
static int gang_fits(const struct pvs_daemon *d, const struct pvs_vm *vm)
{
	uint32_t cpus = pvs_cosched_vm_cpus(d, vm);

	return !cpus || pvs_cosched_live_vcpus(vm) <= cpus;
}

int pvs_cosched_policy(const struct pvs_daemon *d, const struct pvs_vm *vm)
{
	int pol;

	if (!d->journal)
		return PVS_CS_NONE; /* nothing may change a thread */
	pol = wanted_policy(d, vm);
	if (pol == PVS_CS_GANG && !gang_fits(d, vm))
		return PVS_CS_RELAXED;
	return pol;
}

uint32_t pvs_cosched_shares(const struct pvs_daemon *d, const struct pvs_vm *vm)
{
	const struct pvs_config_vm *c;

	if (vm->shares_override)
		return vm->shares_override;
	c = vm_conf(d, vm);
	if (c && c->shares)
		return c->shares;
	if (vm->cg_shares)
		return vm->cg_shares; /* its own cgroup's weight (daemon/cgroup.c) */
	return d->cfg->cosched.shares;
}

const char *pvs_cosched_shares_from(const struct pvs_daemon *d, const struct pvs_vm *vm)
{
	const struct pvs_config_vm *c = vm_conf(d, vm);

	if (vm->shares_override)
		return "pvschedctl";
	if (c && c->shares)
		return "config";
	return vm->cg_shares ? "cgroup" : "default";
}

/* ---------- placement ---------- */

/* Changes when a VM's policy or the set of its live vCPU threads does. */
static uint64_t placement_signature(const struct pvs_daemon *d)
{
	uint64_t h = 1469598103934665603ull;

	for (const struct pvs_vm *vm = d->vms; vm; vm = vm->next) {
		int pol = vm->cs_policy;

		h = (h ^ (uint64_t)(pol + 1)) * 1099511628211ull;
		if (pol == PVS_CS_NONE)
			continue;
		for (uint32_t i = 0; i < vm->nr_vcpus; i++)
			h = (h ^ (vm->vcpus[i].live ? (uint64_t)vm->vcpus[i].id.tid + 7 : 3)) *
			    1099511628211ull;
	}
	return h;
}

/* The CPUs placement may use for VM: its own, narrowed by its cpus= (read
 * at every placement: a reload may change it). */
static void vm_allowed(const struct pvs_daemon *d, const struct pvs_vm *vm,
                       struct pvs_cpuset *allowed, int warn)
{
	const struct pvs_config_vm *c = vm_conf(d, vm);

	*allowed = vm->own_cpus;
	if (!c || pvs_cpuset_empty(&c->cpus))
		return;
	if (!pvs_cpuset_intersects(&vm->own_cpus, &c->cpus)) {
		if (warn)
			log_warn("vm %s: cpus= shares no CPU with its affinity; ignored", vm->name);
		return;
	}
	pvs_cpuset_and(allowed, allowed, &c->cpus);
}

/* 0, or -ENOMEM (nothing changed: tried again next period). */
static int place_all(struct pvs_daemon *d)
{
	struct pvs_cpuset online = {{0}}, usable;
	struct pvs_place_vm *pv;
	uint32_t nvm = 0, k = 0;

	for (struct pvs_vm *vm = d->vms; vm; vm = vm->next)
		nvm++;
	if (pvs_cpuset_read_online(&online) < 0) {
		for (long c = 0; c < PVS_CPUSET_MAX && c < sysconf(_SC_NPROCESSORS_ONLN); c++)
			pvs_cpuset_set(&online, (unsigned)c);
	}
	usable = online;
	drop_reserved(d, &usable);
	pv = calloc(nvm ? nvm : 1, sizeof(*pv));
	if (!pv)
		return -ENOMEM;
	for (struct pvs_vm *vm = d->vms; vm; vm = vm->next, k++) {
		vm_allowed(d, vm, &pv[k].allowed, 1);
		pv[k].policy = vm->cs_policy;
		pv[k].nr_vcpus = vm->nr_vcpus;
		pv[k].out = calloc(vm->nr_vcpus ? vm->nr_vcpus : 1, sizeof(struct pvs_cpuset));
		if (!pv[k].out) {
			while (k--)
				free(pv[k].out);
			free(pv);
			return -ENOMEM;
		}
	}
	pvs_place(pv, nvm, &usable);
	k = 0;
	for (struct pvs_vm *vm = d->vms; vm; vm = vm->next, k++) {
		for (uint32_t i = 0; i < vm->nr_vcpus; i++) {
			struct pvs_vcpu *v = &vm->vcpus[i];
			int valid = pv[k].policy != PVS_CS_NONE && v->live &&
			            pvs_cpuset_count(&pv[k].out[i]);

			if (valid &&
			    (!v->cs_mask_valid || !pvs_cpuset_equal(&v->cs_mask, &pv[k].out[i]))) {
				v->cs_mask = pv[k].out[i];
				v->mask_applied = 0;
			}
			v->cs_mask_valid = valid;
			if (v->live)
				pvs_actuate(d, vm, v);
		}
		if (pv[k].policy != PVS_CS_NONE &&
		    (pv[k].shared != vm->placed_shared || pv[k].dedicated_short))
			log_info("vm %s: %u vCPU%s share a pCPU with a sibling%s", vm->name,
			         pv[k].shared, pv[k].shared == 1 ? "" : "s",
			         pv[k].dedicated_short ? " (too few free CPUs to dedicate)" : "");
		vm->placed_shared = pv[k].policy != PVS_CS_NONE ? pv[k].shared : 0;
		free(pv[k].out);
	}
	free(pv);
	return 0;
}

/* ---------- per period ---------- */

static void rate(struct pvs_vcpu *v, uint64_t now)
{
	if (now - v->cs_rate_t0 < 1000000000ull)
		return;
	if (v->cs_rate_t0) {
		uint64_t dt = now - v->cs_rate_t0;
		v->cstp_pct_x100 = (uint32_t)((v->costop_ns - v->cs_rate_cstp0) * 10000u / dt);
		v->mlmtd_pct_x100 = (uint32_t)((v->limited_ns - v->cs_rate_mlmtd0) * 10000u / dt);
	}
	v->cs_rate_t0 = now;
	v->cs_rate_cstp0 = v->costop_ns;
	v->cs_rate_mlmtd0 = v->limited_ns;
}

static void relax_vm(struct pvs_daemon *d, struct pvs_vm *vm, uint64_t dt)
{
	struct pvs_relax_params p = {
	        .skew_ns = (uint64_t)d->cfg->cosched.skew_ms * 1000000u,
	        .costart_ns = (uint64_t)d->cfg->cosched.skew_ms * 500000u,
	};
	struct pvs_relax_in *in;
	struct pvs_relax_vcpu *rv;
	uint64_t waited = 0;
	uint32_t n = vm->nr_vcpus, busy = 0;

	if (!n)
		return;
	in = calloc(n, sizeof(*in));
	rv = calloc(n, sizeof(*rv));
	if (!in || !rv) {
		free(in);
		free(rv);
		return; /* next period */
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct pvs_vcpu *v = &vm->vcpus[i];

		in[i].ready_ns = v->live ? v->track.wait_delta : 0;
		in[i].idle = !v->live || v->track.state == PVSCHED_VCPU_IDLE ||
		             v->track.state == PVSCHED_VCPU_UNKNOWN;
		in[i].boosted = v->boost.boosted;
		rv[i] = v->relax;
		if (!in[i].idle) {
			busy++;
			waited += in[i].ready_ns;
		}
	}
	/* plentiful: the VM's busy vCPUs waited for a pCPU less than 2 % of
	 * the period on average: all can run at once, co-start everything */
	pvs_relax_step(rv, in, n, dt, waited * 50 < dt * (busy ? busy : 1), &p);
	for (uint32_t i = 0; i < n; i++) {
		struct pvs_vcpu *v = &vm->vcpus[i];

		int widen_changed = v->relax.widened != rv[i].widened;

		v->relax = rv[i];
		if (widen_changed)
			v->mask_applied = 0; /* its VM's pCPUs, or its own again */
		if (v->cs_stopped != rv[i].stopped || widen_changed) {
			v->cs_stopped = rv[i].stopped;
			pvs_actuate(d, vm, v);
		}
	}
	free(in);
	free(rv);
}

/*
 * Said once per run, when a VM first goes gang: turns that leave the
 * kernel's RT budget no headroom (pvs_gang_rt_fits) get RT-throttled in
 * their middle whenever a boost, a TCG main thread or pvschedd runs too -
 * measured with cgroup weights 2:1 on cgroup v1: CPU A/B 2.38 at 95 %,
 * 2.07 at 90 % (docs/cosched.md section 7).
 */
static void check_rt_budget(const struct pvs_daemon *d)
{
	static int checked;
	char buf[32];
	long long runtime;
	unsigned long long period;
	uint32_t max;

	if (checked)
		return;
	checked = 1;
	if (pvs_read_file("/proc/sys/kernel/sched_rt_runtime_us", buf, sizeof(buf)) <= 0 ||
	    sscanf(buf, "%lld", &runtime) != 1 ||
	    pvs_read_file("/proc/sys/kernel/sched_rt_period_us", buf, sizeof(buf)) <= 0 ||
	    sscanf(buf, "%llu", &period) != 1)
		return; /* no such files: no RT throttling to run into */
	if (!pvs_gang_rt_fits(d->cfg->cosched.rt_pct, runtime, period, &max))
		log_warn("cosched_rt_pct %u: the kernel lets RT tasks run %lld of every %llu us "
		         "(kernel.sched_rt_runtime_us / sched_rt_period_us), and gang turns "
		         "leave less than %u points of it to boosts, TCG main threads and "
		         "pvschedd, so the kernel throttles RT in the middle of turns; use "
		         "cosched_rt_pct = %u or less",
		         d->cfg->cosched.rt_pct, runtime, period, PVS_GANG_RT_HEADROOM_PCT, max);
}

void pvs_cosched_sample(struct pvs_daemon *d, uint64_t now)
{
	/* the interval the sampler's deltas cover */
	uint64_t sig, dt = d->cs_last_ns && now > d->cs_last_ns ? now - d->cs_last_ns : 0;
	int gang_any = 0;

	d->cs_last_ns = now;
	for (struct pvs_vm *vm = d->vms; vm; vm = vm->next) {
		uint64_t runnable = 0;
		int pol;

		pvs_cgroup_update(d, vm, now);
		if (pvs_cpuset_empty(&vm->own_cpus))
			/* the VM's own CPUs, before pvsched placed anything */
			vm->own_cpus = vm->cpu_mask;
		pol = pvs_cosched_policy(d, vm);
		if (pol != vm->cs_policy) {
			if (pol == PVS_CS_RELAXED && wanted_policy(d, vm) == PVS_CS_GANG)
				log_warn("vm %s: co-scheduling relaxed, not gang: %u vCPUs, "
				         "%u pCPUs it may use",
				         vm->name, pvs_cosched_live_vcpus(vm),
				         pvs_cosched_vm_cpus(d, vm));
			else
				log_info("vm %s: co-scheduling %s", vm->name,
				         pvs_cs_policy_name(pol));
			if (pol == PVS_CS_GANG)
				check_rt_budget(d);
			vm->cs_policy = pol;
			for (uint32_t i = 0; i < vm->nr_vcpus; i++) {
				struct pvs_vcpu *v = &vm->vcpus[i];

				/* applied by the loop below */
				if (v->relax.widened)
					v->mask_applied = 0;
				memset(&v->relax, 0, sizeof(v->relax));
				v->cs_raised = v->cs_stopped = 0;
			}
			if (vm->timer.cs_raised) {
				vm->timer.cs_raised = 0;
				pvs_actuate(d, vm, &vm->timer);
			}
		}
		for (uint32_t i = 0; i < vm->nr_vcpus; i++) {
			struct pvs_vcpu *v = &vm->vcpus[i];
			uint64_t w = v->track.wait_delta;

			/* releases a slot whose thread changed or went away, then
			 * applies what changed or failed before (no system call
			 * when the thread already has what it should) */
			pvs_actuate(d, vm, v);
			if (!v->live)
				continue;
			/* a boosted vCPU is neither co-stopped nor limited */
			if (v->layer != PVS_LAYER_BOOST) {
				if (v->cs_stopped || (pol == PVS_CS_GANG && !v->cs_raised))
					v->costop_ns += w;
				else if (v->boost.state == PVSCHED_BOOST_THROTTLED)
					v->limited_ns += w;
			}
			if (v->track.state == PVSCHED_VCPU_RUNNING ||
			    v->track.state == PVSCHED_VCPU_PREEMPTED)
				runnable++;
			rate(v, now);
		}
		vm->gang.runnable = runnable > 0;
		vm->gang.shares = pvs_cosched_shares(d, vm);
		gang_any |= pol == PVS_CS_GANG;
		if (pol == PVS_CS_RELAXED && dt)
			relax_vm(d, vm, dt);
	}
	sig = placement_signature(d);
	if ((d->placement_dirty || sig != d->placement_sig) && !place_all(d)) {
		d->placement_sig = sig;
		d->placement_dirty = 0;
	}
	if (gang_any && d->cs_next_ns == UINT64_MAX)
		d->cs_next_ns = now;
}

/* ---------- gang rotation ---------- */

/*
 * TCG: the guest's timer interrupts are QEMU timers run by the main loop
 * thread, which then kicks the vCPU threads (docs/boost.md 7.2).  In a
 * gang's slice its vCPU threads are SCHED_FIFO on every pCPU it may use;
 * a main thread left in the fair class waits for the gap after the slice,
 * so the guest gets no timer interrupt (no tick, no hrtimer, no
 * reschedule) for most of its turn.  It is raised with its gang, one
 * priority above it (actuate.c), through the journal like the vCPUs.
 * (KVM: the LAPIC timer is in the host kernel; nothing to raise.)
 */
static void raise_main_thread(struct pvs_daemon *d, struct pvs_vm *vm, int raise)
{
	struct pvs_vcpu *t = &vm->timer;

	if (!vm->tcg || vm->kind != PVS_VM_QEMU || t->cs_raised == raise)
		return;
	t->cs_raised = raise;
	pvs_actuate(d, vm, t);
}

uint64_t pvs_cosched_tick(struct pvs_daemon *d, uint64_t now)
{
	struct pvs_gang_params p = {
	        .slice_ns = (uint64_t)d->cfg->cosched.slice_ms * 1000000u,
	        .rt_pct = d->cfg->cosched.rt_pct,
	};
	struct pvs_gang_vm *g;
	struct pvs_vm **vms;
	uint64_t next = UINT64_MAX;
	uint32_t n = 0, k = 0;
	int cur;

	for (struct pvs_vm *vm = d->vms; vm; vm = vm->next)
		n += vm->cs_policy == PVS_CS_GANG;
	if (!n) {
		d->gang_holder = NULL;
		pvs_gang_init(&d->gang);
		return UINT64_MAX;
	}
	g = calloc(n, sizeof(*g));
	vms = calloc(n, sizeof(*vms));
	if (!g || !vms) {
		free(g);
		free(vms);
		return now + p.slice_ns;
	}
	d->gang.cur = -1;
	for (struct pvs_vm *vm = d->vms; vm; vm = vm->next) {
		if (vm->cs_policy != PVS_CS_GANG)
			continue;
		if (vm == d->gang_holder) {
			d->gang.cur = (int)k;
			vm->gang_ns +=
			        d->gang.t_last && now > d->gang.t_last ? now - d->gang.t_last : 0;
		}
		g[k] = vm->gang;
		vms[k++] = vm;
	}
	assert(k == n); /* the two walks over d->vms saw the same gang VMs */
	cur = pvs_gang_step(&d->gang, g, n, &p, now, &next);
	assert(cur < (int)n);
	d->gang_holder = cur >= 0 ? vms[cur] : NULL;
	/* lower the others first, then raise the holder: two gangs never
	 * hold RT priority at once */
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t j = 0; j < n; j++) {
			struct pvs_vm *vm = vms[j];
			int raise = (int)j == cur;

			vm->gang = g[j];
			if (raise != pass)
				continue;
			for (uint32_t i = 0; i < vm->nr_vcpus; i++) {
				struct pvs_vcpu *v = &vm->vcpus[i];

				if (!v->live || v->cs_raised == raise)
					continue;
				v->cs_raised = raise;
				pvs_actuate(d, vm, v);
			}
			raise_main_thread(d, vm, raise);
		}
	}
	free(g);
	free(vms);
	return next;
}

int pvs_cosched_set(struct pvs_daemon *d, struct pvs_vm *vm, int policy, uint32_t shares, char *err,
                    size_t errlen)
{
	if (policy >= PVS_CS_NR_POLICIES || policy < -1) {
		snprintf(err, errlen, "policy %d: expected %s", policy, PVS_CS_POLICY_NAMES);
		return -EINVAL;
	}
	if (shares && (shares < PVS_CS_SHARES_MIN || shares > PVS_CS_SHARES_MAX)) {
		snprintf(err, errlen, "shares %u: expected %u..%u", shares, PVS_CS_SHARES_MIN,
		         PVS_CS_SHARES_MAX);
		return -EINVAL;
	}
	if (!d->journal && policy > PVS_CS_NONE) {
		snprintf(err, errlen, "co-scheduling unavailable: the journal %s is not open",
		         d->cfg->journal);
		return -ENOTSUP;
	}
	if (policy == PVS_CS_GANG && !gang_fits(d, vm)) {
		snprintf(err, errlen,
		         "vm %s: gang needs a pCPU for each of its %u vCPUs and it may use %u; "
		         "use relaxed, or give it more CPUs (cpus=, reserved_cpus=)",
		         vm->name, pvs_cosched_live_vcpus(vm), pvs_cosched_vm_cpus(d, vm));
		return -EINVAL;
	}
	vm->cs_override = policy;
	if (shares)
		vm->shares_override = shares;
	else if (policy < 0)
		vm->shares_override = 0; /* "config" without shares: all of it */
	d->placement_dirty = 1;
	/* the policy takes effect at the next period (pvs_cosched_sample) */
	return 0;
}
