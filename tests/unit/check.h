/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/check.h - a tiny test harness: named cases, checks that say
 * what they check, and an exit status meson understands (0 pass, 1 fail,
 * 77 skip).
 *
 *   static void t_foo(void) { CHECK(1 + 1 == 2); CHECK_EQ(x, 3); }
 *   static const struct tcase cases[] = { {"foo", t_foo}, };
 *   int main(int argc, char **argv) { return run_cases(argc, argv, cases, NCASES(cases)); }
 *
 * With no argument every case runs; otherwise only the named ones (meson
 * registers one test() per case, named from cases[] by list-cases.py).  A
 * case that makes no check fails.  CHECK* print "ok"/"FAIL" lines; the
 * CHECKQ* variants print only failures, for checks inside long loops.
 */
#ifndef PVS_TEST_CHECK_H
#define PVS_TEST_CHECK_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tcase {
	const char *name;
	void (*fn)(void);
};

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

static unsigned long chk_total, chk_failed;
static int chk_skip;

__attribute__((format(printf, 5, 6), unused)) static int
chk_report(int ok, int quiet, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	chk_total++;
	if (ok && quiet)
		return 1;
	if (!ok)
		chk_failed++;
	printf("  %s  ", ok ? "ok  " : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok)
		printf("   [%s:%d]", file, line);
	printf("\n");
	fflush(stdout);
	return ok;
}

#define CHECK(c)  chk_report(!!(c), 0, __FILE__, __LINE__, "%s", #c)
#define CHECKQ(c) chk_report(!!(c), 1, __FILE__, __LINE__, "%s", #c)
/* CHECKM(cond, "printf-style description", ...) */
#define CHECKM(c, ...)  chk_report(!!(c), 0, __FILE__, __LINE__, __VA_ARGS__)
#define CHECKQM(c, ...) chk_report(!!(c), 1, __FILE__, __LINE__, __VA_ARGS__)

#define CHECK_EQ_(q, a, b)                                                                         \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		chk_report(a_ == b_, q, __FILE__, __LINE__, "%s == %s  (%lld vs %lld)", #a, #b,    \
		           a_, b_);                                                                \
	} while (0)
#define CHECK_EQ(a, b)  CHECK_EQ_(0, a, b)
#define CHECKQ_EQ(a, b) CHECK_EQ_(1, a, b)

#define CHECK_EQU_(q, a, b)                                                                        \
	do {                                                                                       \
		unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);     \
		chk_report(a_ == b_, q, __FILE__, __LINE__, "%s == %s  (%llu vs %llu)", #a, #b,    \
		           a_, b_);                                                                \
	} while (0)
#define CHECK_EQU(a, b)  CHECK_EQU_(0, a, b)
#define CHECKQ_EQU(a, b) CHECK_EQU_(1, a, b)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *a_ = (a), *b_ = (b);                                                   \
		chk_report(a_ &&b_ && !strcmp(a_, b_), 0, __FILE__, __LINE__,                      \
		           "%s == \"%s\"  (got \"%s\")", #a, b_ ? b_ : "(null)",                   \
		           a_ ? a_ : "(null)");                                                    \
	} while (0)

#define CHECK_NEAR(a, b, eps)                                                                      \
	do {                                                                                       \
		double a_ = (a), b_ = (b), e_ = (eps);                                             \
		chk_report(a_ - b_ <= e_ && b_ - a_ <= e_, 0, __FILE__, __LINE__,                  \
		           "%s ~= %s  (%.9g vs %.9g, eps %g)", #a, #b, a_, b_, e_);                \
	} while (0)

/* Print what a group of checks is about. */
#define NOTE(...)                                                                                  \
	do {                                                                                       \
		printf("  -- ");                                                                   \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		fflush(stdout);                                                                    \
	} while (0)

/* A precondition that makes the rest of the case meaningless: abort it. */
#define REQUIRE(c)                                                                                 \
	do {                                                                                       \
		if (!chk_report(!!(c), 0, __FILE__, __LINE__, "require %s", #c)) {                 \
			printf("  aborting test program\n");                                       \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

/* The same, printed only when it fails (for helpers' plumbing). */
#define REQUIREQ(c)                                                                                \
	do {                                                                                       \
		if (!chk_report(!!(c), 1, __FILE__, __LINE__, "require %s", #c)) {                 \
			printf("  aborting test program\n");                                       \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

/* Environment cannot run this case (not a failure). */
#define SKIP(...)                                                                                  \
	do {                                                                                       \
		printf("  skip  ");                                                                \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		chk_skip = 1;                                                                      \
		return;                                                                            \
	} while (0)

__attribute__((unused)) static int run_cases(int argc, char **argv, const struct tcase *cases,
                                             size_t n)
{
	int ran = 0, skipped = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int a = 1; a < argc; a++) {
		size_t i;
		for (i = 0; i < n; i++)
			if (!strcmp(argv[a], cases[i].name))
				break;
		if (i == n) {
			fprintf(stderr, "%s: no test case '%s'; cases:", argv[0], argv[a]);
			for (i = 0; i < n; i++)
				fprintf(stderr, " %s", cases[i].name);
			fprintf(stderr, "\n");
			return 2;
		}
	}
	for (size_t i = 0; i < n; i++) {
		int want = argc < 2;
		unsigned long f0 = chk_failed, t0 = chk_total;

		for (int a = 1; a < argc && !want; a++)
			want = !strcmp(argv[a], cases[i].name);
		if (!want)
			continue;
		printf("# case %s\n", cases[i].name);
		chk_skip = 0;
		cases[i].fn();
		if (chk_total == t0 && !chk_skip) {
			/* a case that checks nothing proves nothing */
			printf("  FAIL  case %s made no check\n", cases[i].name);
			chk_failed++;
		}
		ran++;
		skipped += chk_skip;
		printf("# case %s: %s\n", cases[i].name,
		       chk_failed != f0 ? "FAILED"
		       : chk_skip       ? "skipped"
		                        : "passed");
	}
	printf("# %d case(s), %lu check(s), %lu failed\n", ran, chk_total, chk_failed);
	if (chk_failed)
		return 1;
	return ran && skipped == ran ? 77 : 0;
}

#endif
