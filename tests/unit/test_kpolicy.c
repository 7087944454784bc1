/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_kpolicy.c - the guest driver's pure decisions
 * (guest/linux/pvsched_policy.h), compiled in user space exactly as the
 * module compiles them: which sources ask on a vCPU, the one count the
 * driver holds in boost_req beside programs' counts, deadline conversion
 * and choice.
 */
#include "check.h"
#include "pvsched_policy.h"

#define US 1000ll
#define MS 1000000ll

/* The slot as the module writes it: kreq, boost_req, the notifications. */
struct slot {
	uint32_t kreq, boost_req, notified;
};

static void drive(struct pvs_kcpu *c, struct slot *s, enum pvs_kev ev, int arg, uint32_t enabled)
{
	int delta, notify;

	pvs_k_event(c, ev, arg);
	s->kreq = pvs_k_update(c, enabled, &delta, &notify);
	if (delta > 0)
		s->boost_req++;
	else if (delta < 0 && s->boost_req)
		s->boost_req--;
	s->notified += notify != 0;
}

/* A real-time task switched in asks; switching to a normal one releases
 * at once; the idle task (prio 120) and nice levels are not real-time. */
static void t_rt_switch(void)
{
	struct pvs_kcpu c = {0};
	struct slot s = {0};

	CHECK(pvs_k_prio_is_rt(-1)); /* SCHED_DEADLINE: prio MAX_DL_PRIO - 1 */
	CHECK(pvs_k_prio_is_rt(0));
	CHECK(pvs_k_prio_is_rt(9));  /* SCHED_FIFO 90 -> prio 99 - 90 = 9 */
	CHECK(pvs_k_prio_is_rt(99)); /* SCHED_FIFO 0 / migration threads */
	CHECK(!pvs_k_prio_is_rt(100));
	CHECK(!pvs_k_prio_is_rt(120));
	CHECK(!pvs_k_prio_is_rt(139));
	drive(&c, &s, PVS_KEV_SWITCH, 9, PVSCHED_KREQ_ALL);
	CHECK_EQU(s.kreq, PVSCHED_KREQ_RT);
	CHECK_EQU(s.boost_req, 1);
	CHECK_EQU(s.notified, 1);
	NOTE("another RT task next: still one request, no new episode");
	drive(&c, &s, PVS_KEV_SWITCH, 50, PVSCHED_KREQ_ALL);
	CHECK_EQU(s.boost_req, 1);
	CHECK_EQU(s.notified, 1);
	NOTE("a normal task next: released synchronously");
	drive(&c, &s, PVS_KEV_SWITCH, 120, PVSCHED_KREQ_ALL);
	CHECK_EQU(s.kreq, 0);
	CHECK_EQU(s.boost_req, 0);
	CHECK_EQU(s.notified, 2);
}

/* A task that changes its own policy (chrt, then exec) or is priority-
 * inherited is seen at the next resync point (exec, pi, interrupt). */
static void t_pi_and_resync(void)
{
	struct pvs_kcpu c = {0};
	struct slot s = {0};

	drive(&c, &s, PVS_KEV_SWITCH, 120, PVSCHED_KREQ_ALL);
	CHECK_EQU(s.boost_req, 0);
	drive(&c, &s, PVS_KEV_RESYNC, 89, PVSCHED_KREQ_ALL);
	CHECK_EQU(s.kreq, PVSCHED_KREQ_RT);
	CHECK_EQU(s.boost_req, 1);
	NOTE("the inheritance ends: back to prio 120, released");
	drive(&c, &s, PVS_KEV_RESYNC, 120, PVSCHED_KREQ_ALL);
	CHECK_EQU(s.boost_req, 0);
}

/* Interrupts nest; the request lasts until the outermost exit; an RT task
 * interrupted keeps one request throughout (no new episode per tick). */
static void t_irq_nesting(void)
{
	struct pvs_kcpu c = {0};
	struct slot s = {0};

	drive(&c, &s, PVS_KEV_HARDIRQ_IN, 0, PVSCHED_KREQ_ALL);
	CHECK_EQU(s.kreq, PVSCHED_KREQ_HARDIRQ);
	CHECK_EQU(s.boost_req, 1);
	drive(&c, &s, PVS_KEV_HARDIRQ_IN, 0, PVSCHED_KREQ_ALL);
	drive(&c, &s, PVS_KEV_SOFTIRQ_IN, 0, PVSCHED_KREQ_ALL);
	CHECK_EQU(s.kreq, PVSCHED_KREQ_HARDIRQ | PVSCHED_KREQ_SOFTIRQ);
	CHECK_EQU(s.boost_req, 1);
	drive(&c, &s, PVS_KEV_HARDIRQ_OUT, 0, PVSCHED_KREQ_ALL);
	drive(&c, &s, PVS_KEV_HARDIRQ_OUT, 0, PVSCHED_KREQ_ALL);
	CHECK_EQU(s.kreq, PVSCHED_KREQ_SOFTIRQ);
	CHECK_EQU(s.boost_req, 1);
	drive(&c, &s, PVS_KEV_SOFTIRQ_OUT, 0, PVSCHED_KREQ_ALL);
	CHECK_EQU(s.kreq, 0);
	CHECK_EQU(s.boost_req, 0);
	CHECK_EQU(s.notified, 2);
	NOTE("RT task with ticks: one episode");
	drive(&c, &s, PVS_KEV_SWITCH, 9, PVSCHED_KREQ_ALL);
	for (int i = 0; i < 100; i++) {
		drive(&c, &s, PVS_KEV_HARDIRQ_IN, 0, PVSCHED_KREQ_ALL);
		drive(&c, &s, PVS_KEV_HARDIRQ_OUT, 0, PVSCHED_KREQ_ALL);
	}
	CHECK_EQU(s.boost_req, 1);
	CHECK_EQU(s.notified, 3);
}

/* An exit whose entry the driver did not see (it attached in between)
 * leaves the depth at zero, never wrapped to 0xffffffff. */
static void t_exit_without_entry(void)
{
	struct pvs_kcpu c = {0};
	struct slot s = {0};

	drive(&c, &s, PVS_KEV_HARDIRQ_OUT, 0, PVSCHED_KREQ_ALL);
	drive(&c, &s, PVS_KEV_SOFTIRQ_OUT, 0, PVSCHED_KREQ_ALL);
	CHECK_EQU(c.hardirq, 0);
	CHECK_EQU(c.softirq, 0);
	CHECK_EQU(s.boost_req, 0);
	CHECK_EQU(s.notified, 0);
}

/* Each source can be switched off at run time (module parameters): off,
 * it asks nothing, and switching it off while it asks releases at the
 * vCPU's next event. */
static void t_sources_off(void)
{
	struct pvs_kcpu c = {0};
	struct slot s = {0};

	drive(&c, &s, PVS_KEV_SWITCH, 9, PVSCHED_KREQ_HARDIRQ | PVSCHED_KREQ_SOFTIRQ);
	CHECK_EQU(s.boost_req, 0);
	drive(&c, &s, PVS_KEV_HARDIRQ_IN, 0, PVSCHED_KREQ_RT | PVSCHED_KREQ_SOFTIRQ);
	CHECK_EQU(s.kreq, PVSCHED_KREQ_RT);
	CHECK_EQU(s.boost_req, 1);
	NOTE("rt switched off while the RT task runs: released at the next event");
	drive(&c, &s, PVS_KEV_HARDIRQ_OUT, 0, PVSCHED_KREQ_HARDIRQ | PVSCHED_KREQ_SOFTIRQ);
	CHECK_EQU(s.kreq, 0);
	CHECK_EQU(s.boost_req, 0);
	NOTE("the host cannot boost (no PVSCHED_F_BOOST): the module passes 0 sources");
	drive(&c, &s, PVS_KEV_HARDIRQ_IN, 0, 0);
	CHECK_EQU(s.boost_req, 0);
	CHECK_EQU(c.hardirq, 1); /* the state still follows */
}

/* A program's pvsched_boost() and the driver each hold their own counts:
 * neither's release cancels the other's request. */
static void t_nest_with_program(void)
{
	struct pvs_kcpu c = {0};
	struct slot s = {0};

	s.boost_req = 1; /* a program asked */
	drive(&c, &s, PVS_KEV_SWITCH, 9, PVSCHED_KREQ_ALL);
	CHECK_EQU(s.boost_req, 2);
	NOTE("the program releases: the driver's request stays");
	s.boost_req--;
	CHECK_EQU(s.boost_req, 1);
	NOTE("the program asks again, the driver releases: the program's stays");
	s.boost_req++;
	drive(&c, &s, PVS_KEV_SWITCH, 120, PVSCHED_KREQ_ALL);
	CHECK_EQU(s.boost_req, 1);
}

/* Expiry on the timer's clock to the host clock: only the distance from
 * now on the same clock counts, then guest monotonic now + offset. */
static void t_deadline_convert(void)
{
	const uint64_t mono = 5000 * MS;
	const int64_t off = 123456789 * US; /* host ahead of the guest */

	NOTE("CLOCK_MONOTONIC timer 500 us ahead");
	CHECK_EQU(pvs_k_deadline((int64_t)mono + 500 * US, (int64_t)mono, mono, off),
	          (uint64_t)((int64_t)mono + off + 500 * US));
	NOTE("CLOCK_REALTIME timer: another epoch, the same distance");
	CHECK_EQU(pvs_k_deadline(1700000000000 * MS + 1 * MS, 1700000000000 * MS, mono, off),
	          (uint64_t)((int64_t)mono + off + 1 * MS));
	NOTE("host behind the guest (negative offset)");
	CHECK_EQU(pvs_k_deadline(10 * MS, 9 * MS, mono, -1000 * MS), mono - 1000 * MS + MS);
	NOTE("already expired, or further than the horizon: nothing published");
	CHECK_EQU(pvs_k_deadline(9 * MS, 9 * MS, mono, off), 0);
	CHECK_EQU(pvs_k_deadline(8 * MS, 9 * MS, mono, off), 0);
	CHECK_EQU(pvs_k_deadline(11000 * MS, 0, mono, off), 0);
	CHECK(pvs_k_deadline(10000 * MS, 0, mono, off) != 0);
	NOTE("a deadline that lands on host time 0 is published as 1 (0 means none)");
	CHECK_EQU(pvs_k_deadline(1, 0, 0, -1), 1);
}

/* Two RT tasks on one vCPU: the sooner pending deadline is kept; a task
 * re-arming after its wake-up replaces the one that passed. */
static void t_deadline_choose(void)
{
	const uint64_t now = 1000 * MS;

	CHECK_EQU(pvs_k_choose_deadline(0, now + MS, now), now + MS);
	NOTE("pending and sooner: kept");
	CHECK_EQU(pvs_k_choose_deadline(now + MS, now + 2 * MS, now), now + MS);
	NOTE("pending but later: the new sooner one");
	CHECK_EQU(pvs_k_choose_deadline(now + 3 * MS, now + 2 * MS, now), now + 2 * MS);
	NOTE("passed (the task woke and re-arms): replaced");
	CHECK_EQU(pvs_k_choose_deadline(now - 10 * US, now + 490 * US, now), now + 490 * US);
	CHECK_EQU(pvs_k_choose_deadline(now, now + 500 * US, now), now + 500 * US);
	NOTE("nothing new: the current one stays");
	CHECK_EQU(pvs_k_choose_deadline(now + MS, 0, now), now + MS);
}

static const struct tcase cases[] = {
        {"rt-switch", t_rt_switch},
        {"pi-and-resync", t_pi_and_resync},
        {"irq-nesting", t_irq_nesting},
        {"exit-without-entry", t_exit_without_entry},
        {"sources-off", t_sources_off},
        {"nest-with-program", t_nest_with_program},
        {"deadline-convert", t_deadline_convert},
        {"deadline-choose", t_deadline_choose},
};

int main(int argc, char **argv)
{
	return run_cases(argc, argv, cases, NCASES(cases));
}
