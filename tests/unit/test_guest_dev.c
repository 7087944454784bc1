/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_guest_dev.c - pvsched_open() and the guest driver's
 * device: $PVSCHED_DEV stands in for /dev/pvsched with a region file made
 * by the host-side region code (lib/region_host.c), or with a character
 * device (/dev/zero).  The lookup order ($PVSCHED_REGION > device > PCI
 * scan), a device that is absent (silently the scan, as before the driver),
 * a read-only device (readable, boost -EROFS), and devices that are no
 * pvsched region (rejected; the scan goes on).
 */
#include <grp.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include <pvsched/pvsched.h>

#include "check.h"
#include "region_host.h"
#include "testutil.h"
#include "hostregion.h"

#define LONG_STALE 30000000u

static int host_open(struct pvs_hregion *r, const char *path, uint32_t nr, const char *name)
{
	return tu_host_open(r, path, nr, 10000, LONG_STALE, 0644, PVSCHED_F_ALL_V1_2, name);
}

/* A fake sysfs PCI tree at ROOT with one ivshmem device 0000:00:04.0 whose
 * resource2 is a valid region (R != NULL), zeros (ZERO_LEN > 0), or absent. */
static void pci_tree(const char *root, struct pvs_hregion *r, size_t zero_len)
{
	const char *dev = "0000:00:04.0";

	REQUIRE(tu_mkdir(tu_path("%s", root)) == 0);
	REQUIRE(tu_mkdir(tu_path("%s/%s", root, dev)) == 0);
	REQUIRE(tu_write_str(tu_path("%s/%s/vendor", root, dev), "0x1af4\n") == 0);
	REQUIRE(tu_write_str(tu_path("%s/%s/device", root, dev), "0x1110\n") == 0);
	if (r)
		REQUIRE(host_open(r, tu_path("%s/%s/resource2", root, dev), 3, "pcivm") == 0);
	if (zero_len) {
		void *z = calloc(1, zero_len);

		REQUIRE(z && tu_write_file(tu_path("%s/%s/resource2", root, dev), z, zero_len,
		                           0600) == 0);
		free(z);
	}
}

static void set_env(const char *region, const char *dev, const char *pci)
{
	if (region)
		setenv(PVSCHED_ENV_REGION, region, 1);
	else
		unsetenv(PVSCHED_ENV_REGION);
	if (dev)
		setenv(PVSCHED_ENV_DEV, dev, 1);
	else
		unsetenv(PVSCHED_ENV_DEV);
	if (pci)
		setenv(PVSCHED_ENV_SYSFS_PCI, pci, 1);
	else
		unsetenv(PVSCHED_ENV_SYSFS_PCI);
}

/* tu_path() rotates 8 buffers: keep a path that must outlive later calls. */
static const char *keep_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s", tu_path("%s", name));
	return buf;
}

static void empty_pci(void)
{
	REQUIRE(tu_mkdir(tu_path("empty-pci")) == 0);
}

/* ---------------- the device found ---------------- */

static void t_dev(void)
{
	struct pvs_hregion r;
	struct pvsched_vm v = {.capacity_milli = 1500, .recommended_dop = 2};
	struct pvsched_vm_info vi;
	pvsched_guest *g = (pvsched_guest *)1;
	char buf[512];
	const char *p = keep_path(buf, sizeof(buf), "dev-region");

	empty_pci();
	REQUIRE(host_open(&r, p, 2, "devvm") == 0);
	pvs_hregion_publish_vm(&r, &v);
	set_env(NULL, p, tu_path("empty-pci"));
	NOTE("PVSCHED_DEV=%s, no PCI device", p);
	CHECK_EQ(pvsched_open(&g), 0);
	REQUIRE(g != NULL && g != (pvsched_guest *)1);
	CHECK_EQ(pvsched_guest_source(g), PVSCHED_SRC_DEV);
	CHECK_STR(pvsched_source_str(pvsched_guest_source(g)), "dev");
	CHECK_STR(pvsched_guest_path(g), p);
	CHECK_EQ(pvsched_last_verr(), PVSCHED_V_OK);
	CHECK_EQ(pvsched_read_vm(g, &vi), 0);
	CHECK_EQU(vi.nr_vcpus, 2);
	CHECK_EQU(vi.capacity_milli, 1500);
	NOTE("opened read-write: the guest's ABI version is announced");
	CHECK_EQU(r.hdr->guest_major, PVSCHED_ABI_MAJOR);
	CHECK_EQU(r.hdr->guest_minor, PVSCHED_ABI_MINOR);
	NOTE("the host grows nr_vcpus within max_vcpus: still readable");
	REQUIRE(pvs_hregion_set_nr_vcpus(&r, 4) == 0);
	CHECK_EQ(pvsched_read_vm(g, &vi), 0);
	CHECK_EQU(vi.nr_vcpus, 4);
	pvsched_close(g);
	pvs_hregion_close(&r);
	set_env(NULL, NULL, NULL);
}

/* ---------------- $PVSCHED_REGION > device > PCI scan ---------------- */

static void t_order(void)
{
	struct pvs_hregion env, dev, pci;
	pvsched_guest *g = NULL;
	struct pvsched_vm_info vi;

	REQUIRE(host_open(&env, tu_path("order-env"), 1, "envvm") == 0);
	REQUIRE(host_open(&dev, tu_path("order-dev"), 2, "devvm") == 0);
	pci_tree("order-pci", &pci, 0);

	NOTE("all three: PVSCHED_REGION");
	set_env(env.path, dev.path, tu_path("order-pci"));
	CHECK_EQ(pvsched_open(&g), 0);
	CHECK_EQ(pvsched_guest_source(g), PVSCHED_SRC_ENV);
	CHECK_STR(pvsched_guest_path(g), env.path);
	CHECK(pvsched_read_vm(g, &vi) == 0 && vi.nr_vcpus == 1);
	pvsched_close(g);

	NOTE("PVSCHED_REGION empty: the device, before the PCI device");
	set_env("", dev.path, tu_path("order-pci"));
	CHECK_EQ(pvsched_open(&g), 0);
	CHECK_EQ(pvsched_guest_source(g), PVSCHED_SRC_DEV);
	CHECK_STR(pvsched_guest_path(g), dev.path);
	CHECK(pvsched_read_vm(g, &vi) == 0 && vi.nr_vcpus == 2);
	pvsched_close(g);

	NOTE("no device: the PCI scan");
	set_env(NULL, tu_path("no-such-dev"), tu_path("order-pci"));
	CHECK_EQ(pvsched_open(&g), 0);
	CHECK_EQ(pvsched_guest_source(g), PVSCHED_SRC_PCI);
	CHECK_STR(pvsched_source_str(pvsched_guest_source(g)), "pci");
	CHECK(pvsched_read_vm(g, &vi) == 0 && vi.nr_vcpus == 3);
	pvsched_close(g);

	NOTE("PVSCHED_REGION names a missing file: -ENOENT, neither device nor scan");
	set_env(tu_path("no-such-region"), dev.path, tu_path("order-pci"));
	g = (pvsched_guest *)1;
	CHECK_EQ(pvsched_open(&g), -ENOENT);
	CHECK(g == NULL);

	pvs_hregion_close(&env);
	pvs_hregion_close(&dev);
	pvs_hregion_close(&pci);
	set_env(NULL, NULL, NULL);
}

/* ---------------- no device: as before ---------------- */

static void t_absent(void)
{
	struct pvs_hregion pci;
	pvsched_guest *g = (pvsched_guest *)1;
	char buf[512];
	const char *node = keep_path(buf, sizeof(buf), "stale-node");

	empty_pci();
	NOTE("missing device, empty PCI tree: -ENOENT, nothing to report");
	set_env(NULL, tu_path("no-such-dev"), tu_path("empty-pci"));
	CHECK_EQ(pvsched_open(&g), -ENOENT);
	CHECK(g == NULL);
	CHECK_EQ(pvsched_last_verr(), PVSCHED_V_OK);
	NOTE("missing device, missing PCI root: -ENOENT");
	set_env(NULL, tu_path("no-such-dev"), tu_path("no-such-pci"));
	CHECK_EQ(pvsched_open(&g), -ENOENT);

	NOTE("missing device, a PCI device without resource2: -ENOENT");
	pci_tree("absent-pci-nores", NULL, 0);
	set_env(NULL, tu_path("no-such-dev"), tu_path("absent-pci-nores"));
	CHECK_EQ(pvsched_open(&g), -ENOENT);

	NOTE("missing device, a PCI region: found by the scan");
	pci_tree("absent-pci", &pci, 0);
	set_env(NULL, tu_path("no-such-dev"), tu_path("absent-pci"));
	CHECK_EQ(pvsched_open(&g), 0);
	CHECK_EQ(pvsched_guest_source(g), PVSCHED_SRC_PCI);
	pvsched_close(g);

	if (access(PVSCHED_DEV_PATH, F_OK) == 0) {
		NOTE("%s exists here: the default path is not checked", PVSCHED_DEV_PATH);
	} else {
		NOTE("PVSCHED_DEV empty or unset: %s, absent here: the scan", PVSCHED_DEV_PATH);
		set_env(NULL, "", tu_path("absent-pci"));
		CHECK_EQ(pvsched_open(&g), 0);
		CHECK_EQ(pvsched_guest_source(g), PVSCHED_SRC_PCI);
		pvsched_close(g);
		set_env(NULL, NULL, tu_path("empty-pci"));
		CHECK_EQ(pvsched_open(&g), -ENOENT);
	}
	pvs_hregion_close(&pci);

	/* A device node whose driver is not loaded: open() fails with ENXIO
	 * (no such device registered) or ENODEV.  Major 240 is for local or
	 * experimental use: nothing registers it. */
	if (mknod(node, S_IFCHR | 0666, makedev(240, 0)) < 0) {
		NOTE("mknod: %s: a node without a driver not tested", strerror(errno));
	} else {
		int fd = open(node, O_RDONLY | O_CLOEXEC);
		int e = errno;

		if (fd >= 0 || (e != ENXIO && e != ENODEV)) {
			NOTE("open of an unregistered char device: %s: not tested",
			     fd >= 0 ? "opened" : strerror(e));
			if (fd >= 0)
				close(fd);
		} else {
			NOTE("a device node without its driver (%s) counts as absent", strerror(e));
			set_env(NULL, node, tu_path("empty-pci"));
			CHECK_EQ(pvsched_open(&g), -ENOENT);
			CHECK_EQ(pvsched_last_verr(), PVSCHED_V_OK);
		}
	}
	set_env(NULL, NULL, NULL);
}

/* ---------------- a read-only device ---------------- */

/* In a child that may not write the file (dropped to nobody if root). */
static int ro_child(struct pvs_hregion *r, const char *p)
{
	struct pvsched_vm_info vi;
	struct pvsched_advice a;
	pvsched_guest *g = NULL;
	unsigned long failed0 = chk_failed;

	if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)) {
		printf("  cannot drop root: %s\n", strerror(errno));
		return 77;
	}
	if (access(p, W_OK) == 0) {
		printf("  %s is still writable for uid %u\n", p, (unsigned)geteuid());
		return 77;
	}
	CHECK_EQ(pvsched_open(&g), 0);
	if (!g)
		return 1;
	CHECK_EQ(pvsched_guest_source(g), PVSCHED_SRC_DEV);
	CHECK_EQ(pvsched_read_vm(g, &vi), 0);
	CHECK_EQU(vi.recommended_dop, 1);
	CHECKM(r->hdr->guest_major == 0 && r->hdr->guest_minor == 0,
	       "a read-only mapping leaves guest_major/minor alone");
	CHECK_EQ(pvsched_boost(g), -EROFS);
	CHECK_EQ(pvsched_boost_at(g, 1, 100), -EROFS);
	CHECK_EQU(pvs_hregion_vcpu(r, 0)->guest.boost_req, 0);
	pvsched_close(g);
	NOTE("the advisor reads the advice through the same lookup");
	CHECK_EQ(pvsched_advise(&a), 0);
	CHECK_EQ(a.source, PVSCHED_ADVICE_REGION);
	CHECK_EQU(a.threads, 1);
	CHECK_EQ(pvsched_boost(NULL), -EROFS);
	return chk_failed > failed0 ? 1 : 0;
}

static void t_read_only(void)
{
	struct pvs_hregion r;
	struct pvsched_vm v = {.capacity_milli = 1000, .recommended_dop = 1};
	char buf[512];
	const char *p = keep_path(buf, sizeof(buf), "ro-region");
	int st = 0;
	pid_t pid;

	REQUIRE(host_open(&r, p, 2, "rovm") == 0);
	pvs_hregion_publish_vm(&r, &v);
	pvs_hregion_heartbeat(&r, pvs_mono_ns());
	REQUIRE(chmod(p, 0444) == 0);
	/* nobody must reach the file: the temp dir is 0700 */
	REQUIRE(chmod(tu_tmpdir(), 0711) == 0);
	empty_pci();
	set_env(NULL, p, tu_path("empty-pci"));
	NOTE("PVSCHED_DEV names a region file mode 0444, opened by %s",
	     geteuid() == 0 ? "uid 65534 (nobody)" : "its owner");
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(ro_child(&r, p));
	REQUIRE(pid > 0);
	REQUIRE(waitpid(pid, &st, 0) == pid);
	chmod(tu_tmpdir(), 0700);
	pvs_hregion_close(&r);
	set_env(NULL, NULL, NULL);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		SKIP("a process that may not write the file is not available here");
	CHECKM(WIFEXITED(st) && WEXITSTATUS(st) == 0, "read-only checks passed (status %#x)", st);
}

/* ---------------- devices that are no pvsched region ---------------- */

static void t_bad_magic(void)
{
	struct pvs_hregion r, pci;
	pvsched_guest *g = (pvsched_guest *)1;
	char buf[512];
	const char *p = keep_path(buf, sizeof(buf), "bad-dev");

	REQUIRE(host_open(&r, p, 2, "badvm") == 0);
	r.hdr->magic ^= 1;
	pvs_hregion_close(&r);
	empty_pci();

	NOTE("wrong magic at the device, no PCI device: -EBADMSG, V_MAGIC");
	set_env(NULL, p, tu_path("empty-pci"));
	CHECK_EQ(pvsched_open(&g), -EBADMSG);
	CHECK(g == NULL);
	CHECK_EQ(pvsched_last_verr(), PVSCHED_V_MAGIC);
	CHECK_STR(pvsched_strerror(-EBADMSG), "not a pvsched region (bad magic)");

	NOTE("... and a missing PCI root: still -EBADMSG");
	set_env(NULL, p, tu_path("no-such-pci"));
	CHECK_EQ(pvsched_open(&g), -EBADMSG);
	CHECK_EQ(pvsched_last_verr(), PVSCHED_V_MAGIC);

	NOTE("... and an ivshmem device without resource2: -EBADMSG beats -ENOENT");
	pci_tree("bad-pci-nores", NULL, 0);
	set_env(NULL, p, tu_path("bad-pci-nores"));
	CHECK_EQ(pvsched_open(&g), -EBADMSG);
	CHECK_EQ(pvsched_last_verr(), PVSCHED_V_MAGIC);

	NOTE("... and another program's ivshmem device (zeros): -EBADMSG");
	pci_tree("bad-pci-zero", NULL, 8192);
	set_env(NULL, p, tu_path("bad-pci-zero"));
	CHECK_EQ(pvsched_open(&g), -EBADMSG);

	NOTE("... and a PCI device with an unsupported major: that one's error");
	pci_tree("bad-pci-major", &pci, 0);
	pci.hdr->major = PVSCHED_ABI_MAJOR + 1;
	pvs_hregion_close(&pci);
	set_env(NULL, p, tu_path("bad-pci-major"));
	CHECK_EQ(pvsched_open(&g), -EPROTONOSUPPORT);
	CHECK_EQ(pvsched_last_verr(), PVSCHED_V_MAJOR);

	NOTE("... and a PCI region: the scan goes on and finds it");
	pci_tree("bad-pci-good", &pci, 0);
	set_env(NULL, p, tu_path("bad-pci-good"));
	CHECK_EQ(pvsched_open(&g), 0);
	REQUIRE(g != NULL);
	CHECK_EQ(pvsched_guest_source(g), PVSCHED_SRC_PCI);
	CHECK_EQ(pvsched_last_verr(), PVSCHED_V_OK);
	pvsched_close(g);
	pvs_hregion_close(&pci);

	NOTE("a malformed region at the device beats another program's PCI device");
	REQUIRE(host_open(&r, tu_path("malformed-dev"), 2, "malvm") == 0);
	r.hdr->vcpu_stride = 1;
	pvs_hregion_close(&r);
	set_env(NULL, tu_path("malformed-dev"), tu_path("bad-pci-zero"));
	CHECK_EQ(pvsched_open(&g), -EPROTO);
	CHECK_EQ(pvsched_last_verr(), PVSCHED_V_VCPU_STRIDE);
	set_env(NULL, NULL, NULL);
}

/* ---------------- sizes: the header's region_size is what is mapped ---------------- */

static void t_short(void)
{
	struct pvs_hregion r;
	pvsched_guest *g = NULL;
	char buf[512];
	const char *p = keep_path(buf, sizeof(buf), "trunc-dev");
	char small[100] = {0};

	empty_pci();
	NOTE("a device file smaller than a header: -EMSGSIZE, V_SHORT");
	REQUIRE(tu_write_file(tu_path("tiny-dev"), small, sizeof(small), 0600) == 0);
	set_env(NULL, tu_path("tiny-dev"), tu_path("empty-pci"));
	CHECK_EQ(pvsched_open(&g), -EMSGSIZE);
	CHECK_EQ(pvsched_last_verr(), PVSCHED_V_SHORT);

	NOTE("region_size (16 KiB) beyond the file (8 KiB): -EMSGSIZE, never a SIGBUS");
	REQUIRE(host_open(&r, p, 2, "truncvm") == 0);
	pvs_hregion_close(&r);
	REQUIRE(truncate(p, 8192) == 0);
	set_env(NULL, p, tu_path("empty-pci"));
	CHECK_EQ(pvsched_open(&g), -EMSGSIZE);
	CHECK_EQ(pvsched_last_verr(), PVSCHED_V_REGION_SIZE);

	NOTE("a file larger than its region_size: opened (the region is mapped)");
	REQUIRE(host_open(&r, tu_path("big-dev"), 2, "bigvm") == 0);
	REQUIRE(truncate(r.path, 64 * 1024) == 0);
	set_env(NULL, r.path, tu_path("empty-pci"));
	CHECK_EQ(pvsched_open(&g), 0);
	CHECK_EQ(pvsched_guest_source(g), PVSCHED_SRC_DEV);
	pvsched_close(g);
	pvs_hregion_close(&r);
	set_env(NULL, NULL, NULL);
}

/* ---------------- a character device ---------------- */

static void t_chardev(void)
{
	struct pvs_hregion pci;
	struct stat st;
	pvsched_guest *g = NULL;

	if (stat("/dev/zero", &st) < 0 || !S_ISCHR(st.st_mode))
		SKIP("no /dev/zero character device");
	empty_pci();
	NOTE("a character device (no size) is sized by its header: /dev/zero has none");
	set_env(NULL, "/dev/zero", tu_path("empty-pci"));
	CHECK_EQ(pvsched_open(&g), -EBADMSG);
	CHECK_EQ(pvsched_last_verr(), PVSCHED_V_MAGIC);
	NOTE("... and the scan goes on");
	pci_tree("chr-pci", &pci, 0);
	set_env(NULL, "/dev/zero", tu_path("chr-pci"));
	CHECK_EQ(pvsched_open(&g), 0);
	CHECK_EQ(pvsched_guest_source(g), PVSCHED_SRC_PCI);
	pvsched_close(g);
	pvs_hregion_close(&pci);
	NOTE("the same through PVSCHED_REGION and pvsched_open_path()");
	set_env("/dev/zero", NULL, NULL);
	CHECK_EQ(pvsched_open(&g), -EBADMSG);
	CHECK_EQ(pvsched_open_path(&g, "/dev/zero"), -EBADMSG);
	CHECK_EQ(pvsched_last_verr(), PVSCHED_V_MAGIC);
	set_env(NULL, NULL, NULL);
}

static void t_source_str(void)
{
	CHECK_STR(pvsched_source_str(PVSCHED_SRC_NONE), "none");
	CHECK_STR(pvsched_source_str(PVSCHED_SRC_ENV), "env");
	CHECK_STR(pvsched_source_str(PVSCHED_SRC_DEV), "dev");
	CHECK_STR(pvsched_source_str(PVSCHED_SRC_PCI), "pci");
	CHECK_STR(pvsched_source_str(PVSCHED_SRC_PATH), "path");
	CHECK_STR(pvsched_source_str((enum pvsched_source)99), "none");
}

static const struct tcase cases[] = {
        {"dev", t_dev},
        {"order", t_order},
        {"absent", t_absent},
        {"read-only", t_read_only},
        {"bad-magic", t_bad_magic},
        {"short", t_short},
        {"chardev", t_chardev},
        {"source-str", t_source_str},
};

int main(int argc, char **argv)
{
	tu_tmpdir();
	return run_cases(argc, argv, cases, NCASES(cases));
}
