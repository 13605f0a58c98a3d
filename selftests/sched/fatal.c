// SPDX-License-Identifier: GPL-2.0
/*
 * fatal.c - how a gort program dies: deadlock, stack overflow, panic, and
 * malformed GORT_* environment variables.
 *
 * Each case runs in a forked child (gt_fork_run) whose stderr and exit
 * status are checked against what Go prints and does, since that is what
 * users and their tools (log scrapers, supervisors) recognise:
 *
 *  - deadlock: "fatal error: all goroutines are asleep - deadlock!" and
 *    the goroutine dump (the main goroutine is "goroutine 1 ["), exit 2;
 *    a goroutine blocked in a system call is not a deadlock;
 *  - stack overflow: "goroutine N stack overflow" naming the goroutine,
 *    exit 2, for the default stack, a small gort_go_opts stack and a
 *    GORT_STACK stack; the depth reached shows the size took effect;
 *  - gort_panic: "panic: <message>" and "goroutine N [running]:" for the
 *    panicking goroutine, exit 2;
 *  - gort_goexit in the main goroutine: the other goroutines run to their
 *    end, then "fatal error: no goroutines ... deadlock!", exit 2;
 *  - GORT_MAXPROCS, GORT_STACK and GORT_DEBUG with malformed values: one
 *    line on stderr naming the variable, exit 2, and main_fn never runs.
 *
 * The children communicate through MAP_SHARED memory, which survives a
 * child that dies without flushing its stdio.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gort_test.h"

#define CHILD_TIMEOUT	30	/* seconds, for a child to die */

/* Shared with the forked child. */
struct fatal_info {
	int procs;
	atomic_int main_ran;
	atomic_int nblocked;
	uint64_t goid;			/* the goroutine that dies */
	uint64_t goids[3];		/* blocked goroutines */
	size_t stack_size;		/* for gort_go_opts; 0: default */
	uintptr_t stack_top;		/* a frame near the stack's top */
	volatile uintptr_t deepest;	/* deepest frame reached */
	int pipefd[2];
};

static struct fatal_info *info;

GT_PROCS_FIXTURE(sched)

static struct fatal_info *new_info(struct __test_metadata *_metadata,
				   int procs)
{
	struct fatal_info *fi = gt_shared_alloc(sizeof(*fi));

	ASSERT_NE(NULL, fi);
	fi->procs = procs;
	return fi;
}

/* Fork child(arg), check exit status 2 and every string in want[]. */
static void expect_death(struct __test_metadata *_metadata,
			 int (*child)(void *), void *arg,
			 const char *const *want, int nwant,
			 struct gt_child *c)
{
	char how[64];
	int i;

	ASSERT_EQ(0, gt_fork_run(child, arg, CHILD_TIMEOUT, c));
	EXPECT_TRUE(gt_exited_with(c, 2)) {
		TH_LOG("child: %s, expected exit status 2",
		       gt_child_how(c, how, sizeof(how)));
	}
	for (i = 0; i < nwant; i++) {
		EXPECT_NE(NULL, strstr(c->err, want[i])) {
			TH_LOG("stderr lacks \"%s\"", want[i]);
		}
	}
}

/* ---- deadlock ---- */

static struct gort_waitgroup never;	/* never done */

static void block_forever(void *arg)
{
	int i = (intptr_t)arg;

	info->goids[i] = gort_goid();
	atomic_fetch_add(&info->nblocked, 1);
	gort_wg_wait(&never);
}

static int deadlock_main(void *arg)
{
	int i;

	atomic_store(&info->main_ran, 1);
	gort_wg_add(&never, 1);
	for (i = 0; i < 3; i++)
		gort_go(block_forever, (void *)(intptr_t)i);
	while (atomic_load(&info->nblocked) < 3)
		gort_yield();
	gort_wg_wait(&never);
	return 0;
}

static int deadlock_child(void *arg)
{
	gt_clear_gort_env();
	return run_main(info->procs, deadlock_main, NULL);
}

/* Every goroutine blocked on a wait group: Go's deadlock error, exit 2. */
TEST_F_TIMEOUT(sched, deadlock, 120)
{
	static const char *const want[] = {
		"fatal error: all goroutines are asleep - deadlock!",
		"goroutine 1 [",
	};
	struct gt_child c;
	int i;

	info = new_info(_metadata, variant->procs);
	expect_death(_metadata, deadlock_child, NULL, want, 2, &c);
	EXPECT_EQ(1, atomic_load(&info->main_ran));
	ASSERT_EQ(3, atomic_load(&info->nblocked));
	for (i = 0; i < 3; i++) {
		char hdr[64];

		snprintf(hdr, sizeof(hdr), "goroutine %llu [",
			 (unsigned long long)info->goids[i]);
		EXPECT_NE(NULL, strstr(c.err, hdr)) {
			TH_LOG("dump lacks blocked \"%s\"", hdr);
		}
	}
	gt_child_free(&c);
}

static void *write_later(void *arg)
{
	gt_sleep_ms(200);
	if (write(info->pipefd[1], "x", 1) != 1)
		abort();
	return NULL;
}

static void read_in_syscall(void *arg)
{
	struct gort_waitgroup *wg = arg;
	char ch;

	gort_syscall_begin();
	if (read(info->pipefd[0], &ch, 1) != 1)
		abort();
	gort_syscall_end();
	gort_wg_done(wg);
}

static int syscall_wait_main(void *arg)
{
	struct gort_waitgroup wg = { 0 };
	pthread_t th;

	atomic_store(&info->main_ran, 1);
	gort_wg_add(&wg, 1);
	if (gort_go(read_in_syscall, &wg))
		return 3;
	if (pthread_create(&th, NULL, write_later, NULL))
		return 4;
	gort_wg_wait(&wg);
	pthread_join(th, NULL);
	return 0;
}

static int syscall_wait_child(void *arg)
{
	gt_clear_gort_env();
	if (pipe(info->pipefd))
		return 5;
	return run_main(info->procs, syscall_wait_main, NULL);
}

/* A goroutine blocked in a system call may wake others: not a deadlock. */
TEST_F_TIMEOUT(sched, no_deadlock_while_in_syscall, 120)
{
	struct gt_child c;
	char how[64];

	info = new_info(_metadata, variant->procs);
	ASSERT_EQ(0, gt_fork_run(syscall_wait_child, info, CHILD_TIMEOUT, &c));
	EXPECT_TRUE(gt_exited_with(&c, 0)) {
		TH_LOG("child: %s, expected exit status 0",
		       gt_child_how(&c, how, sizeof(how)));
	}
	EXPECT_EQ(NULL, strstr(c.err, "deadlock"));
	gt_child_free(&c);
}

/* ---- stack overflow ---- */

static volatile long depth_limit = 1L << 40;

/* Unbounded recursion, each frame live after its call (no tail call). */
static __attribute__((noinline, optimize("no-optimize-sibling-calls")))
long recurse(long depth)
{
	volatile char buf[512];

	buf[0] = (char)depth;
	buf[sizeof(buf) - 1] = 0;
	info->deepest = (uintptr_t)buf;
	if (depth >= depth_limit)
		return 0;
	return recurse(depth + 1) + buf[0] + buf[sizeof(buf) - 1];
}

static void overflow(void *arg)
{
	info->stack_top = (uintptr_t)__builtin_frame_address(0);
	info->goid = gort_goid();
	recurse(0);
	atomic_store(&info->main_ran, 2);	/* not reached */
}

static int overflow_main(void *arg)
{
	struct gort_go_opts opts = { .stack_size = info->stack_size };
	struct gort_waitgroup wg = { 0 };

	atomic_store(&info->main_ran, 1);
	gort_wg_add(&wg, 1);
	if (gort_go_opts(overflow, NULL, &opts))
		return 3;
	gort_wg_wait(&wg);
	return 0;
}

static int overflow_child(void *arg)
{
	const char *env = arg;

	gt_clear_gort_env();
	if (env)
		putenv((char *)env);
	return run_main(info->procs, overflow_main, NULL);
}

/*
 * Run the overflow child, check the message and that the usable stack was
 * between min and max bytes.
 */
static void check_overflow(struct __test_metadata *_metadata, int procs,
			   size_t opt_size, const char *env, size_t min,
			   size_t max)
{
	struct gt_child c;
	char want[64], how[64];
	size_t used;

	info = new_info(_metadata, procs);
	info->stack_size = opt_size;
	ASSERT_EQ(0, gt_fork_run(overflow_child, (void *)env, CHILD_TIMEOUT,
				 &c));
	EXPECT_TRUE(gt_exited_with(&c, 2)) {
		TH_LOG("child: %s, expected exit status 2",
		       gt_child_how(&c, how, sizeof(how)));
	}
	ASSERT_NE(0ULL, info->goid);
	snprintf(want, sizeof(want), "goroutine %llu stack overflow",
		 (unsigned long long)info->goid);
	EXPECT_NE(NULL, strstr(c.err, want)) {
		TH_LOG("stderr lacks \"%s\"", want);
	}
	used = info->stack_top - info->deepest;
	TH_LOG("recursion used %zu KiB of stack", used / 1024);
	EXPECT_GE(used, min);
	EXPECT_LE(used, max);
	EXPECT_NE(2, atomic_load(&info->main_ran));
	gt_child_free(&c);
}

#define KiB 1024

/* Unbounded recursion on the default (256 KiB) stack. */
TEST_F_TIMEOUT(sched, stack_overflow_default, 120)
{
	check_overflow(_metadata, variant->procs, 0, NULL,
		       128 * KiB, 272 * KiB);
}

/* ... on a 64 KiB stack from gort_go_opts. */
TEST_F_TIMEOUT(sched, stack_overflow_small_stack, 120)
{
	check_overflow(_metadata, variant->procs, 64 * KiB, NULL,
		       32 * KiB, 80 * KiB);
}

/* ... on a 128 KiB stack set by GORT_STACK. */
TEST_F_TIMEOUT(sched, stack_overflow_gort_stack, 120)
{
	check_overflow(_metadata, variant->procs, 0, "GORT_STACK=131072",
		       64 * KiB, 144 * KiB);
}

/* ---- panic ---- */

static void panicker(void *arg)
{
	info->goid = gort_goid();
	gort_yield();
	gort_panic("boom %d", 7);
}

static int panic_main(void *arg)
{
	struct gort_waitgroup wg = { 0 };

	atomic_store(&info->main_ran, 1);
	if (arg) {
		info->goid = gort_goid();
		gort_panic("boom %d", 7);
	}
	gort_wg_add(&wg, 1);
	if (gort_go(panicker, NULL))
		return 3;
	gort_wg_wait(&wg);
	return 0;
}

static int panic_child(void *arg)
{
	gt_clear_gort_env();
	return run_main(info->procs, panic_main, arg);
}

static void check_panic(struct __test_metadata *_metadata, int procs,
			bool in_main)
{
	static const char *const want[] = { "panic: boom 7\n" };
	struct gt_child c;
	char hdr[64];
	const char *p;

	info = new_info(_metadata, procs);
	expect_death(_metadata, panic_child, in_main ? "main" : NULL, want, 1,
		     &c);
	EXPECT_EQ(1, atomic_load(&info->main_ran));
	ASSERT_NE(0ULL, info->goid);
	if (in_main) {
		EXPECT_EQ(1ULL, info->goid);
	}
	/* The message starts a line; the panicking goroutine is "running". */
	p = strstr(c.err, "panic: boom 7\n");
	if (p) {
		EXPECT_TRUE(p == c.err || p[-1] == '\n');
	}
	snprintf(hdr, sizeof(hdr), "goroutine %llu [running]:",
		 (unsigned long long)info->goid);
	EXPECT_NE(NULL, strstr(c.err, hdr)) {
		TH_LOG("stderr lacks \"%s\"", hdr);
	}
	/* Every goroutine is dumped, the main one too. */
	EXPECT_NE(NULL, strstr(c.err, "goroutine 1 ["));
	gt_child_free(&c);
}

/* gort_panic in a goroutine: "panic: boom 7", its header, exit 2. */
TEST_F_TIMEOUT(sched, panic_in_goroutine, 120)
{
	check_panic(_metadata, variant->procs, false);
}

/* gort_panic in the main goroutine. */
TEST_F_TIMEOUT(sched, panic_in_main, 120)
{
	check_panic(_metadata, variant->procs, true);
}

/* ---- gort_goexit in the main goroutine ---- */

static void outlive_main(void *arg)
{
	int i;

	for (i = 0; i < 200; i++)
		gort_yield();
	atomic_store(&info->nblocked, 1);	/* "done", here */
}

static int goexit_main(void *arg)
{
	atomic_store(&info->main_ran, 1);
	if (gort_go(outlive_main, NULL))
		return 3;
	gort_goexit();
	atomic_store(&info->main_ran, 2);	/* not reached */
	return 4;
}

static int goexit_child(void *arg)
{
	gt_clear_gort_env();
	return run_main(info->procs, goexit_main, NULL);
}

/*
 * As in Go, gort_goexit in the main goroutine lets the others run to
 * their end, then the program dies: "no goroutines ... deadlock!", exit 2.
 */
TEST_F_TIMEOUT(sched, goexit_in_main, 120)
{
	static const char *const want[] = {
		"fatal error: no goroutines",
		"deadlock!",
	};
	struct gt_child c;

	info = new_info(_metadata, variant->procs);
	expect_death(_metadata, goexit_child, NULL, want, 2, &c);
	EXPECT_EQ(1, atomic_load(&info->main_ran)) {
		TH_LOG("code after gort_goexit ran in the main goroutine");
	}
	EXPECT_EQ(1, atomic_load(&info->nblocked)) {
		TH_LOG("the other goroutine did not run to its end");
	}
	gt_child_free(&c);
}

/* ---- malformed environment ---- */

FIXTURE(env) {
	int unused;
};

FIXTURE_VARIANT(env) {
	const char *name;
	const char *value;
};

FIXTURE_VARIANT_ADD(env, maxprocs_abc) {
	.name = "GORT_MAXPROCS", .value = "abc",
};
FIXTURE_VARIANT_ADD(env, maxprocs_0) {
	.name = "GORT_MAXPROCS", .value = "0",
};
FIXTURE_VARIANT_ADD(env, maxprocs_neg) {
	.name = "GORT_MAXPROCS", .value = "-3",
};
FIXTURE_VARIANT_ADD(env, stack_12x) {
	.name = "GORT_STACK", .value = "12x",
};
FIXTURE_VARIANT_ADD(env, debug_schedtrace_zz) {
	.name = "GORT_DEBUG", .value = "schedtrace=zz",
};
FIXTURE_VARIANT_ADD(env, debug_unknown_knob) {
	.name = "GORT_DEBUG", .value = "nosuchknob=1",
};

FIXTURE_SETUP(env) { }
FIXTURE_TEARDOWN(env) { }

static int env_main(void *arg)
{
	atomic_store(&info->main_ran, 1);
	return 0;
}

static int env_child(void *arg)
{
	const FIXTURE_VARIANT(env) *v = arg;

	gt_clear_gort_env();
	setenv(v->name, v->value, 1);
	return gort_main(env_main, NULL);
}

/* A malformed value: one line naming the variable, exit 2, no main_fn. */
TEST_F_TIMEOUT(env, malformed_value_is_fatal, 60)
{
	const char *const want[] = { variant->name };
	struct gt_child c;

	info = new_info(_metadata, 0);
	expect_death(_metadata, env_child, (void *)variant, want, 1, &c);
	EXPECT_EQ(0, atomic_load(&info->main_ran)) {
		TH_LOG("main_fn ran with %s=%s", variant->name,
		       variant->value);
	}
	EXPECT_EQ(1, gt_count_lines(c.err)) {
		TH_LOG("expected one line on stderr, got %d",
		       gt_count_lines(c.err));
	}
	gt_child_free(&c);
}

TEST_HARNESS_MAIN
