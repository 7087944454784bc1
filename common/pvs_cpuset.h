/* SPDX-License-Identifier: MIT */
/*
 * common/pvs_cpuset.h - a set of CPUs (0..PVS_CPUSET_MAX-1): the one type
 * the daemon's masks (config cpus=/reserved_cpus=, a VM's affinity, the
 * co-scheduling placement), the pure policy (policy/cosched.h) and the
 * journal's affinity records use.
 *
 * The operations here are inline and pure, so policy/ may include this
 * header.  The CPU-list parser and formatter ("0-3,8") and the reader of
 * the online CPUs are in common/cpuset.c (the pvsched-cpuset library: the
 * reader makes system calls, so policy/ does not link it).
 *
 * Bit C is bit C % 64 of w[C / 64], the layout of glibc's cpu_set_t on a
 * 64-bit host; pvs_cpuset_to/from_cpu_set() convert for the affinity
 * system calls.
 */
#ifndef PVSCHED_COMMON_CPUSET_H
#define PVSCHED_COMMON_CPUSET_H

#include <sched.h> /* cpu_set_t (_GNU_SOURCE) */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PVS_CPUSET_MAX   1024 /* CPUs 0..1023, as many as cpu_set_t */
#define PVS_CPUSET_WORDS (PVS_CPUSET_MAX / 64)
/* Room for any CPU list pvs_cpuset_format() writes, with its NUL (the
 * longest, pairs "0-1,3-4,...", is about 2.7 KB). */
#define PVS_CPUSET_LIST_MAX 4608

struct pvs_cpuset {
	uint64_t w[PVS_CPUSET_WORDS];
};

_Static_assert(sizeof(cpu_set_t) == sizeof(struct pvs_cpuset), "cpu_set_t is 1024 bits");

static inline void pvs_cpuset_zero(struct pvs_cpuset *m)
{
	memset(m, 0, sizeof(*m));
}

/* Every CPU 0..PVS_CPUSET_MAX-1. */
static inline void pvs_cpuset_fill(struct pvs_cpuset *m)
{
	memset(m, 0xff, sizeof(*m));
}

/* CPUs at or past PVS_CPUSET_MAX are never in a set (set ignores them). */
static inline void pvs_cpuset_set(struct pvs_cpuset *m, unsigned cpu)
{
	if (cpu < PVS_CPUSET_MAX)
		m->w[cpu / 64] |= 1ull << (cpu % 64);
}

static inline int pvs_cpuset_test(const struct pvs_cpuset *m, unsigned cpu)
{
	return cpu < PVS_CPUSET_MAX && (m->w[cpu / 64] >> (cpu % 64) & 1);
}

static inline unsigned pvs_cpuset_count(const struct pvs_cpuset *m)
{
	unsigned n = 0;

	for (unsigned i = 0; i < PVS_CPUSET_WORDS; i++)
		n += (unsigned)__builtin_popcountll(m->w[i]);
	return n;
}

static inline int pvs_cpuset_empty(const struct pvs_cpuset *m)
{
	for (unsigned i = 0; i < PVS_CPUSET_WORDS; i++)
		if (m->w[i])
			return 0;
	return 1;
}

static inline int pvs_cpuset_equal(const struct pvs_cpuset *a, const struct pvs_cpuset *b)
{
	return !memcmp(a, b, sizeof(*a));
}

/* R = A & B, A | B, A & ~B (R may be A or B). */
static inline void pvs_cpuset_and(struct pvs_cpuset *r, const struct pvs_cpuset *a,
                                  const struct pvs_cpuset *b)
{
	for (unsigned i = 0; i < PVS_CPUSET_WORDS; i++)
		r->w[i] = a->w[i] & b->w[i];
}

static inline void pvs_cpuset_or(struct pvs_cpuset *r, const struct pvs_cpuset *a,
                                 const struct pvs_cpuset *b)
{
	for (unsigned i = 0; i < PVS_CPUSET_WORDS; i++)
		r->w[i] = a->w[i] | b->w[i];
}

static inline void pvs_cpuset_andnot(struct pvs_cpuset *r, const struct pvs_cpuset *a,
                                     const struct pvs_cpuset *b)
{
	for (unsigned i = 0; i < PVS_CPUSET_WORDS; i++)
		r->w[i] = a->w[i] & ~b->w[i];
}

/* Whether A and B have a CPU in common. */
static inline int pvs_cpuset_intersects(const struct pvs_cpuset *a, const struct pvs_cpuset *b)
{
	for (unsigned i = 0; i < PVS_CPUSET_WORDS; i++)
		if (a->w[i] & b->w[i])
			return 1;
	return 0;
}

static inline void pvs_cpuset_to_cpu_set(const struct pvs_cpuset *m, cpu_set_t *set)
{
	CPU_ZERO(set);
	for (unsigned c = 0; c < PVS_CPUSET_MAX; c++)
		if (pvs_cpuset_test(m, c))
			CPU_SET(c, set);
}

static inline void pvs_cpuset_from_cpu_set(struct pvs_cpuset *m, const cpu_set_t *set)
{
	pvs_cpuset_zero(m);
	for (unsigned c = 0; c < PVS_CPUSET_MAX; c++)
		if (CPU_ISSET(c, set))
			pvs_cpuset_set(m, c);
}

/* ---- common/cpuset.c ---- */

/* pvs_cpuset_parse() flags */
enum {
	/* each item past the one before: "0-3,8", not "8,0-3", "1,1" or
	 * "0-3,2" (the journal's canonical form, as pvs_cpuset_format()
	 * writes it; a configuration may list CPUs in any order) */
	PVS_CPUSET_ASCENDING = 1,
};

/*
 * Parse the CPU list of the N bytes at S ("0-3,8": CPUs and ranges A-B,
 * A <= B, below PVS_CPUSET_MAX, separated by single commas; decimal digits
 * only, no spaces) into M.  0, or -EINVAL with *WHY (if WHY) saying what is
 * wrong and M cleared.
 */
int pvs_cpuset_parse(const char *s, size_t n, unsigned flags, struct pvs_cpuset *m,
                     const char **why);

/* The CPU list of M, ascending and with the longest ranges ("0-3,8"), into
 * BUF (NUL-terminated): its length, or 0 when M is empty or the list does
 * not fit in LEN (BUF is then ""). */
size_t pvs_cpuset_format(const struct pvs_cpuset *m, char *buf, size_t len);

/* The online CPUs (/sys/devices/system/cpu/online) into M: 0, -errno when
 * the file cannot be read, -EINVAL when it does not parse. */
int pvs_cpuset_read_online(struct pvs_cpuset *m);

#endif
