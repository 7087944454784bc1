/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_config.c - libFuzzer target for pvschedd's INI
 * configuration (daemon/config.c).  The input is written to a memfd and
 * loaded through its /proc/self/fd path.  An accepted config must satisfy
 * the documented ranges; a rejected one must return -EINVAL and say
 * "FILE:..." .
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pvsched/abi.h>

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
	must(cfg.period_us >= 500 && cfg.period_us <= 1000000, "period range");
	must(cfg.rescan_ms >= 10 && cfg.rescan_ms <= 600000, "rescan range");
	must(cfg.window_us >= 1000, "window range");
	must(cfg.hysteresis_milli <= 500, "hysteresis range");
	must(cfg.region_size >= PVSCHED_REGION_MIN_SIZE &&
	             cfg.region_size <= PVSCHED_REGION_MAX_SIZE &&
	             !(cfg.region_size & (cfg.region_size - 1)),
	     "region_size a power of two in range");
	must(cfg.region_mode <= 0777, "region_mode");
	must(cfg.socket[0] == '/' && strlen(cfg.socket) < 108, "socket absolute, fits sun_path");
	must(cfg.region_dir[0] == '/', "region_dir absolute");
	must(cfg.nr_vms <= PVS_MAX_CONFIG_VMS, "VM count");
	for (size_t i = 0; i < cfg.nr_vms; i++) {
		const struct pvs_config_vm *v = &cfg.vms[i];
		must(v->name[0] && strlen(v->name) < PVS_NAME_MAX, "vm name length");
		/* a process VM, or boost settings only for a VM found otherwise */
		must(v->pid > 0 || v->pidfile[0] == '/' ||
		             (!v->threads[0] && !v->region[0] &&
		              (v->boost >= 0 || v->boost_max_ms || v->boost_budget_pct)),
		     "vm has a pid, an absolute pidfile, or boost settings only");
		must(v->boost >= -1 && v->boost <= 1, "vm boost -1, 0 or 1");
		must(v->boost_max_ms <= 10000 && v->boost_budget_pct <= 100, "vm boost limits");
		must(!v->region[0] || v->region[0] == '/', "vm region absolute");
		for (size_t j = 0; j < i; j++)
			must(strcmp(v->name, cfg.vms[j].name) != 0, "vm names unique");
	}
	must(pvs_config_stale_after_us(&cfg) >= cfg.period_us, "stale_after >= period");
	must(cfg.boost.enabled == 0 || cfg.boost.enabled == 1, "boost on or off");
	must(cfg.boost.priority >= 1 && cfg.boost.priority <= 97, "boost_priority range");
	must(cfg.boost.nice >= -20 && cfg.boost.nice <= 19, "boost_nice range");
	must(cfg.boost.scan_us >= 100 && cfg.boost.scan_us <= 100000, "boost_scan_us range");
	must(cfg.boost.max_ms >= 1 && cfg.boost.budget_pct >= 1 && cfg.boost.budget_pct <= 100,
	     "boost limits");
	must(cfg.journal[0] == '/', "journal absolute");
	return 0;
}
