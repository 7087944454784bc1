/* SPDX-License-Identifier: MIT */
/*
 * journal/thread_id.c - a thread's identity (see thread_id.h): the one
 * parser and reader of /proc stat lines (the daemon's discovery and
 * samplers use them too), and the handles that pin a thread for the
 * journal.
 *
 * A journal record names a thread by tid and start time.  While a thread
 * is journaled we keep a handle on it that cannot follow a reused tid: a
 * pidfd (pidfd_open(tid, PIDFD_THREAD), Linux 6.9+) or, on older kernels, an
 * open /proc/PID/task/TID/stat (its reads fail with ESRCH once the thread
 * is gone, even if the number is reused).  The handle is bound by reading
 * the start time after opening it.  Every change is then
 *     alive(handle)?  sched_setattr(tid) / sched_setaffinity(tid)  alive(handle)?
 * The second check proves the call hit our thread: a thread alive after
 * the call held its tid during it.  Only when the thread dies between the
 * two checks can the call have hit another thread that got the tid in that
 * window of a few microseconds (which needs the kernel to hand out every
 * other free pid first); that is detected and logged, not prevented.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "journal_internal.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* linux/pidfd.h, Linux 6.9 */
#endif

/* The start time at P (field 22, before END): 0, or -EINVAL (no digit, or
 * more than 64 bits). */
static int parse_start(const char *p, const char *end, uint64_t *start)
{
	uint64_t v = 0;

	if (p >= end || *p < '0' || *p > '9')
		return -EINVAL;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*start = v;
	return 0;
}

int pvs_parse_stat(const char *buf, size_t len, char *comm, size_t commlen, char *state,
                   uint64_t *start)
{
	const char *open_p = memchr(buf, '(', len), *close_p = NULL, *p, *end = buf + len;
	int field;

	if (!open_p)
		return -EINVAL;
	for (p = buf + len; p > open_p; p--)
		if (p[-1] == ')') {
			close_p = p - 1;
			break;
		}
	if (!close_p)
		return -EINVAL;
	if (comm && commlen) {
		size_t n = (size_t)(close_p - open_p - 1);
		if (n >= commlen)
			n = commlen - 1;
		memcpy(comm, open_p + 1, n);
		comm[n] = 0;
	}
	/* fields after ')': 3 = state ... 22 = starttime */
	p = close_p + 1;
	for (field = 3; field <= 22; field++) {
		while (p < end && *p == ' ')
			p++;
		if (p >= end)
			return -EINVAL;
		if (field == 3 && state)
			*state = *p;
		if (field == 22 && start && parse_start(p, end, start))
			return -EINVAL;
		while (p < end && *p != ' ')
			p++;
	}
	return 0;
}

static void stat_path(char *buf, size_t len, pid_t pid, pid_t tid)
{
	snprintf(buf, len, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
}

/* Read a stat file (by FD, or by path when FD < 0) into BUF: its length,
 * or -errno. */
static ssize_t read_stat(int fd, pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int own = fd < 0;

	if (own) {
		stat_path(path, sizeof(path), pid, tid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
	}
	n = pread(fd, buf, len, 0);
	if (n < 0)
		n = -errno;
	if (own)
		close(fd);
	return n;
}

int pvs_proc_stat(pid_t pid, pid_t tid, char *comm, size_t commlen, char *state, uint64_t *start)
{
	char buf[1024];
	ssize_t n = read_stat(-1, pid, tid, buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	return pvs_parse_stat(buf, (size_t)n, comm, commlen, state, start);
}

/* The start time from a stat file (by FD, or by path when FD < 0).  A
 * missing or dead thread is -ESRCH, a line without one -EIO. */
static int read_start(int fd, pid_t pid, pid_t tid, uint64_t *start)
{
	char buf[1024];
	ssize_t n = read_stat(fd, pid, tid, buf, sizeof(buf));

	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	return pvs_parse_stat(buf, (size_t)n, NULL, 0, NULL, start) ? -EIO : 0;
}

int pvs_thread_id_get(pid_t pid, pid_t tid, struct pvs_thread_id *id)
{
	uint64_t start;
	int r;

	if (pid <= 0 || tid <= 0)
		return -EINVAL;
	r = read_start(-1, pid, tid, &start);
	if (r)
		return r;
	id->pid = pid;
	id->tid = tid;
	id->start = start;
	return 0;
}

int pvs__pidfd_usable(void)
{
	const char *e = getenv("PVSCHED_JOURNAL_NO_PIDFD");
	int fd;

	if (e && *e && strcmp(e, "0"))
		return 0;
	fd = (int)syscall(SYS_pidfd_open, (pid_t)syscall(SYS_gettid), PIDFD_THREAD);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

int pvs__thread_alive(int h, int use_pidfd)
{
	if (use_pidfd) {
		/* a thread pidfd polls readable once the thread has exited */
		struct pollfd p = {.fd = h, .events = POLLIN};
		int r;

		while ((r = poll(&p, 1, 0)) < 0 && errno == EINTR)
			;
		if (r < 0)
			return -errno;
		return r == 0 ? 0 : -ESRCH;
	} else {
		char buf[512];

		if (pread(h, buf, sizeof(buf), 0) < 0)
			return errno == ESRCH || errno == ENOENT ? -ESRCH : -errno;
		return 0;
	}
}

int pvs__thread_bind(const struct pvs_thread_id *id, int use_pidfd, int *hp, int *reused)
{
	uint64_t start;
	int h, r;

	*reused = 0;
	if (use_pidfd) {
		h = (int)syscall(SYS_pidfd_open, id->tid, PIDFD_THREAD);
	} else {
		char path[64];

		stat_path(path, sizeof(path), id->pid, id->tid);
		h = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (h < 0)
		return errno == ENOENT || errno == ESRCH ? -ESRCH : -errno;
	/* by path with a pidfd: the pidfd's thread held the tid when the start
	 * was read if it is still alive afterwards */
	r = read_start(use_pidfd ? -1 : h, id->pid, id->tid, &start);
	if (!r && use_pidfd)
		r = pvs__thread_alive(h, 1);
	if (!r && start != id->start) {
		*reused = 1;
		r = -ESRCH;
	}
	if (r) {
		close(h);
		return r;
	}
	*hp = h;
	return 0;
}
