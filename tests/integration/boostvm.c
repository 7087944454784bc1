/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/boostvm.c - a process VM whose vCPU threads make boost
 * requests on command, for test_boost.py.
 *
 * boostvm -t N [-r REGION]: (REGION default $PVSCHED_REGION, as pvsched-run
 * --attach sets it) N threads named vcpu0..vcpuN-1 (thread 0 at nice
 * 5, so a restore is visible), all sleeping.  Commands on stdin, one per
 * line, answered on stdout with one line:
 *   tids                  "tids T0 T1 ..."
 *   boost I / unboost I   thread I calls pvsched_boost / pvsched_unboost
 *   state I               "state I S" (pvsched_boost_state of thread I)
 *   deadline I US LEN     thread I publishes a deadline US from now
 *   flip I N              thread I boosts and unboosts N times, no pause
 *   garbage SEED          random bytes into every slot's guest part and the
 *                         header's boost_gen (a hostile guest)
 *   quit
 * Replies "ok" or "err CODE" for the rest.  Nothing spins: between
 * commands every thread sleeps on a condition variable.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <pvsched/pvsched.h>

#include "pvs_clock.h"

#define MAX_THREADS 16

static pvsched_guest *g;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER, done_cv = PTHREAD_COND_INITIALIZER;

struct cmd {
	char op[16];
	long a, b;
	int pending, rc;
};

static struct cmd cmds[MAX_THREADS];
static pid_t tids[MAX_THREADS];
static int nthreads;

static int run(struct cmd *c)
{
	if (!strcmp(c->op, "boost"))
		return pvsched_boost(g);
	if (!strcmp(c->op, "unboost"))
		return pvsched_unboost(g);
	if (!strcmp(c->op, "state"))
		return pvsched_boost_state(g);
	if (!strcmp(c->op, "deadline"))
		return pvsched_boost_at(g, pvs_mono_ns() + (uint64_t)c->a * 1000u, (uint32_t)c->b);
	if (!strcmp(c->op, "flip")) {
		for (long i = 0; i < c->a; i++) {
			int rc = pvsched_boost(g);
			if (rc < 0)
				return rc;
			pvsched_unboost(g);
		}
		return 0;
	}
	return -EINVAL;
}

static void *vcpu(void *arg)
{
	int i = (int)(intptr_t)arg;
	char name[16];

	snprintf(name, sizeof(name), "vcpu%d", i);
	prctl(PR_SET_NAME, name);
	if (i == 0)
		setpriority(PRIO_PROCESS, 0, 5);
	pthread_mutex_lock(&mu);
	tids[i] = gettid();
	pthread_cond_broadcast(&done_cv);
	for (;;) {
		while (!cmds[i].pending)
			pthread_cond_wait(&cv, &mu);
		pthread_mutex_unlock(&mu);
		cmds[i].rc = run(&cmds[i]);
		pthread_mutex_lock(&mu);
		cmds[i].pending = 0;
		pthread_cond_broadcast(&done_cv);
	}
	return NULL;
}

static int to_thread(int i, const char *op, long a, long b)
{
	int rc;

	pthread_mutex_lock(&mu);
	snprintf(cmds[i].op, sizeof(cmds[i].op), "%s", op);
	cmds[i].a = a;
	cmds[i].b = b;
	cmds[i].pending = 1;
	pthread_cond_broadcast(&cv);
	while (cmds[i].pending)
		pthread_cond_wait(&done_cv, &mu);
	rc = cmds[i].rc;
	pthread_mutex_unlock(&mu);
	return rc;
}

static void garbage(const char *path, unsigned seed)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	unsigned char *m;
	size_t len = 8192;

	if (fd < 0)
		return;
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return;
	srand(seed);
	/* every slot's guest part (slots from 4096, 256 bytes, guest at +128)
	 * and the header's boost_gen: never the host's parts */
	for (size_t s = 4096; s + 256 <= len; s += 256)
		for (size_t b = 128; b < 256; b++)
			m[s + b] = (unsigned char)rand();
	for (int b = 204; b < 208; b++)
		m[b] = (unsigned char)rand();
	munmap(m, len);
}

int main(int argc, char **argv)
{
	const char *region = NULL;
	pthread_t th;
	char line[256];
	int c, rc;

	nthreads = 2;
	while ((c = getopt(argc, argv, "t:r:h")) != -1) {
		switch (c) {
		case 't': nthreads = atoi(optarg); break;
		case 'r': region = optarg; break;
		default:
			fprintf(stderr, "usage: boostvm -t N -r REGION\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (!region)
		region = getenv(PVSCHED_ENV_REGION);
	if (nthreads < 1 || nthreads > MAX_THREADS || !region) {
		fprintf(stderr,
		        "boostvm: -t 1..%d and -r REGION (or $PVSCHED_REGION) are required\n",
		        MAX_THREADS);
		return 2;
	}
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&th, NULL, vcpu, (void *)(intptr_t)i)) {
			fprintf(stderr, "boostvm: pthread_create failed\n");
			return 1;
		}
	}
	pthread_mutex_lock(&mu);
	for (int i = 0; i < nthreads; i++)
		while (!tids[i])
			pthread_cond_wait(&done_cv, &mu);
	pthread_mutex_unlock(&mu);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d\n", nthreads);
	while (fgets(line, sizeof(line), stdin)) {
		char op[16] = "";
		long i = -1, a = 0, b = 0;
		int n = sscanf(line, "%15s %ld %ld %ld", op, &i, &a, &b);

		if (n < 1)
			continue;
		if (!strcmp(op, "quit"))
			break;
		if (!strcmp(op, "tids")) {
			printf("tids");
			for (int k = 0; k < nthreads; k++)
				printf(" %d", (int)tids[k]);
			printf("\n");
			continue;
		}
		if (!strcmp(op, "open")) {
			/* (re)open the region: the daemon creates it after attach */
			if (g)
				pvsched_close(g);
			g = NULL;
			rc = pvsched_open_path(&g, region);
			printf(rc < 0 ? "err %d\n" : "ok\n", rc);
			continue;
		}
		if (!strcmp(op, "garbage")) {
			garbage(region, (unsigned)i);
			printf("ok\n");
			continue;
		}
		if (!g || n < 2 || i < 0 || i >= nthreads) {
			printf("err %d\n", -EINVAL);
			continue;
		}
		rc = to_thread((int)i, op, a, b);
		if (!strcmp(op, "state") && rc >= 0)
			printf("state %ld %d\n", i, rc);
		else if (rc < 0)
			printf("err %d\n", rc);
		else
			printf("ok\n");
	}
	return 0;
}
