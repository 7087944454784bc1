/* SPDX-License-Identifier: MIT */
/*
 * common/pvs_clock.h - CLOCK_MONOTONIC as one number: the clock the
 * region's timestamps, pvschedd's loop, the guest library and the tools
 * all use (docs/abi.md).  Header-only and libc-only, so the guest library
 * can include it too.
 */
#ifndef PVSCHED_COMMON_CLOCK_H
#define PVSCHED_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds from an unspecified start; the clock never jumps. */
static inline uint64_t pvs_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The same clock in micro- and milliseconds (rounded down). */
static inline uint64_t pvs_mono_us(void)
{
	return pvs_mono_ns() / 1000u;
}

static inline uint64_t pvs_mono_ms(void)
{
	return pvs_mono_ns() / 1000000u;
}

#endif
