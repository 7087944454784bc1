/* SPDX-License-Identifier: MIT */
/*
 * journal/journal.c - the scheduling journal (see journal.h).
 *
 * Identity.  A record names a thread by tid and start time.  While a thread
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
 *
 * Durability.  Records are appended with one write() to an O_APPEND file,
 * before the change they describe.  No fsync/fdatasync: the journal must
 * survive the daemon's death (kill -9), and the page cache does; a system
 * crash or power loss takes the threads with it, so nothing needs to reach
 * the disk (and /run is tmpfs anyway).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sched.h>
#include <unistd.h>

#include "journal.h"
#include "pvs_fdio.h"

#ifndef SCHED_BATCH
#define SCHED_BATCH 3
#endif
#ifndef SCHED_IDLE
#define SCHED_IDLE 5
#endif
#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif
#ifndef SCHED_EXT
#define SCHED_EXT 7
#endif
#ifndef SCHED_FLAG_RESET_ON_FORK
#define SCHED_FLAG_RESET_ON_FORK 0x01
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* linux/pidfd.h, Linux 6.9 */
#endif

/* The kernel's struct sched_attr (SCHED_ATTR_SIZE_VER1).  Our own tag, so it
 * clashes neither with <linux/sched/types.h> nor with glibc >= 2.41, which
 * define struct sched_attr themselves. */
struct pvs_ksched_attr {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
	uint32_t sched_util_min, sched_util_max;
};

#define HEADER                                                                                     \
	"# pvsched journal: + PID TID START POLICY PRIO NICE FLAGS | A PID TID START CPULIST | - " \
	"TID START\n"
#define MAX_FILE (16u << 20)

/* ---- scheduling attributes ---- */

static const struct {
	int policy;
	const char *name;
} policies[] = {{SCHED_OTHER, "other"}, {SCHED_BATCH, "batch"}, {SCHED_IDLE, "idle"},
                {SCHED_FIFO, "fifo"},   {SCHED_RR, "rr"},       {SCHED_EXT, "ext"}};

static const char *policy_name(int p)
{
	for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
		if (policies[i].policy == p)
			return policies[i].name;
	return p == SCHED_DEADLINE ? "deadline" : NULL;
}

static int is_rt(int p)
{
	return p == SCHED_FIFO || p == SCHED_RR;
}

/* Policies whose nice sched_setattr sets (and sched_getattr reports). */
static int fair(int p)
{
	return p == SCHED_OTHER || p == SCHED_BATCH;
}

/* A saved original: any policy we know but SCHED_DEADLINE. */
static int attr_valid(const struct pvs_sched_attr *a)
{
	if (!policy_name(a->policy) || a->policy == SCHED_DEADLINE)
		return 0;
	if (is_rt(a->policy) ? (a->prio < 1 || a->prio > 99) : a->prio != 0)
		return 0;
	return a->nice >= -20 && a->nice <= 19 && !(a->flags & ~PVS_SCHED_RESET_ON_FORK);
}

int pvs_sched_attr_check(const struct pvs_sched_attr *a)
{
	/* what apply may set: no SCHED_EXT (it needs a BPF scheduler) */
	return a && attr_valid(a) && a->policy != SCHED_EXT ? 0 : -EINVAL;
}

const char *pvs_sched_attr_str(const struct pvs_sched_attr *a, char *buf, size_t len)
{
	const char *n = policy_name(a->policy);
	const char *rof = (a->flags & PVS_SCHED_RESET_ON_FORK) ? " reset-on-fork" : "";

	if (!n)
		snprintf(buf, len, "policy %d%s", a->policy, rof);
	else if (is_rt(a->policy))
		snprintf(buf, len, "%s %d%s", n, a->prio, rof);
	else if (a->policy == SCHED_DEADLINE)
		snprintf(buf, len, "%s%s", n, rof);
	else
		snprintf(buf, len, "%s nice %d%s", n, a->nice, rof);
	return buf;
}

int pvs_sched_get(pid_t tid, struct pvs_sched_attr *a)
{
	struct pvs_ksched_attr k;

	memset(&k, 0, sizeof(k));
	if (syscall(SYS_sched_getattr, tid, &k, (unsigned)sizeof(k), 0u) < 0)
		return -errno;
	a->policy = (int)k.sched_policy;
	a->prio = is_rt(a->policy) ? (int)k.sched_priority : 0;
	a->nice = k.sched_nice;
	a->flags = (k.sched_flags & SCHED_FLAG_RESET_ON_FORK) ? PVS_SCHED_RESET_ON_FORK : 0;
	if (!fair(a->policy) && a->policy != SCHED_DEADLINE) {
		/* sched_getattr reports no nice for these; the thread keeps one
		 * (it counts again if the thread goes back to SCHED_OTHER) */
		int n;

		errno = 0;
		n = getpriority(PRIO_PROCESS, (id_t)tid);
		if (n == -1 && errno)
			return -errno;
		a->nice = n;
	}
	return attr_valid(a) ? 0 : -EOPNOTSUPP;
}

int pvs_sched_set(pid_t tid, const struct pvs_sched_attr *a)
{
	struct pvs_ksched_attr k;

	if (!attr_valid(a))
		return -EINVAL;
	memset(&k, 0, sizeof(k));
	k.size = sizeof(k);
	k.sched_policy = (uint32_t)a->policy;
	k.sched_flags = (a->flags & PVS_SCHED_RESET_ON_FORK) ? SCHED_FLAG_RESET_ON_FORK : 0;
	k.sched_nice = a->nice;
	k.sched_priority = is_rt(a->policy) ? (uint32_t)a->prio : 0;
	if (syscall(SYS_sched_setattr, tid, &k, 0u) < 0)
		return -errno;
	return 0;
}

/* Put an original back: sched_setattr, and for the policies it does not
 * set the nice of (FIFO, RR, IDLE, EXT), setpriority. */
static int set_orig(pid_t tid, const struct pvs_sched_attr *a)
{
	int r = pvs_sched_set(tid, a);

	if (!r && !fair(a->policy) && setpriority(PRIO_PROCESS, (id_t)tid, a->nice) < 0)
		r = -errno;
	return r;
}

/* ---- thread identity ---- */

/* Start time (field 22) from a /proc stat line; the comm may hold ") ". */
static int stat_start(const char *buf, size_t len, uint64_t *start)
{
	const char *p = NULL, *end = buf + len;
	int field;

	for (size_t i = len; i > 0; i--)
		if (buf[i - 1] == ')') {
			p = buf + i;
			break;
		}
	if (!p)
		return -EINVAL;
	for (field = 3; field < 22; field++) {
		while (p < end && *p == ' ')
			p++;
		while (p < end && *p != ' ')
			p++;
	}
	while (p < end && *p == ' ')
		p++;
	if (p >= end || *p < '0' || *p > '9')
		return -EINVAL;
	*start = 0;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (*start > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		*start = *start * 10 + (uint64_t)(*p - '0');
	}
	return 0;
}

static void stat_path(char *buf, size_t len, pid_t pid, pid_t tid)
{
	snprintf(buf, len, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
}

/* Read a stat file (by FD, or by path when FD < 0) and take the start time.
 * A missing or dead thread is -ESRCH. */
static int read_start(int fd, pid_t pid, pid_t tid, uint64_t *start)
{
	char buf[1024], path[64];
	ssize_t n;
	int own = fd < 0;

	if (own) {
		stat_path(path, sizeof(path), pid, tid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return errno == ENOENT ? -ESRCH : -errno;
	}
	n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0)
		n = errno == ENOENT ? -ESRCH : -errno;
	if (own)
		close(fd);
	if (n < 0)
		return (int)n;
	return stat_start(buf, (size_t)n, start) ? -EIO : 0;
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

/* Can pidfd_open(tid, PIDFD_THREAD) be used?  PVSCHED_JOURNAL_NO_PIDFD=1
 * forces the /proc stat handle (tests, and old-kernel behaviour). */
static int pidfd_usable(void)
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

/* 0 while the thread of handle H lives, -ESRCH once it is gone. */
static int alive(int h, int use_pidfd)
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

/* Open a handle on thread ID and check it is the thread ID names: 0,
 * -ESRCH (gone; *REUSED set if the tid belongs to a newer thread), or
 * another -errno (e.g. -EMFILE). */
static int bind_thread(const struct pvs_thread_id *id, int use_pidfd, int *hp, int *reused)
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
		r = alive(h, 1);
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

/* ---- lines ---- */

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static int tok_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static int tok_int(const char *s, size_t n, int min, int max, int *out)
{
	uint64_t v;
	int neg = n > 0 && s[0] == '-';

	if (tok_u64(s + neg, n - (size_t)neg, &v) || v > 1000000000u)
		return -1;
	if ((neg ? -(int64_t)v : (int64_t)v) < min || (neg ? -(int64_t)v : (int64_t)v) > max)
		return -1;
	*out = neg ? -(int)v : (int)v;
	return 0;
}

/* The CPU list of M ("0-3,8") into BUF (NUL-terminated): its length, or 0
 * when M is empty or the list does not fit in LEN. */
static size_t cpulist_fmt(const cpu_set_t *m, char *buf, size_t len)
{
	size_t n = 0;

	if (len)
		buf[0] = 0;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		char item[16];
		int d = c, k;

		if (!CPU_ISSET(c, m))
			continue;
		while (d + 1 < CPU_SETSIZE && CPU_ISSET(d + 1, m))
			d++;
		if (d > c)
			k = snprintf(item, sizeof(item), "%s%d-%d", n ? "," : "", c, d);
		else
			k = snprintf(item, sizeof(item), "%s%d", n ? "," : "", c);
		if (k < 0 || n + (size_t)k >= len) {
			if (len)
				buf[0] = 0;
			return 0;
		}
		memcpy(buf + n, item, (size_t)k);
		n += (size_t)k;
		buf[n] = 0;
		c = d;
	}
	return n;
}

/* For messages: the CPU list, or a count when it is too long. */
static const char *cpulist_str(const cpu_set_t *m, char *buf, size_t len)
{
	if (!cpulist_fmt(m, buf, len))
		snprintf(buf, len, "%d CPUs", CPU_COUNT(m));
	return buf;
}

/* Parse a CPU list (N bytes): items N or N-M, ascending and disjoint, CPUs
 * below CPU_SETSIZE, at least one.  0 or -EINVAL with *WHY. */
static int cpulist_parse(const char *s, size_t n, cpu_set_t *m, const char **why)
{
	size_t i = 0;
	int last = -1;

	CPU_ZERO(m);
	if (n == 0) {
		*why = "empty cpu list";
		return -EINVAL;
	}
	for (;;) {
		uint64_t a, b;
		size_t k = i;

		while (k < n && s[k] >= '0' && s[k] <= '9')
			k++;
		if (tok_u64(s + i, k - i, &a)) {
			*why = "bad cpu list";
			return -EINVAL;
		}
		b = a;
		if (k < n && s[k] == '-') {
			i = ++k;
			while (k < n && s[k] >= '0' && s[k] <= '9')
				k++;
			if (tok_u64(s + i, k - i, &b)) {
				*why = "bad cpu range";
				return -EINVAL;
			}
		}
		if (a >= CPU_SETSIZE || b >= CPU_SETSIZE) {
			*why = "cpu number out of range (0..1023)";
			return -EINVAL;
		}
		if (b < a) {
			*why = "bad cpu range";
			return -EINVAL;
		}
		if ((int64_t)a <= last) {
			*why = "cpu list not ascending";
			return -EINVAL;
		}
		for (uint64_t c = a; c <= b; c++)
			CPU_SET((size_t)c, m);
		last = (int)b;
		if (k == n)
			return 0;
		if (s[k] != ',' || k + 1 == n) {
			*why = "bad cpu list";
			return -EINVAL;
		}
		i = k + 1;
	}
}

int pvs_journal_parse_line(const char *line, size_t len, struct pvs_journal_line *out,
                           const char **why)
{
	const char *tok[9], *dummy;
	size_t tlen[9], nt = 0, i = 0;
	uint64_t u;
	int v, found = 0;

	if (!why)
		why = &dummy;
	memset(out, 0, sizeof(*out));
	while (i < len && is_space(line[i]))
		i++;
	if (i == len || line[i] == '#')
		return 0; /* empty, or a comment */
	while (i < len) {
		while (i < len && is_space(line[i]))
			i++;
		if (i >= len)
			break;
		if (nt == 9) {
			*why = "too many fields";
			return -EINVAL;
		}
		tok[nt] = line + i;
		while (i < len && !is_space(line[i]))
			i++;
		tlen[nt] = (size_t)(line + i - tok[nt]);
		nt++;
	}
	if (tlen[0] != 1 || (tok[0][0] != '+' && tok[0][0] != '-' && tok[0][0] != 'A')) {
		*why = "not a record";
		return -EINVAL;
	}
	if (tok[0][0] == '-') {
		if (nt != 3) {
			*why = "'-' takes TID START";
			return -EINVAL;
		}
		if (tok_int(tok[1], tlen[1], 1, INT32_MAX, &v)) {
			*why = "bad tid";
			return -EINVAL;
		}
		out->id.tid = v;
		if (tok_u64(tok[2], tlen[2], &out->id.start)) {
			*why = "bad start time";
			return -EINVAL;
		}
		out->op = PVS_JOURNAL_DEL;
		return 0;
	}
	if (tok[0][0] == 'A' && nt != 5) {
		*why = "'A' takes PID TID START CPULIST";
		return -EINVAL;
	}
	if (tok[0][0] == '+' && nt != 8) {
		*why = "'+' takes PID TID START POLICY PRIO NICE FLAGS";
		return -EINVAL;
	}
	if (tok_int(tok[1], tlen[1], 1, INT32_MAX, &v)) {
		*why = "bad pid";
		return -EINVAL;
	}
	out->id.pid = v;
	if (tok_int(tok[2], tlen[2], 1, INT32_MAX, &v)) {
		*why = "bad tid";
		return -EINVAL;
	}
	out->id.tid = v;
	if (tok_u64(tok[3], tlen[3], &out->id.start)) {
		*why = "bad start time";
		return -EINVAL;
	}
	if (tok[0][0] == 'A') {
		if (cpulist_parse(tok[4], tlen[4], &out->mask, why))
			return -EINVAL;
		out->op = PVS_JOURNAL_AFFINITY;
		return 0;
	}
	for (size_t p = 0; p < sizeof(policies) / sizeof(policies[0]); p++)
		if (strlen(policies[p].name) == tlen[4] &&
		    !memcmp(policies[p].name, tok[4], tlen[4])) {
			out->attr.policy = policies[p].policy;
			found = 1;
		}
	if (!found) {
		*why = "unknown policy";
		return -EINVAL;
	}
	if (tok_int(tok[5], tlen[5], 0, 99, &out->attr.prio) ||
	    tok_int(tok[6], tlen[6], -20, 19, &out->attr.nice) || tok_u64(tok[7], tlen[7], &u) ||
	    u > PVS_SCHED_RESET_ON_FORK) {
		*why = "bad priority, nice or flags";
		return -EINVAL;
	}
	out->attr.flags = (unsigned)u;
	if (!attr_valid(&out->attr)) {
		*why = "priority does not fit the policy";
		return -EINVAL;
	}
	out->op = PVS_JOURNAL_ADD;
	return 0;
}

size_t pvs_journal_format(const struct pvs_journal_line *l, char *buf, size_t len)
{
	int n;

	if (l->op == PVS_JOURNAL_AFFINITY) {
		size_t k;

		n = snprintf(buf, len, "A %d %d %" PRIu64 " ", (int)l->id.pid, (int)l->id.tid,
		             l->id.start);
		if (n < 0 || (size_t)n >= len ||
		    !(k = cpulist_fmt(&l->mask, buf + n, len - (size_t)n)) ||
		    (size_t)n + k + 1 >= len) {
			if (len)
				buf[0] = 0;
			return 0;
		}
		buf[n + k] = '\n';
		buf[n + k + 1] = 0;
		return (size_t)n + k + 1;
	}
	if (l->op == PVS_JOURNAL_ADD)
		n = snprintf(buf, len, "+ %d %d %" PRIu64 " %s %d %d %u\n", (int)l->id.pid,
		             (int)l->id.tid, l->id.start, policy_name(l->attr.policy), l->attr.prio,
		             l->attr.nice, l->attr.flags);
	else
		n = snprintf(buf, len, "- %d %" PRIu64 "\n", (int)l->id.tid, l->id.start);
	if (n < 0 || (size_t)n >= len) {
		if (len)
			buf[0] = 0;
		return 0;
	}
	return (size_t)n;
}

/* ---- messages ---- */

__attribute__((format(printf, 4, 5))) static void say(pvs_journal_log_fn log, void *ctx, int level,
                                                      const char *fmt, ...)
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

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
                                                          ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* " (held by pid N, comm)" for the process holding an flock on FD. */
static void lock_holder(int fd, char *buf, size_t len)
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
	char buf[4096];
	const char *why;
	ssize_t n = -1;
	int fd = open("/sys/devices/system/cpu/online", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf));
		close(fd);
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	if (n > 0 && !cpulist_parse(buf, (size_t)n, m, &why))
		return;
	CPU_ZERO(m);
	for (int c = 0; c < CPU_SETSIZE; c++)
		CPU_SET(c, m);
}

/*
 * Give thread ID its original affinity M.  When the kernel refuses M with
 * EINVAL (none of its CPUs usable now: offline, or out of the thread's
 * cpuset), the thread gets all online CPUs instead, with a warning, rather
 * than staying where pvschedd put it (and if that fails too, every CPU:
 * the kernel keeps those the cpuset allows).  0 or -errno.
 */
static int set_aff_orig(const struct pvs_thread_id *id, const cpu_set_t *m, pvs_journal_log_fn log,
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
		CPU_ZERO(&all);
		for (int c = 0; c < CPU_SETSIZE; c++)
			CPU_SET(c, &all);
		if (sched_setaffinity(id->tid, sizeof(all), &all) < 0)
			return -errno;
	}
	say(log, ctx, PVS_JLOG_WARN,
	    "thread %d (pid %d): original affinity %s cannot be set now (%s): gave it all "
	    "online CPUs (%s)",
	    (int)id->tid, (int)id->pid, cpulist_str(m, a, sizeof(a)), strerror(EINVAL),
	    cpulist_str(&all, b, sizeof(b)));
	return 0;
}

/* ---- files ---- */

/* Refuse a journal others could write: its records are applied as root. */
static int check_file(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		set_err(err, errlen, "journal %s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, errlen, "journal %s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022)) {
		set_err(err, errlen,
		        "journal %s: refusing a file owned by uid %u with mode %04o "
		        "(want ours, not writable by others)",
		        path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

static int mkdirs(const char *path, char *err, size_t errlen)
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
				set_err(err, errlen, "journal directory %s: %s", d,
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

static int read_all(int fd, char **bufp, size_t *lenp)
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

/* A thread's records: its original attributes, its original affinity, or
 * both. */
struct rec {
	struct pvs_thread_id id;
	struct pvs_sched_attr attr;
	cpu_set_t aff;
	unsigned char has_attr, has_aff;
	size_t seq;
};

/* Replace the journal at PATH by a header and the records R (N of them):
 * a temp file, locked before it is renamed over PATH, so the lock passes
 * from the old file to the new one without a gap.  *FDP (closed, if >= 0)
 * becomes the new file's fd, opened O_APPEND; *SIZEP its size. */
static int rewrite(const char *path, const struct rec *r, size_t n, int *fdp, off_t *sizep)
{
	char tmp[4096 + 8], line[PVS_JOURNAL_LINE_MAX];
	size_t cap = sizeof(HEADER) + n * 128 + 4096, len = 0;
	char *b = malloc(cap);
	int fd, e;

	if (!b)
		return -ENOMEM;
	memcpy(b, HEADER, sizeof(HEADER) - 1);
	len = sizeof(HEADER) - 1;
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

/* ---- replay and recovery ---- */

/* One record line of a journal being replayed (an 'A' line's mask is
 * parsed again, from OFF, only if it counts). */
struct op {
	struct pvs_thread_id id;
	struct pvs_sched_attr attr;
	enum pvs_journal_op op;
	size_t seq, off, len;
};

static int cmp_key(const void *a, const void *b)
{
	const struct op *x = a, *y = b;

	if (x->id.tid != y->id.tid)
		return x->id.tid < y->id.tid ? -1 : 1;
	if (x->id.start != y->id.start)
		return x->id.start < y->id.start ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_seq(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Replay BUF: per identity, the '+' and the 'A' not voided by a later '-'
 * (the first '+' and the first 'A' since the last '-' win: they hold the
 * originals), merged into one record, in file order (of its first line).
 * Bad lines are reported and counted.  Pure but for LOG and malloc.
 */
static int replay(const char *buf, size_t len, const char *path, pvs_journal_log_fn log, void *ctx,
                  struct rec **out, size_t *nout, unsigned *bad)
{
	struct op *ops = NULL;
	struct rec *recs;
	size_t nops = 0, cap = 0, lineno = 0, k = 0;
	const char *p = buf, *end = buf + len;

	*out = NULL;
	*nout = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct pvs_journal_line l;
		const char *why = NULL;

		lineno++;
		if (!nl) {
			/* a record is written whole, with its newline, before the
			 * change it describes: without one, it was never acted on */
			say(log, ctx, PVS_JLOG_WARN, "%s:%zu: truncated line skipped", path,
			    lineno);
			++*bad;
			break;
		}
		if (pvs_journal_parse_line(p, n, &l, &why)) {
			say(log, ctx, PVS_JLOG_WARN, "%s:%zu: bad line skipped: %s", path, lineno,
			    why);
			++*bad;
		} else if (l.op != PVS_JOURNAL_NONE) {
			if (nops == cap) {
				struct op *no =
				        realloc(ops, (cap = cap ? cap * 2 : 64) * sizeof(*ops));
				if (!no) {
					free(ops);
					return -ENOMEM;
				}
				ops = no;
			}
			ops[nops].id = l.id;
			ops[nops].attr = l.attr;
			ops[nops].op = l.op;
			ops[nops].seq = nops; /* file order */
			ops[nops].off = (size_t)(p - buf);
			ops[nops].len = n;
			nops++;
		}
		p += n + 1;
	}
	if (!nops) {
		free(ops);
		return 0;
	}
	/* per identity, in file order: '+' or 'A' when absent adds, '-'
	 * removes both.  Two passes: count, then fill. */
	qsort(ops, nops, sizeof(*ops), cmp_key);
	recs = NULL;
	for (int pass = 0; pass < 2; pass++) {
		k = 0;
		for (size_t i = 0; i < nops;) {
			size_t j = i, attr = (size_t)-1, aff = (size_t)-1;

			while (j < nops && ops[j].id.tid == ops[i].id.tid &&
			       ops[j].id.start == ops[i].id.start) {
				if (ops[j].op == PVS_JOURNAL_DEL)
					attr = aff = (size_t)-1;
				else if (ops[j].op == PVS_JOURNAL_ADD && attr == (size_t)-1)
					attr = j;
				else if (ops[j].op == PVS_JOURNAL_AFFINITY && aff == (size_t)-1)
					aff = j;
				j++;
			}
			i = j;
			if (attr == (size_t)-1 && aff == (size_t)-1)
				continue;
			if (pass == 1) {
				struct rec *r = &recs[k];

				memset(r, 0, sizeof(*r));
				r->seq = (size_t)-1;
				if (aff != (size_t)-1) {
					struct pvs_journal_line l;

					/* parsed once already: cannot fail */
					if (!pvs_journal_parse_line(buf + ops[aff].off,
					                            ops[aff].len, &l, NULL)) {
						r->id = ops[aff].id;
						r->seq = ops[aff].seq;
						r->has_aff = 1;
						r->aff = l.mask;
					}
				}
				if (attr != (size_t)-1) {
					r->id = ops[attr].id;
					if (ops[attr].seq < r->seq)
						r->seq = ops[attr].seq;
					r->has_attr = 1;
					r->attr = ops[attr].attr;
				}
				if (!r->has_attr && !r->has_aff)
					continue;
			}
			k++;
		}
		if (pass == 0 && !(recs = calloc(k ? k : 1, sizeof(*recs)))) {
			free(ops);
			return -ENOMEM;
		}
	}
	free(ops);
	qsort(recs, k, sizeof(*recs), cmp_seq);
	*out = recs;
	*nout = k;
	return 0;
}

enum outcome { OUT_RESTORED, OUT_GONE, OUT_REUSED, OUT_DEADLINE, OUT_FAILED };

/* Put the originals of R (attributes, affinity, or both) back on its
 * thread, checking the identity. */
static enum outcome restore_rec(const struct rec *r, int use_pidfd, pvs_journal_log_fn log,
                                void *ctx, int *errp)
{
	struct pvs_sched_attr now;
	cpu_set_t now_aff;
	char was[128], to[128];
	int h, reused, e, ea = 0, ef = 0, have_now_aff = 0;

	*errp = 0;
	e = bind_thread(&r->id, use_pidfd, &h, &reused);
	if (e == -ESRCH) {
		if (reused)
			say(log, ctx, PVS_JLOG_WARN,
			    "thread %d (pid %d): tid now belongs to another thread (start time "
			    "differs from %" PRIu64 "): skipped",
			    (int)r->id.tid, (int)r->id.pid, r->id.start);
		else
			say(log, ctx, PVS_JLOG_INFO, "thread %d (pid %d): gone, skipped",
			    (int)r->id.tid, (int)r->id.pid);
		return reused ? OUT_REUSED : OUT_GONE;
	}
	if (e) {
		*errp = e;
		say(log, ctx, PVS_JLOG_ERR, "thread %d (pid %d): cannot restore: %s",
		    (int)r->id.tid, (int)r->id.pid, strerror(-e));
		return OUT_FAILED;
	}
	e = pvs_sched_get(r->id.tid, &now);
	if (e == -EOPNOTSUPP) {
		close(h);
		say(log, ctx, PVS_JLOG_WARN,
		    "thread %d (pid %d): now %s, set by someone else: left alone", (int)r->id.tid,
		    (int)r->id.pid, pvs_sched_attr_str(&now, was, sizeof(was)));
		return OUT_DEADLINE;
	}
	if (!e)
		e = alive(h, use_pidfd);
	if (!e && r->has_attr)
		ea = set_orig(r->id.tid, &r->attr);
	if (!e && r->has_aff) {
		have_now_aff = !sched_getaffinity(r->id.tid, sizeof(now_aff), &now_aff);
		ef = set_aff_orig(&r->id, &r->aff, log, ctx);
	}
	if (!e)
		e = alive(h, use_pidfd);
	close(h);
	if (e == -ESRCH || ea == -ESRCH || ef == -ESRCH) {
		say(log, ctx, PVS_JLOG_INFO, "thread %d (pid %d): gone, skipped", (int)r->id.tid,
		    (int)r->id.pid);
		return OUT_GONE;
	}
	if (e) {
		*errp = e;
		say(log, ctx, PVS_JLOG_ERR, "thread %d (pid %d): cannot restore: %s",
		    (int)r->id.tid, (int)r->id.pid, strerror(-e));
		return OUT_FAILED;
	}
	if (r->has_attr && ea)
		say(log, ctx, PVS_JLOG_ERR, "thread %d (pid %d): cannot restore %s: %s",
		    (int)r->id.tid, (int)r->id.pid, pvs_sched_attr_str(&r->attr, to, sizeof(to)),
		    strerror(-ea));
	else if (r->has_attr)
		say(log, ctx, PVS_JLOG_INFO, "thread %d (pid %d): restored %s (was %s)",
		    (int)r->id.tid, (int)r->id.pid, pvs_sched_attr_str(&r->attr, to, sizeof(to)),
		    pvs_sched_attr_str(&now, was, sizeof(was)));
	if (r->has_aff && ef)
		say(log, ctx, PVS_JLOG_ERR, "thread %d (pid %d): cannot restore affinity %s: %s",
		    (int)r->id.tid, (int)r->id.pid, cpulist_str(&r->aff, to, sizeof(to)),
		    strerror(-ef));
	else if (r->has_aff)
		say(log, ctx, PVS_JLOG_INFO, "thread %d (pid %d): restored affinity %s (was %s)",
		    (int)r->id.tid, (int)r->id.pid, cpulist_str(&r->aff, to, sizeof(to)),
		    have_now_aff ? cpulist_str(&now_aff, was, sizeof(was)) : "unknown");
	if (ea || ef) {
		*errp = ea ? ea : ef;
		return OUT_FAILED;
	}
	return OUT_RESTORED;
}

/* Restore what the journal in FD lists; the records that failed are left
 * in *KEEP (malloc'd).  0 or -errno (unreadable file). */
static int recover_fd(int fd, const char *path, int use_pidfd, pvs_journal_log_fn log, void *ctx,
                      struct pvs_journal_stats *st, struct rec **keep, size_t *nkeep)
{
	struct rec *r;
	size_t n, k = 0, len = 0;
	char *buf = NULL;
	int e;

	*keep = NULL;
	*nkeep = 0;
	if ((e = read_all(fd, &buf, &len)))
		return e;
	e = replay(buf, len, path, log, ctx, &r, &n, &st->bad);
	free(buf);
	if (e)
		return e;
	for (size_t i = 0; i < n; i++) {
		int err;

		switch (restore_rec(&r[i], use_pidfd, log, ctx, &err)) {
		case OUT_RESTORED: st->restored++; break;
		case OUT_GONE: st->gone++; break;
		case OUT_REUSED: st->reused++; break;
		case OUT_DEADLINE: st->deadline++; break;
		case OUT_FAILED:
			st->failed++;
			r[k++] = r[i];
			break;
		}
	}
	if (k) {
		*keep = r;
		*nkeep = k;
	} else
		free(r);
	return 0;
}

static void summary(pvs_journal_log_fn log, void *ctx, int level, const char *path,
                    const char *what, const struct pvs_journal_stats *st)
{
	if (!st->restored && !st->gone && !st->reused && !st->deadline && !st->failed && !st->bad)
		return;
	say(log, ctx, st->failed ? PVS_JLOG_ERR : level,
	    "journal %s: %s: restored %u thread(s); skipped %u gone, %u with a reused tid, %u "
	    "now SCHED_DEADLINE; %u failed; %u bad line(s)",
	    path, what, st->restored, st->gone, st->reused, st->deadline, st->failed, st->bad);
}

int pvs_journal_recover(const char *path, unsigned flags, pvs_journal_log_fn log, void *log_ctx,
                        struct pvs_journal_stats *stp, char *err, size_t errlen)
{
	struct pvs_journal_stats st = {0};
	struct rec *keep = NULL;
	size_t nkeep = 0;
	int fd, e, locked = 1;
	off_t size;

	if (err && errlen)
		err[0] = 0;
	if (stp)
		*stp = st;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT) {
			say(log, log_ctx, PVS_JLOG_INFO, "journal %s: none, nothing to restore",
			    path);
			return 0;
		}
		e = -errno;
		set_err(err, errlen, "journal %s: %s", path, strerror(errno));
		return e;
	}
	if ((e = check_file(fd, path, err, errlen))) {
		close(fd);
		return e;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char holder[128];

		if (errno != EWOULDBLOCK) {
			e = -errno;
			set_err(err, errlen, "journal %s: lock: %s", path, strerror(errno));
			close(fd);
			return e;
		}
		lock_holder(fd, holder, sizeof(holder));
		if (!(flags & PVS_JOURNAL_FORCE)) {
			set_err(err, errlen,
			        "journal %s is in use%s: pvschedd is running and restores its "
			        "threads when it exits; stop it, or force",
			        path, holder);
			close(fd);
			return -EBUSY;
		}
		say(log, log_ctx, PVS_JLOG_WARN,
		    "journal %s is in use%s: forced; restoring, the file is left to its owner",
		    path, holder);
		locked = 0;
	}
	e = recover_fd(fd, path, pidfd_usable(), log, log_ctx, &st, &keep, &nkeep);
	if (e) {
		set_err(err, errlen, "journal %s: %s", path, strerror(-e));
		close(fd);
		return e;
	}
	/* the caller has the counts (ST) */
	summary(log, log_ctx, PVS_JLOG_DEBUG, path, "recovered", &st);
	if (locked) {
		/* empty it; records that failed stay for another try */
		int r = rewrite(path, keep, nkeep, &fd, &size);
		if (r) {
			set_err(err, errlen, "journal %s: cannot rewrite: %s", path, strerror(-r));
			e = r;
		}
	}
	free(keep);
	close(fd);
	if (stp)
		*stp = st;
	if (!e && st.failed) {
		set_err(err, errlen, "journal %s: %u thread(s) could not be restored", path,
		        st.failed);
		e = -EIO;
	}
	return e;
}

/* ---- the journal ---- */

struct jent {
	struct pvs_thread_id id;
	struct pvs_sched_attr orig; /* if has_attr */
	cpu_set_t aff;              /* the original affinity, if has_aff */
	int h;                      /* identity handle (pidfd or stat fd); -1: not bound yet */
	unsigned char has_attr;     /* orig is journaled */
	unsigned char has_aff;      /* aff is journaled */
	unsigned char changed;      /* may have attributes other than the original */
	unsigned char aff_changed;  /* may have another affinity than the original */
};

struct pvs_journal {
	char *path;
	int fd;
	off_t size; /* of the file: what a failed append is cut back to */
	int use_pidfd;
	pvs_journal_log_fn log;
	void *log_ctx;
	struct jent *e; /* sorted by tid (one record per tid) */
	size_t n, cap;
	size_t lines; /* record lines in the file */
};

static struct jent *find(const struct pvs_journal *j, pid_t tid, size_t *pos)
{
	size_t lo = 0, hi = j->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (j->e[mid].id.tid < tid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (pos)
		*pos = lo;
	return lo < j->n && j->e[lo].id.tid == tid ? &j->e[lo] : NULL;
}

static struct jent *find_id(const struct pvs_journal *j, const struct pvs_thread_id *id)
{
	struct jent *e = find(j, id->tid, NULL);

	return e && e->id.start == id->start ? e : NULL;
}

/* The records of entries E (N) as struct rec (malloc'd, at least one). */
static struct rec *jent_recs(const struct jent *e, size_t n, size_t *lines)
{
	struct rec *r = calloc(n ? n : 1, sizeof(*r));

	if (lines)
		*lines = 0;
	if (!r)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		r[i].id = e[i].id;
		r[i].attr = e[i].orig;
		r[i].aff = e[i].aff;
		r[i].has_attr = e[i].has_attr;
		r[i].has_aff = e[i].has_aff;
		if (lines)
			*lines += (size_t)e[i].has_attr + e[i].has_aff;
	}
	return r;
}

/* Append one record line (one write; cut back on a short one). */
static int append(struct pvs_journal *j, const struct pvs_journal_line *l)
{
	char line[PVS_JOURNAL_LINE_MAX];
	size_t n = pvs_journal_format(l, line, sizeof(line));
	ssize_t w;

	if (!n)
		return -EINVAL;
	do
		w = write(j->fd, line, n);
	while (w < 0 && errno == EINTR);
	if (w == (ssize_t)n) {
		j->size += (off_t)n;
		j->lines++;
		return 0;
	}
	{
		int e = w < 0 ? -errno : -ENOSPC;

		if (ftruncate(j->fd, j->size) < 0)
			say(j->log, j->log_ctx, PVS_JLOG_ERR,
			    "journal %s: cannot cut back a partial record: %s", j->path,
			    strerror(errno));
		return e;
	}
}

static void compact(struct pvs_journal *j)
{
	struct rec *r;
	size_t live;
	int e;

	/* a thread has one or two live lines: j->n is a lower bound */
	if (j->lines - j->n <= PVS_JOURNAL_COMPACT_DEAD)
		return;
	if (!(r = jent_recs(j->e, j->n, &live)))
		return;
	if (j->lines - live <= PVS_JOURNAL_COMPACT_DEAD) {
		free(r);
		return;
	}
	e = rewrite(j->path, r, j->n, &j->fd, &j->size);
	free(r);
	if (e) {
		say(j->log, j->log_ctx, PVS_JLOG_WARN, "journal %s: cannot compact: %s", j->path,
		    strerror(-e));
		return;
	}
	say(j->log, j->log_ctx, PVS_JLOG_DEBUG, "journal %s: compacted to %zu record(s)", j->path,
	    j->n);
	j->lines = live;
}

/* Remove entry E from the table (no line written), close its handle. */
static void unlink_ent(struct pvs_journal *j, struct jent *e)
{
	size_t i = (size_t)(e - j->e);

	if (e->h >= 0)
		close(e->h);
	memmove(&j->e[i], &j->e[i + 1], (j->n - i - 1) * sizeof(*e));
	j->n--;
}

/* Drop entry E: a '-' line, close its handle.  A failed append leaves the
 * '+' in the file: harmless, a later recovery finds the thread gone (or the
 * tid reused) and skips it. */
static void drop(struct pvs_journal *j, struct jent *e)
{
	struct pvs_journal_line l = {.op = PVS_JOURNAL_DEL, .id = e->id};
	int r = append(j, &l);

	if (r)
		say(j->log, j->log_ctx, PVS_JLOG_WARN, "journal %s: cannot append: %s", j->path,
		    strerror(-r));
	unlink_ent(j, e);
	compact(j);
}

/* Identity check before a change: bind lazily (adopted records). */
static int precheck(struct pvs_journal *j, struct jent *e)
{
	int reused;

	if (e->h >= 0)
		return alive(e->h, j->use_pidfd);
	return bind_thread(&e->id, j->use_pidfd, &e->h, &reused);
}

/* After a change that returned R: -ESRCH when the thread is gone now. */
static int postcheck(struct pvs_journal *j, struct jent *e, int r)
{
	if (!r && alive(e->h, j->use_pidfd) == -ESRCH) {
		/* gone between the checks: the tid may have been reused in that
		 * window (see the top of this file) */
		say(j->log, j->log_ctx, PVS_JLOG_DEBUG,
		    "thread %d (pid %d) exited during a scheduling change", (int)e->id.tid,
		    (int)e->id.pid);
		r = -ESRCH;
	}
	return r;
}

/* Identity-checked change of E's thread to A, or (A NULL) back to its
 * original. */
static int set_checked(struct pvs_journal *j, struct jent *e, const struct pvs_sched_attr *a)
{
	int r = precheck(j, e);

	if (!r)
		r = a ? pvs_sched_set(e->id.tid, a) : set_orig(e->id.tid, &e->orig);
	return postcheck(j, e, r);
}

/* The same for the affinity: M, or (M NULL) the original. */
static int aff_checked(struct pvs_journal *j, struct jent *e, const cpu_set_t *m)
{
	int r = precheck(j, e);

	if (!r) {
		if (!m)
			r = set_aff_orig(&e->id, &e->aff, j->log, j->log_ctx);
		else if (sched_setaffinity(e->id.tid, sizeof(*m), m) < 0)
			r = -errno;
	}
	return postcheck(j, e, r);
}

/* A new entry for ID (bound: the thread is alive and ID names it), with
 * nothing journaled yet; a record of an older thread with the tid is
 * dropped.  Its caller journals something or removes it (unlink_ent). */
static int new_ent(struct pvs_journal *j, const struct pvs_thread_id *id, struct jent **ep)
{
	struct jent *e;
	size_t pos;
	int h, reused, r;

	r = bind_thread(id, j->use_pidfd, &h, &reused);
	if (r)
		return r;
	/* a record for an older thread with this tid: that thread is gone */
	if ((e = find(j, id->tid, NULL)) != NULL)
		drop(j, e);
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 16;
		struct jent *ne = realloc(j->e, cap * sizeof(*ne));

		if (!ne) {
			close(h);
			return -ENOMEM;
		}
		j->e = ne;
		j->cap = cap;
	}
	find(j, id->tid, &pos);
	memmove(&j->e[pos + 1], &j->e[pos], (j->n - pos) * sizeof(*j->e));
	memset(&j->e[pos], 0, sizeof(j->e[pos]));
	j->e[pos].id = *id;
	j->e[pos].h = h;
	j->n++;
	*ep = &j->e[pos];
	return 0;
}

/* Journal E's current attributes (one '+' line) before their first change.
 * -EOPNOTSUPP for a SCHED_DEADLINE thread; -ESRCH gone. */
static int journal_attr(struct pvs_journal *j, struct jent *e)
{
	struct pvs_journal_line l = {.op = PVS_JOURNAL_ADD, .id = e->id};
	int r = precheck(j, e);

	if (!r)
		r = pvs_sched_get(e->id.tid, &l.attr);
	if (!r)
		r = alive(e->h, j->use_pidfd);
	if (r)
		return r;
	if ((r = append(j, &l))) {
		say(j->log, j->log_ctx, PVS_JLOG_ERR, "journal %s: cannot append: %s", j->path,
		    strerror(-r));
		return r;
	}
	e->orig = l.attr;
	e->has_attr = 1;
	return 0;
}

/* Journal E's current affinity (one 'A' line) before its first change. */
static int journal_aff(struct pvs_journal *j, struct jent *e)
{
	struct pvs_journal_line l = {.op = PVS_JOURNAL_AFFINITY, .id = e->id};
	int r = precheck(j, e);

	if (!r && sched_getaffinity(e->id.tid, sizeof(l.mask), &l.mask) < 0)
		r = -errno;
	if (!r)
		r = alive(e->h, j->use_pidfd);
	if (r)
		return r;
	if ((r = append(j, &l))) {
		say(j->log, j->log_ctx, PVS_JLOG_ERR, "journal %s: cannot append: %s", j->path,
		    strerror(-r));
		return r;
	}
	e->aff = l.mask;
	e->has_aff = 1;
	return 0;
}

/* Entry E of ID with its attributes (AFF 0) or its affinity (AFF 1)
 * journaled: created and journaled as needed.  On an error, an entry with
 * nothing journaled is removed and a gone thread's dropped. */
static int journaled(struct pvs_journal *j, const struct pvs_thread_id *id, int aff,
                     struct jent **ep)
{
	struct jent *e = find_id(j, id);
	int r;

	if (!e && (r = new_ent(j, id, &e)))
		return r;
	if (aff ? e->has_aff : e->has_attr) {
		*ep = e;
		return 0;
	}
	r = aff ? journal_aff(j, e) : journal_attr(j, e);
	if (!r) {
		*ep = e;
		return 0;
	}
	if (!e->has_attr && !e->has_aff)
		unlink_ent(j, e); /* nothing in the file */
	else if (r == -ESRCH)
		drop(j, e);
	return r;
}

int pvs_journal_apply(struct pvs_journal *j, const struct pvs_thread_id *id,
                      const struct pvs_sched_attr *a)
{
	struct pvs_sched_attr na;
	struct jent *e;
	int r;

	if (!j || !id || id->pid <= 0 || id->tid <= 0 || pvs_sched_attr_check(a))
		return -EINVAL;
	na = *a;
	na.flags |= PVS_SCHED_RESET_ON_FORK;
	if ((r = journaled(j, id, 0, &e)))
		return r;
	r = set_checked(j, e, &na);
	if (r == -ESRCH)
		drop(j, e);
	else if (!r)
		e->changed = 1;
	return r;
}

int pvs_journal_set_affinity(struct pvs_journal *j, const struct pvs_thread_id *id,
                             const cpu_set_t *mask)
{
	struct jent *e;
	int r;

	if (!j || !id || id->pid <= 0 || id->tid <= 0 || !mask || CPU_COUNT(mask) == 0)
		return -EINVAL;
	if ((r = journaled(j, id, 1, &e)))
		return r;
	r = aff_checked(j, e, mask);
	if (r == -ESRCH)
		drop(j, e);
	else if (!r)
		e->aff_changed = 1;
	return r;
}

int pvs_journal_restore(struct pvs_journal *j, const struct pvs_thread_id *id)
{
	struct jent *e;
	int r;

	if (!j || !id)
		return -EINVAL;
	if (!(e = find_id(j, id)))
		return -ENOENT;
	if (!e->changed)
		return 0;
	r = set_checked(j, e, NULL);
	if (r == -ESRCH)
		drop(j, e);
	else if (!r)
		e->changed = 0;
	return r;
}

int pvs_journal_restore_affinity(struct pvs_journal *j, const struct pvs_thread_id *id)
{
	struct jent *e;
	int r;

	if (!j || !id)
		return -EINVAL;
	if (!(e = find_id(j, id)))
		return -ENOENT;
	if (!e->aff_changed)
		return 0;
	r = aff_checked(j, e, NULL);
	if (r == -ESRCH)
		drop(j, e);
	else if (!r)
		e->aff_changed = 0;
	return r;
}

/* Put back what E has changed (attributes, affinity): 0, -ESRCH (gone), or
 * the first other error (what was restored is marked so). */
static int restore_all(struct pvs_journal *j, struct jent *e)
{
	int r = 0, r2 = 0;

	if (e->changed && !(r = set_checked(j, e, NULL)))
		e->changed = 0;
	if (e->aff_changed && r != -ESRCH && !(r2 = aff_checked(j, e, NULL)))
		e->aff_changed = 0;
	if (r == -ESRCH || r2 == -ESRCH)
		return -ESRCH;
	return r ? r : r2;
}

int pvs_journal_forget(struct pvs_journal *j, const struct pvs_thread_id *id)
{
	struct jent *e;
	int r;

	if (!j || !id)
		return -EINVAL;
	if (!(e = find_id(j, id)))
		return -ENOENT;
	r = restore_all(j, e);
	if (!r || r == -ESRCH)
		drop(j, e);
	return r;
}

int pvs_journal_original(const struct pvs_journal *j, const struct pvs_thread_id *id,
                         struct pvs_sched_attr *orig)
{
	const struct jent *e = j && id ? find_id(j, id) : NULL;

	if (!e || !e->has_attr)
		return -ENOENT;
	*orig = e->orig;
	return 0;
}

int pvs_journal_original_affinity(const struct pvs_journal *j, const struct pvs_thread_id *id,
                                  cpu_set_t *mask)
{
	const struct jent *e = j && id ? find_id(j, id) : NULL;

	if (!e || !e->has_aff)
		return -ENOENT;
	*mask = e->aff;
	return 0;
}

size_t pvs_journal_count(const struct pvs_journal *j)
{
	return j ? j->n : 0;
}

static void jfree(struct pvs_journal *j)
{
	for (size_t i = 0; i < j->n; i++)
		if (j->e[i].h >= 0)
			close(j->e[i].h);
	if (j->fd >= 0)
		close(j->fd);
	free(j->e);
	free(j->path);
	free(j);
}

int pvs_journal_open(struct pvs_journal **jp, const char *path, pvs_journal_log_fn log,
                     void *log_ctx, char *err, size_t errlen)
{
	struct pvs_journal_stats st = {0};
	struct pvs_journal *j;
	struct rec *keep = NULL;
	size_t nkeep = 0;
	int e, tries;

	*jp = NULL;
	if (err && errlen)
		err[0] = 0;
	if (!path || !*path) {
		set_err(err, errlen, "journal: no path");
		return -EINVAL;
	}
	if ((e = mkdirs(path, err, errlen)))
		return e;
	if (!(j = calloc(1, sizeof(*j))) || !(j->path = strdup(path))) {
		free(j);
		set_err(err, errlen, "journal %s: out of memory", path);
		return -ENOMEM;
	}
	j->fd = -1;
	j->log = log;
	j->log_ctx = log_ctx;
	j->use_pidfd = pidfd_usable();
	/* lock the file PATH names: if it was replaced (compaction, another
	 * pvschedctl reset) between our open and our lock, take the new one */
	for (tries = 0;; tries++) {
		struct stat a, b;

		j->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (j->fd < 0) {
			e = -errno;
			set_err(err, errlen, "journal %s: %s", path, strerror(errno));
			goto fail;
		}
		if ((e = check_file(j->fd, path, err, errlen)))
			goto fail;
		if (flock(j->fd, LOCK_EX | LOCK_NB) < 0) {
			char holder[128] = "";

			if (errno != EWOULDBLOCK) {
				e = -errno;
				set_err(err, errlen, "journal %s: lock: %s", path, strerror(errno));
				goto fail;
			}
			lock_holder(j->fd, holder, sizeof(holder));
			set_err(err, errlen, "journal %s is in use%s: is another pvschedd running?",
			        path, holder);
			e = -EBUSY;
			goto fail;
		}
		if (fstat(j->fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino)
			break;
		close(j->fd);
		j->fd = -1;
		if (tries == 10) {
			e = -EAGAIN;
			set_err(err, errlen, "journal %s: keeps being replaced", path);
			goto fail;
		}
	}
	/* a previous instance's records (kill -9): restore them */
	e = recover_fd(j->fd, path, j->use_pidfd, log, log_ctx, &st, &keep, &nkeep);
	if (e) {
		set_err(err, errlen, "journal %s: cannot read: %s", path, strerror(-e));
		goto fail;
	}
	summary(log, log_ctx, PVS_JLOG_INFO, path, "left by a previous instance", &st);
	/* start afresh, with the records that could not be restored adopted */
	if (nkeep) {
		j->e = calloc(nkeep, sizeof(*j->e));
		if (!j->e) {
			e = -ENOMEM;
			set_err(err, errlen, "journal %s: out of memory", path);
			goto fail;
		}
		j->cap = nkeep;
		for (size_t i = 0; i < nkeep; i++) {
			size_t pos;

			if (find(j, keep[i].id.tid, &pos))
				continue;
			memmove(&j->e[pos + 1], &j->e[pos], (j->n - pos) * sizeof(*j->e));
			memset(&j->e[pos], 0, sizeof(j->e[pos]));
			j->e[pos].id = keep[i].id;
			j->e[pos].orig = keep[i].attr;
			j->e[pos].aff = keep[i].aff;
			j->e[pos].h = -1;
			j->e[pos].has_attr = j->e[pos].changed = keep[i].has_attr;
			j->e[pos].has_aff = j->e[pos].aff_changed = keep[i].has_aff;
			j->n++;
		}
		free(keep); /* file order is not needed */
		if (!(keep = jent_recs(j->e, j->n, NULL))) {
			e = -ENOMEM;
			set_err(err, errlen, "journal %s: out of memory", path);
			goto fail;
		}
	}
	e = rewrite(path, keep, j->n, &j->fd, &j->size);
	free(keep);
	keep = NULL;
	if (e) {
		set_err(err, errlen, "journal %s: cannot rewrite: %s", path, strerror(-e));
		goto fail;
	}
	j->lines = 0;
	for (size_t i = 0; i < j->n; i++)
		j->lines += (size_t)j->e[i].has_attr + j->e[i].has_aff;
	say(log, log_ctx, PVS_JLOG_DEBUG, "journal %s: open (%s identity handles)", path,
	    j->use_pidfd ? "pidfd" : "/proc stat");
	*jp = j;
	return 0;
fail:
	free(keep);
	jfree(j);
	return e;
}

int pvs_journal_close(struct pvs_journal *j)
{
	struct rec *keep;
	size_t nkeep = 0;
	int first = 0, e;

	if (!j)
		return 0;
	keep = calloc(j->n ? j->n : 1, sizeof(*keep));
	for (size_t i = 0; i < j->n; i++) {
		struct jent *x = &j->e[i];
		char a[128];
		int r = 0, r2 = 0;

		if (x->changed)
			r = set_checked(j, x, NULL);
		if (x->aff_changed && r != -ESRCH)
			r2 = aff_checked(j, x, NULL);
		if (r == -ESRCH || r2 == -ESRCH || (!r && !r2))
			continue;
		if (r)
			say(j->log, j->log_ctx, PVS_JLOG_ERR,
			    "thread %d (pid %d): cannot restore %s: %s", (int)x->id.tid,
			    (int)x->id.pid, pvs_sched_attr_str(&x->orig, a, sizeof(a)),
			    strerror(-r));
		if (r2)
			say(j->log, j->log_ctx, PVS_JLOG_ERR,
			    "thread %d (pid %d): cannot restore affinity %s: %s", (int)x->id.tid,
			    (int)x->id.pid, cpulist_str(&x->aff, a, sizeof(a)), strerror(-r2));
		if (!first)
			first = r ? r : r2;
		if (keep) {
			keep[nkeep].id = x->id;
			keep[nkeep].attr = x->orig;
			keep[nkeep].aff = x->aff;
			keep[nkeep].has_attr = x->has_attr;
			keep[nkeep].has_aff = x->has_aff;
			nkeep++;
		}
	}
	if (nkeep || !keep) {
		/* leave what failed (or everything, out of memory) for
		 * pvschedctl reset */
		e = keep ? rewrite(j->path, keep, nkeep, &j->fd, &j->size) : 0;
	} else {
		e = ftruncate(j->fd, 0) < 0 ? -errno
		                            : pvs_write_all(j->fd, HEADER, sizeof(HEADER) - 1);
	}
	if (e)
		say(j->log, j->log_ctx, PVS_JLOG_ERR, "journal %s: cannot empty: %s", j->path,
		    strerror(-e));
	free(keep);
	jfree(j); /* closing the fd releases the lock */
	return first ? first : e;
}
