/* SPDX-License-Identifier: MIT */
/*
 * policy/vcpu.c - derive a vCPU's state and shares from schedstat samples.
 *
 * State rule (docs/abi.md, "vCPU state"): over the last period, a vCPU is
 * IDLE when its thread recorded less than 10% activity and is not runnable,
 * PREEMPTED when it waited for a CPU longer than it ran (or is runnable with
 * no recorded activity: it has been waiting since before the period began),
 * RUNNING otherwise.
 */
#include <string.h>

#include "policy.h"

void pvs_vcpu_init(struct pvs_vcpu_track *t)
{
	memset(t, 0, sizeof(*t));
	t->state = PVSCHED_VCPU_UNKNOWN;
}

static uint32_t milli(uint64_t part, uint64_t whole)
{
	if (!whole)
		return 0;
	if (part >= whole)
		return PVSCHED_MILLI;
	return (uint32_t)(part * PVSCHED_MILLI / whole);
}

/* Low-activity periods are ambiguous from schedstat alone.  Two facts cut
 * the task-state reads that resolve them (each costs ~1-3 us of procfs):
 *  - a thread known to be waiting in a run queue cannot fall asleep without
 *    running first, so "waiting, and no activity since" is still waiting;
 *  - a thread known to sleep that shows no activity, or ran briefly without
 *    waiting (a guest timer tick), is still idle; this is re-checked every
 *    PVS_IDLE_VERIFY periods, which bounds how long a vCPU that woke and
 *    has waited ever since can be shown idle. */
static int ambiguous(const struct pvs_vcpu_track *t, uint64_t rd, uint64_t wd, uint64_t dt)
{
	if (milli(rd + wd, dt) >= PVS_ACTIVITY_MIN_MILLI)
		return 0;
	if (t->state == PVSCHED_VCPU_PREEMPTED && rd == 0 && wd == 0)
		return 0;
	if (t->state == PVSCHED_VCPU_IDLE && t->idle_unverified + 1 < PVS_IDLE_VERIFY &&
	    milli(wd, dt) < PVS_IDLE_WAIT_MAX_MILLI)
		return 0;
	return 1;
}

int pvs_vcpu_need_state(const struct pvs_vcpu_track *t, uint64_t run_ns, uint64_t wait_ns,
                        uint64_t now_ns)
{
	if (!t->primed || now_ns <= t->t_last || run_ns < t->last_run || wait_ns < t->last_wait)
		return 1;
	return ambiguous(t, run_ns - t->last_run, wait_ns - t->last_wait, now_ns - t->t_last);
}

static void rates(struct pvs_vcpu_track *t, uint64_t now_ns)
{
	uint64_t dt;

	if (!t->rate_t0) {
		t->rate_t0 = now_ns;
		t->rate_run0 = t->run_total;
		t->rate_wait0 = t->wait_total;
		t->rate_pre0 = t->preemptions;
		return;
	}
	dt = now_ns - t->rate_t0;
	if (dt < 1000000000ull)
		return;
	t->run_pct_x100 = (uint32_t)((t->run_total - t->rate_run0) * 10000u / dt);
	t->wait_pct_x100 = (uint32_t)((t->wait_total - t->rate_wait0) * 10000u / dt);
	t->preempt_per_s = (uint32_t)((t->preemptions - t->rate_pre0) * 1000000000ull / dt);
	t->rate_valid = 1;
	t->rate_t0 = now_ns;
	t->rate_run0 = t->run_total;
	t->rate_wait0 = t->wait_total;
	t->rate_pre0 = t->preemptions;
}

void pvs_vcpu_update(struct pvs_vcpu_track *t, const struct pvs_vcpu_sample *s, uint64_t now_ns)
{
	uint64_t dt, rd, wd;
	int runnable = s->task_state == 'R';

	if (!t->primed || now_ns <= t->t_last || s->run_ns < t->last_run ||
	    s->wait_ns < t->last_wait) {
		t->primed = 1;
		t->t_last = now_ns;
		t->last_run = s->run_ns;
		t->last_wait = s->wait_ns;
		t->last_invol = s->involuntary;
		t->run_delta = t->wait_delta = 0;
		t->run_milli = t->wait_milli = 0;
		t->state = s->task_state ? (runnable ? PVSCHED_VCPU_RUNNING : PVSCHED_VCPU_IDLE)
		                         : PVSCHED_VCPU_UNKNOWN;
		if (s->exact_state && s->exact_state <= PVSCHED_VCPU_STATE_MAX)
			t->state = s->exact_state;
		rates(t, now_ns);
		return;
	}
	dt = now_ns - t->t_last;
	rd = s->run_ns - t->last_run;
	wd = s->wait_ns - t->last_wait;
	t->run_delta = rd;
	t->wait_delta = wd;
	t->run_total += rd;
	t->wait_total += wd;
	t->run_milli = milli(rd, dt);
	t->wait_milli = milli(wd, dt);
	if (s->involuntary != PVS_NO_VALUE) {
		if (t->last_invol != PVS_NO_VALUE && s->involuntary >= t->last_invol)
			t->preemptions += s->involuntary - t->last_invol;
		t->last_invol = s->involuntary;
	}
	if (milli(rd + wd, dt) < PVS_ACTIVITY_MIN_MILLI) {
		if (s->task_state) {
			t->state = runnable ? PVSCHED_VCPU_PREEMPTED : PVSCHED_VCPU_IDLE;
			t->idle_unverified = 0;
		} else if (!ambiguous(t, rd, wd, dt)) {
			/* state carries over (see ambiguous()) */
			if (t->state == PVSCHED_VCPU_IDLE)
				t->idle_unverified++;
		} else {
			t->state = PVSCHED_VCPU_UNKNOWN;
		}
	} else if (wd > rd) {
		t->state = PVSCHED_VCPU_PREEMPTED;
	} else {
		t->state = PVSCHED_VCPU_RUNNING;
	}
	if (s->exact_state && s->exact_state <= PVSCHED_VCPU_STATE_MAX)
		t->state = s->exact_state;
	t->t_last = now_ns;
	t->last_run = s->run_ns;
	t->last_wait = s->wait_ns;
	rates(t, now_ns);
}

int pvs_vcpu_is_quiet(const struct pvs_vcpu_track *t)
{
	return t->primed && t->state == PVSCHED_VCPU_IDLE && !t->run_delta && !t->wait_delta &&
	       !t->run_milli && !t->wait_milli;
}

void pvs_vcpu_quiet_until(struct pvs_vcpu_track *t, uint64_t t_ns)
{
	if (t_ns > t->t_last)
		t->t_last = t_ns;
}

void pvs_vcpu_to_abi(const struct pvs_vcpu_track *t, uint64_t now_ns, struct pvsched_vcpu_host *out)
{
	memset(out, 0, sizeof(*out));
	out->state = t->state;
	out->run_ns = t->run_total;
	out->wait_ns = t->wait_total;
	out->preemptions = t->preemptions;
	out->update_ns = now_ns;
	out->run_milli = t->run_milli;
	out->wait_milli = t->wait_milli;
}
