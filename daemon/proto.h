/* SPDX-License-Identifier: MIT */
/*
 * daemon/proto.h - the control protocol's requests (docs/control.md).
 * A request is one JSON object of at most PVS_PROTO_MAX bytes, ended by a
 * newline or by the client's shutdown(SHUT_WR).  Every key is type- and
 * length-checked; unknown keys and commands are errors.  This is the only
 * parser of requests: daemon/control.c acts on what it returns.
 */
#ifndef PVSCHED_DAEMON_PROTO_H
#define PVSCHED_DAEMON_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PVS_PROTO_MAX 4096 /* bytes of JSON, not counting the newline */

enum pvs_cmd {
	PVS_CMD_STATUS,
	PVS_CMD_ATTACH,
	PVS_CMD_DETACH,
	PVS_CMD_RESCAN,
	PVS_CMD_RELOAD,
	PVS_CMD_PING,
	PVS_CMD_BOOST,
	PVS_CMD_POLICY,
	PVS_CMD_METRICS
};

struct pvs_request {
	enum pvs_cmd cmd;
	char name[32]; /* 'name', or 'vm' (policy, metrics: the two must agree) */
	pid_t pid;
	char threads[64];
	int doorbell; /* attach: pass an eventfd to ring (1), or not (0) */
	/* boost: -1 = not given */
	int enable;
	int32_t max_ms;
	int32_t budget_pct;
	/* policy */
	int has_policy;
	int policy;      /* enum pvs_cs_policy, or -1: back to the configuration's */
	uint32_t shares; /* 0 = not given */
};

/* Parse BUF (LEN bytes, need not be NUL-terminated).  0 or -EINVAL with a
 * message in ERR. */
int pvs_proto_parse(const char *buf, size_t len, struct pvs_request *req, char *err, size_t errlen);

#endif
