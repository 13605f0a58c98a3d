// SPDX-License-Identifier: GPL-2.0
/*
 * preempt.c - goroutines that do not call the runtime do not stall others.
 *
 * gort cannot switch goroutines from a signal handler (C code has no safe
 * points), so the program keeps moving thanks to sysmon retaking Ps, to the
 * hand-off of a P whose goroutine sits in a system call, and to idle Ps
 * stealing work.  Each is tested with every P busy:
 *
 *  - spinner: goroutines spinning in plain C loops hold every P; sysmon
 *    must retake the Ps (after 10 ms) so that another goroutine runs.  The
 *    bound asserted is generous (250 ms) for sanitizers and emulation.
 *  - blocking_syscall: goroutines blocked in a real read(2) between
 *    gort_syscall_begin() and gort_syscall_end() hold every P's thread;
 *    the Ps must be handed to other threads so that other goroutines run
 *    and can release the readers.  The readers are seen to be asleep in
 *    the kernel (/proc) before the others start.
 *  - busy_spawner_retaken: a goroutine that calls the runtime (gort_go)
 *    but never blocks has its P retaken again and again; every goroutine
 *    it starts must still run exactly once.
 *  - work_stealing: a goroutine starts many goroutines on its P and then
 *    busy-waits without calling the runtime; idle Ps must take them, so
 *    some run on another thread while the starter is still spinning.  It
 *    needs two Ps: with one it is a SKIP.
 *
 * A test that fails here usually hangs rather than failing an assertion;
 * the harness timeouts turn that into a failure.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gort_test.h"

#define MAX_PROCS 8

GT_PROCS_FIXTURE(sched)

/* ---- spinner ---- */

struct spin_test {
	int nspinners;
	atomic_int started;		/* spinners that are spinning */
	atomic_bool stop;		/* set by the rescuer */
	atomic_llong last_start_ns;	/* when the last spinner started */
	int64_t rescued_ns;		/* when the rescuer saw them all */
	long rescuer_yields;		/* its yields until then */
	struct gort_waitgroup wg;
};

static void spinner(void *arg)
{
	struct spin_test *t = arg;

	atomic_store(&t->last_start_ns, gt_now_ns());
	atomic_fetch_add(&t->started, 1);
	/* No runtime call in here: only sysmon can take this P back. */
	while (!atomic_load_explicit(&t->stop, memory_order_relaxed))
		;
	gort_wg_done(&t->wg);
}

static void rescuer(void *arg)
{
	struct spin_test *t = arg;

	while (atomic_load(&t->started) < t->nspinners) {
		gort_yield();
		t->rescuer_yields++;
	}
	t->rescued_ns = gt_now_ns();
	atomic_store(&t->stop, true);
	gort_wg_done(&t->wg);
}

static int spin_main(void *arg)
{
	struct spin_test *t = arg;
	int i;

	gort_wg_add(&t->wg, t->nspinners + 1);
	for (i = 0; i < t->nspinners; i++)
		if (gort_go(spinner, t))
			gort_wg_done(&t->wg);
	if (gort_go(rescuer, t)) {
		atomic_store(&t->stop, true);
		gort_wg_done(&t->wg);
	}
	gort_wg_wait(&t->wg);
	return 0;
}

/*
 * As many goroutines as Ps spin in C; another goroutine still runs within
 * a few sysmon periods and stops them.
 */
TEST_F_TIMEOUT(sched, spinner_does_not_starve_others, 60)
{
	struct spin_test t = { .nspinners = variant->procs };
	int64_t delay;

	ASSERT_EQ(0, run_main(variant->procs, spin_main, &t));
	ASSERT_EQ(t.nspinners, atomic_load(&t.started));
	ASSERT_TRUE(atomic_load(&t.stop));
	delay = t.rescued_ns - atomic_load(&t.last_start_ns);
	TH_LOG("other goroutine ran %lld us after the last spinner started (%ld yields)",
	       (long long)delay / 1000, t.rescuer_yields);
	EXPECT_LT(delay, 250LL * 1000 * 1000);
}

/* ---- blocking system call ---- */

struct reader {
	int fd;				/* read end */
	atomic_int tid;			/* thread it blocks on */
	atomic_bool in_call;		/* between begin and end */
	char got;			/* byte read */
	ssize_t ret;			/* read()'s result */
	uint64_t goid_before, goid_after;
};

struct sys_test {
	int nreaders;
	struct reader r[MAX_PROCS];
	int wfd[MAX_PROCS];
	struct gort_waitgroup readers_wg, workers_wg;
	atomic_long work_done;
	bool readers_seen_asleep;
	bool all_in_read_while_working;
};

#define NWORKERS 100
#define WORK_YIELDS 10

static void reader(void *arg)
{
	struct reader *r = arg;

	r->goid_before = gort_goid();
	atomic_store(&r->tid, gettid());
	gort_syscall_begin();
	atomic_store(&r->in_call, true);
	r->ret = read(r->fd, &r->got, 1);
	atomic_store(&r->in_call, false);
	gort_syscall_end();
	r->goid_after = gort_goid();
	gort_yield();	/* and keep working as a goroutine */
}

static struct sys_test *sys_t;

static void reader_main(void *arg)
{
	reader(arg);
	gort_wg_done(&sys_t->readers_wg);
}

static void worker(void *arg)
{
	struct sys_test *t = arg;
	int i;

	for (i = 0; i < WORK_YIELDS; i++)
		gort_yield();
	atomic_fetch_add(&t->work_done, 1);
	gort_wg_done(&t->workers_wg);
}

static bool all_readers_asleep(struct sys_test *t)
{
	int i;

	for (i = 0; i < t->nreaders; i++) {
		struct reader *r = &t->r[i];

		if (!atomic_load(&r->in_call) ||
		    gt_thread_state(atomic_load(&r->tid)) != 'S')
			return false;
	}
	return true;
}

static int sys_main(void *arg)
{
	struct sys_test *t = arg;
	int64_t deadline;
	int i;

	gort_wg_add(&t->readers_wg, t->nreaders);
	for (i = 0; i < t->nreaders; i++)
		if (gort_go(reader_main, &t->r[i]))
			gort_wg_done(&t->readers_wg);

	/* Wait (as a goroutine) until every reader sleeps in read(2). */
	deadline = gt_now_ns() + 20LL * 1000 * 1000 * 1000;
	while (!all_readers_asleep(t) && gt_now_ns() < deadline)
		gort_yield();
	t->readers_seen_asleep = all_readers_asleep(t);

	/* Every P's thread is now stuck in the kernel: others must run. */
	gort_wg_add(&t->workers_wg, NWORKERS);
	for (i = 0; i < NWORKERS; i++)
		if (gort_go(worker, t))
			gort_wg_done(&t->workers_wg);
	gort_wg_wait(&t->workers_wg);
	t->all_in_read_while_working = true;
	for (i = 0; i < t->nreaders; i++)
		if (!atomic_load(&t->r[i].in_call))
			t->all_in_read_while_working = false;

	/* Release the readers. */
	for (i = 0; i < t->nreaders; i++) {
		char c = 'a' + i;

		GT_CHECK(write(t->wfd[i], &c, 1) == 1);
	}
	gort_wg_wait(&t->readers_wg);
	return 0;
}

/*
 * As many goroutines as Ps block in read(2) inside gort_syscall_begin/end;
 * other goroutines keep running and release them.
 */
TEST_F_TIMEOUT(sched, blocking_syscall_does_not_stall, 60)
{
	static struct sys_test t;
	int i;

	t.nreaders = variant->procs;
	sys_t = &t;
	for (i = 0; i < t.nreaders; i++) {
		int p[2];

		ASSERT_EQ(0, pipe(p));
		t.r[i].fd = p[0];
		t.wfd[i] = p[1];
	}
	ASSERT_EQ(0, run_main(variant->procs, sys_main, &t));
	EXPECT_TRUE(t.readers_seen_asleep) {
		TH_LOG("readers never seen asleep in read(2)");
	}
	EXPECT_EQ(NWORKERS, atomic_load(&t.work_done));
	EXPECT_TRUE(t.all_in_read_while_working);
	for (i = 0; i < t.nreaders; i++) {
		EXPECT_EQ(1, t.r[i].ret);
		EXPECT_EQ('a' + i, t.r[i].got);
		EXPECT_NE(0ULL, t.r[i].goid_before);
		EXPECT_EQ(t.r[i].goid_before, t.r[i].goid_after);
	}
	EXPECT_EQ(0, gt_failures());
}

/* ---- retaken while calling the runtime ---- */

#define BUSY_NS		(300LL * 1000 * 1000)
#define BUSY_MAX	2000000

struct busy_test {
	long spawned;
	long errors;
	atomic_long ran;
	struct gort_waitgroup wg;
};

static void busy_leaf(void *arg)
{
	struct busy_test *t = arg;

	atomic_fetch_add_explicit(&t->ran, 1, memory_order_relaxed);
	gort_wg_done(&t->wg);
}

static int busy_main(void *arg)
{
	struct busy_test *t = arg;
	int64_t end = gt_now_ns() + BUSY_NS;

	/*
	 * Runtime calls, but never a block or a yield, for far longer than
	 * sysmon's 10 ms: the P is retaken under this goroutine's feet, and
	 * its next runtime call must wait for a P again.
	 */
	while (gt_now_ns() < end && t->spawned < BUSY_MAX) {
		gort_wg_add(&t->wg, 1);
		if (gort_go(busy_leaf, t)) {
			gort_wg_done(&t->wg);
			t->errors++;
		} else {
			t->spawned++;
		}
	}
	gort_wg_wait(&t->wg);
	return 0;
}

/*
 * A goroutine that keeps spawning for 300 ms without blocking: every
 * goroutine it starts runs once, however often its P is retaken.
 */
TEST_F_TIMEOUT(sched, busy_spawner_retaken, 120)
{
	static struct busy_test t;

	ASSERT_EQ(0, run_main(variant->procs, busy_main, &t));
	TH_LOG("spawned %ld goroutines", t.spawned);
	EXPECT_EQ(0, t.errors);
	EXPECT_GT(t.spawned, 0);
	EXPECT_EQ(t.spawned, atomic_load(&t.ran));
}

/* ---- work stealing ---- */

#define NSTOLEN 256
#define STEAL_WAIT_NS (10LL * 1000 * 1000 * 1000)

struct steal_test {
	atomic_int spawner_tid;
	atomic_bool spawner_busy;	/* spinning without runtime calls */
	atomic_int elsewhere_while_busy; /* ran on another thread meanwhile */
	atomic_int ran;
	int64_t first_elsewhere_ns;	/* delay of the first such run */
	int64_t spawned_ns;
	struct gort_waitgroup wg;
};

static void stolen(void *arg)
{
	struct steal_test *t = arg;

	if (atomic_load(&t->spawner_busy) &&
	    gettid() != atomic_load(&t->spawner_tid)) {
		if (atomic_fetch_add(&t->elsewhere_while_busy, 1) == 0)
			t->first_elsewhere_ns = gt_now_ns() - t->spawned_ns;
	}
	atomic_fetch_add(&t->ran, 1);
	gort_wg_done(&t->wg);
}

static void spawner(void *arg)
{
	struct steal_test *t = arg;
	int64_t deadline;
	int i;

	atomic_store(&t->spawner_tid, gettid());
	atomic_store(&t->spawner_busy, true);
	t->spawned_ns = gt_now_ns();
	for (i = 0; i < NSTOLEN; i++)
		if (gort_go(stolen, t))
			gort_wg_done(&t->wg);
	/* Busy, without a runtime call, until another thread took some. */
	deadline = gt_now_ns() + STEAL_WAIT_NS;
	while (!atomic_load(&t->elsewhere_while_busy) &&
	       gt_now_ns() < deadline)
		;
	atomic_store(&t->spawner_busy, false);
	gort_wg_done(&t->wg);
}

static int steal_main(void *arg)
{
	struct steal_test *t = arg;

	gort_wg_add(&t->wg, NSTOLEN + 1);
	if (gort_go(spawner, t))
		gort_wg_done(&t->wg);
	gort_wg_wait(&t->wg);
	return 0;
}

/* Goroutines started on a busy P run on other threads meanwhile. */
TEST_F_TIMEOUT(sched, work_stealing, 60)
{
	struct steal_test t = { 0 };

	if (variant->procs < 2)
		SKIP(return, "work stealing needs at least two Ps");
	ASSERT_EQ(0, run_main(variant->procs, steal_main, &t));
	EXPECT_EQ(NSTOLEN, atomic_load(&t.ran));
	EXPECT_GT(atomic_load(&t.elsewhere_while_busy), 0) {
		TH_LOG("none ran on another thread while the spawner spun");
	}
	if (atomic_load(&t.elsewhere_while_busy))
		TH_LOG("first ran elsewhere %lld us after spawning began",
		       (long long)t.first_elsewhere_ns / 1000);
}

TEST_HARNESS_MAIN
