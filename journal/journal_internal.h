/* SPDX-License-Identifier: MIT */
/*
 * journal/journal_internal.h - what the journal library's files share and
 * its users do not see: each block is defined by the file it names.
 */
#ifndef PVSCHED_JOURNAL_JOURNAL_INTERNAL_H
#define PVSCHED_JOURNAL_JOURNAL_INTERNAL_H

#include <sched.h> /* cpu_set_t (_GNU_SOURCE) */
#include <stddef.h>
#include <sys/types.h>

#include "journal.h"
#include "pvs_cpuset.h"

/* The first line of every journal file. */
#define PVS_JOURNAL_HEADER                                                                         \
	"# pvsched journal: + PID TID START POLICY PRIO NICE FLAGS | A PID TID START CPULIST | - " \
	"TID START\n"

/* ---- sched_attr.c ---- */

/* The policy's name in the file ("fifo"), "deadline", or NULL (unknown). */
const char *pvs__policy_name(int policy);
/* The policy named by the N bytes at S (not "deadline"): 0 or -EINVAL. */
int pvs__policy_parse(const char *s, size_t n, int *policy);
/* A saved original: any policy we know but SCHED_DEADLINE (1), else 0. */
int pvs__attr_valid(const struct pvs_sched_attr *a);
/* Put an original back: sched_setattr, and for the policies it does not
 * set the nice of (FIFO, RR, IDLE, EXT), setpriority. */
int pvs__sched_set_orig(pid_t tid, const struct pvs_sched_attr *a);

/* ---- thread_id.c: handles on a thread that cannot follow a reused tid ---- */

/* Can pidfd_open(tid, PIDFD_THREAD) be used?  PVSCHED_JOURNAL_NO_PIDFD=1
 * forces the /proc stat handle (tests, and old-kernel behaviour). */
int pvs__pidfd_usable(void);
/* 0 while the thread of handle H lives, -ESRCH once it is gone. */
int pvs__thread_alive(int h, int use_pidfd);
/* Open a handle on thread ID and check it is the thread ID names: 0,
 * -ESRCH (gone; *REUSED set if the tid belongs to a newer thread), or
 * another -errno (e.g. -EMFILE). */
int pvs__thread_bind(const struct pvs_thread_id *id, int use_pidfd, int *hp, int *reused);

/* ---- journal_line.c ---- */

/* For messages: the CPU list, or a count when it is too long. */
const char *pvs__cpulist_str(const cpu_set_t *m, char *buf, size_t len);

/* ---- journal_io.c: messages ---- */

/* Format a message for LOG (nothing if LOG is NULL). */
__attribute__((format(printf, 4, 5))) void pvs__say(pvs_journal_log_fn log, void *ctx, int level,
                                                    const char *fmt, ...);
/* Format ERR (nothing if ERR is NULL or ERRLEN 0). */
__attribute__((format(printf, 3, 4))) void pvs__set_err(char *err, size_t errlen, const char *fmt,
                                                        ...);
/* " (held by pid N, comm)" for the process holding an flock on FD. */
void pvs__lock_holder(int fd, char *buf, size_t len);

/* ---- journal_io.c: restoring ---- */

/*
 * Give thread ID its original affinity M.  When the kernel refuses M with
 * EINVAL (none of its CPUs usable now: offline, or out of the thread's
 * cpuset), the thread gets all online CPUs instead, with a warning, rather
 * than staying where pvschedd put it (and if that fails too, every CPU:
 * the kernel keeps those the cpuset allows).  0 or -errno.
 */
int pvs__set_aff_orig(const struct pvs_thread_id *id, const cpu_set_t *m, pvs_journal_log_fn log,
                      void *ctx);

/* ---- journal_io.c: files ---- */

/* A thread's records: its original attributes, its original affinity, or
 * both. */
struct rec {
	struct pvs_thread_id id;
	struct pvs_sched_attr attr;
	cpu_set_t aff;
	unsigned char has_attr, has_aff;
	size_t seq;
};

/* Refuse a journal others could write: its records are applied as root. */
int pvs__check_file(int fd, const char *path, char *err, size_t errlen);
/* Create the directories of PATH's directory (0755). */
int pvs__mkdirs(const char *path, char *err, size_t errlen);
/* The whole file FD (at most 16 MiB), malloc'd into *BUFP. */
int pvs__read_all(int fd, char **bufp, size_t *lenp);
/* Replace the journal at PATH by a header and the records R (N of them):
 * a temp file, locked before it is renamed over PATH, so the lock passes
 * from the old file to the new one without a gap.  *FDP (closed, if >= 0)
 * becomes the new file's fd, opened O_APPEND; *SIZEP its size. */
int pvs__rewrite(const char *path, const struct rec *r, size_t n, int *fdp, off_t *sizep);

/* ---- replay.c ---- */

/* Restore what the journal in FD lists; the records that failed are left
 * in *KEEP (malloc'd).  0 or -errno (unreadable file). */
int pvs__recover_fd(int fd, const char *path, int use_pidfd, pvs_journal_log_fn log, void *ctx,
                    struct pvs_journal_stats *st, struct rec **keep, size_t *nkeep);
/* One line with ST's counts (nothing if all are 0); LEVEL, or an error
 * when a restore failed. */
void pvs__recover_summary(pvs_journal_log_fn log, void *ctx, int level, const char *path,
                          const char *what, const struct pvs_journal_stats *st);

#endif
