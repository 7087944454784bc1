/* SPDX-License-Identifier: MIT */
/*
 * daemon/actuate.c - the one place that changes a vCPU thread.
 *
 * Boosting and co-scheduling both want to change the same threads.  Each
 * asks for a layer (a boost, its gang's slice, a co-stop) and a placement;
 * this file gives the thread the highest layer that applies:
 *
 *     boost  >  gang slice  >  co-stop  >  its own attributes
 *
 * so a boosted vCPU is never co-stopped and a boost outranks a gang, and
 * puts the thread back to its original attributes (journal restore) when
 * no layer applies.  Every change goes through the journal.
 *
 * The daemon itself: SCHED_FIFO one above the boost priority (which is
 * above the gang priority) while it holds any thread at an RT priority, so
 * it can always take that back; otherwise the fair class, nice -10 with a
 * 100 us slice, where its frequent short wake-ups (the 500 us boost scan)
 * do not cost other tasks the wake-up latency a 2 kHz SCHED_FIFO timer
 * does on current kernels (docs/boost.md, "Host impact").
 */
#include <assert.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "actuate.h"
#include "journal.h"
#include "log.h"

static int layer_is_rt(const struct pvs_daemon *d, int layer)
{
	return layer == PVS_LAYER_GANG ||
	       (layer == PVS_LAYER_BOOST && d->cfg->boost.how != PVS_BOOST_NICE);
}

static int wanted_layer(const struct pvs_vcpu *v)
{
	if (v->boost.boosted)
		return PVS_LAYER_BOOST;
	if (v->cs_raised)
		return PVS_LAYER_GANG;
	if (v->cs_stopped)
		return PVS_LAYER_COSTOP;
	return PVS_LAYER_OWN;
}

/* V_IS_MAIN: the layer of a TCG VM's main thread (vm->timer). */
static void layer_attr(const struct pvs_daemon *d, int layer, int v_is_main,
                       struct pvs_sched_attr *a)
{
	const struct pvs_boost_config *b = &d->cfg->boost;

	memset(a, 0, sizeof(*a));
	switch (layer) {
	case PVS_LAYER_BOOST:
		if (b->how == PVS_BOOST_NICE) {
			a->policy = SCHED_OTHER;
			a->nice = b->nice;
		} else {
			a->policy = b->how == PVS_BOOST_RR ? SCHED_RR : SCHED_FIFO;
			a->prio = (int)b->priority;
		}
		break;
	case PVS_LAYER_GANG:
		/* a TCG VM's main thread delivers its vCPUs' timer interrupts:
		 * one above them, or it waits out the slice behind siblings
		 * that spin (cosched_priority + 1 <= boost_priority, checked
		 * by the config, so a boost still wins and the daemon stays
		 * above both) */
		a->policy = SCHED_FIFO;
		a->prio = (int)d->cfg->cosched.priority + (v_is_main ? 1 : 0);
		break;
	case PVS_LAYER_COSTOP: a->policy = SCHED_IDLE; break;
	default: break;
	}
}

/* struct sched_attr as the kernel takes it (glibc has no wrapper). */
struct self_attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};

int pvs_self_sched(struct pvs_daemon *d, int rt)
{
	struct self_attr a = {.size = sizeof(a), .flags = 0x01 /* RESET_ON_FORK */};

	if (rt) {
		a.policy = SCHED_FIFO;
		a.priority = d->cfg->boost.priority + 1;
	} else {
		/* the custom slice (Linux 6.12+) lets its wake-ups preempt at
		 * once; older kernels refuse it for SCHED_OTHER: plain nice */
		a.policy = SCHED_OTHER;
		a.nice = -10;
		a.runtime = 100000;
	}
	if (syscall(SYS_sched_setattr, 0, &a, 0) < 0) {
		if (rt || errno != EINVAL)
			return -errno;
		a.runtime = 0;
		if (syscall(SYS_sched_setattr, 0, &a, 0) < 0)
			return -errno;
	}
	d->self_rt = rt;
	return 0;
}

static int self_rt(struct pvs_daemon *d)
{
	int e;

	if (d->self_rt)
		return 0;
	e = pvs_self_sched(d, 1);
	if (e < 0 && !d->self_rt_failed) {
		/* without it a spinning raised vCPU could lock the daemon out:
		 * do not raise anything (logged once per run of failures) */
		log_warn("cannot run at SCHED_FIFO %u: %s; not raising vCPUs",
		         d->cfg->boost.priority + 1, strerror(-e));
	}
	d->self_rt_failed = e < 0;
	return e;
}

void pvs_self_sched_update(struct pvs_daemon *d)
{
	int e;

	if (!d->self_rt || d->rt_threads)
		return;
	e = pvs_self_sched(d, 0);
	if (e < 0)
		log_warn("cannot leave SCHED_FIFO: %s", strerror(-e));
}

/* rt_held records what was applied, so a reload that changes boost_policy
 * cannot make the count drift */
static void set_layer(struct pvs_daemon *d, struct pvs_vcpu *v, int layer)
{
	assert(layer >= PVS_LAYER_OWN && layer <= PVS_LAYER_BOOST);
	/* every thread held at an RT priority is counted once */
	assert(!v->rt_held || d->rt_threads > 0);
	if (v->rt_held && d->rt_threads)
		d->rt_threads--;
	v->layer = layer;
	v->rt_held = layer_is_rt(d, layer);
	d->rt_threads += (uint32_t)v->rt_held;
}

/* The thread behind V's slot changed or went away since something was
 * applied: release the old one (restored if it still exists) and start
 * the slot afresh.  1 if it did. */
int pvs_actuate_stale(struct pvs_daemon *d, struct pvs_vcpu *v)
{
	if (!v->act_id.tid)
		return 0;
	if (v->live && v->act_id.tid == v->id.tid && v->act_id.start == v->id.start)
		return 0;
	pvs_actuate_release(d, v);
	if (v->act_id.tid)
		return 0; /* the restore failed: retried next time */
	pvs_boost_vcpu_init(&v->boost);
	v->cs_raised = v->cs_stopped = 0;
	memset(&v->relax, 0, sizeof(v->relax));
	v->cs_mask_valid = 0;
	return 1;
}

static int apply_layer(struct pvs_daemon *d, struct pvs_vm *vm, struct pvs_vcpu *v, int want)
{
	struct pvs_sched_attr a;
	int rc;

	if (want == v->layer)
		return 0;
	if (layer_is_rt(d, want) && (rc = self_rt(d)) < 0)
		return rc;
	if (want == PVS_LAYER_BOOST || v->layer == PVS_LAYER_BOOST)
		d->boost_syscalls++;
	else
		d->cs_syscalls++;
	if (want == PVS_LAYER_OWN) {
		rc = pvs_journal_restore(d->journal, &v->id);
	} else {
		layer_attr(d, want, v == &vm->timer, &a);
		rc = pvs_journal_apply(d->journal, &v->id, &a);
	}
	if (rc == -ENOENT && want == PVS_LAYER_OWN)
		rc = 0; /* never changed: it has its own attributes */
	if (rc < 0) {
		if (rc == -ESRCH) {
			set_layer(d, v, PVS_LAYER_OWN);
			memset(&v->act_id, 0, sizeof(v->act_id));
			v->mask_applied = 0;
		} else if (!v->act_err_logged) {
			char buf[64];

			layer_attr(d, want, v == &vm->timer, &a);
			log_warn("vm %s: %s %u (tid %d): %s: %s", vm->name,
			         v == &vm->timer ? "main thread" : "vCPU", v->index, (int)v->id.tid,
			         want == PVS_LAYER_OWN ? "restore"
			                               : pvs_sched_attr_str(&a, buf, sizeof(buf)),
			         strerror(-rc));
			v->act_err_logged = 1;
		}
		return rc;
	}
	log_debug("vm %s: vCPU %u (tid %d): layer %d -> %d", vm->name, v->index, (int)v->id.tid,
	          v->layer, want);
	set_layer(d, v, want);
	v->act_id = v->id;
	return 0;
}

/* The affinity placement gives V: its own CPUs, or - a relaxed laggard
 * while a sibling is co-stopped (policy/cosched.h) - its VM's placed CPUs
 * together, so it can take the pCPU the co-stopped sibling gives up. */
static void placed_mask(const struct pvs_vm *vm, const struct pvs_vcpu *v, cpu_set_t *set)
{
	struct pvs_cpuset m = v->cs_mask;

	if (v->relax.widened)
		for (uint32_t i = 0; i < vm->nr_vcpus; i++)
			if (vm->vcpus[i].cs_mask_valid)
				pvs_cpuset_or(&m, &m, &vm->vcpus[i].cs_mask);
	pvs_cpuset_to_cpu_set(&m, set);
}

static int apply_mask(struct pvs_daemon *d, struct pvs_vm *vm, struct pvs_vcpu *v)
{
	int rc = 0;

	if (v->cs_mask_valid) {
		cpu_set_t set;

		if (v->mask_applied)
			return 0;
		placed_mask(vm, v, &set);
		d->cs_syscalls++;
		rc = pvs_journal_set_affinity(d->journal, &v->id, &set);
		if (!rc) {
			v->mask_applied = 1;
			v->act_id = v->id;
		}
	} else if (v->mask_applied) {
		d->cs_syscalls++;
		rc = pvs_journal_restore_affinity(d->journal, &v->id);
		if (!rc || rc == -ENOENT || rc == -ESRCH)
			v->mask_applied = 0;
	}
	if (rc < 0 && rc != -ESRCH && rc != -ENOENT && !v->act_err_logged) {
		log_warn("vm %s: vCPU %u (tid %d): affinity: %s", vm->name, v->index,
		         (int)v->id.tid, strerror(-rc));
		v->act_err_logged = 1;
	}
	return rc == -ENOENT ? 0 : rc;
}

int pvs_actuate(struct pvs_daemon *d, struct pvs_vm *vm, struct pvs_vcpu *v)
{
	int want, rc, rm;

	pvs_actuate_stale(d, v);
	if (!d->journal || !v->live)
		return -ESRCH;
	want = wanted_layer(v);
	rc = apply_layer(d, vm, v, want);
	if (rc < 0 && want == PVS_LAYER_BOOST) {
		/* the boost failed: the next layer down still applies */
		int next = v->cs_raised    ? PVS_LAYER_GANG
		           : v->cs_stopped ? PVS_LAYER_COSTOP
		                           : PVS_LAYER_OWN;
		apply_layer(d, vm, v, next);
	}
	rm = apply_mask(d, vm, v);
	return rc < 0 ? rc : rm;
}

void pvs_actuate_release(struct pvs_daemon *d, struct pvs_vcpu *v)
{
	int rc = 0;

	if (!v->act_id.tid)
		return;
	if (d->journal)
		rc = pvs_journal_forget(d->journal, &v->act_id); /* restores if it exists */
	if (rc < 0 && rc != -ESRCH && rc != -ENOENT) {
		/* the record stays journaled and the thread may still have an RT
		 * priority: keep counting it, try again later (pvschedd's exit
		 * and pvschedctl reset retry the record too) */
		if (!v->act_err_logged)
			log_warn("tid %d: restore failed: %s", (int)v->act_id.tid, strerror(-rc));
		v->act_err_logged = 1;
		return;
	}
	set_layer(d, v, PVS_LAYER_OWN);
	memset(&v->act_id, 0, sizeof(v->act_id));
	v->mask_applied = 0;
	v->act_err_logged = 0;
}

void pvs_actuate_vm_release(struct pvs_daemon *d, struct pvs_vm *vm)
{
	for (uint32_t i = 0; i < vm->nr_vcpus; i++) {
		struct pvs_vcpu *v = &vm->vcpus[i];

		pvs_actuate_release(d, v);
		pvs_boost_vcpu_init(&v->boost);
		v->cs_raised = v->cs_stopped = 0;
		v->cs_mask_valid = 0;
	}
	pvs_actuate_release(d, &vm->timer);
	pvs_boost_vcpu_init(&vm->timer.boost);
	vm->boost_busy = 0;
	if (d->gang_holder == vm)
		d->gang_holder = NULL; /* it is about to be freed */
	d->placement_dirty = 1;
}
