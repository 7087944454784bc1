/* SPDX-License-Identifier: MIT */
/* daemon/procfs.h - small, allocation-free readers of /proc files. */
#ifndef PVSCHED_DAEMON_PROCFS_H
#define PVSCHED_DAEMON_PROCFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Parse a /proc stat line: the comm is between the first '(' and the LAST
 * ')' (it may contain spaces, parentheses and slashes: "CPU 0/KVM").
 * Returns 0 or -EINVAL.  Any output pointer may be NULL. */
int pvs_parse_stat(const char *buf, size_t len, char *comm, size_t commlen, char *state,
                   uint64_t *start);
/* Parse "run wait slices" from a schedstat file. */
int pvs_parse_schedstat(const char *buf, size_t len, uint64_t *run, uint64_t *wait);
/* Find "nonvoluntary_ctxt_switches:" in a status file. */
int pvs_parse_invol(const char *buf, size_t len, uint64_t *invol);

/* Read /proc/PID/task/TID/stat (TID = PID for the process). */
int pvs_proc_stat(pid_t pid, pid_t tid, char *comm, size_t commlen, char *state, uint64_t *start);
/* Read a whole small file into BUF (NUL-terminated); returns length or -errno. */
ssize_t pvs_read_file(const char *path, char *buf, size_t len);
ssize_t pvs_pread_all(int fd, char *buf, size_t len);

/* Make NAME safe for a file name and the region header: [A-Za-z0-9._-]. */
void pvs_sanitize_name(char *name);

#endif
