/* SPDX-License-Identifier: MIT */
/*
 * lib/boost.c - boost requests and wake deadlines (ABI 1.2): the guest
 * writes its vCPU slot's guest part, the host agent acts on it within its
 * scan period and writes back boost_state.  No system call: region writes
 * and reads only (the first call of a thread in a process VM learns its
 * thread id once).
 *
 * Nesting is per thread: the first pvsched_boost() of a thread adds one to
 * its vCPU's boost_req and remembers the slot; the matching last
 * pvsched_unboost() takes it off that same slot, even if the thread has
 * moved to another vCPU since (a real VM's guest scheduler may migrate it;
 * pin the thread where that matters).  Every change of a slot's guest part
 * bumps the slot's boost_seq and the header's boost_gen, which is how the
 * host notices a request it did not see in between two scans.  With a
 * doorbell (1.4) the first request on a vCPU, the release of its last one
 * and a new deadline also ring it, so the host acts at once instead of at
 * its next scan; nested requests do not ring.
 */
#include <errno.h>
#include <time.h>

#include "region_internal.h"
#include "seqlock.h"

struct boost_tls {
	pvsched_guest *g;
	uint32_t slot;
	uint32_t depth;
};

static __thread struct boost_tls bt;

static pvsched_guest *handle(pvsched_guest *g)
{
	return g ? g : pvs__default_guest();
}

/* Can this handle make requests at all? */
static int usable(pvsched_guest *g)
{
	if (!g)
		return -ENOENT;
	if (!(PVS_LOAD(&pvs__header(g)->host_features) & PVSCHED_F_BOOST))
		return -EOPNOTSUPP;
	if (!pvs__writable(g))
		return -EROFS;
	return 0;
}

static void changed(pvsched_guest *g, struct pvsched_vcpu *v)
{
	__atomic_add_fetch(&v->guest.boost_seq, 1u, __ATOMIC_RELEASE);
	__atomic_add_fetch(&pvs__header(g)->boost_gen, 1u, __ATOMIC_RELEASE);
}

static int state_of(pvsched_guest *g, uint32_t slot)
{
	const struct pvsched_vcpu_host *v = &pvs__slot(g, slot)->host;
	uint32_t s, st, tries = 0;

	do {
		if (++tries > PVS_SEQ_RETRIES)
			return -EBUSY;
		s = pvs_seq_read_begin(&v->seq);
		st = PVS_LOAD(&v->boost_state);
	} while (pvs_seq_read_retry(&v->seq, s));
	if (pvsched_host_alive(g) != 1)
		return -ENOTCONN;
	return st <= PVSCHED_BOOST_STATE_MAX ? (int)st : (int)PVSCHED_BOOST_NONE;
}

int pvsched_boost(pvsched_guest *g)
{
	struct pvsched_vcpu *v;
	int rc, slot;
	uint32_t c;

	g = handle(g);
	rc = usable(g);
	if (rc < 0)
		return rc;
	if (bt.depth) {
		if (bt.g != g)
			return -EBUSY; /* a boost through another handle is open */
		if (bt.depth == UINT32_MAX)
			return -EOVERFLOW;
		bt.depth++;
		return 0;
	}
	slot = pvsched_vcpu_self(g);
	if (slot < 0)
		return slot;
	v = pvs__slot(g, (uint32_t)slot);
	c = __atomic_add_fetch(&v->guest.boost_req, 1u, __ATOMIC_RELEASE);
	changed(g, v);
	if (c == 1)
		pvs__ring(g); /* the vCPU's first request: the host must act */
	bt.g = g;
	bt.slot = (uint32_t)slot;
	bt.depth = 1;
	return 0;
}

int pvsched_unboost(pvsched_guest *g)
{
	struct pvsched_vcpu *v;
	uint32_t c;

	g = handle(g);
	if (!g || !bt.depth || bt.g != g)
		return -EINVAL; /* no matching pvsched_boost() in this thread */
	if (--bt.depth)
		return 0;
	v = pvs__slot(g, bt.slot);
	/* never below zero, whatever else wrote the field */
	c = __atomic_load_n(&v->guest.boost_req, __ATOMIC_RELAXED);
	while (c && !__atomic_compare_exchange_n(&v->guest.boost_req, &c, c - 1u, 0,
	                                         __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
	changed(g, v);
	if (c == 1)
		pvs__ring(g); /* the last request on the vCPU ended */
	bt.g = NULL;
	return 0;
}

int pvsched_boost_state(pvsched_guest *g)
{
	int slot, rc;

	g = handle(g);
	rc = usable(g);
	if (rc < 0 && rc != -EROFS)
		return rc;
	if (bt.depth && bt.g == g)
		slot = (int)bt.slot;
	else
		slot = pvsched_vcpu_self(g);
	if (slot < 0)
		return slot;
	return state_of(g, (uint32_t)slot);
}

int pvsched_boost_at(pvsched_guest *g, uint64_t mono_ns, uint32_t len_us)
{
	struct pvsched_vcpu *v;
	int64_t off = 0;
	uint64_t host_ns = 0;
	int rc, slot;

	g = handle(g);
	rc = usable(g);
	if (rc < 0)
		return rc;
	slot = pvsched_vcpu_self(g);
	if (slot < 0)
		return slot;
	if (mono_ns) {
		rc = pvs__clock_offset(g, &off);
		if (rc < 0)
			return rc;
		host_ns = (uint64_t)((int64_t)mono_ns + off);
		if (!host_ns)
			host_ns = 1;
	}
	v = pvs__slot(g, (uint32_t)slot);
	/* the length first: a host that sees the new deadline sees its length */
	__atomic_store_n(&v->guest.wake_len_us, len_us, __ATOMIC_RELAXED);
	__atomic_store_n(&v->guest.wake_at_ns, host_ns, __ATOMIC_RELEASE);
	changed(g, v);
	pvs__ring(g); /* a new deadline: the host sets its timer */
	return 0;
}
