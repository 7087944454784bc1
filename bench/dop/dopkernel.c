/* SPDX-License-Identifier: MIT */
/*
 * bench/dop/dopkernel.c - a barrier-heavy OpenMP kernel in the manner of
 * NPB UA: many short parallel regions, each a few work-shared sweeps over
 * a small grid separated by barriers.  An ordinary OpenMP program: team
 * sizes come from the OpenMP environment (OMP_NUM_THREADS, OMP_DYNAMIC,
 * OMP_WAIT_POLICY), so libpvsched-omp.so can act on it unmodified.
 *
 * Grain: by default 8192 cells per sweep, about 6 us of work per thread
 * between two barriers with 2 threads (one step, 4 sweeps, takes ~47 us on
 * one thread on the development machine): UA-like fine-grained phases, where
 * how a runtime waits at a barrier decides the run time.  With 16384 cells
 * passive waiting was within 10-30 % of one thread under a host hog; with
 * 8192, 40-50 % slower (3 runs each, same total work).
 *
 * Usage: pvsched-bench-dopkernel [--steps N] [--cells N] [--sweeps N]
 *                                [--oracle FILE]
 * Prints one JSON line: {"seconds":..,"steps":..,"mean_team":..,...}.
 * --oracle FILE (a baseline only): before each region read the team size
 * from the first bytes of FILE (an ASCII number, mapped shared) and ask for
 * exactly that many threads; the bench harness rewrites it in step with
 * its host load.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: pvsched-bench-dopkernel [--steps N] [--cells N] [--sweeps N] "
	           "[--oracle FILE]\n"
	           "  --steps N   parallel regions to run (default 40000)\n"
	           "  --cells N   grid cells per sweep (default 8192)\n"
	           "  --sweeps N  work-shared sweeps (barriers) per region (default 4)\n"
	           "  --oracle F  team size read from file F before each region\n");
}

static long parse_pos(const char *opt, const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v <= 0 || v > 1000000000L) {
		fprintf(stderr, "pvsched-bench-dopkernel: %s: '%s' is not a positive number\n", opt,
		        s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"steps", required_argument, 0, 's'},  {"cells", required_argument, 0, 'c'},
	        {"sweeps", required_argument, 0, 'w'}, {"oracle", required_argument, 0, 'o'},
	        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
	long steps = 40000, cells = 8192, sweeps = 4;
	const char *oracle_path = NULL;
	volatile char *oracle = NULL;
	double *a, *b, t0, t1, checksum = 0, team_sum = 0;
	long team_hist[65] = {0};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': steps = parse_pos("--steps", optarg); break;
		case 'c': cells = parse_pos("--cells", optarg); break;
		case 'w': sweeps = parse_pos("--sweeps", optarg); break;
		case 'o': oracle_path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "pvsched-bench-dopkernel: unexpected argument '%s'\n",
		        argv[optind]);
		return 2;
	}
	if (oracle_path) {
		int fd = open(oracle_path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "pvsched-bench-dopkernel: %s: %s\n", oracle_path,
			        strerror(errno));
			return 1;
		}
		oracle = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
		close(fd);
		if (oracle == MAP_FAILED) {
			fprintf(stderr, "pvsched-bench-dopkernel: mmap %s: %s\n", oracle_path,
			        strerror(errno));
			return 1;
		}
	}
	a = calloc((size_t)cells + 2, sizeof(*a));
	b = calloc((size_t)cells + 2, sizeof(*b));
	if (!a || !b) {
		fprintf(stderr, "pvsched-bench-dopkernel: out of memory\n");
		return 1;
	}
	for (long i = 0; i < cells + 2; i++)
		a[i] = (double)(i % 97) / 97.0;

	t0 = omp_get_wtime();
	for (long s = 0; s < steps; s++) {
		int want = 0, team = 1;
		if (oracle) {
			want = atoi((const char *)oracle);
			if (want < 1)
				want = 1;
		}
#pragma omp parallel if (want != 1) num_threads(want > 0 ? want : omp_get_max_threads())
		{
#pragma omp single nowait
			team = omp_get_num_threads();
			for (long w = 0; w < sweeps; w++) {
				double *src = (w & 1) ? b : a, *dst = (w & 1) ? a : b;
#pragma omp for schedule(static)
				for (long i = 1; i <= cells; i++)
					dst[i] = 0.25 * src[i - 1] + 0.5 * src[i] +
					         0.25 * src[i + 1];
			}
		}
		team_sum += team;
		team_hist[team < 64 ? team : 64]++;
	}
	t1 = omp_get_wtime();
	for (long i = 1; i <= cells; i++)
		checksum += a[i];
	printf("{\"seconds\":%.6f,\"steps\":%ld,\"cells\":%ld,\"sweeps\":%ld,\"mean_team\":%.4f,"
	       "\"team1_steps\":%ld,\"checksum\":%.6f}\n",
	       t1 - t0, steps, cells, sweeps, team_sum / (double)steps, team_hist[1], checksum);
	free(a);
	free(b);
	return 0;
}
