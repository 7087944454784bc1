/* SPDX-License-Identifier: MIT */
/*
 * lib/guest.c - the guest side of the region: find it ($PVSCHED_REGION, the
 * guest driver's /dev/pvsched or the ivshmem PCI device), map it, validate
 * it, and read seqlock-consistent snapshots.  No system call on the read
 * path: clock_gettime is the vDSO.  Also the vCPU map of ABI 1.1: which slot
 * the calling thread runs on, and whether a slot's vCPU is preempted (the
 * pv-aware lock's questions).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pvs_clock.h"
#include "region_internal.h"
#include "seqlock.h"

#define PCI_VENDOR_REDHAT_QUMRANET 0x1af4
#define PCI_DEVICE_IVSHMEM         0x1110

struct pvsched_guest {
	void *mem;
	size_t len;
	enum pvsched_source source;
	int writable; /* mapped read-write: the guest-written fields can be set */
	uint32_t vm_offset;
	uint32_t vcpu_offset;
	uint32_t vcpu_stride;
	uint32_t max_vcpus; /* slots that fit the mapping */
	/* liveness bookkeeping, updated with relaxed atomics */
	uint64_t last_hb;
	uint64_t last_change_ns;
	uint64_t instance;
	/* host clock - this clock, for deadlines (real VMs), relaxed atomics */
	int64_t clock_off;
	uint64_t clock_off_at; /* 0 = not calibrated */
	char path[256];
	/* 1.4: the device's registers (BAR0), to ring its doorbell; NULL when
	 * the region is not a PCI device's BAR2 or BAR0 cannot be mapped */
	volatile uint32_t *regs;
	size_t regs_len;
	/* 1.4: a process VM's doorbell, a copy of the eventfd pvschedd passed
	 * at attach; -1: none */
	int efd;
};

static __thread enum pvsched_verr last_verr;

enum pvsched_verr pvsched_last_verr(void)
{
	return last_verr;
}

static int map_layout(pvsched_guest *g)
{
	struct pvsched_header h;
	int rc;

	pvs__header_load(&h, g->mem);
	rc = pvs__header_check(&h, g->len, &last_verr);
	if (rc < 0)
		return rc;
	g->vm_offset = h.vm_offset;
	g->vcpu_offset = h.vcpu_offset;
	g->vcpu_stride = h.vcpu_stride;
	g->max_vcpus = h.max_vcpus;
	__atomic_store_n(&g->instance, h.host_instance, __ATOMIC_RELAXED);
	__atomic_store_n(&g->last_hb, h.heartbeat, __ATOMIC_RELAXED);
	__atomic_store_n(&g->last_change_ns, pvs_mono_ns(), __ATOMIC_RELAXED);
	return 0;
}

/* Errors of an open for writing that leave reading possible: the file's
 * mode or a driver that admits readers only (EACCES, EPERM), a read-only
 * mount (EROFS). */
static int read_only_errno(int e)
{
	return e == EACCES || e == EPERM || e == EROFS;
}

/* Open PATH read-write, else read-only when writing is what is refused.
 * Returns the descriptor (*PROT says how to map it) or -errno. */
static int open_fd(const char *path, int *prot)
{
	int fd;

	*prot = PROT_READ | PROT_WRITE;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && read_only_errno(errno)) {
		*prot = PROT_READ;
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	return fd < 0 ? -errno : fd;
}

/* A character device has no size: map the header alone (the kernel rounds
 * the length up to a page, which the driver allows from offset 0), take
 * region_size from it and map exactly that.  LIMIT bounds it (the size of
 * a regular file).  A header that does not validate is refused here, with
 * last_verr set, before anything larger is mapped. */
static int len_from_header(int fd, size_t limit, size_t *len)
{
	struct pvsched_header h;
	void *m = mmap(NULL, PVSCHED_HEADER_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	int rc;

	if (m == MAP_FAILED)
		return -errno;
	pvs__header_load(&h, m);
	munmap(m, PVSCHED_HEADER_SIZE);
	rc = pvs__header_check(&h, limit, &last_verr);
	if (rc < 0)
		return rc;
	*len = (size_t)h.region_size;
	return 0;
}

/*
 * The registers of the device whose BAR2 G maps: the sibling resource0 of a
 * sysfs resource2 (the PCI scan, or $PVSCHED_REGION naming one), or the
 * guest driver's device's (/sys/class/misc/pvsched/device/resource0).
 * Mapped write-only, one page; without them the guest is only polled.
 */
static void map_regs(pvsched_guest *g, int chardev)
{
	char p[sizeof(g->path) + 16];
	size_t n = strlen(g->path), page = (size_t)sysconf(_SC_PAGESIZE);
	void *m;
	int fd;

	if (n > 10 && !strcmp(g->path + n - 10, "/resource2"))
		snprintf(p, sizeof(p), "%.*s/resource0", (int)(n - 10), g->path);
	else if (chardev)
		snprintf(p, sizeof(p), "/sys/class/misc/pvsched/device/resource0");
	else
		return;
	fd = open(p, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	m = mmap(NULL, page, PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return;
	g->regs = m;
	g->regs_len = page;
}

/*
 * A process VM's doorbell: the eventfd pvschedd passed at attach, which
 * pvsched-run leaves open across exec and names in PVSCHED_DOORBELL_FD.
 * Taken only for the region file that PVSCHED_REGION names (the same
 * file, ST), and only if that descriptor is an eventfd: an inherited
 * variable that names some other file is ignored.  The library rings a
 * copy of its own.
 */
static void take_eventfd(pvsched_guest *g, const struct stat *st)
{
	const char *v = getenv(PVSCHED_ENV_DOORBELL_FD), *r = getenv(PVSCHED_ENV_REGION);
	char p[64], link[32], *end;
	struct stat rs;
	ssize_t n;
	long fd;

	if (!v || !*v || !r || !*r || stat(r, &rs) < 0 || rs.st_dev != st->st_dev ||
	    rs.st_ino != st->st_ino)
		return;
	errno = 0;
	fd = strtol(v, &end, 10);
	if (errno || *end || fd < 0 || fd > 1 << 20)
		return;
	snprintf(p, sizeof(p), "/proc/self/fd/%ld", fd);
	n = readlink(p, link, sizeof(link) - 1);
	if (n < 0)
		return;
	link[n] = 0;
	if (!strcmp(link, "anon_inode:[eventfd]"))
		g->efd = fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
}

void pvs__ring(pvsched_guest *g)
{
	const struct pvsched_header *h = g->mem;
	static const uint64_t one = 1;

	if ((!g->regs && g->efd < 0) ||
	    !(__atomic_load_n(&h->host_features, __ATOMIC_ACQUIRE) & PVSCHED_F_DOORBELL))
		return;
	/* the change is visible before the host can act on the ring */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (g->efd >= 0) {
		/* fails only when 2^64 - 2 rings went unread (nobody listens:
		 * the host polls then) */
		ssize_t n = write(g->efd, &one, sizeof(one));

		(void)n;
		return;
	}
	g->regs[PVSCHED_DOORBELL_REG / 4] = PVS_LOAD(&h->doorbell);
}

/* Map FD (opened by open_fd(); closed here) and validate it.  A regular
 * file (a region file, a sysfs resource2) is mapped whole, at most 1 GiB;
 * a character device, and the device source even when it is a regular
 * file (tests stand in for /dev/pvsched with one), to the header's
 * region_size. */
static int map_fd(pvsched_guest **out, int fd, int prot, const char *path, enum pvsched_source src)
{
	pvsched_guest *g;
	struct stat st;
	size_t len;
	int rc;

	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (!S_ISCHR(st.st_mode) && st.st_size < (off_t)PVSCHED_HEADER_SIZE) {
		close(fd);
		last_verr = PVSCHED_V_SHORT;
		return -EMSGSIZE;
	}
	len = S_ISCHR(st.st_mode) ? PVSCHED_REGION_MAX_SIZE : (size_t)st.st_size;
	if (len > PVSCHED_REGION_MAX_SIZE)
		len = PVSCHED_REGION_MAX_SIZE;
	if (S_ISCHR(st.st_mode) || src == PVSCHED_SRC_DEV) {
		rc = len_from_header(fd, len, &len);
		if (rc < 0) {
			close(fd);
			return rc;
		}
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		close(fd);
		return -ENOMEM;
	}
	g->efd = -1;
	g->len = len;
	g->mem = mmap(NULL, g->len, prot, MAP_SHARED, fd, 0);
	if (g->mem == MAP_FAILED && (prot & PROT_WRITE) && read_only_errno(errno)) {
		/* opened for writing, but a writable mapping is refused */
		prot = PROT_READ;
		g->mem = mmap(NULL, g->len, prot, MAP_SHARED, fd, 0);
	}
	rc = g->mem == MAP_FAILED ? -errno : 0;
	close(fd);
	if (rc == -EINVAL && S_ISCHR(st.st_mode)) {
		/* the header validated: the device maps less than region_size */
		last_verr = PVSCHED_V_REGION_SIZE;
		rc = -EMSGSIZE;
	}
	if (rc < 0) {
		free(g);
		return rc;
	}
	rc = map_layout(g);
	if (rc < 0) {
		munmap(g->mem, g->len);
		free(g);
		return rc;
	}
	g->source = src;
	snprintf(g->path, sizeof(g->path), "%s", path);
	g->writable = (prot & PROT_WRITE) != 0;
	if (g->writable)
		map_regs(g, S_ISCHR(st.st_mode));
	if (g->writable && S_ISREG(st.st_mode) && src != PVSCHED_SRC_PCI)
		take_eventfd(g, &st);
	if (prot & PROT_WRITE) {
		struct pvsched_header *h = g->mem;
		__atomic_store_n(&h->guest_major, (uint16_t)PVSCHED_ABI_MAJOR, __ATOMIC_RELAXED);
		__atomic_store_n(&h->guest_minor, (uint16_t)PVSCHED_ABI_MINOR, __ATOMIC_RELAXED);
	}
	*out = g;
	return 0;
}

static int open_one(pvsched_guest **out, const char *path, enum pvsched_source src)
{
	int prot, fd;

	last_verr = PVSCHED_V_OK;
	fd = open_fd(path, &prot);
	if (fd < 0)
		return fd;
	return map_fd(out, fd, prot, path, src);
}

int pvsched_open_path(pvsched_guest **out, const char *path)
{
	if (!out || !path || !*path)
		return -EINVAL;
	*out = NULL;
	return open_one(out, path, PVSCHED_SRC_PATH);
}

static long read_hex_file(const char *dir, const char *name, const char *file)
{
	char p[512], buf[32];
	FILE *f;
	long v = -1;

	if (snprintf(p, sizeof(p), "%s/%s/%s", dir, name, file) >= (int)sizeof(p))
		return -1;
	f = fopen(p, "re");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f))
		v = strtol(buf, NULL, 16);
	fclose(f);
	return v;
}

/* How telling a failed candidate's error is: -ENOENT (nothing there) <
 * -EBADMSG (no pvsched header: another ivshmem user, or a region no host
 * agent has initialised yet) < anything else (a malformed pvsched region,
 * no permission).  The first error of the highest rank is kept, with its
 * validation code. */
struct open_err {
	int rc;
	enum pvsched_verr verr;
};

static int err_rank(int rc)
{
	return rc == -ENOENT ? 0 : rc == -EBADMSG ? 1 : 2;
}

static void keep_err(struct open_err *best, int rc)
{
	if (rc < 0 && err_rank(rc) > err_rank(best->rc)) {
		best->rc = rc;
		best->verr = last_verr;
	}
}

static void scan_pci(pvsched_guest **out, struct open_err *best)
{
	const char *root = getenv(PVSCHED_ENV_SYSFS_PCI);
	struct dirent **ents = NULL;
	int n;

	if (!root || !*root)
		root = "/sys/bus/pci/devices";
	/* Sorted, so the same device wins every time. */
	n = scandir(root, &ents, NULL, alphasort);
	if (n < 0)
		return;
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		char p[512];

		if (name[0] == '.' || *out)
			continue;
		if (read_hex_file(root, name, "vendor") != PCI_VENDOR_REDHAT_QUMRANET ||
		    read_hex_file(root, name, "device") != PCI_DEVICE_IVSHMEM)
			continue;
		if (snprintf(p, sizeof(p), "%s/%s/resource2", root, name) >= (int)sizeof(p))
			continue;
		/* a malformed pvsched region beats a device that is some other
		 * ivshmem user (bad magic) */
		keep_err(best, open_one(out, p, PVSCHED_SRC_PCI));
	}
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
}

/* The guest driver's device.  Absent (no node, or a node with no device
 * behind it: ENODEV, ENXIO) counts as -ENOENT, so that a guest without the
 * driver behaves as before it existed. */
static int open_dev(pvsched_guest **out)
{
	const char *path = getenv(PVSCHED_ENV_DEV);
	int prot, fd;

	if (!path || !*path)
		path = PVSCHED_DEV_PATH;
	last_verr = PVSCHED_V_OK;
	fd = open_fd(path, &prot);
	if (fd == -ENODEV || fd == -ENXIO)
		fd = -ENOENT;
	if (fd < 0)
		return fd;
	return map_fd(out, fd, prot, path, PVSCHED_SRC_DEV);
}

int pvsched_open(pvsched_guest **out)
{
	struct open_err best = {-ENOENT, PVSCHED_V_OK};
	const char *env;

	if (!out)
		return -EINVAL;
	*out = NULL;
	env = getenv(PVSCHED_ENV_REGION);
	if (env && *env)
		return open_one(out, env, PVSCHED_SRC_ENV);
	/* The device and the PCI scan show the same BAR.  A device that
	 * fails does not end the lookup: the scan may still find a region
	 * (as root), and the most telling error of both is returned. */
	keep_err(&best, open_dev(out));
	if (!*out)
		scan_pci(out, &best);
	if (*out) {
		last_verr = PVSCHED_V_OK;
		return 0;
	}
	last_verr = best.verr;
	return best.rc;
}

void pvsched_close(pvsched_guest *g)
{
	if (!g)
		return;
	if (g->regs)
		munmap((void *)g->regs, g->regs_len);
	if (g->efd >= 0)
		close(g->efd);
	munmap(g->mem, g->len);
	free(g);
}

const char *pvsched_guest_path(const pvsched_guest *g)
{
	return g ? g->path : NULL;
}

enum pvsched_source pvsched_guest_source(const pvsched_guest *g)
{
	return g ? g->source : PVSCHED_SRC_NONE;
}

int pvsched_host_alive(pvsched_guest *g)
{
	const struct pvsched_header *h;
	uint64_t hb, now, last, inst;
	uint32_t stale_us;

	if (!g)
		return -EINVAL;
	h = g->mem;
	if (PVS_LOAD(&h->magic) != PVSCHED_MAGIC || PVS_LOAD(&h->host_state) != PVSCHED_HOST_ACTIVE)
		return 0;
	inst = PVS_LOAD(&h->host_instance);
	if (inst != __atomic_load_n(&g->instance, __ATOMIC_RELAXED)) {
		/* A new agent attached: trust nothing until its header checks. */
		if (map_layout(g) < 0)
			return 0;
	}
	hb = PVS_LOAD(&h->heartbeat);
	now = pvs_mono_ns();
	if (hb != __atomic_load_n(&g->last_hb, __ATOMIC_RELAXED)) {
		__atomic_store_n(&g->last_hb, hb, __ATOMIC_RELAXED);
		__atomic_store_n(&g->last_change_ns, now, __ATOMIC_RELAXED);
		return 1;
	}
	stale_us = PVS_LOAD(&h->stale_after_us);
	last = __atomic_load_n(&g->last_change_ns, __ATOMIC_RELAXED);
	return now - last <= (uint64_t)stale_us * 1000u;
}

uint64_t pvsched_host_instance(pvsched_guest *g)
{
	if (pvsched_host_alive(g) != 1)
		return 0;
	return __atomic_load_n(&g->instance, __ATOMIC_RELAXED);
}

int pvsched_read_vm(pvsched_guest *g, struct pvsched_vm_info *info)
{
	const struct pvsched_header *h;
	const struct pvsched_vm *vm;
	uint32_t s, tries = 0;
	int alive;

	if (!g || !info)
		return -EINVAL;
	alive = pvsched_host_alive(g);
	h = g->mem;
	vm = (const struct pvsched_vm *)((const char *)g->mem + g->vm_offset);
	do {
		if (++tries > PVS_SEQ_RETRIES)
			return -EBUSY;
		s = pvs_seq_read_begin(&vm->seq);
		info->update_ns = PVS_LOAD(&vm->update_ns);
		info->preempted_now = PVS_LOAD(&vm->preempted_now);
		info->preempted_avg_milli = PVS_LOAD(&vm->preempted_avg_milli);
		info->capacity_milli = PVS_LOAD(&vm->capacity_milli);
		info->recommended_dop = PVS_LOAD(&vm->recommended_dop);
		info->running_now = PVS_LOAD(&vm->running_now);
		info->idle_now = PVS_LOAD(&vm->idle_now);
		info->window_us = PVS_LOAD(&vm->window_us);
		info->publish_period_us = PVS_LOAD(&vm->publish_period_us);
		info->host_cpus = PVS_LOAD(&vm->host_cpus);
	} while (pvs_seq_read_retry(&vm->seq, s));
	info->heartbeat = PVS_LOAD(&h->heartbeat);
	info->nr_vcpus = PVS_LOAD(&h->nr_vcpus);
	if (info->nr_vcpus > g->max_vcpus)
		info->nr_vcpus = g->max_vcpus;
	return alive == 1 ? 0 : -ENOTCONN;
}

int pvsched_read_vcpu(pvsched_guest *g, uint32_t idx, struct pvsched_vcpu_info *info)
{
	const struct pvsched_header *h;
	const struct pvsched_vcpu_host *v;
	uint32_t s, tries = 0, nr;
	int alive;

	if (!g || !info)
		return -EINVAL;
	h = g->mem;
	nr = PVS_LOAD(&h->nr_vcpus);
	if (idx >= nr || idx >= g->max_vcpus)
		return -ERANGE;
	alive = pvsched_host_alive(g);
	v = (const struct pvsched_vcpu_host *)((const char *)g->mem + g->vcpu_offset +
	                                       (size_t)idx * g->vcpu_stride);
	memset(info, 0, sizeof(*info));
	do {
		if (++tries > PVS_SEQ_RETRIES)
			return -EBUSY;
		s = pvs_seq_read_begin(&v->seq);
		info->state = PVS_LOAD(&v->state);
		info->run_ns = PVS_LOAD(&v->run_ns);
		info->wait_ns = PVS_LOAD(&v->wait_ns);
		info->preemptions = PVS_LOAD(&v->preemptions);
		info->update_ns = PVS_LOAD(&v->update_ns);
		info->wait_milli = PVS_LOAD(&v->wait_milli);
		info->run_milli = PVS_LOAD(&v->run_milli);
	} while (pvs_seq_read_retry(&v->seq, s));
	if (info->state > PVSCHED_VCPU_STATE_MAX)
		info->state = PVSCHED_VCPU_UNKNOWN;
	return alive == 1 ? 0 : -ENOTCONN;
}

/* ---- ABI 1.1: the calling thread's own slot, and a slot's preemption ---- */

/* Per-thread cache of pvsched_vcpu_self() for process VMs.  The thread id
 * is a system call to learn, so it is learnt once; the slot found is
 * revalidated at every call by one load of that slot's tid. */
struct self_cache {
	const pvsched_guest *g; /* handle the slot / miss below belong to */
	uint32_t tid;           /* this thread's id, 0 = not known yet */
	uint32_t slot;          /* last slot found (valid if have_slot) */
	int have_slot;
	int miss;         /* the last scan found no slot ... */
	uint64_t miss_hb; /* ... at this heartbeat: no rescan until it moves */
};

static __thread struct self_cache self_tls;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* fork() copies the forking thread's cache into the child, whose only
 * thread has another id. */
static void self_atfork_child(void)
{
	memset(&self_tls, 0, sizeof(self_tls));
}

static void self_atfork_register(void)
{
	pthread_atfork(NULL, NULL, self_atfork_child);
}

static uint32_t self_tid(void)
{
	if (!self_tls.tid) {
		pthread_once(&atfork_once, self_atfork_register);
		self_tls.tid = (uint32_t)gettid();
	}
	return self_tls.tid;
}

uint32_t pvs__nr_vcpus(const pvsched_guest *g)
{
	const struct pvsched_header *h = g->mem;
	uint32_t nr = __atomic_load_n(&h->nr_vcpus, __ATOMIC_ACQUIRE);

	return nr < g->max_vcpus ? nr : g->max_vcpus;
}

/* Calibrate once per PVS_CLOCK_RECAL_NS: wait (at most 3 periods) for the
 * heartbeat to move and pair the host time published with it with this
 * clock.  The host stores host_time_ns at the start of its publish, so the
 * offset errs low by the publish and observation delays (tens of us): a
 * translated deadline is early, never late. */
#define PVS_CLOCK_RECAL_NS 10000000000ull

int pvs__clock_offset(pvsched_guest *g, int64_t *off)
{
	const struct pvsched_header *h = g->mem;
	uint64_t now = pvs_mono_ns(), at = __atomic_load_n(&g->clock_off_at, __ATOMIC_ACQUIRE);
	uint64_t hb0, limit, period;

	if ((PVS_LOAD(&h->host_features) & PVSCHED_F_VCPU_MAP) &&
	    PVS_LOAD(&h->vm_kind) == PVSCHED_VM_KIND_PROCESS) {
		*off = 0; /* the same machine, the same CLOCK_MONOTONIC */
		return 0;
	}
	if (at && now - at < PVS_CLOCK_RECAL_NS) {
		*off = __atomic_load_n(&g->clock_off, __ATOMIC_RELAXED);
		return 0;
	}
	period = (uint64_t)PVS_LOAD(&h->publish_period_us) * 1000u;
	limit = now + 3 * (period ? period : 10000000u);
	hb0 = __atomic_load_n(&h->heartbeat, __ATOMIC_ACQUIRE);
	for (;;) {
		uint64_t hb = __atomic_load_n(&h->heartbeat, __ATOMIC_ACQUIRE);
		uint64_t t = pvs_mono_ns();

		if (hb != hb0) {
			int64_t o = (int64_t)(PVS_LOAD(&h->host_time_ns) - t);
			__atomic_store_n(&g->clock_off, o, __ATOMIC_RELAXED);
			__atomic_store_n(&g->clock_off_at, t ? t : 1, __ATOMIC_RELEASE);
			*off = o;
			return 0;
		}
		if (t > limit)
			return -ENOTCONN;
		sched_yield();
	}
}

int pvs__writable(const pvsched_guest *g)
{
	return g->writable;
}

struct pvsched_header *pvs__header(pvsched_guest *g)
{
	return g->mem;
}

struct pvsched_vcpu *pvs__slot(pvsched_guest *g, uint32_t idx)
{
	return (struct pvsched_vcpu *)((char *)g->mem + g->vcpu_offset +
	                               (size_t)idx * g->vcpu_stride);
}

static const struct pvsched_vcpu_host *slot_host(const pvsched_guest *g, uint32_t idx)
{
	return (const struct pvsched_vcpu_host *)((const char *)g->mem + g->vcpu_offset +
	                                          (size_t)idx * g->vcpu_stride);
}

int pvsched_vcpu_self(pvsched_guest *g)
{
	const struct pvsched_header *h;
	struct self_cache *c = &self_tls;
	uint32_t nr, tid;
	uint64_t hb;

	if (!g)
		return -EINVAL;
	h = g->mem;
	nr = pvs__nr_vcpus(g);
	if (!(PVS_LOAD(&h->host_features) & PVSCHED_F_VCPU_MAP) ||
	    PVS_LOAD(&h->vm_kind) != PVSCHED_VM_KIND_PROCESS) {
		/* A real VM (or a host that does not say, which abi.md 10.5
		 * says to take for one): slot = guest CPU number.  glibc's
		 * sched_getcpu() reads it from rseq or the vDSO. */
		int cpu = sched_getcpu();

		if (cpu < 0)
			return -errno;
		return (uint32_t)cpu < nr ? cpu : -ERANGE;
	}
	/* A process VM: the slot whose tid is ours.  A single 32-bit field
	 * needs no sequence check: one atomic load cannot be torn. */
	tid = self_tid();
	if (c->g == g && c->have_slot && c->slot < nr &&
	    PVS_LOAD(&slot_host(g, c->slot)->tid) == tid)
		return (int)c->slot;
	/* The host writes a slot's tid before the heartbeat that publishes it
	 * (abi.md 7.3): a failed scan stays valid until the heartbeat moves. */
	hb = __atomic_load_n(&h->heartbeat, __ATOMIC_ACQUIRE);
	if (c->g == g && c->miss && c->miss_hb == hb)
		return -ENOENT;
	c->g = g;
	for (uint32_t i = 0; i < nr; i++) {
		if (PVS_LOAD(&slot_host(g, i)->tid) == tid) {
			c->slot = i;
			c->have_slot = 1;
			c->miss = 0;
			return (int)i;
		}
	}
	c->have_slot = 0;
	c->miss = 1;
	c->miss_hb = hb;
	return -ENOENT;
}

/* Retries of the state's seqlock read before answering "not known to be
 * preempted": this is on the lock's spin path, where the full
 * PVS_SEQ_RETRIES against a writer that died mid-update would stall. */
#define PREEMPTED_SEQ_RETRIES 1000u

int pvsched_vcpu_preempted(pvsched_guest *g, uint32_t idx)
{
	const struct pvsched_vcpu_host *v;
	uint32_t s, state, tries = 0;

	if (!g)
		return -EINVAL;
	if (idx >= pvs__nr_vcpus(g))
		return -ERANGE;
	v = slot_host(g, idx);
	do {
		if (++tries > PREEMPTED_SEQ_RETRIES)
			return 0;
		s = pvs_seq_read_begin(&v->seq);
		state = PVS_LOAD(&v->state);
	} while (pvs_seq_read_retry(&v->seq, s));
	if (state != PVSCHED_VCPU_PREEMPTED)
		return 0;
	/* Only a PREEMPTED answer needs a live host: the common answers
	 * (running, idle) cost no clock read. */
	return pvsched_host_alive(g) == 1;
}
