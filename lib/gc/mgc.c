// SPDX-License-Identifier: MIT
/*
 * mgc.c - the collection cycle, the pacer and the public GC calls (Go's
 * runtime/mgc.go and mgcpacer.go in C).
 *
 * A cycle, as Go's, with the barrier of barrier.c in place of Go's
 * compiler-emitted one:
 *  1. start (a system goroutine, "the coordinator"): finish the last
 *     sweep, list the loaded objects' segments, arm the barrier; a short
 *     stop-the-world (sweep termination) turns on black allocation and
 *     opens cycle N.
 *  2. concurrent mark: the coordinator scans globals, registered roots
 *     and the stacks of goroutines at rest; mark workers (25 % of the
 *     Ps, at least one) and allocating goroutines (assists, in
 *     proportion to what they allocate) drain the grey objects.
 *  3. pre-clean rounds: rescan what the barrier saw written (shared out
 *     to mark workers and assists, mark.c) and the stacks of goroutines
 *     that ran since their scan, while the dirty set shrinks.
 *  4. mark termination, world stopped and every M that runs goroutine
 *     code suspended by signal (roots.c): registers, the stacks that
 *     changed, globals, the last dirty pages; drain; finalizers of
 *     unmarked objects are queued; then sweep is prepared and the world
 *     restarts; a system goroutine sweeps in the background.
 * With GORT_DEBUG=gcbarrier=stw (or no barrier on this kernel) steps 2-3
 * are skipped and the whole mark happens in step 4.
 *
 * Pacer (Go's, simplified): goal = marked + (marked + stacks + globals) *
 * GORT_GC / 100, at least 4 MiB * GORT_GC / 100, capped by the memory
 * limit minus the memory that is not heap; the cycle starts when the heap
 * reaches trigger = marked + ratio * (goal - marked), ratio in [0.7, 0.95]
 * moved by 0.05 after each cycle that over- or undershot the goal.  Under
 * the memory limit the collector's CPU is capped near 50 %, as Go's: a
 * cycle the limit (not GORT_GC) asks for waits until the mutator has run
 * as long as the last cycle took, unless the heap is at 95 % of the limit.
 * There Go lets the heap pass the limit to keep the cap; gort keeps the
 * limit (assists past the goal wait for the cycle's end), since a C
 * program's memory limit is more often a container's hard one.
 * Objects allocated during the mark count as marked (Go's
 * gcmarknewobject), so the next goal includes them.
 *
 * Lock order: gc.lock is a leaf taken only for short bookkeeping, never
 * across a stop-the-world (a goroutine spinning on it would hold the P
 * the stopper waits for).
 *
 * Rejected: starting the cycle on the allocating goroutine (Go's
 * gcStart): its stop-the-world would run inside gort_alloc with
 * whatever locks the caller's C code holds; a coordinator goroutine
 * costs one goroutine start per cycle.  Dedicated marker threads outside
 * the P count (Boehm's): they would break GORT_MAXPROCS as a CPU bound.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "gc/gcint.h"
#include "trace.h"

#define sched gort_sched
#define HEAP_MINIMUM ((uint64_t)4 << 20)
#define MARK_CHUNK (64 << 10)		/* bytes a worker scans between yields */
#define PRECLEAN_ROUNDS 12
#define PRECLEAN_ENOUGH 32		/* dirty pages worth another round */
#define PRECLEAN_QUIET_NS 500000	/* a round longer lets too much in */

_Atomic uint32_t gc_phase;
_Atomic uint32_t gc_cycle;

static struct {
	struct gort_lock lock;		/* guards up to done_sema */
	bool running;			/* a cycle is between start and end */
	bool want_forced;		/* gort_gc asked for one more */
	uint32_t completed;		/* cycles that ended */
	uint32_t started;		/* cycles started */
	int nwaiters;			/* gort_gc callers asleep */
	_Atomic uint32_t done_sema;	/* they sleep here */
	/* the cycle in progress (coordinator only) */
	bool forced;			/* started by gort_gc */
	int procs;			/* gomaxprocs at its start */
	int64_t t_start, t_mark, t_markterm, t_end;
	uint64_t heap0, heap1, heap2;	/* Go's gctrace triple */
	uint64_t goal;			/* its heap goal */
	uint64_t scan_expect;		/* scan work it expects (assists) */
	_Atomic int64_t assist_ns;	/* mark assists' time */
	_Atomic int64_t bg_ns;		/* background workers' time */
	/* totals */
	int64_t total_gc_ns;		/* CPU time of every cycle */
	_Atomic int64_t last_cycle_ns;	/* wall time of the last one */
	_Atomic int64_t last_end;	/* nanotime it ended */
	uint64_t last_gc_unix;		/* its end, CLOCK_REALTIME ns */
	uint64_t pause_total;
	uint64_t pause_ns[256], pause_end[256];
	uint32_t num_forced;
} gc;

/* pacer state */
static _Atomic int gc_percent_v = 100;
static _Atomic int64_t memlimit_v = INT64_MAX;
static _Atomic uint64_t heap_goal = HEAP_MINIMUM;
static _Atomic uint64_t heap_trigger = HEAP_MINIMUM * 7 / 8;
static double trigger_ratio = 0.85;
static bool gc_inited;

bool gc_checkmark_active(void)
{
	return gort_config.gccheckmark;
}

static int64_t now(void)
{
	return gort_nanotime_internal();
}

/* ---- pacer ---- */

static uint64_t nonheap_bytes(void)
{
	uint64_t inuse, sys;

	gort_stack_stats(&inuse, &sys);
	return atomic_load(&gc_wbuf_bytes) + sys;
}

static void pace(uint64_t marked)
{
	int percent = atomic_load(&gc_percent_v);
	int64_t limit = atomic_load(&memlimit_v);
	uint64_t goal = UINT64_MAX, stacks = atomic_load(&gc_stack_scan_bytes);
	double ratio = trigger_ratio;

	if (percent >= 0) {
		goal = marked + (marked + stacks + gc_globals_bytes) *
					(uint64_t)percent / 100;
		if (goal < HEAP_MINIMUM * (uint64_t)percent / 100)
			goal = HEAP_MINIMUM * (uint64_t)percent / 100;
	}
	if (limit != INT64_MAX) {
		uint64_t cap = (uint64_t)limit > nonheap_bytes() ?
				       (uint64_t)limit - nonheap_bytes() :
				       0;

		if (cap < goal) {
			/* the limit binds: start early, the pause-free way
			 * to stay under it is to finish before reaching it */
			goal = cap;
			ratio = 0.6;
		}
	}
	atomic_store(&heap_goal, goal);
	if (goal == UINT64_MAX)
		atomic_store(&heap_trigger, UINT64_MAX);
	else if (goal <= marked)
		atomic_store(&heap_trigger, marked);
	else
		atomic_store(&heap_trigger,
			     marked + (uint64_t)((double)(goal - marked) *
						 ratio));
}

/* ---- starting a cycle ---- */

static void coordinator(void *arg);

/* Ask for a cycle; false if one runs already. */
static void sweep_termination(void);

static bool request_cycle(bool forced)
{
	bool start = false, inline_start;
	struct gort_m *m;

	gort_lock(&gc.lock);
	if (!gc.running) {
		gc.running = true;
		gc.forced = forced;
		gc.started++;
		start = true;
	} else if (forced) {
		gc.want_forced = true;
	}
	gort_unlock(&gc.lock);
	if (!start)
		return false;
	m = gort_getm();
	inline_start = m && m->curg && !m->curg->system;
	if (inline_start) {
		/* Go's gcStart: the goroutine that asks opens the cycle, so
		 * the heap does not grow while a coordinator waits for a P */
		gort_rt_enter();
		sweep_termination();
		gort_rt_exit();
	}
	if (gort_go_system(coordinator, (void *)(uintptr_t)inline_start)) {
		/* gort_main is ending: gc_run_end closes the cycle */
		if (atomic_load(&sched.exiting))
			return false;
		if (inline_start)
			gort_fatal("runtime: cannot start the garbage collector's coordinator");
		gort_lock(&gc.lock);
		gc.running = false;
		gc.started--;
		gort_unlock(&gc.lock);
		return false;
	}
	return true;
}

/* The memory limit alone asks: keep GC CPU near half, as Go's limiter. */
static bool limiter_allows(void)
{
	int64_t limit = atomic_load(&memlimit_v);

	if (limit == INT64_MAX)
		return true;
	/* at the limit itself the limit wins over the CPU cap */
	if (atomic_load(&gc_heap.heap_live) >= (uint64_t)limit / 20 * 19)
		return true;
	return now() - atomic_load(&gc.last_end) >=
	       atomic_load(&gc.last_cycle_ns);
}

/* The memory limit binds and the heap is past what it allows. */
static bool over_limit_goal(void)
{
	return atomic_load(&memlimit_v) != INT64_MAX &&
	       atomic_load(&gc_heap.heap_live) > atomic_load(&heap_goal);
}

static void wait_cycle_end(uint32_t cycle);

/*
 * A goroutine that only allocates enters the runtime so often that a
 * stop-the-world almost never catches it outside, where its P can be
 * retaken: the retake's process-wide barrier alone lasts long enough for
 * it to enter again (the stopper tried 5 to 18 times and never succeeded,
 * 100 to 300 us a pause, measured on binary-trees).  It never reaches a
 * scheduling point either, so gort_alloc gives the P up itself when a
 * stop waits, as Go's allocator does.  Not the stopper (its own P is
 * stopped), nor a goroutine left running after its gort_main ended.
 */
void gc_stw_yield(void)
{
	struct gort_m *m = gort_getm();

	if (m && m->curg && m->p && gort_p_state(m->p) == P_RUNNING &&
	    m->gen == atomic_load(&gort_generation))
		gort_yield();
}

void gc_alloc_hook(uint64_t bytes)
{
	uint32_t ph = atomic_load_explicit(&gc_phase, memory_order_relaxed);
	struct gort_m *m = gort_getm();

	/* a goroutine left running C code after its gort_main ended */
	if (m && m->gen != atomic_load(&gort_generation))
		return;
	if (unlikely(atomic_load_explicit(&sched.stw_wait,
					  memory_order_relaxed)))
		gc_stw_yield();
	if (ph == GC_MARK) {
		gc_assist(bytes);
		return;
	}
	if (ph != GC_OFF ||
	    atomic_load_explicit(&gc_heap.heap_live, memory_order_relaxed) <
		    atomic_load_explicit(&heap_trigger, memory_order_relaxed))
		return;
	m = gort_getm();
	if (!atomic_load(&sched.running) || atomic_load(&sched.exiting) ||
	    (m && m->curg && m->curg->system) || !limiter_allows())
		return;
	while (!request_cycle(false) && m && m->curg && over_limit_goal()) {
		/*
		 * The last cycle is past its mark but has not ended (it
		 * starts the sweeper, scavenges, queues finalizers): nothing
		 * bounds the heap in that window, so under a memory limit
		 * wait for it as an assist past the hard goal would.
		 */
		wait_cycle_end(atomic_load(&gc_cycle));
		if (atomic_load(&gc_phase) != GC_OFF)
			return;
	}
}

/* ---- markers ---- */

/*
 * Between these a marker may hold grey objects: mark_drained() counts it
 * busy.  The end hands its buffers back before it stops counting, so a
 * reader that sees the count drop sees the work on the global list.
 */
static void marker_begin(void)
{
	atomic_fetch_add(&gc_nbusy, 1);
}

static void marker_end(struct gc_work *w)
{
	gc_work_dispose(w);
	atomic_fetch_sub(&gc_nbusy, 1);
}

/* ---- assists ---- */

static double assist_ratio(void);

/* Go's hard goal: 1.1 x the goal, or the goal itself under a memory
 * limit (the limit is the hard bound there). */
static uint64_t hard_goal(void)
{
	if (atomic_load(&memlimit_v) != INT64_MAX)
		return gc.goal;
	return gc.goal + gc.goal / 10;
}

/* Sleep until cycle number `cycle` has ended (gort_gc's waiters' queue). */
static void wait_cycle_end(uint32_t cycle)
{
	for (;;) {
		gort_lock(&gc.lock);
		if (!gc.running || (int32_t)(gc.completed - cycle) >= 0) {
			gort_unlock(&gc.lock);
			return;
		}
		gc.nwaiters++;
		gort_unlock(&gc.lock);
		gort_semacquire(&gc.done_sema, WR_WAIT_FOR_GC_CYCLE);
	}
}

static void scan_own_stack(struct gc_work *w);

void gc_assist(uint64_t bytes)
{
	struct gort_m *m = gort_getm();
	struct gc_work w;
	int64_t t0, budget;
	uint32_t epoch;

	if (!m || !m->curg || m->curg->system)
		return;	/* foreign threads and the collector do not assist */
	budget = (int64_t)((double)bytes * assist_ratio());
	t0 = now();
	/* in the runtime: a stop-the-world waits for the buffers to be
	 * handed back instead of suspending the goroutine holding them */
	m = gort_rt_enter();
	/*
	 * The caller saw the mark phase before it gave its P to a
	 * stop-the-world (gc_stw_yield) or was preempted: the mark may have
	 * ended since.  Marks made now would outlive this cycle's sweep of
	 * their span and make the next cycle take an unscanned object for
	 * black.  Holding a P inside the runtime, the phase cannot end
	 * under us from here on: mark termination stops every P first.
	 */
	if (atomic_load(&gc_phase) != GC_MARK) {
		gort_rt_exit();
		return;
	}
	gort_trace_gc_assist(m, true);
	gc_work_init(&w);
	marker_begin();
	/*
	 * Once per round of the collector's stack scans an assisting
	 * goroutine scans its own stack: it is at a safe point here, while
	 * the concurrent scan of a running goroutine's stack gives up on
	 * one that is this often inside the runtime, and what only its
	 * stack holds (a program's long-lived data, say) would otherwise
	 * wait for the pause to be marked.  Termination still rescans the
	 * stack; it only finds it marked.  (Not without a barrier: nothing
	 * may be marked before the pause then.)
	 */
	epoch = atomic_load(&gc_scan_epoch);
	if (gc_barrier_mode != GC_BARRIER_STW &&
	    atomic_load_explicit(&m->curg->gc_self_scan_epoch,
				 memory_order_relaxed) != epoch) {
		scan_own_stack(&w);
		atomic_store_explicit(&m->curg->gc_self_scan_epoch, epoch,
				      memory_order_release);
	}
	/*
	 * A pre-clean round's dirty pages first, as many bytes as were
	 * allocated: a goroutine that writes what it allocates then cannot
	 * dirty pages faster than they are rescanned.
	 */
	if (gc_rescan_pending()) {
		m->gc_rescan_owed += bytes;
		while (m->gc_rescan_owed >= GC_RESCAN_CHUNK) {
			int64_t done = gc_rescan_help(&w, 1);

			if (!done)
				break;
			budget -= done;
			m->gc_rescan_owed -= GC_RESCAN_CHUNK;
		}
	}
	/* in slices, so that a stop-the-world does not wait for all of it */
	while (budget > 0 &&
	       !atomic_load_explicit(&sched.stw_wait, memory_order_relaxed)) {
		int64_t done = gc_drain(&w, budget < 16384 ? budget : 16384);

		if (!done)
			break;
		budget -= done;
	}
	marker_end(&w);
	gort_trace_gc_assist(m, false);
	gort_rt_exit();
	/*
	 * Past the hard goal with nothing left to scan (the rest of the
	 * mark is the coordinator's rescans): wait for the cycle to end, as
	 * Go parks an assist that cannot pay its debt.  Without this a fast
	 * allocator outruns the mark and the heap, and any memory limit,
	 * have no bound.
	 */
	if (atomic_load(&gc_heap.heap_live) > hard_goal())
		wait_cycle_end(atomic_load(&gc_cycle));
	atomic_fetch_add(&gc.assist_ns, now() - t0);
}

/*
 * Go's assist ratio: the scan work still expected over the heap growth
 * still allowed (up to 1.1 x the goal, Go's hard goal).  Expected work is
 * what the last cycle marked plus this cycle's stacks and globals.
 */
static double assist_ratio(void)
{
	uint64_t expect = gc.scan_expect, done = atomic_load(&gc_scan_done);
	uint64_t live = atomic_load(&gc_heap.heap_live);
	uint64_t hard = hard_goal();
	double work = expect > done ? (double)(expect - done) : 65536.0;
	double runway = hard > live ? (double)(hard - live) : 0;

	if (runway < (double)(1 << 20))
		runway = 1 << 20;
	return work / runway;
}

/* ---- the cycle ---- */

static void mark_worker(void *arg);
static void checkmark_clean_start(void);

static int nworkers(int procs)
{
	int n = (procs + 2) / 4;

	return n < 1 ? 1 : n;
}

static void sweep_termination(void)
{
	uint64_t last_marked;

	gc_sweep_finish();
	gc_roots_refresh_segments();
	gc_barrier_arm();
	gc.t_start = now();
	gort_stop_the_world(GORT_STW_GC_SWEEP_TERM);
	if (gc_checkmark_active())
		checkmark_clean_start();
	gc.procs = atomic_load(&sched.gomaxprocs);
	atomic_fetch_add(&gc_cycle, 1);
	last_marked = atomic_exchange(&gc_heap.heap_marked, 0);
	atomic_store(&gc_stack_scan_bytes, 0);
	gc.heap0 = atomic_load(&gc_heap.heap_live);
	gc.goal = atomic_load(&heap_goal);
	gc.scan_expect = last_marked + gc_globals_bytes + (64u << 10);
	atomic_store(&gc_scan_done, 0);
	gc.assist_ns = 0;
	gc.bg_ns = 0;
	atomic_store(&gc_phase, GC_MARK);
	gort_start_the_world();
	gc.t_mark = now();
	/* Go's pauseNS: from the request to stop to the world running */
	gc.pause_ns[gc.completed % 256] = (uint64_t)(gc.t_mark - gc.t_start);
	gort_trace_gc_begin(gort_getm(), atomic_load(&gc_cycle));
}

/* Wait until no marker holds grey objects and none are queued. */
static bool mark_drained(void)
{
	return atomic_load(&gc_nbusy) == 0 && gc_work_global_empty();
}

GC_NO_SANITIZE
static void scan_own_stack(struct gc_work *w)
{
	struct gort_g *gp = gort_getg();
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);

	__builtin_unwind_init();
	if (gp && gp->stack.lo)
		gc_scan_block(w, sp, (uintptr_t)gp->stack.lo + gp->stack.size);
}

/* ---- gccheckmark ---- */

typedef void (*span_fn)(struct gc_span *s, void *arg);

static void for_each_span(span_fn fn, void *arg)
{
	uintptr_t used = atomic_load(&gc_heap.used), i, n;

	n = (used - gc_heap.base) >> GC_PAGE_SHIFT;
	for (i = 0; i < n;) {
		struct gc_span *s = atomic_load(&gc_heap.spans[i]);

		if (s && atomic_load(&s->state) == SPAN_INUSE &&
		    s->base == gc_heap.base + (i << GC_PAGE_SHIFT)) {
			fn(s, arg);
			i += s->npages;
		} else {
			i++;
		}
	}
}

struct checkmark {
	uint8_t *saved;			/* the concurrent mark's bits */
	size_t len, off;
	uint64_t missed;
};

static size_t bitmap_len(const struct gc_span *s)
{
	return (s->nelems + 7) / 8;
}

static void cm_size(struct gc_span *s, void *arg)
{
	((struct checkmark *)arg)->len += bitmap_len(s);
}

static void cm_save(struct gc_span *s, void *arg)
{
	struct checkmark *cm = arg;
	size_t n = bitmap_len(s), i;

	for (i = 0; i < n; i++) {
		cm->saved[cm->off + i] = atomic_load(&s->markbits[i]);
		atomic_store(&s->markbits[i], 0);
	}
	cm->off += n;
}

static void cm_compare(struct gc_span *s, void *arg)
{
	struct checkmark *cm = arg;
	size_t n = bitmap_len(s), i;
	uint32_t idx;

	for (i = 0; i < n; i++) {
		uint8_t now_bits = atomic_load(&s->markbits[i]);
		uint8_t old = cm->saved[cm->off + i];
		uint8_t missed = now_bits & ~old;

		for (idx = 0; missed && idx < 8; idx++) {
			if (!(missed & (1u << idx)))
				continue;
			gort_dprintf(2, "runtime: checkmark found unmarked object %#lx (size %u, span %#lx, %s)\n",
				     (unsigned long)(s->base + (i * 8 + idx) *
							       (uintptr_t)s->elemsize),
				     s->elemsize, (unsigned long)s->base,
				     gc_span_noscan(s) ? "noscan" : "scan");
			cm->missed++;
		}
		atomic_store(&s->markbits[i], now_bits | old);
	}
	cm->off += n;
}

static void cm_count_marked(struct gc_span *s, void *arg)
{
	uint64_t *marked = arg;
	uint32_t idx;

	for (idx = 0; idx < s->nelems; idx++) {
		if (!gc_is_marked(s, idx))
			continue;
		if (*marked < 8)
			gort_dprintf(2, "runtime: checkmark found object %#lx (size %u, span %#lx) marked before the mark began\n",
				     (unsigned long)(s->base + (uintptr_t)idx *
							       s->elemsize),
				     s->elemsize, (unsigned long)s->base);
		(*marked)++;
	}
}

/*
 * The world is stopped and every span swept: no mark bit may be set.  A
 * stale one (a marker still at work after the last cycle's sweep of its
 * span) makes this cycle take an object it never scanned for black, and
 * what only that object references is freed while reachable; the check
 * here names the cause where the re-mark would only see the effect.
 */
static void checkmark_clean_start(void)
{
	uint64_t marked = 0;

	for_each_span(cm_count_marked, &marked);
	if (marked)
		gort_fatal("runtime: gccheckmark: %llu object%s marked before the mark began",
			   (unsigned long long)marked, marked == 1 ? "" : "s");
}

/* Re-mark everything with the world stopped; fail on any object the
 * concurrent mark missed. */
static void checkmark(struct gc_work *w)
{
	struct checkmark cm = { 0 };

	for_each_span(cm_size, &cm);
	cm.saved = mmap(NULL, cm.len + 1, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (cm.saved == MAP_FAILED)
		gort_fatal("runtime: gccheckmark: out of memory");
	for_each_span(cm_save, &cm);
	atomic_fetch_add(&gc_cycle, 1);	/* every stack counts as unscanned */
	gc_scan_suspended(w);
	/*
	 * Not the collector's own stack: it holds no program data, and the
	 * slots checkmark's own calls leave there are dead values the real
	 * mark rightly never saw (they made false reports).
	 */
	gc_scan_stacks(w, false);
	gc_scan_static_roots(w);
	gc_scan_finalizers(w);
	gc_drain(w, -1);
	cm.off = 0;
	for_each_span(cm_compare, &cm);
	munmap(cm.saved, cm.len + 1);
	if (cm.missed)
		gort_fatal("runtime: gccheckmark: the concurrent mark missed %llu reachable object%s",
			   (unsigned long long)cm.missed,
			   cm.missed == 1 ? "" : "s");
}

/* ---- gctrace (Go's line, byte for byte) ---- */

/* Go's itoaDiv: val / 10^dec with dec decimals. */
static char *itoa_div(char *buf, size_t len, uint64_t val, int dec)
{
	char *p = buf + len - 1;
	int i = 0;

	*p = '\0';
	do {
		*--p = (char)('0' + val % 10);
		val /= 10;
		i++;
		if (dec > 0 && i == dec)
			*--p = '.';
	} while (val || (dec > 0 && i <= dec));
	return p;
}

/* Go's fmtNSAsMS. */
static char *fmt_ns_as_ms(char *buf, size_t len, uint64_t ns)
{
	uint64_t x;
	int dec = 3;

	if (ns >= 10000000)
		return itoa_div(buf, len, ns / 1000000, 0);
	x = ns / 1000;
	if (x == 0) {
		buf[0] = '0';
		buf[1] = '\0';
		return buf;
	}
	while (x >= 100) {
		x /= 10;
		dec--;
	}
	return itoa_div(buf, len, x, dec);
}

static void gctrace(int64_t stw1, int64_t stw2, uint32_t n)
{
	char b[9][32], line[400];
	int64_t elapsed = now() - sched.starttime;
	double frac = elapsed > 0 ?
		(double)gc.total_gc_ns / ((double)elapsed * gc.procs) : 0;

	snprintf(line, sizeof(line),
		 "gc %u @%ss %d%%: %s+%s+%s ms clock, %s+%s/%s/%s+%s ms cpu, %llu->%llu->%llu MB, %llu MB goal, %llu MB stacks, %llu MB globals, %d P%s\n",
		 n,
		 itoa_div(b[0], 32, (uint64_t)(gc.t_start - sched.starttime) /
					    1000000, 3),
		 (int)(frac * 100),
		 fmt_ns_as_ms(b[1], 32, (uint64_t)(gc.t_mark - gc.t_start)),
		 fmt_ns_as_ms(b[2], 32, (uint64_t)(gc.t_markterm - gc.t_mark)),
		 fmt_ns_as_ms(b[3], 32, (uint64_t)(gc.t_end - gc.t_markterm)),
		 fmt_ns_as_ms(b[4], 32, (uint64_t)stw1 * gc.procs),
		 fmt_ns_as_ms(b[5], 32, (uint64_t)atomic_load(&gc.assist_ns)),
		 fmt_ns_as_ms(b[6], 32, (uint64_t)atomic_load(&gc.bg_ns)),
		 fmt_ns_as_ms(b[7], 32, 0),
		 fmt_ns_as_ms(b[8], 32, (uint64_t)stw2 * gc.procs),
		 (unsigned long long)(gc.heap0 >> 20),
		 (unsigned long long)(gc.heap1 >> 20),
		 (unsigned long long)(gc.heap2 >> 20),
		 (unsigned long long)(gc.goal >> 20),
		 (unsigned long long)(atomic_load(&gc_stack_scan_bytes) >> 20),
		 (unsigned long long)(gc_globals_bytes >> 20), gc.procs,
		 gc.forced ? " (forced)" : "");
	gort_write_all(2, line, strlen(line));
}

/* ---- mark termination ---- */

static void mark_termination(struct gc_work *w, bool leaks)
{
	int64_t stw1 = (int64_t)gc.pause_ns[gc.completed % 256], stw2;
	struct timespec ts;
	uint32_t n;
	uint64_t goal_before = gc.goal;

	gc_roots_refresh_segments();
	gc.t_markterm = now();
	gort_stop_the_world(GORT_STW_GC_MARK_TERM);
	atomic_store(&gc_phase, GC_MARKTERM);
	gc_suspend_threads();
	gc_scan_suspended(w);
	scan_own_stack(w);
	gc_scan_stacks(w, leaks);
	gc_scan_static_roots(w);
	gc_scan_finalizers(w);
	gc_barrier_collect(w, false);
	gc_drain(w, -1);
	if (leaks) {
		while (gc_scan_leak_candidates(w))
			gc_drain(w, -1);
		gc_report_leaks(w);
		gc_drain(w, -1);
	}
	if (gc_checkmark_active())
		checkmark(w);
	gc_queue_finalizers(w);
	gc_drain(w, -1);
	gc_work_dispose(w);
	gc_barrier_disarm();

	/* objects allocated black survive the cycle: Go's gcmarknewobject
	 * counts them as marked, or the next goal would leave them out */
	atomic_fetch_add(&gc_heap.heap_marked, gc_mcache_take_black_bytes());
	gc.heap1 = atomic_load(&gc_heap.heap_live);
	gc.heap2 = atomic_load(&gc_heap.heap_marked);
	if (gc.heap1 > goal_before && trigger_ratio > 0.7)
		trigger_ratio -= 0.05;
	else if (gc.heap1 < goal_before * 9 / 10 && trigger_ratio < 0.95)
		trigger_ratio += 0.05;
	atomic_store(&gc_phase, GC_OFF);
	gc_sweep_prepare();
	atomic_store(&gc_heap.heap_live, gc.heap2);
	pace(gc.heap2);
	/*
	 * Go's pause: from the request to stop (t_markterm) to the restart,
	 * not counting the wake-ups, which the woken threads wait for and
	 * which let them run on this CPU before the stopper reads a clock.
	 */
	gc.t_end = now();
	stw2 = gc.t_end - gc.t_markterm;
	gc_resume_threads();
	gort_start_the_world();

	clock_gettime(CLOCK_REALTIME, &ts);
	gort_lock(&gc.lock);
	n = gc.completed + 1;
	gc.pause_ns[gc.completed % 256] += (uint64_t)stw2;
	gc.pause_total += gc.pause_ns[gc.completed % 256];
	gc.last_gc_unix = (uint64_t)ts.tv_sec * 1000000000u +
			  (uint64_t)ts.tv_nsec;
	gc.pause_end[gc.completed % 256] = gc.last_gc_unix;
	gc.total_gc_ns += (stw1 + stw2) * gc.procs +
			  atomic_load(&gc.assist_ns) + atomic_load(&gc.bg_ns);
	gc.last_cycle_ns = gc.t_end - gc.t_start;
	gc.last_end = gc.t_end;
	if (gc.forced)
		gc.num_forced++;
	gort_unlock(&gc.lock);
	gort_trace_gc_end(gort_getm(), atomic_load(&gc_cycle));
	if (gort_config.gctrace)
		gctrace(stw1, stw2, n);
}

/* The cycle's memory limit: release free pages the limit cannot hold. */
static void respect_limit(void)
{
	int64_t limit = atomic_load(&memlimit_v);
	uint64_t held;

	if (limit == INT64_MAX)
		return;
	held = atomic_load(&gc_heap.heap_sys) -
	       atomic_load(&gc_heap.heap_released) + nonheap_bytes();
	if (held > (uint64_t)limit)
		gc_scavenge(held - (uint64_t)limit);
}

static void end_cycle(void)
{
	bool again;
	int n, i;

	gort_go_system(gc_bgsweep, NULL);
	respect_limit();
	gc_run_finalizers();
	gort_lock(&gc.lock);
	gc.completed++;
	gc.running = false;
	again = gc.want_forced;
	gc.want_forced = false;
	n = gc.nwaiters;
	gc.nwaiters = 0;
	gort_unlock(&gc.lock);
	for (i = 0; i < n; i++)
		gort_semrelease(&gc.done_sema);
	if (again)
		request_cycle(true);
}

/* Drain until no marker holds grey objects and none are queued. */
static void drain_all(struct gc_work *w)
{
	for (;;) {
		marker_begin();
		gc_drain(w, MARK_CHUNK);
		marker_end(w);
		if (mark_drained())
			return;
		gort_yield();
	}
}

static void coordinator(void *arg)
{
	bool leaks = gort_config.goroutineleak;
	bool concurrent = gc_barrier_mode != GC_BARRIER_STW;
	struct gc_work w;
	uint64_t last_pages = UINT64_MAX;
	int64_t t0;
	int i, round;

	/*
	 * The coordinator runs inside the runtime throughout (it yields
	 * between chunks): sysmon never retakes its P, so no stop-the-world
	 * can suspend it while it holds grey objects or the work lists.
	 */
	gort_rt_enter();
	if (!arg)
		sweep_termination();	/* asked for by a foreign thread */
	gc_work_init(&w);
	if (concurrent) {
		for (i = 1; i < nworkers(gc.procs); i++)
			gort_go_system(mark_worker, NULL);
		t0 = now();
		marker_begin();
		gc_scan_static_roots(&w);
		gc_scan_finalizers(&w);
		gc_scan_stacks(&w, leaks);
		gc_scan_running(&w);
		marker_end(&w);
		drain_all(&w);
		for (round = 0; round < PRECLEAN_ROUNDS; round++) {
			int64_t round_start = now();
			uint64_t pages;
			bool done;

			marker_begin();
			pages = gc_barrier_collect(&w, true);
			gc_rescan_publish();
			gc_scan_stacks(&w, leaks);
			gc_scan_running(&w);
			gc_rescan_finish(&w);
			gc_drain(&w, -1);
			marker_end(&w);
			/*
			 * Done, or not converging: the pause takes the rest.
			 * Convergence is judged late: one round that a
			 * descheduled coordinator made slow looks like a
			 * stall, and ending there left 700 pages (1 ms) to
			 * the pause.  A round that took long (what a stack
			 * held took marking) gave the mutator time to dirty
			 * pages its count does not show.
			 */
			done = pages < PRECLEAN_ENOUGH &&
			       now() - round_start < PRECLEAN_QUIET_NS;
			if (done || (round >= 6 && pages > last_pages / 4 * 3))
				break;
			last_pages = pages;
			gort_yield();
		}
		if (leaks) {
			int n;

			do {
				n = gc_scan_leak_candidates(&w);
				gc_drain(&w, -1);
			} while (n);
			gc_work_dispose(&w);
		}
		atomic_fetch_add(&gc.bg_ns, now() - t0);
	}
	mark_termination(&w, leaks);
	end_cycle();
	gort_rt_exit();
}

static void mark_worker(void *arg)
{
	struct gc_work w;
	int64_t t0;

	gc_work_init(&w);
	while (atomic_load(&gc_phase) == GC_MARK) {
		t0 = now();
		gort_rt_enter();	/* see coordinator() */
		if (atomic_load(&gc_phase) != GC_MARK) {
			/* it ended since the loop's check: see gc_assist */
			gort_rt_exit();
			break;
		}
		marker_begin();
		gc_rescan_help(&w, INT64_MAX);
		gc_drain(&w, MARK_CHUNK);
		marker_end(&w);
		gort_rt_exit();
		atomic_fetch_add(&gc.bg_ns, now() - t0);
		if (mark_drained())
			break;
		gort_yield();
	}
}

/* ---- public calls ---- */

GORT_API void gort_gc(void)
{
	uint32_t want;

	if (!atomic_load(&sched.running) || atomic_load(&sched.exiting))
		return;		/* outside gort_main nothing runs a cycle */
	gort_lock(&gc.lock);
	want = gc.completed + (gc.running ? 2 : 1);
	gort_unlock(&gc.lock);
	request_cycle(true);
	for (;;) {
		gort_lock(&gc.lock);
		if ((int32_t)(gc.completed - want) >= 0 ||
		    !atomic_load(&sched.running)) {
			gort_unlock(&gc.lock);
			return;
		}
		gc.nwaiters++;
		gort_unlock(&gc.lock);
		gort_semacquire(&gc.done_sema, WR_WAIT_FOR_GC_CYCLE);
	}
}

GORT_API int gort_gc_percent(int percent)
{
	int prev;

	if (percent < 0)
		percent = -1;
	prev = atomic_exchange(&gc_percent_v, percent);
	pace(atomic_load(&gc_heap.heap_marked));
	return prev;
}

GORT_API int64_t gort_gc_memory_limit(int64_t bytes)
{
	int64_t prev = atomic_load(&memlimit_v);

	if (bytes < 0)
		return prev;
	atomic_store(&memlimit_v, bytes);
	pace(atomic_load(&gc_heap.heap_marked));
	return prev;
}

void gc_memstats_collector(struct gort_memstats *ms)
{
	int64_t elapsed = now() - sched.starttime;
	int i;

	gort_lock(&gc.lock);
	ms->next_gc = atomic_load(&heap_goal);
	ms->last_gc = gc.last_gc_unix;
	ms->pause_total_ns = gc.pause_total;
	for (i = 0; i < 256; i++) {
		ms->pause_ns[i] = gc.pause_ns[i];
		ms->pause_end[i] = gc.pause_end[i];
	}
	ms->num_gc = gc.completed;
	ms->num_forced_gc = gc.num_forced;
	ms->gc_cpu_fraction =
		elapsed > 0 && gc.procs ?
			(double)gc.total_gc_ns / ((double)elapsed * gc.procs) :
			0;
	gort_unlock(&gc.lock);
}

/* ---- life cycle ---- */

int gc_init(void)
{
	int err;

	/* the heap itself is made by the first allocation: reserving it
	 * costs an emulator (qemu-user) time for every process */
	if (gc_inited)
		return 0;
	err = gc_barrier_init();
	if (err)
		return err;
	err = gc_roots_init();
	if (err)
		return err;
	atomic_store(&gc_percent_v, gort_config.gc_percent);
	atomic_store(&memlimit_v, gort_config.memlimit);
	pace(0);
	gc_inited = true;
	return 0;
}

/* gort_main ended: every goroutine is gone, a cycle in progress too. */
void gc_run_end(void)
{
	atomic_store(&gc_phase, GC_OFF);
	gc_barrier_disarm();
	gc_work_reset();
	gort_lock(&gc.lock);
	if (gc.running)
		gc.completed = gc.started;
	gc.running = false;
	gc.want_forced = false;
	gc.nwaiters = 0;
	atomic_store(&gc.done_sema, 0);
	gort_unlock(&gc.lock);
}
