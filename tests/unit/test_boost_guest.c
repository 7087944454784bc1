/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_boost_guest.c - the guest's boost API (lib/boost.c)
 * against a region this test plays host for: what it writes, nesting,
 * deadlines, the host's verdict, and its errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pvsched/pvsched.h>

#include "check.h"
#include "hostregion.h"
#include "testutil.h"

static struct pvs_hregion reg;

static pvsched_guest *host_open(uint32_t kind, uint64_t features, const char *name)
{
	const char *p = tu_path("%s", name);
	pvsched_guest *g = NULL;

	REQUIRE(TU_HOST(&reg, p, .nr = 4, .name = "boost", .kind = kind, .features = features) ==
	        0);
	pvs_hregion_heartbeat(&reg, pvs_mono_ns());
	REQUIRE(pvsched_open_path(&g, p) == 0);
	return g;
}

static void host_slot(uint32_t idx, uint32_t tid, uint32_t boost_state)
{
	tu_host_slot(&reg, idx, tid, PVSCHED_VCPU_RUNNING, boost_state);
}

static struct pvsched_vcpu_guest *gpart(uint32_t idx)
{
	return &pvs_hregion_vcpu(&reg, idx)->guest;
}

/* Process VM: the caller's slot gets the request; nesting touches the
 * region only at the outermost pair. */
static void t_nest(void)
{
	pvsched_guest *g = host_open(PVSCHED_VM_KIND_PROCESS, PVSCHED_F_ALL_V1_2, "nest");
	uint32_t gen0;

	host_slot(2, (uint32_t)gettid(), PVSCHED_BOOST_NONE);
	gen0 = reg.hdr->boost_gen;
	CHECK_EQ(pvsched_boost(g), 0);
	CHECK_EQU(gpart(2)->boost_req, 1);
	CHECK_EQU(gpart(2)->boost_seq, 1);
	CHECK_EQU(reg.hdr->boost_gen, gen0 + 1);
	CHECK_EQU(gpart(0)->boost_req, 0);
	NOTE("nested: no region write");
	CHECK_EQ(pvsched_boost(g), 0);
	CHECK_EQU(gpart(2)->boost_seq, 1);
	CHECK_EQ(pvsched_unboost(g), 0);
	CHECK_EQU(gpart(2)->boost_req, 1);
	NOTE("outermost unboost: request gone");
	CHECK_EQ(pvsched_unboost(g), 0);
	CHECK_EQU(gpart(2)->boost_req, 0);
	CHECK_EQU(gpart(2)->boost_seq, 2);
	CHECK_EQU(reg.hdr->boost_gen, gen0 + 2);
	NOTE("an unboost without a boost is refused and writes nothing");
	CHECK_EQ(pvsched_unboost(g), -EINVAL);
	CHECK_EQU(gpart(2)->boost_seq, 2);
	NOTE("a garbage 0 written by someone else is not wrapped below 0");
	CHECK_EQ(pvsched_boost(g), 0);
	gpart(2)->boost_req = 0;
	CHECK_EQ(pvsched_unboost(g), 0);
	CHECK_EQU(gpart(2)->boost_req, 0);
	pvsched_close(g);
	pvs_hregion_close(&reg);
}

/* The host's verdict comes back through boost_state. */
static void t_state(void)
{
	pvsched_guest *g = host_open(PVSCHED_VM_KIND_PROCESS, PVSCHED_F_ALL_V1_2, "state");
	uint32_t tid = (uint32_t)gettid();

	host_slot(0, tid, PVSCHED_BOOST_NONE);
	CHECK_EQ(pvsched_boost_state(g), (int)PVSCHED_BOOST_NONE);
	CHECK_EQ(pvsched_boost(g), 0);
	host_slot(0, tid, PVSCHED_BOOST_GRANTED);
	CHECK_EQ(pvsched_boost_state(g), (int)PVSCHED_BOOST_GRANTED);
	host_slot(0, tid, PVSCHED_BOOST_THROTTLED);
	CHECK_EQ(pvsched_boost_state(g), (int)PVSCHED_BOOST_THROTTLED);
	host_slot(0, tid, PVSCHED_BOOST_DENIED);
	CHECK_EQ(pvsched_boost_state(g), (int)PVSCHED_BOOST_DENIED);
	NOTE("an out-of-range state from the host reads as NONE");
	host_slot(0, tid, 77);
	CHECK_EQ(pvsched_boost_state(g), (int)PVSCHED_BOOST_NONE);
	CHECK_EQ(pvsched_unboost(g), 0);
	NOTE("the host detached: -ENOTCONN");
	pvs_hregion_close(&reg);
	CHECK_EQ(pvsched_boost_state(g), -ENOTCONN);
	pvsched_close(g);
}

/* Deadlines: a process VM shares the host's clock. */
static void t_deadline(void)
{
	pvsched_guest *g = host_open(PVSCHED_VM_KIND_PROCESS, PVSCHED_F_ALL_V1_2, "deadline");
	uint64_t t = pvs_mono_ns() + 5000000;

	host_slot(1, (uint32_t)gettid(), PVSCHED_BOOST_NONE);
	CHECK_EQ(pvsched_boost_at(g, t, 250), 0);
	CHECK_EQU(gpart(1)->wake_at_ns, t);
	CHECK_EQU(gpart(1)->wake_len_us, 250);
	CHECK_EQU(gpart(1)->boost_seq, 1);
	CHECK_EQ(pvsched_boost_at(g, 0, 0), 0);
	CHECK_EQU(gpart(1)->wake_at_ns, 0);
	pvsched_close(g);
	pvs_hregion_close(&reg);
}

/* A real VM: the slot is the CPU; the host clock is calibrated from the
 * heartbeat (here the same clock, so the offset is about 0). */
static void *beat(void *p)
{
	for (int i = 0; i < 50 && !*(volatile int *)p; i++) {
		usleep(2000);
		pvs_hregion_heartbeat(&reg, pvs_mono_ns() + 7000000000ull);
	}
	return NULL;
}

static void t_machine(void)
{
	pvsched_guest *g = host_open(PVSCHED_VM_KIND_MACHINE, PVSCHED_F_ALL_V1_2, "machine");
	cpu_set_t one;
	pthread_t th;
	int stop = 0;
	uint64_t t, got;

	CPU_ZERO(&one);
	CPU_SET(1, &one);
	REQUIRE(sched_setaffinity(0, sizeof(one), &one) == 0);
	CHECK_EQ(pvsched_boost(g), 0);
	CHECK_EQU(gpart(1)->boost_req, 1);
	CHECK_EQ(pvsched_unboost(g), 0);
	NOTE("deadline in a VM whose host clock is 7 s ahead of ours");
	REQUIRE(pthread_create(&th, NULL, beat, &stop) == 0);
	t = pvs_mono_ns() + 1000000;
	CHECK_EQ(pvsched_boost_at(g, t, 0), 0);
	stop = 1;
	pthread_join(th, NULL);
	got = gpart(1)->wake_at_ns;
	NOTE("translated: %+lld us from exact",
	     (long long)((int64_t)(got - t) - 7000000000ll) / 1000);
	/* early (the offset errs low), never late, by less than 50 ms */
	CHECK(got <= t + 7000000000ull && got + 50000000ull >= t + 7000000000ull);
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		CPU_SET(c, &one);
	sched_setaffinity(0, sizeof(one), &one);
	pvsched_close(g);
	pvs_hregion_close(&reg);
}

/* Refusals: no boosting offered, no slot, read-only mapping. */
static void t_errors(void)
{
	pvsched_guest *g = host_open(PVSCHED_VM_KIND_PROCESS, PVSCHED_F_ALL_V1_1, "old-host");
	const char *p;

	host_slot(0, (uint32_t)gettid(), PVSCHED_BOOST_NONE);
	NOTE("a 1.1 host: not offered");
	CHECK_EQ(pvsched_boost(g), -EOPNOTSUPP);
	CHECK_EQ(pvsched_boost_at(g, 1, 0), -EOPNOTSUPP);
	CHECK_EQU(gpart(0)->boost_req, 0);
	pvsched_close(g);
	pvs_hregion_close(&reg);

	g = host_open(PVSCHED_VM_KIND_PROCESS, PVSCHED_F_ALL_V1_2, "noslot");
	NOTE("no slot has our thread id");
	CHECK_EQ(pvsched_boost(g), -ENOENT);
	pvsched_close(g);
	pvs_hregion_close(&reg);

	g = host_open(PVSCHED_VM_KIND_PROCESS, PVSCHED_F_ALL_V1_2, "ro");
	host_slot(0, (uint32_t)gettid(), PVSCHED_BOOST_NONE);
	pvsched_close(g);
	p = tu_path("ro");
	REQUIRE(chmod(p, 0400) == 0);
	if (geteuid() == 0) {
		NOTE("root opens a 0400 file read-write anyway: read-only case not testable");
	} else {
		REQUIRE(pvsched_open_path(&g, p) == 0);
		CHECK_EQ(pvsched_boost(g), -EROFS);
		pvsched_close(g);
	}
	pvs_hregion_close(&reg);
	NOTE("NULL handle and no region anywhere: -ENOENT");
	unsetenv(PVSCHED_ENV_REGION);
	setenv(PVSCHED_ENV_DEV, tu_path("no-dev"), 1);
	setenv(PVSCHED_ENV_SYSFS_PCI, tu_path("no-pci"), 1);
	CHECK_EQ(pvsched_boost(NULL), -ENOENT);
}

/* 1.4: a region that is a PCI device's resource2 rings the doorbell in its
 * sibling resource0 (offset 12) on the first request, the release of the
 * last and a new deadline, and only while the host offers the doorbell. */
static void t_doorbell(void)
{
	struct pvs_hregion_opts o = {.size = 8192,
	                             .nr_vcpus = 4,
	                             .uid = (uid_t)-1,
	                             .gid = (gid_t)-1,
	                             .mode = 0600,
	                             .period_us = 10000,
	                             .stale_after_us = 60000000,
	                             .vm_name = "bell",
	                             .vm_kind = PVSCHED_VM_KIND_PROCESS,
	                             .host_features = PVSCHED_F_ALL_V1_3};
	static const unsigned char zero[256];
	volatile uint32_t *bar0;
	pvsched_guest *g = NULL;
	char err[256];
	int fd;

	REQUIRE(tu_mkdir(tu_path("bell")) == 0);
	REQUIRE(tu_write_file(tu_path("bell/resource0"), zero, sizeof(zero), 0600) == 0);
	REQUIRE(pvs_hregion_open(&reg, tu_path("bell/resource2"), &o, err, sizeof(err)) == 0);
	pvs_hregion_heartbeat(&reg, pvs_mono_ns());
	fd = open(tu_path("bell/resource0"), O_RDWR);
	REQUIRE(fd >= 0);
	bar0 = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	REQUIRE(bar0 != MAP_FAILED);
	REQUIRE(pvsched_open_path(&g, tu_path("bell/resource2")) == 0);
	host_slot(1, (uint32_t)gettid(), PVSCHED_BOOST_NONE);

	NOTE("no PVSCHED_F_DOORBELL: never rings");
	CHECK_EQ(pvsched_boost(g), 0);
	CHECK_EQ(pvsched_unboost(g), 0);
	CHECK_EQU(bar0[3], 0);
	pvs_hregion_set_doorbell(&reg, 1, 1u << 16);
	NOTE("the first request rings peer 1, vector 0");
	CHECK_EQ(pvsched_boost(g), 0);
	CHECK_EQU(bar0[3], 1u << 16);
	bar0[3] = 0;
	NOTE("a nested request and its release do not ring");
	CHECK_EQ(pvsched_boost(g), 0);
	CHECK_EQ(pvsched_unboost(g), 0);
	CHECK_EQU(bar0[3], 0);
	NOTE("a second request on the same vCPU (another thread's count) does not ring");
	__atomic_add_fetch(&gpart(1)->boost_req, 1u, __ATOMIC_RELAXED);
	CHECK_EQ(pvsched_unboost(g), 0);
	CHECK_EQU(bar0[3], 0);
	__atomic_sub_fetch(&gpart(1)->boost_req, 1u, __ATOMIC_RELAXED);
	CHECK_EQ(pvsched_boost(g), 0);
	bar0[3] = 0;
	NOTE("the release of the last request rings");
	CHECK_EQ(pvsched_unboost(g), 0);
	CHECK_EQU(gpart(1)->boost_req, 0);
	CHECK_EQU(bar0[3], 1u << 16);
	bar0[3] = 0;
	NOTE("a new deadline rings");
	CHECK_EQ(pvsched_boost_at(g, pvs_mono_ns() + 1000000, 100), 0);
	CHECK_EQU(bar0[3], 1u << 16);
	bar0[3] = 0;
	NOTE("withdrawn (the agent restarted): polled again, no ring");
	pvs_hregion_set_doorbell(&reg, 0, 0);
	CHECK_EQ(pvsched_boost_at(g, 0, 0), 0);
	CHECK_EQU(bar0[3], 0);
	pvsched_close(g);
	munmap((void *)bar0, 4096);
	pvs_hregion_close(&reg);
}

/* Rings counted on EFD since the last call (0: none; never blocks). */
static uint64_t rings(int efd)
{
	uint64_t n = 0;

	if (read(efd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return 0;
	return n;
}

/* Open the region P with PVSCHED_DOORBELL_FD set to FD_TEXT. */
static pvsched_guest *open_with_fd(const char *p, const char *fd_text)
{
	pvsched_guest *g = NULL;

	setenv(PVSCHED_ENV_DOORBELL_FD, fd_text, 1);
	REQUIRE(pvsched_open_path(&g, p) == 0);
	return g;
}

/* 1.4, a process VM: the eventfd pvschedd passed at attach, named by
 * PVSCHED_DOORBELL_FD beside PVSCHED_REGION, is rung on the same
 * transitions as a device's register; a variable naming another file, or
 * a region other than PVSCHED_REGION's, is not rung. */
static void t_eventfd(void)
{
	const char *p = tu_path("efd-region"), *other = tu_path("efd-other");
	int efd = eventfd(0, EFD_NONBLOCK), pfd[2];
	pvsched_guest *g;
	char num[16];

	REQUIRE(efd >= 0 && pipe(pfd) == 0);
	REQUIRE(TU_HOST(&reg, other, .nr = 4, .name = "other", .kind = PVSCHED_VM_KIND_PROCESS,
	                .features = PVSCHED_F_ALL_V1_3) == 0);
	pvs_hregion_set_doorbell(&reg, 1, 1u << 16);
	pvs_hregion_close(&reg);
	REQUIRE(TU_HOST(&reg, p, .nr = 4, .name = "efd", .kind = PVSCHED_VM_KIND_PROCESS,
	                .features = PVSCHED_F_ALL_V1_3) == 0);
	pvs_hregion_heartbeat(&reg, pvs_mono_ns());
	host_slot(1, (uint32_t)gettid(), PVSCHED_BOOST_NONE);
	setenv(PVSCHED_ENV_REGION, p, 1);
	snprintf(num, sizeof(num), "%d", efd);
	g = open_with_fd(p, num);

	NOTE("no PVSCHED_F_DOORBELL: never rings");
	CHECK_EQ(pvsched_boost(g), 0);
	CHECK_EQ(pvsched_unboost(g), 0);
	CHECK_EQU(rings(efd), 0);
	pvs_hregion_set_doorbell(&reg, 1, 1u << 16);
	NOTE("the first request rings once");
	CHECK_EQ(pvsched_boost(g), 0);
	CHECK_EQU(rings(efd), 1);
	NOTE("a nested request and its release do not ring");
	CHECK_EQ(pvsched_boost(g), 0);
	CHECK_EQ(pvsched_unboost(g), 0);
	CHECK_EQU(rings(efd), 0);
	NOTE("the release of the last request rings");
	CHECK_EQ(pvsched_unboost(g), 0);
	CHECK_EQU(rings(efd), 1);
	NOTE("a new deadline rings");
	CHECK_EQ(pvsched_boost_at(g, pvs_mono_ns() + 1000000, 100), 0);
	CHECK_EQU(rings(efd), 1);
	CHECK_EQ(pvsched_boost_at(g, 0, 0), 0);
	rings(efd);
	NOTE("the library rings its own copy: the variable's descriptor may be closed");
	{
		int keep = dup(efd);

		REQUIRE(keep >= 0);
		close(efd);
		CHECK_EQ(pvsched_boost(g), 0);
		CHECK_EQ(pvsched_unboost(g), 0);
		CHECK_EQU(rings(keep), 2);
		efd = keep;
	}
	pvsched_close(g);

	NOTE("a variable that names a pipe, not an eventfd: not rung");
	snprintf(num, sizeof(num), "%d", pfd[1]);
	g = open_with_fd(p, num);
	CHECK_EQ(pvsched_boost(g), 0);
	CHECK_EQ(pvsched_unboost(g), 0);
	{
		char b;

		fcntl(pfd[0], F_SETFL, O_NONBLOCK);
		CHECK_EQ((int)read(pfd[0], &b, 1), -1);
	}
	pvsched_close(g);
	NOTE("garbage and out-of-range numbers: not rung, opened all the same");
	snprintf(num, sizeof(num), "%d", efd);
	pvsched_close(open_with_fd(p, "12x"));
	pvsched_close(open_with_fd(p, "-1"));
	pvsched_close(open_with_fd(p, "99999999999"));
	pvs_hregion_close(&reg);

	NOTE("another region than PVSCHED_REGION names: its eventfd is not rung");
	REQUIRE(TU_HOST(&reg, other, .nr = 4, .name = "other", .kind = PVSCHED_VM_KIND_PROCESS,
	                .features = PVSCHED_F_ALL_V1_3) == 0);
	pvs_hregion_heartbeat(&reg, pvs_mono_ns());
	pvs_hregion_set_doorbell(&reg, 1, 1u << 16);
	host_slot(1, (uint32_t)gettid(), PVSCHED_BOOST_NONE);
	g = open_with_fd(other, num);
	CHECK_EQ(pvsched_boost(g), 0);
	CHECK_EQ(pvsched_unboost(g), 0);
	CHECK_EQU(rings(efd), 0);
	pvsched_close(g);
	pvs_hregion_close(&reg);
	unsetenv(PVSCHED_ENV_DOORBELL_FD);
	unsetenv(PVSCHED_ENV_REGION);
	close(efd);
	close(pfd[0]);
	close(pfd[1]);
}

static const struct tcase cases[] = {
        {"nest", t_nest},       {"state", t_state},   {"deadline", t_deadline},
        {"machine", t_machine}, {"errors", t_errors}, {"doorbell", t_doorbell},
        {"eventfd", t_eventfd},
};

int main(int argc, char **argv)
{
	tu_tmpdir();
	return run_cases(argc, argv, cases, NCASES(cases));
}
