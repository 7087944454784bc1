/* SPDX-License-Identifier: MIT */
/*
 * daemon/boost.c - the boost loop: read what guests ask for (memory reads
 * of their regions' guest parts), decide with policy/boost.c, apply the
 * decisions to the vCPU threads through the journal, publish the verdicts.
 *
 * It runs on its own timer (boost_scan_us, default 500 us) while any VM
 * has boosting on, and also exactly at the times policy says a decision
 * changes by itself (a deadline window opening, max_ns).  A scan of a VM
 * costs one read of its header's boost_gen when nothing changed and none
 * of its vCPUs wants a boost; system calls happen only when a thread's
 * attributes must change.  Guest values are never trusted: policy bounds
 * everything they can cause (docs/boost.md).
 */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "actuate.h"
#include "boostd.h"
#include "journal.h"
#include "log.h"
#include "publish.h"

/* Make the thread of V match V->boost.boosted.  A boost that cannot be
 * applied is reported DENIED (the error is logged once per vCPU). */
static void actuate(struct pvs_daemon *d, struct pvs_vm *vm, struct pvs_vcpu *v)
{
	int had = v->layer == PVS_LAYER_BOOST;

	if (v->boost.boosted == had)
		return;
	pvs_actuate(d, vm, v);
	if (v->boost.boosted && v->layer != PVS_LAYER_BOOST) {
		/* not applied: say so and do not count it as boosted */
		v->boost.boosted = 0;
		v->boost.state = PVSCHED_BOOST_DENIED;
		return;
	}
	if (v->boost.boosted)
		d->boost_grants++;
}

static void publish_slot(struct pvs_vm *vm, struct pvs_vcpu *v, uint64_t now)
{
	/* publish.c writes the slot with the boost fields every period; a
	 * verdict that changed is written now, so the guest learns it within
	 * the scan */
	if (vm->region_ok)
		pvs_publish_vcpu(vm, v, now);
}

/*
 * TCG: the guest's timer interrupts (its LAPIC timer) are QEMU timers run by
 * the main loop thread, which then kicks the vCPU thread.  A boosted vCPU
 * whose timer interrupt waits behind other host work is boosted in vain,
 * so the main thread gets the boost too while any vCPU of the VM has one.
 * (KVM: the in-kernel LAPIC timer is a host hrtimer; nothing to boost.)
 * Its time is not charged to the VM's budget: it only runs to deliver
 * events, and it is boosted only while a charged vCPU is.
 */
static void boost_timer_thread(struct pvs_daemon *d, struct pvs_vm *vm)
{
	struct pvs_vcpu *t = &vm->timer;
	int want = 0;

	if (!vm->tcg || vm->kind != PVS_VM_QEMU)
		return;
	for (uint32_t i = 0; i < vm->nr_vcpus && !want; i++)
		want = vm->vcpus[i].layer == PVS_LAYER_BOOST;
	if (want == t->boost.boosted)
		return; /* a boost that failed is retried when it is wanted anew */
	t->boost.boosted = want;
	pvs_actuate(d, vm, t);
	if (want && t->layer == PVS_LAYER_BOOST)
		vm->timer_boosts++;
}

/* One VM; returns the earliest time something changes by itself. */
static uint64_t scan_vm(struct pvs_daemon *d, struct pvs_vm *vm, uint64_t now)
{
	struct pvs_boost_in in[64];
	struct pvs_boost_params p;
	const struct pvsched_header *h;
	uint64_t next = UINT64_MAX;
	uint32_t gen, n;

	if (!vm->region_ok)
		return next;
	h = vm->region.hdr;
	pvs_boost_params(d, vm, &p);
	gen = __atomic_load_n(&h->boost_gen, __ATOMIC_ACQUIRE);
	/* the common case, one read: the guest changed nothing and none of
	 * its vCPUs wants, has or held a boost (boost_busy, counted below) */
	if (gen == vm->boost_gen_seen && !vm->boost_busy && vm->boost_next_ns > now &&
	    p.enabled == vm->boost_enabled_seen)
		return vm->boost_next_ns;
	n = vm->nr_vcpus < vm->region.nr_vcpus ? vm->nr_vcpus : vm->region.nr_vcpus;
	for (uint32_t i = 0; i < n; i++)
		pvs_actuate_stale(d, &vm->vcpus[i]);
	vm->boost_gen_seen = gen;
	vm->boost_enabled_seen = p.enabled;
	/* in chunks: the policy's per-VM state spans them */
	for (uint32_t base = 0; base < n; base += 64) {
		uint32_t k = n - base < 64 ? n - base : 64;

		for (uint32_t i = 0; i < k; i++) {
			const struct pvsched_vcpu_guest *g =
			        &pvs_hregion_vcpu(&vm->region, base + i)->guest;
			struct pvs_vcpu *v = &vm->vcpus[base + i];

			in[i].req = v->live ? __atomic_load_n(&g->boost_req, __ATOMIC_ACQUIRE) : 0;
			/* the budget is charged with CPU time where it is known */
			in[i].has_run = v->live && v->track.primed;
			in[i].run_ns = v->track.run_total;
			in[i].run_at_ns = v->track.t_last;
			in[i].seq = __atomic_load_n(&g->boost_seq, __ATOMIC_ACQUIRE);
			if (v->live) {
				/* the program's deadline and the guest kernel
				 * driver's (1.3): the one that matters now */
				uint64_t kw = __atomic_load_n(&g->kwake_at_ns, __ATOMIC_ACQUIRE);
				uint64_t w = __atomic_load_n(&g->wake_at_ns, __ATOMIC_ACQUIRE);

				pvs_boost_pick_wake(
				        w, __atomic_load_n(&g->wake_len_us, __ATOMIC_RELAXED), kw,
				        __atomic_load_n(&g->kwake_len_us, __ATOMIC_RELAXED), &p,
				        now, &in[i].wake_at_ns, &in[i].wake_len_us);
			} else {
				in[i].wake_at_ns = 0;
				in[i].wake_len_us = 0;
			}
		}
		{
			/* the policy takes an array of its own per-vCPU state */
			struct pvs_boost_vcpu bv[64];
			uint32_t before[64];
			int applied[64];

			for (uint32_t i = 0; i < k; i++) {
				bv[i] = vm->vcpus[base + i].boost;
				before[i] = bv[i].state;
				applied[i] = vm->vcpus[base + i].layer == PVS_LAYER_BOOST;
			}
			pvs_boost_step(&vm->boost, bv, in, k, &p, now, &next);
			for (uint32_t i = 0; i < k; i++) {
				struct pvs_vcpu *v = &vm->vcpus[base + i];

				v->boost = bv[i];
				actuate(d, vm, v);
				if (v->boost.state != before[i] ||
				    (v->layer == PVS_LAYER_BOOST) != applied[i])
					publish_slot(vm, v, now);
			}
		}
	}
	boost_timer_thread(d, vm);
	vm->boost_busy = vm->timer.layer == PVS_LAYER_BOOST;
	for (uint32_t i = 0; i < n; i++) {
		const struct pvs_vcpu *v = &vm->vcpus[i];
		vm->boost_busy += v->boost.wanting || v->boost.boosted ||
		                  (v->act_id.tid && (v->act_id.tid != v->id.tid || !v->live));
	}
	vm->boost_next_ns = next;
	return next;
}

uint64_t pvs_boost_scan(struct pvs_daemon *d, uint64_t now, int all)
{
	uint64_t next = UINT64_MAX;

	if (!d->journal)
		return next;
	d->boost_scans++;
	for (struct pvs_vm *vm = d->vms; vm; vm = vm->next) {
		uint64_t t;

		/* it rings when it asks; nothing of its own is due, and
		 * none of its vCPUs wants, has or held a boost */
		if (!all && vm->db_ring && !vm->boost_busy && vm->boost_next_ns > now)
			t = vm->boost_next_ns;
		else
			t = scan_vm(d, vm, now);
		if (t < next)
			next = t;
	}
	return next;
}

uint64_t pvs_boost_scan_vm(struct pvs_daemon *d, struct pvs_vm *vm, uint64_t now)
{
	if (!d->journal)
		return UINT64_MAX;
	d->doorbell_scans++;
	return scan_vm(d, vm, now);
}

int pvs_boost_polled(const struct pvs_daemon *d)
{
	if (!d->journal)
		return 0;
	for (const struct pvs_vm *vm = d->vms; vm; vm = vm->next)
		if (!vm->db_ring && pvs_boost_vm_enabled(d, vm))
			return 1;
	return 0;
}

int pvs_boost_active(const struct pvs_daemon *d)
{
	if (!d->journal)
		return 0;
	for (const struct pvs_vm *vm = d->vms; vm; vm = vm->next)
		if (pvs_boost_vm_enabled(d, vm))
			return 1;
	return 0;
}
