/* SPDX-License-Identifier: MIT */
/*
 * tests/e2e/guestutil.h - what the guest programs of the end-to-end tests
 * (guest_probe, guest_migwatch, guest_omp) share: the guest's monotonic
 * clock (common/pvs_clock.h), a sleep that survives signals, and the
 * priority of a spinning thread.  libc only: the programs run in a busybox
 * initramfs.
 */
#ifndef PVS_E2E_GUESTUTIL_H
#define PVS_E2E_GUESTUTIL_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pvs_clock.h"

static inline void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/*
 * For a spinning thread: the lowest guest priority (SCHED_IDLE, or nice 19)
 * so the reporting thread always gets a vCPU when it wakes up; the spinner
 * still keeps its vCPU permanently runnable, which is what makes the host's
 * vCPU thread busy and therefore preemptible by host load.
 */
static inline void lowest_priority(void)
{
	struct sched_param sp = {.sched_priority = 0};

	if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0)
		(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
}

#endif
