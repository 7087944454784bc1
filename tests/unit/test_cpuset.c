/* SPDX-License-Identifier: MIT */
/* tests/unit/test_cpuset.c - common/pvs_cpuset.h and common/cpuset.c: the
 * set operations, the CPU-list parser (any order, and PVS_CPUSET_ASCENDING
 * as the journal reads it) and formatter round trips, ranges, the highest
 * CPU, bad lists with their reasons, and the online CPUs. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "pvs_cpuset.h"

static int parse(const char *s, unsigned flags, struct pvs_cpuset *m, const char **why)
{
	return pvs_cpuset_parse(s, strlen(s), flags, m, why);
}

static void t_ops(void)
{
	struct pvs_cpuset a, b, r;
	cpu_set_t set;

	pvs_cpuset_zero(&a);
	CHECK(pvs_cpuset_empty(&a) && pvs_cpuset_count(&a) == 0);
	pvs_cpuset_set(&a, 0);
	pvs_cpuset_set(&a, 63);
	pvs_cpuset_set(&a, 64);
	pvs_cpuset_set(&a, PVS_CPUSET_MAX - 1);
	pvs_cpuset_set(&a, PVS_CPUSET_MAX); /* ignored */
	CHECK_EQU(pvs_cpuset_count(&a), 4);
	CHECK(pvs_cpuset_test(&a, 63) && pvs_cpuset_test(&a, 64) && !pvs_cpuset_test(&a, 65));
	CHECK(pvs_cpuset_test(&a, PVS_CPUSET_MAX - 1) && !pvs_cpuset_test(&a, PVS_CPUSET_MAX));
	REQUIRE(parse("63-64,100", 0, &b, NULL) == 0);
	CHECK(pvs_cpuset_intersects(&a, &b));
	pvs_cpuset_and(&r, &a, &b);
	CHECK_EQU(pvs_cpuset_count(&r), 2);
	pvs_cpuset_or(&r, &a, &b);
	CHECK_EQU(pvs_cpuset_count(&r), 5);
	pvs_cpuset_andnot(&r, &a, &b);
	CHECK(pvs_cpuset_count(&r) == 2 && pvs_cpuset_test(&r, 0) && !pvs_cpuset_test(&r, 63));
	pvs_cpuset_andnot(&r, &r, &r);
	CHECK(pvs_cpuset_empty(&r) && !pvs_cpuset_intersects(&a, &r));
	pvs_cpuset_fill(&r);
	CHECK_EQU(pvs_cpuset_count(&r), PVS_CPUSET_MAX);
	/* cpu_set_t and back */
	pvs_cpuset_to_cpu_set(&a, &set);
	CHECK(CPU_COUNT(&set) == 4 && CPU_ISSET(64, &set) && CPU_ISSET(PVS_CPUSET_MAX - 1, &set));
	pvs_cpuset_from_cpu_set(&r, &set);
	CHECK(pvs_cpuset_equal(&r, &a) && !pvs_cpuset_equal(&r, &b));
}

static void t_round_trip(void)
{
	static const char *lists[] = {
	        "0",          "1023", "0-1023", "0-3,8", "0,2-4,6", "63-64", "5,10-11,1000-1022",
	        "0-1,3-4,6-7"};
	struct pvs_cpuset m, m2;
	char buf[PVS_CPUSET_LIST_MAX];

	for (size_t i = 0; i < NCASES(lists); i++) {
		for (unsigned f = 0; f <= PVS_CPUSET_ASCENDING; f++)
			CHECKM(parse(lists[i], f, &m, NULL) == 0 &&
			               pvs_cpuset_format(&m, buf, sizeof(buf)) ==
			                       strlen(lists[i]) &&
			               !strcmp(buf, lists[i]),
			       "'%s' (flags %u) -> '%s'", lists[i], f, buf);
	}
	REQUIRE(parse("0-1023", 0, &m, NULL) == 0);
	CHECK_EQU(pvs_cpuset_count(&m), PVS_CPUSET_MAX);
	/* the canonical form: ascending, the longest ranges */
	CHECK(parse("0,2,3,4,6", PVS_CPUSET_ASCENDING, &m, NULL) == 0 &&
	      pvs_cpuset_format(&m, buf, sizeof(buf)) && !strcmp(buf, "0,2-4,6"));
	/* any order, overlaps and repeats as a configuration may write them */
	CHECK(parse("8,0-3", 0, &m, NULL) == 0 && pvs_cpuset_format(&m, buf, sizeof(buf)) &&
	      !strcmp(buf, "0-3,8"));
	CHECK(parse("0-3,2,1,1", 0, &m, NULL) == 0 && pvs_cpuset_count(&m) == 4);
	/* only N bytes count */
	CHECK(pvs_cpuset_parse("1-3", 1, PVS_CPUSET_ASCENDING, &m, NULL) == 0 &&
	      pvs_cpuset_count(&m) == 1 && pvs_cpuset_test(&m, 1));
	CHECK(pvs_cpuset_parse("1,", 1, PVS_CPUSET_ASCENDING, &m, NULL) == 0);
	/* the longest lists fit PVS_CPUSET_LIST_MAX: every other CPU, pairs */
	pvs_cpuset_zero(&m);
	for (unsigned c = 0; c < PVS_CPUSET_MAX; c += 2)
		pvs_cpuset_set(&m, c);
	CHECK(pvs_cpuset_format(&m, buf, sizeof(buf)) > 2000 &&
	      parse(buf, PVS_CPUSET_ASCENDING, &m2, NULL) == 0 && pvs_cpuset_equal(&m, &m2));
	pvs_cpuset_zero(&m);
	for (unsigned c = 0; c < PVS_CPUSET_MAX; c++)
		if (c % 3 != 2)
			pvs_cpuset_set(&m, c);
	CHECK(pvs_cpuset_format(&m, buf, sizeof(buf)) == 2673 &&
	      parse(buf, PVS_CPUSET_ASCENDING, &m2, NULL) == 0 && pvs_cpuset_equal(&m, &m2));
}

static void t_format_short(void)
{
	struct pvs_cpuset m;
	char small[4] = "xyz";

	/* empty, or does not fit: 0 and "" */
	pvs_cpuset_zero(&m);
	CHECK(pvs_cpuset_format(&m, small, sizeof(small)) == 0 && small[0] == 0);
	REQUIRE(parse("0-3,8", 0, &m, NULL) == 0);
	CHECK(pvs_cpuset_format(&m, small, sizeof(small)) == 0 && small[0] == 0);
	CHECK(pvs_cpuset_format(&m, small, 0) == 0);
	REQUIRE(parse("1", 0, &m, NULL) == 0);
	CHECK(pvs_cpuset_format(&m, small, 2) == 1 && !strcmp(small, "1"));
}

static void t_bad(void)
{
	static const struct {
		const char *s, *why;
	} bad[] = {
	        {"", "empty cpu list"},
	        {"1024", "cpu number out of range (0..1023)"},
	        {"0-1024", "cpu number out of range (0..1023)"},
	        {"99999999999999999999999", "bad cpu list"},
	        {"18446744073709551616", "bad cpu list"},
	        {"3-1", "bad cpu range"},
	        {"1,", "bad cpu list"},
	        {",1", "bad cpu list"},
	        {"1,,2", "bad cpu list"},
	        {"-1", "bad cpu list"},
	        {"1-", "bad cpu range"},
	        {"1--2", "bad cpu range"},
	        {"1-2-3", "bad cpu list"},
	        {"x", "bad cpu list"},
	        {"0x1", "bad cpu list"},
	        {"0;1", "bad cpu list"},
	        {" 1", "bad cpu list"},
	        {"1 ", "bad cpu list"},
	        {"+1", "bad cpu list"},
	};
	static const char *unsorted[] = {"2,1", "0-3,2", "1,1", "8,0-3"};
	struct pvs_cpuset m;
	const char *why;

	for (size_t i = 0; i < NCASES(bad); i++)
		for (unsigned f = 0; f <= PVS_CPUSET_ASCENDING; f++) {
			int rc;

			why = NULL;
			rc = parse(bad[i].s, f, &m, &why);
			CHECKM(rc == -EINVAL && why && !strcmp(why, bad[i].why) &&
			               pvs_cpuset_empty(&m),
			       "'%s' (flags %u): %s", bad[i].s, f, why ? why : "?");
		}
	for (size_t i = 0; i < NCASES(unsorted); i++) {
		int rc;

		why = NULL;
		rc = parse(unsorted[i], PVS_CPUSET_ASCENDING, &m, &why);
		CHECKM(rc == -EINVAL && why && !strcmp(why, "cpu list not ascending") &&
		               pvs_cpuset_empty(&m),
		       "'%s': %s", unsorted[i], why ? why : "?");
		CHECKM(parse(unsorted[i], 0, &m, NULL) == 0, "'%s' in any order", unsorted[i]);
	}
	/* WHY may be NULL */
	CHECK(parse("x", 0, &m, NULL) == -EINVAL);
}

static void t_online(void)
{
	struct pvs_cpuset m;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	REQUIRE(pvs_cpuset_read_online(&m) == 0);
	CHECKM(n <= 0 || pvs_cpuset_count(&m) == (unsigned)n, "%u online, sysconf %ld",
	       pvs_cpuset_count(&m), n);
	CHECK(!pvs_cpuset_empty(&m));
}

static const struct tcase cases[] = {
        {"ops", t_ops}, {"round-trip", t_round_trip}, {"format-short", t_format_short},
        {"bad", t_bad}, {"online", t_online},
};

int main(int argc, char **argv)
{
	return run_cases(argc, argv, cases, NCASES(cases));
}
