/* SPDX-License-Identifier: MIT */
/*
 * guest_omp - the OpenMP half of the end-to-end test's guest (tests/e2e).
 *
 * An ordinary OpenMP program (GCC, libgomp, dynamically linked; it knows
 * nothing of pvsched): it runs one small parallel region per interval and
 * prints the team size libgomp gave it.  Run in the guest as
 *
 *   OMP_DYNAMIC=true LD_PRELOAD=/opt/pvsched/lib/libpvsched-omp.so guest_omp
 *
 * the team follows the host's advice (the preload answers libgomp's
 * getloadavg()); the host script parses the serial console:
 *
 *   PVS omp start max_threads=2 dynamic=1 procs=2 preload=/opt/...
 *   PVS omp t_ms=250 team=2 max_threads=2
 *   PVS omp done regions=N
 *
 * Usage: guest_omp [-d SECONDS] [-i INTERVAL_MS] [-n REGIONS]
 * It stops after SECONDS (default 20) or REGIONS regions (default: no
 * limit), whichever comes first.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "guestutil.h"

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-d SECONDS] [-i INTERVAL_MS] [-n REGIONS]\n", argv0);
}

int main(int argc, char **argv)
{
	long duration_s = 20, interval_ms = 250, max_regions = 0;
	static double work[4096];
	int opt;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "d:i:n:h")) != -1) {
		switch (opt) {
		case 'd': duration_s = strtol(optarg, NULL, 10); break;
		case 'i': interval_ms = strtol(optarg, NULL, 10); break;
		case 'n': max_regions = strtol(optarg, NULL, 10); break;
		default: usage(argv[0]); return 2;
		}
	}
	if (optind != argc || duration_s < 1 || duration_s > 3600 || interval_ms < 1 ||
	    interval_ms > 10000 || max_regions < 0) {
		usage(argv[0]);
		return 2;
	}

	const char *preload = getenv("LD_PRELOAD");
	printf("PVS omp start max_threads=%d dynamic=%d procs=%d preload=%s\n",
	       omp_get_max_threads(), omp_get_dynamic(), omp_get_num_procs(),
	       preload && *preload ? preload : "-");

	uint64_t t0 = pvs_mono_ms(), deadline = t0 + (uint64_t)duration_s * 1000u, next = t0;
	long regions = 0;
	double sum = 0;
	while (pvs_mono_ms() < deadline && (max_regions == 0 || regions < max_regions)) {
		int team = 0;
#pragma omp parallel
		{
#pragma omp single
			team = omp_get_num_threads();
			/* a little work-shared work, so every member really runs */
#pragma omp for schedule(static) reduction(+ : sum)
			for (long i = 0; i < 4096; i++) {
				work[i] = work[i] * 0.5 + (double)(i % 7);
				sum += work[i];
			}
		}
		regions++;
		printf("PVS omp t_ms=%llu team=%d max_threads=%d\n",
		       (unsigned long long)(pvs_mono_ms() - t0), team, omp_get_max_threads());

		next += (uint64_t)interval_ms;
		uint64_t now = pvs_mono_ms();
		if (next > now)
			sleep_ms((unsigned)(next - now));
		else
			next = now; /* fell behind (a starved vCPU): don't burst */
	}
	printf("PVS omp done regions=%ld checksum=%.1f\n", regions, sum);
	return 0;
}
