/* SPDX-License-Identifier: MIT */
/*
 * bench/cosched/lockvm.c - a process VM whose vCPU threads run a guest
 * kernel's synchronisation, all spinning, for bench/cosched/run.
 *
 * The process is the VM: its threads vcpu0..vcpuN-1 (pthread_setname_np)
 * are the busy vCPUs, vcpuN..vcpuN+K-1 (--idle-vcpus K) idle ones that only
 * sleep in 100 ms nanosleeps, like a halted guest vCPU.  The host daemon
 * attaches them with --threads 'vcpu*'; the main thread (and the stacking
 * sampler) are no vCPUs.  Workloads (--workload):
 *
 *   ticket    a ticket spinlock (next/owner counters, spin with PAUSE);
 *             each vCPU loops: --ncs-us of work, acquire, --cs-us of work
 *             (and an increment of the protected counter), release.  One op
 *             = one critical section; wait = acquire start -> acquired.
 *   tas       the same with a test-and-test-and-set spinlock (unfair).
 *   barrier   --work-us of work, then a sense-reversing spinning barrier
 *             across the busy vCPUs.  One op = one barrier episode (counted
 *             once, not per vCPU); wait = arrival -> release.
 *   spin      --work-us of work per op, no lock: CPU time is the product
 *             (the shares measurement).
 *   pingpong  wakeups between siblings like IPIs: vCPU i blocks in read()
 *             on its pipe, does --work-us of work and writes one byte to the
 *             pipe of vCPU i+1 (one token per pipe at the start, so the
 *             siblings run in parallel and one only waits when it is
 *             ahead).  A pipe write is a sync wakeup: what the wake-affine
 *             heuristics act on.  wait = time blocked in read().
 *
 * Work is a calibrated busy loop (an LCG: a dependency chain, so its speed
 * does not depend on what else the core runs): iterations per microsecond
 * of thread CPU time, the best of several 5 ms trials on the main thread
 * before the vCPUs start (CPU time, so a preemption during calibration
 * does not shrink it), or --iters-per-us from the harness (`--calibrate`
 * prints the value) so that every run does the same work.
 *
 * Measurement window [t0, t1) (CLOCK_MONOTONIC): standalone, t0 = start +
 * --warmup-ms, t1 = t0 + --seconds; with --harness the program prints
 * "ready PID TID..." (every vCPU thread, busy first) once all vCPUs run
 * their workload (a warm-up, not counted) and waits for "go T0 T1" (ns of
 * CLOCK_MONOTONIC, the same clock for every process, so two VMs measure
 * exactly the same window; a "go" read after T0 - the main thread starved
 * - starts the window when it is read, reported as late_start_ms).  An op
 * counts if it starts in the window; each
 * vCPU reads its own CPU clock (CLOCK_THREAD_CPUTIME_ID: the
 * sum_exec_runtime of /proc/.../schedstat) when it first sees t0 and when
 * it sees t1 - a thread that is not running accumulates no CPU time, so a
 * late look changes nothing.  Waits go into a per-vCPU log-linear
 * histogram (32 sub-buckets per power of two, 3 % resolution, exact below
 * 64 ns), two CLOCK_MONOTONIC reads per op (vDSO, ~20 ns against ~20 us).
 *
 * --start-apart: vCPU i first moves itself to the i-th CPU of the process's
 * affinity (mod their number), then allows them all again: siblings begin
 * on different pCPUs and any later co-location is the host scheduler's
 * doing, not an accident of thread creation (new threads start on their
 * creator's CPU, and always-busy threads are moved only now and then).
 *
 * --sample-us U (stacking): a thread named "sampler" reads
 * /proc/self/task/TID/stat of every busy vCPU every U us during the window
 * (state, field 3, and the CPU, field 39 - for a runnable thread the CPU
 * whose run queue holds it) and counts samples where at least two vCPUs
 * were runnable (R) and where two of those were on the same CPU.
 *
 * With --harness the vCPU threads, once stopped, sleep until "quit" or EOF
 * on stdin after the result: their /proc/.../schedstat stays readable and
 * no longer changes, so the harness reads their run time after the window.
 *
 * Output: one JSON object on stdout (or {"error": ...}, exit 1).  Safety:
 * alarm(--max-seconds, default 60) ends the process whatever happens, so
 * vCPU threads a daemon made SCHED_FIFO can never spin unbounded; stdin's
 * EOF before "go" ends it too.  Exit 0, 1 run-time error, 2 usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PROG "pvsched-bench-lockvm"

enum workload { W_TICKET, W_TAS, W_BARRIER, W_SPIN, W_PINGPONG };
static const char *const wl_names[] = {"ticket", "tas", "barrier", "spin", "pingpong"};

static struct {
	enum workload wl;
	unsigned vcpus, idle_vcpus;
	double seconds, cs_us, ncs_us, work_us, iters_per_us;
	unsigned warmup_ms, max_seconds, sample_us;
	int harness, calibrate, start_apart;
} opt = {
        .wl = W_TICKET,
        .vcpus = 2,
        .idle_vcpus = 0,
        .seconds = 3,
        .cs_us = 5,
        .ncs_us = 5,
        .work_us = 10,
        .iters_per_us = 0,
        .warmup_ms = 200,
        .max_seconds = 60,
        .sample_us = 0,
};

/* ---------- histogram: log-linear, 32 sub-buckets per octave ---------- */

#define SUB_BITS 5
#define SUB      (1u << SUB_BITS) /* 32 */
#define NBUCKETS 1408             /* up to 2^44 ns */

static unsigned bucket_of(uint64_t v)
{
	unsigned msb, shift, idx;

	if (v < 2 * SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - SUB_BITS;
	idx = shift * SUB + (unsigned)(v >> shift);
	return idx < NBUCKETS ? idx : NBUCKETS - 1;
}

static void bucket_range(unsigned idx, uint64_t *lo, uint64_t *width)
{
	unsigned shift;

	if (idx < 2 * SUB) {
		*lo = idx;
		*width = 1;
		return;
	}
	shift = idx / SUB - 1;
	*lo = (uint64_t)(idx - shift * SUB) << shift;
	*width = 1ull << shift;
}

/* ---------- per-vCPU state ---------- */

struct vcpu {
	pthread_t th;
	unsigned index;
	int busy;
	atomic_int tid;
	int rd, wr; /* pingpong: own pipe's read end, the next vCPU's write end */
	int in_window, done;
	uint64_t cpu0, cpu1; /* thread CPU ns at the window's start and end */
	uint64_t ops, all_ops;
	uint64_t wait_n, wait_sum, wait_max;
	uint64_t sink;
	uint64_t hist[NBUCKETS];
} __attribute__((aligned(64)));

static struct vcpu *vc;
static unsigned nr_threads;

/* --start-apart: the process's CPUs, to deal out and to give back */
static cpu_set_t orig_mask;
static int allowed[CPU_SETSIZE], nr_allowed;
static atomic_int apart_failed;

static _Atomic uint64_t win_t0 = UINT64_MAX, win_t1 = UINT64_MAX;
static atomic_int stop;
static atomic_int started, finished;
static pthread_mutex_t park_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cv = PTHREAD_COND_INITIALIZER;
static int park_release;

/* the locks and what they protect, each on its own cache line */
static struct {
	_Alignas(64) atomic_uint next;
	atomic_uint owner;
} tlock;
static struct {
	_Alignas(64) atomic_int locked;
} tas;
static struct {
	_Alignas(64) atomic_uint count;
	atomic_int sense;
} bar;
static struct {
	_Alignas(64) uint64_t counter;
} prot;
static int (*pipes)[2];

static struct {
	uint64_t samples, multi_runnable, stacked, same_cpu_any, errors;
} smp;

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull),
	                      .tv_nsec = (long)(t % 1000000000ull)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

/* N iterations of an LCG: a dependency chain of multiplies (the empty asm
 * keeps the compiler from folding several steps into one). */
static inline uint64_t lcg(uint64_t x, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		__asm__("" : "+r"(x));
	}
	return x;
}

static inline void work(struct vcpu *v, uint64_t iters)
{
	v->sink = lcg(v->sink, iters);
}

static double calibrate(void)
{
	static volatile uint64_t sink;
	double best = 0;
	uint64_t n = 1000;

	/* grow N to about 5 ms, then take the best of 7 trials */
	for (;;) {
		uint64_t a = thread_cpu_ns();
		sink = lcg(sink, n);
		uint64_t d = thread_cpu_ns() - a;
		if (d >= 5000000 || n > (1ull << 40))
			break;
		n *= 2;
	}
	for (int t = 0; t < 7; t++) {
		uint64_t a = thread_cpu_ns();
		sink = lcg(sink, n);
		uint64_t d = thread_cpu_ns() - a;
		double r = d ? (double)n * 1000.0 / (double)d : 0;
		if (r > best)
			best = r;
	}
	return best > 1 ? best : 1;
}

static inline uint64_t us_iters(double us)
{
	return (uint64_t)(us * opt.iters_per_us + 0.5);
}

static void set_stop(void)
{
	if (atomic_exchange(&stop, 1))
		return;
	if (opt.wl == W_PINGPONG) {
		/* a vCPU blocked in read() learns of the stop */
		for (unsigned i = 0; i < opt.vcpus; i++) {
			char c = 's';
			ssize_t r = write(pipes[i][1], &c, 1);
			(void)r;
		}
	}
}

/* Window bookkeeping at the start of every op (T: now).  Returns 1 when
 * the vCPU must stop. */
static inline int window(struct vcpu *v, uint64_t t)
{
	if (t >= atomic_load_explicit(&win_t1, memory_order_relaxed))
		set_stop();
	if (atomic_load_explicit(&stop, memory_order_relaxed)) {
		if (v->in_window && !v->done) {
			v->cpu1 = thread_cpu_ns();
			v->done = 1;
		}
		return 1;
	}
	if (!v->in_window && t >= atomic_load_explicit(&win_t0, memory_order_relaxed)) {
		v->in_window = 1;
		v->cpu0 = thread_cpu_ns();
	}
	return 0;
}

static inline void record(struct vcpu *v, uint64_t d)
{
	v->hist[bucket_of(d)]++;
	v->wait_n++;
	v->wait_sum += d;
	if (d > v->wait_max)
		v->wait_max = d;
}

static void ticket_lock(void)
{
	unsigned me = atomic_fetch_add_explicit(&tlock.next, 1, memory_order_relaxed);
	while (atomic_load_explicit(&tlock.owner, memory_order_acquire) != me)
		cpu_relax();
}

static void ticket_unlock(void)
{
	unsigned o = atomic_load_explicit(&tlock.owner, memory_order_relaxed);
	atomic_store_explicit(&tlock.owner, o + 1, memory_order_release);
}

static void tas_lock(void)
{
	for (;;) {
		if (!atomic_load_explicit(&tas.locked, memory_order_relaxed) &&
		    !atomic_exchange_explicit(&tas.locked, 1, memory_order_acquire))
			return;
		while (atomic_load_explicit(&tas.locked, memory_order_relaxed))
			cpu_relax();
	}
}

static void tas_unlock(void)
{
	atomic_store_explicit(&tas.locked, 0, memory_order_release);
}

static void run_lock(struct vcpu *v)
{
	const uint64_t cs = us_iters(opt.cs_us), ncs = us_iters(opt.ncs_us);
	const int ticket = opt.wl == W_TICKET;

	for (;;) {
		uint64_t ta = now_ns(), tb;
		if (window(v, ta))
			break;
		if (ticket)
			ticket_lock();
		else
			tas_lock();
		tb = now_ns();
		work(v, cs);
		prot.counter++;
		if (ticket)
			ticket_unlock();
		else
			tas_unlock();
		v->all_ops++;
		if (v->in_window) {
			v->ops++;
			record(v, tb - ta);
		}
		work(v, ncs);
	}
}

static void run_barrier(struct vcpu *v)
{
	const uint64_t w = us_iters(opt.work_us);
	int sense = 0;

	for (;;) {
		uint64_t ta = now_ns(), tb, tc;
		if (window(v, ta))
			break;
		work(v, w);
		tb = now_ns();
		sense = !sense;
		if (atomic_fetch_sub_explicit(&bar.count, 1, memory_order_acq_rel) == 1) {
			atomic_store_explicit(&bar.count, opt.vcpus, memory_order_relaxed);
			atomic_store_explicit(&bar.sense, sense, memory_order_release);
		} else {
			while (atomic_load_explicit(&bar.sense, memory_order_acquire) != sense) {
				if (atomic_load_explicit(&stop, memory_order_relaxed))
					break;
				cpu_relax();
			}
		}
		tc = now_ns();
		v->all_ops++;
		if (v->in_window &&
		    atomic_load_explicit(&bar.sense, memory_order_relaxed) == sense) {
			v->ops++;
			record(v, tc - tb);
		}
	}
}

static void run_spin(struct vcpu *v)
{
	const uint64_t w = us_iters(opt.work_us);

	for (;;) {
		if (window(v, now_ns()))
			break;
		work(v, w);
		v->all_ops++;
		if (v->in_window)
			v->ops++;
	}
}

static void run_pingpong(struct vcpu *v)
{
	const uint64_t w = us_iters(opt.work_us);

	for (;;) {
		uint64_t ta = now_ns(), tb;
		char c;
		ssize_t r;

		if (window(v, ta))
			break;
		r = read(v->rd, &c, 1);
		if (r != 1) {
			if (r < 0 && errno == EINTR)
				continue;
			break;
		}
		tb = now_ns();
		if (atomic_load_explicit(&stop, memory_order_relaxed)) {
			window(v, tb);
			break;
		}
		work(v, w);
		r = write(v->wr, &c, 1);
		(void)r;
		v->all_ops++;
		if (v->in_window) {
			v->ops++;
			record(v, tb - ta);
		}
	}
}

static void run_idle(struct vcpu *v)
{
	const struct timespec ts = {.tv_sec = 0, .tv_nsec = 100000000};

	while (!window(v, now_ns()))
		nanosleep(&ts, NULL);
}

static void *vcpu_main(void *arg)
{
	struct vcpu *v = arg;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", v->index);
	pthread_setname_np(pthread_self(), name);
	if (opt.start_apart && nr_allowed > 0) {
		/* begin on CPU index mod n (the call returns once the thread
		 * runs there), then allow every CPU again: where the thread
		 * goes from here is the host scheduler's decision */
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(allowed[v->index % (unsigned)nr_allowed], &one);
		if (sched_setaffinity(0, sizeof(one), &one) ||
		    sched_setaffinity(0, sizeof(orig_mask), &orig_mask))
			atomic_fetch_add(&apart_failed, 1);
	}
	atomic_store(&v->tid, (int)syscall(SYS_gettid));
	atomic_fetch_add(&started, 1);
	if (!v->busy)
		run_idle(v);
	else if (opt.wl == W_TICKET || opt.wl == W_TAS)
		run_lock(v);
	else if (opt.wl == W_BARRIER)
		run_barrier(v);
	else if (opt.wl == W_SPIN)
		run_spin(v);
	else
		run_pingpong(v);
	if (v->in_window && !v->done) {
		v->cpu1 = thread_cpu_ns();
		v->done = 1;
	}
	/* with --harness the thread stays (asleep) until the harness has read
	 * its run time from /proc: its schedstat stays readable and frozen */
	atomic_fetch_add(&finished, 1);
	pthread_mutex_lock(&park_mu);
	while (opt.harness && !park_release)
		pthread_cond_wait(&park_cv, &park_mu);
	pthread_mutex_unlock(&park_mu);
	return NULL;
}

/* ---------- stacking sampler ---------- */

/* State (field 3) and CPU (field 39) from a /proc/.../stat line. */
static int parse_stat(char *buf, char *state, int *cpu)
{
	char *p = strrchr(buf, ')');

	if (!p || p[1] != ' ' || !p[2])
		return -1;
	p += 2;
	*state = *p;
	for (int f = 3; f < 39; f++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	*cpu = atoi(p);
	return 0;
}

static void *sampler_main(void *arg)
{
	int fd[64];
	unsigned n = opt.vcpus < 64 ? opt.vcpus : 64;
	uint64_t period = (uint64_t)opt.sample_us * 1000, t;

	(void)arg;
	pthread_setname_np(pthread_self(), "sampler");
	for (unsigned i = 0; i < n; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/task/%d/stat", atomic_load(&vc[i].tid));
		fd[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fd[i] < 0)
			smp.errors++;
	}
	while (atomic_load(&win_t0) == UINT64_MAX && !atomic_load(&stop))
		sleep_until(now_ns() + 1000000);
	t = atomic_load(&win_t0);
	while (!atomic_load(&stop)) {
		char st[64];
		int cpu[64];
		unsigned nr = 0, stacked = 0, same = 0;

		sleep_until(t);
		if (now_ns() >= atomic_load(&win_t1) || atomic_load(&stop))
			break;
		for (unsigned i = 0; i < n; i++) {
			char buf[1024];
			ssize_t r = fd[i] >= 0 ? pread(fd[i], buf, sizeof(buf) - 1, 0) : -1;
			if (r <= 0) {
				st[i] = '?';
				cpu[i] = -1 - (int)i;
				smp.errors++;
				continue;
			}
			buf[r] = 0;
			if (parse_stat(buf, &st[i], &cpu[i])) {
				st[i] = '?';
				cpu[i] = -1 - (int)i;
				smp.errors++;
			}
		}
		for (unsigned i = 0; i < n; i++) {
			if (st[i] == 'R')
				nr++;
			for (unsigned j = i + 1; j < n; j++) {
				if (cpu[i] != cpu[j])
					continue;
				same = 1;
				if (st[i] == 'R' && st[j] == 'R')
					stacked = 1;
			}
		}
		smp.samples++;
		smp.same_cpu_any += same;
		if (nr >= 2) {
			smp.multi_runnable++;
			smp.stacked += stacked;
		}
		t += period;
		uint64_t now = now_ns();
		if (t < now) /* fell behind: skip, do not burst */
			t = now + period - (now - t) % period;
	}
	for (unsigned i = 0; i < n; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return NULL;
}

/* ---------- output ---------- */

static double pct_us(const uint64_t *h, uint64_t n, uint64_t max, double p)
{
	uint64_t need, acc = 0;

	if (!n)
		return 0;
	need = (uint64_t)(p / 100.0 * (double)n + 0.999999);
	if (need < 1)
		need = 1;
	for (unsigned i = 0; i < NBUCKETS; i++) {
		acc += h[i];
		if (acc >= need) {
			uint64_t lo, w;
			bucket_range(i, &lo, &w);
			double mid = (double)lo + (double)(w - 1) / 2.0;
			return (mid > (double)max ? (double)max : mid) / 1000.0;
		}
	}
	return (double)max / 1000.0;
}

static void print_result(double window_s, uint64_t late_ns)
{
	static uint64_t h[NBUCKETS];
	uint64_t ops = 0, n = 0, sum = 0, max = 0, cpu_busy = 0, cpu_all = 0, all_ops = 0;
	double rate;
	int first;

	for (unsigned i = 0; i < nr_threads; i++) {
		struct vcpu *v = &vc[i];
		uint64_t c = v->in_window ? v->cpu1 - v->cpu0 : 0;
		cpu_all += c;
		if (!v->busy)
			continue;
		cpu_busy += c;
		ops += v->ops;
		all_ops += v->all_ops;
		n += v->wait_n;
		sum += v->wait_sum;
		if (v->wait_max > max)
			max = v->wait_max;
		for (unsigned b = 0; b < NBUCKETS; b++)
			h[b] += v->hist[b];
	}
	if (opt.wl == W_BARRIER)
		ops /= opt.vcpus; /* every vCPU passes every barrier */
	rate = (double)ops / window_s;
	printf("{\"workload\": \"%s\", \"vcpus\": %u, \"idle_vcpus\": %u, \"pid\": %d, "
	       "\"window_s\": %.6f, \"late_start_ms\": %.3f, \"ops\": %" PRIu64
	       ", \"cs_per_s\": %.1f, ",
	       wl_names[opt.wl], opt.vcpus, opt.idle_vcpus, (int)getpid(), window_s,
	       (double)late_ns / 1e6, ops, rate);
	if (opt.wl == W_BARRIER)
		printf("\"barriers_per_s\": %.1f, ", rate);
	if (opt.wl == W_TICKET || opt.wl == W_TAS)
		printf("\"lock_ok\": %s, ", prot.counter == all_ops ? "true" : "false");
	printf("\"wait_us\": {\"count\": %" PRIu64 ", \"mean\": %.3f, \"p50\": %.3f, "
	       "\"p99\": %.3f, \"p999\": %.3f, \"max\": %.3f}, \"wait_ns\": %" PRIu64 ", ",
	       n, n ? (double)sum / (double)n / 1000.0 : 0.0, pct_us(h, n, max, 50),
	       pct_us(h, n, max, 99), pct_us(h, n, max, 99.9), (double)max / 1000.0, sum);
	printf("\"cpu_ns\": %" PRIu64 ", \"cpu_ns_busy\": %" PRIu64 ", \"cpu_pct\": %.2f, ",
	       cpu_all, cpu_busy, 100.0 * (double)cpu_all / (window_s * 1e9));
	printf("\"iters_per_us\": %.3f, \"cs_us\": %.2f, \"ncs_us\": %.2f, \"work_us\": %.2f, ",
	       opt.iters_per_us, opt.cs_us, opt.ncs_us, opt.work_us);
	printf("\"start_apart\": %s, \"start_apart_failed\": %d, ",
	       opt.start_apart ? "true" : "false", atomic_load(&apart_failed));
	printf("\"per_vcpu\": [");
	for (unsigned i = 0; i < nr_threads; i++) {
		struct vcpu *v = &vc[i];
		printf("%s{\"index\": %u, \"tid\": %d, \"busy\": %s, \"ops\": %" PRIu64
		       ", \"cpu_ns\": %" PRIu64 "}",
		       i ? ", " : "", v->index, atomic_load(&v->tid), v->busy ? "true" : "false",
		       v->ops, v->in_window ? v->cpu1 - v->cpu0 : 0);
	}
	printf("], ");
	if (opt.sample_us) {
		printf("\"stack\": {\"sample_us\": %u, \"samples\": %" PRIu64
		       ", \"multi_runnable\": %" PRIu64 ", \"stacked\": %" PRIu64
		       ", \"same_cpu_any\": %" PRIu64 ", \"errors\": %" PRIu64
		       ", \"same_cpu_pct\": %.3f, \"multi_runnable_pct\": %.3f, "
		       "\"same_cpu_any_pct\": %.3f}, ",
		       opt.sample_us, smp.samples, smp.multi_runnable, smp.stacked,
		       smp.same_cpu_any, smp.errors,
		       smp.multi_runnable ? 100.0 * (double)smp.stacked / (double)smp.multi_runnable
		                          : 0.0,
		       smp.samples ? 100.0 * (double)smp.multi_runnable / (double)smp.samples : 0.0,
		       smp.samples ? 100.0 * (double)smp.same_cpu_any / (double)smp.samples : 0.0);
	}
	printf("\"hist\": [");
	first = 1;
	for (unsigned b = 0; b < NBUCKETS; b++) {
		uint64_t lo, w;
		if (!h[b])
			continue;
		bucket_range(b, &lo, &w);
		printf("%s[%" PRIu64 ", %" PRIu64 ", %" PRIu64 "]", first ? "" : ", ", lo, w, h[b]);
		first = 0;
	}
	printf("]}\n");
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: " PROG " [options]\n"
	           "  --workload ticket|tas|barrier|spin|pingpong   (ticket)\n"
	           "  --vcpus N          busy vCPU threads vcpu0..vcpuN-1 (2)\n"
	           "  --idle-vcpus K     idle vCPU threads after them (0)\n"
	           "  --seconds S        the measurement window, standalone (3)\n"
	           "  --warmup-ms MS     before the window, standalone (200)\n"
	           "  --cs-us US         ticket/tas critical section (5)\n"
	           "  --ncs-us US        ticket/tas work outside it (5)\n"
	           "  --work-us US       barrier/spin/pingpong work per op (10)\n"
	           "  --iters-per-us X   work calibration (default: calibrate)\n"
	           "  --calibrate        print {\"iters_per_us\": X} and exit\n"
	           "  --sample-us US     stacking sampler period (0: off)\n"
	           "  --harness          print \"ready PID TID...\", wait for \"go T0 T1\"\n"
	           "  --start-apart      vCPU i starts on the i-th allowed CPU (mod n), then\n"
	           "                     may run anywhere again\n"
	           "  --max-seconds S    hard limit of the process's life (60)\n");
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	double d;

	if (parse_double(s, lo, hi, &d) || d != (double)(unsigned)d)
		return -1;
	*out = (unsigned)d;
	return 0;
}

_Noreturn static void fail(const char *msg)
{
	printf("{\"error\": \"%s\"}\n", msg);
	fflush(stdout);
	exit(1);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	        {"workload", required_argument, NULL, 'w'},
	        {"vcpus", required_argument, NULL, 'n'},
	        {"idle-vcpus", required_argument, NULL, 'k'},
	        {"seconds", required_argument, NULL, 's'},
	        {"warmup-ms", required_argument, NULL, 'W'},
	        {"cs-us", required_argument, NULL, 'c'},
	        {"ncs-us", required_argument, NULL, 'C'},
	        {"work-us", required_argument, NULL, 'u'},
	        {"iters-per-us", required_argument, NULL, 'i'},
	        {"calibrate", no_argument, NULL, 'K'},
	        {"sample-us", required_argument, NULL, 'S'},
	        {"harness", no_argument, NULL, 'H'},
	        {"start-apart", no_argument, NULL, 'A'},
	        {"max-seconds", required_argument, NULL, 'x'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	pthread_t sampler;
	int c, have_sampler = 0;
	uint64_t t0, t1, t_start, late_ns = 0;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case 'w':
			bad = 1;
			for (unsigned i = 0; i < sizeof(wl_names) / sizeof(wl_names[0]); i++)
				if (!strcmp(optarg, wl_names[i])) {
					opt.wl = (enum workload)i;
					bad = 0;
				}
			break;
		case 'n': bad = parse_uint(optarg, 1, 64, &opt.vcpus); break;
		case 'k': bad = parse_uint(optarg, 0, 64, &opt.idle_vcpus); break;
		case 's': bad = parse_double(optarg, 0.01, 3600, &opt.seconds); break;
		case 'W': bad = parse_uint(optarg, 0, 60000, &opt.warmup_ms); break;
		case 'c': bad = parse_double(optarg, 0, 100000, &opt.cs_us); break;
		case 'C': bad = parse_double(optarg, 0, 100000, &opt.ncs_us); break;
		case 'u': bad = parse_double(optarg, 0, 100000, &opt.work_us); break;
		case 'i': bad = parse_double(optarg, 0.001, 1e7, &opt.iters_per_us); break;
		case 'K': opt.calibrate = 1; break;
		case 'S': bad = parse_uint(optarg, 0, 1000000, &opt.sample_us); break;
		case 'H': opt.harness = 1; break;
		case 'A': opt.start_apart = 1; break;
		case 'x': bad = parse_uint(optarg, 1, 3600, &opt.max_seconds); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (bad) {
			fprintf(stderr, PROG ": bad value '%s'\n", optarg);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	/* the hard bound: whatever happens (RT priority included), the
	 * process ends (SIGALRM's default action) */
	alarm(opt.max_seconds);
	t_start = now_ns();
	if (opt.calibrate) {
		printf("{\"iters_per_us\": %.3f}\n", calibrate());
		return 0;
	}
	if (!opt.harness && opt.seconds + opt.warmup_ms / 1000.0 + 2 > opt.max_seconds) {
		fprintf(stderr, PROG ": --seconds + warm-up must stay 2 s below --max-seconds\n");
		return 2;
	}
	if (opt.iters_per_us <= 0)
		opt.iters_per_us = calibrate();

	nr_threads = opt.vcpus + opt.idle_vcpus;
	vc = aligned_alloc(64, sizeof(*vc) * nr_threads);
	if (!vc)
		fail("out of memory");
	memset(vc, 0, sizeof(*vc) * nr_threads);
	atomic_store(&bar.count, opt.vcpus);
	if (opt.start_apart && !sched_getaffinity(0, sizeof(orig_mask), &orig_mask))
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &orig_mask))
				allowed[nr_allowed++] = c;
	if (opt.wl == W_PINGPONG) {
		pipes = calloc(opt.vcpus, sizeof(*pipes));
		if (!pipes)
			fail("out of memory");
		for (unsigned i = 0; i < opt.vcpus; i++) {
			char tok = 't';
			if (pipe2(pipes[i], O_CLOEXEC) || write(pipes[i][1], &tok, 1) != 1)
				fail("pipe");
		}
	}
	for (unsigned i = 0; i < nr_threads; i++) {
		struct vcpu *v = &vc[i];
		v->index = i;
		v->busy = i < opt.vcpus;
		v->sink = 0x9e3779b97f4a7c15ull + i;
		if (opt.wl == W_PINGPONG && v->busy) {
			v->rd = pipes[i][0];
			v->wr = pipes[(i + 1) % opt.vcpus][1];
		}
		if (pthread_create(&v->th, NULL, vcpu_main, v))
			fail("pthread_create");
	}
	while (atomic_load(&started) < (int)nr_threads)
		sleep_until(now_ns() + 100000);
	if (opt.sample_us && opt.vcpus >= 2) {
		if (pthread_create(&sampler, NULL, sampler_main, NULL))
			fail("pthread_create");
		have_sampler = 1;
	}

	if (opt.harness) {
		char line[128];
		unsigned long long a, b;

		printf("ready %d", (int)getpid());
		for (unsigned i = 0; i < nr_threads; i++)
			printf(" %d", atomic_load(&vc[i].tid));
		printf("\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin) ||
		    sscanf(line, "go %llu %llu", &a, &b) != 2) {
			/* the harness is gone or changed its mind: stop */
			set_stop();
			fail("no go");
		}
		t0 = a;
		t1 = b;
		/* "go" read after T0 (the main thread starved, say by RT vCPUs of
		 * another VM): the window starts now, the rates stay right */
		if (now_ns() > t0) {
			late_ns = now_ns() - t0;
			t0 += late_ns;
		}
		if (t1 <= t0 || t1 + 2000000000ull > t_start + opt.max_seconds * 1000000000ull) {
			set_stop();
			fail("bad window: t1 <= t0 or beyond --max-seconds");
		}
	} else {
		t0 = now_ns() + (uint64_t)opt.warmup_ms * 1000000ull;
		t1 = t0 + (uint64_t)(opt.seconds * 1e9);
	}
	atomic_store(&win_t1, t1);
	atomic_store(&win_t0, t0);
	sleep_until(t1);
	set_stop(); /* for idle and blocked vCPUs; busy ones saw t1 themselves */
	while (atomic_load(&finished) < (int)nr_threads)
		sleep_until(now_ns() + 1000000);
	if (have_sampler)
		pthread_join(sampler, NULL);
	print_result((double)(t1 - t0) / 1e9, late_ns);
	if (opt.harness) {
		/* the vCPU threads wait for "quit" or EOF (alarm() still runs) */
		char line[128];
		while (fgets(line, sizeof(line), stdin) && strncmp(line, "quit", 4))
			;
	}
	pthread_mutex_lock(&park_mu);
	park_release = 1;
	pthread_cond_broadcast(&park_cv);
	pthread_mutex_unlock(&park_mu);
	for (unsigned i = 0; i < nr_threads; i++)
		pthread_join(vc[i].th, NULL);
	return 0;
}
