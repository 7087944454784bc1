/* SPDX-License-Identifier: MIT */
/*
 * tools/procvm.c - pvsched-procvm: a "process VM" for demos, tests and
 * benchmarks.  Its threads (named vcpu0, vcpu1, ...) play vCPUs: they spin
 * (busy), sleep (idle), or alternate.  With --watch it also plays the guest:
 * it opens the region ($PVSCHED_REGION or --region) with libpvsched and
 * prints what the host publishes.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvsched/pvsched.h>

#include "pvs_clock.h"

static volatile sig_atomic_t stop;
static int mode_busy = 1;

static void on_signal(int s)
{
	(void)s;
	stop = 1;
}

static double now_s(void)
{
	return (double)pvs_mono_ns() / 1e9;
}

static void *vcpu(void *arg)
{
	char name[16];
	volatile unsigned long x = 0;

	snprintf(name, sizeof(name), "vcpu%ld", (long)(intptr_t)arg);
	pthread_setname_np(pthread_self(), name);
	while (!stop) {
		if (mode_busy) {
			for (int i = 0; i < 100000; i++)
				x++;
		} else {
			usleep(10000);
		}
	}
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: pvsched-procvm [OPTIONS]\n"
	           "A process whose threads play a VM's vCPUs (for pvschedd demos and tests).\n"
	           "\n"
	           "  -t, --threads N     vCPU threads (default 2), named vcpu0..vcpuN-1\n"
	           "  -i, --idle          threads sleep instead of spinning\n"
	           "  -d, --duration S    exit after S seconds (default: until SIGTERM)\n"
	           "  -w, --watch MS      print the region's VM values every MS ms\n"
	           "  -r, --region PATH   region file for --watch (default $PVSCHED_REGION)\n"
	           "  -h, --help          this help\n");
}

int main(int argc, char **argv)
{
	static const struct option o[] = {{"threads", required_argument, NULL, 't'},
	                                  {"idle", no_argument, NULL, 'i'},
	                                  {"duration", required_argument, NULL, 'd'},
	                                  {"watch", required_argument, NULL, 'w'},
	                                  {"region", required_argument, NULL, 'r'},
	                                  {"help", no_argument, NULL, 'h'},
	                                  {NULL, 0, NULL, 0}};
	int nthreads = 2, watch_ms = 0, opt;
	double duration = 0, t0;
	const char *region = NULL;
	pthread_t th[256];
	pvsched_guest *g = NULL;

	while ((opt = getopt_long(argc, argv, "t:id:w:r:h", o, NULL)) != -1) {
		switch (opt) {
		case 't': nthreads = atoi(optarg); break;
		case 'i': mode_busy = 0; break;
		case 'd': duration = atof(optarg); break;
		case 'w': watch_ms = atoi(optarg); break;
		case 'r': region = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (nthreads < 1 || nthreads > 256 || watch_ms < 0 || duration < 0) {
		fprintf(stderr, "pvsched-procvm: --threads must be 1..256, durations >= 0\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, vcpu, (void *)(intptr_t)i)) {
			fprintf(stderr, "pvsched-procvm: pthread_create failed\n");
			return 1;
		}
	printf("pid %d: %d %s vCPU threads\n", (int)getpid(), nthreads,
	       mode_busy ? "busy" : "idle");
	fflush(stdout);
	t0 = now_s();
	while (!stop && (duration == 0 || now_s() - t0 < duration)) {
		if (watch_ms) {
			struct pvsched_vm_info vi;
			int rc;
			if (!g) {
				rc = region ? pvsched_open_path(&g, region) : pvsched_open(&g);
				if (rc < 0) {
					printf("t=%.1f region: %s\n", now_s() - t0,
					       pvsched_strerror(rc));
					g = NULL;
				}
			}
			if (g) {
				rc = pvsched_read_vm(g, &vi);
				printf("t=%.1f %s preempted_now=%u preempted_avg=%.2f "
				       "capacity=%.2f dop=%u\n",
				       now_s() - t0, rc == 0 ? "live" : pvsched_strerror(rc),
				       vi.preempted_now, vi.preempted_avg_milli / 1000.0,
				       vi.capacity_milli / 1000.0, vi.recommended_dop);
			}
			fflush(stdout);
			usleep((useconds_t)watch_ms * 1000);
		} else {
			usleep(50000);
		}
	}
	stop = 1;
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	pvsched_close(g);
	return 0;
}
