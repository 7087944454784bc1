/* SPDX-License-Identifier: MIT */
/*
 * lib/procstat.h - one per-CPU line of /proc/stat, for the daemon's host
 * load (daemon/hoststat.c) and the guest library's steal time
 * (lib/advisor.c).  Header-only: the guest library stays libc-only.
 */
#ifndef PVSCHED_LIB_PROCSTAT_H
#define PVSCHED_LIB_PROCSTAT_H

#include <stdio.h>
#include <string.h>

/* LINE "cpuN user nice system idle iowait irq softirq steal ..." (NUL-
 * terminated): N and the first 8 counters (USER_HZ ticks; missing ones are
 * 0).  Returns how many counters were read, 0 for any other line. */
static inline int pvs_procstat_cpu_line(const char *line, unsigned *cpu, unsigned long long v[8])
{
	int n;

	if (strncmp(line, "cpu", 3) || line[3] < '0' || line[3] > '9')
		return 0;
	memset(v, 0, 8 * sizeof(v[0]));
	n = sscanf(line + 3, "%u %llu %llu %llu %llu %llu %llu %llu %llu", cpu, &v[0], &v[1], &v[2],
	           &v[3], &v[4], &v[5], &v[6], &v[7]);
	return n > 1 ? n - 1 : 0;
}

#endif
