/* SPDX-License-Identifier: MIT */
/*
 * daemon/unixsock.h - the daemon's listening UNIX sockets (the control
 * socket, the ivshmem server): one way to take a path over, one way to
 * pass a descriptor.
 */
#ifndef PVSCHED_DAEMON_UNIXSOCK_H
#define PVSCHED_DAEMON_UNIXSOCK_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Listen on PATH: non-blocking, close-on-exec, mode 0660 (never briefly
 * wider), owner UID and group GID where not -1 (a failed chown is logged,
 * not fatal), BACKLOG connections.  A socket file nobody listens on is a
 * leftover and is replaced; one that answers is WHO's ("another WHO is
 * listening"): refused.  Returns the fd, or -1 with a message in ERR.
 */
int pvs_listen_unix(const char *path, uid_t uid, gid_t gid, int backlog, const char *who, char *err,
                    size_t errlen);

/* Send LEN bytes of BUF on SOCK with FD attached (SCM_RIGHTS) unless
 * FD < 0, never blocking, without SIGPIPE.  Bytes sent (a stream socket may
 * take fewer; FD went with the first of them) or -errno (-EAGAIN: no room). */
ssize_t pvs_send_with_fd(int sock, const void *buf, size_t len, int fd);

#endif
