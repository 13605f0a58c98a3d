// SPDX-License-Identifier: GPL-2.0
/*
 * api.c - the scheduler's public calls do what gort.h says.
 *
 *  - gort_main: returns main_fn's value; can run again in the same process,
 *    and goroutines left blocked or runnable by the first run never run
 *    again nor disturb the second; those left in C code or in a system
 *    call stop at their next runtime call, even while a second gort_main
 *    runs; a nested or concurrent call is -EBUSY.
 *  - gort_goid: 0 outside goroutines (also on a foreign thread while the
 *    runtime runs), nonzero and unique inside, stable across switches.
 *  - gort_num_goroutine counts runnable and blocked goroutines and drops
 *    back when they end.
 *  - gort_yield lets other runnable goroutines run.
 *  - gort_goexit ends a goroutine from any call depth (nothing after it
 *    runs).  (In the main goroutine it is fatal once the others end: see
 *    fatal.c.)
 *  - gort_go/gort_go_opts reject a NULL function (-EINVAL) and an absurd
 *    stack size (-EINVAL or -ENOMEM) without crashing.
 *  - gort_gomaxprocs: n < 1 only queries; n > 0 sets and returns the old
 *    value; goroutines keep running after a change either way.
 *  - gort_dump_goroutines writes Go-style headers: "goroutine 1
 *    [running]:" for the caller, a wait reason for a blocked goroutine,
 *    and the name given by gort_go_opts; a bad fd is -EBADF.
 *  - gort_nanotime reads CLOCK_MONOTONIC.
 *  - GORT_DEBUG=schedtrace=MS[,scheddetail=1] prints Go's SCHED lines,
 *    checked field by field with regular expressions.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gort_test.h"

GT_PROCS_FIXTURE(sched)

/* ---- gort_main twice ---- */

#define NBLOCKED	10

struct twice_test {
	int nloopers;
	atomic_long spins;		/* loopers' progress */
	atomic_int nblocked;
	int num_first;			/* gort_num_goroutine(), run 1 */
	int num_second_start;		/* ... at the start of run 2 */
	int num_second_busy;		/* ... with 100 more blocked */
	uint64_t goid_inside[2];
	struct gort_waitgroup never, gate, done;
};

static void looper(void *arg)
{
	struct twice_test *t = arg;

	for (;;) {
		atomic_fetch_add(&t->spins, 1);
		gort_yield();
	}
}

static void blocker(void *arg)
{
	struct twice_test *t = arg;

	atomic_fetch_add(&t->nblocked, 1);
	gort_wg_wait(&t->never);
}

static int first_main(void *arg)
{
	struct twice_test *t = arg;
	int i;

	t->goid_inside[0] = gort_goid();
	gort_wg_add(&t->never, 1);
	for (i = 0; i < NBLOCKED; i++)
		GT_CHECK(gort_go(blocker, t) == 0);
	for (i = 0; i < t->nloopers; i++)
		GT_CHECK(gort_go(looper, t) == 0);
	for (i = 0; i < 1000000 && (atomic_load(&t->nblocked) < NBLOCKED ||
				    atomic_load(&t->spins) < 100); i++)
		gort_yield();
	t->num_first = gort_num_goroutine();
	return 42;
}

static void gated(void *arg)
{
	struct twice_test *t = arg;

	gort_wg_wait(&t->gate);
	gort_wg_done(&t->done);
}

static int second_main(void *arg)
{
	struct twice_test *t = arg;
	int i;

	t->goid_inside[1] = gort_goid();
	t->num_second_start = gort_num_goroutine();
	gort_wg_add(&t->gate, 1);
	gort_wg_add(&t->done, 100);
	for (i = 0; i < 100; i++)
		if (gort_go(gated, t))
			gort_wg_done(&t->done);
	t->num_second_busy = gort_num_goroutine();
	gort_wg_done(&t->gate);
	gort_wg_wait(&t->done);
	return 7;
}

static int third_main(void *arg)
{
	return gort_gomaxprocs(0);
}

/*
 * gort_main returns main_fn's value, and runs again: what the first run
 * left blocked or runnable stays stopped and is not counted.
 */
TEST_F_TIMEOUT(sched, gort_main_twice, 120)
{
	static struct twice_test t;
	long s1, s2, s3;
	int other = variant->procs == 1 ? 2 : 1;

	t.nloopers = variant->procs + 2;
	EXPECT_EQ(0ULL, gort_goid());
	ASSERT_EQ(42, run_main(variant->procs, first_main, &t));
	EXPECT_EQ(0ULL, gort_goid());
	EXPECT_EQ(1 + NBLOCKED + t.nloopers, t.num_first);
	EXPECT_NE(0ULL, t.goid_inside[0]);

	/* The loopers stop: at most one step each once gort_main is back. */
	gt_sleep_ms(50);
	s1 = atomic_load(&t.spins);
	gt_sleep_ms(200);
	s2 = atomic_load(&t.spins);
	EXPECT_LE(s2 - s1, t.nloopers);

	ASSERT_EQ(7, run_main(variant->procs, second_main, &t));
	s3 = atomic_load(&t.spins);
	EXPECT_LE(s3 - s1, t.nloopers) {
		TH_LOG("goroutines of the first run ran during the second");
	}
	EXPECT_EQ(1, t.num_second_start);
	EXPECT_EQ(101, t.num_second_busy);
	EXPECT_NE(0ULL, t.goid_inside[1]);

	/* And a third time, with another number of Ps. */
	EXPECT_EQ(other, run_main(other, third_main, NULL));
	EXPECT_EQ(0, gt_failures());
}

/* ---- leftovers in C code and in system calls ---- */

struct leftover_test {
	int pipefd[2];
	atomic_int reader_tid;
	atomic_bool in_read, read_returned, after_end;
	atomic_bool spinning, stop_spin, after_spin;
	bool second_ran;
	atomic_int ran;
	struct gort_waitgroup wg;
};

static struct leftover_test *left_t;

static void left_reader(void *arg)
{
	char c;

	atomic_store(&left_t->reader_tid, gettid());
	gort_syscall_begin();
	atomic_store(&left_t->in_read, true);
	if (read(left_t->pipefd[0], &c, 1) == 1)
		atomic_store(&left_t->read_returned, true);
	gort_syscall_end();
	atomic_store(&left_t->after_end, true);	/* must not happen */
}

static void left_spinner(void *arg)
{
	atomic_store(&left_t->spinning, true);
	while (!atomic_load(&left_t->stop_spin))
		;
	gort_yield();
	atomic_store(&left_t->after_spin, true);	/* must not happen */
}

static int left_first(void *arg)
{
	int64_t end = gt_now_ns() + 20LL * 1000 * 1000 * 1000;

	GT_CHECK(gort_go(left_reader, NULL) == 0);
	GT_CHECK(gort_go(left_spinner, NULL) == 0);
	while (gt_now_ns() < end &&
	       (!atomic_load(&left_t->spinning) ||
		!atomic_load(&left_t->in_read) ||
		gt_thread_state(atomic_load(&left_t->reader_tid)) != 'S'))
		gort_yield();
	GT_CHECK(atomic_load(&left_t->spinning));
	GT_CHECK(atomic_load(&left_t->in_read));
	return 5;
}

static void left_work(void *arg)
{
	gort_yield();
	atomic_fetch_add(&left_t->ran, 1);
	gort_wg_done(&left_t->wg);
}

static int left_second(void *arg)
{
	int64_t end = gt_now_ns() + 20LL * 1000 * 1000 * 1000;
	int i;

	/* Release both leftovers while this runtime runs. */
	GT_CHECK(write(left_t->pipefd[1], "x", 1) == 1);
	atomic_store(&left_t->stop_spin, true);
	while (!atomic_load(&left_t->read_returned) && gt_now_ns() < end)
		gort_yield();
	gort_wg_add(&left_t->wg, 100);
	for (i = 0; i < 100; i++)
		if (gort_go(left_work, NULL))
			gort_wg_done(&left_t->wg);
	gort_wg_wait(&left_t->wg);
	left_t->second_ran = true;
	return 6;
}

/*
 * Goroutines still in C code or in a system call when gort_main returns
 * never run again, even when they next call into gort while another
 * gort_main runs.
 */
TEST_F_TIMEOUT(sched, leftovers_never_resume, 120)
{
	static struct leftover_test t;

	left_t = &t;
	ASSERT_EQ(0, pipe(t.pipefd));
	ASSERT_EQ(5, run_main(variant->procs, left_first, NULL));
	ASSERT_EQ(6, run_main(variant->procs, left_second, NULL));
	gt_sleep_ms(100);
	EXPECT_TRUE(t.second_ran);
	EXPECT_EQ(100, atomic_load(&t.ran));
	EXPECT_TRUE(atomic_load(&t.read_returned));
	EXPECT_FALSE(atomic_load(&t.after_end)) {
		TH_LOG("a goroutine of the first run resumed after its syscall");
	}
	EXPECT_FALSE(atomic_load(&t.after_spin)) {
		TH_LOG("a goroutine of the first run resumed after spinning");
	}
	EXPECT_EQ(0, gt_failures());
}

/* ---- -EBUSY ---- */

static int never_main(void *arg)
{
	return 99;
}

struct busy_test {
	int nested, from_goroutine, from_thread;
	bool ran;
	struct gort_waitgroup wg;
};

static void *busy_thread(void *arg)
{
	struct busy_test *t = arg;

	t->from_thread = gort_main(never_main, NULL);
	return NULL;
}

static void busy_goroutine(void *arg)
{
	struct busy_test *t = arg;

	t->from_goroutine = gort_main(never_main, NULL);
	gort_wg_done(&t->wg);
}

static int busy_main(void *arg)
{
	struct busy_test *t = arg;
	pthread_t th;

	t->ran = true;
	t->nested = gort_main(never_main, NULL);
	gort_wg_add(&t->wg, 1);
	if (gort_go(busy_goroutine, t))
		gort_wg_done(&t->wg);
	gort_wg_wait(&t->wg);
	if (pthread_create(&th, NULL, busy_thread, t) == 0)
		pthread_join(th, NULL);
	return 0;
}

/* A nested or concurrent gort_main returns -EBUSY. */
TEST_F_TIMEOUT(sched, gort_main_busy, 60)
{
	struct busy_test t = { .from_thread = 1 };

	ASSERT_EQ(0, run_main(variant->procs, busy_main, &t));
	ASSERT_TRUE(t.ran);
	EXPECT_EQ(-EBUSY, t.nested);
	EXPECT_EQ(-EBUSY, t.from_goroutine);
	EXPECT_EQ(-EBUSY, t.from_thread);
}

/* ---- goroutine ids ---- */

#define NIDS 1000

struct goid_test {
	uint64_t main_id;
	uint64_t ids[NIDS];
	atomic_long unstable;		/* id changed across a switch */
	uint64_t foreign;		/* seen by a plain pthread */
	struct gort_waitgroup wg;
};

static struct goid_test *goid_t;

static void goid_worker(void *arg)
{
	uintptr_t i = (uintptr_t)arg;
	uint64_t id = gort_goid();
	int k;

	goid_t->ids[i] = id;
	for (k = 0; k < 5; k++) {
		gort_yield();
		if (gort_goid() != id)
			atomic_fetch_add(&goid_t->unstable, 1);
	}
	gort_wg_done(&goid_t->wg);
}

static void *goid_thread(void *arg)
{
	goid_t->foreign = gort_goid();
	return NULL;
}

static int goid_main(void *arg)
{
	pthread_t th;
	uintptr_t i;

	goid_t->main_id = gort_goid();
	gort_wg_add(&goid_t->wg, NIDS);
	for (i = 0; i < NIDS; i++)
		if (gort_go(goid_worker, (void *)i))
			gort_wg_done(&goid_t->wg);
	goid_t->foreign = 12345;
	if (pthread_create(&th, NULL, goid_thread, NULL) == 0)
		pthread_join(th, NULL);
	gort_wg_wait(&goid_t->wg);
	return 0;
}

/* Ids are 0 outside goroutines, nonzero, unique and stable inside. */
TEST_F_TIMEOUT(sched, goid, 60)
{
	static struct goid_test t;
	int i;

	goid_t = &t;
	EXPECT_EQ(0ULL, gort_goid());
	ASSERT_EQ(0, run_main(variant->procs, goid_main, &t));
	EXPECT_EQ(0ULL, gort_goid());
	EXPECT_EQ(0ULL, t.foreign) {
		TH_LOG("a plain pthread saw goid %llu",
		       (unsigned long long)t.foreign);
	}
	EXPECT_NE(0ULL, t.main_id);
	EXPECT_EQ(0, atomic_load(&t.unstable));
	for (i = 0; i < NIDS; i++) {
		EXPECT_NE(0ULL, t.ids[i]);
		EXPECT_NE(t.main_id, t.ids[i]);
	}
	qsort(t.ids, NIDS, sizeof(t.ids[0]), gt_cmp_u64);
	for (i = 1; i < NIDS; i++) {
		EXPECT_NE(t.ids[i - 1], t.ids[i]) {
			TH_LOG("goid %llu given twice",
			       (unsigned long long)t.ids[i]);
		}
	}
}

/* ---- goroutines held at a gate (num_goroutine, dump_goroutines) ---- */

struct gate {
	atomic_int nblocked;		/* goroutines that reached the gate */
	struct gort_waitgroup open, done;
};

/* Expect n goroutines to pass gate g (each a gate_pass() or gate_done()). */
static void gate_init(struct gate *g, int n)
{
	gort_wg_add(&g->open, 1);
	gort_wg_add(&g->done, n);
}

/* In a gated goroutine: count itself, block until the gate opens. */
static void gate_pass(struct gate *g)
{
	atomic_fetch_add(&g->nblocked, 1);
	gort_wg_wait(&g->open);
	gort_wg_done(&g->done);
}

/* Account for a gated goroutine that gort_go could not start (ret != 0). */
static void gate_started(struct gate *g, int ret)
{
	if (ret)
		gort_wg_done(&g->done);
}

/* Yield until n goroutines have reached the gate (or a million times). */
static void gate_wait_blocked(struct gate *g, int n)
{
	int i;

	for (i = 0; i < 1000000 && atomic_load(&g->nblocked) < n; i++)
		gort_yield();
}

/* Open the gate and wait until every gated goroutine has passed it. */
static void gate_release(struct gate *g)
{
	gort_wg_done(&g->open);
	gort_wg_wait(&g->done);
}

/* ---- gort_num_goroutine ---- */

struct num_test {
	int at_start, after_spawn, all_blocked, at_end;
	struct gate g;
};

static void num_worker(void *arg)
{
	gate_pass(arg);
}

static int num_main(void *arg)
{
	struct num_test *t = arg;
	int i;

	t->at_start = gort_num_goroutine();
	gate_init(&t->g, 10);
	for (i = 0; i < 10; i++)
		gate_started(&t->g, gort_go(num_worker, &t->g));
	t->after_spawn = gort_num_goroutine();
	gate_wait_blocked(&t->g, 10);
	t->all_blocked = gort_num_goroutine();
	gate_release(&t->g);
	/* They may still be on their way out after wg_done. */
	for (i = 0; i < 1000000 && gort_num_goroutine() != 1; i++)
		gort_yield();
	t->at_end = gort_num_goroutine();
	return 0;
}

/* Runnable and blocked goroutines are counted; ended ones are not. */
TEST_F_TIMEOUT(sched, num_goroutine, 60)
{
	struct num_test t = { 0 };

	ASSERT_EQ(0, run_main(variant->procs, num_main, &t));
	EXPECT_EQ(1, t.at_start);
	EXPECT_EQ(11, t.after_spawn);
	EXPECT_EQ(11, t.all_blocked);
	EXPECT_EQ(1, t.at_end);
}

/* ---- gort_yield ---- */

#define PINGPONG 1000

struct yield_test {
	atomic_bool flag;
	bool main_saw_flag;
	atomic_long count[2];
	long stalls;			/* 10 yields, the other idle */
	bool one_p;			/* gomaxprocs was 1 */
	struct gort_waitgroup wg;
};

static void set_flag(void *arg)
{
	struct yield_test *t = arg;

	atomic_store(&t->flag, true);
}

static struct yield_test *yield_t;

static void player(void *arg)
{
	int me = (int)(uintptr_t)arg, other = !me, i;
	struct yield_test *t = yield_t;
	long seen = atomic_load(&t->count[other]), quiet = 0;

	for (i = 0; i < PINGPONG; i++) {
		long now;

		atomic_fetch_add(&t->count[me], 1);
		gort_yield();
		now = atomic_load(&t->count[other]);
		if (now != seen || now == PINGPONG) {
			seen = now;
			quiet = 0;
		} else if (++quiet == 10) {
			t->stalls++;
			quiet = 0;
		}
	}
	gort_wg_done(&t->wg);
}

static int yield_main(void *arg)
{
	struct yield_test *t = arg;
	int64_t end;
	int i;

	/*
	 * With one P only yielding can let it run; with more, another P may
	 * take it, so allow for a thread wake-up: wait by time, not count.
	 */
	GT_CHECK(gort_go(set_flag, t) == 0);
	end = gt_now_ns() + 10LL * 1000 * 1000 * 1000;
	while (!atomic_load(&t->flag) && gt_now_ns() < end)
		gort_yield();
	t->main_saw_flag = atomic_load(&t->flag);
	t->one_p = gort_gomaxprocs(0) == 1;

	gort_wg_add(&t->wg, 2);
	for (i = 0; i < 2; i++)
		if (gort_go(player, (void *)(uintptr_t)i))
			gort_wg_done(&t->wg);
	gort_wg_wait(&t->wg);
	return 0;
}

/* Yielding lets another runnable goroutine run. */
TEST_F_TIMEOUT(sched, yield_runs_others, 60)
{
	static struct yield_test t;

	yield_t = &t;
	ASSERT_EQ(0, run_main(variant->procs, yield_main, &t));
	EXPECT_TRUE(t.main_saw_flag) {
		TH_LOG("a new goroutine did not run while main yielded");
	}
	EXPECT_EQ(PINGPONG, atomic_load(&t.count[0]));
	EXPECT_EQ(PINGPONG, atomic_load(&t.count[1]));
	/*
	 * With one P, a yield must hand it to the other runnable goroutine;
	 * with more, they run side by side at the OS's whim.
	 */
	if (t.one_p) {
		EXPECT_EQ(0, t.stalls) {
			TH_LOG("10 yields, and the other never ran");
		}
	}
	EXPECT_EQ(0, gt_failures());
}

/* ---- gort_goexit ---- */

struct goexit_test {
	atomic_int before, after;
	int num_at_end;
	struct gort_waitgroup wg;
};

static struct goexit_test *goexit_t;

static volatile bool goexit_for_real = true;

static __attribute__((noinline)) void exit_deep(int depth)
{
	if (depth == 0) {
		if (goexit_for_real)
			gort_goexit();
		return;
	}
	exit_deep(depth - 1);
	atomic_fetch_add(&goexit_t->after, 1);
}

static void exiter(void *arg)
{
	atomic_fetch_add(&goexit_t->before, 1);
	gort_wg_done(&goexit_t->wg);
	exit_deep((int)(uintptr_t)arg);
	atomic_fetch_add(&goexit_t->after, 1);
}

static int goexit_main(void *arg)
{
	struct goexit_test *t = arg;
	int i;

	gort_wg_add(&t->wg, 20);
	for (i = 0; i < 20; i++)
		if (gort_go(exiter, (void *)(uintptr_t)i))
			gort_wg_done(&t->wg);
	gort_wg_wait(&t->wg);
	for (i = 0; i < 1000000 && gort_num_goroutine() != 1; i++)
		gort_yield();
	t->num_at_end = gort_num_goroutine();
	return 0;
}

/* gort_goexit ends the goroutine from any depth; nothing after it runs. */
TEST_F_TIMEOUT(sched, goexit, 60)
{
	static struct goexit_test t;

	goexit_t = &t;
	ASSERT_EQ(0, run_main(variant->procs, goexit_main, &t));
	EXPECT_EQ(20, atomic_load(&t.before));
	EXPECT_EQ(0, atomic_load(&t.after));
	EXPECT_EQ(1, t.num_at_end);
}

/* ---- invalid arguments to gort_go ---- */

struct inval_test {
	int go_null, opts_null, huge, big, huge_num_before, huge_num_after;
	atomic_int ran;
	int ok_after;
	struct gort_waitgroup wg;
};

static void must_not_run(void *arg)
{
	struct inval_test *t = arg;

	atomic_fetch_add(&t->ran, 1);
}

static void may_run(void *arg)
{
	struct inval_test *t = arg;

	gort_wg_done(&t->wg);
}

static int inval_main(void *arg)
{
	struct inval_test *t = arg;
	struct gort_go_opts huge = { .stack_size = SIZE_MAX };
	struct gort_go_opts big = { .stack_size = SIZE_MAX / 2 + 1 };
	struct gort_go_opts fine = { 0 };
	int i;

	t->go_null = gort_go(NULL, t);
	t->opts_null = gort_go_opts(NULL, t, &fine);
	t->huge_num_before = gort_num_goroutine();
	t->huge = gort_go_opts(must_not_run, t, &huge);
	t->big = gort_go_opts(must_not_run, t, &big);
	t->huge_num_after = gort_num_goroutine();
	for (i = 0; i < 100; i++)
		gort_yield();
	gort_wg_add(&t->wg, 1);
	t->ok_after = gort_go_opts(may_run, t, &fine);
	if (t->ok_after)
		gort_wg_done(&t->wg);
	gort_wg_wait(&t->wg);
	return 0;
}

/* NULL functions and absurd stacks are errors, not crashes. */
TEST_F_TIMEOUT(sched, go_invalid_arguments, 60)
{
	struct inval_test t = { 0 };

	ASSERT_EQ(0, run_main(variant->procs, inval_main, &t));
	EXPECT_EQ(-EINVAL, t.go_null);
	EXPECT_EQ(-EINVAL, t.opts_null);
	EXPECT_TRUE(t.huge == -EINVAL || t.huge == -ENOMEM) {
		TH_LOG("stack_size SIZE_MAX: %d", t.huge);
	}
	EXPECT_TRUE(t.big == -EINVAL || t.big == -ENOMEM) {
		TH_LOG("stack_size SIZE_MAX/2+1: %d", t.big);
	}
	EXPECT_EQ(t.huge_num_before, t.huge_num_after);
	EXPECT_EQ(0, atomic_load(&t.ran));
	EXPECT_EQ(0, t.ok_after);
}

/* ---- gort_gomaxprocs ---- */

struct maxprocs_test {
	int q0, q1, qneg, set3, q3, set1, q1b, restore, qend;
	atomic_int ran;
	struct gort_waitgroup wg;
};

static void yield_a_bit(void *arg)
{
	struct maxprocs_test *t = arg;
	int i;

	for (i = 0; i < 10; i++)
		gort_yield();
	atomic_fetch_add(&t->ran, 1);
	gort_wg_done(&t->wg);
}

static void run_100(struct maxprocs_test *t)
{
	int i;

	gort_wg_add(&t->wg, 100);
	for (i = 0; i < 100; i++)
		if (gort_go(yield_a_bit, t))
			gort_wg_done(&t->wg);
	gort_wg_wait(&t->wg);
}

static int maxprocs_main(void *arg)
{
	struct maxprocs_test *t = arg;

	t->q0 = gort_gomaxprocs(0);
	t->q1 = gort_gomaxprocs(0);
	t->qneg = gort_gomaxprocs(-1);
	run_100(t);
	t->set3 = gort_gomaxprocs(3);
	t->q3 = gort_gomaxprocs(0);
	run_100(t);
	t->set1 = gort_gomaxprocs(1);
	t->q1b = gort_gomaxprocs(0);
	run_100(t);
	t->restore = gort_gomaxprocs(t->q0);
	t->qend = gort_gomaxprocs(0);
	run_100(t);
	return 0;
}

/* Querying does not change; setting returns the previous value. */
TEST_F_TIMEOUT(sched, gomaxprocs, 60)
{
	struct maxprocs_test t = { 0 };
	int p = variant->procs;

	ASSERT_EQ(0, run_main(p, maxprocs_main, &t));
	EXPECT_EQ(p, t.q0);
	EXPECT_EQ(p, t.q1);
	EXPECT_EQ(p, t.qneg);
	EXPECT_EQ(p, t.set3);
	EXPECT_EQ(3, t.q3);
	EXPECT_EQ(3, t.set1);
	EXPECT_EQ(1, t.q1b);
	EXPECT_EQ(1, t.restore);
	EXPECT_EQ(p, t.qend);
	EXPECT_EQ(400, atomic_load(&t.ran));
}

/* ---- gort_dump_goroutines ---- */

#define DUMP_NAME "gt-named-goroutine"

struct dump_test {
	int pipefd[2];
	char *text;
	size_t len;
	int ret, bad_fd;
	uint64_t blocked_id, named_id;
	int tries;
	char blocked_hdr[128];
	struct gate g;
};

static void *drain(void *arg)
{
	struct dump_test *t = arg;
	size_t cap = 0;
	char buf[4096];
	ssize_t n;

	while ((n = read(t->pipefd[0], buf, sizeof(buf))) > 0) {
		if (t->len + n + 1 > cap) {
			char *nt;

			cap = (t->len + n + 1) * 2;
			nt = realloc(t->text, cap);
			if (!nt)
				break;
			t->text = nt;
		}
		memcpy(t->text + t->len, buf, n);
		t->len += n;
		t->text[t->len] = '\0';
	}
	return NULL;
}

static void dump_named(void *arg)
{
	struct dump_test *t = arg;

	t->named_id = gort_goid();
	gate_pass(&t->g);
}

static void dump_first(void *arg)
{
	struct dump_test *t = arg;

	t->blocked_id = gort_goid();
	gate_pass(&t->g);
}

/* The header line of goroutine id in text, or NULL. */
static const char *find_header(const char *text, uint64_t id, char *hdr,
			       size_t len)
{
	char want[64];
	const char *p, *e;

	snprintf(want, sizeof(want), "goroutine %llu [",
		 (unsigned long long)id);
	for (p = text; (p = strstr(p, want)); p++) {
		if (p != text && p[-1] != '\n')
			continue;
		e = strchr(p, '\n');
		if (!e)
			e = p + strlen(p);
		snprintf(hdr, len, "%.*s", (int)(e - p), p);
		return hdr;
	}
	return NULL;
}

static bool header_is_blocked(const char *hdr)
{
	return hdr && !strstr(hdr, "[running") && !strstr(hdr, "[runnable");
}

static int dump_main(void *arg)
{
	struct dump_test *t = arg;
	struct gort_go_opts named = { .name = DUMP_NAME };
	pthread_t th;
	int i;

	gate_init(&t->g, 2);
	gate_started(&t->g, gort_go(dump_first, t));
	gate_started(&t->g, gort_go_opts(dump_named, t, &named));
	gate_wait_blocked(&t->g, 2);

	t->bad_fd = gort_dump_goroutines(-1);
	/* Having said it waits is not having parked: retry until parked. */
	for (t->tries = 1; t->tries <= 50; t->tries++) {
		char hdr[128];

		free(t->text);
		t->text = NULL;
		t->len = 0;
		if (pipe(t->pipefd))
			return 3;
		if (pthread_create(&th, NULL, drain, t))
			return 4;
		t->ret = gort_dump_goroutines(t->pipefd[1]);
		close(t->pipefd[1]);
		pthread_join(th, NULL);
		close(t->pipefd[0]);
		if (t->text && header_is_blocked(find_header(t->text,
				t->blocked_id, hdr, sizeof(hdr))))
			break;
		for (i = 0; i < 100; i++)
			gort_yield();
	}
	gate_release(&t->g);
	return 0;
}

/* The dump shows the caller running, a blocked goroutine, and names. */
TEST_F_TIMEOUT(sched, dump_goroutines, 60)
{
	static struct dump_test t;
	char hdr[128];

	ASSERT_EQ(0, run_main(variant->procs, dump_main, &t));
	EXPECT_EQ(-EBADF, t.bad_fd);
	EXPECT_GE(t.ret, 0);
	ASSERT_NE(NULL, t.text) {
		TH_LOG("nothing was written");
	}
	EXPECT_NE(NULL, strstr(t.text, "goroutine 1 [running]:\n")) {
		TH_LOG("no \"goroutine 1 [running]:\" line in:\n%s", t.text);
	}
	EXPECT_NE(NULL, find_header(t.text, t.blocked_id, hdr, sizeof(hdr))) {
		TH_LOG("no header for blocked goroutine %llu in:\n%s",
		       (unsigned long long)t.blocked_id, t.text);
	}
	if (find_header(t.text, t.blocked_id, hdr, sizeof(hdr))) {
		EXPECT_TRUE(header_is_blocked(hdr)) {
			TH_LOG("blocked goroutine shown as \"%s\"", hdr);
		}
		/* Go: "goroutine N [reason]:", "[reason, N minutes]:" */
		EXPECT_EQ(':', hdr[strlen(hdr) - 1]);
	}
	EXPECT_NE(NULL, strstr(t.text, DUMP_NAME)) {
		TH_LOG("the gort_go_opts name is not in the dump");
	}
	free(t.text);
}

/* ---- gort_nanotime ---- */

struct clock_test {
	int64_t before, during, after;
	bool monotonic;
};

static int clock_main(void *arg)
{
	struct clock_test *t = arg;
	int64_t prev;
	int i;

	t->before = gt_now_ns();
	t->during = gort_nanotime();
	t->after = gt_now_ns();
	t->monotonic = true;
	prev = gort_nanotime();
	for (i = 0; i < 10000; i++) {
		int64_t now = gort_nanotime();

		if (now < prev)
			t->monotonic = false;
		prev = now;
		if (i % 100 == 0)
			gort_yield();
	}
	return 0;
}

/* gort_nanotime is CLOCK_MONOTONIC and never goes back. */
TEST_F_TIMEOUT(sched, nanotime, 60)
{
	struct clock_test t = { 0 };

	ASSERT_EQ(0, run_main(variant->procs, clock_main, &t));
	EXPECT_LE(t.before, t.during);
	EXPECT_LE(t.during, t.after);
	EXPECT_TRUE(t.monotonic);
}

/* ---- schedtrace ---- */

struct trace_arg {
	int procs;
	const char *debug;
};

static void trace_busy(void *arg)
{
	int64_t end = *(int64_t *)arg;

	while (gort_nanotime() < end)
		gort_yield();
}

static int trace_main(void *arg)
{
	static int64_t end;
	int i;

	/* Busy for 300 ms; the helpers end on their own at the same time. */
	end = gort_nanotime() + 300LL * 1000 * 1000;
	for (i = 0; i < 4; i++)
		gort_go(trace_busy, &end);
	trace_busy(&end);
	return 0;
}

static int trace_child(void *arg)
{
	struct trace_arg *a = arg;

	gt_clear_gort_env();
	setenv("GORT_DEBUG", a->debug, 1);
	return run_main(a->procs, trace_main, NULL);
}

#define N "[0-9]+"
#define ID "([0-9]+|nil)"
#define BOOL "(true|false)"
#define SCHED_HEAD "^SCHED (" N ")ms: gomaxprocs=(" N ") idleprocs=(" N \
	") threads=" N " spinningthreads=" N " needspinning=" N \
	" idlethreads=" N " runqueue=" N

static const char sched_re[] = SCHED_HEAD " \\[(" N "( " N ")*)\\]$";
static const char detail_re[] = SCHED_HEAD " gcwaiting=" BOOL
	" nmidlelocked=" N " stopwait=" N " sysmonwait=" BOOL "$";
static const char p_re[] = "^  P(" N "): status=" N " schedtick=" N
	" syscalltick=" N " m=" ID " runqsize=" N " gfreecnt=" N
	" timerslen=" N "$";
static const char m_re[] = "^  M" N ": p=" ID " curg=" ID " mallocing=" N
	" throwing=" N " preemptoff=[^ ]* locks=" N " dying=" N
	" spinning=" BOOL " blocked=" BOOL " lockedg=" ID "$";
static const char g_re[] = "^  G(" N "): status=" N "\\([^)]*\\) m=" ID
	" lockedm=" ID "$";

static long match_num(const char *line, const regmatch_t *m)
{
	return strtol(line + m->rm_so, NULL, 10);
}

/* Count the numbers in "a b c". */
static int count_words(const char *s, int len)
{
	int n = 0, i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && (i == 0 || s[i - 1] == ' '))
			n++;
	return n;
}

struct trace_stats {
	int sched, bad_sched, wrong_procs, wrong_plist, backwards;
	int detail, p_lines, m_lines, g_lines, g1_lines, bad_lines;
	unsigned int p_seen;		/* bit i: a "  P<i>:" line */
	char first_bad[256];
};

static void note_bad(struct trace_stats *s, const char *line)
{
	if (!s->first_bad[0])
		snprintf(s->first_bad, sizeof(s->first_bad), "%s", line);
}

static void scan_trace(char *err, int procs, bool detailed,
		       struct trace_stats *s)
{
	regex_t rs, rd, rp, rm, rg;
	long last_ms = -1;
	char *line, *save;

	memset(s, 0, sizeof(*s));
	regcomp(&rs, sched_re, REG_EXTENDED);
	regcomp(&rd, detail_re, REG_EXTENDED);
	regcomp(&rp, p_re, REG_EXTENDED);
	regcomp(&rm, m_re, REG_EXTENDED);
	regcomp(&rg, g_re, REG_EXTENDED);
	for (line = strtok_r(err, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		regmatch_t m[8];

		if (!strncmp(line, "SCHED ", 6)) {
			regex_t *re = detailed ? &rd : &rs;

			s->sched++;
			if (regexec(re, line, 8, m, 0)) {
				s->bad_sched++;
				note_bad(s, line);
				continue;
			}
			if (match_num(line, &m[2]) != procs)
				s->wrong_procs++;
			if (match_num(line, &m[3]) > procs)
				s->wrong_procs++;
			if (match_num(line, &m[1]) < last_ms)
				s->backwards++;
			last_ms = match_num(line, &m[1]);
			if (!detailed &&
			    count_words(line + m[4].rm_so,
					m[4].rm_eo - m[4].rm_so) != procs)
				s->wrong_plist++;
			if (detailed)
				s->detail++;
		} else if (detailed && !strncmp(line, "  P", 3)) {
			if (regexec(&rp, line, 8, m, 0)) {
				s->bad_lines++;
				note_bad(s, line);
				continue;
			}
			s->p_lines++;
			if (match_num(line, &m[1]) < 32)
				s->p_seen |= 1u << match_num(line, &m[1]);
		} else if (detailed && !strncmp(line, "  M", 3)) {
			if (regexec(&rm, line, 8, m, 0)) {
				s->bad_lines++;
				note_bad(s, line);
				continue;
			}
			s->m_lines++;
		} else if (detailed && !strncmp(line, "  G", 3)) {
			if (regexec(&rg, line, 8, m, 0)) {
				s->bad_lines++;
				note_bad(s, line);
				continue;
			}
			s->g_lines++;
			if (match_num(line, &m[1]) == 1)
				s->g1_lines++;
		}
	}
	regfree(&rs);
	regfree(&rd);
	regfree(&rp);
	regfree(&rm);
	regfree(&rg);
}

/*
 * Run trace_main in a child with GORT_DEBUG=debug, expect it to exit 0, and
 * scan its stderr into s.
 */
static void run_trace(struct __test_metadata *_metadata, int procs,
		      const char *debug, bool detailed, struct trace_stats *s)
{
	struct trace_arg a = { procs, debug };
	struct gt_child c;
	char how[64];

	ASSERT_EQ(0, gt_fork_run(trace_child, &a, 40, &c));
	EXPECT_TRUE(gt_exited_with(&c, 0)) {
		TH_LOG("child: %s", gt_child_how(&c, how, sizeof(how)));
	}
	scan_trace(c.err, procs, detailed, s);
	gt_child_free(&c);
}

/* GORT_DEBUG=schedtrace=10: Go's SCHED lines, one P count per P. */
TEST_F_TIMEOUT(sched, schedtrace, 60)
{
	struct trace_stats s;

	run_trace(_metadata, variant->procs, "schedtrace=10", false, &s);
	EXPECT_GE(s.sched, 2) {
		TH_LOG("%d SCHED lines in 300 ms at schedtrace=10", s.sched);
	}
	EXPECT_EQ(0, s.bad_sched) {
		TH_LOG("malformed: \"%s\"", s.first_bad);
	}
	EXPECT_EQ(0, s.wrong_procs);
	EXPECT_EQ(0, s.wrong_plist);
	EXPECT_EQ(0, s.backwards);
}

/* ... with scheddetail=1: the longer header, then P, M and G lines. */
TEST_F_TIMEOUT(sched, scheddetail, 60)
{
	unsigned int all = (1u << variant->procs) - 1;
	struct trace_stats s;

	run_trace(_metadata, variant->procs, "schedtrace=10,scheddetail=1",
		  true, &s);
	EXPECT_GE(s.sched, 1);
	EXPECT_EQ(0, s.bad_sched) {
		TH_LOG("malformed: \"%s\"", s.first_bad);
	}
	EXPECT_EQ(0, s.bad_lines) {
		TH_LOG("malformed: \"%s\"", s.first_bad);
	}
	EXPECT_EQ(0, s.wrong_procs);
	EXPECT_EQ(all, s.p_seen);
	EXPECT_GE(s.m_lines, 1);
	EXPECT_GE(s.g1_lines, 1) {
		TH_LOG("no \"  G1: status=\" line for the main goroutine");
	}
}

TEST_HARNESS_MAIN
