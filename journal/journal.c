/* SPDX-License-Identifier: MIT */
/*
 * journal/journal.c - the scheduling journal (see journal.h): the open
 * journal, its table of journaled threads and every identity-checked
 * change.
 *
 * Identity.  Every change is
 *     alive(handle)?  sched_setattr(tid) / sched_setaffinity(tid)  alive(handle)?
 * on a handle that cannot follow a reused tid (thread_id.c says why this
 * suffices).
 *
 * Durability.  Records are appended with one write() to an O_APPEND file,
 * before the change they describe.  No fsync/fdatasync: the journal must
 * survive the daemon's death (kill -9), and the page cache does; a system
 * crash or power loss takes the threads with it, so nothing needs to reach
 * the disk (and /run is tmpfs anyway).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal_internal.h"
#include "pvs_fdio.h"

struct jent {
	struct pvs_thread_id id;
	struct pvs_sched_attr orig; /* if has_attr */
	cpu_set_t aff;              /* the original affinity, if has_aff */
	int h;                      /* identity handle (pidfd or stat fd); -1: not bound yet */
	unsigned char has_attr;     /* orig is journaled */
	unsigned char has_aff;      /* aff is journaled */
	unsigned char changed;      /* may have attributes other than the original */
	unsigned char aff_changed;  /* may have another affinity than the original */
};

struct pvs_journal {
	char *path;
	int fd;
	off_t size; /* of the file: what a failed append is cut back to */
	int use_pidfd;
	pvs_journal_log_fn log;
	void *log_ctx;
	struct jent *e; /* sorted by tid (one record per tid) */
	size_t n, cap;
	size_t lines; /* record lines in the file */
};

static struct jent *find(const struct pvs_journal *j, pid_t tid, size_t *pos)
{
	size_t lo = 0, hi = j->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (j->e[mid].id.tid < tid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (pos)
		*pos = lo;
	return lo < j->n && j->e[lo].id.tid == tid ? &j->e[lo] : NULL;
}

static struct jent *find_id(const struct pvs_journal *j, const struct pvs_thread_id *id)
{
	struct jent *e = find(j, id->tid, NULL);

	return e && e->id.start == id->start ? e : NULL;
}

/* The records of entries E (N) as struct rec (malloc'd, at least one). */
static struct rec *jent_recs(const struct jent *e, size_t n, size_t *lines)
{
	struct rec *r = calloc(n ? n : 1, sizeof(*r));

	if (lines)
		*lines = 0;
	if (!r)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		r[i].id = e[i].id;
		r[i].attr = e[i].orig;
		r[i].aff = e[i].aff;
		r[i].has_attr = e[i].has_attr;
		r[i].has_aff = e[i].has_aff;
		if (lines)
			*lines += (size_t)e[i].has_attr + e[i].has_aff;
	}
	return r;
}

/* Append one record line (one write; cut back on a short one). */
static int append(struct pvs_journal *j, const struct pvs_journal_line *l)
{
	char line[PVS_JOURNAL_LINE_MAX];
	size_t n = pvs_journal_format(l, line, sizeof(line));
	ssize_t w;

	if (!n)
		return -EINVAL;
	do
		w = write(j->fd, line, n);
	while (w < 0 && errno == EINTR);
	if (w == (ssize_t)n) {
		j->size += (off_t)n;
		j->lines++;
		return 0;
	}
	{
		int e = w < 0 ? -errno : -ENOSPC;

		if (ftruncate(j->fd, j->size) < 0)
			pvs__say(j->log, j->log_ctx, PVS_JLOG_ERR,
			         "journal %s: cannot cut back a partial record: %s", j->path,
			         strerror(errno));
		return e;
	}
}

static void compact(struct pvs_journal *j)
{
	struct rec *r;
	size_t live;
	int e;

	/* a thread has one or two live lines: j->n is a lower bound */
	if (j->lines - j->n <= PVS_JOURNAL_COMPACT_DEAD)
		return;
	if (!(r = jent_recs(j->e, j->n, &live)))
		return;
	if (j->lines - live <= PVS_JOURNAL_COMPACT_DEAD) {
		free(r);
		return;
	}
	e = pvs__rewrite(j->path, r, j->n, &j->fd, &j->size);
	free(r);
	if (e) {
		pvs__say(j->log, j->log_ctx, PVS_JLOG_WARN, "journal %s: cannot compact: %s",
		         j->path, strerror(-e));
		return;
	}
	pvs__say(j->log, j->log_ctx, PVS_JLOG_DEBUG, "journal %s: compacted to %zu record(s)",
	         j->path, j->n);
	j->lines = live;
}

/* Remove entry E from the table (no line written), close its handle. */
static void unlink_ent(struct pvs_journal *j, struct jent *e)
{
	size_t i = (size_t)(e - j->e);

	if (e->h >= 0)
		close(e->h);
	memmove(&j->e[i], &j->e[i + 1], (j->n - i - 1) * sizeof(*e));
	j->n--;
}

/* Drop entry E: a '-' line, close its handle.  A failed append leaves the
 * '+' in the file: harmless, a later recovery finds the thread gone (or the
 * tid reused) and skips it. */
static void drop(struct pvs_journal *j, struct jent *e)
{
	struct pvs_journal_line l = {.op = PVS_JOURNAL_DEL, .id = e->id};
	int r = append(j, &l);

	if (r)
		pvs__say(j->log, j->log_ctx, PVS_JLOG_WARN, "journal %s: cannot append: %s",
		         j->path, strerror(-r));
	unlink_ent(j, e);
	compact(j);
}

/* Identity check before a change: bind lazily (adopted records). */
static int precheck(struct pvs_journal *j, struct jent *e)
{
	int reused;

	if (e->h >= 0)
		return pvs__thread_alive(e->h, j->use_pidfd);
	return pvs__thread_bind(&e->id, j->use_pidfd, &e->h, &reused);
}

/* After a change that returned R: -ESRCH when the thread is gone now. */
static int postcheck(struct pvs_journal *j, struct jent *e, int r)
{
	if (!r && pvs__thread_alive(e->h, j->use_pidfd) == -ESRCH) {
		/* gone between the checks: the tid may have been reused in that
		 * window (see the top of thread_id.c) */
		pvs__say(j->log, j->log_ctx, PVS_JLOG_DEBUG,
		         "thread %d (pid %d) exited during a scheduling change", (int)e->id.tid,
		         (int)e->id.pid);
		r = -ESRCH;
	}
	return r;
}

/* Identity-checked change of E's thread to A, or (A NULL) back to its
 * original. */
static int set_checked(struct pvs_journal *j, struct jent *e, const struct pvs_sched_attr *a)
{
	int r = precheck(j, e);

	if (!r)
		r = a ? pvs_sched_set(e->id.tid, a) : pvs__sched_set_orig(e->id.tid, &e->orig);
	return postcheck(j, e, r);
}

/* The same for the affinity: M, or (M NULL) the original. */
static int aff_checked(struct pvs_journal *j, struct jent *e, const cpu_set_t *m)
{
	int r = precheck(j, e);

	if (!r) {
		if (!m)
			r = pvs__set_aff_orig(&e->id, &e->aff, j->log, j->log_ctx);
		else if (sched_setaffinity(e->id.tid, sizeof(*m), m) < 0)
			r = -errno;
	}
	return postcheck(j, e, r);
}

/* A new entry for ID (bound: the thread is alive and ID names it), with
 * nothing journaled yet; a record of an older thread with the tid is
 * dropped.  Its caller journals something or removes it (unlink_ent). */
static int new_ent(struct pvs_journal *j, const struct pvs_thread_id *id, struct jent **ep)
{
	struct jent *e;
	size_t pos;
	int h, reused, r;

	r = pvs__thread_bind(id, j->use_pidfd, &h, &reused);
	if (r)
		return r;
	/* a record for an older thread with this tid: that thread is gone */
	if ((e = find(j, id->tid, NULL)) != NULL)
		drop(j, e);
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 16;
		struct jent *ne = realloc(j->e, cap * sizeof(*ne));

		if (!ne) {
			close(h);
			return -ENOMEM;
		}
		j->e = ne;
		j->cap = cap;
	}
	find(j, id->tid, &pos);
	memmove(&j->e[pos + 1], &j->e[pos], (j->n - pos) * sizeof(*j->e));
	memset(&j->e[pos], 0, sizeof(j->e[pos]));
	j->e[pos].id = *id;
	j->e[pos].h = h;
	j->n++;
	*ep = &j->e[pos];
	return 0;
}

/* Journal E's current attributes (AFF 0: one '+' line) or affinity (AFF 1:
 * one 'A' line) before their first change.  -EOPNOTSUPP for the attributes
 * of a SCHED_DEADLINE thread; -ESRCH gone. */
static int journal_orig(struct pvs_journal *j, struct jent *e, int aff)
{
	struct pvs_journal_line l = {.op = aff ? PVS_JOURNAL_AFFINITY : PVS_JOURNAL_ADD,
	                             .id = e->id};
	int r = precheck(j, e);

	if (!r && aff)
		r = sched_getaffinity(e->id.tid, sizeof(l.mask), &l.mask) < 0 ? -errno : 0;
	else if (!r)
		r = pvs_sched_get(e->id.tid, &l.attr);
	if (!r)
		r = pvs__thread_alive(e->h, j->use_pidfd);
	if (r)
		return r;
	if ((r = append(j, &l))) {
		pvs__say(j->log, j->log_ctx, PVS_JLOG_ERR, "journal %s: cannot append: %s", j->path,
		         strerror(-r));
		return r;
	}
	if (aff) {
		e->aff = l.mask;
		e->has_aff = 1;
	} else {
		e->orig = l.attr;
		e->has_attr = 1;
	}
	return 0;
}

/* Entry E of ID with its attributes (AFF 0) or its affinity (AFF 1)
 * journaled: created and journaled as needed.  On an error, an entry with
 * nothing journaled is removed and a gone thread's dropped. */
static int journaled(struct pvs_journal *j, const struct pvs_thread_id *id, int aff,
                     struct jent **ep)
{
	struct jent *e = find_id(j, id);
	int r;

	if (!e && (r = new_ent(j, id, &e)))
		return r;
	if (aff ? e->has_aff : e->has_attr) {
		*ep = e;
		return 0;
	}
	r = journal_orig(j, e, aff);
	if (!r) {
		*ep = e;
		return 0;
	}
	if (!e->has_attr && !e->has_aff)
		unlink_ent(j, e); /* nothing in the file */
	else if (r == -ESRCH)
		drop(j, e);
	return r;
}

/* After a change of E's thread that returned R: the record of a thread
 * gone is dropped (E with it); on success *FLAG (E's changed or
 * aff_changed) becomes VAL.  Returns R. */
static int settle(struct pvs_journal *j, struct jent *e, int r, unsigned char *flag,
                  unsigned char val)
{
	if (r == -ESRCH)
		drop(j, e);
	else if (!r)
		*flag = val;
	return r;
}

int pvs_journal_apply(struct pvs_journal *j, const struct pvs_thread_id *id,
                      const struct pvs_sched_attr *a)
{
	struct pvs_sched_attr na;
	struct jent *e;
	int r;

	if (!j || !id || id->pid <= 0 || id->tid <= 0 || pvs_sched_attr_check(a))
		return -EINVAL;
	na = *a;
	na.flags |= PVS_SCHED_RESET_ON_FORK;
	if ((r = journaled(j, id, 0, &e)))
		return r;
	return settle(j, e, set_checked(j, e, &na), &e->changed, 1);
}

int pvs_journal_set_affinity(struct pvs_journal *j, const struct pvs_thread_id *id,
                             const cpu_set_t *mask)
{
	struct jent *e;
	int r;

	if (!j || !id || id->pid <= 0 || id->tid <= 0 || !mask || CPU_COUNT(mask) == 0)
		return -EINVAL;
	if ((r = journaled(j, id, 1, &e)))
		return r;
	return settle(j, e, aff_checked(j, e, mask), &e->aff_changed, 1);
}

/* Put ID's original attributes (AFF 0) or affinity (AFF 1) back if they
 * were changed; the record stays. */
static int restore_one(struct pvs_journal *j, const struct pvs_thread_id *id, int aff)
{
	struct jent *e;

	if (!j || !id)
		return -EINVAL;
	if (!(e = find_id(j, id)))
		return -ENOENT;
	if (!(aff ? e->aff_changed : e->changed))
		return 0;
	if (aff)
		return settle(j, e, aff_checked(j, e, NULL), &e->aff_changed, 0);
	return settle(j, e, set_checked(j, e, NULL), &e->changed, 0);
}

int pvs_journal_restore(struct pvs_journal *j, const struct pvs_thread_id *id)
{
	return restore_one(j, id, 0);
}

int pvs_journal_restore_affinity(struct pvs_journal *j, const struct pvs_thread_id *id)
{
	return restore_one(j, id, 1);
}

/* Put back what E has changed (attributes, affinity): 0, -ESRCH (gone), or
 * the first other error (what was restored is marked so). */
static int restore_all(struct pvs_journal *j, struct jent *e)
{
	int r = 0, r2 = 0;

	if (e->changed && !(r = set_checked(j, e, NULL)))
		e->changed = 0;
	if (e->aff_changed && r != -ESRCH && !(r2 = aff_checked(j, e, NULL)))
		e->aff_changed = 0;
	if (r == -ESRCH || r2 == -ESRCH)
		return -ESRCH;
	return r ? r : r2;
}

int pvs_journal_forget(struct pvs_journal *j, const struct pvs_thread_id *id)
{
	struct jent *e;
	int r;

	if (!j || !id)
		return -EINVAL;
	if (!(e = find_id(j, id)))
		return -ENOENT;
	r = restore_all(j, e);
	if (!r || r == -ESRCH)
		drop(j, e);
	return r;
}

int pvs_journal_original(const struct pvs_journal *j, const struct pvs_thread_id *id,
                         struct pvs_sched_attr *orig)
{
	const struct jent *e = j && id ? find_id(j, id) : NULL;

	if (!e || !e->has_attr)
		return -ENOENT;
	*orig = e->orig;
	return 0;
}

int pvs_journal_original_affinity(const struct pvs_journal *j, const struct pvs_thread_id *id,
                                  cpu_set_t *mask)
{
	const struct jent *e = j && id ? find_id(j, id) : NULL;

	if (!e || !e->has_aff)
		return -ENOENT;
	*mask = e->aff;
	return 0;
}

size_t pvs_journal_count(const struct pvs_journal *j)
{
	return j ? j->n : 0;
}

static void jfree(struct pvs_journal *j)
{
	for (size_t i = 0; i < j->n; i++)
		if (j->e[i].h >= 0)
			close(j->e[i].h);
	if (j->fd >= 0)
		close(j->fd);
	free(j->e);
	free(j->path);
	free(j);
}

int pvs_journal_open(struct pvs_journal **jp, const char *path, pvs_journal_log_fn log,
                     void *log_ctx, char *err, size_t errlen)
{
	struct pvs_journal_stats st = {0};
	struct pvs_journal *j;
	struct rec *keep = NULL;
	size_t nkeep = 0;
	int e, tries;

	*jp = NULL;
	if (err && errlen)
		err[0] = 0;
	if (!path || !*path) {
		pvs__set_err(err, errlen, "journal: no path");
		return -EINVAL;
	}
	if ((e = pvs__mkdirs(path, err, errlen)))
		return e;
	if (!(j = calloc(1, sizeof(*j))) || !(j->path = strdup(path))) {
		free(j);
		pvs__set_err(err, errlen, "journal %s: out of memory", path);
		return -ENOMEM;
	}
	j->fd = -1;
	j->log = log;
	j->log_ctx = log_ctx;
	j->use_pidfd = pvs__pidfd_usable();
	/* lock the file PATH names: if it was replaced (compaction, another
	 * pvschedctl reset) between our open and our lock, take the new one */
	for (tries = 0;; tries++) {
		struct stat a, b;

		j->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (j->fd < 0) {
			e = -errno;
			pvs__set_err(err, errlen, "journal %s: %s", path, strerror(errno));
			goto fail;
		}
		if ((e = pvs__check_file(j->fd, path, err, errlen)))
			goto fail;
		if (flock(j->fd, LOCK_EX | LOCK_NB) < 0) {
			char holder[128] = "";

			if (errno != EWOULDBLOCK) {
				e = -errno;
				pvs__set_err(err, errlen, "journal %s: lock: %s", path,
				             strerror(errno));
				goto fail;
			}
			pvs__lock_holder(j->fd, holder, sizeof(holder));
			pvs__set_err(err, errlen,
			             "journal %s is in use%s: is another pvschedd running?", path,
			             holder);
			e = -EBUSY;
			goto fail;
		}
		if (fstat(j->fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino)
			break;
		close(j->fd);
		j->fd = -1;
		if (tries == 10) {
			e = -EAGAIN;
			pvs__set_err(err, errlen, "journal %s: keeps being replaced", path);
			goto fail;
		}
	}
	/* a previous instance's records (kill -9): restore them */
	e = pvs__recover_fd(j->fd, path, j->use_pidfd, log, log_ctx, &st, &keep, &nkeep);
	if (e) {
		pvs__set_err(err, errlen, "journal %s: cannot read: %s", path, strerror(-e));
		goto fail;
	}
	pvs__recover_summary(log, log_ctx, PVS_JLOG_INFO, path, "left by a previous instance", &st);
	/* start afresh, with the records that could not be restored adopted */
	if (nkeep) {
		j->e = calloc(nkeep, sizeof(*j->e));
		if (!j->e) {
			e = -ENOMEM;
			pvs__set_err(err, errlen, "journal %s: out of memory", path);
			goto fail;
		}
		j->cap = nkeep;
		for (size_t i = 0; i < nkeep; i++) {
			size_t pos;

			if (find(j, keep[i].id.tid, &pos))
				continue;
			memmove(&j->e[pos + 1], &j->e[pos], (j->n - pos) * sizeof(*j->e));
			memset(&j->e[pos], 0, sizeof(j->e[pos]));
			j->e[pos].id = keep[i].id;
			j->e[pos].orig = keep[i].attr;
			j->e[pos].aff = keep[i].aff;
			j->e[pos].h = -1;
			j->e[pos].has_attr = j->e[pos].changed = keep[i].has_attr;
			j->e[pos].has_aff = j->e[pos].aff_changed = keep[i].has_aff;
			j->n++;
		}
		free(keep); /* file order is not needed */
		if (!(keep = jent_recs(j->e, j->n, NULL))) {
			e = -ENOMEM;
			pvs__set_err(err, errlen, "journal %s: out of memory", path);
			goto fail;
		}
	}
	e = pvs__rewrite(path, keep, j->n, &j->fd, &j->size);
	free(keep);
	keep = NULL;
	if (e) {
		pvs__set_err(err, errlen, "journal %s: cannot rewrite: %s", path, strerror(-e));
		goto fail;
	}
	j->lines = 0;
	for (size_t i = 0; i < j->n; i++)
		j->lines += (size_t)j->e[i].has_attr + j->e[i].has_aff;
	pvs__say(log, log_ctx, PVS_JLOG_DEBUG, "journal %s: open (%s identity handles)", path,
	         j->use_pidfd ? "pidfd" : "/proc stat");
	*jp = j;
	return 0;
fail:
	free(keep);
	jfree(j);
	return e;
}

int pvs_journal_close(struct pvs_journal *j)
{
	struct rec *keep;
	size_t nkeep = 0;
	int first = 0, e;

	if (!j)
		return 0;
	keep = calloc(j->n ? j->n : 1, sizeof(*keep));
	for (size_t i = 0; i < j->n; i++) {
		struct jent *x = &j->e[i];
		char a[128];
		int r = 0, r2 = 0;

		if (x->changed)
			r = set_checked(j, x, NULL);
		if (x->aff_changed && r != -ESRCH)
			r2 = aff_checked(j, x, NULL);
		if (r == -ESRCH || r2 == -ESRCH || (!r && !r2))
			continue;
		if (r)
			pvs__say(j->log, j->log_ctx, PVS_JLOG_ERR,
			         "thread %d (pid %d): cannot restore %s: %s", (int)x->id.tid,
			         (int)x->id.pid, pvs_sched_attr_str(&x->orig, a, sizeof(a)),
			         strerror(-r));
		if (r2)
			pvs__say(j->log, j->log_ctx, PVS_JLOG_ERR,
			         "thread %d (pid %d): cannot restore affinity %s: %s",
			         (int)x->id.tid, (int)x->id.pid,
			         pvs__cpulist_str(&x->aff, a, sizeof(a)), strerror(-r2));
		if (!first)
			first = r ? r : r2;
		if (keep) {
			keep[nkeep].id = x->id;
			keep[nkeep].attr = x->orig;
			keep[nkeep].aff = x->aff;
			keep[nkeep].has_attr = x->has_attr;
			keep[nkeep].has_aff = x->has_aff;
			nkeep++;
		}
	}
	if (nkeep || !keep) {
		/* leave what failed (or everything, out of memory) for
		 * pvschedctl reset */
		e = keep ? pvs__rewrite(j->path, keep, nkeep, &j->fd, &j->size) : 0;
	} else {
		e = ftruncate(j->fd, 0) < 0 ? -errno
		                            : pvs_write_all(j->fd, PVS_JOURNAL_HEADER,
		                                            sizeof(PVS_JOURNAL_HEADER) - 1);
	}
	if (e)
		pvs__say(j->log, j->log_ctx, PVS_JLOG_ERR, "journal %s: cannot empty: %s", j->path,
		         strerror(-e));
	free(keep);
	jfree(j); /* closing the fd releases the lock */
	return first ? first : e;
}
