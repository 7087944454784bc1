/* SPDX-License-Identifier: MIT */
/*
 * tools/ctlclient.h - one request/reply exchange with pvschedd's control
 * socket (docs/control.md), shared by pvschedctl and pvsched-run.
 */
#ifndef PVSCHED_TOOLS_CTLCLIENT_H
#define PVSCHED_TOOLS_CTLCLIENT_H

#include <json-c/json.h>

#include "pvs_defaults.h"

#define PVS_CTL_DEFAULT_SOCKET PVS_DEFAULT_SOCKET

/* Send REQ (not consumed) to the daemon at SOCK_PATH; the parsed reply, or
 * NULL after printing why, prefixed with PROG. */
struct json_object *pvs_ctl_request(const char *prog, const char *sock_path,
                                    struct json_object *req);
/* The same, also taking a descriptor pvschedd sent with the reply (attach's
 * eventfd): into *FD, close-on-exec, or -1 when none came. */
struct json_object *pvs_ctl_request_fd(const char *prog, const char *sock_path,
                                       struct json_object *req, int *fd);
/* 0 if REPLY says ok; else print the daemon's error (prefixed with PROG)
 * and return 1. */
int pvs_ctl_check_ok(const char *prog, struct json_object *reply);
/* Member K of the JSON object O, or NULL (also when O is not an object). */
struct json_object *pvs_json_get(struct json_object *o, const char *k);

#endif
