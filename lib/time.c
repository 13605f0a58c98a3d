// SPDX-License-Identifier: MIT
/*
 * time.c - the monotonic clock.
 *
 * gort's time is int64_t nanoseconds of CLOCK_MONOTONIC, read through the
 * vDSO (about 20 ns here, no system call).  Timers, sleep and the timer
 * heap join this file with the channels issue.
 *
 * Rejected: CLOCK_MONOTONIC_COARSE (jiffy resolution, too coarse for
 * sysmon's 20 us syscall retake) and rdtsc (not invariant on every VM and
 * needs calibration).
 */
#include <time.h>

#include "runtime.h"

int64_t gort_nanotime_internal(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

GORT_API int64_t gort_nanotime(void)
{
	return gort_nanotime_internal();
}
