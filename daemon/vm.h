/* SPDX-License-Identifier: MIT */
/*
 * daemon/vm.h - what pvschedd knows about a VM and its vCPU threads.
 * Discovery fills it, the sampler reads the threads, policy/ turns samples
 * into published values, publish.c writes them to the region.
 */
#ifndef PVSCHED_DAEMON_VM_H
#define PVSCHED_DAEMON_VM_H

#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "boost.h"
#include "cosched.h"
#include "policy.h"
#include "region_host.h"

enum pvs_vm_kind { PVS_VM_QEMU, PVS_VM_PROCESS };

struct pvs_db_conn;

#include "thread_id.h"

struct pvs_vcpu {
	uint32_t index;
	struct pvs_thread_id id;
	int present; /* seen by the last rescan */
	int live;    /* thread exists; 0 after it vanished (slot kept UNKNOWN) */
	int slot;    /* the sampler's handle (an index in its own table), -1 = none */
	int skipped; /* not sampled in the last period: quiet, nothing new (sample.c) */
	struct pvs_vcpu_track track;
	struct pvsched_vcpu_host last_pub; /* what the region holds */
	int pub_valid;
	/* boosting (daemon/boost.c) */
	struct pvs_boost_vcpu boost;
	uint64_t boost_rate_t0, boost_rate_ns0; /* %BOOST over about a second */
	uint32_t boost_pct_x100;
	/* what daemon/actuate.c gave the thread (through the journal) */
	int layer;                   /* enum pvs_layer it has now */
	int rt_held;                 /* counted in pvs_daemon.rt_threads */
	struct pvs_thread_id act_id; /* the thread it was applied to; tid 0: none */
	int act_err_logged;
	int mask_applied; /* the thread has cs_mask as its affinity */
	/* co-scheduling (daemon/cosched.c) */
	int cs_raised;               /* in its VM's gang slice */
	int cs_stopped;              /* co-stopped (relaxed) */
	struct pvs_relax_vcpu relax; /* relaxed skew state */
	struct pvs_cpuset cs_mask;   /* placement; valid when cs_mask_valid */
	int cs_mask_valid;
	uint64_t cs_last_wait; /* wait_total at the last co-scheduling step */
	/* esxtop counters: ready time (runnable, not running) while ... */
	uint64_t costop_ns;  /* ... co-stopped: by relaxed, or its gang waiting
	                        for its slice (%CSTP) */
	uint64_t limited_ns; /* ... its boost request was held by the budget
	                        (THROTTLED) (%MLMTD) */
	uint64_t cs_rate_t0, cs_rate_cstp0, cs_rate_mlmtd0;
	uint32_t cstp_pct_x100, mlmtd_pct_x100; /* over about a second */
};

/* The attribute layers of a vCPU thread, lowest first: the highest one
 * that applies is what the thread gets (daemon/actuate.c). */
enum pvs_layer {
	PVS_LAYER_OWN = 0,    /* its original attributes */
	PVS_LAYER_COSTOP = 1, /* SCHED_IDLE: co-stopped */
	PVS_LAYER_GANG = 2,   /* SCHED_FIFO cosched_priority: its gang's slice */
	PVS_LAYER_BOOST = 3,  /* the boost attributes */
};

struct pvs_vm {
	char name[PVS_NAME_MAX];
	enum pvs_vm_kind kind;
	struct pvs_thread_id proc; /* the process; tid == pid */
	int from_config;
	struct pvs_config_vm_ref conf; /* its [vm NAME] section (pvs_vm_conf) */
	int present;
	char threads[64];       /* process VMs: glob on thread names */
	uint32_t nthreads_seen; /* process VMs: threads at the last quick check */
	char region_path[PVS_PATH_MAX];
	int region_default; /* process VMs: region_path is region_dir/pvsched-NAME */
	struct pvs_hregion region;
	int region_ok;
	char region_err[320];
	uint32_t host_cpus;
	struct pvs_cpuset cpu_mask; /* CPUs the VM's threads may run on */
	struct pvs_vcpu *vcpus;
	uint32_t nr_vcpus; /* highest index + 1 */
	uint32_t cap_vcpus;
	struct pvs_vm_track track;
	uint64_t vm_tick_ns;           /* when track was last updated (sample.c) */
	struct pvsched_vm last_vm_pub; /* what the region's VM block holds */
	int vm_pub_valid;
	/* boosting (daemon/boost.c) */
	struct pvs_boost_vm boost;
	int boost_override;                      /* -1: config; 0 / 1 set by pvschedctl boost */
	uint32_t boost_max_ms, boost_budget_pct; /* pvschedctl overrides, 0 = none */
	uint32_t boost_gen_seen;
	uint32_t boost_busy; /* vCPUs wanting, having or having held a boost */
	int boost_enabled_seen;
	uint64_t boost_next_ns;
	/* co-scheduling and placement (daemon/cosched.c) */
	int cs_override;            /* -1: config; else the pvschedctl policy */
	uint32_t shares_override;   /* 0: config */
	int cs_policy;              /* effective policy (enum pvs_cs_policy) */
	struct pvs_cpuset own_cpus; /* its threads' affinity when first seen,
	                               before pvsched placed anything (narrowed
	                               by cpus= at every placement) */
	struct pvs_gang_vm gang;    /* rotation state */
	uint64_t gang_ns;           /* time its gang held the slice */
	uint32_t placed_shared;     /* vCPUs that had to share a pCPU (spread) */
	/* its own cgroup's CPU weight as shares (daemon/cgroup.c) */
	uint32_t cg_shares;             /* 0: none (no cgroup of its own, an error) */
	char cg_file[PVS_PATH_MAX];     /* the weight file it came from */
	char cg_note[5 * PVS_PATH_MAX]; /* what the log said last */
	uint64_t cg_next_ns;            /* when to read it again */
	/* TCG: the guest's timer interrupts come from QEMU's main loop thread
	 * (the process's main thread), not from a vCPU thread; it is boosted
	 * while any vCPU of the VM is (daemon/boost.c).  index UINT32_MAX. */
	int tcg;
	struct pvs_vcpu timer;
	uint64_t timer_boosts;
	/* live migration (docs/abi.md "Live migration") */
	int migratable;           /* its pvsched device: 1 master=on, 0 peer mode
	                             (QEMU refuses to migrate), -1 unknown */
	int incoming;             /* -incoming and not yet run here: the region
	                             is not adopted (the stream may rewrite it) */
	uint64_t incoming_run_ns; /* vCPU time seen while incoming */
	int adopt;                /* the next open takes the region whatever VM
	                             name its header carries (it came with a
	                             migration stream, or was rewritten) */
	uint64_t region_reinits;  /* header found rewritten: re-initialised */
	uint64_t reinit_next_ns;  /* no re-init before (a guest scribbling) */
	/* the doorbell (daemon/doorbell.c) */
	struct pvs_db_conn *db; /* its ivshmem-doorbell client, NULL: none */
	int db_ring;            /* it rings and is listened to: not polled */
	uint64_t db_wakes;      /* rings heard */
	uint64_t db_mutes;      /* times it rang too fast and was polled instead */
	struct pvs_vm *next;
};

struct pvs_vm *pvs_vm_new(const char *name, enum pvs_vm_kind kind,
                          const struct pvs_thread_id *proc);
void pvs_vm_free(struct pvs_vm *vm);
/* Find or add the slot for INDEX (grows the array). */
struct pvs_vcpu *pvs_vm_slot(struct pvs_vm *vm, uint32_t index);
void pvs_vcpu_drop(struct pvs_vcpu *v); /* mark gone; call sampler->close first */

/* VM's [vm NAME] section in C, or NULL; looked up once per configuration
 * (sample.c refreshes vm->conf every period). */
static inline const struct pvs_config_vm *pvs_vm_conf(const struct pvs_config *c,
                                                      const struct pvs_vm *vm)
{
	return pvs_config_vm_ref_get(&vm->conf, c, vm->name);
}

#endif
