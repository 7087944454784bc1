/* SPDX-License-Identifier: MIT */
/* daemon/names.h - the one rule for VM names, shared by the config parser
 * and the control protocol: 1-31 bytes of [A-Za-z0-9._-] (the name becomes
 * part of a file name and fills the region header's 32-byte vm_name). */
#ifndef PVSCHED_DAEMON_NAMES_H
#define PVSCHED_DAEMON_NAMES_H

#include <string.h>

static inline int pvs_valid_vm_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 31)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return 0;
	return 1;
}

#endif
