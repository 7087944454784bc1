/* SPDX-License-Identifier: MIT */
/*
 * daemon/metrics.h - pvschedd's counters and gauges in the Prometheus text
 * exposition format 0.0.4 (docs/metrics.md): served by the control
 * protocol's `metrics` request and written to `metrics_file` for
 * node_exporter's textfile collector.
 */
#ifndef PVSCHED_DAEMON_METRICS_H
#define PVSCHED_DAEMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"

/* The content type of the text (an HTTP server would send it). */
#define PVS_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * Format every metric of D at NOW_NS (pvs_mono_ns(): uptime only) into a
 * malloc'd, NUL-terminated text *OUT of *LEN bytes (the NUL not counted).
 * 0, or -ENOMEM (*OUT is then NULL).  A family is written only when it has
 * at least one sample; no sample has a timestamp (the textfile collector
 * refuses them).
 */
int pvs_metrics_format(const struct pvs_daemon *d, uint64_t now_ns, char **out, size_t *len);

/*
 * Write the text to PATH atomically, as the textfile collector needs: into
 * a fresh PATH.tmp in the same directory (O_EXCL after removing any old
 * one; mode 0644 whatever the umask), then rename over PATH (no fsync:
 * pvschedd's loop must not wait for a disk).  0, or -errno (PATH.tmp removed, PATH untouched).
 */
int pvs_metrics_write_file(const struct pvs_daemon *d, const char *path, uint64_t now_ns);

#endif
