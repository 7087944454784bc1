/* SPDX-License-Identifier: MIT */
/*
 * daemon/control.c - the control socket: its transport and the commands'
 * handlers.  Requests are parsed by daemon/proto.c, the status document
 * is built by daemon/status.c.
 *
 * One request per connection: the client writes a JSON object (<= 4 KiB)
 * and a newline; the daemon answers with one JSON object and closes.  All
 * I/O is non-blocking inside the daemon's epoll loop, so a slow or hostile
 * client can never stall sampling; at most PVS_MAX_CLIENTS are served at
 * once and each has a deadline.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "boostd.h"
#include "control.h"
#include "coschedd.h"
#include "discovery.h"
#include "doorbell.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "pvs_clock.h"
#include "status.h"
#include "unixsock.h"

#define PVS_MAX_CLIENTS       32
#define PVS_STR_(x)           #x
#define PVS_STR(x)            PVS_STR_(x)
#define PVS_CLIENT_TIMEOUT_NS (2ull * 1000000000ull)

struct client {
	int fd;
	int draining; /* reply sent: read until the client closes, then close */
	uint64_t deadline;
	size_t inlen;
	char in[PVS_PROTO_MAX + 2]; /* request, newline, and one byte to detect excess */
	char *out;
	size_t outlen, outoff;
	int pass_fd; /* sent with the reply's first byte (attach's eventfd); -1: none */
};

struct pvs_control {
	int fd;
	int epfd;
	int reload;
	char path[108];
	struct client clients[PVS_MAX_CLIENTS];
};

static int listen_tag;

struct pvs_control *pvs_control_open(const char *path, gid_t gid, int epfd, char *err,
                                     size_t errlen)
{
	struct pvs_control *c;
	struct epoll_event ev = {.events = EPOLLIN};
	int fd;

	/* A leftover socket file is replaced; a live pvschedd's is refused. */
	fd = pvs_listen_unix(path, (uid_t)-1, gid, 16, "pvschedd", err, errlen);
	if (fd < 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		unlink(path);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->fd = fd;
	c->epfd = epfd;
	snprintf(c->path, sizeof(c->path), "%s", path);
	for (int i = 0; i < PVS_MAX_CLIENTS; i++)
		c->clients[i].fd = c->clients[i].pass_fd = -1;
	ev.data.ptr = &listen_tag;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
		pvs_control_close(c);
		return NULL;
	}
	return c;
}

static void client_close(struct pvs_control *c, struct client *cl)
{
	if (cl->fd < 0)
		return;
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, cl->fd, NULL);
	close(cl->fd);
	if (cl->pass_fd >= 0)
		close(cl->pass_fd);
	free(cl->out);
	memset(cl, 0, sizeof(*cl));
	cl->fd = cl->pass_fd = -1;
}

void pvs_control_close(struct pvs_control *c)
{
	if (!c)
		return;
	for (int i = 0; i < PVS_MAX_CLIENTS; i++)
		client_close(c, &c->clients[i]);
	close(c->fd);
	unlink(c->path);
	free(c);
}

int pvs_control_owns(struct pvs_control *c, void *tag)
{
	return c && (tag == &listen_tag || ((char *)tag >= (char *)c->clients &&
	                                    (char *)tag < (char *)(c->clients + PVS_MAX_CLIENTS)));
}

int pvs_control_take_reload(struct pvs_control *c)
{
	int r = c ? c->reload : 0;
	if (c)
		c->reload = 0;
	return r;
}

static struct json_object *reply_error(const char *msg)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}

static struct json_object *reply_ok(void)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	return o;
}

static struct json_object *boost_cmd(struct pvs_daemon *d, const struct pvs_request *r)
{
	struct pvs_vm *vm;
	char err[160];

	if (r->enable == 1 && !d->journal)
		return reply_error("boosting is unavailable: no journal (see the daemon's log)");
	if (!r->name[0]) {
		/* the default for every VM without its own setting, until the
		 * next reload re-reads the config */
		d->cfg->boost.enabled = r->enable;
		log_info("boost: default %s", r->enable ? "on" : "off");
		return reply_ok();
	}
	vm = pvs_find_vm(d, r->name);
	if (!vm) {
		snprintf(err, sizeof(err), "no VM named '%s'", r->name);
		return reply_error(err);
	}
	if (r->enable >= 0)
		vm->boost_override = r->enable;
	if (r->max_ms > 0)
		vm->boost_max_ms = (uint32_t)r->max_ms;
	if (r->budget_pct > 0)
		vm->boost_budget_pct = (uint32_t)r->budget_pct;
	vm->boost_next_ns = 0; /* rescan it at once */
	log_info("vm %s: boost %s%s", vm->name, pvs_boost_vm_enabled(d, vm) ? "on" : "off",
	         r->max_ms > 0 || r->budget_pct > 0 ? " (limits changed)" : "");
	return reply_ok();
}

static struct json_object *policy_cmd(struct pvs_daemon *d, const struct pvs_request *r)
{
	struct pvs_vm *vm = pvs_find_vm(d, r->name);
	struct json_object *o;
	char err[256] = "";
	int rc;

	if (!vm) {
		snprintf(err, sizeof(err), "no VM named '%s'", r->name);
		return reply_error(err);
	}
	/* without 'policy': keep what it has (its override, or the config's) */
	rc = pvs_cosched_set(d, vm, r->has_policy ? r->policy : vm->cs_override, r->shares, err,
	                     sizeof(err));
	if (rc < 0) {
		if (!err[0])
			snprintf(err, sizeof(err), "vm %s: %s", vm->name, strerror(-rc));
		return reply_error(err);
	}
	log_info("vm %s: policy %s%s, shares %u", vm->name,
	         pvs_status_policy_name(pvs_cosched_policy(d, vm)),
	         vm->cs_override < 0 ? " (config)" : "", pvs_cosched_shares(d, vm));
	o = reply_ok();
	json_object_object_add(o, "vm", json_object_new_string(vm->name));
	json_object_object_add(
	        o, "policy",
	        json_object_new_string(pvs_status_policy_name(pvs_cosched_policy(d, vm))));
	json_object_object_add(o, "shares",
	                       json_object_new_int64((int64_t)pvs_cosched_shares(d, vm)));
	return o;
}

static struct json_object *metrics_cmd(struct pvs_daemon *d)
{
	struct json_object *o;
	char *text;
	size_t len;

	if (pvs_metrics_format(d, pvs_mono_ns(), &text, &len) < 0)
		return reply_error("out of memory");
	o = reply_ok();
	json_object_object_add(o, "content_type", json_object_new_string(PVS_METRICS_CONTENT_TYPE));
	json_object_object_add(o, "text", json_object_new_string_len(text, (int)len));
	free(text);
	return o;
}

/* What a launcher (pvsched-run) hands the process it is about to exec:
 * the region's path and, when asked for, the eventfd it rings (a copy into
 * *PASS_FD, sent with the reply). */
static struct json_object *attach_reply(struct pvs_daemon *d, const struct pvs_request *r,
                                        int *pass_fd)
{
	struct json_object *o = reply_ok();
	struct pvs_vm *vm = pvs_find_vm(d, r->name);
	int efd;

	if (!vm)
		return o;
	json_object_object_add(o, "region", json_object_new_string(vm->region_path));
	json_object_object_add(o, "region_ok", json_object_new_boolean(vm->region_ok));
	if (!r->doorbell)
		return o;
	efd = pvs_doorbell_attach(d->doorbell, vm);
	if (efd >= 0 && (*pass_fd = fcntl(efd, F_DUPFD_CLOEXEC, 0)) < 0)
		efd = -errno;
	json_object_object_add(o, "doorbell", json_object_new_boolean(efd >= 0));
	if (efd < 0) {
		json_object_object_add(o, "doorbell_error", json_object_new_string(strerror(-efd)));
		log_warn("vm %s: no doorbell: %s; it is polled", vm->name, strerror(-efd));
	}
	return o;
}

static struct json_object *handle(struct pvs_control *c, struct client *cl, struct pvs_daemon *d,
                                  const char *buf, size_t len)
{
	struct pvs_request r;
	char err[256];

	if (pvs_proto_parse(buf, len, &r, err, sizeof(err)) < 0)
		return reply_error(err);
	switch (r.cmd) {
	case PVS_CMD_STATUS: return pvs_status_json(d);
	case PVS_CMD_PING: return reply_ok();
	case PVS_CMD_RESCAN: pvs_discover(d); return reply_ok();
	case PVS_CMD_RELOAD: c->reload = 1; return reply_ok();
	case PVS_CMD_ATTACH:
		if (pvs_attach_process(d, r.name, r.pid, r.threads, err, sizeof(err)) < 0)
			return reply_error(err);
		return attach_reply(d, &r, &cl->pass_fd);
	case PVS_CMD_BOOST: return boost_cmd(d, &r);
	case PVS_CMD_DETACH:
		if (pvs_detach(d, r.name, err, sizeof(err)) < 0)
			return reply_error(err);
		return reply_ok();
	case PVS_CMD_POLICY: return policy_cmd(d, &r);
	case PVS_CMD_METRICS: return metrics_cmd(d);
	}
	return reply_error("unhandled command");
}

static void client_respond(struct pvs_control *c, struct client *cl, struct pvs_daemon *d)
{
	/* one request: up to and including the first newline */
	const char *nl = memchr(cl->in, '\n', cl->inlen);
	struct json_object *o =
	        handle(c, cl, d, cl->in, nl ? (size_t)(nl - cl->in) + 1 : cl->inlen);
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t n = strlen(s);
	struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = cl};

	cl->out = malloc(n + 1);
	if (cl->out) {
		memcpy(cl->out, s, n);
		cl->out[n] = '\n';
		cl->outlen = n + 1;
	}
	json_object_put(o);
	if (!cl->out) {
		client_close(c, cl);
		return;
	}
	epoll_ctl(c->epfd, EPOLL_CTL_MOD, cl->fd, &ev);
}

static void client_io(struct pvs_control *c, struct client *cl, uint32_t events,
                      struct pvs_daemon *d)
{
	assert(cl >= c->clients && cl < c->clients + PVS_MAX_CLIENTS);
	if (pvs_mono_ns() > cl->deadline) {
		client_close(c, cl);
		return;
	}
	if (cl->draining) {
		/* Closing with unread input would reset the connection and could
		 * destroy the reply before the client reads it: drain first. */
		char sink[512];
		for (;;) {
			ssize_t n = read(cl->fd, sink, sizeof(sink));
			if (n > 0)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			client_close(c, cl);
			return;
		}
	}
	if (!cl->out && (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))) {
		for (;;) {
			size_t room = sizeof(cl->in) - 1 - cl->inlen;
			ssize_t n;

			if (room == 0) { /* full and no newline: too long */
				client_respond(c, cl, d);
				return;
			}
			n = read(cl->fd, cl->in + cl->inlen, room);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return;
				client_close(c, cl);
				return;
			}
			if (n == 0) { /* shutdown(SHUT_WR): the request is complete */
				client_respond(c, cl, d);
				return;
			}
			cl->inlen += (size_t)n;
			if (memchr(cl->in + cl->inlen - n, '\n', (size_t)n)) {
				client_respond(c, cl, d);
				return;
			}
		}
	}
	if (cl->out && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = cl};

		while (cl->outoff < cl->outlen) {
			/* a descriptor goes with the first byte that is sent */
			ssize_t n = pvs_send_with_fd(cl->fd, cl->out + cl->outoff,
			                             cl->outlen - cl->outoff, cl->pass_fd);
			if (n < 0) {
				if (n == -EAGAIN || n == -EINTR)
					return;
				client_close(c, cl);
				return;
			}
			if (cl->pass_fd >= 0 && n > 0) {
				close(cl->pass_fd);
				cl->pass_fd = -1;
			}
			cl->outoff += (size_t)n;
		}
		shutdown(cl->fd, SHUT_WR);
		cl->draining = 1;
		if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, cl->fd, &ev) < 0)
			client_close(c, cl);
	}
}

/*
 * Every client slot is taken: answer at once, without a slot, and close.
 * The answer fits an empty socket buffer, so the non-blocking send cannot
 * stall the loop.  Whatever the client already wrote is read first: a Unix
 * socket closed with unread data resets its peer, and the client would
 * then lose the answer.
 */
static void busy(int fd)
{
	static const char msg[] = "{\"ok\":false,\"error\":\"busy: " PVS_STR(
	        PVS_MAX_CLIENTS) " requests are being served; try again\"}\n";
	char sink[512];

	while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
	if (send(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("control: busy answer not sent: %s", strerror(errno));
	shutdown(fd, SHUT_WR);
	close(fd);
}

void pvs_control_reap(struct pvs_control *c)
{
	if (!c)
		return;
	uint64_t now = pvs_mono_ns();

	for (int i = 0; i < PVS_MAX_CLIENTS; i++)
		if (c->clients[i].fd >= 0 && now > c->clients[i].deadline)
			client_close(c, &c->clients[i]);
}

void pvs_control_event(struct pvs_control *c, void *tag, uint32_t events, struct pvs_daemon *d)
{
	if (tag == &listen_tag) {
		pvs_control_reap(c);
		for (;;) {
			int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), i;
			struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};

			if (fd < 0)
				return;
			for (i = 0; i < PVS_MAX_CLIENTS && c->clients[i].fd >= 0; i++)
				;
			if (i == PVS_MAX_CLIENTS) {
				busy(fd);
				continue;
			}
			c->clients[i].fd = fd;
			c->clients[i].pass_fd = -1;
			c->clients[i].deadline = pvs_mono_ns() + PVS_CLIENT_TIMEOUT_NS;
			ev.data.ptr = &c->clients[i];
			if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
				client_close(c, &c->clients[i]);
		}
	}
	client_io(c, tag, events, d);
}
