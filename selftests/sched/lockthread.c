// SPDX-License-Identifier: GPL-2.0
/*
 * lockthread.c - gort_lock_os_thread() wires a goroutine to its thread.
 *
 * Users lock a goroutine to its thread for thread-local state (a GL
 * context, a thread-bound library handle, per-thread credentials), so the
 * properties they rely on are, while locked:
 *
 *  - the goroutine stays on one thread (gettid() and a __thread variable
 *    stay the same) across yields and parks;
 *  - no other goroutine runs on that thread;
 *  - other goroutines still make progress, even with one P: the P goes to
 *    another thread whenever the locked goroutine switches away;
 *
 * and that locks nest (wired until as many unlocks as locks), that an
 * unlocked goroutine's thread runs other goroutines again, that several
 * goroutines locked at once each have their own thread, and that a
 * goroutine that ends while locked does not break the scheduler.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gort_test.h"

#define NOTHERS		50
#define LOCKED_ROUNDS	1000
#define PARK_EVERY	100

GT_PROCS_FIXTURE(sched)

static __thread uint64_t tls_owner;

/* Goroutines that keep running meanwhile and watch for intrusions. */
struct others {
	atomic_bool stop;
	atomic_long progress;		/* yields done by all of them */
	atomic_int locked_tid;		/* the thread kept private */
	atomic_bool locked_active;	/* locked_tid is in force */
	atomic_long intrusions;		/* ran on locked_tid meanwhile */
	atomic_long ran_on_freed;	/* ran on freed_tid */
	atomic_int freed_tid;		/* thread unlocked again */
	struct gort_waitgroup wg;
};

static void other(void *arg)
{
	struct others *o = arg;

	while (!atomic_load(&o->stop)) {
		pid_t tid = gettid();

		if (atomic_load(&o->locked_active) &&
		    tid == atomic_load(&o->locked_tid))
			atomic_fetch_add(&o->intrusions, 1);
		if (tid == atomic_load(&o->freed_tid))
			atomic_fetch_add(&o->ran_on_freed, 1);
		atomic_fetch_add(&o->progress, 1);
		gort_yield();
	}
	gort_wg_done(&o->wg);
}

static void start_others(struct others *o)
{
	int i;

	atomic_store(&o->freed_tid, -1);
	gort_wg_add(&o->wg, NOTHERS);
	for (i = 0; i < NOTHERS; i++)
		if (gort_go(other, o))
			gort_wg_done(&o->wg);
}

static void stop_others(struct others *o)
{
	atomic_store(&o->stop, true);
	gort_wg_wait(&o->wg);
}

/* Yield and park; count the rounds in which the thread or TLS changed. */
struct stay_result {
	long rounds;
	long tid_changes;
	long tls_changes;
};

static void stay(pid_t tid, uint64_t owner, int rounds,
		 struct stay_result *r)
{
	int i;

	for (i = 0; i < rounds; i++) {
		gt_yield_or_park(i, PARK_EVERY);
		if (gettid() != tid)
			r->tid_changes++;
		if (tls_owner != owner)
			r->tls_changes++;
		r->rounds++;
	}
}

/* ---- one locked goroutine among many ---- */

struct lock_test {
	struct others o;
	struct stay_result locked, nested;
	long progress_while_locked;
	long freed_checks;		/* yields until freed thread reused */
	bool nested_ok;
	struct gort_waitgroup wg;
};

static void locked_goroutine(void *arg)
{
	struct lock_test *t = arg;
	uint64_t me = gort_goid();
	long before;
	pid_t tid;
	int i;

	gort_lock_os_thread();
	tid = gettid();
	tls_owner = me;
	atomic_store(&t->o.locked_tid, tid);
	atomic_store(&t->o.locked_active, true);

	before = atomic_load(&t->o.progress);
	stay(tid, me, LOCKED_ROUNDS, &t->locked);
	t->progress_while_locked = atomic_load(&t->o.progress) - before;

	/* Nested: still wired after one of two unlocks. */
	gort_lock_os_thread();
	gort_unlock_os_thread();
	stay(tid, me, LOCKED_ROUNDS / 4, &t->nested);
	t->nested_ok = true;

	/* Fully unlocked: the thread is everyone's again. */
	atomic_store(&t->o.locked_active, false);
	atomic_store(&t->o.freed_tid, tid);
	gort_unlock_os_thread();
	for (i = 0; i < 100000 && !atomic_load(&t->o.ran_on_freed); i++) {
		gort_yield();
		t->freed_checks++;
	}
	gort_wg_done(&t->wg);
}

static int lock_main(void *arg)
{
	struct lock_test *t = arg;

	start_others(&t->o);
	gort_wg_add(&t->wg, 1);
	if (gort_go(locked_goroutine, t))
		gort_wg_done(&t->wg);
	gort_wg_wait(&t->wg);
	stop_others(&t->o);
	return 0;
}

/*
 * A locked goroutine keeps its thread (and TLS) across yields and parks,
 * no one else runs there, others progress; locks nest; unlocking frees
 * the thread for other goroutines.
 */
TEST_F_TIMEOUT(sched, lock_keeps_thread, 120)
{
	static struct lock_test t;

	ASSERT_EQ(0, run_main(variant->procs, lock_main, &t));
	EXPECT_EQ(LOCKED_ROUNDS, t.locked.rounds);
	EXPECT_EQ(0, t.locked.tid_changes);
	EXPECT_EQ(0, t.locked.tls_changes);
	EXPECT_EQ(0, atomic_load(&t.o.intrusions)) {
		TH_LOG("other goroutines ran on the locked thread");
	}
	EXPECT_GT(t.progress_while_locked, 0) {
		TH_LOG("no other goroutine ran while one was locked");
	}
	EXPECT_TRUE(t.nested_ok);
	EXPECT_EQ(LOCKED_ROUNDS / 4, t.nested.rounds);
	EXPECT_EQ(0, t.nested.tid_changes) {
		TH_LOG("goroutine left its thread after 2 locks and 1 unlock");
	}
	EXPECT_EQ(0, t.nested.tls_changes);
	EXPECT_GT(atomic_load(&t.o.ran_on_freed), 0) {
		TH_LOG("none ran on the unlocked thread in %ld yields",
		       t.freed_checks);
	}
}

/* ---- several locked at once ---- */

#define NLOCKED 8

struct many_test {
	struct others o;
	atomic_int nlocked;
	pid_t tid[NLOCKED];
	struct stay_result r[NLOCKED];
	struct gort_waitgroup wg;
};

struct many_arg {
	struct many_test *t;
	int idx;
};

static void many_locked(void *arg)
{
	struct many_arg *a = arg;
	struct many_test *t = a->t;
	uint64_t me = gort_goid();
	pid_t tid;
	int i;

	gort_lock_os_thread();
	tid = gettid();
	tls_owner = me;
	t->tid[a->idx] = tid;
	atomic_fetch_add(&t->nlocked, 1);
	/* Stay locked until all are: their threads must then all differ. */
	for (i = 0; atomic_load(&t->nlocked) < NLOCKED && i < 1000000; i++)
		gort_yield();
	stay(tid, me, LOCKED_ROUNDS / 4, &t->r[a->idx]);
	gort_unlock_os_thread();
	gort_wg_done(&t->wg);
}

static int many_main(void *arg)
{
	static struct many_arg args[NLOCKED];
	struct many_test *t = arg;
	int i;

	start_others(&t->o);
	gort_wg_add(&t->wg, NLOCKED);
	for (i = 0; i < NLOCKED; i++) {
		args[i].t = t;
		args[i].idx = i;
		if (gort_go(many_locked, &args[i]))
			gort_wg_done(&t->wg);
	}
	gort_wg_wait(&t->wg);
	stop_others(&t->o);
	return 0;
}

/* Eight goroutines locked at once each keep their own thread. */
TEST_F_TIMEOUT(sched, many_locked_goroutines, 120)
{
	static struct many_test t;
	int i, j;

	ASSERT_EQ(0, run_main(variant->procs, many_main, &t));
	ASSERT_EQ(NLOCKED, atomic_load(&t.nlocked));
	for (i = 0; i < NLOCKED; i++) {
		EXPECT_EQ(LOCKED_ROUNDS / 4, t.r[i].rounds);
		EXPECT_EQ(0, t.r[i].tid_changes);
		EXPECT_EQ(0, t.r[i].tls_changes);
		for (j = 0; j < i; j++) {
			EXPECT_NE(t.tid[i], t.tid[j]) {
				TH_LOG("locked #%d and #%d share thread %d",
				       j, i, (int)t.tid[i]);
			}
		}
	}
}

/* ---- the main goroutine locked while it parks ---- */

struct main_lock_test {
	pid_t before, after;
	atomic_long work;
	struct gort_waitgroup wg;
};

static void small_work(void *arg)
{
	struct main_lock_test *t = arg;

	gort_yield();
	atomic_fetch_add(&t->work, 1);
	gort_wg_done(&t->wg);
}

static int main_lock_main(void *arg)
{
	struct main_lock_test *t = arg;
	int i;

	gort_lock_os_thread();
	t->before = gettid();
	gort_wg_add(&t->wg, 100);
	for (i = 0; i < 100; i++)
		if (gort_go(small_work, t))
			gort_wg_done(&t->wg);
	gort_wg_wait(&t->wg);
	t->after = gettid();
	gort_unlock_os_thread();
	return 0;
}

/* The main goroutine, locked, parks; others run; it wakes on its thread. */
TEST_F_TIMEOUT(sched, locked_main_parks, 60)
{
	struct main_lock_test t = { 0 };

	ASSERT_EQ(0, run_main(variant->procs, main_lock_main, &t));
	EXPECT_EQ(100, atomic_load(&t.work));
	EXPECT_EQ(t.before, t.after);
}

/* ---- ending while locked ---- */

struct exit_locked_test {
	atomic_int locked_ran;
	atomic_long after;
	struct gort_waitgroup wg;
};

static void lock_and_return(void *arg)
{
	struct exit_locked_test *t = arg;

	gort_lock_os_thread();
	gort_yield();
	atomic_fetch_add(&t->locked_ran, 1);
	gort_wg_done(&t->wg);
	/* Returns still locked. */
}

static void after_work(void *arg)
{
	struct exit_locked_test *t = arg;

	gort_yield();
	atomic_fetch_add(&t->after, 1);
	gort_wg_done(&t->wg);
}

static int exit_locked_main(void *arg)
{
	struct exit_locked_test *t = arg;
	int round, i;

	for (round = 0; round < 20; round++) {
		gort_wg_add(&t->wg, 1);
		if (gort_go(lock_and_return, t))
			gort_wg_done(&t->wg);
		gort_wg_wait(&t->wg);
		gort_wg_add(&t->wg, 10);
		for (i = 0; i < 10; i++)
			if (gort_go(after_work, t))
				gort_wg_done(&t->wg);
		gort_wg_wait(&t->wg);
	}
	return 0;
}

/* Goroutines that end while locked do not stop the rest. */
TEST_F_TIMEOUT(sched, exit_while_locked, 60)
{
	struct exit_locked_test t = { 0 };

	ASSERT_EQ(0, run_main(variant->procs, exit_locked_main, &t));
	EXPECT_EQ(20, atomic_load(&t.locked_ran));
	EXPECT_EQ(200, atomic_load(&t.after));
}

TEST_HARNESS_MAIN
