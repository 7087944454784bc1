/* SPDX-License-Identifier: MIT */
/*
 * journal/sched_attr.h - a thread's scheduling attributes (policy, RT
 * priority, nice, reset-on-fork): what the journal saves and sets, read and
 * written with sched_getattr/sched_setattr.  Part of the journal library
 * (journal.h includes it).  Functions return 0 or -errno.
 */
#ifndef PVSCHED_JOURNAL_SCHED_ATTR_H
#define PVSCHED_JOURNAL_SCHED_ATTR_H

#include <stddef.h>
#include <sys/types.h>

/* pvs_sched_attr.flags */
#define PVS_SCHED_RESET_ON_FORK 0x1u

/* What the journal saves and sets. */
struct pvs_sched_attr {
	int policy;     /* SCHED_OTHER, SCHED_BATCH, SCHED_IDLE, SCHED_FIFO, SCHED_RR */
	int prio;       /* 1..99 for SCHED_FIFO/RR, 0 otherwise */
	int nice;       /* -20..19; SCHED_OTHER/BATCH (kept, not set, for the others) */
	unsigned flags; /* PVS_SCHED_RESET_ON_FORK */
};

/* Raw sched_getattr/sched_setattr of thread TID (no journal, no identity
 * check).  pvs_sched_get returns -EOPNOTSUPP for a SCHED_DEADLINE thread
 * (after filling A->policy) and any policy it does not know. */
int pvs_sched_get(pid_t tid, struct pvs_sched_attr *a);
int pvs_sched_set(pid_t tid, const struct pvs_sched_attr *a);
/* 0 if A is settable: a known policy, prio and nice in range, known flags. */
int pvs_sched_attr_check(const struct pvs_sched_attr *a);
/* "fifo 10", "other nice -5", "batch nice 3 reset-on-fork" */
const char *pvs_sched_attr_str(const struct pvs_sched_attr *a, char *buf, size_t len);

#endif
