/* SPDX-License-Identifier: MIT */
/* daemon/procfs.h - small, allocation-free readers of /proc files. */
#ifndef PVSCHED_DAEMON_PROCFS_H
#define PVSCHED_DAEMON_PROCFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* pvs_parse_stat, pvs_proc_stat (a /proc stat line: comm, state, start
 * time) are the journal library's (journal/thread_id.h): one reader of a
 * thread's start time for the daemon, the journal and pvschedctl. */
#include "thread_id.h"

/* Parse "run wait slices" from a schedstat file. */
int pvs_parse_schedstat(const char *buf, size_t len, uint64_t *run, uint64_t *wait);
/* Find "nonvoluntary_ctxt_switches:" in a status file. */
int pvs_parse_invol(const char *buf, size_t len, uint64_t *invol);

/* Read a whole small file into BUF (NUL-terminated); returns length or -errno. */
ssize_t pvs_read_file(const char *path, char *buf, size_t len);
ssize_t pvs_pread_all(int fd, char *buf, size_t len);

/* Make NAME safe for a file name and the region header: [A-Za-z0-9._-]. */
void pvs_sanitize_name(char *name);

#endif
