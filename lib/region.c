/* SPDX-License-Identifier: MIT */
/*
 * lib/region.c - validation of a pvsched region header and the library's
 * error and name strings.  Shared by the guest library and the host agent:
 * both run the same checks on a mapping before trusting any offset in it.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "region_internal.h"
#include "seqlock.h"

static int is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

void pvs__header_load(struct pvsched_header *dst, const struct pvsched_header *src)
{
	/* Field by field with relaxed atomics: the other side may be writing. */
	memset(dst, 0, sizeof(*dst));
	dst->magic = PVS_LOAD(&src->magic);
	dst->major = PVS_LOAD(&src->major);
	dst->minor = PVS_LOAD(&src->minor);
	dst->header_size = PVS_LOAD(&src->header_size);
	dst->region_size = PVS_LOAD(&src->region_size);
	dst->host_features = PVS_LOAD(&src->host_features);
	dst->nr_vcpus = PVS_LOAD(&src->nr_vcpus);
	dst->max_vcpus = PVS_LOAD(&src->max_vcpus);
	dst->vm_offset = PVS_LOAD(&src->vm_offset);
	dst->vm_size = PVS_LOAD(&src->vm_size);
	dst->vcpu_offset = PVS_LOAD(&src->vcpu_offset);
	dst->vcpu_stride = PVS_LOAD(&src->vcpu_stride);
	dst->stale_after_us = PVS_LOAD(&src->stale_after_us);
	dst->host_state = PVS_LOAD(&src->host_state);
	dst->publish_period_us = PVS_LOAD(&src->publish_period_us);
	dst->heartbeat = PVS_LOAD(&src->heartbeat);
	dst->host_time_ns = PVS_LOAD(&src->host_time_ns);
	dst->host_instance = PVS_LOAD(&src->host_instance);
	for (size_t i = 0; i < sizeof(dst->vm_name); i++)
		dst->vm_name[i] = PVS_LOAD(&src->vm_name[i]);
}

int pvs__header_check(const struct pvsched_header *h, size_t maplen, enum pvsched_verr *why)
{
	enum pvsched_verr v = PVSCHED_V_OK;
	int err = -EPROTO;

	if (h->magic != PVSCHED_MAGIC) {
		v = PVSCHED_V_MAGIC;
		err = -EBADMSG;
	} else if (h->major != PVSCHED_ABI_MAJOR) {
		v = PVSCHED_V_MAJOR;
		err = -EPROTONOSUPPORT;
	} else if (h->header_size < PVSCHED_HEADER_SIZE ||
	           (h->vm_offset >= PVSCHED_HEADER_SIZE && h->header_size > h->vm_offset)) {
		/* a vm_offset inside the header is vm_offset's fault (below) */
		v = PVSCHED_V_HEADER_SIZE;
	} else if (!is_pow2(h->region_size) || h->region_size < PVSCHED_REGION_MIN_SIZE ||
	           h->region_size > PVSCHED_REGION_MAX_SIZE || h->region_size > maplen) {
		v = PVSCHED_V_REGION_SIZE;
		if (h->region_size > maplen && is_pow2(h->region_size))
			err = -EMSGSIZE;
	} else if (h->vm_offset < PVSCHED_HEADER_SIZE || h->vm_offset % PVSCHED_CACHELINE ||
	           h->vm_offset >= h->region_size) {
		v = PVSCHED_V_VM_OFFSET;
	} else if (h->vm_size < PVSCHED_VM_SIZE || h->vm_size % PVSCHED_CACHELINE ||
	           (uint64_t)h->vm_offset + h->vm_size > h->region_size) {
		v = PVSCHED_V_VM_SIZE;
	} else if (h->vcpu_offset % PVSCHED_CACHELINE ||
	           h->vcpu_offset < (uint64_t)h->vm_offset + h->vm_size ||
	           h->vcpu_offset >= h->region_size) {
		v = PVSCHED_V_VCPU_OFFSET;
	} else if (h->vcpu_stride < PVSCHED_VCPU_STRIDE || h->vcpu_stride % PVSCHED_CACHELINE) {
		v = PVSCHED_V_VCPU_STRIDE;
	} else if (h->max_vcpus == 0 ||
	           h->max_vcpus > (h->region_size - h->vcpu_offset) / h->vcpu_stride) {
		v = PVSCHED_V_MAX_VCPUS;
	} else if (h->nr_vcpus > h->max_vcpus) {
		v = PVSCHED_V_NR_VCPUS;
	} else if (h->host_state > PVSCHED_HOST_DETACHED) {
		v = PVSCHED_V_HOST_STATE;
	} else if (h->host_state == PVSCHED_HOST_ACTIVE &&
	           (h->publish_period_us == 0 || h->publish_period_us > 10u * 1000 * 1000)) {
		v = PVSCHED_V_PERIOD;
	} else if (h->host_state == PVSCHED_HOST_ACTIVE &&
	           h->stale_after_us < h->publish_period_us) {
		v = PVSCHED_V_STALE_AFTER;
	}
	if (why)
		*why = v;
	return v == PVSCHED_V_OK ? 0 : err;
}

int pvsched_region_validate(const void *mem, size_t maplen, enum pvsched_verr *why)
{
	struct pvsched_header h;

	if (!mem || maplen < PVSCHED_HEADER_SIZE) {
		if (why)
			*why = PVSCHED_V_SHORT;
		return -EMSGSIZE;
	}
	pvs__header_load(&h, mem);
	return pvs__header_check(&h, maplen, why);
}

const char *pvsched_verr_str(enum pvsched_verr why)
{
	switch (why) {
	case PVSCHED_V_OK: return "valid";
	case PVSCHED_V_SHORT: return "region smaller than its header";
	case PVSCHED_V_MAGIC: return "bad magic (not a pvsched region)";
	case PVSCHED_V_MAJOR: return "unsupported ABI major version";
	case PVSCHED_V_HEADER_SIZE: return "bad header_size";
	case PVSCHED_V_REGION_SIZE:
		return "bad region_size (power of two, 8 KiB..1 GiB, within the mapping)";
	case PVSCHED_V_VM_OFFSET: return "bad vm_offset";
	case PVSCHED_V_VM_SIZE: return "bad vm_size";
	case PVSCHED_V_VCPU_OFFSET: return "bad vcpu_offset";
	case PVSCHED_V_VCPU_STRIDE: return "bad vcpu_stride";
	case PVSCHED_V_MAX_VCPUS: return "max_vcpus does not fit the region";
	case PVSCHED_V_NR_VCPUS: return "nr_vcpus exceeds max_vcpus";
	case PVSCHED_V_HOST_STATE: return "unknown host_state";
	case PVSCHED_V_PERIOD: return "bad publish_period_us";
	case PVSCHED_V_STALE_AFTER: return "stale_after_us shorter than the publish period";
	case PVSCHED_V__COUNT: break;
	}
	return "unknown validation error";
}

const char *pvsched_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case -ENOENT: return "no pvsched region found";
	case -ENOTCONN: return "no host agent (region stale or detached)";
	case -EBADMSG: return "not a pvsched region (bad magic)";
	case -EPROTONOSUPPORT: return "unsupported pvsched ABI major version";
	case -EPROTO: return "malformed pvsched region header";
	case -EMSGSIZE: return "pvsched region smaller than its header says";
	case -EBUSY: return "region update in progress for too long (writer stuck)";
	case -ERANGE: return "vCPU index out of range";
	case -EINVAL: return "invalid argument";
	case -EEXIST: return "region belongs to another VM";
	default: break;
	}
	if (err < 0 && err != INT_MIN) {
		const char *s = strerror(-err);
		return s ? s : "unknown error";
	}
	return "unknown error";
}

const char *pvsched_source_str(enum pvsched_source s)
{
	switch (s) {
	case PVSCHED_SRC_ENV: return "env";
	case PVSCHED_SRC_DEV: return "dev";
	case PVSCHED_SRC_PCI: return "pci";
	case PVSCHED_SRC_PATH: return "path";
	case PVSCHED_SRC_NONE: break;
	}
	return "none";
}

const char *pvsched_vcpu_state_str(uint32_t state)
{
	switch (state) {
	case PVSCHED_VCPU_RUNNING: return "running";
	case PVSCHED_VCPU_PREEMPTED: return "preempted";
	case PVSCHED_VCPU_IDLE: return "idle";
	default: return "unknown";
	}
}
