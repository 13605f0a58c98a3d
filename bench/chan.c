// SPDX-License-Identifier: MIT
/*
 * chan.c - channel, select, mutex, timer and idle-memory workloads.
 *
 * Each function below is one workload of ../shared/bench/WORKLOADS.md,
 * written after the Go peer's function of the same name
 * (../shared/bench/peers/go/main.go) so that both sides do the same work
 * in the same order: same goroutine counts, same channel capacities, same
 * values sent, same -n meaning (pingpong, select: round trips / selects;
 * ring: hops; chanmpmc: items; mutex: iterations per goroutine; timers:
 * goroutines; idle: goroutines), same result line.
 *
 * Go's "chan int" is a channel of int64_t here (Go's int is 64 bits on
 * x86-64), so the sums checked are the same numbers.
 *
 * Timing: bench_now() (CLOCK_MONOTONIC) is read around exactly the section
 * WORKLOADS.md times.  Channels and their goroutines' argument blocks are
 * made before the timer starts; pingpong, ring and select start their
 * helper goroutines before it too, as the peer does (whether the helpers
 * have already run up to their first block is left to the scheduler, as in
 * Go).  chanmpmc, mutex, timers and idle time the spawning as well.
 *
 * Checks: the peer's (pingpong's and chanmpmc's sums, the goroutine that
 * ends the ring, select's receives per channel, mutex's counter), and two
 * the peer lacks: timers wants every sleep done and none ended early, idle
 * wants all n goroutines still alive at the second VmRSS reading.  A result
 * line is printed only after the check has passed; otherwise bench_fail()
 * reports on stderr and the program exits non-zero.  A runtime call that
 * fails (gort_chan_make, gort_go) is a failed run too.  Goroutines still
 * blocked when a workload returns (the ring members that did not end the
 * ring, idle's million) are left to gort_main(), which releases them;
 * nothing of ours is touched by them after the point where we free it.
 *
 * Rejected alternative: one generic "spawn N goroutines running f" helper
 * shared by every workload.  It would put an indirect call and an extra
 * argument block between the workloads and the runtime that the Go peer
 * does not have, and the spawn loops are a few lines each.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gort.h>

#include "bench.h"

#define NS_PER_MS 1000000L

/* Make an unbuffered or buffered channel of int64_t; NULL after a report. */
static struct gort_chan *chan_int(const char *w, size_t cap)
{
	struct gort_chan *c = gort_chan_make(sizeof(int64_t), cap);

	if (!c)
		bench_fail(w, "gort_chan_make(cap %zu): %s", cap,
			   strerror(errno));
	return c;
}

/* Start fn(arg); non-zero after a report. */
static int go(const char *w, void (*fn)(void *), void *arg)
{
	int err = gort_go(fn, arg);

	if (err)
		return bench_fail(w, "gort_go: %s", strerror(-err));
	return 0;
}

/* ------------------------------------------------------------- pingpong */

struct pingpong {
	struct gort_chan *ping, *pong;
};

/* for v := range ping { pong <- v } */
static void pingpong_echo(void *arg)
{
	struct pingpong *pp = arg;
	int64_t v;

	while (gort_chan_recv(pp->ping, &v))
		gort_chan_send(pp->pong, &v);
}

int bench_pingpong(const struct bench_args *a)
{
	long n = a->n > 0 ? a->n : 1000000;
	static struct pingpong pp;
	int64_t t0, elapsed, v, sum = 0;
	long i;

	pp.ping = chan_int("pingpong", 0);
	pp.pong = chan_int("pingpong", 0);
	if (!pp.ping || !pp.pong)
		return 1;
	if (go("pingpong", pingpong_echo, &pp))
		return 1;

	t0 = bench_now();
	for (i = 0; i < n; i++) {
		v = i;
		gort_chan_send(pp.ping, &v);
		gort_chan_recv(pp.pong, &v);
		sum += v;
	}
	elapsed = bench_now() - t0;
	gort_chan_close(pp.ping);

	if (sum != (int64_t)n * (n - 1) / 2)
		return bench_fail("pingpong", "sum %lld, want %lld",
				  (long long)sum,
				  (long long)n * (n - 1) / 2);
	printf("pingpong ns_per_roundtrip=%.1f n=%ld procs=%d\n",
	       bench_ns_per(elapsed, n), n, bench_procs());
	return 0;
}

/* ----------------------------------------------------------------- ring */

struct ring_member {
	struct gort_chan *in, *out, *done;
	int64_t id;
};

/* v := <-in; if v == 0 { done <- id; return }; out <- v - 1 */
static void ring_member(void *arg)
{
	struct ring_member *m = arg;
	int64_t v;

	for (;;) {
		gort_chan_recv(m->in, &v);
		if (!v) {
			gort_chan_send(m->done, &m->id);
			return;
		}
		v--;
		gort_chan_send(m->out, &v);
	}
}

int bench_ring(const struct bench_args *a)
{
	const long size = 1000;
	long hops = a->n > 0 ? a->n : 1000000;
	struct gort_chan **chans, *done;
	struct ring_member *m;
	int64_t t0, elapsed, v, last;
	long i;
	int rc = 1;

	chans = calloc(size, sizeof(*chans));
	m = calloc(size, sizeof(*m));
	if (!chans || !m) {
		bench_fail("ring", "out of memory");
		goto out;
	}
	for (i = 0; i < size; i++) {
		chans[i] = chan_int("ring", 0);
		if (!chans[i])
			goto out;
	}
	done = chan_int("ring", 0);
	if (!done)
		goto out;
	for (i = 0; i < size; i++) {
		m[i].in = chans[i];
		m[i].out = chans[(i + 1) % size];
		m[i].done = done;
		m[i].id = i;
		if (go("ring", ring_member, &m[i]))
			goto out;
	}

	t0 = bench_now();
	v = hops;
	gort_chan_send(chans[0], &v);
	gort_chan_recv(done, &last);
	elapsed = bench_now() - t0;

	if (last != hops % size) {
		bench_fail("ring", "token ended at goroutine %lld, want %ld",
			   (long long)last, hops % size);
		goto out;
	}
	printf("ring ns_per_hop=%.1f size=%ld hops=%ld procs=%d\n",
	       bench_ns_per(elapsed, hops), size, hops, bench_procs());
	rc = 0;
out:
	/*
	 * The members still alive are blocked in gort_chan_recv() on their
	 * own channel, which nobody sends on again: they never look at their
	 * argument block again.
	 */
	free(m);
	free(chans);
	return rc;
}

/* ------------------------------------------------------------- chanmpmc */

struct mpmc_producer {
	struct gort_chan *ch;
	struct gort_waitgroup *wg;
	int64_t base;
	long per;
};

/* One consumer's sum on its own cache line, as the peer's sums[i*8]. */
struct mpmc_consumer {
	struct gort_chan *ch;
	struct gort_waitgroup *wg;
	int64_t sum;
} __attribute__((aligned(64)));

static void mpmc_produce(void *arg)
{
	struct mpmc_producer *p = arg;
	int64_t v;
	long i;

	for (i = 0; i < p->per; i++) {
		v = p->base + i;
		gort_chan_send(p->ch, &v);
	}
	gort_wg_done(p->wg);
}

static void mpmc_consume(void *arg)
{
	struct mpmc_consumer *c = arg;
	int64_t v, s = 0;

	while (gort_chan_recv(c->ch, &v))
		s += v;
	c->sum = s;
	gort_wg_done(c->wg);
}

int bench_chanmpmc(const struct bench_args *a)
{
	enum { NP = 4, NC = 4, CAP = 1024 };
	long total = a->n > 0 ? a->n : 10000000;
	long per = total / NP;
	static struct mpmc_producer prod[NP];
	static struct mpmc_consumer cons[NC];
	struct gort_waitgroup pwg = { 0 }, cwg = { 0 };
	struct gort_chan *ch;
	int64_t t0, elapsed, s = 0, n;
	int i;

	ch = chan_int("chanmpmc", CAP);
	if (!ch)
		return 1;
	for (i = 0; i < NP; i++)
		prod[i] = (struct mpmc_producer){ ch, &pwg,
						  (int64_t)i * per, per };
	for (i = 0; i < NC; i++)
		cons[i] = (struct mpmc_consumer){ ch, &cwg, 0 };

	t0 = bench_now();
	gort_wg_add(&pwg, NP);
	for (i = 0; i < NP; i++)
		if (go("chanmpmc", mpmc_produce, &prod[i]))
			return 1;
	gort_wg_add(&cwg, NC);
	for (i = 0; i < NC; i++)
		if (go("chanmpmc", mpmc_consume, &cons[i]))
			return 1;
	gort_wg_wait(&pwg);
	gort_chan_close(ch);
	gort_wg_wait(&cwg);
	elapsed = bench_now() - t0;

	for (i = 0; i < NC; i++)
		s += cons[i].sum;
	n = (int64_t)per * NP;
	if (s != n * (n - 1) / 2)
		return bench_fail("chanmpmc", "sum %lld, want %lld",
				  (long long)s, (long long)(n * (n - 1) / 2));
	printf("chanmpmc ns_per_item=%.1f producers=%d consumers=%d cap=%d "
	       "items=%lld procs=%d\n", bench_ns_per(elapsed, n), NP, NC, CAP,
	       (long long)n, bench_procs());
	return 0;
}

/* --------------------------------------------------------------- select */

struct select_sender {
	struct gort_chan *ch;
	int64_t value;
	long count;
};

static void select_send(void *arg)
{
	struct select_sender *s = arg;
	long i;

	for (i = 0; i < s->count; i++)
		gort_chan_send(s->ch, &s->value);
}

int bench_select(const struct bench_args *a)
{
	long n = a->n > 0 ? a->n : 1000000;
	long half = n / 2;
	static struct select_sender sa, sb;
	struct gort_select_case cases[2];
	int64_t t0, elapsed, v, na = 0, nb = 0;
	long i, ra = 0, rb = 0;
	int k;

	sa = (struct select_sender){ chan_int("select", 0), 1, half };
	sb = (struct select_sender){ chan_int("select", 0), 2, n - half };
	if (!sa.ch || !sb.ch)
		return 1;
	if (go("select", select_send, &sa) || go("select", select_send, &sb))
		return 1;
	cases[0] = (struct gort_select_case){ sa.ch, GORT_RECV, &v, false };
	cases[1] = (struct gort_select_case){ sb.ch, GORT_RECV, &v, false };

	t0 = bench_now();
	for (i = 0; i < n; i++) {
		k = gort_select(cases, 2, -1);
		if (k == 0) {
			na += v;
			ra++;
		} else if (k == 1) {
			nb += v;
			rb++;
		} else {
			return bench_fail("select", "gort_select: %d", k);
		}
	}
	elapsed = bench_now() - t0;

	if (ra != half || rb != n - half || na != half ||
	    nb != 2 * (n - half))
		return bench_fail("select", "%ld receives (sum %lld) from a, "
				  "%ld (sum %lld) from b; want %ld and %ld",
				  ra, (long long)na, rb, (long long)nb,
				  half, n - half);
	printf("select ns_per_op=%.1f n=%ld procs=%d\n",
	       bench_ns_per(elapsed, n), n, bench_procs());
	return 0;
}

/* ---------------------------------------------------------------- mutex */

struct mutex_shared {
	struct gort_mutex mu;
	long counter;		/* under mu */
	long iters;
	struct gort_waitgroup wg;
};

static void mutex_worker(void *arg)
{
	struct mutex_shared *m = arg;
	long j;

	for (j = 0; j < m->iters; j++) {
		gort_mutex_lock(&m->mu);
		m->counter++;
		gort_mutex_unlock(&m->mu);
	}
	gort_wg_done(&m->wg);
}

int bench_mutex(const struct bench_args *a)
{
	const long g = 1000;
	static struct mutex_shared m;
	int64_t t0, elapsed;
	long i;

	m.iters = a->n > 0 ? a->n : 1000;

	t0 = bench_now();
	gort_wg_add(&m.wg, g);
	for (i = 0; i < g; i++) {
		if (go("mutex", mutex_worker, &m)) {
			gort_wg_add(&m.wg, -(g - i));
			gort_wg_wait(&m.wg);
			return 1;
		}
	}
	gort_wg_wait(&m.wg);
	elapsed = bench_now() - t0;

	/* wg_wait orders every worker's last unlock before this read */
	if (m.counter != g * m.iters)
		return bench_fail("mutex", "counter %ld, want %ld",
				  m.counter, g * m.iters);
	printf("mutex ns_per_op=%.1f goroutines=%ld iters=%ld procs=%d\n",
	       bench_ns_per(elapsed, g * m.iters), g, m.iters, bench_procs());
	return 0;
}

/* --------------------------------------------------------------- timers */

struct timers_shared {
	int64_t total_over;	/* atomic: sum of every overshoot, ns */
	int64_t max_over;	/* atomic: largest single overshoot, ns */
	long slept;		/* atomic: sleeps completed */
	long early;		/* atomic: sleeps that ended too soon */
	long sleeps;
	int64_t dur;
	struct gort_waitgroup wg;
};

static void timers_worker(void *arg)
{
	struct timers_shared *t = arg;
	int64_t s, o, over = 0, mx = 0, cur;
	long j, early = 0;

	for (j = 0; j < t->sleeps; j++) {
		s = bench_now();
		gort_sleep(t->dur);
		o = bench_now() - s - t->dur;
		over += o;
		if (o < 0)
			early++;
		if (o > mx)
			mx = o;
	}
	__atomic_fetch_add(&t->total_over, over, __ATOMIC_RELAXED);
	__atomic_fetch_add(&t->slept, j, __ATOMIC_RELAXED);
	__atomic_fetch_add(&t->early, early, __ATOMIC_RELAXED);
	cur = __atomic_load_n(&t->max_over, __ATOMIC_RELAXED);
	while (mx > cur &&
	       !__atomic_compare_exchange_n(&t->max_over, &cur, mx, true,
					    __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
	gort_wg_done(&t->wg);
}

int bench_timers(const struct bench_args *a)
{
	long g = a->n > 0 ? a->n : 100000;
	static struct timers_shared t;
	int64_t t0, elapsed, total, mx;
	long i, n;

	t.sleeps = 10;
	t.dur = NS_PER_MS;

	t0 = bench_now();
	gort_wg_add(&t.wg, g);
	for (i = 0; i < g; i++) {
		if (go("timers", timers_worker, &t)) {
			gort_wg_add(&t.wg, -(g - i));
			gort_wg_wait(&t.wg);
			return 1;
		}
	}
	gort_wg_wait(&t.wg);
	elapsed = bench_now() - t0;

	n = g * t.sleeps;
	total = __atomic_load_n(&t.total_over, __ATOMIC_RELAXED);
	mx = __atomic_load_n(&t.max_over, __ATOMIC_RELAXED);
	/* every sleep ran, and none ended before its duration */
	if (t.slept != n || t.early)
		return bench_fail("timers", "%ld sleeps done, want %ld; %ld "
				  "ended early", t.slept, n, t.early);
	printf("timers wall_ms=%.1f ideal_ms=%.1f goroutines=%ld sleeps=%ld "
	       "procs=%d\n", (double)elapsed / 1e6,
	       (double)t.sleeps * (double)t.dur / 1e6, g, t.sleeps,
	       bench_procs());
	printf("timers_overshoot mean_us=%.1f total_ms=%.1f max_us=%.1f\n",
	       (double)total / (double)n / 1e3, (double)total / 1e6,
	       (double)mx / 1e3);
	return 0;
}

/* ----------------------------------------------------------------- idle */

struct idle_shared {
	struct gort_chan *block;	/* never written, never closed */
	struct gort_waitgroup wg;
};

static void idle_worker(void *arg)
{
	struct idle_shared *s = arg;

	gort_wg_done(&s->wg);
	gort_chan_recv(s->block, NULL);
}

int bench_idle(const struct bench_args *a)
{
	long n = a->n > 0 ? a->n : 1000000;
	static struct idle_shared s;
	int64_t t0, elapsed;
	long before, after, i;

	s.block = chan_int("idle", 0);
	if (!s.block)
		return 1;
	/*
	 * The peer calls runtime.GC() first so that "before" holds no
	 * garbage; gort has no collector yet and nothing has been allocated
	 * that one could free, so there is nothing to call.
	 */
	before = bench_status_kb("VmRSS");
	if (before < 0)
		return bench_fail("idle", "no VmRSS in /proc/self/status");

	t0 = bench_now();
	gort_wg_add(&s.wg, n);
	for (i = 0; i < n; i++) {
		if (go("idle", idle_worker, &s)) {
			gort_wg_add(&s.wg, -(n - i));
			return 1;
		}
	}
	gort_wg_wait(&s.wg);
	elapsed = bench_now() - t0;
	gort_sleep(100 * NS_PER_MS);	/* let the last goroutines park */
	after = bench_status_kb("VmRSS");
	if (after < 0)
		return bench_fail("idle", "no VmRSS in /proc/self/status");

	/* all n still exist: the main goroutine plus the blocked ones */
	i = gort_num_goroutine();
	if (i < n + 1)
		return bench_fail("idle", "%ld goroutines alive, want at "
				  "least %ld", i, n + 1);
	printf("idle bytes_per_goroutine=%.0f n=%ld rss_before_kb=%ld "
	       "rss_after_kb=%ld spawn_ns_per_op=%.1f procs=%d\n",
	       (double)(after - before) * 1024 / (double)n, n, before, after,
	       bench_ns_per(elapsed, n), bench_procs());
	return 0;
}
