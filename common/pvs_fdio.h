/* SPDX-License-Identifier: MIT */
/*
 * common/pvs_fdio.h - write a whole buffer to a file descriptor, across
 * short writes and EINTR (the journal's records, pvschedctl top's screen).
 */
#ifndef PVSCHED_COMMON_FDIO_H
#define PVSCHED_COMMON_FDIO_H

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

/* 0, or -errno (-EIO if write() returned 0). */
static inline int pvs_write_all(int fd, const void *buf, size_t n)
{
	const char *b = buf;

	while (n) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

#endif
