/* SPDX-License-Identifier: MIT */
/*
 * journal/thread_id.h - a thread's identity, shared by the daemon (vm.h) and
 * the scheduling journal (journal.h), which pvschedctl links without the
 * rest of the daemon.  Part of the journal library (thread_id.c).
 */
#ifndef PVSCHED_JOURNAL_THREAD_ID_H
#define PVSCHED_JOURNAL_THREAD_ID_H

#include <stdint.h>
#include <sys/types.h>

/* A thread's identity: its tid and its start time (stat field 22, clock
 * ticks since boot).  A tid reused by a new thread has another start time. */
struct pvs_thread_id {
	pid_t pid;
	pid_t tid;
	uint64_t start;
};

/* Fill ID for thread TID of process PID (start from /proc).  0; -EINVAL
 * (PID or TID not positive), -ESRCH (no such thread), -EIO (a stat line
 * without a start time), or another -errno. */
int pvs_thread_id_get(pid_t pid, pid_t tid, struct pvs_thread_id *id);

#endif
