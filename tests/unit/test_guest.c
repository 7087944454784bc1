/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_guest.c - the guest library: finding the region through
 * $PVSCHED_REGION or a (fake) sysfs PCI tree, host liveness (detached,
 * stale heartbeat, advancing heartbeat, a new agent), snapshot contents,
 * index checks, and the error strings.
 */
#include <pthread.h>
#include <stdatomic.h>

#include <pvsched/pvsched.h>

#include "check.h"
#include "region_host.h"
#include "testutil.h"
#include "hostregion.h"

/* For tests that are not about liveness: never stale on a loaded machine. */
#define LONG_STALE 30000000u

static int host_open(struct pvs_hregion *r, const char *path, uint32_t nr, uint32_t period_us,
                     uint32_t stale_us, const char *name)
{
	return tu_host_open(r, path, nr, period_us, stale_us, 0600, 0, name);
}

static void clear_env(void)
{
	unsetenv(PVSCHED_ENV_REGION);
	unsetenv(PVSCHED_ENV_SYSFS_PCI);
	/* a guest's real /dev/pvsched would come before the fake PCI trees
	 * (the device itself: test_guest_dev.c) */
	setenv(PVSCHED_ENV_DEV, tu_path("no-dev"), 1);
}

/* ---------------- $PVSCHED_REGION ---------------- */

static void t_env(void)
{
	struct pvs_hregion r;
	pvsched_guest *g = (pvsched_guest *)1;
	const char *p = tu_path("env-region");
	struct pvsched_vm_info vi;

	clear_env();
	REQUIRE(host_open(&r, p, 2, 10000, LONG_STALE, "envvm") == 0);
	setenv(PVSCHED_ENV_REGION, p, 1);
	NOTE("PVSCHED_REGION=%s", p);
	CHECK_EQ(pvsched_open(&g), 0);
	REQUIRE(g != NULL);
	CHECK_EQ(pvsched_guest_source(g), PVSCHED_SRC_ENV);
	CHECK_STR(pvsched_guest_path(g), p);
	CHECK_EQ(pvsched_read_vm(g, &vi), 0);
	CHECK_EQU(vi.nr_vcpus, 2);
	NOTE("a writable mapping announces the guest's ABI version");
	CHECK_EQU(r.hdr->guest_major, PVSCHED_ABI_MAJOR);
	CHECK_EQU(r.hdr->guest_minor, PVSCHED_ABI_MINOR);
	pvsched_close(g);

	NOTE("PVSCHED_REGION naming a missing file");
	setenv(PVSCHED_ENV_REGION, tu_path("no-such-file"), 1);
	g = (pvsched_guest *)1;
	CHECK_EQ(pvsched_open(&g), -ENOENT);
	CHECK(g == NULL);

	NOTE("PVSCHED_REGION naming a file that is not a region");
	void *zeros = calloc(1, 8192);
	REQUIRE(zeros && tu_write_file(tu_path("zeros"), zeros, 8192, 0600) == 0);
	free(zeros);
	setenv(PVSCHED_ENV_REGION, tu_path("zeros"), 1);
	CHECK_EQ(pvsched_open(&g), -EBADMSG);
	CHECK_EQ(pvsched_last_verr(), PVSCHED_V_MAGIC);

	NOTE("empty PVSCHED_REGION falls back to the PCI scan (here: an empty tree)");
	REQUIRE(tu_mkdir(tu_path("empty-pci")) == 0);
	setenv(PVSCHED_ENV_REGION, "", 1);
	setenv(PVSCHED_ENV_SYSFS_PCI, tu_path("empty-pci"), 1);
	CHECK_EQ(pvsched_open(&g), -ENOENT);
	unsetenv(PVSCHED_ENV_REGION);
	CHECK_EQ(pvsched_open(&g), -ENOENT);

	NOTE("explicit path: source PATH");
	CHECK_EQ(pvsched_open_path(&g, p), 0);
	CHECK_EQ(pvsched_guest_source(g), PVSCHED_SRC_PATH);
	pvsched_close(g);
	pvs_hregion_close(&r);
	clear_env();
}

/* ---------------- fake sysfs PCI tree ---------------- */

static void pci_dev(const char *root, const char *bdf, const char *vendor, const char *device)
{
	REQUIRE(tu_mkdir(tu_path("%s", root)) == 0);
	REQUIRE(tu_mkdir(tu_path("%s/%s", root, bdf)) == 0);
	if (vendor)
		REQUIRE(tu_write_str(tu_path("%s/%s/vendor", root, bdf), vendor) == 0);
	if (device)
		REQUIRE(tu_write_str(tu_path("%s/%s/device", root, bdf), device) == 0);
	REQUIRE(tu_write_str(tu_path("%s/%s/class", root, bdf), "0x050000\n") == 0);
}

static void pci_res_zero(const char *root, const char *bdf, size_t size)
{
	void *z = calloc(1, size);

	REQUIRE(tu_write_file(tu_path("%s/%s/resource2", root, bdf), z, size, 0600) == 0);
	free(z);
}

static void t_pci_scan(void)
{
	struct pvs_hregion good, decoy;
	pvsched_guest *g = NULL;
	struct pvsched_vm_info vi;
	const char *want;

	clear_env();
	/* sorted scan order: 00:02 (virtio-net), 00:03 (other vendor, with a
	 * valid region!), 00:04 (ivshmem, no magic), 00:05 (ivshmem, pvsched) */
	pci_dev("pci", "0000:00:02.0", "0x1af4\n", "0x1000\n");
	pci_res_zero("pci", "0000:00:02.0", 8192);
	pci_dev("pci", "0000:00:03.0", "0x8086\n", "0x1110\n");
	REQUIRE(host_open(&decoy, tu_path("pci/0000:00:03.0/resource2"), 3, 10000, LONG_STALE,
	                  "decoy") == 0);
	pci_dev("pci", "0000:00:04.0", "0x1af4\n", "0x1110\n");
	pci_res_zero("pci", "0000:00:04.0", 1 << 20);
	pci_dev("pci", "0000:00:05.0", "0x1af4\n", "0x1110\n");
	want = tu_path("pci/0000:00:05.0/resource2");
	REQUIRE(host_open(&good, want, 2, 10000, LONG_STALE, "pcivm") == 0);
	/* a directory without vendor/device files is ignored too */
	REQUIRE(tu_mkdir(tu_path("pci/0000:00:01.0")) == 0);

	setenv(PVSCHED_ENV_SYSFS_PCI, tu_path("pci"), 1);
	NOTE("PVSCHED_SYSFS_PCI=%s", tu_path("pci"));
	CHECK_EQ(pvsched_open(&g), 0);
	REQUIRE(g != NULL);
	CHECK_EQ(pvsched_guest_source(g), PVSCHED_SRC_PCI);
	CHECK_STR(pvsched_guest_path(g), want);
	CHECK_EQ(pvsched_read_vm(g, &vi), 0);
	CHECKM(vi.nr_vcpus == 2, "mapped the 1af4:1110 pvsched device, not the other vendor's");
	pvsched_close(g);

	NOTE("PVSCHED_REGION takes precedence over the scan");
	setenv(PVSCHED_ENV_REGION, decoy.path, 1);
	CHECK_EQ(pvsched_open(&g), 0);
	CHECK_EQ(pvsched_guest_source(g), PVSCHED_SRC_ENV);
	pvsched_close(g);
	pvs_hregion_close(&good);
	pvs_hregion_close(&decoy);
	clear_env();
}

static void t_pci_errors(void)
{
	struct pvs_hregion r;
	pvsched_guest *g = NULL;

	clear_env();
	NOTE("only a non-pvsched ivshmem device: -EBADMSG");
	pci_dev("pci-a", "0000:00:04.0", "0x1af4\n", "0x1110\n");
	pci_res_zero("pci-a", "0000:00:04.0", 8192);
	setenv(PVSCHED_ENV_SYSFS_PCI, tu_path("pci-a"), 1);
	CHECK_EQ(pvsched_open(&g), -EBADMSG);
	CHECK(g == NULL);

	NOTE("ivshmem device without resource2: -ENOENT");
	pci_dev("pci-b", "0000:00:04.0", "0x1af4\n", "0x1110\n");
	setenv(PVSCHED_ENV_SYSFS_PCI, tu_path("pci-b"), 1);
	CHECK_EQ(pvsched_open(&g), -ENOENT);

	NOTE("a malformed pvsched region beats another ivshmem user, in either order");
	for (int order = 0; order < 2; order++) {
		const char *root = order ? "pci-d" : "pci-c";
		const char *bad_bdf = order ? "0000:00:09.0" : "0000:00:03.0";
		const char *zero_bdf = order ? "0000:00:03.0" : "0000:00:09.0";

		pci_dev(root, zero_bdf, "0x1af4\n", "0x1110\n");
		pci_res_zero(root, zero_bdf, 8192);
		pci_dev(root, bad_bdf, "0x1af4\n", "0x1110\n");
		REQUIRE(host_open(&r, tu_path("%s/%s/resource2", root, bad_bdf), 1, 10000,
		                  LONG_STALE, "major") == 0);
		r.hdr->major = PVSCHED_ABI_MAJOR + 1;
		pvs_hregion_close(&r);
		setenv(PVSCHED_ENV_SYSFS_PCI, tu_path("%s", root), 1);
		CHECK_EQ(pvsched_open(&g), -EPROTONOSUPPORT);
	}

	NOTE("a missing root: -ENOENT");
	setenv(PVSCHED_ENV_SYSFS_PCI, tu_path("no-such-dir"), 1);
	CHECK_EQ(pvsched_open(&g), -ENOENT);
	clear_env();
}

/* ---------------- liveness ---------------- */

static void t_detached(void)
{
	struct pvs_hregion r;
	pvsched_guest *g = NULL;
	struct pvsched_vm_info vi;
	struct pvsched_vcpu_info ci;
	struct pvsched_vm v = {.capacity_milli = 1500, .recommended_dop = 2};

	REQUIRE(host_open(&r, tu_path("detach"), 2, 10000, LONG_STALE, "detach") == 0);
	REQUIRE(pvsched_open_path(&g, r.path) == 0);
	pvs_hregion_publish_vm(&r, &v);
	CHECK_EQ(pvsched_host_alive(g), 1);
	CHECK_EQ(pvsched_read_vm(g, &vi), 0);

	NOTE("host_state NONE: not alive");
	__atomic_store_n(&r.hdr->host_state, PVSCHED_HOST_NONE, __ATOMIC_RELEASE);
	CHECK_EQ(pvsched_host_alive(g), 0);
	__atomic_store_n(&r.hdr->host_state, PVSCHED_HOST_ACTIVE, __ATOMIC_RELEASE);
	CHECK_EQ(pvsched_host_alive(g), 1);

	NOTE("pvs_hregion_close: DETACHED, not alive, reads -ENOTCONN with the last values");
	pvs_hregion_close(&r);
	CHECK_EQ(pvsched_host_alive(g), 0);
	memset(&vi, 0, sizeof(vi));
	CHECK_EQ(pvsched_read_vm(g, &vi), -ENOTCONN);
	CHECK_EQU(vi.capacity_milli, 1500);
	CHECK_EQU(vi.recommended_dop, 2);
	CHECK_EQ(pvsched_read_vcpu(g, 0, &ci), -ENOTCONN);
	pvsched_close(g);
}

static void t_stale(void)
{
	struct pvs_hregion r;
	pvsched_guest *g = NULL;
	struct pvsched_vm_info vi;
	struct pvsched_vm v = {.capacity_milli = 777};

	NOTE("stale_after_us 20000, no heartbeat for 60 ms");
	REQUIRE(host_open(&r, tu_path("stale"), 2, 1000, 20000, "stale") == 0);
	REQUIRE(pvsched_open_path(&g, r.path) == 0);
	pvs_hregion_publish_vm(&r, &v);
	pvs_hregion_heartbeat(&r, pvs_mono_ns());
	CHECKM(pvsched_host_alive(g) == 1, "alive right after a heartbeat");
	tu_sleep_ms(60);
	CHECKM(pvsched_host_alive(g) == 0, "stale after 3x stale_after_us without a heartbeat");
	memset(&vi, 0, sizeof(vi));
	CHECK_EQ(pvsched_read_vm(g, &vi), -ENOTCONN);
	CHECK_EQU(vi.capacity_milli, 777);
	tu_sleep_ms(30);
	CHECK_EQ(pvsched_host_alive(g), 0);

	NOTE("a heartbeat revives it at once");
	pvs_hregion_heartbeat(&r, pvs_mono_ns());
	CHECK_EQ(pvsched_host_alive(g), 1);
	CHECK_EQ(pvsched_read_vm(g, &vi), 0);
	CHECKQ(vi.heartbeat == r.hdr->heartbeat);
	tu_sleep_ms(60);
	CHECK_EQ(pvsched_read_vm(g, &vi), -ENOTCONN);
	pvsched_close(g);
	pvs_hregion_close(&r);

	NOTE("fresh on open even with no heartbeat yet (stale_after 2 s)");
	REQUIRE(host_open(&r, tu_path("fresh"), 1, 1000, 2000000, "fresh") == 0);
	uint64_t t0 = pvs_mono_ns();
	REQUIRE(pvsched_open_path(&g, r.path) == 0);
	int alive = pvsched_host_alive(g);
	if (pvs_mono_ns() - t0 < 1500000000ull)
		CHECK_EQ(alive, 1);
	else
		NOTE("(open and check took over 1.5 s on this loaded machine: not checked)");
	pvsched_close(g);
	pvs_hregion_close(&r);
}

struct beater {
	struct pvs_hregion *r;
	atomic_int stop;
	pthread_mutex_t lock;
	uint64_t last_t; /* time taken just before the last heartbeat */
};

static void *beat_main(void *arg)
{
	struct beater *b = arg;

	while (!atomic_load(&b->stop)) {
		pthread_mutex_lock(&b->lock);
		b->last_t = pvs_mono_ns();
		pvs_hregion_heartbeat(b->r, b->last_t);
		pthread_mutex_unlock(&b->lock);
		tu_sleep_ms(2);
	}
	return NULL;
}

static void t_alive(void)
{
	struct pvs_hregion r;
	pvsched_guest *g = NULL;
	struct pvsched_vm_info vi;
	struct beater b = {.r = NULL, .lock = PTHREAD_MUTEX_INITIALIZER};
	pthread_t th;
	int dead = 0, n = 0, skipped = 0;
	uint64_t t0, hb0;

	NOTE("heartbeat and read in turn, stale_after 20 ms, over 10x that");
	REQUIRE(host_open(&r, tu_path("alive"), 2, 1000, 20000, "alive") == 0);
	REQUIRE(pvsched_open_path(&g, r.path) == 0);
	t0 = pvs_mono_ns();
	while (pvs_mono_ns() - t0 < 200000000ull) {
		pvs_hregion_heartbeat(&r, pvs_mono_ns());
		dead += pvsched_read_vm(g, &vi) != 0;
		n++;
		tu_sleep_ms(5);
	}
	CHECKM(dead == 0, "alive at every read (%d of %d not)", dead, n);

	/* Whenever the last heartbeat started less than stale_after ago, the
	 * guest must say alive (polls where the beat thread was starved for
	 * longer, on a loaded machine, are not counted). */
	NOTE("a heartbeat thread every 2 ms, stale_after 100 ms, guest polls for 300 ms");
	pvs_hregion_close(&r);
	REQUIRE(host_open(&r, tu_path("alive"), 2, 2000, 100000, "alive") == 0);
	b.r = &r;
	hb0 = r.hdr->heartbeat;
	b.last_t = pvs_mono_ns();
	REQUIRE(pthread_create(&th, NULL, beat_main, &b) == 0);
	dead = n = 0;
	t0 = pvs_mono_ns();
	while (pvs_mono_ns() - t0 < 300000000ull) {
		pthread_mutex_lock(&b.lock);
		uint64_t tb = b.last_t;
		pthread_mutex_unlock(&b.lock);
		int a = pvsched_host_alive(g);
		if (pvs_mono_ns() - tb < 100000000ull) {
			dead += a != 1;
			n++;
		} else {
			skipped++;
		}
		tu_sleep_ms(1);
	}
	atomic_store(&b.stop, 1);
	pthread_join(th, NULL);
	CHECKM(dead == 0,
	       "alive at every poll within stale_after of a heartbeat (%d of %d not; "
	       "%d polls after a longer gap)",
	       dead, n, skipped);
	CHECKM(n > 0 && r.hdr->heartbeat > hb0, "polls checked (%d), heartbeat advanced (%llu)", n,
	       (unsigned long long)(r.hdr->heartbeat - hb0));
	pvsched_close(g);
	pvs_hregion_close(&r);
}

static void t_new_instance(void)
{
	struct pvs_hregion r;
	pvsched_guest *g = NULL;
	struct pvsched_vm_info vi;
	uint64_t inst;

	REQUIRE(host_open(&r, tu_path("inst"), 2, 10000, LONG_STALE, "inst") == 0);
	REQUIRE(pvsched_open_path(&g, r.path) == 0);
	inst = r.hdr->host_instance;
	CHECKQ(inst == r.instance && inst != 0);
	CHECKQ(pvsched_host_instance(g) == inst);
	CHECK_EQ(pvsched_read_vm(g, &vi), 0);
	CHECK_EQU(vi.nr_vcpus, 2);
	CHECK_EQ(pvs_hregion_intact(&r), 1);
	pvs_hregion_close(&r);
	CHECK_EQ(pvsched_host_alive(g), 0);
	CHECKQ(pvsched_host_instance(g) == 0);

	NOTE("a new agent attaches (new instance, 4 vCPUs): the guest follows");
	REQUIRE(host_open(&r, tu_path("inst"), 4, 10000, LONG_STALE, "inst") == 0);
	CHECK(r.hdr->host_instance != inst);
	CHECK_EQ(pvsched_host_alive(g), 1);
	CHECKQ(pvsched_host_instance(g) == r.hdr->host_instance);
	CHECK_EQ(pvsched_read_vm(g, &vi), 0);
	CHECK_EQU(vi.nr_vcpus, 4);
	struct pvsched_vcpu_info ci;
	CHECK_EQ(pvsched_read_vcpu(g, 3, &ci), 0);

	NOTE("a header rewritten under the agent (a migration stream) is no longer intact");
	r.hdr->host_instance ^= 1;
	CHECK_EQ(pvs_hregion_intact(&r), 0);
	r.hdr->host_instance ^= 1;
	__atomic_store_n(&r.hdr->magic, 0, __ATOMIC_RELEASE);
	CHECK_EQ(pvs_hregion_intact(&r), 0);
	__atomic_store_n(&r.hdr->magic, PVSCHED_MAGIC, __ATOMIC_RELEASE);
	CHECK_EQ(pvs_hregion_intact(&r), 1);

	NOTE("a new instance with a header the mapping cannot hold is not trusted");
	r.hdr->host_instance ^= 1;
	r.hdr->region_size = 1u << 20; /* bigger than the 16 KiB mapping */
	CHECK_EQ(pvsched_host_alive(g), 0);
	CHECK_EQ(pvsched_read_vm(g, &vi), -ENOTCONN);
	CHECKQ(pvsched_host_instance(g) == 0);
	pvsched_close(g);
	r.hdr->region_size = 16 * 1024;
	pvs_hregion_close(&r);
}

/* ---------------- values and indices ---------------- */

static void t_values(void)
{
	struct pvs_hregion r;
	pvsched_guest *g = NULL;
	struct pvsched_vm v = {
	        .update_ns = 123456789012ull,
	        .preempted_now = 1,
	        .preempted_avg_milli = 1250,
	        .capacity_milli = 2750,
	        .recommended_dop = 3,
	        .running_now = 2,
	        .idle_now = 1,
	        .window_us = 250000,
	        .publish_period_us = 10000,
	        .host_cpus = 8,
	        .seq = 12345, /* ignored by publish */
	};
	struct pvsched_vcpu_host c = {
	        .state = PVSCHED_VCPU_PREEMPTED,
	        .run_ns = 5000000000ull,
	        .wait_ns = 7000000000ull,
	        .preemptions = 42,
	        .update_ns = 123456789012ull,
	        .wait_milli = 600,
	        .run_milli = 300,
	};
	struct pvsched_vm_info vi;
	struct pvsched_vcpu_info ci;

	REQUIRE(host_open(&r, tu_path("values"), 4, 10000, LONG_STALE, "values") == 0);
	REQUIRE(pvsched_open_path(&g, r.path) == 0);
	pvs_hregion_publish_vm(&r, &v);
	pvs_hregion_publish_vcpu(&r, 2, &c);
	pvs_hregion_heartbeat(&r, 99);
	pvs_hregion_heartbeat(&r, 100);
	NOTE("published values come back unchanged");
	CHECK_EQ(pvsched_read_vm(g, &vi), 0);
	CHECK_EQU(vi.update_ns, v.update_ns);
	CHECK_EQU(vi.preempted_now, 1);
	CHECK_EQU(vi.preempted_avg_milli, 1250);
	CHECK_EQU(vi.capacity_milli, 2750);
	CHECK_EQU(vi.recommended_dop, 3);
	CHECK_EQU(vi.running_now, 2);
	CHECK_EQU(vi.idle_now, 1);
	CHECK_EQU(vi.window_us, 250000);
	CHECK_EQU(vi.publish_period_us, 10000);
	CHECK_EQU(vi.host_cpus, 8);
	CHECK_EQU(vi.nr_vcpus, 4);
	CHECK_EQU(vi.heartbeat, 2);
	CHECK_EQU(r.hdr->host_time_ns, 100);
	CHECK_EQ(pvsched_read_vcpu(g, 2, &ci), 0);
	CHECK_EQU(ci.state, PVSCHED_VCPU_PREEMPTED);
	CHECK_EQU(ci.run_ns, c.run_ns);
	CHECK_EQU(ci.wait_ns, c.wait_ns);
	CHECK_EQU(ci.preemptions, 42);
	CHECK_EQU(ci.update_ns, c.update_ns);
	CHECK_EQU(ci.wait_milli, 600);
	CHECK_EQU(ci.run_milli, 300);
	CHECKM((r.vm->seq & 1) == 0 && r.vm->seq != 12345, "seq is the region's (%u)", r.vm->seq);
	CHECK_EQ(pvsched_read_vcpu(g, 1, &ci), 0);
	CHECKM(ci.state == PVSCHED_VCPU_UNKNOWN && ci.run_ns == 0,
	       "an unpublished slot reads as zero/UNKNOWN");

	NOTE("a state value beyond the ABI reads as UNKNOWN");
	c.state = 77;
	pvs_hregion_publish_vcpu(&r, 2, &c);
	CHECK_EQ(pvsched_read_vcpu(g, 2, &ci), 0);
	CHECK_EQU(ci.state, PVSCHED_VCPU_UNKNOWN);
	pvsched_close(g);
	pvs_hregion_close(&r);
}

static void t_range(void)
{
	struct pvs_hregion r;
	pvsched_guest *g = NULL;
	struct pvsched_vcpu_info ci;
	struct pvsched_vm_info vi;
	uint32_t max;

	REQUIRE(host_open(&r, tu_path("range"), 2, 10000, LONG_STALE, "range") == 0);
	REQUIRE(pvsched_open_path(&g, r.path) == 0);
	max = r.hdr->max_vcpus;
	CHECK_EQ(pvsched_read_vcpu(g, 0, &ci), 0);
	CHECK_EQ(pvsched_read_vcpu(g, 1, &ci), 0);
	CHECK_EQ(pvsched_read_vcpu(g, 2, &ci), -ERANGE);
	CHECK_EQ(pvsched_read_vcpu(g, UINT32_MAX, &ci), -ERANGE);

	NOTE("nr_vcpus grows to 5: slot 4 becomes readable");
	CHECK_EQ(pvs_hregion_set_nr_vcpus(&r, 5), 0);
	CHECK_EQ(pvsched_read_vcpu(g, 4, &ci), 0);
	CHECK_EQ(pvsched_read_vcpu(g, 5, &ci), -ERANGE);
	CHECK_EQ(pvs_hregion_set_nr_vcpus(&r, max + 1), -EMSGSIZE);
	CHECK_EQ(pvs_hregion_set_nr_vcpus(&r, max), 0);
	CHECK_EQ(pvsched_read_vcpu(g, max - 1, &ci), 0);
	CHECK_EQ(pvsched_read_vcpu(g, max, &ci), -ERANGE);

	NOTE("a header nr_vcpus beyond max_vcpus (host bug) is capped");
	r.hdr->nr_vcpus = max + 100;
	CHECK_EQ(pvsched_read_vcpu(g, max, &ci), -ERANGE);
	CHECK_EQ(pvsched_read_vcpu(g, max + 50, &ci), -ERANGE);
	CHECK_EQ(pvsched_read_vm(g, &vi), 0);
	CHECK_EQU(vi.nr_vcpus, max);
	r.hdr->nr_vcpus = 2;
	pvsched_close(g);
	pvs_hregion_close(&r);
}

static void t_args(void)
{
	pvsched_guest *g = (pvsched_guest *)1;
	struct pvsched_vm_info vi;
	struct pvsched_vcpu_info ci;

	CHECK_EQ(pvsched_open(NULL), -EINVAL);
	CHECK_EQ(pvsched_open_path(NULL, "/x"), -EINVAL);
	CHECK_EQ(pvsched_open_path(&g, NULL), -EINVAL);
	CHECK_EQ(pvsched_open_path(&g, ""), -EINVAL);
	CHECK_EQ(pvsched_read_vm(NULL, &vi), -EINVAL);
	CHECK_EQ(pvsched_read_vcpu(NULL, 0, &ci), -EINVAL);
	CHECK_EQ(pvsched_host_alive(NULL), -EINVAL);
	CHECK(pvsched_guest_path(NULL) == NULL);
	CHECK_EQ(pvsched_guest_source(NULL), PVSCHED_SRC_NONE);
	pvsched_close(NULL);
	CHECKM(1, "pvsched_close(NULL) is a no-op");
	CHECK_EQ(pvsched_open_path(&g, tu_tmpdir()), -EISDIR);
	CHECK(g == NULL);
}

static void t_strerror(void)
{
	static const int codes[] = {0,       -ENOENT,   -ENOTCONN, -EBADMSG, -EPROTONOSUPPORT,
	                            -EPROTO, -EMSGSIZE, -EBUSY,    -ERANGE,  -EINVAL,
	                            -EEXIST};
	const char *unk = pvsched_strerror(12345);

	NOTE("every error the API returns has its own message");
	for (size_t i = 0; i < NCASES(codes); i++) {
		const char *s = pvsched_strerror(codes[i]);
		CHECKM(s && *s && strcmp(s, unk), "pvsched_strerror(%d) = \"%s\"", codes[i],
		       s ? s : "(null)");
		for (size_t j = 0; j < i; j++)
			CHECKQM(strcmp(s, pvsched_strerror(codes[j])) != 0, "%d and %d differ",
			        codes[i], codes[j]);
	}
	CHECK(unk && *unk);
	CHECK(pvsched_strerror(-EACCES) && strcmp(pvsched_strerror(-EACCES), unk) != 0);
	CHECK(pvsched_strerror(-100000) != NULL);
	CHECK_STR(pvsched_vcpu_state_str(PVSCHED_VCPU_RUNNING), "running");
	CHECK_STR(pvsched_vcpu_state_str(PVSCHED_VCPU_PREEMPTED), "preempted");
	CHECK_STR(pvsched_vcpu_state_str(PVSCHED_VCPU_IDLE), "idle");
	CHECK_STR(pvsched_vcpu_state_str(PVSCHED_VCPU_UNKNOWN), "unknown");
	CHECK_STR(pvsched_vcpu_state_str(99), "unknown");
}

/* Any int is a valid argument: INT_MIN must not be negated (UB; the
 * sanitizer tier aborts on it). */
static void t_strerror_intmin(void)
{
	const char *s = pvsched_strerror(INT32_MIN);

	CHECKM(s && *s, "pvsched_strerror(INT_MIN) = \"%s\"", s ? s : "(null)");
	s = pvsched_strerror(INT32_MIN + 1);
	CHECKM(s && *s, "pvsched_strerror(INT_MIN + 1) = \"%s\"", s ? s : "(null)");
}

static const struct tcase cases[] = {
        {"env", t_env},
        {"pci-scan", t_pci_scan},
        {"pci-errors", t_pci_errors},
        {"detached", t_detached},
        {"stale", t_stale},
        {"alive", t_alive},
        {"new-instance", t_new_instance},
        {"values", t_values},
        {"range", t_range},
        {"args", t_args},
        {"strerror", t_strerror},
        {"strerror-intmin", t_strerror_intmin},
};

int main(int argc, char **argv)
{
	return run_cases(argc, argv, cases, NCASES(cases));
}
