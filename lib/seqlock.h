/* SPDX-License-Identifier: MIT */
/*
 * lib/seqlock.h - the region's seqlock, for both writer and reader.
 *
 * Writer (one per sequence counter, the host):
 *   seq <- seq + 1 (odd), release fence, store the data, seq <- seq + 1
 *   (even) with release semantics.
 * Reader (any number, the guest):
 *   s1 <- seq (acquire); odd: retry.  Load the data, acquire fence,
 *   s2 <- seq; s1 != s2: retry.
 * Every data word is accessed with a relaxed atomic of its own width, so
 * the races the protocol tolerates are not undefined behaviour (and the
 * thread sanitizer agrees).  This is the construction analysed in Boehm,
 * "Can seqlocks get along with programming language memory models?".
 */
#ifndef PVSCHED_LIB_SEQLOCK_H
#define PVSCHED_LIB_SEQLOCK_H

#include <stdint.h>

#define PVS_LOAD(p)     __atomic_load_n((p), __ATOMIC_RELAXED)
#define PVS_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/* Bound on reader retries before giving up with -EBUSY (a writer that died
 * mid-update must not hang a guest). */
#define PVS_SEQ_RETRIES 100000u

static inline void pvs_seq_write_begin(uint32_t *seq)
{
	uint32_t s = __atomic_load_n(seq, __ATOMIC_RELAXED);
	__atomic_store_n(seq, s | 1u, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void pvs_seq_write_end(uint32_t *seq)
{
	uint32_t s = __atomic_load_n(seq, __ATOMIC_RELAXED);
	__atomic_store_n(seq, (s | 1u) + 1u, __ATOMIC_RELEASE);
}

static inline uint32_t pvs_seq_read_begin(const uint32_t *seq)
{
	return __atomic_load_n(seq, __ATOMIC_ACQUIRE);
}

/* Returns nonzero when the data loaded since BEGIN may be torn. */
static inline int pvs_seq_read_retry(const uint32_t *seq, uint32_t begin)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return (begin & 1u) || __atomic_load_n(seq, __ATOMIC_RELAXED) != begin;
}

#endif
