/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/fakeqemu.c - looks like QEMU to pvschedd's discovery,
 * without being QEMU.
 *
 * The test copies this binary to a name that matches qemu_comm (a process's
 * name is its executable's name) and runs it with a QEMU-like command line
 * (-name guest=NAME,debug-threads=on -object memory-backend-file,...); the
 * arguments are not parsed here, pvschedd reads them from /proc/PID/cmdline.
 * It starts threads named like QEMU's vCPU threads, "CPU n/TCG" (n from
 * $FAKEQEMU_VCPUS-1 down to 0, so tid order is the reverse of vCPU order),
 * and one "worker" thread that is not a vCPU, prints "ready", and runs until
 * SIGTERM.  vCPU threads spin 1 ms and sleep 4 ms, repeatedly (only sleep
 * with FAKEQEMU_IDLE=1).  With FAKEQEMU_PAUSED=1 they use no CPU at all
 * (blocked, like the vCPU threads of a QEMU waiting for an incoming
 * migration) until SIGUSR1, then spin as usual.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pvs_clock.h"

#define MAX_THREADS 64

static volatile int stop;
static int paused;
static pthread_mutex_t pause_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pause_cond = PTHREAD_COND_INITIALIZER;

struct th {
	pthread_t pt;
	char name[16];
	volatile int spin;
	volatile pid_t tid;
};

static void *body(void *arg)
{
	struct th *t = arg;

	pthread_setname_np(pthread_self(), t->name);
	t->tid = (pid_t)syscall(SYS_gettid);
	if (t->spin) {
		pthread_mutex_lock(&pause_lock);
		while (paused && !stop)
			pthread_cond_wait(&pause_cond, &pause_lock);
		pthread_mutex_unlock(&pause_lock);
	}
	while (!stop) {
		uint64_t end = pvs_mono_ns() + 1000000;

		while (t->spin && pvs_mono_ns() < end)
			;
		usleep(4000);
	}
	return NULL;
}

int main(void)
{
	static struct th th[MAX_THREADS + 1];
	const char *env = getenv("FAKEQEMU_VCPUS"), *idle = getenv("FAKEQEMU_IDLE");
	const char *pause = getenv("FAKEQEMU_PAUSED");
	int nvcpus = env ? atoi(env) : 2, n = 0, sig;
	sigset_t set;

	if (nvcpus < 1 || nvcpus > MAX_THREADS) {
		fprintf(stderr, "fakeqemu: FAKEQEMU_VCPUS must be 1..%d\n", MAX_THREADS);
		return 2;
	}
	paused = pause && *pause == '1';
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (int i = nvcpus - 1; i >= 0; i--) {
		snprintf(th[n].name, sizeof(th[n].name), "CPU %d/TCG", i);
		th[n++].spin = !(idle && *idle == '1') || paused;
	}
	snprintf(th[n++].name, sizeof(th[0].name), "worker");
	for (int i = 0; i < n; i++) {
		if (pthread_create(&th[i].pt, NULL, body, &th[i])) {
			fprintf(stderr, "fakeqemu: pthread_create failed\n");
			return 1;
		}
		while (!th[i].tid)
			usleep(100);
	}
	printf("ready pid %d\n", (int)getpid());
	for (int i = 0; i < n; i++)
		printf("thread %d %s\n", (int)th[i].tid, th[i].name);
	fflush(stdout);
	do {
		sig = sigwaitinfo(&set, NULL);
		if (sig == SIGUSR1) {
			pthread_mutex_lock(&pause_lock);
			paused = 0;
			pthread_cond_broadcast(&pause_cond);
			pthread_mutex_unlock(&pause_lock);
			printf("running\n");
			fflush(stdout);
		}
	} while (sig < 0 || sig == SIGUSR1);
	pthread_mutex_lock(&pause_lock);
	stop = 1;
	pthread_cond_broadcast(&pause_cond);
	pthread_mutex_unlock(&pause_lock);
	for (int i = 0; i < n; i++)
		pthread_join(th[i].pt, NULL);
	return 0;
}
