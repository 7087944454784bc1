/* SPDX-License-Identifier: MIT */
/*
 * daemon/sample.c - one period: sample every vCPU, fold the samples into
 * the policy's per-vCPU and per-VM state, publish.  A thread that vanished
 * is dropped here (its slot goes UNKNOWN) and a rescan is requested.
 * With the bpf sampler a vCPU that slept through its last period and has
 * had no scheduler event since is not read, folded or published: its values
 * are the same (docs/performance.md).
 */
#include <errno.h>

#include "log.h"
#include "publish.h"
#include "sample.h"

/* vCPU time that shows a VM waiting for a migration stream has started to
 * run: paused vCPU threads use none (a 2-vCPU TCG guest waiting in
 * -incoming used under 1 ms in its first seconds, all of it at start-up,
 * before discovery sees it); a running guest, even idle, passes this in a
 * second or less. */
#define PVS_INCOMING_RUN_NS 2000000ull

/* A VM whose vCPUs all slept with nothing new is updated and gets its
 * heartbeat this often (see quiet_ns below; docs/abi.md 9.2). */
#define PVS_QUIET_VM_NS 50000000ull

uint64_t pvs_quiet_ns(const struct pvs_config *c)
{
	/* the granularity of /proc/stat's busy times (PVS_HOSTSTAT_MIN_NS), at
	 * most a quarter of the staleness bound guests apply, at least a
	 * period */
	uint64_t ns = PVS_QUIET_VM_NS, stale_ns = pvs_config_stale_after_us(c) * 1000ull;

	if (ns > stale_ns / 4)
		ns = stale_ns / 4;
	if (ns < c->period_us * 1000ull)
		ns = c->period_us * 1000ull;
	return ns;
}

/* What /proc/stat says of VM's pCPUs for O: the busy time between its last
 * two reads as measured, and at that rate over O's dt_ns (one pass over the
 * CPUs; unknown: host_busy_valid stays 0). */
static void host_view(const struct pvs_daemon *d, const struct pvs_vm *vm, struct pvs_vm_obs *o)
{
	if (pvs_hoststat_interval(d->hoststat, &vm->cpu_mask, &o->host_iv_busy_ns,
	                          &o->host_iv_start_ns, &o->host_iv_end_ns) < 0)
		return;
	o->host_busy_valid = 1;
	o->host_busy_ns = (uint64_t)((double)o->host_iv_busy_ns * (double)o->dt_ns /
	                             (double)(o->host_iv_end_ns - o->host_iv_start_ns));
}

uint32_t pvs_sample_all(struct pvs_daemon *d, uint64_t now_ns)
{
	struct pvs_dop_params p = {d->cfg->window_us, d->cfg->hysteresis_milli,
	                           pvs_prime_after_periods(d->cfg->period_us)};
	uint64_t invol_every = 1000000u / (d->cfg->period_us ? d->cfg->period_us : 1);
	uint64_t dt = d->last_tick_ns ? now_ns - d->last_tick_ns : 0;
	uint64_t quiet_ns = pvs_quiet_ns(d->cfg); /* a quiet VM's update interval */
	uint32_t active = 0;

	if (invol_every == 0)
		invol_every = 1;
	if (pvs_hoststat_sample(d->hoststat, now_ns) < 0)
		d->sample_errors++;
	for (struct pvs_vm *vm = d->vms; vm; vm = vm->next) {
		struct pvs_vm_obs o = {.dt_ns = dt, .host_cpus = vm->host_cpus};
		uint32_t skipped = 0;

		pvs_config_vm_ref_update(&vm->conf, d->cfg, vm->name);
		for (uint32_t i = 0; i < vm->nr_vcpus; i++) {
			struct pvs_vcpu *v = &vm->vcpus[i];
			struct pvs_vcpu_sample s;
			int rc, quiet;

			if (!v->live)
				continue;
			/* A vCPU that slept through its last period, with no
			 * scheduler event since (a sampler that can tell), would
			 * fold in the same zero deltas and IDLE again and publish
			 * nothing new: skipped, at the cost of this test.  Every
			 * vCPU is still sampled about once a second (the rates
			 * below), staggered like the involuntary switches. */
			quiet = d->sampler->changed && pvs_vcpu_is_quiet(&v->track) &&
			        v->pub_valid && !v->boost.wanting && !v->boost.boosted &&
			        !d->sampler->changed(v);
			if (!quiet)
				active++;
			if (quiet && (d->tick + i) % invol_every != 0) {
				v->skipped = 1;
				skipped++;
				d->samples++;
				d->samples_skipped++;
				o.nr_vcpus++;
				o.idle++;
				continue;
			}
			if (v->skipped) {
				/* quiet until the last period: deltas over one period */
				pvs_vcpu_quiet_until(&v->track, d->last_tick_ns);
				v->skipped = 0;
			}
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
		/* A VM all of whose vCPUs were skipped has nothing new but the
		 * host's other load, which /proc/stat shows at most every 50 ms:
		 * its averages, VM block and heartbeat are brought up to date
		 * every quiet_ns instead of every period. */
		if (skipped && skipped == o.nr_vcpus && vm->region_ok && !vm->incoming &&
		    vm->vm_tick_ns && now_ns - vm->vm_tick_ns + dt / 2 < quiet_ns)
			continue;
		if (vm->vm_tick_ns && vm->vm_tick_ns < d->last_tick_ns) {
			/* the periods it was not updated in, folded in as one:
			 * every vCPU idle, nothing run or waited, the others'
			 * load at its rate; the same averages as period by period
			 * for a rate that did not change (EWMA over the span) */
			struct pvs_vm_obs q = {.dt_ns = d->last_tick_ns - vm->vm_tick_ns,
			                       .host_cpus = vm->host_cpus,
			                       .nr_vcpus = o.nr_vcpus,
			                       .idle = o.nr_vcpus,
			                       .size = o.size};

			host_view(d, vm, &q);
			pvs_vm_update(&vm->track, &p, &q, d->last_tick_ns);
		}
		vm->vm_tick_ns = now_ns;
		host_view(d, vm, &o);
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
	return active;
}
