/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/gen_region_seeds.c - writes the seed corpus of fuzz_region
 * (tests/fuzz/corpus/region/) from regions made by the real host code:
 *   gen_region_seeds OUTDIR
 * Built by meson but not run by it: the seeds are committed.  Re-run it
 * after an ABI change and commit the result.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "region_host.h"

static const char *outdir;

static void save(const char *name, const void *mem, size_t len)
{
	char p[4096];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", outdir, name);
	f = fopen(p, "wb");
	if (!f || fwrite(mem, 1, len, f) != len || fclose(f) != 0) {
		perror(p);
		exit(1);
	}
	printf("%s (%zu bytes)\n", p, len);
}

/* A region of SIZE bytes with NR vCPUs and some published values, copied
 * into a malloc'd buffer. */
static unsigned char *make(size_t size, uint32_t nr)
{
	char tmpl[] = "/tmp/pvsched-seed-XXXXXX", err[256];
	struct pvs_hregion_opts o = {
	        .size = size,
	        .nr_vcpus = nr,
	        .uid = (uid_t)-1,
	        .gid = (gid_t)-1,
	        .mode = 0600,
	        .period_us = 10000,
	        .stale_after_us = 100000,
	        .vm_name = "seed",
	};
	struct pvs_hregion r;
	struct pvsched_vm v = {.update_ns = 1000000000ull,
	                       .preempted_now = 1,
	                       .preempted_avg_milli = 800,
	                       .capacity_milli = 1500,
	                       .recommended_dop = 2,
	                       .running_now = 1,
	                       .idle_now = 0,
	                       .window_us = 250000,
	                       .publish_period_us = 10000,
	                       .host_cpus = 2};
	unsigned char *copy;
	int fd = mkstemp(tmpl);

	if (fd < 0) {
		perror("mkstemp");
		exit(1);
	}
	close(fd);
	unlink(tmpl);
	if (pvs_hregion_open(&r, tmpl, &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	pvs_hregion_publish_vm(&r, &v);
	for (uint32_t i = 0; i < nr; i++) {
		struct pvsched_vcpu_host c = {.state = 1 + i % 3,
		                              .run_ns = 1000000ull * (i + 1),
		                              .wait_ns = 500000ull * i,
		                              .preemptions = i,
		                              .update_ns = 1000000000ull,
		                              .wait_milli = 100 * (i % 10),
		                              .run_milli = 900 - 100 * (i % 10)};
		pvs_hregion_publish_vcpu(&r, i, &c);
	}
	pvs_hregion_heartbeat(&r, 1000000000ull);
	copy = malloc(size);
	memcpy(copy, r.mem, size);
	/* fixed instance and no name variance: deterministic seeds */
	((struct pvsched_header *)copy)->host_instance = 0x1234567890abcdefull;
	pvs_hregion_close(&r);
	unlink(tmpl);
	return copy;
}

int main(int argc, char **argv)
{
	unsigned char *m;
	struct pvsched_header *h;

	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];

	m = make(8192, 2);
	save("active-2vcpus", m, 8192);
	save("truncated-4k", m, 4096);
	save("header-only", m, 256);
	h = (struct pvsched_header *)m;
	h->host_state = PVSCHED_HOST_DETACHED;
	save("detached", m, 8192);
	h->host_state = PVSCHED_HOST_NONE;
	save("host-none", m, 8192);
	h->host_state = PVSCHED_HOST_ACTIVE;
	h->minor = 3;
	h->host_features |= 1ull << 5;
	save("minor3-features", m, 8192);
	h->magic = 0;
	save("bad-magic", m, 8192);
	free(m);

	m = make(8192, 16);
	save("active-max-vcpus", m, 8192);
	h = (struct pvsched_header *)m;
	h->header_size = 512;
	h->vm_offset = 512;
	h->vm_size = 512;
	h->vcpu_offset = 4096;
	h->vcpu_stride = 512;
	h->max_vcpus = 8;
	h->nr_vcpus = 8;
	save("grown-layout", m, 8192);
	free(m);

	m = make(16384, 5);
	h = (struct pvsched_header *)m;
	((struct pvsched_vm *)(m + h->vm_offset))->seq |= 1;
	save("region-16k-odd-seq", m, 16384);
	free(m);
	return 0;
}
