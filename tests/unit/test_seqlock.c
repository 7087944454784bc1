/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_seqlock.c - the region's seqlock under a real race.
 *
 * A writer thread publishes, through lib/region_host.c, snapshots whose
 * every field is a different function of one counter N; a reader maps the
 * same file through the guest library and checks that every snapshot it is
 * given decodes to a single N (never a mix of two publishes), that N never
 * goes backwards, and that it does see progress.  Runs for a bounded time.
 */
#include <pthread.h>
#include <stdatomic.h>

#include <pvsched/pvsched.h>

#include "check.h"
#include "hostregion.h"
#include "testutil.h"

#define NSLOTS       4u
#define RUN_NS       1500000000ull  /* reader time budget */
#define MAX_READS    20000000ull    /* or this many reads, whichever first */
#define MAX_NS       10000000000ull /* on a loaded machine: longer until progress is seen */
#define MIN_DISTINCT 10

/* Field derivations: every field changes at every publish and the 64-bit
 * ones carry N in both halves (a torn 32-bit half shows too). */
static uint64_t w64(uint64_t n, uint64_t k)
{
	return (n * 0x100000001ull) ^ (k << 56);
}

static void vm_values(uint32_t n, struct pvsched_vm *v)
{
	memset(v, 0, sizeof(*v));
	v->update_ns = w64(n, 1);
	v->preempted_now = n;
	v->preempted_avg_milli = n * 3u + 1u;
	v->capacity_milli = n ^ 0x5a5a5a5au;
	v->recommended_dop = n + 7u;
	v->running_now = ~n;
	v->idle_now = n * 2u;
	v->window_us = n + 11u;
	v->publish_period_us = n + 13u;
	v->host_cpus = n + 17u;
}

static void vcpu_values(uint32_t n, uint32_t idx, struct pvsched_vcpu_host *v)
{
	memset(v, 0, sizeof(*v));
	v->state = (n + idx) % 4u; /* 0..PVSCHED_VCPU_STATE_MAX */
	v->run_ns = w64(n, 2 + idx);
	v->wait_ns = w64(n, 10 + idx);
	v->preemptions = w64(n, 20 + idx);
	v->update_ns = w64(n, 30 + idx);
	v->wait_milli = n + idx;
	v->run_milli = n ^ idx;
}

static int vm_consistent(const struct pvsched_vm_info *i, uint32_t *n_out)
{
	uint32_t n = i->preempted_now;
	struct pvsched_vm v;

	vm_values(n, &v);
	*n_out = n;
	return i->update_ns == v.update_ns && i->preempted_avg_milli == v.preempted_avg_milli &&
	       i->capacity_milli == v.capacity_milli && i->recommended_dop == v.recommended_dop &&
	       i->running_now == v.running_now && i->idle_now == v.idle_now &&
	       i->window_us == v.window_us && i->publish_period_us == v.publish_period_us &&
	       i->host_cpus == v.host_cpus;
}

static int vcpu_consistent(const struct pvsched_vcpu_info *i, uint32_t idx, uint32_t *n_out)
{
	uint32_t n = i->run_milli ^ idx;
	struct pvsched_vcpu_host v;

	vcpu_values(n, idx, &v);
	*n_out = n;
	return i->state == v.state && i->run_ns == v.run_ns && i->wait_ns == v.wait_ns &&
	       i->preemptions == v.preemptions && i->update_ns == v.update_ns &&
	       i->wait_milli == v.wait_milli;
}

struct writer {
	struct pvs_hregion *r;
	atomic_int stop;
	atomic_uint last_n;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct pvsched_vm vm;
	struct pvsched_vcpu_host vc;

	for (uint32_t n = 1; !atomic_load_explicit(&w->stop, memory_order_relaxed); n++) {
		vm_values(n, &vm);
		pvs_hregion_publish_vm(w->r, &vm);
		for (uint32_t i = 0; i < NSLOTS; i++) {
			vcpu_values(n, i, &vc);
			pvs_hregion_publish_vcpu(w->r, i, &vc);
		}
		if ((n & 63) == 0)
			pvs_hregion_heartbeat(w->r, pvs_mono_ns());
		atomic_store_explicit(&w->last_n, n, memory_order_relaxed);
	}
	return NULL;
}

static int open_region(struct pvs_hregion *r, const char *name)
{
	return TU_HOST(r, tu_path("%s", name), .size = 64 * 1024, .nr = NSLOTS, .period_us = 1000,
	               .name = "seqlock");
}

static void t_no_torn_reads(void)
{
	struct pvs_hregion r;
	struct writer w = {.r = NULL};
	pvsched_guest *g = NULL;
	pthread_t th;
	uint64_t t0, reads = 0, torn_vm = 0, torn_vcpu = 0, busy = 0, back = 0, other = 0;
	uint64_t distinct = 0;
	uint32_t first_n = 0, prev_vm = 0, prev_vcpu[NSLOTS] = {0};

	REQUIRE(open_region(&r, "seqlock-region") == 0);
	w.r = &r;
	REQUIRE(pvsched_open_path(&g, r.path) == 0);
	REQUIRE(pthread_create(&th, NULL, writer_main, &w) == 0);
	NOTE("reader vs. writer thread for up to %.1f s or %llu reads", RUN_NS / 1e9,
	     (unsigned long long)MAX_READS);
	t0 = pvs_mono_ns();
	for (;;) {
		if ((reads & 1023) == 0) {
			uint64_t el = pvs_mono_ns() - t0;
			if (el >= MAX_NS ||
			    (distinct >= MIN_DISTINCT && (el >= RUN_NS || reads >= MAX_READS)))
				break;
		}
		uint32_t n;
		int rc;

		if (reads % (NSLOTS + 1) == 0) {
			struct pvsched_vm_info vi;
			rc = pvsched_read_vm(g, &vi);
			if (rc == 0 || rc == -ENOTCONN) {
				if (vi.update_ns == 0 && vi.preempted_now == 0)
					; /* all zero: before the first publish */
				else if (!vm_consistent(&vi, &n))
					torn_vm++;
				else {
					if (n < prev_vm)
						back++;
					if (n != prev_vm)
						distinct++;
					if (!first_n)
						first_n = n;
					prev_vm = n;
				}
			}
			if (rc == -EBUSY)
				busy++;
			else if (rc != 0)
				other++;
		} else {
			uint32_t idx = (uint32_t)(reads % (NSLOTS + 1)) - 1;
			struct pvsched_vcpu_info ci;
			rc = pvsched_read_vcpu(g, idx, &ci);
			if (rc == 0 || rc == -ENOTCONN) {
				if (ci.run_ns != 0 && !vcpu_consistent(&ci, idx, &n))
					torn_vcpu++;
				else if (ci.run_ns != 0) {
					if (n < prev_vcpu[idx])
						back++;
					prev_vcpu[idx] = n;
				}
			}
			if (rc == -EBUSY)
				busy++;
			else if (rc != 0)
				other++;
		}
		reads++;
	}
	atomic_store(&w.stop, 1);
	pthread_join(th, NULL);
	printf("  %llu reads in %.2f s, writer published %u snapshots, reader saw %llu distinct "
	       "VM snapshots, %llu -EBUSY\n",
	       (unsigned long long)reads, (pvs_mono_ns() - t0) / 1e9, atomic_load(&w.last_n),
	       (unsigned long long)distinct, (unsigned long long)busy);
	CHECKM(torn_vm == 0, "no torn VM snapshot (%llu seen)", (unsigned long long)torn_vm);
	CHECKM(torn_vcpu == 0, "no torn vCPU snapshot (%llu seen)", (unsigned long long)torn_vcpu);
	CHECKM(back == 0, "the counter never goes backwards (%llu times)",
	       (unsigned long long)back);
	CHECKM(other == 0, "no read error other than -EBUSY (%llu)", (unsigned long long)other);
	CHECKM(busy * 2 < reads, "-EBUSY (writer preempted mid-update) is rare: %llu of %llu",
	       (unsigned long long)busy, (unsigned long long)reads);
	CHECKM(distinct >= MIN_DISTINCT, "the reader sees progress (%llu distinct snapshots)",
	       (unsigned long long)distinct);
	CHECKM(prev_vm > first_n, "the last value read (%u) is newer than the first (%u)", prev_vm,
	       first_n);
	pvsched_close(g);
	pvs_hregion_close(&r);
}

/* A writer that died between write_begin and write_end must not hang a
 * reader: it gives up with -EBUSY after a bounded number of retries. */
static void t_stuck_writer(void)
{
	struct pvs_hregion r;
	pvsched_guest *g = NULL;
	struct pvsched_vm_info vi;
	struct pvsched_vcpu_info ci;
	struct pvsched_vm v;
	uint64_t t0, dt;

	REQUIRE(open_region(&r, "stuck-region") == 0);
	REQUIRE(pvsched_open_path(&g, r.path) == 0);
	vm_values(5, &v);
	pvs_hregion_publish_vm(&r, &v);
	CHECK_EQ(pvsched_read_vm(g, &vi), 0);
	CHECK_EQU(vi.preempted_now, 5);

	NOTE("VM seq left odd: read gives up");
	__atomic_store_n(&r.vm->seq, r.vm->seq | 1u, __ATOMIC_RELEASE);
	t0 = pvs_mono_ns();
	CHECK_EQ(pvsched_read_vm(g, &vi), -EBUSY);
	dt = pvs_mono_ns() - t0;
	CHECKM(dt < 2000000000ull, "gave up in bounded time (%.3f ms)", dt / 1e6);

	NOTE("vCPU seq left odd: read gives up");
	struct pvsched_vcpu_host *h = &pvs_hregion_vcpu(&r, 1)->host;
	__atomic_store_n(&h->seq, h->seq | 1u, __ATOMIC_RELEASE);
	CHECK_EQ(pvsched_read_vcpu(g, 1, &ci), -EBUSY);
	CHECK_EQ(pvsched_read_vcpu(g, 0, &ci), 0);

	NOTE("the next complete publish makes the data readable again");
	vm_values(6, &v);
	pvs_hregion_publish_vm(&r, &v);
	CHECK_EQ(pvsched_read_vm(g, &vi), 0);
	CHECK_EQU(vi.preempted_now, 6);
	CHECKM((r.vm->seq & 1u) == 0, "seq is even after write_end (%u)", r.vm->seq);
	pvsched_close(g);
	pvs_hregion_close(&r);
}

static const struct tcase cases[] = {
        {"no-torn-reads", t_no_torn_reads},
        {"stuck-writer", t_stuck_writer},
};

int main(int argc, char **argv)
{
	return run_cases(argc, argv, cases, NCASES(cases));
}
