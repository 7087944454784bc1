/* SPDX-License-Identifier: MIT */
/*
 * journal/journal_line.h - the journal file's lines: parse one, format one.
 * Pure (no I/O), part of the journal library (journal.h includes it).
 *
 * Format (text, one record a line, '#' starts a comment):
 *   + PID TID START POLICY PRIO NICE FLAGS   original attributes of a thread
 *   A PID TID START CPULIST                  original CPU affinity of a thread
 *   - TID START                              the records of TID START are void
 * START is /proc stat field 22; POLICY is other, batch, idle, fifo or rr;
 * PRIO the SCHED_FIFO/RR priority (0 otherwise); NICE -20..19; FLAGS 0 or 1
 * (the original had SCHED_FLAG_RESET_ON_FORK).  CPULIST is a non-empty,
 * ascending list of CPUs and ranges, "0-3,8" (CPUs 0..1023; common/cpuset.c).
 * A thread has at most one '+' and one 'A' that count: the first of each
 * since the last '-' of its identity (later ones are ignored: the first
 * holds the original).  The 'A' line came with affinity; files without it
 * (older daemons) read the same as before.
 */
#ifndef PVSCHED_JOURNAL_JOURNAL_LINE_H
#define PVSCHED_JOURNAL_JOURNAL_LINE_H

#include <sched.h> /* cpu_set_t (_GNU_SOURCE) */
#include <stddef.h>

#include "sched_attr.h"
#include "thread_id.h"

/* One parsed line. */
enum pvs_journal_op {
	PVS_JOURNAL_NONE,    /* empty line or comment */
	PVS_JOURNAL_ADD,     /* '+': original attributes (attr) */
	PVS_JOURNAL_DEL,     /* '-': the records of id are void */
	PVS_JOURNAL_AFFINITY /* 'A': original affinity (mask) */
};
struct pvs_journal_line {
	enum pvs_journal_op op;
	struct pvs_thread_id id;    /* DEL: pid 0 */
	struct pvs_sched_attr attr; /* ADD only (zero otherwise) */
	cpu_set_t mask;             /* AFFINITY only (zero otherwise) */
};
/* The longest line pvs_journal_format writes, '\n' included (an 'A' line's
 * CPU list is shorter than PVS_CPUSET_LIST_MAX: the longest, pairs
 * "0-1,3-4,...,1020-1021,1023", is 2,673 bytes). */
#define PVS_JOURNAL_LINE_MAX 4096
/* Parse one line (LEN bytes, no newline, need not be NUL-terminated).
 * Pure.  0, or -EINVAL with *WHY (if not NULL) a static reason. */
int pvs_journal_parse_line(const char *line, size_t len, struct pvs_journal_line *out,
                           const char **why);
/* Format a record line (with '\n') into BUF; returns its length (< LEN),
 * 0 when it does not fit or cannot be written (an AFFINITY with an empty
 * mask).  PVS_JOURNAL_LINE_MAX bytes are always enough. */
size_t pvs_journal_format(const struct pvs_journal_line *l, char *buf, size_t len);

#endif
