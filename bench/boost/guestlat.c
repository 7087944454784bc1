/* SPDX-License-Identifier: MIT */
/*
 * bench/boost/guestlat.c - a process VM with one vCPU thread ("vcpu0")
 * running a periodic guest task, for bench/boost/run.
 *
 * The process is the VM: its thread named vcpu0 is the vCPU (the host
 * daemon attaches it with --threads 'vcpu*'); the main thread only talks
 * to the harness and is no vCPU.  The task on the vCPU wakes every
 * --interval microseconds and we measure how late it runs:
 *
 *   idle   the vCPU sleeps between periods: clock_nanosleep(TIMER_ABSTIME)
 *          to each expiry; latency = wake time - expiry (cyclictest's
 *          definition).  Timer slack is set to 1 ns (what a latency-bound
 *          task does; otherwise a SCHED_OTHER sleeper gets 50 us of slack
 *          and an RT one none, which would favour static and dynamic).
 *   busy   the vCPU also runs background work in ~1 us chunks and reads
 *          the clock between chunks; latency = the time it notices the
 *          expiry - expiry.  A guest kernel would take the timer interrupt;
 *          what we measure is the same thing - how long the vCPU's host
 *          thread was kept from running when the guest needed it.
 *
 * After the wake the task works for --work us (a spin).  Late by more than
 * a period: the missed expiries are skipped (counted as overruns), as
 * cyclictest does.  With --deadline US (the audio test) nothing is skipped:
 * every period is processed, a late one right away, like an audio buffer,
 * and a period whose work finishes after expiry + deadline is a glitch.
 *
 * --pvsched REGION (the dynamic variant): before waiting for the next
 * expiry the task publishes it, pvsched_boost_at(g, next, --len), so the
 * host boosts the vCPU thread from boost_lead_us before it until --len us
 * after it.  --pvsched none: vanilla or static (the harness makes the
 * thread SCHED_FIFO with chrt for static; this program does not care).
 *
 * --pvsched auto: pvsched_open(), i.e. $PVSCHED_REGION (a process VM
 * started by `pvsched-run --attach`, whose region carries the doorbell
 * when pvschedd gave it one) or, in a real guest, the pvsched device
 * (/dev/pvsched or the PCI scan).
 *
 * --mode reaction --reps N: the boost reaction time.  The vCPU thread, at
 * random gaps of 1-4 ms, calls pvsched_boost() at t0 and polls until the
 * boost is seen (t1); then pvsched_unboost() and polls until it is gone
 * (t2).  Reports t1 - t0 ("boost") and t2 - unboost ("release").  A wait
 * longer than 100 ms counts as a timeout.  What is polled (--until):
 *   fifo     (default) its own policy (sched_getscheduler, one system call
 *            per poll) until it is SCHED_FIFO, then back to its original
 *            policy: the host thread really boosted (a process VM);
 *   granted  its slot's verdict (pvsched_boost_state, no system call) until
 *            GRANTED, then NONE: in a real guest a thread cannot see its
 *            host thread's policy; the host writes GRANTED when it has
 *            boosted the vCPU thread, and the guest sees it once its vCPU
 *            runs.
 * --cpu N pins the vCPU thread to CPU N (in a guest the vCPU slot is the
 * CPU it runs on).  --doorbell: wait (5 s at most) until the host offers
 * the doorbell (PVSCHED_F_DOORBELL in the region header) before
 * measuring; the result says whether it was offered ("doorbell": 0/1).
 *
 * Protocol with the harness (stdin/stdout lines):
 *   -> "ready PID TID"     (TID: the vCPU thread)
 *   <- "go"                (after attach / chrt)
 *   -> one JSON line       (the result, or {"error": ...})
 *   <- EOF or "quit"       (the harness reads pvschedctl status in between)
 * Exit status 0, 1 on a run-time error (also reported as JSON), 2 usage.
 *
 * Safety: the vCPU thread may be SCHED_FIFO and spinning (static, busy);
 * every loop stops at --max-seconds (default 20) whatever happens, and
 * the kernel's RT bandwidth limit (95 %) bounds it meanwhile.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <pvsched/pvsched.h>

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

enum mode { M_IDLE, M_BUSY, M_REACTION };

static struct {
	enum mode mode;
	uint32_t interval_us, periods, work_us, len_us, deadline_us, warmup, reps;
	double max_seconds;
	const char *region;
	int until_granted, cpu, need_doorbell;
} opt = {
        .mode = M_BUSY,
        .interval_us = 1000,
        .periods = 1000,
        .work_us = 10,
        .len_us = 0,
        .deadline_us = 0,
        .warmup = 20,
        .reps = 300,
        .max_seconds = 20,
        .region = NULL,
        .until_granted = 0,
        .cpu = -1,
        .need_doorbell = 0,
};

static pvsched_guest *g;
static pid_t vcpu_tid;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int go, done, quit;
static char result[4096];
static int result_rc;

static volatile uint64_t sink;

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One chunk of background work: an LCG, ITER steps. */
static uint64_t chunk_iters = 200;

static inline void chunk(uint64_t iters)
{
	uint64_t x = sink;
	for (uint64_t i = 0; i < iters; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	sink = x;
}

/* Calibrate chunk_iters to about 1 us of work (best of several tries, so a
 * preemption during calibration does not shrink it). */
static void calibrate(void)
{
	uint64_t best = UINT64_MAX;
	const uint64_t n = 100000;

	for (int t = 0; t < 7; t++) {
		uint64_t a = now_ns();
		chunk(n);
		uint64_t d = now_ns() - a;
		if (d < best)
			best = d;
	}
	if (best == 0)
		best = 1;
	chunk_iters = n * 1000 / best;
	if (chunk_iters < 10)
		chunk_iters = 10;
}

/* Spin (in chunks) until T; returns the first clock reading >= T. */
static inline uint64_t spin_until(uint64_t t)
{
	uint64_t n;
	while ((n = now_ns()) < t)
		chunk(chunk_iters);
	return n;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull),
	                      .tv_nsec = (long)(t % 1000000000ull)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted V[N], P in (0,100]. */
static uint64_t pct(const uint64_t *v, size_t n, double p)
{
	size_t k;
	if (!n)
		return 0;
	k = (size_t)((p / 100.0) * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

static size_t stats_json(char *out, size_t cap, const char *prefix, uint64_t *v, size_t n)
{
	double sum = 0;

	qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < n; i++)
		sum += (double)v[i];
	return (size_t)snprintf(out, cap,
	                        "\"%savg_us\": %.2f, \"%sp50_us\": %.2f, \"%sp99_us\": %.2f, "
	                        "\"%smax_us\": %.2f, \"%scount\": %zu",
	                        prefix, n ? sum / (double)n / 1000.0 : 0.0, prefix,
	                        (double)pct(v, n, 50) / 1000.0, prefix,
	                        (double)pct(v, n, 99) / 1000.0, prefix,
	                        n ? (double)v[n - 1] / 1000.0 : 0.0, prefix, n);
}

static void fail(const char *what, int err)
{
	snprintf(result, sizeof(result), "{\"error\": \"%s: %s\"}", what,
	         err < 0 ? pvsched_strerror(err) : strerror(err));
	result_rc = 1;
}

/* With a region: wait until the host has bound this thread to a slot and
 * says something about boosting (the first verdict is NONE). */
static int wait_slot(void)
{
	uint64_t end = now_ns() + 5000000000ull;
	int st;

	for (;;) {
		st = pvsched_boost_state(g);
		if (st >= 0)
			return st;
		if (now_ns() > end)
			return st;
		usleep(1000);
	}
}

static int my_policy(void)
{
	int p = sched_getscheduler(0);
	return p < 0 ? p : (p & ~SCHED_RESET_ON_FORK);
}

/* The region header's host_features as the host writes it (mapped once,
 * read-only, from the file libpvsched opened); 0 if it cannot be mapped. */
static uint64_t host_features(void)
{
	static const volatile struct pvsched_header *h;
	static int tried;

	if (!tried) {
		int fd = open(pvsched_guest_path(g), O_RDONLY | O_CLOEXEC);
		void *m = fd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);

		if (fd >= 0)
			close(fd);
		h = m == MAP_FAILED ? NULL : m;
		tried = 1;
	}
	return h ? __atomic_load_n(&h->host_features, __ATOMIC_ACQUIRE) : 0;
}

static int has_doorbell(void)
{
	return (host_features() & PVSCHED_F_DOORBELL) != 0;
}

/* Is the boost seen (--until)? */
static int boosted(void)
{
	if (opt.until_granted)
		return pvsched_boost_state(g) == PVSCHED_BOOST_GRANTED;
	return my_policy() == SCHED_FIFO;
}

/* Is it gone again? */
static int released(void)
{
	if (opt.until_granted)
		return pvsched_boost_state(g) == PVSCHED_BOOST_NONE;
	return my_policy() != SCHED_FIFO;
}

static void run_reaction(uint64_t stop_at)
{
	uint64_t *boost = calloc(opt.reps, sizeof(*boost));
	uint64_t *rel = calloc(opt.reps, sizeof(*rel));
	uint32_t n = 0, timeouts = 0, errors = 0;
	int orig = my_policy(), bell = has_doorbell();
	unsigned seed = (unsigned)now_ns();
	size_t len;
	int rc;

	if (!boost || !rel) {
		fail("calloc", ENOMEM);
		goto out;
	}
	if (!opt.until_granted && orig == SCHED_FIFO) {
		fail("reaction: the vCPU thread is already SCHED_FIFO", EINVAL);
		goto out;
	}
	for (uint32_t i = 0; i < opt.reps && now_ns() < stop_at; i++) {
		uint64_t t0, t1, t2, lim;

		usleep(1000 + (useconds_t)(rand_r(&seed) % 3000));
		t0 = now_ns();
		rc = pvsched_boost(g);
		if (rc < 0) {
			errors++;
			continue;
		}
		lim = t0 + 100000000ull;
		while (!boosted() && (t1 = now_ns()) < lim)
			;
		t1 = now_ns();
		if (t1 >= lim) {
			timeouts++;
			pvsched_unboost(g);
			/* let the host catch up before the next try */
			usleep(200000);
			continue;
		}
		t2 = now_ns();
		pvsched_unboost(g);
		lim = t2 + 100000000ull;
		/* at SCHED_FIFO: bounded to 100 ms, and pvschedd runs above us */
		while (!released() && now_ns() < lim)
			;
		if (!released()) {
			timeouts++;
			usleep(200000);
			continue;
		}
		boost[n] = t1 - t0;
		rel[n] = now_ns() - t2;
		n++;
	}
	len = (size_t)snprintf(result, sizeof(result),
	                       "{\"mode\": \"reaction\", \"until\": \"%s\", \"reps\": %u, "
	                       "\"timeouts\": %u, \"errors\": %u, \"doorbell\": %d, "
	                       "\"doorbell_end\": %d, ",
	                       opt.until_granted ? "granted" : "fifo", n, timeouts, errors, bell,
	                       has_doorbell());
	len += stats_json(result + len, sizeof(result) - len, "boost_", boost, n);
	len += (size_t)snprintf(result + len, sizeof(result) - len, ", ");
	len += stats_json(result + len, sizeof(result) - len, "release_", rel, n);
	snprintf(result + len, sizeof(result) - len, "}");
out:
	free(boost);
	free(rel);
}

static void run_periodic(uint64_t stop_at)
{
	const uint64_t iv = (uint64_t)opt.interval_us * 1000u;
	const uint64_t work = (uint64_t)opt.work_us * 1000u;
	const uint64_t dl = (uint64_t)opt.deadline_us * 1000u;
	const uint32_t total = opt.periods + opt.warmup;
	uint64_t *lat = calloc(opt.periods ? opt.periods : 1, sizeof(*lat));
	uint64_t *fin = calloc(opt.periods ? opt.periods : 1, sizeof(*fin));
	uint64_t next, t, overruns = 0, missed = 0, skipped = 0, seen = 0;
	uint64_t over50 = 0, over1ms = 0;
	uint32_t states[5] = {0}, n = 0, k;
	int rc, pub_err = 0;
	size_t len;

	if (!lat || !fin) {
		fail("calloc", ENOMEM);
		goto out;
	}
	next = now_ns() + iv;
	for (k = 0; k < total; k++) {
		if (g) {
			rc = pvsched_boost_at(g, next, opt.len_us);
			if (rc < 0 && !pub_err)
				pub_err = rc;
		}
		if (opt.mode == M_IDLE) {
			sleep_until(next);
			t = now_ns();
		} else {
			t = spin_until(next);
		}
		if (t > stop_at) {
			fail("the run took longer than --max-seconds", ETIMEDOUT);
			goto out;
		}
		/* the task's work */
		uint64_t done_at = work ? spin_until(t + work) : t;
		if (g) {
			int st = pvsched_boost_state(g);
			if (st >= 0 && st < 5 && k >= opt.warmup)
				states[st]++;
		}
		if (k >= opt.warmup) {
			lat[n] = t - next;
			over50 += lat[n] > 50000;
			over1ms += lat[n] > 1000000;
			fin[n] = done_at - next;
			n++;
			seen++;
			if (dl && done_at - next > dl)
				missed++;
		}
		next += iv;
		if (!dl) {
			/* cyclictest: skip the expiries already past */
			if (next <= done_at) {
				overruns++;
				while (next <= done_at) {
					next += iv;
					skipped++;
				}
			}
		}
		if (n >= opt.periods)
			break;
	}
	if (g)
		pvsched_boost_at(g, 0, 0); /* no more deadlines */
	len = (size_t)snprintf(result, sizeof(result),
	                       "{\"mode\": \"%s\", \"interval_us\": %u, \"work_us\": %u, "
	                       "\"len_us\": %u, \"periods\": %llu, \"overruns\": %llu, "
	                       "\"skipped\": %llu, \"chunk_iters\": %llu, \"over_50us\": %llu, "
	                       "\"over_1ms\": %llu, ",
	                       opt.mode == M_IDLE ? "idle" : "busy", opt.interval_us, opt.work_us,
	                       opt.len_us, (unsigned long long)seen, (unsigned long long)overruns,
	                       (unsigned long long)skipped, (unsigned long long)chunk_iters,
	                       (unsigned long long)over50, (unsigned long long)over1ms);
	if (dl)
		len += (size_t)snprintf(result + len, sizeof(result) - len,
		                        "\"deadline_us\": %u, \"missed\": %llu, ", opt.deadline_us,
		                        (unsigned long long)missed);
	if (g)
		len += (size_t)snprintf(
		        result + len, sizeof(result) - len,
		        "\"verdicts\": {\"none\": %u, \"granted\": %u, \"denied\": %u, "
		        "\"throttled\": %u}, \"publish_error\": %d, ",
		        states[PVSCHED_BOOST_NONE], states[PVSCHED_BOOST_GRANTED],
		        states[PVSCHED_BOOST_DENIED], states[PVSCHED_BOOST_THROTTLED], pub_err);
	len += stats_json(result + len, sizeof(result) - len, "", lat, n);
	len += (size_t)snprintf(result + len, sizeof(result) - len, ", ");
	len += stats_json(result + len, sizeof(result) - len, "finish_", fin, n);
	snprintf(result + len, sizeof(result) - len, "}");
out:
	free(lat);
	free(fin);
}

static void *vcpu(void *arg)
{
	uint64_t stop_at;
	int pin_err = 0;

	(void)arg;
	prctl(PR_SET_NAME, "vcpu0");
	prctl(PR_SET_TIMERSLACK, 1UL);
	if (opt.cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(opt.cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0)
			pin_err = errno;
	}
	calibrate();
	pthread_mutex_lock(&mu);
	vcpu_tid = gettid();
	pthread_cond_broadcast(&cv);
	while (!go)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);

	stop_at = now_ns() + (uint64_t)(opt.max_seconds * 1e9);
	if (pin_err) {
		fail("--cpu: sched_setaffinity", pin_err);
		goto out;
	}
	if (g) {
		int st = wait_slot();
		if (st < 0) {
			fail("the host did not bind vcpu0 to a slot within 5 s", st);
			goto out;
		}
		if (opt.need_doorbell) {
			uint64_t end = now_ns() + 5000000000ull;

			while (!has_doorbell() && now_ns() < end)
				usleep(1000);
			if (!has_doorbell()) {
				fail("--doorbell: the host offered no doorbell within 5 s",
				     EOPNOTSUPP);
				goto out;
			}
		}
	}
	if (opt.mode == M_REACTION)
		run_reaction(stop_at);
	else
		run_periodic(stop_at);
out:
	/* stay alive (sleeping) until the harness has read the host's view of
	 * this vCPU: a thread that exits leaves its slot */
	pthread_mutex_lock(&mu);
	done = 1;
	pthread_cond_broadcast(&cv);
	while (!quit)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pvsched-bench-guestlat [options]\n"
	           "A process VM (one vCPU thread \"vcpu0\") running a periodic guest task;\n"
	           "prints \"ready PID TID\", waits for \"go\" on stdin, prints one JSON line,\n"
	           "then waits for EOF or \"quit\" on stdin.\n"
	           "  --mode idle|busy|reaction  vCPU sleeps between periods / also runs\n"
	           "                         background work / boost reaction time (busy)\n"
	           "  --interval US          period (1000)\n"
	           "  --periods N            measured periods (1000)\n"
	           "  --warmup N             periods run first and not measured (20)\n"
	           "  --work US              the task's work per period (10)\n"
	           "  --deadline US          audio test: count periods finished later than\n"
	           "                         expiry + US (no period is skipped)\n"
	           "  --pvsched REGION|auto|none  publish each expiry with pvsched_boost_at;\n"
	           "                         auto: pvsched_open() ($PVSCHED_REGION or the\n"
	           "                         guest's pvsched device) (none)\n"
	           "  --len US               boost length after each expiry (0: host default)\n"
	           "  --reps N               reaction mode: boost requests (300)\n"
	           "  --until fifo|granted   reaction mode: poll the thread's own policy\n"
	           "                         (fifo) or the slot's verdict (granted; a guest)\n"
	           "  --cpu N                pin the vCPU thread to CPU N\n"
	           "  --doorbell             wait until the host offers the doorbell\n"
	           "  --max-seconds S        hard limit of the run (20)\n"
	           "  --help\n");
}

static long num(const char *name, const char *s, long lo, long hi)
{
	char *e;
	long v;

	errno = 0;
	v = strtol(s, &e, 10);
	if (errno || e == s || *e || v < lo || v > hi) {
		fprintf(stderr, "pvsched-bench-guestlat: %s: %s is not a number in %ld..%ld\n",
		        name, s, lo, hi);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	        {"mode", required_argument, NULL, 'm'},
	        {"interval", required_argument, NULL, 'i'},
	        {"periods", required_argument, NULL, 'n'},
	        {"warmup", required_argument, NULL, 'W'},
	        {"work", required_argument, NULL, 'w'},
	        {"deadline", required_argument, NULL, 'd'},
	        {"pvsched", required_argument, NULL, 'p'},
	        {"len", required_argument, NULL, 'l'},
	        {"reps", required_argument, NULL, 'r'},
	        {"max-seconds", required_argument, NULL, 'x'},
	        {"until", required_argument, NULL, 'u'},
	        {"cpu", required_argument, NULL, 'c'},
	        {"doorbell", no_argument, NULL, 'D'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	pthread_t th;
	char line[64];
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!strcmp(optarg, "idle"))
				opt.mode = M_IDLE;
			else if (!strcmp(optarg, "busy"))
				opt.mode = M_BUSY;
			else if (!strcmp(optarg, "reaction"))
				opt.mode = M_REACTION;
			else {
				fprintf(stderr,
				        "pvsched-bench-guestlat: --mode idle, busy or reaction\n");
				return 2;
			}
			break;
		case 'i': opt.interval_us = (uint32_t)num("--interval", optarg, 50, 1000000); break;
		case 'n': opt.periods = (uint32_t)num("--periods", optarg, 1, 10000000); break;
		case 'W': opt.warmup = (uint32_t)num("--warmup", optarg, 0, 100000); break;
		case 'w': opt.work_us = (uint32_t)num("--work", optarg, 0, 1000000); break;
		case 'd': opt.deadline_us = (uint32_t)num("--deadline", optarg, 1, 10000000); break;
		case 'l': opt.len_us = (uint32_t)num("--len", optarg, 0, 1000000); break;
		case 'r': opt.reps = (uint32_t)num("--reps", optarg, 1, 100000); break;
		case 'x': opt.max_seconds = (double)num("--max-seconds", optarg, 1, 3600); break;
		case 'p': opt.region = strcmp(optarg, "none") ? optarg : NULL; break;
		case 'u':
			if (strcmp(optarg, "fifo") && strcmp(optarg, "granted")) {
				fprintf(stderr,
				        "pvsched-bench-guestlat: --until fifo or granted\n");
				return 2;
			}
			opt.until_granted = !strcmp(optarg, "granted");
			break;
		case 'c': opt.cpu = (int)num("--cpu", optarg, 0, CPU_SETSIZE - 1); break;
		case 'D': opt.need_doorbell = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "pvsched-bench-guestlat: unexpected argument %s\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (opt.mode == M_REACTION && !opt.region) {
		fprintf(stderr, "pvsched-bench-guestlat: --mode reaction needs --pvsched REGION\n");
		return 2;
	}
	if (opt.work_us >= opt.interval_us) {
		fprintf(stderr, "pvsched-bench-guestlat: --work must be shorter than --interval\n");
		return 2;
	}
	if (opt.mode != M_REACTION &&
	    (double)(opt.periods + opt.warmup) * opt.interval_us / 1e6 > opt.max_seconds) {
		fprintf(stderr,
		        "pvsched-bench-guestlat: %u periods of %u us do not fit in --max-seconds "
		        "%g\n",
		        opt.periods + opt.warmup, opt.interval_us, opt.max_seconds);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (pthread_create(&th, NULL, vcpu, NULL)) {
		fprintf(stderr, "pvsched-bench-guestlat: pthread_create failed\n");
		return 1;
	}
	pthread_mutex_lock(&mu);
	while (!vcpu_tid)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	printf("ready %d %d\n", (int)getpid(), (int)vcpu_tid);

	if (!fgets(line, sizeof(line), stdin) || strncmp(line, "go", 2)) {
		fprintf(stderr, "pvsched-bench-guestlat: no \"go\" on stdin\n");
		return 1;
	}
	if (opt.region) {
		/* the daemon creates the region when it attaches us */
		uint64_t end = now_ns() + 5000000000ull;
		int autodetect = !strcmp(opt.region, "auto");

		while ((rc = autodetect ? pvsched_open(&g) : pvsched_open_path(&g, opt.region)) <
		               0 &&
		       now_ns() < end)
			usleep(10000);
		if (rc < 0) {
			printf("{\"error\": \"%s %s: %s\"}\n",
			       autodetect ? "pvsched_open" : "pvsched_open_path", opt.region,
			       pvsched_strerror(rc));
			return 1;
		}
	}
	pthread_mutex_lock(&mu);
	go = 1;
	pthread_cond_broadcast(&cv);
	while (!done)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	printf("%s\n", result);
	/* keep the VM (and its slot) alive until the harness has read status */
	while (fgets(line, sizeof(line), stdin) && strncmp(line, "quit", 4))
		;
	pthread_mutex_lock(&mu);
	quit = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(th, NULL);
	if (g)
		pvsched_close(g);
	return result_rc;
}
