/* SPDX-License-Identifier: MIT */
/*
 * journal/journal_io.c - what replay.c and journal.c both need: messages
 * (to the caller's callback and error buffer), putting an original
 * affinity back, and the journal file (its checks, reading it whole,
 * rewriting it under the lock).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "journal_internal.h"
#include "pvs_fdio.h"

#define MAX_FILE (16u << 20)

/* ---- messages ---- */

void pvs__say(pvs_journal_log_fn log, void *ctx, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log(ctx, level, msg);
}

void pvs__set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void pvs__lock_holder(int fd, char *buf, size_t len)
{
	struct stat st;
	char line[256], type[32], comm[64] = "", path[64];
	FILE *f;

	buf[0] = 0;
	if (fstat(fd, &st) < 0 || !(f = fopen("/proc/locks", "re")))
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long ino;
		int pid;

		if (sscanf(line, "%*d: %31s %*s %*s %d %x:%x:%lu", type, &pid, &maj, &min, &ino) !=
		            5 ||
		    strcmp(type, "FLOCK") || maj != major(st.st_dev) || min != minor(st.st_dev) ||
		    ino != (unsigned long)st.st_ino)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		{
			int cfd = open(path, O_RDONLY | O_CLOEXEC);
			ssize_t n = cfd >= 0 ? read(cfd, comm, sizeof(comm) - 1) : -1;

			if (cfd >= 0)
				close(cfd);
			comm[n > 0 ? n : 0] = 0;
			if (n > 0 && comm[n - 1] == '\n')
				comm[n - 1] = 0;
		}
		if (comm[0])
			snprintf(buf, len, " (held by pid %d, %s)", pid, comm);
		else
			snprintf(buf, len, " (held by pid %d)", pid);
		break;
	}
	fclose(f);
}

/* ---- restoring ---- */

/* The online CPUs (sysfs); every CPU when that cannot be read (the kernel
 * keeps the ones the thread may use). */
static void online_cpus(cpu_set_t *m)
{
	struct pvs_cpuset s;

	if (pvs_cpuset_read_online(&s) < 0)
		pvs_cpuset_fill(&s);
	pvs_cpuset_to_cpu_set(&s, m);
}

int pvs__set_aff_orig(const struct pvs_thread_id *id, const cpu_set_t *m, pvs_journal_log_fn log,
                      void *ctx)
{
	cpu_set_t all;
	char a[128], b[128];

	if (!sched_setaffinity(id->tid, sizeof(*m), m))
		return 0;
	if (errno != EINVAL)
		return -errno;
	online_cpus(&all);
	if (sched_setaffinity(id->tid, sizeof(all), &all) < 0) {
		if (errno != EINVAL)
			return -errno;
		struct pvs_cpuset every;

		pvs_cpuset_fill(&every);
		pvs_cpuset_to_cpu_set(&every, &all);
		if (sched_setaffinity(id->tid, sizeof(all), &all) < 0)
			return -errno;
	}
	pvs__say(log, ctx, PVS_JLOG_WARN,
	         "thread %d (pid %d): original affinity %s cannot be set now (%s): gave it all "
	         "online CPUs (%s)",
	         (int)id->tid, (int)id->pid, pvs__cpulist_str(m, a, sizeof(a)), strerror(EINVAL),
	         pvs__cpulist_str(&all, b, sizeof(b)));
	return 0;
}

/* ---- files ---- */

int pvs__check_file(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		pvs__set_err(err, errlen, "journal %s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		pvs__set_err(err, errlen, "journal %s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022)) {
		pvs__set_err(err, errlen,
		             "journal %s: refusing a file owned by uid %u with mode %04o "
		             "(want ours, not writable by others)",
		             path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

int pvs__mkdirs(const char *path, char *err, size_t errlen)
{
	char d[4096];
	size_t n = strlen(path);

	if (n >= sizeof(d))
		return -ENAMETOOLONG;
	memcpy(d, path, n + 1);
	while (n > 0 && d[n - 1] != '/')
		n--;
	if (n <= 1)
		return 0;
	d[n - 1] = 0;
	for (char *p = d + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = 0;
			if (mkdir(d, 0755) < 0 && errno != EEXIST) {
				pvs__set_err(err, errlen, "journal directory %s: %s", d,
				             strerror(errno));
				return -errno;
			}
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

int pvs__read_all(int fd, char **bufp, size_t *lenp)
{
	struct stat st;
	size_t cap, n = 0;
	char *b;

	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size > MAX_FILE)
		return -EFBIG;
	cap = (size_t)st.st_size + 4096;
	if (!(b = malloc(cap)))
		return -ENOMEM;
	for (;;) {
		ssize_t r = pread(fd, b + n, cap - n, (off_t)n);

		if (r < 0) {
			free(b);
			return -errno;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == cap) {
			char *nb;

			if (cap >= MAX_FILE || !(nb = realloc(b, cap * 2))) {
				free(b);
				return cap >= MAX_FILE ? -EFBIG : -ENOMEM;
			}
			b = nb;
			cap *= 2;
		}
	}
	*bufp = b;
	*lenp = n;
	return 0;
}

int pvs__rewrite(const char *path, const struct rec *r, size_t n, int *fdp, off_t *sizep)
{
	char tmp[4096 + 8], line[PVS_JOURNAL_LINE_MAX];
	size_t cap = sizeof(PVS_JOURNAL_HEADER) + n * 128 + 4096, len = 0;
	char *b = malloc(cap);
	int fd, e;

	if (!b)
		return -ENOMEM;
	memcpy(b, PVS_JOURNAL_HEADER, sizeof(PVS_JOURNAL_HEADER) - 1);
	len = sizeof(PVS_JOURNAL_HEADER) - 1;
	for (size_t i = 0; i < n; i++) {
		for (int a = 0; a < 2; a++) {
			struct pvs_journal_line l = {.id = r[i].id};
			size_t k;

			if (a == 0 && r[i].has_attr) {
				l.op = PVS_JOURNAL_ADD;
				l.attr = r[i].attr;
			} else if (a == 1 && r[i].has_aff) {
				l.op = PVS_JOURNAL_AFFINITY;
				l.mask = r[i].aff;
			} else
				continue;
			k = pvs_journal_format(&l, line, sizeof(line));
			if (len + k > cap) {
				char *nb = realloc(b, cap = cap * 2 + k);

				if (!nb) {
					free(b);
					return -ENOMEM;
				}
				b = nb;
			}
			memcpy(b + len, line, k);
			len += k;
		}
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		free(b);
		return -ENAMETOOLONG;
	}
	unlink(tmp);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		e = -errno;
		free(b);
		return e;
	}
	e = flock(fd, LOCK_EX | LOCK_NB) < 0 ? -errno : pvs_write_all(fd, b, len);
	free(b);
	if (!e && rename(tmp, path) < 0)
		e = -errno;
	if (e) {
		unlink(tmp);
		close(fd);
		return e;
	}
	if (*fdp >= 0)
		close(*fdp);
	*fdp = fd;
	*sizep = (off_t)len;
	return 0;
}
