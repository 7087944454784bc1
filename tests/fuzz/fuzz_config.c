/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_config.c - libFuzzer target for pvschedd's INI
 * configuration (daemon/config.c).  The input is written to a memfd and
 * loaded through its /proc/self/fd path.  An accepted config must hold
 * every key within its range (the key table, daemon/config.c); a rejected
 * one must return -EINVAL and say "FILE:..." .
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static struct pvs_config cfg;

static void must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_config: invariant broken: %s\n", what);
		abort();
	}
}

/* Field F of key K within K's range; UNSET_OK: or the value of a key not
 * given that has no default (0, "", -1 for a [vm] section's on/off and
 * enum keys). */
static void check_field(const struct pvs_config_key *k, const void *f, int unset_ok)
{
	long long x, scale = k->scale ? k->scale : 1;
	const char *s = f;

	switch (k->type) {
	case PVS_KEY_U32:
	case PVS_KEY_MILLI:
		x = *(const uint32_t *)f;
		if (k->type == PVS_KEY_MILLI)
			scale = 1;
		must((unset_ok && x == 0) || (x >= k->min * scale && x <= k->max * scale), k->name);
		break;
	case PVS_KEY_INT:
		x = *(const int *)f;
		must(x >= k->min && x <= k->max, k->name);
		break;
	case PVS_KEY_ONOFF:
		x = *(const int *)f;
		must((unset_ok && x == -1) || x == 0 || x == 1, k->name);
		break;
	case PVS_KEY_ENUM:
		x = *(const int *)f;
		must((unset_ok && x == -1) || (x >= 0 && k->names((int)x)), k->name);
		break;
	case PVS_KEY_SIZE:
		x = (long long)*(const size_t *)f;
		must(x >= k->min && x <= k->max && !(x & (x - 1)), k->name);
		break;
	case PVS_KEY_MODE: must(*(const mode_t *)f <= (mode_t)k->max, k->name); break;
	case PVS_KEY_PATH:
		must((unset_ok && !s[0]) || s[0] == '/' ||
		             ((k->path_opts & PVS_PATH_NONE_OK) && !strcmp(s, "none")),
		     k->name);
		must(strlen(s) < (k->max ? (size_t)k->max : k->size), k->name);
		break;
	default: break;
	}
}

static void check_ranges(void)
{
	size_t n;
	const struct pvs_config_key *keys = pvs_config_keys(&n);

	for (size_t i = 0; i < n; i++) {
		const struct pvs_config_key *k = &keys[i];

		if (k->scope & PVS_KEY_DAEMON)
			check_field(k, (const char *)&cfg + k->daemon_off, !k->def);
		if (k->scope & PVS_KEY_VM)
			for (size_t j = 0; j < cfg.nr_vms; j++)
				check_field(k, (const char *)&cfg.vms[j] + k->vm_off, 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[512];
	int rc;

	if (size > 64 * 1024)
		return 0;
	if (memfd < 0) {
		memfd = memfd_create("fuzz-config", MFD_CLOEXEC);
		must(memfd >= 0, "memfd_create");
	}
	must(ftruncate(memfd, 0) == 0, "ftruncate");
	must(pwrite(memfd, data, size, 0) == (ssize_t)size, "pwrite");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	err[0] = 0;
	rc = pvs_config_load(&cfg, path, 1, err, sizeof(err));
	if (rc) {
		must(rc == -EINVAL, "errors are -EINVAL");
		must(!strncmp(err, path, strlen(path)), "error starts with the file name");
		return 0;
	}
	check_ranges();
	must(cfg.nr_vms <= PVS_MAX_CONFIG_VMS, "VM count");
	for (size_t i = 0; i < cfg.nr_vms; i++) {
		const struct pvs_config_vm *v = &cfg.vms[i];
		must(v->name[0] && strlen(v->name) < PVS_NAME_MAX, "vm name length");
		/* a process VM, or tuning (boost, co-scheduling) only for a VM
		 * found otherwise */
		must(v->pid > 0 || v->pidfile[0] == '/' ||
		             (!v->threads[0] && !v->region[0] &&
		              (v->boost >= 0 || v->boost_max_ms || v->boost_budget_pct ||
		               v->cosched >= 0 || v->shares || v->cgroup[0] ||
		               !pvs_cpuset_empty(&v->cpus))),
		     "vm has a pid, an absolute pidfile, or tuning keys only");
		for (size_t j = 0; j < i; j++)
			must(strcmp(v->name, cfg.vms[j].name) != 0, "vm names unique");
	}
	must(pvs_config_stale_after_us(&cfg) >= cfg.period_us, "stale_after >= period");
	must(cfg.cosched.priority < cfg.boost.priority, "cosched_priority below boost_priority");
	return 0;
}
