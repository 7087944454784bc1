/* SPDX-License-Identifier: MIT */
/*
 * guest_migwatch - the guest half of the live-migration test
 * (tests/e2e/test_migration.py).
 *
 * Reads the VM's pvsched region every INTERVAL_MS for SECONDS through
 * libpvsched and reports, on stdout, one line per change of host agent and
 * one line every REPORT_MS:
 *
 *   MIG open source=pci path=...
 *   MIG t_ms=1200 alive=1 inst=5f0c... hb=118 pre=0,3 run_ms=1180,1175 boost=1 torn=0
 *   MIG agent t_ms=... inst=... alive=0|1        (the instance or liveness changed)
 *   MIG torn t_ms=... what=...                   (a snapshot that cannot be true)
 *   MIG done samples=N torn=N agents=N
 *
 * A snapshot is torn when, within one host agent (one host_instance, read
 * the same before and after the snapshot), a cumulative value went
 * backwards (heartbeat, a vCPU's run_ns, wait_ns or preemptions, its
 * update_ns) or a field is out of its range (state, wait_milli, run_milli).
 * A change of agent starts every baseline afresh: the destination host's
 * counters and clock are its own.
 *
 * With -B, a thread pinned to vCPU 0 keeps a pvsched_boost() request
 * for the whole run (renewed every 2 s) and reports the verdict it sees (the boost= field: the
 * PVSCHED_BOOST_* value, or a negative errno).  Spinning threads at the
 * lowest priority keep the vCPUs runnable, so host load preempts them.
 *
 * SIGTERM or SIGINT ends the run early, with the "done" line.
 *
 * Usage: guest_migwatch [-d SECONDS] [-i INTERVAL_MS] [-r REPORT_MS] [-b BUSY] [-B]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <signal.h>

#include <pvsched/pvsched.h>

#include "guestutil.h"

#define MAX_VCPUS 8
#define MAX_BUSY  8

static atomic_int stop;
static volatile sig_atomic_t ended; /* SIGTERM/SIGINT: report and exit */

static void on_signal(int sig)
{
	(void)sig;
	ended = 1;
}
static atomic_int boost_seen = -1000;

static void *busy_main(void *arg)
{
	(void)arg;
	lowest_priority();
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		for (volatile unsigned i = 0; i < 100000u; i++) {
		}
	return NULL;
}

/* Keeps a boost request on vCPU 0 for the whole run, renewed every 2 s
 * (unboost, boost) so that no single episode outlives the host's
 * boost_max; publishes the verdict it sees. */
static void *boost_main(void *arg)
{
	pvsched_guest *g = arg;
	cpu_set_t set;
	int rc;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
		atomic_store(&boost_seen, -EINVAL);
		return NULL;
	}
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		rc = pvsched_boost(g);
		if (rc < 0) {
			atomic_store(&boost_seen, rc);
			return NULL;
		}
		for (int i = 0; i < 200 && !atomic_load_explicit(&stop, memory_order_relaxed);
		     i++) {
			atomic_store(&boost_seen, pvsched_boost_state(g));
			sleep_ms(10);
		}
		pvsched_unboost(g);
	}
	return NULL;
}

struct base {
	uint64_t hb;
	struct pvsched_vcpu_info v[MAX_VCPUS];
	int valid;
};

static unsigned long torn;

static void torn_at(uint64_t t, const char *what, uint32_t i, uint64_t was, uint64_t now)
{
	torn++;
	printf("MIG torn t_ms=%llu what=%s vcpu=%u was=%llu now=%llu\n", (unsigned long long)t,
	       what, i, (unsigned long long)was, (unsigned long long)now);
}

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-d SECONDS] [-i INTERVAL_MS] [-r REPORT_MS] [-b BUSY] [-B]\n",
	        argv0);
}

int main(int argc, char **argv)
{
	long duration_s = 30, interval_ms = 5, report_ms = 250, nbusy = 2;
	int opt, want_boost = 0, rc;
	pthread_t th[MAX_BUSY + 1];
	long nth = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "d:i:r:b:Bh")) != -1) {
		switch (opt) {
		case 'd': duration_s = strtol(optarg, NULL, 10); break;
		case 'i': interval_ms = strtol(optarg, NULL, 10); break;
		case 'r': report_ms = strtol(optarg, NULL, 10); break;
		case 'b': nbusy = strtol(optarg, NULL, 10); break;
		case 'B': want_boost = 1; break;
		case 'h': usage(argv[0]); return 0;
		default: usage(argv[0]); return 2;
		}
	}
	if (duration_s < 1 || duration_s > 3600 || interval_ms < 1 || interval_ms > 1000 ||
	    report_ms < interval_ms || nbusy < 0 || nbusy > MAX_BUSY) {
		usage(argv[0]);
		return 2;
	}

	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0) {
		perror("sigaction");
		return 1;
	}

	pvsched_guest *g = NULL;
	for (int tries = 0;; tries++) {
		rc = pvsched_open(&g);
		if (rc >= 0)
			break;
		if (tries >= 60) {
			printf("MIG error=%s\n", pvsched_strerror(rc));
			return 1;
		}
		sleep_ms(250);
	}
	printf("MIG open source=%s path=%s\n", pvsched_source_str(pvsched_guest_source(g)),
	       pvsched_guest_path(g));
	for (long i = 0; i < nbusy; i++)
		if (pthread_create(&th[nth], NULL, busy_main, NULL) == 0)
			nth++;
	if (want_boost && pthread_create(&th[nth], NULL, boost_main, g) == 0)
		nth++;

	struct base b = {0};
	uint64_t t0 = pvs_mono_ms(), next_report = t0, last_inst = UINT64_MAX, agents = 0;
	int last_alive = -1;
	unsigned long samples = 0;

	while (!ended && pvs_mono_ms() - t0 < (uint64_t)duration_s * 1000u) {
		uint64_t t = pvs_mono_ms() - t0, inst, inst2;
		struct pvsched_vm_info vi;
		struct pvsched_vcpu_info ci[MAX_VCPUS];
		int alive, ok = 1;
		uint32_t n;

		memset(&vi, 0, sizeof(vi));
		memset(ci, 0, sizeof(ci));
		inst = pvsched_host_instance(g);
		alive = inst != 0;
		rc = pvsched_read_vm(g, &vi);
		if (rc < 0 && rc != -ENOTCONN)
			ok = 0;
		n = vi.nr_vcpus < MAX_VCPUS ? vi.nr_vcpus : MAX_VCPUS;
		for (uint32_t i = 0; ok && i < n; i++) {
			rc = pvsched_read_vcpu(g, i, &ci[i]);
			if (rc < 0 && rc != -ENOTCONN)
				ok = 0;
		}
		inst2 = pvsched_host_instance(g);
		samples++;
		if (inst != last_inst || alive != last_alive) {
			agents += inst != last_inst && inst;
			printf("MIG agent t_ms=%llu inst=%016llx alive=%d\n", (unsigned long long)t,
			       (unsigned long long)inst, alive);
			last_inst = inst;
			last_alive = alive;
			b.valid = 0;
		}
		if (ok && alive && inst == inst2) {
			if (b.valid && vi.heartbeat < b.hb)
				torn_at(t, "heartbeat", 0, b.hb, vi.heartbeat);
			for (uint32_t i = 0; i < n; i++) {
				const struct pvsched_vcpu_info *o = &b.v[i], *c = &ci[i];

				if (c->state > PVSCHED_VCPU_IDLE)
					torn_at(t, "state", i, 0, c->state);
				if (c->wait_milli > 1000 || c->run_milli > 1000)
					torn_at(t, "milli", i, c->run_milli, c->wait_milli);
				if (!b.valid || !o->update_ns)
					continue;
				if (c->run_ns < o->run_ns)
					torn_at(t, "run_ns", i, o->run_ns, c->run_ns);
				if (c->wait_ns < o->wait_ns)
					torn_at(t, "wait_ns", i, o->wait_ns, c->wait_ns);
				if (c->preemptions < o->preemptions)
					torn_at(t, "preemptions", i, o->preemptions,
					        c->preemptions);
				if (c->update_ns < o->update_ns)
					torn_at(t, "update_ns", i, o->update_ns, c->update_ns);
			}
			b.hb = vi.heartbeat;
			memcpy(b.v, ci, sizeof(b.v));
			b.valid = 1;
		}
		if (pvs_mono_ms() >= next_report) {
			char pre[MAX_VCPUS * 24] = "", run[MAX_VCPUS * 24] = "";
			size_t po = 0, ro = 0;

			for (uint32_t i = 0; i < n; i++) {
				int k = snprintf(pre + po, sizeof(pre) - po, "%s%llu", i ? "," : "",
				                 (unsigned long long)ci[i].preemptions);
				if (k > 0 && (size_t)k < sizeof(pre) - po)
					po += (size_t)k;
				k = snprintf(run + ro, sizeof(run) - ro, "%s%llu", i ? "," : "",
				             (unsigned long long)(ci[i].run_ns / 1000000u));
				if (k > 0 && (size_t)k < sizeof(run) - ro)
					ro += (size_t)k;
			}
			printf("MIG t_ms=%llu alive=%d inst=%016llx hb=%llu pre=%s run_ms=%s "
			       "boost=%d "
			       "torn=%lu\n",
			       (unsigned long long)t, alive, (unsigned long long)inst,
			       (unsigned long long)vi.heartbeat, po ? pre : "-", ro ? run : "-",
			       atomic_load(&boost_seen), torn);
			next_report += (uint64_t)report_ms;
			if (next_report < pvs_mono_ms())
				next_report = pvs_mono_ms() + (uint64_t)report_ms;
		}
		sleep_ms((unsigned)interval_ms);
	}
	atomic_store(&stop, 1);
	for (long i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	printf("MIG done samples=%lu torn=%lu agents=%llu\n", samples, torn,
	       (unsigned long long)agents);
	pvsched_close(g);
	return torn ? 1 : 0;
}
