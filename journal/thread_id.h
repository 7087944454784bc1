/* SPDX-License-Identifier: MIT */
/*
 * journal/thread_id.h - a thread's identity, shared by the daemon (vm.h) and
 * the scheduling journal (journal.h), which pvschedctl links without the
 * rest of the daemon.
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

#endif
