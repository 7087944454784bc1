/* SPDX-License-Identifier: MIT */
/*
 * bench/cosched/klock.c - contend one guest KERNEL spinlock from user
 * space, for bench/cosched's qemu_vm part (runs inside the guest).
 *
 * The lock: current->sighand->siglock, the spinlock that every thread of a
 * process shares (one struct sighand_struct per thread group).
 * rt_sigprocmask(2) takes it with spin_lock_irq() whenever the mask
 * changes (__set_current_blocked(): a call that leaves the mask as it was
 * returns without the lock, so each thread alternates blocking and
 * unblocking SIGUSR1 and every call changes its mask).  The section is
 * short (a mask copy and recalc_sigpending()), the syscall around it is
 * ordinary and takes no other shared lock, so the threads of one process
 * on different vCPUs meet at that lock: a guest kernel spinning on a lock
 * whose holder's vCPU the host may have preempted - the seeds' case - with
 * an unmodified kernel and no paravirtual spinlocks (a TCG guest has none).
 *
 * --threads N (default: the CPUs online), thread i pinned to CPU i mod
 * CPUs (so each vCPU runs one contender, as the ticket-lock workload does);
 * --seconds S of measurement after --warmup-ms W.  One op = one
 * rt_sigprocmask call.  Output: one JSON line
 *   {"ops": N, "seconds": S, "ops_per_s": R, "threads": N, "per_thread": [..]}
 * Exit 0, 1 on a run-time error, 2 on a usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
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

#define MAX_THREADS 64

static atomic_int phase; /* 0 warm-up, 1 measuring, 2 stop */
static uint64_t counts[MAX_THREADS];
static int ncpus;

static int mask_op(int how, const sigset_t *set)
{
	/* the raw system call: 8 bytes of kernel sigset, no libc filtering */
	return (int)syscall(SYS_rt_sigprocmask, how, set, NULL, 8);
}

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	uint64_t n = 0;
	sigset_t s;
	cpu_set_t cpu;

	CPU_ZERO(&cpu);
	CPU_SET(id % ncpus, &cpu);
	if (sched_setaffinity(0, sizeof(cpu), &cpu) < 0)
		fprintf(stderr, "klock: thread %d: sched_setaffinity: %s (runs unpinned)\n", id,
		        strerror(errno));
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	while (atomic_load_explicit(&phase, memory_order_relaxed) < 2) {
		int measuring = atomic_load_explicit(&phase, memory_order_relaxed) == 1;

		if (mask_op(SIG_BLOCK, &s) < 0 || mask_op(SIG_UNBLOCK, &s) < 0) {
			fprintf(stderr, "klock: rt_sigprocmask: %s\n", strerror(errno));
			exit(1);
		}
		n += measuring ? 2 : 0;
	}
	counts[id] = n;
	return NULL;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec t = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};

	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

static void usage(void)
{
	fprintf(stderr, "usage: klock [--threads N] [--seconds S] [--warmup-ms W]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int nthreads = 0;
	double seconds = 3, warm = 0.5, t0, t1;
	pthread_t th[MAX_THREADS];
	uint64_t total = 0;

	for (int i = 1; i < argc; i++) {
		char *end = NULL;

		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--threads"))
			nthreads = (int)strtol(argv[++i], &end, 10);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = strtod(argv[++i], &end);
		else if (!strcmp(argv[i], "--warmup-ms"))
			warm = strtod(argv[++i], &end) / 1000;
		else
			usage();
		if (!end || *end)
			usage();
	}
	ncpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpus < 1)
		ncpus = 1;
	if (!nthreads)
		nthreads = ncpus;
	if (nthreads < 1 || nthreads > MAX_THREADS || seconds <= 0 || seconds > 60 || warm < 0)
		usage();
	for (int i = 0; i < nthreads; i++) {
		int e = pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);

		if (e) {
			fprintf(stderr, "klock: pthread_create: %s\n", strerror(e));
			return 1;
		}
	}
	sleep_s(warm);
	t0 = now_s();
	atomic_store(&phase, 1);
	sleep_s(seconds);
	atomic_store(&phase, 2);
	t1 = now_s();
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	printf("{\"ops\": ");
	for (int i = 0; i < nthreads; i++)
		total += counts[i];
	printf("%llu, \"seconds\": %.4f, \"ops_per_s\": %.1f, \"threads\": %d, \"per_thread\": [",
	       (unsigned long long)total, t1 - t0, (double)total / (t1 - t0), nthreads);
	for (int i = 0; i < nthreads; i++)
		printf("%s%llu", i ? ", " : "", (unsigned long long)counts[i]);
	printf("]}\n");
	return 0;
}
