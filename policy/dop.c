/* SPDX-License-Identifier: MIT */
/*
 * policy/dop.c - per-VM capacity and degree-of-parallelism advice.
 *
 * capacity = pCPUs the VM may use - CPU time taken on them by everything
 * that is not this VM (including the outer host's steal), per unit time,
 * clamped to [0, nr_vcpus] and smoothed by an EWMA with time constant
 * window_us.  It deliberately does not depend on how many vCPUs the guest
 * keeps busy, so a guest that shrinks its team on this advice does not
 * change the advice (the feedback loop of docs/policy.md).
 *
 * preempted_avg = EWMA of (sum of the vCPUs' run-queue wait) / dt: the mean
 * number of this VM's vCPUs that were runnable but not running (%RDY summed).
 *
 * recommended_dop = capacity rounded, moved only when capacity passes the
 * rounding boundary by hysteresis_milli, clamped to [1, n].
 *
 * n is the VM's vCPU count; for a process VM (obs size) the larger of its
 * threads and its pCPUs, because an OpenMP process that shrank its team to
 * one thread must be able to grow it again.
 */
#include <math.h>
#include <string.h>

#include "dop_step.h"
#include "policy.h"

double pvs_ewma_alpha(uint64_t dt_ns, uint64_t tau_ns)
{
	if (!tau_ns)
		return 1.0;
	return 1.0 - exp(-(double)dt_ns / (double)tau_ns);
}

void pvs_vm_init(struct pvs_vm_track *t)
{
	memset(t, 0, sizeof(*t));
}

uint32_t pvs_dop_advise(uint32_t current, double capacity, uint32_t nr_vcpus,
                        uint32_t hysteresis_milli)
{
	/* the rule itself is shared with the guest library (dop_step.h) */
	uint32_t milli = 0;

	if (capacity > 0) /* also false for NaN */
		milli = capacity >= 4.0e6 ? UINT32_MAX - 500 : (uint32_t)(capacity * 1000.0 + 0.5);
	return pvs_dop_step_milli(current, milli, nr_vcpus, hysteresis_milli);
}

/* host_cpus - the others' demand over a span of DT_NS in which the VM's
 * pCPUs were busy BUSY_NS (anything, incl. steal) and its vCPUs ran RUN_NS
 * and waited WAIT_NS. */
static double others_cap(uint64_t busy_ns, uint64_t run_ns, uint64_t wait_ns, uint64_t dt_ns,
                         uint32_t host_cpus)
{
	uint64_t others = busy_ns > run_ns ? busy_ns - run_ns : 0;
	double demand = (double)others, f;

	/* What the others consumed is less than what they want when the
	 * CPUs are oversubscribed: the VM's own runnable vCPUs got the
	 * fraction f = run / (run + wait) of their demand, and the fair
	 * class shares alike, so the others' demand is their use / f.
	 * Without this, a VM that keeps more vCPUs busy squeezes the
	 * others' use and sees more capacity: the advice then stays too
	 * high after load arrives (a feedback loop of its own).  Only on
	 * saturated CPUs: waiting on a host with idle CPUs is wake-up
	 * latency or placement, not others' demand. */
	if (wait_ns && (double)(run_ns + wait_ns) >= PVS_DEMAND_MIN_ACTIVE * (double)dt_ns &&
	    (double)busy_ns >= PVS_DEMAND_SATURATED * (double)host_cpus * (double)dt_ns) {
		f = (double)run_ns / (double)(run_ns + wait_ns);
		if (f < PVS_DEMAND_MIN_SHARE)
			f = PVS_DEMAND_MIN_SHARE;
		demand /= f;
	}
	return (double)host_cpus - demand / (double)dt_ns;
}

/* Sum the VM's run and wait period by period and, when /proc/stat's
 * interval (start, end] closes at a period boundary the sums started at,
 * compute the capacity of that interval from the two measured over the
 * same span.  /proc/stat is read at most every 50 ms, so the busy time of
 * a period is the rate of an earlier interval: set against this period's
 * run, a VM that just reduced its own load sees its own former load as
 * the others' (capacity dips, the advice falls and a smaller team keeps
 * it there), one that increased it sees none.  An interval that cannot be
 * matched (a gap, a fresh vCPU, a close between two updates of a quiet VM)
 * clears iv_valid: the per-period estimate is used until the next. */
static void iv_fold(struct pvs_vm_track *t, const struct pvs_vm_obs *o, uint64_t now_ns)
{
	uint64_t start = o->host_iv_start_ns, end = o->host_iv_end_ns;

	if (!t->acc_to_ns || t->acc_to_ns != now_ns - o->dt_ns || o->fresh)
		t->acc_ok = 0; /* the first period, a gap, or run missing */
	t->acc_run_ns += o->vm_run_ns;
	t->acc_wait_ns += o->vm_wait_ns;
	t->acc_to_ns = now_ns;
	if (end <= t->iv_end_ns)
		return; /* no new interval */
	t->iv_valid = t->acc_ok && t->acc_from_ns == start && now_ns == end && end > start;
	if (t->iv_valid)
		t->iv_cap = others_cap(o->host_iv_busy_ns, t->acc_run_ns, t->acc_wait_ns,
		                       end - start, o->host_cpus);
	t->iv_end_ns = end;
	/* the next interval starts at this close: sum from here when it is
	 * a period boundary of ours */
	t->acc_ok = now_ns == end;
	t->acc_from_ns = now_ns;
	t->acc_run_ns = t->acc_wait_ns = 0;
}

void pvs_vm_update(struct pvs_vm_track *t, const struct pvs_dop_params *p,
                   const struct pvs_vm_obs *o, uint64_t now_ns)
{
	double cap, pre, a;
	uint32_t n = o->size > o->nr_vcpus ? o->size : o->nr_vcpus;

	t->preempted_now = o->preempted;
	t->running_now = o->running;
	t->idle_now = o->idle;
	t->nr_vcpus = o->nr_vcpus;
	t->host_cpus = o->host_cpus;
	t->size = n;
	t->update_ns = now_ns;
	if (!o->dt_ns || !o->nr_vcpus)
		return;

	pre = (double)o->vm_wait_ns / (double)o->dt_ns;
	if (pre > o->nr_vcpus)
		pre = o->nr_vcpus;
	if (o->host_busy_valid && o->host_iv_end_ns)
		iv_fold(t, o, now_ns);
	if (o->host_busy_valid && o->fresh) {
		/* keep the last capacity; before the first real observation stay
		 * unprimed (the VM's size is published), so the first one sets
		 * the average directly instead of being averaged with a guess */
		if (!t->primed)
			return;
		cap = t->capacity;
	} else if (o->host_busy_valid && t->iv_valid) {
		/* the others' time of the last interval whose busy time and the
		 * VM's run were summed over the same span (iv_fold) */
		cap = t->iv_cap;
	} else if (o->host_busy_valid) {
		cap = others_cap(o->host_busy_ns, o->vm_run_ns, o->vm_wait_ns, o->dt_ns,
		                 o->host_cpus);
	} else {
		/* No host-wide view: fall back to what the VM itself got. */
		cap = (double)n - pre;
	}
	if (cap < 0)
		cap = 0;
	if (cap > n)
		cap = n;

	if (!t->primed && t->seen < p->prime_after) {
		t->seen++; /* the VM's size stays published meanwhile */
		return;
	}
	if (!t->primed) {
		t->primed = 1;
		t->preempted_avg = pre;
		t->capacity = cap;
		t->dop = pvs_dop_advise(0, cap, n, p->hysteresis_milli);
		return;
	}
	a = pvs_ewma_alpha(o->dt_ns, (uint64_t)p->window_us * 1000u);
	t->preempted_avg += a * (pre - t->preempted_avg);
	t->capacity += a * (cap - t->capacity);
	t->dop = pvs_dop_advise(t->dop, t->capacity, n, p->hysteresis_milli);
}

static uint32_t to_milli(double v)
{
	if (v <= 0)
		return 0;
	if (v > 4.0e6)
		return UINT32_MAX;
	return (uint32_t)(v * PVSCHED_MILLI + 0.5);
}

void pvs_vm_to_abi(const struct pvs_vm_track *t, const struct pvs_dop_params *p, uint32_t period_us,
                   struct pvsched_vm *out)
{
	memset(out, 0, sizeof(*out));
	out->update_ns = t->update_ns;
	out->preempted_now = t->preempted_now;
	out->preempted_avg_milli = to_milli(t->preempted_avg);
	out->capacity_milli = to_milli(t->primed ? t->capacity : t->size);
	out->recommended_dop = t->dop ? t->dop : (t->size ? t->size : 1);
	out->running_now = t->running_now;
	out->idle_now = t->idle_now;
	out->window_us = p->window_us;
	out->publish_period_us = period_us;
	out->host_cpus = t->host_cpus;
}
