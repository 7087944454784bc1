/* SPDX-License-Identifier: MIT */
/*
 * journal/journal_line.c - the journal file's lines (see journal_line.h):
 * tokens, parse and format (CPU lists: common/cpuset.c).  Pure: no I/O, no
 * clocks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "journal_internal.h"
#include "pvs_decimal.h"

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static int tok_int(const char *s, size_t n, int min, int max, int *out)
{
	uint64_t v;
	int neg = n > 0 && s[0] == '-';

	if (pvs_dec_u64(s + neg, n - (size_t)neg, &v) || v > 1000000000u)
		return -1;
	if ((neg ? -(int64_t)v : (int64_t)v) < min || (neg ? -(int64_t)v : (int64_t)v) > max)
		return -1;
	*out = neg ? -(int)v : (int)v;
	return 0;
}

/* The CPU list of M ("0-3,8") into BUF: its length, or 0 (BUF "") when M
 * is empty or the list does not fit in LEN. */
static size_t cpulist_fmt(const cpu_set_t *m, char *buf, size_t len)
{
	struct pvs_cpuset s;

	pvs_cpuset_from_cpu_set(&s, m);
	return pvs_cpuset_format(&s, buf, len);
}

const char *pvs__cpulist_str(const cpu_set_t *m, char *buf, size_t len)
{
	if (!cpulist_fmt(m, buf, len))
		snprintf(buf, len, "%d CPUs", CPU_COUNT(m));
	return buf;
}

int pvs_journal_parse_line(const char *line, size_t len, struct pvs_journal_line *out,
                           const char **why)
{
	const char *tok[9], *dummy;
	size_t tlen[9], nt = 0, i = 0;
	uint64_t u;
	int v;

	if (!why)
		why = &dummy;
	memset(out, 0, sizeof(*out));
	while (i < len && is_space(line[i]))
		i++;
	if (i == len || line[i] == '#')
		return 0; /* empty, or a comment */
	while (i < len) {
		while (i < len && is_space(line[i]))
			i++;
		if (i >= len)
			break;
		if (nt == 9) {
			*why = "too many fields";
			return -EINVAL;
		}
		tok[nt] = line + i;
		while (i < len && !is_space(line[i]))
			i++;
		tlen[nt] = (size_t)(line + i - tok[nt]);
		nt++;
	}
	if (tlen[0] != 1 || (tok[0][0] != '+' && tok[0][0] != '-' && tok[0][0] != 'A')) {
		*why = "not a record";
		return -EINVAL;
	}
	if (tok[0][0] == '-') {
		if (nt != 3) {
			*why = "'-' takes TID START";
			return -EINVAL;
		}
		if (tok_int(tok[1], tlen[1], 1, INT32_MAX, &v)) {
			*why = "bad tid";
			return -EINVAL;
		}
		out->id.tid = v;
		if (pvs_dec_u64(tok[2], tlen[2], &out->id.start)) {
			*why = "bad start time";
			return -EINVAL;
		}
		out->op = PVS_JOURNAL_DEL;
		return 0;
	}
	if (tok[0][0] == 'A' && nt != 5) {
		*why = "'A' takes PID TID START CPULIST";
		return -EINVAL;
	}
	if (tok[0][0] == '+' && nt != 8) {
		*why = "'+' takes PID TID START POLICY PRIO NICE FLAGS";
		return -EINVAL;
	}
	if (tok_int(tok[1], tlen[1], 1, INT32_MAX, &v)) {
		*why = "bad pid";
		return -EINVAL;
	}
	out->id.pid = v;
	if (tok_int(tok[2], tlen[2], 1, INT32_MAX, &v)) {
		*why = "bad tid";
		return -EINVAL;
	}
	out->id.tid = v;
	if (pvs_dec_u64(tok[3], tlen[3], &out->id.start)) {
		*why = "bad start time";
		return -EINVAL;
	}
	if (tok[0][0] == 'A') {
		struct pvs_cpuset s;

		/* ascending: a line is only ever written by pvs_cpuset_format() */
		if (pvs_cpuset_parse(tok[4], tlen[4], PVS_CPUSET_ASCENDING, &s, why))
			return -EINVAL;
		pvs_cpuset_to_cpu_set(&s, &out->mask);
		out->op = PVS_JOURNAL_AFFINITY;
		return 0;
	}
	if (pvs__policy_parse(tok[4], tlen[4], &out->attr.policy)) {
		*why = "unknown policy";
		return -EINVAL;
	}
	if (tok_int(tok[5], tlen[5], 0, 99, &out->attr.prio) ||
	    tok_int(tok[6], tlen[6], -20, 19, &out->attr.nice) ||
	    pvs_dec_u64(tok[7], tlen[7], &u) || u > PVS_SCHED_RESET_ON_FORK) {
		*why = "bad priority, nice or flags";
		return -EINVAL;
	}
	out->attr.flags = (unsigned)u;
	if (!pvs__attr_valid(&out->attr)) {
		*why = "priority does not fit the policy";
		return -EINVAL;
	}
	out->op = PVS_JOURNAL_ADD;
	return 0;
}

size_t pvs_journal_format(const struct pvs_journal_line *l, char *buf, size_t len)
{
	int n;

	if (l->op == PVS_JOURNAL_AFFINITY) {
		size_t k;

		n = snprintf(buf, len, "A %d %d %" PRIu64 " ", (int)l->id.pid, (int)l->id.tid,
		             l->id.start);
		if (n < 0 || (size_t)n >= len ||
		    !(k = cpulist_fmt(&l->mask, buf + n, len - (size_t)n)) ||
		    (size_t)n + k + 1 >= len) {
			if (len)
				buf[0] = 0;
			return 0;
		}
		buf[n + k] = '\n';
		buf[n + k + 1] = 0;
		return (size_t)n + k + 1;
	}
	if (l->op == PVS_JOURNAL_ADD)
		n = snprintf(buf, len, "+ %d %d %" PRIu64 " %s %d %d %u\n", (int)l->id.pid,
		             (int)l->id.tid, l->id.start, pvs__policy_name(l->attr.policy),
		             l->attr.prio, l->attr.nice, l->attr.flags);
	else
		n = snprintf(buf, len, "- %d %" PRIu64 "\n", (int)l->id.tid, l->id.start);
	if (n < 0 || (size_t)n >= len) {
		if (len)
			buf[0] = 0;
		return 0;
	}
	return (size_t)n;
}
