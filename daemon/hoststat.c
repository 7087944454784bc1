/* SPDX-License-Identifier: MIT */
/*
 * daemon/hoststat.c - per-CPU busy time from /proc/stat.
 *
 * /proc/stat counts in USER_HZ ticks (10 ms) and a read costs ~5-10 us (it
 * formats every CPU and interrupt counter of the host), so it is read at
 * most every PVS_HOSTSTAT_MIN_NS; a period in between gets the busy rate of
 * the last interval.  The capacity it feeds is smoothed over a window of
 * many periods anyway (policy/dop.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procfs.h"
#include "procstat.h"
#include "sampler.h"

#define PVS_HOSTSTAT_MIN_NS 50000000ull

struct pvs_hoststat {
	int fd;
	unsigned ncpus;
	int samples;
	uint64_t ns_per_tick;
	uint64_t t_prev, t_cur;                             /* when prev and cur were read */
	uint64_t prev[PVS_CPUSET_MAX], cur[PVS_CPUSET_MAX]; /* per CPU */
	char buf[128 * 1024];
};

struct pvs_hoststat *pvs_hoststat_new(void)
{
	struct pvs_hoststat *h = calloc(1, sizeof(*h));
	long hz = sysconf(_SC_CLK_TCK);

	if (!h)
		return NULL;
	h->fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	if (h->fd < 0) {
		free(h);
		return NULL;
	}
	h->ns_per_tick = 1000000000ull / (uint64_t)(hz > 0 ? hz : 100);
	return h;
}

void pvs_hoststat_free(struct pvs_hoststat *h)
{
	if (!h)
		return;
	close(h->fd);
	free(h);
}

int pvs_hoststat_sample(struct pvs_hoststat *h, uint64_t now_ns)
{
	ssize_t n;
	char *p, *end;
	unsigned maxcpu = 0;

	if (h->samples && now_ns - h->t_cur < PVS_HOSTSTAT_MIN_NS)
		return 0;
	n = pvs_pread_all(h->fd, h->buf, sizeof(h->buf));
	if (n < 0)
		return (int)n;
	memcpy(h->prev, h->cur, sizeof(h->cur));
	h->t_prev = h->t_cur;
	h->t_cur = now_ns;
	end = h->buf + n;
	for (p = h->buf; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		*nl = 0;
		{
			unsigned long long v[8];
			unsigned cpu;
			if (pvs_procstat_cpu_line(p, &cpu, v) >= 7 && cpu < PVS_CPUSET_MAX) {
				/* user nice system [idle iowait] irq softirq steal */
				h->cur[cpu] =
				        (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * h->ns_per_tick;
				if (cpu + 1 > maxcpu)
					maxcpu = cpu + 1;
			}
		}
		p = nl + 1;
	}
	h->ncpus = maxcpu;
	if (h->samples < 2)
		h->samples++;
	return 0;
}

int pvs_hoststat_interval(const struct pvs_hoststat *h, const struct pvs_cpuset *mask,
                          uint64_t *busy_ns, uint64_t *start_ns, uint64_t *end_ns)
{
	uint64_t sum = 0;

	*busy_ns = *start_ns = *end_ns = 0;
	if (h->samples < 2 || h->t_cur <= h->t_prev)
		return -1;
	for (unsigned c = 0; c < h->ncpus; c++)
		if (pvs_cpuset_test(mask, c))
			sum += h->cur[c] >= h->prev[c] ? h->cur[c] - h->prev[c] : 0;
	*busy_ns = sum;
	*start_ns = h->t_prev;
	*end_ns = h->t_cur;
	return 0;
}

unsigned pvs_hoststat_ncpus(const struct pvs_hoststat *h)
{
	return h->ncpus;
}
