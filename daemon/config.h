/* SPDX-License-Identifier: MIT */
/*
 * daemon/config.h - pvschedd's configuration (INI, parsed with inih).
 * A config is parsed into a fresh struct and swapped in only when the whole
 * file parsed; errors name file:line.  Its keys are one table,
 * pvs_config_keys() (below).
 */
#ifndef PVSCHED_DAEMON_CONFIG_H
#define PVSCHED_DAEMON_CONFIG_H

#include "pvs_cpuset.h"
#include "pvs_defaults.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PVS_NAME_MAX       32 /* fits the region header's vm_name */
#define PVS_PATH_MAX       256
#define PVS_MAX_CONFIG_VMS 256

struct pvs_config_vm {
	char name[PVS_NAME_MAX];
	pid_t pid; /* 0: use pidfile */
	char pidfile[PVS_PATH_MAX];
	char threads[64];          /* glob on thread names, "" = all but main */
	char region[PVS_PATH_MAX]; /* "" = region_dir/pvsched-NAME */
	/* boosting for this VM: -1 / 0 = as [daemon] */
	int boost;             /* -1 as [daemon], 0 off, 1 on */
	uint32_t boost_max_ms; /* 0: as [daemon] */
	uint32_t boost_budget_pct;
	/* co-scheduling and placement for this VM (docs/cosched.md) */
	int cosched;            /* -1 as [daemon], else enum pvs_cs_policy */
	uint32_t shares;        /* 0: as [daemon] */
	struct pvs_cpuset cpus; /* allowed CPUs; empty: the VM's own affinity */
	/* its cgroup (weight -> default shares): "" its process's own,
	 * "none" not used, else a cgroup directory named by the operator */
	char cgroup[PVS_PATH_MAX];
	int line;
};

enum pvs_boost_how { PVS_BOOST_FIFO, PVS_BOOST_RR, PVS_BOOST_NICE };

struct pvs_boost_config {
	int enabled; /* default for every VM */
	enum pvs_boost_how how;
	uint32_t priority;   /* SCHED_FIFO/RR priority of a boosted vCPU */
	int nice;            /* nice of a boosted vCPU (how = nice) */
	uint32_t scan_us;    /* how often guest requests are read */
	uint32_t max_ms;     /* longest continuous boost */
	uint32_t budget_pct; /* % of one pCPU per VM per window */
	uint32_t window_ms;
	uint32_t lead_us;
	uint32_t hold_us;
	uint32_t linger_us;   /* a boost outlives its request this long */
	uint32_t max_changes; /* boosts per window per VM */
};

struct pvs_cosched_config {
	int policy;                 /* enum pvs_cs_policy: default for every VM */
	uint32_t shares;            /* default shares of a VM */
	uint32_t slice_ms;          /* gang time slice */
	uint32_t priority;          /* SCHED_FIFO priority of a gang's vCPUs in its slice */
	uint32_t rt_pct;            /* most of a pCPU's time gang slices may take */
	uint32_t skew_ms;           /* relaxed: co-stop a vCPU this far ahead */
	struct pvs_cpuset reserved; /* housekeeping CPUs no placement uses */
};

struct pvs_config {
	char path[PVS_PATH_MAX];
	uint32_t period_us;
	uint32_t rescan_ms;
	uint32_t window_us;
	uint32_t hysteresis_milli;
	uint32_t stale_after_us; /* 0 = derived from the period */
	char socket[PVS_PATH_MAX];
	gid_t socket_gid; /* (gid_t)-1 = keep */
	char region_dir[PVS_PATH_MAX];
	/* the ivshmem server for ivshmem-doorbell devices (daemon/doorbell.c):
	 * "" = ivshmem.sock beside the control socket, "none" = no server */
	char ivshmem_socket[PVS_PATH_MAX];
	uint32_t doorbell_max_hz; /* rings heard per second per VM; more: polled */
	size_t region_size;
	mode_t region_mode;
	uid_t region_uid;
	gid_t region_gid;
	char qemu_comm[128]; /* comma-separated globs on process names */
	char sampler[16];
	struct pvs_boost_config boost;
	char journal[PVS_PATH_MAX];
	struct pvs_cosched_config cosched;
	char metrics_file[PVS_PATH_MAX]; /* "" = none */
	uint32_t metrics_interval_ms;
	struct pvs_config_vm vms[PVS_MAX_CONFIG_VMS];
	size_t nr_vms;
	/* vms[] by name: index + 1 (0 empty), open addressing on a hash of the
	 * name; pvs_config_vm_find() runs for every VM several times a period,
	 * and a linear scan of the sections made that quadratic (15 % of the
	 * daemon's time with 64 process VMs).  vm_hashed: entries in it. */
	uint16_t vm_hash[2 * PVS_MAX_CONFIG_VMS];
	size_t vm_hashed;
	/* Which load this is: set by pvs_config_load(), unique in the process;
	 * 0 for a configuration built otherwise (never cached, see
	 * pvs_config_vm_ref). */
	uint64_t gen;
};

#define PVS_DEFAULT_CONFIG  "/etc/pvsched/pvschedd.conf"
#define PVS_DEFAULT_JOURNAL "/run/pvsched/journal"

/*
 * The configuration keys, one table (config.c): each key's name, sections,
 * type, range, default and description.  It drives the parser, the
 * defaults, the "expected ..." of every error message and the generated
 * contrib/pvschedd.conf.example; tests/unit/test_config_keys.c checks that
 * pvschedd(8) documents exactly these keys with their ranges and defaults.
 */
enum pvs_key_type {
	PVS_KEY_U32,     /* decimal MIN..MAX, stored (uint32_t) times SCALE */
	PVS_KEY_MILLI,   /* decimal with a fraction; uint32_t thousandths, MIN..MAX too */
	PVS_KEY_INT,     /* signed decimal MIN..MAX (int) */
	PVS_KEY_ONOFF,   /* on/yes/true/1 or off/no/false/0 (int 1 or 0) */
	PVS_KEY_ENUM,    /* NAME(i) for some i (int i) */
	PVS_KEY_SIZE,    /* a power of two MIN..MAX, K/M/G suffix (size_t) */
	PVS_KEY_MODE,    /* octal file mode, at most MAX (mode_t) */
	PVS_KEY_USER,    /* user name or number (uid_t) */
	PVS_KEY_GROUP,   /* group name or number (gid_t) */
	PVS_KEY_PATH,    /* absolute path shorter than MAX bytes (char[SIZE]) */
	PVS_KEY_STR,     /* text shorter than SIZE bytes (char[SIZE]) */
	PVS_KEY_CPUS,    /* CPU list such as 0-3,8, in any order (struct pvs_cpuset) */
	PVS_KEY_SAMPLER, /* auto or a built-in sampler's name (char[SIZE]) */
};

#define PVS_KEY_DAEMON 0x1u /* scope: a [daemon] key (field at DAEMON_OFF) */
#define PVS_KEY_VM     0x2u /* scope: a [vm NAME] key (field at VM_OFF) */

#define PVS_PATH_NONE_OK 0x1u /* path_opts: or "none" */
#define PVS_PATH_SUN     0x2u /* path_opts: a socket's, shown with its length bound */

struct pvs_config_key {
	const char *name;
	unsigned scope; /* PVS_KEY_DAEMON, PVS_KEY_VM or both */
	enum pvs_key_type type;
	unsigned path_opts;          /* PVS_PATH_* */
	long long min, max;          /* range (PATH: MAX = length bound, 0 = SIZE) */
	uint32_t scale;              /* U32: stored value = value * SCALE (0 = 1) */
	const char *(*names)(int i); /* ENUM: the value I's name, NULL past the last */
	size_t daemon_off, vm_off;   /* the field in struct pvs_config / pvs_config_vm */
	size_t size;                 /* the field's size */
	const char *def;             /* [daemon]: the default, applied by pvs_config_defaults() */
	const char *def_doc;         /* the default in words when DEF is NULL (NULL: none) */
	const char *example;         /* a value shown in examples ([vm NAME], or DEF is NULL) */
	const char *note;            /* a unit after the range: "0..0.5 (vCPUs)" */
	const char *expect;          /* an error's "expected ..." (STR: its "too long"),
	                              * when not the values the type accepts */
	const char *doc;             /* what it does (plain text, sentences) */
};

/* The table, *N keys, in the order the example file lists them. */
const struct pvs_config_key *pvs_config_keys(size_t *n);
/* The values K accepts, as errors and the example say them into BUF:
 * "10..600000", "0.5..1000", "a power of two, 8K..1G", "fifo, rr or nice",
 * "an absolute path under 108 bytes or 'none'", ... */
const char *pvs_config_key_values(const struct pvs_config_key *k, char *buf, size_t len);

/* The ivshmem server's socket path into BUF ("" when turned off). */
const char *pvs_config_ivshmem_socket(const struct pvs_config *c, char *buf, size_t len);

/* The [vm NAME] section for NAME, or NULL. */
const struct pvs_config_vm *pvs_config_vm_find(const struct pvs_config *c, const char *name);

/* A VM's section, looked up once per configuration instead of several times
 * a period (boost limits, co-scheduling policy and shares, cgroup): valid
 * for the configuration at CFG of load GEN only, so a reload (a new load,
 * even at a freed configuration's address) is looked up afresh. */
struct pvs_config_vm_ref {
	const struct pvs_config *cfg;   /* the configuration it was found in */
	uint64_t gen;                   /* CFG's gen; 0: nothing cached */
	const struct pvs_config_vm *vm; /* the section, or NULL: none */
};
/* Look NAME up in C unless REF already holds C's answer. */
void pvs_config_vm_ref_update(struct pvs_config_vm_ref *ref, const struct pvs_config *c,
                              const char *name);
/* The section for NAME in C: REF's if it holds C's answer, else looked up. */
const struct pvs_config_vm *pvs_config_vm_ref_get(const struct pvs_config_vm_ref *ref,
                                                  const struct pvs_config *c, const char *name);

/* Every key's default (the table's DEF; none for [vm NAME] sections). */
void pvs_config_defaults(struct pvs_config *c);
/* Parse PATH into C (defaults first).  A missing file is an error only when
 * MUST_EXIST.  0, or -errno (the file's, or -EINVAL for its content) with
 * "file:line: what" in ERR. */
int pvs_config_load(struct pvs_config *c, const char *path, int must_exist, char *err,
                    size_t errlen);
uint32_t pvs_config_stale_after_us(const struct pvs_config *c);
/* Parse a size with an optional K/M/G suffix: 0, -EINVAL, or -ERANGE when
 * it does not fit a size_t. */
int pvs_parse_size(const char *s, size_t *out);

#endif
