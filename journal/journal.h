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
 * The file: one record a line, the format of journal_line.h.
 *
 * Self-contained: no daemon globals (messages go to a callback), so
 * pvschedctl links it alone (libpvsched_journal).  Not thread-safe: one
 * thread owns a struct pvs_journal.  Functions return 0 or -errno.
 *
 * The library, journal/: sched_attr.c (a thread's scheduling attributes),
 * thread_id.c (a thread's identity and the handles that pin it),
 * journal_line.c (the line format, pure), journal_io.c (messages, putting
 * an original affinity back, the file), replay.c (replay and recovery, also
 * without a daemon), journal.c (the open journal); journal_internal.h is
 * what they share.
 */
#ifndef PVSCHED_JOURNAL_JOURNAL_H
#define PVSCHED_JOURNAL_JOURNAL_H

#include <sched.h> /* cpu_set_t (_GNU_SOURCE) */
#include <stddef.h>
#include <sys/types.h>

#include "journal_line.h" /* the file's lines: parse and format */
#include "sched_attr.h"   /* struct pvs_sched_attr */
#include "thread_id.h"    /* struct pvs_thread_id */

#define PVS_JOURNAL_DEFAULT_PATH "/run/pvsched/journal"
/* Rewrite the file when it holds more dead records than this. */
#define PVS_JOURNAL_COMPACT_DEAD 1000

/* Log levels of the callback: the numbers of log.h and syslog(3). */
enum { PVS_JLOG_ERR = 3, PVS_JLOG_WARN = 4, PVS_JLOG_INFO = 6, PVS_JLOG_DEBUG = 7 };
/* One message, without a trailing newline.  LOG may be NULL: no messages. */
typedef void (*pvs_journal_log_fn)(void *ctx, int level, const char *msg);

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

#endif
