/* SPDX-License-Identifier: MIT */
/*
 * daemon/proto.c - control request parsing with json-c: every command and
 * every key of the protocol (docs/control.md), errors worded as that page
 * lists them.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "cosched.h"
#include "names.h"
#include "proto.h"

static const struct {
	const char *name;
	enum pvs_cmd cmd;
} cmds[] = {
        {"status", PVS_CMD_STATUS}, {"attach", PVS_CMD_ATTACH}, {"detach", PVS_CMD_DETACH},
        {"rescan", PVS_CMD_RESCAN}, {"reload", PVS_CMD_RELOAD}, {"ping", PVS_CMD_PING},
        {"boost", PVS_CMD_BOOST},   {"policy", PVS_CMD_POLICY}, {"metrics", PVS_CMD_METRICS},
};

#define POLICY_CHOICES "none, spread, dedicated, gang, relaxed or config"

/* An integer key in [MIN, MAX] into *OUT; 0 or -EINVAL with a message. */
static int int_key(struct json_object *val, const char *key, int32_t min, int32_t max, int32_t *out,
                   char *err, size_t errlen)
{
	int64_t v;

	if (!json_object_is_type(val, json_type_int)) {
		snprintf(err, errlen, "'%s' must be an integer", key);
		return -EINVAL;
	}
	v = json_object_get_int64(val);
	if (v < min || v > max) {
		snprintf(err, errlen, "'%s' out of range (%d..%d)", key, (int)min, (int)max);
		return -EINVAL;
	}
	*out = (int32_t)v;
	return 0;
}

/* The C string of a JSON string, or NULL if VAL is not a string or holds a
 * NUL ("\u0000"): the part before it is not what the client sent. */
static const char *cstr(struct json_object *val)
{
	const char *s;

	if (!json_object_is_type(val, json_type_string))
		return NULL;
	s = json_object_get_string(val);
	return s && (size_t)json_object_get_string_len(val) == strlen(s) ? s : NULL;
}

static int fail(char *err, size_t errlen, const char *msg, const char *arg)
{
	snprintf(err, errlen, msg, arg);
	return -EINVAL;
}

/* A VM name (the key KEY, 'name' or 'vm') into OUT. */
static int vm_name_key(struct json_object *val, const char *key, char *out, size_t outlen,
                       char *err, size_t errlen)
{
	const char *s = cstr(val);

	if (!s || !pvs_valid_vm_name(s))
		return fail(err, errlen, "'%s' must be 1-31 characters of [A-Za-z0-9._-]", key);
	snprintf(out, outlen, "%s", s);
	return 0;
}

/* A key every command knows; an unknown key is an error. */
static int common_key(const char *key, struct json_object *val, struct pvs_request *req,
                      int *have_cmd, char *err, size_t errlen)
{
	const char *s;

	if (!strcmp(key, "cmd")) {
		size_t i;

		if (!json_object_is_type(val, json_type_string))
			return fail(err, errlen, "'cmd' must be a string%s", "");
		s = cstr(val);
		if (!s)
			return fail(err, errlen, "'cmd' contains a NUL%s", "");
		for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
			if (!strcmp(s, cmds[i].name))
				break;
		if (i == sizeof(cmds) / sizeof(cmds[0]))
			return fail(err, errlen, "unknown command '%.40s'", s);
		req->cmd = cmds[i].cmd;
		*have_cmd = 1;
	} else if (!strcmp(key, "name")) {
		return vm_name_key(val, "name", req->name, sizeof(req->name), err, errlen);
	} else if (!strcmp(key, "pid")) {
		int64_t p;

		if (!json_object_is_type(val, json_type_int))
			return fail(err, errlen, "'pid' must be an integer%s", "");
		p = json_object_get_int64(val);
		if (p <= 0 || p > 4194304)
			return fail(err, errlen, "'pid' out of range%s", "");
		req->pid = (pid_t)p;
	} else if (!strcmp(key, "threads")) {
		if (!json_object_is_type(val, json_type_string))
			return fail(err, errlen, "'threads' must be a string%s", "");
		s = cstr(val);
		if (!s)
			return fail(err, errlen, "'threads' contains a NUL%s", "");
		if (strlen(s) >= sizeof(req->threads))
			return fail(err, errlen, "'threads' longer than 63 bytes%s", "");
		snprintf(req->threads, sizeof(req->threads), "%s", s);
	} else if (!strcmp(key, "doorbell")) {
		if (!json_object_is_type(val, json_type_boolean))
			return fail(err, errlen, "'doorbell' must be true or false%s", "");
		req->doorbell = json_object_get_boolean(val) ? 1 : 0;
	} else if (!strcmp(key, "enable")) {
		if (!json_object_is_type(val, json_type_boolean))
			return fail(err, errlen, "'enable' must be true or false%s", "");
		req->enable = json_object_get_boolean(val) ? 1 : 0;
	} else if (!strcmp(key, "max_ms")) {
		return int_key(val, "max_ms", 1, 10000, &req->max_ms, err, errlen);
	} else if (!strcmp(key, "budget_pct")) {
		return int_key(val, "budget_pct", 1, 100, &req->budget_pct, err, errlen);
	} else {
		return fail(err, errlen, "unknown key '%.40s'", key);
	}
	return 0;
}

/* vm, policy and shares: known to the policy and metrics commands only. */
static int is_cosched_key(const char *key)
{
	return !strcmp(key, "vm") || !strcmp(key, "policy") || !strcmp(key, "shares");
}

static int cosched_key(const char *key, struct json_object *val, struct pvs_request *req, char *err,
                       size_t errlen)
{
	const char *s;
	int64_t x;

	if (!strcmp(key, "vm")) {
		char vm[sizeof(req->name)];
		int rc = vm_name_key(val, "vm", vm, sizeof(vm), err, errlen);

		if (rc < 0)
			return rc;
		if (req->name[0] && strcmp(req->name, vm)) {
			snprintf(err, errlen, "'vm' and 'name' differ ('%s', '%s')", vm, req->name);
			return -EINVAL;
		}
		snprintf(req->name, sizeof(req->name), "%s", vm);
	} else if (!strcmp(key, "policy")) {
		if (!json_object_is_type(val, json_type_string))
			return fail(err, errlen, "'policy' must be a string: %s", POLICY_CHOICES);
		s = cstr(val);
		if (!s)
			return fail(err, errlen, "'policy' contains a NUL%s", "");
		if (!strcmp(s, "config")) {
			req->policy = -1;
		} else if ((req->policy = pvs_cs_policy_parse(s)) < 0) {
			snprintf(err, errlen, "unknown policy '%.40s': expected " POLICY_CHOICES,
			         s);
			return -EINVAL;
		}
		req->has_policy = 1;
	} else if (!strcmp(key, "shares")) {
		if (!json_object_is_type(val, json_type_int)) {
			snprintf(err, errlen, "'shares' must be an integer (%u..%u)",
			         PVS_CS_SHARES_MIN, PVS_CS_SHARES_MAX);
			return -EINVAL;
		}
		errno = 0;
		x = json_object_get_int64(val);
		if (errno || x < PVS_CS_SHARES_MIN || x > PVS_CS_SHARES_MAX) {
			snprintf(err, errlen, "'shares' %.40s out of range (%u..%u)",
			         json_object_to_json_string(val), PVS_CS_SHARES_MIN,
			         PVS_CS_SHARES_MAX);
			return -EINVAL;
		}
		req->shares = (uint32_t)x;
	}
	return 0;
}

/* The object's 'cmd' is "policy" or "metrics" (looked at before any key is
 * checked: it decides whether vm, policy and shares are keys at all). */
static int is_cosched_cmd(struct json_object *o)
{
	struct json_object *cmd;
	const char *s;

	return json_object_object_get_ex(o, "cmd", &cmd) && (s = cstr(cmd)) &&
	       (!strcmp(s, "policy") || !strcmp(s, "metrics"));
}

/* The keys of the request object O, then what each command needs. */
static int parse_object(struct json_object *o, struct pvs_request *req, char *err, size_t errlen)
{
	int cosched = is_cosched_cmd(o), have_cmd = 0, rc;

	/* vm, policy and shares after every other key, so that of a request
	 * with several errors the first other key's is reported */
	json_object_object_foreach(o, key, val)
	{
		if (cosched && is_cosched_key(key))
			continue;
		if ((rc = common_key(key, val, req, &have_cmd, err, errlen)) < 0)
			return rc;
	}
	if (cosched) {
		json_object_object_foreach(o, ckey, cval)
		{
			if (is_cosched_key(ckey) &&
			    (rc = cosched_key(ckey, cval, req, err, errlen)) < 0)
				return rc;
		}
	}
	if (!have_cmd)
		return fail(err, errlen, "missing 'cmd'%s", "");
	switch (req->cmd) {
	case PVS_CMD_ATTACH:
		if (!req->name[0] || !req->pid)
			return fail(err, errlen, "attach needs 'name' and 'pid'%s", "");
		break;
	case PVS_CMD_DETACH:
		if (!req->name[0])
			return fail(err, errlen, "detach needs 'name'%s", "");
		break;
	case PVS_CMD_BOOST:
		if (req->enable < 0 && req->max_ms < 0 && req->budget_pct < 0)
			return fail(err, errlen, "boost needs 'enable', 'max_ms' or 'budget_pct'%s",
			            "");
		if (!req->name[0] && (req->max_ms >= 0 || req->budget_pct >= 0))
			return fail(err, errlen, "boost limits are per VM: 'name' is needed%s", "");
		break;
	case PVS_CMD_POLICY:
		if (!req->name[0])
			return fail(err, errlen, "policy needs 'vm'%s", "");
		if (!req->has_policy && !req->shares)
			return fail(err, errlen, "policy needs 'policy' or 'shares'%s", "");
		break;
	default: break;
	}
	return 0;
}

int pvs_proto_parse(const char *buf, size_t len, struct pvs_request *req, char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error jerr;
	int rc;

	memset(req, 0, sizeof(*req));
	req->enable = req->max_ms = req->budget_pct = -1;
	if (len && buf[len - 1] == '\n')
		len--;
	if (len && buf[len - 1] == '\r')
		len--;
	if (len == 0)
		return fail(err, errlen, "empty request%s", "");
	if (len > PVS_PROTO_MAX)
		return fail(err, errlen, "request longer than 4096 bytes%s", "");
	if (memchr(buf, 0, len))
		return fail(err, errlen, "request contains a NUL byte%s", "");
	tok = json_tokener_new_ex(8);
	if (!tok)
		return fail(err, errlen, "out of memory%s", "");
	o = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	if (!o || jerr != json_tokener_success || json_tokener_get_parse_end(tok) != len) {
		if (jerr == json_tokener_continue)
			snprintf(err, errlen, "incomplete JSON");
		else if (jerr != json_tokener_success)
			snprintf(err, errlen, "invalid JSON: %s", json_tokener_error_desc(jerr));
		else
			snprintf(err, errlen, "trailing data after the JSON object");
		json_object_put(o);
		json_tokener_free(tok);
		return -EINVAL;
	}
	json_tokener_free(tok);
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return fail(err, errlen, "request is not a JSON object%s", "");
	}
	rc = parse_object(o, req, err, errlen);
	json_object_put(o);
	return rc;
}
