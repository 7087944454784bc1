/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_proto.c - control requests (daemon/proto.c): what is
 * accepted, and that wrong types, unknown keys or commands, oversize
 * input, trailing data, NUL bytes and missing fields are all rejected with
 * a message - for the co-scheduling keys with the exact words of
 * docs/control.md.
 */
#include <errno.h>

#include "check.h"
#include "cosched.h"
#include "proto.h"

static int parse(const char *s, size_t len, struct pvs_request *r, char *err, size_t errlen)
{
	/* an exact-size heap copy, so a read past LEN shows under ASan */
	char *b = malloc(len ? len : 1);
	int rc;

	REQUIRE(b != NULL);
	memcpy(b, s, len);
	err[0] = 0;
	rc = pvs_proto_parse(b, len, r, err, errlen);
	free(b);
	return rc;
}

static void ok_(const char *s, size_t len, enum pvs_cmd cmd, const char *name, pid_t pid,
                const char *threads, const char *file, int line)
{
	struct pvs_request r;
	char err[256];
	int rc = parse(s, len, &r, err, sizeof(err));

	chk_report(rc == 0 && r.cmd == cmd && !strcmp(r.name, name) && r.pid == pid &&
	                   !strcmp(r.threads, threads),
	           0, file, line, "accept %.*s%s", (int)(len > 70 ? 70 : len), s,
	           len > 70 ? "..." : "");
	if (rc)
		printf("        rc %d: %s\n", rc, err);
}
#define OK(s, cmd, name, pid, thr) ok_(s, strlen(s), cmd, name, pid, thr, __FILE__, __LINE__)

static void bad_(const char *s, size_t len, const char *why, const char *file, int line)
{
	struct pvs_request r;
	char err[256];
	int rc = parse(s, len, &r, err, sizeof(err));
	char shown[80];
	size_t k = 0;

	for (size_t i = 0; i < len && k + 5 < sizeof(shown); i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 32 && c < 127)
			shown[k++] = (char)c;
		else
			k += (size_t)snprintf(shown + k, sizeof(shown) - k, "\\x%02x", c);
	}
	shown[k] = 0;
	chk_report(rc == -EINVAL && err[0], 0, file, line, "reject (%s) %s%s -> \"%s\"", why, shown,
	           k + 5 >= sizeof(shown) ? "..." : "", err);
}
#define BAD(s, why)     bad_(s, strlen(s), why, __FILE__, __LINE__)
#define BADN(s, n, why) bad_(s, n, why, __FILE__, __LINE__)

/* Rejected with exactly the message WANT. */
static void msg_(const char *s, const char *want, const char *file, int line)
{
	struct pvs_request r;
	char err[256];
	int rc = parse(s, strlen(s), &r, err, sizeof(err));

	chk_report(rc == -EINVAL && !strcmp(err, want), 0, file, line, "reject %s -> \"%s\"", s,
	           err);
	if (strcmp(err, want))
		printf("        expected \"%s\"\n", want);
}
#define BADMSG(s, want) msg_(s, want, __FILE__, __LINE__)

/* A policy request accepted for VM with HAS_POLICY / POLICY and SHARES. */
static void policy_(const char *s, const char *vm, int has_policy, int policy, uint32_t shares,
                    const char *file, int line)
{
	struct pvs_request r;
	char err[256];
	int rc = parse(s, strlen(s), &r, err, sizeof(err));

	chk_report(rc == 0 && r.cmd == PVS_CMD_POLICY && !strcmp(r.name, vm) &&
	                   r.has_policy == has_policy && (!has_policy || r.policy == policy) &&
	                   r.shares == shares,
	           0, file, line, "accept %s", s);
	if (rc)
		printf("        rc %d: %s\n", rc, err);
}
#define POLICY(s, vm, has, pol, shares) policy_(s, vm, has, pol, shares, __FILE__, __LINE__)

static void t_valid(void)
{
	OK("{\"cmd\":\"status\"}", PVS_CMD_STATUS, "", 0, "");
	OK("{\"cmd\":\"ping\"}\n", PVS_CMD_PING, "", 0, "");
	OK("{\"cmd\":\"ping\"}\r\n", PVS_CMD_PING, "", 0, "");
	OK(" { \"cmd\" : \"rescan\" } ", PVS_CMD_RESCAN, "", 0, "");
	OK("{\"cmd\":\"reload\"}", PVS_CMD_RELOAD, "", 0, "");
	OK("{\"cmd\":\"attach\",\"name\":\"vm1\",\"pid\":1234}", PVS_CMD_ATTACH, "vm1", 1234, "");
	OK("{\"pid\":4194304,\"threads\":\"CPU */KVM\",\"name\":\"a.b-c_D9\",\"cmd\":\"attach\"}",
	   PVS_CMD_ATTACH, "a.b-c_D9", 4194304, "CPU */KVM");
	OK("{\"cmd\":\"detach\",\"name\":\"vm1\"}", PVS_CMD_DETACH, "vm1", 0, "");
	OK("{\"cmd\":\"status\",\"name\":\"vm1\"}", PVS_CMD_STATUS, "vm1", 0, "");
	OK("{\"cmd\":\"attach\",\"name\":\"abcdefghijklmnopqrstuvwxyz01234\",\"pid\":1}",
	   PVS_CMD_ATTACH, "abcdefghijklmnopqrstuvwxyz01234", 1, "");
	OK("{\"cmd\":\"attach\",\"name\":\"v\",\"pid\":2,\"threads\":"
	   "\"123456789012345678901234567890123456789012345678901234567890123\"}",
	   PVS_CMD_ATTACH, "v", 2,
	   "123456789012345678901234567890123456789012345678901234567890123");
	OK("{\"cmd\":\"detach\",\"name\":\"\\u0076m\"}", PVS_CMD_DETACH, "vm", 0, "");
}

static void t_types(void)
{
	BAD("{\"cmd\":1}", "cmd not a string");
	BAD("{\"cmd\":null}", "cmd null");
	BAD("{\"cmd\":[\"ping\"]}", "cmd an array");
	BAD("{\"cmd\":\"detach\",\"name\":5}", "name not a string");
	BAD("{\"cmd\":\"attach\",\"name\":\"v\",\"pid\":\"12\"}", "pid a string");
	BAD("{\"cmd\":\"attach\",\"name\":\"v\",\"pid\":1.5}", "pid a double");
	BAD("{\"cmd\":\"attach\",\"name\":\"v\",\"pid\":true}", "pid a boolean");
	BAD("{\"cmd\":\"attach\",\"name\":\"v\",\"pid\":0}", "pid 0");
	BAD("{\"cmd\":\"attach\",\"name\":\"v\",\"pid\":-1}", "pid negative");
	BAD("{\"cmd\":\"attach\",\"name\":\"v\",\"pid\":4194305}", "pid too large");
	BAD("{\"cmd\":\"attach\",\"name\":\"v\",\"pid\":99999999999999999999}", "pid huge");
	BAD("{\"cmd\":\"attach\",\"name\":\"v\",\"pid\":1,\"threads\":3}", "threads not a string");
	BAD("{\"cmd\":\"detach\",\"name\":\"\"}", "name empty");
	BAD("{\"cmd\":\"detach\",\"name\":\"bad name\"}", "name with a space");
	BAD("{\"cmd\":\"detach\",\"name\":\"../etc\"}", "name with a slash");
	BAD("{\"cmd\":\"detach\",\"name\":\"abcdefghijklmnopqrstuvwxyz012345\"}", "name 32 chars");
	BAD("{\"cmd\":\"attach\",\"name\":\"v\",\"pid\":2,\"threads\":"
	    "\"1234567890123456789012345678901234567890123456789012345678901234\"}",
	    "threads 64 chars");
}

static void t_unknown(void)
{
	BAD("{\"cmd\":\"reboot\"}", "unknown command");
	BAD("{\"cmd\":\"\"}", "empty command");
	BAD("{\"cmd\":\"PING\"}", "commands are case-sensitive");
	BAD("{\"cmd\":\"ping\",\"x\":1}", "unknown key");
	BAD("{\"cmd\":\"ping\",\"Cmd\":\"ping\"}", "keys are case-sensitive");
}

static void t_oversize(void)
{
	char big[PVS_PROTO_MAX + 2];

	NOTE("a valid object padded with spaces to exactly %d bytes, then one more", PVS_PROTO_MAX);
	memset(big, ' ', sizeof(big));
	memcpy(big, "{\"cmd\":\"ping\"", 13);
	big[PVS_PROTO_MAX - 1] = '}';
	ok_(big, PVS_PROTO_MAX, PVS_CMD_PING, "", 0, "", __FILE__, __LINE__);
	memmove(big + 1, big, PVS_PROTO_MAX);
	big[0] = ' ';
	BADN(big, PVS_PROTO_MAX + 1, "4097 bytes");
	NOTE("nesting deeper than the tokener allows");
	BAD("{\"cmd\":\"ping\",\"x\":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}", "deep nesting");
}

static void t_trailing(void)
{
	BAD("{\"cmd\":\"ping\"}x", "trailing garbage");
	BAD("{\"cmd\":\"ping\"}{\"cmd\":\"ping\"}", "two objects");
	BAD("{\"cmd\":\"ping\"}\n{\"cmd\":\"ping\"}", "two lines");
	BAD("{\"cmd\":\"ping\"", "incomplete");
	BAD("{\"cmd\":\"ping\"}}", "extra brace");
	BAD("{cmd:ping}", "not JSON");
}

static void t_nul(void)
{
	BADN("{\"cmd\":\"ping\"}\0", 15, "NUL after the object");
	BADN("{\"cmd\":\"pi\0ng\"}", 15, "raw NUL inside a string");
	BADN("\0{\"cmd\":\"ping\"}", 15, "leading NUL");
	BADN("{\"cmd\":\"ping\"}\0\n", 16, "NUL before the newline");
}

/* A \u0000 escape puts a NUL inside a JSON string; C string handling
 * would see only the part before it. */
static void t_escaped_nul(void)
{
	BAD("{\"cmd\":\"ping\\u0000junk\"}", "cmd with an escaped NUL");
	BAD("{\"cmd\":\"detach\",\"name\":\"vm1\\u0000/../x\"}", "name with an escaped NUL");
	BAD("{\"cmd\":\"attach\",\"name\":\"v\",\"pid\":1,\"threads\":\"a\\u0000b\"}",
	    "threads with an escaped NUL");
}

static void t_missing(void)
{
	BAD("{}", "empty object");
	BAD("{\"name\":\"vm1\"}", "no cmd");
	BAD("{\"cmd\":\"attach\",\"name\":\"vm1\"}", "attach without pid");
	BAD("{\"cmd\":\"attach\",\"pid\":5}", "attach without name");
	BAD("{\"cmd\":\"detach\"}", "detach without name");
}

static void t_not_object(void)
{
	BAD("[]", "array");
	BAD("[{\"cmd\":\"ping\"}]", "array of a request");
	BAD("\"ping\"", "string");
	BAD("1", "number");
	BAD("null", "null");
	BAD("true", "boolean");
	BADN("", 0, "empty");
	BAD("\n", "just a newline");
	BAD("   ", "just spaces");
}

static void t_policy(void)
{
	POLICY("{\"cmd\":\"policy\",\"vm\":\"vm1\",\"policy\":\"gang\"}", "vm1", 1, PVS_CS_GANG, 0);
	POLICY("{\"cmd\":\"policy\",\"vm\":\"vm1\",\"policy\":\"config\"}", "vm1", 1, -1, 0);
	POLICY("{\"cmd\":\"policy\",\"vm\":\"a.b\",\"shares\":1}", "a.b", 0, 0, 1);
	POLICY("{\"shares\":1000000,\"policy\":\"none\",\"vm\":\"w\",\"cmd\":\"policy\"}", "w", 1,
	       PVS_CS_NONE, 1000000);
	NOTE("'name' is accepted for 'vm'; both may be given if they agree");
	POLICY("{\"cmd\":\"policy\",\"name\":\"n\",\"policy\":\"relaxed\"}", "n", 1, PVS_CS_RELAXED,
	       0);
	POLICY("{\"cmd\":\"policy\",\"name\":\"n\",\"vm\":\"n\",\"policy\":\"spread\"}", "n", 1,
	       PVS_CS_SPREAD, 0);
	NOTE("the other commands' keys are checked and ignored");
	POLICY("{\"cmd\":\"policy\",\"vm\":\"v\",\"policy\":\"dedicated\",\"pid\":7,"
	       "\"enable\":true,\"max_ms\":5,\"threads\":\"x\"}",
	       "v", 1, PVS_CS_DEDICATED, 0);

	BADMSG("{\"cmd\":\"policy\",\"policy\":\"gang\"}", "policy needs 'vm'");
	BADMSG("{\"cmd\":\"policy\",\"vm\":\"v\"}", "policy needs 'policy' or 'shares'");
	BADMSG("{\"cmd\":\"policy\",\"vm\":\"a/b\",\"policy\":\"gang\"}",
	       "'vm' must be 1-31 characters of [A-Za-z0-9._-]");
	BADMSG("{\"cmd\":\"policy\",\"vm\":7,\"policy\":\"gang\"}",
	       "'vm' must be 1-31 characters of [A-Za-z0-9._-]");
	BADMSG("{\"cmd\":\"policy\",\"vm\":\"v\\u0000x\",\"policy\":\"gang\"}",
	       "'vm' must be 1-31 characters of [A-Za-z0-9._-]");
	BADMSG("{\"cmd\":\"policy\",\"vm\":\"a\",\"name\":\"b\",\"policy\":\"gang\"}",
	       "'vm' and 'name' differ ('a', 'b')");
	BADMSG("{\"cmd\":\"policy\",\"name\":\"b\",\"vm\":\"a\",\"policy\":\"gang\"}",
	       "'vm' and 'name' differ ('a', 'b')");
	BADMSG("{\"cmd\":\"policy\",\"vm\":\"v\",\"policy\":3}",
	       "'policy' must be a string: none, spread, dedicated, gang, relaxed or config");
	BADMSG("{\"cmd\":\"policy\",\"vm\":\"v\",\"policy\":\"gang\\u0000\"}",
	       "'policy' contains a NUL");
	BADMSG("{\"cmd\":\"policy\",\"vm\":\"v\",\"policy\":\"strict\"}",
	       "unknown policy 'strict': expected none, spread, dedicated, gang, relaxed or "
	       "config");
	BADMSG("{\"cmd\":\"policy\",\"vm\":\"v\",\"policy\":\"Gang\"}",
	       "unknown policy 'Gang': expected none, spread, dedicated, gang, relaxed or config");
	BADMSG("{\"cmd\":\"policy\",\"vm\":\"v\",\"shares\":\"5\"}",
	       "'shares' must be an integer (1..1000000)");
	BADMSG("{\"cmd\":\"policy\",\"vm\":\"v\",\"shares\":1.5}",
	       "'shares' must be an integer (1..1000000)");
	BADMSG("{\"cmd\":\"policy\",\"vm\":\"v\",\"shares\":0}",
	       "'shares' 0 out of range (1..1000000)");
	BADMSG("{\"cmd\":\"policy\",\"vm\":\"v\",\"shares\":1000001}",
	       "'shares' 1000001 out of range (1..1000000)");
	BAD("{\"cmd\":\"policy\",\"vm\":\"v\",\"shares\":99999999999999999999}", "shares huge");
	NOTE("vm, policy and shares are checked after the other keys");
	BADMSG("{\"cmd\":\"policy\",\"policy\":\"bogus\",\"pid\":-1}", "'pid' out of range");
	BADMSG("{\"cmd\":\"policy\",\"shares\":0,\"x\":1}", "unknown key 'x'");
}

static void t_metrics(void)
{
	OK("{\"cmd\":\"metrics\"}", PVS_CMD_METRICS, "", 0, "");
	OK("{\"cmd\":\"metrics\",\"name\":\"mvm\"}\n", PVS_CMD_METRICS, "mvm", 0, "");
	NOTE("it knows the co-scheduling keys (and ignores them)");
	OK("{\"cmd\":\"metrics\",\"vm\":\"v\",\"policy\":\"gang\",\"shares\":5}", PVS_CMD_METRICS,
	   "v", 0, "");
	BADMSG("{\"cmd\":\"metrics\",\"bogus\":1}", "unknown key 'bogus'");
	BADMSG("{\"cmd\":\"metrics\",\"name\":\"a/b\"}",
	       "'name' must be 1-31 characters of [A-Za-z0-9._-]");
	BADMSG("{\"cmd\":\"metrics\",\"pid\":\"x\"}", "'pid' must be an integer");
	BADMSG("{\"cmd\":\"metrics\",\"policy\":\"x\"}",
	       "unknown policy 'x': expected none, spread, dedicated, gang, relaxed or config");
	BADMSG("{\"cmd\":\"metrics\",\"vm\":\"a\",\"name\":\"b\"}",
	       "'vm' and 'name' differ ('a', 'b')");
}

/* vm, policy and shares are unknown keys to every other command. */
static void t_cosched_keys_elsewhere(void)
{
	BADMSG("{\"cmd\":\"status\",\"vm\":\"v\"}", "unknown key 'vm'");
	BADMSG("{\"cmd\":\"ping\",\"policy\":\"gang\"}", "unknown key 'policy'");
	BADMSG("{\"cmd\":\"boost\",\"enable\":true,\"shares\":5}", "unknown key 'shares'");
	BADMSG("{\"vm\":\"x\",\"cmd\":\"bogus\"}", "unknown key 'vm'");
	BADMSG("{\"vm\":\"v\",\"cmd\":\"policy\\u0000\"}", "unknown key 'vm'");
}

static const struct tcase cases[] = {
        {"valid", t_valid},
        {"types", t_types},
        {"unknown", t_unknown},
        {"oversize", t_oversize},
        {"trailing", t_trailing},
        {"nul", t_nul},
        {"escaped-nul", t_escaped_nul},
        {"missing", t_missing},
        {"not-object", t_not_object},
        {"policy", t_policy},
        {"metrics", t_metrics},
        {"cosched-keys-elsewhere", t_cosched_keys_elsewhere},
};

int main(int argc, char **argv)
{
	return run_cases(argc, argv, cases, NCASES(cases));
}
