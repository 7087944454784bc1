/* SPDX-License-Identifier: MIT */
/*
 * tools/pvsched-run.c - run an unmodified OpenMP program with pvsched's
 * degree-of-parallelism advice: prepend libpvsched-omp.so to LD_PRELOAD,
 * set OMP_DYNAMIC=true, and exec the program.  In a VM with the pvsched
 * device, or any cloud VM (steal-time fallback), that is all.  On a host,
 * --attach NAME first asks pvschedd to monitor this process as a process
 * VM and passes the region to the program, and the eventfd it rings
 * (PVSCHED_DOORBELL_FD) so that pvschedd need not poll its boost requests;
 * exec keeps the pid, so the program is the VM.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvsched/pvsched.h>

#include "ctlclient.h"

#define PROG "pvsched-run"

#ifndef PVS_OMP_LIB_INSTALLED
#define PVS_OMP_LIB_INSTALLED "/usr/local/lib/libpvsched-omp.so"
#endif

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: pvsched-run [OPTIONS] [--] PROGRAM [ARGS...]\n"
	        "Run an OpenMP program (GCC libgomp) with pvsched's parallelism advice:\n"
	        "LD_PRELOAD gets libpvsched-omp.so, OMP_DYNAMIC=true, then PROGRAM runs\n"
	        "with every parallel region sized to the advice (see pvsched-run(1)).\n"
	        "\n"
	        "Options:\n"
	        "  -a, --attach NAME   on a host: have pvschedd monitor this process as\n"
	        "                      process VM NAME and give PROGRAM its region\n"
	        "                      (PVSCHED_REGION) and the eventfd that rings\n"
	        "                      pvschedd's doorbell (PVSCHED_DOORBELL_FD)\n"
	        "  -t, --threads GLOB  with --attach: the threads that are vCPUs, by\n"
	        "                      name (default '*': all of them)\n"
	        "  -s, --socket PATH   pvschedd's control socket (default %s,\n"
	        "                      or $PVSCHED_SOCKET)\n"
	        "  -l, --lib PATH      the preload library (default: $PVSCHED_OMP_LIB, the\n"
	        "                      build tree's, or %s)\n"
	        "  -n, --dry-run       print the environment and command, do not run\n"
	        "  -v, --verbose       say what is set on stderr before running\n"
	        "  -h, --help          this help\n"
	        "\n"
	        "Exit status: PROGRAM's; 2 for a usage error, 1 when the set-up fails,\n"
	        "126 when PROGRAM cannot be executed, 127 when it is not found.\n",
	        PVS_CTL_DEFAULT_SOCKET, PVS_OMP_LIB_INSTALLED);
}

static int readable(const char *p)
{
	return p && *p && access(p, R_OK) == 0;
}

/* The preload library: explicit, environment, next to this binary in the
 * build tree (tools/ -> lib/), or the installed one. */
static const char *find_lib(const char *opt, char *buf, size_t len)
{
	const char *env = getenv("PVSCHED_OMP_LIB");
	char exe[PATH_MAX];
	ssize_t n;

	if (opt)
		return opt;
	if (env && *env)
		return env;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;
		exe[n] = 0;
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			if ((size_t)snprintf(buf, len, "%s/../lib/libpvsched-omp.so", exe) < len &&
			    readable(buf))
				return buf;
		}
	}
	return PVS_OMP_LIB_INSTALLED;
}

/* LD_PRELOAD with LIB first (once). */
static int set_preload(const char *lib)
{
	const char *old = getenv("LD_PRELOAD");
	char *v;
	int rc;

	if (!old || !*old)
		return setenv("LD_PRELOAD", lib, 1);
	if (strstr(old, lib))
		return 0;
	if (asprintf(&v, "%s:%s", lib, old) < 0)
		return -1;
	rc = setenv("LD_PRELOAD", v, 1);
	free(v);
	return rc;
}

/* Hand the process the eventfd pvschedd passed (FD, close-on-exec): kept
 * open across exec and named in PVSCHED_DOORBELL_FD.  0 or -1 (printed). */
static int pass_doorbell(int fd)
{
	char num[16];
	int flags = fcntl(fd, F_GETFD);

	if (flags < 0 || fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) < 0) {
		fprintf(stderr, PROG ": the doorbell's eventfd: %s\n", strerror(errno));
		return -1;
	}
	snprintf(num, sizeof(num), "%d", fd);
	if (setenv(PVSCHED_ENV_DOORBELL_FD, num, 1) < 0) {
		fprintf(stderr, PROG ": setenv: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int attach(const char *sock, const char *name, const char *threads, int verbose)
{
	struct json_object *req = json_object_new_object(), *reply, *region = NULL, *bell;
	int rc = 1, efd = -1;

	if (!req)
		return 1;
	json_object_object_add(req, "cmd", json_object_new_string("attach"));
	json_object_object_add(req, "name", json_object_new_string(name));
	json_object_object_add(req, "pid", json_object_new_int64((int64_t)getpid()));
	/* an OpenMP process runs on its main thread too: by default every
	 * thread is a vCPU */
	json_object_object_add(req, "threads", json_object_new_string(threads));
	json_object_object_add(req, "doorbell", json_object_new_boolean(1));
	reply = pvs_ctl_request_fd(PROG, sock, req, &efd);
	json_object_put(req);
	if (!reply)
		return 1;
	if (pvs_ctl_check_ok(PROG, reply))
		goto out;
	if (!json_object_object_get_ex(reply, "region", &region) ||
	    !json_object_is_type(region, json_type_string)) {
		fprintf(stderr, PROG ": pvschedd did not say which region it publishes to "
		                     "(an older pvschedd?)\n");
		goto out;
	}
	if (setenv(PVSCHED_ENV_REGION, json_object_get_string(region), 1) < 0) {
		fprintf(stderr, PROG ": setenv: %s\n", strerror(errno));
		goto out;
	}
	/* without a doorbell (an older pvschedd, or none to give) the process
	 * is polled: it works all the same */
	bell = pvs_json_get(reply, "doorbell");
	if (efd >= 0 && json_object_get_boolean(bell)) {
		if (pass_doorbell(efd) < 0)
			goto out;
	} else {
		const char *why = json_object_get_string(pvs_json_get(reply, "doorbell_error"));

		if (efd >= 0)
			close(efd);
		efd = -1;
		unsetenv(PVSCHED_ENV_DOORBELL_FD);
		if (verbose)
			fprintf(stderr, PROG ": no doorbell (%s): the process is polled\n",
			        why ? why : "pvschedd passed none");
	}
	if (verbose)
		fprintf(stderr, PROG ": process %d attached as VM '%s', region %s%s\n",
		        (int)getpid(), name, json_object_get_string(region),
		        getenv(PVSCHED_ENV_DOORBELL_FD) ? ", doorbell eventfd" : "");
	rc = 0;
out:
	if (rc && efd >= 0)
		close(efd);
	json_object_put(reply);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"attach", required_argument, NULL, 'a'}, {"threads", required_argument, NULL, 't'},
	        {"socket", required_argument, NULL, 's'}, {"lib", required_argument, NULL, 'l'},
	        {"dry-run", no_argument, NULL, 'n'},      {"verbose", no_argument, NULL, 'v'},
	        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	const char *name = NULL, *sock = getenv("PVSCHED_SOCKET"), *libopt = NULL, *lib;
	const char *threads = "*";
	char libbuf[PATH_MAX + 32];
	int dry = 0, verbose = 0, c;

	if (!sock || !*sock)
		sock = PVS_CTL_DEFAULT_SOCKET;
	/* '+': options end at PROGRAM, whose own options are left alone */
	while ((c = getopt_long(argc, argv, "+a:t:s:l:nvh", opts, NULL)) != -1) {
		switch (c) {
		case 'a': name = optarg; break;
		case 't': threads = optarg; break;
		case 's': sock = optarg; break;
		case 'l': libopt = optarg; break;
		case 'n': dry = 1; break;
		case 'v': verbose = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, PROG ": no PROGRAM given (see --help)\n");
		return 2;
	}
	lib = find_lib(libopt, libbuf, sizeof(libbuf));
	if (!readable(lib)) {
		fprintf(stderr, PROG ": preload library %s: %s\n", lib,
		        access(lib, F_OK) ? "not found" : "not readable");
		return 1;
	}
	{
		/* the program may chdir: the loader needs a path that stays valid */
		char *abs = realpath(lib, NULL);
		if (!abs) {
			fprintf(stderr, PROG ": %s: %s\n", lib, strerror(errno));
			return 1;
		}
		snprintf(libbuf, sizeof(libbuf), "%s", abs);
		free(abs);
		lib = libbuf;
	}
	if (strchr(lib, ':') || strchr(lib, ' ')) {
		fprintf(stderr,
		        PROG ": preload library path '%s' contains ':' or a space, "
		             "which LD_PRELOAD cannot carry\n",
		        lib);
		return 1;
	}
	if (set_preload(lib) < 0 || setenv("OMP_DYNAMIC", "true", 1) < 0) {
		fprintf(stderr, PROG ": setenv: %s\n", strerror(errno));
		return 1;
	}
	if (name && !dry && attach(sock, name, threads, verbose))
		return 1;
	if (dry || verbose) {
		FILE *f = dry ? stdout : stderr;
		const char *region = getenv("PVSCHED_REGION");
		fprintf(f, "LD_PRELOAD=%s\nOMP_DYNAMIC=true\n", getenv("LD_PRELOAD"));
		if (region)
			fprintf(f, "PVSCHED_REGION=%s\n", region);
		if (getenv(PVSCHED_ENV_DOORBELL_FD))
			fprintf(f, "PVSCHED_DOORBELL_FD=%s\n", getenv(PVSCHED_ENV_DOORBELL_FD));
		if (name && dry)
			fprintf(f,
			        "# --attach %s: pvschedd would be asked to monitor the process\n",
			        name);
		for (int i = optind; i < argc; i++)
			fprintf(f, "%s%s", argv[i], i + 1 < argc ? " " : "\n");
		if (dry)
			return 0;
	}
	execvp(argv[optind], argv + optind);
	fprintf(stderr, PROG ": %s: %s\n", argv[optind], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
