/* SPDX-License-Identifier: MIT */
/*
 * common/cpuset.c - the CPU-list parser and formatter ("0-3,8") and the
 * reader of the online CPUs, for struct pvs_cpuset (pvs_cpuset.h): the one
 * copy the configuration (cpus=, reserved_cpus=), the status document, the
 * journal's affinity records and co-scheduling's placement all use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "pvs_cpuset.h"
#include "pvs_decimal.h"

static int fail(struct pvs_cpuset *m, const char **why, const char *what)
{
	pvs_cpuset_zero(m);
	if (why)
		*why = what;
	return -EINVAL;
}

int pvs_cpuset_parse(const char *s, size_t n, unsigned flags, struct pvs_cpuset *m,
                     const char **why)
{
	size_t i = 0;
	int64_t last = -1;

	pvs_cpuset_zero(m);
	if (n == 0)
		return fail(m, why, "empty cpu list");
	for (;;) {
		uint64_t a, b;
		size_t k = i;

		while (k < n && s[k] >= '0' && s[k] <= '9')
			k++;
		if (pvs_dec_u64(s + i, k - i, &a))
			return fail(m, why, "bad cpu list");
		b = a;
		if (k < n && s[k] == '-') {
			i = ++k;
			while (k < n && s[k] >= '0' && s[k] <= '9')
				k++;
			if (pvs_dec_u64(s + i, k - i, &b))
				return fail(m, why, "bad cpu range");
		}
		if (a >= PVS_CPUSET_MAX || b >= PVS_CPUSET_MAX)
			return fail(m, why, "cpu number out of range (0..1023)");
		if (b < a)
			return fail(m, why, "bad cpu range");
		if ((flags & PVS_CPUSET_ASCENDING) && (int64_t)a <= last)
			return fail(m, why, "cpu list not ascending");
		for (uint64_t c = a; c <= b; c++)
			pvs_cpuset_set(m, (unsigned)c);
		last = (int64_t)b;
		if (k == n)
			return 0;
		if (s[k] != ',' || k + 1 == n)
			return fail(m, why, "bad cpu list");
		i = k + 1;
	}
}

size_t pvs_cpuset_format(const struct pvs_cpuset *m, char *buf, size_t len)
{
	size_t n = 0;

	if (len)
		buf[0] = 0;
	for (unsigned c = 0; c < PVS_CPUSET_MAX; c++) {
		char item[16];
		unsigned d = c;
		int k;

		if (!pvs_cpuset_test(m, c))
			continue;
		while (pvs_cpuset_test(m, d + 1))
			d++;
		if (d > c)
			k = snprintf(item, sizeof(item), "%s%u-%u", n ? "," : "", c, d);
		else
			k = snprintf(item, sizeof(item), "%s%u", n ? "," : "", c);
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

int pvs_cpuset_read_online(struct pvs_cpuset *m)
{
	char buf[4096];
	ssize_t n;
	int fd = open("/sys/devices/system/cpu/online", O_RDONLY | O_CLOEXEC);

	pvs_cpuset_zero(m);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	return pvs_cpuset_parse(buf, (size_t)n, 0, m, NULL);
}
