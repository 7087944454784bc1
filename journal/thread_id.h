/* SPDX-License-Identifier: MIT */
/*
 * journal/thread_id.h - a thread's identity and the /proc stat line it
 * comes from, shared by the daemon (vm.h, procfs.h) and the scheduling
 * journal (journal.h), which pvschedctl links without the rest of the
 * daemon.  Part of the journal library (thread_id.c): the one reader of a
 * thread's start time.
 */
#ifndef PVSCHED_JOURNAL_THREAD_ID_H
#define PVSCHED_JOURNAL_THREAD_ID_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A thread's identity: its tid and its start time (stat field 22, clock
 * ticks since boot).  A tid reused by a new thread has another start time. */
struct pvs_thread_id {
	pid_t pid;
	pid_t tid;
	uint64_t start;
};

/* Parse a /proc stat line: the comm is between the first '(' and the LAST
 * ')' (it may contain spaces, parentheses and slashes: "CPU 0/KVM"); the
 * state is field 3, the start time field 22.  Reads no further than LEN
 * (BUF need not be NUL-terminated).  Returns 0 or -EINVAL.  Any output
 * pointer may be NULL. */
int pvs_parse_stat(const char *buf, size_t len, char *comm, size_t commlen, char *state,
                   uint64_t *start);
/* Read and parse /proc/PID/task/TID/stat (TID = PID for the process):
 * 0, -errno of open/read (-ENOENT: no such thread), or -EINVAL. */
int pvs_proc_stat(pid_t pid, pid_t tid, char *comm, size_t commlen, char *state, uint64_t *start);
/* Fill ID for thread TID of process PID (start from /proc).  0; -EINVAL
 * (PID or TID not positive), -ESRCH (no such thread), -EIO (a stat line
 * without a start time), or another -errno. */
int pvs_thread_id_get(pid_t pid, pid_t tid, struct pvs_thread_id *id);

#endif
