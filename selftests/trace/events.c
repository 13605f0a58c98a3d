// SPDX-License-Identifier: GPL-2.0
/*
 * events.c - every scheduler transition and every park and unpark reaches
 * gort_trace_emit() with the right goroutine, P, M, reason and order.
 *
 * The test plugs a sink into the DEBUG slot of lib/trace.h (the slot the
 * trace-file writer and the kernel-module feeder sit beside) that appends
 * each record to an array: one atomic counter hands out slots, a per-slot
 * flag says the record is complete.  The counter also orders the records:
 * every event site emits before it publishes the change (a goroutine is
 * queued, a P handed on, a waiter made visible) that lets another thread
 * report the next event of the same goroutine or P, so the array's order
 * agrees with causality.  No root or BPF is needed; selftests/trace/bpf.c
 * and bpftrace.c check the same sites through the USDT probes.
 *
 *  - create_end: gort_main's own records (procs_change, the main
 *    goroutine's go_create from no goroutine, P or M), then exactly one
 *    go_create (by main, with the function) and one go_end for each of N
 *    goroutines;
 *  - block_reasons: a goroutine parked on each kind of wait (channel send
 *    and receive, select, mutex, rwmutex read and write, cond, waitgroup,
 *    sleep, nil channel, empty select) is reported by go_block with the
 *    reason enum of include/uapi/gort_trace.h, and its wake-up by a
 *    go_unblock that names it and the same reason, before it starts again;
 *  - every test runs its record stream through a state machine per
 *    goroutine (created, runnable, running, waiting, in a syscall, ended)
 *    and per P (which M holds it): an event missing at one site, doubled,
 *    or reported after the change it describes breaks it;
 *  - yield and preemption stops, syscalls with and without a lost P, work
 *    stealing, stop-the-world and gomaxprocs changes;
 *  - a sink turned off gets nothing more.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>

#include "trace.h"

#include "kselftest_harness.h"
#include "gort_test.h"

/* ---- the sink ---- */

#define EV_CAP (1u << 18)

struct rec {
	_Atomic uint32_t ready;		/* ev is complete */
	struct gort_trace_event ev;
};

static struct rec *recs;
static atomic_uint nrec;		/* slots handed out */
static atomic_uint ndrop;		/* events past EV_CAP */

static void sink(const struct gort_trace_event *ev)
{
	uint32_t i = atomic_fetch_add(&nrec, 1);

	if (i >= EV_CAP) {
		atomic_fetch_add(&ndrop, 1);
		return;
	}
	recs[i].ev = *ev;
	atomic_store_explicit(&recs[i].ready, 1, memory_order_release);
}

static void capture_start(void)
{
	recs = mmap(NULL, EV_CAP * sizeof(*recs), PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (recs == MAP_FAILED)
		abort();
	atomic_store(&nrec, 0);
	atomic_store(&ndrop, 0);
	gort_trace_sink_set(GORT_TRACE_SINK_DEBUG, sink);
}

static void capture_stop(void)
{
	gort_trace_sink_set(GORT_TRACE_SINK_DEBUG, NULL);
}

/* Records complete so far (waits for the few being written). */
static uint32_t nrecs(void)
{
	uint32_t n = atomic_load(&nrec), i;

	if (n > EV_CAP)
		n = EV_CAP;
	for (i = 0; i < n; i++)
		while (!atomic_load_explicit(&recs[i].ready,
					     memory_order_acquire))
			;
	return n;
}

static const struct gort_trace_event *ev_at(uint32_t i)
{
	return &recs[i].ev;
}

/* Index of the first record at or after `from` of kind with goid (any
 * goid if goid == ~0) and arg0 (any if a0 == ~0), or -1. */
#define ANY UINT64_MAX
static long find(uint32_t from, uint32_t kind, uint64_t goid, uint64_t a0)
{
	uint32_t n = nrecs(), i;

	for (i = from; i < n; i++) {
		const struct gort_trace_event *e = ev_at(i);

		if (e->kind == kind && (goid == ANY || e->goid == goid) &&
		    (a0 == ANY || e->arg[0] == a0))
			return i;
	}
	return -1;
}

static long count(uint32_t kind, uint64_t goid, uint64_t a0)
{
	uint32_t n = nrecs(), i;
	long c = 0;

	for (i = 0; i < n; i++) {
		const struct gort_trace_event *e = ev_at(i);

		c += e->kind == kind && (goid == ANY || e->goid == goid) &&
		     (a0 == ANY || e->arg[0] == a0);
	}
	return c;
}

/* ---- the state machines ---- */

enum gstate { GS_NONE, GS_RUNNABLE, GS_RUNNING, GS_WAITING, GS_SYSCALL,
	      GS_DEAD };

static const char *const gstate_names[] = {
	"none", "runnable", "running", "waiting", "syscall", "dead",
};

/*
 * Replay every record; on the first impossible transition write what and
 * where into why and return false.  The records must start before
 * gort_main does (every goroutine is seen created, every P idle).
 */
static bool replay(char *why, size_t len)
{
	uint32_t n = nrecs(), i;
	uint64_t maxg = 0;
	enum gstate *gs;
	int32_t powner[GORT_MAX_PROCS];
	bool ok = true;

	for (i = 0; i < n; i++) {
		const struct gort_trace_event *e = ev_at(i);

		if (e->goid > maxg)
			maxg = e->goid;
		if ((e->kind == GORT_EV_GO_CREATE ||
		     e->kind == GORT_EV_GO_UNBLOCK) && e->arg[0] > maxg)
			maxg = e->arg[0];
	}
	gs = calloc(maxg + 1, sizeof(*gs));
	if (!gs) {
		snprintf(why, len, "out of memory");
		return false;
	}
	for (i = 0; i < GORT_MAX_PROCS; i++)
		powner[i] = -1;

#define FAIL(...)							\
	do {								\
		int o_ = snprintf(why, len, "record %u: ", i);		\
									\
		snprintf(why + o_, len - (size_t)o_, __VA_ARGS__);	\
		ok = false;						\
		goto out;						\
	} while (0)
#define MOVE(g, from, to)						\
	do {								\
		if (gs[g] != (from))					\
			FAIL("kind %u: goroutine %llu is %s, not %s",	\
			     e->kind, (unsigned long long)(g),		\
			     gstate_names[gs[g]], gstate_names[from]);	\
		gs[g] = (to);						\
	} while (0)

	for (i = 0; i < n; i++) {
		const struct gort_trace_event *e = ev_at(i);
		uint64_t g = e->goid;

		if (e->p < -1 || e->p >= GORT_MAX_PROCS)
			FAIL("kind %u: P %d", e->kind, e->p);
		switch (e->kind) {
		case GORT_EV_GO_CREATE:
			if (g && gs[g] != GS_RUNNING)
				FAIL("creator %llu is %s",
				     (unsigned long long)g,
				     gstate_names[gs[g]]);
			MOVE(e->arg[0], GS_NONE, GS_RUNNABLE);
			break;
		case GORT_EV_GO_START:
			if (e->p < 0)
				FAIL("go_start of %llu without a P",
				     (unsigned long long)g);
			MOVE(g, GS_RUNNABLE, GS_RUNNING);
			break;
		case GORT_EV_GO_STOP:
			MOVE(g, GS_RUNNING, GS_RUNNABLE);
			break;
		case GORT_EV_GO_BLOCK:
			MOVE(g, GS_RUNNING, GS_WAITING);
			break;
		case GORT_EV_GO_UNBLOCK:
			if (g && gs[g] != GS_RUNNING)
				FAIL("waker %llu is %s",
				     (unsigned long long)g,
				     gstate_names[gs[g]]);
			MOVE(e->arg[0], GS_WAITING, GS_RUNNABLE);
			break;
		case GORT_EV_GO_SYSCALL_BEGIN:
			MOVE(g, GS_RUNNING, GS_SYSCALL);
			break;
		case GORT_EV_GO_SYSCALL_END:
			MOVE(g, GS_SYSCALL, GS_RUNNING);
			break;
		case GORT_EV_GO_END:
			MOVE(g, GS_RUNNING, GS_DEAD);
			break;
		case GORT_EV_PROC_START:
			if (e->p < 0 || e->m < 0)
				FAIL("proc_start P %d M %d", e->p, e->m);
			if (powner[e->p] != -1)
				FAIL("proc_start of P %d by M %d: M %d has it",
				     e->p, e->m, powner[e->p]);
			powner[e->p] = e->m;
			break;
		case GORT_EV_PROC_STOP:
			if (e->p < 0 || powner[e->p] != e->m)
				FAIL("proc_stop of P %d by M %d: M %d has it",
				     e->p, e->m, e->p < 0 ? -2 : powner[e->p]);
			powner[e->p] = -1;
			break;
		default:
			break;
		}
	}
out:
	free(gs);
	return ok;
#undef MOVE
#undef FAIL
}

#define ASSERT_REPLAY() do {						\
	char why_[256];							\
									\
	ASSERT_TRUE(replay(why_, sizeof(why_))) TH_LOG("%s", why_);	\
	ASSERT_EQ(0u, atomic_load(&ndrop));				\
} while (0)

GT_PROCS_FIXTURE(ev)

/* ---- create_end ---- */

/* Sleep (a park of main's own) until pred holds; false after 10 s. */
static bool wait_until(bool (*pred)(void))
{
	int64_t until = gt_now_ns() + 10000000000LL;

	while (!pred()) {
		if (gt_now_ns() > until)
			return false;
		gort_sleep(100000);
	}
	return true;
}


#define NSPAWN 200

static struct gort_waitgroup spawn_wg;
static _Atomic uint64_t spawned[NSPAWN];
static uint64_t main_goid;

static void spawnee(void *arg)
{
	atomic_store(&spawned[(uintptr_t)arg], gort_goid());
	gort_yield();
	gort_wg_done(&spawn_wg);
}

static bool spawnees_ended(void)
{
	return count(GORT_EV_GO_END, ANY, ANY) == NSPAWN;
}

static int spawn_main(void *arg)
{
	uintptr_t i;

	main_goid = gort_goid();
	gort_wg_add(&spawn_wg, NSPAWN);
	for (i = 0; i < NSPAWN; i++)
		GT_CHECK(gort_go(spawnee, (void *)i) == 0);
	gort_wg_wait(&spawn_wg);
	/*
	 * The last ones may still be on their way out of gort_wg_done, and
	 * a goroutine alive when main returns never runs again.
	 */
	GT_CHECK(wait_until(spawnees_ended));
	return 0;
}

TEST_F_TIMEOUT(ev, create_end, 60)
{
	const struct gort_trace_event *e;
	uint32_t i;

	capture_start();
	ASSERT_EQ(0, run_main(variant->procs, spawn_main, NULL));
	capture_stop();
	ASSERT_EQ(0, gt_failures());
	ASSERT_GT(nrecs(), 2u);

	/* gort_main's own: from no goroutine, P or M */
	e = ev_at(0);
	EXPECT_EQ((uint32_t)GORT_EV_PROCS_CHANGE, e->kind);
	EXPECT_EQ(variant->procs, (int)e->arg[0]);
	EXPECT_EQ(0u, e->goid);
	EXPECT_EQ(-1, e->p);
	EXPECT_EQ(-1, e->m);
	e = ev_at(1);
	EXPECT_EQ((uint32_t)GORT_EV_GO_CREATE, e->kind);
	EXPECT_EQ(0u, e->goid);
	EXPECT_EQ(-1, e->p);
	EXPECT_EQ(-1, e->m);
	EXPECT_EQ(main_goid, e->arg[0]);
	EXPECT_EQ((uintptr_t)spawn_main, e->arg[1]);

	/* main created each exactly once, and each ended exactly once */
	EXPECT_EQ(NSPAWN, count(GORT_EV_GO_CREATE, main_goid, ANY));
	for (i = 0; i < NSPAWN; i++) {
		uint64_t g = atomic_load(&spawned[i]);
		long c = find(0, GORT_EV_GO_CREATE, main_goid, g);

		ASSERT_NE(0u, g);
		ASSERT_GE(c, 0) TH_LOG("no go_create of %llu",
				       (unsigned long long)g);
		EXPECT_EQ((uintptr_t)spawnee, ev_at(c)->arg[1]);
		EXPECT_EQ(1, count(GORT_EV_GO_CREATE, ANY, g));
		EXPECT_EQ(1, count(GORT_EV_GO_END, g, ANY));
		EXPECT_LE(1, count(GORT_EV_GO_START, g, ANY));
	}
	EXPECT_EQ(1, count(GORT_EV_GO_END, main_goid, ANY));
	ASSERT_REPLAY();
}

/* ---- block_reasons ---- */

struct blocker {
	const char *name;
	uint32_t reason;		/* enum gort_trace_block_reason */
	void (*block)(void);		/* runs in the goroutine */
	void (*before)(void);		/* main, before starting it */
	void (*wake)(void);		/* main, once it is parked */
	bool forever;			/* nothing wakes it */
};

static struct gort_chan *bc, *bc2;
static struct gort_mutex bmu;
static struct gort_rwmutex brw;
static struct gort_cond bcond;
static struct gort_waitgroup bwg;
static bool bcond_done;

static void b_recv(void)
{
	int v;

	gort_chan_recv(bc, &v);
}

static void w_send(void)
{
	int v = 1;

	gort_chan_send(bc, &v);
}

static void b_send(void)
{
	int v = 1;

	gort_chan_send(bc, &v);
}

static void w_recv(void)
{
	int v;

	gort_chan_recv(bc, &v);
}

static void b_select(void)
{
	int v;
	struct gort_select_case cs[2] = {
		{ .chan = bc, .dir = GORT_RECV, .elem = &v },
		{ .chan = bc2, .dir = GORT_RECV, .elem = &v },
	};

	gort_select(cs, 2, -1);
}

static void pre_lock(void)
{
	gort_mutex_lock(&bmu);
}

static void b_lock(void)
{
	gort_mutex_lock(&bmu);
	gort_mutex_unlock(&bmu);
}

static void w_unlock(void)
{
	gort_mutex_unlock(&bmu);
}

static void pre_wlock(void)
{
	gort_rwmutex_lock(&brw);
}

static void b_rlock(void)
{
	gort_rwmutex_rlock(&brw);
	gort_rwmutex_runlock(&brw);
}

static void w_wunlock(void)
{
	gort_rwmutex_unlock(&brw);
}

static void pre_rlock(void)
{
	gort_rwmutex_rlock(&brw);
}

static void b_wlock(void)
{
	gort_rwmutex_lock(&brw);
	gort_rwmutex_unlock(&brw);
}

static void w_runlock(void)
{
	gort_rwmutex_runlock(&brw);
}

static void b_cond(void)
{
	gort_mutex_lock(&bmu);
	while (!bcond_done)
		gort_cond_wait(&bcond, &bmu);
	gort_mutex_unlock(&bmu);
}

static void w_signal(void)
{
	gort_mutex_lock(&bmu);
	bcond_done = true;
	gort_cond_signal(&bcond);
	gort_mutex_unlock(&bmu);
}

static void pre_wg(void)
{
	gort_wg_add(&bwg, 1);
}

static void b_wg(void)
{
	gort_wg_wait(&bwg);
}

static void w_done(void)
{
	gort_wg_done(&bwg);
}

static void b_sleep(void)
{
	gort_sleep(1000000);
}

static void b_nil(void)
{
	gort_chan_recv(NULL, NULL);
}

static void b_empty_select(void)
{
	gort_select(NULL, 0, -1);
}

static const struct blocker blockers[] = {
	{ "chan receive", GORT_BLOCK_CHAN_RECV, b_recv, NULL, w_send, false },
	{ "chan send", GORT_BLOCK_CHAN_SEND, b_send, NULL, w_recv, false },
	{ "select", GORT_BLOCK_SELECT, b_select, NULL, w_send, false },
	{ "mutex", GORT_BLOCK_SYNC_MUTEX, b_lock, pre_lock, w_unlock, false },
	{ "rwmutex read", GORT_BLOCK_SYNC_RWMUTEX_R, b_rlock, pre_wlock,
	  w_wunlock, false },
	{ "rwmutex write", GORT_BLOCK_SYNC_RWMUTEX_W, b_wlock, pre_rlock,
	  w_runlock, false },
	{ "cond", GORT_BLOCK_SYNC_COND, b_cond, NULL, w_signal, false },
	{ "waitgroup", GORT_BLOCK_SYNC_WAITGROUP, b_wg, pre_wg, w_done,
	  false },
	{ "sleep", GORT_BLOCK_SLEEP, b_sleep, NULL, NULL, false },
	{ "nil channel", GORT_BLOCK_NIL_CHAN, b_nil, NULL, NULL, true },
	{ "empty select", GORT_BLOCK_SELECT_NO_CASES, b_empty_select, NULL,
	  NULL, true },
};

static const struct blocker *cur_blocker;
static _Atomic uint64_t blocker_goid;
static struct gort_waitgroup blocker_wg;

static void blocker_fn(void *arg)
{
	atomic_store(&blocker_goid, gort_goid());
	cur_blocker->block();
	gort_wg_done(&blocker_wg);
}

static bool blocker_ended(void)
{
	return find(0, GORT_EV_GO_END, atomic_load(&blocker_goid), ANY) >= 0;
}

static bool blocker_parked(void)
{
	uint64_t g = atomic_load(&blocker_goid);

	return g && find(0, GORT_EV_GO_BLOCK, g,
			 cur_blocker->reason) >= 0;
}

static int blockers_main(void *arg)
{
	size_t i;

	main_goid = gort_goid();
	bc = gort_chan_make(sizeof(int), 0);
	bc2 = gort_chan_make(sizeof(int), 0);
	for (i = 0; i < ARRAY_SIZE(blockers); i++) {
		cur_blocker = &blockers[i];
		atomic_store(&blocker_goid, 0);
		if (cur_blocker->before)
			cur_blocker->before();
		gort_wg_add(&blocker_wg, 1);
		GT_CHECK(gort_go(blocker_fn, NULL) == 0);
		GT_CHECKF(wait_until(blocker_parked), "%s: no go_block",
			  cur_blocker->name);
		if (cur_blocker->forever)
			continue;	/* parked for good */
		if (cur_blocker->wake)
			cur_blocker->wake();
		gort_wg_wait(&blocker_wg);
		GT_CHECKF(wait_until(blocker_ended), "%s: no go_end",
			  cur_blocker->name);
	}
	return 0;
}

TEST_F_TIMEOUT(ev, block_reasons, 120)
{
	size_t i;

	capture_start();
	ASSERT_EQ(0, run_main(variant->procs, blockers_main, NULL));
	capture_stop();
	ASSERT_EQ(0, gt_failures());

	for (i = 0; i < ARRAY_SIZE(blockers); i++) {
		const struct blocker *b = &blockers[i];
		long blk, unb, start = -1;
		uint64_t g;
		size_t k;

		/* the i-th goroutine main created */
		for (k = 0; k <= i; k++) {
			start = find(start + 1, GORT_EV_GO_CREATE, main_goid,
				     ANY);
			ASSERT_GE(start, 0);
		}
		g = ev_at(start)->arg[0];
		blk = find(start, GORT_EV_GO_BLOCK, g, b->reason);
		ASSERT_GE(blk, 0) TH_LOG("%s: no go_block with reason %u",
					 b->name, b->reason);
		/* (a cond waiter may park again on the mutex) */
		EXPECT_EQ(1, count(GORT_EV_GO_BLOCK, g, b->reason))
			TH_LOG("%s: parked more than once", b->name);
		if (b->forever) {
			EXPECT_EQ(0, count(GORT_EV_GO_UNBLOCK, ANY, g));
			continue;
		}
		unb = find(blk, GORT_EV_GO_UNBLOCK, ANY, g);
		ASSERT_GE(unb, 0) TH_LOG("%s: no go_unblock", b->name);
		EXPECT_EQ(b->reason, ev_at(unb)->arg[1]) TH_LOG("%s", b->name);
		EXPECT_GE(find(unb, GORT_EV_GO_START, g, ANY), 0)
			TH_LOG("%s: did not start again", b->name);
		EXPECT_GE(find(unb, GORT_EV_GO_END, g, ANY), 0)
			TH_LOG("%s: did not end", b->name);
	}
	ASSERT_REPLAY();
}

/* ---- stops: yield and preemption ---- */

#define NYIELD 50

static struct gort_waitgroup ywg;

static void yielder(void *arg)
{
	int i;

	for (i = 0; i < NYIELD; i++)
		gort_yield();
	gort_wg_done(&ywg);
}

static void long_sleeper(void *arg)
{
	gort_sleep(60LL * 1000000000);
}

static uint64_t yield_goid[4];

/*
 * Two rounds of two yielders on one P: the first takes gort_yield's
 * one-P fast path, the second (a timer is pending) its general path.
 */
static int yield_main(void *arg)
{
	int round;

	main_goid = gort_goid();
	for (round = 0; round < 2; round++) {
		if (round == 1)
			GT_CHECK(gort_go(long_sleeper, NULL) == 0);
		gort_wg_add(&ywg, 2);
		GT_CHECK(gort_go(yielder, NULL) == 0);
		GT_CHECK(gort_go(yielder, NULL) == 0);
		gort_wg_wait(&ywg);
	}
	return 0;
}

TEST(yield_stop)
{
	long c = -1;
	int i, k = 0;

	capture_start();
	ASSERT_EQ(0, run_main(1, yield_main, NULL));
	capture_stop();
	ASSERT_EQ(0, gt_failures());
	while ((c = find(c + 1, GORT_EV_GO_CREATE, main_goid, ANY)) >= 0) {
		/* skip the sleeper */
		if (ev_at(c)->arg[1] != (uintptr_t)yielder)
			continue;
		ASSERT_LT(k, 4);
		yield_goid[k++] = ev_at(c)->arg[0];
	}
	ASSERT_EQ(4, k);
	for (i = 0; i < 4; i++) {
		/* with one P each yield switches to the other yielder */
		EXPECT_LE(NYIELD - 1, count(GORT_EV_GO_STOP, yield_goid[i],
					    GORT_STOP_YIELD))
			TH_LOG("yielder %d", i);
		EXPECT_EQ(0, count(GORT_EV_GO_STOP, yield_goid[i],
				   GORT_STOP_PREEMPTED));
	}
	ASSERT_REPLAY();
}

static int64_t busy_until_ns;
static struct gort_chan *pp_ping, *pp_pong;
static struct gort_waitgroup pwg;
static _Atomic uint64_t hog_goid;

/* C code that never calls the runtime: sysmon takes its P. */
static void hog(void *arg)
{
	atomic_store(&hog_goid, gort_goid());
	while (gt_now_ns() < busy_until_ns)
		;
	gort_yield();	/* its P is gone and the other one is busy */
	gort_wg_done(&pwg);
}

/*
 * Keeps the one P busy once sysmon hands it on: C code in 2 ms slices,
 * each followed by a round trip to ponger (two switches, so sysmon leaves
 * the P alone, and the records stay few).
 */
static void pinger(void *arg)
{
	int64_t until = busy_until_ns + 100000000, slice;
	int v = 0;

	while (gt_now_ns() < until) {
		slice = gt_now_ns() + 2000000;
		while (gt_now_ns() < slice)
			;
		gort_chan_send(pp_ping, &v);
		gort_chan_recv(pp_pong, &v);
	}
	v = -1;
	gort_chan_send(pp_ping, &v);
	gort_wg_done(&pwg);
}

static void ponger(void *arg)
{
	int v;

	for (;;) {
		gort_chan_recv(pp_ping, &v);
		if (v < 0)
			break;
		gort_chan_send(pp_pong, &v);
	}
	gort_wg_done(&pwg);
}

/*
 * A few tries: on a loaded host the pinger's thread can lose its CPU for
 * 10 ms, sysmon then takes its P too, and the hog finds it idle.
 */
static int preempt_main(void *arg)
{
	int round;

	pp_ping = gort_chan_make(sizeof(int), 0);
	pp_pong = gort_chan_make(sizeof(int), 0);
	for (round = 0; round < 10; round++) {
		busy_until_ns = gt_now_ns() + 50000000;
		gort_wg_add(&pwg, 3);
		GT_CHECK(gort_go(ponger, NULL) == 0);
		GT_CHECK(gort_go(pinger, NULL) == 0);
		GT_CHECK(gort_go(hog, NULL) == 0);
		gort_wg_wait(&pwg);
		if (count(GORT_EV_GO_STOP, atomic_load(&hog_goid),
			  GORT_STOP_PREEMPTED))
			break;
	}
	return 0;
}

TEST(preempt_stop)
{
	uint64_t g;
	long s, st, stop;

	capture_start();
	ASSERT_EQ(0, run_main(1, preempt_main, NULL));
	capture_stop();
	ASSERT_EQ(0, gt_failures());
	g = atomic_load(&hog_goid);
	st = find(0, GORT_EV_GO_START, g, ANY);
	ASSERT_GE(st, 0);
	s = find(0, GORT_EV_GO_STOP, g, GORT_STOP_PREEMPTED);
	ASSERT_GE(s, 0) TH_LOG("no go_stop (preempted) of the hog in 10 tries");
	EXPECT_EQ(1, count(GORT_EV_GO_STOP, g, GORT_STOP_PREEMPTED));
	/* sysmon reported the P it took in the hog's name */
	stop = find(st, GORT_EV_PROC_STOP, ANY, ANY);
	while (stop >= 0 && stop < s && ev_at(stop)->m != ev_at(st)->m)
		stop = find(stop + 1, GORT_EV_PROC_STOP, ANY, ANY);
	ASSERT_GE(stop, 0);
	ASSERT_LT(stop, s);
	EXPECT_EQ(ev_at(st)->p, ev_at(stop)->p);
	EXPECT_EQ(ev_at(st)->tid, ev_at(stop)->tid);
	EXPECT_EQ(-1, ev_at(s)->p);
	ASSERT_REPLAY();
}

/* ---- syscalls ---- */

#define NQUICK 20

static int syscall_main(void *arg)
{
	int i;

	main_goid = gort_goid();
	for (i = 0; i < NQUICK; i++) {
		gort_syscall_begin();
		gort_syscall_end();
	}
	/* long enough for sysmon to take the P */
	gort_syscall_begin();
	gt_sleep_ms(100);
	gort_syscall_end();
	return 0;
}

TEST(syscalls)
{
	long b = -1, e, stop;
	int i;

	capture_start();
	ASSERT_EQ(0, run_main(1, syscall_main, NULL));
	capture_stop();
	EXPECT_EQ(NQUICK + 1, count(GORT_EV_GO_SYSCALL_BEGIN, main_goid,
				    ANY));
	EXPECT_EQ(NQUICK + 1, count(GORT_EV_GO_SYSCALL_END, main_goid,
				    ANY));
	/* a quick call keeps its P, barring a badly timed host */
	EXPECT_LE(1, count(GORT_EV_GO_SYSCALL_END, main_goid, 0));
	for (i = 0; i <= NQUICK; i++) {
		b = find(b + 1, GORT_EV_GO_SYSCALL_BEGIN, main_goid, ANY);
		ASSERT_GE(b, 0);
	}
	e = find(b, GORT_EV_GO_SYSCALL_END, main_goid, ANY);
	ASSERT_GE(e, 0);
	EXPECT_EQ(1u, ev_at(e)->arg[0]) TH_LOG("the long call kept its P");
	EXPECT_EQ(-1, ev_at(e)->p);
	/* sysmon's proc_stop names the M in the call, and its thread */
	stop = find(b, GORT_EV_PROC_STOP, ANY, ANY);
	ASSERT_GE(stop, 0);
	ASSERT_LT(stop, e);
	EXPECT_EQ(ev_at(b)->p, ev_at(stop)->p);
	EXPECT_EQ(ev_at(b)->m, ev_at(stop)->m);
	EXPECT_EQ(ev_at(b)->tid, ev_at(stop)->tid);
	ASSERT_REPLAY();
}

/* ---- work stealing ---- */

#define NSTEAL 64

static struct gort_waitgroup swg;

static void spinner(void *arg)
{
	int64_t until = gt_now_ns() + 200000;

	while (gt_now_ns() < until)
		;
	gort_wg_done(&swg);
}

static int steal_main(void *arg)
{
	int round, i;

	/* an idle P's M steals from main's queue; a few tries for slow hosts */
	for (round = 0; round < 10 && !count(GORT_EV_PROC_STEAL, ANY, ANY);
	     round++) {
		gort_wg_add(&swg, NSTEAL);
		for (i = 0; i < NSTEAL; i++)
			GT_CHECK(gort_go(spinner, NULL) == 0);
		gort_wg_wait(&swg);
	}
	return 0;
}

TEST(steal)
{
	uint32_t n, i;
	long c = 0;

	capture_start();
	ASSERT_EQ(0, run_main(2, steal_main, NULL));
	capture_stop();
	ASSERT_EQ(0, gt_failures());
	n = nrecs();
	for (i = 0; i < n; i++) {
		const struct gort_trace_event *e = ev_at(i);

		if (e->kind != GORT_EV_PROC_STEAL)
			continue;
		c++;
		EXPECT_EQ(0u, e->goid);
		EXPECT_TRUE(e->p == 0 || e->p == 1);
		EXPECT_EQ(1 - e->p, (int32_t)e->arg[0]);
		EXPECT_LE(1u, e->arg[1]);
		EXPECT_GE((uint64_t)NSTEAL, e->arg[1]);
	}
	EXPECT_LE(1, c);
	ASSERT_REPLAY();
}

/* ---- stop-the-world ---- */

static int stw_main(void *arg)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	main_goid = gort_goid();
	GT_CHECK(gort_gomaxprocs(3) == 2);
	GT_CHECK(gort_gomaxprocs(1) == 3);
	GT_CHECK(gort_dump_goroutines(fd) == 0);
	close(fd);
	return 0;
}

TEST(stop_the_world)
{
	static const struct {
		uint32_t kind;
		uint64_t a0;
	} want[] = {
		{ GORT_EV_STW_BEGIN, GORT_STW_GOMAXPROCS },
		{ GORT_EV_PROCS_CHANGE, 3 },
		{ GORT_EV_STW_END, ANY },
		{ GORT_EV_STW_BEGIN, GORT_STW_GOMAXPROCS },
		{ GORT_EV_PROCS_CHANGE, 1 },
		{ GORT_EV_STW_END, ANY },
		{ GORT_EV_STW_BEGIN, GORT_STW_GOROUTINE_DUMP },
		{ GORT_EV_STW_END, ANY },
	};
	uint32_t n, i;
	size_t k = 0;

	capture_start();
	ASSERT_EQ(0, run_main(2, stw_main, NULL));
	capture_stop();
	ASSERT_EQ(0, gt_failures());
	/* in this order, by main, and nothing else of these kinds */
	n = nrecs();
	for (i = 2; i < n; i++) {
		const struct gort_trace_event *e = ev_at(i);

		if (e->kind != GORT_EV_STW_BEGIN &&
		    e->kind != GORT_EV_STW_END &&
		    e->kind != GORT_EV_PROCS_CHANGE)
			continue;
		ASSERT_LT(k, ARRAY_SIZE(want)) TH_LOG("extra kind %u", e->kind);
		EXPECT_EQ(want[k].kind, e->kind) TH_LOG("step %zu", k);
		if (want[k].a0 != ANY)
			EXPECT_EQ(want[k].a0, e->arg[0]) TH_LOG("step %zu", k);
		EXPECT_EQ(main_goid, e->goid);
		EXPECT_LE(0, e->p);
		k++;
	}
	EXPECT_EQ(ARRAY_SIZE(want), k);
	ASSERT_REPLAY();
}

/* ---- a sink turned off ---- */

static uint32_t n_at_off;

static void nop_goroutine(void *arg)
{
	gort_wg_done(arg);
}

static int off_main(void *arg)
{
	struct gort_waitgroup wg = { 0 };
	int round, i;

	main_goid = gort_goid();
	for (round = 0; round < 2; round++) {
		if (round == 1) {
			capture_stop();
			n_at_off = atomic_load(&nrec);
		}
		gort_wg_add(&wg, 10);
		for (i = 0; i < 10; i++)
			GT_CHECK(gort_go(nop_goroutine, &wg) == 0);
		gort_wg_wait(&wg);
	}
	return 0;
}

TEST(sink_off)
{
	capture_start();
	ASSERT_EQ(0, run_main(1, off_main, NULL));
	ASSERT_EQ(0, gt_failures());
	EXPECT_EQ(n_at_off, atomic_load(&nrec));
	EXPECT_EQ(10, count(GORT_EV_GO_CREATE, main_goid, ANY));
}

TEST_HARNESS_MAIN
