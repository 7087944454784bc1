/* SPDX-License-Identifier: MIT */
/* daemon/proto.c - control request parsing with json-c. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "names.h"
#include "proto.h"

static const struct {
	const char *name;
	enum pvs_cmd cmd;
} cmds[] = {
        {"status", PVS_CMD_STATUS}, {"attach", PVS_CMD_ATTACH}, {"detach", PVS_CMD_DETACH},
        {"rescan", PVS_CMD_RESCAN}, {"reload", PVS_CMD_RELOAD}, {"ping", PVS_CMD_PING},
        {"boost", PVS_CMD_BOOST},
};

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

/* The C string of a JSON string, or NULL if it holds a NUL ("\u0000"):
 * the part before it is not what the client sent. */
static const char *cstr(struct json_object *val)
{
	const char *s = json_object_get_string(val);

	return s && (size_t)json_object_get_string_len(val) == strlen(s) ? s : NULL;
}

static int fail(char *err, size_t errlen, const char *msg, const char *arg)
{
	snprintf(err, errlen, msg, arg);
	return -EINVAL;
}

int pvs_proto_parse(const char *buf, size_t len, struct pvs_request *req, char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error jerr;
	int rc = 0, have_cmd = 0;

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
	json_object_object_foreach(o, key, val)
	{
		if (!strcmp(key, "cmd")) {
			const char *s;
			size_t i;
			if (!json_object_is_type(val, json_type_string)) {
				rc = fail(err, errlen, "'cmd' must be a string%s", "");
				break;
			}
			s = cstr(val);
			if (!s) {
				rc = fail(err, errlen, "'cmd' contains a NUL%s", "");
				break;
			}
			for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
				if (!strcmp(s, cmds[i].name))
					break;
			if (i == sizeof(cmds) / sizeof(cmds[0])) {
				rc = fail(err, errlen, "unknown command '%.40s'", s);
				break;
			}
			req->cmd = cmds[i].cmd;
			have_cmd = 1;
		} else if (!strcmp(key, "name")) {
			if (!json_object_is_type(val, json_type_string) || !cstr(val) ||
			    !pvs_valid_vm_name(cstr(val))) {
				rc = fail(err, errlen,
				          "'name' must be 1-31 characters of [A-Za-z0-9._-]%s", "");
				break;
			}
			snprintf(req->name, sizeof(req->name), "%s", json_object_get_string(val));
		} else if (!strcmp(key, "pid")) {
			int64_t p;
			if (!json_object_is_type(val, json_type_int)) {
				rc = fail(err, errlen, "'pid' must be an integer%s", "");
				break;
			}
			p = json_object_get_int64(val);
			if (p <= 0 || p > 4194304) {
				rc = fail(err, errlen, "'pid' out of range%s", "");
				break;
			}
			req->pid = (pid_t)p;
		} else if (!strcmp(key, "threads")) {
			const char *s;
			if (!json_object_is_type(val, json_type_string)) {
				rc = fail(err, errlen, "'threads' must be a string%s", "");
				break;
			}
			s = cstr(val);
			if (!s) {
				rc = fail(err, errlen, "'threads' contains a NUL%s", "");
				break;
			}
			if (strlen(s) >= sizeof(req->threads)) {
				rc = fail(err, errlen, "'threads' longer than 63 bytes%s", "");
				break;
			}
			snprintf(req->threads, sizeof(req->threads), "%s", s);
		} else if (!strcmp(key, "enable")) {
			if (!json_object_is_type(val, json_type_boolean)) {
				rc = fail(err, errlen, "'enable' must be true or false%s", "");
				break;
			}
			req->enable = json_object_get_boolean(val) ? 1 : 0;
		} else if (!strcmp(key, "max_ms")) {
			if ((rc = int_key(val, "max_ms", 1, 10000, &req->max_ms, err, errlen)) < 0)
				break;
		} else if (!strcmp(key, "budget_pct")) {
			if ((rc = int_key(val, "budget_pct", 1, 100, &req->budget_pct, err,
			                  errlen)) < 0)
				break;
		} else {
			rc = fail(err, errlen, "unknown key '%.40s'", key);
			break;
		}
	}
	if (rc == 0 && !have_cmd)
		rc = fail(err, errlen, "missing 'cmd'%s", "");
	if (rc == 0 && req->cmd == PVS_CMD_ATTACH && (!req->name[0] || !req->pid))
		rc = fail(err, errlen, "attach needs 'name' and 'pid'%s", "");
	if (rc == 0 && req->cmd == PVS_CMD_DETACH && !req->name[0])
		rc = fail(err, errlen, "detach needs 'name'%s", "");
	if (rc == 0 && req->cmd == PVS_CMD_BOOST && req->enable < 0 && req->max_ms < 0 &&
	    req->budget_pct < 0)
		rc = fail(err, errlen, "boost needs 'enable', 'max_ms' or 'budget_pct'%s", "");
	if (rc == 0 && req->cmd == PVS_CMD_BOOST && !req->name[0] &&
	    (req->max_ms >= 0 || req->budget_pct >= 0))
		rc = fail(err, errlen, "boost limits are per VM: 'name' is needed%s", "");
	json_object_put(o);
	return rc;
}
