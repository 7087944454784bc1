/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_validate.c - pvsched_region_validate on a header that
 * pvs_hregion_open wrote, with one field corrupted at a time: each field
 * has its own enum pvsched_verr code and a negative errno; what the ABI
 * says a reader must accept (feature bits it does not know, a higher minor,
 * nonzero reserved fields, a header grown by a later minor) is accepted.
 */
#include <pvsched/pvsched.h>

#include "check.h"
#include "hostregion.h"
#include "testutil.h"

#define RSIZE  (16u * 1024u)
#define NR     2u
#define PERIOD 10000u
#define STALE  100000u

static unsigned char *pristine;
static unsigned char *buf;
static int seen[PVSCHED_V__COUNT];

static struct pvsched_header *H(void)
{
	return (struct pvsched_header *)buf;
}

static void setup(void)
{
	struct pvs_hregion r;
	if (pristine)
		return;
	REQUIRE(TU_HOST(&r, tu_path("region"), .size = RSIZE, .nr = NR, .period_us = PERIOD,
	                .stale_us = STALE, .name = "validate") == 0);
	REQUIRE(posix_memalign((void **)&pristine, 4096, RSIZE) == 0);
	REQUIRE(posix_memalign((void **)&buf, 4096, RSIZE) == 0);
	memcpy(pristine, r.mem, RSIZE);
	pvs_hregion_close(&r);
	/* the copy is from before close: host_state ACTIVE */
	REQUIRE(((struct pvsched_header *)pristine)->host_state == PVSCHED_HOST_ACTIVE);
}

static void reset(void)
{
	setup();
	memcpy(buf, pristine, RSIZE);
}

static const char *errname(int rc)
{
	switch (rc) {
	case 0: return "0";
	case -EBADMSG: return "-EBADMSG";
	case -EPROTONOSUPPORT: return "-EPROTONOSUPPORT";
	case -EPROTO: return "-EPROTO";
	case -EMSGSIZE: return "-EMSGSIZE";
	default: return "other";
	}
}

/* Validate the current buffer: expect code WANT and errno WANT_RC. */
static void expect_(const char *what, size_t maplen, enum pvsched_verr want, int want_rc,
                    const char *file, int line)
{
	enum pvsched_verr why = PVSCHED_V__COUNT;
	int rc = pvsched_region_validate(buf, maplen, &why);

	chk_report(rc == want_rc && why == want, 0, file, line,
	           "%-42s -> %s (%s)  [got %d: %s, %s]", what, errname(want_rc),
	           pvsched_verr_str(want), (int)why, pvsched_verr_str(why), errname(rc));
	if (rc < 0 && why < PVSCHED_V__COUNT)
		seen[why] = 1;
	/* the same verdict without the WHY pointer */
	chk_report(pvsched_region_validate(buf, maplen, NULL) == rc, 1, file, line,
	           "same result with why == NULL");
}
#define EXPECT(what, want, rc)          expect_(what, RSIZE, want, rc, __FILE__, __LINE__)
#define EXPECT_LEN(what, len, want, rc) expect_(what, len, want, rc, __FILE__, __LINE__)

static void t_valid(void)
{
	reset();
	EXPECT("pristine header from pvs_hregion_open", PVSCHED_V_OK, 0);
	H()->region_size = RSIZE / 2;
	H()->max_vcpus = PVSCHED_VCPUS_FOR_SIZE(RSIZE / 2);
	EXPECT("region_size half the mapping", PVSCHED_V_OK, 0);
	reset();
	H()->host_state = PVSCHED_HOST_DETACHED;
	EXPECT("host_state DETACHED is valid", PVSCHED_V_OK, 0);
	H()->host_state = PVSCHED_HOST_NONE;
	EXPECT("host_state NONE is valid", PVSCHED_V_OK, 0);
	H()->publish_period_us = 0;
	H()->stale_after_us = 0;
	EXPECT("period/stale 0 ignored while not ACTIVE", PVSCHED_V_OK, 0);
	reset();
	H()->nr_vcpus = 0;
	EXPECT("nr_vcpus 0", PVSCHED_V_OK, 0);
	H()->nr_vcpus = H()->max_vcpus;
	EXPECT("nr_vcpus == max_vcpus", PVSCHED_V_OK, 0);
	reset();
	H()->publish_period_us = 10u * 1000 * 1000;
	H()->stale_after_us = 10u * 1000 * 1000;
	EXPECT("publish_period_us 10 s (the maximum)", PVSCHED_V_OK, 0);
	H()->stale_after_us = UINT32_MAX;
	EXPECT("stale_after_us huge", PVSCHED_V_OK, 0);
}

static void t_magic(void)
{
	reset();
	H()->magic ^= 1;
	EXPECT("magic off by one bit", PVSCHED_V_MAGIC, -EBADMSG);
	H()->magic = 0;
	EXPECT("magic zero (region being initialised)", PVSCHED_V_MAGIC, -EBADMSG);
	memset(buf, 0, RSIZE);
	EXPECT("all-zero mapping (fresh ivshmem file)", PVSCHED_V_MAGIC, -EBADMSG);
}

static void t_major(void)
{
	reset();
	H()->major = PVSCHED_ABI_MAJOR + 1;
	EXPECT("major 2", PVSCHED_V_MAJOR, -EPROTONOSUPPORT);
	H()->major = 0;
	EXPECT("major 0", PVSCHED_V_MAJOR, -EPROTONOSUPPORT);
}

static void t_header_size(void)
{
	reset();
	H()->header_size = PVSCHED_HEADER_SIZE - 64;
	EXPECT("header_size 192 (< v1 header)", PVSCHED_V_HEADER_SIZE, -EPROTO);
	H()->header_size = 0;
	EXPECT("header_size 0", PVSCHED_V_HEADER_SIZE, -EPROTO);
	H()->header_size = H()->vm_offset + 64;
	EXPECT("header_size past vm_offset", PVSCHED_V_HEADER_SIZE, -EPROTO);
	H()->header_size = UINT32_MAX;
	EXPECT("header_size 4 GiB", PVSCHED_V_HEADER_SIZE, -EPROTO);
}

static void t_region_size(void)
{
	reset();
	H()->region_size = RSIZE - 4096;
	EXPECT("region_size 12 KiB (not a power of two)", PVSCHED_V_REGION_SIZE, -EPROTO);
	H()->region_size = 4096;
	EXPECT("region_size 4 KiB (< 8 KiB minimum)", PVSCHED_V_REGION_SIZE, -EPROTO);
	H()->region_size = 0;
	EXPECT("region_size 0", PVSCHED_V_REGION_SIZE, -EPROTO);
	H()->region_size = (uint64_t)RSIZE * 2;
	EXPECT("region_size larger than the mapping", PVSCHED_V_REGION_SIZE, -EMSGSIZE);
	H()->region_size = 2ull << 30;
	EXPECT("region_size 2 GiB (> 1 GiB maximum)", PVSCHED_V_REGION_SIZE, -EMSGSIZE);
	H()->region_size = 1ull << 63;
	EXPECT("region_size 2^63", PVSCHED_V_REGION_SIZE, -EMSGSIZE);
	reset();
	EXPECT_LEN("mapping shorter than region_size", RSIZE / 2, PVSCHED_V_REGION_SIZE, -EMSGSIZE);
}

static void t_vm_offset(void)
{
	reset();
	H()->vm_offset = PVSCHED_VM_OFFSET + 4;
	EXPECT("vm_offset 260 (not cache-line aligned)", PVSCHED_V_VM_OFFSET, -EPROTO);
	H()->vm_offset = RSIZE;
	EXPECT("vm_offset == region_size", PVSCHED_V_VM_OFFSET, -EPROTO);
	H()->vm_offset = UINT32_MAX - 63;
	EXPECT("vm_offset 4 GiB - 64", PVSCHED_V_VM_OFFSET, -EPROTO);
}

/* A vm_offset inside the header is a bad vm_offset, not a bad header_size:
 * the header_size checks only make sense against a plausible vm_offset. */
static void t_vm_offset_overlap(void)
{
	reset();
	H()->vm_offset = 0;
	EXPECT("vm_offset 0 (the header)", PVSCHED_V_VM_OFFSET, -EPROTO);
	H()->vm_offset = 128;
	EXPECT("vm_offset 128 (inside the header)", PVSCHED_V_VM_OFFSET, -EPROTO);
}

static void t_vm_size(void)
{
	reset();
	H()->vm_size = PVSCHED_VM_SIZE - 64;
	EXPECT("vm_size 192 (< v1 block)", PVSCHED_V_VM_SIZE, -EPROTO);
	H()->vm_size = 0;
	EXPECT("vm_size 0", PVSCHED_V_VM_SIZE, -EPROTO);
	H()->vm_size = PVSCHED_VM_SIZE + 8;
	EXPECT("vm_size 264 (not a cache-line multiple)", PVSCHED_V_VM_SIZE, -EPROTO);
	H()->vm_size = RSIZE;
	EXPECT("vm block past region end", PVSCHED_V_VM_SIZE, -EPROTO);
	H()->vm_size = UINT32_MAX - 63;
	EXPECT("vm_size 4 GiB - 64 (offset+size overflows 32 bits)", PVSCHED_V_VM_SIZE, -EPROTO);
}

static void t_vcpu_offset(void)
{
	reset();
	H()->vcpu_offset = PVSCHED_VM_OFFSET;
	EXPECT("vcpu_offset on the vm block", PVSCHED_V_VCPU_OFFSET, -EPROTO);
	H()->vcpu_offset = 0;
	EXPECT("vcpu_offset 0 (the header)", PVSCHED_V_VCPU_OFFSET, -EPROTO);
	H()->vcpu_offset = PVSCHED_VCPU_OFFSET + 8;
	EXPECT("vcpu_offset not cache-line aligned", PVSCHED_V_VCPU_OFFSET, -EPROTO);
	H()->vcpu_offset = RSIZE;
	EXPECT("vcpu_offset == region_size", PVSCHED_V_VCPU_OFFSET, -EPROTO);
}

static void t_vcpu_stride(void)
{
	reset();
	H()->vcpu_stride = 128;
	EXPECT("vcpu_stride 128 (< v1 slot)", PVSCHED_V_VCPU_STRIDE, -EPROTO);
	H()->vcpu_stride = 0;
	EXPECT("vcpu_stride 0", PVSCHED_V_VCPU_STRIDE, -EPROTO);
	H()->vcpu_stride = PVSCHED_VCPU_STRIDE + 32;
	EXPECT("vcpu_stride 288 (not a cache-line multiple)", PVSCHED_V_VCPU_STRIDE, -EPROTO);
}

static void t_max_vcpus(void)
{
	reset();
	H()->max_vcpus = 0;
	EXPECT("max_vcpus 0", PVSCHED_V_MAX_VCPUS, -EPROTO);
	H()->max_vcpus = PVSCHED_VCPUS_FOR_SIZE(RSIZE) + 1;
	EXPECT("max_vcpus one more than fits", PVSCHED_V_MAX_VCPUS, -EPROTO);
	H()->max_vcpus = UINT32_MAX;
	EXPECT("max_vcpus 2^32-1", PVSCHED_V_MAX_VCPUS, -EPROTO);
	reset();
	H()->vcpu_stride = 2 * PVSCHED_VCPU_STRIDE;
	EXPECT("stride doubled: max_vcpus no longer fits", PVSCHED_V_MAX_VCPUS, -EPROTO);
}

static void t_nr_vcpus(void)
{
	reset();
	H()->nr_vcpus = H()->max_vcpus + 1;
	EXPECT("nr_vcpus max_vcpus+1", PVSCHED_V_NR_VCPUS, -EPROTO);
	H()->nr_vcpus = UINT32_MAX;
	EXPECT("nr_vcpus 2^32-1", PVSCHED_V_NR_VCPUS, -EPROTO);
}

static void t_host_state(void)
{
	reset();
	H()->host_state = PVSCHED_HOST_DETACHED + 1;
	EXPECT("host_state 3", PVSCHED_V_HOST_STATE, -EPROTO);
	H()->host_state = UINT32_MAX;
	EXPECT("host_state 2^32-1", PVSCHED_V_HOST_STATE, -EPROTO);
}

static void t_period(void)
{
	reset();
	H()->publish_period_us = 0;
	EXPECT("publish_period_us 0 while ACTIVE", PVSCHED_V_PERIOD, -EPROTO);
	H()->publish_period_us = 10u * 1000 * 1000 + 1;
	H()->stale_after_us = UINT32_MAX;
	EXPECT("publish_period_us > 10 s", PVSCHED_V_PERIOD, -EPROTO);
}

static void t_stale_after(void)
{
	reset();
	H()->stale_after_us = PERIOD - 1;
	EXPECT("stale_after_us < publish_period_us", PVSCHED_V_STALE_AFTER, -EPROTO);
	H()->stale_after_us = 0;
	EXPECT("stale_after_us 0", PVSCHED_V_STALE_AFTER, -EPROTO);
}

static void t_short(void)
{
	enum pvsched_verr why = PVSCHED_V__COUNT;

	reset();
	EXPECT_LEN("mapping of 255 bytes", PVSCHED_HEADER_SIZE - 1, PVSCHED_V_SHORT, -EMSGSIZE);
	EXPECT_LEN("mapping of 0 bytes", 0, PVSCHED_V_SHORT, -EMSGSIZE);
	CHECK_EQ(pvsched_region_validate(NULL, RSIZE, &why), -EMSGSIZE);
	CHECK_EQ(why, PVSCHED_V_SHORT);
	/* a full header but a mapping smaller than the minimum region */
	EXPECT_LEN("mapping of 4 KiB with a 16 KiB header", 4096, PVSCHED_V_REGION_SIZE, -EMSGSIZE);
}

/* Run last (meson runs each case on its own, so this replays them). */
static void t_distinct_codes(void)
{
	int n = 0;

	t_magic();
	t_major();
	t_header_size();
	t_region_size();
	t_vm_offset();
	t_vm_size();
	t_vcpu_offset();
	t_vcpu_stride();
	t_max_vcpus();
	t_nr_vcpus();
	t_host_state();
	t_period();
	t_stale_after();
	t_short();
	NOTE("every rejection code was produced by its own corruption");
	for (int c = 1; c < PVSCHED_V__COUNT; c++) {
		CHECKM(seen[c], "code %d (%s) produced", c, pvsched_verr_str((enum pvsched_verr)c));
		n += seen[c];
	}
	CHECK_EQ(n, PVSCHED_V__COUNT - 1);
}

static void t_verr_str(void)
{
	const char *unknown = pvsched_verr_str(PVSCHED_V__COUNT);

	NOTE("every code has its own non-empty description");
	for (int a = 0; a < PVSCHED_V__COUNT; a++) {
		const char *s = pvsched_verr_str((enum pvsched_verr)a);
		CHECKM(s && *s, "pvsched_verr_str(%d) = \"%s\"", a, s ? s : "(null)");
		CHECKQM(strcmp(s, unknown) != 0, "code %d is not \"%s\"", a, unknown);
		for (int b = 0; b < a; b++)
			CHECKQM(strcmp(s, pvsched_verr_str((enum pvsched_verr)b)) != 0,
			        "codes %d and %d differ", a, b);
	}
	CHECK(unknown && *unknown);
	CHECK_STR(pvsched_verr_str((enum pvsched_verr)1000), unknown);
}

static void t_accepted(void)
{
	reset();
	H()->host_features |= 1ull << 40 | 1ull << 63;
	EXPECT("unknown host feature bits", PVSCHED_V_OK, 0);
	H()->minor = PVSCHED_ABI_MINOR + 7;
	EXPECT("higher minor version", PVSCHED_V_OK, 0);
	H()->minor = UINT16_MAX;
	EXPECT("minor 65535", PVSCHED_V_OK, 0);
	H()->reserved0 = 0xdeadbeef;
	memset(H()->reserved1, 0xa5, sizeof(H()->reserved1));
	EXPECT("nonzero host reserved fields are ignored", PVSCHED_V_OK, 0);
	H()->guest_features = ~0ull;
	H()->guest_major = 99;
	H()->boost_gen = 1;
	EXPECT("whatever the guest wrote in its line", PVSCHED_V_OK, 0);

	reset();
	H()->header_size = 512;
	H()->vm_offset = 512;
	H()->vm_size = 1024;
	H()->vcpu_offset = 8192;
	H()->vcpu_stride = 512;
	H()->max_vcpus = (RSIZE - 8192) / 512;
	H()->nr_vcpus = H()->max_vcpus;
	EXPECT("a layout grown by a later minor version", PVSCHED_V_OK, 0);
}

/* The guest library's open path reports the same code. */
static void t_open_path_verr(void)
{
	pvsched_guest *g = NULL;
	const char *p = tu_path("corrupt");

	reset();
	H()->vcpu_stride = 64;
	REQUIRE(tu_write_file(p, buf, RSIZE, 0600) == 0);
	CHECK_EQ(pvsched_open_path(&g, p), -EPROTO);
	CHECK(g == NULL);
	CHECK_EQ(pvsched_last_verr(), PVSCHED_V_VCPU_STRIDE);

	reset();
	H()->magic = 0;
	REQUIRE(tu_write_file(p, buf, RSIZE, 0600) == 0);
	CHECK_EQ(pvsched_open_path(&g, p), -EBADMSG);
	CHECK_EQ(pvsched_last_verr(), PVSCHED_V_MAGIC);

	reset();
	REQUIRE(tu_write_file(p, buf, RSIZE / 2, 0600) == 0);
	CHECK_EQ(pvsched_open_path(&g, p), -EMSGSIZE);
	CHECK_EQ(pvsched_last_verr(), PVSCHED_V_REGION_SIZE);

	REQUIRE(tu_write_file(p, buf, 100, 0600) == 0);
	CHECK_EQ(pvsched_open_path(&g, p), -EMSGSIZE);
	CHECK_EQ(pvsched_last_verr(), PVSCHED_V_SHORT);

	reset();
	REQUIRE(tu_write_file(p, buf, RSIZE, 0600) == 0);
	CHECK_EQ(pvsched_open_path(&g, p), 0);
	CHECK_EQ(pvsched_last_verr(), PVSCHED_V_OK);
	pvsched_close(g);
}

static const struct tcase cases[] = {
        {"valid", t_valid},
        {"magic", t_magic},
        {"major", t_major},
        {"header-size", t_header_size},
        {"region-size", t_region_size},
        {"vm-offset", t_vm_offset},
        {"vm-offset-overlap", t_vm_offset_overlap},
        {"vm-size", t_vm_size},
        {"vcpu-offset", t_vcpu_offset},
        {"vcpu-stride", t_vcpu_stride},
        {"max-vcpus", t_max_vcpus},
        {"nr-vcpus", t_nr_vcpus},
        {"host-state", t_host_state},
        {"period", t_period},
        {"stale-after", t_stale_after},
        {"short", t_short},
        {"distinct-codes", t_distinct_codes},
        {"verr-str", t_verr_str},
        {"accepted", t_accepted},
        {"open-path-verr", t_open_path_verr},
};

int main(int argc, char **argv)
{
	return run_cases(argc, argv, cases, NCASES(cases));
}
