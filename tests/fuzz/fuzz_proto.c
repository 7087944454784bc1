/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_proto.c - libFuzzer target for the control protocol
 * parser (daemon/proto.c), which parses every request the control socket
 * takes.  Whatever it accepts must be a well-formed request: a known
 * command, a name of [A-Za-z0-9._-], a pid, limits, a policy and shares in
 * range, and the fields each command needs.  A rejection always comes with
 * a message.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cosched.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_proto: invariant broken: %s\n", what);
		abort();
	}
}

static int name_ok(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	if (n == max)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pvs_request r;
	char err[256];
	int rc;

	err[0] = 0;
	rc = pvs_proto_parse((const char *)data, size, &r, err, sizeof(err));
	if (rc) {
		must(rc == -EINVAL, "errors are -EINVAL");
		must(err[0] != 0, "a rejection has a message");
		must(strnlen(err, sizeof(err)) < sizeof(err), "message NUL-terminated");
		return 0;
	}
	must(size > 0 && size <= PVS_PROTO_MAX, "accepted sizes");
	must(memchr(data, 0, size) == NULL, "no NUL byte in an accepted request");
	must(r.cmd >= PVS_CMD_STATUS && r.cmd <= PVS_CMD_METRICS, "known command");
	must(name_ok(r.name, sizeof(r.name)), "name charset and NUL");
	must(strnlen(r.threads, sizeof(r.threads)) < sizeof(r.threads), "threads NUL-terminated");
	must(r.pid >= 0 && r.pid <= 4194304, "pid range");
	if (r.cmd == PVS_CMD_ATTACH)
		must(r.name[0] && r.pid > 0, "attach has name and pid");
	if (r.cmd == PVS_CMD_DETACH)
		must(r.name[0] != 0, "detach has a name");
	must(r.enable >= -1 && r.enable <= 1, "enable is -1, 0 or 1");
	must(r.doorbell == 0 || r.doorbell == 1, "doorbell is 0 or 1");
	must(r.max_ms == -1 || (r.max_ms >= 1 && r.max_ms <= 10000), "max_ms range");
	must(r.budget_pct == -1 || (r.budget_pct >= 1 && r.budget_pct <= 100), "budget_pct range");
	if (r.cmd == PVS_CMD_BOOST) {
		must(r.enable >= 0 || r.max_ms > 0 || r.budget_pct > 0, "boost sets something");
		must(r.name[0] || (r.max_ms < 0 && r.budget_pct < 0), "limits need a name");
	}
	must(r.has_policy == 0 || r.has_policy == 1, "has_policy is 0 or 1");
	must(!r.has_policy || (r.policy >= -1 && r.policy < PVS_CS_NR_POLICIES), "policy range");
	must(r.shares == 0 || (r.shares >= PVS_CS_SHARES_MIN && r.shares <= PVS_CS_SHARES_MAX),
	     "shares range");
	if (r.cmd != PVS_CMD_POLICY && r.cmd != PVS_CMD_METRICS)
		must(!r.has_policy && !r.shares, "policy and shares only with policy or metrics");
	if (r.cmd == PVS_CMD_POLICY)
		must(r.name[0] && (r.has_policy || r.shares),
		     "policy has a VM and something to set");
	return 0;
}
