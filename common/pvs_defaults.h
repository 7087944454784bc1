/* SPDX-License-Identifier: MIT */
/*
 * common/pvs_defaults.h - defaults the daemon and its clients must agree
 * on, written once.
 */
#ifndef PVSCHED_COMMON_DEFAULTS_H
#define PVSCHED_COMMON_DEFAULTS_H

/* pvschedd's control socket (docs/control.md); `socket` in the config,
 * -s / $PVSCHED_SOCKET for the tools. */
#define PVS_DEFAULT_SOCKET "/run/pvsched/control.sock"

#endif
