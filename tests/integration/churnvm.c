/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/churnvm.c - a process VM whose vCPU threads keep dying
 * and being replaced, for the thread-churn test of pvschedd.
 *
 * N slots each run one thread named vcpuK; a thread lives LIFE..2*LIFE ms
 * (every fifth one ten times longer; 1 ms spinning, 4 ms sleeping,
 * repeatedly), then exits and the slot gets a new thread.  After CHURN
 * seconds every slot gets a last, long-lived thread and the process waits
 * for SIGTERM.  Every thread start and exit is logged with CLOCK_MONOTONIC
 * times, so the test can tell which tids were alive when pvschedd reported
 * them:
 *   start TID SLOT T_NS REUSED    (T_NS taken before the thread was created)
 *   exit TID T_NS                 (T_NS taken after the kernel cleared the tid)
 *   stable T_NS                   (all long-lived threads started)
 *
 * Forced tid reuse: on x86_64 threads are created with a raw clone3(), which
 * can ask for a given tid (set_tid, needs CAP_SYS_ADMIN or
 * CAP_CHECKPOINT_RESTORE).  With -r, every third replacement and every
 * long-lived thread asks for the tid of the thread that just left its slot,
 * so pvschedd sees a new thread behind an old tid.  Without the privilege
 * (or on another architecture) the log says "reuse unavailable" and the
 * churn runs without it.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pvs_clock.h"

#define MAX_SLOTS  64
#define STACK_SIZE (64 * 1024)

#if defined(__clang__)
#define NOSAN __attribute__((no_sanitize("address", "undefined"), noinline))
#elif defined(__GNUC__)
#define NOSAN __attribute__((no_sanitize_address, no_sanitize_undefined, noinline))
#else
#define NOSAN
#endif

struct vthread {
	volatile int32_t ctid; /* tid; the kernel clears it (and futex-wakes) at exit */
	volatile int stop;
	uint64_t end_ns; /* exit at this CLOCK_MONOTONIC time; 0: only on stop */
	char name[16];
	void *stack;
	int raw;
	pthread_t pt;
	pid_t tid;
};

static FILE *logf;

#if defined(__x86_64__)
/*
 * The raw thread has no TLS and no sanitizer state of its own: it uses
 * nothing but raw system calls and its own stack.
 */
NOSAN static long rsys(long n, long a, long b, long c)
{
	long ret;

	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"(n), "D"(a), "S"(b), "d"(c)
	                 : "rcx", "r11", "memory");
	return ret;
}

NOSAN static uint64_t raw_now(void)
{
	struct timespec ts;

	rsys(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts, 0);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

NOSAN static int raw_body(void *arg)
{
	struct vthread *t = arg;
	struct timespec nap = {0, 4000000};

	rsys(SYS_prctl, PR_SET_NAME, (long)t->name, 0);
	for (;;) {
		uint64_t now = raw_now(), spin_end = now + 1000000;

		if (t->stop || (t->end_ns && now >= t->end_ns))
			break;
		while (raw_now() < spin_end)
			;
		rsys(SYS_nanosleep, (long)&nap, 0, 0);
	}
	return 0;
}

struct clone_args_v1 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	uint64_t set_tid, set_tid_size;
};

/* clone3() a thread that runs FN(ARG) on its own stack, then exit(2)s. */
static long clone3_thread(struct clone_args_v1 *ca, int (*fn)(void *), void *arg)
{
	register long rax __asm__("rax") = SYS_clone3;
	register void *rdi __asm__("rdi") = ca;
	register long rsi __asm__("rsi") = (long)sizeof(*ca);
	register int (*r12)(void *) __asm__("r12") = fn;
	register void *r13 __asm__("r13") = arg;

	__asm__ volatile("syscall\n\t"
	                 "test %%rax, %%rax\n\t"
	                 "jnz 1f\n\t"
	                 "xor %%ebp, %%ebp\n\t"
	                 "mov %%r13, %%rdi\n\t"
	                 "call *%%r12\n\t"
	                 "mov %%eax, %%edi\n\t"
	                 "mov $60, %%eax\n\t"
	                 "syscall\n\t"
	                 "hlt\n\t"
	                 "1:\n\t"
	                 : "+r"(rax)
	                 : "r"(rdi), "r"(rsi), "r"(r12), "r"(r13)
	                 : "rcx", "r11", "memory");
	return rax;
}

static int raw_start(struct vthread *t, pid_t want_tid)
{
	struct clone_args_v1 ca;
	int64_t tid64 = want_tid;
	long rc;

	memset(&ca, 0, sizeof(ca));
	t->stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
	                MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (t->stack == MAP_FAILED) {
		t->stack = NULL;
		return -ENOMEM;
	}
	ca.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
	           CLONE_SYSVSEM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
	ca.parent_tid = (uint64_t)(uintptr_t)&t->ctid;
	ca.child_tid = (uint64_t)(uintptr_t)&t->ctid;
	ca.stack = (uint64_t)(uintptr_t)t->stack;
	ca.stack_size = STACK_SIZE;
	if (want_tid > 0) {
		ca.set_tid = (uint64_t)(uintptr_t)&tid64;
		ca.set_tid_size = 1;
	}
	rc = clone3_thread(&ca, raw_body, t);
	if (rc < 0) {
		munmap(t->stack, STACK_SIZE);
		t->stack = NULL;
		return (int)rc;
	}
	t->raw = 1;
	t->tid = (pid_t)rc;
	return 0;
}
#endif

/* Portable fallback: a pthread (no forced tid reuse). */
static void *pt_body(void *arg)
{
	struct vthread *t = arg;

	t->ctid = (int32_t)syscall(SYS_gettid);
	prctl(PR_SET_NAME, t->name, 0, 0, 0);
	for (;;) {
		uint64_t now = pvs_mono_ns(), spin_end = now + 1000000;

		if (t->stop || (t->end_ns && now >= t->end_ns))
			break;
		while (pvs_mono_ns() < spin_end)
			;
		usleep(4000);
	}
	return NULL;
}

static int use_raw = 1, reuse_ok = 1;

/* Start T, asking for tid WANT (0: any).  Returns 0 and sets *REUSED. */
static int vthread_start(struct vthread *t, pid_t want, int *reused)
{
	*reused = 0;
#if defined(__x86_64__)
	if (use_raw) {
		int rc = -EEXIST;

		/* the old thread's tid is freed shortly after its exit */
		for (int i = 0; want > 0 && reuse_ok && rc == -EEXIST && i < 20; i++) {
			rc = raw_start(t, want);
			if (rc == -EEXIST)
				usleep(1000);
		}
		if (want > 0 && reuse_ok && rc == 0) {
			*reused = 1;
			return 0;
		}
		if (want > 0 && reuse_ok && (rc == -EPERM || rc == -EINVAL || rc == -E2BIG)) {
			fprintf(logf, "reuse unavailable %d\n", -rc);
			reuse_ok = 0;
		}
		rc = raw_start(t, 0);
		if (rc == 0)
			return 0;
		if (rc != -ENOSYS)
			return rc;
		use_raw = 0;
		reuse_ok = 0;
		fprintf(logf, "reuse unavailable %d\n", -rc);
	}
#else
	(void)want;
	if (reuse_ok) {
		fprintf(logf, "reuse unavailable 0\n");
		reuse_ok = 0;
	}
#endif
	t->ctid = 0;
	t->raw = 0;
	if (pthread_create(&t->pt, NULL, pt_body, t))
		return -EAGAIN;
	while (!t->ctid)
		usleep(100);
	t->tid = t->ctid;
	return 0;
}

/* Non-blocking: has T exited (and been cleaned up)? */
static int vthread_reap(struct vthread *t)
{
	if (t->raw) {
		if (t->ctid)
			return 0;
		munmap(t->stack, STACK_SIZE);
		t->stack = NULL;
		return 1;
	}
	if (pthread_tryjoin_np(t->pt, NULL))
		return 0;
	return 1;
}

static void vthread_join(struct vthread *t)
{
	t->stop = 1;
	if (t->raw) {
		while (t->ctid)
			syscall(SYS_futex, &t->ctid, 0 /* FUTEX_WAIT */, t->ctid, NULL, NULL, 0);
		munmap(t->stack, STACK_SIZE);
		t->stack = NULL;
	} else {
		pthread_join(t->pt, NULL);
	}
}

static int start_slot(struct vthread *t, int slot, uint64_t life_ns, pid_t want)
{
	uint64_t t0 = pvs_mono_ns();
	int reused, rc;

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "vcpu%d", slot);
	if (life_ns)
		t->end_ns = t0 + life_ns + (uint64_t)(rand() % 1000) * (life_ns / 1000);
	rc = vthread_start(t, want, &reused);
	if (rc < 0) {
		fprintf(stderr, "churnvm: thread start: %s\n", strerror(-rc));
		return rc;
	}
	fprintf(logf, "start %d %d %llu %d\n", (int)t->tid, slot, (unsigned long long)t0, reused);
	return 0;
}

int main(int argc, char **argv)
{
	static struct vthread th[MAX_SLOTS];
	int n = 4, life_ms = 80, reuse = 0, opt, stable = 0;
	unsigned long creations = 0;
	double churn_s = 4;
	const char *logpath = NULL;
	uint64_t churn_end;
	sigset_t set;

	while ((opt = getopt(argc, argv, "n:l:c:o:r")) != -1) {
		switch (opt) {
		case 'n': n = atoi(optarg); break;
		case 'l': life_ms = atoi(optarg); break;
		case 'c': churn_s = atof(optarg); break;
		case 'o': logpath = optarg; break;
		case 'r': reuse = 1; break;
		default:
			fprintf(stderr, "usage: churnvm [-n THREADS] [-l LIFE_MS] [-c CHURN_S] "
			                "[-o LOG] [-r]\n");
			return 2;
		}
	}
	if (n < 1 || n > MAX_SLOTS || life_ms < 1 || churn_s < 0) {
		fprintf(stderr, "churnvm: bad arguments\n");
		return 2;
	}
	logf = logpath ? fopen(logpath, "w") : stdout;
	if (!logf) {
		perror(logpath);
		return 1;
	}
	setvbuf(logf, NULL, _IOLBF, 0);
	reuse_ok = reuse;
	srand((unsigned)getpid());
	/* Signals go to the main thread only, which polls for them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);

	fprintf(logf, "pid %d\n", (int)getpid());
	for (int i = 0; i < n; i++)
		if (start_slot(&th[i], i, (uint64_t)life_ms * 1000000u, 0) < 0)
			return 1;
	churn_end = pvs_mono_ns() + (uint64_t)(churn_s * 1e9);
	for (;;) {
		struct timespec tick = {0, 1000000};
		int sig = sigtimedwait(&set, NULL, &tick);

		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (stable)
			continue;
		for (int i = 0; i < n; i++) {
			pid_t old = th[i].tid;
			int last = pvs_mono_ns() >= churn_end;

			if (!vthread_reap(&th[i]))
				continue;
			fprintf(logf, "exit %d %llu\n", (int)old,
			        (unsigned long long)pvs_mono_ns());
			creations++;
			/* the last (long-lived) threads all take over their
			 * predecessor's tid; churn threads every third time */
			/* every fifth thread lives ten times longer */
			if (start_slot(&th[i], i,
			               last ? 0
			                    : (uint64_t)life_ms * 1000000u *
			                               (creations % 5 ? 1 : 10),
			               reuse && (last || creations % 3 == 0) ? old : 0) < 0)
				return 1;
		}
		if (pvs_mono_ns() >= churn_end) {
			int all = 1;
			for (int i = 0; i < n; i++)
				if (th[i].end_ns)
					all = 0;
			if (all) {
				fprintf(logf, "stable %llu\n", (unsigned long long)pvs_mono_ns());
				stable = 1;
			}
		}
	}
	for (int i = 0; i < n; i++)
		vthread_join(&th[i]);
	fprintf(logf, "done\n");
	if (logf != stdout)
		fclose(logf);
	return 0;
}
