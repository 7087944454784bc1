/* SPDX-License-Identifier: MIT */
/*
 * daemon/sample.c - one period: sample every vCPU, fold the samples into
 * the policy's per-vCPU and per-VM state, publish.  A thread that vanished
 * is dropped here (its slot goes UNKNOWN) and a rescan is requested.
 */
#include <errno.h>

#include "daemon.h"
#include "log.h"

/* vCPU time that shows a VM waiting for a migration stream has started to
 * run: paused vCPU threads use none (a 2-vCPU TCG guest waiting in
 * -incoming used under 1 ms in its first seconds, all of it at start-up,
 * before discovery sees it); a running guest, even idle, passes this in a
 * second or less. */
#define PVS_INCOMING_RUN_NS 2000000ull

void pvs_sample_all(struct pvs_daemon *d, uint64_t now_ns)
{
	struct pvs_dop_params p = {d->cfg->window_us, d->cfg->hysteresis_milli,
	                           pvs_prime_after_periods(d->cfg->period_us)};
	uint64_t invol_every = 1000000u / (d->cfg->period_us ? d->cfg->period_us : 1);
	uint64_t dt = d->last_tick_ns ? now_ns - d->last_tick_ns : 0;

	if (invol_every == 0)
		invol_every = 1;
	if (pvs_hoststat_sample(d->hoststat, now_ns) < 0)
		d->sample_errors++;
	for (struct pvs_vm *vm = d->vms; vm; vm = vm->next) {
		struct pvs_vm_obs o = {.dt_ns = dt, .host_cpus = vm->host_cpus};
		int64_t busy;

		for (uint32_t i = 0; i < vm->nr_vcpus; i++) {
			struct pvs_vcpu *v = &vm->vcpus[i];
			struct pvs_vcpu_sample s;
			int rc;

			if (!v->live)
				continue;
			/* involuntary switches: about once a second per vCPU,
			 * staggered so the cost spreads over the periods */
			rc = d->sampler->sample(v, now_ns, (d->tick + i) % invol_every == 0, &s);
			d->samples++;
			if (rc < 0) {
				d->sample_errors++;
				log_info("vm %s: vCPU %u (tid %d) unreadable: %s; dropped",
				         vm->name, i, (int)v->id.tid,
				         rc == -ESRCH ? "thread gone" : "bad data");
				d->sampler->close(v);
				pvs_vcpu_drop(v);
				d->rescan_requested = 1;
				continue;
			}
			if (now_ns - v->boost_rate_t0 >= 1000000000ull) {
				/* %BOOST over the last second or so, for operators */
				if (v->boost_rate_t0)
					v->boost_pct_x100 =
					        (uint32_t)((v->boost.boost_ns - v->boost_rate_ns0) *
					                   10000u / (now_ns - v->boost_rate_t0));
				v->boost_rate_t0 = now_ns;
				v->boost_rate_ns0 = v->boost.boost_ns;
			}
			if (!v->track.primed)
				o.fresh++;
			pvs_vcpu_update(&v->track, &s, now_ns);
			o.nr_vcpus++;
			o.vm_run_ns += v->track.run_delta;
			o.vm_wait_ns += v->track.wait_delta;
			switch (v->track.state) {
			case PVSCHED_VCPU_PREEMPTED: o.preempted++; break;
			case PVSCHED_VCPU_RUNNING: o.running++; break;
			case PVSCHED_VCPU_IDLE: o.idle++; break;
			default: break;
			}
		}
		if (vm->kind == PVS_VM_PROCESS)
			o.size = vm->host_cpus;
		busy = pvs_hoststat_busy(d->hoststat, vm->cpu_mask,
		                         sizeof(vm->cpu_mask) / sizeof(vm->cpu_mask[0]), dt);
		o.host_busy_valid = busy >= 0;
		o.host_busy_ns = busy >= 0 ? (uint64_t)busy : 0;
		pvs_vm_update(&vm->track, &p, &o, now_ns);
		if (vm->incoming) {
			/* A migrated-in VM is adopted once it runs here: the
			 * stream has then written the region for the last time. */
			vm->incoming_run_ns += o.vm_run_ns;
			if (vm->incoming_run_ns >= PVS_INCOMING_RUN_NS) {
				vm->incoming = 0;
				vm->adopt = 1;
				log_info("vm %s: running here after an incoming migration; "
				         "adopting its region",
				         vm->name);
				pvs_publish_open(d, vm);
			}
		}
		pvs_publish(d, vm, now_ns);
	}
	d->last_tick_ns = now_ns;
	d->tick++;
}
