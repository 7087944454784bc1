/* SPDX-License-Identifier: MIT */
/*
 * daemon/sample.h - daemon/sample.c's interface: one period of sampling
 * and policy for every VM.
 */
#ifndef PVSCHED_DAEMON_SAMPLE_H
#define PVSCHED_DAEMON_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"

/* One period; returns the vCPUs that may have changed (all of them without
 * a sampler that can tell), 0 when every vCPU slept with nothing new. */
uint32_t pvs_sample_all(struct pvs_daemon *d, uint64_t now_ns);
/* How often a VM whose vCPUs all sleep with nothing new is updated and gets
 * its heartbeat, and the longest period of an idle host's ticks. */
uint64_t pvs_quiet_ns(const struct pvs_config *c);

#endif
