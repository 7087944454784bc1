/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_advisor.c - the guest's degree-of-parallelism advisor:
 * which source answers for given region states, that the advice is never 0,
 * the hysteresis step, and that a malformed region is ignored silently
 * unless PVSCHED_DEBUG asks for one message.  The advisor is process-wide,
 * so meson runs each case in its own process.
 */
#include <sched.h>
#include <sys/wait.h>

#include "check.h"
#include "hostregion.h"
#include "testutil.h"

#include <pvsched/pvsched.h>

static unsigned usable_cpus(void)
{
	cpu_set_t s;
	return sched_getaffinity(0, sizeof(s), &s) == 0 ? (unsigned)CPU_COUNT(&s) : 1;
}

/* A live region (host played by this process) advising DOP threads. */
static void make_region(struct pvs_hregion *r, const char *path, uint32_t dop)
{
	struct pvsched_vm v = {.recommended_dop = dop,
	                       .capacity_milli = dop * 1000,
	                       .preempted_avg_milli = 1500,
	                       .publish_period_us = 10000};

	REQUIRE(TU_HOST(r, path, .nr = 2, .name = "adv") == 0);
	pvs_hregion_publish_vm(r, &v);
	pvs_hregion_heartbeat(r, pvs_mono_ns());
}

static void t_region(void)
{
	struct pvs_hregion r;
	struct pvsched_advice a;
	const char *p = tu_path("region");

	make_region(&r, p, 1);
	setenv(PVSCHED_ENV_REGION, p, 1);
	CHECK_EQ(pvsched_advise(&a), 0);
	CHECK_EQ(a.source, PVSCHED_ADVICE_REGION);
	CHECK_EQU(a.threads, 1);
	CHECK_EQU(a.preempted_milli, 1500);
	CHECK_EQU(a.cpus, usable_cpus());
	NOTE("the host's advice above the usable CPUs is capped");
	pvs_hregion_publish_vm(&r, &(struct pvsched_vm){.recommended_dop = 64});
	pvs_hregion_heartbeat(&r, pvs_mono_ns());
	CHECK_EQU(pvsched_recommended_threads(), usable_cpus());
	CHECK_STR(pvsched_advice_source_str(pvsched_advice_source()), "region");
	pvs_hregion_close(&r);
}

static void t_stale(void)
{
	struct pvs_hregion r;
	struct pvsched_advice a;
	const char *p = tu_path("region");

	make_region(&r, p, 1);
	setenv(PVSCHED_ENV_REGION, p, 1);
	CHECK_EQ(pvsched_advise(&a), 0);
	CHECK_EQ(a.source, PVSCHED_ADVICE_REGION);
	NOTE("host agent leaves: the region is no longer the source");
	pvs_hregion_close(&r);
	CHECK_EQ(pvsched_advise(&a), 0);
	CHECK(a.source == PVSCHED_ADVICE_STEAL || a.source == PVSCHED_ADVICE_CPUS);
	CHECK(a.threads >= 1 && a.threads <= a.cpus);
}

static void t_no_region(void)
{
	struct pvsched_advice a;

	setenv(PVSCHED_ENV_REGION, tu_path("missing"), 1);
	CHECK_EQ(pvsched_advise(&a), 0);
	CHECK(a.source == PVSCHED_ADVICE_STEAL || a.source == PVSCHED_ADVICE_CPUS);
	CHECK(a.threads >= 1);
	CHECK(a.threads <= a.cpus);
	CHECK_EQU(a.cpus, usable_cpus());
}

static void t_off(void)
{
	struct pvs_hregion r;
	struct pvsched_advice a;
	const char *p = tu_path("region");

	make_region(&r, p, 1);
	setenv(PVSCHED_ENV_REGION, p, 1);
	setenv("PVSCHED_ADVICE", "off", 1);
	CHECK_EQ(pvsched_advise(&a), 0);
	CHECK_EQ(a.source, PVSCHED_ADVICE_CPUS);
	CHECK_EQU(a.threads, usable_cpus());
	pvs_hregion_close(&r);
}

/* Run the advisor in a child with stderr captured; return the bytes. */
static size_t child_stderr(const char *region, int debug, char *buf, size_t len)
{
	int fds[2];
	pid_t pid;
	size_t got = 0;
	ssize_t n;

	REQUIRE(pipe(fds) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct pvsched_advice a;
		dup2(fds[1], 2);
		close(fds[0]);
		setenv(PVSCHED_ENV_REGION, region, 1);
		if (debug)
			setenv("PVSCHED_DEBUG", "1", 1);
		pvsched_advise(&a);
		pvsched_advise(&a);
		_exit(a.source == PVSCHED_ADVICE_REGION || a.threads < 1 ? 3 : 0);
	}
	close(fds[1]);
	while (got + 1 < len && (n = read(fds[0], buf + got, len - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = 0;
	close(fds[0]);
	{
		int st;
		waitpid(pid, &st, 0);
		CHECKM(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		       "malformed region not used as a source, advice >= 1");
	}
	return got;
}

static void t_malformed(void)
{
	struct pvs_hregion r;
	const char *p = tu_path("region");
	char buf[1024];
	size_t n;

	make_region(&r, p, 1);
	r.hdr->vcpu_stride = 3; /* malformed header field */
	n = child_stderr(p, 0, buf, sizeof(buf));
	CHECKM(n == 0, "silent by default (got %zu bytes)", n);
	n = child_stderr(p, 1, buf, sizeof(buf));
	CHECKM(n > 0 && strstr(buf, "libpvsched:") && strchr(buf, '\n') == buf + n - 1,
	       "PVSCHED_DEBUG=1: exactly one line: %s", buf);
	pvs_hregion_close(&r);
}

static void t_step(void)
{
	NOTE("rounding with a 0.15 vCPU band around each boundary");
	CHECK_EQU(pvsched_dop_step(0, 1400, 4, 150), 1);
	CHECK_EQU(pvsched_dop_step(1, 1600, 4, 150), 1); /* inside the band */
	CHECK_EQU(pvsched_dop_step(1, 1700, 4, 150), 2);
	CHECK_EQU(pvsched_dop_step(2, 1400, 4, 150), 2); /* inside the band */
	CHECK_EQU(pvsched_dop_step(2, 1300, 4, 150), 1);
	CHECK_EQU(pvsched_dop_step(2, 0, 4, 150), 1);    /* never 0 */
	CHECK_EQU(pvsched_dop_step(2, 9000, 4, 150), 4); /* capped */
	CHECK_EQU(pvsched_dop_step(7, 2000, 4, 150), 2); /* out of range: reset */
	CHECK_EQU(pvsched_dop_step(1, 1000, 0, 150), 1);
	NOTE("a capacity oscillating inside the band never moves the advice");
	{
		uint32_t d = 2, moves = 0;
		for (int i = 0; i < 1000; i++) {
			uint32_t n = pvsched_dop_step(d, i % 2 ? 1380 : 2300, 4, 150);
			moves += n != d;
			d = n;
		}
		CHECK_EQU(moves, 0);
	}
}

int main(int argc, char **argv)
{
	static const struct tcase cases[] = {
	        {"region", t_region}, {"stale", t_stale},         {"no-region", t_no_region},
	        {"off", t_off},       {"malformed", t_malformed}, {"step", t_step},
	};
	return run_cases(argc, argv, cases, NCASES(cases));
}
