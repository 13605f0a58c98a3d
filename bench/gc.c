// SPDX-License-Identifier: MIT
/*
 * gc.c - the collector's workloads: binary-trees (WORKLOADS.md "GC:
 * binary-trees", the Benchmarks Game algorithm, single-threaded, every
 * node a 16-byte gort_alloc object) and GCBench (Ellis, Kovac, Boehm) as
 * a per-depth profile of top-down and bottom-up tree building.
 *
 * Output as the Go peer prints it: the check lines (unless -q), then
 *	gc wall_ms=<ms> maxrss_kb=<kB> depth=<D> procs=<P>
 *	gc_memstats num_gc= pause_total_ms= pause_max_ms= gc_cpu_fraction=
 * and for gcbench one "gcbench depth=<d> iters=<n> topdown_ms= bottomup_ms="
 * line per depth and a closing "gcbench wall_ms=<ms> ..." line.
 */
#include <stdio.h>
#include <string.h>

#include <gort.h>

#include "bench.h"

struct node {
	struct node *left, *right;
};

static struct node *bottom_up(int depth)
{
	struct node *n = gort_alloc(sizeof(*n));

	if (!n)
		return NULL;
	if (depth > 0) {
		n->left = bottom_up(depth - 1);
		n->right = bottom_up(depth - 1);
	}
	return n;
}

static long check(const struct node *n)
{
	return n->left ? 1 + check(n->left) + check(n->right) : 1;
}

/*
 * Build, check and drop a tree in a frame of its own: the collector is
 * conservative, and a dead root left in the caller's registers or stack
 * slots would keep the whole tree alive (the stretch tree is 128 MiB).
 */
static __attribute__((noinline)) long tree_check(int depth)
{
	struct node *t = bottom_up(depth);

	return t ? check(t) : -1;
}

static void memstats_line(const char *name)
{
	struct gort_memstats ms;
	uint64_t maxp = 0;
	uint32_t i, nrec;

	gort_read_memstats(&ms);
	nrec = ms.num_gc > 256 ? 256 : ms.num_gc;
	for (i = 0; i < nrec; i++)
		if (ms.pause_ns[i] > maxp)
			maxp = ms.pause_ns[i];
	printf("%s_memstats num_gc=%u pause_total_ms=%.3f pause_max_ms=%.3f gc_cpu_fraction=%.4f\n",
	       name, ms.num_gc, (double)ms.pause_total_ns / 1e6,
	       (double)maxp / 1e6, ms.gc_cpu_fraction);
}

int bench_gc(const struct bench_args *a)
{
	int max_depth = a->depth > 0 ? (int)a->depth : 21, d, min_depth = 4;
	struct node *volatile long_lived;
	int64_t t0, el;
	long chk, expect;

	if (max_depth < min_depth + 2)
		max_depth = min_depth + 2;
	t0 = bench_now();
	chk = tree_check(max_depth + 1);
	if (chk < 0)
		return bench_fail("gc", "out of memory");
	if (!a->quiet)
		printf("stretch tree of depth %d\t check: %ld\n", max_depth + 1,
		       chk);
	if (chk != (2L << (max_depth + 1)) - 1)
		return bench_fail("gc", "stretch tree check %ld", chk);
	long_lived = bottom_up(max_depth);
	for (d = min_depth; d <= max_depth; d += 2) {
		long iters = 1L << (max_depth - d + min_depth), i;

		chk = 0;
		for (i = 0; i < iters; i++) {
			long c = tree_check(d);

			if (c < 0)
				return bench_fail("gc", "out of memory");
			chk += c;
		}
		expect = iters * ((2L << d) - 1);
		if (chk != expect)
			return bench_fail("gc", "depth %d check %ld, want %ld",
					  d, chk, expect);
		if (!a->quiet)
			printf("%ld\t trees of depth %d\t check: %ld\n", iters,
			       d, chk);
	}
	chk = check(long_lived);
	if (chk != (2L << max_depth) - 1)
		return bench_fail("gc", "long-lived tree check %ld", chk);
	if (!a->quiet)
		printf("long lived tree of depth %d\t check: %ld\n", max_depth,
		       chk);
	el = bench_now() - t0;
	fflush(stdout);
	printf("gc wall_ms=%.1f maxrss_kb=%ld depth=%d procs=%d\n",
	       (double)el / 1e6, bench_status_kb("VmHWM"), max_depth,
	       bench_procs());
	memstats_line("gc");
	return 0;
}

/* ---- GCBench ---- */

#define STRETCH_DEPTH 18
#define LONG_LIVED_DEPTH 16
#define ARRAY_SIZE_D 500000
#define MIN_DEPTH 4
#define MAX_DEPTH 16

static long tree_size(int d)
{
	return (1L << (d + 1)) - 1;
}

static long num_iters(int d)
{
	return 2 * tree_size(STRETCH_DEPTH) / tree_size(d);
}

/* Build top-down, storing into older nodes (the write barrier's case). */
static int populate(int depth, struct node *n)
{
	if (depth-- <= 0)
		return 0;
	n->left = gort_alloc(sizeof(*n));
	n->right = gort_alloc(sizeof(*n));
	if (!n->left || !n->right)
		return -1;
	if (populate(depth, n->left) || populate(depth, n->right))
		return -1;
	return 0;
}

int bench_gcbench(const struct bench_args *a)
{
	struct node *volatile long_lived, *volatile tmp;
	double *volatile array;
	int64_t t0, t, td, bu;
	int d, i;
	long n;

	t0 = bench_now();
	tmp = bottom_up(STRETCH_DEPTH);
	if (!tmp || check(tmp) != tree_size(STRETCH_DEPTH))
		return bench_fail("gcbench", "stretch tree");
	tmp = NULL;
	long_lived = gort_alloc(sizeof(struct node));
	if (!long_lived || populate(LONG_LIVED_DEPTH, long_lived))
		return bench_fail("gcbench", "out of memory");
	array = gort_alloc_noscan(ARRAY_SIZE_D * sizeof(double));
	if (!array)
		return bench_fail("gcbench", "out of memory");
	for (i = 0; i < ARRAY_SIZE_D / 2; i++)
		array[i] = 1.0 / i;
	for (d = MIN_DEPTH; d <= MAX_DEPTH; d += 2) {
		n = num_iters(d);
		t = bench_now();
		for (i = 0; i < n; i++) {
			tmp = gort_alloc(sizeof(struct node));
			if (!tmp || populate(d, tmp))
				return bench_fail("gcbench", "out of memory");
			if (check(tmp) != tree_size(d))
				return bench_fail("gcbench", "top-down check");
		}
		td = bench_now() - t;
		t = bench_now();
		for (i = 0; i < n; i++) {
			tmp = bottom_up(d);
			if (!tmp || check(tmp) != tree_size(d))
				return bench_fail("gcbench", "bottom-up check");
		}
		bu = bench_now() - t;
		tmp = NULL;
		printf("gcbench depth=%d iters=%ld topdown_ms=%.1f bottomup_ms=%.1f\n",
		       d, n, (double)td / 1e6, (double)bu / 1e6);
	}
	if (check(long_lived) != tree_size(LONG_LIVED_DEPTH) ||
	    array[1000] != 1.0 / 1000)
		return bench_fail("gcbench", "long-lived data lost");
	printf("gcbench wall_ms=%.1f maxrss_kb=%ld procs=%d\n",
	       (double)(bench_now() - t0) / 1e6, bench_status_kb("VmHWM"),
	       bench_procs());
	memstats_line("gcbench");
	return 0;
}
