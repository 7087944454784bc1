/* SPDX-License-Identifier: MIT */
/*
 * journal/sched_attr.c - a thread's scheduling attributes (see
 * sched_attr.h): the policies the journal knows, sched_getattr and
 * sched_setattr, and putting an original back.
 */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "journal_internal.h"

#ifndef SCHED_BATCH
#define SCHED_BATCH 3
#endif
#ifndef SCHED_IDLE
#define SCHED_IDLE 5
#endif
#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif
#ifndef SCHED_EXT
#define SCHED_EXT 7
#endif
#ifndef SCHED_FLAG_RESET_ON_FORK
#define SCHED_FLAG_RESET_ON_FORK 0x01
#endif

/* The kernel's struct sched_attr (SCHED_ATTR_SIZE_VER1).  Our own tag, so it
 * clashes neither with <linux/sched/types.h> nor with glibc >= 2.41, which
 * define struct sched_attr themselves. */
struct pvs_ksched_attr {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
	uint32_t sched_util_min, sched_util_max;
};

static const struct {
	int policy;
	const char *name;
} policies[] = {{SCHED_OTHER, "other"}, {SCHED_BATCH, "batch"}, {SCHED_IDLE, "idle"},
                {SCHED_FIFO, "fifo"},   {SCHED_RR, "rr"},       {SCHED_EXT, "ext"}};

const char *pvs__policy_name(int p)
{
	for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
		if (policies[i].policy == p)
			return policies[i].name;
	return p == SCHED_DEADLINE ? "deadline" : NULL;
}

int pvs__policy_parse(const char *s, size_t n, int *policy)
{
	int found = 0;

	for (size_t p = 0; p < sizeof(policies) / sizeof(policies[0]); p++)
		if (strlen(policies[p].name) == n && !memcmp(policies[p].name, s, n)) {
			*policy = policies[p].policy;
			found = 1;
		}
	return found ? 0 : -EINVAL;
}

static int is_rt(int p)
{
	return p == SCHED_FIFO || p == SCHED_RR;
}

/* Policies whose nice sched_setattr sets (and sched_getattr reports). */
static int fair(int p)
{
	return p == SCHED_OTHER || p == SCHED_BATCH;
}

int pvs__attr_valid(const struct pvs_sched_attr *a)
{
	if (!pvs__policy_name(a->policy) || a->policy == SCHED_DEADLINE)
		return 0;
	if (is_rt(a->policy) ? (a->prio < 1 || a->prio > 99) : a->prio != 0)
		return 0;
	return a->nice >= -20 && a->nice <= 19 && !(a->flags & ~PVS_SCHED_RESET_ON_FORK);
}

int pvs_sched_attr_check(const struct pvs_sched_attr *a)
{
	/* what apply may set: no SCHED_EXT (it needs a BPF scheduler) */
	return a && pvs__attr_valid(a) && a->policy != SCHED_EXT ? 0 : -EINVAL;
}

const char *pvs_sched_attr_str(const struct pvs_sched_attr *a, char *buf, size_t len)
{
	const char *n = pvs__policy_name(a->policy);
	const char *rof = (a->flags & PVS_SCHED_RESET_ON_FORK) ? " reset-on-fork" : "";

	if (!n)
		snprintf(buf, len, "policy %d%s", a->policy, rof);
	else if (is_rt(a->policy))
		snprintf(buf, len, "%s %d%s", n, a->prio, rof);
	else if (a->policy == SCHED_DEADLINE)
		snprintf(buf, len, "%s%s", n, rof);
	else
		snprintf(buf, len, "%s nice %d%s", n, a->nice, rof);
	return buf;
}

int pvs_sched_get(pid_t tid, struct pvs_sched_attr *a)
{
	struct pvs_ksched_attr k;

	memset(&k, 0, sizeof(k));
	if (syscall(SYS_sched_getattr, tid, &k, (unsigned)sizeof(k), 0u) < 0)
		return -errno;
	a->policy = (int)k.sched_policy;
	a->prio = is_rt(a->policy) ? (int)k.sched_priority : 0;
	a->nice = k.sched_nice;
	a->flags = (k.sched_flags & SCHED_FLAG_RESET_ON_FORK) ? PVS_SCHED_RESET_ON_FORK : 0;
	if (!fair(a->policy) && a->policy != SCHED_DEADLINE) {
		/* sched_getattr reports no nice for these; the thread keeps one
		 * (it counts again if the thread goes back to SCHED_OTHER) */
		int n;

		errno = 0;
		n = getpriority(PRIO_PROCESS, (id_t)tid);
		if (n == -1 && errno)
			return -errno;
		a->nice = n;
	}
	return pvs__attr_valid(a) ? 0 : -EOPNOTSUPP;
}

int pvs_sched_set(pid_t tid, const struct pvs_sched_attr *a)
{
	struct pvs_ksched_attr k;

	if (!pvs__attr_valid(a))
		return -EINVAL;
	memset(&k, 0, sizeof(k));
	k.size = sizeof(k);
	k.sched_policy = (uint32_t)a->policy;
	k.sched_flags = (a->flags & PVS_SCHED_RESET_ON_FORK) ? SCHED_FLAG_RESET_ON_FORK : 0;
	k.sched_nice = a->nice;
	k.sched_priority = is_rt(a->policy) ? (uint32_t)a->prio : 0;
	if (syscall(SYS_sched_setattr, tid, &k, 0u) < 0)
		return -errno;
	return 0;
}

int pvs__sched_set_orig(pid_t tid, const struct pvs_sched_attr *a)
{
	int r = pvs_sched_set(tid, a);

	if (!r && !fair(a->policy) && setpriority(PRIO_PROCESS, (id_t)tid, a->nice) < 0)
		r = -errno;
	return r;
}
