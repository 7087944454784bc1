/* SPDX-License-Identifier: MIT */
/*
 * common/pvs_decimal.h - the unsigned decimal number of a token that need
 * not be NUL-terminated (the journal's lines, CPU lists).  Pure.
 */
#ifndef PVSCHED_COMMON_DECIMAL_H
#define PVSCHED_COMMON_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

/* The N bytes at S as a number: 1..20 digits only, no sign, no overflow.
 * 0, or -1 (*OUT unchanged). */
static inline int pvs_dec_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

#endif
