/* SPDX-License-Identifier: MIT */
/*
 * daemon/discovery.c - find VMs and their vCPU threads.
 *
 * QEMU VMs: a process whose name matches qemu_comm (default "qemu*,kvm")
 * with threads named "CPU n/KVM" or "CPU n/TCG" (QEMU names them with
 * -name ...,debug-threads=on, which libvirt always sets).  The vCPU index is
 * n; the VM name comes from -name.
 * Process VMs: declared in the config ([vm NAME] pid=/pidfile=) or attached
 * at run time; their threads matching `threads` (default: all but the main
 * thread) are the vCPUs, indexed in order of appearance.
 * Every thread is identified by (tid, start time), so a reused tid is a new
 * thread, never the old vCPU.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <sched.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actuate.h"
#include "discovery.h"
#include "doorbell.h"
#include "log.h"
#include "procfs.h"
#include "publish.h"
#include "qemu_args.h"

struct found_thread {
	pid_t tid;
	uint64_t start;
	int index; /* -1: assign */
};

struct found {
	struct found_thread *t;
	size_t n, cap;
	int tcg; /* a vCPU thread named "CPU n/TCG" was read */
};

static int found_add(struct found *f, pid_t tid, uint64_t start, int index)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		struct found_thread *n = realloc(f->t, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		f->t = n;
		f->cap = cap;
	}
	f->t[f->n++] = (struct found_thread){tid, start, index};
	return 0;
}

static int is_number(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

int pvs_comm_matches(const char *globs, const char *comm)
{
	char buf[128], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", globs);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if (!fnmatch(tok, comm, 0))
			return 1;
	}
	return 0;
}

/* "CPU 12/KVM" or "CPU 3/TCG" -> 12 / 3; -1 otherwise. */
static int vcpu_index_from_comm(const char *comm)
{
	char *end;
	long v;

	if (strncmp(comm, "CPU ", 4) || !isdigit((unsigned char)comm[4]))
		return -1;
	v = strtol(comm + 4, &end, 10);
	if (v < 0 || v > 65535 || (strcmp(end, "/KVM") && strcmp(end, "/TCG")))
		return -1;
	return (int)v;
}

/* List the threads of PID; QEMU mode collects "CPU n/..." threads, process
 * mode collects those matching PATTERN (or all but the main thread). */
/* A live vCPU of KNOWN with thread id TID, or NULL.  Its sampler handle
 * pins the thread, so a live slot's identity needs no re-reading. */
static const struct pvs_vcpu *known_vcpu(const struct pvs_vm *known, pid_t tid)
{
	if (!known)
		return NULL;
	for (uint32_t i = 0; i < known->nr_vcpus; i++)
		if (known->vcpus[i].live && known->vcpus[i].id.tid == tid)
			return &known->vcpus[i];
	return NULL;
}

static int list_threads(pid_t pid, int qemu, const char *pattern, const struct pvs_vm *known,
                        struct found *f)
{
	char path[64];
	DIR *dir;
	struct dirent *e;
	int nthreads = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((e = readdir(dir)) != NULL) {
		char comm[64], state;
		uint64_t start;
		pid_t tid;
		int idx = -1;

		if (!is_number(e->d_name))
			continue;
		tid = (pid_t)atoi(e->d_name);
		nthreads++;
		{
			/* rescans cost one stat read per thread: skip known vCPUs */
			const struct pvs_vcpu *kv = known_vcpu(known, tid);
			if (kv) {
				if (found_add(f, tid, kv->id.start, qemu ? (int)kv->index : -1) < 0)
					break;
				continue;
			}
		}
		if (pvs_proc_stat(pid, tid, comm, sizeof(comm), &state, &start) < 0)
			continue; /* exited while we looked */
		if (qemu) {
			idx = vcpu_index_from_comm(comm);
			if (idx < 0)
				continue;
			if (strstr(comm, "/TCG"))
				f->tcg = 1;
		} else if (pattern && *pattern) {
			if (fnmatch(pattern, comm, 0))
				continue;
		} else if (tid == pid) {
			continue; /* main thread: re-added below if it is alone */
		}
		if (found_add(f, tid, start, idx) < 0)
			break;
	}
	closedir(dir);
	if (!qemu && (!pattern || !*pattern) && f->n == 0 && nthreads == 1) {
		char state;
		uint64_t start;
		if (pvs_proc_stat(pid, pid, NULL, 0, &state, &start) == 0)
			found_add(f, pid, start, -1);
	}
	return 0;
}

struct pvs_vm *pvs_find_vm(struct pvs_daemon *d, const char *name)
{
	for (struct pvs_vm *vm = d->vms; vm; vm = vm->next)
		if (!strcmp(vm->name, name))
			return vm;
	return NULL;
}

static struct pvs_vm *find_vm_by_proc(struct pvs_daemon *d, const struct pvs_thread_id *p)
{
	for (struct pvs_vm *vm = d->vms; vm; vm = vm->next)
		if (vm->proc.pid == p->pid && vm->proc.start == p->start)
			return vm;
	return NULL;
}

/* The pCPUs the VM may use: the union of its vCPU threads' affinities
 * (libvirt's vcpupin sets them per thread), or the process's if none. */
static void update_affinity(struct pvs_vm *vm)
{
	cpu_set_t set, all;
	unsigned n = 0;
	int got = 0;

	CPU_ZERO(&all);
	for (uint32_t i = 0; i < vm->nr_vcpus; i++) {
		if (!vm->vcpus[i].live ||
		    sched_getaffinity(vm->vcpus[i].id.tid, sizeof(set), &set) < 0)
			continue;
		CPU_OR(&all, &all, &set);
		got = 1;
	}
	if (!got && sched_getaffinity(vm->proc.pid, sizeof(all), &all) < 0) {
		CPU_ZERO(&all);
		for (long c = 0; c < sysconf(_SC_NPROCESSORS_ONLN) && c < PVS_CPUSET_MAX; c++)
			CPU_SET((int)c, &all);
	}
	pvs_cpuset_from_cpu_set(&vm->cpu_mask, &all);
	n = pvs_cpuset_count(&vm->cpu_mask);
	vm->host_cpus = n ? n : 1;
}

/* Make VM's vCPU slots match the threads found. */
static void reconcile_threads(struct pvs_daemon *d, struct pvs_vm *vm, struct found *f)
{
	uint32_t old_nr = vm->nr_vcpus;
	/* slots that fit the region actually mapped, or the one to be created */
	size_t max_vcpus =
	        PVSCHED_VCPUS_FOR_SIZE(vm->region_ok ? vm->region.size : d->cfg->region_size);

	for (uint32_t i = 0; i < vm->nr_vcpus; i++)
		vm->vcpus[i].present = 0;
	/* keep slots whose thread is still there */
	for (size_t k = 0; k < f->n; k++) {
		for (uint32_t i = 0; i < vm->nr_vcpus; i++) {
			struct pvs_vcpu *v = &vm->vcpus[i];
			if (v->live && v->id.tid == f->t[k].tid && v->id.start == f->t[k].start &&
			    (f->t[k].index < 0 || (uint32_t)f->t[k].index == i)) {
				v->present = 1;
				f->t[k].tid = 0; /* consumed */
				break;
			}
		}
	}
	/* threads that vanished: the slot stays, in state UNKNOWN */
	for (uint32_t i = 0; i < vm->nr_vcpus; i++) {
		struct pvs_vcpu *v = &vm->vcpus[i];
		if (v->live && !v->present) {
			log_info("vm %s: vCPU %u (tid %d) gone", vm->name, i, (int)v->id.tid);
			d->sampler->close(v);
			pvs_vcpu_drop(v);
		}
	}
	/* new threads, in tid order for process VMs (creation order) */
	for (size_t k = 0; k < f->n; k++) {
		struct found_thread *t = &f->t[k];
		struct pvs_vcpu *v;
		uint32_t idx;

		if (!t->tid)
			continue;
		if (t->index >= 0) {
			idx = (uint32_t)t->index;
		} else {
			for (idx = 0; idx < vm->nr_vcpus && vm->vcpus[idx].live; idx++)
				;
		}
		if (idx >= max_vcpus) {
			log_warn("vm %s: vCPU %u does not fit the region; ignored", vm->name, idx);
			continue;
		}
		v = pvs_vm_slot(vm, idx);
		if (!v)
			continue;
		if (v->live) {
			/* same index, new thread (QEMU re-created it) */
			d->sampler->close(v);
			pvs_vcpu_drop(v);
		}
		v->id = (struct pvs_thread_id){vm->proc.pid, t->tid, t->start};
		pvs_vcpu_init(&v->track);
		if (d->sampler->open(v) < 0) {
			log_debug("vm %s: tid %d vanished before sampling", vm->name, (int)t->tid);
			continue;
		}
		v->live = 1;
		v->present = 1;
		log_info("vm %s: vCPU %u is tid %d", vm->name, idx, (int)t->tid);
	}
	if (vm->nr_vcpus != old_nr && vm->region_ok)
		pvs_hregion_set_nr_vcpus(&vm->region, vm->nr_vcpus);
}

/* A VM seen by this rescan with threads F: bring its slots, pCPU set and
 * region up to date (a failed region is retried), and free F. */
static void refresh_vm(struct pvs_daemon *d, struct pvs_vm *vm, struct found *f)
{
	vm->present = 1;
	reconcile_threads(d, vm, f);
	update_affinity(vm);
	if (!vm->region_ok && !vm->incoming)
		pvs_publish_open(d, vm);
	free(f->t);
	f->t = NULL;
}

static int cmp_tid(const void *a, const void *b)
{
	const struct found_thread *x = a, *y = b;
	return (x->tid > y->tid) - (x->tid < y->tid);
}

/*
 * Processes already seen not to be QEMU are not read again at each rescan
 * (a host has thousands; each read costs microseconds).  Only processes
 * older than PVS_SKIP_MIN_AGE_S are remembered, because a launcher (libvirt)
 * forks and then execs QEMU under the same pid; the whole list is dropped
 * every PVS_SKIP_REFRESH scans, which bounds how late a process that execs
 * QEMU long after it started is found.  A pid is reused only after the pid
 * space wraps around, which cannot happen between two scans of a host that
 * is not forking hundreds of thousands of processes a second.
 */
#define PVS_SKIP_MIN_AGE_S 10
#define PVS_SKIP_REFRESH   30

struct pid_list {
	pid_t *v;
	size_t n, cap;
};

static struct pid_list skip_prev, skip_next;
static unsigned skip_scans;

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

static void skip_add(pid_t pid)
{
	if (skip_next.n == skip_next.cap) {
		size_t cap = skip_next.cap ? skip_next.cap * 2 : 256;
		pid_t *n = realloc(skip_next.v, cap * sizeof(*n));
		if (!n)
			return;
		skip_next.v = n;
		skip_next.cap = cap;
	}
	skip_next.v[skip_next.n++] = pid;
}

static int old_enough(uint64_t start_ticks)
{
	struct timespec ts;
	long hz = sysconf(_SC_CLK_TCK);

	if (hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec > start_ticks / (uint64_t)hz + PVS_SKIP_MIN_AGE_S;
}

void pvs_discovery_free(void)
{
	free(skip_prev.v);
	free(skip_next.v);
	memset(&skip_prev, 0, sizeof(skip_prev));
	memset(&skip_next, 0, sizeof(skip_next));
}

/*
 * What the command line says about migration (docs/abi.md "Live
 * migration"), read once: QEMU cannot change it while it runs.  A VM whose
 * pvsched device is in peer mode (master=off, QEMU's default) cannot be
 * live-migrated: said once, with the fix.  A VM started with -incoming
 * waits for a migration stream, which will rewrite its whole region: the
 * region is adopted only once its vCPUs have run here (sample.c).
 */
static void read_migration(struct pvs_daemon *d, struct pvs_vm *vm, const char *args, size_t len)
{
	struct pvs_qemu_dev qd;

	pvs_qemu_dev(args, len, vm->region_path, &qd);
	if (!qd.found && d->doorbell) {
		char sock[PVS_PATH_MAX];

		pvs_qemu_doorbell_dev(args, len,
		                      pvs_config_ivshmem_socket(d->cfg, sock, sizeof(sock)), &qd);
	}
	vm->migratable = qd.found ? qd.master : -1;
	if (qd.found && qd.master == 0)
		log_warn("vm %s: cannot be live-migrated: its pvsched device (%s, %s %s) is in "
		         "peer mode; add master=on to its -device (libvirt: <shmem name='%s' "
		         "role='master'>)",
		         vm->name, qd.driver,
		         strcmp(qd.driver, "ivshmem-doorbell") ? "memdev" : "chardev", qd.memdev,
		         strrchr(vm->region_path, '/') ? strrchr(vm->region_path, '/') + 1
		                                       : vm->region_path);
	if (qd.incoming) {
		vm->incoming = 1;
		log_info("vm %s: started with -incoming: its region is adopted once its vCPUs run "
		         "here",
		         vm->name);
	}
}

static void scan_qemu(struct pvs_daemon *d)
{
	DIR *proc = opendir("/proc");
	struct dirent *e;

	if (!proc) {
		/* out of fds or memory is not "every VM exited": keep them all */
		log_err("/proc: %s; keeping the known QEMU VMs", strerror(errno));
		for (struct pvs_vm *vm = d->vms; vm; vm = vm->next)
			if (vm->kind == PVS_VM_QEMU)
				vm->present = 1;
		return;
	}
	if (++skip_scans % PVS_SKIP_REFRESH == 0)
		skip_prev.n = 0;
	skip_next.n = 0;
	while ((e = readdir(proc)) != NULL) {
		char comm[64], state, name[PVS_NAME_MAX], path[64];
		static char args[256 * 1024];
		struct pvs_thread_id id = {0};
		struct found f = {0};
		struct pvs_vm *vm;
		ssize_t n;

		if (!is_number(e->d_name))
			continue;
		id.pid = id.tid = (pid_t)atoi(e->d_name);
		if (skip_prev.n &&
		    bsearch(&id.pid, skip_prev.v, skip_prev.n, sizeof(pid_t), cmp_pid)) {
			skip_add(id.pid);
			continue;
		}
		if (pvs_proc_stat(id.pid, id.pid, comm, sizeof(comm), &state, &id.start) < 0)
			continue;
		if (!pvs_comm_matches(d->cfg->qemu_comm, comm)) {
			if (old_enough(id.start))
				skip_add(id.pid);
			continue;
		}
		vm = find_vm_by_proc(d, &id);
		{
			int rc = list_threads(id.pid, 1, NULL, vm, &f);
			if (vm && (rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM)) {
				free(f.t);
				vm->present = 1; /* transient: not an exit */
				continue;
			}
			if (rc < 0 || f.n == 0) {
				free(f.t);
				continue; /* not (yet) a VM with named vCPU threads */
			}
		}
		if (!vm) {
			snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)id.pid);
			n = pvs_read_file(path, args, sizeof(args));
			if (n < 0 || pvs_qemu_name(args, (size_t)n, name, sizeof(name)) < 0)
				snprintf(name, sizeof(name), "qemu-%d", (int)id.pid);
			pvs_sanitize_name(name);
			if (pvs_find_vm(d, name)) {
				char alt[PVS_NAME_MAX];
				snprintf(alt, sizeof(alt), "%.20s-%d", name, (int)id.pid);
				log_warn("vm %s: name already taken; QEMU pid %d monitored as %s",
				         name, (int)id.pid, alt);
				snprintf(name, sizeof(name), "%s", alt);
			}
			vm = pvs_vm_new(name, PVS_VM_QEMU, &id);
			if (!vm) {
				free(f.t);
				continue;
			}
			if (n < 0 || pvs_qemu_region_path(args, (size_t)n, vm->region_path,
			                                  sizeof(vm->region_path)) < 0)
				snprintf(vm->region_path, sizeof(vm->region_path),
				         "%.200s/pvsched-%.31s", d->cfg->region_dir, vm->name);
			vm->next = d->vms;
			d->vms = vm;
			log_info("vm %s: QEMU pid %d found, region %s", vm->name, (int)id.pid,
			         vm->region_path);
			if (n >= 0)
				read_migration(d, vm, args, (size_t)n);
			pvs_doorbell_bind(d->doorbell, vm);
		}
		if (f.tcg && !vm->tcg) {
			vm->tcg = 1;
			log_info("vm %s: TCG: its main thread (tid %d) delivers the guest's timer "
			         "interrupts and is boosted with its vCPUs",
			         vm->name, (int)id.pid);
		}
		refresh_vm(d, vm, &f);
	}
	closedir(proc);
	{
		struct pid_list t = skip_prev;
		skip_prev = skip_next;
		skip_next = t;
		qsort(skip_prev.v, skip_prev.n, sizeof(pid_t), cmp_pid);
	}
}

static int read_pidfile(const char *path, pid_t *pid)
{
	char buf[32];
	ssize_t n = pvs_read_file(path, buf, sizeof(buf));
	long v;
	char *end;

	if (n <= 0)
		return n < 0 ? (int)n : -EINVAL;
	v = strtol(buf, &end, 10);
	if (v <= 0 || (*end && *end != '\n'))
		return -EINVAL;
	*pid = (pid_t)v;
	return 0;
}

/* Bring one process VM up to date.  Returns 0 if the process lives. */
static int scan_process(struct pvs_daemon *d, const char *name, pid_t pid, uint64_t want_start,
                        const char *threads, const char *region)
{
	struct pvs_thread_id id = {pid, pid, 0};
	struct found f = {0};
	struct pvs_vm *vm;
	char state;

	if (pvs_proc_stat(pid, pid, NULL, 0, &state, &id.start) < 0 || state == 'Z')
		return -ESRCH;
	if (want_start && id.start != want_start)
		return -ESRCH; /* the pid was reused */
	vm = pvs_find_vm(d, name);
	if (vm && (vm->proc.pid != pid || vm->proc.start != id.start)) {
		if (vm->kind == PVS_VM_QEMU) {
			log_warn("vm %s: name used by QEMU pid %d; process %d not attached", name,
			         (int)vm->proc.pid, (int)pid);
			return -EEXIST;
		}
		vm->present = 0; /* the process was replaced: start over */
		return -ESRCH;
	}
	if (!vm) {
		vm = pvs_vm_new(name, PVS_VM_PROCESS, &id);
		if (!vm)
			return -ENOMEM;
		snprintf(vm->threads, sizeof(vm->threads), "%s", threads ? threads : "");
		if (region && *region)
			snprintf(vm->region_path, sizeof(vm->region_path), "%s", region);
		else {
			snprintf(vm->region_path, sizeof(vm->region_path), "%.200s/pvsched-%.31s",
			         d->cfg->region_dir, name);
			vm->region_default = 1;
		}
		vm->next = d->vms;
		d->vms = vm;
		log_info("vm %s: process %d attached, region %s", name, (int)pid, vm->region_path);
	}
	{
		int rc = list_threads(pid, 0, vm->threads, vm, &f);
		if (rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM) {
			/* transient: keep the VM as it is until the next rescan */
			free(f.t);
			vm->present = 1;
			return 0;
		}
		if (rc < 0) {
			free(f.t);
			return -ESRCH;
		}
	}
	if (f.n > 1) /* f.t is NULL when no thread matched: qsort(NULL, ...) is UB */
		qsort(f.t, f.n, sizeof(*f.t), cmp_tid);
	refresh_vm(d, vm, &f);
	return 0;
}

/* A VM no longer monitored (exited, detached, removed from the config):
 * its threads get their attributes back, its region is marked DETACHED and,
 * for a process VM, removed (pvs_publish_remove). */
static void drop_vm(struct pvs_daemon *d, struct pvs_vm *vm)
{
	for (uint32_t i = 0; i < vm->nr_vcpus; i++)
		d->sampler->close(&vm->vcpus[i]);
	pvs_actuate_vm_release(d, vm);
	pvs_publish_remove(vm);
	pvs_vm_free(vm);
}

void pvs_discover(struct pvs_daemon *d)
{
	struct pvs_vm **pp;

	d->rescans++;
	for (struct pvs_vm *vm = d->vms; vm; vm = vm->next)
		vm->present = 0;
	scan_qemu(d);
	for (size_t i = 0; i < d->cfg->nr_vms; i++) {
		const struct pvs_config_vm *c = &d->cfg->vms[i];
		pid_t pid = c->pid;

		if (!pid && !c->pidfile[0])
			continue; /* only settings for a VM found otherwise */
		if (c->pidfile[0] && read_pidfile(c->pidfile, &pid) < 0)
			continue;
		scan_process(d, c->name, pid, 0, c->threads, c->region);
	}
	for (struct pvs_attach **ap = &d->attached; *ap;) {
		struct pvs_attach *a = *ap;
		if (scan_process(d, a->name, a->proc.pid, a->proc.start, a->threads, a->region) ==
		    -ESRCH) {
			log_info("vm %s: process %d exited; detached", a->name, (int)a->proc.pid);
			*ap = a->next;
			free(a);
			continue;
		}
		ap = &a->next;
	}
	for (pp = &d->vms; *pp;) {
		struct pvs_vm *vm = *pp;
		if (!vm->present) {
			log_info("vm %s: gone (pid %d)", vm->name, (int)vm->proc.pid);
			*pp = vm->next;
			drop_vm(d, vm);
			continue;
		}
		pp = &vm->next;
	}
}

uint64_t pvs_quick_interval_ns(const struct pvs_daemon *d)
{
	uint64_t n = 0, ns, period = (uint64_t)d->cfg->period_us * 1000u;

	for (const struct pvs_vm *vm = d->vms; vm; vm = vm->next)
		n += vm->kind == PVS_VM_PROCESS;
	ns = n * 1000000ull;
	if (ns > 100000000ull)
		ns = 100000000ull;
	return ns < period ? period : ns;
}

void pvs_discover_quick(struct pvs_daemon *d)
{
	for (struct pvs_vm *vm = d->vms; vm; vm = vm->next) {
		char path[64];
		struct stat st;
		uint32_t n;

		if (vm->kind != PVS_VM_PROCESS)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task", (int)vm->proc.pid);
		if (stat(path, &st) < 0) {
			d->rescan_requested = 1; /* gone: the full rescan detaches it */
			continue;
		}
		/* a /proc/PID/task directory links "." and ".." and one entry
		 * per thread */
		n = st.st_nlink > 2 ? (uint32_t)(st.st_nlink - 2) : 0;
		if (n == vm->nthreads_seen)
			continue;
		vm->nthreads_seen = n;
		if (scan_process(d, vm->name, vm->proc.pid, vm->proc.start, vm->threads, NULL) < 0)
			d->rescan_requested = 1;
	}
}

/* The process (thread group) that thread TID belongs to, or -errno. */
static pid_t proc_tgid(pid_t tid)
{
	char path[64], buf[1024], *p;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	n = pvs_read_file(path, buf, sizeof(buf));
	if (n < 0)
		return (pid_t)n;
	p = strstr(buf, "\nTgid:");
	return p ? (pid_t)strtol(p + 6, NULL, 10) : -EINVAL;
}

int pvs_attach_process(struct pvs_daemon *d, const char *name, pid_t pid, const char *threads,
                       char *err, size_t errlen)
{
	struct pvs_attach *a;
	struct pvs_vm *vm;
	char state;
	uint64_t start;
	pid_t tgid;

	if (pvs_find_vm(d, name)) {
		snprintf(err, errlen, "a VM named '%s' is already monitored", name);
		return -EEXIST;
	}
	if (pvs_proc_stat(pid, pid, NULL, 0, &state, &start) < 0 || state == 'Z') {
		snprintf(err, errlen, "no process with pid %d", (int)pid);
		return -ESRCH;
	}
	/* /proc/TID/task/TID exists for any thread: a thread id would make its
	 * process's main thread a vCPU and leave the thread itself out */
	tgid = proc_tgid(pid);
	if (tgid > 0 && tgid != pid) {
		snprintf(err, errlen, "%d is a thread of process %d, not a process", (int)pid,
		         (int)tgid);
		return -EINVAL;
	}
	for (vm = d->vms; vm; vm = vm->next)
		if (vm->proc.pid == pid && vm->proc.start == start) {
			snprintf(err, errlen, "pid %d is already monitored as VM '%s'", (int)pid,
			         vm->name);
			return -EEXIST;
		}
	a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->proc = (struct pvs_thread_id){pid, pid, start};
	snprintf(a->threads, sizeof(a->threads), "%s", threads ? threads : "");
	a->next = d->attached;
	d->attached = a;
	if (scan_process(d, a->name, pid, start, a->threads, NULL) < 0) {
		d->attached = a->next;
		free(a);
		snprintf(err, errlen, "process %d vanished while attaching", (int)pid);
		return -ESRCH;
	}
	return 0;
}

int pvs_detach(struct pvs_daemon *d, const char *name, char *err, size_t errlen)
{
	struct pvs_vm **pp;

	for (struct pvs_attach **ap = &d->attached; *ap; ap = &(*ap)->next) {
		if (strcmp((*ap)->name, name))
			continue;
		struct pvs_attach *a = *ap;
		*ap = a->next;
		free(a);
		for (pp = &d->vms; *pp; pp = &(*pp)->next) {
			if (strcmp((*pp)->name, name))
				continue;
			struct pvs_vm *vm = *pp;
			*pp = vm->next;
			log_info("vm %s: detached", name);
			drop_vm(d, vm);
			break;
		}
		return 0;
	}
	if (pvs_find_vm(d, name))
		snprintf(err, errlen,
		         "VM '%s' was not attached at run time (QEMU VMs are discovered; "
		         "config VMs are removed by editing the config and SIGHUP)",
		         name);
	else
		snprintf(err, errlen, "no VM named '%s'", name);
	return -ENOENT;
}
