/* SPDX-License-Identifier: MIT */
/*
 * tools/top.c - `pvschedctl top`: pvschedd's VMs and vCPUs, refreshed like
 * esxtop's CPU panel.
 *
 * Every refresh is one `status` request; the daemon computes the per-second
 * rates (%RUN, %RDY, %CSTP, %MLMTD, %BOOST), this file only sorts and
 * prints them.  On a terminal the frame is redrawn in place with plain ANSI
 * sequences (cursor home, erase to end of line / of screen: one write per
 * frame, no flicker) and keys are read in non-canonical mode; the terminal
 * is restored on exit, on SIGINT / SIGTERM / SIGHUP / SIGQUIT, on errors
 * and around a suspend (^Z).  Otherwise (or with -b) every refresh prints a
 * plain snapshot, snapshots separated by one blank line.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ctlclient.h"
#include "pvs_clock.h"
#include "pvs_fdio.h"
#include "top.h"

enum { P_RUN, P_RDY, P_CSTP, P_MLMTD, P_BOOST, P_NR };
enum sortkey { SORT_RUN, SORT_RDY, SORT_CSTP, SORT_MLMTD, SORT_BOOST, SORT_NAME, SORT_NR };

static const char *const sort_names[SORT_NR] = {"run", "rdy", "cstp", "mlmtd", "boost", "name"};
static const char *const sort_labels[SORT_NR] = {"%RUN",   "%RDY",   "%CSTP",
                                                 "%MLMTD", "%BOOST", "NAME"};
static const char *const pct_keys[P_NR] = {"run_pct", "rdy_pct", "cstp_pct", "mlmtd_pct",
                                           "boost_pct"};

#define STR_MAX  48 /* names, states, CPU lists as shown */
#define CPUS_MAX 24 /* widest CPUS column; longer lists end in '+' */

struct vrow {
	int index, tid;
	double pct[P_NR];
	char state[16], layer[12], cpus[STR_MAX];
};

struct mrow {
	char name[STR_MAX], policy[STR_MAX], cpus[STR_MAX];
	int pid;
	unsigned nvcpus;
	double pct[P_NR]; /* sums over the vCPUs, as esxtop's group rows */
	struct vrow *v;
	size_t nv;
};

struct snap {
	int ok;
	char err[256];
	double uptime;
	char sampler[16];
	int online;
	unsigned nvcpus;
	struct mrow *m;
	size_t nm;
	time_t when;
};

struct view {
	enum sortkey sort;
	int expand;
	int screen; /* redraw in place (a terminal, not -b) */
	int keys;   /* read keys from stdin */
	int width, height;
};

/* ---------- the terminal ---------- */

static volatile sig_atomic_t got_stop, got_winch, got_tstp;
static struct termios saved_tio;
static int tio_saved, screen_on;

/* The terminal: a failed write has nowhere to be reported. */
static void write_all(int fd, const char *s, size_t n)
{
	(void)pvs_write_all(fd, s, n);
}

/* Back to what the terminal was: async-signal-safe, idempotent. */
static void term_restore(void)
{
	if (screen_on) {
		static const char seq[] = "\033[0m\033[?25h\r\n"; /* attributes off, cursor on */
		write_all(STDOUT_FILENO, seq, sizeof(seq) - 1);
		screen_on = 0;
	}
	if (tio_saved) {
		tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tio);
		tio_saved = 0;
	}
}

static int term_setup(const struct view *vw)
{
	if (vw->keys) {
		struct termios raw;

		if (tcgetattr(STDIN_FILENO, &saved_tio) < 0)
			return -1;
		raw = saved_tio;
		/* keys one by one, not echoed; ^C and ^Z still signal */
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tio_saved = 1;
		if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) < 0) {
			tio_saved = 0;
			return -1;
		}
	}
	screen_on = 1;
	/* cursor off, home, clear */
	write_all(STDOUT_FILENO, "\033[?25l\033[H\033[2J", 13);
	return 0;
}

static void on_stop(int sig)
{
	(void)sig;
	got_stop = 1;
}

static void on_winch(int sig)
{
	(void)sig;
	got_winch = 1;
}

static void on_tstp(int sig)
{
	(void)sig;
	got_tstp = 1;
}

static void set_handler(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: poll() returns at once */
	sigaction(sig, &sa, NULL);
}

static void term_size(struct view *vw)
{
	struct winsize ws;

	vw->width = 80;
	vw->height = 24;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
		if (ws.ws_col > 0)
			vw->width = ws.ws_col;
		if (ws.ws_row > 0)
			vw->height = ws.ws_row;
	}
}

/* ---------- the data ---------- */

/* Copy S, printable ASCII only (a name must not move the cursor). */
static void copy_clean(char *dst, size_t len, const char *s)
{
	size_t i = 0;

	for (; s && *s && i + 1 < len; s++)
		dst[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	dst[i] = 0;
}

static void copy_cpus(char *dst, size_t len, const char *s)
{
	if (!s || !*s) {
		copy_clean(dst, len, "-");
		return;
	}
	copy_clean(dst, len, s);
	if (strlen(s) > CPUS_MAX && len > CPUS_MAX) {
		dst[CPUS_MAX - 1] = '+';
		dst[CPUS_MAX] = 0;
	}
}

static void snap_free(struct snap *s)
{
	for (size_t i = 0; i < s->nm; i++)
		free(s->m[i].v);
	free(s->m);
	memset(s, 0, sizeof(*s));
}

static int snap_parse(struct snap *s, struct json_object *r)
{
	struct json_object *vms = pvs_json_get(r, "vms");
	size_t n = vms && json_object_is_type(vms, json_type_array) ? json_object_array_length(vms)
	                                                            : 0;

	s->uptime = json_object_get_double(pvs_json_get(r, "uptime_s"));
	copy_clean(s->sampler, sizeof(s->sampler),
	           json_object_get_string(pvs_json_get(r, "sampler")));
	s->online = pvs_json_get(r, "online_cpus")
	                    ? json_object_get_int(pvs_json_get(r, "online_cpus"))
	                    : (int)sysconf(_SC_NPROCESSORS_ONLN);
	s->m = n ? calloc(n, sizeof(*s->m)) : NULL;
	if (n && !s->m)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct json_object *vm = json_object_array_get_idx(vms, i),
		                   *vc = pvs_json_get(vm, "vcpus");
		size_t nv = vc && json_object_is_type(vc, json_type_array)
		                    ? json_object_array_length(vc)
		                    : 0;
		struct mrow *m = &s->m[s->nm++];
		const char *pol = json_object_get_string(pvs_json_get(vm, "policy"));
		char pbuf[STR_MAX];

		copy_clean(m->name, sizeof(m->name),
		           json_object_get_string(pvs_json_get(vm, "name")));
		m->pid = json_object_get_int(pvs_json_get(vm, "pid"));
		if (pol)
			snprintf(pbuf, sizeof(pbuf), "%.20s/%lld", pol,
			         (long long)json_object_get_int64(pvs_json_get(vm, "shares")));
		else
			snprintf(pbuf, sizeof(pbuf), "-");
		copy_clean(m->policy, sizeof(m->policy), pbuf);
		copy_cpus(m->cpus, sizeof(m->cpus),
		          json_object_get_string(pvs_json_get(vm, "cpus")));
		m->v = nv ? calloc(nv, sizeof(*m->v)) : NULL;
		if (nv && !m->v)
			return -1;
		for (size_t k = 0; k < nv; k++) {
			struct json_object *x = json_object_array_get_idx(vc, k);
			struct vrow *v = &m->v[m->nv++];

			v->index = json_object_get_int(pvs_json_get(x, "index"));
			v->tid = json_object_get_int(pvs_json_get(x, "tid"));
			for (int p = 0; p < P_NR; p++) {
				v->pct[p] = json_object_get_double(pvs_json_get(x, pct_keys[p]));
				if (!isfinite(v->pct[p]))
					v->pct[p] = 0;
				m->pct[p] += v->pct[p];
			}
			copy_clean(v->state, sizeof(v->state),
			           json_object_get_string(pvs_json_get(x, "state")));
			copy_clean(v->layer, sizeof(v->layer),
			           pvs_json_get(x, "layer")
			                   ? json_object_get_string(pvs_json_get(x, "layer"))
			                   : "-");
			copy_cpus(v->cpus, sizeof(v->cpus),
			          json_object_get_string(pvs_json_get(x, "cpus")));
			if (v->tid)
				m->nvcpus++;
		}
		s->nvcpus += m->nvcpus;
	}
	return 0;
}

/* Ask the daemon.  With CAPTURE, what the client library prints on stderr
 * becomes S->err instead of landing on the screen. */
static void fetch(const char *sock, struct snap *s, int capture, int memfd)
{
	struct json_object *req = json_object_new_object(), *r;
	int saved = -1, bad;

	snap_free(s);
	s->when = time(NULL);
	json_object_object_add(req, "cmd", json_object_new_string("status"));
	if (capture && memfd >= 0) {
		fflush(stderr);
		saved = dup(STDERR_FILENO);
		if (saved >= 0 && (ftruncate(memfd, 0) < 0 || lseek(memfd, 0, SEEK_SET) < 0 ||
		                   dup2(memfd, STDERR_FILENO) < 0)) {
			close(saved);
			saved = -1;
		}
	}
	r = pvs_ctl_request("pvschedctl top", sock, req);
	json_object_put(req);
	bad = !r || pvs_ctl_check_ok("pvschedctl top", r);
	if (saved >= 0) {
		ssize_t n;

		fflush(stderr);
		dup2(saved, STDERR_FILENO);
		close(saved);
		n = pread(memfd, s->err, sizeof(s->err) - 1, 0);
		s->err[n > 0 ? n : 0] = 0;
		s->err[strcspn(s->err, "\n")] = 0;
	}
	if (!bad && snap_parse(s, r) < 0) {
		snap_free(s);
		snprintf(s->err, sizeof(s->err), "pvschedctl top: out of memory");
		bad = 1;
	}
	json_object_put(r);
	s->ok = !bad;
	if (bad && !s->err[0])
		snprintf(s->err, sizeof(s->err), "pvschedctl top: no answer from pvschedd at %s",
		         sock);
}

/* ---------- sorting and drawing ---------- */

static enum sortkey cur_sort;

static int cmp_pct(const double *a, const double *b)
{
	int p = (int)cur_sort; /* SORT_* and P_* share the numbering */

	return a[p] < b[p] ? 1 : a[p] > b[p] ? -1 : 0;
}

static int cmp_vm(const void *x, const void *y)
{
	const struct mrow *a = x, *b = y;
	int c = cur_sort == SORT_NAME ? 0 : cmp_pct(a->pct, b->pct);

	return c ? c : strcmp(a->name, b->name);
}

static int cmp_vcpu(const void *x, const void *y)
{
	const struct vrow *a = x, *b = y;
	int c = cur_sort == SORT_NAME ? 0 : cmp_pct(a->pct, b->pct);

	return c ? c : (a->index > b->index) - (a->index < b->index);
}

struct text {
	char *p;
	size_t len, cap;
	unsigned lines;
};

/* Append one line (no newline in it). */
__attribute__((format(printf, 2, 3))) static void line(struct text *t, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	if (t->len + (size_t)n + 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8192;
		char *np;

		while (t->len + (size_t)n + 2 > cap)
			cap *= 2;
		np = realloc(t->p, cap);
		if (!np)
			return;
		t->p = np;
		t->cap = cap;
	}
	memcpy(t->p + t->len, tmp, (size_t)n);
	t->len += (size_t)n;
	t->p[t->len++] = '\n';
	t->p[t->len] = 0;
	t->lines++;
}

static void fmt_uptime(char *buf, size_t len, double s)
{
	unsigned long long t = s > 0 ? (unsigned long long)s : 0;
	unsigned long long d = t / 86400, h = t / 3600 % 24, m = t / 60 % 60, sec = t % 60;

	if (d)
		snprintf(buf, len, "%llud %02llu:%02llu:%02llu", d, h, m, sec);
	else
		snprintf(buf, len, "%llu:%02llu:%02llu", h, m, sec);
}

#define ROW_FMT "%-*s %4s %8s %6s %6s %6s %6s %6s %-9s %-6s %-*s %s"

static void render(struct snap *s, const struct view *vw, struct text *t)
{
	char up[32], clock[16] = "", tidbuf[16], pcts[P_NR][16], state[16];
	int namew = 8, cpusw = 4;
	struct tm tm;

	fmt_uptime(up, sizeof(up), s->uptime);
	if (localtime_r(&s->when, &tm))
		strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	line(t,
	     "pvschedctl top - %s up %s, sampler %s, %zu VM%s, %u vCPU%s, %d host CPU%s, sort %s",
	     clock, s->ok ? up : "?", s->ok ? s->sampler : "?", s->nm, s->nm == 1 ? "" : "s",
	     s->nvcpus, s->nvcpus == 1 ? "" : "s", s->online, s->online == 1 ? "" : "s",
	     sort_labels[vw->sort]);
	if (vw->screen)
		line(t, "%s",
		     !s->ok ? s->err
		            : "keys: q quit, sort r %RUN R %RDY c %CSTP m %MLMTD b %BOOST n name, "
		              "e "
		              "expand, space refresh");
	else if (!s->ok)
		line(t, "%s", s->err);
	if (vw->screen)
		line(t, "%s", ""); /* batch: a blank line separates snapshots */
	cur_sort = vw->sort;
	qsort(s->m, s->nm, sizeof(*s->m), cmp_vm);
	for (size_t i = 0; i < s->nm; i++) {
		int w = (int)strlen(s->m[i].name), c = (int)strlen(s->m[i].cpus);

		namew = w > namew ? w : namew;
		cpusw = c > cpusw ? c : cpusw;
		qsort(s->m[i].v, s->m[i].nv, sizeof(*s->m[i].v), cmp_vcpu);
		for (size_t k = 0; k < s->m[i].nv; k++) {
			c = (int)strlen(s->m[i].v[k].cpus);
			cpusw = c > cpusw ? c : cpusw;
		}
	}
	line(t, ROW_FMT, namew, "VM", "VCPU", "TID", "%RUN", "%RDY", "%CSTP", "%MLMTD", "%BOOST",
	     "STATE", "LAYER", cpusw, "CPUS", "POLICY");
	for (size_t i = 0; i < s->nm; i++) {
		const struct mrow *m = &s->m[i];

		for (int p = 0; p < P_NR; p++)
			snprintf(pcts[p], sizeof(pcts[p]), "%.1f", m->pct[p]);
		snprintf(tidbuf, sizeof(tidbuf), "%d", m->pid);
		snprintf(state, sizeof(state), "%u vcpu%s", m->nvcpus, m->nvcpus == 1 ? "" : "s");
		line(t, ROW_FMT, namew, m->name, "-", tidbuf, pcts[P_RUN], pcts[P_RDY],
		     pcts[P_CSTP], pcts[P_MLMTD], pcts[P_BOOST], state, "-", cpusw, m->cpus,
		     m->policy);
		if (!vw->expand)
			continue;
		for (size_t k = 0; k < m->nv; k++) {
			const struct vrow *v = &m->v[k];
			char idx[16];

			for (int p = 0; p < P_NR; p++)
				snprintf(pcts[p], sizeof(pcts[p]), "%.1f", v->pct[p]);
			snprintf(idx, sizeof(idx), "%d", v->index);
			snprintf(tidbuf, sizeof(tidbuf), "%d", v->tid);
			line(t, ROW_FMT, namew, m->name, idx, tidbuf, pcts[P_RUN], pcts[P_RDY],
			     pcts[P_CSTP], pcts[P_MLMTD], pcts[P_BOOST], v->state, v->layer, cpusw,
			     v->cpus, "");
		}
	}
	if (s->ok && s->nm == 0)
		line(t, "%s", "no VMs monitored");
}

/* Batch: the snapshot as it is (trailing blanks trimmed). */
static int print_plain(const struct text *t, int first)
{
	const char *p = t->p ? t->p : "";

	if (!first)
		fputc('\n', stdout);
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		while (n && p[n - 1] == ' ')
			n--;
		fwrite(p, 1, n, stdout);
		fputc('\n', stdout);
		p = nl ? nl + 1 : p + strlen(p);
	}
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : -1;
}

/* Screen: every line cut to the width, the column header in reverse
 * video, at most the height; built whole and written at once. */
static void draw_screen(const struct text *t, const struct view *vw)
{
	const char *p = t->p ? t->p : "";
	unsigned row = 0, total = t->lines, room = vw->height > 1 ? (unsigned)vw->height : 1;
	char *buf;
	size_t cap = (size_t)(vw->width + 16) * room + 64, len = 0;

	buf = malloc(cap);
	if (!buf)
		return;
	len += (size_t)snprintf(buf, cap, "\033[H");
	while (*p && row < room) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		int header = row == 3; /* header, keys, blank, columns */
		char more[64];

		if (row == room - 1 && total > room) {
			snprintf(more, sizeof(more), "... %u more rows", total - row);
			p = more;
			n = strlen(more);
			nl = NULL;
		}
		if (n > (size_t)vw->width)
			n = (size_t)vw->width;
		if (header)
			len += (size_t)snprintf(buf + len, cap - len, "\033[7m");
		memcpy(buf + len, p, n);
		len += n;
		if (header) {
			/* the bar spans the width */
			size_t pad = (size_t)vw->width - n;
			memset(buf + len, ' ', pad);
			len += pad;
			len += (size_t)snprintf(buf + len, cap - len, "\033[0m");
		}
		len += (size_t)snprintf(buf + len, cap - len, "\033[K%s",
		                        row + 1 < room && nl && nl[1] ? "\r\n" : "");
		row++;
		if (!nl)
			break;
		p = nl + 1;
	}
	len += (size_t)snprintf(buf + len, cap - len, "\033[J");
	write_all(STDOUT_FILENO, buf, len);
	free(buf);
}

/* ---------- options and the loop ---------- */

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: pvschedctl top [-b] [-d SECONDS] [-n N] [-o FIELD]\n"
	        "A live view of every VM (one row, the sum of its vCPUs) and its vCPUs:\n"
	        "%%RUN running, %%RDY runnable but waiting for a host CPU, %%CSTP co-stopped\n"
	        "by pvsched (relaxed, or a gang waiting for its slice), %%MLMTD held by a\n"
	        "limit (boost throttled), %%BOOST boosted: shares of the last second,\n"
	        "percent.  STATE is the\n"
	        "vCPU's state, LAYER the attributes pvsched gives its thread (own, costop,\n"
	        "gang, boost), CPUS where pvsched placed it (- when it does not place it),\n"
	        "POLICY the VM's co-scheduling policy/shares.\n"
	        "\n"
	        "  -d, --delay SECONDS    refresh interval, fractions allowed (default 2, "
	        "min 0.1)\n"
	        "  -n, --iterations N     exit after N refreshes\n"
	        "  -o, --sort FIELD       run, rdy, cstp, mlmtd, boost (highest first) or name\n"
	        "                         (default run)\n"
	        "  -b, --batch            plain snapshots separated by a blank line (also when\n"
	        "                         stdout is not a terminal)\n"
	        "\n"
	        "Keys: q quit; sort by r %%RUN, R %%RDY, c %%CSTP, m %%MLMTD, b %%BOOST, n name;\n"
	        "e expand or collapse the vCPU rows; space refresh now.\n"
	        "%%RDY above 5%% is worth a look, above 10%% a problem; keep %%CSTP below 3%%\n"
	        "(docs/metrics.md).\n");
}

static int parse_sort(const char *s)
{
	if (*s == '%')
		s++;
	for (int i = 0; i < SORT_NR; i++)
		if (!strcasecmp(s, sort_names[i]))
			return i;
	return -1;
}

/* Keys read; returns 1 to refresh now, 2 to redraw, -1 to quit, 0. */
static int read_keys(struct view *vw)
{
	char k[64];
	ssize_t n = read(STDIN_FILENO, k, sizeof(k));
	int act = 0;

	if (n == 0)
		return -1; /* end of input: nobody can press q any more */
	for (ssize_t i = 0; i < n; i++) {
		int s = -1;

		if (k[i] == 27)
			break; /* an escape sequence (arrows, F keys): ignored whole */
		switch (k[i]) {
		case 'q': return -1;
		case 'r': s = SORT_RUN; break;
		case 'R': s = SORT_RDY; break;
		case 'c': s = SORT_CSTP; break;
		case 'm': s = SORT_MLMTD; break;
		case 'b': s = SORT_BOOST; break;
		case 'n': s = SORT_NAME; break;
		case 'e':
			vw->expand = !vw->expand;
			act = act ? act : 2;
			break;
		case ' ': act = 1; break;
		case 12: act = act ? act : 2; break; /* ^L */
		default: break;
		}
		if (s >= 0) {
			vw->sort = (enum sortkey)s;
			act = act ? act : 2;
		}
	}
	return act;
}

int pvs_top_main(const char *sock_path, int argc, char **argv)
{
	static const struct option o[] = {{"delay", required_argument, NULL, 'd'},
	                                  {"iterations", required_argument, NULL, 'n'},
	                                  {"sort", required_argument, NULL, 'o'},
	                                  {"batch", no_argument, NULL, 'b'},
	                                  {"help", no_argument, NULL, 'h'},
	                                  {NULL, 0, NULL, 0}};
	struct view vw = {.sort = SORT_RUN, .expand = 1};
	struct snap s = {0};
	double delay = 2.0;
	long iters = 0, done = 0;
	int batch = 0, opt, rc = 0, memfd = -1;
	uint64_t next = 0;
	char *end;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "d:n:o:bh", o, NULL)) != -1) {
		switch (opt) {
		case 'd':
			errno = 0;
			delay = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(delay >= 0.1 && delay <= 86400)) {
				fprintf(stderr,
				        "pvschedctl top: -d '%s': expected seconds, 0.1 to 86400 "
				        "(fractions allowed)\n",
				        optarg);
				return 2;
			}
			break;
		case 'n':
			errno = 0;
			iters = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || iters < 1) {
				fprintf(stderr, "pvschedctl top: -n '%s': expected a count >= 1\n",
				        optarg);
				return 2;
			}
			break;
		case 'o': {
			int k = parse_sort(optarg);

			if (k < 0) {
				fprintf(stderr,
				        "pvschedctl top: -o '%s': expected run, rdy, cstp, mlmtd, "
				        "boost or name\n",
				        optarg);
				return 2;
			}
			vw.sort = (enum sortkey)k;
			break;
		}
		case 'b': batch = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pvschedctl top: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	vw.screen = !batch && isatty(STDOUT_FILENO);
	vw.keys = vw.screen && isatty(STDIN_FILENO);
	if (vw.screen) {
		memfd = memfd_create("pvschedctl-top-stderr", MFD_CLOEXEC);
		term_size(&vw);
		set_handler(SIGINT, on_stop);
		set_handler(SIGTERM, on_stop);
		set_handler(SIGHUP, on_stop);
		set_handler(SIGQUIT, on_stop);
		set_handler(SIGWINCH, on_winch);
		set_handler(SIGTSTP, on_tstp);
		atexit(term_restore);
		if (term_setup(&vw) < 0) {
			term_restore();
			fprintf(stderr, "pvschedctl top: cannot set up the terminal: %s\n",
			        strerror(errno));
			return 1;
		}
	} else {
		/* a signal ends the batch loop between snapshots */
		set_handler(SIGINT, on_stop);
		set_handler(SIGTERM, on_stop);
		signal(SIGPIPE, SIG_IGN);
	}
	for (;;) {
		int redraw = 0, refresh = 0;
		uint64_t now = pvs_mono_ms();

		if (got_stop)
			break;
		if (got_tstp) {
			/* ^Z: the terminal back as it was, stop, set up again */
			got_tstp = 0;
			term_restore();
			signal(SIGTSTP, SIG_DFL);
			raise(SIGTSTP);
			set_handler(SIGTSTP, on_tstp);
			term_size(&vw);
			if (term_setup(&vw) < 0)
				break;
			redraw = 1;
		}
		if (got_winch) {
			got_winch = 0;
			term_size(&vw);
			write_all(STDOUT_FILENO, "\033[2J", 4);
			redraw = 1;
		}
		if (now >= next)
			refresh = 1;
		if (refresh) {
			fetch(sock_path, &s, vw.screen, memfd);
			done++;
			next = pvs_mono_ms() + (uint64_t)(delay * 1000.0 + 0.5);
			redraw = 1;
			if (!s.ok && !vw.screen) {
				rc = 1; /* the client library said why */
				break;
			}
		}
		if (redraw) {
			struct text t = {0};

			render(&s, &vw, &t);
			if (vw.screen) {
				draw_screen(&t, &vw);
			} else if (print_plain(&t, done == 1) < 0) {
				free(t.p);
				rc = 1;
				break;
			}
			free(t.p);
		}
		if (iters && done >= iters)
			break;
		now = pvs_mono_ms();
		if (now < next) {
			struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
			int wait = (int)(next - now), n;

			n = poll(&pfd, vw.keys ? 1 : 0, wait);
			if (n > 0 && vw.keys) {
				int act = read_keys(&vw);

				if (act < 0)
					break;
				if (act == 1)
					next = 0;
				else if (act == 2) {
					struct text t = {0};

					render(&s, &vw, &t);
					draw_screen(&t, &vw);
					free(t.p);
				}
			}
		}
	}
	if (vw.screen)
		term_restore();
	snap_free(&s);
	if (memfd >= 0)
		close(memfd);
	return rc;
}
