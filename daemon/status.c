/* SPDX-License-Identifier: MIT */
/*
 * daemon/status.c - the status document, the answer to the control
 * protocol's "status" request (docs/control.md, "The status document"):
 * the daemon's counters, then every VM with its vCPUs.  Also the few
 * per-VM figures the metrics (daemon/metrics.c) report the same way.
 */
#include <json-c/json.h>
#include <stdint.h>
#include <unistd.h>

#include <pvsched/pvsched.h>

#include "boostd.h"
#include "coschedd.h"
#include "doorbell.h"
#include "pvs_clock.h"
#include "status.h"

const char *pvs_status_kind_name(enum pvs_vm_kind kind)
{
	return kind == PVS_VM_QEMU ? "qemu" : "process";
}

const char *pvs_status_policy_name(int policy)
{
	const char *s = pvs_cs_policy_name(policy);

	return s ? s : "unknown";
}

double pvs_status_capacity(const struct pvs_vm *vm)
{
	return vm->track.primed ? vm->track.capacity : (double)vm->nr_vcpus;
}

uint32_t pvs_status_dop(const struct pvs_vm *vm)
{
	return vm->track.dop ? vm->track.dop : (vm->nr_vcpus ? vm->nr_vcpus : 1);
}

static const char *layer_str(int layer)
{
	switch (layer) {
	case PVS_LAYER_COSTOP: return "costop";
	case PVS_LAYER_GANG: return "gang";
	case PVS_LAYER_BOOST: return "boost";
	default: return "own";
	}
}

static const char *boost_state_str(uint32_t s)
{
	switch (s) {
	case PVSCHED_BOOST_GRANTED: return "granted";
	case PVSCHED_BOOST_DENIED: return "denied";
	case PVSCHED_BOOST_THROTTLED: return "throttled";
	default: return "none";
	}
}

struct json_object *pvs_status_json(struct pvs_daemon *d)
{
	struct json_object *root = json_object_new_object(), *vms = json_object_new_array();
	uint64_t now = pvs_mono_ns();
	static char cpus[PVS_CPUSET_LIST_MAX]; /* the daemon has one thread */
	long online = sysconf(_SC_NPROCESSORS_ONLN);

	json_object_object_add(root, "ok", json_object_new_boolean(1));
	json_object_object_add(root, "sampler", json_object_new_string(d->sampler->name));
	json_object_object_add(root, "period_us", json_object_new_int64(d->cfg->period_us));
	json_object_object_add(root, "uptime_s",
	                       json_object_new_double((double)(now - d->start_ns) / 1e9));
	json_object_object_add(root, "samples", json_object_new_int64((int64_t)d->samples));
	json_object_object_add(root, "rescans", json_object_new_int64((int64_t)d->rescans));
	json_object_object_add(root, "boost_available",
	                       json_object_new_boolean(d->journal != NULL));
	json_object_object_add(root, "boost_default",
	                       json_object_new_boolean(d->cfg->boost.enabled));
	json_object_object_add(root, "boost_scans", json_object_new_int64((int64_t)d->boost_scans));
	json_object_object_add(root, "boost_syscalls",
	                       json_object_new_int64((int64_t)d->boost_syscalls));
	json_object_object_add(root, "doorbell_scans",
	                       json_object_new_int64((int64_t)d->doorbell_scans));
	json_object_object_add(root, "ivshmem_clients",
	                       json_object_new_int64((int64_t)pvs_doorbell_clients(d->doorbell)));
	json_object_object_add(root, "online_cpus",
	                       json_object_new_int(online > 0 ? (int)online : 0));
	json_object_object_add(
	        root, "cosched_default",
	        json_object_new_string(pvs_status_policy_name(d->cfg->cosched.policy)));
	json_object_object_add(root, "cosched_syscalls",
	                       json_object_new_int64((int64_t)d->cs_syscalls));
	for (struct pvs_vm *vm = d->vms; vm; vm = vm->next) {
		struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
		struct pvs_cpuset placed = {{0}};
		int any_placed = 0;

		json_object_object_add(o, "name", json_object_new_string(vm->name));
		json_object_object_add(o, "kind",
		                       json_object_new_string(pvs_status_kind_name(vm->kind)));
		json_object_object_add(o, "pid", json_object_new_int(vm->proc.pid));
		json_object_object_add(o, "region", json_object_new_string(vm->region_path));
		json_object_object_add(o, "region_ok", json_object_new_boolean(vm->region_ok));
		if (!vm->region_ok)
			json_object_object_add(o, "region_error",
			                       json_object_new_string(vm->region_err));
		json_object_object_add(o, "host_cpus", json_object_new_int((int)vm->host_cpus));
		json_object_object_add(o, "preempted_now",
		                       json_object_new_int((int)vm->track.preempted_now));
		json_object_object_add(o, "preempted_avg",
		                       json_object_new_double(vm->track.preempted_avg));
		json_object_object_add(o, "capacity",
		                       json_object_new_double(pvs_status_capacity(vm)));
		json_object_object_add(o, "recommended_dop",
		                       json_object_new_int((int)pvs_status_dop(vm)));
		json_object_object_add(
		        o, "heartbeat",
		        json_object_new_int64(vm->region_ok ? (int64_t)vm->region.hdr->heartbeat
		                                            : 0));
		{
			struct pvs_boost_params bp;
			struct json_object *b = json_object_new_object();

			pvs_boost_params(d, vm, &bp);
			json_object_object_add(b, "enabled", json_object_new_boolean(bp.enabled));
			json_object_object_add(
			        b, "max_ms",
			        json_object_new_int64((int64_t)(bp.max_ns / 1000000u)));
			json_object_object_add(
			        b, "budget_pct",
			        json_object_new_int64(
			                bp.window_ns ? (int64_t)(bp.budget_ns * 100u / bp.window_ns)
			                             : 0));
			json_object_object_add(
			        b, "window_ms",
			        json_object_new_int64((int64_t)(bp.window_ns / 1000000u)));
			json_object_object_add(o, "boost", b);
		}
		json_object_object_add(
		        o, "policy",
		        json_object_new_string(pvs_status_policy_name(pvs_cosched_policy(d, vm))));
		json_object_object_add(o, "shares",
		                       json_object_new_int64((int64_t)pvs_cosched_shares(d, vm)));
		json_object_object_add(o, "shares_from",
		                       json_object_new_string(pvs_cosched_shares_from(d, vm)));
		if (vm->cg_shares) {
			json_object_object_add(o, "cgroup_shares",
			                       json_object_new_int64((int64_t)vm->cg_shares));
			json_object_object_add(o, "cgroup_file",
			                       json_object_new_string(vm->cg_file));
		}
		json_object_object_add(o, "gang_ns", json_object_new_int64((int64_t)vm->gang_ns));
		json_object_object_add(o, "placed_shared",
		                       json_object_new_int((int)vm->placed_shared));
		json_object_object_add(o, "tcg", json_object_new_boolean(vm->tcg));
		json_object_object_add(
		        o, "migratable",
		        vm->migratable < 0 ? NULL : json_object_new_boolean(vm->migratable));
		json_object_object_add(o, "incoming", json_object_new_boolean(vm->incoming));
		{
			/* its ivshmem-doorbell client (daemon/doorbell.c) */
			struct json_object *b = json_object_new_object();

			json_object_object_add(b, "connected",
			                       json_object_new_boolean(vm->db != NULL));
			json_object_object_add(b, "listening",
			                       json_object_new_boolean(vm->db_ring));
			json_object_object_add(b, "wakes",
			                       json_object_new_int64((int64_t)vm->db_wakes));
			json_object_object_add(b, "mutes",
			                       json_object_new_int64((int64_t)vm->db_mutes));
			/* read every boost_scan_us (it cannot ring, or rings too fast) */
			json_object_object_add(
			        b, "polled",
			        json_object_new_boolean(!vm->db_ring && d->journal &&
			                                pvs_boost_vm_enabled(d, vm)));
			json_object_object_add(o, "doorbell", b);
		}
		json_object_object_add(o, "region_reinits",
		                       json_object_new_int64((int64_t)vm->region_reinits));
		if (vm->tcg) {
			/* the thread that delivers a TCG guest's timer interrupts */
			struct json_object *t = json_object_new_object();

			json_object_object_add(t, "tid", json_object_new_int(vm->timer.id.tid));
			json_object_object_add(t, "layer",
			                       json_object_new_string(layer_str(vm->timer.layer)));
			json_object_object_add(t, "boosts",
			                       json_object_new_int64((int64_t)vm->timer_boosts));
			json_object_object_add(o, "main_thread", t);
		}
		for (uint32_t i = 0; i < vm->nr_vcpus; i++) {
			struct pvs_vcpu *v = &vm->vcpus[i];
			struct json_object *x = json_object_new_object();

			json_object_object_add(x, "index", json_object_new_int((int)i));
			json_object_object_add(x, "tid",
			                       json_object_new_int(v->live ? v->id.tid : 0));
			json_object_object_add(
			        x, "state",
			        json_object_new_string(pvsched_vcpu_state_str(v->track.state)));
			json_object_object_add(
			        x, "run_pct",
			        json_object_new_double(v->track.run_pct_x100 / 100.0));
			json_object_object_add(
			        x, "rdy_pct",
			        json_object_new_double(v->track.wait_pct_x100 / 100.0));
			json_object_object_add(x, "preempt_per_s",
			                       json_object_new_int((int)v->track.preempt_per_s));
			json_object_object_add(x, "run_ns",
			                       json_object_new_int64((int64_t)v->track.run_total));
			json_object_object_add(x, "wait_ns",
			                       json_object_new_int64((int64_t)v->track.wait_total));
			json_object_object_add(
			        x, "preemptions",
			        json_object_new_int64((int64_t)v->track.preemptions));
			json_object_object_add(
			        x, "boost",
			        json_object_new_string(boost_state_str(v->boost.state)));
			json_object_object_add(x, "boost_pct",
			                       json_object_new_double(v->boost_pct_x100 / 100.0));
			json_object_object_add(x, "boost_ns",
			                       json_object_new_int64((int64_t)v->boost.boost_ns));
			json_object_object_add(x, "boosts",
			                       json_object_new_int64((int64_t)v->boost.boosts));
			json_object_object_add(x, "throttles",
			                       json_object_new_int64((int64_t)v->boost.throttles));
			{
				/* why the guest asks (1.3): its programs' count and
				 * its kernel driver's sources */
				uint32_t req = 0, kreq = 0;

				if (vm->region_ok && i < vm->region.nr_vcpus) {
					const struct pvsched_vcpu_guest *g =
					        &pvs_hregion_vcpu(&vm->region, i)->guest;
					req = __atomic_load_n(&g->boost_req, __ATOMIC_RELAXED);
					kreq = __atomic_load_n(&g->kreq, __ATOMIC_RELAXED);
				}
				json_object_object_add(x, "boost_req",
				                       json_object_new_int64((int64_t)req));
				json_object_object_add(x, "kreq",
				                       json_object_new_int64((int64_t)kreq));
			}
			json_object_object_add(x, "cstp_pct",
			                       json_object_new_double(v->cstp_pct_x100 / 100.0));
			json_object_object_add(x, "mlmtd_pct",
			                       json_object_new_double(v->mlmtd_pct_x100 / 100.0));
			json_object_object_add(x, "costop_ns",
			                       json_object_new_int64((int64_t)v->costop_ns));
			json_object_object_add(x, "limited_ns",
			                       json_object_new_int64((int64_t)v->limited_ns));
			json_object_object_add(x, "layer",
			                       json_object_new_string(layer_str(v->layer)));
			cpus[0] = 0;
			if (v->cs_mask_valid) {
				pvs_cpuset_format(&v->cs_mask, cpus, sizeof(cpus));
				pvs_cpuset_or(&placed, &placed, &v->cs_mask);
				any_placed = 1;
			}
			json_object_object_add(x, "cpus", json_object_new_string(cpus));
			json_object_array_add(arr, x);
		}
		cpus[0] = 0;
		if (any_placed)
			pvs_cpuset_format(&placed, cpus, sizeof(cpus));
		json_object_object_add(o, "cpus", json_object_new_string(cpus));
		json_object_object_add(o, "vcpus", arr);
		json_object_array_add(vms, o);
	}
	json_object_object_add(root, "vms", vms);
	return root;
}
