/* SPDX-License-Identifier: MIT */
/*
 * lib/pvwait.c - a pv-aware mutex and barrier: spin while the threads
 * waited for are on running vCPUs, sleep on a futex when the host reports
 * one of their vCPUs preempted (the user-space analogue of the kernel's
 * vcpu_is_preempted() spinning), and also after a bounded spin.
 *
 * Lock: Drepper's "mutex2" ("Futexes Are Tricky", 2011): the word is 0 free,
 * 1 locked, 2 locked with possible sleepers; a sleeper always sets 2, so an
 * unlock that finds 2 wakes one.  The owner stores its vCPU slot + 1 after
 * acquiring, for contenders to ask the region about.
 *
 * Barrier: one futex word holds generation << 1 | "has sleepers".  A
 * sleeper sets the bit with a CAS on the exact word it then waits on; the
 * releaser exchanges the word to the next generation and wakes everyone if
 * the old word had the bit.  Generation and bit change in one atomic step,
 * so a sleeper of generation g can neither miss the release of g (the
 * FUTEX_WAIT fails with EAGAIN once the word moved) nor have its bit
 * cleared by anyone but the releaser of g; a separate flag word would be
 * lost when a fast thread of generation g+1 set it before the releaser of
 * g cleared it.
 *
 * The futexes are private (FUTEX_PRIVATE_FLAG): process-local objects.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pvs_clock.h"
#include "region_internal.h"

_Static_assert(sizeof(pvsched_lock) == 64, "pvsched_lock is 64 bytes");
_Static_assert(_Alignof(pvsched_lock) == 64, "pvsched_lock is cache-line aligned");
_Static_assert(sizeof(pvsched_barrier) == 64, "pvsched_barrier is 64 bytes");
_Static_assert(_Alignof(pvsched_barrier) == 64, "pvsched_barrier is cache-line aligned");
_Static_assert(sizeof(struct pvsched_wait_stats) == 128, "pvsched_wait_stats is 128 bytes");

/* Spin iterations between two readings of the clock (a vDSO call, ~20 ns;
 * a pause is 10-40 ns): the budget is overrun by at most this many. */
#define CLOCK_EVERY 8u
/* Barrier: spin iterations between two scans of the laggards' slots (up to
 * 128 seqlock reads; the first scan is immediate). */
#define SCAN_EVERY 32u
/* Barrier: slots tracked one by one in arrived_vcpus. */
#define TRACKED_SLOTS 128u
/* While no region is open, a thread asks the advisor for one only every
 * this many lock/barrier calls (the advisor itself tries at most once a
 * second): no clock read or mutex on the no-region fast path. */
#define REGION_RECHECK 4096u

struct wait_tls {
	struct pvsched_wait_stats st;
	pvsched_guest *g;   /* the process-wide region, once found (kept) */
	uint32_t countdown; /* calls until the next look for a region */
};

static __thread struct wait_tls wt;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

static void futex_wait(uint32_t *w, uint32_t val)
{
	wt.st.futex_waits++;
	/* EAGAIN (the word moved), EINTR, spurious wake-ups: every caller
	 * re-checks its condition in a loop. */
	syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(uint32_t *w, int n)
{
	wt.st.futex_wakes++;
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* The region, or NULL: no region means adaptive behaviour. */
static pvsched_guest *region(void)
{
	struct wait_tls *t = &wt;

	if (t->g)
		return t->g;
	if (t->countdown) {
		t->countdown--;
		return NULL;
	}
	t->countdown = REGION_RECHECK;
	t->g = pvs__default_guest();
	return t->g;
}

/* The spin budget: starts at the first call, then true once it is spent. */
struct budget {
	uint64_t start;
	uint32_t n;
};

static int budget_spent(struct budget *b)
{
	uint64_t now;

	if (b->n++ % CLOCK_EVERY)
		return 0;
	now = pvs_mono_ns();
	if (!b->start) {
		b->start = now;
		return 0;
	}
	return now - b->start >= PVSCHED_SPIN_BUDGET_NS;
}

/* ---- lock ---- */

int pvsched_lock_init(pvsched_lock *l)
{
	if (!l)
		return -EINVAL;
	memset(l, 0, sizeof(*l));
	return 0;
}

int pvsched_lock_destroy(pvsched_lock *l)
{
	if (!l)
		return -EINVAL;
	return __atomic_load_n(&l->word, __ATOMIC_RELAXED) ? -EBUSY : 0;
}

static void set_owner(pvsched_lock *l, pvsched_guest *g)
{
	int self = g ? pvsched_vcpu_self(g) : -1;

	__atomic_store_n(&l->owner, self >= 0 ? (uint32_t)self + 1u : 0u, __ATOMIC_RELAXED);
}

/* Contended: spin while the owner's vCPU is not reported preempted, within
 * the budget; then sleep as mutex2 does.  C is the word last seen. */
static __attribute__((noinline)) void lock_slow(pvsched_lock *l, pvsched_guest *g, uint32_t c)
{
	struct budget bud = {0, 0};

	wt.st.lock_contended++;
	for (;;) {
		uint32_t owner;

		if (c == 0) {
			if (__atomic_compare_exchange_n(&l->word, &c, 1u, 0, __ATOMIC_ACQUIRE,
			                                __ATOMIC_RELAXED)) {
				wt.st.spin_successes++;
				return;
			}
			continue; /* C now holds the word that beat us */
		}
		owner = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
		if (g && owner && pvsched_vcpu_preempted(g, owner - 1u) == 1) {
			wt.st.preempted_waits++;
			break;
		}
		if (budget_spent(&bud)) {
			wt.st.budget_waits++;
			break;
		}
		cpu_relax();
		wt.st.spins++;
		c = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
	}
	/* mutex2: announce a sleeper (2) and sleep until the exchange finds
	 * the lock free; the lock is then held with 2, so the unlock wakes
	 * the next sleeper, if any (at worst one spurious wake-up). */
	if (c != 2)
		c = __atomic_exchange_n(&l->word, 2u, __ATOMIC_ACQUIRE);
	while (c != 0) {
		futex_wait(&l->word, 2u);
		c = __atomic_exchange_n(&l->word, 2u, __ATOMIC_ACQUIRE);
	}
}

int pvsched_lock_lock(pvsched_lock *l)
{
	pvsched_guest *g;
	uint32_t c = 0;

	if (!l)
		return -EINVAL;
	g = region();
	wt.st.lock_acquires++;
	if (!__atomic_compare_exchange_n(&l->word, &c, 1u, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		lock_slow(l, g, c);
	set_owner(l, g);
	return 0;
}

int pvsched_lock_trylock(pvsched_lock *l)
{
	uint32_t c = 0;

	if (!l)
		return -EINVAL;
	if (!__atomic_compare_exchange_n(&l->word, &c, 1u, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return -EBUSY;
	wt.st.lock_acquires++;
	set_owner(l, region());
	return 0;
}

int pvsched_lock_unlock(pvsched_lock *l)
{
	if (!l)
		return -EINVAL;
	__atomic_store_n(&l->owner, 0u, __ATOMIC_RELAXED);
	if (__atomic_exchange_n(&l->word, 0u, __ATOMIC_RELEASE) == 2u)
		futex_wake(&l->word, 1);
	return 0;
}

/* ---- barrier ---- */

int pvsched_barrier_init(pvsched_barrier *b, unsigned count)
{
	if (!b || !count)
		return -EINVAL;
	memset(b, 0, sizeof(*b));
	b->count = count;
	return 0;
}

int pvsched_barrier_destroy(pvsched_barrier *b)
{
	if (!b)
		return -EINVAL;
	if (__atomic_load_n(&b->arrived, __ATOMIC_RELAXED))
		return -EBUSY;
	b->count = 0;
	return 0;
}

/* May a thread that has not arrived yet be on a preempted vCPU?  Those
 * threads run on vCPUs other than SELF's (which runs us) and, unless the
 * guest runs several barrier threads per vCPU, other than the arrived
 * threads' ones; the budget covers that case. */
static int laggard_preempted(pvsched_barrier *b, pvsched_guest *g, int self)
{
	uint64_t set[2] = {__atomic_load_n(&b->arrived_vcpus[0], __ATOMIC_RELAXED),
	                   __atomic_load_n(&b->arrived_vcpus[1], __ATOMIC_RELAXED)};
	uint32_t nr = pvs__nr_vcpus(g), seen = 0;

	for (uint32_t i = 0; i < nr && i < TRACKED_SLOTS; i++) {
		int p = pvsched_vcpu_preempted(g, i);

		seen += p == 1;
		if (p == 1 && (int)i != self && !(set[i / 64] >> (i % 64) & 1u))
			return 1;
	}
	if (nr > TRACKED_SLOTS) {
		/* Beyond the tracked slots: any preempted vCPU of the VM. */
		struct pvsched_vm_info vi;

		if (pvsched_read_vm(g, &vi) == 0 && vi.preempted_now > seen)
			return 1;
	}
	return 0;
}

static void barrier_sleep(pvsched_barrier *b, uint32_t gen)
{
	for (;;) {
		uint32_t w = __atomic_load_n(&b->word, __ATOMIC_ACQUIRE);

		if ((w >> 1) != gen)
			return;
		if (!(w & 1u)) {
			if (!__atomic_compare_exchange_n(&b->word, &w, w | 1u, 0, __ATOMIC_ACQUIRE,
			                                 __ATOMIC_ACQUIRE))
				continue; /* released, or another sleeper set it */
			w |= 1u;
		}
		futex_wait(&b->word, w);
	}
}

int pvsched_barrier_wait(pvsched_barrier *b)
{
	struct budget bud = {0, 0};
	pvsched_guest *g;
	uint32_t w, gen, count;
	int self = -1;

	if (!b)
		return -EINVAL;
	count = __atomic_load_n(&b->count, __ATOMIC_RELAXED);
	if (!count)
		return -EINVAL;
	g = region();
	wt.st.barrier_waits++;
	if (g)
		self = pvsched_vcpu_self(g);
	/* The generation cannot move before this thread arrives. */
	w = __atomic_load_n(&b->word, __ATOMIC_ACQUIRE);
	gen = w >> 1;
	if (self >= 0 && (uint32_t)self < TRACKED_SLOTS)
		__atomic_fetch_or(&b->arrived_vcpus[self / 64], 1ull << (self % 64),
		                  __ATOMIC_RELAXED);
	if (__atomic_add_fetch(&b->arrived, 1u, __ATOMIC_ACQ_REL) == count) {
		/* The last one: reset for the next generation, then release.
		 * Threads of the next generation read these only after they
		 * saw the new word (acquire), so they see them reset. */
		__atomic_store_n(&b->arrived, 0u, __ATOMIC_RELAXED);
		__atomic_store_n(&b->arrived_vcpus[0], 0ull, __ATOMIC_RELAXED);
		__atomic_store_n(&b->arrived_vcpus[1], 0ull, __ATOMIC_RELAXED);
		w = __atomic_exchange_n(&b->word, (gen + 1u) << 1, __ATOMIC_ACQ_REL);
		if (w & 1u)
			futex_wake(&b->word, INT_MAX);
		return PVSCHED_BARRIER_SERIAL_THREAD;
	}
	for (uint32_t i = 0;; i++) {
		if ((__atomic_load_n(&b->word, __ATOMIC_ACQUIRE) >> 1) != gen) {
			wt.st.spin_successes++;
			return 0;
		}
		if (g && i % SCAN_EVERY == 0 && laggard_preempted(b, g, self)) {
			wt.st.preempted_waits++;
			break;
		}
		if (budget_spent(&bud)) {
			wt.st.budget_waits++;
			break;
		}
		cpu_relax();
		wt.st.spins++;
	}
	barrier_sleep(b, gen);
	return 0;
}

/* ---- counters ---- */

int pvsched_wait_stats(struct pvsched_wait_stats *out)
{
	if (!out)
		return -EINVAL;
	*out = wt.st;
	return 0;
}

void pvsched_wait_stats_reset(void)
{
	memset(&wt.st, 0, sizeof(wt.st));
}
