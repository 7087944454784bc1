/* SPDX-License-Identifier: MIT */
/* daemon/config.c - INI configuration (see pvschedd(8) for the keys). */
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvsched/abi.h>

#include "config.h"
#include "cosched.h"
#include "names.h"
#include "sampler.h"

void pvs_config_defaults(struct pvs_config *c)
{
	memset(c, 0, sizeof(*c));
	c->period_us = 10000;
	c->rescan_ms = 2000;   /* bench/overhead: 1 s costs 0.2% of a core at 256 vCPUs */
	c->window_us = 100000; /* docs/policy.md: why 100 ms */
	c->hysteresis_milli = 150;
	snprintf(c->socket, sizeof(c->socket), "%s", PVS_DEFAULT_SOCKET);
	c->socket_gid = (gid_t)-1;
	snprintf(c->region_dir, sizeof(c->region_dir), "/dev/shm");
	c->region_size = PVSCHED_REGION_DEFAULT_SIZE;
	c->doorbell_max_hz = 2000;
	c->region_mode = 0660;
	c->region_uid = (uid_t)-1;
	c->region_gid = (gid_t)-1;
	snprintf(c->qemu_comm, sizeof(c->qemu_comm), "qemu*,kvm");
	snprintf(c->sampler, sizeof(c->sampler), "auto");
	snprintf(c->journal, sizeof(c->journal), "%s", PVS_DEFAULT_JOURNAL);
	/* boosting is opt-in: it lets guests put host threads in the RT class */
	c->boost.enabled = 0;
	c->boost.how = PVS_BOOST_FIFO;
	c->boost.priority = 10;
	c->boost.nice = -10;
	c->boost.scan_us = 500;
	c->boost.max_ms = 20;
	c->boost.budget_pct = 50;
	c->boost.window_ms = 1000;
	c->boost.lead_us = 100;
	c->boost.hold_us = 300;
	c->boost.linger_us = 2000;
	c->boost.max_changes = 2000;
	/* co-scheduling: opt-in per VM or for all (docs/cosched.md) */
	c->cosched.policy = PVS_CS_NONE;
	c->cosched.shares = 1000;
	c->cosched.slice_ms = 10;
	c->cosched.priority = 5;
	c->cosched.rt_pct = 90; /* 5 points below the kernel's 95 % (cosched.c) */
	c->cosched.skew_ms = 20;
	c->metrics_interval_ms = 5000;
}

const char *pvs_config_ivshmem_socket(const struct pvs_config *c, char *buf, size_t len)
{
	const char *slash = strrchr(c->socket, '/');

	if (!strcmp(c->ivshmem_socket, "none"))
		snprintf(buf, len, "%s", "");
	else if (c->ivshmem_socket[0])
		snprintf(buf, len, "%s", c->ivshmem_socket);
	else if (slash && (size_t)(slash - c->socket) + sizeof("/ivshmem.sock") <= 108)
		snprintf(buf, len, "%.*s/ivshmem.sock", (int)(slash - c->socket), c->socket);
	else
		snprintf(buf, len, "%s", "");
	return buf;
}

#define VM_HASH_SIZE (sizeof(((struct pvs_config *)0)->vm_hash) / sizeof(uint16_t))

static uint32_t vm_hash(const char *name)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h;
}

static void vm_hash_add(struct pvs_config *c, size_t i)
{
	uint32_t h = vm_hash(c->vms[i].name);

	while (c->vm_hash[h % VM_HASH_SIZE])
		h++;
	c->vm_hash[h % VM_HASH_SIZE] = (uint16_t)(i + 1);
	c->vm_hashed++;
}

const struct pvs_config_vm *pvs_config_vm_find(const struct pvs_config *c, const char *name)
{
	if (c->vm_hashed != c->nr_vms) {
		/* a configuration not built by pvs_config_load() */
		for (size_t i = 0; i < c->nr_vms; i++)
			if (!strcmp(c->vms[i].name, name))
				return &c->vms[i];
		return NULL;
	}
	for (uint32_t h = vm_hash(name);; h++) {
		uint16_t e = c->vm_hash[h % VM_HASH_SIZE];

		if (!e)
			return NULL;
		if (!strcmp(c->vms[e - 1].name, name))
			return &c->vms[e - 1];
	}
}

/* 1 (on) or 0 (off), or -EINVAL. */
static int parse_onoff(const char *v)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		return 1;
	if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		return 0;
	return -EINVAL;
}

uint32_t pvs_config_stale_after_us(const struct pvs_config *c)
{
	uint64_t v = c->stale_after_us;

	if (!v) {
		/* ten missed periods, but never under 250 ms: a guest should not
		 * call a host dead because the host was itself preempted for a
		 * while (seen at load averages far above the CPU count) */
		v = (uint64_t)c->period_us * 10;
		if (v < 250000)
			v = 250000;
	}
	if (v < c->period_us)
		v = c->period_us;
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

int pvs_parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return errno == ERANGE ? -ERANGE : -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	default: break;
	}
	if (v > (ULLONG_MAX >> shift) || (v << shift) > SIZE_MAX)
		return -ERANGE; /* the suffix would wrap it around */
	v <<= shift;
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end)
		return -EINVAL;
	*out = (size_t)v;
	return 0;
}

struct parse_ctx {
	struct pvs_config *c;
	FILE *f;
	int line; /* lines handed to inih so far = the line being parsed */
	int bad_line;
	char msg[256];
	int bad;
	int keys;                 /* keys since the last section header */
	struct pvs_config_vm *vm; /* the [vm NAME] section being read */
};

static int bad(struct parse_ctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int copy_str(char *dst, size_t n, const char *v);

/* A section header S ("[name]..."): inih calls handlers only for keys, so
 * sections are checked and [vm NAME]s declared here, when the header is
 * read: an empty section is still checked, the same [vm NAME] twice in a
 * row is a duplicate (not one section continued), errors name the header. */
static void section_start(struct parse_ctx *p, const char *s)
{
	struct pvs_config *c = p->c;
	char name[128];
	const char *e = strchr(s, ']');
	size_t n = e ? (size_t)(e - s - 1) : 0;

	p->vm = NULL;
	p->keys = 0;
	if (!e || n >= sizeof(name))
		return; /* inih reports the syntax error */
	memcpy(name, s + 1, n);
	name[n] = 0;
	if (!strcmp(name, "daemon"))
		return;
	if (strncmp(name, "vm ", 3)) {
		bad(p, "unknown section [%s] (expected [daemon] or [vm NAME])", name);
		return;
	}
	if (!pvs_valid_vm_name(name + 3)) {
		bad(p, "[%s]: name must be 1-31 of [A-Za-z0-9._-]", name);
		return;
	}
	for (size_t i = 0; i < c->nr_vms; i++) {
		if (!strcmp(c->vms[i].name, name + 3)) {
			bad(p, "[%s]: declared twice (first at line %d)", name, c->vms[i].line);
			return;
		}
	}
	if (c->nr_vms == PVS_MAX_CONFIG_VMS) {
		bad(p, "too many [vm] sections (max %d)", PVS_MAX_CONFIG_VMS);
		return;
	}
	p->vm = &c->vms[c->nr_vms++];
	memset(p->vm, 0, sizeof(*p->vm));
	p->vm->boost = -1;
	p->vm->cosched = -1;
	copy_str(p->vm->name, sizeof(p->vm->name), name + 3);
	p->vm->line = p->line;
	vm_hash_add(c, c->nr_vms - 1);
}

/* inih reads one line per reader call: counting calls gives handlers the
 * line number the distribution's inih build does not pass them. */
static char *counting_reader(char *str, int num, void *stream)
{
	struct parse_ctx *p = stream;
	char *r = fgets(str, num, p->f);
	const char *s = str;
	size_t len;

	if (!r)
		return NULL;
	p->line++;
	/* A line longer than inih's buffer (INI_MAX_LINE, 200 in Debian's
	 * build): inih would take its rest for a line of its own, silently
	 * truncating the value or failing on the next line number. */
	len = strlen(r);
	if (len && r[len - 1] != '\n') {
		int ch = getc(p->f);

		if (ch != EOF && ch != '\n') {
			bad(p, "line longer than %d bytes", num - 1);
			while ((ch = getc(p->f)) != EOF && ch != '\n')
				;
			return r;
		}
	}
	if (p->line == 1 && !memcmp(s, "\xef\xbb\xbf", 3))
		s += 3; /* inih skips a UTF-8 BOM */
	while (*s == ' ' || *s == '\t')
		s++;
	/* (inih: an indented line after a key continues that key's value) */
	if (*s == '[' && !p->bad && (s == str || p->keys == 0))
		section_start(p, s);
	return r;
}

static int bad(struct parse_ctx *p, const char *fmt, ...)
{
	va_list ap;

	if (!p->bad) {
		va_start(ap, fmt);
		vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
		va_end(ap);
		p->bad_line = p->line;
	}
	p->bad = 1;
	return 0; /* inih: stop and report this line */
}

static int parse_u32(const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || end == v || *end || *v == '-')
		return -EINVAL;
	if (x < min || x > max)
		return -ERANGE;
	*out = (uint32_t)x;
	return 0;
}

static int parse_milli(const char *v, uint32_t max_milli, uint32_t *out)
{
	char *end;
	double x;

	errno = 0;
	x = strtod(v, &end);
	if (errno || end == v || *end)
		return -EINVAL;
	if (x < 0 || x * 1000.0 > max_milli)
		return -ERANGE;
	*out = (uint32_t)(x * 1000.0 + 0.5);
	return 0;
}

static int copy_str(char *dst, size_t n, const char *v)
{
	if (strlen(v) >= n)
		return -ENAMETOOLONG;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int lookup_gid(const char *v, gid_t *out)
{
	struct group *g = getgrnam(v);
	uint32_t x;

	if (g) {
		*out = g->gr_gid;
		return 0;
	}
	if (parse_u32(v, 0, UINT32_MAX - 1, &x) == 0) {
		*out = (gid_t)x;
		return 0;
	}
	return -ENOENT;
}

static int daemon_key(struct parse_ctx *p, const char *k, const char *v)
{
	struct pvs_config *c = p->c;
	uint32_t x;

	if (!strcmp(k, "period_ms")) {
		/* accepts fractions: 0.5 = 500 us */
		if (parse_milli(v, 1000u * 1000u, &x) || x < 500)
			return bad(p, "period_ms '%s': expected 0.5..1000", v);
		c->period_us = x;
	} else if (!strcmp(k, "rescan_ms")) {
		if (parse_u32(v, 10, 600000, &c->rescan_ms))
			return bad(p, "rescan_ms '%s': expected 10..600000", v);
	} else if (!strcmp(k, "window_ms")) {
		if (parse_milli(v, 60000u * 1000u, &x) || x < 1000)
			return bad(p, "window_ms '%s': expected 1..60000", v);
		c->window_us = x;
	} else if (!strcmp(k, "hysteresis")) {
		if (parse_milli(v, 500, &c->hysteresis_milli))
			return bad(p, "hysteresis '%s': expected 0..0.5 (vCPUs)", v);
	} else if (!strcmp(k, "stale_after_ms")) {
		if (parse_u32(v, 1, 60000, &x))
			return bad(p, "stale_after_ms '%s': expected 1..60000", v);
		c->stale_after_us = x * 1000;
	} else if (!strcmp(k, "socket")) {
		if (v[0] != '/' || copy_str(c->socket, sizeof(c->socket), v) || strlen(v) >= 108)
			return bad(p, "socket '%s': expected an absolute path under 108 bytes", v);
	} else if (!strcmp(k, "socket_group")) {
		if (lookup_gid(v, &c->socket_gid))
			return bad(p, "socket_group '%s': no such group", v);
	} else if (!strcmp(k, "ivshmem_socket")) {
		if ((strcmp(v, "none") && v[0] != '/') || strlen(v) >= 108 ||
		    copy_str(c->ivshmem_socket, sizeof(c->ivshmem_socket), v))
			return bad(p,
			           "ivshmem_socket '%s': expected an absolute path under 108 bytes "
			           "or 'none'",
			           v);
	} else if (!strcmp(k, "doorbell_max_hz")) {
		if (parse_u32(v, 10, 1000000, &c->doorbell_max_hz))
			return bad(p, "doorbell_max_hz '%s': expected 10..1000000", v);
	} else if (!strcmp(k, "region_dir")) {
		if (v[0] != '/' || copy_str(c->region_dir, sizeof(c->region_dir) - 64, v))
			return bad(p, "region_dir '%s': expected an absolute path", v);
	} else if (!strcmp(k, "region_size")) {
		size_t s;
		if (pvs_parse_size(v, &s) || s < PVSCHED_REGION_MIN_SIZE ||
		    s > PVSCHED_REGION_MAX_SIZE || (s & (s - 1)))
			return bad(p, "region_size '%s': expected a power of two, 8K..1G", v);
		c->region_size = s;
	} else if (!strcmp(k, "region_mode")) {
		char *end;
		unsigned long m = strtoul(v, &end, 8);
		if (end == v || *end || m > 0777)
			return bad(p, "region_mode '%s': expected octal like 0660", v);
		c->region_mode = (mode_t)m;
	} else if (!strcmp(k, "region_owner")) {
		struct passwd *pw = getpwnam(v);
		if (pw)
			c->region_uid = pw->pw_uid;
		else if (parse_u32(v, 0, UINT32_MAX - 1, &x) == 0)
			c->region_uid = (uid_t)x;
		else
			return bad(p, "region_owner '%s': no such user", v);
	} else if (!strcmp(k, "region_group")) {
		if (lookup_gid(v, &c->region_gid))
			return bad(p, "region_group '%s': no such group", v);
	} else if (!strcmp(k, "qemu_comm")) {
		if (copy_str(c->qemu_comm, sizeof(c->qemu_comm), v))
			return bad(p, "qemu_comm: too long");
	} else if (!strcmp(k, "boost")) {
		if ((c->boost.enabled = parse_onoff(v)) < 0)
			return bad(p, "boost '%s': expected on or off", v);
	} else if (!strcmp(k, "boost_policy")) {
		if (!strcmp(v, "fifo"))
			c->boost.how = PVS_BOOST_FIFO;
		else if (!strcmp(v, "rr"))
			c->boost.how = PVS_BOOST_RR;
		else if (!strcmp(v, "nice"))
			c->boost.how = PVS_BOOST_NICE;
		else
			return bad(p, "boost_policy '%s': expected fifo, rr or nice", v);
	} else if (!strcmp(k, "boost_priority")) {
		/* the daemon runs one above: 98 at most */
		if (parse_u32(v, 1, 97, &c->boost.priority))
			return bad(p, "boost_priority '%s': expected 1..97", v);
	} else if (!strcmp(k, "boost_nice")) {
		char *end;
		long n = strtol(v, &end, 10);
		if (end == v || *end || n < -20 || n > 19)
			return bad(p, "boost_nice '%s': expected -20..19", v);
		c->boost.nice = (int)n;
	} else if (!strcmp(k, "boost_scan_us")) {
		if (parse_u32(v, 100, 100000, &c->boost.scan_us))
			return bad(p, "boost_scan_us '%s': expected 100..100000", v);
	} else if (!strcmp(k, "boost_max_ms")) {
		if (parse_u32(v, 1, 10000, &c->boost.max_ms))
			return bad(p, "boost_max_ms '%s': expected 1..10000", v);
	} else if (!strcmp(k, "boost_budget_pct")) {
		if (parse_u32(v, 1, 100, &c->boost.budget_pct))
			return bad(p, "boost_budget_pct '%s': expected 1..100", v);
	} else if (!strcmp(k, "boost_window_ms")) {
		if (parse_u32(v, 10, 60000, &c->boost.window_ms))
			return bad(p, "boost_window_ms '%s': expected 10..60000", v);
	} else if (!strcmp(k, "boost_lead_us")) {
		if (parse_u32(v, 0, 100000, &c->boost.lead_us))
			return bad(p, "boost_lead_us '%s': expected 0..100000", v);
	} else if (!strcmp(k, "boost_hold_us")) {
		if (parse_u32(v, 1, 1000000, &c->boost.hold_us))
			return bad(p, "boost_hold_us '%s': expected 1..1000000", v);
	} else if (!strcmp(k, "boost_linger_us")) {
		if (parse_u32(v, 0, 1000000, &c->boost.linger_us))
			return bad(p, "boost_linger_us '%s': expected 0..1000000", v);
	} else if (!strcmp(k, "boost_max_changes")) {
		if (parse_u32(v, 1, 1000000, &c->boost.max_changes))
			return bad(p, "boost_max_changes '%s': expected 1..1000000", v);
	} else if (!strcmp(k, "cosched")) {
		int pol = pvs_cs_policy_parse(v);
		if (pol < 0)
			return bad(p, "cosched '%s': expected %s", v, PVS_CS_POLICY_NAMES);
		c->cosched.policy = pol;
	} else if (!strcmp(k, "shares")) {
		if (parse_u32(v, PVS_CS_SHARES_MIN, PVS_CS_SHARES_MAX, &c->cosched.shares))
			return bad(p, "shares '%s': expected %u..%u", v, PVS_CS_SHARES_MIN,
			           PVS_CS_SHARES_MAX);
	} else if (!strcmp(k, "cosched_slice_ms")) {
		if (parse_u32(v, 1, 1000, &c->cosched.slice_ms))
			return bad(p, "cosched_slice_ms '%s': expected 1..1000", v);
	} else if (!strcmp(k, "cosched_priority")) {
		if (parse_u32(v, 1, 97, &c->cosched.priority))
			return bad(p, "cosched_priority '%s': expected 1..97", v);
	} else if (!strcmp(k, "cosched_rt_pct")) {
		if (parse_u32(v, 10, 100, &c->cosched.rt_pct))
			return bad(p, "cosched_rt_pct '%s': expected 10..100", v);
	} else if (!strcmp(k, "cosched_skew_ms")) {
		if (parse_u32(v, 1, 10000, &c->cosched.skew_ms))
			return bad(p, "cosched_skew_ms '%s': expected 1..10000", v);
	} else if (!strcmp(k, "reserved_cpus")) {
		if (pvs_parse_cpulist(v, c->cosched.reserved))
			return bad(p, "reserved_cpus '%s': expected a CPU list such as 0-1,4", v);
	} else if (!strcmp(k, "metrics_file")) {
		if (v[0] != '/' || copy_str(c->metrics_file, sizeof(c->metrics_file), v))
			return bad(p, "metrics_file '%s': expected an absolute path", v);
	} else if (!strcmp(k, "metrics_interval_ms")) {
		if (parse_u32(v, 100, 3600000, &c->metrics_interval_ms))
			return bad(p, "metrics_interval_ms '%s': expected 100..3600000", v);
	} else if (!strcmp(k, "journal")) {
		if (v[0] != '/' || copy_str(c->journal, sizeof(c->journal), v))
			return bad(p, "journal '%s': expected an absolute path", v);
	} else if (!strcmp(k, "sampler")) {
		if (strcmp(v, "auto") && !pvs_sampler_find(v))
			return bad(p,
			           "sampler '%s': expected auto or a built-in sampler (procfs%s)",
			           v, pvs_sampler_find("bpf") ? ", bpf" : "");
		copy_str(c->sampler, sizeof(c->sampler), v);
	} else {
		return bad(p, "unknown key '%s' in [daemon]", k);
	}
	return 1;
}

static int vm_key(struct parse_ctx *p, struct pvs_config_vm *vm, const char *k, const char *v)
{
	uint32_t x;

	if (!strcmp(k, "pid")) {
		if (parse_u32(v, 1, 4194304, &x))
			return bad(p, "pid '%s': expected a process id", v);
		vm->pid = (pid_t)x;
	} else if (!strcmp(k, "pidfile")) {
		if (v[0] != '/' || copy_str(vm->pidfile, sizeof(vm->pidfile), v))
			return bad(p, "pidfile '%s': expected an absolute path", v);
	} else if (!strcmp(k, "threads")) {
		if (copy_str(vm->threads, sizeof(vm->threads), v))
			return bad(p, "threads: pattern too long");
	} else if (!strcmp(k, "region")) {
		if (v[0] != '/' || copy_str(vm->region, sizeof(vm->region), v))
			return bad(p, "region '%s': expected an absolute path", v);
	} else if (!strcmp(k, "boost")) {
		if ((vm->boost = parse_onoff(v)) < 0)
			return bad(p, "boost '%s': expected on or off", v);
	} else if (!strcmp(k, "boost_max_ms")) {
		if (parse_u32(v, 1, 10000, &vm->boost_max_ms))
			return bad(p, "boost_max_ms '%s': expected 1..10000", v);
	} else if (!strcmp(k, "boost_budget_pct")) {
		if (parse_u32(v, 1, 100, &vm->boost_budget_pct))
			return bad(p, "boost_budget_pct '%s': expected 1..100", v);
	} else if (!strcmp(k, "cosched")) {
		if ((vm->cosched = pvs_cs_policy_parse(v)) < 0)
			return bad(p, "cosched '%s': expected %s", v, PVS_CS_POLICY_NAMES);
	} else if (!strcmp(k, "shares")) {
		if (parse_u32(v, PVS_CS_SHARES_MIN, PVS_CS_SHARES_MAX, &vm->shares))
			return bad(p, "shares '%s': expected %u..%u", v, PVS_CS_SHARES_MIN,
			           PVS_CS_SHARES_MAX);
	} else if (!strcmp(k, "cgroup")) {
		if ((v[0] != '/' && strcmp(v, "none")) ||
		    copy_str(vm->cgroup, sizeof(vm->cgroup), v))
			return bad(
			        p,
			        "cgroup '%s': expected none or a cgroup directory's absolute path",
			        v);
	} else if (!strcmp(k, "cpus")) {
		uint64_t none[16] = {0};
		if (pvs_parse_cpulist(v, vm->cpus) || !memcmp(vm->cpus, none, sizeof(none)))
			return bad(p, "cpus '%s': expected a CPU list such as 0-3,8", v);
	} else {
		return bad(p, "unknown key '%s' in [vm %s]", k, vm->name);
	}
	return 1;
}

/* inih's callback: nonzero to go on, 0 to stop at this line (bad() says why) */
static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *p = user;

	if (p->bad)
		return 0;
	p->keys++;
	if (!strcmp(section, "daemon")) {
		if (!name)
			return 1;
		return daemon_key(p, name, value);
	}
	if (!strncmp(section, "vm ", 3)) {
		/* declared by section_start() when its header was read */
		if (!p->vm || strcmp(p->vm->name, section + 3))
			return bad(p, "[%s]: key outside its section", section);
		if (!name)
			return 1;
		return vm_key(p, p->vm, name, value);
	}
	return bad(p, "unknown section [%s] (expected [daemon] or [vm NAME])", section);
}

int pvs_config_load(struct pvs_config *c, const char *path, int must_exist, char *err,
                    size_t errlen)
{
	struct parse_ctx p = {.c = c};
	FILE *f;
	int line;

	pvs_config_defaults(c);
	snprintf(c->path, sizeof(c->path), "%s", path);
	f = fopen(path, "re");
	if (!f) {
		int e = errno;

		if (!must_exist && e == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	p.f = f;
	line = ini_parse_stream(counting_reader, &p, handler, &p);
	fclose(f);
	if (line != 0 || p.bad) {
		if (p.bad)
			line = p.bad_line;
		if (line > 0)
			snprintf(err, errlen, "%s:%d: %s", path, line,
			         p.bad ? p.msg : "syntax error");
		else
			snprintf(err, errlen, "%s: %s", path, p.bad ? p.msg : "read error");
		return -EINVAL;
	}
	if (c->cosched.priority >= c->boost.priority) {
		snprintf(err, errlen,
		         "%s: cosched_priority %u must be below boost_priority %u (a boost wins "
		         "over a gang slice)",
		         path, c->cosched.priority, c->boost.priority);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->nr_vms; i++) {
		const struct pvs_config_vm *v = &c->vms[i];
		/* a section with only tuning keys (boost, co-scheduling) sets
		 * them for a discovered (QEMU) or attached VM of that name;
		 * otherwise it declares a process VM */
		uint64_t none[16] = {0};
		int tuning = v->boost >= 0 || v->boost_max_ms || v->boost_budget_pct ||
		             v->cosched >= 0 || v->shares || v->cgroup[0] ||
		             memcmp(v->cpus, none, sizeof(none));
		if (!v->pid && !v->pidfile[0] && (v->threads[0] || v->region[0] || !tuning)) {
			snprintf(err, errlen, "%s:%d: [vm %s]: needs pid= or pidfile=", path,
			         v->line, v->name);
			return -EINVAL;
		}
	}
	return 0;
}

int pvs_parse_cpulist(const char *s, uint64_t mask[16])
{
	memset(mask, 0, 16 * sizeof(uint64_t));
	if (!*s)
		return -EINVAL;
	for (;;) {
		char *end;
		unsigned long a, b;

		if (*s < '0' || *s > '9')
			return -EINVAL;
		a = strtoul(s, &end, 10);
		b = a;
		if (*end == '-') {
			s = end + 1;
			if (*s < '0' || *s > '9')
				return -EINVAL;
			b = strtoul(s, &end, 10);
		}
		if (a > b || b >= 1024)
			return -EINVAL;
		for (unsigned long c = a; c <= b; c++)
			mask[c / 64] |= 1ull << (c % 64);
		if (!*end)
			return 0;
		if (*end != ',')
			return -EINVAL;
		s = end + 1;
	}
}

const char *pvs_format_cpulist(const uint64_t mask[16], char *buf, size_t len)
{
	size_t o = 0;

	if (len)
		buf[0] = 0;
	for (unsigned c = 0; c < 1024; c++) {
		unsigned e;

		if (!(mask[c / 64] >> (c % 64) & 1))
			continue;
		for (e = c; e + 1 < 1024 && (mask[(e + 1) / 64] >> ((e + 1) % 64) & 1); e++)
			;
		if (o < len) {
			int n = e > c ? snprintf(buf + o, len - o, "%s%u-%u", o ? "," : "", c, e)
			              : snprintf(buf + o, len - o, "%s%u", o ? "," : "", c);
			o += n > 0 ? (size_t)n : 0;
		}
		c = e;
	}
	if (o >= len && len)
		buf[len - 1] = 0;
	return buf;
}
