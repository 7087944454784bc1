/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_hregion.c - the host side of a region file
 * (lib/region_host.c): never truncate or rewrite a file that is not ours to
 * change, attach QEMU-created files with their size, create with the mode
 * asked for, refuse another VM's region, leave the file behind on close,
 * and keep the guest's half of the region across agents.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <pvsched/pvsched.h>

#include "check.h"
#include "region_host.h"
#include "testutil.h"

static struct pvs_hregion_opts opts(size_t size, uint32_t nr, const char *name)
{
	struct pvs_hregion_opts o = {
	        .size = size,
	        .nr_vcpus = nr,
	        .uid = (uid_t)-1,
	        .gid = (gid_t)-1,
	        .mode = 0600,
	        .period_us = 10000,
	        .stale_after_us = 100000,
	        .vm_name = name,
	};
	return o;
}

/* A file's bytes, size, mode and mtime, to prove it was left untouched. */
struct snap {
	unsigned char *data;
	size_t len;
	struct stat st;
};

static void snap_take(struct snap *s, const char *path)
{
	REQUIRE(stat(path, &s->st) == 0);
	s->data = tu_read_file(path, &s->len);
	REQUIRE(s->data != NULL);
}

static int snap_same(struct snap *s, const char *path)
{
	struct snap n;
	int same;

	snap_take(&n, path);
	same = n.len == s->len && !memcmp(n.data, s->data, s->len) &&
	       n.st.st_size == s->st.st_size && n.st.st_mode == s->st.st_mode &&
	       n.st.st_ino == s->st.st_ino && n.st.st_mtim.tv_sec == s->st.st_mtim.tv_sec &&
	       n.st.st_mtim.tv_nsec == s->st.st_mtim.tv_nsec;
	free(n.data);
	free(s->data);
	s->data = NULL;
	return same;
}

static void t_refuse_wrong_size(void)
{
	static const size_t sizes[] = {10000, 12288, 4096, 100, PVSCHED_REGION_MIN_SIZE + 1};
	struct pvs_hregion r;
	struct pvs_hregion_opts o = opts(1 << 20, 2, "wrong");
	char err[512];

	for (size_t i = 0; i < NCASES(sizes); i++) {
		const char *p = tu_path("wrong-%zu", sizes[i]);
		unsigned char *pat = malloc(sizes[i]);
		struct snap s;

		for (size_t k = 0; k < sizes[i]; k++)
			pat[k] = (unsigned char)(k * 7 + 3);
		REQUIRE(tu_write_file(p, pat, sizes[i], 0644) == 0);
		free(pat);
		snap_take(&s, p);
		err[0] = 0;
		NOTE("existing %zu-byte file", sizes[i]);
		CHECK_EQ(pvs_hregion_open(&r, p, &o, err, sizeof(err)), -EMSGSIZE);
		CHECKM(strstr(err, p) != NULL, "message names the file: %s", err);
		CHECKM(snap_same(&s, p), "file left byte-identical (size, mode, mtime, inode)");
		CHECK(r.mem == NULL);
	}

	NOTE("existing sparse 2 GiB file (power of two, over the 1 GiB maximum)");
	const char *big = tu_path("wrong-2g");
	REQUIRE(tu_write_file(big, "", 0, 0644) == 0);
	REQUIRE(truncate(big, 2ll << 30) == 0);
	CHECK_EQ(pvs_hregion_open(&r, big, &o, err, sizeof(err)), -EMSGSIZE);
	struct stat st;
	REQUIRE(stat(big, &st) == 0);
	CHECK_EQ(st.st_size, 2ll << 30);
	unlink(big);
}

static void t_attach_precreated(void)
{
	struct pvs_hregion r;
	struct pvs_hregion_opts o = opts(1 << 20, 4, "qemu");
	const char *p = tu_path("qemu-precreated");
	void *z = calloc(1, 65536);
	char err[512];
	struct stat st;
	pvsched_guest *g = NULL;

	NOTE("QEMU created the 64 KiB backing file (0644) before pvschedd came");
	REQUIRE(tu_write_file(p, z, 65536, 0644) == 0);
	free(z);
	REQUIRE(chmod(p, 0644) == 0);
	CHECK_EQ(pvs_hregion_open(&r, p, &o, err, sizeof(err)), 0);
	CHECK_EQU(r.size, 65536);
	CHECK_EQ(r.created, 0);
	CHECK_EQU(r.hdr->region_size, 65536);
	CHECK_EQU(r.hdr->max_vcpus, PVSCHED_VCPUS_FOR_SIZE(65536));
	CHECK_EQU(r.hdr->nr_vcpus, 4);
	CHECK_EQU(r.hdr->magic, PVSCHED_MAGIC);
	CHECK_EQU(r.hdr->host_state, PVSCHED_HOST_ACTIVE);
	CHECK_STR((const char *)r.hdr->vm_name, "qemu");
	REQUIRE(stat(p, &st) == 0);
	CHECKM(st.st_size == 65536, "size kept (%lld), not the configured 1 MiB",
	       (long long)st.st_size);
	CHECKM((st.st_mode & 07777) == 0644, "mode kept (%o)", st.st_mode & 07777);
	CHECK_EQ(pvsched_region_validate(r.mem, r.size, NULL), 0);
	CHECK_EQ(pvsched_open_path(&g, p), 0);
	pvsched_close(g);
	pvs_hregion_close(&r);

	NOTE("an existing empty file is sized to the configured size");
	p = tu_path("empty-precreated");
	REQUIRE(tu_write_file(p, "", 0, 0640) == 0);
	CHECK_EQ(pvs_hregion_open(&r, p, &o, err, sizeof(err)), 0);
	CHECK_EQ(r.created, 0);
	REQUIRE(stat(p, &st) == 0);
	CHECK_EQ(st.st_size, 1 << 20);
	pvs_hregion_close(&r);
}

static void t_create_mode(void)
{
	static const mode_t modes[] = {0600, 0640, 0660, 0666, 0644};
	mode_t old = umask(022);

	for (size_t i = 0; i < NCASES(modes); i++) {
		struct pvs_hregion r;
		struct pvs_hregion_opts o = opts(32768, 1, "mode");
		const char *p = tu_path("mode-%o", modes[i]);
		char err[512];
		struct stat st;

		o.mode = modes[i];
		if (i == 4) {
			o.uid = geteuid();
			o.gid = getegid();
		}
		REQUIRE(pvs_hregion_open(&r, p, &o, err, sizeof(err)) == 0);
		REQUIRE(stat(p, &st) == 0);
		CHECKM((st.st_mode & 07777) == modes[i],
		       "created with mode %o under umask 022 (%o)", modes[i], st.st_mode & 07777);
		CHECK_EQ(r.created, 1);
		CHECK_EQ(st.st_size, 32768);
		CHECK(S_ISREG(st.st_mode));
		CHECK(st.st_uid == geteuid());
		pvs_hregion_close(&r);
	}
	umask(old);
}

static void t_other_vm(void)
{
	struct pvs_hregion r;
	struct pvs_hregion_opts a = opts(16384, 2, "vmA"), b = opts(16384, 2, "vmB");
	const char *p = tu_path("owned");
	char err[512];
	struct snap s;

	REQUIRE(pvs_hregion_open(&r, p, &a, err, sizeof(err)) == 0);
	pvs_hregion_close(&r);

	NOTE("vmB attaching to vmA's (detached) region");
	snap_take(&s, p);
	CHECK_EQ(pvs_hregion_open(&r, p, &b, err, sizeof(err)), -EEXIST);
	CHECKM(strstr(err, "vmA") && strstr(err, p), "message names the owner and file: %s", err);
	CHECKM(snap_same(&s, p), "region left byte-identical");
	CHECK(r.mem == NULL);

	NOTE("...and to vmA's active region (held by its agent)");
	REQUIRE(pvs_hregion_open(&r, p, &a, err, sizeof(err)) == 0);
	struct pvs_hregion r2;
	int rc = pvs_hregion_open(&r2, p, &b, err, sizeof(err));
	CHECKM(rc == -EBUSY || rc == -EEXIST, "refused: %d (%s)", rc, err);
	CHECK(r2.mem == NULL);
	CHECK_STR((const char *)r.hdr->vm_name, "vmA");
	CHECK_EQU(r.hdr->host_state, PVSCHED_HOST_ACTIVE);
	pvs_hregion_close(&r);

	NOTE("the same VM re-attaches; force takes over another's");
	CHECK_EQ(pvs_hregion_open(&r, p, &a, err, sizeof(err)), 0);
	pvs_hregion_close(&r);
	b.force = 1;
	CHECK_EQ(pvs_hregion_open(&r, p, &b, err, sizeof(err)), 0);
	CHECK_STR((const char *)r.hdr->vm_name, "vmB");
	pvs_hregion_close(&r);

	NOTE("a 40-character name (stored truncated to 32) re-attaches");
	const char *longname = "abcdefghijklmnopqrstuvwxyz0123456789ABCD";
	struct pvs_hregion_opts l = opts(16384, 1, longname);
	p = tu_path("longname");
	CHECK_EQ(pvs_hregion_open(&r, p, &l, err, sizeof(err)), 0);
	CHECK(memcmp(r.hdr->vm_name, longname, 32) == 0);
	pvs_hregion_close(&r);
	CHECK_EQ(pvs_hregion_open(&r, p, &l, err, sizeof(err)), 0);
	pvs_hregion_close(&r);
}

static void t_close(void)
{
	struct pvs_hregion r;
	struct pvs_hregion_opts o = opts(16384, 2, "closing");
	const char *p = tu_path("close");
	char err[512];
	size_t len;
	unsigned char *d;
	struct pvsched_header *h;

	REQUIRE(pvs_hregion_open(&r, p, &o, err, sizeof(err)) == 0);
	pvs_hregion_heartbeat(&r, 1);
	pvs_hregion_close(&r);
	CHECK(r.mem == NULL && r.hdr == NULL);
	pvs_hregion_close(&r);
	CHECKM(1, "a second close is a no-op");
	d = tu_read_file(p, &len);
	REQUIRE(d != NULL);
	h = (struct pvsched_header *)d;
	CHECKM(len == 16384, "the file stays, full size (%zu)", len);
	CHECK_EQU(h->magic, PVSCHED_MAGIC);
	CHECK_EQU(h->host_state, PVSCHED_HOST_DETACHED);
	CHECK_EQU(h->heartbeat, 1);
	CHECK_EQ(pvsched_region_validate(d, len, NULL), 0);
	free(d);
}

static void t_not_a_file(void)
{
	struct pvs_hregion r;
	struct pvs_hregion_opts o = opts(16384, 2, "nofile");
	char err[512];
	struct snap s;
	const char *target = tu_path("symlink-target"), *link = tu_path("symlink");

	NOTE("a symlink (e.g. planted in world-writable /dev/shm) is not followed");
	REQUIRE(tu_write_str(target, "precious\n") == 0);
	REQUIRE(symlink(target, link) == 0);
	snap_take(&s, target);
	CHECK_EQ(pvs_hregion_open(&r, link, &o, err, sizeof(err)), -ELOOP);
	CHECKM(snap_same(&s, target), "symlink target untouched");
	const char *dangling = tu_path("dangling");
	REQUIRE(symlink(tu_path("not-created"), dangling) == 0);
	CHECK_EQ(pvs_hregion_open(&r, dangling, &o, err, sizeof(err)), -ELOOP);
	CHECKM(access(tu_path("not-created"), F_OK) != 0, "dangling symlink's target not created");

	NOTE("a FIFO and a directory are refused");
	REQUIRE(mkfifo(tu_path("fifo"), 0600) == 0);
	CHECK_EQ(pvs_hregion_open(&r, tu_path("fifo"), &o, err, sizeof(err)), -EINVAL);
	CHECKM(strstr(err, "regular") != NULL, "%s", err);
	REQUIRE(tu_mkdir(tu_path("dir")) == 0);
	CHECK(pvs_hregion_open(&r, tu_path("dir"), &o, err, sizeof(err)) < 0);
	CHECK(r.mem == NULL);
}

static void t_bad_opts(void)
{
	static const size_t sizes[] = {0, 12345, 4096, 24576, (size_t)2 << 30};
	struct pvs_hregion r;
	char err[512], longpath[400];

	for (size_t i = 0; i < NCASES(sizes); i++) {
		struct pvs_hregion_opts o = opts(sizes[i], 1, "opts");
		const char *p = tu_path("opts-%zu", sizes[i]);
		CHECKM(pvs_hregion_open(&r, p, &o, err, sizeof(err)) == -EINVAL, "size %zu refused",
		       sizes[i]);
		CHECKM(access(p, F_OK) != 0, "and no file created");
	}
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = 0;
	struct pvs_hregion_opts o = opts(16384, 1, "opts");
	CHECK_EQ(pvs_hregion_open(&r, longpath, &o, err, sizeof(err)), -ENAMETOOLONG);
	NOTE("a NULL/zero-length error buffer is fine");
	o.size = 3;
	CHECK_EQ(pvs_hregion_open(&r, tu_path("opts-null"), &o, NULL, 0), -EINVAL);
}

/* More vCPUs than the region holds: refused, and nothing left behind. */
static void t_too_many_vcpus(void)
{
	struct pvs_hregion r;
	struct pvs_hregion_opts o = opts(8192, PVSCHED_VCPUS_FOR_SIZE(8192) + 1, "many");
	const char *p = tu_path("too-many");
	char err[512];
	struct snap s;

	NOTE("new file, %u vCPUs in 8 KiB", o.nr_vcpus);
	CHECK_EQ(pvs_hregion_open(&r, p, &o, err, sizeof(err)), -EMSGSIZE);
	CHECKM(access(p, F_OK) != 0, "the file it created is removed again");

	NOTE("existing 8 KiB region, %u vCPUs", o.nr_vcpus);
	o.nr_vcpus = 1;
	unlink(p);
	REQUIRE(pvs_hregion_open(&r, p, &o, err, sizeof(err)) == 0);
	pvs_hregion_close(&r);
	snap_take(&s, p);
	o.nr_vcpus = PVSCHED_VCPUS_FOR_SIZE(8192) + 1;
	CHECK_EQ(pvs_hregion_open(&r, p, &o, err, sizeof(err)), -EMSGSIZE);
	CHECKM(snap_same(&s, p), "existing region untouched");
	o.nr_vcpus = PVSCHED_VCPUS_FOR_SIZE(8192);
	CHECK_EQ(pvs_hregion_open(&r, p, &o, err, sizeof(err)), 0);
	pvs_hregion_close(&r);
}

static void t_guest_parts(void)
{
	struct pvs_hregion r;
	struct pvs_hregion_opts o = opts(16384, 4, "guestpart");
	const char *p = tu_path("guestpart");
	char err[512];
	struct pvsched_vcpu_host c = {.state = PVSCHED_VCPU_RUNNING, .run_ns = 5};
	struct pvsched_vm v = {.capacity_milli = 3000};
	uint64_t hb, inst;

	REQUIRE(pvs_hregion_open(&r, p, &o, err, sizeof(err)) == 0);
	pvs_hregion_publish_vcpu(&r, 3, &c);
	pvs_hregion_publish_vm(&r, &v);
	pvs_hregion_heartbeat(&r, 1);
	pvs_hregion_heartbeat(&r, 2);
	hb = r.hdr->heartbeat;
	inst = r.hdr->host_instance;
	/* the guest's writes */
	r.hdr->guest_features = PVSCHED_F_VM_ADVICE;
	r.hdr->guest_major = 1;
	pvs_hregion_vcpu(&r, 3)->guest.boost_req = 7;
	pvs_hregion_close(&r);

	NOTE("a new agent attaches");
	REQUIRE(pvs_hregion_open(&r, p, &o, err, sizeof(err)) == 0);
	CHECK(r.hdr->host_instance != inst);
	CHECKM(r.hdr->heartbeat >= hb, "heartbeat never goes back (%llu >= %llu)",
	       (unsigned long long)r.hdr->heartbeat, (unsigned long long)hb);
	CHECK_EQU(r.hdr->guest_features, PVSCHED_F_VM_ADVICE);
	CHECK_EQU(r.hdr->guest_major, 1);
	CHECK_EQU(pvs_hregion_vcpu(&r, 3)->guest.boost_req, 7);
	CHECKM(pvs_hregion_vcpu(&r, 3)->host.run_ns == 0 &&
	               pvs_hregion_vcpu(&r, 3)->host.state == PVSCHED_VCPU_UNKNOWN,
	       "host part of the slot starts from zero");
	CHECK_EQU(r.vm->capacity_milli, 0);
	CHECK_EQU(r.hdr->host_features, PVSCHED_F_ALL_V1_1);
	CHECK_EQU(r.hdr->publish_period_us, 10000);
	CHECK_EQU(r.hdr->stale_after_us, 100000);
	pvs_hregion_close(&r);
}

/* One agent per region: a second agent (even for the same VM) is refused
 * while the first holds it, and the region is left as the first keeps it. */
static void t_one_agent(void)
{
	struct pvs_hregion r, r2;
	struct pvs_hregion_opts o = opts(16384, 2, "single");
	const char *p = tu_path("single");
	char err[512];
	uint64_t inst;

	REQUIRE(pvs_hregion_open(&r, p, &o, err, sizeof(err)) == 0);
	pvs_hregion_heartbeat(&r, 5);
	inst = r.hdr->host_instance;
	NOTE("a second agent for the same VM");
	CHECK_EQ(pvs_hregion_open(&r2, p, &o, err, sizeof(err)), -EBUSY);
	CHECKM(strstr(err, p) != NULL, "message names the file: %s", err);
	CHECK(r2.mem == NULL);
	CHECKM(r.hdr->host_instance == inst && r.hdr->host_state == PVSCHED_HOST_ACTIVE &&
	               r.hdr->heartbeat == 1 && r.hdr->host_time_ns == 5,
	       "the first agent's header is untouched");
	o.force = 1;
	CHECKM(pvs_hregion_open(&r2, p, &o, err, sizeof(err)) == -EBUSY,
	       "force does not take over a region in use");
	NOTE("after the first agent closes, a new one attaches");
	pvs_hregion_close(&r);
	CHECK_EQ(pvs_hregion_open(&r2, p, &o, err, sizeof(err)), 0);
	CHECK(r2.hdr->host_instance != inst);
	pvs_hregion_close(&r2);
	CHECKM(r2.fd == -1 || r2.fd == 0, "close forgets the descriptor");
}

static void t_set_timing(void)
{
	struct pvs_hregion r;
	struct pvs_hregion_opts o = opts(16384, 2, "timing");
	char err[512];

	REQUIRE(pvs_hregion_open(&r, tu_path("timing"), &o, err, sizeof(err)) == 0);
	NOTE("a reload changes the period and staleness bound, up then down");
	pvs_hregion_set_timing(&r, 50000, 500000);
	CHECK_EQU(r.hdr->publish_period_us, 50000);
	CHECK_EQU(r.hdr->stale_after_us, 500000);
	CHECK_EQ(pvsched_region_validate(r.mem, r.size, NULL), 0);
	pvs_hregion_set_timing(&r, 1000, 10000);
	CHECK_EQU(r.hdr->publish_period_us, 1000);
	CHECK_EQU(r.hdr->stale_after_us, 10000);
	CHECK_EQ(pvsched_region_validate(r.mem, r.size, NULL), 0);
	pvs_hregion_close(&r);
	pvs_hregion_set_timing(&r, 1, 1);
	CHECKM(1, "set_timing on a closed region is a no-op");
}

/* The file alone (for the ivshmem server): created sized with the mode,
 * not locked, so the agent attaches to it later; an existing file keeps
 * its size; a bad one is refused with its path. */
static void t_file_only(void)
{
	struct pvs_hregion_opts o = opts(16384, 0, "fileonly");
	struct pvs_hregion r;
	const char *p = tu_path("fileonly");
	char err[512];
	struct stat st;
	size_t size = 0;
	int created = -1, fd;

	fd = pvs_hregion_file(p, &o, &created, &size, err, sizeof(err));
	REQUIRE(fd >= 0);
	CHECK_EQ(created, 1);
	CHECK_EQU(size, 16384);
	REQUIRE(fstat(fd, &st) == 0);
	CHECK_EQ((long)st.st_size, 16384);
	CHECK_EQ((int)(st.st_mode & 07777), 0600);
	NOTE("not locked: the agent attaches while the fd is held elsewhere");
	o.nr_vcpus = 2;
	CHECK_EQ(pvs_hregion_open(&r, p, &o, err, sizeof(err)), 0);
	pvs_hregion_close(&r);
	close(fd);
	o.size = 8192; /* an existing file keeps its own size */
	fd = pvs_hregion_file(p, &o, &created, &size, err, sizeof(err));
	REQUIRE(fd >= 0);
	CHECK_EQ(created, 0);
	CHECK_EQU(size, 16384);
	close(fd);
	REQUIRE(truncate(p, 5000) == 0);
	CHECK_EQ(pvs_hregion_file(p, &o, &created, &size, err, sizeof(err)), -EMSGSIZE);
	CHECK(strstr(err, p) != NULL);
}

/* 1.4: the doorbell is offered with its value and withdrawn. */
static void t_doorbell(void)
{
	struct pvs_hregion r;
	struct pvs_hregion_opts o = opts(16384, 2, "bell");
	char err[512];

	REQUIRE(pvs_hregion_open(&r, tu_path("bell"), &o, err, sizeof(err)) == 0);
	CHECK_EQU(r.hdr->doorbell, 0);
	CHECK(!(r.hdr->host_features & PVSCHED_F_DOORBELL));
	pvs_hregion_set_doorbell(&r, 1, 1u << 16);
	CHECK_EQU(r.hdr->doorbell, 1u << 16);
	CHECK(r.hdr->host_features & PVSCHED_F_DOORBELL);
	CHECK(r.hdr->host_features & PVSCHED_F_VCPU_MAP);
	CHECK_EQ(pvsched_region_validate(r.mem, r.size, NULL), 0);
	pvs_hregion_set_doorbell(&r, 0, 0);
	CHECK_EQU(r.hdr->doorbell, 0);
	CHECK(!(r.hdr->host_features & PVSCHED_F_DOORBELL));
	pvs_hregion_close(&r);
	pvs_hregion_set_doorbell(&r, 1, 5);
	CHECKM(1, "set_doorbell on a closed region is a no-op");
}

static const struct tcase cases[] = {
        {"refuse-wrong-size", t_refuse_wrong_size},
        {"attach-precreated", t_attach_precreated},
        {"create-mode", t_create_mode},
        {"other-vm", t_other_vm},
        {"close", t_close},
        {"not-a-file", t_not_a_file},
        {"bad-opts", t_bad_opts},
        {"too-many-vcpus", t_too_many_vcpus},
        {"guest-parts", t_guest_parts},
        {"one-agent", t_one_agent},
        {"set-timing", t_set_timing},
        {"file-only", t_file_only},
        {"doorbell", t_doorbell},
};

int main(int argc, char **argv)
{
	return run_cases(argc, argv, cases, NCASES(cases));
}
