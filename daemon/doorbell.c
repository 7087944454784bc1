/* SPDX-License-Identifier: MIT */
/*
 * daemon/doorbell.c - the ivshmem server (see doorbell.h).
 *
 * Every socket is non-blocking and served from the daemon's epoll loop: a
 * client that sends data (the protocol has the client never send), hangs
 * up, or cannot take the greeting is dropped alone.  A second connection
 * of the same QEMU process, or of a process whose VM name another live
 * client or VM holds, is refused.  A guest that rings faster than
 * doorbell_max_hz has its eventfd ignored until the rate window ends and
 * is polled like a VM without a doorbell meanwhile, so a ringing storm
 * costs the daemon a bounded amount of work and epoll keeps serving the
 * other VMs' eventfds in turn.
 *
 * A process VM attached with a doorbell (pvsched-run --attach) has a
 * connection without a socket: an eventfd created at attach, whose copy
 * the control socket passes to the attaching client.  It rings and is
 * muted like a QEMU client's and closes with its VM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "boostd.h"
#include "discovery.h"
#include "doorbell.h"
#include "log.h"
#include "procfs.h"
#include "pvs_clock.h"
#include "qemu_args.h"
#include "unixsock.h"

#define DB_TAG_MAGIC   0x70766462u /* "pvdb" */
#define DB_MAX_ACCEPTS 16          /* per event: other work is not starved */

enum db_kind { DB_LISTEN, DB_SOCK, DB_RING };

struct db_tag {
	uint32_t magic;
	enum db_kind kind;
	struct pvs_db_conn *c;
};

struct pvs_db_conn {
	struct db_tag sock_tag, ring_tag;
	struct pvs_doorbell *db;
	int sock; /* -1: a process VM's eventfd, no socket */
	int efd;  /* the server peer's eventfd: the guest rings it */
	struct pvs_thread_id proc;
	char name[PVS_NAME_MAX];
	char region[PVS_PATH_MAX];
	struct pvs_vm *vm;
	struct pvs_db_rate rate;
	int muted;
	int dead; /* closed; freed after the epoll batch that may still name it */
	uint64_t muted_until;
	struct pvs_db_conn *next;
};

struct pvs_doorbell {
	struct db_tag listen_tag;
	int fd; /* the listening socket; -1: none (process VMs only) */
	int epfd;
	char path[108];
	struct pvs_db_conn *conns;
	struct pvs_db_conn *dead; /* closed in this epoll batch */
	uint32_t nconns, nmuted;
};

/* ---- protocol pieces ---- */

int pvs_ivshmem_send(int sock, int64_t msg, int fd)
{
	unsigned char le[8];
	ssize_t n;

	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)((uint64_t)msg >> (8 * i));
	n = pvs_send_with_fd(sock, le, sizeof(le), fd);
	if (n < 0)
		return (int)n;
	/* a stream socket takes 8 bytes whole or not at all when it has room
	 * for them; anything else is a socket that cannot keep up */
	return n == (ssize_t)sizeof(le) ? 0 : -EAGAIN;
}

int pvs_ivshmem_greet(int sock, int shm_fd, int host_efd, int qemu_efd)
{
	int rc;

	/* one message per sendmsg: QEMU pairs each 8 bytes with the fd that
	 * came with them (docs/specs/ivshmem-spec.rst) */
	if ((rc = pvs_ivshmem_send(sock, PVS_IVSHMEM_VERSION, -1)) < 0 ||
	    (rc = pvs_ivshmem_send(sock, PVS_DB_PEER_QEMU, -1)) < 0 ||
	    (rc = pvs_ivshmem_send(sock, -1, shm_fd)) < 0 ||
	    (rc = pvs_ivshmem_send(sock, PVS_DB_PEER_HOST, host_efd)) < 0 ||
	    (rc = pvs_ivshmem_send(sock, PVS_DB_PEER_QEMU, qemu_efd)) < 0)
		return rc;
	return 0;
}

int pvs_db_rate_ok(struct pvs_db_rate *r, uint64_t now, uint32_t max_hz, uint64_t *until)
{
	uint32_t max = max_hz / 10u ? max_hz / 10u : 1u;

	if (now - r->t0 >= PVS_DB_RATE_WINDOW_NS || now < r->t0) {
		r->t0 = now;
		r->n = 0;
	}
	if (r->n < max) {
		r->n++;
		return 1;
	}
	*until = r->t0 + PVS_DB_RATE_WINDOW_NS;
	return 0;
}

/* ---- the server ---- */

struct pvs_doorbell *pvs_doorbell_open(const char *path, uid_t uid, gid_t gid, int epfd, char *err,
                                       size_t errlen)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct pvs_doorbell *db;
	int fd = -1;

	if (path && path[0]) {
		fd = pvs_listen_unix(path, uid, gid, 64, "ivshmem server", err, errlen);
		if (fd < 0)
			return NULL;
	}
	db = calloc(1, sizeof(*db));
	if (!db) {
		snprintf(err, errlen, "out of memory");
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		return NULL;
	}
	db->listen_tag = (struct db_tag){DB_TAG_MAGIC, DB_LISTEN, NULL};
	db->fd = fd;
	db->epfd = epfd;
	if (fd < 0)
		return db;
	snprintf(db->path, sizeof(db->path), "%s", path);
	ev.data.ptr = &db->listen_tag;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
		pvs_doorbell_close(db);
		return NULL;
	}
	return db;
}

static void set_ring(struct pvs_db_conn *c)
{
	if (c->vm)
		c->vm->db_ring = !c->muted;
}

static void conn_close(struct pvs_doorbell *db, struct pvs_db_conn *c)
{
	struct pvs_db_conn **pp;

	for (pp = &db->conns; *pp && *pp != c; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = c->next;
	db->nconns--;
	if (c->muted)
		db->nmuted--;
	if (c->vm) {
		struct pvs_vm *vm = c->vm;

		vm->db = NULL;
		vm->db_ring = 0;
		if (vm->region_ok)
			pvs_hregion_set_doorbell(&vm->region, 0, 0);
	}
	if (c->sock >= 0) {
		epoll_ctl(db->epfd, EPOLL_CTL_DEL, c->sock, NULL);
		close(c->sock);
	}
	epoll_ctl(db->epfd, EPOLL_CTL_DEL, c->efd, NULL);
	close(c->efd);
	/* the rest of this epoll batch may hold its other tag */
	c->dead = 1;
	c->next = db->dead;
	db->dead = c;
}

static void free_dead(struct pvs_doorbell *db)
{
	while (db->dead) {
		struct pvs_db_conn *c = db->dead;

		db->dead = c->next;
		free(c);
	}
}

void pvs_doorbell_close(struct pvs_doorbell *db)
{
	if (!db)
		return;
	while (db->conns)
		conn_close(db, db->conns);
	free_dead(db);
	if (db->fd >= 0) {
		epoll_ctl(db->epfd, EPOLL_CTL_DEL, db->fd, NULL);
		close(db->fd);
		unlink(db->path);
	}
	free(db);
}

int pvs_doorbell_owns(const struct pvs_doorbell *db, const void *tag)
{
	const struct db_tag *t = tag;

	return db && tag && t->magic == DB_TAG_MAGIC;
}

static struct pvs_db_conn *find_conn(struct pvs_doorbell *db, pid_t pid, const char *name)
{
	for (struct pvs_db_conn *c = db->conns; c; c = c->next)
		if ((pid && c->proc.pid == pid) || (name && !strcmp(c->name, name)))
			return c;
	return NULL;
}

static void link_vm(struct pvs_db_conn *c, struct pvs_vm *vm)
{
	c->vm = vm;
	vm->db = c;
	set_ring(c);
	if (strcmp(vm->region_path, c->region) && !vm->region_ok) {
		/* discovery named it otherwise (its name was still taken by
		 * the QEMU it replaces): the region is the one QEMU maps */
		log_info("vm %s: publishes to %s, the region its QEMU was given", vm->name,
		         c->region);
		snprintf(vm->region_path, sizeof(vm->region_path), "%s", c->region);
	} else if (strcmp(vm->region_path, c->region)) {
		log_warn("vm %s: its doorbell client was given %s but the VM publishes to %s",
		         vm->name, c->region, vm->region_path);
	}
	pvs_doorbell_region_opened(vm);
	log_info("vm %s: rings its doorbell (ivshmem client pid %d): its boost requests are "
	         "read when it rings",
	         vm->name, (int)c->proc.pid);
}

/* Who is connecting: a QEMU process (qemu_comm) and its VM's name. */
static int identify(struct pvs_daemon *d, int sock, struct pvs_thread_id *proc, char *name,
                    size_t namelen, char *why, size_t whylen)
{
	static char args[256 * 1024];
	struct ucred cr;
	socklen_t len = sizeof(cr);
	char comm[64], state, path[64];
	ssize_t n;

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		snprintf(why, whylen, "SO_PEERCRED: %s", strerror(errno));
		return -1;
	}
	proc->pid = proc->tid = cr.pid;
	if (cr.pid <= 0 ||
	    pvs_proc_stat(cr.pid, cr.pid, comm, sizeof(comm), &state, &proc->start) < 0) {
		snprintf(why, whylen, "pid %d: no such process", (int)cr.pid);
		return -1;
	}
	if (!pvs_comm_matches(d->cfg->qemu_comm, comm)) {
		snprintf(why, whylen, "pid %d (%s) is not a QEMU process matching qemu_comm '%s'",
		         (int)cr.pid, comm, d->cfg->qemu_comm);
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)cr.pid);
	n = pvs_read_file(path, args, sizeof(args));
	if (n < 0 || pvs_qemu_name(args, (size_t)n, name, namelen) < 0)
		snprintf(name, namelen, "qemu-%d", (int)cr.pid);
	pvs_sanitize_name(name);
	return 0;
}

/* The process P no longer exists (or its pid was reused). */
static int proc_gone(const struct pvs_thread_id *p)
{
	char comm[64], state;
	uint64_t start;

	return pvs_proc_stat(p->pid, p->pid, comm, sizeof(comm), &state, &start) < 0 ||
	       start != p->start;
}

/* Listen on C's eventfd (its ring tag) and count it among the server's
 * connections: 0, or -errno of epoll_ctl (C is then not linked). */
static int conn_add(struct pvs_doorbell *db, struct pvs_db_conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->ring_tag};

	c->ring_tag = (struct db_tag){DB_TAG_MAGIC, DB_RING, c};
	if (epoll_ctl(db->epfd, EPOLL_CTL_ADD, c->efd, &ev) < 0)
		return -errno;
	c->next = db->conns;
	db->conns = c;
	db->nconns++;
	return 0;
}

static void accept_one(struct pvs_doorbell *db, struct pvs_daemon *d, int sock)
{
	const struct pvs_config *cfg = d->cfg;
	struct pvs_hregion_opts o = {
	        .size = cfg->region_size,
	        .uid = cfg->region_uid,
	        .gid = cfg->region_gid,
	        .mode = cfg->region_mode,
	};
	struct epoll_event ev;
	struct pvs_db_conn *c, *other;
	struct pvs_thread_id proc = {0};
	char name[PVS_NAME_MAX], why[512], region[PVS_PATH_MAX];
	int shm = -1, hefd = -1, qefd = -1, created = 0, rc;
	size_t size = 0;
	struct pvs_vm *vm;

	if (identify(d, sock, &proc, name, sizeof(name), why, sizeof(why)) < 0) {
		log_warn("ivshmem client refused: %s", why);
		close(sock);
		return;
	}
	other = find_conn(db, proc.pid, name);
	if (other && other->proc.pid != proc.pid && proc_gone(&other->proc)) {
		/* the VM restarted and its old QEMU's hang-up is still queued
		 * behind this connect: that client is gone, not competing */
		log_info("vm %s: ivshmem client pid %d is gone: doorbell closed", other->name,
		         (int)other->proc.pid);
		conn_close(db, other);
		other = NULL;
	}
	if (other) {
		log_warn("ivshmem client pid %d (VM %s) refused: VM %s already has a doorbell "
		         "connection (pid %d); one ivshmem-doorbell device per VM",
		         (int)proc.pid, name, other->name, (int)other->proc.pid);
		close(sock);
		return;
	}
	vm = pvs_find_vm(d, name);
	if (vm && (vm->proc.pid != proc.pid || vm->proc.start != proc.start) &&
	    proc_gone(&vm->proc)) {
		/* its old QEMU exited; discovery drops it at its next rescan
		 * and then finds this one */
		vm = NULL;
	}
	if (vm && (vm->proc.pid != proc.pid || vm->proc.start != proc.start)) {
		log_warn("ivshmem client pid %d refused: VM name '%s' belongs to pid %d",
		         (int)proc.pid, name, (int)vm->proc.pid);
		close(sock);
		return;
	}
	snprintf(region, sizeof(region), "%.200s/pvsched-%.31s", cfg->region_dir, name);
	shm = pvs_hregion_file(region, &o, &created, &size, why, sizeof(why));
	if (shm < 0) {
		log_err("ivshmem client pid %d (VM %s) refused: %s", (int)proc.pid, name, why);
		close(sock);
		return;
	}
	hefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	qefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c = calloc(1, sizeof(*c));
	if (hefd < 0 || qefd < 0 || !c) {
		log_err("ivshmem client pid %d (VM %s): %s", (int)proc.pid, name,
		        c ? strerror(errno) : "out of memory");
		goto fail;
	}
	rc = pvs_ivshmem_greet(sock, shm, hefd, qefd);
	if (rc < 0) {
		log_warn("ivshmem client pid %d (VM %s) dropped: sending the greeting: %s%s",
		         (int)proc.pid, name, strerror(-rc),
		         rc == -EAGAIN ? " (it does not read)" : "");
		goto fail;
	}
	/* QEMU holds its own copies now */
	close(shm);
	close(qefd);
	shm = qefd = -1;
	c->db = db;
	c->sock = sock;
	c->efd = hefd;
	c->proc = proc;
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->region, sizeof(c->region), "%s", region);
	c->sock_tag = (struct db_tag){DB_TAG_MAGIC, DB_SOCK, c};
	ev = (struct epoll_event){.events = EPOLLIN | EPOLLRDHUP, .data.ptr = &c->sock_tag};
	if (epoll_ctl(db->epfd, EPOLL_CTL_ADD, sock, &ev) < 0) {
		log_err("ivshmem client pid %d (VM %s): epoll_ctl: %s", (int)proc.pid, name,
		        strerror(errno));
		goto fail;
	}
	rc = conn_add(db, c);
	if (rc < 0) {
		log_err("ivshmem client pid %d (VM %s): epoll_ctl: %s", (int)proc.pid, name,
		        strerror(-rc));
		epoll_ctl(db->epfd, EPOLL_CTL_DEL, sock, NULL);
		goto fail;
	}
	log_info("vm %s: ivshmem-doorbell client pid %d connected: region %s (%zu bytes, %s), "
	         "peer id %u, rings peer %u",
	         name, (int)proc.pid, region, size, created ? "created" : "existing",
	         PVS_DB_PEER_QEMU, PVS_DB_PEER_HOST);
	/* discovery may have found this QEMU already (its vCPU threads exist
	 * before its devices), under another name if NAME was still taken */
	for (vm = d->vms; vm; vm = vm->next)
		if (vm->kind == PVS_VM_QEMU && vm->proc.pid == proc.pid &&
		    vm->proc.start == proc.start && !vm->db) {
			link_vm(c, vm);
			break;
		}
	return;
fail:
	if (shm >= 0)
		close(shm);
	if (hefd >= 0)
		close(hefd);
	if (qefd >= 0)
		close(qefd);
	free(c);
	close(sock);
}

static uint64_t ring(struct pvs_doorbell *db, struct pvs_db_conn *c, struct pvs_daemon *d)
{
	uint64_t cnt, now, until = 0;

	if (read(c->efd, &cnt, sizeof(cnt)) != (ssize_t)sizeof(cnt))
		return UINT64_MAX; /* spurious: nothing rang */
	now = pvs_mono_ns();
	if (c->vm)
		c->vm->db_wakes++;
	if (!pvs_db_rate_ok(&c->rate, now, d->cfg->doorbell_max_hz, &until)) {
		struct epoll_event ev = {.events = 0, .data.ptr = &c->ring_tag};

		/* stop listening until the window ends: polled meanwhile */
		if (epoll_ctl(db->epfd, EPOLL_CTL_MOD, c->efd, &ev) < 0)
			log_err("vm %s: muting its doorbell: %s", c->name, strerror(errno));
		c->muted = 1;
		c->muted_until = until;
		db->nmuted++;
		if (c->vm && !c->vm->db_mutes++)
			log_warn("vm %s: rings its doorbell more than %u times a second: polled "
			         "instead while it does (said once)",
			         c->name, d->cfg->doorbell_max_hz);
		set_ring(c);
	}
	if (!c->vm)
		return UINT64_MAX;
	return pvs_boost_scan_vm(d, c->vm, now);
}

uint64_t pvs_doorbell_event(struct pvs_doorbell *db, void *tag, uint32_t events,
                            struct pvs_daemon *d)
{
	struct db_tag *t = tag;
	struct pvs_db_conn *c = t->c;

	if (c && c->dead)
		return UINT64_MAX;
	switch (t->kind) {
	case DB_LISTEN:
		for (int i = 0; i < DB_MAX_ACCEPTS; i++) {
			int s = accept4(db->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

			if (s < 0) {
				if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
					log_err("%s: accept: %s", db->path, strerror(errno));
				break;
			}
			accept_one(db, d, s);
		}
		return UINT64_MAX;
	case DB_SOCK: {
		char buf[64];
		ssize_t n = recv(c->sock, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0) {
			log_warn("vm %s: ivshmem client pid %d sent %zd bytes (an ivshmem client "
			         "never sends): disconnected",
			         c->name, (int)c->proc.pid, n);
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR) &&
		           !(events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))) {
			return UINT64_MAX;
		} else {
			log_info("vm %s: ivshmem client pid %d hung up: doorbell closed", c->name,
			         (int)c->proc.pid);
		}
		conn_close(db, c);
		return UINT64_MAX;
	}
	case DB_RING: return ring(db, c, d);
	}
	return UINT64_MAX;
}

uint64_t pvs_doorbell_tick(struct pvs_doorbell *db, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	if (!db)
		return next;
	free_dead(db);
	if (!db->nmuted)
		return next;
	for (struct pvs_db_conn *c = db->conns; c; c = c->next) {
		if (!c->muted)
			continue;
		if (now >= c->muted_until) {
			struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->ring_tag};

			if (epoll_ctl(db->epfd, EPOLL_CTL_MOD, c->efd, &ev) < 0) {
				log_err("vm %s: unmuting its doorbell: %s", c->name,
				        strerror(errno));
				c->muted_until = now + PVS_DB_RATE_WINDOW_NS;
			} else {
				c->muted = 0;
				db->nmuted--;
				set_ring(c);
				continue;
			}
		}
		if (c->muted_until < next)
			next = c->muted_until;
	}
	return next;
}

void pvs_doorbell_bind(struct pvs_doorbell *db, struct pvs_vm *vm)
{
	struct pvs_db_conn *c;

	if (!db || vm->db || vm->kind != PVS_VM_QEMU)
		return;
	c = find_conn(db, vm->proc.pid, NULL);
	if (c && c->proc.start == vm->proc.start && !c->vm)
		link_vm(c, vm);
}

int pvs_doorbell_attach(struct pvs_doorbell *db, struct pvs_vm *vm)
{
	struct pvs_db_conn *c;
	int efd, rc;

	if (!db)
		return -ENOTSUP;
	if (vm->db)
		return -EEXIST;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0) {
		rc = -errno;
		free(c);
		return rc;
	}
	c->db = db;
	c->sock = -1;
	c->efd = efd;
	c->proc = vm->proc;
	snprintf(c->name, sizeof(c->name), "%s", vm->name);
	snprintf(c->region, sizeof(c->region), "%s", vm->region_path);
	rc = conn_add(db, c);
	if (rc < 0) {
		close(efd);
		free(c);
		return rc;
	}
	c->vm = vm;
	vm->db = c;
	set_ring(c);
	pvs_doorbell_region_opened(vm);
	log_info("vm %s: rings an eventfd passed at attach: its boost requests are read when it "
	         "rings",
	         vm->name);
	return efd;
}

void pvs_doorbell_unbind(struct pvs_vm *vm)
{
	struct pvs_db_conn *c = vm->db;

	if (c) {
		c->vm = NULL;
		vm->db = NULL;
		/* a process VM's eventfd lives and dies with its VM; a QEMU
		 * client stays until QEMU hangs up */
		if (c->sock < 0)
			conn_close(c->db, c);
	}
	vm->db_ring = 0;
}

void pvs_doorbell_region_opened(struct pvs_vm *vm)
{
	if (vm->db && vm->region_ok)
		pvs_hregion_set_doorbell(&vm->region, 1, PVS_DB_VALUE);
}

uint32_t pvs_doorbell_clients(const struct pvs_doorbell *db)
{
	return db ? db->nconns : 0;
}
