/* SPDX-License-Identifier: MIT */
/*
 * daemon/procfs.c - /proc readers: schedstat, status, a process's threads
 * and its command line (QEMU's arguments are read in qemu_args.c, a
 * thread's start time in journal/thread_id.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

void pvs_sanitize_name(char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			*s = '_';
}
