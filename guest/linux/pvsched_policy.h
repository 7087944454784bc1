/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * pvsched_policy.h - the guest driver's decisions, pure: no kernel call, no
 * global state, no floating point.  The module (pvsched_main.c) feeds it
 * what its probes see; tests/unit/test_kpolicy.c compiles the same header
 * in user space and checks every rule.
 *
 * Per vCPU the driver keeps which of its request sources are active:
 *   RT       the task running on the vCPU has a real-time priority
 *            (SCHED_FIFO, SCHED_RR, SCHED_DEADLINE or priority-inherited:
 *            its effective prio is below PVS_K_MAX_RT_PRIO);
 *   HARDIRQ  a hard interrupt handler or an hrtimer callback runs (nesting
 *            depth, never below zero);
 *   SOFTIRQ  softirq handlers run (nesting depth).
 * The vCPU's slot asks for a boost while any *enabled* source is active:
 * the driver then holds exactly one count in the slot's boost_req (a
 * program's pvsched_boost() adds its own), and kreq names the sources.
 *
 * Deadlines: an RT task arming its own sleep timer publishes the timer's
 * expiry on the host clock as kwake_at_ns, so the host boosts the vCPU
 * thread just before the timer fires.
 */
#ifndef PVSCHED_K_POLICY_H
#define PVSCHED_K_POLICY_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdint.h>
typedef uint32_t u32;
typedef uint64_t u64;
typedef int64_t s64;
#endif

#include <pvsched/abi.h>

/* Effective priorities below this are real-time (kernel MAX_RT_PRIO). */
#define PVS_K_MAX_RT_PRIO 100

/* A deadline further away than this is not published (10 s: the host
 * ignores deadlines beyond its horizon anyway, PVS_BOOST_HORIZON_NS). */
#define PVS_K_DEADLINE_HORIZON_NS 10000000000ull

struct pvs_kcpu {
	u32 rt;	       /* the running task is real-time */
	u32 hardirq;   /* hard-irq / hrtimer callback nesting depth */
	u32 softirq;   /* softirq nesting depth */
	u32 published; /* kreq as last written to the slot; != 0: holds a count
			*/
};

/* What one probe event changes. */
enum pvs_kev {
	PVS_KEV_SWITCH,	     /* arg: the next task's effective prio */
	PVS_KEV_RESYNC,	     /* arg: the current task's effective prio */
	PVS_KEV_HARDIRQ_IN,  /* arg unused */
	PVS_KEV_HARDIRQ_OUT, /* arg unused */
	PVS_KEV_SOFTIRQ_IN,  /* arg unused */
	PVS_KEV_SOFTIRQ_OUT, /* arg unused */
};

/* SCHED_DEADLINE tasks have prio -1, SCHED_FIFO/RR 0..99, others 100.. */
static inline int pvs_k_prio_is_rt(int prio)
{
	return prio < PVS_K_MAX_RT_PRIO;
}

/* Apply one event to the per-vCPU state. */
static inline void pvs_k_event(struct pvs_kcpu *c, enum pvs_kev ev, int arg)
{
	switch (ev) {
	case PVS_KEV_SWITCH:
	case PVS_KEV_RESYNC:
		c->rt = pvs_k_prio_is_rt(arg);
		break;
	case PVS_KEV_HARDIRQ_IN:
		c->hardirq++;
		break;
	case PVS_KEV_HARDIRQ_OUT:
		/* an exit whose entry was not seen (the probe was registered
		 * in between) must not underflow */
		if (c->hardirq)
			c->hardirq--;
		break;
	case PVS_KEV_SOFTIRQ_IN:
		c->softirq++;
		break;
	case PVS_KEV_SOFTIRQ_OUT:
		if (c->softirq)
			c->softirq--;
		break;
	}
}

/* The sources asking now (PVSCHED_KREQ_*), restricted to ENABLED. */
static inline u32 pvs_k_mask(const struct pvs_kcpu *c, u32 enabled)
{
	u32 m = 0;

	if (c->rt)
		m |= PVSCHED_KREQ_RT;
	if (c->hardirq)
		m |= PVSCHED_KREQ_HARDIRQ;
	if (c->softirq)
		m |= PVSCHED_KREQ_SOFTIRQ;
	return m & enabled;
}

/*
 * What the slot needs after the state changed: the new kreq, and the
 * change of the driver's count in boost_req: +1 when the first source
 * became active, -1 when the last one ended, 0 otherwise.  *NOTIFY says
 * whether boost_seq and boost_gen must move: only when the request as a
 * whole starts or ends, so one continuous real-time stretch is one episode
 * for the host's limits (a tick in the middle of it renews nothing).
 */
static inline u32 pvs_k_update(struct pvs_kcpu *c, u32 enabled, int *delta,
			       int *notify)
{
	u32 m = pvs_k_mask(c, enabled);

	*delta = 0;
	if (m && !c->published)
		*delta = 1;
	else if (!m && c->published)
		*delta = -1;
	*notify = *delta != 0;
	c->published = m;
	return m;
}

/*
 * The host time of a timer expiry: EXPIRES and NOW are on the timer's own
 * clock (any clock: only their difference is used), GUEST_MONO_NOW the
 * guest's CLOCK_MONOTONIC at the same instant, OFF_NS host minus guest
 * CLOCK_MONOTONIC.  Returns 0 when the expiry is not worth publishing:
 * already past, or beyond the horizon.
 */
static inline u64 pvs_k_deadline(s64 expires, s64 now, u64 guest_mono_now,
				 s64 off_ns)
{
	s64 left = expires - now;
	u64 host;

	if (left <= 0 || (u64)left > PVS_K_DEADLINE_HORIZON_NS)
		return 0;
	host = (u64)((s64)guest_mono_now + off_ns) + (u64)left;
	return host ? host : 1;
}

/*
 * Which deadline the slot keeps when a new one (NEW, host clock) arrives
 * while CUR is published: CUR while it is still ahead of NOW (host clock)
 * and sooner than NEW, so two real-time tasks on one vCPU do not hide the
 * sooner wake-up; otherwise NEW (a task re-arming after its wake-up
 * replaces the deadline that just passed).
 */
static inline u64 pvs_k_choose_deadline(u64 cur, u64 new_ns, u64 now)
{
	if (!new_ns)
		return cur;
	if (cur && cur > now && cur < new_ns)
		return cur;
	return new_ns;
}

#endif /* PVSCHED_K_POLICY_H */
