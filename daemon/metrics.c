/* SPDX-License-Identifier: MIT */
/*
 * daemon/metrics.c - the Prometheus text exposition format (0.0.4) of
 * pvschedd's state; docs/metrics.md lists every family.
 *
 * Families are written one after the other (all samples of a family
 * together, `# HELP` and `# TYPE` once, before its first sample); a family
 * without samples (no VM yet) is left out.  Cumulative times are counters
 * in seconds, printed exactly from nanoseconds.  Label values are escaped
 * as the format requires (backslash, double quote, newline).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boostd.h"
#include "coschedd.h"
#include "metrics.h"
#include "status.h"

/* ---------- a growing text buffer ---------- */

struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void bput(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *np;

		while (b->len + n + 1 > cap)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void bputs(struct buf *b, const char *s)
{
	bput(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void bprintf(struct buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	bput(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A label value: \ " and newline escaped (the format's rule). */
static void put_label_value(struct buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '\\': bputs(b, "\\\\"); break;
		case '"': bputs(b, "\\\""); break;
		case '\n': bputs(b, "\\n"); break;
		default: bput(b, s, 1);
		}
	}
}

/* HELP text: \ and newline escaped. */
static void put_help(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			bputs(b, "\\\\");
		else if (*s == '\n')
			bputs(b, "\\n");
		else
			bput(b, s, 1);
	}
}

/* ---------- the families ---------- */

enum scope { S_DAEMON, S_VM, S_VCPU };
enum vkind { V_NS, V_U64, V_DBL };

struct val {
	enum vkind kind;
	uint64_t u;        /* V_NS (nanoseconds, printed as seconds), V_U64 */
	double d;          /* V_DBL */
	const char *label; /* the value of the family's extra label */
};

enum fid {
	F_DAEMON_INFO,
	F_DAEMON_UPTIME,
	F_DAEMON_PERIOD,
	F_DAEMON_VMS,
	F_DAEMON_SAMPLES,
	F_DAEMON_SAMPLE_ERRORS,
	F_DAEMON_RESCANS,
	F_DAEMON_BOOST_AVAILABLE,
	F_DAEMON_BOOST_SCANS,
	F_DAEMON_BOOST_SYSCALLS,
	F_DAEMON_COSCHED_SYSCALLS,
	F_DAEMON_RT_THREADS,
	F_VM_INFO,
	F_VM_VCPUS,
	F_VM_HOST_CPUS,
	F_VM_CAPACITY,
	F_VM_ADVICE,
	F_VM_PREEMPTED,
	F_VM_REGION_OK,
	F_VM_BOOST_ENABLED,
	F_VM_POLICY_INFO,
	F_VM_SHARES,
	F_VM_GANG,
	F_VM_SHARED_VCPUS,
	F_VCPU_UP,
	F_VCPU_RUN,
	F_VCPU_READY,
	F_VCPU_COSTOP,
	F_VCPU_LIMITED,
	F_VCPU_BOOST,
	F_VCPU_PREEMPTIONS,
	F_VCPU_BOOSTS,
	F_VCPU_THROTTLES,
	F_VCPU_PLACED_CPUS,
	F_NR
};

static const struct family {
	const char *name;
	const char *type;
	enum scope scope;
	const char *extra; /* an extra label (info families), or NULL */
	const char *help;
} families[F_NR] = {
        [F_DAEMON_INFO] = {"pvsched_daemon_info", "gauge", S_DAEMON, "sampler",
                           "pvschedd is running; the sampler in use (procfs or bpf). Always 1."},
        [F_DAEMON_UPTIME] = {"pvsched_daemon_uptime_seconds", "gauge", S_DAEMON, NULL,
                             "Seconds since pvschedd started."},
        [F_DAEMON_PERIOD] = {"pvsched_daemon_period_seconds", "gauge", S_DAEMON, NULL,
                             "Sampling period."},
        [F_DAEMON_VMS] = {"pvsched_daemon_vms", "gauge", S_DAEMON, NULL, "VMs monitored."},
        [F_DAEMON_SAMPLES] = {"pvsched_daemon_samples_total", "counter", S_DAEMON, NULL,
                              "vCPU samples taken (one per vCPU per period)."},
        [F_DAEMON_SAMPLE_ERRORS] = {"pvsched_daemon_sample_errors_total", "counter", S_DAEMON, NULL,
                                    "Samples that failed (a thread gone, unreadable data)."},
        [F_DAEMON_RESCANS] = {"pvsched_daemon_rescans_total", "counter", S_DAEMON, NULL,
                              "Discovery scans run."},
        [F_DAEMON_BOOST_AVAILABLE] = {"pvsched_daemon_boost_available", "gauge", S_DAEMON, NULL,
                                      "1 if the journal is open and boosts can be granted."},
        [F_DAEMON_BOOST_SCANS] = {"pvsched_daemon_boost_scans_total", "counter", S_DAEMON, NULL,
                                  "Boost scans run."},
        [F_DAEMON_BOOST_SYSCALLS] = {"pvsched_daemon_boost_syscalls_total", "counter", S_DAEMON,
                                     NULL, "Scheduling-attribute changes made for boosting."},
        [F_DAEMON_COSCHED_SYSCALLS] = {"pvsched_daemon_cosched_syscalls_total", "counter", S_DAEMON,
                                       NULL,
                                       "Scheduling-attribute and affinity changes made for "
                                       "co-scheduling and placement."},
        [F_DAEMON_RT_THREADS] = {"pvsched_daemon_rt_threads", "gauge", S_DAEMON, NULL,
                                 "vCPU threads pvschedd holds at a real-time priority now."},
        [F_VM_INFO] = {"pvsched_vm_info", "gauge", S_VM, "kind",
                       "A monitored VM and its kind (qemu or process). Always 1."},
        [F_VM_VCPUS] = {"pvsched_vm_vcpus", "gauge", S_VM, NULL,
                        "vCPU threads of the VM that exist now."},
        [F_VM_HOST_CPUS] = {"pvsched_vm_host_cpus", "gauge", S_VM, NULL,
                            "Host CPUs the VM's vCPU threads may run on."},
        [F_VM_CAPACITY] = {"pvsched_vm_capacity_vcpus", "gauge", S_VM, NULL,
                           "Smoothed CPU capacity other host load leaves the VM, in vCPUs."},
        [F_VM_ADVICE] = {"pvsched_vm_advice_vcpus", "gauge", S_VM, NULL,
                         "Recommended degree of parallelism published to the guest."},
        [F_VM_PREEMPTED] = {"pvsched_vm_preempted_vcpus", "gauge", S_VM, NULL,
                            "Smoothed number of runnable vCPUs not running (preempted)."},
        [F_VM_REGION_OK] = {"pvsched_vm_region_ok", "gauge", S_VM, NULL,
                            "1 if the VM's shared-memory region is attached and published."},
        [F_VM_BOOST_ENABLED] = {"pvsched_vm_boost_enabled", "gauge", S_VM, NULL,
                                "1 if boosting is on for the VM."},
        [F_VM_POLICY_INFO] = {"pvsched_vm_policy_info", "gauge", S_VM, "policy",
                              "The VM's co-scheduling policy (none, spread, dedicated, gang or "
                              "relaxed). Always 1."},
        [F_VM_SHARES] = {"pvsched_vm_shares", "gauge", S_VM, NULL,
                         "The VM's co-scheduling shares."},
        [F_VM_GANG] = {"pvsched_vm_gang_seconds_total", "counter", S_VM, NULL,
                       "Time the VM's gang held the co-scheduling slice."},
        [F_VM_SHARED_VCPUS] = {"pvsched_vm_shared_vcpus", "gauge", S_VM, NULL,
                               "vCPUs placed on a host CPU shared with a sibling (too few CPUs)."},
        [F_VCPU_UP] = {"pvsched_vcpu_up", "gauge", S_VCPU, NULL,
                       "1 if the vCPU's host thread exists, 0 if it is gone."},
        [F_VCPU_RUN] = {"pvsched_vcpu_run_seconds_total", "counter", S_VCPU, NULL,
                        "Time the vCPU thread ran on a host CPU (esxtop %RUN = rate * 100)."},
        [F_VCPU_READY] = {"pvsched_vcpu_ready_seconds_total", "counter", S_VCPU, NULL,
                          "Time the vCPU thread was runnable but waiting in a host run queue "
                          "(esxtop %RDY = rate * 100)."},
        [F_VCPU_COSTOP] = {"pvsched_vcpu_costop_seconds_total", "counter", S_VCPU, NULL,
                           "Ready time while co-stopped by pvsched: by relaxed, or its gang "
                           "waiting for its slice (esxtop %CSTP = rate * 100)."},
        [F_VCPU_LIMITED] = {"pvsched_vcpu_limited_seconds_total", "counter", S_VCPU, NULL,
                            "Ready time while its boost request was held by the budget "
                            "(throttled) (esxtop %MLMTD = rate * 100)."},
        [F_VCPU_BOOST] = {"pvsched_vcpu_boost_seconds_total", "counter", S_VCPU, NULL,
                          "Time the vCPU thread was boosted."},
        [F_VCPU_PREEMPTIONS] = {"pvsched_vcpu_preemptions_total", "counter", S_VCPU, NULL,
                                "Involuntary context switches of the vCPU thread."},
        [F_VCPU_BOOSTS] = {"pvsched_vcpu_boosts_total", "counter", S_VCPU, NULL,
                           "Boosts granted to the vCPU."},
        [F_VCPU_THROTTLES] = {"pvsched_vcpu_throttles_total", "counter", S_VCPU, NULL,
                              "Boost requests of the vCPU throttled (over max_ms or budget)."},
        [F_VCPU_PLACED_CPUS] = {"pvsched_vcpu_placed_cpus", "gauge", S_VCPU, NULL,
                                "Host CPUs pvsched placed the vCPU thread on; 0 when it does "
                                "not place it."},
};

/* The sample of family F for VM / vCPU V (as the scope asks); 0: none. */
static int value(enum fid f, const struct pvs_daemon *d, const struct pvs_vm *vm,
                 const struct pvs_vcpu *v, uint64_t now, struct val *o)
{
	uint32_t nvm = 0;

	memset(o, 0, sizeof(*o));
	o->kind = V_U64;
	switch (f) {
	case F_DAEMON_INFO:
		o->u = 1;
		o->label = d->sampler ? d->sampler->name : "none";
		break;
	case F_DAEMON_UPTIME:
		o->kind = V_NS;
		o->u = now > d->start_ns ? now - d->start_ns : 0;
		break;
	case F_DAEMON_PERIOD:
		o->kind = V_NS;
		o->u = (uint64_t)d->cfg->period_us * 1000u;
		break;
	case F_DAEMON_VMS:
		for (const struct pvs_vm *x = d->vms; x; x = x->next)
			nvm++;
		o->u = nvm;
		break;
	case F_DAEMON_SAMPLES: o->u = d->samples; break;
	case F_DAEMON_SAMPLE_ERRORS: o->u = d->sample_errors; break;
	case F_DAEMON_RESCANS: o->u = d->rescans; break;
	case F_DAEMON_BOOST_AVAILABLE: o->u = d->journal != NULL; break;
	case F_DAEMON_BOOST_SCANS: o->u = d->boost_scans; break;
	case F_DAEMON_BOOST_SYSCALLS: o->u = d->boost_syscalls; break;
	case F_DAEMON_COSCHED_SYSCALLS: o->u = d->cs_syscalls; break;
	case F_DAEMON_RT_THREADS: o->u = d->rt_threads; break;
	case F_VM_INFO:
		o->u = 1;
		o->label = pvs_status_kind_name(vm->kind);
		break;
	case F_VM_VCPUS: o->u = pvs_cosched_live_vcpus(vm); break;
	case F_VM_HOST_CPUS: o->u = vm->host_cpus; break;
	case F_VM_CAPACITY:
		o->kind = V_DBL;
		o->d = pvs_status_capacity(vm);
		break;
	case F_VM_ADVICE: o->u = pvs_status_dop(vm); break;
	case F_VM_PREEMPTED:
		o->kind = V_DBL;
		o->d = vm->track.preempted_avg;
		break;
	case F_VM_REGION_OK: o->u = vm->region_ok != 0; break;
	case F_VM_BOOST_ENABLED: o->u = pvs_boost_vm_enabled(d, vm) != 0; break;
	case F_VM_POLICY_INFO:
		o->u = 1;
		o->label = pvs_status_policy_name(pvs_cosched_policy(d, vm));
		break;
	case F_VM_SHARES: o->u = pvs_cosched_shares(d, vm); break;
	case F_VM_GANG:
		o->kind = V_NS;
		o->u = vm->gang_ns;
		break;
	case F_VM_SHARED_VCPUS: o->u = vm->placed_shared; break;
	case F_VCPU_UP: o->u = v->live != 0; break;
	case F_VCPU_RUN:
		o->kind = V_NS;
		o->u = v->track.run_total;
		break;
	case F_VCPU_READY:
		o->kind = V_NS;
		o->u = v->track.wait_total;
		break;
	case F_VCPU_COSTOP:
		o->kind = V_NS;
		o->u = v->costop_ns;
		break;
	case F_VCPU_LIMITED:
		o->kind = V_NS;
		o->u = v->limited_ns;
		break;
	case F_VCPU_BOOST:
		o->kind = V_NS;
		o->u = v->boost.boost_ns;
		break;
	case F_VCPU_PREEMPTIONS: o->u = v->track.preemptions; break;
	case F_VCPU_BOOSTS: o->u = v->boost.boosts; break;
	case F_VCPU_THROTTLES: o->u = v->boost.throttles; break;
	case F_VCPU_PLACED_CPUS: o->u = v->cs_mask_valid ? pvs_cpuset_count(&v->cs_mask) : 0; break;
	case F_NR: return 0;
	}
	return 1;
}

static void put_value(struct buf *b, const struct val *o)
{
	switch (o->kind) {
	case V_NS:
		bprintf(b, "%" PRIu64 ".%09" PRIu64, o->u / 1000000000u, o->u % 1000000000u);
		break;
	case V_U64: bprintf(b, "%" PRIu64, o->u); break;
	case V_DBL:
		if (isnan(o->d))
			bputs(b, "NaN");
		else if (isinf(o->d))
			bputs(b, o->d > 0 ? "+Inf" : "-Inf");
		else
			bprintf(b, "%.9g", o->d);
		break;
	}
}

/* One sample line; the family's header first if it is its first sample. */
static void put_sample(struct buf *b, const struct family *fam, int *headed, const struct val *o,
                       const struct pvs_vm *vm, const struct pvs_vcpu *v)
{
	const char *sep = "{";

	if (!*headed) {
		bprintf(b, "# HELP %s ", fam->name);
		put_help(b, fam->help);
		bprintf(b, "\n# TYPE %s %s\n", fam->name, fam->type);
		*headed = 1;
	}
	bputs(b, fam->name);
	if (vm) {
		bputs(b, "{vm=\"");
		put_label_value(b, vm->name);
		bputs(b, "\"");
		sep = ",";
	}
	if (v) {
		bprintf(b, "%svcpu=\"%" PRIu32 "\"", sep, v->index);
		sep = ",";
	}
	if (fam->extra) {
		bprintf(b, "%s%s=\"", sep, fam->extra);
		put_label_value(b, o->label ? o->label : "");
		bputs(b, "\"");
		sep = ",";
	}
	if (sep[0] == ',')
		bputs(b, "}");
	bputs(b, " ");
	put_value(b, o);
	bputs(b, "\n");
}

int pvs_metrics_format(const struct pvs_daemon *d, uint64_t now_ns, char **out, size_t *len)
{
	struct buf b = {0};
	struct val o;

	for (int f = 0; f < F_NR; f++) {
		const struct family *fam = &families[f];
		int headed = 0;

		if (fam->scope == S_DAEMON) {
			if (value(f, d, NULL, NULL, now_ns, &o))
				put_sample(&b, fam, &headed, &o, NULL, NULL);
			continue;
		}
		for (const struct pvs_vm *vm = d->vms; vm; vm = vm->next) {
			if (fam->scope == S_VM) {
				if (value(f, d, vm, NULL, now_ns, &o))
					put_sample(&b, fam, &headed, &o, vm, NULL);
				continue;
			}
			for (uint32_t i = 0; i < vm->nr_vcpus; i++)
				if (value(f, d, vm, &vm->vcpus[i], now_ns, &o))
					put_sample(&b, fam, &headed, &o, vm, &vm->vcpus[i]);
		}
	}
	if (!b.oom && !b.p)
		bput(&b, "", 0);
	if (b.oom) {
		free(b.p);
		*out = NULL;
		*len = 0;
		return -ENOMEM;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

int pvs_metrics_write_file(const struct pvs_daemon *d, const char *path, uint64_t now_ns)
{
	char tmp[PVS_PATH_MAX + 8];
	char *text;
	size_t len, off = 0;
	int fd, rc;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	rc = pvs_metrics_format(d, now_ns, &text, &len);
	if (rc < 0)
		return rc;
	/* a fresh file (O_EXCL): a link planted at PATH.tmp in a writable
	 * directory is removed, never written through */
	if (unlink(tmp) < 0 && errno != ENOENT) {
		rc = -errno;
		free(text);
		return rc;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		rc = -errno;
		free(text);
		return rc;
	}
	if (fchmod(fd, 0644) < 0) /* whatever the umask: the collector may run as another user */
		rc = -errno;
	while (rc == 0 && off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	free(text);
	/* no fsync: the rename is what makes it atomic for the collector, the
	 * file is rewritten every interval, and pvschedd may be holding RT
	 * threads: it must not wait for a disk in its loop */
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}
