/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * daemon/bpf/sampler_bpf.h - the memory shared by the BPF sampler's kernel
 * program (sampler.bpf.c) and pvschedd (sampler_bpf.c).  Both sides compile
 * this file: the kernel side with vmlinux.h, user space with <linux/types.h>.
 *
 * One record per sampled thread ("slot") in a BPF_F_MMAPABLE array that
 * pvschedd maps; a direct-mapped tid table (also mapped) tells the program
 * which threads to follow: one array load per task, followed or not, where
 * a hash lookup would cost ~100 ns on these machines.
 *
 * Writers: [K] the BPF program, [U] pvschedd.  The scheduler serializes the
 * events of one task (its run-queue lock), so [K] fields have one writer at
 * a time; pvschedd writes a record only before it maps the tid to the slot.
 */
#ifndef PVSCHED_DAEMON_BPF_SAMPLER_BPF_H
#define PVSCHED_DAEMON_BPF_SAMPLER_BPF_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Slots (threads followed at once) and the overflow hash map's capacity. */
#define PVS_BPF_SLOTS 16384u

/* The tid table: entry (tid & PVS_BPF_TABLE_MASK) of a BPF_F_MMAPABLE
 * array, written by pvschedd with single 64-bit stores, holds
 *   bits 63..32  the tid, bit 31  PVS_BPF_OVERFLOW, bits 30..0  slot + 1
 * (0: empty).  A tid whose entry is taken by another followed tid goes to
 * the hash map pvs_tids and sets OVERFLOW in the entry, so the program
 * looks there only for the few tids that share an entry with one. */
#define PVS_BPF_TABLE_SIZE 65536u
#define PVS_BPF_TABLE_MASK (PVS_BPF_TABLE_SIZE - 1)
#define PVS_BPF_OVERFLOW   0x80000000ull
#define PVS_BPF_SLOT_MASK  0x7fffffffull

/* In front of the table, a 4 KiB filter: bit (tid & PVS_BPF_FILTER_MASK)
 * is set while a mapped tid (or pvschedd's own) has those low bits.  Most
 * tasks on the host are not followed and stop at this bit.  It is a plain
 * array, not mmapable, so the kernel allocates it from its direct map
 * (huge pages) and the test costs no TLB miss; mmapable maps are vmalloc'ed
 * with 4 KiB pages, and on these VMs a TLB miss costs ~30 ns, more than
 * the rest of the untracked path.  pvschedd updates it with a system call
 * when it opens or closes a slot. */
#define PVS_BPF_FILTER_BITS  32768u
#define PVS_BPF_FILTER_MASK  (PVS_BPF_FILTER_BITS - 1)
#define PVS_BPF_FILTER_WORDS (PVS_BPF_FILTER_BITS / 64)

/* Thread states in the low bits of pvs_bpf_rec.st; the rest is the time
 * (bpf_ktime_get_ns, CLOCK_MONOTONIC) the state began. */
#define PVS_BPF_UNKNOWN          0u /* no event and no seed yet: st == 0 */
#define PVS_BPF_RUNNING          1u /* on a CPU */
#define PVS_BPF_WAITING          2u /* runnable, in a run queue: preempted or woken */
#define PVS_BPF_SLEEPING         3u /* blocked (guest idle, halted vCPU) */
#define PVS_BPF_DEAD             4u /* exited or exec'd: final, the tid may be reused */
#define PVS_BPF_STATE_BITS       3u
#define PVS_BPF_STATE_MASK       7ull
#define PVS_BPF_ST(since, state) (((__u64)(since) << PVS_BPF_STATE_BITS) | (state))

struct pvs_bpf_rec {
	__u32 seq;     /* [K] odd while the program updates run/wait/invol/st */
	__u32 tid;     /* [U] the thread this slot follows; set before the tid is mapped */
	__u64 st;      /* [K] state and its start; [U] zeroes it, the seeder may move it
	                * from 0 with a compare-and-swap */
	__u64 run_ns;  /* [K] completed on-CPU intervals since the slot was opened */
	__u64 wait_ns; /* [K] completed run-queue waits since the slot was opened */
	__u64 invol;   /* [K] switched out while still runnable (preemptions) */
	__u64 events;  /* [K] scheduler events seen (diagnostics) */
	__u32 prev;    /* [K] the state at pvschedd's last wake-up if st's
	                * "since" is later (see set_st() in sampler.bpf.c) */
	__u32 slot;    /* [U] this record's index, for its changed flag */
	__u64 reserved;
};

/* The changed flags: byte (slot % 64) of entry (slot / 64) of a
 * BPF_F_MMAPABLE array is set by the program whenever it changes the
 * slot's record, and cleared by pvschedd (an atomic exchange, before it
 * reads the record).  A slot whose flag is clear and whose thread slept at
 * the last sample has nothing new: pvschedd skips it without touching its
 * record.  Bytes, not bits: a plain store, no atomic instruction in the
 * scheduler's path. */
#define PVS_BPF_CHANGED_GROUP 64u
struct pvs_bpf_changed {
	__u8 flag[PVS_BPF_CHANGED_GROUP];
};

/* What the seeding iterator (iter/task, one tid) reports to pvschedd. */
struct pvs_bpf_seed {
	__u32 tid;
	__u32 tgid;
	__u64 start_boottime; /* ns; /proc stat field 22 is this in clock ticks */
	__u64 run_ns;         /* se.sum_exec_runtime  (schedstat field 1) */
	__u64 wait_ns;        /* sched_info.run_delay (schedstat field 2) */
	__u64 invol;          /* nivcsw */
	__u32 state;          /* PVS_BPF_* observed in the task */
	__u32 flags;          /* PVS_BPF_SEED_* */
};

#define PVS_BPF_SEED_SEEDED  1u /* the record's state was set from this seed */
#define PVS_BPF_SEED_EXITING 2u /* the task is exiting */
#define PVS_BPF_SEED_NOSLOT  4u /* the tid is not mapped to the requested slot */

#endif
