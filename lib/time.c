// SPDX-License-Identifier: MIT
/*
 * time.c - the monotonic clock, runtime timers, sleep and the public
 * timers (Go's time.Sleep, time.After, time.NewTimer, time.AfterFunc,
 * time.NewTicker with Go 1.23 Stop/Reset semantics).
 *
 * gort's time is int64_t nanoseconds of CLOCK_MONOTONIC, read through the
 * vDSO (about 20 ns here, no system call).
 *
 * Timers live in per-P 4-ary heaps, so starting a timer takes only its
 * P's heap lock.  A heap slot holds the timer's when beside the pointer
 * (Go 1.23's timerWhen) and a node's four children share a cache line,
 * so a sift reads only the heap array: at 100,000 sleeping goroutines a
 * binary heap of bare pointers missed the cache on every timer it
 * compared (about a sixth of the timers workload's time in heap_del).
 *
 * Expired timers run when an M of that P switches goroutines or looks for
 * work, when a spinning M steals (it runs the due timers of other Ps),
 * and, when every M is idle, when sysmon starts an M for a timer that is
 * due: sysmon never sleeps past the earliest timer.  So the timers of an
 * idle P are never lost.
 *
 * A goroutine that sleeps or waits in a select with a timeout arms its
 * timer only from the park's unlock callback, once it is off-CPU: a timer
 * that fired before the goroutine parked would ready a running goroutine.
 * A sleep takes no timer lock at all (timer.h), and due sleep timers leave
 * the heap in batches, one heap lock hold for up to TIMERS_BATCH of them:
 * together 2 % (1 P) and 6 % (2 Ps) off the timers workload's 1,000,000
 * sleeps, which spent three timer lock round trips on each.
 *
 * Public timers (Go 1.23): the channel has capacity 1, a fired timer sends
 * the firing time without blocking, and Stop and Reset drain the channel,
 * so no value sent before them is received after them.  Stop returns true
 * if it stopped a pending timer, and (as in Go 1.23) one that fired but
 * whose value nobody received; Reset returns the same for the timer it
 * restarts.
 *
 * Rejected: one global heap (contention on every sleep), and timing
 * wheels (Go's heap is what its users' expectations are measured by, and
 * O(log n) at 100,000 timers is a few compares).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chan.h"
#include "timer.h"
#include "gc/gc.h"

#define sched gort_sched

_Atomic int64_t gort_ntimers;	/* pending timers, for the deadlock check */

int64_t gort_nanotime_internal(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

GORT_API int64_t gort_nanotime(void)
{
	return gort_nanotime_internal();
}

/* ---- heaps (heap lock held) ---- */

#define HEAP_ARITY 4

/*
 * A sleep timer leaves its heap only from the top, so it needs no index,
 * and a sift that moves its slot does not write to it: the timers of
 * 100,000 sleepers are on 100,000 stacks, out of the cache, and storing
 * every moved slot's index cost most of the timers workload's time in
 * heap_del (a seventh of the whole).
 */
_Static_assert(_Alignof(struct gort_timer_rt) > TW_UNINDEXED,
	       "a timer's address has a bit to spare");

static inline void heap_set(struct timer_heap *h, int i, struct timer_when tw)
{
	h->a[i] = tw;
	if (!(tw.timer & TW_UNINDEXED))
		tw_timer(tw)->idx = i;
}

/* Returns where the slot at i came to rest. */
static int sift_up(struct timer_heap *h, int i)
{
	struct timer_when tw = h->a[i];

	while (i > 0) {
		int parent = (i - 1) / HEAP_ARITY;

		if (h->a[parent].when <= tw.when)
			break;
		heap_set(h, i, h->a[parent]);
		i = parent;
	}
	heap_set(h, i, tw);
	return i;
}

static int sift_down(struct timer_heap *h, int i)
{
	struct timer_when tw = h->a[i];

	for (;;) {
		int c = HEAP_ARITY * i + 1, end = c + HEAP_ARITY, k, min;

		if (c >= h->n)
			break;
		if (end > h->n)
			end = h->n;
		for (min = c, k = c + 1; k < end; k++)
			if (h->a[k].when < h->a[min].when)
				min = k;
		if (tw.when <= h->a[min].when)
			break;
		heap_set(h, i, h->a[min]);
		i = min;
	}
	heap_set(h, i, tw);
	return i;
}

static void update_when0(struct timer_heap *h)
{
	atomic_store_explicit(&h->when0, h->n ? h->a[0].when : 0,
			      memory_order_release);
}

static bool heap_add(struct timer_heap *h, struct gort_timer_rt *t)
{
	if (h->n == h->cap) {
		int cap = h->cap ? h->cap * 2 : 64;
		struct timer_when *a = realloc(h->a, cap * sizeof(*a));

		if (!a)
			return false;
		h->a = a;
		h->cap = cap;
	}
	/* sift_up's last heap_set gives an indexed timer its idx */
	h->a[h->n] = (struct timer_when){
		t->when, (uintptr_t)t | (t->sleep ? TW_UNINDEXED : 0)
	};
	sift_up(h, h->n++);
	update_when0(h);
	return true;
}

/* Fill slot i from the last one. */
static void heap_remove_at(struct timer_heap *h, int i)
{
	if (i != --h->n) {
		heap_set(h, i, h->a[h->n]);
		if (sift_down(h, i) == i)
			sift_up(h, i);
	}
	update_when0(h);
}

/* t is not a sleep timer. */
static void heap_del(struct timer_heap *h, struct gort_timer_rt *t)
{
	int i = t->idx;

	if (i < 0 || i >= h->n || tw_timer(h->a[i]) != t)
		return;		/* popped by a runner already */
	t->idx = -1;
	heap_remove_at(h, i);
}

static struct gort_timer_rt *heap_pop(struct timer_heap *h)
{
	struct gort_timer_rt *t = tw_timer(h->a[0]);

	if (!(h->a[0].timer & TW_UNINDEXED))
		t->idx = -1;
	heap_remove_at(h, 0);
	return t;
}

/* ---- runtime timers ---- */

void gort_timer_rt_init(struct gort_timer_rt *t,
			void (*f)(void *arg, int64_t now), void *arg)
{
	memset(t, 0, sizeof(*t));
	t->f = f;
	t->arg = arg;
	t->idx = -1;
}

static struct timer_heap *heap_for_caller(void)
{
	struct gort_m *m = gort_getm();

	if (m && m->p)
		return &m->p->timers;
	return &sched.allp[0]->timers;
}

/*
 * t locked (or a sleep timer), not pending: put it in a heap.  Its fields
 * are set before the heap lock is dropped: a sleep timer may fire, and its
 * goroutine return, the moment the lock is free.
 */
static void timer_add_locked(struct gort_timer_rt *t, int64_t when)
{
	struct timer_heap *h = heap_for_caller();

	t->when = when;
	t->heap = h;
	t->pending = true;
	t->starts++;
	atomic_fetch_add(&gort_ntimers, 1);
	gort_lock(&h->lock);
	if (!heap_add(h, t)) {
		gort_unlock(&h->lock);
		gort_fatal("runtime: out of memory for a timer");
	}
	gort_unlock(&h->lock);
}

/* t locked: take it out of its heap if it is there. */
static bool timer_del_locked(struct gort_timer_rt *t)
{
	struct timer_heap *h = t->heap;

	if (!t->pending)
		return false;
	gort_lock(&h->lock);
	heap_del(h, t);
	gort_unlock(&h->lock);
	t->pending = false;
	t->heap = NULL;
	atomic_fetch_sub(&gort_ntimers, 1);
	return true;
}

void gort_timer_rt_start(struct gort_timer_rt *t, int64_t when)
{
	struct gort_m *m = gort_getm();

	gort_lock(&t->lock);
	timer_del_locked(t);
	timer_add_locked(t, when);
	gort_unlock(&t->lock);
	/*
	 * A timer on this M's P is run by this M (at switches, in the
	 * scheduler); sysmon is told when the P goes idle.  From elsewhere
	 * (a foreign thread) the timer went to P0, which may be idle.
	 */
	if (!m || !m->p)
		gort_sysmon_kick(when);
}

bool gort_timer_rt_stop(struct gort_timer_rt *t)
{
	bool was;

	gort_lock(&t->lock);
	was = timer_del_locked(t);
	gort_unlock(&t->lock);
	/* a callback may be on its way out: it must not outlive the stop */
	while (atomic_load(&t->running))
		gort_cpu_relax();
	return was;
}

/* A sleep timer: nobody but its runner touches it until it fires. */
static void fire_sleep(struct gort_timer_rt *t, int64_t now)
{
	void (*f)(void *arg, int64_t now) = t->f;
	void *arg = t->arg;

	t->pending = false;
	t->heap = NULL;
	atomic_fetch_sub(&gort_ntimers, 1);
	/* readies the sleeper, whose stack t is on: t is not touched after */
	f(arg, now);
}

#define TIMERS_BATCH 32

/*
 * Heap locked: take out due timers, a batch of sleep timers or a single
 * other one.  The other kind is counted as running from here on, so that
 * a gort_timer_rt_stop() that comes before we lock it waits for us to be
 * done with it: its owner may free it once stop returns.  It is never
 * held back behind other callbacks, which might want a lock its stopper
 * holds.  Its start count tells us, once we hold its lock, whether it was
 * restarted meanwhile: then it is back in a heap, maybe this one, and
 * firing it would fire its new start early.
 */
static int take_due(struct timer_heap *h, int64_t now,
		    struct gort_timer_rt **batch, uint32_t *starts)
{
	int n = 0;

	while (n < TIMERS_BATCH && h->n && h->a[0].when <= now) {
		bool sleep = h->a[0].timer & TW_UNINDEXED;
		struct gort_timer_rt *t;

		if (!sleep && n)
			break;		/* a timer with a callback goes alone */
		t = heap_pop(h);
		batch[n++] = t;
		/* fired after the batch is out: its miss overlaps the pops */
		__builtin_prefetch(t, 1);
		if (!sleep) {
			atomic_fetch_add(&t->running, 1);
			*starts = t->starts;
			break;
		}
	}
	return n;
}

int64_t gort_timers_run(struct gort_p *p, int64_t now)
{
	struct timer_heap *h = &p->timers;
	struct gort_timer_rt *batch[TIMERS_BATCH];
	uint32_t starts = 0;
	int n = 0, i = 0;

	for (;;) {
		struct gort_timer_rt *t;

		if (i == n) {
			gort_lock(&h->lock);
			n = take_due(h, now, batch, &starts);
			i = 0;
			if (n == 0) {
				int64_t next = h->n ? h->a[0].when : 0;

				gort_unlock(&h->lock);
				return next;
			}
			gort_unlock(&h->lock);
		}
		t = batch[i++];
		if (t->sleep) {
			fire_sleep(t, now);
			continue;
		}

		gort_lock(&t->lock);
		if (!t->pending || t->heap != h || t->starts != starts) {
			/* stopped or restarted since: not ours to fire */
			gort_unlock(&t->lock);
			atomic_fetch_sub(&t->running, 1);
			continue;
		}
		t->pending = false;
		t->heap = NULL;
		atomic_fetch_sub(&gort_ntimers, 1);
		if (t->period > 0) {
			int64_t when = t->when + t->period;

			if (when <= now)	/* fell behind: as Go, skip */
				when = now + t->period;
			timer_add_locked(t, when);
		}
		gort_unlock(&t->lock);
		t->f(t->arg, now);
		atomic_fetch_sub(&t->running, 1);
	}
}

int64_t gort_timers_next(void)
{
	int32_t i, procs = atomic_load(&sched.gomaxprocs);
	int64_t best = 0;

	for (i = 0; i < procs; i++) {
		int64_t w = atomic_load_explicit(&sched.allp[i]->timers.when0,
						 memory_order_acquire);

		if (w && (!best || w < best))
			best = w;
	}
	return best;
}

void gort_timers_move(struct gort_p *from, struct gort_p *to)
{
	struct timer_heap *hf = &from->timers, *ht = &to->timers;

	gort_lock(&hf->lock);
	gort_lock(&ht->lock);
	while (hf->n > 0) {
		struct gort_timer_rt *t = tw_timer(hf->a[--hf->n]);

		t->heap = ht;	/* t->lock not taken: the world is stopped */
		if (!heap_add(ht, t))
			gort_fatal("runtime: out of memory for a timer");
	}
	update_when0(hf);
	gort_unlock(&ht->lock);
	gort_unlock(&hf->lock);
}

void gort_timers_free(struct gort_p *p)
{
	free(p->timers.a);
	memset(&p->timers, 0, sizeof(p->timers));
}

/* ---- sleep ---- */

struct sleeper {
	struct gort_timer_rt t;
	int64_t when;
};

static void sleep_fire(void *arg, int64_t now)
{
	gort_goready(arg);
}

static bool sleep_commit(struct gort_g *gp, void *arg)
{
	struct sleeper *s = arg;

	/* no timer lock: nothing else can reach the timer before it fires */
	timer_add_locked(&s->t, s->when);
	return true;
}

GORT_API void gort_sleep(int64_t ns)
{
	struct gort_m *m;
	struct sleeper s;

	if (ns <= 0)
		return;
	m = gort_rt_enter();
	if (!m || !m->curg) {
		/* a foreign thread: block the thread itself */
		struct timespec ts = { ns / 1000000000, ns % 1000000000 };

		gort_rt_exit();
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		return;
	}
	gort_timer_rt_init(&s.t, sleep_fire, m->curg);
	s.t.sleep = true;
	s.when = gort_nanotime_internal() + ns;
	gort_gopark(sleep_commit, &s, WR_SLEEP);
	/* only the timer readies a sleeper: it has fired, and let go of s */
	gort_rt_exit();
}

/* ---- public timers ---- */

struct gort_timer {
	struct gort_timer_rt rt;	/* the runtime timer */
	struct gort_chan *c;		/* time channel, NULL for AfterFunc */
	void (*fn)(void *);		/* AfterFunc's function */
	void *arg;
};

static void send_time(void *arg, int64_t now)
{
	struct gort_timer *t = arg;

	/* never blocks: a tick nobody took is dropped, as in Go */
	gort_chan_try_send(t->c, &now);
}

static void go_func(void *arg, int64_t now)
{
	struct gort_timer *t = arg;

	if (gort_go(t->fn, t->arg))
		gort_fatal("runtime: cannot start the goroutine of a gort_after_func timer");
}

static struct gort_timer *timer_make(int64_t ns, int64_t period,
				     void (*f)(void *, int64_t), bool chan,
				     void (*fn)(void *), void *arg)
{
	struct gort_timer *t;

	if (!atomic_load(&sched.running)) {
		errno = ESRCH;
		return NULL;
	}
	t = gc_malloc(sizeof(*t), false);
	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	if (chan) {
		t->c = gort_chan_make(sizeof(int64_t), 1);
		if (!t->c)
			return NULL;
	}
	t->fn = fn;
	t->arg = arg;
	gort_timer_rt_init(&t->rt, f, t);
	t->rt.period = period;
	if (ns < 0)
		ns = 0;
	gort_timer_rt_start(&t->rt, gort_nanotime_internal() + ns);
	return t;
}

GORT_API struct gort_timer *gort_timer_new(int64_t ns)
{
	return timer_make(ns, 0, send_time, true, NULL, NULL);
}

GORT_API struct gort_chan *gort_after(int64_t ns)
{
	struct gort_timer *t = gort_timer_new(ns);

	return t ? t->c : NULL;
}

GORT_API struct gort_timer *gort_after_func(int64_t ns, void (*fn)(void *),
					    void *arg)
{
	if (!fn) {
		errno = EINVAL;
		return NULL;
	}
	return timer_make(ns, 0, go_func, false, fn, arg);
}

GORT_API struct gort_timer *gort_ticker_new(int64_t period_ns)
{
	if (period_ns <= 0)
		gort_panic("non-positive interval for gort_ticker_new");
	return timer_make(period_ns, period_ns, send_time, true, NULL, NULL);
}

GORT_API struct gort_chan *gort_timer_chan(struct gort_timer *t)
{
	return t ? t->c : NULL;
}

/* Take out a value the timer sent that nobody received; true if any. */
static bool drain(struct gort_timer *t)
{
	bool any = false;

	if (t->c)
		while (gort_chan_try_recv(t->c, NULL) == 1)
			any = true;
	return any;
}

GORT_API bool gort_timer_stop(struct gort_timer *t)
{
	bool was;

	if (!t)
		return false;
	was = gort_timer_rt_stop(&t->rt);
	/* Go 1.23: a fired timer whose value was not received is stopped */
	return drain(t) || was;
}

GORT_API bool gort_timer_reset(struct gort_timer *t, int64_t ns)
{
	bool was = gort_timer_stop(t);

	if (t)
		gort_timer_rt_start(&t->rt,
				    gort_nanotime_internal() + (ns < 0 ? 0 : ns));
	return was;
}
