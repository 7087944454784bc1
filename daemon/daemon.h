/* SPDX-License-Identifier: MIT */
/* daemon/daemon.h - pvschedd's state, shared by its files. */
#ifndef PVSCHED_DAEMON_DAEMON_H
#define PVSCHED_DAEMON_DAEMON_H

#include <stdint.h>

#include "config.h"
#include "sampler.h"
#include "vm.h"

/* A process VM attached at run time (pvschedctl attach). */
struct pvs_attach {
	char name[PVS_NAME_MAX];
	struct pvs_thread_id proc;
	char threads[64];
	char region[PVS_PATH_MAX];
	struct pvs_attach *next;
};

struct pvs_daemon {
	struct pvs_config *cfg;
	struct pvs_vm *vms;
	struct pvs_attach *attached;
	const struct pvs_sampler_ops *sampler;
	struct pvs_hoststat *hoststat;
	uint64_t tick;
	uint64_t last_tick_ns;
	uint64_t start_ns;
	int rescan_requested;
	/* self-accounting, for pvschedctl status */
	uint64_t samples, sample_errors, rescans;
	uint64_t samples_skipped; /* of samples: quiet vCPUs not read (sample.c) */
	/* boosting */
	struct pvs_journal *journal; /* NULL: boosting unavailable */
	uint64_t boost_scans, boost_syscalls, boost_grants;
	/* the ivshmem server (daemon/doorbell.c); NULL: none */
	struct pvs_doorbell *doorbell;
	uint64_t doorbell_scans; /* VM scans a ring caused */
	/* the daemon's own class: SCHED_FIFO above every boost and gang while
	 * it holds some thread in an RT class, else the fair class */
	int self_rt;
	int self_rt_failed;  /* the last attempt to raise itself failed (logged) */
	uint32_t rt_threads; /* vCPU threads it holds at an RT priority */
	/* co-scheduling (daemon/cosched.c) */
	struct pvs_gang gang;
	uint64_t cs_next_ns;        /* the next gang turn */
	uint64_t cs_last_ns;        /* the last pvs_cosched_sample */
	int placement_dirty;        /* VMs or policies changed: place again */
	uint64_t placement_sig;     /* of the VMs and threads placed last */
	struct pvs_vm *gang_holder; /* the VM whose gang holds the slice */
	uint64_t cs_syscalls;       /* attribute changes made for co-scheduling */
};

#endif
