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
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

static void procfs_close(struct pvs_vcpu *v)
{
	if (v->fd_schedstat >= 0)
		close(v->fd_schedstat);
	if (v->fd_stat >= 0)
		close(v->fd_stat);
	if (v->fd_status >= 0)
		close(v->fd_status);
	v->fd_schedstat = v->fd_stat = v->fd_status = -1;
}

static int procfs_open(struct pvs_vcpu *v)
{
	char buf[1024];
	uint64_t start = 0;
	ssize_t n;
	int rc;

	procfs_close(v);
	v->fd_stat = open_task_file(&v->id, "stat");
	if (v->fd_stat < 0) {
		rc = v->fd_stat;
		goto fail;
	}
	/* Identity check after opening: from here on the fd pins this task. */
	n = pvs_pread_all(v->fd_stat, buf, sizeof(buf));
	if (n < 0 || pvs_parse_stat(buf, (size_t)n, NULL, 0, NULL, &start) < 0 ||
	    start != v->id.start) {
		rc = -ESRCH;
		goto fail;
	}
	v->fd_schedstat = open_task_file(&v->id, "schedstat");
	if (v->fd_schedstat < 0) {
		rc = v->fd_schedstat;
		goto fail;
	}
	v->fd_status = open_task_file(&v->id, "status");
	if (v->fd_status < 0) {
		rc = v->fd_status;
		goto fail;
	}
	return 0;
fail:
	procfs_close(v);
	return rc == -ENOENT ? -ESRCH : rc;
}

static int procfs_sample(struct pvs_vcpu *v, uint64_t now_ns, int need_invol,
                         struct pvs_vcpu_sample *out)
{
	char buf[1536];
	ssize_t n;

	out->involuntary = PVS_NO_VALUE;
	out->task_state = 0;
	n = pvs_pread_all(v->fd_schedstat, buf, 128);
	if (n <= 0)
		return n == 0 ? -ESRCH : (int)n;
	if (pvs_parse_schedstat(buf, (size_t)n, &out->run_ns, &out->wait_ns) < 0)
		return -EINVAL;
	if (pvs_vcpu_need_state(&v->track, out->run_ns, out->wait_ns, now_ns)) {
		n = pvs_pread_all(v->fd_stat, buf, sizeof(buf));
		if (n <= 0)
			return n == 0 ? -ESRCH : (int)n;
		if (pvs_parse_stat(buf, (size_t)n, NULL, 0, &out->task_state, NULL) < 0)
			return -EINVAL;
	}
	if (need_invol) {
		n = pvs_pread_all(v->fd_status, buf, sizeof(buf));
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
        .fini = NULL,
        .open = procfs_open,
        .close = procfs_close,
        .sample = procfs_sample,
};
