/* SPDX-License-Identifier: MIT */
/*
 * bench/overhead/pingpong.c - pvsched-bench-pingpong: what following a vCPU
 * thread costs the thread.  Two threads (named vcpu0 and vcpu1, the main
 * thread only waits, like loadgen's VMs) pass a byte back and forth through
 * two pipes, both pinned to one CPU, so every round trip is two wake-ups and
 * two context switches of followed threads: the scheduler events pvschedd's
 * BPF programs run on.
 *
 * Prints its pid, then waits for a line on stdin (the benchmark starts
 * pvschedd on it meanwhile, or not), then runs -n round trips and prints one line per run: the
 * nanoseconds per round trip.  Exits at EOF.
 *
 *   pvsched-bench-pingpong [-n ROUNDS] [-c CPU]
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static long rounds = 100000;
static int cpu = 0;
static int ab[2], ba[2]; /* main thread a -> b, b -> a */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pin(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		perror("pingpong: sched_setaffinity");
}

/* vcpu1: echoes every byte back until its pipe closes */
static void *echo(void *arg)
{
	char c;

	(void)arg;
	prctl(PR_SET_NAME, "vcpu1");
	pin();
	while (read(ab[0], &c, 1) == 1)
		if (write(ba[1], &c, 1) != 1)
			break;
	return NULL;
}

/* vcpu0: one line of stdin, one timed run */
static void *driver(void *arg)
{
	char line[64], c = 0;

	(void)arg;
	prctl(PR_SET_NAME, "vcpu0");
	pin();
	while (fgets(line, sizeof(line), stdin)) {
		uint64_t t0 = now_ns();

		for (long i = 0; i < rounds; i++)
			if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1) {
				perror("pingpong: pipe");
				exit(1);
			}
		printf("%.1f\n", (double)(now_ns() - t0) / (double)rounds);
		fflush(stdout);
	}
	close(ab[1]);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t a, b;
	int opt;

	while ((opt = getopt(argc, argv, "n:c:")) != -1) {
		switch (opt) {
		case 'n': rounds = atol(optarg); break;
		case 'c': cpu = atoi(optarg); break;
		default: fprintf(stderr, "usage: %s [-n ROUNDS] [-c CPU]\n", argv[0]); return 2;
		}
	}
	if (rounds <= 0 || pipe(ab) < 0 || pipe(ba) < 0) {
		perror("pingpong");
		return 1;
	}
	printf("%d\n", (int)getpid());
	fflush(stdout);
	if (pthread_create(&b, NULL, echo, NULL) || pthread_create(&a, NULL, driver, NULL)) {
		fprintf(stderr, "pingpong: cannot start threads\n");
		return 1;
	}
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	return 0;
}
