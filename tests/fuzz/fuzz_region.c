/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_region.c - libFuzzer target for the region validator and
 * the guest read path.
 *
 * The input is a region mapping.  It is copied into a page-aligned buffer
 * of exactly its size (so ASan sees any read past the mapping) and
 * validated.  When the validator accepts it, the same bytes are put in a
 * memfd and opened through pvsched_open_path (the guest library's real
 * mmap path), and the VM block and a few vCPU slots are read: nothing the
 * validator accepted may make a read go out of bounds.  Invariants that
 * the API promises are checked and abort() when broken.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pvsched/pvsched.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;

static void must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_region: invariant broken: %s\n", what);
		abort();
	}
}

/* The readers spin while a sequence counter is odd (and give up after a
 * bounded number of retries): make the counters even so that a run costs
 * microseconds; the odd case is covered by the unit tests. */
static void even_seqs(uint8_t *m, size_t len, const struct pvsched_header *h)
{
	uint32_t *s;

	if ((uint64_t)h->vm_offset + 4 <= len) {
		s = (uint32_t *)(m + h->vm_offset);
		*s &= ~1u;
	}
	for (uint32_t i = 0; i < h->max_vcpus && i < 64; i++) {
		uint64_t off = h->vcpu_offset + (uint64_t)i * h->vcpu_stride;
		if (off + 4 > len)
			break;
		s = (uint32_t *)(m + off);
		*s &= ~1u;
	}
}

static void read_through_guest(uint8_t *m, size_t len)
{
	const struct pvsched_header *h = (const struct pvsched_header *)m;
	pvsched_guest *g = NULL;
	struct pvsched_vm_info vi;
	struct pvsched_vcpu_info ci;
	char path[64];
	int rc;

	even_seqs(m, len, h);
	if (memfd < 0) {
		memfd = memfd_create("fuzz-region", MFD_CLOEXEC);
		must(memfd >= 0, "memfd_create");
	}
	must(ftruncate(memfd, 0) == 0, "ftruncate");
	must(pwrite(memfd, m, len, 0) == (ssize_t)len, "pwrite");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	rc = pvsched_open_path(&g, path);
	must(rc == 0, "a region that validates opens");
	must(pvsched_last_verr() == PVSCHED_V_OK, "last_verr OK after a good open");

	rc = pvsched_read_vm(g, &vi);
	must(rc == 0 || rc == -ENOTCONN, "read_vm: 0 or -ENOTCONN");
	must(vi.nr_vcpus <= h->max_vcpus, "read_vm caps nr_vcpus at max_vcpus");
	rc = pvsched_host_alive(g);
	must(rc == 0 || rc == 1, "host_alive 0/1");
	must(rc == 0 || h->host_state == PVSCHED_HOST_ACTIVE, "alive only when ACTIVE");

	uint32_t idx[] = {
	        0, 1, vi.nr_vcpus ? vi.nr_vcpus - 1 : 0, vi.nr_vcpus, h->max_vcpus, UINT32_MAX};
	for (size_t i = 0; i < sizeof(idx) / sizeof(idx[0]); i++) {
		rc = pvsched_read_vcpu(g, idx[i], &ci);
		if (idx[i] >= h->nr_vcpus || idx[i] >= h->max_vcpus) {
			must(rc == -ERANGE, "out-of-range vCPU index gives -ERANGE");
			continue;
		}
		must(rc == 0 || rc == -ENOTCONN, "read_vcpu: 0 or -ENOTCONN");
		must(ci.state <= PVSCHED_VCPU_STATE_MAX, "state within the ABI");
	}
	pvsched_close(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum pvsched_verr why = PVSCHED_V__COUNT;
	uint8_t *m = NULL;
	int rc;

	if (size > (1u << 20))
		return 0; /* keep runs cheap: 1 MiB is the default region */
	if (size && posix_memalign((void **)&m, 4096, size) != 0)
		return 0;
	if (size)
		memcpy(m, data, size);
	rc = pvsched_region_validate(m, size, &why);
	must(rc <= 0, "validate returns 0 or -errno");
	must((rc == 0) == (why == PVSCHED_V_OK), "why is OK exactly when valid");
	must(why < PVSCHED_V__COUNT, "why is a known code");
	must(pvsched_verr_str(why) && *pvsched_verr_str(why), "every code has a string");
	must(rc == 0 || rc == -EBADMSG || rc == -EPROTONOSUPPORT || rc == -EPROTO ||
	             rc == -EMSGSIZE,
	     "documented errno");
	if (rc == 0) {
		const struct pvsched_header *h = (const struct pvsched_header *)m;
		must(h->region_size <= size, "valid: region within the mapping");
		must((uint64_t)h->vcpu_offset + (uint64_t)h->max_vcpus * h->vcpu_stride <=
		             h->region_size,
		     "valid: every slot within the region");
		must((uint64_t)h->vm_offset + h->vm_size <= h->vcpu_offset,
		     "valid: vm block before the slots");
		read_through_guest(m, size);
	}
	free(m);
	return 0;
}
