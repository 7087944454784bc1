/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_qemu_args.c - daemon/qemu_args.c: the VM name, the region
 * path, and the pvsched device's migration settings read from a QEMU
 * command line, in QEMU's option syntax and in libvirt's JSON.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "qemu_args.h"

/* Build a NUL-separated argument block (like /proc/PID/cmdline). */
static size_t args(char *buf, size_t len, const char *const *argv)
{
	size_t o = 0;

	for (; *argv; argv++) {
		size_t n = strlen(*argv) + 1;
		REQUIRE(o + n <= len);
		memcpy(buf + o, *argv, n);
		o += n;
	}
	return o;
}

static void name_case(const char *const *argv, int want_rc, const char *want, const char *what)
{
	char buf[1024], name[64];
	size_t n = args(buf, sizeof(buf), argv);
	int rc;

	memset(name, 0, sizeof(name));
	rc = pvs_qemu_name(buf, n, name, sizeof(name));
	CHECKM(rc == want_rc && (rc || !strcmp(name, want)), "%-40s -> %s%s%s (got %d \"%s\")",
	       what, want_rc ? "-ENOENT" : "\"", want_rc ? "" : want, want_rc ? "" : "\"", rc,
	       rc ? "" : name);
}

#define Q         "qemu-system-x86_64"
#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

static void t_qemu_name(void)
{
	name_case(ARGV(Q, "-name", "guest=vm1,debug-threads=on", "-m", "1G"), 0, "vm1",
	          "-name guest=vm1,debug-threads=on");
	name_case(ARGV(Q, "-name", "vm2"), 0, "vm2", "-name vm2");
	name_case(ARGV(Q, "-name", "vm,,x"), 0, "vm,x", "-name vm,,x (escaped comma)");
	name_case(ARGV(Q, "--name", "vm3"), 0, "vm3", "--name vm3");
	name_case(ARGV(Q, "-name", "debug-threads=on,guest=vm4"), 0, "vm4",
	          "-name debug-threads=on,guest=vm4");
	name_case(ARGV(Q, "-name", "guest=a,,b,process=x"), 0, "a,b", "-name guest=a,,b,process=x");
	name_case(ARGV(Q, "-name", "process=p,,q,guest=vm5"), 0, "vm5",
	          "-name process=p,,q,guest=vm5");
	name_case(ARGV(Q, "-m", "1G", "-smp", "2"), -ENOENT, "", "no -name");
	name_case(ARGV(Q, "-name"), -ENOENT, "", "-name as the last argument");
	name_case(ARGV(Q, "-name", ""), -ENOENT, "", "-name ''");
	name_case(ARGV(Q, "-name", "guest="), -ENOENT, "", "-name guest=");
	name_case(ARGV(Q, "-name", "debug-threads=on"), -ENOENT, "", "-name debug-threads=on");
	name_case(ARGV(Q, "-namex", "vm"), -ENOENT, "", "-namex vm");
	name_case(ARGV(Q, "-device", "x,name=foo", "-name", "vm6"), 0, "vm6",
	          "name= inside another option");

	NOTE("truncated to the buffer");
	char buf[256], name[5];
	size_t n = args(buf, sizeof(buf), ARGV(Q, "-name", "longname"));
	CHECK_EQ(pvs_qemu_name(buf, n, name, sizeof(name)), 0);
	CHECK_STR(name, "long");
	CHECK_EQ(pvs_qemu_name(buf, 0, name, sizeof(name)), -ENOENT);
	CHECK_EQ(pvs_qemu_name(buf, n, name, 0), -ENOENT);
}

/* QEMU's -name takes the guest name as an implied first key:
 * "-name vm,debug-threads=on" is the usual way to get "CPU n/KVM" threads. */
static void t_qemu_name_implied(void)
{
	name_case(ARGV(Q, "-name", "vm7,debug-threads=on"), 0, "vm7", "-name vm7,debug-threads=on");
	name_case(ARGV(Q, "-name", "vm8,process=qemu-vm8"), 0, "vm8", "-name vm8,process=...");
	name_case(ARGV(Q, "-name", "v,,m9,debug-threads=on"), 0, "v,m9",
	          "-name v,,m9,debug-threads=on");
}

static void path_case(const char *const *argv, int want_rc, const char *want, const char *what)
{
	char buf[2048], path[256];
	size_t n = args(buf, sizeof(buf), argv);
	int rc;

	memset(path, 0, sizeof(path));
	rc = pvs_qemu_region_path(buf, n, path, sizeof(path));
	CHECKM(rc == want_rc && (rc || !strcmp(path, want)), "%-40s -> %s (got %d \"%s\")", what,
	       want_rc ? "-ENOENT" : want, rc, rc ? "" : path);
}

static void t_region_path(void)
{
	path_case(ARGV(Q, "-object",
	               "memory-backend-file,id=pvs,share=on,mem-path=/dev/shm/pvsched-vm1,size=1M",
	               "-device", "ivshmem-plain,memdev=pvs"),
	          0, "/dev/shm/pvsched-vm1", "-object memory-backend-file,...,mem-path=");
	path_case(ARGV(Q, "-object",
	               "{\"qom-type\":\"memory-backend-file\",\"id\":\"pvs\",\"mem-path\":"
	               "\"/dev/shm/pvsched-vm2\",\"share\":true,\"size\":1048576}"),
	          0, "/dev/shm/pvsched-vm2", "-object {JSON} (libvirt)");
	path_case(ARGV(Q, "-object", "memory-backend-file,id=ram,mem-path=/dev/hugepages/ram",
	               "-object",
	               "memory-backend-file,id=pvs,mem-path=/dev/shm/pvsched-vm3,share=on"),
	          0, "/dev/shm/pvsched-vm3", "skips another memory backend");
	path_case(ARGV(Q, "-object",
	               "{\"qom-type\":\"memory-backend-file\",\"id\":\"ram\",\"mem-path\":"
	               "\"/dev/hugepages/x\"}",
	               "-object",
	               "{\"qom-type\":\"memory-backend-file\",\"id\":\"pvs\",\"mem-path\":"
	               "\"/run/pvsched\"}"),
	          0, "/run/pvsched", "JSON: skips another backend; basename 'pvsched'");
	path_case(ARGV(Q, "-object", "memory-backend-file,id=pvs,mem-path=/dev/shm/pvsched-vm4"), 0,
	          "/dev/shm/pvsched-vm4", "mem-path= last in the option");
	path_case(ARGV(Q, "-object", "memory-backend-file,id=ram,mem-path=/dev/hugepages/ram"),
	          -ENOENT, "", "no pvsched backend");
	path_case(ARGV(Q, "-object", "memory-backend-file,id=x,mem-path=/dev/shm/pvsched-d/ram"),
	          -ENOENT, "", "pvsched only in a directory name");
	path_case(ARGV(Q, "-m", "1G"), -ENOENT, "", "no -object");
	path_case(ARGV(Q, "-object", "memory-backend-file,mem-pathx/dev/shm/pvsched"), -ENOENT, "",
	          "mem-path without '='");

	NOTE("a path longer than the buffer is not returned truncated");
	char buf[512], small[10];
	size_t n = args(buf, sizeof(buf),
	                ARGV(Q, "-object", "memory-backend-file,mem-path=/dev/shm/pvsched-vm5"));
	CHECK_EQ(pvs_qemu_region_path(buf, n, small, sizeof(small)), -ENOENT);
}

#define MEM_OPTS "memory-backend-file,id=pvs,share=on,mem-path=/dev/shm/pvsched-vm,size=1M"
#define MEM_JSON                                                                                   \
	"{\"qom-type\":\"memory-backend-file\",\"id\":\"shmmem-shmem0\",\"mem-path\":"             \
	"\"/dev/shm/pvsched-vm\",\"share\":true,\"size\":1048576}"

static void dev_case(const char *const *argv, int incoming, int found, int master, const char *what)
{
	char buf[2048];
	size_t n = args(buf, sizeof(buf), argv);
	struct pvs_qemu_dev d;

	memset(&d, 0x5a, sizeof(d));
	pvs_qemu_dev(buf, n, "/dev/shm/pvsched-vm", &d);
	CHECKM(d.incoming == incoming && d.found == found && d.master == master,
	       "%-44s -> incoming %d found %d master %d (got %d %d %d, driver \"%s\")", what,
	       incoming, found, master, d.incoming, d.found, d.master, found ? d.driver : "");
}

static void t_dev_opts(void)
{
	dev_case(ARGV(Q, "-object", MEM_OPTS, "-device", "ivshmem-plain,memdev=pvs,master=on"), 0,
	         1, 1, "master=on");
	dev_case(ARGV(Q, "-object", MEM_OPTS, "-device", "ivshmem-plain,memdev=pvs"), 0, 1, 0,
	         "no master= (QEMU's default: peer mode)");
	dev_case(ARGV(Q, "-object", MEM_OPTS, "-device", "ivshmem-plain,master=off,memdev=pvs"), 0,
	         1, 0, "master=off before memdev=");
	dev_case(ARGV(Q, "-object", MEM_OPTS, "-device", "ivshmem-plain,memdev=pvs,master=auto"), 0,
	         1, -1, "master=auto: undecided");
	dev_case(ARGV(Q, "-object", MEM_OPTS, "-device",
	              "driver=ivshmem-plain,memdev=pvs,master=yes"),
	         0, 1, 1, "driver= spelled out, master=yes");
	dev_case(ARGV(Q, "-object", MEM_OPTS, "-device", "virtio-net,memdev=pvs,master=on"), 0, 0,
	         0, "not an ivshmem device");
	dev_case(ARGV(Q, "-object", MEM_OPTS, "-device", "ivshmem-plain,memdev=other,master=on"), 0,
	         0, 0, "an ivshmem device on another backend");
	dev_case(ARGV(Q, "-object", "memory-backend-file,id=pvs,mem-path=/dev/shm/pvsched-other",
	              "-device", "ivshmem-plain,memdev=pvs,master=on"),
	         0, 0, 0, "a backend on another file");
	dev_case(ARGV(Q, "-object", "memory-backend-file,id=x,,y,mem-path=/dev/shm/pvsched-vm",
	              "-device", "ivshmem-plain,memdev=x,,y,master=on"),
	         0, 1, 1, "',,' escapes a comma in the id");
	dev_case(ARGV(Q, "-device", "ivshmem-plain,memdev=pvs,master=on", "-object", MEM_OPTS,
	              "-incoming", "defer"),
	         1, 1, 1, "-device before -object; -incoming defer");
	dev_case(ARGV(Q, "-incoming", "unix:/tmp/mig.sock", "-object", MEM_OPTS), 1, 0, 0,
	         "-incoming, no device");
	dev_case(ARGV(Q, "-object"), 0, 0, 0, "-object without a value");
	dev_case(ARGV(Q, "-object", MEM_OPTS, "-device"), 0, 0, 0, "-device without a value");
}

/* libvirt 9.0 writes -object and -device as JSON (the <shmem> element). */
static void t_dev_json(void)
{
	dev_case(
	        ARGV(Q, "-object", MEM_JSON, "-device",
	             "{\"driver\":\"ivshmem-plain\",\"id\":\"shmem0\",\"memdev\":\"shmmem-shmem0\","
	             "\"master\":\"on\",\"bus\":\"pci.0\",\"addr\":\"0x4\"}"),
	        0, 1, 1, "JSON, role='master'");
	dev_case(
	        ARGV(Q, "-object", MEM_JSON, "-device",
	             "{\"driver\":\"ivshmem-plain\",\"id\":\"shmem0\",\"memdev\":\"shmmem-shmem0\","
	             "\"bus\":\"pci.0\"}"),
	        0, 1, 0, "JSON, no master (role='peer')");
	dev_case(ARGV(Q, "-object", MEM_JSON, "-device",
	              "{\"driver\":\"ivshmem-plain\",\"memdev\":\"shmmem-shmem0\",\"master\":true}",
	              "-incoming", "defer"),
	         1, 1, 1, "JSON boolean true; libvirt's -incoming defer");
	dev_case(ARGV(Q, "-object", "{\"qom-type\":\"memory-backend-file\",", "-device",
	              "{\"driver\":\"ivshmem-plain\"}"),
	         0, 0, 0, "malformed JSON: nothing found");
	dev_case(ARGV(Q, "-object", "[1,2]"), 0, 0, 0, "JSON that is not an object");
}

static void db_case(const char *const *argv, int found, int master, const char *what)
{
	char buf[2048];
	size_t n = args(buf, sizeof(buf), argv);
	struct pvs_qemu_dev d;

	memset(&d, 0x5a, sizeof(d));
	pvs_qemu_doorbell_dev(buf, n, "/run/pvsched/ivshmem.sock", &d);
	CHECKM(d.found == found && d.master == master,
	       "%-44s -> found %d master %d (got %d %d, chardev \"%s\")", what, found, master,
	       d.found, d.master, found ? d.memdev : "");
}

/* An ivshmem-doorbell device on pvschedd's ivshmem socket. */
static void t_doorbell_dev(void)
{
	const char *chr = "socket,id=pvsdb,path=/run/pvsched/ivshmem.sock";

	db_case(ARGV(Q, "-chardev", chr, "-device",
	             "ivshmem-doorbell,chardev=pvsdb,vectors=1,master=on"),
	        1, 1, "master=on");
	db_case(ARGV(Q, "-chardev", chr, "-device", "ivshmem-doorbell,chardev=pvsdb,vectors=1"), 1,
	        0, "no master (peer mode)");
	db_case(ARGV(Q, "-chardev", chr, "-device", "ivshmem-doorbell,chardev=pvsdb,master=auto"),
	        1, 1, "master=auto: peer id 0 is the master");
	db_case(ARGV(Q, "-chardev", chr, "-device",
	             "{\"driver\":\"ivshmem-doorbell\",\"id\":\"shmem0\",\"chardev\":\"pvsdb\","
	             "\"vectors\":1,\"master\":\"on\"}"),
	        1, 1, "libvirt's JSON -device");
	db_case(ARGV(Q, "-chardev", "socket,id=pvsdb,path=/tmp/other.sock", "-device",
	             "ivshmem-doorbell,chardev=pvsdb,master=on"),
	        0, 0, "another server's socket");
	db_case(ARGV(Q, "-chardev", chr, "-device", "ivshmem-plain,chardev=pvsdb,master=on"), 0, 0,
	        "not a doorbell device");
}

static const struct tcase cases[] = {
        {"qemu-name", t_qemu_name},     {"qemu-name-implied", t_qemu_name_implied},
        {"region-path", t_region_path}, {"dev-opts", t_dev_opts},
        {"dev-json", t_dev_json},       {"doorbell-dev", t_doorbell_dev},
};

int main(int argc, char **argv)
{
	return run_cases(argc, argv, cases, NCASES(cases));
}
