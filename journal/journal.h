/* SPDX-License-Identifier: MIT */
/*
 * journal/journal.h - the scheduling journal: the one way pvschedd changes a
 * thread's scheduling attributes and CPU affinity, and how they are put back.
 *
 * Before the first change of a thread's attributes, its original attributes
 * are appended to a file (default /run/pvsched/journal) with the thread's
 * identity; before the first change of its affinity, its original affinity
 * likewise; then the change is made.  A clean exit restores every journaled
 * thread; a daemon killed with SIGKILL leaves the file, and the next
 * pvs_journal_open() (or `pvschedctl reset`, without a daemon) restores what
 * it lists.
 *
 * File format (text, one record a line, '#' starts a comment):
 *   + PID TID START POLICY PRIO NICE FLAGS   original attributes of a thread
 *   A PID TID START CPULIST                  original CPU affinity of a thread
 *   - TID START                              the records of TID START are void
 * START is /proc stat field 22; POLICY is other, batch, idle, fifo or rr;
 * PRIO the SCHED_FIFO/RR priority (0 otherwise); NICE -20..19; FLAGS 0 or 1
 * (the original had SCHED_FLAG_RESET_ON_FORK).  CPULIST is a non-empty,
 * ascending list of CPUs and ranges, "0-3,8" (CPUs 0..CPU_SETSIZE-1, 1023).
 * A thread has at most one '+' and one 'A' that count: the first of each
 * since the last '-' of its identity (later ones are ignored: the first
 * holds the original).  The 'A' line came with affinity; files without it
 * (older daemons) read the same as before.
 *
 * Self-contained: no daemon globals (messages go to a callback), so
 * pvschedctl links it alone (libpvsched_journal).  Not thread-safe: one
 * thread owns a struct pvs_journal.  Functions return 0 or -errno.
 */
#ifndef PVSCHED_JOURNAL_JOURNAL_H
#define PVSCHED_JOURNAL_JOURNAL_H

#include <sched.h> /* cpu_set_t (_GNU_SOURCE) */
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "thread_id.h" /* struct pvs_thread_id */

#define PVS_JOURNAL_DEFAULT_PATH "/run/pvsched/journal"
/* Rewrite the file when it holds more dead records than this. */
#define PVS_JOURNAL_COMPACT_DEAD 1000

/* Log levels of the callback: the numbers of log.h and syslog(3). */
enum { PVS_JLOG_ERR = 3, PVS_JLOG_WARN = 4, PVS_JLOG_INFO = 6, PVS_JLOG_DEBUG = 7 };
/* One message, without a trailing newline.  LOG may be NULL: no messages. */
typedef void (*pvs_journal_log_fn)(void *ctx, int level, const char *msg);

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
/* Fill ID for thread TID of process PID (start from /proc). */
int pvs_thread_id_get(pid_t pid, pid_t tid, struct pvs_thread_id *id);

struct pvs_journal;

/*
 * Open (create: directory 0755, file 0600) the journal at PATH and lock it
 * (flock, exclusive: one daemon per journal).  Then restore whatever a
 * previous instance left (pvs_journal_recover), and start an empty journal.
 * Errors: -EBUSY when another process holds the journal (ERR names the path
 * and, if found, the holder), others with ERR set.  Records whose restore
 * failed for another reason than the thread being gone stay journaled:
 * close retries them.
 */
int pvs_journal_open(struct pvs_journal **jp, const char *path, pvs_journal_log_fn log,
                     void *log_ctx, char *err, size_t errlen);

/*
 * Give thread ID the attributes A (plus SCHED_FLAG_RESET_ON_FORK).  The
 * first time for an identity, its current attributes are read and
 * journaled (one write) before the change.  The identity is checked just
 * before and just after the change.  Returns 0; -ESRCH when the thread is
 * gone or its tid now belongs to another thread (then nothing is journaled,
 * or the record is dropped); -EOPNOTSUPP for a SCHED_DEADLINE thread (not
 * touched); -EINVAL for a bad A; -errno of the write or of sched_setattr.
 */
int pvs_journal_apply(struct pvs_journal *j, const struct pvs_thread_id *id,
                      const struct pvs_sched_attr *a);
/*
 * Give thread ID the CPU affinity MASK.  The first affinity change of an
 * identity journals its current affinity (one write) before the change,
 * also when the identity already has a record from pvs_journal_apply (the
 * original attributes are not touched; a later pvs_journal_apply of an
 * identity journaled by this alone journals its attributes then).  The
 * identity is checked as in apply.  0; -ESRCH (gone, or the tid now
 * belongs to another thread); -EINVAL (empty MASK, or none of its CPUs
 * usable); -errno of the write or of sched_setaffinity.
 */
int pvs_journal_set_affinity(struct pvs_journal *j, const struct pvs_thread_id *id,
                             const cpu_set_t *mask);
/* Put the original attributes back; the record stays (the original stays
 * the original if the thread is changed again).  Only the attributes: the
 * affinity stays as set (pvs_journal_restore_affinity).  0 (also when the
 * attributes were not changed since the last restore); -ENOENT: ID not
 * journaled; -ESRCH: thread gone, record dropped. */
int pvs_journal_restore(struct pvs_journal *j, const struct pvs_thread_id *id);
/* Put the original affinity back, keep the record (like restore; only the
 * affinity).  0 (also when the affinity was never changed); -ENOENT: ID
 * not journaled; -ESRCH: thread gone, record dropped.  An original no
 * longer settable (its CPUs went offline: EINVAL) gives the thread all
 * online CPUs instead, with a warning: that counts as restored. */
int pvs_journal_restore_affinity(struct pvs_journal *j, const struct pvs_thread_id *id);
/* Restore (the attributes and the affinity, whichever were changed) and
 * drop the record.  0; -ENOENT: not journaled; -ESRCH: thread gone (record
 * dropped anyway); another -errno: a restore failed, record kept. */
int pvs_journal_forget(struct pvs_journal *j, const struct pvs_thread_id *id);
/* The original attributes journaled for ID: 0 or -ENOENT (none journaled,
 * e.g. only the affinity was changed). */
int pvs_journal_original(const struct pvs_journal *j, const struct pvs_thread_id *id,
                         struct pvs_sched_attr *orig);
/* The original affinity journaled for ID: 0 or -ENOENT (none journaled). */
int pvs_journal_original_affinity(const struct pvs_journal *j, const struct pvs_thread_id *id,
                                  cpu_set_t *mask);
/* Number of journaled threads. */
size_t pvs_journal_count(const struct pvs_journal *j);
/* Clean exit: restore every journaled thread (attributes and affinity,
 * whichever were changed), empty the file, unlock, free.
 * Returns 0, or the first restore error other than a gone thread (those
 * records are left in the file for pvschedctl reset).  J may be NULL. */
int pvs_journal_close(struct pvs_journal *j);

/* pvs_journal_recover flags */
#define PVS_JOURNAL_FORCE 0x1u /* run even while a daemon holds the journal */

struct pvs_journal_stats {
	unsigned restored; /* threads put back (attributes, affinity or both) */
	unsigned gone;     /* skipped: thread exited */
	unsigned reused;   /* skipped: tid belongs to another thread (start differs) */
	unsigned deadline; /* skipped: now SCHED_DEADLINE, set by someone else */
	unsigned failed;   /* restore failed (kept in the file) */
	unsigned bad;      /* corrupt or truncated lines skipped */
};

/*
 * Restore what the journal at PATH lists, without a daemon: replay the
 * records, restore each thread whose tid and start time still match (its
 * attributes and its affinity, whichever the journal lists), report
 * (LOG) and skip the others, then empty the file (records that failed stay).
 * A missing file is nothing to do (0).  While another process holds the
 * journal: -EBUSY with ERR, unless PVS_JOURNAL_FORCE (then threads are
 * restored but the file, which the daemon owns, is left alone).  Returns 0
 * or -errno (-EIO if a restore failed); ST (may be NULL) gets the counts.
 */
int pvs_journal_recover(const char *path, unsigned flags, pvs_journal_log_fn log, void *log_ctx,
                        struct pvs_journal_stats *st, char *err, size_t errlen);

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
/* The longest line pvs_journal_format writes, '\n' included (an 'A' line
 * of every other CPU of 1024 is about 2,050 bytes). */
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
