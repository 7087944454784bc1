/* SPDX-License-Identifier: MIT */
/*
 * daemon/sampler_procfs.c - the procfs sampler.
 *
 * Per vCPU it keeps three open files of /proc/PID/task/TID and reads them
 * with pread, so a sample costs system calls but no path lookups:
 *   schedstat  every period (run ns, run-queue wait ns: ~0.4 us),
 *   stat       only when the schedstat deltas cannot tell a sleeping thread
 *              from one that has waited all period (~1 us),
 *   status     when asked for the involuntary switch count (~3 us; the
 *              daemon asks about once a second per vCPU).
 * An open /proc/PID/task/TID file pins that task's pid: after the thread
 * exits, reads fail with ESRCH even if the tid is reused, so a reused tid
 * is never mistaken for the vCPU.  open() checks the start time once.
 * The files are the sampler's own: a table of them, indexed by the vCPU's
 * sampler handle (pvs_vcpu.slot), grown as vCPUs are opened.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procfs.h"
#include "sampler.h"

static int open_task_file(const struct pvs_thread_id *id, const char *what)
{
	char path[80];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", (int)id->pid, (int)id->tid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* The open files of one vCPU; an entry with schedstat < 0 is free. */
struct task_files {
	int schedstat, stat, status;
};

static struct {
	struct task_files *f;
	uint32_t n, cap; /* entries in use up to N, allocated CAP */
} P;

/* A free entry (its files all -1), or -ENOMEM. */
static int entry_get(void)
{
	for (uint32_t i = 0; i < P.n; i++)
		if (P.f[i].schedstat < 0 && P.f[i].stat < 0 && P.f[i].status < 0)
			return (int)i;
	if (P.n == P.cap) {
		uint32_t cap = P.cap ? 2 * P.cap : 64;
		struct task_files *f = realloc(P.f, cap * sizeof(*f));

		if (!f)
			return -ENOMEM;
		P.f = f;
		P.cap = cap;
	}
	P.f[P.n].schedstat = P.f[P.n].stat = P.f[P.n].status = -1;
	return (int)P.n++;
}

/* Close what T holds (a -errno left by a failed open is not a file); T is
 * free again. */
static void files_close(struct task_files *t)
{
	if (t->schedstat >= 0)
		close(t->schedstat);
	if (t->stat >= 0)
		close(t->stat);
	if (t->status >= 0)
		close(t->status);
	t->schedstat = t->stat = t->status = -1;
}

static void procfs_close(struct pvs_vcpu *v)
{
	if (v->slot < 0)
		return;
	assert((uint32_t)v->slot < P.n);
	files_close(&P.f[v->slot]);
	v->slot = -1;
}

static int procfs_open(struct pvs_vcpu *v)
{
	struct task_files *t;
	char buf[1024];
	uint64_t start = 0;
	ssize_t n;
	int rc;

	procfs_close(v);
	rc = entry_get();
	if (rc < 0)
		return rc;
	v->slot = rc;
	t = &P.f[rc];
	t->stat = open_task_file(&v->id, "stat");
	if (t->stat < 0) {
		rc = t->stat;
		goto fail;
	}
	/* Identity check after opening: from here on the fd pins this task. */
	n = pvs_pread_all(t->stat, buf, sizeof(buf));
	if (n < 0 || pvs_parse_stat(buf, (size_t)n, NULL, 0, NULL, &start) < 0 ||
	    start != v->id.start) {
		rc = -ESRCH;
		goto fail;
	}
	t->schedstat = open_task_file(&v->id, "schedstat");
	if (t->schedstat < 0) {
		rc = t->schedstat;
		goto fail;
	}
	t->status = open_task_file(&v->id, "status");
	if (t->status < 0) {
		rc = t->status;
		goto fail;
	}
	return 0;
fail:
	procfs_close(v);
	return rc == -ENOENT ? -ESRCH : rc;
}

static void procfs_fini(void)
{
	for (uint32_t i = 0; i < P.n; i++)
		files_close(&P.f[i]);
	free(P.f);
	memset(&P, 0, sizeof(P));
}

static int procfs_sample(struct pvs_vcpu *v, uint64_t now_ns, int need_invol,
                         struct pvs_vcpu_sample *out)
{
	const struct task_files *t;
	char buf[1536];
	ssize_t n;

	out->involuntary = PVS_NO_VALUE;
	out->task_state = 0;
	if (v->slot < 0)
		return -ESRCH; /* not open */
	t = &P.f[v->slot];
	n = pvs_pread_all(t->schedstat, buf, 128);
	if (n <= 0)
		return n == 0 ? -ESRCH : (int)n;
	if (pvs_parse_schedstat(buf, (size_t)n, &out->run_ns, &out->wait_ns) < 0)
		return -EINVAL;
	if (pvs_vcpu_need_state(&v->track, out->run_ns, out->wait_ns, now_ns)) {
		n = pvs_pread_all(t->stat, buf, sizeof(buf));
		if (n <= 0)
			return n == 0 ? -ESRCH : (int)n;
		if (pvs_parse_stat(buf, (size_t)n, NULL, 0, &out->task_state, NULL) < 0)
			return -EINVAL;
	}
	if (need_invol) {
		n = pvs_pread_all(t->status, buf, sizeof(buf));
		if (n <= 0)
			return n == 0 ? -ESRCH : (int)n;
		if (pvs_parse_invol(buf, (size_t)n, &out->involuntary) < 0)
			out->involuntary = PVS_NO_VALUE;
	}
	return 0;
}

const struct pvs_sampler_ops pvs_sampler_procfs = {
        .name = "procfs",
        .init = NULL,
        .fini = procfs_fini,
        .open = procfs_open,
        .close = procfs_close,
        .sample = procfs_sample,
};
