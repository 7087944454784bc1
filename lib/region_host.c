/* SPDX-License-Identifier: MIT */
/*
 * lib/region_host.c - host side of a region (see region_host.h).
 *
 * Attach rules, from how QEMU's ivshmem backend behaves: QEMU creates the
 * backing file (0644) when missing and refuses a non-empty file of another
 * size, so the agent never truncates a file that has a size; it creates a
 * file only with O_EXCL, and sizes only a file it created or an empty one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "region_host.h"
#include "region_internal.h"
#include "seqlock.h"

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	return v ? v : 1;
}

static void init_header(struct pvs_hregion *r, const struct pvs_hregion_opts *o)
{
	struct pvsched_header *h = r->hdr;

	/* Hide the region while it changes: guests check the magic and state. */
	PVS_STORE(&h->host_state, PVSCHED_HOST_NONE);
	__atomic_store_n(&h->magic, 0, __ATOMIC_RELEASE);
	PVS_STORE(&h->major, (uint16_t)PVSCHED_ABI_MAJOR);
	PVS_STORE(&h->minor, (uint16_t)PVSCHED_ABI_MINOR);
	PVS_STORE(&h->header_size, PVSCHED_HEADER_SIZE);
	PVS_STORE(&h->region_size, (uint64_t)r->size);
	PVS_STORE(&h->host_features, o->host_features ? o->host_features : PVSCHED_F_ALL_V1_1);
	PVS_STORE(&h->max_vcpus, (uint32_t)PVSCHED_VCPUS_FOR_SIZE(r->size));
	PVS_STORE(&h->nr_vcpus, r->nr_vcpus);
	PVS_STORE(&h->vm_offset, PVSCHED_VM_OFFSET);
	PVS_STORE(&h->vm_size, PVSCHED_VM_SIZE);
	PVS_STORE(&h->vcpu_offset, PVSCHED_VCPU_OFFSET);
	PVS_STORE(&h->vcpu_stride, PVSCHED_VCPU_STRIDE);
	PVS_STORE(&h->stale_after_us, o->stale_after_us);
	PVS_STORE(&h->reserved0, 0u);
	PVS_STORE(&h->publish_period_us, o->period_us);
	PVS_STORE(&h->host_time_ns, 0);
	r->instance = random_u64();
	PVS_STORE(&h->host_instance, r->instance);
	for (size_t i = 0; i < sizeof(h->vm_name); i++) {
		size_t n = o->vm_name ? strlen(o->vm_name) : 0;
		PVS_STORE(&h->vm_name[i], (uint8_t)(i < n ? o->vm_name[i] : 0));
	}
	PVS_STORE(&h->vm_kind, o->vm_kind);
	PVS_STORE(&h->doorbell, 0u);
	for (size_t i = 0; i < sizeof(h->reserved1) / sizeof(h->reserved1[0]); i++)
		PVS_STORE(&h->reserved1[i], 0);
	/* Host parts of the VM block and every slot in use start from zero; the
	 * guest parts are the guest's and are left alone.  Slots beyond
	 * nr_vcpus are zeroed when they come into use (set_nr_vcpus): zeroing
	 * all of them would make every page of the file resident (1 MiB per VM
	 * at the default size) for slots no guest may read. */
	memset(r->vm, 0, sizeof(*r->vm));
	for (uint32_t i = 0; i < r->nr_vcpus; i++)
		memset(&pvs_hregion_vcpu(r, i)->host, 0, sizeof(struct pvsched_vcpu_host));
	__atomic_store_n(&h->magic, PVSCHED_MAGIC, __ATOMIC_RELEASE);
	__atomic_store_n(&h->host_state, PVSCHED_HOST_ACTIVE, __ATOMIC_RELEASE);
}

int pvs_hregion_file(const char *path, const struct pvs_hregion_opts *o, int *createdp,
                     size_t *sizep, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc, created = 0;
	size_t size;

	if (!is_pow2(o->size) || o->size < PVSCHED_REGION_MIN_SIZE ||
	    o->size > PVSCHED_REGION_MAX_SIZE)
		return fail(err, errlen, -EINVAL,
		            "%s: region size %zu is not a power of two in [%u, %u]", path, o->size,
		            PVSCHED_REGION_MIN_SIZE, PVSCHED_REGION_MAX_SIZE);
	if (strlen(path) >= sizeof(((struct pvs_hregion *)0)->path))
		return fail(err, errlen, -ENAMETOOLONG, "%s: path too long", path);

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, o->mode);
	if (fd >= 0) {
		created = 1;
		if (fchmod(fd, o->mode) < 0 || ((o->uid != (uid_t)-1 || o->gid != (gid_t)-1) &&
		                                fchown(fd, o->uid, o->gid) < 0)) {
			rc = -errno;
			unlink(path); /* ours, never mapped by anyone yet */
			close(fd);
			return fail(err, errlen, rc, "%s: setting owner/mode: %s", path,
			            strerror(-rc));
		}
	} else if (errno == EEXIST) {
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			rc = -errno;
			return fail(err, errlen, rc, "%s: %s", path, strerror(-rc));
		}
	} else {
		rc = -errno;
		return fail(err, errlen, rc, "%s: %s", path, strerror(-rc));
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return fail(err, errlen, rc, "%s: %s", path, strerror(-rc));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, errlen, -EINVAL, "%s: not a regular file", path);
	}
	if (st.st_size == 0) {
		size = o->size;
	} else {
		size = (size_t)st.st_size;
		if (!is_pow2(size) || size < PVSCHED_REGION_MIN_SIZE ||
		    size > PVSCHED_REGION_MAX_SIZE) {
			close(fd);
			return fail(err, errlen, -EMSGSIZE,
			            "%s: existing file of %zu bytes is not a usable region "
			            "(power of two in [%u, %u] needed); left untouched",
			            path, size, PVSCHED_REGION_MIN_SIZE, PVSCHED_REGION_MAX_SIZE);
		}
	}
	/* Checked before sizing: a refused region leaves no file behind (one
	 * this agent created) and no empty file resized. */
	if (o->nr_vcpus > PVSCHED_VCPUS_FOR_SIZE(size)) {
		if (created)
			unlink(path);
		close(fd);
		return fail(err, errlen, -EMSGSIZE, "%s: %u vCPUs do not fit %zu bytes (max %zu)",
		            path, o->nr_vcpus, size, (size_t)PVSCHED_VCPUS_FOR_SIZE(size));
	}
	if (st.st_size == 0 && ftruncate(fd, (off_t)size) < 0) {
		rc = -errno;
		if (created)
			unlink(path);
		close(fd);
		return fail(err, errlen, rc, "%s: sizing to %zu: %s", path, size, strerror(-rc));
	}
	*createdp = created;
	*sizep = size;
	return fd;
}

int pvs_hregion_open(struct pvs_hregion *r, const char *path, const struct pvs_hregion_opts *o,
                     char *err, size_t errlen)
{
	int fd, rc, created = 0;
	size_t size;
	void *mem;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	fd = pvs_hregion_file(path, o, &created, &size, err, errlen);
	if (fd < 0)
		return fd;
	/* One agent per region: two daemons publishing into one region would
	 * fight over its header.  QEMU does not flock its backing file. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = -errno;
		close(fd);
		if (rc == -EWOULDBLOCK)
			return fail(err, errlen, -EBUSY,
			            "%s: in use by another pvsched agent (locked); left untouched",
			            path);
		return fail(err, errlen, rc, "%s: flock: %s", path, strerror(-rc));
	}
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		rc = -errno;
		if (created)
			unlink(path);
		close(fd);
		return fail(err, errlen, rc, "%s: mmap: %s", path, strerror(-rc));
	}
	r->mem = mem;
	r->hdr = mem;
	r->vm = (struct pvsched_vm *)(r->mem + PVSCHED_VM_OFFSET);
	r->size = size;
	r->nr_vcpus = o->nr_vcpus;
	r->created = created;
	r->fd = fd;
	snprintf(r->path, sizeof(r->path), "%s", path);
	if (!created && PVS_LOAD(&r->hdr->magic) == PVSCHED_MAGIC) {
		r->found_header = 1;
		r->found_instance = PVS_LOAD(&r->hdr->host_instance);
		for (size_t i = 0; i < sizeof(r->hdr->vm_name); i++)
			r->found_name[i] = (char)PVS_LOAD(&r->hdr->vm_name[i]);
	}

	/* A region that already carries a pvsched header of another VM is not
	 * ours to take (a name collision or a wrong path in the config). */
	if (!created && PVS_LOAD(&r->hdr->magic) == PVSCHED_MAGIC && o->vm_name && !o->force) {
		char other[sizeof(r->hdr->vm_name) + 1] = {0};

		for (size_t i = 0; i < sizeof(r->hdr->vm_name); i++)
			other[i] = (char)PVS_LOAD(&r->hdr->vm_name[i]);
		if (other[0] && strncmp(other, o->vm_name, sizeof(r->hdr->vm_name)) != 0) {
			munmap(mem, size);
			close(fd);
			memset(r, 0, sizeof(*r));
			r->fd = -1;
			return fail(err, errlen, -EEXIST,
			            "%s: region belongs to VM '%s', not '%s'; left untouched", path,
			            other, o->vm_name);
		}
	}
	init_header(r, o);
	return 0;
}

void pvs_hregion_close(struct pvs_hregion *r)
{
	if (!r->mem)
		return;
	__atomic_store_n(&r->hdr->host_state, PVSCHED_HOST_DETACHED, __ATOMIC_RELEASE);
	munmap(r->mem, r->size);
	if (r->fd >= 0)
		close(r->fd); /* drops the flock */
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

void pvs_hregion_set_timing(struct pvs_hregion *r, uint32_t period_us, uint32_t stale_after_us)
{
	if (!r->mem)
		return;
	/* stale_after first when it grows, last when it shrinks, so a guest
	 * never sees a bound shorter than the period it goes with */
	if (stale_after_us >= PVS_LOAD(&r->hdr->stale_after_us)) {
		PVS_STORE(&r->hdr->stale_after_us, stale_after_us);
		PVS_STORE(&r->hdr->publish_period_us, period_us);
	} else {
		PVS_STORE(&r->hdr->publish_period_us, period_us);
		PVS_STORE(&r->hdr->stale_after_us, stale_after_us);
	}
}

int pvs_hregion_set_nr_vcpus(struct pvs_hregion *r, uint32_t nr)
{
	if (nr > PVSCHED_VCPUS_FOR_SIZE(r->size))
		return -EMSGSIZE;
	for (uint32_t i = r->nr_vcpus; i < nr; i++) {
		struct pvsched_vcpu_host *h = &pvs_hregion_vcpu(r, i)->host;
		uint32_t seq = PVS_LOAD(&h->seq);

		/* a slot coming into use: clear what an earlier agent left */
		pvs_seq_write_begin(&h->seq);
		memset((char *)h + sizeof(h->seq), 0, sizeof(*h) - sizeof(h->seq));
		__atomic_store_n(&h->seq, (seq | 1u) + 1u, __ATOMIC_RELEASE);
	}
	r->nr_vcpus = nr;
	__atomic_store_n(&r->hdr->nr_vcpus, nr, __ATOMIC_RELEASE);
	return 0;
}

struct pvsched_vcpu *pvs_hregion_vcpu(struct pvs_hregion *r, uint32_t idx)
{
	return (struct pvsched_vcpu *)(r->mem + PVSCHED_VCPU_OFFSET +
	                               (size_t)idx * PVSCHED_VCPU_STRIDE);
}

void pvs_hregion_publish_vm(struct pvs_hregion *r, const struct pvsched_vm *v)
{
	struct pvsched_vm *d = r->vm;

	pvs_seq_write_begin(&d->seq);
	PVS_STORE(&d->flags, v->flags);
	PVS_STORE(&d->update_ns, v->update_ns);
	PVS_STORE(&d->preempted_now, v->preempted_now);
	PVS_STORE(&d->preempted_avg_milli, v->preempted_avg_milli);
	PVS_STORE(&d->capacity_milli, v->capacity_milli);
	PVS_STORE(&d->recommended_dop, v->recommended_dop);
	PVS_STORE(&d->running_now, v->running_now);
	PVS_STORE(&d->idle_now, v->idle_now);
	PVS_STORE(&d->window_us, v->window_us);
	PVS_STORE(&d->publish_period_us, v->publish_period_us);
	PVS_STORE(&d->host_cpus, v->host_cpus);
	PVS_STORE(&d->boost_max_us, v->boost_max_us);
	PVS_STORE(&d->boost_budget_us, v->boost_budget_us);
	PVS_STORE(&d->boost_window_us, v->boost_window_us);
	PVS_STORE(&d->boost_lead_us, v->boost_lead_us);
	PVS_STORE(&d->boost_hold_us, v->boost_hold_us);
	pvs_seq_write_end(&d->seq);
}

void pvs_hregion_publish_vcpu(struct pvs_hregion *r, uint32_t idx,
                              const struct pvsched_vcpu_host *v)
{
	struct pvsched_vcpu_host *d;

	if (idx >= PVSCHED_VCPUS_FOR_SIZE(r->size))
		return;
	d = &pvs_hregion_vcpu(r, idx)->host;
	pvs_seq_write_begin(&d->seq);
	PVS_STORE(&d->state, v->state);
	PVS_STORE(&d->run_ns, v->run_ns);
	PVS_STORE(&d->wait_ns, v->wait_ns);
	PVS_STORE(&d->preemptions, v->preemptions);
	PVS_STORE(&d->update_ns, v->update_ns);
	PVS_STORE(&d->wait_milli, v->wait_milli);
	PVS_STORE(&d->run_milli, v->run_milli);
	PVS_STORE(&d->tid, v->tid);
	PVS_STORE(&d->boost_state, v->boost_state);
	PVS_STORE(&d->boost_ns, v->boost_ns);
	PVS_STORE(&d->boosts, v->boosts);
	PVS_STORE(&d->throttles, v->throttles);
	pvs_seq_write_end(&d->seq);
}

void pvs_hregion_heartbeat(struct pvs_hregion *r, uint64_t now_ns)
{
	struct pvsched_header *h = r->hdr;

	PVS_STORE(&h->host_time_ns, now_ns);
	__atomic_store_n(&h->heartbeat, PVS_LOAD(&h->heartbeat) + 1, __ATOMIC_RELEASE);
}

void pvs_hregion_set_doorbell(struct pvs_hregion *r, int on, uint32_t value)
{
	struct pvsched_header *h = r->hdr;
	uint64_t f;

	if (!r->mem)
		return;
	/* the value before the bit: a guest that sees the bit rings right */
	f = PVS_LOAD(&h->host_features);
	if (on) {
		PVS_STORE(&h->doorbell, value);
		__atomic_store_n(&h->host_features, f | PVSCHED_F_DOORBELL, __ATOMIC_RELEASE);
	} else {
		__atomic_store_n(&h->host_features, f & ~PVSCHED_F_DOORBELL, __ATOMIC_RELEASE);
		PVS_STORE(&h->doorbell, 0u);
	}
}

int pvs_hregion_intact(const struct pvs_hregion *r)
{
	const struct pvsched_header *h = r->hdr;

	return __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) == PVSCHED_MAGIC &&
	       PVS_LOAD(&h->host_instance) == r->instance;
}
