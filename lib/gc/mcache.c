// SPDX-License-Identifier: MIT
/*
 * mcache.c - per-P span caches (Go's runtime/mcache.go).
 *
 * Each P owns an mcache: one span per span class, allocated from without
 * a lock (malloc.c's fast path scans the span's alloccache, Go's
 * nextFreeFast).  When the span is full, refill hands it back to its
 * mcentral and takes another.  Threads without a P (plain pthreads, an M
 * between Ps) share one more mcache under gc_shared_lock.
 *
 * Sweep generations (gc.h): a span cached in this cycle has sweepgen
 * heap.sweepgen + 3.  If the collector advances heap.sweepgen while it is
 * cached, it reads heap.sweepgen + 1: stale, its objects unswept, and
 * whoever gives it back sweeps it.  heap_live counted a span's free slots
 * as allocated when it was cached (refill); giving a span back in the
 * same cycle takes its still-free slots off again, a stale one does not
 * (heap_live was recomputed by the mark since).
 *
 * gc_mcache_flush_all_stale (gc_sweep_prepare, world stopped) empties
 * every mcache onto the unswept lists instead of sweeping in the pause.
 *
 * mcaches come from the metadata allocator and are never unmapped: a
 * destroyed one keeps its counters (memstats sums every mcache ever made)
 * and is reused by the next gc_mcache_create.
 *
 * Lock order: gc_shared_lock is the outermost allocator lock.
 *
 * Rejected: per-thread caches (tcmalloc's legacy front end: an M without
 * a P would hold a cache for nothing, and Ms outnumber Ps) and per-CPU
 * caches with rseq (the P already is the CPU token here, for free).
 */
#include "gc/malloc.h"

/* Never allocated from: alloccache 0 sends the fast path to refill. */
struct gc_span gc_emptyspan;

struct gc_mcache *_Atomic gc_mcache_all;
static struct gc_mcache *mcache_free; /* heap.lock */

struct gort_lock gc_shared_lock;
struct gc_mcache *gc_shared_cache;

struct gc_mcache *gc_mcache_create(void)
{
	struct gc_mcache *c;
	bool fresh = false;
	int i;

	gort_lock(&gc_heap.lock);
	c = mcache_free;
	if (c) {
		mcache_free = c->freenext;
	} else {
		c = gc_meta_alloc(sizeof(*c));
		fresh = true;
	}
	gort_unlock(&gc_heap.lock);
	if (!c)
		return NULL;
	for (i = 0; i < GC_NUM_SPANCLASSES; i++)
		c->alloc[i] = &gc_emptyspan;
	c->freenext = NULL;
	c->live = true;
	if (fresh) {
		c->allnext = atomic_load(&gc_mcache_all);
		while (!atomic_compare_exchange_weak(&gc_mcache_all,
						     &c->allnext, c))
			;
	}
	return c;
}

void gc_mcache_destroy(struct gc_mcache *c)
{
	if (!c)
		return;
	gc_mcache_flush(c);
	c->live = false;
	gort_lock(&gc_heap.lock);
	c->freenext = mcache_free;
	mcache_free = c;
	gort_unlock(&gc_heap.lock);
}

/* Go's mcache.releaseAll for one span. */
static void uncache(struct gc_span *s)
{
	uint32_t sg = atomic_load(&gc_heap.sweepgen);

	if (atomic_load(&s->sweepgen) == sg + 1) {
		/* cached before this cycle's sweep began: ours to sweep */
		atomic_store(&s->sweepgen, sg - 1);
		gc_sweep_enter();
		gc_sweep_span(s, false);
		gc_sweep_exit();
		return;
	}
	atomic_fetch_sub(&gc_heap.heap_live,
			 (uint64_t)(s->nelems - s->alloccount) * s->elemsize);
	atomic_store(&s->sweepgen, sg);
	gc_mcentral_uncache_span(&gc_central[s->spanclass], s);
}

void gc_mcache_flush(struct gc_mcache *c)
{
	int i;

	if (!c)
		return;
	for (i = 0; i < GC_NUM_SPANCLASSES; i++) {
		struct gc_span *s = c->alloc[i];

		c->alloc[i] = &gc_emptyspan;
		if (s != &gc_emptyspan)
			uncache(s);
	}
}

struct gc_span *gc_mcache_refill(struct gc_mcache *c, uint8_t spc,
				 uint64_t *live)
{
	struct gc_span *s = c->alloc[spc];
	uint64_t n;

	c->alloc[spc] = &gc_emptyspan;
	if (s != &gc_emptyspan) {
		if (atomic_load(&s->sweepgen) !=
			    atomic_load(&gc_heap.sweepgen) + 3 &&
		    atomic_load(&s->sweepgen) !=
			    atomic_load(&gc_heap.sweepgen) + 1)
			gort_throw("gc: bad sweepgen in refill");
		uncache(s);
	}
	s = gc_mcentral_cache_span(&gc_central[spc]);
	if (!s)
		return NULL;
	/* count the free slots as allocated now: no atomics per object */
	n = (uint64_t)(s->nelems - s->alloccount) * s->elemsize;
	atomic_fetch_add(&gc_heap.heap_live, n);
	*live += n;
	atomic_store(&s->sweepgen, atomic_load(&gc_heap.sweepgen) + 3);
	c->alloc[spc] = s;
	return s;
}

void gc_mcache_flush_all_stale(void)
{
	uint32_t sg = atomic_load(&gc_heap.sweepgen);
	struct gc_mcache *c;
	int i;

	for (c = atomic_load(&gc_mcache_all); c; c = c->allnext) {
		for (i = 0; i < GC_NUM_SPANCLASSES; i++) {
			struct gc_span *s = c->alloc[i];

			if (s == &gc_emptyspan)
				continue;
			c->alloc[i] = &gc_emptyspan;
			atomic_store(&s->sweepgen, sg - 2);
			gc_mcentral_push_unswept(s);
		}
	}
}

uint64_t gc_mcache_take_black_bytes(void)
{
	struct gc_mcache *c;
	uint64_t sum = 0;

	/* the Ps are stopped; threads without one use the shared cache */
	gort_lock(&gc_shared_lock);
	for (c = atomic_load(&gc_mcache_all); c; c = c->allnext) {
		sum += READ_ONCE(c->black_bytes);
		WRITE_ONCE(c->black_bytes, 0);
	}
	gort_unlock(&gc_shared_lock);
	return sum;
}

uint32_t gc_span_next_free_index(struct gc_span *s)
{
	uint32_t fi = atomic_load_explicit(&s->freeindex, memory_order_relaxed);
	uint32_t n = s->nelems, bit, result;

	if (fi == n)
		return n;
	while (!s->alloccache) {
		/* on to the next 64 slots */
		fi = (fi + 64) & ~63u;
		if (fi >= n) {
			atomic_store_explicit(&s->freeindex, n,
					      memory_order_release);
			return n;
		}
		gc_span_refill_alloccache(s, fi / 8);
	}
	bit = (uint32_t)__builtin_ctzll(s->alloccache);
	result = fi + bit;
	if (result >= n) {
		atomic_store_explicit(&s->freeindex, n, memory_order_release);
		return n;
	}
	s->alloccache >>= bit;
	s->alloccache >>= 1;
	fi = result + 1;
	if (fi % 64 == 0 && fi != n)
		gc_span_refill_alloccache(s, fi / 8);
	atomic_store_explicit(&s->freeindex, fi, memory_order_release);
	return result;
}
