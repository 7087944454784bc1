/* SPDX-License-Identifier: MIT */
/* tools/ctlclient.c - see ctlclient.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctlclient.h"

/* read() that also takes descriptors passed with the data: the first into
 * *FD (when FD is not NULL and *FD < 0), any other is closed. */
static ssize_t read_fd(int sock, char *buf, size_t len, int *fd)
{
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = u.buf,
	                    .msg_controllen = sizeof(u)};
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);

	if (n < 0)
		return n;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < nfd; i++) {
			int f;

			memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (fd && *fd < 0)
				*fd = f;
			else
				close(f);
		}
	}
	return n;
}

/* Send one request, return the parsed reply or NULL (message printed). */
static struct json_object *exchange(const char *prog, const char *sock_path,
                                    struct json_object *req, int *pfd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	size_t cap = 1 << 16, len = 0;
	char *buf;
	int fd, werr = 0;
	struct json_object *reply;

	if (strlen(sock_path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "%s: socket path '%s' too long\n", prog, sock_path);
		return NULL;
	}
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "%s: cannot reach pvschedd at %s: %s\n", prog, sock_path,
		        strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	/* A daemon with every client slot taken answers "busy" and closes at
	 * once, maybe before the request is written: the write then fails
	 * (EPIPE, no signal) but the answer is there to read. */
	if (send(fd, s, strlen(s), MSG_NOSIGNAL) != (ssize_t)strlen(s) ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
		werr = errno;
		if (werr != EPIPE && werr != ECONNRESET) {
			fprintf(stderr, "%s: write to %s: %s\n", prog, sock_path, strerror(werr));
			close(fd);
			return NULL;
		}
	}
	shutdown(fd, SHUT_WR);
	buf = malloc(cap);
	for (;;) {
		ssize_t n;
		if (!buf) {
			close(fd);
			return NULL;
		}
		if (len + 1 == cap) {
			char *nb = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;
			if (!nb) {
				free(buf);
				close(fd);
				fprintf(stderr, "%s: reply too large\n", prog);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		n = read_fd(fd, buf + len, cap - 1 - len, pfd);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNRESET && len)
				break; /* the answer came; the reset is the close */
			fprintf(stderr, "%s: %s %s: %s\n", prog, werr ? "write to" : "read from",
			        sock_path, strerror(werr ? werr : errno));
			free(buf);
			close(fd);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = 0;
	if (!len && werr) {
		fprintf(stderr, "%s: write to %s: %s\n", prog, sock_path, strerror(werr));
		free(buf);
		return NULL;
	}
	reply = json_tokener_parse(buf);
	free(buf);
	if (!reply) {
		fprintf(stderr, "%s: pvschedd sent an unreadable reply\n", prog);
		return NULL;
	}
	return reply;
}

struct json_object *pvs_ctl_request(const char *prog, const char *sock_path,
                                    struct json_object *req)
{
	return exchange(prog, sock_path, req, NULL);
}

struct json_object *pvs_ctl_request_fd(const char *prog, const char *sock_path,
                                       struct json_object *req, int *fd)
{
	struct json_object *reply;

	*fd = -1;
	reply = exchange(prog, sock_path, req, fd);
	if (!reply && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	return reply;
}

struct json_object *pvs_json_get(struct json_object *o, const char *k)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(o, k, &v);
	return v;
}

int pvs_ctl_check_ok(const char *prog, struct json_object *reply)
{
	struct json_object *ok, *e;

	if (json_object_object_get_ex(reply, "ok", &ok) && json_object_get_boolean(ok))
		return 0;
	if (json_object_object_get_ex(reply, "error", &e))
		fprintf(stderr, "%s: %s\n", prog, json_object_get_string(e));
	else
		fprintf(stderr, "%s: request failed\n", prog);
	return 1;
}
