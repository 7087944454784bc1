/* SPDX-License-Identifier: MIT */
/*
 * pvsched/pvsched.h - libpvsched, the guest-side API.
 *
 * A guest process opens the pvsched region of its VM (found through
 * $PVSCHED_REGION or the ivshmem PCI device 1af4:1110), then reads
 * seqlock-consistent snapshots of what the host agent publishes.  Reads
 * cost no system call.  Every function returns 0 or a positive value on
 * success and a negative errno value on failure; pvsched_strerror() names
 * it.  The library never prints and depends on libc only.
 */
#ifndef PVSCHED_PVSCHED_H
#define PVSCHED_PVSCHED_H

#include <stddef.h>
#include <stdint.h>

#include <pvsched/abi.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PVSCHED_API __attribute__((visibility("default")))
#else
#define PVSCHED_API
#endif

/* Environment variable naming a region file to use instead of a PCI scan. */
#define PVSCHED_ENV_REGION "PVSCHED_REGION"
/* Root of the PCI scan; tests may point it elsewhere. */
#define PVSCHED_ENV_SYSFS_PCI "PVSCHED_SYSFS_PCI"

typedef struct pvsched_guest pvsched_guest;

/* Why a region was rejected: one code per malformed header field. */
enum pvsched_verr {
	PVSCHED_V_OK = 0,
	PVSCHED_V_SHORT,       /* mapping smaller than a header */
	PVSCHED_V_MAGIC,       /* magic is not PVSCHED_MAGIC */
	PVSCHED_V_MAJOR,       /* unsupported major version */
	PVSCHED_V_HEADER_SIZE, /* header_size < PVSCHED_HEADER_SIZE or > vm_offset */
	PVSCHED_V_REGION_SIZE, /* not a power of two, out of range, or > mapping */
	PVSCHED_V_VM_OFFSET,   /* vm block inside the header, unaligned or past the end */
	PVSCHED_V_VM_SIZE,     /* vm block smaller than v1 or overlapping */
	PVSCHED_V_VCPU_OFFSET, /* vCPU slots overlap the header or vm block */
	PVSCHED_V_VCPU_STRIDE, /* stride smaller than a v1 slot or misaligned */
	PVSCHED_V_MAX_VCPUS,   /* max_vcpus does not fit region_size */
	PVSCHED_V_NR_VCPUS,    /* nr_vcpus > max_vcpus */
	PVSCHED_V_HOST_STATE,  /* unknown host_state value */
	PVSCHED_V_PERIOD,      /* publish_period_us zero or over 10 s */
	PVSCHED_V_STALE_AFTER, /* stale_after_us smaller than the period */
	PVSCHED_V__COUNT
};

/* Where the answer came from (pvsched_guest_source()). */
enum pvsched_source {
	PVSCHED_SRC_NONE = 0,
	PVSCHED_SRC_ENV,  /* $PVSCHED_REGION */
	PVSCHED_SRC_PCI,  /* ivshmem BAR2 found by the PCI scan */
	PVSCHED_SRC_PATH, /* an explicit path given to pvsched_open_path() */
};

struct pvsched_vm_info {
	uint64_t heartbeat; /* header heartbeat when the snapshot was taken */
	uint64_t update_ns; /* host monotonic time of the values */
	uint32_t nr_vcpus;
	uint32_t preempted_now; /* vCPUs preempted at update_ns */
	uint32_t preempted_avg_milli;
	uint32_t capacity_milli;
	uint32_t recommended_dop;
	uint32_t running_now;
	uint32_t idle_now;
	uint32_t window_us;
	uint32_t publish_period_us;
	uint32_t host_cpus;
};

struct pvsched_vcpu_info {
	uint32_t state; /* PVSCHED_VCPU_* */
	uint32_t wait_milli;
	uint32_t run_milli;
	uint32_t reserved0;
	uint64_t run_ns;
	uint64_t wait_ns;
	uint64_t preemptions;
	uint64_t update_ns;
};

/*
 * Validate a mapped region of MAPLEN bytes.  Returns 0, or a negative errno
 * (-EBADMSG bad magic, -EPROTONOSUPPORT other major, -EPROTO malformed
 * field, -EMSGSIZE too small) and, if WHY is not NULL, the field's code.
 */
PVSCHED_API int pvsched_region_validate(const void *mem, size_t maplen, enum pvsched_verr *why);
PVSCHED_API const char *pvsched_verr_str(enum pvsched_verr why);

/* Open the VM's region: $PVSCHED_REGION if set, else the PCI scan. */
PVSCHED_API int pvsched_open(pvsched_guest **out);
/* Open a region file (or a sysfs resource2) by path. */
PVSCHED_API int pvsched_open_path(pvsched_guest **out, const char *path);
PVSCHED_API void pvsched_close(pvsched_guest *g);
PVSCHED_API const char *pvsched_guest_path(const pvsched_guest *g);
PVSCHED_API enum pvsched_source pvsched_guest_source(const pvsched_guest *g);
/* Why the last open failed on a validation error (PVSCHED_V_OK otherwise). */
PVSCHED_API enum pvsched_verr pvsched_last_verr(void);

/*
 * Liveness: 1 when a host agent publishes, 0 when there is none (state not
 * ACTIVE, or the heartbeat has not moved for stale_after_us on this
 * caller's clock).  The first call after open counts as fresh.
 */
PVSCHED_API int pvsched_host_alive(pvsched_guest *g);

/*
 * Consistent snapshots.  Return 0, -ENOTCONN when no host agent is alive
 * (INFO is still filled with the last values), -EBUSY when the writer held
 * the sequence odd for the whole retry budget, -ERANGE for a bad index.
 */
PVSCHED_API int pvsched_read_vm(pvsched_guest *g, struct pvsched_vm_info *info);
PVSCHED_API int pvsched_read_vcpu(pvsched_guest *g, uint32_t idx, struct pvsched_vcpu_info *info);

/* ---- degree-of-parallelism advice (process-wide; thread-safe) ----
 *
 * How many threads a parallel phase should use now.  Sources, in order:
 * the pvsched region (when a host agent is alive), else the guest's own
 * steal time from /proc/stat (any KVM/Xen VM, no pvschedd needed), else
 * the CPUs this process may run on.  The region path costs no system call;
 * the steal path re-reads /proc/stat at most every PVSCHED_STEAL_REFRESH_MS.
 * Advice is never 0 and never more than the usable CPUs.
 * Environment: PVSCHED_REGION (a region file), PVSCHED_DEBUG=1 (print one
 * line to stderr when a region is found malformed; silent by default),
 * PVSCHED_ADVICE=off (always the CPU count). */
enum pvsched_advice_source {
	PVSCHED_ADVICE_CPUS = 1,   /* no better information: the CPU count */
	PVSCHED_ADVICE_STEAL = 2,  /* steal time of this VM's CPUs */
	PVSCHED_ADVICE_REGION = 3, /* the host agent's published advice */
};

#define PVSCHED_STEAL_REFRESH_MS 20
#define PVSCHED_STEAL_WINDOW_MS  250

struct pvsched_advice {
	uint32_t threads;         /* recommended team size, 1..cpus */
	uint32_t cpus;            /* CPUs this process may run on */
	uint32_t preempted_milli; /* preempted vCPUs, smoothed (0 from CPUS) */
	uint32_t capacity_milli;  /* CPU capacity left to this VM */
	enum pvsched_advice_source source;
	uint32_t reserved[3];
};

PVSCHED_API int pvsched_advise(struct pvsched_advice *out);
PVSCHED_API unsigned pvsched_recommended_threads(void);
PVSCHED_API unsigned pvsched_preempted_vcpus_milli(void);
PVSCHED_API enum pvsched_advice_source pvsched_advice_source(void);
PVSCHED_API const char *pvsched_advice_source_str(enum pvsched_advice_source s);
/* Hysteresis step shared by host and guest: where CURRENT should move given
 * CAPACITY_MILLI (see docs/policy.md).  Pure. */
PVSCHED_API uint32_t pvsched_dop_step(uint32_t current, uint32_t capacity_milli, uint32_t max,
                                      uint32_t hysteresis_milli);

PVSCHED_API const char *pvsched_strerror(int err);
PVSCHED_API const char *pvsched_vcpu_state_str(uint32_t state);

#ifdef __cplusplus
}
#endif

#endif /* PVSCHED_PVSCHED_H */
