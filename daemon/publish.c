/* SPDX-License-Identifier: MIT */
/*
 * daemon/publish.c - each VM's region: open it once, publish every period.
 * A region that cannot be used (bad size, another VM's, no permission) is
 * reported once with its path and leaves that VM monitored but unpublished;
 * other VMs are not affected.  A QEMU VM's region is never deleted (QEMU
 * may map it and creates it itself); a process VM's is removed when the VM
 * leaves, if pvschedd created it or it is the default region_dir path.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boostd.h"
#include "doorbell.h"
#include "log.h"
#include "publish.h"

void pvs_publish_open(struct pvs_daemon *d, struct pvs_vm *vm)
{
	const struct pvs_config *c = d->cfg;
	struct pvs_hregion_opts o = {
	        .size = c->region_size,
	        .nr_vcpus = vm->nr_vcpus,
	        .uid = c->region_uid,
	        .gid = c->region_gid,
	        .mode = c->region_mode,
	        .period_us = c->period_us,
	        .stale_after_us = pvs_config_stale_after_us(c),
	        .vm_name = vm->name,
	        .vm_kind =
	                vm->kind == PVS_VM_QEMU ? PVSCHED_VM_KIND_MACHINE : PVSCHED_VM_KIND_PROCESS,
	        /* boosting is offered only with a journal to undo it */
	        .host_features = d->journal ? PVSCHED_F_ALL_V1_3 : PVSCHED_F_ALL_V1_1,
	        /* a header that came with a migration stream names the VM as
	         * the source host called it: this VM's QEMU maps the file;
	         * so does a doorbell VM's QEMU, given the file by pvschedd
	         * (the header may name the QEMU it replaced) */
	        .force = vm->adopt || vm->db,
	};
	char err[sizeof(vm->region_err)];
	struct stat st;
	int rc;

	/* Called at every rescan until it works, so a region fixed by the
	 * operator (or created by QEMU later) is picked up; the same failure
	 * is logged once. */
	if (vm->kind == PVS_VM_QEMU && stat(vm->region_path, &st) < 0) {
		/* No ivshmem device backed by this file: monitor only. */
		snprintf(err, sizeof(err),
		         "%s: no such region (QEMU has no pvsched ivshmem device)",
		         vm->region_path);
		if (strcmp(err, vm->region_err))
			log_info("vm %s: %s", vm->name, err);
		memcpy(vm->region_err, err, sizeof(err));
		return;
	}
	rc = pvs_hregion_open(&vm->region, vm->region_path, &o, err, sizeof(err));
	if (rc < 0) {
		if (strcmp(err, vm->region_err))
			log_err("vm %s: %s", vm->name, err);
		memcpy(vm->region_err, err, sizeof(err));
		return;
	}
	if (vm->adopt && vm->region.found_header)
		log_info("vm %s: %s held another host agent's header (VM '%.32s', instance "
		         "%016llx): "
		         "not trusted, re-initialised",
		         vm->name, vm->region_path, vm->region.found_name,
		         (unsigned long long)vm->region.found_instance);
	else if (vm->adopt)
		log_warn("vm %s: %s came without a valid pvsched header (a source host without "
		         "pvschedd, or not a pvsched region): initialised",
		         vm->name, vm->region_path);
	vm->region_ok = 1;
	vm->region_err[0] = 0;
	vm->adopt = 0;
	pvs_doorbell_region_opened(vm);
	for (uint32_t i = 0; i < vm->nr_vcpus; i++)
		vm->vcpus[i].pub_valid = 0;
	vm->vm_pub_valid = 0;
	log_info("vm %s: publishing to %s (%zu bytes, %s)", vm->name, vm->region_path,
	         vm->region.size, vm->region.created ? "created" : "attached");
}

void pvs_publish_remove(struct pvs_vm *vm)
{
	/* A process VM that is still running keeps its mapping (and sees
	 * DETACHED when pvs_vm_free closes the region); the name goes, so a
	 * region_dir does not fill with one file per run.  A file an operator
	 * named with region= and pvschedd did not create is theirs. */
	if (vm->kind != PVS_VM_PROCESS || !vm->region_ok ||
	    !(vm->region.created || vm->region_default))
		return;
	if (unlink(vm->region_path) < 0 && errno != ENOENT)
		log_warn("vm %s: removing %s: %s", vm->name, vm->region_path, strerror(errno));
	else
		log_info("vm %s: region %s removed", vm->name, vm->region_path);
}

#define PVS_VM_DEADBAND_MILLI 10u
/* A header rewritten again and again (a guest scribbling over it) is
 * re-initialised at most this often. */
#define PVS_REINIT_MIN_NS 100000000ull

static int near(uint32_t a, uint32_t b)
{
	return (a > b ? a - b : b - a) < PVS_VM_DEADBAND_MILLI;
}

/* The host part of V's slot: samples, thread id, boost verdict. */
static void fill(const struct pvs_vcpu *v, uint64_t now_ns, struct pvsched_vcpu_host *h)
{
	pvs_vcpu_to_abi(&v->track, now_ns, h);
	h->tid = v->live ? (uint32_t)v->id.tid : 0;
	h->boost_state = v->boost.state;
	h->boost_ns = v->boost.boost_ns;
	h->boosts = v->boost.boosts;
	h->throttles = v->boost.throttles;
}

void pvs_publish_vcpu(struct pvs_vm *vm, struct pvs_vcpu *v, uint64_t now_ns)
{
	struct pvsched_vcpu_host h;

	if (!vm->region_ok || v->index >= vm->region.nr_vcpus)
		return;
	fill(v, now_ns, &h);
	pvs_hregion_publish_vcpu(&vm->region, v->index, &h);
	v->last_pub = h;
	v->pub_valid = 1;
}

void pvs_publish(struct pvs_daemon *d, struct pvs_vm *vm, uint64_t now_ns)
{
	struct pvsched_vm v;

	if (!vm->region_ok)
		return;
	if (!pvs_hregion_intact(&vm->region)) {
		/* Someone else rewrote the header: nothing of the host part is
		 * ours any more (docs/abi.md "Live migration"). */
		if (now_ns < vm->reinit_next_ns)
			return;
		if (!vm->region_reinits++ || vm->region_reinits % 100 == 0)
			log_warn("vm %s: %s was rewritten by someone else (an incoming "
			         "migration stream, or the guest writing its host part); "
			         "re-initialised under a new host_instance (%llu times)",
			         vm->name, vm->region_path, (unsigned long long)vm->region_reinits);
		vm->reinit_next_ns = now_ns + PVS_REINIT_MIN_NS;
		pvs_hregion_close(&vm->region);
		vm->region_ok = 0;
		vm->adopt = 1;
		pvs_publish_open(d, vm);
		if (!vm->region_ok)
			return;
	}
	if (vm->region.nr_vcpus != vm->nr_vcpus &&
	    pvs_hregion_set_nr_vcpus(&vm->region, vm->nr_vcpus) < 0) {
		/* discovery keeps indexes inside the region; this is a bug guard */
		log_err("vm %s: %u vCPUs do not fit %s", vm->name, vm->nr_vcpus, vm->region_path);
		pvs_hregion_close(&vm->region);
		vm->region_ok = 0;
		snprintf(vm->region_err, sizeof(vm->region_err), "%s: too small for %u vCPUs",
		         vm->region_path, vm->nr_vcpus);
		return;
	}
	for (uint32_t i = 0; i < vm->nr_vcpus && i < vm->region.nr_vcpus; i++) {
		struct pvs_vcpu *v = &vm->vcpus[i];
		struct pvsched_vcpu_host h;

		if (v->skipped && v->pub_valid)
			continue; /* quiet, nothing new: the region has its values */
		fill(v, now_ns, &h);
		/* An unchanged slot is not rewritten (update_ns keeps the time of
		 * the last change): idle vCPUs then cost no region cache misses. */
		h.update_ns = v->last_pub.update_ns;
		if (v->pub_valid && !memcmp(&h, &v->last_pub, sizeof(h)))
			continue;
		h.update_ns = now_ns;
		pvs_hregion_publish_vcpu(&vm->region, i, &h);
		v->last_pub = h;
		v->pub_valid = 1;
	}
	pvs_vm_to_abi(&vm->track,
	              &(struct pvs_dop_params){d->cfg->window_us, d->cfg->hysteresis_milli,
	                                       pvs_prime_after_periods(d->cfg->period_us)},
	              d->cfg->period_us, &v);
	{
		struct pvs_boost_params bp;
		pvs_boost_params(d, vm, &bp);
		v.flags = bp.enabled ? PVSCHED_VMF_BOOST : 0;
		v.boost_max_us = (uint32_t)(bp.max_ns / 1000u);
		v.boost_budget_us = (uint32_t)(bp.budget_ns / 1000u);
		v.boost_window_us = (uint32_t)(bp.window_ns / 1000u);
		v.boost_lead_us = (uint32_t)(bp.lead_ns / 1000u);
		v.boost_hold_us = (uint32_t)(bp.hold_ns / 1000u);
	}
	/* Like the slots, an unchanged VM block is not rewritten; the smoothed
	 * values move by a few milli-vCPUs every period, so changes below
	 * PVS_VM_DEADBAND_MILLI do not count (they are noise at the window's
	 * time scale, and each rewrite is a cache miss per VM per period). */
	v.update_ns = vm->last_vm_pub.update_ns;
	if (vm->vm_pub_valid && near(v.preempted_avg_milli, vm->last_vm_pub.preempted_avg_milli) &&
	    near(v.capacity_milli, vm->last_vm_pub.capacity_milli)) {
		v.preempted_avg_milli = vm->last_vm_pub.preempted_avg_milli;
		v.capacity_milli = vm->last_vm_pub.capacity_milli;
	}
	if (!vm->vm_pub_valid || memcmp(&v, &vm->last_vm_pub, sizeof(v))) {
		v.update_ns = now_ns;
		pvs_hregion_publish_vm(&vm->region, &v);
		vm->last_vm_pub = v;
		vm->vm_pub_valid = 1;
	}
	pvs_hregion_heartbeat(&vm->region, now_ns);
}
