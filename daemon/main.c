/* SPDX-License-Identifier: MIT */
/*
 * daemon/main.c - pvschedd: options, the event loop, reload and shutdown.
 *
 * One thread, one epoll set: a periodic timerfd drives sampling and
 * publishing, a signalfd turns SIGTERM/SIGINT into a clean exit and SIGHUP
 * into a config reload (parsed into a fresh struct, swapped only when the
 * whole file is good), and the control socket is served in between, as
 * is the ivshmem server whose eventfds wake it when a guest rings.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "actuate.h"
#include "boostd.h"
#include "control.h"
#include "coschedd.h"
#include "discovery.h"
#include "doorbell.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "pvs_clock.h"
#include "sample.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: pvschedd [OPTIONS]\n"
	        "Host agent of pvsched: finds VMs and their vCPU threads, measures how\n"
	        "often the host preempts them and publishes it into each VM's region.\n"
	        "\n"
	        "  -c, --config FILE   configuration (default %s)\n"
	        "  -s, --socket PATH   control socket (overrides the config)\n"
	        "  -n, --check         check the configuration and exit\n"
	        "  -f, --foreground    accepted for compatibility; pvschedd never forks\n"
	        "  -v, --verbose       log debug messages\n"
	        "  -q, --quiet         log warnings and errors only\n"
	        "  -h, --help          this help\n"
	        "  -V, --version       print the version\n"
	        "\n"
	        "Signals: SIGTERM/SIGINT exit cleanly (regions are marked detached),\n"
	        "SIGHUP reloads the configuration.  See pvschedd(8).\n",
	        PVS_DEFAULT_CONFIG);
}

static int arm_timer(int tfd, uint32_t period_us)
{
	struct itimerspec its = {
	        .it_interval = {.tv_sec = period_us / 1000000,
	                        .tv_nsec = (long)(period_us % 1000000) * 1000},
	};
	its.it_value = its.it_interval;
	return timerfd_settime(tfd, 0, &its, NULL);
}

/* Fire once at absolute CLOCK_MONOTONIC time AT_NS (0: disarm). */
static int arm_at(int tfd, uint64_t at_ns)
{
	struct itimerspec its = {
	        .it_value = {.tv_sec = (time_t)(at_ns / 1000000000u),
	                     .tv_nsec = (long)(at_ns % 1000000000u)},
	};
	return timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void jlog(void *ctx, int level, const char *msg)
{
	(void)ctx;
	pvs_log(level, "journal: %s", msg);
}

/* Boosting or co-scheduling configured: both change threads, so both need
 * the journal. */
static int config_wants_journal(const struct pvs_config *c)
{
	if (c->boost.enabled || c->cosched.policy != PVS_CS_NONE)
		return 1;
	for (size_t i = 0; i < c->nr_vms; i++)
		if (c->vms[i].boost == 1 || c->vms[i].cosched > PVS_CS_NONE)
			return 1;
	return 0;
}

/* The next tick interval of a host where nothing changed: doubled from
 * CUR_US, at most pvs_quiet_ns() (the heartbeat of a quiet VM), so a vCPU
 * that wakes is seen within that time. */
static uint32_t idle_tick_us(const struct pvs_config *c, uint32_t cur_us)
{
	uint64_t max_us = pvs_quiet_ns(c) / 1000u, us = (uint64_t)cur_us * 2u;

	return (uint32_t)(us > max_us ? max_us : us < c->period_us ? c->period_us : us);
}

static int timer_tag, signal_tag, boost_tag;

/* With a sampler that reports new threads, process VMs' thread counts are
 * still polled this often: one without an open vCPU is not followed. */
#define PVS_QUICK_FALLBACK_NS 1000000000ull

/* The event loop's state: the daemon, its file descriptors and timers. */
struct loop {
	struct pvs_daemon d; /* d.cfg: the configuration in force */
	const char *config_path;
	int explicit_config;
	struct pvs_control *ctl;
	int epfd, tfd, sfd, btfd;         /* epoll, tick timer, signals, boost timer */
	uint32_t tick_us, armed_us;       /* the tick timer's interval: wanted, armed */
	uint64_t last_rescan, last_quick; /* discovery: full, process VMs only */
	uint64_t last_reap, last_metrics;
	int metrics_failing; /* the last metrics_file write failed (logged) */
	uint64_t boost_next; /* the boost scan's next decision change by itself */
	uint64_t boost_at;   /* the one-shot boost timer's expiry, while armed */
	int boost_armed;
	int reload;  /* SIGHUP or a reload request: re-read the configuration */
	int running; /* 0: SIGTERM or SIGINT, leave the loop */
};

/* metrics_file, every metrics_interval_ms. */
static void write_metrics_file(struct loop *l, uint64_t now)
{
	struct pvs_daemon *d = &l->d;
	int e;

	if (!d->cfg->metrics_file[0] ||
	    now - l->last_metrics < (uint64_t)d->cfg->metrics_interval_ms * 1000000u)
		return;
	e = pvs_metrics_write_file(d, d->cfg->metrics_file, now);
	/* one message per run of failures; retried every interval */
	if (e < 0 && !l->metrics_failing)
		log_warn("metrics_file %s: %s", d->cfg->metrics_file, strerror(-e));
	else if (!e && l->metrics_failing)
		log_info("metrics_file %s: written again", d->cfg->metrics_file);
	l->metrics_failing = e < 0;
	l->last_metrics = now;
}

/* The tick timer: discovery when due, one period of sampling, boosting and
 * co-scheduling, the control socket's deadlines, the metrics file. */
static void on_tick(struct loop *l)
{
	struct pvs_daemon *d = &l->d;
	const struct pvs_config *cfg = d->cfg;
	uint64_t exp, now;

	if (read(l->tfd, &exp, sizeof(exp)) < 0)
		return;
	now = pvs_mono_ns();
	if (d->rescan_requested || now - l->last_rescan >= (uint64_t)cfg->rescan_ms * 1000000u) {
		d->rescan_requested = 0;
		pvs_discover(d);
		l->last_rescan = now;
		l->last_quick = now;
	} else if (d->sampler->new_threads
	                   /* the sampler sees new threads of the processes it
	                    * follows: poll only when it saw one, or a second
	                    * passed (a process VM without a vCPU yet) */
	                   ? d->sampler->new_threads() ||
	                             now - l->last_quick >= PVS_QUICK_FALLBACK_NS
	                   /* (half a period of slack: ticks jitter) */
	                   : now - l->last_quick + cfg->period_us * 500ull >=
	                             pvs_quick_interval_ns(d)) {
		pvs_discover_quick(d);
		l->last_quick = now;
	}
	/* a host where nothing changed is ticked less often, up to
	 * pvs_quiet_ns(), and at once at the period again when something did */
	l->tick_us = pvs_sample_all(d, now) || d->rescan_requested ? cfg->period_us
	                                                           : idle_tick_us(cfg, l->tick_us);
	if (l->tick_us != l->armed_us && arm_timer(l->tfd, l->tick_us) == 0)
		l->armed_us = l->tick_us;
	/* without a fast boost loop (no VM has boosting on: the one-shot timer
	 * may be armed for the gang only), verdicts (DENIED) and the release of
	 * a boost that was just turned off still happen every period */
	/* (also the safety net for a doorbell ring that was lost: every VM is
	 * read once a period) */
	if (!l->boost_armed || !pvs_boost_polled(d) || pvs_doorbell_clients(d->doorbell))
		pvs_boost_scan(d, now, 1);
	pvs_cosched_sample(d, now);
	if (now >= d->cs_next_ns)
		d->cs_next_ns = pvs_cosched_tick(d, now);
	if (now - l->last_reap > 1000000000ull) {
		pvs_control_reap(l->ctl);
		l->last_reap = now;
	}
	write_metrics_file(l, now);
}

/* The one-shot boost timer: the boost scan and the gang rotation. */
static void on_boost_timer(struct loop *l)
{
	struct pvs_daemon *d = &l->d;
	uint64_t exp, now;

	if (read(l->btfd, &exp, sizeof(exp)) < 0)
		return;
	now = pvs_mono_ns();
	if (pvs_boost_active(d))
		l->boost_next = pvs_boost_scan(d, now, 0);
	if (now >= d->cs_next_ns)
		d->cs_next_ns = pvs_cosched_tick(d, now);
	l->boost_armed = 0; /* one-shot: re-armed by arm_boost_timer() */
}

static void on_signal(struct loop *l)
{
	struct signalfd_siginfo si;

	while (read(l->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			l->reload = 1;
		} else {
			log_info("signal %d: exiting", (int)si.ssi_signo);
			l->running = 0;
		}
	}
}

/* One one-shot timer for the boost scan (every boost_scan_us while a VM
 * that cannot ring has boosting on, and when a decision changes by
 * itself), the end of a doorbell's mute and the gang rotation. */
static void arm_boost_timer(struct loop *l)
{
	struct pvs_daemon *d = &l->d;
	uint64_t now = pvs_mono_ns(), at = UINT64_MAX, t;

	if (pvs_boost_polled(d))
		at = now + (uint64_t)d->cfg->boost.scan_us * 1000u;
	if (pvs_boost_active(d) && l->boost_next < at)
		at = l->boost_next;
	t = pvs_doorbell_tick(d->doorbell, now);
	if (t < at)
		at = t;
	if (d->cs_next_ns < at)
		at = d->cs_next_ns;
	if (at != UINT64_MAX) {
		if (at <= now)
			at = now + 1;
		if (!l->boost_armed || at < l->boost_at) {
			arm_at(l->btfd, at);
			l->boost_at = at;
			l->boost_armed = 1;
		}
	} else if (l->boost_armed) {
		arm_at(l->btfd, 0);
		l->boost_armed = 0;
	}
}

/* SIGHUP or "reload": parse the file into a fresh configuration and swap
 * it in only when the whole file is good; what needs a restart is kept. */
static void reload_config(struct loop *l)
{
	struct pvs_daemon *d = &l->d;
	struct pvs_config *cfg = d->cfg, *fresh = malloc(sizeof(*fresh));
	char err[512];

	d->rescan_requested = 1;
	if (!fresh) {
		log_err("reload: out of memory; keeping the old configuration");
		return;
	}
	if (pvs_config_load(fresh, l->config_path, l->explicit_config, err, sizeof(err)) < 0) {
		log_err("reload failed, keeping the old configuration: %s", err);
		free(fresh);
		return;
	}
	if (strcmp(fresh->socket, cfg->socket))
		log_warn("reload: socket path change needs a restart");
	snprintf(fresh->socket, sizeof(fresh->socket), "%s", cfg->socket);
	if (strcmp(fresh->ivshmem_socket, cfg->ivshmem_socket))
		log_warn("reload: an ivshmem_socket change needs a restart");
	snprintf(fresh->ivshmem_socket, sizeof(fresh->ivshmem_socket), "%s", cfg->ivshmem_socket);
	if (fresh->region_size != cfg->region_size)
		log_info("reload: new region_size applies to new regions only");
	if (strcmp(fresh->sampler, cfg->sampler))
		log_warn("reload: a sampler change needs a restart");
	if (fresh->period_us != cfg->period_us && arm_timer(l->tfd, fresh->period_us) == 0)
		l->tick_us = l->armed_us = fresh->period_us;
	for (struct pvs_vm *vm = d->vms; vm; vm = vm->next)
		if (vm->region_ok)
			pvs_hregion_set_timing(&vm->region, fresh->period_us,
			                       pvs_config_stale_after_us(fresh));
	free(cfg);
	d->cfg = fresh;
	pvs_discovery_free();   /* qemu_comm may have changed */
	d->placement_dirty = 1; /* reserved_cpus, cpus= */
	/* a new boost_priority: stay above it */
	if (d->self_rt && pvs_self_sched(d, 1) < 0)
		log_warn("cannot raise pvschedd to SCHED_FIFO %u", d->cfg->boost.priority + 1);
	log_info("configuration reloaded from %s", l->config_path);
}

/* Until SIGTERM or SIGINT: 0, or 1 if epoll_wait failed. */
static int run(struct loop *l)
{
	struct pvs_daemon *d = &l->d;

	for (l->running = 1; l->running;) {
		struct epoll_event evs[16];
		int n = epoll_wait(l->epfd, evs, 16, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait: %s", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;

			if (tag == &timer_tag) {
				on_tick(l);
			} else if (tag == &boost_tag) {
				on_boost_timer(l);
			} else if (tag == &signal_tag) {
				on_signal(l);
			} else if (pvs_control_owns(l->ctl, tag)) {
				pvs_control_event(l->ctl, tag, evs[i].events, d);
			} else if (pvs_doorbell_owns(d->doorbell, tag)) {
				/* a guest rang: its VM was scanned at once */
				uint64_t t = pvs_doorbell_event(d->doorbell, tag, evs[i].events, d);
				if (t < l->boost_next)
					l->boost_next = t;
			}
		}
		arm_boost_timer(l);
		pvs_self_sched_update(d);
		if (pvs_control_take_reload(l->ctl))
			l->reload = 1;
		if (l->reload) {
			l->reload = 0;
			reload_config(l);
		}
	}
	return 0;
}

/* The procfs sampler keeps 3 files open per vCPU: the default soft limit
 * of 1024 (systemd's too) runs out at ~330 vCPUs. */
static void raise_nofile_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("raising the open-file limit: %s", strerror(errno));
	}
}

/* The control socket's directory, e.g. /run/pvsched. */
static void make_socket_dir(const char *socket)
{
	char dir[PVS_PATH_MAX], *slash;

	snprintf(dir, sizeof(dir), "%s", socket);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		/* 0755: the socket's own mode (0660) and group guard it */
		if (mkdir(dir, 0755) == 0)
			chmod(dir, 0755); /* not narrowed by the umask */
		else if (errno != EEXIST)
			log_warn("%s: %s", dir, strerror(errno));
	}
}

/* The ivshmem server, before any VM starts: QEMU reads the greeting at
 * device realize.  Without a socket (ivshmem_socket = none, or the default
 * path is another pvschedd's) the server still serves the eventfds of
 * process VMs.  0, or -1 when a configured one cannot be opened. */
static int open_doorbell(struct loop *l)
{
	const struct pvs_config *cfg = l->d.cfg;
	char dbpath[PVS_PATH_MAX], err[512];

	pvs_config_ivshmem_socket(cfg, dbpath, sizeof(dbpath));
	if (dbpath[0]) {
		l->d.doorbell = pvs_doorbell_open(dbpath, cfg->region_uid, cfg->region_gid, l->epfd,
		                                  err, sizeof(err));
		if (!l->d.doorbell && cfg->ivshmem_socket[0]) {
			log_err("ivshmem server: %s", err);
			return -1;
		}
		/* the default path (beside the control socket) may be another
		 * pvschedd's, one with a control socket of its own in the same
		 * directory: run without an ivshmem socket then */
		if (!l->d.doorbell)
			log_warn("ivshmem server: %s; running without one (QEMU VMs are "
			         "polled; set ivshmem_socket)",
			         err);
		else
			log_info("ivshmem server for ivshmem-doorbell devices on %s", dbpath);
	} else {
		log_info("no ivshmem server (ivshmem_socket = none): QEMU VMs are polled");
	}
	if (!l->d.doorbell)
		l->d.doorbell = pvs_doorbell_open(NULL, 0, 0, l->epfd, err, sizeof(err));
	if (!l->d.doorbell)
		log_warn("doorbells: %s; every VM is polled", err);
	return 0;
}

/* Everything the loop needs, in order: signals, epoll and the tick timer,
 * the control socket, the ivshmem server, the sampler, /proc/stat, the
 * journal, the boost timer; then the first discovery.  0, or -1 (logged). */
static int start(struct loop *l)
{
	struct pvs_daemon *d = &l->d;
	struct pvs_config *cfg = d->cfg;
	struct epoll_event ev;
	sigset_t mask;
	char err[512];

	raise_nofile_limit();
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	l->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	l->tick_us = l->armed_us = cfg->period_us;
	if (l->epfd < 0 || l->tfd < 0 || l->sfd < 0 || arm_timer(l->tfd, cfg->period_us) < 0) {
		log_err("event loop setup: %s", strerror(errno));
		return -1;
	}
	ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &timer_tag};
	epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->tfd, &ev);
	ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &signal_tag};
	epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->sfd, &ev);

	make_socket_dir(cfg->socket);
	l->ctl = pvs_control_open(cfg->socket, cfg->socket_gid, l->epfd, err, sizeof(err));
	if (!l->ctl) {
		log_err("control socket: %s", err);
		return -1;
	}
	if (open_doorbell(l) < 0)
		goto fail;
	d->sampler = pvs_sampler_start(cfg->sampler, err, sizeof(err));
	if (!d->sampler) {
		log_err("sampler: %s", err);
		goto fail;
	}
	d->hoststat = pvs_hoststat_new();
	if (!d->hoststat) {
		log_err("/proc/stat: %s", strerror(errno));
		goto fail;
	}
	/* The journal first: it puts back what a previous pvschedd killed
	 * with SIGKILL left boosted, and without it nothing is boosted. */
	if (pvs_journal_open(&d->journal, cfg->journal, jlog, NULL, err, sizeof(err)) < 0) {
		d->journal = NULL;
		if (config_wants_journal(cfg)) {
			log_err("boosting or co-scheduling is configured but the journal is "
			        "unusable: %s",
			        err);
			goto fail;
		}
		log_warn("boosting and co-scheduling unavailable (journal: %s)", err);
	} else {
		/* the fair class, nice -10, short slice; SCHED_FIFO only while
		 * it holds a thread at an RT priority (actuate.c) */
		int e = pvs_self_sched(d, 0);
		if (e < 0)
			log_info("cannot raise pvschedd's own priority: %s", strerror(-e));
	}
	pvs_gang_init(&d->gang);
	d->cs_next_ns = UINT64_MAX;
	d->placement_dirty = 1;
	l->btfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (l->btfd < 0) {
		log_err("boost timer: %s", strerror(errno));
		goto fail;
	}
	ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &boost_tag};
	epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->btfd, &ev);
	d->start_ns = pvs_mono_ns();
	log_info("started: sampler %s, period %u us, rescan %u ms, socket %s", d->sampler->name,
	         cfg->period_us, cfg->rescan_ms, cfg->socket);
	pvs_discover(d);
	l->last_rescan = pvs_mono_ns();
	return 0;
fail:
	pvs_control_close(l->ctl);
	return -1;
}

/* Every VM's threads back as they were, its region marked DETACHED; then
 * the journal and everything start() opened. */
static void stop(struct loop *l)
{
	struct pvs_daemon *d = &l->d;

	while (d->vms) {
		struct pvs_vm *vm = d->vms;
		d->vms = vm->next;
		pvs_actuate_vm_release(d, vm);
		for (uint32_t i = 0; i < vm->nr_vcpus; i++)
			d->sampler->close(&vm->vcpus[i]);
		pvs_vm_free(vm); /* marks the region DETACHED */
	}
	while (d->attached) {
		struct pvs_attach *a = d->attached;
		d->attached = a->next;
		free(a);
	}
	if (pvs_journal_close(d->journal) < 0)
		log_err("some threads could not be restored; see pvschedctl reset");
	pvs_discovery_free();
	pvs_doorbell_close(d->doorbell);
	pvs_control_close(l->ctl);
	if (d->sampler->fini)
		d->sampler->fini();
	pvs_hoststat_free(d->hoststat);
	close(l->tfd);
	close(l->btfd);
	close(l->sfd);
	close(l->epfd);
	free(d->cfg);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"socket", required_argument, NULL, 's'},
	        {"check", no_argument, NULL, 'n'},
	        {"foreground", no_argument, NULL, 'f'},
	        {"verbose", no_argument, NULL, 'v'},
	        {"quiet", no_argument, NULL, 'q'},
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'V'},
	        {NULL, 0, NULL, 0},
	};
	struct loop l = {
	        .config_path = PVS_DEFAULT_CONFIG,
	        .boost_next = UINT64_MAX,
	        .btfd = -1,
	};
	const char *socket_path = NULL;
	int check = 0, opt, rc;
	struct pvs_config *cfg;
	char err[512];

	while ((opt = getopt_long(argc, argv, "c:s:nfvqhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			l.config_path = optarg;
			l.explicit_config = 1;
			break;
		case 's': socket_path = optarg; break;
		case 'n': check = 1; break;
		case 'f': break;
		case 'v': pvs_log_set_level(PVS_LOG_DEBUG); break;
		case 'q': pvs_log_set_level(PVS_LOG_WARN); break;
		case 'h': usage(stdout); return 0;
		case 'V':
			printf("pvschedd %s (region ABI %d.%d)\n", PVSCHED_VERSION,
			       PVSCHED_ABI_MAJOR, PVSCHED_ABI_MINOR);
			return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pvschedd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	cfg = malloc(sizeof(*cfg));
	if (!cfg) {
		fprintf(stderr, "pvschedd: out of memory\n");
		return 1;
	}
	if (pvs_config_load(cfg, l.config_path, l.explicit_config, err, sizeof(err)) < 0) {
		fprintf(stderr, "pvschedd: %s\n", err);
		free(cfg);
		return 1;
	}
	if (socket_path) {
		if (strlen(socket_path) >= 108) {
			fprintf(stderr, "pvschedd: socket path '%s' too long\n", socket_path);
			free(cfg);
			return 1;
		}
		snprintf(cfg->socket, sizeof(cfg->socket), "%s", socket_path);
	}
	if (check) {
		printf("%s: OK (%zu VM section%s, period %u us)\n", l.config_path, cfg->nr_vms,
		       cfg->nr_vms == 1 ? "" : "s", cfg->period_us);
		free(cfg);
		return 0;
	}
	l.d.cfg = cfg;
	if (start(&l) < 0)
		return 1;
	rc = run(&l);
	stop(&l);
	return rc;
}
