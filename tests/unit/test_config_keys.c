/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_config_keys.c - the configuration key table
 * (daemon/config.c) against what it drives and what documents it:
 *
 *   table    every key's range, default and field are consistent, and
 *            parsing and its error messages follow the table's range;
 *   example  contrib/pvschedd.conf.example is what the table generates
 *            (regenerate: ninja -C BUILD conf-example, which runs this
 *            program with --write-example FILE);
 *   man      pvschedd(8) documents exactly the table's keys, each section's
 *            own, with the table's range and default.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "check.h"
#include "config.h"
#include "testutil.h"

#ifndef PVS_SRCDIR
#error "PVS_SRCDIR: the source tree (tests/unit/meson.build)"
#endif
#define EXAMPLE_PATH PVS_SRCDIR "/contrib/pvschedd.conf.example"
#define MAN_PATH     PVS_SRCDIR "/docs/man/pvschedd.8"

static const struct pvs_config_key *keys;
static size_t nkeys;

static void load_keys(void)
{
	keys = pvs_config_keys(&nkeys);
}

/* ---------- a growing string ---------- */

struct text {
	char *s;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void tx_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	REQUIREQ(n >= 0);
	if (t->len + (size_t)n + 1 > t->cap) {
		t->cap = (t->len + (size_t)n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		REQUIREQ(t->s != NULL);
	}
	va_start(ap, fmt);
	vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/* ---------- the example file ---------- */

/* TEXT as "# " comment lines of at most 76 columns. */
static void comment(struct text *t, const char *text)
{
	const size_t width = 74;

	while (*text) {
		size_t n = strlen(text), cut = n;

		if (n > width) {
			for (cut = width; cut > 0 && text[cut] != ' '; cut--)
				;
			if (!cut)
				for (cut = width; text[cut] && text[cut] != ' '; cut++)
					;
		}
		n = cut;
		while (n && text[n - 1] == ' ')
			n--;
		tx_printf(t, "# %.*s\n", (int)n, text);
		text += cut;
		while (*text == ' ')
			text++;
	}
}

static const char *default_text(const struct pvs_config_key *k)
{
	return k->def ? k->def : k->def_doc;
}

/* K's paragraph and commented-out line, in [daemon] (DAEMON) or [vm NAME] */
static void example_key(struct text *t, const struct pvs_config_key *k, int daemon)
{
	struct text para = {0};
	char values[256];

	tx_printf(&para, "%s  Values: %s.", k->doc,
	          pvs_config_key_values(k, values, sizeof(values)));
	if (default_text(k))
		tx_printf(&para, "  Default: %s.", default_text(k));
	if (daemon && (k->scope & PVS_KEY_VM))
		tx_printf(&para, "  Also in [vm NAME] sections.");
	tx_printf(t, "\n");
	comment(t, para.s);
	tx_printf(t, "#%s = %s\n", k->name, k->def ? k->def : k->example);
	free(para.s);
}

/* contrib/pvschedd.conf.example, from the table */
static char *example(void)
{
	struct text t = {0}, pre = {0};

	tx_printf(&t, "# /etc/pvsched/pvschedd.conf - configuration of pvschedd(8).\n"
	              "#\n");
	comment(&t, "INI format: [daemon] and [vm NAME] sections only.  Comment lines start with "
	            "'#' or ';'; after a value, ' ;' (white space, then ';') starts a comment, '#' "
	            "does not.  Lines longer than 199 bytes are an error.  Every key is shown "
	            "commented out, with its default value, or with an example where it has "
	            "none.  Check a file with:");
	tx_printf(&t, "#   pvschedd -n -c FILE\n");
	comment(&t, "Reload a running daemon with:  systemctl reload pvschedd  (or SIGHUP).");
	tx_printf(&t, "#\n");
	comment(&t, "Generated from the key table in daemon/config.c (ninja -C BUILD "
	            "conf-example); tests/unit/test_config_keys.c checks it is up to date.");
	tx_printf(&t, "\n[daemon]\n");
	for (size_t i = 0; i < nkeys; i++)
		if (keys[i].scope & PVS_KEY_DAEMON)
			example_key(&t, &keys[i], 1);

	tx_printf(&t, "\n");
	tx_printf(&pre,
	          "Per-VM sections.  A [vm NAME] section declares a process VM: a process whose "
	          "threads play vCPUs, with the region region_dir/pvsched-NAME (or region=); one "
	          "of pid= or pidfile= is required.  A section with only tuning keys (boost, "
	          "co-scheduling) sets them for the VM of that name, whether QEMU was discovered "
	          "or a process was attached with pvschedctl attach --name NAME.  NAME: 1-%d of "
	          "[A-Za-z0-9._-], unique in the file; at most %d sections.",
	          PVS_NAME_MAX - 1, PVS_MAX_CONFIG_VMS);
	comment(&t, pre.s);
	free(pre.s);
	tx_printf(&t, "#\n#[vm batch1]\n");
	for (size_t i = 0; i < nkeys; i++)
		if (keys[i].scope == PVS_KEY_VM)
			example_key(&t, &keys[i], 0);
	tx_printf(&t, "\n");
	comment(&t, "As in [daemon], for this VM only (default: as in [daemon]):");
	for (size_t i = 0; i < nkeys; i++)
		if (keys[i].scope == (PVS_KEY_DAEMON | PVS_KEY_VM))
			tx_printf(&t, "#%s = %s\n", keys[i].name, keys[i].example);
	return t.s;
}

static void t_example(void)
{
	char *want = example(), *have = (char *)tu_read_file(EXAMPLE_PATH, NULL);
	const char *w = want, *h = have;
	int line = 1;

	REQUIRE(have != NULL);
	while (*w && *w == *h) {
		line += *w == '\n';
		w++;
		h++;
	}
	CHECKM(!*w && !*h,
	       "%s is what the key table generates (first difference at line %d: have \"%.60s\", "
	       "want \"%.60s\"; regenerate with ninja -C BUILD conf-example)",
	       EXAMPLE_PATH, line, h, w);
	free(want);
	free(have);
}

/* ---------- the table itself ---------- */

static const struct pvs_config_key *key(const char *name)
{
	for (size_t i = 0; i < nkeys; i++)
		if (!strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

/* Load "[SECTION]\nNAME = VALUE\n" (a [vm] section with pid = 1 first):
 * 0, or -EINVAL with the error's text after "FILE:LINE: " in MSG. */
static int load_one(struct pvs_config *c, unsigned scope, const char *name, const char *value,
                    char *msg, size_t len)
{
	static int n;
	char err[512], body[512];
	const char *path = tu_path("k%d.conf", ++n), *colon;
	int rc;

	snprintf(body, sizeof(body), "%s%s = %s\n",
	         scope == PVS_KEY_VM ? "[vm a]\npid = 1\n" : "[daemon]\n", name, value);
	REQUIREQ(tu_write_str(path, body) == 0);
	err[0] = 0;
	rc = pvs_config_load(c, path, 1, err, sizeof(err));
	colon = strstr(err, ".conf:");
	colon = colon ? strchr(colon + 6, ':') : NULL;
	snprintf(msg, len, "%s", colon ? colon + 2 : err);
	unlink(path);
	return rc;
}

static void t_table(void)
{
	static struct pvs_config c, d;

	for (size_t i = 0; i < nkeys; i++) {
		const struct pvs_config_key *k = &keys[i];

		CHECKQM(k->scope && !(k->scope & ~(PVS_KEY_DAEMON | PVS_KEY_VM)), "%s: scope",
		        k->name);
		CHECKQM(key(k->name) == k, "%s: named once", k->name);
		CHECKQM(k->doc && k->doc[0], "%s: described", k->name);
		CHECKQM(!(k->scope & PVS_KEY_DAEMON) || k->def || k->def_doc,
		        "%s: a [daemon] key has a default, or says what it is", k->name);
		CHECKQM(!k->def || (k->scope & PVS_KEY_DAEMON), "%s: a default only in [daemon]",
		        k->name);
		CHECKQM(k->def || k->example, "%s: a default or an example for the example file",
		        k->name);
		CHECKQM(!(k->scope & PVS_KEY_VM) || k->example, "%s: an example for [vm NAME]",
		        k->name);
		CHECKQM(k->min <= k->max, "%s: min <= max", k->name);
		CHECKQM(k->type != PVS_KEY_ENUM || (k->names && k->names(0)), "%s: enum names",
		        k->name);
		switch (k->type) {
		case PVS_KEY_U32:
		case PVS_KEY_MILLI: CHECKQM(k->size == sizeof(uint32_t), "%s: u32", k->name); break;
		case PVS_KEY_INT:
		case PVS_KEY_ONOFF:
		case PVS_KEY_ENUM: CHECKQM(k->size == sizeof(int), "%s: int", k->name); break;
		case PVS_KEY_SIZE: CHECKQM(k->size == sizeof(size_t), "%s: size_t", k->name); break;
		case PVS_KEY_MODE: CHECKQM(k->size == sizeof(mode_t), "%s: mode_t", k->name); break;
		case PVS_KEY_USER: CHECKQM(k->size == sizeof(uid_t), "%s: uid_t", k->name); break;
		case PVS_KEY_GROUP: CHECKQM(k->size == sizeof(gid_t), "%s: gid_t", k->name); break;
		case PVS_KEY_CPUS:
			CHECKQM(k->size == 16 * sizeof(uint64_t), "%s: mask", k->name);
			break;
		case PVS_KEY_PATH:
			CHECKQM(k->max >= 0 && (size_t)k->max <= k->size, "%s: path bound",
			        k->name);
			break;
		case PVS_KEY_STR:
		case PVS_KEY_SAMPLER: break;
		}
	}
	NOTE("%zu keys", nkeys);

	NOTE("every default, written in a file, gives the defaults");
	{
		struct text t = {0};
		char err[512];
		const char *path = tu_path("defaults.conf");

		tx_printf(&t, "[daemon]\n");
		for (size_t i = 0; i < nkeys; i++)
			if (keys[i].def)
				tx_printf(&t, "%s = %s\n", keys[i].name, keys[i].def);
		REQUIRE(tu_write_str(path, t.s) == 0);
		free(t.s);
		CHECK_EQ(pvs_config_load(&c, path, 1, err, sizeof(err)), 0);
		pvs_config_defaults(&d);
		memcpy(d.path, c.path, sizeof(d.path));
		d.gen = c.gen; /* which load it was */
		CHECK(!memcmp(&c, &d, sizeof(c)));
	}

	NOTE("numeric keys: the range's ends accepted, one past them refused with the range");
	for (size_t i = 0; i < nkeys; i++) {
		const struct pvs_config_key *k = &keys[i];
		unsigned scope = k->scope & PVS_KEY_DAEMON ? PVS_KEY_DAEMON : PVS_KEY_VM;
		char lo[32], hi[32], below[32], above[32], msg[300], want[300], values[160];

		if (k->type != PVS_KEY_U32 && k->type != PVS_KEY_INT)
			continue;
		snprintf(lo, sizeof(lo), "%lld", k->min);
		snprintf(hi, sizeof(hi), "%lld", k->max);
		snprintf(below, sizeof(below), "%lld", k->min - 1);
		snprintf(above, sizeof(above), "%lld", k->max + 1);
		/* (cosched_priority must be below boost_priority: the other
		 * one's default refuses these two ends) */
		if (strcmp(k->name, "boost_priority"))
			CHECKQM(load_one(&c, scope, k->name, lo, msg, sizeof(msg)) == 0,
			        "%s = %s: %s", k->name, lo, msg);
		if (strcmp(k->name, "cosched_priority"))
			CHECKQM(load_one(&c, scope, k->name, hi, msg, sizeof(msg)) == 0,
			        "%s = %s: %s", k->name, hi, msg);
		snprintf(want, sizeof(want), "%s '%s': expected %s", k->name, above,
		         k->expect ? k->expect : pvs_config_key_values(k, values, sizeof(values)));
		CHECKQM(load_one(&c, scope, k->name, above, msg, sizeof(msg)) == -EINVAL &&
		                !strcmp(msg, want),
		        "%s = %s: \"%s\", want \"%s\"", k->name, above, msg, want);
		if (k->min > 0 || k->type == PVS_KEY_INT) {
			snprintf(want, sizeof(want), "%s '%s': expected %s", k->name, below,
			         k->expect ? k->expect
			                   : pvs_config_key_values(k, values, sizeof(values)));
			CHECKQM(load_one(&c, scope, k->name, below, msg, sizeof(msg)) == -EINVAL &&
			                !strcmp(msg, want),
			        "%s = %s: \"%s\", want \"%s\"", k->name, below, msg, want);
		}
	}
	CHECK(key("period_ms") && key("shares") && key("pid"));

	NOTE("what errors say (the values come from the table)");
	{
		static const struct {
			unsigned scope;
			const char *name, *value, *msg;
		} c2[] = {
		        {PVS_KEY_DAEMON, "period_ms", "0.4", "period_ms '0.4': expected 0.5..1000"},
		        {PVS_KEY_DAEMON, "hysteresis", "1",
		         "hysteresis '1': expected 0..0.5 (vCPUs)"},
		        {PVS_KEY_DAEMON, "region_size", "3K",
		         "region_size '3K': expected a power of two, 8K..1G"},
		        {PVS_KEY_DAEMON, "region_mode", "8",
		         "region_mode '8': expected octal like 0660"},
		        {PVS_KEY_DAEMON, "boost_policy", "x",
		         "boost_policy 'x': expected fifo, rr or nice"},
		        {PVS_KEY_DAEMON, "cosched", "x",
		         "cosched 'x': expected none, spread, dedicated, gang or relaxed"},
		        {PVS_KEY_DAEMON, "boost", "x", "boost 'x': expected on or off"},
		        {PVS_KEY_DAEMON, "socket", "x",
		         "socket 'x': expected an absolute path under 108 bytes"},
		        {PVS_KEY_DAEMON, "ivshmem_socket", "x",
		         "ivshmem_socket 'x': expected an absolute path under 108 bytes or 'none'"},
		        {PVS_KEY_DAEMON, "journal", "x", "journal 'x': expected an absolute path"},
		        {PVS_KEY_DAEMON, "reserved_cpus", "x",
		         "reserved_cpus 'x': expected a CPU list such as 0-1,4"},
		        {PVS_KEY_DAEMON, "region_owner", "no_such_user_pvs",
		         "region_owner 'no_such_user_pvs': no such user"},
		        {PVS_KEY_DAEMON, "pid", "1", "unknown key 'pid' in [daemon]"},
		        {PVS_KEY_VM, "pid", "x", "pid 'x': expected a process id"},
		        {PVS_KEY_VM, "cpus", "4-3",
		         "cpus '4-3': expected a CPU list such as 0-3,8"},
		        {PVS_KEY_VM, "cgroup", "x",
		         "cgroup 'x': expected none or a cgroup directory's absolute path"},
		        {PVS_KEY_VM, "threads",
		         "0123456789012345678901234567890123456789012345678901234567890123",
		         "threads: pattern too long"},
		        {PVS_KEY_VM, "period_ms", "1", "unknown key 'period_ms' in [vm a]"},
		};
		char msg[300];

		for (size_t i = 0; i < NCASES(c2); i++) {
			int rc = load_one(&c, c2[i].scope, c2[i].name, c2[i].value, msg,
			                  sizeof(msg));
			CHECKM(rc == -EINVAL && !strcmp(msg, c2[i].msg), "%s = %s: \"%s\"",
			       c2[i].name, c2[i].value, msg);
		}
	}
}

/* ---------- pvschedd(8) ---------- */

/* One space, not two */
static void space(struct text *t)
{
	if (t->len && t->s[t->len - 1] != ' ')
		tx_printf(t, " ");
}

/* One roff line as text: font escapes and quotes gone, "\-" a "-", the
 * arguments of .BR/.IR/... run together, those of .B/.I spaced. */
static void roff_text(const char *line, struct text *out)
{
	int alternate = 0, macro = line[0] == '.';
	const char *s = line;

	if (macro) {
		size_t n = strcspn(s + 1, " ");

		alternate = n == 2 && strchr("BIR", s[1]) && strchr("BIR", s[2]);
		if (!(n == 1 && strchr("BI", s[1])) && !alternate)
			return; /* .TP, .PP, .br, ... */
		s += 1 + n;
	}
	space(out);
	for (int quoted = 0; *s; s++) {
		if (*s == '\\') {
			s++;
			if (*s == 'f')
				s++; /* \fB \fI \fR \fP */
			else if (*s == '-' || *s == 'e')
				tx_printf(out, "%c", *s == 'e' ? '\\' : '-');
			else if (*s == '(' && s[1] && s[2])
				s += 2; /* \(bu */
			else if (!*s)
				break;
			/* \& and others: nothing */
		} else if (macro && *s == '"') {
			quoted = !quoted;
		} else if (macro && *s == ' ' && !quoted) {
			if (!alternate)
				space(out);
		} else {
			tx_printf(out, "%c", *s);
		}
	}
}

struct man_entry {
	char keys[8][32];
	int nkeys;
	int has_value; /* a ".BI key " = " value" tag */
	struct text text;
};

/* The entries (.TP tag, text) of man section .SS "SECTION" in MAN. */
static int man_entries(const char *man, const char *section, struct man_entry *e, int max)
{
	char header[64];
	const char *s;
	int n = -1;

	snprintf(header, sizeof(header), ".SS \"%s\"\n", section);
	s = strstr(man, header);
	if (!s)
		return 0;
	s = strchr(s, '\n') + 1;
	while (*s && strncmp(s, ".SS", 3) && strncmp(s, ".SH", 3)) {
		const char *end = strchr(s, '\n');
		char line[512];

		snprintf(line, sizeof(line), "%.*s", (int)(end ? end - s : (long)strlen(s)), s);
		s = end ? end + 1 : s + strlen(s);
		if (!strcmp(line, ".TP") && n + 1 < max) {
			/* the tag: ".BI key " = " value" or ".BR a ", " b ..." */
			const char *tag = s, *p;

			end = strchr(s, '\n');
			snprintf(line, sizeof(line), "%.*s", (int)(end ? end - s : (long)strlen(s)),
			         s);
			s = end ? end + 1 : s + strlen(s);
			e[++n] = (struct man_entry){0};
			e[n].has_value = strstr(line, "\" = \"") != NULL;
			for (p = strchr(tag, ' '); p && p < end && e[n].nkeys < 8;) {
				size_t k;

				p += strspn(p, " \",");
				k = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
				if (!k)
					break;
				snprintf(e[n].keys[e[n].nkeys++], 32, "%.*s", (int)k, p);
				if (e[n].has_value)
					break;
				p += k;
			}
			tx_printf(&e[n].text, "%s", "");
		} else if (n >= 0) {
			roff_text(line, &e[n].text);
		}
	}
	return n + 1;
}

/* HAY says NEEDLE, not as part of a longer number or word */
static int says(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) {
		int before = p > hay && (isalnum((unsigned char)p[-1]) || p[-1] == '.');
		int after = isalnum((unsigned char)p[n]) || p[n] == '_';

		if (!before && !after)
			return 1;
	}
	return 0;
}

/* MIN to MAX as pvschedd(8) says a range ("0.5 to 1000", "8K to 1G") */
static void man_range(const struct pvs_config_key *k, char *buf, size_t len)
{
	char values[160], *dots, *from;

	pvs_config_key_values(k, values, sizeof(values));
	dots = strstr(values, "..");
	if (!dots) {
		buf[0] = 0;
		return;
	}
	*dots = 0;
	from = strrchr(values, ' ');
	from = from ? from + 1 : values;
	snprintf(buf, len, "%s to %.*s", from, (int)strcspn(dots + 2, " "), dots + 2);
}

static void check_man_section(const char *man, const char *section, unsigned scope)
{
	struct man_entry e[64];
	int n = man_entries(man, section, e, 64);

	NOTE("%s in pvschedd(8): %d entries", section, n);
	CHECK(n > 0);
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < e[i].nkeys; j++) {
			const struct pvs_config_key *k = key(e[i].keys[j]);

			CHECKM(k && (k->scope & scope), "%s in pvschedd(8)'s %s is such a key",
			       e[i].keys[j], section);
			for (int a = 0; a < n; a++)
				for (int b = 0; b < e[a].nkeys; b++)
					CHECKQM((a == i && b == j) ||
					                strcmp(e[a].keys[b], e[i].keys[j]),
					        "%s documented once in %s", e[i].keys[j], section);
			if (!k || !e[i].has_value)
				continue;
			char range[200], want[300];

			man_range(k, range, sizeof(range));
			CHECKQM(!range[0] || says(e[i].text.s, range),
			        "pvschedd(8) gives %s's range \"%s\": %s", k->name, range,
			        e[i].text.s);
			if (default_text(k)) {
				int ok;

				snprintf(want, sizeof(want), "Default %s", default_text(k));
				ok = says(e[i].text.s, want);
				snprintf(want, sizeof(want), "Default: %s", default_text(k));
				ok = ok || says(e[i].text.s, want);
				CHECKQM(ok, "pvschedd(8) gives %s's default \"%s\": %s", k->name,
				        default_text(k), e[i].text.s);
			}
		}
	}
	for (size_t i = 0; i < nkeys; i++) {
		int found = 0;

		if (!(keys[i].scope & scope))
			continue;
		for (int a = 0; a < n; a++)
			for (int b = 0; b < e[a].nkeys; b++)
				found |= !strcmp(e[a].keys[b], keys[i].name);
		CHECKM(found, "pvschedd(8) documents %s in %s", keys[i].name, section);
	}
	for (int i = 0; i < n; i++)
		free(e[i].text.s);
}

static void t_man(void)
{
	char *man = (char *)tu_read_file(MAN_PATH, NULL);

	REQUIRE(man != NULL);
	check_man_section(man, "[daemon]", PVS_KEY_DAEMON);
	check_man_section(man, "[vm NAME]", PVS_KEY_VM);
	free(man);
}

static const struct tcase cases[] = {
        {"table", t_table},
        {"example", t_example},
        {"man", t_man},
};

int main(int argc, char **argv)
{
	load_keys();
	if (argc == 3 && !strcmp(argv[1], "--write-example")) {
		char *text = example();
		FILE *f = fopen(argv[2], "we");

		if (!f || fputs(text, f) == EOF || fclose(f)) {
			perror(argv[2]);
			return 1;
		}
		free(text);
		return 0;
	}
	return run_cases(argc, argv, cases, NCASES(cases));
}
