/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_cgroup.c - daemon/cgroup.c's parsers (/proc/PID/cgroup,
 * mountinfo, libvirt's cgroup layout, weight files) and the weight ->
 * shares scale of policy/cosched.c.
 */
#include <errno.h>

#include "cgroup.h"
#include "check.h"
#include "cosched.h"

static void t_proc(void)
{
	char path[256];
	int v1 = -1;

	/* cgroup v1 with cpu and cpuacct co-mounted, as libvirt hosts have */
	CHECK(pvs_cgroup_parse_proc("12:pids:/x\n4:cpu,cpuacct:/machine.slice/"
	                            "machine-qemu\\x2d1\\x2dweb1.scope/emulator\n"
	                            "1:name=systemd:/y\n0::/z\n",
	                            path, sizeof(path), &v1) == 0);
	CHECK(v1 == 1);
	CHECK(!strcmp(path, "/machine.slice/machine-qemu\\x2d1\\x2dweb1.scope/emulator"));
	/* cpu alone; cpuacct alone is not it */
	CHECK(pvs_cgroup_parse_proc("2:cpuacct:/a\n1:cpu:/b\n0::/\n", path, sizeof(path), &v1) ==
	      0);
	CHECK(v1 == 1 && !strcmp(path, "/b"));
	/* pure v2 */
	CHECK(pvs_cgroup_parse_proc("0::/machine.slice/vm.scope/libvirt/emulator\n", path,
	                            sizeof(path), &v1) == 0);
	CHECK(v1 == 0 && !strcmp(path, "/machine.slice/vm.scope/libvirt/emulator"));
	/* no newline at the end */
	CHECK(pvs_cgroup_parse_proc("0::/a", path, sizeof(path), &v1) == 0 && !strcmp(path, "/a"));
	CHECK(pvs_cgroup_parse_proc("", path, sizeof(path), &v1) == -ENOENT);
	CHECK(pvs_cgroup_parse_proc("3:memory:/m\n", path, sizeof(path), &v1) == -ENOENT);
	CHECK(pvs_cgroup_parse_proc("garbage\n::\n1:cpu\n", path, sizeof(path), &v1) == -ENOENT);
	CHECK(pvs_cgroup_parse_proc("0::/a/very/long/path", path, 8, &v1) == -ENAMETOOLONG);
}

static void t_mountinfo(void)
{
	static const char mi[] =
	        "22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n"
	        "30 22 0:26 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n"
	        "31 22 0:27 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup "
	        "rw,cpu,cpuacct\n"
	        "40 22 0:30 /ns /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
	char mnt[128], root[128];

	CHECK(pvs_cgroup_parse_mountinfo(mi, 1, mnt, sizeof(mnt), root, sizeof(root)) == 0);
	CHECK(!strcmp(mnt, "/sys/fs/cgroup/cpu,cpuacct") && !strcmp(root, "/"));
	CHECK(pvs_cgroup_parse_mountinfo(mi, 0, mnt, sizeof(mnt), root, sizeof(root)) == 0);
	CHECK(!strcmp(mnt, "/sys/fs/cgroup/unified") && !strcmp(root, "/ns"));
	CHECK(pvs_cgroup_parse_mountinfo("22 1 0:21 / /sys rw - sysfs sysfs rw\n", 0, mnt,
	                                 sizeof(mnt), root, sizeof(root)) == -ENOENT);
	CHECK(pvs_cgroup_parse_mountinfo("1 2 3 4\n - \n", 1, mnt, sizeof(mnt), root,
	                                 sizeof(root)) == -ENOENT);
}

static void vm_path(const char *in, const char *want)
{
	char out[256];

	CHECKM(pvs_cgroup_vm_path(in, out, sizeof(out)) == 0 && !strcmp(out, want), "%s -> %s (%s)",
	       in, want, out);
}

static void t_vm_path(void)
{
	vm_path("/machine.slice/machine-qemu-1-web1.scope/emulator",
	        "/machine.slice/machine-qemu-1-web1.scope");
	vm_path("/machine.slice/m.scope/vcpu12", "/machine.slice/m.scope");
	vm_path("/machine.slice/m.scope/libvirt/emulator", "/machine.slice/m.scope");
	vm_path("/machine.slice/m.scope/libvirt", "/machine.slice/m.scope");
	vm_path("/machine.slice/m.scope", "/machine.slice/m.scope");
	vm_path("/pvs/A/", "/pvs/A");
	vm_path("/vcpux", "/vcpux");
	vm_path("/vcpu", "/vcpu");
	vm_path("/emulator", "/");
	vm_path("/", "/");
}

static void t_value(void)
{
	uint64_t v = 7;

	CHECK(pvs_cgroup_parse_value("1024\n", &v) == 0 && v == 1024);
	CHECK(pvs_cgroup_parse_value("100", &v) == 0 && v == 100);
	v = 7;
	CHECK(pvs_cgroup_parse_value("", &v) == -EINVAL && v == 7);
	CHECK(pvs_cgroup_parse_value("abc\n", &v) == -EINVAL);
	CHECK(pvs_cgroup_parse_value("-5\n", &v) == -EINVAL);
	CHECK(pvs_cgroup_parse_value("12 34\n", &v) == -EINVAL);
	CHECK(pvs_cgroup_parse_value("99999999999999999999999\n", &v) == -EINVAL);
	CHECK(pvs_cgroup_parse_value("max\n", &v) == -EINVAL);
}

static void t_scale(void)
{
	/* the defaults meet: v1 1024 = v2 100 = 1000 */
	CHECK(pvs_cs_shares_from_cgroup(1, 1024) == 1000);
	CHECK(pvs_cs_shares_from_cgroup(0, 100) == 1000);
	CHECK(pvs_cs_shares_from_cgroup(1, 2048) == 2000);
	CHECK(pvs_cs_shares_from_cgroup(0, 200) == 2000);
	CHECK(pvs_cs_shares_from_cgroup(1, 2) == 2);
	CHECK(pvs_cs_shares_from_cgroup(1, 262144) == 256000);
	CHECK(pvs_cs_shares_from_cgroup(0, 10000) == 100000);
	CHECK(pvs_cs_shares_from_cgroup(0, 1) == 10);
	/* out of the kernel's ranges */
	CHECK(pvs_cs_shares_from_cgroup(1, 1) == 0);
	CHECK(pvs_cs_shares_from_cgroup(1, 262145) == 0);
	CHECK(pvs_cs_shares_from_cgroup(0, 0) == 0);
	CHECK(pvs_cs_shares_from_cgroup(0, 10001) == 0);
}

static const struct tcase cases[] = {
        {"proc", t_proc},   {"mountinfo", t_mountinfo}, {"vm-path", t_vm_path},
        {"value", t_value}, {"scale", t_scale},
};

int main(int argc, char **argv)
{
	return run_cases(argc, argv, cases, NCASES(cases));
}
