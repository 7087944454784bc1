/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/hostregion.h - a host-side region (lib/region_host.c) for the
 * guest library's tests: a small region, forced over whatever the path
 * holds, with the timing, mode and features a test needs.
 */
#ifndef PVS_TEST_HOSTREGION_H
#define PVS_TEST_HOSTREGION_H

#include <stdio.h>
#include <sys/types.h>

#include "region_host.h"

/* FEATURES 0: the host code's default set. */
static int tu_host_open(struct pvs_hregion *r, const char *path, uint32_t nr, uint32_t period_us,
                        uint32_t stale_us, mode_t mode, uint64_t features, const char *name)
{
	struct pvs_hregion_opts o = {
	        .size = 16 * 1024,
	        .nr_vcpus = nr,
	        .uid = (uid_t)-1,
	        .gid = (gid_t)-1,
	        .mode = mode,
	        .period_us = period_us,
	        .stale_after_us = stale_us,
	        .vm_name = name,
	        .host_features = features,
	        .force = 1,
	};
	char err[256];
	int rc = pvs_hregion_open(r, path, &o, err, sizeof(err));

	if (rc)
		printf("  pvs_hregion_open: %s\n", err);
	return rc;
}

#endif
