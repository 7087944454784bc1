/* SPDX-License-Identifier: MIT */
/* policy/boost.c - see boost.h. */
#include <string.h>

#include "boost.h"

void pvs_boost_vm_init(struct pvs_boost_vm *vm)
{
	memset(vm, 0, sizeof(*vm));
}

void pvs_boost_vcpu_init(struct pvs_boost_vcpu *v)
{
	memset(v, 0, sizeof(*v));
}

static void lower(uint64_t *next, uint64_t t)
{
	if (next && t < *next)
		*next = t;
}

/* How long a deadline's boost lasts: the guest's length, else hold_ns;
 * never beyond max_ns. */
static uint64_t win_len(uint32_t len_us, const struct pvs_boost_params *p)
{
	uint64_t len = len_us ? (uint64_t)len_us * 1000u : p->hold_ns;

	return len > p->max_ns ? p->max_ns : len;
}

/* The deadline window [start, end) of IN, or 0 when there is none. */
static int window(const struct pvs_boost_in *in, const struct pvs_boost_params *p, uint64_t now,
                  uint64_t *start, uint64_t *end)
{
	if (!in->wake_at_ns)
		return 0;
	if (in->wake_at_ns > now + PVS_BOOST_HORIZON_NS ||
	    in->wake_at_ns + PVS_BOOST_HORIZON_NS < now)
		return 0;
	*start = in->wake_at_ns > p->lead_ns ? in->wake_at_ns - p->lead_ns : 0;
	*end = in->wake_at_ns + win_len(in->wake_len_us, p);
	return 1;
}

void pvs_boost_pick_wake(uint64_t a, uint32_t alen, uint64_t b, uint32_t blen,
                         const struct pvs_boost_params *p, uint64_t now, uint64_t *wake,
                         uint32_t *len)
{
	uint64_t ea, eb;
	int past_a, past_b, take_a;

	if (!a || !b) {
		*wake = a ? a : b;
		*len = a ? alen : blen;
		return;
	}
	/* the windows as window() will apply them */
	ea = a + win_len(alen, p);
	eb = b + win_len(blen, p);
	past_a = ea <= now;
	past_b = eb <= now;
	if (past_a != past_b)
		take_a = past_b;
	else if (past_a)
		take_a = a >= b; /* both over: the later, so an episode ends once */
	else
		take_a = a <= b; /* open or upcoming: the first to open */
	*wake = take_a ? a : b;
	*len = take_a ? alen : blen;
}

/* Refill the VM's bucket up to NOW and charge the boosted vCPUs: the CPU
 * time they used while boosted where IN has it, else the time boosted.
 * The sampler's run time arrives once a sample period: at each new sample
 * the run time since the last one is charged, up to the time the vCPU was
 * boosted in between (so run time while not boosted is never charged, and
 * a boosted vCPU can never be charged less than it ran, short boosts
 * between samples included). */
static void account(struct pvs_boost_vm *vm, struct pvs_boost_vcpu *v,
                    const struct pvs_boost_in *in, uint32_t n, const struct pvs_boost_params *p,
                    uint64_t now)
{
	if (!vm->primed) {
		vm->primed = 1;
		vm->tokens_ns = (int64_t)p->budget_ns;
		vm->last_ns = now;
		vm->window_start_ns = now;
	}
	if (now > vm->last_ns && p->window_ns) {
		/* refill at budget/window, full after one window of no boost */
		double add =
		        (double)(now - vm->last_ns) * (double)p->budget_ns / (double)p->window_ns;
		double t = (double)vm->tokens_ns + add;
		vm->tokens_ns = t > (double)p->budget_ns ? (int64_t)p->budget_ns : (int64_t)t;
	}
	vm->last_ns = now > vm->last_ns ? now : vm->last_ns;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t d = 0;

		if (v[i].boosted) {
			d = now > v[i].last_ns ? now - v[i].last_ns : 0;
			v[i].boost_ns += d;
		}
		v[i].last_ns = now;
		if (!in[i].has_run) {
			v[i].run_primed = 0;
			v[i].cpu_bound = 0;
			vm->tokens_ns -= (int64_t)d;
			continue;
		}
		v[i].pend_ns += d;
		if (!v[i].run_primed || in[i].run_at_ns != v[i].run_at) {
			uint64_t ran = 0;

			v[i].cpu_bound = 0;
			/* never backwards: a new thread in the slot restarts it */
			if (v[i].run_primed && in[i].run_ns >= v[i].run_last) {
				uint64_t span = in[i].run_at_ns - v[i].run_at;

				ran = in[i].run_ns - v[i].run_last;
				/* ran half the span or more: CPU-bound */
				v[i].cpu_bound = in[i].run_at_ns > v[i].run_at && ran >= span / 2;
			}
			vm->tokens_ns -= (int64_t)(ran < v[i].pend_ns ? ran : v[i].pend_ns);
			v[i].pend_ns = 0;
			v[i].run_last = in[i].run_ns;
			v[i].run_at = in[i].run_at_ns;
			v[i].run_primed = 1;
		}
	}
	if (p->window_ns && now - vm->window_start_ns >= p->window_ns) {
		vm->window_start_ns = now;
		vm->changes = 0;
	}
	if (vm->tokens_ns <= 0)
		vm->throttled = 1;
	else if (vm->throttled && vm->tokens_ns >= (int64_t)(p->budget_ns / 4))
		vm->throttled = 0;
}

static uint32_t set_boost(struct pvs_boost_vm *vm, struct pvs_boost_vcpu *v, int on, uint64_t now)
{
	if (v->boosted == on)
		return 0;
	v->boosted = on;
	v->last_ns = now;
	if (on) {
		v->since_ns = now;
		v->boosts++;
		vm->changes++;
	}
	return 1;
}

static uint32_t throttle(struct pvs_boost_vm *vm, struct pvs_boost_vcpu *v, uint64_t now)
{
	if (v->state != PVSCHED_BOOST_THROTTLED)
		v->throttles++;
	v->state = PVSCHED_BOOST_THROTTLED;
	return set_boost(vm, v, 0, now);
}

uint32_t pvs_boost_step(struct pvs_boost_vm *vm, struct pvs_boost_vcpu *v,
                        const struct pvs_boost_in *in, uint32_t n, const struct pvs_boost_params *p,
                        uint64_t now, uint64_t *next)
{
	uint32_t changed = 0, boosted = 0;

	account(vm, v, in, n, p, now);
	for (uint32_t i = 0; i < n; i++) {
		struct pvs_boost_vcpu *c = &v[i];
		uint64_t start = 0, end = 0;
		int has_win = window(&in[i], p, now, &start, &end);
		int in_win = has_win && now >= start && now < end;
		int want = in[i].req > 0 || in_win;
		int linger = 0;

		if (want) {
			c->want_end_ns = 0;
		} else if (c->boosted && p->linger_ns) {
			if (!c->want_end_ns)
				c->want_end_ns = now;
			linger = now < c->want_end_ns + p->linger_ns && p->enabled &&
			         !vm->throttled && !c->cpu_bound;
			if (linger)
				lower(next, c->want_end_ns + p->linger_ns);
		}

		if (has_win && now < start)
			lower(next, start);
		if (in_win)
			lower(next, end);
		/* episodes: a new want, a re-request, or a moved deadline */
		if (!want) {
			c->wanting = 0;
			c->blocked = 0;
		} else if (!c->wanting || in[i].seq != c->seq ||
		           (in[i].req == 0 && in[i].wake_at_ns != c->wake_at_ns)) {
			c->wanting = 1;
			c->blocked = 0;
			c->seq = in[i].seq;
			c->wake_at_ns = in[i].wake_at_ns;
			if (c->boosted)
				c->since_ns = now; /* a new episode restarts max_ns */
		}

		if (!want && !linger) {
			changed += set_boost(vm, c, 0, now);
			c->state = PVSCHED_BOOST_NONE;
			c->want_end_ns = 0;
		} else if (!want) {
			/* lingering: stays as it is, within max_ns */
			if (now - c->since_ns >= p->max_ns) {
				changed += set_boost(vm, c, 0, now);
				c->state = PVSCHED_BOOST_NONE;
			}
		} else if (!p->enabled) {
			changed += set_boost(vm, c, 0, now);
			c->state = PVSCHED_BOOST_DENIED;
		} else if (c->blocked || vm->throttled) {
			changed += throttle(vm, c, now);
		} else if (c->boosted && now - c->since_ns >= p->max_ns) {
			c->blocked = 1;
			changed += throttle(vm, c, now);
		} else if (!c->boosted && p->max_changes && vm->changes >= p->max_changes) {
			changed += throttle(vm, c, now);
			lower(next, vm->window_start_ns + p->window_ns);
		} else {
			changed += set_boost(vm, c, 1, now);
			c->state = PVSCHED_BOOST_GRANTED;
			lower(next, c->since_ns + p->max_ns);
		}
		boosted += c->boosted != 0;
	}
	if (boosted && vm->tokens_ns > 0)
		lower(next, now + (uint64_t)vm->tokens_ns / boosted + 1);
	if (vm->throttled && p->budget_ns) {
		/* refilled to a quarter of the budget */
		double need = (double)(int64_t)(p->budget_ns / 4) - (double)vm->tokens_ns;
		lower(next,
		      now + (uint64_t)(need * (double)p->window_ns / (double)p->budget_ns) + 1);
	}
	return changed;
}
