/* SPDX-License-Identifier: MIT */
/*
 * guest_probe - the guest half of the end-to-end test (tests/e2e).
 *
 * Runs inside a QEMU guest (started by the initramfs /init), statically
 * linked against libc and libpvsched only.  It opens the VM's pvsched region
 * with pvsched_open() (the library's PCI scan finds the ivshmem-plain BAR2),
 * keeps the vCPUs busy with spinning threads (an idle vCPU is never
 * "preempted": its host thread sleeps), and prints one machine-readable line
 * per interval, which the host script parses from the serial console:
 *
 *   PVS open path=/sys/bus/pci/devices/0000:00:04.0/resource2 source=pci ...
 *   PVS t_ms=200 alive=1 rc=0 preempted_now=0 preempted_avg_milli=12 ...
 *   PVS done samples=N
 *   PVS error=<pvsched_strerror(rc)> ...        (open failed)
 *
 * Usage: guest_probe [-d SECONDS] [-i INTERVAL_MS] [-b BUSY_THREADS]
 *                    [-w OPEN_WAIT_SECONDS]
 * A bare first argument is taken as SECONDS.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <pvsched/pvsched.h>

#include "guestutil.h"

#define MAX_BUSY       64
#define MAX_VCPU_PRINT 8

static atomic_int stop_busy;
static atomic_ullong busy_iters[MAX_BUSY];

/* A spinning thread at the lowest guest priority (guestutil.h). */
static void *busy_main(void *arg)
{
	size_t idx = (size_t)(uintptr_t)arg;

	lowest_priority();

	unsigned long long n = 0;
	while (!atomic_load_explicit(&stop_busy, memory_order_relaxed)) {
		for (volatile unsigned i = 0; i < 100000u; i++) {
		}
		n++;
		atomic_store_explicit(&busy_iters[idx], n, memory_order_relaxed);
	}
	return NULL;
}

/*
 * Diagnostics for a sample the library calls "not alive": map the region
 * read-only ourselves and show the header fields liveness depends on.
 */
static void describe_header(const char *path, char *buf, size_t len)
{
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0) {
		snprintf(buf, len, " diag=open_failed");
		return;
	}
	void *m = mmap(NULL, PVSCHED_HEADER_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		snprintf(buf, len, " diag=mmap_failed");
		return;
	}
	const volatile struct pvsched_header *h = m;
	snprintf(buf, len,
	         " diag_magic_ok=%d diag_state=%u diag_hb=%llu diag_stale_us=%u diag_period_us=%u"
	         " diag_instance=%llx verr=%s",
	         h->magic == PVSCHED_MAGIC, h->host_state, (unsigned long long)h->heartbeat,
	         h->stale_after_us, h->publish_period_us, (unsigned long long)h->host_instance,
	         pvsched_verr_str(pvsched_last_verr()));
	munmap(m, PVSCHED_HEADER_SIZE);
}

static const char *source_str(enum pvsched_source s)
{
	switch (s) {
	case PVSCHED_SRC_ENV: return "env";
	case PVSCHED_SRC_PCI: return "pci";
	case PVSCHED_SRC_DEV: return "dev";
	case PVSCHED_SRC_PATH: return "path";
	case PVSCHED_SRC_NONE: break;
	}
	return "none";
}

static void usage(const char *argv0)
{
	fprintf(stderr,
	        "usage: %s [-d SECONDS] [-i INTERVAL_MS] [-b BUSY_THREADS] [-w OPEN_WAIT_S] "
	        "[SECONDS]\n",
	        argv0);
}

int main(int argc, char **argv)
{
	long duration_s = 20, interval_ms = 200, nbusy = 2, open_wait_s = 15;
	int opt;

	setvbuf(stdout, NULL, _IOLBF, 0);

	while ((opt = getopt(argc, argv, "d:i:b:w:h")) != -1) {
		switch (opt) {
		case 'd': duration_s = strtol(optarg, NULL, 10); break;
		case 'i': interval_ms = strtol(optarg, NULL, 10); break;
		case 'b': nbusy = strtol(optarg, NULL, 10); break;
		case 'w': open_wait_s = strtol(optarg, NULL, 10); break;
		default: usage(argv[0]); return 2;
		}
	}
	if (optind < argc)
		duration_s = strtol(argv[optind], NULL, 10);
	if (duration_s < 1 || duration_s > 3600 || interval_ms < 10 || interval_ms > 10000 ||
	    nbusy < 0 || nbusy > MAX_BUSY || open_wait_s < 0 || open_wait_s > 600) {
		usage(argv[0]);
		return 2;
	}

	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	printf("PVS start duration_s=%ld interval_ms=%ld busy=%ld guest_cpus=%ld\n", duration_s,
	       interval_ms, nbusy, ncpu);

	/*
	 * Open the region.  The host agent may not have initialised it yet
	 * (QEMU creates the file zero-filled; pvschedd writes the header when
	 * it discovers the VM), so retry for a while before giving up.
	 */
	pvsched_guest *g = NULL;
	uint64_t t_open0 = pvs_mono_ms();
	int rc, tries = 0;
	for (;;) {
		tries++;
		rc = pvsched_open(&g);
		if (rc >= 0)
			break;
		if (pvs_mono_ms() - t_open0 >= (uint64_t)open_wait_s * 1000u) {
			printf("PVS error=%s rc=%d verr=%s tries=%d\n", pvsched_strerror(rc), rc,
			       pvsched_verr_str(pvsched_last_verr()), tries);
			return 1;
		}
		if (tries == 1)
			printf("PVS open_retry error=%s rc=%d verr=%s\n", pvsched_strerror(rc), rc,
			       pvsched_verr_str(pvsched_last_verr()));
		sleep_ms(250);
	}
	const char *path = pvsched_guest_path(g);
	printf("PVS open path=%s source=%s tries=%d wait_ms=%llu\n", path ? path : "(null)",
	       source_str(pvsched_guest_source(g)), tries,
	       (unsigned long long)(pvs_mono_ms() - t_open0));

	pthread_t th[MAX_BUSY];
	long started = 0;
	for (long i = 0; i < nbusy; i++) {
		if (pthread_create(&th[i], NULL, busy_main, (void *)(uintptr_t)i) != 0) {
			printf("PVS warn=pthread_create_failed index=%ld\n", i);
			break;
		}
		started++;
	}

	uint64_t t0 = pvs_mono_ms();
	uint64_t deadline = t0 + (uint64_t)duration_s * 1000u;
	uint64_t next = t0;
	unsigned long samples = 0;
	for (;;) {
		uint64_t now = pvs_mono_ms();
		if (now >= deadline)
			break;

		struct pvsched_vm_info vi;
		memset(&vi, 0, sizeof(vi));
		int alive = pvsched_host_alive(g);
		rc = pvsched_read_vm(g, &vi);

		char vcpus[MAX_VCPU_PRINT * 24] = "";
		size_t off = 0;
		for (uint32_t i = 0; i < vi.nr_vcpus && i < MAX_VCPU_PRINT; i++) {
			struct pvsched_vcpu_info ci;
			memset(&ci, 0, sizeof(ci));
			int vr = pvsched_read_vcpu(g, i, &ci);
			if (vr < 0 && vr != -ENOTCONN)
				continue; /* -ERANGE / -EBUSY: nothing consistent to show */
			int n = snprintf(vcpus + off, sizeof(vcpus) - off, "%s%u:%u", i ? "," : "",
			                 ci.state, ci.wait_milli);
			if (n < 0 || (size_t)n >= sizeof(vcpus) - off)
				break;
			off += (size_t)n;
		}

		unsigned long long busy = 0;
		for (long i = 0; i < started; i++)
			busy += atomic_load_explicit(&busy_iters[i], memory_order_relaxed);

		char diag[160] = "";
		if (alive != 1)
			describe_header(path, diag, sizeof(diag));

		printf("PVS t_ms=%llu alive=%d rc=%d preempted_now=%u preempted_avg_milli=%u "
		       "capacity_milli=%u dop=%u hb=%llu nr_vcpus=%u running_now=%u idle_now=%u "
		       "host_cpus=%u update_ns=%llu vcpus=%s busy=%llu%s\n",
		       (unsigned long long)(now - t0), alive, rc, vi.preempted_now,
		       vi.preempted_avg_milli, vi.capacity_milli, vi.recommended_dop,
		       (unsigned long long)vi.heartbeat, vi.nr_vcpus, vi.running_now, vi.idle_now,
		       vi.host_cpus, (unsigned long long)vi.update_ns, off ? vcpus : "-", busy,
		       diag);
		samples++;

		next += (uint64_t)interval_ms;
		now = pvs_mono_ms();
		if (next > now)
			sleep_ms((unsigned)(next - now));
		else
			next = now; /* fell behind (a starved vCPU): don't burst */
	}

	atomic_store(&stop_busy, 1);
	for (long i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pvsched_close(g);
	printf("PVS done samples=%lu\n", samples);
	return 0;
}
