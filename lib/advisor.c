/* SPDX-License-Identifier: MIT */
/*
 * lib/advisor.c - degree-of-parallelism advice for the guest.
 *
 * One advisor per process, initialised on first use.  The fast path (a live
 * region) is a seqlock read and a vDSO clock read.  The steal fallback keeps
 * an EWMA of the summed steal rate of the CPUs this process may use and
 * applies the same hysteresis as the host (pvsched_dop_step), so the advice
 * moves only when capacity clearly crosses a rounding boundary.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dop_step.h"
#include "procstat.h"
#include "pvs_clock.h"
#include "region_internal.h"

#define HYSTERESIS_MILLI 150u
#define MAX_CPUS         1024

struct advisor {
	int off;
	uint32_t cpus;
	cpu_set_t set;
	pvsched_guest *g;
	uint64_t next_region_try_ns;
	/* steal fallback, under lock */
	pthread_mutex_t lock;
	int steal_ok;   /* /proc/stat has a steal column */
	int steal_seen; /* the hypervisor reports steal (nonzero ever) */
	uint64_t steal_last_ns;
	uint64_t steal_prev[MAX_CPUS];
	int steal_primed;
	double steal_avg;         /* vCPUs' worth of steal, smoothed (under lock) */
	uint32_t steal_avg_milli; /* the same, for lock-free readers */
	uint32_t steal_dop;
};

static struct advisor adv = {.lock = PTHREAD_MUTEX_INITIALIZER};
static pthread_once_t adv_once = PTHREAD_ONCE_INIT;

uint32_t pvsched_dop_step(uint32_t current, uint32_t capacity_milli, uint32_t max,
                          uint32_t hysteresis_milli)
{
	return pvs_dop_step_milli(current, capacity_milli, max, hysteresis_milli);
}

static void debug_msg(const char *what, int rc)
{
	const char *d = getenv("PVSCHED_DEBUG");
	if (d && *d && strcmp(d, "0"))
		fprintf(stderr, "libpvsched: %s: %s%s%s\n", what, pvsched_strerror(rc),
		        pvsched_last_verr() ? " - " : "",
		        pvsched_last_verr() ? pvsched_verr_str(pvsched_last_verr()) : "");
}

static void try_region(uint64_t now)
{
	pvsched_guest *g = NULL;
	int rc;

	if (now < adv.next_region_try_ns)
		return;
	/* a missing region is looked for again once a second (cheap, and a
	 * host agent or device may appear later) */
	adv.next_region_try_ns = now + 1000000000ull;
	rc = pvsched_open(&g);
	if (rc == 0) {
		__atomic_store_n(&adv.g, g, __ATOMIC_RELEASE);
		return;
	}
	if (rc != -ENOENT)
		debug_msg("region ignored", rc); /* malformed: said once per try */
}

static void init(void)
{
	const char *off = getenv("PVSCHED_ADVICE");
	int fd;

	adv.off = off && !strcmp(off, "off");
	CPU_ZERO(&adv.set);
	if (sched_getaffinity(0, sizeof(adv.set), &adv.set) == 0)
		adv.cpus = (uint32_t)CPU_COUNT(&adv.set);
	if (!adv.cpus) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		adv.cpus = n > 0 ? (uint32_t)n : 1;
		for (uint32_t c = 0; c < adv.cpus && c < CPU_SETSIZE; c++)
			CPU_SET(c, &adv.set);
	}
	adv.steal_dop = adv.cpus;
	fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		adv.steal_ok = 1;
		close(fd);
	}
	if (!adv.off)
		try_region(pvs_mono_ns());
}

/* The advisor's region handle, for the pv-aware lock and barrier (one
 * mapping per process).  Opened regardless of PVSCHED_ADVICE=off, which
 * concerns the advice only; a missing region is retried at most once a
 * second (try_region), by one caller at a time. */
pvsched_guest *pvs__default_guest(void)
{
	pvsched_guest *g = __atomic_load_n(&adv.g, __ATOMIC_ACQUIRE);

	if (g)
		return g;
	pthread_once(&adv_once, init);
	if (pthread_mutex_trylock(&adv.lock) == 0) {
		try_region(pvs_mono_ns());
		pthread_mutex_unlock(&adv.lock);
	}
	return __atomic_load_n(&adv.g, __ATOMIC_ACQUIRE);
}

/* Read per-CPU steal (ns) of our CPUs from /proc/stat; sum of deltas. */
static int read_steal(uint64_t *delta_ns, int *any_nonzero)
{
	static char buf[64 * 1024];
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t tick_ns = 1000000000ull / (uint64_t)(hz > 0 ? hz : 100), sum = 0;
	int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	char *p, *end;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	end = buf + n;
	*any_nonzero = 0;
	for (p = buf; p < end;) {
		char *nl = strchr(p, '\n');
		if (!nl)
			nl = end;
		*nl = 0; /* one line at a time: sscanf would read on past it */
		{
			unsigned cpu;
			unsigned long long v[8];
			if (pvs_procstat_cpu_line(p, &cpu, v) == 8 && cpu < MAX_CPUS) {
				uint64_t steal = v[7] * tick_ns;
				if (steal)
					*any_nonzero = 1;
				if (cpu < CPU_SETSIZE && CPU_ISSET(cpu, &adv.set)) {
					if (adv.steal_primed && steal >= adv.steal_prev[cpu])
						sum += steal - adv.steal_prev[cpu];
				}
				adv.steal_prev[cpu] = steal;
			}
		}
		p = nl + 1;
	}
	*delta_ns = sum;
	return 0;
}

static void steal_refresh(uint64_t now)
{
	uint64_t delta = 0, dt;
	int nz = 0;

	if (pthread_mutex_trylock(&adv.lock))
		return; /* someone else refreshes: use the cached value */
	dt = now - adv.steal_last_ns;
	if (adv.steal_last_ns && dt < PVSCHED_STEAL_REFRESH_MS * 1000000ull) {
		pthread_mutex_unlock(&adv.lock);
		return;
	}
	if (read_steal(&delta, &nz) < 0) {
		__atomic_store_n(&adv.steal_ok, 0, __ATOMIC_RELAXED);
	} else {
		if (nz)
			__atomic_store_n(&adv.steal_seen, 1, __ATOMIC_RELAXED);
		if (adv.steal_primed && adv.steal_last_ns) {
			double inst = (double)delta / (double)dt;
			/* EWMA with time constant PVSCHED_STEAL_WINDOW_MS, without
			 * libm: alpha = dt / (tau + dt) */
			double tau = PVSCHED_STEAL_WINDOW_MS * 1e6;
			double a = (double)dt / (tau + (double)dt);
			adv.steal_avg += a * (inst - adv.steal_avg);
			if (adv.steal_avg < 0)
				adv.steal_avg = 0;
		}
		adv.steal_primed = 1;
		{
			double cap = adv.cpus - adv.steal_avg;
			uint32_t cap_milli = cap <= 0 ? 0 : (uint32_t)(cap * 1000.0 + 0.5);
			__atomic_store_n(&adv.steal_avg_milli,
			                 (uint32_t)(adv.steal_avg * 1000.0 + 0.5),
			                 __ATOMIC_RELAXED);
			__atomic_store_n(&adv.steal_dop,
			                 pvsched_dop_step(adv.steal_dop, cap_milli, adv.cpus,
			                                  HYSTERESIS_MILLI),
			                 __ATOMIC_RELAXED);
		}
	}
	__atomic_store_n(&adv.steal_last_ns, now, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&adv.lock);
}

int pvsched_advise(struct pvsched_advice *out)
{
	pvsched_guest *g;

	if (!out)
		return -EINVAL;
	pthread_once(&adv_once, init);
	memset(out, 0, sizeof(*out));
	out->cpus = adv.cpus;
	out->threads = adv.cpus;
	out->capacity_milli = adv.cpus * 1000u;
	out->source = PVSCHED_ADVICE_CPUS;
	if (adv.off)
		return 0;
	/* The clock is read only off the region path: libgomp asks once per
	 * parallel region, and in a guest whose clocksource the vDSO cannot
	 * read (HPET in a TCG guest) every read is a system call and an
	 * emulated device access */
	g = __atomic_load_n(&adv.g, __ATOMIC_ACQUIRE);
	if (!g && pthread_mutex_trylock(&adv.lock) == 0) {
		try_region(pvs_mono_ns());
		pthread_mutex_unlock(&adv.lock);
		g = __atomic_load_n(&adv.g, __ATOMIC_ACQUIRE);
	}
	if (g) {
		struct pvsched_vm_info vi;
		if (pvsched_read_vm(g, &vi) == 0 && vi.recommended_dop > 0) {
			out->threads =
			        vi.recommended_dop < adv.cpus ? vi.recommended_dop : adv.cpus;
			out->preempted_milli = vi.preempted_avg_milli;
			out->capacity_milli = vi.capacity_milli;
			out->source = PVSCHED_ADVICE_REGION;
			return 0;
		}
	}
	if (__atomic_load_n(&adv.steal_ok, __ATOMIC_RELAXED)) {
		steal_refresh(pvs_mono_ns());
		if (__atomic_load_n(&adv.steal_seen, __ATOMIC_RELAXED)) {
			uint32_t s = __atomic_load_n(&adv.steal_avg_milli, __ATOMIC_RELAXED);
			out->threads = __atomic_load_n(&adv.steal_dop, __ATOMIC_RELAXED);
			out->preempted_milli = s;
			out->capacity_milli = s >= adv.cpus * 1000u ? 0 : adv.cpus * 1000u - s;
			out->source = PVSCHED_ADVICE_STEAL;
		}
	}
	if (out->threads < 1)
		out->threads = 1;
	return 0;
}

unsigned pvsched_recommended_threads(void)
{
	struct pvsched_advice a;
	pvsched_advise(&a);
	return a.threads;
}

unsigned pvsched_preempted_vcpus_milli(void)
{
	struct pvsched_advice a;
	pvsched_advise(&a);
	return a.preempted_milli;
}

enum pvsched_advice_source pvsched_advice_source(void)
{
	struct pvsched_advice a;
	pvsched_advise(&a);
	return a.source;
}

const char *pvsched_advice_source_str(enum pvsched_advice_source s)
{
	switch (s) {
	case PVSCHED_ADVICE_REGION: return "region";
	case PVSCHED_ADVICE_STEAL: return "steal";
	case PVSCHED_ADVICE_CPUS: return "cpus";
	}
	return "unknown";
}
