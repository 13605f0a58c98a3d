// SPDX-License-Identifier: GPL-2.0
/*
 * time.c - sleep, timers, tickers and after_func, with 1, 2 and 8 Ps.
 *
 * The only timing promise checked is the documented one: nothing fires
 * earlier than asked.  Upper bounds are not checked (ASan and qemu).
 *
 *  - 100,000 goroutines each sleep a random 1..10 ms, none wakes early;
 *  - gort_after delivers the gort_nanotime() it fired at;
 *  - timer Stop/Reset (Go 1.23): stop of a pending (or fired but not
 *    received) timer is true, of a received one false; reset likewise;
 *    after either, no stale value is received and a reset timer
 *    fires with a time no earlier than asked;
 *  - a ticker ticks k times no earlier than k periods, keeps going, and
 *    stops; gort_ticker_new(0) panics;
 *  - after_func runs fn in a goroutine of its own; stopped in time, never;
 *  - goroutines that all wait on timers are not a deadlock;
 *  - a pthread calling gort_sleep is blocked (asleep) for the time asked;
 *  - select with a timeout against senders that sleep.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gort_test.h"

#define MS	1000000LL

GT_PROCS_FIXTURE(time)

/* ---- 100,000 sleepers (a tenth under sanitizers and emulators) ---- */

#define NSLEEPERS	gt_scaled(100000)

static struct gort_waitgroup swg;
static atomic_long early, slept;

static void sleeper(void *arg)
{
	int64_t asked = ((uintptr_t)arg % 10 + 1) * MS, t0, el;

	t0 = gort_nanotime();
	gort_sleep(asked);
	el = gort_nanotime() - t0;
	if (el < asked && atomic_fetch_add(&early, 1) < 5)
		GT_CHECKF(0, "slept %lld ns of %lld", (long long)el,
			  (long long)asked);
	atomic_fetch_add(&slept, 1);
	gort_wg_done(&swg);
}

static int sleepers_main(void *arg)
{
	long i, n = NSLEEPERS;
	unsigned int seed = 12345;

	gort_wg_add(&swg, n);
	for (i = 0; i < n; i++)
		if (gort_go(sleeper, (void *)(uintptr_t)rand_r(&seed))) {
			GT_CHECK(!"gort_go");
			gort_wg_done(&swg);
		}
	gort_wg_wait(&swg);
	return 0;
}

TEST_F_TIMEOUT(time, many_sleepers, 180)
{
	ASSERT_EQ(0, run_main(variant->procs, sleepers_main, NULL));
	ASSERT_EQ(0, gt_failures());
	EXPECT_EQ(0, atomic_load(&early));
	EXPECT_EQ(NSLEEPERS, atomic_load(&slept));
}

/* ---- gort_after ---- */

static int after_main(void *arg)
{
	int64_t t0, fired = 0, got;
	struct gort_chan *c;
	int i;

	for (i = 0; i < 5; i++) {
		int64_t asked = (i * 7 % 20 + 1) * MS;

		t0 = gort_nanotime();
		c = gort_after(asked);
		GT_CHECK(c != NULL);
		if (!c)
			return 1;
		GT_CHECK(gort_chan_cap(c) == 1);
		GT_CHECK(gort_chan_recv(c, &fired));
		got = gort_nanotime();
		GT_CHECKF(fired - t0 >= asked, "fired %lld ns after, asked %lld",
			  (long long)(fired - t0), (long long)asked);
		GT_CHECK(fired <= got);
		/* One value only. */
		GT_CHECK(gort_chan_try_recv(c, &fired) == -EAGAIN);
	}
	return 0;
}

TEST_F_TIMEOUT(time, after_delivers_fire_time, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, after_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/*
 * A timer already due when its receiver blocks (gort_after(0), of 1 ns,
 * of a negative duration) fires at once.  Run in a child with a short
 * deadline, since a runtime that loses the value hangs.
 */
static int *due_info;	/* [0] procs, [1] received */

static int due_main(void *arg)
{
	static const int64_t ns[] = { 0, 1, -5, 0, 1000 };
	int64_t fired, t0;
	int i;

	for (i = 0; i < 5; i++) {
		t0 = gort_nanotime();
		if (!gort_chan_recv(gort_after(ns[i]), &fired) || fired < t0)
			return 1;
		due_info[1]++;
	}
	return 0;
}

static int due_child(void *arg)
{
	gt_clear_gort_env();
	return run_main(due_info[0], due_main, NULL);
}

TEST_F_TIMEOUT(time, after_already_due, 60)
{
	struct gt_child c;
	char how[64];

	due_info = gt_shared_alloc(2 * sizeof(int));
	ASSERT_NE(NULL, due_info);
	due_info[0] = variant->procs;
	ASSERT_EQ(0, gt_fork_run(due_child, NULL, 5, &c));
	EXPECT_TRUE(gt_exited_with(&c, 0)) {
		TH_LOG("child %s after %d of 5 timers",
		       gt_child_how(&c, how, sizeof(how)), due_info[1]);
	}
	EXPECT_EQ(5, due_info[1]);
	gt_child_free(&c);
}

/* ---- stop / reset ---- */

static bool nothing_within(struct gort_chan *c, int64_t ns)
{
	struct gort_select_case cs = { c, GORT_RECV, NULL, false };

	return gort_select(&cs, 1, ns) == -ETIMEDOUT;
}

static int stop_reset_main(void *arg)
{
	struct gort_timer *t;
	struct gort_chan *c;
	int64_t v, t0;

	/* Stop before it fires: true, and it never fires. */
	t = gort_timer_new(20 * MS);
	GT_CHECK(t != NULL);
	if (!t)
		return 1;
	c = gort_timer_chan(t);
	GT_CHECK(c != NULL);
	GT_CHECK(gort_timer_stop(t));
	GT_CHECK(!gort_timer_stop(t));		/* already stopped */
	GT_CHECK(nothing_within(c, 40 * MS));

	/* Stop after it fired, value received: false. */
	t = gort_timer_new(MS);
	c = gort_timer_chan(t);
	GT_CHECK(gort_chan_recv(c, &v));
	GT_CHECK(!gort_timer_stop(t));

	/* Stop after it fired, value not received: true, as in Go 1.23 (the
	 * unreceived value counts as not yet delivered), and it is gone. */
	t = gort_timer_new(MS);
	c = gort_timer_chan(t);
	gort_sleep(20 * MS);
	GT_CHECK(gort_timer_stop(t));
	GT_CHECK(gort_chan_try_recv(c, &v) == -EAGAIN);
	GT_CHECK(nothing_within(c, 20 * MS));

	/* Reset of a pending timer: true; it fires at the new time. */
	t = gort_timer_new(10 * MS);
	c = gort_timer_chan(t);
	t0 = gort_nanotime();
	GT_CHECK(gort_timer_reset(t, 40 * MS));
	GT_CHECK(gort_chan_recv(c, &v));
	GT_CHECKF(v - t0 >= 40 * MS, "fired %lld ns after reset",
		  (long long)(v - t0));
	GT_CHECK(gort_chan_try_recv(c, &v) == -EAGAIN);

	/* Reset of a fired (received) timer: false. */
	t0 = gort_nanotime();
	GT_CHECK(!gort_timer_reset(t, 5 * MS));
	GT_CHECK(gort_chan_recv(c, &v));
	GT_CHECK(v - t0 >= 5 * MS);

	/* Reset of a fired, unreceived timer: true (Go 1.23), and the stale
	 * value is not received: the next one is from the reset. */
	t = gort_timer_new(MS);
	c = gort_timer_chan(t);
	gort_sleep(20 * MS);
	GT_CHECK(gort_chan_len(c) <= 1);
	t0 = gort_nanotime();
	GT_CHECK(gort_timer_reset(t, 30 * MS));
	GT_CHECK(gort_chan_try_recv(c, &v) == -EAGAIN);
	GT_CHECK(gort_chan_recv(c, &v));
	GT_CHECKF(v >= t0 + 30 * MS, "stale value: fired %lld ns after reset",
		  (long long)(v - t0));

	/* Reset of a stopped timer: false; it fires again. */
	t = gort_timer_new(50 * MS);
	c = gort_timer_chan(t);
	GT_CHECK(gort_timer_stop(t));
	t0 = gort_nanotime();
	GT_CHECK(!gort_timer_reset(t, 2 * MS));
	GT_CHECK(gort_chan_recv(c, &v) && v >= t0 + 2 * MS);
	return 0;
}

TEST_F_TIMEOUT(time, timer_stop_reset, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, stop_reset_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* A goroutine blocked on a timer's channel is not woken by a value from
 * before a Stop or Reset. */
static struct gort_timer *bt;
static atomic_int bt_woke;
static int64_t bt_val;
static struct gort_waitgroup bwg;

static void bt_waiter(void *arg)
{
	GT_CHECK(gort_chan_recv(gort_timer_chan(bt), &bt_val));
	atomic_store(&bt_woke, 1);
	gort_wg_done(&bwg);
}

static int blocked_reset_main(void *arg)
{
	int64_t t0;

	bt = gort_timer_new(20 * MS);
	gort_wg_add(&bwg, 1);
	GT_CHECK(gort_go(bt_waiter, NULL) == 0);
	gort_sleep(5 * MS);
	t0 = gort_nanotime();
	if (gort_timer_reset(bt, 60 * MS)) {
		/* pending (or fired, unreceived): the waiter gets the value
		 * of the reset timer, never the stale one */
		gort_wg_wait(&bwg);
		GT_CHECKF(bt_val >= t0 + 60 * MS,
			  "woke with %lld ns after reset",
			  (long long)(bt_val - t0));
	} else {
		/* the 5 ms sleep overran the 20 ms timer (a loaded machine)
		 * and the waiter had received before the reset */
		gort_wg_wait(&bwg);
		GT_CHECKF(bt_val < t0, "reset said fired-and-received, but the value is %lld ns after it",
			  (long long)(bt_val - t0));
		gort_timer_stop(bt);
	}

	/* Stop with a blocked receiver: it stays blocked. */
	atomic_store(&bt_woke, 0);
	bt = gort_timer_new(10 * MS);
	gort_wg_add(&bwg, 1);
	GT_CHECK(gort_go(bt_waiter, NULL) == 0);
	gort_sleep(2 * MS);
	if (gort_timer_stop(bt)) {
		/* stopped while pending: the waiter stays blocked until a
		 * reset makes the timer fire */
		gort_sleep(40 * MS);
		GT_CHECK(atomic_load(&bt_woke) == 0);
		t0 = gort_nanotime();
		GT_CHECK(!gort_timer_reset(bt, MS));
		gort_wg_wait(&bwg);
		GT_CHECK(bt_val >= t0 + MS);
	} else {
		/* it fired before the 2 ms sleep ended (a loaded machine) */
		gort_wg_wait(&bwg);
	}
	return 0;
}

TEST_F_TIMEOUT(time, no_stale_wakeup, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, blocked_reset_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- ticker ---- */

#define TICK	(5 * MS)
#define NTICKS	10

static int ticker_main(void *arg)
{
	struct gort_timer *tk;
	struct gort_chan *c;
	int64_t t0, v, prev = 0;
	int i;

	t0 = gort_nanotime();
	tk = gort_ticker_new(TICK);
	GT_CHECK(tk != NULL);
	if (!tk)
		return 1;
	c = gort_timer_chan(tk);
	for (i = 1; i <= NTICKS; i++) {
		GT_CHECK(gort_chan_recv(c, &v));
		GT_CHECKF(v >= t0 + i * TICK, "tick %d at %lld ns", i,
			  (long long)(v - t0));
		GT_CHECK(v > prev);
		prev = v;
	}
	/* Unreceived ticks are dropped, not queued. */
	gort_sleep(4 * TICK);
	GT_CHECK(gort_chan_len(c) <= 1);
	GT_CHECK(gort_timer_stop(tk));
	GT_CHECK(gort_chan_try_recv(c, &v) == -EAGAIN);
	GT_CHECK(nothing_within(c, 4 * TICK));
	/* Reset restarts it as a ticker. */
	t0 = gort_nanotime();
	GT_CHECK(!gort_timer_reset(tk, TICK));
	for (i = 1; i <= 3; i++) {
		GT_CHECK(gort_chan_recv(c, &v));
		GT_CHECK(v >= t0 + i * TICK);
	}
	GT_CHECK(gort_timer_stop(tk));
	return 0;
}

TEST_F_TIMEOUT(time, ticker, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, ticker_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

static int *tk_procs;

static int ticker_zero_main(void *arg)
{
	gort_ticker_new(0);
	return 0;
}

static int ticker_zero_child(void *arg)
{
	gt_clear_gort_env();
	return run_main(*tk_procs, ticker_zero_main, NULL);
}

TEST_F_TIMEOUT(time, ticker_nonpositive_panics, 60)
{
	struct gt_child c;
	char how[64];

	tk_procs = gt_shared_alloc(sizeof(int));
	ASSERT_NE(NULL, tk_procs);
	*tk_procs = variant->procs;
	ASSERT_EQ(0, gt_fork_run(ticker_zero_child, NULL, 60, &c));
	EXPECT_TRUE(gt_exited_with(&c, 2)) {
		TH_LOG("child %s", gt_child_how(&c, how, sizeof(how)));
	}
	EXPECT_NE(NULL, strstr(c.err, "panic: "));
	gt_child_free(&c);
}

/* ---- after_func ---- */

static uint64_t af_goid;
static int64_t af_when;
static atomic_int af_runs, af_stopped_runs;
static struct gort_waitgroup awg;

static void af_fn(void *arg)
{
	af_goid = gort_goid();
	af_when = gort_nanotime();
	atomic_fetch_add(&af_runs, 1);
	gort_wg_done(&awg);
}

static void af_never(void *arg)
{
	atomic_fetch_add(&af_stopped_runs, 1);
}

static int after_func_main(void *arg)
{
	struct gort_timer *t;
	int64_t t0 = gort_nanotime();
	uint64_t me = gort_goid();

	gort_wg_add(&awg, 1);
	t = gort_after_func(10 * MS, af_fn, NULL);
	GT_CHECK(t != NULL);
	if (!t)
		return 1;
	GT_CHECK(gort_timer_chan(t) == NULL);
	gort_wg_wait(&awg);
	GT_CHECK(af_goid != 0);
	GT_CHECK(af_goid != me);
	GT_CHECK(af_when - t0 >= 10 * MS);
	GT_CHECK(!gort_timer_stop(t));

	/* Reset of a fired after_func runs it again, in a new goroutine. */
	gort_wg_add(&awg, 1);
	{
		uint64_t first = af_goid;

		t0 = gort_nanotime();
		GT_CHECK(!gort_timer_reset(t, 5 * MS));
		gort_wg_wait(&awg);
		GT_CHECK(af_goid != 0 && af_goid != me && af_goid != first);
		GT_CHECK(af_when - t0 >= 5 * MS);
	}
	GT_CHECK(atomic_load(&af_runs) == 2);

	/* Stopped before it fires: fn never runs. */
	t = gort_after_func(20 * MS, af_never, NULL);
	GT_CHECK(gort_timer_stop(t));
	gort_sleep(50 * MS);
	GT_CHECK(atomic_load(&af_stopped_runs) == 0);
	return 0;
}

TEST_F_TIMEOUT(time, after_func_own_goroutine, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, after_func_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- waiting on timers is not a deadlock ---- */

static int *nd_procs;
static struct gort_waitgroup ndwg;

static void nd_sleeper(void *arg)
{
	gort_sleep((intptr_t)arg * MS);
	gort_wg_done(&ndwg);
}

static void nd_timer_waiter(void *arg)
{
	struct gort_timer *t = gort_timer_new(30 * MS);

	gort_chan_recv(gort_timer_chan(t), NULL);
	gort_wg_done(&ndwg);
}

static void nd_selecter(void *arg)
{
	struct gort_chan *never = gort_chan_make(1, 0);
	struct gort_select_case cs = { never, GORT_RECV, NULL, false };

	gort_select(&cs, 1, 40 * MS);
	gort_wg_done(&ndwg);
}

static int nd_main(void *arg)
{
	intptr_t i;

	gort_wg_add(&ndwg, 12);
	for (i = 0; i < 10; i++)
		gort_go(nd_sleeper, (void *)(i * 5 + 20));
	gort_go(nd_timer_waiter, NULL);
	gort_go(nd_selecter, NULL);
	/* main waits on a timer channel, then on the others */
	gort_chan_recv(gort_after(50 * MS), NULL);
	gort_wg_wait(&ndwg);
	/* only main, asleep */
	gort_sleep(20 * MS);
	printf("done\n");
	return 0;
}

static int nd_child(void *arg)
{
	gt_clear_gort_env();
	return run_main(*nd_procs, nd_main, NULL);
}

TEST_F_TIMEOUT(time, timers_are_not_deadlock, 60)
{
	struct gt_child c;
	char how[64];

	nd_procs = gt_shared_alloc(sizeof(int));
	ASSERT_NE(NULL, nd_procs);
	*nd_procs = variant->procs;
	ASSERT_EQ(0, gt_fork_run(nd_child, NULL, 60, &c));
	EXPECT_TRUE(gt_exited_with(&c, 0)) {
		TH_LOG("child %s", gt_child_how(&c, how, sizeof(how)));
	}
	EXPECT_EQ(NULL, strstr(c.err, "deadlock"));
	EXPECT_NE(NULL, strstr(c.out, "done"));
	gt_child_free(&c);
}

/* ---- gort_sleep from a pthread ---- */

static atomic_int pt_tid, pt_done;
static int64_t pt_elapsed[3];

static void *pt_sleeper(void *arg)
{
	static const int64_t asked[3] = { 1 * MS, 20 * MS, 300 * MS };
	int i;

	atomic_store(&pt_tid, (int)syscall(SYS_gettid));
	for (i = 0; i < 3; i++) {
		int64_t t0 = gt_now_ns();

		gort_sleep(asked[i]);
		pt_elapsed[i] = gt_now_ns() - t0;
	}
	atomic_store(&pt_done, 1);
	return NULL;
}

static int pt_main(void *arg)
{
	pthread_t th;
	int i, asleep = 0, samples = 0;
	int64_t t0;

	if (pthread_create(&th, NULL, pt_sleeper, NULL))
		return 1;
	while (!atomic_load(&pt_tid))
		gort_sleep(MS);
	/* During its 300 ms sleep, the thread is asleep, not spinning. */
	t0 = gt_now_ns();
	while (gt_now_ns() - t0 < 40 * MS)
		gort_sleep(MS);
	for (i = 0; i < 20 && !atomic_load(&pt_done); i++) {
		char st = gt_thread_state(atomic_load(&pt_tid));

		samples++;
		if (st == 'S')
			asleep++;
		gort_sleep(5 * MS);
	}
	gt_join_thread(th);
	GT_CHECKF(pt_elapsed[0] >= 1 * MS, "%lld", (long long)pt_elapsed[0]);
	GT_CHECKF(pt_elapsed[1] >= 20 * MS, "%lld", (long long)pt_elapsed[1]);
	GT_CHECKF(pt_elapsed[2] >= 300 * MS, "%lld", (long long)pt_elapsed[2]);
	GT_CHECKF(samples == 0 || asleep * 2 > samples,
		  "asleep in %d of %d samples", asleep, samples);
	return 0;
}

TEST_F_TIMEOUT(time, pthread_sleep, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, pt_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- select timeouts against sleeping senders ---- */

#define NSEL	200

static struct gort_waitgroup selwg;
static atomic_long sel_timeouts, sel_values;

struct sel_pair {
	struct gort_chan *c;
	int64_t start, delay, timeout;
};

static struct sel_pair pairs[NSEL];

static void late_sender(void *arg)
{
	struct sel_pair *p = arg;
	int64_t v;

	gort_sleep(p->delay);
	v = gort_nanotime();
	gort_chan_send(p->c, &v);
}

static void sel_receiver(void *arg)
{
	struct sel_pair *p = arg;
	int64_t v = 0, t0 = gort_nanotime();
	struct gort_select_case cs = { p->c, GORT_RECV, &v, false };
	int r = gort_select(&cs, 1, p->timeout);

	if (r == -ETIMEDOUT) {
		GT_CHECK(gort_nanotime() - t0 >= p->timeout);
		atomic_fetch_add(&sel_timeouts, 1);
		/* The sender still comes, no earlier than its delay. */
		GT_CHECK(gort_chan_recv(p->c, &v));
	} else {
		GT_CHECKF(r == 0, "select %d", r);
		atomic_fetch_add(&sel_values, 1);
	}
	GT_CHECKF(v - p->start >= p->delay, "value sent %lld ns in, delay %lld",
		  (long long)(v - p->start), (long long)p->delay);
	gort_wg_done(&selwg);
}

static int sel_sleep_main(void *arg)
{
	int i;

	gort_wg_add(&selwg, NSEL);
	for (i = 0; i < NSEL; i++) {
		struct sel_pair *p = &pairs[i];

		p->c = gort_chan_make(sizeof(int64_t), i % 3 == 0 ? 1 : 0);
		p->delay = (i % 10 + 1) * MS;
		/* half expire well before the sender wakes, half well after */
		p->timeout = i % 2 ? p->delay + 200 * MS : (i % 5 + 1) * MS / 2;
		p->start = gort_nanotime();
		GT_CHECK(gort_go(late_sender, p) == 0);
		GT_CHECK(gort_go(sel_receiver, p) == 0);
	}
	gort_wg_wait(&selwg);
	GT_CHECK(atomic_load(&sel_timeouts) + atomic_load(&sel_values) == NSEL);
	return 0;
}

TEST_F_TIMEOUT(time, select_timeout_with_sleep, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, sel_sleep_main, NULL));
	ASSERT_EQ(0, gt_failures());
	/* A select that timed out before its sender slept its delay must
	 * have: the senders of the short-timeout half sleep longer than
	 * their select waits, so at least one timed out. */
	EXPECT_GT(atomic_load(&sel_timeouts), 0);
}

TEST_HARNESS_MAIN
