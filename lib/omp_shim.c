/* SPDX-License-Identifier: MIT */
/*
 * lib/omp_shim.c - libpvsched-omp.so: pvsched advice for unmodified OpenMP
 * programs built with GCC's libgomp.
 *
 * With OMP_DYNAMIC=true, libgomp sizes every parallel region's team with
 * gomp_dynamic_max_threads(): n = min(usable CPUs, nthreads-var), minus
 * getloadavg()'s 15-minute element (plus 0.1, truncated).  getloadavg is
 * imported from libc, so this preloaded library answers it: for a call from
 * libgomp it returns n - advice as the 15-minute load, which makes the team
 * exactly the advice (never more than n).  Calls from anything else (uptime,
 * a program that is not OpenMP) get the real load average untouched.
 *
 * Usage: OMP_DYNAMIC=true LD_PRELOAD=libpvsched-omp.so ./program
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "region_internal.h"

typedef int (*getloadavg_fn)(double *, int);
typedef int (*omp_max_fn)(void);

static uintptr_t gomp_ra;    /* a call site known to be in libgomp */
static omp_max_fn omp_max_p; /* omp_get_max_threads, once found */

static int from_libgomp(void *ra)
{
	Dl_info info;
	uintptr_t known = __atomic_load_n(&gomp_ra, __ATOMIC_RELAXED);

	if (known && known == (uintptr_t)ra)
		return 1;
	if (!dladdr(ra, &info) || !info.dli_fname)
		return 0;
	if (!strstr(info.dli_fname, "libgomp"))
		return 0;
	__atomic_store_n(&gomp_ra, (uintptr_t)ra, __ATOMIC_RELAXED);
	return 1;
}

__attribute__((visibility("default"))) int getloadavg(double loadavg[], int nelem)
{
	static getloadavg_fn real;
	getloadavg_fn r = __atomic_load_n(&real, __ATOMIC_RELAXED);
	void *ra = __builtin_return_address(0);
	struct pvsched_advice a;
	omp_max_fn omp_max;
	unsigned n, load;

	if (!r) {
		r = (getloadavg_fn)(uintptr_t)dlsym(RTLD_NEXT, "getloadavg");
		__atomic_store_n(&real, r, __ATOMIC_RELAXED);
	}
	if (!from_libgomp(ra) || nelem < 3)
		return r ? r(loadavg, nelem) : -1;
	pvsched_advise(&a);
	n = a.cpus;
	/* libgomp caps n by nthreads-var, which omp_get_max_threads returns;
	 * looked up once (libgomp is loaded: it called us) */
	omp_max = __atomic_load_n(&omp_max_p, __ATOMIC_RELAXED);
	if (!omp_max) {
		omp_max = (omp_max_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "omp_get_max_threads");
		__atomic_store_n(&omp_max_p, omp_max, __ATOMIC_RELAXED);
	}
	if (omp_max) {
		int m = omp_max();
		if (m > 0 && (unsigned)m < n)
			n = (unsigned)m;
	}
	load = a.threads < n ? n - a.threads : 0;
	for (int i = 0; i < nelem && i < 3; i++)
		loadavg[i] = (double)load;
	return nelem < 3 ? nelem : 3;
}
