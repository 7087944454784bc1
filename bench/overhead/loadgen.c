/* SPDX-License-Identifier: MIT */
/*
 * bench/overhead/loadgen.c - pvsched-bench-loadgen: N process VMs of T
 * vCPU threads each, the load of the overhead benchmark.
 *
 * One child process per VM; its threads are named vcpu0..vcpuT-1 and its
 * main thread only waits, so pvschedd's default process-VM rule ("every
 * thread but the main one") finds exactly T vCPUs.  The parent prints one
 * child pid per line, then "ready", and kills the children on SIGTERM/SIGINT
 * (children also die with the parent: PR_SET_PDEATHSIG).
 *
 * -1: no child; this process is the one VM (its pid printed, then "ready"
 * once its threads run), for a VM that must be the process started, e.g.
 * under `pvsched-run --attach NAME`, which execs it after the attach.
 *
 * Thread behaviour (-m):
 *   idle  a mostly-idle vCPU: sleep a random 0.5..1.5 x IDLE_MS, then spin
 *         for BURST_US (defaults 100 ms, 20 us).  Measured on a 2-CPU VM:
 *         64 threads ~2.5%, 256 ~9%, 1024 ~35% of one core (wakeups
 *         included), so the host stays mostly idle.
 *   busy  an intermittently busy vCPU: the same loop with defaults of
 *         2 ms spins and 400 ms sleeps: 256 threads ask for ~1.3 CPUs in
 *         random bursts, so on 2 CPUs bursts collide and vCPUs get
 *         preempted while the host is not saturated.  (-i 18: 10% duty,
 *         hundreds of threads saturate the host.)
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long idle_us = 100000, burst_us = 20;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t xorshift(uint32_t *s)
{
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static void spin_us(long us)
{
	uint64_t end = now_ns() + (uint64_t)us * 1000u;
	volatile unsigned long x = 0;

	while (now_ns() < end)
		for (int i = 0; i < 64; i++)
			x++;
}

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void *vcpu(void *arg)
{
	uintptr_t idx = (uintptr_t)arg;
	uint32_t seed = (uint32_t)(getpid() * 2654435761u) ^ (uint32_t)(idx * 40503u + 1);
	char name[16];

	snprintf(name, sizeof(name), "vcpu%u", (unsigned)idx);
	pthread_setname_np(pthread_self(), name);
	if (!seed)
		seed = 1;
	/* start at a random phase so the VMs do not wake in lockstep */
	sleep_us((long)(xorshift(&seed) % (uint32_t)(idle_us + 1)));
	for (;;) {
		long s = idle_us / 2 + (long)(xorshift(&seed) % (uint32_t)(idle_us + 1));
		spin_us(burst_us);
		sleep_us(s);
	}
	return NULL;
}

/* Start THREADS vCPU threads in this process. */
static void start_vcpus(int threads)
{
	pthread_attr_t a;

	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 * 1024);
	for (int i = 0; i < threads; i++) {
		pthread_t t;
		if (pthread_create(&t, &a, vcpu, (void *)(uintptr_t)i)) {
			fprintf(stderr, "loadgen: pthread_create failed\n");
			_exit(1);
		}
	}
	pthread_attr_destroy(&a);
}

static void run_vm(int threads)
{
	sigset_t all;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(1);
	start_vcpus(threads);
	sigfillset(&all);
	sigdelset(&all, SIGTERM);
	sigdelset(&all, SIGINT);
	sigdelset(&all, SIGKILL);
	for (;;)
		sigsuspend(&all);
}

static volatile sig_atomic_t stop;

static void on_signal(int s)
{
	(void)s;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: pvsched-bench-loadgen [-n VMS] [-t THREADS] [-m idle|busy] [-i IDLE_MS]\n"
	        "                             [-b BURST_US] [-1]\n"
	        "Start VMS processes (default 16) of THREADS vCPU threads (default 4),\n"
	        "print their pids and 'ready', run until SIGTERM.\n"
	        "  -1        no child: this process is the one VM (its pid, 'ready')\n"
	        "  -m idle   sleep ~IDLE_MS (default 100), spin BURST_US (default 20)\n"
	        "  -m busy   same loop, defaults IDLE_MS 400, BURST_US 2000\n");
}

int main(int argc, char **argv)
{
	int nvms = 16, threads = 4, self_vm = 0, opt;
	pid_t *pids;
	struct sigaction sa = {.sa_handler = on_signal};

	while ((opt = getopt(argc, argv, "n:t:m:i:b:1h")) != -1) {
		switch (opt) {
		case 'n': nvms = atoi(optarg); break;
		case 't': threads = atoi(optarg); break;
		case 'm':
			if (!strcmp(optarg, "busy")) {
				idle_us = 400000;
				burst_us = 2000;
			} else if (strcmp(optarg, "idle")) {
				usage(stderr);
				return 2;
			}
			break;
		case 'i': idle_us = (long)(atof(optarg) * 1000); break;
		case 'b': burst_us = atol(optarg); break;
		case '1': self_vm = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (nvms < 1 || nvms > 4096 || threads < 1 || threads > 256 || idle_us < 1 ||
	    burst_us < 0) {
		usage(stderr);
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (self_vm) {
		/* the threads exist once pthread_create returned */
		start_vcpus(threads);
		printf("%d\nready\n", (int)getpid());
		fflush(stdout);
		while (!stop)
			pause();
		return 0;
	}
	pids = calloc((size_t)nvms, sizeof(*pids));
	if (!pids)
		return 1;
	for (int i = 0; i < nvms; i++) {
		pid_t p = fork();
		if (p < 0) {
			perror("loadgen: fork");
			stop = 1;
			break;
		}
		if (p == 0) {
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			run_vm(threads);
		}
		pids[i] = p;
		printf("%d\n", (int)p);
	}
	/* wait until every child has all its threads */
	for (int i = 0; i < nvms && !stop; i++) {
		char path[64];
		for (int tries = 0; tries < 2000 && !stop; tries++) {
			FILE *f;
			int n = 0;
			char line[128];
			snprintf(path, sizeof(path), "/proc/%d/status", (int)pids[i]);
			f = fopen(path, "re");
			if (!f)
				break;
			while (fgets(line, sizeof(line), f))
				if (sscanf(line, "Threads: %d", &n) == 1)
					break;
			fclose(f);
			if (n >= threads + 1)
				break;
			sleep_us(1000);
		}
	}
	if (!stop)
		printf("ready\n");
	fflush(stdout);
	while (!stop)
		pause();
	for (int i = 0; i < nvms; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
	for (int i = 0; i < nvms; i++)
		if (pids[i] > 0)
			waitpid(pids[i], NULL, 0);
	free(pids);
	return 0;
}
