/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_journal.c - journal/journal.c with real threads and real
 * scheduling syscalls (needs root; cases skip otherwise): apply / restore /
 * forget, recovery after SIGKILL (gone threads and reused tids skipped),
 * the lock, corrupt journals, compaction, the identity handles; the same
 * for CPU affinity (set_affinity / restore_affinity, 'A' records).
 *
 * Every thread made SCHED_FIFO/RR here sleeps in read() while it has the
 * policy: nothing spins at real-time priority.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "journal.h"
#include "testutil.h"

#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif

/* ---- helper threads: sleep in read() until told to quit ---- */

struct ht {
	pthread_t th;
	pid_t tid;
	int cmd[2], rsp[2];
	int running;
};

static void *ht_main(void *arg)
{
	struct ht *h = arg;
	char c;

	h->tid = gettid();
	if (write(h->rsp[1], "r", 1) != 1)
		return NULL;
	while (read(h->cmd[0], &c, 1) == 1) {
		if (c == 'q')
			break;
		if (c == 'f') {
			/* fork: SCHED_FLAG_RESET_ON_FORK must give the child SCHED_OTHER */
			pid_t p = fork();
			int st = 0;
			char r;

			if (p == 0)
				_exit(sched_getscheduler(0) == SCHED_OTHER ? 0 : 1);
			r = p > 0 && waitpid(p, &st, 0) == p && WIFEXITED(st) && !WEXITSTATUS(st)
			            ? 'y'
			            : 'n';
			if (write(h->rsp[1], &r, 1) != 1)
				break;
		}
	}
	return NULL;
}

static void ht_start(struct ht *h)
{
	char c;

	memset(h, 0, sizeof(*h));
	REQUIREQ(pipe2(h->cmd, O_CLOEXEC) == 0 && pipe2(h->rsp, O_CLOEXEC) == 0);
	REQUIREQ(pthread_create(&h->th, NULL, ht_main, h) == 0);
	REQUIREQ(read(h->rsp[0], &c, 1) == 1 && c == 'r');
	h->running = 1;
}

static void ht_stop(struct ht *h)
{
	if (!h->running)
		return;
	REQUIREQ(write(h->cmd[1], "q", 1) == 1);
	pthread_join(h->th, NULL);
	close(h->cmd[0]);
	close(h->cmd[1]);
	close(h->rsp[0]);
	close(h->rsp[1]);
	h->running = 0;
}

static struct pvs_thread_id ht_id(const struct ht *h)
{
	struct pvs_thread_id id;

	REQUIREQ(pvs_thread_id_get(getpid(), h->tid, &id) == 0);
	return id;
}

/* An attribute set, as an lvalue: &A(SCHED_FIFO, 10, 0, 0) */
#define A(policy, prio, nice, flags) ((struct pvs_sched_attr){(policy), (prio), (nice), (flags)})

#define ANY_NICE 100 /* attr_is: do not compare the nice */

static int attr_is(pid_t tid, struct pvs_sched_attr want)
{
	struct pvs_sched_attr a;
	char x[64], y[64];

	if (pvs_sched_get(tid, &a))
		return 0;
	if (a.policy == want.policy && a.prio == want.prio && a.flags == want.flags &&
	    (a.nice == want.nice || want.nice == ANY_NICE))
		return 1;
	printf("  -- tid %d is %s, want %s\n", (int)tid, pvs_sched_attr_str(&a, x, sizeof(x)),
	       pvs_sched_attr_str(&want, y, sizeof(y)));
	return 0;
}

/* ---- log capture ---- */

static char logbuf[65536];
static size_t loglen;

static void cap_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (getenv("PVS_TEST_VERBOSE"))
		printf("  log%d %s\n", level, msg);
	if (loglen + strlen(msg) + 2 < sizeof(logbuf)) {
		loglen += (size_t)sprintf(logbuf + loglen, "%s\n", msg);
	}
}

static void log_reset(void)
{
	loglen = 0;
	logbuf[0] = 0;
}

static int log_has(const char *s)
{
	return strstr(logbuf, s) != NULL;
}

/* Lines of FILE starting with C ('+' or '-'). */
static int count_lines(const char *path, char c)
{
	unsigned char *b = tu_read_file(path, NULL);
	int n = 0;

	if (!b)
		return -1;
	for (char *p = (char *)b; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		n += *p == c;
	free(b);
	return n;
}

static int file_has(const char *path, const char *s)
{
	unsigned char *b = tu_read_file(path, NULL);
	int r = b && strstr((char *)b, s);

	free(b);
	return r;
}

static int need_root(void)
{
	if (geteuid() != 0)
		return 0;
	return 1;
}

#define NEED_ROOT()                                                                                \
	do {                                                                                       \
		if (!need_root())                                                                  \
			SKIP("needs root (real-time scheduling)");                                 \
	} while (0)

static const struct pvs_sched_attr OTHER0 = {SCHED_OTHER, 0, 0, 0};

/* ---- cases ---- */

static void t_attr(void)
{
	struct ht h;
	struct pvs_sched_attr a;
	char s[64];

	NEED_ROOT();
	ht_start(&h);
	CHECK(pvs_sched_set(h.tid, &(struct pvs_sched_attr){SCHED_BATCH, 0, 3, 0}) == 0);
	CHECK(attr_is(h.tid, A(SCHED_BATCH, 0, 3, 0)));
	CHECK(pvs_sched_set(h.tid, &(struct pvs_sched_attr){SCHED_FIFO, 5, 0, 1}) == 0);
	CHECK(pvs_sched_get(h.tid, &a) == 0 && a.policy == SCHED_FIFO && a.prio == 5 &&
	      a.flags == PVS_SCHED_RESET_ON_FORK);
	CHECK(!strcmp(pvs_sched_attr_str(&a, s, sizeof(s)), "fifo 5 reset-on-fork"));
	CHECK(pvs_sched_set(h.tid, &OTHER0) == 0);
	CHECK(attr_is(h.tid, OTHER0));
	CHECK(!strcmp(
	        pvs_sched_attr_str(&(struct pvs_sched_attr){SCHED_BATCH, 0, -3, 0}, s, sizeof(s)),
	        "batch nice -3"));
	CHECK(pvs_sched_attr_check(&A(SCHED_FIFO, 1, 0, 0)) == 0);
	CHECK(pvs_sched_attr_check(&A(SCHED_RR, 99, 0, 0)) == 0);
	CHECK(pvs_sched_attr_check(&A(SCHED_OTHER, 0, -20, 0)) == 0);
	CHECK(pvs_sched_attr_check(&A(SCHED_FIFO, 0, 0, 0)) == -EINVAL);
	CHECK(pvs_sched_attr_check(&A(SCHED_FIFO, 100, 0, 0)) == -EINVAL);
	CHECK(pvs_sched_attr_check(&A(SCHED_OTHER, 1, 0, 0)) == -EINVAL);
	CHECK(pvs_sched_attr_check(&A(SCHED_OTHER, 0, 20, 0)) == -EINVAL);
	CHECK(pvs_sched_attr_check(&A(SCHED_OTHER, 0, 0, 2)) == -EINVAL);
	CHECK(pvs_sched_attr_check(&A(SCHED_DEADLINE, 0, 0, 0)) == -EINVAL);
	CHECK(pvs_sched_attr_check(&A(7, 0, 0, 0)) == -EINVAL); /* SCHED_EXT */
	CHECK(pvs_sched_attr_check(&A(42, 0, 0, 0)) == -EINVAL);
	CHECK(pvs_sched_attr_check(NULL) == -EINVAL);
	ht_stop(&h);
}

static void t_apply_restore(void)
{
	const struct pvs_sched_attr orig[] = {
	        {SCHED_OTHER, 0, 0, 0}, {SCHED_OTHER, 0, 7, 0},
	        {SCHED_BATCH, 0, 3, 0}, {SCHED_OTHER, 0, 2, PVS_SCHED_RESET_ON_FORK},
	        {SCHED_IDLE, 0, 3, 0},  {SCHED_FIFO, 3, 4, 0},
	};
	enum { N = 6 };
	const char *path = tu_path("apply/journal");
	struct pvs_journal *j;
	struct pvs_thread_id id[N];
	struct ht h[N];
	char err[256];

	NEED_ROOT();
	for (int i = 0; i < N; i++) {
		ht_start(&h[i]);
		/* the nice first: sched_setattr sets it for OTHER/BATCH only */
		REQUIRE(setpriority(PRIO_PROCESS, (id_t)h[i].tid, orig[i].nice) == 0);
		REQUIRE(pvs_sched_set(h[i].tid, &orig[i]) == 0);
		id[i] = ht_id(&h[i]);
	}
	REQUIRE(pvs_journal_open(&j, path, cap_log, NULL, err, sizeof(err)) == 0);
	for (int i = 0; i < N; i++) {
		struct pvs_sched_attr o;

		CHECKM(pvs_journal_apply(j, &id[i], &A(SCHED_FIFO, 10, 0, 0)) == 0,
		       "apply fifo 10 to thread %d", i);
		CHECKM(attr_is(h[i].tid, A(SCHED_FIFO, 10, ANY_NICE, PVS_SCHED_RESET_ON_FORK)),
		       "thread %d is fifo 10 reset-on-fork", i);
		CHECKM(pvs_journal_original(j, &id[i], &o) == 0 && o.policy == orig[i].policy &&
		               o.nice == orig[i].nice && o.flags == orig[i].flags,
		       "thread %d: original journaled", i);
	}
	CHECK(pvs_journal_count(j) == N);
	CHECK(count_lines(path, '+') == N);
	{
		char line[128];
		snprintf(line, sizeof(line), "+ %d %d %llu batch 0 3 0\n", (int)id[2].pid,
		         (int)id[2].tid, (unsigned long long)id[2].start);
		CHECKM(file_has(path, line), "journal holds %.*s", (int)strlen(line) - 1, line);
	}
	for (int i = 0; i < N; i++) {
		CHECKM(pvs_journal_restore(j, &id[i]) == 0, "restore thread %d", i);
		CHECKM(attr_is(h[i].tid, orig[i]), "thread %d back to its original", i);
		CHECK(pvs_journal_restore(j, &id[i]) == 0); /* not changed: no-op */
	}
	/* again, with RR then a nice boost: the original stays the original */
	for (int i = 0; i < N; i++) {
		CHECK(pvs_journal_apply(j, &id[i], &A(SCHED_RR, 5, 0, 0)) == 0);
		CHECKM(attr_is(h[i].tid, A(SCHED_RR, 5, ANY_NICE, PVS_SCHED_RESET_ON_FORK)),
		       "thread %d is rr 5", i);
		CHECK(pvs_journal_apply(j, &id[i], &A(SCHED_OTHER, 0, -5, 0)) == 0);
		CHECKM(attr_is(h[i].tid, A(SCHED_OTHER, 0, -5, PVS_SCHED_RESET_ON_FORK)),
		       "thread %d is nice -5", i);
		CHECK(pvs_journal_restore(j, &id[i]) == 0);
		CHECKM(attr_is(h[i].tid, orig[i]), "thread %d back to its original again", i);
	}
	CHECK(count_lines(path, '+') == N); /* one record per thread, ever */
	CHECK(pvs_journal_apply(j, &id[0], &A(SCHED_FIFO, 0, 0, 0)) == -EINVAL);
	CHECK(pvs_journal_apply(j, &id[0], &A(SCHED_OTHER, 0, 0, 4)) == -EINVAL);
	/* clean exit restores what is still changed */
	CHECK(pvs_journal_apply(j, &id[1], &A(SCHED_FIFO, 3, 0, 0)) == 0);
	CHECK(pvs_journal_close(j) == 0);
	CHECK(attr_is(h[1].tid, orig[1]));
	CHECK(count_lines(path, '+') == 0);
	for (int i = 0; i < N; i++)
		ht_stop(&h[i]);
}

static void t_forget(void)
{
	const char *path = tu_path("forget/journal");
	struct pvs_journal *j;
	struct pvs_thread_id id;
	struct ht h;
	char err[256], line[128];

	NEED_ROOT();
	ht_start(&h);
	REQUIRE(pvs_sched_set(h.tid, &A(SCHED_BATCH, 0, 4, 0)) == 0);
	id = ht_id(&h);
	REQUIRE(pvs_journal_open(&j, path, cap_log, NULL, err, sizeof(err)) == 0);
	CHECK(pvs_journal_forget(j, &id) == -ENOENT);
	CHECK(pvs_journal_apply(j, &id, &A(SCHED_FIFO, 20, 0, 0)) == 0);
	CHECK(attr_is(h.tid, A(SCHED_FIFO, 20, ANY_NICE, 1)));
	CHECK(pvs_journal_forget(j, &id) == 0);
	CHECK(attr_is(h.tid, A(SCHED_BATCH, 0, 4, 0)));
	CHECK(pvs_journal_count(j) == 0);
	snprintf(line, sizeof(line), "- %d %llu\n", (int)id.tid, (unsigned long long)id.start);
	CHECKM(file_has(path, line), "journal holds %.*s", (int)strlen(line) - 1, line);
	CHECK(pvs_journal_forget(j, &id) == -ENOENT);
	CHECK(pvs_journal_restore(j, &id) == -ENOENT);
	/* forget of a restored thread: just drops */
	CHECK(pvs_journal_apply(j, &id, &A(SCHED_FIFO, 20, 0, 0)) == 0);
	CHECK(pvs_journal_restore(j, &id) == 0);
	CHECK(pvs_journal_forget(j, &id) == 0);
	CHECK(count_lines(path, '+') == 2 && count_lines(path, '-') == 2);
	CHECK(pvs_journal_close(j) == 0);
	CHECK(attr_is(h.tid, A(SCHED_BATCH, 0, 4, 0)));
	ht_stop(&h);
}

static void t_gone(void)
{
	const char *path = tu_path("gone/journal");
	struct pvs_journal *j;
	struct pvs_thread_id id, wrong;
	struct ht h, g;
	char err[256];

	NEED_ROOT();
	REQUIRE(pvs_journal_open(&j, path, cap_log, NULL, err, sizeof(err)) == 0);
	/* a thread that exited before the first change: nothing journaled */
	ht_start(&g);
	id = ht_id(&g);
	ht_stop(&g);
	CHECK(pvs_journal_apply(j, &id, &A(SCHED_FIFO, 10, 0, 0)) == -ESRCH);
	CHECK(pvs_journal_count(j) == 0 && count_lines(path, '+') == 0);
	/* a live tid with another start time (a reused tid): not touched */
	ht_start(&h);
	wrong = ht_id(&h);
	wrong.start += 1;
	CHECK(pvs_journal_apply(j, &wrong, &A(SCHED_FIFO, 10, 0, 0)) == -ESRCH);
	CHECK(attr_is(h.tid, OTHER0));
	CHECK(pvs_journal_count(j) == 0 && count_lines(path, '+') == 0);
	/* a tid that is not a thread of PID */
	wrong = ht_id(&h);
	wrong.pid = 1;
	CHECK(pvs_journal_apply(j, &wrong, &A(SCHED_FIFO, 10, 0, 0)) == -ESRCH);
	CHECK(attr_is(h.tid, OTHER0));
	/* a journaled thread that exits: restore says so and drops the record */
	id = ht_id(&h);
	CHECK(pvs_journal_apply(j, &id, &A(SCHED_FIFO, 10, 0, 0)) == 0);
	ht_stop(&h);
	CHECK(pvs_journal_apply(j, &id, &A(SCHED_FIFO, 11, 0, 0)) == -ESRCH);
	CHECK(pvs_journal_count(j) == 0);
	CHECK(count_lines(path, '+') == 1 && count_lines(path, '-') == 1);
	ht_start(&h);
	id = ht_id(&h);
	CHECK(pvs_journal_apply(j, &id, &A(SCHED_FIFO, 10, 0, 0)) == 0);
	ht_stop(&h);
	CHECK(pvs_journal_restore(j, &id) == -ESRCH);
	CHECK(pvs_journal_count(j) == 0);
	CHECK(pvs_journal_forget(j, &id) == -ENOENT);
	/* and one that exits while journaled: close skips it quietly */
	ht_start(&h);
	id = ht_id(&h);
	CHECK(pvs_journal_apply(j, &id, &A(SCHED_FIFO, 10, 0, 0)) == 0);
	ht_stop(&h);
	CHECK(pvs_journal_close(j) == 0);
}

static void t_deadline(void)
{
	const char *path = tu_path("deadline/journal");
	struct {
		uint32_t size, policy;
		uint64_t flags;
		int32_t nice;
		uint32_t prio;
		uint64_t runtime, deadline, period;
	} dl = {48, SCHED_DEADLINE, 0, 0, 0, 1000000, 100000000, 100000000};
	struct pvs_journal *j;
	struct pvs_thread_id id;
	struct pvs_sched_attr a;
	struct ht h;
	char err[256];

	NEED_ROOT();
	ht_start(&h);
	if (syscall(SYS_sched_setattr, h.tid, &dl, 0u) < 0) {
		int e = errno;
		ht_stop(&h);
		SKIP("cannot make a SCHED_DEADLINE thread: %s", strerror(e));
	}
	id = ht_id(&h);
	CHECK(pvs_sched_get(h.tid, &a) == -EOPNOTSUPP && a.policy == SCHED_DEADLINE);
	REQUIRE(pvs_journal_open(&j, path, cap_log, NULL, err, sizeof(err)) == 0);
	CHECK(pvs_journal_apply(j, &id, &A(SCHED_FIFO, 10, 0, 0)) == -EOPNOTSUPP);
	CHECK(pvs_journal_count(j) == 0 && count_lines(path, '+') == 0);
	CHECK(pvs_sched_get(h.tid, &a) == -EOPNOTSUPP && a.policy == SCHED_DEADLINE);
	CHECK(pvs_journal_close(j) == 0);
	CHECK(pvs_sched_set(h.tid, &OTHER0) == 0);
	ht_stop(&h);
}

static void t_reset_on_fork(void)
{
	const char *path = tu_path("rof/journal");
	struct pvs_journal *j;
	struct pvs_thread_id id;
	struct ht h;
	char err[256], c = 0;

	NEED_ROOT();
	ht_start(&h);
	id = ht_id(&h);
	REQUIRE(pvs_journal_open(&j, path, cap_log, NULL, err, sizeof(err)) == 0);
	CHECK(pvs_journal_apply(j, &id, &A(SCHED_FIFO, 10, 0, 0)) == 0);
	REQUIRE(write(h.cmd[1], "f", 1) == 1);
	REQUIRE(read(h.rsp[0], &c, 1) == 1);
	CHECKM(c == 'y', "a child forked by a boosted thread is SCHED_OTHER");
	CHECK(pvs_journal_close(j) == 0);
	CHECK(attr_is(h.tid, OTHER0));
	ht_stop(&h);
}

/*
 * A "daemon" child journals changes of our threads and dies by SIGKILL;
 * then we recover (pvschedctl reset) or open (daemon restart).  Threads:
 * 0..2 changed and alive, 3 changed and exited, 4 a record with a reused
 * tid (faked: the start time edited), plus a '+'/'-' pair to be ignored.
 */
static void kill9(int by_open)
{
	const struct pvs_sched_attr orig[4] = {
	        {SCHED_OTHER, 0, 0, 0},
	        {SCHED_OTHER, 0, 5, 0},
	        {SCHED_BATCH, 0, 2, 0},
	        {SCHED_OTHER, 0, 1, 0},
	};
	const char *path = tu_path("kill9-%d/journal", by_open);
	const struct pvs_sched_attr boosted = {SCHED_FIFO, 10, ANY_NICE, PVS_SCHED_RESET_ON_FORK};
	struct pvs_journal_stats st;
	struct pvs_thread_id id[5];
	struct ht h[5];
	char err[256], extra[512];
	int pfd[2], status;
	pid_t child;

	NEED_ROOT();
	for (int i = 0; i < 5; i++) {
		ht_start(&h[i]);
		if (i < 4)
			REQUIRE(pvs_sched_set(h[i].tid, &orig[i]) == 0);
		id[i] = ht_id(&h[i]);
	}
	REQUIRE(pipe2(pfd, O_CLOEXEC) == 0);
	fflush(stdout);
	child = fork();
	REQUIRE(child >= 0);
	if (child == 0) {
		struct pvs_journal *j;
		char ok = 'y';

		if (pvs_journal_open(&j, path, NULL, NULL, err, sizeof(err)))
			ok = 'o';
		for (int i = 0; i < 4 && ok == 'y'; i++)
			if (pvs_journal_apply(j, &id[i], &A(SCHED_FIFO, 10, 0, 0)))
				ok = 'a';
		if (write(pfd[1], &ok, 1) != 1)
			_exit(3);
		kill(getpid(), SIGKILL);
		_exit(4);
	}
	close(pfd[1]);
	{
		char ok = 0;
		CHECK(read(pfd[0], &ok, 1) == 1 && ok == 'y');
	}
	close(pfd[0]);
	REQUIRE(waitpid(child, &status, 0) == child);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	for (int i = 0; i < 4; i++)
		CHECKM(attr_is(h[i].tid, boosted), "thread %d boosted by the dead daemon", i);
	CHECK(count_lines(path, '+') == 4);
	/* thread 3 exits; thread 4's tid "is reused": a record with another
	 * start time, while the thread has attributes nobody journaled */
	ht_stop(&h[3]);
	REQUIRE(pvs_sched_set(h[4].tid, &A(SCHED_FIFO, 3, 0, 0)) == 0);
	snprintf(extra, sizeof(extra),
	         "+ %d %d %llu batch 0 4 0\n"
	         "+ %d %d 999 other 0 0 0\n"
	         "- %d 999\n"
	         "- 4242 4242\n",
	         (int)getpid(), (int)id[4].tid, (unsigned long long)id[4].start + 1000,
	         (int)getpid(), (int)id[0].tid, (int)id[0].tid);
	{
		int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
		REQUIRE(fd >= 0 && write(fd, extra, strlen(extra)) == (ssize_t)strlen(extra));
		close(fd);
	}
	log_reset();
	if (by_open) {
		struct pvs_journal *j;

		REQUIRE(pvs_journal_open(&j, path, cap_log, NULL, err, sizeof(err)) == 0);
		CHECK(log_has("left by a previous instance: restored 3 thread(s); skipped 1 "
		              "gone, 1 with a reused tid"));
		CHECK(log_has("; 0 failed; 0 bad line(s)"));
		CHECK(pvs_journal_count(j) == 0);
		CHECK(pvs_journal_close(j) == 0);
	} else {
		CHECK(pvs_journal_recover(path, 0, cap_log, NULL, &st, err, sizeof(err)) == 0);
		CHECK(st.restored == 3 && st.gone == 1 && st.reused == 1 && st.failed == 0 &&
		      st.bad == 0);
	}
	for (int i = 0; i < 3; i++)
		CHECKM(attr_is(h[i].tid, orig[i]), "thread %d restored", i);
	CHECKM(attr_is(h[4].tid, A(SCHED_FIFO, 3, ANY_NICE, 0)),
	       "the 'reused' tid was not touched");
	CHECK(log_has("another thread"));
	CHECK(log_has("gone, skipped"));
	CHECK(log_has("restored batch nice 2 (was fifo 10 reset-on-fork)"));
	CHECK(count_lines(path, '+') == 0 && count_lines(path, '-') == 0);
	/* nothing left: a second recovery restores nothing */
	CHECK(pvs_journal_recover(path, 0, cap_log, NULL, &st, err, sizeof(err)) == 0);
	CHECK(st.restored == 0 && st.gone == 0 && st.reused == 0);
	pvs_sched_set(h[4].tid, &OTHER0);
	for (int i = 0; i < 5; i++)
		ht_stop(&h[i]);
}

static void t_kill9_recover(void)
{
	kill9(0);
}

static void t_kill9_open(void)
{
	kill9(1);
}

static void t_lock(void)
{
	const char *path = tu_path("lock/journal");
	struct pvs_journal *j, *j2;
	struct pvs_journal_stats st;
	struct pvs_thread_id id;
	struct ht h;
	char err[512], want[64];
	pid_t child;
	int status;

	NEED_ROOT();
	ht_start(&h);
	id = ht_id(&h);
	REQUIRE(pvs_journal_open(&j, path, cap_log, NULL, err, sizeof(err)) == 0);
	CHECK(pvs_journal_open(&j2, path, cap_log, NULL, err, sizeof(err)) == -EBUSY && !j2);
	snprintf(want, sizeof(want), "pid %d", (int)getpid());
	CHECKM(strstr(err, path) && strstr(err, want), "error names path and holder: %s", err);
	/* another process (a second pvschedd) */
	fflush(stdout);
	child = fork();
	REQUIRE(child >= 0);
	if (child == 0) {
		struct pvs_journal *j3;
		int r = pvs_journal_open(&j3, path, NULL, NULL, err, sizeof(err));
		_exit(r == -EBUSY && strstr(err, want) ? 0 : 1);
	}
	REQUIRE(waitpid(child, &status, 0) == child);
	CHECKM(WIFEXITED(status) && WEXITSTATUS(status) == 0, "second process refused");
	/* recover refuses while held, unless forced (then restores, keeps the file) */
	CHECK(pvs_journal_apply(j, &id, &A(SCHED_FIFO, 10, 0, 0)) == 0);
	CHECK(pvs_journal_recover(path, 0, cap_log, NULL, &st, err, sizeof(err)) == -EBUSY);
	CHECKM(strstr(err, "in use") && strstr(err, want), "refusal says why: %s", err);
	CHECK(attr_is(h.tid, A(SCHED_FIFO, 10, ANY_NICE, 1)));
	CHECK(pvs_journal_recover(path, PVS_JOURNAL_FORCE, cap_log, NULL, &st, err, sizeof(err)) ==
	      0);
	CHECK(st.restored == 1);
	CHECK(attr_is(h.tid, OTHER0));
	CHECK(count_lines(path, '+') == 1);
	CHECK(pvs_journal_apply(j, &id, &A(SCHED_FIFO, 10, 0, 0)) == 0);
	CHECK(pvs_journal_close(j) == 0);
	CHECK(attr_is(h.tid, OTHER0));
	/* released */
	CHECK(pvs_journal_open(&j, path, cap_log, NULL, err, sizeof(err)) == 0);
	CHECK(pvs_journal_close(j) == 0);
	CHECK(pvs_journal_close(NULL) == 0);
	ht_stop(&h);
}

static void t_unsafe_file(void)
{
	const char *path = tu_path("unsafe");
	struct pvs_journal *j;
	char err[256];

	NEED_ROOT();
	REQUIRE(tu_write_file(path, "", 0, 0600) == 0);
	REQUIRE(chmod(path, 0666) == 0);
	CHECK(pvs_journal_recover(path, 0, cap_log, NULL, NULL, err, sizeof(err)) == -EPERM);
	CHECKM(strstr(err, "refusing"), "%s", err);
	CHECK(pvs_journal_open(&j, path, cap_log, NULL, err, sizeof(err)) == -EPERM);
	REQUIRE(mkdir(tu_path("dir"), 0700) == 0);
	CHECK(pvs_journal_open(&j, tu_path("dir"), cap_log, NULL, err, sizeof(err)) < 0);
	/* missing: nothing to do */
	CHECK(pvs_journal_recover(tu_path("none"), 0, cap_log, NULL, NULL, err, sizeof(err)) == 0);
	/* directories are created */
	CHECK(pvs_journal_open(&j, tu_path("a/b/c/journal"), cap_log, NULL, err, sizeof(err)) == 0);
	CHECK(pvs_journal_close(j) == 0);
}

static void t_corrupt(void)
{
	const char *path = tu_path("corrupt/journal");
	struct pvs_journal_stats st;
	struct pvs_thread_id a, b;
	struct ht ha, hb;
	char err[256], *text, longline[400];
	size_t cap = 8192;

	NEED_ROOT();
	REQUIRE(tu_mkdir(tu_path("corrupt")) == 0);
	ht_start(&ha);
	ht_start(&hb);
	a = ht_id(&ha);
	b = ht_id(&hb);
	REQUIRE(pvs_sched_set(ha.tid, &A(SCHED_FIFO, 7, 0, 0)) == 0);
	REQUIRE(pvs_sched_set(hb.tid, &A(SCHED_RR, 4, 0, 1)) == 0);
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = 0;
	text = malloc(cap);
	REQUIRE(text);
	snprintf(text, cap,
	         "# pvsched journal\n"                        /* 1 */
	         "+ %d %d %llu other 0 0 0\n"                 /* 2 */
	         "garbage here\n"                             /* 3 */
	         "+ 1 2\n"                                    /* 4 */
	         "+ %d 77 88 fifo 200 0 0\n"                  /* 5 */
	         "+ %d 77 88 other 5 0 0\n"                   /* 6 */
	         "+ %d 77 88 deadline 0 0 0\n"                /* 7 */
	         "- notanumber 5\n"                           /* 8 */
	         "%s\n"                                       /* 9 */
	         "\n"                                         /* 10 */
	         "+ %d %d %llu batch 0 1 0 extra\n"           /* 11 */
	         "+ -3 %d %llu batch 0 1 0\n"                 /* 12 */
	         "+ %d %d 99999999999999999999999 rr 1 0 0\n" /* 13 */
	         "+ %d %d %llu batch 0 1 0\n"                 /* 14 */
	         "+ %d %d %llu bat",                          /* 15: truncated */
	         (int)a.pid, (int)a.tid, (unsigned long long)a.start, (int)a.pid, (int)a.pid,
	         (int)a.pid, longline, (int)b.pid, (int)b.tid, (unsigned long long)b.start,
	         (int)b.tid, (unsigned long long)b.start, (int)b.pid, (int)b.tid, (int)b.pid,
	         (int)b.tid, (unsigned long long)b.start, (int)b.pid, (int)b.tid,
	         (unsigned long long)b.start);
	REQUIRE(tu_write_file(path, text, strlen(text), 0600) == 0);
	log_reset();
	CHECK(pvs_journal_recover(path, 0, cap_log, NULL, &st, err, sizeof(err)) == 0);
	CHECKM(st.restored == 2 && st.bad == 11, "restored %u, bad %u", st.restored, st.bad);
	CHECK(attr_is(ha.tid, OTHER0));
	CHECK(attr_is(hb.tid, A(SCHED_BATCH, 0, 1, 0)));
	for (int l = 3; l <= 15; l++) {
		char w[64];
		if (l == 10 || l == 14)
			continue;
		snprintf(w, sizeof(w), "journal:%d: ", l);
		CHECKM(log_has(w), "line %d reported", l);
	}
	CHECK(log_has("journal:15: truncated"));
	CHECK(log_has("journal:5: bad line skipped: bad priority"));
	/* random bytes: no crash, nothing restored */
	srand(7);
	for (size_t i = 0; i < cap; i++)
		text[i] = (char)(rand() % 256);
	REQUIRE(tu_write_file(path, text, cap, 0600) == 0);
	CHECK(pvs_journal_recover(path, 0, NULL, NULL, &st, err, sizeof(err)) == 0);
	CHECK(st.restored == 0 && st.bad > 0);
	free(text);
	ht_stop(&ha);
	ht_stop(&hb);
}

static void t_parse(void)
{
	static const char *good[] = {
	        "+ 1 2 3 other 0 0 0",
	        "+ 100 101 123456789 fifo 99 0 1",
	        "+ 1 1 0 batch 0 -20 0",
	        "+ 1 1 0 idle 0 19 0",
	        "+ 5 6 7 rr 1 0 0",
	        "- 6 7",
	        "  +\t1  2 3 other 0 0 0 ",
	        "+ 1 2 3 ext 0 0 0",
	        "A 1 2 3 0-3,8",
	        "A 5 6 7 1023",
	};
	static const char *bad[] = {
	        "+",
	        "+ 1 2 3 other 0 0",
	        "+ 1 2 3 other 0 0 0 0",
	        "+ 0 2 3 other 0 0 0",
	        "+ 1 0 3 other 0 0 0",
	        "+ 1 2 -3 other 0 0 0",
	        "+ 1 2 3 OTHER 0 0 0",
	        "+ 1 2 3 fifo 0 0 0",
	        "+ 1 2 3 rr 100 0 0",
	        "+ 1 2 3 other 1 0 0",
	        "+ 1 2 3 other 0 20 0",
	        "+ 1 2 3 other 0 -21 0",
	        "+ 1 2 3 other 0 0 2",
	        "+ 1 2 3 deadline 0 0 0",
	        "+ 99999999999 2 3 other 0 0 0",
	        "+ 1 2 18446744073709551616 other 0 0 0",
	        "- 1",
	        "- 1 2 3",
	        "- x 2",
	        "* 1 2",
	        "++ 1 2 3 other 0 0 0",
	        "+ 1 2 3 other 0 - 0",
	        "+ 1 2 3 other 0 0 0x1",
	        "A 1 2 3",
	        "A 1 2 3 1024",
	        "A 1 2 3 2-1",
	        "A 1 2 3 other 0 0 0",
	};
	struct pvs_journal_line l, l2;
	const char *why;
	char buf[PVS_JOURNAL_LINE_MAX], fz[64];
	unsigned long ok = 0;

	for (size_t i = 0; i < NCASES(good); i++) {
		CHECKM(pvs_journal_parse_line(good[i], strlen(good[i]), &l, NULL) == 0 &&
		               l.op != PVS_JOURNAL_NONE,
		       "good: '%s'", good[i]);
		size_t n = pvs_journal_format(&l, buf, sizeof(buf));
		CHECKM(n > 0 && buf[n - 1] == '\n' &&
		               pvs_journal_parse_line(buf, n - 1, &l2, NULL) == 0 &&
		               !memcmp(&l, &l2, sizeof(l)),
		       "round trip: '%s'", good[i]);
	}
	CHECK(pvs_journal_parse_line("- 6 7", 5, &l, NULL) == 0 && l.op == PVS_JOURNAL_DEL &&
	      l.id.tid == 6 && l.id.start == 7);
	CHECK(pvs_journal_parse_line("+ 100 101 123456789 fifo 99 0 1", 31, &l, NULL) == 0 &&
	      l.op == PVS_JOURNAL_ADD && l.id.pid == 100 && l.id.tid == 101 &&
	      l.id.start == 123456789 && l.attr.policy == SCHED_FIFO && l.attr.prio == 99 &&
	      l.attr.flags == 1);
	for (size_t i = 0; i < NCASES(bad); i++) {
		why = NULL;
		CHECKM(pvs_journal_parse_line(bad[i], strlen(bad[i]), &l, &why) == -EINVAL && why,
		       "bad: '%s' (%s)", bad[i], why ? why : "?");
	}
	CHECK(pvs_journal_parse_line("", 0, &l, NULL) == 0 && l.op == PVS_JOURNAL_NONE);
	CHECK(pvs_journal_parse_line("# x", 3, &l, NULL) == 0 && l.op == PVS_JOURNAL_NONE);
	CHECK(pvs_journal_parse_line("  # a b c d e f g h i j k", 25, &l, NULL) == 0 &&
	      l.op == PVS_JOURNAL_NONE);
	/* a length shorter than the string: only LEN bytes count */
	CHECK(pvs_journal_parse_line("- 6 7 8", 5, &l, NULL) == 0 && l.id.start == 7);
	/* fuzz: token soup and raw bytes; every accepted line round-trips */
	{
		static const char *toks[] = {
		        "+",     "-",    " ",  "\t",  "0",    "1",          "-1",
		        "99",    "100",  "19", "-20", "fifo", "rr",         "other",
		        "batch", "idle", "x",  "\n",  "\0",   "4294967296", "18446744073709551615",
		        "A",     "0-3",  ",",  "-",   "1023", "1024"};
		srand(42);
		for (int it = 0; it < 200000; it++) {
			size_t n = 0;
			int k = rand() % 12;

			if (it & 1) {
				/* a good line with a few bytes changed, cut or dropped */
				const char *g = good[rand() % NCASES(good)];

				n = strlen(g);
				memcpy(fz, g, n);
				for (int m = rand() % 3; m >= 0 && n; m--) {
					size_t at = (size_t)rand() % n;
					switch (rand() % 4) {
					case 0: fz[at] = (char)(rand() % 256); break;
					case 1: fz[at] = "0123456789 +-"[rand() % 13]; break;
					case 2: n = at; break;
					default: memmove(fz + at, fz + at + 1, n - at - 1); n--;
					}
				}
				k = 0;
			}
			for (int t = 0; t < k; t++) {
				const char *s = toks[rand() % NCASES(toks)];
				size_t sl = s[0] ? strlen(s) : 1;
				if (n + sl > sizeof(fz))
					break;
				memcpy(fz + n, s, sl);
				n += sl;
			}
			if (k && rand() % 8 == 0 && n)
				fz[rand() % n] = (char)(rand() % 256);
			/* exactly N bytes, no terminator: ASan sees over-reads */
			char *heap = malloc(n ? n : 1);
			memcpy(heap, fz, n);
			if (pvs_journal_parse_line(heap, n, &l, &why) == 0 &&
			    l.op != PVS_JOURNAL_NONE) {
				size_t m = pvs_journal_format(&l, buf, sizeof(buf));
				CHECKQM(m && pvs_journal_parse_line(buf, m - 1, &l2, NULL) == 0 &&
				                !memcmp(&l, &l2, sizeof(l)),
				        "fuzz round trip");
				ok++;
			}
			free(heap);
		}
		CHECKM(ok > 0, "fuzz: %lu accepted lines round-tripped", ok);
	}
}

static void t_compact(void)
{
	const char *path = tu_path("compact/journal");
	struct pvs_journal *j, *j2;
	struct pvs_thread_id x, y;
	struct ht hx, hy;
	char err[256], line[128];
	size_t len = 0;
	unsigned char *b;

	NEED_ROOT();
	ht_start(&hx);
	ht_start(&hy);
	x = ht_id(&hx);
	y = ht_id(&hy);
	REQUIRE(pvs_sched_set(hx.tid, &A(SCHED_BATCH, 0, 6, 0)) == 0);
	REQUIRE(pvs_journal_open(&j, path, cap_log, NULL, err, sizeof(err)) == 0);
	CHECK(pvs_journal_apply(j, &x, &A(SCHED_FIFO, 2, 0, 0)) == 0);
	for (int i = 0; i < 1300; i++) {
		CHECKQ(pvs_journal_apply(j, &y, &A(SCHED_FIFO, 1 + i % 50, 0, 0)) == 0);
		CHECKQ(pvs_journal_forget(j, &y) == 0);
	}
	CHECK(attr_is(hy.tid, OTHER0));
	b = tu_read_file(path, &len);
	CHECKM(b && len < 1100 * 40, "journal compacted: %zu bytes", len);
	free(b);
	CHECKM(count_lines(path, '+') + count_lines(path, '-') <= 1 + 2 * 510,
	       "dead records bounded: %d lines", count_lines(path, '+') + count_lines(path, '-'));
	snprintf(line, sizeof(line), "+ %d %d %llu batch 0 6 0\n", (int)x.pid, (int)x.tid,
	         (unsigned long long)x.start);
	CHECKM(file_has(path, line), "live record kept: %.*s", (int)strlen(line) - 1, line);
	CHECK(access(tu_path("compact/journal.tmp"), F_OK) < 0);
	/* the lock moved to the new file */
	CHECK(pvs_journal_open(&j2, path, cap_log, NULL, err, sizeof(err)) == -EBUSY);
	CHECK(pvs_journal_recover(path, 0, cap_log, NULL, NULL, err, sizeof(err)) == -EBUSY);
	CHECK(attr_is(hx.tid, A(SCHED_FIFO, 2, ANY_NICE, 1)));
	CHECK(pvs_journal_close(j) == 0);
	CHECK(attr_is(hx.tid, A(SCHED_BATCH, 0, 6, 0)));
	ht_stop(&hx);
	ht_stop(&hy);
}

/* Many changes of one journaled thread keep one record (how long they take
 * is printed, not judged: speed belongs in bench/). */
static void t_many_applies(void)
{
	const char *path = tu_path("many/journal");
	struct pvs_journal *j;
	struct pvs_thread_id id;
	struct ht h;
	char err[256];
	const int n = 20000;
	uint64_t t0, dt;

	NEED_ROOT();
	ht_start(&h);
	id = ht_id(&h);
	REQUIRE(pvs_journal_open(&j, path, cap_log, NULL, err, sizeof(err)) == 0);
	REQUIRE(pvs_journal_apply(j, &id, &A(SCHED_FIFO, 10, 0, 0)) == 0);
	t0 = pvs_mono_ns();
	for (int i = 0; i < n; i++)
		CHECKQ(pvs_journal_apply(j, &id, &A(SCHED_FIFO, 10 + (i & 1), 0, 0)) == 0);
	dt = pvs_mono_ns() - t0;
	NOTE("apply of a journaled thread: %.2f us", dt / 1e3 / n);
	CHECK(count_lines(path, '+') == 1);
	CHECK(pvs_journal_close(j) == 0);
	CHECK(attr_is(h.tid, OTHER0));
	ht_stop(&h);
}

/* ---- CPU affinity ---- */

/* The test's own affinity (the helper threads inherit it), and a narrower
 * mask to pin them to: its highest CPU alone ({1} of {0,1}). */
static cpu_set_t aff_orig, aff_pin;

static int aff_setup(void)
{
	int hi = -1;

	if (sched_getaffinity(0, sizeof(aff_orig), &aff_orig) < 0 || CPU_COUNT(&aff_orig) < 2)
		return 0;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &aff_orig))
			hi = c;
	CPU_ZERO(&aff_pin);
	CPU_SET(hi, &aff_pin);
	return 1;
}

#define NEED_AFFINITY()                                                                            \
	do {                                                                                       \
		NEED_ROOT();                                                                       \
		if (!aff_setup())                                                                  \
			SKIP("needs two CPUs to pin threads");                                     \
	} while (0)

/* "0-1" for M (through pvs_journal_format). */
static const char *aff_list(const cpu_set_t *m, char *buf, size_t len)
{
	struct pvs_journal_line l = {.op = PVS_JOURNAL_AFFINITY, .id = {1, 1, 0}, .mask = *m};
	char line[PVS_JOURNAL_LINE_MAX];
	size_t n = pvs_journal_format(&l, line, sizeof(line));

	snprintf(buf, len, "%.*s", n > 8 ? (int)(n - 9) : 0, line + 8); /* "A 1 1 0 " */
	return buf;
}

static int aff_is(pid_t tid, const cpu_set_t *want)
{
	cpu_set_t m;
	char x[256], y[256];

	if (sched_getaffinity(tid, sizeof(m), &m) < 0)
		return 0;
	if (CPU_EQUAL(&m, want))
		return 1;
	printf("  -- tid %d has affinity %s, want %s\n", (int)tid, aff_list(&m, x, sizeof(x)),
	       aff_list(want, y, sizeof(y)));
	return 0;
}

/* set_affinity alone: an 'A' record, restore() leaves it, close restores */
static void t_aff_close(void)
{
	const char *path = tu_path("aff-close/journal");
	struct pvs_journal *j;
	struct pvs_thread_id id, wrong;
	struct pvs_sched_attr o;
	struct ht h, g;
	cpu_set_t m, empty;
	char err[256], line[256], list[128];

	NEED_AFFINITY();
	ht_start(&h);
	id = ht_id(&h);
	REQUIRE(aff_is(h.tid, &aff_orig));
	REQUIRE(pvs_journal_open(&j, path, cap_log, NULL, err, sizeof(err)) == 0);
	CHECK(pvs_journal_original_affinity(j, &id, &m) == -ENOENT);
	CHECK(pvs_journal_restore_affinity(j, &id) == -ENOENT);
	CPU_ZERO(&empty);
	CHECK(pvs_journal_set_affinity(j, &id, &empty) == -EINVAL);
	CHECK(pvs_journal_set_affinity(j, &id, NULL) == -EINVAL);
	CHECK(pvs_journal_count(j) == 0 && count_lines(path, 'A') == 0);
	CHECK(pvs_journal_set_affinity(j, &id, &aff_pin) == 0);
	CHECKM(aff_is(h.tid, &aff_pin), "thread pinned");
	CHECK(pvs_journal_count(j) == 1);
	CHECK(pvs_journal_original_affinity(j, &id, &m) == 0 && CPU_EQUAL(&m, &aff_orig));
	CHECKM(pvs_journal_original(j, &id, &o) == -ENOENT, "no attributes journaled");
	snprintf(line, sizeof(line), "A %d %d %llu %s\n", (int)id.pid, (int)id.tid,
	         (unsigned long long)id.start, aff_list(&aff_orig, list, sizeof(list)));
	CHECKM(file_has(path, line), "journal holds %.*s", (int)strlen(line) - 1, line);
	CHECK(count_lines(path, '+') == 0);
	/* the original stays the original; one record */
	CHECK(pvs_journal_set_affinity(j, &id, &aff_orig) == 0);
	CHECK(pvs_journal_set_affinity(j, &id, &aff_pin) == 0);
	CHECK(count_lines(path, 'A') == 1);
	/* restore() is for the attributes only: no-op here, the pin stays */
	CHECK(pvs_journal_restore(j, &id) == 0);
	CHECKM(aff_is(h.tid, &aff_pin), "restore() leaves the affinity");
	/* a gone thread and a reused tid: nothing journaled */
	ht_start(&g);
	wrong = ht_id(&g);
	ht_stop(&g);
	CHECK(pvs_journal_set_affinity(j, &wrong, &aff_pin) == -ESRCH);
	ht_start(&g);
	wrong = ht_id(&g);
	wrong.start += 1;
	CHECK(pvs_journal_set_affinity(j, &wrong, &aff_pin) == -ESRCH);
	CHECK(aff_is(g.tid, &aff_orig));
	CHECK(pvs_journal_count(j) == 1 && count_lines(path, 'A') == 1);
	/* a journaled thread that exits: dropped */
	wrong = ht_id(&g);
	CHECK(pvs_journal_set_affinity(j, &wrong, &aff_pin) == 0);
	ht_stop(&g);
	CHECK(pvs_journal_set_affinity(j, &wrong, &aff_orig) == -ESRCH);
	CHECK(pvs_journal_count(j) == 1);
	/* clean exit */
	CHECK(pvs_journal_close(j) == 0);
	CHECKM(aff_is(h.tid, &aff_orig), "close restored the affinity");
	CHECK(attr_is(h.tid, OTHER0));
	CHECK(count_lines(path, 'A') == 0 && count_lines(path, '+') == 0);
	ht_stop(&h);
}

/* both kinds of records on one thread, either order; forget restores both */
static void t_aff_forget(void)
{
	const char *path = tu_path("aff-forget/journal");
	struct pvs_journal *j;
	struct pvs_thread_id id[2];
	struct pvs_sched_attr o;
	struct ht h[2];
	cpu_set_t m;
	char err[256], line[128];

	NEED_AFFINITY();
	for (int i = 0; i < 2; i++) {
		ht_start(&h[i]);
		REQUIRE(pvs_sched_set(h[i].tid, &A(SCHED_BATCH, 0, 3 + i, 0)) == 0);
		id[i] = ht_id(&h[i]);
	}
	REQUIRE(pvs_journal_open(&j, path, cap_log, NULL, err, sizeof(err)) == 0);
	/* 0: affinity first, then attributes; 1: the other way */
	CHECK(pvs_journal_set_affinity(j, &id[0], &aff_pin) == 0);
	CHECK(pvs_journal_apply(j, &id[0], &A(SCHED_FIFO, 10, 0, 0)) == 0);
	CHECK(pvs_journal_apply(j, &id[1], &A(SCHED_FIFO, 10, 0, 0)) == 0);
	CHECK(pvs_journal_set_affinity(j, &id[1], &aff_pin) == 0);
	for (int i = 0; i < 2; i++) {
		CHECKM(attr_is(h[i].tid, A(SCHED_FIFO, 10, ANY_NICE, 1)) &&
		               aff_is(h[i].tid, &aff_pin),
		       "thread %d boosted and pinned", i);
		CHECKM(pvs_journal_original(j, &id[i], &o) == 0 && o.policy == SCHED_BATCH &&
		               o.nice == 3 + i,
		       "thread %d: original attributes journaled", i);
		CHECKM(pvs_journal_original_affinity(j, &id[i], &m) == 0 &&
		               CPU_EQUAL(&m, &aff_orig),
		       "thread %d: original affinity journaled", i);
	}
	CHECK(pvs_journal_count(j) == 2);
	CHECK(count_lines(path, '+') == 2 && count_lines(path, 'A') == 2);
	for (int i = 0; i < 2; i++) {
		CHECK(pvs_journal_forget(j, &id[i]) == 0);
		CHECKM(attr_is(h[i].tid, A(SCHED_BATCH, 0, 3 + i, 0)) &&
		               aff_is(h[i].tid, &aff_orig),
		       "forget restored both on thread %d", i);
		snprintf(line, sizeof(line), "- %d %llu\n", (int)id[i].tid,
		         (unsigned long long)id[i].start);
		CHECKM(file_has(path, line), "journal holds %.*s", (int)strlen(line) - 1, line);
	}
	CHECK(pvs_journal_count(j) == 0);
	CHECK(pvs_journal_forget(j, &id[0]) == -ENOENT);
	/* forget of an affinity-only record */
	CHECK(pvs_journal_set_affinity(j, &id[0], &aff_pin) == 0);
	CHECK(pvs_journal_forget(j, &id[0]) == 0);
	CHECK(aff_is(h[0].tid, &aff_orig));
	CHECK(attr_is(h[0].tid, A(SCHED_BATCH, 0, 3, 0)));
	/* close restores both, too */
	CHECK(pvs_journal_apply(j, &id[1], &A(SCHED_RR, 3, 0, 0)) == 0);
	CHECK(pvs_journal_set_affinity(j, &id[1], &aff_pin) == 0);
	CHECK(pvs_journal_close(j) == 0);
	CHECK(attr_is(h[1].tid, A(SCHED_BATCH, 0, 4, 0)));
	CHECK(aff_is(h[1].tid, &aff_orig));
	for (int i = 0; i < 2; i++)
		ht_stop(&h[i]);
}

/* restore() and restore_affinity() each put back their own part only */
static void t_aff_restore(void)
{
	const char *path = tu_path("aff-restore/journal");
	struct pvs_journal *j;
	struct pvs_thread_id id, other;
	struct ht h, g;
	char err[256];

	NEED_AFFINITY();
	ht_start(&h);
	ht_start(&g);
	id = ht_id(&h);
	other = ht_id(&g);
	REQUIRE(pvs_journal_open(&j, path, cap_log, NULL, err, sizeof(err)) == 0);
	CHECK(pvs_journal_apply(j, &id, &A(SCHED_FIFO, 10, 0, 0)) == 0);
	/* attributes journaled, affinity never changed: a no-op */
	CHECK(pvs_journal_restore_affinity(j, &id) == 0);
	CHECK(count_lines(path, 'A') == 0);
	CHECK(pvs_journal_set_affinity(j, &id, &aff_pin) == 0);
	CHECK(pvs_journal_restore(j, &id) == 0);
	CHECK(attr_is(h.tid, OTHER0));
	CHECKM(aff_is(h.tid, &aff_pin), "restore() left the affinity changed");
	CHECK(pvs_journal_apply(j, &id, &A(SCHED_FIFO, 11, 0, 0)) == 0);
	CHECK(pvs_journal_restore_affinity(j, &id) == 0);
	CHECKM(aff_is(h.tid, &aff_orig), "restore_affinity() put it back");
	CHECKM(attr_is(h.tid, A(SCHED_FIFO, 11, ANY_NICE, 1)), "... and left the attributes");
	CHECK(pvs_journal_restore_affinity(j, &id) == 0); /* not changed: no-op */
	CHECK(pvs_journal_count(j) == 1);
	/* the record stays: again, same originals, no new lines */
	CHECK(pvs_journal_set_affinity(j, &id, &aff_pin) == 0);
	CHECK(pvs_journal_restore_affinity(j, &id) == 0);
	CHECK(aff_is(h.tid, &aff_orig));
	CHECK(count_lines(path, 'A') == 1 && count_lines(path, '+') == 1);
	CHECK(pvs_journal_restore_affinity(j, &other) == -ENOENT);
	/* affinity-only record: restore() is a no-op, restore_affinity() works */
	CHECK(pvs_journal_set_affinity(j, &other, &aff_pin) == 0);
	CHECK(pvs_journal_restore(j, &other) == 0);
	CHECK(aff_is(g.tid, &aff_pin));
	CHECK(pvs_journal_restore_affinity(j, &other) == 0);
	CHECK(aff_is(g.tid, &aff_orig));
	/* a later apply journals the attributes too */
	CHECK(pvs_journal_apply(j, &other, &A(SCHED_RR, 2, 0, 0)) == 0);
	CHECK(count_lines(path, '+') == 2);
	/* gone: restore_affinity says so and drops the record */
	CHECK(pvs_journal_set_affinity(j, &other, &aff_pin) == 0);
	ht_stop(&g);
	CHECK(pvs_journal_restore_affinity(j, &other) == -ESRCH);
	CHECK(pvs_journal_count(j) == 1);
	CHECK(pvs_journal_close(j) == 0);
	CHECK(attr_is(h.tid, OTHER0));
	CHECK(aff_is(h.tid, &aff_orig));
	ht_stop(&h);
}

/*
 * A "daemon" child pins and boosts our threads, dies by SIGKILL; then
 * recover (pvschedctl reset) or open (restart).  Threads: 0 pinned only,
 * 1 boosted then pinned, 2 pinned then boosted, 3 boosted only, 4 pinned
 * and exited.
 */
static void kill9_aff(int by_open)
{
	const char *path = tu_path("aff-kill9-%d/journal", by_open);
	const struct pvs_sched_attr orig = {SCHED_BATCH, 0, 2, 0};
	struct pvs_journal_stats st;
	struct pvs_thread_id id[5];
	struct ht h[5];
	char err[256], want[256], a[128], b[128];
	int pfd[2], status;
	pid_t child;

	NEED_AFFINITY();
	for (int i = 0; i < 5; i++) {
		ht_start(&h[i]);
		REQUIRE(pvs_sched_set(h[i].tid, &orig) == 0);
		id[i] = ht_id(&h[i]);
	}
	REQUIRE(pipe2(pfd, O_CLOEXEC) == 0);
	fflush(stdout);
	child = fork();
	REQUIRE(child >= 0);
	if (child == 0) {
		struct pvs_journal *j;
		char ok = 'y';

		if (pvs_journal_open(&j, path, NULL, NULL, err, sizeof(err)))
			ok = 'o';
		if (ok == 'y' && (pvs_journal_set_affinity(j, &id[0], &aff_pin) ||
		                  pvs_journal_apply(j, &id[1], &A(SCHED_FIFO, 10, 0, 0)) ||
		                  pvs_journal_set_affinity(j, &id[1], &aff_pin) ||
		                  pvs_journal_set_affinity(j, &id[2], &aff_pin) ||
		                  pvs_journal_apply(j, &id[2], &A(SCHED_FIFO, 10, 0, 0)) ||
		                  pvs_journal_apply(j, &id[3], &A(SCHED_FIFO, 10, 0, 0)) ||
		                  pvs_journal_set_affinity(j, &id[4], &aff_pin)))
			ok = 'a';
		if (write(pfd[1], &ok, 1) != 1)
			_exit(3);
		kill(getpid(), SIGKILL);
		_exit(4);
	}
	close(pfd[1]);
	{
		char ok = 0;
		CHECK(read(pfd[0], &ok, 1) == 1 && ok == 'y');
	}
	close(pfd[0]);
	REQUIRE(waitpid(child, &status, 0) == child);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	for (int i = 0; i < 5; i++) {
		CHECKM(aff_is(h[i].tid, i == 3 ? &aff_orig : &aff_pin), "thread %d %s", i,
		       i == 3 ? "not pinned" : "pinned by the dead daemon");
		CHECKM(attr_is(h[i].tid, i == 0 || i == 4 ? orig : A(SCHED_FIFO, 10, ANY_NICE, 1)),
		       "thread %d %s", i, i == 0 || i == 4 ? "not boosted" : "boosted");
	}
	CHECK(count_lines(path, 'A') == 4 && count_lines(path, '+') == 3);
	ht_stop(&h[4]);
	log_reset();
	if (by_open) {
		struct pvs_journal *j;

		REQUIRE(pvs_journal_open(&j, path, cap_log, NULL, err, sizeof(err)) == 0);
		CHECK(log_has("left by a previous instance: restored 4 thread(s); skipped 1 "
		              "gone, 0 with a reused tid"));
		CHECK(pvs_journal_count(j) == 0);
		CHECK(pvs_journal_close(j) == 0);
	} else {
		CHECK(pvs_journal_recover(path, 0, cap_log, NULL, &st, err, sizeof(err)) == 0);
		CHECKM(st.restored == 4 && st.gone == 1 && st.reused == 0 && st.failed == 0 &&
		               st.bad == 0,
		       "each thread counted once: restored %u gone %u", st.restored, st.gone);
	}
	for (int i = 0; i < 4; i++)
		CHECKM(aff_is(h[i].tid, &aff_orig) && attr_is(h[i].tid, orig), "thread %d restored",
		       i);
	snprintf(want, sizeof(want), "restored affinity %s (was %s)",
	         aff_list(&aff_orig, a, sizeof(a)), aff_list(&aff_pin, b, sizeof(b)));
	CHECKM(log_has(want), "log says '%s'", want);
	CHECK(log_has("restored batch nice 2 (was fifo 10 reset-on-fork)"));
	CHECK(count_lines(path, 'A') == 0 && count_lines(path, '+') == 0);
	CHECK(pvs_journal_recover(path, 0, cap_log, NULL, &st, err, sizeof(err)) == 0);
	CHECK(st.restored == 0 && st.gone == 0);
	for (int i = 0; i < 4; i++)
		ht_stop(&h[i]);
}

static void t_aff_kill9_recover(void)
{
	kill9_aff(0);
}

static void t_aff_kill9_open(void)
{
	kill9_aff(1);
}

/* An original no longer settable (its CPU is not there): all online CPUs,
 * a warning, counted as restored. */
static void t_aff_fallback(void)
{
	const char *path = tu_path("aff-fallback/journal");
	struct pvs_journal_stats st;
	struct pvs_thread_id id;
	struct ht h;
	cpu_set_t m;
	char err[256], text[256];
	int cpu = CPU_SETSIZE - 1;

	NEED_AFFINITY();
	if (CPU_ISSET(cpu, &aff_orig) || sysconf(_SC_NPROCESSORS_CONF) > cpu)
		SKIP("CPU %d exists", cpu);
	REQUIRE(tu_mkdir(tu_path("aff-fallback")) == 0);
	ht_start(&h);
	id = ht_id(&h);
	REQUIRE(sched_setaffinity(h.tid, sizeof(aff_pin), &aff_pin) == 0);
	snprintf(text, sizeof(text), "+ %d %d %llu other 0 0 0\nA %d %d %llu %d\n", (int)id.pid,
	         (int)id.tid, (unsigned long long)id.start, (int)id.pid, (int)id.tid,
	         (unsigned long long)id.start, cpu);
	REQUIRE(tu_write_file(path, text, strlen(text), 0600) == 0);
	log_reset();
	CHECK(pvs_journal_recover(path, 0, cap_log, NULL, &st, err, sizeof(err)) == 0);
	CHECKM(st.restored == 1 && st.failed == 0, "restored %u failed %u", st.restored, st.failed);
	CHECK(log_has("cannot be set now") && log_has("all online CPUs"));
	REQUIRE(sched_getaffinity(h.tid, sizeof(m), &m) == 0);
	CPU_AND(&m, &m, &aff_orig);
	CHECKM(CPU_EQUAL(&m, &aff_orig), "unpinned: every CPU the test may use");
	/* the same through the daemon: adopted at open, restored at close */
	REQUIRE(sched_setaffinity(h.tid, sizeof(aff_pin), &aff_pin) == 0);
	REQUIRE(tu_write_file(path, text, strlen(text), 0600) == 0);
	{
		struct pvs_journal *j;

		log_reset();
		REQUIRE(pvs_journal_open(&j, path, cap_log, NULL, err, sizeof(err)) == 0);
		CHECK(log_has("restored 1 thread(s)") && log_has("all online CPUs"));
		CHECK(pvs_journal_set_affinity(j, &id, &aff_pin) == 0);
		CHECK(pvs_journal_close(j) == 0);
	}
	CHECK(aff_is(h.tid, &aff_orig));
	ht_stop(&h);
}

/* A journal of an older pvschedd ('+' and '-' lines only) still recovers,
 * and leaves affinities alone. */
static void t_aff_old_format(void)
{
	const char *path = tu_path("aff-old/journal");
	struct pvs_journal_stats st;
	struct pvs_thread_id a, b;
	struct ht ha, hb;
	char err[256], text[1024];

	NEED_AFFINITY();
	REQUIRE(tu_mkdir(tu_path("aff-old")) == 0);
	ht_start(&ha);
	ht_start(&hb);
	a = ht_id(&ha);
	b = ht_id(&hb);
	REQUIRE(pvs_sched_set(ha.tid, &A(SCHED_FIFO, 7, 0, 1)) == 0);
	REQUIRE(pvs_sched_set(hb.tid, &A(SCHED_RR, 4, 0, 1)) == 0);
	/* pinned by someone else: the journal has no say */
	REQUIRE(sched_setaffinity(ha.tid, sizeof(aff_pin), &aff_pin) == 0);
	snprintf(text, sizeof(text),
	         "# pvsched journal: + PID TID START POLICY PRIO NICE FLAGS | - TID START\n"
	         "+ %d %d %llu batch 0 5 0\n"
	         "+ %d %d %llu other 0 0 0\n"
	         "- %d %llu\n"
	         "+ %d %d %llu other 0 -3 0\n",
	         (int)a.pid, (int)a.tid, (unsigned long long)a.start, (int)b.pid, (int)b.tid,
	         (unsigned long long)b.start, (int)b.tid, (unsigned long long)b.start, (int)b.pid,
	         (int)b.tid, (unsigned long long)b.start);
	REQUIRE(tu_write_file(path, text, strlen(text), 0600) == 0);
	log_reset();
	CHECK(pvs_journal_recover(path, 0, cap_log, NULL, &st, err, sizeof(err)) == 0);
	CHECKM(st.restored == 2 && st.bad == 0, "restored %u bad %u", st.restored, st.bad);
	CHECK(attr_is(ha.tid, A(SCHED_BATCH, 0, 5, 0)));
	CHECK(attr_is(hb.tid, A(SCHED_OTHER, 0, -3, 0)));
	CHECKM(aff_is(ha.tid, &aff_pin), "no 'A' record: affinity not touched");
	CHECK(!log_has("affinity"));
	/* and through open (a new daemon after an old one) */
	REQUIRE(pvs_sched_set(ha.tid, &A(SCHED_FIFO, 7, 0, 1)) == 0);
	REQUIRE(tu_write_file(path, text, strlen(text), 0600) == 0);
	{
		struct pvs_journal *j;

		REQUIRE(pvs_journal_open(&j, path, cap_log, NULL, err, sizeof(err)) == 0);
		CHECK(attr_is(ha.tid, A(SCHED_BATCH, 0, 5, 0)));
		CHECK(pvs_journal_close(j) == 0);
	}
	sched_setaffinity(ha.tid, sizeof(aff_orig), &aff_orig);
	ht_stop(&ha);
	ht_stop(&hb);
}

static void t_aff_parse(void)
{
	static const char *good[] = {
	        "A 1 2 3 0",         "A 1 2 3 0-1",   "A 100 101 123456789 0-3,8,10-1023",
	        "A 5 6 7 1023",      " A\t1 2 3 1 ",  "A 1 2 3 0,2,4,6",
	        "A 1 2 3 0000-0001", "A 1 2 3 7-7,9",
	};
	static const char *bad[] = {
	        "A",
	        "A 1 2 3",
	        "A 1 2 3 0 1",
	        "A 0 2 3 0",
	        "A 1 0 3 0",
	        "A 1 2 -3 0",
	        "a 1 2 3 0",
	        "AA 1 2 3 0",
	        "A 1 2 3 1024",
	        "A 1 2 3 0-1024",
	        "A 1 2 3 99999999999999999999999",
	        "A 1 2 3 3-1",
	        "A 1 2 3 1,",
	        "A 1 2 3 ,1",
	        "A 1 2 3 1,,2",
	        "A 1 2 3 -1",
	        "A 1 2 3 1-",
	        "A 1 2 3 1--2",
	        "A 1 2 3 1-2-3",
	        "A 1 2 3 2,1",
	        "A 1 2 3 0-3,2",
	        "A 1 2 3 1,1",
	        "A 1 2 3 x",
	        "A 1 2 3 0x1",
	        "A 1 2 3 0;1",
	};
	struct pvs_journal_line l, l2;
	const char *why;
	char buf[PVS_JOURNAL_LINE_MAX], small[16];
	size_t n;

	for (size_t i = 0; i < NCASES(good); i++) {
		CHECKM(pvs_journal_parse_line(good[i], strlen(good[i]), &l, NULL) == 0 &&
		               l.op == PVS_JOURNAL_AFFINITY && CPU_COUNT(&l.mask) > 0,
		       "good: '%s'", good[i]);
		n = pvs_journal_format(&l, buf, sizeof(buf));
		CHECKM(n > 0 && buf[n - 1] == '\n' &&
		               pvs_journal_parse_line(buf, n - 1, &l2, NULL) == 0 &&
		               !memcmp(&l, &l2, sizeof(l)),
		       "round trip: '%s' -> '%.*s'", good[i], n ? (int)n - 1 : 0, buf);
	}
	CHECK(pvs_journal_parse_line(good[2], strlen(good[2]), &l, NULL) == 0 && l.id.pid == 100 &&
	      l.id.tid == 101 && l.id.start == 123456789 && CPU_COUNT(&l.mask) == 4 + 1 + 1014 &&
	      CPU_ISSET(8, &l.mask) && !CPU_ISSET(9, &l.mask) && CPU_ISSET(1023, &l.mask) &&
	      l.attr.policy == 0);
	n = pvs_journal_format(&l, buf, sizeof(buf));
	CHECK(n && !strcmp(buf, "A 100 101 123456789 0-3,8,10-1023\n"));
	CHECK(pvs_journal_parse_line("A 1 2 3 0,2,3,4,6", 17, &l, NULL) == 0 &&
	      pvs_journal_format(&l, buf, sizeof(buf)) && !strcmp(buf, "A 1 2 3 0,2-4,6\n"));
	for (size_t i = 0; i < NCASES(bad); i++) {
		why = NULL;
		CHECKM(pvs_journal_parse_line(bad[i], strlen(bad[i]), &l, &why) == -EINVAL && why,
		       "bad: '%s' (%s)", bad[i], why ? why : "?");
	}
	why = NULL;
	CHECK(pvs_journal_parse_line("A 1 2 3 1024", 12, &l, &why) == -EINVAL && why &&
	      strstr(why, "range"));
	/* a length shorter than the string: only LEN bytes count */
	CHECK(pvs_journal_parse_line("A 1 2 3 1-3", 9, &l, NULL) == 0 && CPU_COUNT(&l.mask) == 1 &&
	      CPU_ISSET(1, &l.mask));
	CHECK(pvs_journal_parse_line("A 1 2 3 1,", 9, &l, NULL) == 0);
	/* the longest list: every other CPU */
	memset(&l, 0, sizeof(l));
	l.op = PVS_JOURNAL_AFFINITY;
	l.id = (struct pvs_thread_id){4194304, 4194304, 1234567890123456789u};
	for (int c = 0; c < CPU_SETSIZE; c += 2)
		CPU_SET(c, &l.mask);
	n = pvs_journal_format(&l, buf, sizeof(buf));
	CHECKM(n > 2000 && n < PVS_JOURNAL_LINE_MAX &&
	               pvs_journal_parse_line(buf, n - 1, &l2, NULL) == 0 &&
	               !memcmp(&l, &l2, sizeof(l)),
	       "every other CPU: %zu bytes, round trip", n);
	/* does not fit; an empty mask cannot be written */
	CHECK(pvs_journal_format(&l, small, sizeof(small)) == 0 && small[0] == 0);
	CPU_ZERO(&l.mask);
	CHECK(pvs_journal_format(&l, buf, sizeof(buf)) == 0);
}

/* Compaction keeps the affinity records. */
static void t_aff_compact(void)
{
	const char *path = tu_path("aff-compact/journal");
	struct pvs_journal *j;
	struct pvs_thread_id x, y, z;
	struct ht hx, hy, hz;
	char err[256], line[256], list[128];
	size_t len = 0;
	unsigned char *b;

	NEED_AFFINITY();
	ht_start(&hx);
	ht_start(&hy);
	ht_start(&hz);
	x = ht_id(&hx);
	y = ht_id(&hy);
	z = ht_id(&hz);
	REQUIRE(pvs_sched_set(hx.tid, &A(SCHED_BATCH, 0, 6, 0)) == 0);
	REQUIRE(pvs_journal_open(&j, path, cap_log, NULL, err, sizeof(err)) == 0);
	CHECK(pvs_journal_apply(j, &x, &A(SCHED_FIFO, 2, 0, 0)) == 0);
	CHECK(pvs_journal_set_affinity(j, &x, &aff_pin) == 0);
	CHECK(pvs_journal_set_affinity(j, &z, &aff_pin) == 0);
	for (int i = 0; i < 700; i++) {
		CHECKQ(pvs_journal_set_affinity(j, &y, &aff_pin) == 0);
		CHECKQ(pvs_journal_apply(j, &y, &A(SCHED_FIFO, 1 + i % 50, 0, 0)) == 0);
		CHECKQ(pvs_journal_forget(j, &y) == 0);
	}
	CHECK(attr_is(hy.tid, OTHER0) && aff_is(hy.tid, &aff_orig));
	b = tu_read_file(path, &len);
	CHECKM(b && len < 1100 * 40, "journal compacted: %zu bytes", len);
	free(b);
	snprintf(line, sizeof(line), "+ %d %d %llu batch 0 6 0\n", (int)x.pid, (int)x.tid,
	         (unsigned long long)x.start);
	CHECKM(file_has(path, line), "live record kept: %.*s", (int)strlen(line) - 1, line);
	aff_list(&aff_orig, list, sizeof(list));
	snprintf(line, sizeof(line), "A %d %d %llu %s\n", (int)x.pid, (int)x.tid,
	         (unsigned long long)x.start, list);
	CHECKM(file_has(path, line), "live record kept: %.*s", (int)strlen(line) - 1, line);
	snprintf(line, sizeof(line), "A %d %d %llu %s\n", (int)z.pid, (int)z.tid,
	         (unsigned long long)z.start, list);
	CHECKM(file_has(path, line), "live record kept: %.*s", (int)strlen(line) - 1, line);
	CHECK(pvs_journal_close(j) == 0);
	CHECK(attr_is(hx.tid, A(SCHED_BATCH, 0, 6, 0)));
	CHECK(aff_is(hx.tid, &aff_orig) && aff_is(hz.tid, &aff_orig));
	ht_stop(&hx);
	ht_stop(&hy);
	ht_stop(&hz);
}

/* The same with /proc stat handles instead of pidfds (kernels < 6.9). */
static void t_no_pidfd(void)
{
	NEED_ROOT();
	setenv("PVSCHED_JOURNAL_NO_PIDFD", "1", 1);
	log_reset();
	t_apply_restore();
	t_gone();
	kill9(0);
	t_aff_restore();
	kill9_aff(0);
	{
		struct pvs_journal *j;
		char err[256];

		log_reset();
		REQUIRE(pvs_journal_open(&j, tu_path("nopidfd"), cap_log, NULL, err, sizeof(err)) ==
		        0);
		CHECK(log_has("/proc stat identity handles"));
		pvs_journal_close(j);
	}
	unsetenv("PVSCHED_JOURNAL_NO_PIDFD");
}

static const struct tcase cases[] = {
        {"attr", t_attr},
        {"apply-restore", t_apply_restore},
        {"forget", t_forget},
        {"gone", t_gone},
        {"deadline", t_deadline},
        {"reset-on-fork", t_reset_on_fork},
        {"kill9-recover", t_kill9_recover},
        {"kill9-open", t_kill9_open},
        {"lock", t_lock},
        {"unsafe-file", t_unsafe_file},
        {"corrupt", t_corrupt},
        {"parse", t_parse},
        {"compact", t_compact},
        {"many-applies", t_many_applies},
        {"no-pidfd", t_no_pidfd},
        {"affinity-close", t_aff_close},
        {"affinity-forget", t_aff_forget},
        {"affinity-restore", t_aff_restore},
        {"affinity-kill9-recover", t_aff_kill9_recover},
        {"affinity-kill9-open", t_aff_kill9_open},
        {"affinity-fallback", t_aff_fallback},
        {"affinity-old-format", t_aff_old_format},
        {"affinity-parse", t_aff_parse},
        {"affinity-compact", t_aff_compact},
};

int main(int argc, char **argv)
{
	return run_cases(argc, argv, cases, NCASES(cases));
}
