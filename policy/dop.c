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
	if (o->host_busy_valid && o->fresh) {
		/* keep the last capacity; before the first real observation stay
		 * unprimed (the VM's size is published), so the first one sets
		 * the average directly instead of being averaged with a guess */
		if (!t->primed)
			return;
		cap = t->capacity;
	} else if (o->host_busy_valid) {
		uint64_t others =
		        o->host_busy_ns > o->vm_run_ns ? o->host_busy_ns - o->vm_run_ns : 0;
		double demand = (double)others, f = 1.0;

		/* What the others consumed is less than what they want when the
		 * CPUs are oversubscribed: the VM's own runnable vCPUs got the
		 * fraction f = run / (run + wait) of their demand, and the fair
		 * class shares alike, so the others' demand is their use / f.
		 * Without this, a VM that keeps more vCPUs busy squeezes the
		 * others' use and sees more capacity: the advice then stays too
		 * high after load arrives (a feedback loop of its own).  Only on
		 * saturated CPUs: waiting on a host with idle CPUs is wake-up
		 * latency or placement, not others' demand. */
		if (o->vm_wait_ns &&
		    (double)(o->vm_run_ns + o->vm_wait_ns) >=
		            PVS_DEMAND_MIN_ACTIVE * (double)o->dt_ns &&
		    (double)o->host_busy_ns >=
		            PVS_DEMAND_SATURATED * (double)o->host_cpus * (double)o->dt_ns) {
			f = (double)o->vm_run_ns / (double)(o->vm_run_ns + o->vm_wait_ns);
			if (f < PVS_DEMAND_MIN_SHARE)
				f = PVS_DEMAND_MIN_SHARE;
			demand /= f;
		}
		cap = (double)o->host_cpus - demand / (double)o->dt_ns;
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
