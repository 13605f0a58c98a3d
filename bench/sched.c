// SPDX-License-Identifier: MIT
/*
 * sched.c - scheduler workloads: spawn and ctxswitch.
 *
 * spawn measures what a goroutine costs from creation to exit when nothing
 * else is going on: a WaitGroup is set to N once, N goroutines whose whole
 * body is gort_wg_done() are started from the main goroutine, then the main
 * goroutine waits.  The timer runs from just before gort_wg_add() to the
 * return of gort_wg_wait(), exactly the Go peer's section, so stack
 * allocation, G set-up, queueing, the first switch into each goroutine,
 * its exit and the recycling of its stack are all inside, and the result is
 * elapsed_ns / N.  At procs=1 the main goroutine does not block while it
 * spawns, so how many goroutines exist at once (and so how much memory a
 * burst of creations touches) is the runtime's choice; that is why the line
 * also carries the process's peak RSS (VmHWM) as maxrss_kb, after the
 * primary metric and the Go line's keys.  Check: gort_go() succeeds every
 * time and the WaitGroup drains (a goroutine that never runs hangs the
 * program, which compare.sh's time limit turns into a failed run).
 *
 * ctxswitch measures a bare goroutine switch the way the Boost fcontext
 * row measures a bare register switch: two goroutines on one P hand the P
 * to each other with gort_yield(), nothing else runnable.  One round trip
 * is the main goroutine yielding, the peer goroutine running and yielding
 * back: two switches, each through the scheduler (put the yielder on the
 * run queue, pick the next G, switch stacks), which is the overhead gort
 * adds over fcontext.  As in the Boost peer, the peer goroutine has a 64 KiB
 * stack and one untimed first entry (the peer's start) precedes the timed
 * loop of n round trips; the result is elapsed_ns / n.  The pairing only
 * means something on a single P (with two Ps each goroutine would find its
 * own P idle and yield would return without switching), so with more Ps the
 * workload lowers GOMAXPROCS to 1 for its run, restores it afterwards and
 * reports procs=1, the value it ran with.  Check: the peer has run exactly
 * n + 1 times when the loop ends, i.e. every yield of the main goroutine
 * switched to the peer and every yield of the peer switched straight back.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <gort.h>

#include "bench.h"

/* ---------------------------------------------------------------- spawn */

static void spawn_body(void *arg)
{
	gort_wg_done(arg);
}

int bench_spawn(const struct bench_args *a)
{
	long n = a->n > 0 ? a->n : 1000000;
	struct gort_waitgroup wg = { 0 };
	int64_t t0, elapsed;
	long i;
	int err;

	t0 = bench_now();
	gort_wg_add(&wg, n);
	for (i = 0; i < n; i++) {
		err = gort_go(spawn_body, &wg);
		if (err) {
			/* let the ones that did start finish first */
			gort_wg_add(&wg, -(n - i));
			gort_wg_wait(&wg);
			return bench_fail("spawn", "gort_go #%ld of %ld: %s",
					  i, n, strerror(-err));
		}
	}
	gort_wg_wait(&wg);
	elapsed = bench_now() - t0;

	printf("spawn ns_per_op=%.1f n=%ld procs=%d maxrss_kb=%ld\n",
	       bench_ns_per(elapsed, n), n, bench_procs(),
	       bench_status_kb("VmHWM"));
	return 0;
}

/* ------------------------------------------------------------ ctxswitch */

struct ctx_pair {
	long resumed;		/* times the peer has run (peer writes) */
	int stop;		/* set by main: the peer returns */
	struct gort_waitgroup done;	/* the peer has returned */
};

/*
 * The peer: count the resumption, hand the P back.  Relaxed atomics cost
 * nothing over plain accesses here and keep the two goroutines race-free
 * even if the runtime ever moves them to different threads.
 */
static void ctx_peer(void *arg)
{
	struct ctx_pair *p = arg;

	long r;

	while (!__atomic_load_n(&p->stop, __ATOMIC_RELAXED)) {
		r = __atomic_load_n(&p->resumed, __ATOMIC_RELAXED);
		__atomic_store_n(&p->resumed, r + 1, __ATOMIC_RELAXED);
		gort_yield();
	}
	gort_wg_done(&p->done);
}

int bench_ctxswitch(const struct bench_args *a)
{
	long n = a->n > 0 ? a->n : 10000000;
	struct gort_go_opts opts = {
		.stack_size = 64 * 1024,
		.name = "ctxswitch peer",
	};
	struct ctx_pair p = { 0 };
	int64_t t0, elapsed;
	int prev_procs, procs, err;
	long i, resumed;

	prev_procs = bench_procs();
	if (prev_procs != 1) {
		fprintf(stderr, "gort-bench: ctxswitch runs on one P: "
			"GOMAXPROCS %d -> 1 for the measurement\n",
			prev_procs);
		gort_gomaxprocs(1);
	}
	procs = bench_procs();
	if (procs != 1)
		return bench_fail("ctxswitch",
				  "gort_gomaxprocs(1) left %d Ps", procs);

	gort_wg_add(&p.done, 1);
	err = gort_go_opts(ctx_peer, &p, &opts);
	if (err)
		return bench_fail("ctxswitch", "gort_go_opts: %s",
				  strerror(-err));
	gort_yield();		/* first entry: the peer starts */

	t0 = bench_now();
	for (i = 0; i < n; i++)
		gort_yield();
	elapsed = bench_now() - t0;

	resumed = __atomic_load_n(&p.resumed, __ATOMIC_RELAXED);
	__atomic_store_n(&p.stop, 1, __ATOMIC_RELAXED);
	gort_wg_wait(&p.done);
	if (prev_procs != 1)
		gort_gomaxprocs(prev_procs);
	/*
	 * Strict alternation gives n + 1.  If the OS deschedules one thread
	 * for over 10 ms, sysmon rightly hands the P to another thread and
	 * the two goroutines run side by side for a while, so the count may
	 * drift; a peer that ran far more or far less than the round trips
	 * means yield does not switch.
	 */
	if (resumed < n / 2 || resumed > 2 * n + 1)
		return bench_fail("ctxswitch", "the peer ran %ld times in "
				  "%ld round trips plus the first entry, "
				  "want about %ld", resumed, n, n + 1);

	printf("ctxswitch ns_per_roundtrip=%.2f n=%ld procs=%d\n",
	       bench_ns_per(elapsed, n), n, procs);
	return 0;
}
