/* SPDX-License-Identifier: MIT */
/*
 * daemon/doorbell.h - pvschedd as the ivshmem server of QEMU's
 * ivshmem-doorbell devices (QEMU docs/specs/ivshmem-spec.rst).
 *
 * One listening socket serves every VM.  QEMU connects at device realize;
 * the peer's pid (SO_PEERCRED) and its command line name the VM; the
 * server answers with the protocol version, the client's peer id (always
 * 0, so master=auto makes QEMU the master), the VM's region file, one
 * eventfd of the server's own peer (id 1) and one of QEMU's.  Each
 * connection is a world of two peers: nothing of one VM reaches another.
 * The guest rings peer 1, vector 0 (header.doorbell = 1 << 16); the
 * eventfd wakes the daemon's epoll loop, which scans that VM's boost
 * requests at once.
 */
#ifndef PVSCHED_DAEMON_DOORBELL_H
#define PVSCHED_DAEMON_DOORBELL_H

#include <stdint.h>
#include <sys/types.h>

#define PVS_IVSHMEM_VERSION   0
#define PVS_DB_PEER_QEMU      0u                       /* the id every QEMU client gets */
#define PVS_DB_PEER_HOST      1u                       /* pvschedd's own peer id */
#define PVS_DB_VALUE          (PVS_DB_PEER_HOST << 16) /* vector 0 */
#define PVS_DB_RATE_WINDOW_NS 100000000ull             /* 100 ms */

struct pvs_daemon;
struct pvs_vm;
struct pvs_doorbell;

/* ---- protocol pieces (no daemon state; unit-tested) ---- */

/* Send one message: MSG as a little-endian int64, with FD attached
 * (SCM_RIGHTS) unless FD < 0.  Never blocks (MSG_DONTWAIT); 0 or -errno
 * (-EAGAIN: the client does not read). */
int pvs_ivshmem_send(int sock, int64_t msg, int fd);
/* The whole greeting for a new client: version, its id PVS_DB_PEER_QEMU,
 * -1 with SHM_FD, PVS_DB_PEER_HOST with HOST_EFD, PVS_DB_PEER_QEMU with
 * QEMU_EFD.  0 or -errno of the first message that failed. */
int pvs_ivshmem_greet(int sock, int shm_fd, int host_efd, int qemu_efd);

/* Rings heard per window of PVS_DB_RATE_WINDOW_NS: at most MAX_HZ/10 (at
 * least 1).  Returns 1 while within the limit, 0 when this ring exceeds it
 * (the window's end is then in *UNTIL). */
struct pvs_db_rate {
	uint64_t t0;
	uint32_t n;
};
int pvs_db_rate_ok(struct pvs_db_rate *r, uint64_t now_ns, uint32_t max_hz, uint64_t *until);

/* ---- the server ---- */

/* Listen on PATH (PATH NULL or empty: no socket, the eventfds of process
 * VMs only; a leftover socket file nobody answers on is replaced;
 * one a running pvschedd answers on is refused), mode 0660 with the
 * region files' owner UID and group GID ((uid_t)-1/(gid_t)-1: keep): who
 * may open a region file may connect.  NULL with a message in ERR. */
struct pvs_doorbell *pvs_doorbell_open(const char *path, uid_t uid, gid_t gid, int epfd, char *err,
                                       size_t errlen);
/* Close every connection and the socket (its file is removed). */
void pvs_doorbell_close(struct pvs_doorbell *db);
/* TAG (an epoll data.ptr) is one of the server's. */
int pvs_doorbell_owns(const struct pvs_doorbell *db, const void *tag);
/* Handle an epoll event of one of its tags: accept and greet clients,
 * drop clients that hang up or misbehave, and on a ring scan the VM's
 * boost requests.  Returns the earliest time a boost decision changes by
 * itself (UINT64_MAX: none). */
uint64_t pvs_doorbell_event(struct pvs_doorbell *db, void *tag, uint32_t events,
                            struct pvs_daemon *d);
/* After each epoll batch: free clients closed in it, unmute clients whose
 * rate window is over; returns the next time this must run (UINT64_MAX: no
 * client muted). */
uint64_t pvs_doorbell_tick(struct pvs_doorbell *db, uint64_t now_ns);
/* Discovery found VM (a QEMU process): link it with its client, if any. */
void pvs_doorbell_bind(struct pvs_doorbell *db, struct pvs_vm *vm);
/* A process VM attached with a doorbell: create the eventfd it rings,
 * listen on it and offer the doorbell in its region.  Returns the eventfd,
 * which stays the server's (pass a copy), or -ENOTSUP (no server), -EEXIST
 * (VM has a doorbell) or another -errno. */
int pvs_doorbell_attach(struct pvs_doorbell *db, struct pvs_vm *vm);
/* VM is being freed: forget it (a QEMU client stays until QEMU hangs up;
 * a process VM's eventfd is closed). */
void pvs_doorbell_unbind(struct pvs_vm *vm);
/* VM's region was (re)opened: offer the doorbell in it if it has one. */
void pvs_doorbell_region_opened(struct pvs_vm *vm);
/* Connected clients, for pvschedctl status. */
uint32_t pvs_doorbell_clients(const struct pvs_doorbell *db);

#endif
