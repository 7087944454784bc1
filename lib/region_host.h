/* SPDX-License-Identifier: MIT */
/*
 * lib/region_host.h - the host side of a pvsched region: create or attach
 * the backing file, initialise the header, publish under the seqlocks.
 * Used by pvschedd and by tests that play the host; not part of the guest
 * library's ABI.
 */
#ifndef PVSCHED_LIB_REGION_HOST_H
#define PVSCHED_LIB_REGION_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <pvsched/abi.h>

struct pvs_hregion {
	struct pvsched_header *hdr;
	struct pvsched_vm *vm;
	unsigned char *mem;
	size_t size;
	uint32_t nr_vcpus;
	int created;             /* this agent created the file */
	int found_header;        /* the file already had a pvsched magic when opened */
	uint64_t found_instance; /* ... and this host_instance */
	char found_name[33];     /* ... and this VM name */
	int fd;                  /* held open with an exclusive flock: one agent per region */
	uint64_t instance;       /* the host_instance this agent wrote */
	char path[256];
};

struct pvs_hregion_opts {
	size_t size;       /* power of two; used only when creating */
	uint32_t nr_vcpus; /* slots in use */
	uid_t uid;         /* owner for a created file, (uid_t)-1 to keep */
	gid_t gid;         /* group for a created file, (gid_t)-1 to keep */
	mode_t mode;       /* mode for a created file */
	uint32_t period_us;
	uint32_t stale_after_us;
	const char *vm_name;
	uint32_t vm_kind;       /* PVSCHED_VM_KIND_* */
	uint64_t host_features; /* 0: PVSCHED_F_ALL_V1_1 */
	int force;              /* take over a region that names another VM */
};

/*
 * Create PATH (exclusive, sized, owner/mode applied) or attach to an
 * existing file without ever truncating a non-empty one.  On failure
 * returns a negative errno and writes a message naming PATH into ERR.
 */
int pvs_hregion_open(struct pvs_hregion *r, const char *path, const struct pvs_hregion_opts *o,
                     char *err, size_t errlen);
/*
 * Only the file: create PATH as pvs_hregion_open() would (exclusive, owner
 * and mode, sized to O->size) or open an existing one without truncating
 * it, and check its size.  Returns the open fd (O_RDWR, close-on-exec, not
 * locked, not mapped) with *CREATED and *SIZE set, or a negative errno with
 * a message naming PATH in ERR.  For handing the region to QEMU over the
 * ivshmem server protocol before the agent attaches to it.
 */
int pvs_hregion_file(const char *path, const struct pvs_hregion_opts *o, int *created, size_t *size,
                     char *err, size_t errlen);
/* Mark the region DETACHED (guests stop trusting it) and unmap it.  The
 * file stays: QEMU may still map it. */
void pvs_hregion_close(struct pvs_hregion *r);
/* Change the published period and staleness bound (after a reload). */
void pvs_hregion_set_timing(struct pvs_hregion *r, uint32_t period_us, uint32_t stale_after_us);
/* Grow or shrink the number of slots in use (after vCPU discovery). */
int pvs_hregion_set_nr_vcpus(struct pvs_hregion *r, uint32_t nr);

struct pvsched_vcpu *pvs_hregion_vcpu(struct pvs_hregion *r, uint32_t idx);
/* Seqlock-protected publishes: VALUES' seq field is ignored. */
void pvs_hregion_publish_vm(struct pvs_hregion *r, const struct pvsched_vm *values);
void pvs_hregion_publish_vcpu(struct pvs_hregion *r, uint32_t idx,
                              const struct pvsched_vcpu_host *values);
/* 1 while the header is still the one this agent wrote (its magic and its
 * host_instance); 0 once something else rewrote it: an incoming live
 * migration stream (QEMU's master=on copies the region with the guest's
 * RAM, the source's host part included), or a guest scribbling over a page
 * it must only read.  The caller re-opens the region (a new instance). */
int pvs_hregion_intact(const struct pvs_hregion *r);
/* Offer the doorbell (1.4): ON sets header.doorbell to VALUE, then
 * PVSCHED_F_DOORBELL in host_features; !ON clears the bit, then the value. */
void pvs_hregion_set_doorbell(struct pvs_hregion *r, int on, uint32_t value);
/* Advance the heartbeat: call once per publish period, after the values. */
void pvs_hregion_heartbeat(struct pvs_hregion *r, uint64_t now_ns);

#endif
