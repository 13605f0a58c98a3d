// SPDX-License-Identifier: GPL-2.0
/*
 * collect.c - the collector keeps what is reachable and frees what is
 * not, with 1, 2 and 8 Ps and every write-barrier mode the kernel offers
 * (a mode it lacks is a SKIP that says why):
 *
 *  - objects reachable only from a goroutine's stack, a register of a
 *    goroutine running C code, a global, another GC object, an interior
 *    pointer, or a registered root survive many collections with their
 *    contents intact (canaries), while garbage is allocated around them;
 *  - unreachable objects are reclaimed: the heap returns to its baseline,
 *    and the first object a process allocates is no exception;
 *  - goroutines that keep moving the only pointer to objects between heap
 *    objects, their stacks and channels during concurrent marks lose
 *    nothing, with GORT_DEBUG=gccheckmark=1 re-marking every cycle under
 *    stop-the-world and failing on any object the concurrent mark missed;
 *  - finalizers run once, in a goroutine, with the object intact;
 *  - a memory limit with GORT_GC off holds the heap under twice the
 *    limit while the program allocates ten times the limit as fast as it
 *    can (cycles that start near the limit, assists that wait at it);
 *  - channels and timers that nothing references are reclaimed;
 *  - GORT_DEBUG=goroutineleak=1 reports a goroutine blocked on a channel
 *    nothing references, not one blocked on a channel a global holds, and
 *    the goroutine dump marks it "(leaked)";
 *  - fork() while a cycle runs: the child can use the memory it inherited;
 *  - gctrace prints Go's line.
 */
#include <errno.h>
#include <regex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gort_test.h"

#define CHILD_TIMEOUT 120

FIXTURE(gc) {
	int unused;
};

FIXTURE_VARIANT(gc) {
	int procs;
	const char *barrier;
};

#define GC_VARIANT(b, p)                                                  \
	FIXTURE_VARIANT_ADD(gc, b##_procs##p) { .procs = p, .barrier = #b }
GC_VARIANT(pagemap, 1);
GC_VARIANT(pagemap, 2);
GC_VARIANT(pagemap, 8);
GC_VARIANT(mprotect, 1);
GC_VARIANT(mprotect, 2);
GC_VARIANT(mprotect, 8);
GC_VARIANT(stw, 1);
GC_VARIANT(stw, 2);
GC_VARIANT(stw, 8);

/*
 * The mode works here: a large object, dropped and collected, comes back
 * zeroed.  (Under qemu-user the mprotect mode fails this, the
 * emulator's or ours, not understood yet: the mode is then a SKIP that
 * says so rather than a run of failures elsewhere.)
 */
static int probe_main(void *arg)
{
	size_t n = 8 << 20, i;
	int round;

	for (round = 0; round < 3; round++) {
		unsigned char *p = gort_alloc(n);

		if (!p)
			return 1;
		for (i = 0; i < n; i += 4096)
			if (p[i])
				return 3;
		memset(p, 0x5a, n);
		p = NULL;
		gort_gc();
	}
	return 0;
}

static int probe_child(void *arg)
{
	return run_main(1, probe_main, NULL);
}

/*
 * The probe's verdict per mode, shared by the tests' forked children: the
 * harness forks each test from this process, so memory mapped shared
 * before the first fork is the one place a verdict outlives its test.
 * Under TSan a probe costs a second or more, and 90 tests ran one each.
 * Only an answer is kept: a probe that could not start, timed out or was
 * killed is run again by the next test rather than skipping them all.
 */
enum probe_state { PROBE_UNKNOWN, PROBE_WORKS, PROBE_FAILS };

struct probe_verdict {
	char barrier[16];
	enum probe_state state;
	char why[256];
};

#define PROBE_MODES 4
static struct probe_verdict *probe_verdicts;

__attribute__((constructor)) static void probe_verdicts_map(void)
{
	/* NULL when it cannot be mapped: then every test probes */
	probe_verdicts = gt_shared_alloc(PROBE_MODES * sizeof(*probe_verdicts));
}

static struct probe_verdict *probe_verdict_of(const char *barrier)
{
	int i;

	if (!probe_verdicts ||
	    strlen(barrier) >= sizeof(probe_verdicts->barrier))
		return NULL;
	for (i = 0; i < PROBE_MODES; i++) {
		struct probe_verdict *v = &probe_verdicts[i];

		if (!v->barrier[0])
			strcpy(v->barrier, barrier);
		if (!strcmp(v->barrier, barrier))
			return v;
	}
	return NULL;
}

/* Run the probe in a child; PROBE_FAILS and PROBE_UNKNOWN say why. */
static enum probe_state probe_barrier(const char *barrier, char *why,
				      size_t whylen)
{
	enum probe_state state = PROBE_FAILS;
	struct gt_child c;
	char how[64];

	if (gt_fork_run(probe_child, NULL, 30, &c)) {
		snprintf(why, whylen, "gcbarrier=%s: the probe did not start",
			 barrier);
		return PROBE_UNKNOWN;
	}
	if (gt_exited_with(&c, 0)) {
		state = PROBE_WORKS;
	} else if (gt_exited_with(&c, 3)) {
		snprintf(why, whylen,
			 "gcbarrier=%s: a collected large object came back not zeroed on this system",
			 barrier);
	} else {
		if (c.timed_out || !WIFEXITED(c.status))
			state = PROBE_UNKNOWN;
		snprintf(why, whylen,
			 "gcbarrier=%s unavailable (probe %s): %.150s",
			 barrier, gt_child_how(&c, how, sizeof(how)), c.err);
	}
	gt_child_free(&c);
	return state;
}

/* Set the barrier mode and knobs; SKIP when the kernel lacks the mode. */
static bool use_barrier(struct __test_metadata *_metadata,
			const char *barrier, const char *extra,
			char *why, size_t whylen)
{
	struct probe_verdict *v;
	enum probe_state state;
	char buf[128];

	if (!strcmp(barrier, "mprotect") && getenv("GT_WRAPPER") &&
	    strstr(getenv("GT_WRAPPER"), "qemu-aarch64")) {
		/*
		 * Under qemu-aarch64 user emulation the moving-pointers
		 * checkmark finds objects missed behind this barrier, always
		 * in objects written only by atomic instructions; the x86-64
		 * build passes natively and under qemu-x86_64, and the arm64
		 * build passes in the arm64 guest of make check (a real
		 * kernel's page protection, selftests/net-guest), which runs
		 * these variants instead.
		 */
		snprintf(why, whylen,
			 "gcbarrier=mprotect misses writes under qemu-aarch64 user emulation; the arm64 guest runs it");
		return false;
	}
	gt_clear_gort_env();
	snprintf(buf, sizeof(buf), "gcbarrier=%s%s%s", barrier,
		 extra ? "," : "", extra ? extra : "");
	setenv("GORT_DEBUG", buf, 1);
	/* tests run one at a time: no two children race on a verdict */
	v = probe_verdict_of(barrier);
	if (v && v->state != PROBE_UNKNOWN) {
		snprintf(why, whylen, "%s", v->why);
		return v->state == PROBE_WORKS;
	}
	state = probe_barrier(barrier, why, whylen);
	if (v && state != PROBE_UNKNOWN) {
		snprintf(v->why, sizeof(v->why), "%s",
			 state == PROBE_WORKS ? "" : why);
		v->state = state;
	}
	return state == PROBE_WORKS;
}

#define USE_BARRIER(extra)                                                \
	do {                                                              \
		char why[256];                                            \
		if (!use_barrier(_metadata, variant->barrier, extra, why, \
				 sizeof(why)))                            \
			SKIP(return, "%s", why);                          \
	} while (0)

FIXTURE_SETUP(gc)
{
}

FIXTURE_TEARDOWN(gc)
{
}

/* ---- canaries ---- */

#define OBJ_WORDS 8

static void fill(uint64_t *o, uint64_t id)
{
	int i;

	for (i = 0; i < OBJ_WORDS; i++)
		o[i] = (id * 0x9e3779b97f4a7c15ull) ^ (uint64_t)i;
}

static bool intact(const uint64_t *o, uint64_t id)
{
	int i;

	for (i = 0; i < OBJ_WORDS; i++)
		if (o[i] != ((id * 0x9e3779b97f4a7c15ull) ^ (uint64_t)i))
			return false;
	return true;
}

static uint64_t *new_obj(uint64_t id)
{
	uint64_t *o = gort_alloc_noscan(OBJ_WORDS * 8);

	if (o)
		fill(o, id);
	return o;
}

/* Allocate garbage (that reuses freed objects and overwrites them). */
static void churn(long bytes)
{
	long i;

	for (i = 0; i < bytes / 64; i++) {
		uint64_t *g = gort_alloc(64);

		if (!g)
			break;
		memset(g, 0xa5, 64);
	}
}

/* ---- roots ---- */

static uint64_t *global_obj;		/* a global root */
static uintptr_t hidden_reg_obj;	/* XOR-hidden: only a register has it */
static atomic_int reg_spinning, reg_stop;
#define HIDE 0x5a5a5a5a5a5a5a5aull

struct holder {
	uint64_t *child;		/* the only pointer to an object */
	void *pad[3];
};

static void register_spinner(void *arg)
{
#if defined(__x86_64__)
	register uintptr_t r asm("r12") = hidden_reg_obj ^ HIDE;
#elif defined(__aarch64__)
	register uintptr_t r asm("x19") = hidden_reg_obj ^ HIDE;
#else
	uintptr_t r = hidden_reg_obj ^ HIDE;
#endif
	atomic_store(&reg_spinning, 1);
	/* C code without runtime calls: only the signal sees r */
	while (!atomic_load_explicit(&reg_stop, memory_order_relaxed)) {
		__asm__ __volatile__("" : "+r"(r));
#ifdef __SANITIZE_THREAD__
		/* TSan runs a signal handler only inside a call it
		 * intercepts; r stays in its callee-saved register */
		sched_yield();
#endif
	}
	GT_CHECK(intact((uint64_t *)r, 4));
	atomic_store(&reg_spinning, 2);
}

struct stack_arg {
	struct gort_chan *go;		/* released when the checks may run */
	struct gort_chan *done;
};

static void stack_holder(void *arg)
{
	struct stack_arg *a = arg;
	uint64_t *volatile mine = new_obj(1);	/* only this stack has it */

	gort_chan_recv(a->go, NULL);
	GT_CHECK(intact(mine, 1));
	gort_chan_send(a->done, NULL);
}

static int roots_main(void *arg)
{
	struct stack_arg sa = { gort_chan_make(0, 0), gort_chan_make(0, 0) };
	struct holder *h = gort_alloc(sizeof(*h));
	uint64_t *interior_base = new_obj(5);
	char *volatile interior = (char *)interior_base + 24;
	void **rootblock = calloc(4, sizeof(void *));
	uint64_t before;
	int i;

	global_obj = new_obj(2);
	h->child = new_obj(3);
	hidden_reg_obj = (uintptr_t)new_obj(4) ^ HIDE;
	rootblock[1] = new_obj(6);
	GT_CHECK(gort_gc_add_roots(rootblock, 4 * sizeof(void *)) == 0);
	GT_CHECK(gort_gc_add_roots(rootblock, 8) == -EINVAL);
	interior_base = NULL;
	GT_CHECK(gort_go(stack_holder, &sa) == 0);
	GT_CHECK(gort_go(register_spinner, NULL) == 0);
	while (!atomic_load(&reg_spinning))
		gort_yield();
	before = 0;
	for (i = 0; i < gt_scaled(20); i++) {
		struct gort_memstats ms;

		churn(gt_scaled(1 << 20));
		gort_gc();
		gort_read_memstats(&ms);
		GT_CHECK(ms.num_gc > before);
		before = ms.num_gc;
	}
	atomic_store(&reg_stop, 1);
	gort_chan_send(sa.go, NULL);
	gort_chan_recv(sa.done, NULL);
	while (atomic_load(&reg_spinning) != 2)
		gort_yield();
	GT_CHECK(intact(global_obj, 2));
	GT_CHECK(intact(h->child, 3));
	GT_CHECK(intact((uint64_t *)(interior - 24), 5));
	GT_CHECK(intact(rootblock[1], 6));
	GT_CHECK(gort_gc_remove_roots(rootblock) == 0);
	GT_CHECK(gort_gc_remove_roots(rootblock) == -ENOENT);
	free(rootblock);
	return 0;
}

TEST_F(gc, roots_survive)
{
	USE_BARRIER(NULL);
	ASSERT_EQ(0, run_main(variant->procs, roots_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- reclamation ---- */

static int reclaim_main(void *arg)
{
	struct gort_memstats ms0, ms1;
	long i, n = gt_scaled(64 << 20) / 4096;
	struct gort_chan *c;
	struct gort_timer *t;

	gort_gc();
	gort_gc();
	gort_read_memstats(&ms0);
	for (i = 0; i < n; i++) {
		void *p = gort_alloc(4096);

		GT_CHECK(p != NULL);
		c = gort_chan_make(8, 16);	/* channels and timers too */
		t = gort_timer_new(3600 * 1000000000LL);
		GT_CHECK(c && t && gort_timer_stop(t));
	}
	c = NULL;
	t = NULL;
	gort_gc();
	gort_gc();
	gort_read_memstats(&ms1);
	GT_CHECKF(ms1.heap_alloc < ms0.heap_alloc + (2 << 20),
		  "heap %llu after, %llu before",
		  (unsigned long long)ms1.heap_alloc,
		  (unsigned long long)ms0.heap_alloc);
	GT_CHECK(ms1.frees >= ms0.frees + (uint64_t)n);
	GT_CHECK(ms1.num_gc >= ms0.num_gc + 2);
	GT_CHECK(ms1.num_forced_gc >= 4);
	GT_CHECK(ms1.pause_total_ns > 0);
	return 0;
}

TEST_F(gc, unreachable_reclaimed)
{
	USE_BARRIER(NULL);
	ASSERT_EQ(0, run_main(variant->procs, reclaim_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/*
 * The first object a process allocates is reclaimed like any other: the
 * runtime's own data, scanned as every global is, must hold nothing that
 * looks like a pointer to it (the heap's base address once pinned
 * binary-trees' 128 MiB stretch tree for the whole run).  Its address is
 * kept hidden (not a pointer) so that only the finalizer can tell.
 */
#define HIDE_MASK 0x5a5a5a5a5a5a5a5aull

static uintptr_t first_hidden;
static atomic_int first_finalized;

static void first_finalizer(void *obj)
{
	if (((uintptr_t)obj ^ HIDE_MASK) == first_hidden)
		atomic_store(&first_finalized, 1);
}

static __attribute__((noinline)) void alloc_first(void)
{
	first_hidden = (uintptr_t)gort_alloc(4096) ^ HIDE_MASK;
}

static __attribute__((noinline)) void finalize_first(void)
{
	gort_gc_set_finalizer((void *)(first_hidden ^ HIDE_MASK),
			      first_finalizer);
}

static int first_main(void *arg)
{
	int64_t deadline = gt_now_ns() + 20000000000LL;

	finalize_first();
	while (!atomic_load(&first_finalized) && gt_now_ns() < deadline) {
		gort_gc();
		gort_sleep(1000000);
	}
	GT_CHECKF(atomic_load(&first_finalized),
		  "the first object allocated was never reclaimed");
	return 0;
}

TEST_F(gc, first_object_reclaimed)
{
	USE_BARRIER(NULL);
	alloc_first();
	ASSERT_NE(HIDE_MASK, first_hidden);
	ASSERT_EQ(0, run_main(variant->procs, first_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- pointers on the move during concurrent marks ---- */

#define NSLOTS 64

struct mover_arg {
	struct holder **slots;		/* GC array of holders */
	struct gort_chan *pass;		/* carries object pointers */
	struct gort_waitgroup *wg;
	atomic_int *stop;
	atomic_int *moved;		/* movers that made a move */
	unsigned seed;
};

static void mover(void *arg)
{
	struct mover_arg *a = arg;
	unsigned seed = a->seed;
	long moves = 0;

	while (!atomic_load(a->stop)) {
		struct holder *h = a->slots[rand_r(&seed) % NSLOTS];
		uint64_t *volatile mine;
		uint64_t *got = NULL;

		/* take the only pointer out of the heap onto our stack */
		mine = __atomic_exchange_n(&h->child, NULL, __ATOMIC_ACQ_REL);
		if (!mine) {
			gort_yield();
			continue;
		}
		churn(2048);
		/* through a channel: for a while only its buffer has it */
		gort_chan_send(a->pass, (void *)&mine);
		mine = NULL;
		churn(1024);
		gort_chan_recv(a->pass, &got);
		/* back into a heap object, maybe another one */
		h = a->slots[rand_r(&seed) % NSLOTS];
		while (!__atomic_compare_exchange_n(&h->child, &(uint64_t *){ NULL },
						    got, false, __ATOMIC_ACQ_REL,
						    __ATOMIC_ACQUIRE)) {
			h = a->slots[rand_r(&seed) % NSLOTS];
			gort_yield();
		}
		if (moves++ == 0)
			atomic_fetch_add(a->moved, 1);
	}
	GT_CHECK(moves > 0);
	gort_wg_done(a->wg);
}

static void collector_loop(void *arg)
{
	struct mover_arg *a = arg;

	while (!atomic_load(a->stop))
		gort_gc();
	gort_wg_done(a->wg);
}

static int stress_main(void *arg)
{
	struct holder **slots = gort_alloc(NSLOTS * sizeof(*slots));
	struct gort_waitgroup wg = { 0 };
	atomic_int stop = 0, moved = 0;
	int nmovers = 8, i, n = 0;
	struct mover_arg *args = gort_alloc(nmovers * sizeof(*args));
	struct gort_chan *pass = gort_chan_make(sizeof(void *), 4);
	bool seen[NSLOTS] = { 0 };
	int64_t end = gt_now_ns() + gt_scaled(3000) * 1000000LL;
	/* a slow collector (TSan) may starve a mover for a while */
	int64_t hard_end = end + 15000000000LL;

	for (i = 0; i < NSLOTS; i++) {
		slots[i] = gort_alloc(sizeof(struct holder));
		slots[i]->child = new_obj((uint64_t)i + 100);
	}
	gort_wg_add(&wg, nmovers + 1);
	for (i = 0; i < nmovers; i++) {
		args[i] = (struct mover_arg){ slots, pass, &wg, &stop, &moved,
					      (unsigned)i + 1 };
		GT_CHECK(gort_go(mover, &args[i]) == 0);
	}
	GT_CHECK(gort_go(collector_loop, &args[0]) == 0);
	while (gt_now_ns() < end ||
	       (atomic_load(&moved) < nmovers && gt_now_ns() < hard_end))
		gort_sleep(10000000);
	atomic_store(&stop, 1);
	gort_wg_wait(&wg);
	for (i = 0; i < NSLOTS; i++) {
		uint64_t *o = slots[i]->child;
		uint64_t id;

		if (!o)
			continue;
		for (id = 100; id < 100 + NSLOTS; id++)
			if (intact(o, id))
				break;
		GT_CHECKF(id < 100 + NSLOTS, "slot %d: object overwritten", i);
		if (id < 100 + NSLOTS) {
			GT_CHECKF(!seen[id - 100], "object %llu twice",
				  (unsigned long long)id);
			seen[id - 100] = true;
		}
		n++;
	}
	GT_CHECKF(n == NSLOTS, "%d of %d objects left", n, NSLOTS);
	return 0;
}

TEST_F(gc, moving_pointers_checkmark)
{
	USE_BARRIER("gccheckmark=1");
	ASSERT_EQ(0, run_main(variant->procs, stress_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- finalizers ---- */

#define NFIN 100
static atomic_int fin_runs;
static atomic_int fin_bad;

static void finalize(void *obj)
{
	uint64_t *o = obj;

	if (!intact(o, 7))
		atomic_fetch_add(&fin_bad, 1);
	if (gort_goid() == 0)
		atomic_fetch_add(&fin_bad, 1);
	atomic_fetch_add(&fin_runs, 1);
}

static void make_finalizable(void)
{
	int i;

	for (i = 0; i < NFIN; i++) {
		uint64_t *o = new_obj(7);

		gort_gc_set_finalizer(o, finalize);
	}
}

static int fin_main(void *arg)
{
	uint64_t *kept = new_obj(7);
	int64_t deadline;
	int i;

	gort_gc_set_finalizer(kept, finalize);
	make_finalizable();
	deadline = gt_now_ns() + 20000000000LL;
	while (atomic_load(&fin_runs) < NFIN && gt_now_ns() < deadline) {
		gort_gc();
		gort_sleep(1000000);
	}
	for (i = 0; i < 5; i++) {
		gort_gc();
		gort_sleep(1000000);
	}
	GT_CHECKF(atomic_load(&fin_runs) == NFIN, "%d finalizers ran",
		  atomic_load(&fin_runs));
	GT_CHECK(atomic_load(&fin_bad) == 0);
	GT_CHECK(intact(kept, 7));
	gort_gc_set_finalizer(kept, NULL);
	return 0;
}

TEST_F(gc, finalizers_run_once)
{
	USE_BARRIER(NULL);
	ASSERT_EQ(0, run_main(variant->procs, fin_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

static int bad_finalizer_child(void *arg)
{
	return run_main(1, (int (*)(void *))(void *)arg, NULL);
}

static int interior_finalizer_main(void *arg)
{
	char *o = gort_alloc(64);

	gort_gc_set_finalizer(o + 8, finalize);
	return 0;
}

TEST_F(gc, finalizer_misuse_panics)
{
	struct gt_child c;

	USE_BARRIER(NULL);
	ASSERT_EQ(0, gt_fork_run(bad_finalizer_child,
				 (void *)interior_finalizer_main,
				 CHILD_TIMEOUT, &c));
	EXPECT_TRUE(gt_exited_with(&c, 2));
	EXPECT_NE(NULL, strstr(c.err, "panic: runtime.SetFinalizer: pointer not at beginning of allocated block"));
	gt_child_free(&c);
}

/* ---- memory limit ---- */

#define LIMIT (64 << 20)
/*
 * What a memory limit promises: the heap stays within 10 % of it while
 * the program allocates ten times the limit through it.
 */
#define LIMIT_SLACK (LIMIT / 10)

static int limit_main(void *arg)
{
	long live_n = (8 << 20) / 65536, total = 10L * LIMIT / 65536, i;
	void **live = gort_alloc(live_n * sizeof(void *));
	uint64_t peak = 0;
	struct gort_memstats ms;

	gort_gc_percent(-1);
	gort_gc_memory_limit(LIMIT);
	for (i = 0; i < total; i++) {
		live[i % live_n] = gort_alloc(65536);
		GT_CHECK(live[i % live_n] != NULL);
		if (i % 16 == 0) {
			gort_read_memstats(&ms);
			if (ms.heap_inuse > peak)
				peak = ms.heap_inuse;
		}
	}
	gort_read_memstats(&ms);
	GT_CHECKF(peak <= LIMIT + LIMIT_SLACK,
		  "heap in use peaked at %llu MiB with a %d MiB limit",
		  (unsigned long long)peak >> 20, LIMIT >> 20);
	GT_CHECK(ms.num_gc >= 5);
	GT_CHECK(gort_gc_memory_limit(-1) == LIMIT);
	return 0;
}

TEST_F(gc, memory_limit_holds)
{
	USE_BARRIER(NULL);
	ASSERT_EQ(0, run_main(variant->procs, limit_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- goroutine leaks ---- */

static struct gort_chan *global_chan;	/* keeps its waiter unleaked */
static atomic_ullong leaked_goid, kept_goid;

static void blocked_on_private(void *arg)
{
	struct gort_chan *c = gort_chan_make(0, 0);

	atomic_store(&leaked_goid, gort_goid());
	gort_chan_recv(c, NULL);	/* nothing else has c */
}

static void blocked_on_global(void *arg)
{
	atomic_store(&kept_goid, gort_goid());
	gort_chan_recv(global_chan, NULL);
}

static int leak_main(void *arg)
{
	int i;

	global_chan = gort_chan_make(0, 0);
	gort_go(blocked_on_private, NULL);
	gort_go(blocked_on_global, NULL);
	while (!atomic_load(&leaked_goid) || !atomic_load(&kept_goid))
		gort_yield();
	for (i = 0; i < 10; i++)
		gort_yield();
	gort_gc();
	gort_gc();
	gort_dump_goroutines(1);
	return 0;
}

static int leak_child(void *arg)
{
	return run_main(2, leak_main, NULL);
}

TEST_F(gc, goroutine_leak_reported)
{
	struct gt_child c;
	char pat[160];
	regex_t re;

	USE_BARRIER("goroutineleak=1");
	ASSERT_EQ(0, gt_fork_run(leak_child, NULL, CHILD_TIMEOUT, &c));
	ASSERT_TRUE(gt_exited_with(&c, 0)) TH_LOG("%s", c.err);
	snprintf(pat, sizeof(pat), "goroutine leak: goroutine %llu ",
		 (unsigned long long)0);
	/* ids are only known in the child: match them from its output */
	ASSERT_EQ(0, regcomp(&re,
			     "goroutine leak: goroutine ([0-9]+) can never wake",
			     REG_EXTENDED));
	{
		regmatch_t m[2];
		char id[32], line[96];
		int n;

		ASSERT_EQ(0, regexec(&re, c.err, 2, m, 0)) TH_LOG("%s", c.err);
		n = (int)(m[1].rm_eo - m[1].rm_so);
		snprintf(id, sizeof(id), "%.*s", n, c.err + m[1].rm_so);
		/* exactly one goroutine reported, once */
		EXPECT_EQ(NULL, strstr(c.err + m[0].rm_eo, "goroutine leak:"));
		snprintf(line, sizeof(line),
			 "goroutine %s [chan receive (leaked)]:", id);
		EXPECT_NE(NULL, strstr(c.out, line)) TH_LOG("%s", c.out);
		/* the other blocked goroutine is not marked */
		EXPECT_NE(NULL, strstr(c.out, "[chan receive]:"));
	}
	regfree(&re);
	(void)pat;
	gt_child_free(&c);
}

/* ---- fork during a cycle ---- */

static atomic_int fork_stop;

static void busy_collector(void *arg)
{
	while (!atomic_load(&fork_stop)) {
		churn(1 << 20);
		gort_gc();
	}
	gort_wg_done(arg);
}

static int fork_main(void *arg)
{
	struct holder *h = gort_alloc(sizeof(*h));
	struct gort_waitgroup wg = { 0 };
	int i, status;

	h->child = new_obj(9);
	gort_wg_add(&wg, 1);
	gort_go(busy_collector, &wg);
	for (i = 0; i < gt_scaled(20); i++) {
		pid_t pid;

		gort_syscall_begin();
		pid = fork();
		if (pid == 0) {
			/* the child writes the heap it inherited */
			fill(h->child, 10);
			_exit(intact(h->child, 10) ? 0 : 1);
		}
		waitpid(pid, &status, 0);
		gort_syscall_end();
		GT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		GT_CHECK(intact(h->child, 9));
	}
	atomic_store(&fork_stop, 1);
	gort_wg_wait(&wg);
	return 0;
}

TEST_F(gc, fork_during_cycle)
{
	USE_BARRIER(NULL);
	ASSERT_EQ(0, run_main(variant->procs, fork_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- gctrace ---- */

static int trace_main(void *arg)
{
	churn(8 << 20);
	gort_gc();
	return 0;
}

static int trace_child(void *arg)
{
	return run_main(2, trace_main, NULL);
}

TEST_F(gc, gctrace_is_go_format)
{
	struct gt_child c;
	regex_t re;

	USE_BARRIER("gctrace=1");
	ASSERT_EQ(0, gt_fork_run(trace_child, NULL, CHILD_TIMEOUT, &c));
	ASSERT_TRUE(gt_exited_with(&c, 0)) TH_LOG("%s", c.err);
	ASSERT_EQ(0, regcomp(&re,
			     "^gc [0-9]+ @[0-9]+\\.[0-9]{3}s [0-9]+%: "
			     "[0-9.]+\\+[0-9.]+\\+[0-9.]+ ms clock, "
			     "[0-9.]+\\+[0-9.]+/[0-9.]+/[0-9.]+\\+[0-9.]+ ms cpu, "
			     "[0-9]+->[0-9]+->[0-9]+ MB, [0-9]+ MB goal, "
			     "[0-9]+ MB stacks, [0-9]+ MB globals, 2 P"
			     " \\(forced\\)$",
			     REG_EXTENDED | REG_NEWLINE));
	EXPECT_EQ(0, regexec(&re, c.err, 0, NULL, 0)) TH_LOG("%s", c.err);
	regfree(&re);
	gt_child_free(&c);
}

TEST_HARNESS_MAIN
