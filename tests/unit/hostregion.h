/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/hostregion.h - a host-side region (lib/region_host.c) for the
 * guest library's tests: the one place that builds pvs_hregion_opts for
 * them, and publishes a slot the way pvschedd would.
 *
 *   struct pvs_hregion r;
 *   REQUIRE(TU_HOST(&r, tu_path("x"), .nr = 2, .name = "x") == 0);
 *   pvs_hregion_heartbeat(&r, pvs_mono_ns());
 *   tu_host_slot(&r, 0, gettid(), PVSCHED_VCPU_RUNNING, PVSCHED_BOOST_NONE);
 *
 * Fields left zero take the defaults of tu_host_region().  (test_hregion.c
 * tests pvs_hregion_open() itself and builds its options on purpose.)
 */
#ifndef PVS_TEST_HOSTREGION_H
#define PVS_TEST_HOSTREGION_H

#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "region_host.h"
#include "testutil.h"

struct tu_host {
	size_t size;        /* default 8 KiB (16 slots) */
	uint32_t nr;        /* vCPU slots in use, default 1 */
	uint32_t period_us; /* default 10 ms */
	uint32_t stale_us;  /* default 60 s: never stale within a test */
	mode_t mode;        /* default 0600 */
	uint64_t features;  /* default: the host code's own set */
	uint32_t kind;      /* PVSCHED_VM_KIND_*, default 0 */
	const char *name;   /* VM name, default "test" */
};

/* Open (forced over whatever PATH holds).  No heartbeat yet: a test of
 * liveness decides when the first one comes.  Returns pvs_hregion_open()'s
 * result; a failure is printed. */
__attribute__((unused)) static int tu_host_region(struct pvs_hregion *r, const char *path,
                                                  struct tu_host c)
{
	struct pvs_hregion_opts o = {
	        .size = c.size ? c.size : 8192,
	        .nr_vcpus = c.nr ? c.nr : 1,
	        .uid = (uid_t)-1,
	        .gid = (gid_t)-1,
	        .mode = c.mode ? c.mode : 0600,
	        .period_us = c.period_us ? c.period_us : 10000,
	        .stale_after_us = c.stale_us ? c.stale_us : 60000000,
	        .vm_name = c.name ? c.name : "test",
	        .vm_kind = c.kind,
	        .host_features = c.features,
	        .force = 1,
	};
	char err[256];
	int rc = pvs_hregion_open(r, path, &o, err, sizeof(err));

	if (rc)
		printf("  pvs_hregion_open: %s\n", err);
	return rc;
}
#define TU_HOST(r, path, ...) tu_host_region((r), (path), (struct tu_host){__VA_ARGS__})

/* The older positional form (test_guest.c, test_guest_dev.c): 16 KiB. */
__attribute__((unused)) static int tu_host_open(struct pvs_hregion *r, const char *path,
                                                uint32_t nr, uint32_t period_us, uint32_t stale_us,
                                                mode_t mode, uint64_t features, const char *name)
{
	return TU_HOST(r, path, .size = 16 * 1024, .nr = nr, .period_us = period_us,
	               .stale_us = stale_us, .mode = mode, .features = features, .name = name);
}

/* Publish slot IDX as pvschedd would (thread TID in STATE, BOOST_STATE),
 * then a heartbeat.  Callers with several writer threads serialise. */
__attribute__((unused)) static void tu_host_slot(struct pvs_hregion *r, uint32_t idx, uint32_t tid,
                                                 uint32_t state, uint32_t boost_state)
{
	struct pvsched_vcpu_host v;

	memset(&v, 0, sizeof(v));
	v.tid = tid;
	v.state = state;
	v.boost_state = boost_state;
	pvs_hregion_publish_vcpu(r, idx, &v);
	pvs_hregion_heartbeat(r, pvs_mono_ns());
}

#endif
