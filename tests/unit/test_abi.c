/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_abi.c - the region layout, checked at run time: sizes and
 * offsets (mirroring abi.h's static asserts, so a change to one without the
 * other is caught), no implicit padding, the cache-line separation of host-
 * and guest-written data, and the constants the standard promises.
 */
#include <stdalign.h>
#include <stddef.h>

#include <pvsched/abi.h>

#include "check.h"

size_t pvs_abi_pedantic_sizes(size_t out[4]);

struct field {
	const char *name;
	size_t off, size, want_off;
	int writer; /* 'H' or 'G' */
};

#define F(T, m, off, w)                                                                            \
	{                                                                                          \
#m, offsetof(T, m), sizeof(((T *)0)->m), off, w                                    \
	}

static const struct field header_fields[] = {
        F(struct pvsched_header, magic, 0, 'H'),
        F(struct pvsched_header, major, 8, 'H'),
        F(struct pvsched_header, minor, 10, 'H'),
        F(struct pvsched_header, header_size, 12, 'H'),
        F(struct pvsched_header, region_size, 16, 'H'),
        F(struct pvsched_header, host_features, 24, 'H'),
        F(struct pvsched_header, nr_vcpus, 32, 'H'),
        F(struct pvsched_header, max_vcpus, 36, 'H'),
        F(struct pvsched_header, vm_offset, 40, 'H'),
        F(struct pvsched_header, vm_size, 44, 'H'),
        F(struct pvsched_header, vcpu_offset, 48, 'H'),
        F(struct pvsched_header, vcpu_stride, 52, 'H'),
        F(struct pvsched_header, stale_after_us, 56, 'H'),
        F(struct pvsched_header, reserved0, 60, 'H'),
        F(struct pvsched_header, host_state, 64, 'H'),
        F(struct pvsched_header, publish_period_us, 68, 'H'),
        F(struct pvsched_header, heartbeat, 72, 'H'),
        F(struct pvsched_header, host_time_ns, 80, 'H'),
        F(struct pvsched_header, host_instance, 88, 'H'),
        F(struct pvsched_header, vm_name, 96, 'H'),
        F(struct pvsched_header, vm_kind, 128, 'H'),
        F(struct pvsched_header, doorbell, 132, 'H'),
        F(struct pvsched_header, reserved1, 136, 'H'),
        F(struct pvsched_header, guest_features, 192, 'G'),
        F(struct pvsched_header, guest_major, 200, 'G'),
        F(struct pvsched_header, guest_minor, 202, 'G'),
        F(struct pvsched_header, boost_gen, 204, 'G'),
        F(struct pvsched_header, guest_reserved, 208, 'G'),
};

static const struct field vm_fields[] = {
        F(struct pvsched_vm, seq, 0, 'H'),
        F(struct pvsched_vm, flags, 4, 'H'),
        F(struct pvsched_vm, update_ns, 8, 'H'),
        F(struct pvsched_vm, preempted_now, 16, 'H'),
        F(struct pvsched_vm, preempted_avg_milli, 20, 'H'),
        F(struct pvsched_vm, capacity_milli, 24, 'H'),
        F(struct pvsched_vm, recommended_dop, 28, 'H'),
        F(struct pvsched_vm, running_now, 32, 'H'),
        F(struct pvsched_vm, idle_now, 36, 'H'),
        F(struct pvsched_vm, window_us, 40, 'H'),
        F(struct pvsched_vm, publish_period_us, 44, 'H'),
        F(struct pvsched_vm, host_cpus, 48, 'H'),
        F(struct pvsched_vm, boost_max_us, 52, 'H'),
        F(struct pvsched_vm, boost_budget_us, 56, 'H'),
        F(struct pvsched_vm, boost_window_us, 60, 'H'),
        F(struct pvsched_vm, boost_lead_us, 64, 'H'),
        F(struct pvsched_vm, boost_hold_us, 68, 'H'),
        F(struct pvsched_vm, reserved, 72, 'H'),
};

/* A whole vCPU slot, host part then guest part. */
static const struct field vcpu_fields[] = {
        F(struct pvsched_vcpu, host.seq, 0, 'H'),
        F(struct pvsched_vcpu, host.state, 4, 'H'),
        F(struct pvsched_vcpu, host.run_ns, 8, 'H'),
        F(struct pvsched_vcpu, host.wait_ns, 16, 'H'),
        F(struct pvsched_vcpu, host.preemptions, 24, 'H'),
        F(struct pvsched_vcpu, host.update_ns, 32, 'H'),
        F(struct pvsched_vcpu, host.wait_milli, 40, 'H'),
        F(struct pvsched_vcpu, host.run_milli, 44, 'H'),
        F(struct pvsched_vcpu, host.tid, 48, 'H'),
        F(struct pvsched_vcpu, host.boost_state, 52, 'H'),
        F(struct pvsched_vcpu, host.boost_ns, 56, 'H'),
        F(struct pvsched_vcpu, host.boosts, 64, 'H'),
        F(struct pvsched_vcpu, host.throttles, 72, 'H'),
        F(struct pvsched_vcpu, host.reserved, 80, 'H'),
        F(struct pvsched_vcpu, guest.boost_req, 128, 'G'),
        F(struct pvsched_vcpu, guest.boost_seq, 132, 'G'),
        F(struct pvsched_vcpu, guest.wake_at_ns, 136, 'G'),
        F(struct pvsched_vcpu, guest.wake_len_us, 144, 'G'),
        F(struct pvsched_vcpu, guest.kreq, 148, 'G'),
        F(struct pvsched_vcpu, guest.kwake_at_ns, 152, 'G'),
        F(struct pvsched_vcpu, guest.kwake_len_us, 160, 'G'),
        F(struct pvsched_vcpu, guest.reserved0, 164, 'G'),
        F(struct pvsched_vcpu, guest.reserved, 168, 'G'),
};

/* Every field where the standard puts it, fields contiguous (no implicit
 * padding anywhere), the last one ending at the structure's end. */
static void check_fields(const char *what, const struct field *f, size_t n, size_t total)
{
	size_t end = 0;

	NOTE("%s: %zu fields, %zu bytes", what, n, total);
	for (size_t i = 0; i < n; i++) {
		CHECKM(f[i].off == f[i].want_off, "%s.%s at offset %zu (want %zu)", what, f[i].name,
		       f[i].off, f[i].want_off);
		CHECKQM(f[i].off == end, "%s.%s follows the previous field without padding", what,
		        f[i].name);
		/* scalars by their size, uint64_t arrays by 8 */
		size_t al = f[i].size <= 8 ? f[i].size : f[i].size % 8 == 0 ? 8 : 1;
		CHECKQM(f[i].off % al == 0, "%s.%s naturally aligned", what, f[i].name);
		end = f[i].off + f[i].size;
	}
	CHECKM(end == total, "%s: last field ends at %zu == sizeof %zu (no tail padding)", what,
	       end, total);
}

static void t_sizes(void)
{
	CHECK_EQU(sizeof(struct pvsched_header), PVSCHED_HEADER_SIZE);
	CHECK_EQU(sizeof(struct pvsched_header), 256);
	CHECK_EQU(sizeof(struct pvsched_vm), PVSCHED_VM_SIZE);
	CHECK_EQU(sizeof(struct pvsched_vm), 256);
	CHECK_EQU(sizeof(struct pvsched_vcpu_host), 128);
	CHECK_EQU(sizeof(struct pvsched_vcpu_guest), 128);
	CHECK_EQU(sizeof(struct pvsched_vcpu), PVSCHED_VCPU_STRIDE);
	CHECK_EQU(sizeof(struct pvsched_vcpu), 256);
	CHECK_EQU(alignof(struct pvsched_header), alignof(uint64_t));
	CHECK_EQU(alignof(struct pvsched_vm), alignof(uint64_t));
	CHECK_EQU(alignof(struct pvsched_vcpu), alignof(uint64_t));
	CHECK_EQU(sizeof(((struct pvsched_header *)0)->vm_name), 32);
}

static void t_offsets(void)
{
	check_fields("header", header_fields, NCASES(header_fields), sizeof(struct pvsched_header));
	check_fields("vm", vm_fields, NCASES(vm_fields), sizeof(struct pvsched_vm));
	check_fields("vcpu", vcpu_fields, NCASES(vcpu_fields), sizeof(struct pvsched_vcpu));
	CHECK_EQU(offsetof(struct pvsched_vcpu, guest), PVSCHED_VCPU_GUEST_OFFSET);
}

/* Host-written and guest-written data never share a cache line. */
static void check_lines(const char *what, const struct field *f, size_t n, size_t base)
{
	char line_writer[64] = {0};

	for (size_t i = 0; i < n; i++) {
		size_t first = (base + f[i].off) / PVSCHED_CACHELINE;
		size_t last = (base + f[i].off + f[i].size - 1) / PVSCHED_CACHELINE;
		for (size_t l = first; l <= last && l < sizeof(line_writer); l++) {
			CHECKQM(!line_writer[l] || line_writer[l] == f[i].writer,
			        "%s.%s [%c] does not share cache line %zu with [%c] data", what,
			        f[i].name, f[i].writer, l, line_writer[l]);
			line_writer[l] = (char)f[i].writer;
		}
	}
	for (size_t l = 0; l < sizeof(line_writer); l++)
		if (line_writer[l])
			NOTE("%s line %zu: written by %s only", what, l,
			     line_writer[l] == 'H' ? "host" : "guest");
}

static void t_cachelines(void)
{
	CHECK_EQU(PVSCHED_CACHELINE, 64);
	check_lines("header", header_fields, NCASES(header_fields), 0);
	check_lines("vcpu", vcpu_fields, NCASES(vcpu_fields), 0);
	CHECK(PVSCHED_VCPU_GUEST_OFFSET % PVSCHED_CACHELINE == 0);
	CHECK(sizeof(struct pvsched_vcpu_host) % PVSCHED_CACHELINE == 0);
	CHECK(sizeof(struct pvsched_vcpu_guest) % PVSCHED_CACHELINE == 0);
	CHECK(PVSCHED_VCPU_STRIDE % PVSCHED_CACHELINE == 0);
	CHECK(offsetof(struct pvsched_header, guest_features) % PVSCHED_CACHELINE == 0);
	CHECK(PVSCHED_VM_OFFSET % PVSCHED_CACHELINE == 0);
	CHECK(PVSCHED_VCPU_OFFSET % PVSCHED_CACHELINE == 0);
	NOTE("vm block [%u, %u) and slots from %u do not overlap", PVSCHED_VM_OFFSET,
	     PVSCHED_VM_OFFSET + PVSCHED_VM_SIZE, PVSCHED_VCPU_OFFSET);
	CHECK(PVSCHED_VM_OFFSET >= PVSCHED_HEADER_SIZE);
	CHECK(PVSCHED_VCPU_OFFSET >= PVSCHED_VM_OFFSET + PVSCHED_VM_SIZE);
	/* the seqlock counters lead their blocks and are 4-byte aligned words */
	CHECK(offsetof(struct pvsched_vm, seq) == 0);
	CHECK(offsetof(struct pvsched_vcpu_host, seq) == 0);
	CHECK(sizeof(((struct pvsched_vm *)0)->seq) == 4);
}

static void t_constants(void)
{
	unsigned char b[8];
	uint64_t m = PVSCHED_MAGIC;

	memcpy(b, &m, sizeof(b));
	NOTE("magic, stored little-endian, reads \"PVSCHED\\0\"");
	CHECK(memcmp(b, PVSCHED_MAGIC_STR, 8) == 0);
	CHECK_EQU(sizeof(PVSCHED_MAGIC_STR), 8);
	CHECK_EQU(PVSCHED_ABI_MAJOR, 1);
	CHECK(PVSCHED_MAX_VCPUS_1MIB >= 256);
	CHECK_EQU(PVSCHED_MAX_VCPUS_1MIB, 4080);
	CHECK_EQU(PVSCHED_VCPUS_FOR_SIZE(PVSCHED_REGION_MIN_SIZE), 16);
	CHECK_EQU(PVSCHED_VCPUS_FOR_SIZE((uint64_t)PVSCHED_REGION_MAX_SIZE),
	          ((1u << 30) - 4096u) / 256u);
	CHECK(PVSCHED_REGION_MIN_SIZE > PVSCHED_VCPU_OFFSET);
	CHECK((PVSCHED_REGION_MIN_SIZE & (PVSCHED_REGION_MIN_SIZE - 1)) == 0);
	CHECK((PVSCHED_REGION_DEFAULT_SIZE & (PVSCHED_REGION_DEFAULT_SIZE - 1)) == 0);
	CHECK((PVSCHED_REGION_MAX_SIZE & (PVSCHED_REGION_MAX_SIZE - 1)) == 0);
	CHECK(PVSCHED_REGION_MIN_SIZE <= PVSCHED_REGION_DEFAULT_SIZE &&
	      PVSCHED_REGION_DEFAULT_SIZE <= PVSCHED_REGION_MAX_SIZE);
	CHECK_EQU(PVSCHED_F_ALL_V1, PVSCHED_F_VCPU_STATE | PVSCHED_F_VM_ADVICE);
	CHECK((PVSCHED_F_VCPU_STATE & PVSCHED_F_VM_ADVICE) == 0);
	CHECK(PVSCHED_HOST_NONE == 0 && PVSCHED_HOST_ACTIVE == 1 && PVSCHED_HOST_DETACHED == 2);
	CHECK(PVSCHED_VCPU_UNKNOWN == 0 && PVSCHED_VCPU_RUNNING == 1 &&
	      PVSCHED_VCPU_PREEMPTED == 2 && PVSCHED_VCPU_IDLE == 3);
	CHECK_EQU(PVSCHED_VCPU_STATE_MAX, PVSCHED_VCPU_IDLE);
	CHECK_EQU(PVSCHED_MILLI, 1000);
}

static void t_pedantic_tu(void)
{
	size_t s[4];

	NOTE("abi_pedantic.c (abi.h alone, -std=c11 -pedantic -Werror) sees the same layout");
	CHECK_EQU(pvs_abi_pedantic_sizes(s), 4);
	CHECK_EQU(s[0], sizeof(struct pvsched_header));
	CHECK_EQU(s[1], sizeof(struct pvsched_vm));
	CHECK_EQU(s[2], sizeof(struct pvsched_vcpu));
	CHECK_EQU(s[3], offsetof(struct pvsched_vcpu, guest));
}

static const struct tcase cases[] = {
        {"sizes", t_sizes},         {"offsets", t_offsets},         {"cachelines", t_cachelines},
        {"constants", t_constants}, {"pedantic-tu", t_pedantic_tu},
};

int main(int argc, char **argv)
{
	return run_cases(argc, argv, cases, NCASES(cases));
}
