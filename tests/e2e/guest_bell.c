/* SPDX-License-Identifier: MIT */
/*
 * guest_bell - the guest half of the doorbell test
 * (tests/e2e/test_doorbell_guest.py).
 *
 * Opens the region through libpvsched (the PCI scan: resource2, and the
 * device's registers in resource0), waits until the host offers the
 * doorbell (PVSCHED_F_DOORBELL, read from the header), then N times, on a
 * thread pinned to vCPU 0: pvsched_boost() (which rings), waits for the
 * host's GRANTED verdict, pvsched_unboost() (which rings), waits for NONE,
 * sleeps GAP_MS.  Reports on stdout:
 *
 *   BELL open source=pci path=... doorbell=0x10000 features=0x3f
 *   BELL i=0 granted_us=850 released_us=700
 *   BELL done n=5 granted=5 released=5 max_granted_us=... max_released_us=...
 *
 * A verdict that does not come within 5 s counts as missing.
 * Usage: guest_bell [-n N] [-g GAP_MS]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pvsched/pvsched.h>

#include "guestutil.h"

/* Wait up to 5 s for the verdict WANT; its delay in us, or -1. */
static long wait_state(pvsched_guest *g, int want, uint64_t t0)
{
	while (pvs_mono_us() - t0 < 5000000u) {
		if (pvsched_boost_state(g) == want)
			return (long)(pvs_mono_us() - t0);
		usleep(50);
	}
	return -1;
}

int main(int argc, char **argv)
{
	long n = 5, gap_ms = 300, max_g = 0, max_r = 0;
	int granted = 0, released = 0, opt, rc = -1, fd;
	const volatile struct pvsched_header *h;
	pvsched_guest *g = NULL;
	cpu_set_t set;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "n:g:")) != -1) {
		switch (opt) {
		case 'n': n = strtol(optarg, NULL, 10); break;
		case 'g': gap_ms = strtol(optarg, NULL, 10); break;
		default: fprintf(stderr, "usage: %s [-n N] [-g GAP_MS]\n", argv[0]); return 2;
		}
	}
	if (n < 1 || n > 1000 || gap_ms < 0 || gap_ms > 10000) {
		fprintf(stderr, "usage: %s [-n N] [-g GAP_MS]\n", argv[0]);
		return 2;
	}
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		printf("BELL warn=pin_failed errno=%d\n", errno);
	for (int i = 0; i < 60 && (rc = pvsched_open(&g)) < 0; i++)
		sleep_ms(250);
	if (rc < 0) {
		printf("BELL error=%s\n", pvsched_strerror(rc));
		return 1;
	}
	/* the header as the host writes it, for host_features and doorbell */
	fd = open(pvsched_guest_path(g), O_RDONLY | O_CLOEXEC);
	h = fd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED) {
		printf("BELL error=cannot_map_header path=%s\n", pvsched_guest_path(g));
		return 1;
	}
	close(fd);
	for (int i = 0; i < 200 && !(h->host_features & PVSCHED_F_DOORBELL); i++)
		sleep_ms(50);
	printf("BELL open source=%d path=%s doorbell=%#x features=%#llx\n",
	       (int)pvsched_guest_source(g), pvsched_guest_path(g), h->doorbell,
	       (unsigned long long)h->host_features);
	for (long i = 0; i < n; i++) {
		uint64_t t0 = pvs_mono_us();
		long gu, ru;

		rc = pvsched_boost(g);
		if (rc < 0) {
			printf("BELL i=%ld error=%s\n", i, pvsched_strerror(rc));
			break;
		}
		gu = wait_state(g, PVSCHED_BOOST_GRANTED, t0);
		t0 = pvs_mono_us();
		pvsched_unboost(g);
		ru = wait_state(g, PVSCHED_BOOST_NONE, t0);
		printf("BELL i=%ld granted_us=%ld released_us=%ld\n", i, gu, ru);
		granted += gu >= 0;
		released += ru >= 0;
		max_g = gu > max_g ? gu : max_g;
		max_r = ru > max_r ? ru : max_r;
		sleep_ms((unsigned)gap_ms);
	}
	printf("BELL done n=%ld granted=%d released=%d max_granted_us=%ld max_released_us=%ld\n", n,
	       granted, released, max_g, max_r);
	pvsched_close(g);
	return 0;
}
