/* SPDX-License-Identifier: MIT */
/*
 * pvsched/pvsched.h - libpvsched, the guest-side API.
 *
 * A guest process opens the pvsched region of its VM (found through
 * $PVSCHED_REGION, the guest driver's /dev/pvsched or the ivshmem PCI device
 * 1af4:1110), then reads seqlock-consistent snapshots of what the host agent
 * publishes.  Reads cost no system call.  Every function returns 0 or a
 * positive value on success and a negative errno value on failure;
 * pvsched_strerror() names it.  The library never prints and depends on
 * libc only.
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
/* The guest driver's device, looked at before the PCI scan ... */
#define PVSCHED_DEV_PATH "/dev/pvsched"
/* ... and the variable that names another path for it (tests). */
#define PVSCHED_ENV_DEV "PVSCHED_DEV"
/* A process VM's doorbell: the number of an inherited eventfd that
 * pvschedd passed at attach (pvsched-run --attach sets it beside
 * PVSCHED_REGION).  Rung for the region file PVSCHED_REGION names only. */
#define PVSCHED_ENV_DOORBELL_FD "PVSCHED_DOORBELL_FD"
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
	PVSCHED_SRC_DEV,  /* the guest driver's /dev/pvsched (or $PVSCHED_DEV) */
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

/* Open the VM's region: $PVSCHED_REGION if set (and nothing else), else
 * /dev/pvsched, else the PCI scan; read-only when the file may not be
 * written (then boost requests return -EROFS). */
PVSCHED_API int pvsched_open(pvsched_guest **out);
/* Open a region file (or a sysfs resource2) by path. */
PVSCHED_API int pvsched_open_path(pvsched_guest **out, const char *path);
PVSCHED_API void pvsched_close(pvsched_guest *g);
PVSCHED_API const char *pvsched_guest_path(const pvsched_guest *g);
PVSCHED_API enum pvsched_source pvsched_guest_source(const pvsched_guest *g);
/* "env", "dev", "pci", "path", or "none" (PVSCHED_SRC_NONE, unknown values). */
PVSCHED_API const char *pvsched_source_str(enum pvsched_source s);
/* Why the last open failed on a validation error (PVSCHED_V_OK otherwise). */
PVSCHED_API enum pvsched_verr pvsched_last_verr(void);

/*
 * Liveness: 1 when a host agent publishes, 0 when there is none (state not
 * ACTIVE, or the heartbeat has not moved for stale_after_us on this
 * caller's clock).  The first call after open counts as fresh.
 */
PVSCHED_API int pvsched_host_alive(pvsched_guest *g);
/*
 * The host agent the values come from: its host_instance when one is alive,
 * else 0.  A new value means another agent (a restarted pvschedd, or the
 * destination host's after a live migration): its counters start again
 * from zero and its clock is another host's.
 */
PVSCHED_API uint64_t pvsched_host_instance(pvsched_guest *g);

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

/* ---- the vCPU a thread runs on (ABI 1.1, PVSCHED_F_VCPU_MAP) ----
 *
 * pvsched_vcpu_self(G) returns the slot index of the vCPU the calling
 * thread runs on, or a negative errno:
 *   - process VM (vm_kind PVSCHED_VM_KIND_PROCESS with PVSCHED_F_VCPU_MAP):
 *     the slot whose host-published tid is the caller's thread id.  The id
 *     and the slot are cached per thread; a call loads the cached slot's
 *     tid and rescans the slots only when it no longer matches, so it costs
 *     no system call once cached.  -ENOENT: no slot names this thread (the
 *     host has not bound it yet, or the thread is no vCPU of this VM; the
 *     answer is cached until the next heartbeat).
 *   - any other VM (MACHINE, or a pre-1.1 host): sched_getcpu(), which is
 *     the slot index in a QEMU/KVM guest; -ERANGE if it is >= nr_vcpus.
 * The answer is a hint: the thread may migrate right after the call.
 * Liveness is not checked (see pvsched_vcpu_preempted).  -EINVAL: G NULL.
 *
 * pvsched_vcpu_preempted(G, IDX) returns 1 if a host agent is alive and
 * publishes slot IDX as PVSCHED_VCPU_PREEMPTED, 0 otherwise (running,
 * idle, unknown, no live host, or a writer stuck mid-update), -ERANGE if
 * IDX >= nr_vcpus, -EINVAL if G is NULL.  Cost: one seqlock read of the
 * slot's state; a PREEMPTED answer adds the liveness check (a vDSO clock
 * read).  No system call.  This is the user-space vcpu_is_preempted(). */
PVSCHED_API int pvsched_vcpu_self(pvsched_guest *g);
PVSCHED_API int pvsched_vcpu_preempted(pvsched_guest *g, uint32_t idx);

/* ---- pv-aware lock and barrier (lib/pvwait.c) ----
 *
 * Waiters spin while the threads they wait for can be running and sleep in
 * the kernel (futex) when the host says the vCPU of one of them is
 * preempted: spinning for a thread whose vCPU has no physical CPU only
 * burns the CPU it needs.  Both also stop spinning after
 * PVSCHED_SPIN_BUDGET_NS, because the guest's own scheduler may have
 * descheduled the thread waited for (the host cannot see that).  The vCPU
 * states come from the process-wide region handle the advisor uses (one
 * mapping per process, opened at first use from $PVSCHED_REGION or the PCI
 * scan, looked for again at most once a second while missing).  Without a
 * region, or with no live host agent, they are plain adaptive primitives:
 * bounded spin, then futex.  See docs/guest-library.md, section 8.
 *
 * The objects are process-private: they use FUTEX_PRIVATE_FLAG and must
 * not be placed in memory shared between processes (a waiter in another
 * process would never be woken).  They are 64 bytes, 64-byte aligned, with
 * reserved space; the layout is part of the library's ABI.  Every function
 * returns 0 or a negative errno (-EINVAL for a NULL or uninitialised
 * object), never prints, and is async-signal-unsafe like pthread's. */

/* Spin budget before a waiter sleeps, in nanoseconds (see the docs for
 * why 20 us: about the cost of sleeping and being woken). */
#define PVSCHED_SPIN_BUDGET_NS 20000u

#if defined(__GNUC__)
#define PVSCHED_ALIGN64 __attribute__((aligned(64)))
#else
#define PVSCHED_ALIGN64
#endif

/* A mutex (Drepper's futex mutex "mutex2" with a pv-aware spin phase).
 * Not recursive, no owner check: unlocking a lock the caller does not hold
 * is undefined, as for a PTHREAD_MUTEX_NORMAL mutex.  Fields are private. */
typedef struct pvsched_lock {
	uint32_t word;         /* 0 free, 1 locked, 2 locked with sleepers */
	uint32_t owner;        /* owner's vCPU slot + 1, 0 unknown (a hint) */
	uint32_t flags;        /* zero */
	uint32_t reserved[13]; /* zero */
} PVSCHED_ALIGN64 pvsched_lock;

#define PVSCHED_LOCK_INITIALIZER                                                                   \
	{                                                                                          \
		0, 0, 0,                                                                           \
		{                                                                                  \
			0                                                                          \
		}                                                                                  \
	}

/* init: 0.  destroy: 0, or -EBUSY while locked.  lock: 0 once held.
 * trylock: 0 if acquired, -EBUSY if held by anyone (the caller too).
 * unlock: 0; wakes one sleeper if there is one.  The acquiring thread
 * records its vCPU slot (pvsched_vcpu_self) in the lock for contenders. */
PVSCHED_API int pvsched_lock_init(pvsched_lock *l);
PVSCHED_API int pvsched_lock_destroy(pvsched_lock *l);
PVSCHED_API int pvsched_lock_lock(pvsched_lock *l);
PVSCHED_API int pvsched_lock_trylock(pvsched_lock *l);
PVSCHED_API int pvsched_lock_unlock(pvsched_lock *l);

/* A reusable barrier for COUNT threads, like pthread_barrier_t: each
 * generation ends when COUNT threads have called pvsched_barrier_wait();
 * exactly one of them gets PVSCHED_BARRIER_SERIAL_THREAD, the others 0.
 * Memory written by any thread before its wait is visible to every thread
 * after theirs.  A waiter spins while the threads that have not arrived can
 * be running and sleeps when a vCPU other than its own that no arrived
 * thread runs on is PREEMPTED (slots 0..127 are tracked one by one; beyond
 * them any preempted vCPU counts), or after PVSCHED_SPIN_BUDGET_NS.
 * Fields are private. */
typedef struct pvsched_barrier {
	uint32_t word;             /* futex word: generation << 1 | has sleepers */
	uint32_t arrived;          /* threads arrived in this generation */
	uint32_t count;            /* threads per generation; 0: not initialised */
	uint32_t flags;            /* zero */
	uint64_t arrived_vcpus[2]; /* slots 0..127 of arrived threads */
	uint64_t reserved[4];      /* zero */
} PVSCHED_ALIGN64 pvsched_barrier;

#define PVSCHED_BARRIER_SERIAL_THREAD 1

/* init: 0, -EINVAL for COUNT 0.  destroy: 0, or -EBUSY while threads wait.
 * wait: PVSCHED_BARRIER_SERIAL_THREAD or 0. */
PVSCHED_API int pvsched_barrier_init(pvsched_barrier *b, unsigned count);
PVSCHED_API int pvsched_barrier_destroy(pvsched_barrier *b);
PVSCHED_API int pvsched_barrier_wait(pvsched_barrier *b);

/* What this thread's lock and barrier calls did, counted since the thread
 * started (or the last reset); plain per-thread counters, no atomics. */
struct pvsched_wait_stats {
	uint64_t lock_acquires;   /* pvsched_lock_lock calls, and trylocks that got it */
	uint64_t lock_contended;  /* pvsched_lock_lock calls that found it held */
	uint64_t barrier_waits;   /* pvsched_barrier_wait calls */
	uint64_t spin_successes;  /* contended locks / barrier waits done while spinning */
	uint64_t spins;           /* spin-loop iterations (one pause each) */
	uint64_t preempted_waits; /* spin phases ended: a vCPU waited for was PREEMPTED */
	uint64_t budget_waits;    /* spin phases ended by PVSCHED_SPIN_BUDGET_NS */
	uint64_t futex_waits;     /* FUTEX_WAIT system calls */
	uint64_t futex_wakes;     /* FUTEX_WAKE system calls */
	uint64_t reserved[7];
};

/* Copy the calling thread's counters into OUT (0, -EINVAL for NULL). */
PVSCHED_API int pvsched_wait_stats(struct pvsched_wait_stats *out);
PVSCHED_API void pvsched_wait_stats_reset(void);

/* ---- boosting (ABI 1.2, host feature PVSCHED_F_BOOST) ----
 *
 * Ask the host to run the vCPU the caller is on at a boosted host
 * priority, e.g. around latency-critical work.  No system call: these
 * write the vCPU slot's guest part; the host agent acts within its scan
 * period (docs/boost.md) and publishes a verdict, PVSCHED_BOOST_*:
 * GRANTED, DENIED (boosting is off for this VM), THROTTLED (a limit or the
 * VM's budget holds it), or NONE.  G may be NULL: the process-wide handle
 * (the advisor's).  Errors: -ENOENT no region, -EOPNOTSUPP the host does
 * not offer boosting, -EROFS the region is mapped read-only, -ENOENT or
 * -ERANGE the caller's vCPU slot is not known, -ENOTCONN no live host.
 */
/* Boost the caller's vCPU until the matching pvsched_unboost().  Nests:
 * per thread, only the outermost pair touches the region; the vCPU's
 * boost_req counts the threads holding one. */
PVSCHED_API int pvsched_boost(pvsched_guest *g);
/* End the innermost pvsched_boost() of this thread (-EINVAL if none). */
PVSCHED_API int pvsched_unboost(pvsched_guest *g);
/* The host's last verdict for the caller's vCPU (for the vCPU of an open
 * boost, if this thread holds one): PVSCHED_BOOST_* >= 0, or -errno. */
PVSCHED_API int pvsched_boost_state(pvsched_guest *g);
/*
 * Say when the caller's vCPU must run next - the next period of a
 * periodic task, as an absolute CLOCK_MONOTONIC time of the caller - and
 * for about how long (LEN_US, 0 = the host's default), so the host boosts
 * it shortly before (boost_lead_us) and releases it after LEN_US or as
 * soon as the next deadline is published.  0 clears.  In a real VM the
 * first call calibrates the host clock (waits up to 3 publish periods).
 */
PVSCHED_API int pvsched_boost_at(pvsched_guest *g, uint64_t mono_ns, uint32_t len_us);

PVSCHED_API const char *pvsched_strerror(int err);
PVSCHED_API const char *pvsched_vcpu_state_str(uint32_t state);

#ifdef __cplusplus
}
#endif

#endif /* PVSCHED_PVSCHED_H */
