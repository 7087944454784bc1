/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_procfs.c - the daemon's /proc parsers: stat lines with
 * hostile comms (journal/thread_id.c), schedstat, status (daemon/procfs.c).
 */
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "procfs.h"
#include "testutil.h"

/* A stat line for COMM with state ST and starttime START (field 22), as
 * the kernel prints it: 52 fields. */
static int stat_line(char *buf, size_t len, const char *comm, char st, unsigned long long start)
{
	return snprintf(buf, len,
	                "4242 (%s) %c 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 4 0 %llu "
	                "123456789 300 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 "
	                "0 0 0 0 0 0 0 0 0 0 0\n",
	                comm, st, start);
}

static void t_stat(void)
{
	static const char *comms[] = {
	        "CPU 0/KVM", "CPU 15/TCG",      "a) b (c)", "x)",   ") S 1 2 3",
	        "",          "qemu-system-x86", "((((",     "))))", "ALL CPUs/TCG",
	};
	char line[1024], comm[64], st = 0;
	uint64_t start = 0;

	for (size_t i = 0; i < NCASES(comms); i++) {
		int n = stat_line(line, sizeof(line), comms[i], 'R', 1000 + i);
		memset(comm, 'Z', sizeof(comm));
		st = 0;
		start = 0;
		CHECKM(pvs_parse_stat(line, (size_t)n, comm, sizeof(comm), &st, &start) == 0 &&
		               !strcmp(comm, comms[i]) && st == 'R' && start == 1000 + i,
		       "comm \"%s\" -> \"%s\", state %c, start %llu", comms[i], comm, st ? st : '?',
		       (unsigned long long)start);
	}

	NOTE("state letters and a long comm truncated to the buffer");
	int n = stat_line(line, sizeof(line), "CPU 0/KVM", 'S', 77);
	char small[4];
	CHECK_EQ(pvs_parse_stat(line, (size_t)n, small, sizeof(small), &st, &start), 0);
	CHECK_STR(small, "CPU");
	CHECK_EQ(st, 'S');
	CHECK_EQU(start, 77);
	NOTE("NULL outputs are allowed");
	CHECK_EQ(pvs_parse_stat(line, (size_t)n, NULL, 0, NULL, NULL), 0);

	NOTE("malformed lines");
	CHECK_EQ(pvs_parse_stat("4242 CPU 0/KVM) S 1", 19, comm, sizeof(comm), &st, &start),
	         -EINVAL);
	CHECK_EQ(pvs_parse_stat("4242 (CPU 0/KVM S 1", 19, comm, sizeof(comm), &st, &start),
	         -EINVAL);
	CHECK_EQ(pvs_parse_stat("", 0, comm, sizeof(comm), &st, &start), -EINVAL);
	const char *few = "4242 (x) S 1 2 3 4 5\n";
	CHECK_EQ(pvs_parse_stat(few, strlen(few), comm, sizeof(comm), &st, &start), -EINVAL);
	const char *nonum = "1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 abc 0\n";
	CHECK_EQ(pvs_parse_stat(nonum, strlen(nonum), comm, sizeof(comm), &st, &start), -EINVAL);
	NOTE("a ')' after the fields cannot shift them: LEN bounds the search");
	n = stat_line(line, sizeof(line), "vcpu", 'D', 99);
	line[n] = ')';
	line[n + 1] = 0;
	CHECK_EQ(pvs_parse_stat(line, (size_t)n, comm, sizeof(comm), &st, &start), 0);
	CHECK_STR(comm, "vcpu");
	CHECK_EQ(st, 'D');

	NOTE("this process's own /proc stat");
	CHECK_EQ(pvs_proc_stat(getpid(), getpid(), comm, sizeof(comm), &st, &start), 0);
	CHECKM(strstr(comm, "test_procfs") != NULL, "own comm \"%s\"", comm);
	CHECK(st == 'R');
	CHECK(start > 0);
	CHECK(pvs_proc_stat(getpid(), 999999999, comm, sizeof(comm), &st, &start) < 0);
}

/*
 * The parsers take (buf, len): a buffer that is not NUL-terminated must not
 * be read past LEN.  The buffer is placed right before an inaccessible page,
 * so a read past its end faults (caught and reported as a failure).
 */
static sigjmp_buf fault_jmp;

static void on_fault(int sig)
{
	siglongjmp(fault_jmp, sig);
}

static char *guarded(const char *data, size_t n, void **map, size_t *maplen)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t pages = (n + (size_t)pg - 1) / (size_t)pg + 1;
	char *m = mmap(NULL, pages * (size_t)pg, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	REQUIREQ(m != MAP_FAILED);
	REQUIREQ(mprotect(m + (pages - 1) * (size_t)pg, (size_t)pg, PROT_NONE) == 0);
	*map = m;
	*maplen = pages * (size_t)pg;
	m += (pages - 1) * (size_t)pg - n;
	memcpy(m, data, n);
	return m;
}

enum { P_STAT, P_SCHEDSTAT, P_INVOL };

/* Run parser WHICH on the N bytes of DATA placed against a guard page. */
static int run_guarded(int which, const char *data, size_t n, uint64_t *a, uint64_t *b,
                       int *faulted)
{
	struct sigaction sa = {.sa_handler = on_fault}, old_segv, old_bus;
	void *map;
	size_t maplen;
	char *buf = guarded(data, n, &map, &maplen);
	volatile int rc = -1000;
	char st;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	*faulted = 0;
	if (sigsetjmp(fault_jmp, 1) == 0) {
		if (which == P_STAT)
			rc = pvs_parse_stat(buf, n, NULL, 0, &st, a);
		else if (which == P_SCHEDSTAT)
			rc = pvs_parse_schedstat(buf, n, a, b);
		else
			rc = pvs_parse_invol(buf, n, a);
	} else {
		*faulted = 1;
	}
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	munmap(map, maplen);
	return rc;
}

static void t_unterminated(void)
{
	char tmp[1024];
	int n = stat_line(tmp, sizeof(tmp), "CPU 0/KVM", 'R', 5), faulted, rc;
	char *cut;
	uint64_t a = 0, b = 0;

	NOTE("(each buffer ends right before an inaccessible page)");
	/* cut after field 22 ("... 0 5") so the number runs to the buffer's end */
	cut = strstr(tmp, " 5 123456789");
	REQUIREQ(cut != NULL);
	n = (int)(cut - tmp) + 2;
	rc = run_guarded(P_STAT, tmp, (size_t)n, &a, &b, &faulted);
	CHECKM(!faulted, "stat line ending in the starttime digits: no read past LEN");
	CHECKM(faulted || (rc == 0 && a == 5), "... and starttime 5 (rc %d, %llu)", rc,
	       (unsigned long long)a);
	rc = run_guarded(P_STAT, tmp, (size_t)n - 1, &a, &b, &faulted);
	CHECKM(!faulted && rc == -EINVAL, "stat line cut before the starttime: -EINVAL (rc %d)",
	       rc);

	rc = run_guarded(P_SCHEDSTAT, "123 456", 7, &a, &b, &faulted);
	CHECKM(!faulted, "schedstat \"123 456\": no read past LEN");
	CHECKM(faulted || (rc == 0 && a == 123 && b == 456), "... and 123, 456 (rc %d)", rc);
	rc = run_guarded(P_SCHEDSTAT, "123", 3, &a, &b, &faulted);
	CHECKM(!faulted && rc == -EINVAL, "schedstat \"123\": no read past LEN, -EINVAL (rc %d)",
	       rc);

	static const char st_txt[] = "voluntary_ctxt_switches:\t1\nnonvoluntary_ctxt_switches:\t9";
	rc = run_guarded(P_INVOL, st_txt, sizeof(st_txt) - 1, &a, &b, &faulted);
	CHECKM(!faulted, "status ending in \"nonvoluntary_ctxt_switches:\\t9\": no read past LEN");
	CHECKM(faulted || (rc == 0 && a == 9), "... and 9 (rc %d)", rc);
}

static void t_schedstat(void)
{
	uint64_t run = 0, wait = 0;

	CHECK_EQ(pvs_parse_schedstat("123456789 987654 42\n", 20, &run, &wait), 0);
	CHECK_EQU(run, 123456789);
	CHECK_EQU(wait, 987654);
	CHECK_EQ(pvs_parse_schedstat("18446744073709551615 0 0\n", 25, &run, &wait), 0);
	CHECK_EQU(run, UINT64_MAX);
	run = 1;
	CHECK_EQ(pvs_parse_schedstat("99999999999999999999 0 0\n", 25, &run, &wait), -EINVAL);
	CHECKM(run == 1, "outputs untouched on error");
	CHECK_EQ(pvs_parse_schedstat("abc", 3, &run, &wait), -EINVAL);
	CHECK_EQ(pvs_parse_schedstat("12", 2, &run, &wait), -EINVAL);
	CHECK_EQ(pvs_parse_schedstat("12 x", 4, &run, &wait), -EINVAL);
	CHECK_EQ(pvs_parse_schedstat("", 0, &run, &wait), -EINVAL);
	CHECK_EQ(pvs_parse_schedstat("12\t34", 5, &run, &wait), -EINVAL);
}

static void t_invol(void)
{
	static const char status[] = "Name:\tCPU 0/KVM\nState:\tR (running)\n"
	                             "voluntary_ctxt_switches:\t150\n"
	                             "nonvoluntary_ctxt_switches:\t7\n";
	uint64_t v = 0;

	CHECK_EQ(pvs_parse_invol(status, sizeof(status) - 1, &v), 0);
	CHECK_EQU(v, 7);
	CHECK_EQ(pvs_parse_invol("voluntary_ctxt_switches:\t150\n", 29, &v), -ENOENT);
	CHECK_EQ(pvs_parse_invol("", 0, &v), -ENOENT);
	CHECK_EQ(pvs_parse_invol("nonvoluntary_ctxt_switches:", 27, &v), -ENOENT);
	char self[4096];
	ssize_t n = pvs_read_file("/proc/self/status", self, sizeof(self));
	REQUIRE(n > 0);
	CHECK_EQ(pvs_parse_invol(self, (size_t)n, &v), 0);
	CHECK(pvs_read_file("/nonexistent", self, sizeof(self)) == -ENOENT);
}

static void t_sanitize(void)
{
	char s[64];

	snprintf(s, sizeof(s), "vm 1/../x;$(rm)");
	pvs_sanitize_name(s);
	CHECK_STR(s, "vm_1_.._x___rm_");
	snprintf(s, sizeof(s), "ok-Name_1.2");
	pvs_sanitize_name(s);
	CHECK_STR(s, "ok-Name_1.2");
	snprintf(s, sizeof(s), "caf\xc3\xa9");
	pvs_sanitize_name(s);
	CHECK_STR(s, "caf__");
}

static const struct tcase cases[] = {
        {"stat", t_stat},   {"unterminated", t_unterminated}, {"schedstat", t_schedstat},
        {"invol", t_invol}, {"sanitize", t_sanitize},
};

int main(int argc, char **argv)
{
	return run_cases(argc, argv, cases, NCASES(cases));
}
