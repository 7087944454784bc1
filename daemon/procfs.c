/* SPDX-License-Identifier: MIT */
/* daemon/procfs.c - /proc readers and QEMU command-line parsing. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procfs.h"

ssize_t pvs_pread_all(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);

	if (n < 0)
		return -errno;
	buf[n] = 0;
	return n;
}

ssize_t pvs_read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = pvs_pread_all(fd, buf, len);
	close(fd);
	return n;
}

/* A decimal number of at most N bytes at P (need not be NUL-terminated):
 * 0 with *OUT (and *ENDP) set, or -EINVAL (no digits, or overflow). */
static int parse_u64(const char *p, size_t n, uint64_t *out, const char **endp)
{
	char tmp[24];
	size_t k = 0;
	unsigned long long v;
	char *e;

	while (k < n && k < sizeof(tmp) - 1 && p[k] >= '0' && p[k] <= '9') {
		tmp[k] = p[k];
		k++;
	}
	if (k == 0 || (k < n && p[k] >= '0' && p[k] <= '9'))
		return -EINVAL;
	tmp[k] = 0;
	errno = 0;
	v = strtoull(tmp, &e, 10);
	if (errno)
		return -EINVAL;
	*out = v;
	if (endp)
		*endp = p + k;
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
		if (field == 22 && start && parse_u64(p, (size_t)(end - p), start, NULL))
			return -EINVAL;
		while (p < end && *p != ' ')
			p++;
	}
	return 0;
}

int pvs_parse_schedstat(const char *buf, size_t len, uint64_t *run, uint64_t *wait)
{
	const char *p, *end = buf + len;
	uint64_t r, w;

	if (parse_u64(buf, len, &r, &p) || p >= end || *p != ' ')
		return -EINVAL;
	p++;
	if (parse_u64(p, (size_t)(end - p), &w, NULL))
		return -EINVAL;
	*run = r;
	*wait = w;
	return 0;
}

int pvs_parse_invol(const char *buf, size_t len, uint64_t *invol)
{
	static const char key[] = "nonvoluntary_ctxt_switches:";
	const char *p = buf, *end = buf + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (n > sizeof(key) - 1 && !memcmp(p, key, sizeof(key) - 1)) {
			const char *v = p + sizeof(key) - 1, *le = p + n;

			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			return parse_u64(v, (size_t)(le - v), invol, NULL);
		}
		p += n + 1;
	}
	return -ENOENT;
}

int pvs_proc_stat(pid_t pid, pid_t tid, char *comm, size_t commlen, char *state, uint64_t *start)
{
	char path[64], buf[1024];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	n = pvs_read_file(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	return pvs_parse_stat(buf, (size_t)n, comm, commlen, state, start);
}

void pvs_sanitize_name(char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			*s = '_';
}
