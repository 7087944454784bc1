/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_omp_preload.c - libpvsched-omp.so really changes
 * libgomp's team size.  Run with LD_PRELOAD=libpvsched-omp.so (meson sets
 * it).  This process plays the host: it publishes recommended_dop into a
 * region and checks the team size of an unmodified `#pragma omp parallel`
 * with dynamic adjustment on; getloadavg() called by anything but libgomp
 * must still return the real load average.
 */
#include <omp.h>
#include <sched.h>

#include "check.h"
#include "hostregion.h"
#include "testutil.h"

#include <pvsched/pvsched.h>

static int team_size(void)
{
	int n = 0;
#pragma omp parallel
	{
#pragma omp single
		n = omp_get_num_threads();
	}
	return n;
}

static void publish(struct pvs_hregion *r, uint32_t dop)
{
	pvs_hregion_publish_vm(
	        r, &(struct pvsched_vm){.recommended_dop = dop, .capacity_milli = dop * 1000});
	pvs_hregion_heartbeat(r, pvs_mono_ns());
}

static void t_team(void)
{
	struct pvs_hregion r;
	const char *p = tu_path("region");
	cpu_set_t set;
	int cpus;

	if (!getenv("LD_PRELOAD") || !strstr(getenv("LD_PRELOAD"), "pvsched-omp"))
		SKIP("run with LD_PRELOAD=libpvsched-omp.so");
	REQUIRE(sched_getaffinity(0, sizeof(set), &set) == 0);
	cpus = CPU_COUNT(&set);
	if (cpus < 2)
		SKIP("needs 2 usable CPUs");
	REQUIRE(TU_HOST(&r, p, .nr = 2, .name = "omp") == 0);
	publish(&r, 1);
	setenv(PVSCHED_ENV_REGION, p, 1);
	omp_set_dynamic(1);
	omp_set_num_threads(cpus);
	NOTE("host advises 1 thread");
	CHECK_EQ(team_size(), 1);
	NOTE("host advises 2 threads");
	publish(&r, 2);
	CHECK_EQ(team_size(), 2);
	NOTE("host advises more than the CPUs: team = CPUs");
	publish(&r, 64);
	CHECK_EQ(team_size(), cpus);
	NOTE("without dynamic adjustment libgomp does not ask: full team");
	publish(&r, 1);
	omp_set_dynamic(0);
	CHECK_EQ(team_size(), cpus);
	pvs_hregion_close(&r);
}

static void t_not_libgomp(void)
{
	double mine[3], real[3] = {0};
	FILE *f = fopen("/proc/loadavg", "r");

	REQUIRE(f && fscanf(f, "%lf %lf %lf", &real[0], &real[1], &real[2]) == 3);
	fclose(f);
	REQUIRE(getloadavg(mine, 3) == 3);
	NOTE("a caller that is not libgomp gets the real load average");
	CHECK_NEAR(mine[2], real[2], 0.05);
	CHECK_NEAR(mine[0], real[0], 0.5);
}

int main(int argc, char **argv)
{
	static const struct tcase cases[] = {
	        {"team", t_team},
	        {"not-libgomp", t_not_libgomp},
	};
	return run_cases(argc, argv, cases, NCASES(cases));
}
