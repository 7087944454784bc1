/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_pvwait.c - the vCPU map queries (pvsched_vcpu_self,
 * pvsched_vcpu_preempted) and the pv-aware lock and barrier.
 *
 * This process plays the host of a "process VM" region (vm_kind PROCESS):
 * it publishes its test threads' tids into slots and sets the slots'
 * states, and points the library at the region with $PVSCHED_REGION.
 * Behaviour is asserted through the per-thread wait counters, never
 * through wall-clock speed.  The stress cases flip every slot between
 * RUNNING, PREEMPTED and IDLE from a "host" thread while workers hammer a
 * lock or a barrier; they are bounded by a deadline and by a count.  The
 * lock and barrier use one process-wide region (the first one found), so
 * meson runs each case in its own process.
 */
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <pvsched/pvsched.h>

#include "check.h"
#include "hostregion.h"
#include "testutil.h"

#define NSLOTS 16u /* an 8 KiB region */

static struct pvs_hregion reg;
static pthread_mutex_t host_mu = PTHREAD_MUTEX_INITIALIZER; /* one writer per seq */

static void host_open(uint32_t kind, uint32_t nr)
{
	const char *p = tu_path("region");

	REQUIRE(TU_HOST(&reg, p, .nr = nr, .name = "pvwait", .kind = kind) == 0);
	pvs_hregion_heartbeat(&reg, pvs_mono_ns());
	setenv(PVSCHED_ENV_REGION, p, 1);
}

static void host_slot(uint32_t idx, uint32_t tid, uint32_t state)
{
	pthread_mutex_lock(&host_mu);
	tu_host_slot(&reg, idx, tid, state, PVSCHED_BOOST_NONE);
	pthread_mutex_unlock(&host_mu);
}

static uint32_t my_tid(void)
{
	return (uint32_t)gettid();
}

static struct pvsched_wait_stats stats_now(void)
{
	struct pvsched_wait_stats s;

	pvsched_wait_stats(&s);
	return s;
}

static void print_stats(const char *who, const struct pvsched_wait_stats *s)
{
	NOTE("%s: acquires %llu contended %llu barrier %llu spin-ok %llu spins %llu "
	     "preempted-waits %llu budget-waits %llu futex-waits %llu wakes %llu",
	     who, (unsigned long long)s->lock_acquires, (unsigned long long)s->lock_contended,
	     (unsigned long long)s->barrier_waits, (unsigned long long)s->spin_successes,
	     (unsigned long long)s->spins, (unsigned long long)s->preempted_waits,
	     (unsigned long long)s->budget_waits, (unsigned long long)s->futex_waits,
	     (unsigned long long)s->futex_wakes);
}

/* ---- pvsched_vcpu_self / pvsched_vcpu_preempted ---- */

static pvsched_guest *open_guest(void)
{
	pvsched_guest *g = NULL;

	REQUIRE(pvsched_open(&g) == 0);
	return g;
}

struct other_arg {
	pvsched_guest *g;
	uint32_t tid;
	int slot_before, slot_after;
	pthread_barrier_t *pb;
};

static void *other_thread(void *p)
{
	struct other_arg *a = p;

	a->tid = my_tid();
	a->slot_before = pvsched_vcpu_self(a->g); /* not published yet */
	pthread_barrier_wait(a->pb);              /* main publishes our tid */
	pthread_barrier_wait(a->pb);
	a->slot_after = pvsched_vcpu_self(a->g);
	return NULL;
}

static void t_self_process(void)
{
	pvsched_guest *g;
	pthread_barrier_t pb;
	pthread_t th;
	struct other_arg a;

	host_open(PVSCHED_VM_KIND_PROCESS, 4);
	g = open_guest();
	CHECK_EQ(pvsched_vcpu_self(NULL), -EINVAL);
	CHECK_EQ(pvsched_vcpu_self(g), -ENOENT);
	NOTE("published in slot 2: found");
	host_slot(2, my_tid(), PVSCHED_VCPU_RUNNING);
	CHECK_EQ(pvsched_vcpu_self(g), 2);
	CHECK_EQ(pvsched_vcpu_self(g), 2);
	NOTE("the host moves the thread to slot 3: the cached slot is revalidated");
	host_slot(2, 0, PVSCHED_VCPU_UNKNOWN);
	host_slot(3, my_tid(), PVSCHED_VCPU_RUNNING);
	CHECK_EQ(pvsched_vcpu_self(g), 3);
	NOTE("slot reused by another thread: not ours any more");
	host_slot(3, my_tid() + 100000u, PVSCHED_VCPU_RUNNING);
	CHECK_EQ(pvsched_vcpu_self(g), -ENOENT);
	NOTE("a miss is remembered until the heartbeat moves");
	{
		struct pvsched_vcpu_host v;
		memset(&v, 0, sizeof(v));
		v.tid = my_tid();
		pvs_hregion_publish_vcpu(&reg, 1, &v); /* no heartbeat yet */
		CHECK_EQ(pvsched_vcpu_self(g), -ENOENT);
		pvs_hregion_heartbeat(&reg, pvs_mono_ns());
		CHECK_EQ(pvsched_vcpu_self(g), 1);
	}
	NOTE("another thread finds its own slot, not ours");
	pthread_barrier_init(&pb, NULL, 2);
	a = (struct other_arg){.g = g, .pb = &pb};
	REQUIRE(pthread_create(&th, NULL, other_thread, &a) == 0);
	pthread_barrier_wait(&pb);
	host_slot(0, a.tid, PVSCHED_VCPU_RUNNING);
	pthread_barrier_wait(&pb);
	pthread_join(th, NULL);
	pthread_barrier_destroy(&pb);
	CHECK_EQ(a.slot_before, -ENOENT);
	CHECK_EQ(a.slot_after, 0);
	CHECK_EQ(pvsched_vcpu_self(g), 1);
	NOTE("nr_vcpus shrinks below the cached slot: not found");
	REQUIRE(pvs_hregion_set_nr_vcpus(&reg, 1) == 0);
	pvs_hregion_heartbeat(&reg, pvs_mono_ns());
	CHECK_EQ(pvsched_vcpu_self(g), -ENOENT);
	pvsched_close(g);
	pvs_hregion_close(&reg);
}

static void t_self_machine(void)
{
	pvsched_guest *g;
	int cpu, s;

	/* MACHINE and a host that does not say (UNKNOWN): the CPU number */
	for (uint32_t kind = 0; kind < 2; kind++) {
		host_open(kind ? PVSCHED_VM_KIND_MACHINE : PVSCHED_VM_KIND_UNKNOWN, NSLOTS);
		g = open_guest();
		host_slot(0, my_tid(), PVSCHED_VCPU_RUNNING); /* ignored: not a process VM */
		cpu = sched_getcpu();
		s = pvsched_vcpu_self(g);
		if (cpu >= (int)NSLOTS) {
			CHECK_EQ(s, -ERANGE);
		} else {
			/* the thread may migrate between the two calls */
			CHECKM(s >= 0 && s < (int)NSLOTS,
			       "kind %u: slot %d is a CPU number (cpu %d)", kind, s, cpu);
		}
		REQUIRE(pvs_hregion_set_nr_vcpus(&reg, 0) == 0);
		CHECK_EQ(pvsched_vcpu_self(g), -ERANGE);
		pvsched_close(g);
		pvs_hregion_close(&reg);
	}
}

static void t_preempted(void)
{
	pvsched_guest *g;

	host_open(PVSCHED_VM_KIND_PROCESS, 4);
	g = open_guest();
	CHECK_EQ(pvsched_vcpu_preempted(NULL, 0), -EINVAL);
	CHECK_EQ(pvsched_vcpu_preempted(g, 4), -ERANGE);
	CHECK_EQ(pvsched_vcpu_preempted(g, UINT32_MAX), -ERANGE);
	CHECK_EQ(pvsched_vcpu_preempted(g, 0), 0); /* UNKNOWN */
	host_slot(0, 0, PVSCHED_VCPU_RUNNING);
	CHECK_EQ(pvsched_vcpu_preempted(g, 0), 0);
	host_slot(0, 0, PVSCHED_VCPU_IDLE);
	CHECK_EQ(pvsched_vcpu_preempted(g, 0), 0);
	host_slot(0, 0, PVSCHED_VCPU_PREEMPTED);
	CHECK_EQ(pvsched_vcpu_preempted(g, 0), 1);
	CHECK_EQ(pvsched_vcpu_preempted(g, 1), 0);
	host_slot(0, 0, 7); /* not a state */
	CHECK_EQ(pvsched_vcpu_preempted(g, 0), 0);
	NOTE("a writer stuck mid-update: not known to be preempted, no hang");
	host_slot(1, 0, PVSCHED_VCPU_PREEMPTED);
	CHECK_EQ(pvsched_vcpu_preempted(g, 1), 1);
	__atomic_store_n(&pvs_hregion_vcpu(&reg, 1)->host.seq, 3u, __ATOMIC_RELEASE);
	CHECK_EQ(pvsched_vcpu_preempted(g, 1), 0);
	__atomic_store_n(&pvs_hregion_vcpu(&reg, 1)->host.seq, 4u, __ATOMIC_RELEASE);
	CHECK_EQ(pvsched_vcpu_preempted(g, 1), 1);
	NOTE("no live host: not preempted");
	pvs_hregion_close(&reg); /* DETACHED */
	CHECK_EQ(pvsched_vcpu_preempted(g, 1), 0);
	pvsched_close(g);
}

/* ---- lock behaviour ---- */

static pvsched_lock lk = PVSCHED_LOCK_INITIALIZER;
static uint32_t tids[8];
static int flag, done, trying, last_trial;
static uint64_t deadline_ns;

static void wait_flag(int *f, int v)
{
	while (__atomic_load_n(f, __ATOMIC_ACQUIRE) < v)
		sched_yield();
}

static void *owner_preempted(void *p)
{
	(void)p;
	tids[0] = my_tid();
	__atomic_store_n(&flag, 1, __ATOMIC_RELEASE);
	wait_flag(&flag, 2); /* host published our slot PREEMPTED */
	pvsched_lock_lock(&lk);
	__atomic_store_n(&flag, 3, __ATOMIC_RELEASE);
	wait_flag(&done, 1); /* the contender is about to lock */
	tu_sleep_ms(200);    /* "preempted" with the lock held */
	pvsched_lock_unlock(&lk);
	return NULL;
}

static void t_lock_preempted(void)
{
	pthread_t th;
	struct pvsched_wait_stats s;

	host_open(PVSCHED_VM_KIND_PROCESS, 4);
	host_slot(1, my_tid(), PVSCHED_VCPU_RUNNING);
	REQUIRE(pthread_create(&th, NULL, owner_preempted, NULL) == 0);
	wait_flag(&flag, 1);
	host_slot(0, tids[0], PVSCHED_VCPU_PREEMPTED);
	__atomic_store_n(&flag, 2, __ATOMIC_RELEASE);
	wait_flag(&flag, 3);
	CHECK_EQ(lk.owner, 1); /* slot 0, + 1 */
	pvsched_wait_stats_reset();
	__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	CHECK_EQ(pvsched_lock_lock(&lk), 0);
	CHECK_EQ(lk.owner, 2); /* we hold it now: our slot 1, + 1 */
	s = stats_now();
	print_stats("contender", &s);
	CHECK_EQU(s.lock_contended, 1);
	CHECKM(s.preempted_waits == 1 && s.budget_waits == 0,
	       "owner's vCPU preempted: went to sleep at once, not after the budget");
	CHECK(s.futex_waits >= 1);
	CHECKM(s.spins < 64, "spun %llu times (< 64)", (unsigned long long)s.spins);
	CHECK_EQ(pvsched_lock_unlock(&lk), 0);
	CHECK_EQ(lk.owner, 0);
	pthread_join(th, NULL);
	CHECK_EQ(pvsched_lock_destroy(&lk), 0);
	pvs_hregion_close(&reg);
}

#define RUN_TRIALS 200

static void spin_ns(uint64_t ns)
{
	uint64_t t0 = pvs_mono_ns();
	while (pvs_mono_ns() - t0 < ns)
		;
}

static void *owner_running(void *p)
{
	(void)p;
	tids[0] = my_tid();
	__atomic_store_n(&flag, 1, __ATOMIC_RELEASE);
	wait_flag(&done, 1);
	for (int k = 2;; k++) {
		pvsched_lock_lock(&lk);
		__atomic_store_n(&flag, k, __ATOMIC_RELEASE);
		/* a short hold, once the contender is about to lock */
		while (__atomic_load_n(&trying, __ATOMIC_ACQUIRE) < k)
			;
		spin_ns(5000);
		pvsched_lock_unlock(&lk);
		wait_flag(&done, k);
		if (__atomic_load_n(&last_trial, __ATOMIC_ACQUIRE) == k)
			break;
	}
	return NULL;
}

static void t_lock_running(void)
{
	pthread_t th;
	struct pvsched_wait_stats s;

	host_open(PVSCHED_VM_KIND_PROCESS, 4);
	host_slot(1, my_tid(), PVSCHED_VCPU_RUNNING);
	REQUIRE(pthread_create(&th, NULL, owner_running, NULL) == 0);
	wait_flag(&flag, 1);
	host_slot(0, tids[0], PVSCHED_VCPU_RUNNING);
	pvsched_wait_stats_reset();
	__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	/* At least RUN_TRIALS trials; more (up to 4 s) while none was won by
	 * spinning: that needs the two threads on two CPUs at once, which a
	 * loaded 2-CPU machine does not always give. */
	deadline_ns = pvs_mono_ns() + 4000000000ull;
	for (int k = 2;; k++) {
		wait_flag(&flag, k);
		__atomic_store_n(&trying, k, __ATOMIC_RELEASE);
		pvsched_lock_lock(&lk);
		pvsched_lock_unlock(&lk);
		s = stats_now();
		if (k >= RUN_TRIALS + 1 && (s.spin_successes > 0 || pvs_mono_ns() > deadline_ns))
			__atomic_store_n(&last_trial, k, __ATOMIC_RELEASE);
		__atomic_store_n(&done, k, __ATOMIC_RELEASE);
		if (__atomic_load_n(&last_trial, __ATOMIC_RELAXED) == k)
			break;
	}
	pthread_join(th, NULL);
	s = stats_now();
	print_stats("contender", &s);
	CHECKM(s.preempted_waits == 0, "owner's vCPU running: never slept because of it");
	CHECKM(s.lock_contended > 0, "the lock was found held (%llu of %d)",
	       (unsigned long long)s.lock_contended, last_trial - 1);
	CHECKM(s.futex_waits <= 2 * s.budget_waits,
	       "every sleep came after the budget (%llu futex waits, %llu budget)",
	       (unsigned long long)s.futex_waits, (unsigned long long)s.budget_waits);
	pvs_hregion_close(&reg);
	/* A loaded host may deschedule the owner past the budget now and then
	 * (budget_waits), but a short hold is normally waited out spinning.
	 * If in 4 s the two threads never ran at once, that is the machine. */
	if (s.spin_successes == 0 && s.budget_waits == s.lock_contended)
		SKIP("no CPU parallelism in 4 s: every trial outlasted the spin budget");
	CHECKM(s.spin_successes > 0, "some contended acquisitions by spinning, no sleep (%llu)",
	       (unsigned long long)s.spin_successes);
}

/* ---- barrier behaviour ---- */

static pvsched_barrier bar;

struct bw {
	int slot;
	uint32_t state;
	int delay_ms;
	int after_arrived; /* start once this many have arrived */
	int ret;
	struct pvsched_wait_stats st;
};

static void *barrier_thread(void *p)
{
	struct bw *w = p;

	host_slot((uint32_t)w->slot, my_tid(), w->state);
	__atomic_add_fetch(&flag, 1, __ATOMIC_ACQ_REL);
	wait_flag(&done, 1);
	while (__atomic_load_n(&bar.arrived, __ATOMIC_ACQUIRE) < (uint32_t)w->after_arrived)
		sched_yield();
	if (w->delay_ms)
		tu_sleep_ms((unsigned)w->delay_ms);
	pvsched_wait_stats_reset();
	w->ret = pvsched_barrier_wait(&bar);
	pvsched_wait_stats(&w->st);
	return NULL;
}

static void run_barrier_threads(struct bw *w, int n)
{
	pthread_t th[8];

	REQUIRE(pvsched_barrier_init(&bar, (unsigned)n) == 0);
	for (int i = 0; i < n; i++)
		REQUIRE(pthread_create(&th[i], NULL, barrier_thread, &w[i]) == 0);
	wait_flag(&flag, n);
	__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ(w[0].ret + w[1].ret + w[2].ret, PVSCHED_BARRIER_SERIAL_THREAD);
	CHECK_EQ(pvsched_barrier_destroy(&bar), 0);
}

static void t_barrier_preempted(void)
{
	struct bw w[3] = {
	        {.slot = 0, .state = PVSCHED_VCPU_RUNNING},
	        {.slot = 1, .state = PVSCHED_VCPU_RUNNING},
	        {.slot = 2, .state = PVSCHED_VCPU_PREEMPTED, .delay_ms = 100, .after_arrived = 2},
	};

	host_open(PVSCHED_VM_KIND_PROCESS, 4);
	run_barrier_threads(w, 3);
	print_stats("waiter 0", &w[0].st);
	print_stats("waiter 1", &w[1].st);
	CHECK_EQ(w[2].ret, PVSCHED_BARRIER_SERIAL_THREAD); /* the last one */
	for (int i = 0; i < 2; i++) {
		CHECKM(w[i].st.preempted_waits == 1 && w[i].st.budget_waits == 0,
		       "waiter %d: a laggard's vCPU is preempted: slept at once", i);
		CHECKM(w[i].st.futex_waits >= 1, "waiter %d slept in the kernel", i);
	}
	pvs_hregion_close(&reg);
}

/* A preempted vCPU that has arrived, or that is the waiter's own, is no
 * reason to sleep: the laggard (slot 2, running) is elsewhere. */
static void t_barrier_arrived(void)
{
	struct bw w[3] = {
	        {.slot = 0, .state = PVSCHED_VCPU_PREEMPTED},
	        {.slot = 1, .state = PVSCHED_VCPU_RUNNING, .after_arrived = 1},
	        {.slot = 2, .state = PVSCHED_VCPU_RUNNING, .delay_ms = 200, .after_arrived = 2},
	};

	host_open(PVSCHED_VM_KIND_PROCESS, 4);
	run_barrier_threads(w, 3);
	print_stats("waiter 0 (own vCPU preempted)", &w[0].st);
	print_stats("waiter 1", &w[1].st);
	CHECK_EQ(w[0].st.preempted_waits, 0);
	CHECK_EQ(w[1].st.preempted_waits, 0);
	CHECKM(w[0].st.budget_waits == 1 && w[1].st.budget_waits == 1,
	       "a 200 ms laggard on a running vCPU: slept after the budget");
	pvs_hregion_close(&reg);
}

/* ---- generation checks, shared by the barrier cases ---- */

#define MAX_WORKERS 4
#define MAX_GENS    20000

static uint32_t phase[MAX_WORKERS];
static uint8_t serial_of[MAX_GENS + 2];
static uint32_t stop_gen = UINT32_MAX;
static int nworkers;
static unsigned long gen_errors;

/* Run generations until the serial thread sees the deadline; every thread
 * stops at the same generation.  Returns this thread's counters. */
static void barrier_loop(int id)
{
	for (uint32_t k = 1;; k++) {
		int r;

		__atomic_store_n(&phase[id], k, __ATOMIC_RELAXED);
		r = pvsched_barrier_wait(&bar);
		if (r == PVSCHED_BARRIER_SERIAL_THREAD) {
			__atomic_add_fetch(&serial_of[k], 1, __ATOMIC_RELAXED);
			if ((pvs_mono_ns() > deadline_ns || k + 2 >= MAX_GENS) &&
			    __atomic_load_n(&stop_gen, __ATOMIC_RELAXED) == UINT32_MAX)
				__atomic_store_n(&stop_gen, k + 2, __ATOMIC_RELAXED);
		} else if (r != 0) {
			__atomic_add_fetch(&gen_errors, 1, __ATOMIC_RELAXED);
		}
		/* after generation k: everyone has arrived at k, nobody is past k+1 */
		for (int u = 0; u < nworkers; u++) {
			uint32_t p = __atomic_load_n(&phase[u], __ATOMIC_RELAXED);
			if (p < k || p > k + 1)
				__atomic_add_fetch(&gen_errors, 1, __ATOMIC_RELAXED);
		}
		if (k == __atomic_load_n(&stop_gen, __ATOMIC_RELAXED))
			return;
	}
}

static void check_generations(void)
{
	uint32_t last = __atomic_load_n(&stop_gen, __ATOMIC_RELAXED);
	unsigned long bad = 0;

	REQUIRE(last != UINT32_MAX && last <= MAX_GENS);
	for (uint32_t k = 1; k <= last; k++)
		bad += serial_of[k] != 1;
	CHECKM(bad == 0, "exactly one serial thread in each of %u generations (%lu wrong)", last,
	       bad);
	CHECKM(gen_errors == 0, "no thread more than one generation ahead (%lu violations)",
	       gen_errors);
}

struct worker {
	int id;
	int slot;
	struct pvsched_wait_stats st;
};

static void *barrier_worker(void *p)
{
	struct worker *w = p;

	if (w->slot >= 0)
		host_slot((uint32_t)w->slot, my_tid(), PVSCHED_VCPU_RUNNING);
	pvsched_wait_stats_reset();
	barrier_loop(w->id);
	pvsched_wait_stats(&w->st);
	return NULL;
}

static void t_barrier_running(void)
{
	struct worker w[2];
	pthread_t th[2];

	host_open(PVSCHED_VM_KIND_PROCESS, 4);
	nworkers = 2;
	deadline_ns = pvs_mono_ns() + 300000000ull;
	REQUIRE(pvsched_barrier_init(&bar, 2) == 0);
	for (int i = 0; i < 2; i++) {
		w[i] = (struct worker){.id = i, .slot = i};
		REQUIRE(pthread_create(&th[i], NULL, barrier_worker, &w[i]) == 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	check_generations();
	print_stats("worker 0", &w[0].st);
	print_stats("worker 1", &w[1].st);
	CHECK_EQ(w[0].st.preempted_waits + w[1].st.preempted_waits, 0);
	CHECKM(w[0].st.spin_successes + w[1].st.spin_successes > 0,
	       "all vCPUs running: waits end spinning");
	CHECK_EQ(pvsched_barrier_destroy(&bar), 0);
	pvs_hregion_close(&reg);
}

/* ---- stress ---- */

#define STRESS_NS  2500000000ull /* per case; the ASan tier is slower per op */
#define LOCK_ITERS 200000
#define HOST_SLOTS 6u

static uint64_t counter; /* plain: only ever touched under lk */
static int host_stop;

/* The host: flip every slot between RUNNING, PREEMPTED and IDLE at random,
 * a few hundred times a second, keeping each worker's tid in its slot. */
static void *host_flipper(void *p)
{
	uint32_t rnd = 12345u;

	(void)p;
	while (!__atomic_load_n(&host_stop, __ATOMIC_ACQUIRE)) {
		for (uint32_t i = 0; i < HOST_SLOTS; i++) {
			static const uint32_t st[] = {PVSCHED_VCPU_RUNNING, PVSCHED_VCPU_PREEMPTED,
			                              PVSCHED_VCPU_IDLE};
			uint32_t tid =
			        i < MAX_WORKERS ? __atomic_load_n(&tids[i], __ATOMIC_ACQUIRE) : 0u;
			rnd = rnd * 1103515245u + 12345u;
			host_slot(i, tid, st[(rnd >> 16) % 3u]);
		}
		usleep(200 + (rnd >> 20) % 2000);
	}
	return NULL;
}

struct lworker {
	int id, use_try;
	uint64_t done;
	struct pvsched_wait_stats st;
};

static void *lock_worker(void *p)
{
	struct lworker *w = p;
	uint32_t rnd = (uint32_t)w->id * 7919u + 1u;

	__atomic_store_n(&tids[w->id], my_tid(), __ATOMIC_RELEASE);
	pvsched_wait_stats_reset();
	for (int i = 0; i < LOCK_ITERS && pvs_mono_ns() < deadline_ns; i++) {
		rnd = rnd * 1103515245u + 12345u;
		if (w->use_try && (rnd >> 16) % 2u) {
			int rc;
			while ((rc = pvsched_lock_trylock(&lk)) == -EBUSY)
				sched_yield();
			if (rc != 0)
				break;
		} else if (pvsched_lock_lock(&lk) != 0) {
			break;
		}
		counter++;
		if ((rnd >> 20) % 64u == 0)
			sched_yield(); /* now and then, be descheduled holding it */
		pvsched_lock_unlock(&lk);
		w->done++;
	}
	pvsched_wait_stats(&w->st);
	return NULL;
}

static void stress_lock(int use_region, int use_try)
{
	struct lworker w[MAX_WORKERS];
	pthread_t th[MAX_WORKERS], host;
	uint64_t sum = 0;
	struct pvsched_wait_stats tot = {0};

	if (use_region) {
		host_open(PVSCHED_VM_KIND_PROCESS, HOST_SLOTS);
		REQUIRE(pthread_create(&host, NULL, host_flipper, NULL) == 0);
	} else {
		setenv(PVSCHED_ENV_REGION, tu_path("missing"), 1);
	}
	deadline_ns = pvs_mono_ns() + STRESS_NS;
	pvsched_lock_init(&lk);
	for (int i = 0; i < MAX_WORKERS; i++) {
		w[i] = (struct lworker){.id = i, .use_try = use_try && i % 2};
		REQUIRE(pthread_create(&th[i], NULL, lock_worker, &w[i]) == 0);
	}
	for (int i = 0; i < MAX_WORKERS; i++) {
		pthread_join(th[i], NULL);
		sum += w[i].done;
		tot.lock_acquires += w[i].st.lock_acquires;
		tot.lock_contended += w[i].st.lock_contended;
		tot.spin_successes += w[i].st.spin_successes;
		tot.spins += w[i].st.spins;
		tot.preempted_waits += w[i].st.preempted_waits;
		tot.budget_waits += w[i].st.budget_waits;
		tot.futex_waits += w[i].st.futex_waits;
		tot.futex_wakes += w[i].st.futex_wakes;
	}
	if (use_region) {
		__atomic_store_n(&host_stop, 1, __ATOMIC_RELEASE);
		pthread_join(host, NULL);
	}
	print_stats("all workers", &tot);
	CHECKM(counter == sum, "counter %llu == acquisitions %llu", (unsigned long long)counter,
	       (unsigned long long)sum);
	CHECK(sum > 0);
	CHECK_EQU(tot.lock_acquires, sum);
	CHECK_EQ(pvsched_lock_destroy(&lk), 0);
	if (!use_region)
		CHECK_EQU(tot.preempted_waits, 0);
	if (use_region)
		pvs_hregion_close(&reg);
}

static void t_stress_lock(void)
{
	stress_lock(1, 0);
}

static void t_stress_trylock(void)
{
	stress_lock(1, 1);
}

static void *barrier_stress_worker(void *p)
{
	struct worker *w = p;

	__atomic_store_n(&tids[w->id], my_tid(), __ATOMIC_RELEASE);
	pvsched_wait_stats_reset();
	barrier_loop(w->id);
	pvsched_wait_stats(&w->st);
	return NULL;
}

static void stress_barrier(int use_region)
{
	struct worker w[MAX_WORKERS];
	pthread_t th[MAX_WORKERS], host;
	struct pvsched_wait_stats tot = {0};

	if (use_region) {
		host_open(PVSCHED_VM_KIND_PROCESS, HOST_SLOTS);
		REQUIRE(pthread_create(&host, NULL, host_flipper, NULL) == 0);
	} else {
		setenv(PVSCHED_ENV_REGION, tu_path("missing"), 1);
	}
	nworkers = MAX_WORKERS;
	deadline_ns = pvs_mono_ns() + STRESS_NS;
	REQUIRE(pvsched_barrier_init(&bar, MAX_WORKERS) == 0);
	for (int i = 0; i < MAX_WORKERS; i++) {
		w[i] = (struct worker){.id = i, .slot = -1};
		REQUIRE(pthread_create(&th[i], NULL, barrier_stress_worker, &w[i]) == 0);
	}
	for (int i = 0; i < MAX_WORKERS; i++) {
		pthread_join(th[i], NULL);
		tot.barrier_waits += w[i].st.barrier_waits;
		tot.spin_successes += w[i].st.spin_successes;
		tot.spins += w[i].st.spins;
		tot.preempted_waits += w[i].st.preempted_waits;
		tot.budget_waits += w[i].st.budget_waits;
		tot.futex_waits += w[i].st.futex_waits;
		tot.futex_wakes += w[i].st.futex_wakes;
	}
	if (use_region) {
		__atomic_store_n(&host_stop, 1, __ATOMIC_RELEASE);
		pthread_join(host, NULL);
	}
	print_stats("all workers", &tot);
	check_generations();
	CHECK_EQU(tot.barrier_waits, (uint64_t)stop_gen * MAX_WORKERS);
	if (!use_region)
		CHECK_EQU(tot.preempted_waits, 0);
	CHECK_EQ(pvsched_barrier_destroy(&bar), 0);
	if (use_region)
		pvs_hregion_close(&reg);
}

static void t_stress_barrier(void)
{
	stress_barrier(1);
}

/* ---- no region: adaptive spin-then-sleep, same guarantees ---- */

static void t_no_region_lock(void)
{
	stress_lock(0, 1);
}

static void t_no_region_barrier(void)
{
	stress_barrier(0);
}

static void t_args(void)
{
	pvsched_lock l;
	pvsched_barrier b;

	CHECK_EQ(pvsched_lock_init(NULL), -EINVAL);
	CHECK_EQ(pvsched_lock_lock(NULL), -EINVAL);
	CHECK_EQ(pvsched_lock_trylock(NULL), -EINVAL);
	CHECK_EQ(pvsched_lock_unlock(NULL), -EINVAL);
	CHECK_EQ(pvsched_lock_destroy(NULL), -EINVAL);
	CHECK_EQ(pvsched_lock_init(&l), 0);
	CHECK_EQ(pvsched_lock_trylock(&l), 0);
	CHECK_EQ(pvsched_lock_trylock(&l), -EBUSY);
	CHECK_EQ(pvsched_lock_destroy(&l), -EBUSY);
	CHECK_EQ(pvsched_lock_unlock(&l), 0);
	CHECK_EQ(pvsched_lock_destroy(&l), 0);
	CHECK_EQ(pvsched_barrier_init(NULL, 1), -EINVAL);
	CHECK_EQ(pvsched_barrier_init(&b, 0), -EINVAL);
	CHECK_EQ(pvsched_barrier_wait(NULL), -EINVAL);
	CHECK_EQ(pvsched_barrier_init(&b, 1), 0);
	CHECK_EQ(pvsched_barrier_wait(&b), PVSCHED_BARRIER_SERIAL_THREAD);
	CHECK_EQ(pvsched_barrier_wait(&b), PVSCHED_BARRIER_SERIAL_THREAD);
	CHECK_EQ(pvsched_barrier_destroy(&b), 0);
	CHECK_EQ(pvsched_barrier_wait(&b), -EINVAL); /* destroyed */
	CHECK_EQ(pvsched_wait_stats(NULL), -EINVAL);
	CHECK_EQU(sizeof(pvsched_lock), 64);
	CHECK_EQU(sizeof(pvsched_barrier), 64);
	CHECK_EQU(_Alignof(pvsched_lock), 64);
	CHECK_EQU(_Alignof(pvsched_barrier), 64);
	{
		static pvsched_lock s = PVSCHED_LOCK_INITIALIZER;
		CHECK_EQ(pvsched_lock_lock(&s), 0);
		CHECK_EQ(pvsched_lock_unlock(&s), 0);
	}
}

int main(int argc, char **argv)
{
	static const struct tcase cases[] = {
	        {"self-process", t_self_process},
	        {"self-machine", t_self_machine},
	        {"preempted", t_preempted},
	        {"args", t_args},
	        {"lock-preempted", t_lock_preempted},
	        {"lock-running", t_lock_running},
	        {"barrier-preempted", t_barrier_preempted},
	        {"barrier-arrived", t_barrier_arrived},
	        {"barrier-running", t_barrier_running},
	        {"stress-lock", t_stress_lock},
	        {"stress-trylock", t_stress_trylock},
	        {"stress-barrier", t_stress_barrier},
	        {"no-region-lock", t_no_region_lock},
	        {"no-region-barrier", t_no_region_barrier},
	};
	return run_cases(argc, argv, cases, NCASES(cases));
}
