/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * daemon/bpf/sampler.bpf.c - the kernel half of pvschedd's BPF sampler.
 *
 * Follows the threads pvschedd registered (vCPU threads) through the
 * scheduler's tracepoints and keeps, per thread, cumulative on-CPU time,
 * run-queue wait and preemptions, plus the current state and when it began,
 * in a record pvschedd reads from mapped memory (sampler_bpf.h):
 *
 *   sched_switch      prev: RUNNING -> WAITING (still runnable: preempted,
 *                     counted) or SLEEPING; next: -> RUNNING
 *   sched_wakeup(_new) SLEEPING -> WAITING (the run-queue wait begins)
 *   sched_process_exit / sched_process_exec  -> DEAD (final)
 *
 * An interval is added to run_ns (wait_ns) when the event that ends it
 * arrives; pvschedd adds the interval in progress itself, so what it reads
 * is exact at the instant it reads.  Switch-out always ends an on-CPU
 * interval and switch-in a wait, whatever state was recorded, so a record
 * that started from a stale seed corrects itself at the next event.
 *
 * sched_switch and sched_wakeup run for every context switch and wake-up on
 * the host: a thread that is not followed costs one load from a 4 KiB
 * filter, a followed one a load from the tid table, a clock read and a few
 * stores to its record's cache line (no hash lookup, no atomic instruction
 * on x86).  The time source is
 * bpf_ktime_get_ns (CLOCK_MONOTONIC), the clock pvschedd samples with.
 *
 * The iter/task program "pvs_seed" runs when pvschedd opens a slot, after
 * it mapped the tid: it reports the thread's identity and kernel counters
 * and sets the record's initial state unless an event already did.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "sampler_bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define TASK_RUNNING      0u
#define PF_EXITING        0x00000004u
#define TASK_ON_RQ_QUEUED 1

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, PVS_BPF_SLOTS);
	__type(key, __u32);
	__type(value, struct pvs_bpf_rec);
} pvs_recs SEC(".maps");

/* per slot: changed since pvschedd last cleared it (sampler_bpf.h) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, PVS_BPF_SLOTS / PVS_BPF_CHANGED_GROUP);
	__type(key, __u32);
	__type(value, struct pvs_bpf_changed);
} pvs_changed SEC(".maps");

/* tid -> slot: the direct-mapped table and its overflow (sampler_bpf.h) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, PVS_BPF_TABLE_SIZE);
	__type(key, __u32);
	__type(value, __u64);
} pvs_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PVS_BPF_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} pvs_tids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PVS_BPF_FILTER_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} pvs_filter SEC(".maps");

/* The same for the processes (tgid) with a followed thread: a new thread in
 * one of them sets new_thread, and pvschedd looks for new vCPU threads of
 * its process VMs only then (and now and then), not by a stat() per process
 * VM every few periods. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PVS_BPF_FILTER_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} pvs_tgid_filter SEC(".maps");

__u32 new_thread;

/* The seeding request, written by pvschedd before it runs the iterator. */
__u32 seed_tid;
__u32 seed_slot;

/* pvschedd's thread and when it was last woken (by its tick timer, mostly):
 * the instant its sample describes.  A vCPU on the CPU pvschedd then runs
 * on is preempted by pvschedd itself; the state it had at the wake-up
 * (prev, see set_st()) is the one to report. */
__u32 observer_tid;
__u64 observer_woken;

/* May TID be followed (or be pvschedd)?  The only test most tasks see. */
static __always_inline int filter_hit(__u32 tid)
{
	__u32 word = (tid & PVS_BPF_FILTER_MASK) / 64;
	__u64 *e;

	if (!tid) /* the idle tasks: half of all switches on a quiet host */
		return 0;
	e = bpf_map_lookup_elem(&pvs_filter, &word);
	return e && (*(volatile __u64 *)e & (1ull << (tid % 64)));
}

/* The slot TID is mapped to, or -1 (after filter_hit). */
static __always_inline long tid_slot(__u32 tid)
{
	__u32 home = tid & PVS_BPF_TABLE_MASK, *slot;
	__u64 *e, v;

	e = bpf_map_lookup_elem(&pvs_table, &home);
	if (!e)
		return -1;
	v = *(volatile __u64 *)e;
	if ((__u32)(v >> 32) == tid && (v & PVS_BPF_SLOT_MASK))
		return (long)(v & PVS_BPF_SLOT_MASK) - 1;
	if (!(v & PVS_BPF_OVERFLOW))
		return -1;
	slot = bpf_map_lookup_elem(&pvs_tids, &tid);
	return slot ? (long)*slot : -1;
}

static __always_inline struct pvs_bpf_rec *lookup_tid(__u32 tid)
{
	long s;
	__u32 key;
	struct pvs_bpf_rec *r;

	if (!filter_hit(tid))
		return NULL;
	s = tid_slot(tid);
	if (s < 0)
		return NULL;
	key = (__u32)s;
	r = bpf_map_lookup_elem(&pvs_recs, &key);
	/* a slot being reused for another thread is not this tid's */
	if (!r || r->tid != tid)
		return NULL;
	return r;
}

static __always_inline struct pvs_bpf_rec *followed(struct task_struct *t)
{
	return lookup_tid((__u32)t->pid);
}

/* Readers retry while seq is odd or changed (seqcount).  One writer at a
 * time (the scheduler serializes a task's events), so seq needs no atomic
 * add: on x86 (TSO) stores become visible in program order and a compiler
 * barrier is enough, as in the kernel's write_seqcount_begin; elsewhere
 * the atomic add is the barrier. */
#define compiler_barrier() asm volatile("" ::: "memory")
#if defined(__TARGET_ARCH_x86)
#define seq_bump(r)                                                                                \
	do {                                                                                       \
		compiler_barrier();                                                                \
		*(volatile __u32 *)&(r)->seq = (r)->seq + 1;                                       \
		compiler_barrier();                                                                \
	} while (0)
#else
#define seq_bump(r) __sync_fetch_and_add(&(r)->seq, 1)
#endif

static __always_inline void rec_begin(struct pvs_bpf_rec *r)
{
	seq_bump(r);
}

/* The store only when the flag is clear: the line stays shared between
 * the CPUs of a busy group until pvschedd clears a flag in it. */
static __always_inline void mark_changed(struct pvs_bpf_rec *r)
{
	__u32 s = r->slot, k = s / PVS_BPF_CHANGED_GROUP;
	struct pvs_bpf_changed *c = bpf_map_lookup_elem(&pvs_changed, &k);
	volatile __u8 *f;

	if (!c)
		return;
	f = &c->flag[s % PVS_BPF_CHANGED_GROUP];
	if (!*f)
		*f = 1;
}

static __always_inline void rec_end(struct pvs_bpf_rec *r)
{
	r->events++;
	seq_bump(r);
	mark_changed(r);
}

static __always_inline __u32 st_state(__u64 st)
{
	return (__u32)(st & PVS_BPF_STATE_MASK);
}

static __always_inline __u64 st_since(__u64 st)
{
	return st >> PVS_BPF_STATE_BITS;
}

/* prev keeps the state at pvschedd's last wake-up, the instant its next
 * sample describes: the state being left if it was already in force then,
 * else it stays what an earlier change since that wake-up set.  Keeping
 * only the state before the last change was wrong whenever pvschedd read
 * later than two changes after its wake-up (a vCPU that woke, ran and
 * slept again meanwhile was shown running). */
static __always_inline void set_st(struct pvs_bpf_rec *r, __u32 old, __u64 now, __u32 state)
{
	if (st_since(r->st) <= *(volatile __u64 *)&observer_woken)
		r->prev = old;
	r->st = PVS_BPF_ST(now, state);
}

static __always_inline void switch_out(struct pvs_bpf_rec *r, __u64 now, int runnable)
{
	__u64 st = *(volatile __u64 *)&r->st, since = st_since(st);
	__u32 s = st_state(st);

	if (s == PVS_BPF_DEAD)
		return;
	rec_begin(r);
	/* it was on this CPU until now, whatever was recorded */
	if (s != PVS_BPF_UNKNOWN && now > since)
		r->run_ns += now - since;
	if (runnable)
		r->invol++;
	set_st(r, s, now, runnable ? PVS_BPF_WAITING : PVS_BPF_SLEEPING);
	rec_end(r);
}

static __always_inline void switch_in(struct pvs_bpf_rec *r, __u64 now)
{
	__u64 st = *(volatile __u64 *)&r->st, since = st_since(st);
	__u32 s = st_state(st);

	if (s == PVS_BPF_DEAD)
		return;
	rec_begin(r);
	/* From SLEEPING (a wake-up not seen) the split is unknown: no wait. */
	if (s == PVS_BPF_WAITING && now > since)
		r->wait_ns += now - since;
	set_st(r, s, now, PVS_BPF_RUNNING);
	rec_end(r);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(pvs_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
             unsigned int prev_state)
{
	struct pvs_bpf_rec *r;
	__u64 now = 0;

	r = followed(prev);
	if (r) {
		now = bpf_ktime_get_ns();
		/* preempted, or yielded/interrupted while runnable: it stays
		 * in the run queue (the kernel's nivcsw, give or take a
		 * signal that cancels a sleep) */
		switch_out(r, now, preempt || prev_state == TASK_RUNNING);
	}
	r = followed(next);
	if (r) {
		if (!now)
			now = bpf_ktime_get_ns();
		switch_in(r, now);
	}
	return 0;
}

static __always_inline void woken(struct task_struct *p)
{
	__u32 tid = (__u32)p->pid, s;
	struct pvs_bpf_rec *r;
	__u64 st, now;

	if (!filter_hit(tid))
		return;
	if (tid == observer_tid) {
		observer_woken = bpf_ktime_get_ns();
		return;
	}
	r = lookup_tid(tid);
	if (!r)
		return;
	st = *(volatile __u64 *)&r->st;
	s = st_state(st);
	/* A wake-up of a thread that is running or already queued (it set
	 * its state but had not slept yet) changes nothing. */
	if (s != PVS_BPF_SLEEPING && s != PVS_BPF_UNKNOWN)
		return;
	now = bpf_ktime_get_ns();
	rec_begin(r);
	set_st(r, s, now, s == PVS_BPF_UNKNOWN && p->on_cpu ? PVS_BPF_RUNNING : PVS_BPF_WAITING);
	rec_end(r);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(pvs_wakeup, struct task_struct *p)
{
	woken(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(pvs_wakeup_new, struct task_struct *p)
{
	__u32 tgid = (__u32)p->tgid, word = (tgid & PVS_BPF_FILTER_MASK) / 64;
	__u64 *e = bpf_map_lookup_elem(&pvs_tgid_filter, &word);

	if (e && (*(volatile __u64 *)e & (1ull << (tgid % 64))))
		new_thread = 1;
	woken(p);
	return 0;
}

static __always_inline void mark_dead(struct pvs_bpf_rec *r)
{
	__u32 s = st_state(*(volatile __u64 *)&r->st);

	if (s == PVS_BPF_DEAD)
		return;
	rec_begin(r);
	set_st(r, s, bpf_ktime_get_ns(), PVS_BPF_DEAD);
	rec_end(r);
}

/* After this the tid can be reused by a new thread: the record must never
 * follow it, and pvschedd must learn that the vCPU thread is gone. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(pvs_exit, struct task_struct *p)
{
	struct pvs_bpf_rec *r = followed(p);

	if (r)
		mark_dead(r);
	return 0;
}

/* A non-leader thread that execs takes the leader's tid and frees its own
 * (OLD_PID) without passing sched_process_exit. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(pvs_exec, struct task_struct *p, pid_t old_pid)
{
	struct pvs_bpf_rec *r = lookup_tid((__u32)old_pid);

	if (r)
		mark_dead(r);
	return 0;
}

/* Run by pvschedd (bpf_iter_create on a link limited to seed_tid) after it
 * mapped seed_tid to seed_slot.  Reports the task's identity and schedstat
 * counters, and gives the record its current state unless an event already
 * did (compare-and-swap from 0): from here on the events keep it. */
SEC("iter/task")
int pvs_seed(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;
	struct pvs_bpf_seed out = {};
	struct pvs_bpf_rec *r;
	__u32 tid, slot = seed_slot;
	__u64 now;

	if (!t)
		return 0;
	tid = (__u32)t->pid;
	if (tid != seed_tid)
		return 0; /* kernels before 6.1 ignore the tid filter */
	out.tid = tid;
	out.tgid = (__u32)t->tgid;
	out.start_boottime = t->start_boottime;
	out.run_ns = t->se.sum_exec_runtime;
	if (bpf_core_field_exists(t->sched_info.run_delay)) /* CONFIG_SCHED_INFO */
		out.wait_ns = BPF_CORE_READ(t, sched_info.run_delay);
	out.invol = t->nivcsw;
	if (t->flags & PF_EXITING)
		out.flags |= PVS_BPF_SEED_EXITING;
	if (t->on_cpu)
		out.state = PVS_BPF_RUNNING;
	else if (t->on_rq == TASK_ON_RQ_QUEUED)
		/* a task whose dequeue is delayed (EEVDF, 6.12+) sleeps */
		out.state = bpf_core_field_exists(t->se.sched_delayed) &&
		                            BPF_CORE_READ(t, se.sched_delayed)
		                    ? PVS_BPF_SLEEPING
		                    : PVS_BPF_WAITING;
	else if (t->on_rq)
		out.state = PVS_BPF_WAITING; /* being migrated */
	else
		out.state = PVS_BPF_SLEEPING;

	r = bpf_map_lookup_elem(&pvs_recs, &slot);
	if (!filter_hit(tid) || tid_slot(tid) != (long)slot || !r || r->tid != tid) {
		out.flags |= PVS_BPF_SEED_NOSLOT;
	} else {
		now = bpf_ktime_get_ns();
		if (__sync_val_compare_and_swap(&r->st, 0, PVS_BPF_ST(now, out.state)) == 0)
			out.flags |= PVS_BPF_SEED_SEEDED;
	}
	bpf_seq_write(ctx->meta->seq, &out, sizeof(out));
	return 0;
}
