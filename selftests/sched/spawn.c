// SPDX-License-Identifier: GPL-2.0
/*
 * spawn.c - a million goroutines, with 1, 2 and 8 Ps.
 *
 * The promise of goroutines is that they are cheap enough to start one per
 * task: a million of them must all run, each exactly once, and each must
 * get its own id.  Two shapes are tested:
 *
 *  - flat: the main goroutine starts all of them in one loop, so with one
 *    P most of them queue up at once (run queue overflow into the global
 *    queue, stack pooling) and with more Ps they are stolen while the loop
 *    goes on;
 *  - tree: a thousand goroutines each start a thousand, so creation itself
 *    happens on every P at once.
 *
 * Each goroutine marks its own slot in an array, so a goroutine that is
 * lost or run twice is found, and records its id, so that duplicate ids are
 * found.  The count is kept at 1,000,000 under ASan and qemu too; the
 * timeouts are generous instead.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "kselftest_harness.h"
#include "gort_test.h"

/*
 * A million everywhere but under TSan, where every goroutine is a TSan
 * fiber (its creation alone costs ~100 us): the same checks there run on
 * 20,000 so that the TSan suite finishes in seconds, not an hour.
 */
#ifdef __SANITIZE_THREAD__
#define NGOROUTINES	20000
#define TREE_WIDTH	200
#else
#define NGOROUTINES	1000000
#define TREE_WIDTH	1000
#endif

struct spawn_ctx {
	struct gort_waitgroup wg;	/* one count per leaf goroutine */
	atomic_long ran;		/* leaves that ran */
	atomic_long go_errors;		/* gort_go failures */
	long first_error;		/* first failing gort_go's result */
	atomic_uchar *seen;		/* times each leaf ran */
	uint64_t *goids;		/* each leaf's gort_goid() */
};

static struct spawn_ctx *ctx;

static void leaf(void *arg)
{
	uintptr_t i = (uintptr_t)arg;

	atomic_fetch_add_explicit(&ctx->seen[i], 1, memory_order_relaxed);
	ctx->goids[i] = gort_goid();
	atomic_fetch_add_explicit(&ctx->ran, 1, memory_order_relaxed);
	gort_wg_done(&ctx->wg);
}

static void spawn_failed(int ret, long n)
{
	if (atomic_fetch_add(&ctx->go_errors, 1) == 0)
		ctx->first_error = ret;
	/* This goroutine will never run: keep the wait group balanced. */
	while (n-- > 0)
		gort_wg_done(&ctx->wg);
}

static int flat_main(void *arg)
{
	uintptr_t i;

	gort_wg_add(&ctx->wg, NGOROUTINES);
	for (i = 0; i < NGOROUTINES; i++) {
		int ret = gort_go(leaf, (void *)i);

		if (ret)
			spawn_failed(ret, 1);
	}
	gort_wg_wait(&ctx->wg);
	return 0;
}

static void branch(void *arg)
{
	uintptr_t base = (uintptr_t)arg * TREE_WIDTH, i;

	for (i = 0; i < TREE_WIDTH; i++) {
		int ret = gort_go(leaf, (void *)(base + i));

		if (ret)
			spawn_failed(ret, 1);
	}
}

static int tree_main(void *arg)
{
	uintptr_t i;

	gort_wg_add(&ctx->wg, NGOROUTINES);
	for (i = 0; i < NGOROUTINES / TREE_WIDTH; i++) {
		int ret = gort_go(branch, (void *)i);

		if (ret)
			spawn_failed(ret, TREE_WIDTH);
	}
	gort_wg_wait(&ctx->wg);
	return 0;
}

static void check_all_ran(struct __test_metadata *_metadata)
{
	long lost = 0, twice = 0, dup = 0, zero = 0, i;

	EXPECT_EQ(0, atomic_load(&ctx->go_errors)) {
		TH_LOG("gort_go failed %ld times, first with %ld",
		       atomic_load(&ctx->go_errors), ctx->first_error);
	}
	EXPECT_EQ(NGOROUTINES, atomic_load(&ctx->ran));
	for (i = 0; i < NGOROUTINES; i++) {
		if (ctx->seen[i] == 0)
			lost++;
		else if (ctx->seen[i] > 1)
			twice++;
	}
	EXPECT_EQ(0, lost);
	EXPECT_EQ(0, twice);

	qsort(ctx->goids, NGOROUTINES, sizeof(*ctx->goids), gt_cmp_u64);
	for (i = 0; i < NGOROUTINES; i++) {
		if (ctx->goids[i] == 0)
			zero++;
		else if (i > 0 && ctx->goids[i] == ctx->goids[i - 1])
			dup++;
	}
	EXPECT_EQ(0, zero);
	EXPECT_EQ(0, dup);
}

static void setup_ctx(struct __test_metadata *_metadata)
{
	ctx = calloc(1, sizeof(*ctx));
	ASSERT_NE(NULL, ctx);
	ctx->seen = calloc(NGOROUTINES, sizeof(*ctx->seen));
	ctx->goids = calloc(NGOROUTINES, sizeof(*ctx->goids));
	ASSERT_NE(NULL, ctx->seen);
	ASSERT_NE(NULL, ctx->goids);
}

GT_PROCS_FIXTURE(sched)

/* The main goroutine starts 1,000,000 goroutines; all run exactly once. */
TEST_F_TIMEOUT(sched, million_flat, 300)
{
	setup_ctx(_metadata);
	ASSERT_EQ(0, run_main(variant->procs, flat_main, NULL));
	check_all_ran(_metadata);
}

/* 1,000 goroutines start 1,000 each; all 1,000,000 run exactly once. */
TEST_F_TIMEOUT(sched, million_tree, 300)
{
	setup_ctx(_metadata);
	ASSERT_EQ(0, run_main(variant->procs, tree_main, NULL));
	check_all_ran(_metadata);
}

TEST_HARNESS_MAIN
