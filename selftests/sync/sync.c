// SPDX-License-Identifier: GPL-2.0
/*
 * sync.c - mutex, rwmutex, cond, waitgroup and once, with 1, 2 and 8 Ps.
 *
 *  - a mutex under 8 contending goroutines guards a plain counter exactly,
 *    and never has two holders;
 *  - a waiter is not starved by a goroutine that relocks in a tight loop:
 *    it gets the lock within a bounded number of the hog's iterations
 *    (Go's starvation mode hands the lock over after 1 ms of waiting;
 *    in normal mode the running hog wins nearly every race);
 *  - trylock;
 *  - rwmutex: two readers hold it at once, a writer excludes readers, and a
 *    writer is not starved by a continuous stream of overlapping readers;
 *  - cond: signal wakes one waiter, broadcast all, a signal with no waiter
 *    is not remembered;
 *  - a waitgroup reused for several rounds;
 *  - once runs fn exactly once under 100 contending goroutines, and no
 *    caller returns before fn has;
 *  - misuse (forked): unlock of an unlocked mutex is Go's fatal error, a
 *    negative waitgroup counter Go's panic, both exit 2;
 *  - a plain pthread locks a gort_mutex (blocking while a goroutine holds
 *    it, and excluding goroutines) and waits on a waitgroup that goroutines
 *    complete.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "gort_test.h"

GT_PROCS_FIXTURE(sync)

/* ---- mutex counter ---- */

#define NCONTEND	8
#define PER_G		20000

static struct gort_mutex cmu;
static volatile long counter;
static atomic_int holders;
static struct gort_waitgroup cwg;

static void contender(void *arg)
{
	int i;

	for (i = 0; i < PER_G; i++) {
		gort_mutex_lock(&cmu);
		GT_CHECK(atomic_fetch_add(&holders, 1) == 0);
		{
			long c = counter;

			if (i % 64 == 0)
				gort_yield();	/* sleep with the lock held */
			counter = c + 1;
		}
		atomic_fetch_sub(&holders, 1);
		gort_mutex_unlock(&cmu);
	}
	gort_wg_done(&cwg);
}

static int counter_main(void *arg)
{
	int i;

	gort_wg_add(&cwg, NCONTEND);
	for (i = 0; i < NCONTEND; i++)
		GT_CHECK(gort_go(contender, NULL) == 0);
	gort_wg_wait(&cwg);
	return 0;
}

TEST_F_TIMEOUT(sync, mutex_counter, 120)
{
	ASSERT_EQ(0, run_main(variant->procs, counter_main, NULL));
	ASSERT_EQ(0, gt_failures());
	EXPECT_EQ((long)NCONTEND * PER_G, counter);
}

/* ---- starvation ---- */

/*
 * The hog holds the lock for about 20 us, unlocks and relocks at once.
 * A waiter that needs more than 1 ms switches the mutex to starvation
 * mode, after which the hog's unlock hands it over: the victim gets it
 * after a few ms, i.e. some hundreds of the hog's iterations.  The hog
 * gives up after HOG_MAX iterations (at least 2 s of holding).
 */
#define HOG_MAX		100000
#define HOG_HOLD_NS	20000

static struct gort_mutex smu;
static atomic_long hog_iters;
static atomic_int victim_done;
static long victim_at = -1;
static struct gort_waitgroup swg;

static void hog(void *arg)
{
	long i;

	for (i = 0; i < HOG_MAX && !atomic_load(&victim_done); i++) {
		int64_t t;

		gort_mutex_lock(&smu);
		t = gt_now_ns();
		while (gt_now_ns() - t < HOG_HOLD_NS)
			;
		atomic_store(&hog_iters, i + 1);
		gort_mutex_unlock(&smu);
	}
	gort_wg_done(&swg);
}

static int starve_main(void *arg)
{
	gort_wg_add(&swg, 1);
	GT_CHECK(gort_go(hog, NULL) == 0);
	while (atomic_load(&hog_iters) < 50)
		gort_yield();
	gort_mutex_lock(&smu);
	victim_at = atomic_load(&hog_iters);
	atomic_store(&victim_done, 1);
	gort_mutex_unlock(&smu);
	gort_wg_wait(&swg);
	return 0;
}

TEST_F_TIMEOUT(sync, mutex_starvation, 120)
{
	ASSERT_EQ(0, run_main(variant->procs, starve_main, NULL));
	ASSERT_EQ(0, gt_failures());
	EXPECT_GE(victim_at, 50);
	EXPECT_LT(victim_at, HOG_MAX) {
		TH_LOG("the waiter never got the lock in %d iterations",
		       HOG_MAX);
	}
	TH_LOG("waiter got the lock after hog iteration %ld", victim_at);
}

/* ---- trylock ---- */

static struct gort_mutex tmu;
static atomic_int try_result = -1;
static struct gort_waitgroup twg;

static void try_other(void *arg)
{
	atomic_store(&try_result, gort_mutex_trylock(&tmu));
	gort_wg_done(&twg);
}

static int trylock_main(void *arg)
{
	GT_CHECK(gort_mutex_trylock(&tmu));
	GT_CHECK(!gort_mutex_trylock(&tmu));
	gort_wg_add(&twg, 1);
	GT_CHECK(gort_go(try_other, NULL) == 0);
	gort_wg_wait(&twg);
	GT_CHECK(atomic_load(&try_result) == 0);
	gort_mutex_unlock(&tmu);
	GT_CHECK(gort_mutex_trylock(&tmu));
	gort_mutex_unlock(&tmu);
	gort_mutex_lock(&tmu);
	GT_CHECK(!gort_mutex_trylock(&tmu));
	gort_mutex_unlock(&tmu);
	gort_wg_add(&twg, 1);
	GT_CHECK(gort_go(try_other, NULL) == 0);
	gort_wg_wait(&twg);
	GT_CHECK(atomic_load(&try_result) == 1);
	GT_CHECK(!gort_mutex_trylock(&tmu));	/* try_other kept it */
	return 0;
}

TEST_F_TIMEOUT(sync, trylock, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, trylock_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- rwmutex ---- */

static struct gort_rwmutex rw;
static struct gort_chan *a_in, *b_in;
static struct gort_waitgroup rwg;
static atomic_int both_held;

/* Each reader takes the read lock, says so, and waits (holding it) until
 * the other says so too: with exclusive readers both would time out. */
static void reader_pair(void *arg)
{
	struct gort_chan *mine = arg == NULL ? a_in : b_in;
	struct gort_chan *other = arg == NULL ? b_in : a_in;
	struct gort_select_case cs = { other, GORT_RECV, NULL, false };

	gort_rwmutex_rlock(&rw);
	gort_chan_close(mine);
	if (gort_select(&cs, 1, 5000000000LL) == 0)
		atomic_fetch_add(&both_held, 1);
	gort_rwmutex_runlock(&rw);
	gort_wg_done(&rwg);
}

static atomic_int wr_reader_in;

static void blocked_reader(void *arg)
{
	gort_rwmutex_rlock(&rw);
	atomic_store(&wr_reader_in, 1);
	gort_rwmutex_runlock(&rw);
	gort_wg_done(&rwg);
}

static int rw_together_main(void *arg)
{
	int i;

	a_in = gort_chan_make(1, 0);
	b_in = gort_chan_make(1, 0);
	gort_wg_add(&rwg, 2);
	GT_CHECK(gort_go(reader_pair, NULL) == 0);
	GT_CHECK(gort_go(reader_pair, (void *)1) == 0);
	gort_wg_wait(&rwg);
	GT_CHECK(atomic_load(&both_held) == 2);

	/* A writer excludes readers. */
	gort_rwmutex_lock(&rw);
	gort_wg_add(&rwg, 1);
	GT_CHECK(gort_go(blocked_reader, NULL) == 0);
	for (i = 0; i < 5; i++)
		gort_sleep(4000000);
	GT_CHECK(atomic_load(&wr_reader_in) == 0);
	gort_rwmutex_unlock(&rw);
	gort_wg_wait(&rwg);
	GT_CHECK(atomic_load(&wr_reader_in) == 1);
	return 0;
}

TEST_F_TIMEOUT(sync, rwmutex_readers_together, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, rw_together_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/*
 * Four readers loop rlock / yield / runlock, so at every moment some
 * reader holds the lock; the writer gets it only because a waiting writer
 * holds off new readers.  The readers give up after READ_MAX rounds each.
 */
#define NREADERS	4
#define READ_MAX	200000

static atomic_int writer_done, writer_in;
static atomic_long read_rounds;
static long rounds_at_write = -1;
static struct gort_waitgroup rsw;

static void stream_reader(void *arg)
{
	long i;

	for (i = 0; i < READ_MAX && !atomic_load(&writer_done); i++) {
		gort_rwmutex_rlock(&rw);
		GT_CHECK(!atomic_load(&writer_in));
		atomic_fetch_add(&read_rounds, 1);
		gort_yield();
		gort_rwmutex_runlock(&rw);
	}
	gort_wg_done(&rsw);
}

static int writer_main(void *arg)
{
	int i;

	gort_wg_add(&rsw, NREADERS);
	for (i = 0; i < NREADERS; i++)
		GT_CHECK(gort_go(stream_reader, NULL) == 0);
	while (atomic_load(&read_rounds) < 100)
		gort_yield();
	gort_rwmutex_lock(&rw);
	atomic_store(&writer_in, 1);
	rounds_at_write = atomic_load(&read_rounds);
	gort_yield();
	atomic_store(&writer_in, 0);
	atomic_store(&writer_done, 1);
	gort_rwmutex_unlock(&rw);
	gort_wg_wait(&rsw);
	return 0;
}

TEST_F_TIMEOUT(sync, rwmutex_writer_not_starved, 120)
{
	ASSERT_EQ(0, run_main(variant->procs, writer_main, NULL));
	ASSERT_EQ(0, gt_failures());
	EXPECT_GE(rounds_at_write, 100);
	EXPECT_LT(rounds_at_write, (long)NREADERS * READ_MAX);
	TH_LOG("writer got in after %ld read rounds", rounds_at_write);
}

/* ---- cond ---- */

#define NCWAIT	10

static struct gort_mutex cvmu;
static struct gort_cond cv;
static int cv_waiting, cv_tokens, cv_woke;
static bool cv_all;
static struct gort_waitgroup cvwg;

static void cv_waiter(void *arg)
{
	gort_mutex_lock(&cvmu);
	cv_waiting++;
	while (!cv_all && cv_tokens == 0)
		gort_cond_wait(&cv, &cvmu);
	if (!cv_all)
		cv_tokens--;
	cv_woke++;
	cv_waiting--;
	gort_mutex_unlock(&cvmu);
	gort_wg_done(&cvwg);
}

static int cv_count(int *p)
{
	int v;

	gort_mutex_lock(&cvmu);
	v = *p;
	gort_mutex_unlock(&cvmu);
	return v;
}

static void wait_waiting(int n)
{
	int i;

	for (i = 0; i < 10000 && cv_count(&cv_waiting) < n; i++)
		gort_sleep(1000000);
	GT_CHECK(cv_count(&cv_waiting) == n);
}

static int cond_main(void *arg)
{
	int i;

	/* A signal nobody waits for is lost. */
	gort_cond_signal(&cv);
	gort_cond_broadcast(&cv);

	gort_wg_add(&cvwg, NCWAIT);
	for (i = 0; i < NCWAIT; i++)
		GT_CHECK(gort_go(cv_waiter, NULL) == 0);
	wait_waiting(NCWAIT);
	gort_sleep(10000000);
	GT_CHECK(cv_count(&cv_woke) == 0);

	/* Each signal lets exactly one waiter through. */
	for (i = 1; i <= 3; i++) {
		int j;

		gort_mutex_lock(&cvmu);
		cv_tokens++;
		gort_cond_signal(&cv);
		gort_mutex_unlock(&cvmu);
		for (j = 0; j < 10000 && cv_count(&cv_woke) < i; j++)
			gort_sleep(1000000);
		gort_sleep(10000000);
		GT_CHECKF(cv_count(&cv_woke) == i, "woke %d after %d signals",
			  cv_count(&cv_woke), i);
	}

	/* Broadcast wakes the rest. */
	gort_mutex_lock(&cvmu);
	cv_all = true;
	gort_cond_broadcast(&cv);
	gort_mutex_unlock(&cvmu);
	gort_wg_wait(&cvwg);
	GT_CHECK(cv_woke == NCWAIT);
	GT_CHECK(cv_tokens == 0);
	return 0;
}

TEST_F_TIMEOUT(sync, cond, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, cond_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- waitgroup reuse ---- */

#define ROUNDS	20
#define PER_ROUND 50

static struct gort_waitgroup rwgs;
static atomic_int round_done;

static void round_worker(void *arg)
{
	if ((intptr_t)arg % 3 == 0)
		gort_sleep(1000000);
	else if ((intptr_t)arg % 3 == 1)
		gort_yield();
	atomic_fetch_add(&round_done, 1);
	gort_wg_done(&rwgs);
}

static int wg_reuse_main(void *arg)
{
	intptr_t r, i;

	for (r = 0; r < ROUNDS; r++) {
		atomic_store(&round_done, 0);
		gort_wg_add(&rwgs, PER_ROUND);
		for (i = 0; i < PER_ROUND; i++)
			GT_CHECK(gort_go(round_worker, (void *)(i + r)) == 0);
		gort_wg_wait(&rwgs);
		GT_CHECKF(atomic_load(&round_done) == PER_ROUND,
			  "round %ld: %d done", (long)r,
			  atomic_load(&round_done));
		/* A zero counter does not block. */
		gort_wg_wait(&rwgs);
	}
	return 0;
}

TEST_F_TIMEOUT(sync, waitgroup_reuse, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, wg_reuse_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- once ---- */

#define NONCE	100

static struct gort_once once;
static atomic_int once_runs, once_finished;
static struct gort_waitgroup owg, ogate;

static void once_fn(void *arg)
{
	atomic_fetch_add(&once_runs, 1);
	gort_sleep(10000000);	/* others arrive meanwhile */
	atomic_store(&once_finished, 1);
}

static void once_caller(void *arg)
{
	gort_wg_wait(&ogate);
	gort_once_do(&once, once_fn, NULL);
	GT_CHECK(atomic_load(&once_finished) == 1);
	gort_wg_done(&owg);
}

static int once_main(void *arg)
{
	int i;

	gort_wg_add(&ogate, 1);
	gort_wg_add(&owg, NONCE);
	for (i = 0; i < NONCE; i++)
		GT_CHECK(gort_go(once_caller, NULL) == 0);
	gort_sleep(1000000);
	gort_wg_done(&ogate);
	gort_wg_wait(&owg);
	gort_once_do(&once, once_fn, NULL);
	GT_CHECK(atomic_load(&once_runs) == 1);
	return 0;
}

TEST_F_TIMEOUT(sync, once, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, once_main, NULL));
	ASSERT_EQ(0, gt_failures());
	EXPECT_EQ(1, atomic_load(&once_runs));
}

/* ---- misuse, in forked children ---- */

static int *misuse;	/* [0] procs, [1] which, [2] code after ran */

static int misuse_main(void *arg)
{
	struct gort_mutex mu = { 0 };
	struct gort_waitgroup wg = { 0 };

	switch (misuse[1]) {
	case 0:
		gort_mutex_unlock(&mu);
		break;
	case 1:
		gort_mutex_lock(&mu);
		gort_mutex_unlock(&mu);
		gort_mutex_unlock(&mu);
		break;
	case 2:
		gort_wg_add(&wg, -1);
		break;
	case 3:
		gort_wg_add(&wg, 2);
		gort_wg_done(&wg);
		gort_wg_done(&wg);
		gort_wg_done(&wg);
		break;
	}
	misuse[2] = 1;
	return 0;
}

static int misuse_child(void *arg)
{
	gt_clear_gort_env();
	return run_main(misuse[0], misuse_main, NULL);
}

static void expect_misuse(struct __test_metadata *_metadata, int procs,
			  int which, const char *want)
{
	struct gt_child c;
	char how[64];

	misuse = gt_shared_alloc(3 * sizeof(int));
	ASSERT_NE(NULL, misuse);
	misuse[0] = procs;
	misuse[1] = which;
	ASSERT_EQ(0, gt_fork_run(misuse_child, NULL, 60, &c));
	EXPECT_TRUE(gt_exited_with(&c, 2)) {
		TH_LOG("case %d: child %s", which,
		       gt_child_how(&c, how, sizeof(how)));
	}
	EXPECT_NE(NULL, strstr(c.err, want)) {
		TH_LOG("case %d: stderr lacks \"%s\"", which, want);
	}
	EXPECT_EQ(0, misuse[2]);
	gt_child_free(&c);
}

TEST_F_TIMEOUT(sync, unlock_of_unlocked, 60)
{
	expect_misuse(_metadata, variant->procs, 0,
		      "fatal error: sync: unlock of unlocked mutex");
	expect_misuse(_metadata, variant->procs, 1,
		      "fatal error: sync: unlock of unlocked mutex");
}

TEST_F_TIMEOUT(sync, negative_waitgroup, 60)
{
	expect_misuse(_metadata, variant->procs, 2,
		      "panic: sync: negative WaitGroup counter");
	expect_misuse(_metadata, variant->procs, 3,
		      "panic: sync: negative WaitGroup counter");
}

/* ---- foreign threads ---- */

#define PT_N		2
#define PT_ITERS	20000
#define PT_WORKERS	20

static struct gort_mutex pmu;
static volatile long pcount;
static atomic_int pholders, pt_blocked_got;
static struct gort_waitgroup pt_wg, pt_mid;
static atomic_int pt_workers_done;
static long pt_seen_workers = -1;

static void *pt_block_thread(void *arg)
{
	gort_mutex_lock(&pmu);
	atomic_store(&pt_blocked_got, 1);
	gort_mutex_unlock(&pmu);
	return NULL;
}

static void *pt_count_thread(void *arg)
{
	int i;

	for (i = 0; i < PT_ITERS; i++) {
		gort_mutex_lock(&pmu);
		if (atomic_fetch_add(&pholders, 1) != 0)
			gt_check_failed(__FILE__, __LINE__, "two holders");
		pcount++;
		atomic_fetch_sub(&pholders, 1);
		gort_mutex_unlock(&pmu);
	}
	gort_wg_done(&pt_mid);
	return NULL;
}

static void *pt_wait_thread(void *arg)
{
	gort_wg_wait(&pt_wg);
	pt_seen_workers = atomic_load(&pt_workers_done);
	return NULL;
}

static void g_counter(void *arg)
{
	int i;

	for (i = 0; i < PT_ITERS; i++) {
		gort_mutex_lock(&pmu);
		GT_CHECK(atomic_fetch_add(&pholders, 1) == 0);
		pcount++;
		atomic_fetch_sub(&pholders, 1);
		gort_mutex_unlock(&pmu);
	}
	gort_wg_done(&pt_mid);
}

static void pt_worker(void *arg)
{
	gort_sleep(((intptr_t)arg % 5 + 1) * 1000000);
	atomic_fetch_add(&pt_workers_done, 1);
	gort_wg_done(&pt_wg);
}

static int foreign_main(void *arg)
{
	pthread_t th[PT_N + 2];
	intptr_t i;

	/* A pthread blocks on a mutex a goroutine holds. */
	gort_mutex_lock(&pmu);
	if (pthread_create(&th[0], NULL, pt_block_thread, NULL))
		return 1;
	gort_sleep(30000000);
	GT_CHECK(atomic_load(&pt_blocked_got) == 0);
	gort_mutex_unlock(&pmu);
	gt_join_thread(th[0]);
	GT_CHECK(atomic_load(&pt_blocked_got) == 1);

	/* Pthreads and goroutines share a counter under one mutex. */
	gort_wg_add(&pt_mid, PT_N + 4);
	for (i = 0; i < PT_N; i++)
		if (pthread_create(&th[i], NULL, pt_count_thread, NULL))
			return 1;
	for (i = 0; i < 4; i++)
		GT_CHECK(gort_go(g_counter, NULL) == 0);
	gort_wg_wait(&pt_mid);
	for (i = 0; i < PT_N; i++)
		gt_join_thread(th[i]);
	GT_CHECK(pcount == (long)(PT_N + 4) * PT_ITERS);

	/* A pthread waits on a waitgroup that goroutines complete. */
	gort_wg_add(&pt_wg, PT_WORKERS);
	if (pthread_create(&th[0], NULL, pt_wait_thread, NULL))
		return 1;
	gort_sleep(5000000);
	for (i = 0; i < PT_WORKERS; i++)
		GT_CHECK(gort_go(pt_worker, (void *)i) == 0);
	gt_join_thread(th[0]);
	GT_CHECK(pt_seen_workers == PT_WORKERS);
	return 0;
}

TEST_F_TIMEOUT(sync, foreign_thread, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, foreign_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

TEST_HARNESS_MAIN
