/* SPDX-License-Identifier: MIT */
/* lib/region_internal.h - helpers shared by the guest and host region code. */
#ifndef PVSCHED_LIB_REGION_INTERNAL_H
#define PVSCHED_LIB_REGION_INTERNAL_H

#include <stddef.h>

#include <pvsched/pvsched.h>

#define PVS_HIDDEN __attribute__((visibility("hidden")))

PVS_HIDDEN void pvs__header_load(struct pvsched_header *dst, const struct pvsched_header *src);
PVS_HIDDEN int pvs__header_check(const struct pvsched_header *h, size_t maplen,
                                 enum pvsched_verr *why);

/* guest.c: slots in use (the header's nr_vcpus, clamped to the mapping). */
PVS_HIDDEN uint32_t pvs__nr_vcpus(const pvsched_guest *g);
/* guest.c: the mapped header and slot IDX (no bounds check); whether the
 * mapping is writable (a read-only open cannot set guest fields). */
PVS_HIDDEN int pvs__writable(const pvsched_guest *g);
/* guest.c: host CLOCK_MONOTONIC - this CLOCK_MONOTONIC (0 in a process
 * VM); may wait up to 3 publish periods to calibrate; -ENOTCONN without a
 * live host. */
PVS_HIDDEN int pvs__clock_offset(pvsched_guest *g, int64_t *off);
PVS_HIDDEN struct pvsched_header *pvs__header(pvsched_guest *g);
/* guest.c: ring the device's doorbell (1.4) if the host listens on it and
 * the device's registers are mapped; else nothing (the host polls). */
PVS_HIDDEN void pvs__ring(pvsched_guest *g);
PVS_HIDDEN struct pvsched_vcpu *pvs__slot(pvsched_guest *g, uint32_t idx);
/* advisor.c: the process-wide region handle shared by the advisor and the
 * pv-aware lock and barrier; opened lazily (again at most once a second
 * while none is found), kept for the life of the process.  NULL: none. */
PVS_HIDDEN pvsched_guest *pvs__default_guest(void);

#endif
