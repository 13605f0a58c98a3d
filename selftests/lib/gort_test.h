/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gort_test.h - helpers shared by the gort selftests.
 *
 * The kselftest harness forks every test, so each test starts gort_main
 * afresh in its own process.  What the harness cannot do for a runtime
 * test is provided here:
 *
 *  - Checks from inside goroutines.  ASSERT_*() longjmp()s back to the
 *    test function's stack, which is wrong from a goroutine stack (and
 *    often from another thread), so goroutines use GT_CHECK(), which
 *    records the failure and carries on; the test asserts
 *    gt_failures() == 0 after gort_main returns.
 *  - Running gort_main with a given number of Ps: run_main() sets
 *    GORT_MAXPROCS, which the runtime reads at each gort_main start.
 *  - Watching a process die: gt_fork_run() runs a function in a forked
 *    child with stdout and stderr captured, so fatal errors, panics and
 *    their exit status 2 can be checked.  The child's stderr is copied to
 *    ours afterwards, so sanitizer reports from children reach the test
 *    runner's logs.
 *  - A procs=1/2/8 fixture: GT_PROCS_FIXTURE(name).
 *  - Scaling heavy tests down on slow machines: gt_scaled(n) is n times
 *    GORT_TEST_SCALE (see below).
 *  - Small pieces several tests repeat: switching away from a goroutine
 *    by yielding or parking (gt_yield_or_park), joining a pthread from a
 *    goroutine without holding its P (gt_join_thread), and a qsort()
 *    comparison for goroutine ids (gt_cmp_u64).
 *
 * This header does not include kselftest_harness.h (the harness defines
 * non-static functions, so it may only be included once per program);
 * GT_PROCS_FIXTURE expands to harness macros in the test file itself.
 */
#ifndef GORT_TEST_H
#define GORT_TEST_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gort.h"

/*
 * FIXTURE(name) with variants procs1, procs2 and procs8; variant->procs is
 * the number of Ps to pass to run_main().
 */
#define GT_PROCS_FIXTURE(name)						\
	FIXTURE(name) {							\
		int unused;						\
	};								\
	FIXTURE_VARIANT(name) {						\
		int procs;						\
	};								\
	FIXTURE_VARIANT_ADD(name, procs1) { .procs = 1 };		\
	FIXTURE_VARIANT_ADD(name, procs2) { .procs = 2 };		\
	FIXTURE_VARIANT_ADD(name, procs8) { .procs = 8 };		\
	FIXTURE_SETUP(name) { }						\
	FIXTURE_TEARDOWN(name) { }

/* Set GORT_MAXPROCS=procs (if procs > 0), then gort_main(fn, arg). */
int run_main(int procs, int (*fn)(void *arg), void *arg);

/* ---- scaling down on slow machines ---- */

/*
 * GORT_TEST_SCALE, a number in (0, 1], default 1: the factor by which a
 * test multiplies its heavy work (iterations, goroutines, connections,
 * bytes) where the point survives smaller numbers.  The full-system QEMU
 * guest (selftests/net-guest, software-emulated arm64) sets 0.1.  A value
 * below 1 also says the machine is slow: time bounds that assume native
 * speed should be loosened there.  Read once at program start (before a
 * test's gt_clear_gort_env()); a malformed value is reported on stderr and
 * counts as 1.
 */
double gt_test_scale(void);
/* n * GORT_TEST_SCALE, rounded down but at least 1 (n itself if n < 1). */
long gt_scaled(long n);

/* ---- checks from goroutines ---- */

void gt_check_failed(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Number of GT_CHECK failures so far in this process. */
long gt_failures(void);

#define GT_CHECK(cond) do {						\
	if (!(cond))							\
		gt_check_failed(__FILE__, __LINE__, "%s", #cond);	\
} while (0)

#define GT_CHECKF(cond, fmt, ...) do {					\
	if (!(cond))							\
		gt_check_failed(__FILE__, __LINE__, "%s: " fmt, #cond,	\
				##__VA_ARGS__);				\
} while (0)

/* ---- switching away, joining threads, sorting ids ---- */

/*
 * In a goroutine, round number round of a loop: park (on a wait group, until
 * a goroutine it starts has run) if round % park_every == park_every - 1,
 * else yield.  Returns gort_go()'s error when parking could not start the
 * helper goroutine (it then does not park), else 0.
 */
int gt_yield_or_park(int round, int park_every);
/* pthread_join(th) from a goroutine, inside gort_syscall_begin/end. */
void gt_join_thread(pthread_t th);
/* qsort() comparison of two uint64_t (goroutine ids). */
int gt_cmp_u64(const void *a, const void *b);

/* ---- clocks and threads, without calling into the runtime ---- */

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t gt_now_ns(void);
/* Sleep the calling thread (not a goroutine switch). */
void gt_sleep_ms(int ms);
/* Run state of thread tid of this process ('R', 'S', ...), 0 if unknown. */
char gt_thread_state(pid_t tid);

/* ---- forked children ---- */

struct gt_child {
	int status;		/* waitpid() status */
	bool timed_out;		/* killed by gt_fork_run's deadline */
	char *out;		/* captured stdout, NUL-terminated */
	size_t out_len;
	char *err;		/* captured stderr, NUL-terminated */
	size_t err_len;
};

/*
 * Fork; in the child run fn(arg) and _exit() with its return value (after
 * flushing stdio).  Waits at most timeout_s seconds, then kills the child.
 * Returns 0, or -errno if the child could not be started.
 */
int gt_fork_run(int (*fn)(void *arg), void *arg, int timeout_s,
		struct gt_child *c);
void gt_child_free(struct gt_child *c);
/* The child exited normally with this status. */
bool gt_exited_with(const struct gt_child *c, int code);
/* Describe how the child ended, for log messages. */
const char *gt_child_how(const struct gt_child *c, char *buf, size_t len);
/* Number of lines of s, counting a last unterminated line. */
int gt_count_lines(const char *s);

/* Zeroed memory shared with forked children (MAP_SHARED). */
void *gt_shared_alloc(size_t size);

/* Remove every GORT_* variable from the environment. */
void gt_clear_gort_env(void);

#endif /* GORT_TEST_H */
