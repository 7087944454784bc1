/* SPDX-License-Identifier: MIT */
/* daemon/log.c - logging with sd-daemon style "<N>" level prefixes, which
 * journald understands when pvschedd runs under systemd. */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static int max_level = PVS_LOG_INFO;

void pvs_log_set_level(int level)
{
	max_level = level;
}

void pvs_log(int level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "<%d>pvschedd: %s\n", level, buf);
}
