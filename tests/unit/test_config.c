/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_config.c - pvschedd's INI configuration
 * (daemon/config.c): a complete good file, and for every kind of bad
 * input an error of the form "FILE:LINE: what" with the right line; a VM's
 * section looked up once per configuration, and again after a reload.
 */
#include <errno.h>
#include <limits.h>

#include <pvsched/abi.h>

#include "check.h"
#include "config.h"
#include "testutil.h"
#include "vm.h"

static struct pvs_config cfg;

static int load(const char *name, const char *text, char *err, size_t errlen)
{
	const char *p = tu_path("%s", name);

	REQUIRE(tu_write_str(p, text) == 0);
	err[0] = 0;
	return pvs_config_load(&cfg, p, 1, err, errlen);
}

static void t_good(void)
{
	static const char text[] = "; pvschedd test configuration\n"                   /* 1 */
	                           "# comment\n"                                       /* 2 */
	                           "\n"                                                /* 3 */
	                           "[daemon]\n"                                        /* 4 */
	                           "period_ms = 0.5\n"                                 /* 5 */
	                           "rescan_ms = 500\n"                                 /* 6 */
	                           "window_ms = 100\n"                                 /* 7 */
	                           "hysteresis = 0.2\n"                                /* 8 */
	                           "stale_after_ms = 50\n"                             /* 9 */
	                           "socket = /run/pvsched/test.sock\n"                 /* 10 */
	                           "socket_group = 0\n"                                /* 11 */
	                           "region_dir = /dev/shm\n"                           /* 12 */
	                           "region_size = 64K\n"                               /* 13 */
	                           "region_mode = 0640\n"                              /* 14 */
	                           "region_owner = root\n"                             /* 15 */
	                           "region_group = 0\n"                                /* 16 */
	                           "qemu_comm = qemu*,kvm,crosvm\n"                    /* 17 */
	                           "sampler = procfs\n"                                /* 18 */
	                           "\n"                                                /* 19 */
	                           "[vm web1]\n"                                       /* 20 */
	                           "pid = 1234\n"                                      /* 21 */
	                           "threads = CPU */KVM\n"                             /* 22 */
	                           "region = /dev/shm/pvsched-web1 ; inline comment\n" /* 23 */
	                           "\n"                                                /* 24 */
	                           "[vm db.2]\n"                                       /* 25 */
	                           "pidfile = /run/db2.pid\n";                         /* 26 */
	char err[512];

	CHECK_EQ(load("good.conf", text, err, sizeof(err)), 0);
	if (err[0])
		printf("  error: %s\n", err);
	CHECK_STR(cfg.path, tu_path("good.conf"));
	CHECK_EQU(cfg.period_us, 500);
	CHECK_EQU(cfg.rescan_ms, 500);
	CHECK_EQU(cfg.window_us, 100000);
	CHECK_EQU(cfg.hysteresis_milli, 200);
	CHECK_EQU(cfg.stale_after_us, 50000);
	CHECK_STR(cfg.socket, "/run/pvsched/test.sock");
	CHECK_EQU(cfg.socket_gid, 0);
	CHECK_STR(cfg.region_dir, "/dev/shm");
	CHECK_EQU(cfg.region_size, 65536);
	CHECK_EQU(cfg.region_mode, 0640);
	CHECK_EQU(cfg.region_uid, 0);
	CHECK_EQU(cfg.region_gid, 0);
	CHECK_STR(cfg.qemu_comm, "qemu*,kvm,crosvm");
	CHECK_STR(cfg.sampler, "procfs");
	CHECK_EQU(cfg.nr_vms, 2);
	CHECK_STR(cfg.vms[0].name, "web1");
	CHECK_EQ(cfg.vms[0].pid, 1234);
	CHECK_STR(cfg.vms[0].threads, "CPU */KVM");
	CHECK_STR(cfg.vms[0].region, "/dev/shm/pvsched-web1");
	CHECK_STR(cfg.vms[1].name, "db.2");
	CHECK_EQ(cfg.vms[1].pid, 0);
	CHECK_STR(cfg.vms[1].pidfile, "/run/db2.pid");
	CHECK_STR(cfg.vms[1].region, "");
	CHECK_EQU(pvs_config_stale_after_us(&cfg), 50000);
}

static void t_defaults(void)
{
	char err[512] = "";

	NOTE("a missing file is fine unless it must exist");
	CHECK_EQ(pvs_config_load(&cfg, tu_path("absent.conf"), 0, err, sizeof(err)), 0);
	CHECK_EQU(cfg.period_us, 10000);
	CHECK_EQU(cfg.window_us, 100000);
	CHECK_EQU(cfg.region_size, PVSCHED_REGION_DEFAULT_SIZE);
	CHECK_EQU(cfg.region_mode, 0660);
	CHECK_EQU(cfg.nr_vms, 0);
	CHECK_EQU(cfg.doorbell_max_hz, 2000);
	{
		char p[PVS_PATH_MAX];

		NOTE("the ivshmem server's socket: beside the control socket, or none");
		CHECK_STR(pvs_config_ivshmem_socket(&cfg, p, sizeof(p)),
		          "/run/pvsched/ivshmem.sock");
		snprintf(cfg.ivshmem_socket, sizeof(cfg.ivshmem_socket), "none");
		CHECK_STR(pvs_config_ivshmem_socket(&cfg, p, sizeof(p)), "");
		snprintf(cfg.ivshmem_socket, sizeof(cfg.ivshmem_socket), "/tmp/x.sock");
		CHECK_STR(pvs_config_ivshmem_socket(&cfg, p, sizeof(p)), "/tmp/x.sock");
	}
	CHECK_EQ(pvs_config_load(&cfg, tu_path("absent.conf"), 1, err, sizeof(err)), -ENOENT);
	CHECKM(strstr(err, "absent.conf") != NULL, "error names the file: %s", err);
	CHECK_EQ(load("empty.conf", "", err, sizeof(err)), 0);
	CHECK_EQU(cfg.nr_vms, 0);

	NOTE("stale_after derivation");
	pvs_config_defaults(&cfg);
	CHECKM(pvs_config_stale_after_us(&cfg) == 250000, "10 ms period: 250 ms floor (%u)",
	       pvs_config_stale_after_us(&cfg));
	cfg.period_us = 50000;
	CHECK_EQU(pvs_config_stale_after_us(&cfg), 500000);
	cfg.stale_after_us = 5000;
	CHECKM(pvs_config_stale_after_us(&cfg) == 50000, "never under the period (%u)",
	       pvs_config_stale_after_us(&cfg));
}

/* BODY must fail with -EINVAL and "FILE:LINE: " (or "FILE:ALT: " when ALT > 0). */
static void bad_case2(const char *body, int line, int alt, const char *what)
{
	char err[512], want[600], want2[600];
	static int n;
	const char *name;

	name = tu_path("bad%d.conf", ++n);
	snprintf(want, sizeof(want), "%s:%d: ", name, line);
	snprintf(want2, sizeof(want2), "%s:%d: ", name, alt);
	REQUIRE(tu_write_str(name, body) == 0);
	err[0] = 0;
	int rc = pvs_config_load(&cfg, name, 1, err, sizeof(err));
	CHECKM(rc == -EINVAL && (!strncmp(err, want, strlen(want)) ||
	                         (alt > 0 && !strncmp(err, want2, strlen(want2)))),
	       "%-34s -> line %d: %s", what, line,
	       err[0] ? err + strlen(tu_tmpdir()) + 1 : "(no error)");
}

/* Each case: a few good lines, then the bad one at line LINE. */
static void bad_case(const char *body, int line, const char *what)
{
	bad_case2(body, line, 0, what);
}

#define D "[daemon]\nperiod_ms = 10\n" /* lines 1-2 */

static void t_bad_values(void)
{
	bad_case(D "period_ms = 0.1\n", 3, "period_ms below 0.5");
	bad_case(D "period_ms = abc\n", 3, "period_ms not a number");
	bad_case(D "period_ms = 1001\n", 3, "period_ms above 1000");
	bad_case(D "period_ms = -5\n", 3, "period_ms negative");
	bad_case(D "\n; c\nrescan_ms = 5\n", 5, "rescan_ms below 10");
	bad_case(D "rescan_ms = 10x\n", 3, "rescan_ms trailing junk");
	bad_case(D "window_ms = 0\n", 3, "window_ms 0");
	bad_case(D "hysteresis = 0.6\n", 3, "hysteresis above 0.5");
	bad_case(D "stale_after_ms = 0\n", 3, "stale_after_ms 0");
	bad_case(D "stale_after_ms = 60001\n", 3, "stale_after_ms above 60 s");
	bad_case(D "socket = relative.sock\n", 3, "socket relative");
	bad_case(D "ivshmem_socket = ivshmem.sock\n", 3, "ivshmem_socket relative");
	bad_case(D "doorbell_max_hz = 5\n", 3, "doorbell_max_hz below 10");
	bad_case(D "doorbell_max_hz = 1000001\n", 3, "doorbell_max_hz above 1000000");
	bad_case(D "socket_group = no_such_group_pvs\n", 3, "socket_group unknown");
	bad_case(D "region_dir = shm\n", 3, "region_dir relative");
	bad_case(D "region_size = 12K\n", 3, "region_size not a power of two");
	bad_case(D "region_size = 4K\n", 3, "region_size below 8K");
	bad_case(D "region_size = 2G\n", 3, "region_size above 1G");
	bad_case(D "region_size = 1Q\n", 3, "region_size bad suffix");
	bad_case(D "region_mode = 999\n", 3, "region_mode not octal");
	bad_case(D "region_mode = 01777\n", 3, "region_mode beyond 0777");
	bad_case(D "region_owner = no_such_user_pvs\n", 3, "region_owner unknown");
	bad_case(D "region_group = no_such_group_pvs\n", 3, "region_group unknown");
	bad_case(D "sampler = dtrace\n", 3, "sampler not built in");
	bad_case(D "\n[vm a]\npid = abc\n", 5, "vm pid not a number");
	bad_case(D "[vm a]\npid = 0\n", 4, "vm pid 0");
	bad_case(D "[vm a]\npid = 4194305\n", 4, "vm pid too large");
	bad_case(D "[vm a]\npidfile = run/a.pid\n", 4, "vm pidfile relative");
	bad_case(D "[vm a]\npid = 1\nregion = pvsched-a\n", 5, "vm region relative");
	bad_case2(D "[vm a]\nthreads = CPU *\n", 3, 4, "vm without pid or pidfile");
	bad_case(D "boost = maybe\n", 3, "boost not on/off");
	bad_case(D "boost_policy = deadline\n", 3, "boost_policy unknown");
	bad_case(D "boost_priority = 98\n", 3, "boost_priority above 97");
	bad_case(D "boost_priority = 0\n", 3, "boost_priority 0");
	bad_case(D "boost_nice = -21\n", 3, "boost_nice below -20");
	bad_case(D "boost_scan_us = 99\n", 3, "boost_scan_us below 100");
	bad_case(D "boost_max_ms = 0\n", 3, "boost_max_ms 0");
	bad_case(D "boost_budget_pct = 101\n", 3, "boost_budget_pct above 100");
	bad_case(D "boost_window_ms = 9\n", 3, "boost_window_ms below 10");
	bad_case(D "boost_max_changes = 0\n", 3, "boost_max_changes 0");
	bad_case(D "journal = run/j\n", 3, "journal relative");
	bad_case(D "[vm a]\nboost = sometimes\n", 4, "vm boost not on/off");
	bad_case(D "[vm a]\nboost_budget_pct = 0\n", 4, "vm boost_budget_pct 0");
	bad_case(D "garbage line\n", 3, "syntax error");
	bad_case(D "[daemon\n", 3, "unterminated section");
}

/* Section-level errors: the section header's line, or the line of the
 * section's first key (what inih's key callbacks can see). */
/* Boost keys: defaults, values, and a [vm] section with boost keys only
 * (settings for a VM found otherwise, e.g. QEMU). */
static void t_boost(void)
{
	char err[256];

	CHECK_EQ(load("b0.conf", "[daemon]\n", err, sizeof(err)), 0);
	CHECK_EQ(cfg.boost.enabled, 0);
	CHECK_EQ(cfg.boost.how, PVS_BOOST_FIFO);
	CHECK_EQU(cfg.boost.priority, 10);
	CHECK_EQU(cfg.boost.max_ms, 20);
	CHECK_EQU(cfg.boost.budget_pct, 50);
	CHECK_EQU(cfg.boost.scan_us, 500);
	CHECK_STR(cfg.journal, "/run/pvsched/journal");
	CHECK_EQ(load("b1.conf",
	              "[daemon]\nboost = on\nboost_policy = nice\nboost_nice = -5\n"
	              "boost_priority = 20\nboost_scan_us = 250\nboost_max_ms = 5\n"
	              "boost_budget_pct = 50\nboost_window_ms = 500\nboost_lead_us = 0\n"
	              "boost_hold_us = 50\nboost_max_changes = 10\njournal = /tmp/j\n"
	              "[vm qemu1]\nboost = off\n[vm proc1]\npid = 1\nboost_max_ms = 7\n",
	              err, sizeof(err)),
	         0);
	CHECK_EQ(cfg.boost.enabled, 1);
	CHECK_EQ(cfg.boost.how, PVS_BOOST_NICE);
	CHECK_EQ(cfg.boost.nice, -5);
	CHECK_EQU(cfg.boost.priority, 20);
	CHECK_EQU(cfg.boost.scan_us, 250);
	CHECK_EQU(cfg.boost.max_ms, 5);
	CHECK_EQU(cfg.boost.budget_pct, 50);
	CHECK_EQU(cfg.boost.window_ms, 500);
	CHECK_EQU(cfg.boost.lead_us, 0);
	CHECK_EQU(cfg.boost.hold_us, 50);
	CHECK_EQU(cfg.boost.max_changes, 10);
	CHECK_STR(cfg.journal, "/tmp/j");
	REQUIRE(pvs_config_vm_find(&cfg, "qemu1") != NULL);
	CHECK_EQ(pvs_config_vm_find(&cfg, "qemu1")->boost, 0);
	CHECK_EQ(pvs_config_vm_find(&cfg, "proc1")->boost, -1);
	CHECK_EQU(pvs_config_vm_find(&cfg, "proc1")->boost_max_ms, 7);
	CHECK(pvs_config_vm_find(&cfg, "nosuch") == NULL);
}

static void t_unknown(void)
{
	bad_case(D "\nperiod = 10\n", 4, "unknown key in [daemon]");
	bad_case(D "[vm a]\npid = 1\nmemory = 4G\n", 5, "unknown key in [vm a]");
	bad_case2("[global]\nx = 1\n", 1, 2, "unknown section");
	bad_case2(D "[vm]\npid = 1\n", 3, 4, "[vm] without a name");
	bad_case2(D "[vm bad/name]\npid = 1\n", 3, 4, "vm name with a slash");
	bad_case2(D "[vm abcdefghijklmnopqrstuvwxyz0123456]\npid = 1\n", 3, 4, "vm name 32 chars");
}

static void t_duplicate(void)
{
	bad_case2("[vm a]\npid = 1\n[vm b]\npid = 2\n[vm a]\npid = 3\n", 5, 6, "vm declared twice");
}

/*
 * Sections are what the file declares, not what its keys happen to show:
 * two [vm a] sections back to back are a duplicate (not one section
 * continued), a [vm] or unknown section with no keys is still checked, and
 * section errors point at the section header.
 */
static void t_sections(void)
{
	bad_case("[vm a]\npid = 1\n\n[vm a]\npid = 3\n", 4, "vm declared twice, adjacent");
	bad_case("[vm a]\npid = 1\n[vm b]\n[vm c]\npid = 3\n", 3, "vm with no keys (no pid)");
	bad_case("[vm a]\npid = 1\n[vm a]\n", 3, "duplicate with no keys");
	bad_case("[daemon]\n[globl]\n[vm a]\npid = 1\n", 2, "unknown section, no keys");
	bad_case("[vm a]\npid = 1\n[vm bad/name]\n", 3, "bad vm name, no keys");
	bad_case("[vm a]\npid = 1\n[vm b]\npid = 2\n[vm a]\npid = 3\n", 5,
	         "duplicate: the header's line");
	bad_case(D "[vm a]\nthreads = CPU *\n", 3, "no pid: the header's line");
	bad_case("[global]\nx = 1\n", 1, "unknown section: the header's line");
}

/* inih's line buffer is 200 bytes here; a longer line (a region path can
 * be up to 255 bytes) must be an error on its own line, never be silently
 * truncated or split into two lines. */
static void t_long_line(void)
{
	char body[1024], path[241];

	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = 0;
	snprintf(body, sizeof(body), "[vm a]\npid = 1\nregion = %s\n", path);
	bad_case(body, 3, "240-byte region path");
	/* the split-off rest would parse as a key line of its own */
	snprintf(body, sizeof(body), "[vm a]\npid = 1\nthreads = %.*s= x\n", 195, path);
	bad_case(body, 3, "long line with '=' in the rest");
}

static void t_parse_size(void)
{
	static const struct {
		const char *s;
		int rc;
		size_t v;
	} c[] = {
	        {"8192", 0, 8192},    {"64K", 0, 65536},
	        {"64k", 0, 65536},    {"1M", 0, 1 << 20},
	        {"1MiB", 0, 1 << 20}, {"1MB", 0, 1 << 20},
	        {"1G", 0, 1u << 30},  {"0x2000", 0, 8192},
	        {"512B", 0, 512},     {"-1", -EINVAL, 0},
	        {"1X", -EINVAL, 0},   {"", -EINVAL, 0},
	        {"M", -EINVAL, 0},    {"1M ", -EINVAL, 0},
	        {"1Mi", -EINVAL, 0},  {"99999999999999999999", -ERANGE, 0},
	};

	for (size_t i = 0; i < NCASES(c); i++) {
		size_t v = 12345;
		int rc = pvs_parse_size(c[i].s, &v);
		CHECKM(rc == c[i].rc && (rc || v == c[i].v), "pvs_parse_size(\"%s\") -> %d, %zu",
		       c[i].s, rc, rc ? (size_t)0 : v);
	}
}

/* A value whose suffix shift overflows must be an error, not wrap around
 * ((2^34 + 1) << 30 wraps to exactly 1 GiB). */
static void t_parse_size_overflow(void)
{
	size_t v = 0;

	CHECKM(pvs_parse_size("17179869185G", &v) == -ERANGE, "\"17179869185G\" rejected (got %zu)",
	       v);
	CHECKM(pvs_parse_size("18014398509481985K", &v) == -ERANGE,
	       "\"18014398509481985K\" rejected (got %zu)", v);
	bad_case(D "region_size = 17179869185G\n", 3, "region_size wrapping to 1G");
}

/* pvs_config_vm_find() answers through the name index for every section,
 * at the limit too, and for names that are not there. */
static void t_vm_find(void)
{
	static char text[PVS_MAX_CONFIG_VMS * 40 + 64];
	char err[512], name[32];
	size_t n = 0;

	n += (size_t)snprintf(text + n, sizeof(text) - n, "[daemon]\n");
	for (int i = 0; i < PVS_MAX_CONFIG_VMS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "[vm v%d]\npid = %d\n", i,
		                      1000 + i);
	CHECK_EQ(load("many.conf", text, err, sizeof(err)), 0);
	CHECK_EQU(cfg.nr_vms, PVS_MAX_CONFIG_VMS);
	for (int i = 0; i < PVS_MAX_CONFIG_VMS; i++) {
		const struct pvs_config_vm *v;

		snprintf(name, sizeof(name), "v%d", i);
		v = pvs_config_vm_find(&cfg, name);
		CHECK(v && v->pid == 1000 + i);
	}
	CHECK(!pvs_config_vm_find(&cfg, "v256"));
	CHECK(!pvs_config_vm_find(&cfg, ""));
	CHECK(!pvs_config_vm_find(&cfg, "v1 "));
}

/* pvs_vm_conf: the section of the configuration in force, after a reload
 * too, even one loaded into the same memory. */
static void t_conf_cache(void)
{
	static struct pvs_config c;
	struct pvs_thread_id proc = {.pid = 1, .tid = 1, .start = 1};
	struct pvs_vm *vm = pvs_vm_new("web", PVS_VM_PROCESS, &proc);
	const char *p = tu_path("pvschedd.conf");
	char err[256];

	REQUIRE(vm);
	REQUIRE(tu_write_str(p, "[vm web]\nboost = 1\n") == 0);
	REQUIRE(pvs_config_load(&c, p, 1, err, sizeof(err)) == 0);
	pvs_config_vm_ref_update(&vm->conf, &c, vm->name);
	CHECK(pvs_vm_conf(&c, vm) == pvs_config_vm_find(&c, "web"));
	CHECK(pvs_vm_conf(&c, vm) && pvs_vm_conf(&c, vm)->boost == 1);
	/* the same memory, another load: no such section any more */
	REQUIRE(tu_write_str(p, "[vm db]\nboost = 0\n") == 0);
	REQUIRE(pvs_config_load(&c, p, 1, err, sizeof(err)) == 0);
	CHECK(!pvs_vm_conf(&c, vm));
	pvs_config_vm_ref_update(&vm->conf, &c, vm->name);
	CHECK(!pvs_vm_conf(&c, vm));
	REQUIRE(tu_write_str(p, "[vm db]\nboost = 0\n[vm web]\nboost = 0\n") == 0);
	REQUIRE(pvs_config_load(&c, p, 1, err, sizeof(err)) == 0);
	CHECK(pvs_vm_conf(&c, vm) && pvs_vm_conf(&c, vm)->boost == 0);
	/* a configuration not loaded (tests build them) is never cached */
	pvs_config_defaults(&c);
	pvs_config_vm_ref_update(&vm->conf, &c, vm->name);
	CHECK(!pvs_vm_conf(&c, vm));
	snprintf(c.vms[0].name, sizeof(c.vms[0].name), "web");
	c.vms[0].boost = 1;
	c.nr_vms = 1;
	CHECK(pvs_vm_conf(&c, vm) == &c.vms[0]);
	pvs_vm_free(vm);
}

static const struct tcase cases[] = {
        {"vm-find", t_vm_find},
        {"conf-cache", t_conf_cache},
        {"good", t_good},
        {"defaults", t_defaults},
        {"bad-values", t_bad_values},
        {"boost", t_boost},
        {"unknown", t_unknown},
        {"duplicate", t_duplicate},
        {"sections", t_sections},
        {"long-line", t_long_line},
        {"parse-size", t_parse_size},
        {"parse-size-overflow", t_parse_size_overflow},
};

int main(int argc, char **argv)
{
	return run_cases(argc, argv, cases, NCASES(cases));
}
