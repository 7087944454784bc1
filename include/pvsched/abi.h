/* SPDX-License-Identifier: MIT */
/*
 * pvsched/abi.h - the pvsched shared-memory region, ABI version 1.4.
 *
 * One region per VM.  The host agent (pvschedd) writes what it knows about
 * the VM's vCPU threads; the guest (libpvsched) reads it and writes its
 * requests.  On a real VM the region is the BAR2 of a QEMU ivshmem-plain
 * PCI device (1af4:1110) backed by /dev/shm/pvsched-NAME; in a "process VM"
 * the same file is mapped directly.  docs/abi.md is the normative text; this
 * header is its machine-checked transcription.
 *
 * Rules (the manner of the kernel's uapi headers):
 *  - fixed-width little-endian integers only, explicit padding, no pointers,
 *    no bool, no enums in structures; every size and offset is asserted;
 *  - every field has exactly one writer, named in its comment: [H] host,
 *    [G] guest; host-written and guest-written data never share a cache line;
 *  - reserved fields are written as zero and ignored by readers;
 *  - growth is append-only: a minor version adds fields in reserved space
 *    together with a feature bit; a major version change is incompatible.
 *
 * Copyright the pvsched developers.
 */
#ifndef PVSCHED_ABI_H
#define PVSCHED_ABI_H

#ifdef __KERNEL__
/* The guest kernel driver (guest/linux/) includes this header too. */
#include <linux/stddef.h>
#include <linux/types.h>
#else
#include <stddef.h>
#include <stdint.h>
#endif

/* "PVSCHED\0" read as a little-endian 64-bit word. */
#define PVSCHED_MAGIC     0x0044454843535650ULL
#define PVSCHED_MAGIC_STR "PVSCHED"

#define PVSCHED_ABI_MAJOR 1
#define PVSCHED_ABI_MINOR 4

#define PVSCHED_CACHELINE 64

/* Fixed layout of ABI v1 (the header also carries the offsets, and readers
 * must use the header's values: a later minor version may only grow them). */
#define PVSCHED_HEADER_SIZE       256u
#define PVSCHED_VM_OFFSET         256u
#define PVSCHED_VM_SIZE           256u
#define PVSCHED_VCPU_OFFSET       4096u
#define PVSCHED_VCPU_STRIDE       256u
#define PVSCHED_VCPU_GUEST_OFFSET 128u /* guest part inside a vCPU slot */

/* Region sizes: a power of two (ivshmem requires it), from 8 KiB to 1 GiB. */
#define PVSCHED_REGION_MIN_SIZE     8192u
#define PVSCHED_REGION_DEFAULT_SIZE (1u << 20)
#define PVSCHED_REGION_MAX_SIZE     (1u << 30)

/* Number of vCPU slots that fit a region of SIZE bytes. */
#define PVSCHED_VCPUS_FOR_SIZE(size) (((size)-PVSCHED_VCPU_OFFSET) / PVSCHED_VCPU_STRIDE)
/* 4080 vCPUs fit the default 1 MiB region. */
#define PVSCHED_MAX_VCPUS_1MIB PVSCHED_VCPUS_FOR_SIZE(PVSCHED_REGION_DEFAULT_SIZE)

/* Host features (pvsched_header.host_features). */
#define PVSCHED_F_VCPU_STATE (1ull << 0) /* per-vCPU state/run/wait published */
#define PVSCHED_F_VM_ADVICE  (1ull << 1) /* per-VM capacity and DoP advice */
#define PVSCHED_F_ALL_V1     (PVSCHED_F_VCPU_STATE | PVSCHED_F_VM_ADVICE)
/* 1.1: header vm_kind and slot tid: a guest thread can find its own slot */
#define PVSCHED_F_VCPU_MAP (1ull << 2)
#define PVSCHED_F_ALL_V1_1 (PVSCHED_F_ALL_V1 | PVSCHED_F_VCPU_MAP)
/* 1.2: the host acts on the guest's boost requests and wake deadlines */
#define PVSCHED_F_BOOST    (1ull << 3)
#define PVSCHED_F_ALL_V1_2 (PVSCHED_F_ALL_V1_1 | PVSCHED_F_BOOST)
/* 1.3: the host acts on the guest kernel driver's wake deadline
 * (kwake_at_ns, kwake_len_us); the guest sets it in guest_features when its
 * kernel driver publishes them */
#define PVSCHED_F_KDEADLINE (1ull << 4)
#define PVSCHED_F_ALL_V1_3  (PVSCHED_F_ALL_V1_2 | PVSCHED_F_KDEADLINE)
/* 1.4: the VM's ivshmem device has a doorbell the host listens on: writing
 * header.doorbell to the device's Doorbell register (BAR0 offset
 * PVSCHED_DOORBELL_REG) wakes the host agent at once.  A guest rings after
 * a change of its slot's guest part that needs the host (a first boost
 * request, the release of the last, a new deadline); without the bit the
 * host polls the guest parts (docs/abi.md 10.8). */
#define PVSCHED_F_DOORBELL   (1ull << 5)
#define PVSCHED_DOORBELL_REG 12u

/* pvsched_vcpu_guest.kreq (1.3): why the guest kernel driver asks */
#define PVSCHED_KREQ_RT      (1u << 0) /* a real-time task runs on the vCPU */
#define PVSCHED_KREQ_HARDIRQ (1u << 1) /* the vCPU handles a hard interrupt */
#define PVSCHED_KREQ_SOFTIRQ (1u << 2) /* the vCPU runs softirq handlers */
#define PVSCHED_KREQ_ALL     (PVSCHED_KREQ_RT | PVSCHED_KREQ_HARDIRQ | PVSCHED_KREQ_SOFTIRQ)

/* pvsched_vm.flags (1.2) */
#define PVSCHED_VMF_BOOST (1u << 0) /* boosting is enabled for this VM */

/* pvsched_vcpu_host.boost_state (1.2) */
#define PVSCHED_BOOST_NONE      0u /* not boosted (no request, or the window ended) */
#define PVSCHED_BOOST_GRANTED   1u /* boosted now */
#define PVSCHED_BOOST_DENIED    2u /* requested, but boosting is off for this VM */
#define PVSCHED_BOOST_THROTTLED 3u /* requested, but a limit or the budget holds it */
#define PVSCHED_BOOST_STATE_MAX 3u

/* pvsched_header.vm_kind (with PVSCHED_F_VCPU_MAP): how a guest thread
 * finds the slot of the vCPU it runs on. */
#define PVSCHED_VM_KIND_UNKNOWN 0u /* pre-1.1 host: use the CPU number */
#define PVSCHED_VM_KIND_MACHINE 1u /* a real VM: slot = guest CPU number */
#define PVSCHED_VM_KIND_PROCESS 2u /* a process VM: slot whose tid is the caller's */

/* pvsched_header.host_state */
#define PVSCHED_HOST_NONE     0u /* never initialised or being initialised */
#define PVSCHED_HOST_ACTIVE   1u /* an agent publishes: check the heartbeat */
#define PVSCHED_HOST_DETACHED 2u /* the agent left cleanly: values are void */

/* pvsched_vcpu_host.state */
#define PVSCHED_VCPU_UNKNOWN   0u /* no thread known, or not sampled yet */
#define PVSCHED_VCPU_RUNNING   1u /* runnable and got the CPU it asked for */
#define PVSCHED_VCPU_PREEMPTED 2u /* runnable, but waited for a CPU more than it ran */
#define PVSCHED_VCPU_IDLE      3u /* the vCPU thread sleeps (guest idle/halted) */
#define PVSCHED_VCPU_STATE_MAX 3u

/* Fixed-point unit for fractional vCPU counts: 1 vCPU = 1000 milli-vCPUs. */
#define PVSCHED_MILLI 1000u

/*
 * The header: offset 0, 256 bytes.  Lines 0-2 are host-written, line 3 is
 * guest-written.  Fields of line 0 are written once before host_state first
 * becomes ACTIVE; line 1 is the liveness line, written at every publish.
 */
struct pvsched_header {
	/* cache line 0: identity and layout [H], constant while ACTIVE */
	uint64_t magic;          /* [H] PVSCHED_MAGIC, written last at creation */
	uint16_t major;          /* [H] PVSCHED_ABI_MAJOR: reject another major */
	uint16_t minor;          /* [H] PVSCHED_ABI_MINOR: accept any minor */
	uint32_t header_size;    /* [H] sizeof(struct pvsched_header) or more */
	uint64_t region_size;    /* [H] bytes, power of two, <= mapped size */
	uint64_t host_features;  /* [H] PVSCHED_F_* the host offers */
	uint32_t nr_vcpus;       /* [H] vCPU slots in use (index 0..nr_vcpus-1) */
	uint32_t max_vcpus;      /* [H] slots that fit: PVSCHED_VCPUS_FOR_SIZE */
	uint32_t vm_offset;      /* [H] offset of struct pvsched_vm */
	uint32_t vm_size;        /* [H] size of struct pvsched_vm or more */
	uint32_t vcpu_offset;    /* [H] offset of vCPU slot 0 */
	uint32_t vcpu_stride;    /* [H] bytes between vCPU slots */
	uint32_t stale_after_us; /* [H] heartbeat staleness bound, see docs */
	uint32_t reserved0;      /* [H] zero */

	/* cache line 1: liveness [H], written at every publish */
	uint32_t host_state;        /* [H] PVSCHED_HOST_* */
	uint32_t publish_period_us; /* [H] nominal period between heartbeats */
	uint64_t heartbeat;         /* [H] +1 at every publish; never goes back */
	uint64_t host_time_ns;      /* [H] host CLOCK_MONOTONIC at last publish */
	uint64_t host_instance;     /* [H] random, new for each agent attach */
	uint8_t vm_name[32];        /* [H] NUL-padded VM name (informational) */

	/* cache line 2 [H] */
	uint32_t vm_kind;      /* [H] 1.1: PVSCHED_VM_KIND_*, constant while ACTIVE */
	uint32_t doorbell;     /* [H] 1.4: value for the Doorbell register with
	                          PVSCHED_F_DOORBELL (peer << 16 | vector), else 0 */
	uint64_t reserved1[7]; /* [H] zero */

	/* cache line 3: guest-written [G] */
	uint64_t guest_features;    /* [G] PVSCHED_F_* the guest uses (atomic OR) */
	uint16_t guest_major;       /* [G] ABI major of the guest library */
	uint16_t guest_minor;       /* [G] ABI minor of the guest library */
	uint32_t boost_gen;         /* [G] 1.2: +1 after any change of a slot's boost fields */
	uint64_t guest_reserved[6]; /* [G] zero */
};

/*
 * The per-VM block: offset vm_offset (256), 256 bytes, host-written under
 * the seqlock `seq`.  Fractions are in milli-vCPUs (PVSCHED_MILLI).
 */
struct pvsched_vm {
	uint32_t seq;                 /* [H] seqlock: odd while being written */
	uint32_t flags;               /* [H] 1.2: PVSCHED_VMF_*; zero before */
	uint64_t update_ns;           /* [H] host CLOCK_MONOTONIC of these values */
	uint32_t preempted_now;       /* [H] vCPUs in state PREEMPTED at update_ns */
	uint32_t preempted_avg_milli; /* [H] runnable-not-running vCPUs, smoothed */
	uint32_t capacity_milli;      /* [H] host CPU left for this VM, smoothed */
	uint32_t recommended_dop;     /* [H] advised parallelism, 1..nr_vcpus */
	uint32_t running_now;         /* [H] vCPUs in state RUNNING at update_ns */
	uint32_t idle_now;            /* [H] vCPUs in state IDLE at update_ns */
	uint32_t window_us;           /* [H] smoothing window (EWMA time constant) */
	uint32_t publish_period_us;   /* [H] period of these updates */
	uint32_t host_cpus;           /* [H] pCPUs the VM's threads may run on */
	uint32_t boost_max_us;        /* [H] 1.2: longest continuous boost */
	uint32_t boost_budget_us;     /* [H] 1.2: boosted time allowed per window */
	uint32_t boost_window_us;     /* [H] 1.2: the budget's window */
	uint32_t boost_lead_us;       /* [H] 1.2: boost this long before wake_at_ns */
	uint32_t boost_hold_us;       /* [H] 1.2: default boost after wake_at_ns */
	uint64_t reserved[23];        /* [H] zero */
};

/* Host part of a vCPU slot: 128 bytes, host-written under `seq`. */
struct pvsched_vcpu_host {
	uint32_t seq;         /* [H] seqlock: odd while being written */
	uint32_t state;       /* [H] PVSCHED_VCPU_* */
	uint64_t run_ns;      /* [H] cumulative time on a CPU since attach */
	uint64_t wait_ns;     /* [H] cumulative run-queue wait since attach */
	uint64_t preemptions; /* [H] cumulative involuntary switches */
	uint64_t update_ns;   /* [H] host CLOCK_MONOTONIC of these values */
	uint32_t wait_milli;  /* [H] share of the last period spent waiting */
	uint32_t run_milli;   /* [H] share of the last period spent running */
	uint32_t tid;         /* [H] 1.1: host thread id of the vCPU (0 = none) */
	uint32_t boost_state; /* [H] 1.2: PVSCHED_BOOST_* */
	uint64_t boost_ns;    /* [H] 1.2: cumulative time boosted since attach */
	uint64_t boosts;      /* [H] 1.2: boosts granted since attach */
	uint64_t throttles;   /* [H] 1.2: requests throttled since attach */
	uint64_t reserved[6]; /* [H] zero; host-written growth space */
};

/*
 * Guest part of a vCPU slot: 128 bytes, guest-written.  [G] fields are
 * written by guest programs (libpvsched) with atomic operations; [K] fields
 * only by the guest kernel driver, on the vCPU the slot describes.  The
 * driver takes part in boost_req like a program: it holds one count while
 * any of its sources (kreq) is active, so neither cancels the other.
 */
struct pvsched_vcpu_guest {
	uint32_t boost_req;    /* [G] 1.2: boost requests outstanding; > 0 asks */
	uint32_t boost_seq;    /* [G] 1.2: +1 at every change of this part */
	uint64_t wake_at_ns;   /* [G] 1.2: next time this vCPU must run (host clock), 0 none */
	uint32_t wake_len_us;  /* [G] 1.2: boost after wake_at_ns, 0 = host default */
	uint32_t kreq;         /* [K] 1.3: PVSCHED_KREQ_* the driver asks for now */
	uint64_t kwake_at_ns;  /* [K] 1.3: an RT task's timer expiry (host clock), 0 none */
	uint32_t kwake_len_us; /* [K] 1.3: boost after kwake_at_ns, 0 = host default */
	uint32_t reserved0;    /* [G] zero */
	uint64_t reserved[11]; /* [G] zero; guest-written growth space */
};

struct pvsched_vcpu {
	struct pvsched_vcpu_host host;
	struct pvsched_vcpu_guest guest;
};

/* ---- layout checks: a change here is an ABI break ---- */
_Static_assert(sizeof(struct pvsched_header) == PVSCHED_HEADER_SIZE, "header size");
_Static_assert(offsetof(struct pvsched_header, magic) == 0, "magic");
_Static_assert(offsetof(struct pvsched_header, major) == 8, "major");
_Static_assert(offsetof(struct pvsched_header, minor) == 10, "minor");
_Static_assert(offsetof(struct pvsched_header, header_size) == 12, "header_size");
_Static_assert(offsetof(struct pvsched_header, region_size) == 16, "region_size");
_Static_assert(offsetof(struct pvsched_header, host_features) == 24, "host_features");
_Static_assert(offsetof(struct pvsched_header, nr_vcpus) == 32, "nr_vcpus");
_Static_assert(offsetof(struct pvsched_header, max_vcpus) == 36, "max_vcpus");
_Static_assert(offsetof(struct pvsched_header, vm_offset) == 40, "vm_offset");
_Static_assert(offsetof(struct pvsched_header, vm_size) == 44, "vm_size");
_Static_assert(offsetof(struct pvsched_header, vcpu_offset) == 48, "vcpu_offset");
_Static_assert(offsetof(struct pvsched_header, vcpu_stride) == 52, "vcpu_stride");
_Static_assert(offsetof(struct pvsched_header, stale_after_us) == 56, "stale_after_us");
_Static_assert(offsetof(struct pvsched_header, reserved0) == 60, "reserved0");
_Static_assert(offsetof(struct pvsched_header, host_state) == 64, "host_state");
_Static_assert(offsetof(struct pvsched_header, publish_period_us) == 68, "publish_period_us");
_Static_assert(offsetof(struct pvsched_header, heartbeat) == 72, "heartbeat");
_Static_assert(offsetof(struct pvsched_header, host_time_ns) == 80, "host_time_ns");
_Static_assert(offsetof(struct pvsched_header, host_instance) == 88, "host_instance");
_Static_assert(offsetof(struct pvsched_header, vm_name) == 96, "vm_name");
_Static_assert(offsetof(struct pvsched_header, vm_kind) == 128, "vm_kind");
_Static_assert(offsetof(struct pvsched_header, doorbell) == 132, "doorbell");
_Static_assert(offsetof(struct pvsched_header, reserved1) == 136, "reserved1");
_Static_assert(offsetof(struct pvsched_header, guest_features) == 192, "guest_features");
_Static_assert(offsetof(struct pvsched_header, guest_major) == 200, "guest_major");
_Static_assert(offsetof(struct pvsched_header, guest_minor) == 202, "guest_minor");
_Static_assert(offsetof(struct pvsched_header, boost_gen) == 204, "boost_gen");
_Static_assert(offsetof(struct pvsched_header, guest_reserved) == 208, "guest_reserved");

_Static_assert(sizeof(struct pvsched_vm) == PVSCHED_VM_SIZE, "vm size");
_Static_assert(offsetof(struct pvsched_vm, seq) == 0, "vm.seq");
_Static_assert(offsetof(struct pvsched_vm, flags) == 4, "vm.flags");
_Static_assert(offsetof(struct pvsched_vm, update_ns) == 8, "vm.update_ns");
_Static_assert(offsetof(struct pvsched_vm, preempted_now) == 16, "vm.preempted_now");
_Static_assert(offsetof(struct pvsched_vm, preempted_avg_milli) == 20, "vm.preempted_avg_milli");
_Static_assert(offsetof(struct pvsched_vm, capacity_milli) == 24, "vm.capacity_milli");
_Static_assert(offsetof(struct pvsched_vm, recommended_dop) == 28, "vm.recommended_dop");
_Static_assert(offsetof(struct pvsched_vm, running_now) == 32, "vm.running_now");
_Static_assert(offsetof(struct pvsched_vm, idle_now) == 36, "vm.idle_now");
_Static_assert(offsetof(struct pvsched_vm, window_us) == 40, "vm.window_us");
_Static_assert(offsetof(struct pvsched_vm, publish_period_us) == 44, "vm.publish_period_us");
_Static_assert(offsetof(struct pvsched_vm, host_cpus) == 48, "vm.host_cpus");
_Static_assert(offsetof(struct pvsched_vm, boost_max_us) == 52, "vm.boost_max_us");
_Static_assert(offsetof(struct pvsched_vm, boost_budget_us) == 56, "vm.boost_budget_us");
_Static_assert(offsetof(struct pvsched_vm, boost_window_us) == 60, "vm.boost_window_us");
_Static_assert(offsetof(struct pvsched_vm, boost_lead_us) == 64, "vm.boost_lead_us");
_Static_assert(offsetof(struct pvsched_vm, boost_hold_us) == 68, "vm.boost_hold_us");
_Static_assert(offsetof(struct pvsched_vm, reserved) == 72, "vm.reserved");

_Static_assert(sizeof(struct pvsched_vcpu_host) == 128, "vcpu host size");
_Static_assert(offsetof(struct pvsched_vcpu_host, seq) == 0, "vcpu.seq");
_Static_assert(offsetof(struct pvsched_vcpu_host, state) == 4, "vcpu.state");
_Static_assert(offsetof(struct pvsched_vcpu_host, run_ns) == 8, "vcpu.run_ns");
_Static_assert(offsetof(struct pvsched_vcpu_host, wait_ns) == 16, "vcpu.wait_ns");
_Static_assert(offsetof(struct pvsched_vcpu_host, preemptions) == 24, "vcpu.preemptions");
_Static_assert(offsetof(struct pvsched_vcpu_host, update_ns) == 32, "vcpu.update_ns");
_Static_assert(offsetof(struct pvsched_vcpu_host, wait_milli) == 40, "vcpu.wait_milli");
_Static_assert(offsetof(struct pvsched_vcpu_host, run_milli) == 44, "vcpu.run_milli");
_Static_assert(offsetof(struct pvsched_vcpu_host, tid) == 48, "vcpu.tid");
_Static_assert(offsetof(struct pvsched_vcpu_host, boost_state) == 52, "vcpu.boost_state");
_Static_assert(offsetof(struct pvsched_vcpu_host, boost_ns) == 56, "vcpu.boost_ns");
_Static_assert(offsetof(struct pvsched_vcpu_host, boosts) == 64, "vcpu.boosts");
_Static_assert(offsetof(struct pvsched_vcpu_host, throttles) == 72, "vcpu.throttles");
_Static_assert(offsetof(struct pvsched_vcpu_host, reserved) == 80, "vcpu.reserved");
_Static_assert(sizeof(struct pvsched_vcpu_guest) == 128, "vcpu guest size");
_Static_assert(offsetof(struct pvsched_vcpu_guest, boost_req) == 0, "vcpu.boost_req");
_Static_assert(offsetof(struct pvsched_vcpu_guest, boost_seq) == 4, "vcpu.boost_seq");
_Static_assert(offsetof(struct pvsched_vcpu_guest, wake_at_ns) == 8, "vcpu.wake_at_ns");
_Static_assert(offsetof(struct pvsched_vcpu_guest, wake_len_us) == 16, "vcpu.wake_len_us");
_Static_assert(offsetof(struct pvsched_vcpu_guest, kreq) == 20, "vcpu.kreq");
_Static_assert(offsetof(struct pvsched_vcpu_guest, kwake_at_ns) == 24, "vcpu.kwake_at_ns");
_Static_assert(offsetof(struct pvsched_vcpu_guest, kwake_len_us) == 32, "vcpu.kwake_len_us");
_Static_assert(offsetof(struct pvsched_vcpu_guest, reserved0) == 36, "vcpu.guest.reserved0");
_Static_assert(offsetof(struct pvsched_vcpu_guest, reserved) == 40, "vcpu.guest.reserved");
_Static_assert(sizeof(struct pvsched_vcpu) == PVSCHED_VCPU_STRIDE, "vcpu stride");
_Static_assert(offsetof(struct pvsched_vcpu, guest) == PVSCHED_VCPU_GUEST_OFFSET, "vcpu.guest");
_Static_assert(PVSCHED_VCPU_GUEST_OFFSET % PVSCHED_CACHELINE == 0, "guest part on own line");
_Static_assert(PVSCHED_VM_OFFSET >= PVSCHED_HEADER_SIZE, "vm after header");
_Static_assert(PVSCHED_VCPU_OFFSET >= PVSCHED_VM_OFFSET + PVSCHED_VM_SIZE, "vcpus after vm");
_Static_assert(PVSCHED_MAX_VCPUS_1MIB == 4080, "vCPUs in 1 MiB");
_Static_assert(PVSCHED_MAX_VCPUS_1MIB >= 256, "at least 256 vCPUs in 1 MiB");

#endif /* PVSCHED_ABI_H */
