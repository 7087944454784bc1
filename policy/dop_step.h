/* SPDX-License-Identifier: MIT */
/*
 * policy/dop_step.h - the advice's hysteresis rule, in integer milli-vCPUs.
 * One definition for the host (policy/dop.c) and the guest library
 * (lib/advisor.c, which must stay libc-only, hence a header-only inline).
 *
 * The advice is CAPACITY rounded to a whole number of threads in [1, MAX];
 * it moves up only when capacity clears CURRENT + 0.5 + h, down only when it
 * falls below CURRENT - 0.5 - h (h = HYSTERESIS_MILLI / 1000).
 */
#ifndef PVSCHED_POLICY_DOP_STEP_H
#define PVSCHED_POLICY_DOP_STEP_H

#include <stdint.h>

static inline uint32_t pvs_dop_step_milli(uint32_t current, uint32_t capacity_milli, uint32_t max,
                                          uint32_t hysteresis_milli)
{
	uint32_t cand;

	if (max == 0)
		return 1;
	cand = (uint32_t)(((uint64_t)capacity_milli + 500) / 1000);
	if (cand < 1)
		cand = 1;
	if (cand > max)
		cand = max;
	if (current < 1 || current > max)
		return cand;
	if (cand > current &&
	    (uint64_t)capacity_milli < (uint64_t)current * 1000 + 500 + hysteresis_milli)
		return current;
	if (cand < current &&
	    (uint64_t)capacity_milli + 500 + hysteresis_milli > (uint64_t)current * 1000)
		return current;
	return cand;
}

#endif
