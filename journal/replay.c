/* SPDX-License-Identifier: MIT */
/*
 * journal/replay.c - replay and recovery: a journal file read back into
 * one record per thread (replay, pure but for messages and malloc), each
 * record's originals put back on its thread if its identity still holds,
 * and pvs_journal_recover (journal.h), which does that without a daemon
 * (pvschedctl reset); pvs_journal_open does it for a previous instance.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "journal_internal.h"

/* One record line of a journal being replayed (an 'A' line's mask is
 * parsed again, from OFF, only if it counts). */
struct op {
	struct pvs_thread_id id;
	struct pvs_sched_attr attr;
	enum pvs_journal_op op;
	size_t seq, off, len;
};

static int cmp_key(const void *a, const void *b)
{
	const struct op *x = a, *y = b;

	if (x->id.tid != y->id.tid)
		return x->id.tid < y->id.tid ? -1 : 1;
	if (x->id.start != y->id.start)
		return x->id.start < y->id.start ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_seq(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Replay BUF: per identity, the '+' and the 'A' not voided by a later '-'
 * (the first '+' and the first 'A' since the last '-' win: they hold the
 * originals), merged into one record, in file order (of its first line).
 * Bad lines are reported and counted.  Pure but for LOG and malloc.
 */
static int replay(const char *buf, size_t len, const char *path, pvs_journal_log_fn log, void *ctx,
                  struct rec **out, size_t *nout, unsigned *bad)
{
	struct op *ops = NULL;
	struct rec *recs;
	size_t nops = 0, cap = 0, lineno = 0, k = 0;
	const char *p = buf, *end = buf + len;

	*out = NULL;
	*nout = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct pvs_journal_line l;
		const char *why = NULL;

		lineno++;
		if (!nl) {
			/* a record is written whole, with its newline, before the
			 * change it describes: without one, it was never acted on */
			pvs__say(log, ctx, PVS_JLOG_WARN, "%s:%zu: truncated line skipped", path,
			         lineno);
			++*bad;
			break;
		}
		if (pvs_journal_parse_line(p, n, &l, &why)) {
			pvs__say(log, ctx, PVS_JLOG_WARN, "%s:%zu: bad line skipped: %s", path,
			         lineno, why);
			++*bad;
		} else if (l.op != PVS_JOURNAL_NONE) {
			if (nops == cap) {
				struct op *no =
				        realloc(ops, (cap = cap ? cap * 2 : 64) * sizeof(*ops));
				if (!no) {
					free(ops);
					return -ENOMEM;
				}
				ops = no;
			}
			ops[nops].id = l.id;
			ops[nops].attr = l.attr;
			ops[nops].op = l.op;
			ops[nops].seq = nops; /* file order */
			ops[nops].off = (size_t)(p - buf);
			ops[nops].len = n;
			nops++;
		}
		p += n + 1;
	}
	if (!nops) {
		free(ops);
		return 0;
	}
	/* per identity, in file order: '+' or 'A' when absent adds, '-'
	 * removes both.  Two passes: count, then fill. */
	qsort(ops, nops, sizeof(*ops), cmp_key);
	recs = NULL;
	for (int pass = 0; pass < 2; pass++) {
		k = 0;
		for (size_t i = 0; i < nops;) {
			size_t j = i, attr = (size_t)-1, aff = (size_t)-1;

			while (j < nops && ops[j].id.tid == ops[i].id.tid &&
			       ops[j].id.start == ops[i].id.start) {
				if (ops[j].op == PVS_JOURNAL_DEL)
					attr = aff = (size_t)-1;
				else if (ops[j].op == PVS_JOURNAL_ADD && attr == (size_t)-1)
					attr = j;
				else if (ops[j].op == PVS_JOURNAL_AFFINITY && aff == (size_t)-1)
					aff = j;
				j++;
			}
			i = j;
			if (attr == (size_t)-1 && aff == (size_t)-1)
				continue;
			if (pass == 1) {
				struct rec *r = &recs[k];

				memset(r, 0, sizeof(*r));
				r->seq = (size_t)-1;
				if (aff != (size_t)-1) {
					struct pvs_journal_line l;

					/* parsed once already: cannot fail */
					if (!pvs_journal_parse_line(buf + ops[aff].off,
					                            ops[aff].len, &l, NULL)) {
						r->id = ops[aff].id;
						r->seq = ops[aff].seq;
						r->has_aff = 1;
						r->aff = l.mask;
					}
				}
				if (attr != (size_t)-1) {
					r->id = ops[attr].id;
					if (ops[attr].seq < r->seq)
						r->seq = ops[attr].seq;
					r->has_attr = 1;
					r->attr = ops[attr].attr;
				}
				if (!r->has_attr && !r->has_aff)
					continue;
			}
			k++;
		}
		if (pass == 0 && !(recs = calloc(k ? k : 1, sizeof(*recs)))) {
			free(ops);
			return -ENOMEM;
		}
	}
	free(ops);
	qsort(recs, k, sizeof(*recs), cmp_seq);
	*out = recs;
	*nout = k;
	return 0;
}

enum outcome { OUT_RESTORED, OUT_GONE, OUT_REUSED, OUT_DEADLINE, OUT_FAILED };

/* Put the originals of R (attributes, affinity, or both) back on its
 * thread, checking the identity. */
static enum outcome restore_rec(const struct rec *r, int use_pidfd, pvs_journal_log_fn log,
                                void *ctx, int *errp)
{
	struct pvs_sched_attr now;
	cpu_set_t now_aff;
	char was[128], to[128];
	int h, reused, e, ea = 0, ef = 0, have_now_aff = 0;

	*errp = 0;
	e = pvs__thread_bind(&r->id, use_pidfd, &h, &reused);
	if (e == -ESRCH) {
		if (reused)
			pvs__say(
			        log, ctx, PVS_JLOG_WARN,
			        "thread %d (pid %d): tid now belongs to another thread (start time "
			        "differs from %" PRIu64 "): skipped",
			        (int)r->id.tid, (int)r->id.pid, r->id.start);
		else
			pvs__say(log, ctx, PVS_JLOG_INFO, "thread %d (pid %d): gone, skipped",
			         (int)r->id.tid, (int)r->id.pid);
		return reused ? OUT_REUSED : OUT_GONE;
	}
	if (e) {
		*errp = e;
		pvs__say(log, ctx, PVS_JLOG_ERR, "thread %d (pid %d): cannot restore: %s",
		         (int)r->id.tid, (int)r->id.pid, strerror(-e));
		return OUT_FAILED;
	}
	e = pvs_sched_get(r->id.tid, &now);
	if (e == -EOPNOTSUPP) {
		close(h);
		pvs__say(log, ctx, PVS_JLOG_WARN,
		         "thread %d (pid %d): now %s, set by someone else: left alone",
		         (int)r->id.tid, (int)r->id.pid,
		         pvs_sched_attr_str(&now, was, sizeof(was)));
		return OUT_DEADLINE;
	}
	if (!e)
		e = pvs__thread_alive(h, use_pidfd);
	if (!e && r->has_attr)
		ea = pvs__sched_set_orig(r->id.tid, &r->attr);
	if (!e && r->has_aff) {
		have_now_aff = !sched_getaffinity(r->id.tid, sizeof(now_aff), &now_aff);
		ef = pvs__set_aff_orig(&r->id, &r->aff, log, ctx);
	}
	if (!e)
		e = pvs__thread_alive(h, use_pidfd);
	close(h);
	if (e == -ESRCH || ea == -ESRCH || ef == -ESRCH) {
		pvs__say(log, ctx, PVS_JLOG_INFO, "thread %d (pid %d): gone, skipped",
		         (int)r->id.tid, (int)r->id.pid);
		return OUT_GONE;
	}
	if (e) {
		*errp = e;
		pvs__say(log, ctx, PVS_JLOG_ERR, "thread %d (pid %d): cannot restore: %s",
		         (int)r->id.tid, (int)r->id.pid, strerror(-e));
		return OUT_FAILED;
	}
	if (r->has_attr && ea)
		pvs__say(log, ctx, PVS_JLOG_ERR, "thread %d (pid %d): cannot restore %s: %s",
		         (int)r->id.tid, (int)r->id.pid,
		         pvs_sched_attr_str(&r->attr, to, sizeof(to)), strerror(-ea));
	else if (r->has_attr)
		pvs__say(log, ctx, PVS_JLOG_INFO, "thread %d (pid %d): restored %s (was %s)",
		         (int)r->id.tid, (int)r->id.pid,
		         pvs_sched_attr_str(&r->attr, to, sizeof(to)),
		         pvs_sched_attr_str(&now, was, sizeof(was)));
	if (r->has_aff && ef)
		pvs__say(log, ctx, PVS_JLOG_ERR,
		         "thread %d (pid %d): cannot restore affinity %s: %s", (int)r->id.tid,
		         (int)r->id.pid, pvs__cpulist_str(&r->aff, to, sizeof(to)), strerror(-ef));
	else if (r->has_aff)
		pvs__say(log, ctx, PVS_JLOG_INFO,
		         "thread %d (pid %d): restored affinity %s (was %s)", (int)r->id.tid,
		         (int)r->id.pid, pvs__cpulist_str(&r->aff, to, sizeof(to)),
		         have_now_aff ? pvs__cpulist_str(&now_aff, was, sizeof(was)) : "unknown");
	if (ea || ef) {
		*errp = ea ? ea : ef;
		return OUT_FAILED;
	}
	return OUT_RESTORED;
}

int pvs__recover_fd(int fd, const char *path, int use_pidfd, pvs_journal_log_fn log, void *ctx,
                    struct pvs_journal_stats *st, struct rec **keep, size_t *nkeep)
{
	struct rec *r;
	size_t n, k = 0, len = 0;
	char *buf = NULL;
	int e;

	*keep = NULL;
	*nkeep = 0;
	if ((e = pvs__read_all(fd, &buf, &len)))
		return e;
	e = replay(buf, len, path, log, ctx, &r, &n, &st->bad);
	free(buf);
	if (e)
		return e;
	for (size_t i = 0; i < n; i++) {
		int err;

		switch (restore_rec(&r[i], use_pidfd, log, ctx, &err)) {
		case OUT_RESTORED: st->restored++; break;
		case OUT_GONE: st->gone++; break;
		case OUT_REUSED: st->reused++; break;
		case OUT_DEADLINE: st->deadline++; break;
		case OUT_FAILED:
			st->failed++;
			r[k++] = r[i];
			break;
		}
	}
	if (k) {
		*keep = r;
		*nkeep = k;
	} else
		free(r);
	return 0;
}

void pvs__recover_summary(pvs_journal_log_fn log, void *ctx, int level, const char *path,
                          const char *what, const struct pvs_journal_stats *st)
{
	if (!st->restored && !st->gone && !st->reused && !st->deadline && !st->failed && !st->bad)
		return;
	pvs__say(log, ctx, st->failed ? PVS_JLOG_ERR : level,
	         "journal %s: %s: restored %u thread(s); skipped %u gone, %u with a reused tid, %u "
	         "now SCHED_DEADLINE; %u failed; %u bad line(s)",
	         path, what, st->restored, st->gone, st->reused, st->deadline, st->failed, st->bad);
}

int pvs_journal_recover(const char *path, unsigned flags, pvs_journal_log_fn log, void *log_ctx,
                        struct pvs_journal_stats *stp, char *err, size_t errlen)
{
	struct pvs_journal_stats st = {0};
	struct rec *keep = NULL;
	size_t nkeep = 0;
	int fd, e, locked = 1;
	off_t size;

	if (err && errlen)
		err[0] = 0;
	if (stp)
		*stp = st;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT) {
			pvs__say(log, log_ctx, PVS_JLOG_INFO,
			         "journal %s: none, nothing to restore", path);
			return 0;
		}
		e = -errno;
		pvs__set_err(err, errlen, "journal %s: %s", path, strerror(errno));
		return e;
	}
	if ((e = pvs__check_file(fd, path, err, errlen))) {
		close(fd);
		return e;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char holder[128];

		if (errno != EWOULDBLOCK) {
			e = -errno;
			pvs__set_err(err, errlen, "journal %s: lock: %s", path, strerror(errno));
			close(fd);
			return e;
		}
		pvs__lock_holder(fd, holder, sizeof(holder));
		if (!(flags & PVS_JOURNAL_FORCE)) {
			pvs__set_err(err, errlen,
			             "journal %s is in use%s: pvschedd is running and restores its "
			             "threads when it exits; stop it, or force",
			             path, holder);
			close(fd);
			return -EBUSY;
		}
		pvs__say(log, log_ctx, PVS_JLOG_WARN,
		         "journal %s is in use%s: forced; restoring, the file is left to its owner",
		         path, holder);
		locked = 0;
	}
	e = pvs__recover_fd(fd, path, pvs__pidfd_usable(), log, log_ctx, &st, &keep, &nkeep);
	if (e) {
		pvs__set_err(err, errlen, "journal %s: %s", path, strerror(-e));
		close(fd);
		return e;
	}
	/* the caller has the counts (ST) */
	pvs__recover_summary(log, log_ctx, PVS_JLOG_DEBUG, path, "recovered", &st);
	if (locked) {
		/* empty it; records that failed stay for another try */
		int r = pvs__rewrite(path, keep, nkeep, &fd, &size);
		if (r) {
			pvs__set_err(err, errlen, "journal %s: cannot rewrite: %s", path,
			             strerror(-r));
			e = r;
		}
	}
	free(keep);
	close(fd);
	if (stp)
		*stp = st;
	if (!e && st.failed) {
		pvs__set_err(err, errlen, "journal %s: %u thread(s) could not be restored", path,
		             st.failed);
		e = -EIO;
	}
	return e;
}
