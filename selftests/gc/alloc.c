// SPDX-License-Identifier: GPL-2.0
/*
 * alloc.c - the allocator under the collector: what gort_alloc promises,
 * and what sweeping and scavenging do to the heap (through gc.h, the
 * internal contract, with no collector running).
 *
 *  - every size class and large sizes up to several MiB: zeroed, aligned
 *    to 16 bytes (8 for 8-byte objects), also when memory is reused;
 *  - objects never overlap: goroutines on 1, 2 and 8 Ps (and on 1 to 3
 *    while gomaxprocs changes under them) fill their objects with their
 *    own patterns, every pattern is intact at the end and no two objects
 *    share a byte;
 *  - plain pthreads with no runtime running allocate concurrently;
 *  - gort_alloc(0) is one non-NULL address outside the heap; sizes the
 *    heap cannot hold are NULL with errno ENOMEM, from goroutines and
 *    plain threads;
 *  - sweep: objects marked by hand keep their contents, unmarked slots
 *    are handed out again zeroed, empty spans go back to the heap
 *    (heap_inuse drops to zero), memstats' mallocs and frees add up;
 *  - the scavenger gives free pages back (heap_released grows, the pages
 *    leave RSS per mincore) and released pages come back zeroed, also in
 *    a span that mixes released and reused pages;
 *  - lib/gc/sizeclasses.h is what scripts/mksizeclasses generates, and
 *    its classes are the smallest that fit each size.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gc/gc.h" /* before the harness: both define ARRAY_SIZE */
#undef ARRAY_SIZE
#include "kselftest_harness.h"
#include "gort_test.h"

GT_PROCS_FIXTURE(alloc)

static size_t align_of(size_t size)
{
	return size <= 8 ? 8 : 16;
}

static bool all_zero(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* The sizes worth trying: each class's size, one less, one more. */
static size_t *test_sizes(int *n)
{
	static const size_t large[] = { 32769,	 65536,		100000,
					1 << 20, (3 << 20) + 5, 8 << 20 };
	size_t *v = calloc(GC_NUM_CLASSES * 3 + ARRAY_SIZE(large), sizeof(*v));
	int c, k = 0;
	unsigned int i;

	for (c = 1; c < GC_NUM_CLASSES; c++) {
		v[k++] = gc_class_size[c] - 1;
		v[k++] = gc_class_size[c];
		if (gc_class_size[c] + 1 <= GC_MAX_SMALL)
			v[k++] = gc_class_size[c] + 1;
	}
	for (i = 0; i < ARRAY_SIZE(large); i++)
		v[k++] = large[i];
	*n = k;
	return v;
}

/* ---- zeroed and aligned ---- */

static void check_sizes(void)
{
	int n, i, round;
	size_t *sz = test_sizes(&n);

	for (round = 0; round < 3; round++) {
		for (i = 0; i < n; i++) {
			unsigned char *p = round % 2 ?
						   gort_alloc_noscan(sz[i]) :
						   gort_alloc(sz[i]);

			GT_CHECKF(p, "size %zu", sz[i]);
			if (!p)
				continue;
			GT_CHECKF((uintptr_t)p % align_of(sz[i]) == 0,
				  "size %zu at %p", sz[i], p);
			GT_CHECKF(gc_in_heap((uintptr_t)p) &&
					  gc_in_heap((uintptr_t)p + sz[i] - 1),
				  "size %zu at %p", sz[i], p);
			GT_CHECKF(all_zero(p, sz[i]), "size %zu", sz[i]);
			memset(p, 0xa5, sz[i]);
		}
	}
	free(sz);
}

static int sizes_main(void *arg)
{
	check_sizes();
	return 0;
}

TEST_F(alloc, sizes_zeroed_aligned)
{
	ASSERT_EQ(0, run_main(variant->procs, sizes_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- no overlap, many goroutines ---- */

#define NG 16

struct obj {
	unsigned char *p;
	size_t size;
};

struct worker {
	int id;
	int n;
	struct obj *objs;
	struct gort_waitgroup *wg;
};

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static unsigned char pattern(int id, int i, size_t off)
{
	return (unsigned char)(id * 31 + i * 7 + off);
}

static void worker_fn(void *arg)
{
	struct worker *w = arg;
	uint32_t seed = 0x9e3779b9u * (w->id + 1);
	int i;
	size_t off;

	for (i = 0; i < w->n; i++) {
		uint32_t r = xorshift(&seed);
		size_t size = r % 500 == 0 ? 32768 + r % 100000 :
			      r % 4 == 0   ? 1 + r % 4096 :
					     1 + r % 64;
		unsigned char *p =
			r & 1 ? gort_alloc(size) : gort_alloc_noscan(size);

		w->objs[i].p = p;
		w->objs[i].size = size;
		GT_CHECKF(p && all_zero(p, size), "size %zu", size);
		if (!p)
			continue;
		for (off = 0; off < size; off++)
			p[off] = pattern(w->id, i, off);
		if (i % 500 == 0)
			gort_yield();
	}
	for (i = 0; i < w->n; i++)
		for (off = 0; w->objs[i].p && off < w->objs[i].size; off++)
			if (w->objs[i].p[off] != pattern(w->id, i, off)) {
				GT_CHECKF(0, "goroutine %d object %d byte %zu",
					  w->id, i, off);
				break;
			}
	if (w->wg)
		gort_wg_done(w->wg);
}

static int cmp_obj(const void *a, const void *b)
{
	const struct obj *x = a, *y = b;

	return x->p < y->p ? -1 : x->p > y->p;
}

/* Sort every object by address: each must end before the next starts. */
static void check_disjoint(struct worker *w, int nw)
{
	int total = 0, i, j, k = 0;
	struct obj *all;

	for (i = 0; i < nw; i++)
		total += w[i].n;
	all = malloc(total * sizeof(*all));
	for (i = 0; i < nw; i++)
		for (j = 0; j < w[i].n; j++)
			if (w[i].objs[j].p)
				all[k++] = w[i].objs[j];
	qsort(all, k, sizeof(*all), cmp_obj);
	for (i = 1; i < k; i++)
		GT_CHECKF(all[i - 1].p + all[i - 1].size <= all[i].p,
			  "%p+%zu overlaps %p", all[i - 1].p, all[i - 1].size,
			  all[i].p);
	free(all);
}

/* Ps come and go under the workers: mcaches are made and flushed. */
static int resize_procs;

static void resize_fn(void *arg)
{
	int i;

	for (i = 0; i < 20; i++) {
		gort_gomaxprocs(i % 2 ? resize_procs : 1 + i % 3);
		gort_sleep(500000);
	}
	gort_gomaxprocs(resize_procs);
	gort_wg_done(arg);
}

static int overlap_main(void *arg)
{
	struct gort_waitgroup wg = { 0 };
	struct worker w[NG];
	int i, n = (int)gt_scaled(5000);

	resize_procs = gort_gomaxprocs(0);
	gort_wg_add(&wg, NG + 1);
	GT_CHECK(gort_go(resize_fn, &wg) == 0);
	for (i = 0; i < NG; i++) {
		w[i].id = i;
		w[i].n = n;
		w[i].objs = calloc(n, sizeof(struct obj));
		/* malloc'd memory is not scanned: the objects' only
		 * pointers are here, so the collector must see them */
		GT_CHECK(gort_gc_add_roots(w[i].objs,
					   n * sizeof(struct obj)) == 0);
		w[i].wg = &wg;
		GT_CHECK(gort_go(worker_fn, &w[i]) == 0);
	}
	gort_wg_wait(&wg);
	check_disjoint(w, NG);
	for (i = 0; i < NG; i++) {
		GT_CHECK(gort_gc_remove_roots(w[i].objs) == 0);
		free(w[i].objs);
	}
	return 0;
}

TEST_F(alloc, no_overlap)
{
	ASSERT_EQ(0, run_main(variant->procs, overlap_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- threads without a runtime ---- */

static void *thread_fn(void *arg)
{
	/* gort_yield outside gort_main just yields the thread */
	worker_fn(arg);
	return NULL;
}

TEST(plain_threads)
{
	struct worker w[4];
	pthread_t th[4];
	int i, n = (int)gt_scaled(5000);

	for (i = 0; i < 4; i++) {
		w[i].id = i;
		w[i].n = n;
		w[i].objs = calloc(n, sizeof(struct obj));
		w[i].wg = NULL;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, thread_fn, &w[i]));
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	check_disjoint(w, 4);
	check_sizes();
	ASSERT_EQ(0, gt_failures());
}

/* ---- zero and impossible sizes ---- */

static void check_edges(void)
{
	static const size_t huge[] = { SIZE_MAX, SIZE_MAX - 4096,
				       (size_t)1 << 62, (size_t)1 << 47 };
	void *z1 = gort_alloc(0), *z2 = gort_alloc_noscan(0);
	unsigned int i;

	GT_CHECK(z1 && z1 == z2);
	GT_CHECK(!gc_in_heap((uintptr_t)z1));
	for (i = 0; i < ARRAY_SIZE(huge); i++) {
		errno = 0;
		GT_CHECKF(!gort_alloc(huge[i]) && errno == ENOMEM, "%zu",
			  huge[i]);
		errno = 0;
		GT_CHECKF(!gort_alloc_noscan(huge[i]) && errno == ENOMEM, "%zu",
			  huge[i]);
	}
	/* and the heap still works */
	GT_CHECK(gort_alloc(100) != NULL);
}

static void edges_fn(void *arg)
{
	check_edges();
	gort_wg_done(arg);
}

static int edges_main(void *arg)
{
	struct gort_waitgroup wg = { 0 };
	int i;

	gort_wg_add(&wg, 4);
	for (i = 0; i < 4; i++)
		gort_go(edges_fn, &wg);
	gort_wg_wait(&wg);
	return 0;
}

TEST_F(alloc, zero_and_huge)
{
	check_edges();
	ASSERT_EQ(0, run_main(variant->procs, edges_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- sweep ---- */

/* Mark by hand what the collector would have: with the world stopped. */
static void mark(void **objs, int n, int every)
{
	int i;

	for (i = 0; i < n; i += every) {
		struct gc_span *s;
		uint32_t idx;

		GT_CHECK(gc_find_object((uintptr_t)objs[i] + 1, &s, &idx) ==
			 (uintptr_t)objs[i]);
		if (gc_find_object((uintptr_t)objs[i], &s, &idx))
			gc_mark_set(s, idx);
	}
}

/* One more object for the next cycle to mark. */
static void *mark_also;

/* A cycle without a collector: stop, mark, prepare, start, sweep. */
static void cycle(void **objs, int n, int every)
{
	gort_rt_enter();
	gort_stop_the_world(GORT_STW_UNKNOWN);
	if (objs)
		mark(objs, n, every);
	if (mark_also)
		mark(&mark_also, 1, 1);
	mark_also = NULL;
	gc_sweep_prepare();
	gort_start_the_world();
	gort_rt_exit();
	gc_sweep_finish();
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

#define NSWEEP 3000
#define SWEEP_SIZE 48

static int sweep_main(void *arg)
{
	static void *objs[NSWEEP], *freed[NSWEEP], *kept[NSWEEP], *big[3];
	struct gort_memstats ms0, ms1, ms2;
	int i, nfreed = 0, nkept = 0, reused = 0;
	uint64_t c = gc_size_to_class(SWEEP_SIZE);

	/* this case marks and sweeps by hand: no collection may run */
	gort_gc();
	gort_gc_percent(-1);
	gort_read_memstats(&ms0);
	for (i = 0; i < NSWEEP; i++) {
		objs[i] = i % 3 ? gort_alloc(SWEEP_SIZE) :
				  gort_alloc_noscan(SWEEP_SIZE);
		memset(objs[i], i & 0xff, SWEEP_SIZE);
	}
	for (i = 0; i < 3; i++)
		big[i] = gort_alloc(1 << 20);
	memset(big[0], 0x3c, 1 << 20);
	mark_also = big[0]; /* the first is kept */
	gort_read_memstats(&ms1);
	GT_CHECK(ms1.mallocs - ms0.mallocs == NSWEEP + 3);
	GT_CHECK(ms1.by_size[c].mallocs - ms0.by_size[c].mallocs == NSWEEP);
	GT_CHECK(ms1.heap_objects == ms1.mallocs - ms1.frees);
	GT_CHECK(ms1.heap_alloc >= NSWEEP * SWEEP_SIZE + (3u << 20));
	GT_CHECK(ms1.heap_inuse >= ms1.heap_alloc);

	/* keep every other small object and the first large one */
	cycle(objs, NSWEEP, 2);
	gort_read_memstats(&ms2);
	GT_CHECKF(ms2.frees - ms1.frees == NSWEEP / 2 + 2, "%llu",
		  (unsigned long long)(ms2.frees - ms1.frees));
	GT_CHECK(ms2.by_size[c].frees - ms1.by_size[c].frees == NSWEEP / 2);
	GT_CHECK(ms2.heap_objects == ms2.mallocs - ms2.frees);
	GT_CHECK(ms2.heap_inuse <= ms1.heap_inuse - (2u << 20));
	for (i = 0; i < NSWEEP; i++) {
		if (i % 2) {
			freed[nfreed++] = objs[i];
			continue;
		}
		kept[nkept++] = objs[i];
		GT_CHECKF(((unsigned char *)objs[i])[0] == (i & 0xff) &&
				  ((unsigned char *)objs[i])[SWEEP_SIZE - 1] ==
					  (i & 0xff),
			  "kept object %d lost its contents", i);
	}
	/*
	 * The freed slots come back, zeroed, never a kept one: all of them
	 * but the never-used tail of the one span per span class that was
	 * being allocated from when the cycle came.
	 */
	qsort(freed, nfreed, sizeof(*freed), cmp_ptr);
	qsort(kept, nkept, sizeof(*kept), cmp_ptr);
	for (i = 1; i < NSWEEP; i += 2) {
		unsigned char *p = i % 3 ? gort_alloc(SWEEP_SIZE) :
					   gort_alloc_noscan(SWEEP_SIZE);

		GT_CHECKF(!bsearch(&p, kept, nkept, sizeof(*kept), cmp_ptr),
			  "object %d: %p is a kept object", i, p);
		reused += !!bsearch(&p, freed, nfreed, sizeof(*freed), cmp_ptr);
		GT_CHECK(all_zero(p, SWEEP_SIZE));
		objs[i] = p;
	}
	GT_CHECKF(reused >= nfreed - 2 * (8192 / SWEEP_SIZE), "%d of %d",
		  reused, nfreed);
	GT_CHECK(((unsigned char *)big[0])[12345] == 0x3c);
	check_sizes(); /* reused slots are zeroed */

	/* nothing marked: everything goes, every span back to the heap */
	cycle(NULL, 0, 1);
	cycle(NULL, 0, 1);
	gort_read_memstats(&ms2);
	GT_CHECK(ms2.mallocs == ms2.frees);
	GT_CHECK(ms2.heap_objects == 0 && ms2.heap_alloc == 0);
	GT_CHECKF(ms2.heap_inuse == 0, "%llu",
		  (unsigned long long)ms2.heap_inuse);
	GT_CHECK(ms2.heap_idle == ms2.heap_sys);
	check_sizes(); /* reused pages are zeroed again */
	return 0;
}

TEST_F(alloc, sweep)
{
	ASSERT_EQ(0, run_main(variant->procs, sweep_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- scavenger ---- */

/* Pages of [p, p + len) in memory (mincore). */
static size_t resident(void *p, size_t len)
{
	size_t pg = sysconf(_SC_PAGESIZE), n = (len + pg - 1) / pg, i, r = 0;
	unsigned char *v = malloc(n);

	if (mincore(p, len, v)) {
		free(v);
		return (size_t)-1;
	}
	for (i = 0; i < n; i++)
		r += v[i] & 1;
	free(v);
	return r * pg;
}

#define NBIG 32
#define BIG (1u << 20)

static int scavenge_main(void *arg)
{
	static unsigned char *big[NBIG];
	struct gort_memstats ms0, ms1;
	uint64_t got;
	size_t res = 0;
	int i;

	for (i = 0; i < NBIG; i++) {
		big[i] = gort_alloc_noscan(BIG);
		memset(big[i], 0x5a, BIG);
	}
	cycle(NULL, 0, 1); /* all free, all still resident */
	for (i = 0; i < NBIG; i++)
		res += resident(big[i], BIG);
	GT_CHECKF(res >= NBIG * BIG / 2, "%zu", res);
	gort_read_memstats(&ms0);
	got = gc_scavenge(UINT64_MAX);
	gort_read_memstats(&ms1);
	GT_CHECKF(got >= NBIG * BIG, "released %llu", (unsigned long long)got);
	GT_CHECK(ms1.heap_released >= ms0.heap_released + NBIG * BIG);
	GT_CHECK(ms1.heap_released <= ms1.heap_sys);
	res = 0;
	for (i = 0; i < NBIG; i++)
		res += resident(big[i], BIG);
	GT_CHECKF(res <= NBIG * BIG / 8, "%zu bytes still resident", res);
	GT_CHECK(gc_scavenge(UINT64_MAX) == 0); /* nothing left to give */

	/* released pages come back zero, on their own ... */
	for (i = 0; i < NBIG; i++) {
		big[i] = gort_alloc_noscan(BIG);
		GT_CHECK(all_zero(big[i], BIG));
		memset(big[i], 0x77, BIG);
	}
	/* ... and next to dirty ones in one span */
	cycle(NULL, 0, 1);
	GT_CHECK(gc_scavenge(NBIG / 2 * BIG) >= NBIG / 2 * BIG);
	for (i = 0; i < NBIG / 4; i++) {
		unsigned char *p = gort_alloc(4 * BIG);

		GT_CHECK(all_zero(p, 4 * BIG));
	}
	return 0;
}

TEST(scavenge)
{
	ASSERT_EQ(0, run_main(1, scavenge_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- the size-class table ---- */

TEST(sizeclasses)
{
	char cmd[4096], path[] = "/tmp/gort-sizeclasses-XXXXXX";
	size_t s;
	int fd = mkstemp(path), c;

	ASSERT_LE(0, fd);
	close(fd);
	/* the smallest class that fits, within the promised alignment */
	for (s = 1; s <= (size_t)GC_MAX_SMALL; s++) {
		c = gc_size_to_class(s);
		ASSERT_LT(0, c);
		ASSERT_LE(s, (size_t)gc_class_size[c]);
		ASSERT_TRUE(c == 1 || gc_class_size[c - 1] < s);
		ASSERT_EQ(0UL, gc_class_size[c] % align_of(gc_class_size[c]));
	}
	ASSERT_EQ(0, (int)gc_size_to_class(GC_MAX_SMALL + 1));
	if (system("command -v ${HOSTCC:-cc} >/dev/null 2>&1")) {
		unlink(path);
		SKIP(return, "no C compiler to run scripts/mksizeclasses");
	}
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && scripts/mksizeclasses '%s' && "
		 "cmp -s '%s' lib/gc/sizeclasses.h",
		 GORT_SRCDIR, path, path);
	EXPECT_EQ(0, system(cmd))
	TH_LOG("lib/gc/sizeclasses.h differs from what "
	       "scripts/mksizeclasses writes");
	unlink(path);
}

TEST_HARNESS_MAIN
