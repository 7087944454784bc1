/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_doorbell.c - the ivshmem server's protocol pieces
 * (daemon/doorbell.c): the greeting QEMU reads at device realize, message
 * by message with the right fds attached; a client that does not read or
 * has hung up fails the greeting without blocking; the ring rate limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "doorbell.h"

/* One message as QEMU reads it: 8 bytes, little-endian, and an fd or -1. */
static int recv_msg(int sock, int64_t *msg, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	unsigned char le[8];
	struct iovec iov = {.iov_base = le, .iov_len = sizeof(le)};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = u.buf,
	                    .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *cm;
	uint64_t v = 0;

	if (recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(le))
		return -1;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)le[i] << (8 * i);
	*msg = (int64_t)v;
	*fd = -1;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(cm), sizeof(int));
	return 0;
}

static void t_greeting(void)
{
	int sv[2], shm, hefd, qefd, fd;
	int64_t msg;
	struct stat st;
	uint64_t one = 1, got = 0;
	static const int64_t want[] = {0, 0, -1, 1, 0};
	static const int has_fd[] = {0, 0, 1, 1, 1};
	int fds[5];

	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	shm = memfd_create("pvsched-test", MFD_CLOEXEC);
	REQUIRE(shm >= 0 && ftruncate(shm, 16384) == 0);
	hefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	qefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	REQUIRE(hefd >= 0 && qefd >= 0);
	CHECK_EQ(pvs_ivshmem_greet(sv[0], shm, hefd, qefd), 0);
	NOTE("version 0, own id 0, the region (-1), the server's peer 1, its own peer 0");
	for (int i = 0; i < 5; i++) {
		REQUIRE(recv_msg(sv[1], &msg, &fds[i]) == 0);
		CHECK_EQ((long long)msg, (long long)want[i]);
		CHECK_EQ(fds[i] >= 0, has_fd[i]);
	}
	CHECK(recv_msg(sv[1], &msg, &fd) < 0); /* nothing more */
	REQUIRE(fds[2] >= 0 && fstat(fds[2], &st) == 0);
	CHECK_EQ((long)st.st_size, 16384);
	NOTE("the guest's ring (a write to peer 1's eventfd) reaches the server's");
	REQUIRE(fds[3] >= 0);
	CHECK_EQ(write(fds[3], &one, sizeof(one)), (ssize_t)sizeof(one));
	CHECK_EQ(read(hefd, &got, sizeof(got)), (ssize_t)sizeof(got));
	CHECK_EQU(got, 1);
	for (int i = 2; i < 5; i++)
		close(fds[i]);
	close(shm);
	close(hefd);
	close(qefd);
	close(sv[0]);
	close(sv[1]);
}

static void t_encoding(void)
{
	int sv[2], fd;
	int64_t msg;
	unsigned char raw[8];

	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK_EQ(pvs_ivshmem_send(sv[0], -1, -1), 0);
	CHECK_EQ(read(sv[1], raw, sizeof(raw)), 8);
	NOTE("-1 is eight 0xff bytes (int64, little-endian)");
	for (int i = 0; i < 8; i++)
		CHECK_EQU(raw[i], 0xff);
	CHECK_EQ(pvs_ivshmem_send(sv[0], 0x0102, -1), 0);
	REQUIRE(recv_msg(sv[1], &msg, &fd) == 0);
	CHECK_EQ((long long)msg, 0x0102);
	CHECK_EQ(fd, -1);
	close(sv[0]);
	close(sv[1]);
}

/* A client that never reads: the greeting fails at once, never blocks. */
static void t_no_reader(void)
{
	int sv[2], sz = 4096, shm, efd;
	char junk[4096] = {0};

	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	while (send(sv[0], junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	shm = memfd_create("pvsched-test", MFD_CLOEXEC);
	efd = eventfd(0, EFD_CLOEXEC);
	REQUIRE(shm >= 0 && efd >= 0);
	CHECK_EQ(pvs_ivshmem_greet(sv[0], shm, efd, efd), -EAGAIN);
	close(sv[0]);
	close(sv[1]);
	close(shm);
	close(efd);
}

/* A client that hung up: an error, no SIGPIPE. */
static void t_hung_up(void)
{
	int sv[2], rc;

	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	close(sv[1]);
	rc = pvs_ivshmem_greet(sv[0], -1, -1, -1);
	CHECK(rc == -EPIPE || rc == -ECONNRESET);
	close(sv[0]);
}

static void t_rate(void)
{
	struct pvs_db_rate r = {0};
	uint64_t t = 5000000000ull, until = 0;
	int ok = 0;

	NOTE("2000 Hz: 200 rings per 100 ms window, then muted to the window's end");
	for (int i = 0; i < 300; i++)
		ok += pvs_db_rate_ok(&r, t + (uint64_t)i * 1000u, 2000, &until);
	CHECK_EQ(ok, 200);
	CHECK_EQU(until, t + PVS_DB_RATE_WINDOW_NS);
	CHECK_EQ(pvs_db_rate_ok(&r, t + PVS_DB_RATE_WINDOW_NS, 2000, &until), 1);
	NOTE("a limit below 10 Hz still lets one ring through per window");
	r = (struct pvs_db_rate){0};
	CHECK_EQ(pvs_db_rate_ok(&r, t, 1, &until), 1);
	CHECK_EQ(pvs_db_rate_ok(&r, t + 1, 1, &until), 0);
	NOTE("a clock that goes back starts a new window");
	CHECK_EQ(pvs_db_rate_ok(&r, t - 1000, 1, &until), 1);
}

static const struct tcase cases[] = {
        {"greeting", t_greeting}, {"encoding", t_encoding}, {"no-reader", t_no_reader},
        {"hung-up", t_hung_up},   {"rate", t_rate},
};

int main(int argc, char **argv)
{
	return run_cases(argc, argv, cases, NCASES(cases));
}
