/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/testutil.h - temp directories, files, the clock
 * (common/pvs_clock.h) and sleeps for the unit tests.
 */
#ifndef PVS_TEST_UTIL_H
#define PVS_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pvs_clock.h"

#define TU_UNUSED __attribute__((unused))

static char tu_dir[256];

static int tu_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p) < 0 ? 0 : 0;
}

static void tu_cleanup(void)
{
	if (tu_dir[0] && !getenv("PVS_TEST_KEEP"))
		nftw(tu_dir, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A private temp dir, on tmpfs (/dev/shm) when possible; removed at exit. */
TU_UNUSED static const char *tu_tmpdir(void)
{
	const char *bases[] = {"/dev/shm", getenv("TMPDIR"), "/tmp"};

	if (tu_dir[0])
		return tu_dir;
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		if (!bases[i] || access(bases[i], W_OK) != 0)
			continue;
		snprintf(tu_dir, sizeof(tu_dir), "%s/pvsched-unit-XXXXXX", bases[i]);
		if (mkdtemp(tu_dir)) {
			atexit(tu_cleanup);
			return tu_dir;
		}
	}
	fprintf(stderr, "cannot create a temp dir\n");
	exit(1);
}

/* tu_path("x") -> "<tmpdir>/x" in a rotating static buffer. */
TU_UNUSED static const char *tu_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
TU_UNUSED static const char *tu_path(const char *fmt, ...)
{
	static char bufs[8][512];
	static int k;
	char name[256];
	va_list ap;
	char *b = bufs[k++ % 8];

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	snprintf(b, sizeof(bufs[0]), "%s/%s", tu_tmpdir(), name);
	return b;
}

TU_UNUSED static int tu_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	const char *p = data;

	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n <= 0) {
			close(fd);
			return -EIO;
		}
		p += n;
		len -= (size_t)n;
	}
	close(fd);
	return 0;
}

TU_UNUSED static int tu_write_str(const char *path, const char *s)
{
	return tu_write_file(path, s, strlen(s), 0644);
}

/* Whole file into a malloc'd buffer (NUL-terminated); NULL on error. */
TU_UNUSED static unsigned char *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rbe");
	unsigned char *b = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			unsigned char *nb = realloc(b, cap = (cap ? cap * 2 : 8192));
			if (!nb) {
				free(b);
				fclose(f);
				return NULL;
			}
			b = nb;
		}
		size_t r = fread(b + n, 1, 4096, f);
		n += r;
		if (r < 4096)
			break;
	}
	fclose(f);
	b[n] = 0;
	if (len)
		*len = n;
	return b;
}

TU_UNUSED static int tu_mkdir(const char *path)
{
	return mkdir(path, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

TU_UNUSED static void tu_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

#endif
