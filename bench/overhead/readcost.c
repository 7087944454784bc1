/* SPDX-License-Identifier: MIT */
/*
 * bench/overhead/readcost.c - pvsched-bench-readcost: what each read
 * pvschedd does costs on this machine, for the overhead benchmark's cost
 * model.  Times (median of 7 rounds, ns per call) on a sleeping helper
 * thread:
 *   syscall_floor     getppid()
 *   pread_devzero     pread 128 B of /dev/zero (the cheapest file read)
 *   pread_schedstat   the per-vCPU read of every period
 *   pread_stat        the task-state read (ambiguous idle periods)
 *   pread_status      the involuntary-switch read (~1/s per vCPU)
 *   proc_stat_read    pread of /proc/stat (once per period)
 *   proc_stat_parse   pread + sscanf parse as daemon/hoststat.c does
 *   open_read_close   /proc/P/task/T/stat by path (rescan, per thread)
 *   list_task_dir     opendir+readdir+closedir of /proc/P/task (rescan)
 *   getaffinity       sched_getaffinity of one thread (rescan)
 * Output: one "name ns" line each.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 7

static pid_t helper_tid;
static volatile int helper_ready;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *helper(void *arg)
{
	(void)arg;
	helper_tid = (pid_t)syscall(SYS_gettid);
	__atomic_store_n(&helper_ready, 1, __ATOMIC_RELEASE);
	for (;;)
		pause();
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

enum op {
	OP_FLOOR,
	OP_DEVZERO,
	OP_SCHEDSTAT,
	OP_STAT,
	OP_STATUS,
	OP_PROCSTAT,
	OP_PROCSTAT_PARSE,
	OP_ORC,
	OP_LISTDIR,
	OP_AFFINITY,
	OP_N
};
static const char *const names[OP_N] = {
        "syscall_floor",  "pread_devzero",   "pread_schedstat", "pread_stat",    "pread_status",
        "proc_stat_read", "proc_stat_parse", "open_read_close", "list_task_dir", "getaffinity",
};

static int fds[OP_N];
static char path_stat[96], path_task[64];
static char buf[128 * 1024];

static void parse_proc_stat(ssize_t n)
{
	char *p, *end = buf + n;
	unsigned long long sink = 0;

	for (p = buf; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		*nl = 0;
		if (!strncmp(p, "cpu", 3) && p[3] >= '0' && p[3] <= '9') {
			unsigned long long v[8] = {0};
			unsigned cpu;
			if (sscanf(p + 3, "%u %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0],
			           &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) >= 8)
				sink += v[0] + v[7];
		}
		p = nl + 1;
	}
	__asm__ volatile("" : : "r"(sink));
}

static void run_op(enum op o)
{
	ssize_t n = 0;

	switch (o) {
	case OP_FLOOR: n = (ssize_t)syscall(SYS_getppid); break;
	case OP_DEVZERO: n = pread(fds[OP_DEVZERO], buf, 128, 0); break;
	case OP_SCHEDSTAT: n = pread(fds[o], buf, 127, 0); break;
	case OP_STAT:
	case OP_STATUS: n = pread(fds[o], buf, 1535, 0); break;
	case OP_PROCSTAT: n = pread(fds[o], buf, sizeof(buf) - 1, 0); break;
	case OP_PROCSTAT_PARSE:
		n = pread(fds[OP_PROCSTAT], buf, sizeof(buf) - 1, 0);
		if (n > 0)
			parse_proc_stat(n);
		break;
	case OP_ORC: {
		int fd = open(path_stat, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			n = pread(fd, buf, 1023, 0);
			close(fd);
		}
		break;
	}
	case OP_LISTDIR: {
		DIR *d = opendir(path_task);
		if (d) {
			while (readdir(d))
				n++;
			closedir(d);
		}
		break;
	}
	case OP_AFFINITY: {
		cpu_set_t s;
		n = sched_getaffinity(helper_tid, sizeof(s), &s);
		break;
	}
	default: break;
	}
	__asm__ volatile("" : : "r"(n));
}

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 2000;
	pthread_t t;
	char p[96];

	if (iters < 10)
		iters = 10;
	pthread_create(&t, NULL, helper, NULL);
	while (!__atomic_load_n(&helper_ready, __ATOMIC_ACQUIRE))
		usleep(1000);
	usleep(10000);
	snprintf(path_stat, sizeof(path_stat), "/proc/%d/task/%d/stat", (int)getpid(),
	         (int)helper_tid);
	snprintf(path_task, sizeof(path_task), "/proc/%d/task", (int)getpid());
	fds[OP_DEVZERO] = open("/dev/zero", O_RDONLY);
	snprintf(p, sizeof(p), "/proc/%d/task/%d/schedstat", (int)getpid(), (int)helper_tid);
	fds[OP_SCHEDSTAT] = open(p, O_RDONLY);
	fds[OP_STAT] = open(path_stat, O_RDONLY);
	snprintf(p, sizeof(p), "/proc/%d/task/%d/status", (int)getpid(), (int)helper_tid);
	fds[OP_STATUS] = open(p, O_RDONLY);
	fds[OP_PROCSTAT] = open("/proc/stat", O_RDONLY);
	for (int o = 0; o < OP_N; o++) {
		uint64_t r[ROUNDS];
		int it = (o == OP_PROCSTAT || o == OP_PROCSTAT_PARSE || o == OP_LISTDIR) ? iters / 4
		                                                                         : iters;

		for (int k = 0; k < ROUNDS; k++) {
			uint64_t t0 = now_ns();
			for (int i = 0; i < it; i++)
				run_op((enum op)o);
			r[k] = (now_ns() - t0) / (uint64_t)it;
		}
		qsort(r, ROUNDS, sizeof(r[0]), cmp_u64);
		printf("%s %llu\n", names[o], (unsigned long long)r[ROUNDS / 2]);
	}
	return 0;
}
