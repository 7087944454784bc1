/* SPDX-License-Identifier: MIT */
/*
 * daemon/cgroup.c - a VM's CPU weight from its cgroup (cgroup.h).
 *
 * Which cgroup is the VM's own:
 *   - the one named by its config ([vm NAME] cgroup = /sys/fs/cgroup/...),
 *     taken as given (cgroup = none: never look);
 *   - else the cgroup of its process (/proc/PID/cgroup: the v1 hierarchy
 *     with the cpu controller if there is one, else cgroup v2), raised out
 *     of libvirt's per-thread children (emulator, vcpuN, v2's libvirt/) to
 *     the VM's scope (machine.slice/machine-qemu-N-NAME.scope), and only
 *     if no other process lives anywhere in its subtree: the root, a user
 *     session or a service shared with other programs is not the VM's, and
 *     its weight says nothing about the VM.
 * Its weight: cpu.weight (v2) or cpu.shares (v1), normalised to pvsched's
 * shares (pvs_cs_shares_from_cgroup).  Everything here only reads.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "coschedd.h"
#include "log.h"
#include "procfs.h"

#define RECHECK_NS 1000000000ull /* a weight is re-read once a second */

static int copy(char *dst, size_t len, const char *s, size_t n)
{
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(dst, s, n);
	dst[n] = 0;
	return 0;
}

/* Is WORD one of the comma-separated items of LIST[0..n)? */
static int in_list(const char *list, size_t n, const char *word)
{
	size_t wl = strlen(word);
	const char *p = list, *end = list + n;

	while (p < end) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		size_t l = (size_t)((c ? c : end) - p);

		if (l == wl && !memcmp(p, word, wl))
			return 1;
		p += l + 1;
	}
	return 0;
}

int pvs_cgroup_parse_proc(const char *text, char *path, size_t len, int *v1)
{
	const char *line = text, *v2path = NULL;
	size_t v2len = 0;

	while (*line) {
		const char *nl = strchr(line, '\n');
		const char *end = nl ? nl : line + strlen(line);
		const char *c1 = memchr(line, ':', (size_t)(end - line));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;

		if (c2 && c2 + 1 < end && c2[1] == '/') {
			if (c2 == c1 + 1 && c1 - line == 1 && line[0] == '0') {
				v2path = c2 + 1;
				v2len = (size_t)(end - v2path);
			} else if (in_list(c1 + 1, (size_t)(c2 - c1 - 1), "cpu")) {
				*v1 = 1;
				return copy(path, len, c2 + 1, (size_t)(end - c2 - 1));
			}
		}
		line = nl ? nl + 1 : end;
	}
	if (!v2path)
		return -ENOENT;
	*v1 = 0;
	return copy(path, len, v2path, v2len);
}

/* Field I (0-based) of a space-separated line; its length in *N. */
static const char *field(const char *s, const char *end, int i, size_t *n)
{
	for (; i > 0 && s < end; i--) {
		const char *sp = memchr(s, ' ', (size_t)(end - s));

		if (!sp)
			return NULL;
		s = sp + 1;
	}
	if (s >= end)
		return NULL;
	{
		const char *sp = memchr(s, ' ', (size_t)(end - s));

		*n = (size_t)((sp ? sp : end) - s);
	}
	return s;
}

int pvs_cgroup_parse_mountinfo(const char *text, int v1, char *mnt, size_t mlen, char *root,
                               size_t rlen)
{
	const char *line = text;

	while (*line) {
		const char *nl = strchr(line, '\n');
		const char *end = nl ? nl : line + strlen(line);
		const char *sep = NULL;
		size_t rn, mn, tn, on;
		const char *r = field(line, end, 3, &rn), *m = field(line, end, 4, &mn), *t, *o;

		/* the optional fields end with " - " */
		for (const char *p = line; p + 3 <= end; p++)
			if (!memcmp(p, " - ", 3)) {
				sep = p + 3;
				break;
			}
		t = sep ? field(sep, end, 0, &tn) : NULL;
		o = sep ? field(sep, end, 2, &on) : NULL;
		if (r && m && t && o) {
			int hit = v1 ? tn == 6 && !memcmp(t, "cgroup", 6) && in_list(o, on, "cpu")
			             : tn == 7 && !memcmp(t, "cgroup2", 7);

			if (hit) {
				if (copy(mnt, mlen, m, mn) || copy(root, rlen, r, rn))
					return -ENAMETOOLONG;
				return 0;
			}
		}
		line = nl ? nl + 1 : end;
	}
	return -ENOENT;
}

static int is_vcpu_dir(const char *name)
{
	if (strncmp(name, "vcpu", 4) || !name[4])
		return 0;
	for (const char *p = name + 4; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

/* Drop OUT's last component ("/a/b" -> "/a", "/a" -> "/"); its name. */
static const char *last(const char *out)
{
	const char *slash = strrchr(out, '/');

	return slash ? slash + 1 : out;
}

static void up(char *out)
{
	char *slash = strrchr(out, '/');

	if (slash == out)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
}

int pvs_cgroup_vm_path(const char *proc_path, char *out, size_t len)
{
	size_t n = strlen(proc_path);

	if (copy(out, len, proc_path, n))
		return -ENAMETOOLONG;
	while (n > 1 && out[n - 1] == '/')
		out[--n] = 0;
	/* libvirt: v1 .../scope/{emulator,vcpuN}; v2 .../scope/libvirt/
	 * {emulator,vcpuN} (and the process itself in .../scope/libvirt) */
	if (!strcmp(last(out), "emulator") || is_vcpu_dir(last(out)))
		up(out);
	if (!strcmp(last(out), "libvirt"))
		up(out);
	return 0;
}

int pvs_cgroup_parse_value(const char *text, uint64_t *value)
{
	uint64_t v = 0;
	const char *p = text;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '\n')
		p++;
	if (*p)
		return -EINVAL;
	*value = v;
	return 0;
}

/* 1 if no process but PID lives in DIR's subtree, 0 if one does, -errno. */
static int only_pid(const char *dir, pid_t pid, int depth)
{
	char path[PVS_PATH_MAX + 32], buf[4096];
	ssize_t n;
	DIR *dd;
	struct dirent *e;
	int rc = 1;

	if (snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	n = pvs_read_file(path, buf, sizeof(buf));
	if (n == -EOPNOTSUPP)
		n = 0; /* v2 threaded cgroup: threads of processes above */
	if (n < 0)
		return (int)n;
	if ((size_t)n >= sizeof(buf) - 1)
		return 0; /* that many processes are not all PID */
	for (char *p = buf; *p;) {
		char *end;
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		if (v != pid)
			return 0;
		p = end;
		while (*p == '\n')
			p++;
	}
	if (depth >= 3)
		return 1; /* libvirt nests two deep; deeper trees are not read */
	dd = opendir(dir);
	if (!dd)
		return -errno;
	while (rc == 1 && (e = readdir(dd))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= PVS_PATH_MAX)
			continue;
		rc = only_pid(path, pid, depth + 1);
	}
	closedir(dd);
	return rc;
}

/* The weight file of VM's own cgroup into FILE (with its version in *V1);
 * 1 found, 0 none (NOTE says why, or "" when it is simply the root or the
 * process is gone), -errno with NOTE. */
static int find_auto(const struct pvs_vm *vm, char *file, size_t flen, int *v1, char *note,
                     size_t nlen)
{
	char path[PVS_PATH_MAX + 64], cg[PVS_PATH_MAX], vmcg[PVS_PATH_MAX];
	char mnt[PVS_PATH_MAX], root[PVS_PATH_MAX];
	char *mi;
	const char *rel;
	ssize_t n;
	int rc;

	note[0] = 0;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)vm->proc.pid);
	{
		char buf[4096];

		n = pvs_read_file(path, buf, sizeof(buf));
		if (n < 0)
			return 0; /* the VM is exiting: discovery will see it */
		rc = pvs_cgroup_parse_proc(buf, cg, sizeof(cg), v1);
	}
	if (rc < 0) {
		snprintf(note, nlen, "%s: no cpu controller or cgroup v2 line", path);
		return rc;
	}
	if (pvs_cgroup_vm_path(cg, vmcg, sizeof(vmcg)) < 0) {
		snprintf(note, nlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	if (!strcmp(vmcg, "/"))
		return 0; /* the root: no cgroup of its own */
	mi = malloc(1 << 20);
	if (!mi)
		return -ENOMEM;
	n = pvs_read_file("/proc/self/mountinfo", mi, 1 << 20);
	rc = n < 0 ? (int)n
	           : pvs_cgroup_parse_mountinfo(mi, *v1, mnt, sizeof(mnt), root, sizeof(root));
	free(mi);
	if (rc < 0) {
		snprintf(note, nlen, "cgroup %s: no %s mount in /proc/self/mountinfo", vmcg,
		         *v1 ? "cgroup v1 cpu" : "cgroup2");
		return rc;
	}
	rel = vmcg;
	if (strcmp(root, "/")) {
		size_t rl = strlen(root);

		if (strncmp(vmcg, root, rl) || (vmcg[rl] && vmcg[rl] != '/')) {
			snprintf(note, nlen, "cgroup %s: outside the mount of %s (root %s)", vmcg,
			         mnt, root);
			return -ENOENT;
		}
		rel = vmcg + rl;
	}
	if (snprintf(path, sizeof(path), "%s%s", mnt, rel) >= PVS_PATH_MAX) {
		snprintf(note, nlen, "cgroup %s: path too long", vmcg);
		return -ENAMETOOLONG;
	}
	rc = only_pid(path, vm->proc.pid, 0);
	if (rc < 0) {
		snprintf(note, nlen, "cgroup %s: %s", path, strerror(-rc));
		return rc;
	}
	if (!rc) {
		snprintf(note, nlen,
		         "cgroup %s holds other processes too: not the VM's own, "
		         "its weight is not used",
		         path);
		return 0;
	}
	if (snprintf(file, flen, "%s/%s", path, *v1 ? "cpu.shares" : "cpu.weight") >= (int)flen) {
		snprintf(note, nlen, "cgroup %s: path too long", path);
		return -ENAMETOOLONG;
	}
	return 1;
}

/* A cgroup the operator named: cpu.weight if it has one, else cpu.shares. */
static int find_named(const char *dir, char *file, size_t flen, int *v1)
{
	struct stat st;

	if (snprintf(file, flen, "%s/cpu.weight", dir) >= (int)flen)
		return -ENAMETOOLONG;
	*v1 = 0;
	if (stat(file, &st) == 0)
		return 1;
	*v1 = 1;
	if (snprintf(file, flen, "%s/cpu.shares", dir) >= (int)flen)
		return -ENAMETOOLONG;
	return 1;
}

/* WEIGHT_FILE's cgroup has a cpu.rt_runtime_us of 0. */
static int no_rt_time(const char *weight_file)
{
	char path[PVS_PATH_MAX + 32], buf[32];
	const char *slash = strrchr(weight_file, '/');
	uint64_t v;

	if (!slash || snprintf(path, sizeof(path), "%.*s/cpu.rt_runtime_us",
	                       (int)(slash - weight_file), weight_file) >= (int)sizeof(path))
		return 0;
	return pvs_read_file(path, buf, sizeof(buf)) > 0 && !pvs_cgroup_parse_value(buf, &v) &&
	       v == 0;
}

void pvs_cgroup_update(struct pvs_daemon *d, struct pvs_vm *vm, uint64_t now)
{
	const struct pvs_config_vm *c;
	char file[PVS_PATH_MAX + 16], note[sizeof(vm->cg_note)], buf[64];
	uint32_t shares = 0;
	uint64_t value = 0;
	int v1 = 0, rc, rt0 = 0;

	if (now < vm->cg_next_ns)
		return;
	c = pvs_vm_conf(d->cfg, vm);
	vm->cg_next_ns = now + RECHECK_NS;
	file[0] = note[0] = 0;
	if (c && !strcmp(c->cgroup, "none"))
		rc = 0;
	else if (c && c->cgroup[0])
		rc = find_named(c->cgroup, file, sizeof(file), &v1);
	else
		rc = find_auto(vm, file, sizeof(file), &v1, note, sizeof(note));
	if (rc < 0 && !note[0])
		snprintf(note, sizeof(note), "cgroup of %s: %s",
		         c && c->cgroup[0] ? c->cgroup : "it", strerror(-rc));
	if (rc > 0) {
		ssize_t n = pvs_read_file(file, buf, sizeof(buf));

		for (char *q = buf; n > 0 && *q; q++)
			if (*q == '\n' && !q[1])
				*q = 0; /* the file's own newline */
			else if (*q < ' ' || *q > '~')
				*q = '?'; /* the log line stays one line */
		if (n < 0)
			snprintf(note, sizeof(note), "cgroup file %s: %s", file, strerror((int)-n));
		else if (pvs_cgroup_parse_value(buf, &value) < 0 ||
		         !(shares = pvs_cs_shares_from_cgroup(v1, value)))
			snprintf(note, sizeof(note),
			         "cgroup file %s: malformed or out of range (\"%.20s\", expected "
			         "%s)",
			         file, buf, v1 ? "2..262144" : "1..10000");
	}
	vm->cg_shares = shares;
	snprintf(vm->cg_file, sizeof(vm->cg_file), "%s", shares ? file : "");
	if (shares)
		snprintf(note, sizeof(note), "%s = %llu", file, (unsigned long long)value);
	if (shares && v1 && no_rt_time(file)) {
		/* RT group scheduling (v1): the kernel refuses SCHED_FIFO to
		 * threads of a cgroup without RT time - gang and boost fail */
		size_t l = strlen(note);

		snprintf(note + l, sizeof(note) - l,
		         "; its cpu.rt_runtime_us is 0: the kernel refuses SCHED_FIFO there, "
		         "gang and boost cannot raise its threads until it has RT time");
		rt0 = 1;
	}
	if (!strcmp(note, vm->cg_note))
		return;
	if (!note[0])
		log_info("vm %s: no cgroup weight of its own any more; shares %u", vm->name,
		         pvs_cosched_shares(d, vm));
	snprintf(vm->cg_note, sizeof(vm->cg_note), "%s", note);
	if (shares)
		pvs_log(rt0 ? PVS_LOG_WARN : PVS_LOG_INFO,
		        "vm %s: shares %u from its cgroup (%s)%s", vm->name, shares, note,
		        pvs_cosched_shares(d, vm) != shares ? "; overridden (config or pvschedctl)"
		                                            : "");
	else if (rc < 0 || (rc > 0 && note[0])) /* an error: NOTE names the file */
		log_warn("vm %s: %s; shares %u, not from its cgroup", vm->name, note,
		         pvs_cosched_shares(d, vm));
	else if (note[0]) /* none of its own, and why */
		log_info("vm %s: %s", vm->name, note);
}
