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

/* Send one request, return the parsed reply or NULL (message printed). */
struct json_object *pvs_ctl_request(const char *prog, const char *sock_path,
                                    struct json_object *req)
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
		n = read(fd, buf + len, cap - 1 - len);
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
