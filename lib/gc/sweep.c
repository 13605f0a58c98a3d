// SPDX-License-Identifier: MIT
/*
 * sweep.c - freeing what the mark did not reach (Go's runtime/mgcsweep.go).
 *
 * At mark termination, with the world stopped, gc_sweep_prepare advances
 * heap.sweepgen by 2: every span on an mcentral's swept lists now counts
 * as unswept (mcentral.c) and every span in an mcache as stale, and the
 * mcaches are emptied onto the unswept lists.  Nothing is swept in the
 * pause.  Afterwards spans are swept one at a time by whoever gets there
 * first:
 *  - an mcache refill sweeping spans of its own class (mcentral.c);
 *  - the heap, before it grows, sweeping any class until pages come free
 *    (proportional sweeping: allocation pays for the sweep it needs);
 *  - gc_bgsweep, the collector's background goroutine;
 *  - gc_sweep_finish, before the next cycle's mark may begin.
 * The sweeper walks the span classes' unswept lists with one shared
 * cursor; the lists only shrink after prepare, so a class the cursor has
 * passed is done for this cycle.
 *
 * Sweeping a span: finalizer records first (gc_specials_sweep looks at the
 * old bits), then the mark bits become the alloc bits, a zeroed bitmap
 * becomes the mark bits, freeindex goes back to 0 and a span that lost
 * objects is needzero.  An empty span goes back to the heap, others to
 * their mcentral's swept lists.
 *
 * Invariant: a sweeper is counted in sweep_active from before it pops a
 * span until the span is queued or freed, so gc_sweep_finish returning
 * means no span is half swept.  Sweeping one span runs inside the
 * runtime (gort_rt_enter), so a stop-the-world never catches it halfway.
 *
 * Rejected: sweeping in the stop-the-world pause (proportional to the
 * heap) and per-span "needs sweep" flags scanned over spans[] (Go used to
 * walk all spans; the lists give the sweeper only spans that need it).
 */
#include <sched.h>
#include <string.h>

#include "gc/malloc.h"

_Atomic uint64_t gc_sweep_spans_freed;
struct gc_stats gc_stats;

static _Atomic uint32_t sweep_cursor; /* span class * 2 + full */
static _Atomic bool sweep_done = true; /* the cursor passed the end */
static _Atomic int32_t sweep_active; /* sweepers holding a span */

bool gc_sweep_pending(void)
{
	return !atomic_load_explicit(&sweep_done, memory_order_acquire);
}

void gc_sweep_enter(void)
{
	atomic_fetch_add(&sweep_active, 1);
}

void gc_sweep_exit(void)
{
	atomic_fetch_sub(&sweep_active, 1);
}

static uint32_t count_marked(const struct gc_span *s)
{
	const _Atomic uint8_t *m = s->markbits;
	size_t i, bytes = gc_bitmap_bytes(s->nelems);
	uint32_t n = 0;

	for (i = 0; i < bytes; i += 8) {
		uint64_t w;

		memcpy(&w, (const uint8_t *)m + i, 8);
		n += (uint32_t)__builtin_popcountll(w);
	}
	return n;
}

static void free_to_heap(struct gc_span *s, uint32_t sg)
{
	atomic_store(&s->sweepgen, sg);
	gc_heap_free_span(s);
	atomic_fetch_add(&gc_sweep_spans_freed, 1);
}

bool gc_sweep_span(struct gc_span *s, bool preserve)
{
	uint32_t sg = atomic_load(&gc_heap.sweepgen);
	uint32_t sc = gc_span_sizeclass(s), nalloc, nfreed;
	size_t bytes = gc_bitmap_bytes(s->nelems);
	uint8_t *old;

	if (atomic_load(&s->sweepgen) != sg - 1)
		gort_throw("gc: sweeping a span it does not own");
	if (atomic_load(&s->has_specials))
		gc_specials_sweep(s);
	nalloc = count_marked(s);
	if (nalloc > s->alloccount)
		gort_throw("gc: sweep increased the allocation count");
	nfreed = s->alloccount - nalloc;
	if (sc == 0 && nfreed) {
		atomic_fetch_add(&gc_heap.frees, 1);
		atomic_fetch_add(&gc_stats.large_bytes_freed,
				 (uint64_t)s->npages << GC_PAGE_SHIFT);
	} else if (nfreed) {
		atomic_fetch_add(&gc_heap.frees, nfreed);
		atomic_fetch_add(&gc_stats.nfree[sc], nfreed);
	}
	if (nalloc == 0 && (sc == 0 || !preserve)) {
		free_to_heap(s, sg);
		return false;
	}
	old = s->allocbits;
	s->allocbits = (uint8_t *)s->markbits;
	memset(old, 0, bytes);
	s->markbits = (_Atomic uint8_t *)old;
	atomic_store(&s->freeindex, 0);
	s->alloccount = nalloc;
	if (nfreed)
		s->needzero = true;
	if (!preserve)
		gc_span_refill_alloccache(s, 0);
	atomic_store_explicit(&s->sweepgen, sg, memory_order_release);
	if (!preserve)
		gc_mcentral_push_swept(s);
	return nalloc < s->nelems;
}

bool gc_sweep_one(void)
{
	struct gc_span *s = NULL;
	uint32_t i;

	if (!gc_sweep_pending())
		return false;
	gort_rt_enter();
	gc_sweep_enter();
	while (gc_sweep_pending()) {
		i = atomic_load(&sweep_cursor);
		if (i >= 2 * GC_NUM_SPANCLASSES) {
			atomic_store_explicit(&sweep_done, true,
					      memory_order_release);
			break;
		}
		s = gc_mcentral_pop_unswept(&gc_central[i >> 1], i & 1);
		if (s)
			break;
		atomic_compare_exchange_strong(&sweep_cursor, &i, i + 1);
	}
	if (s)
		gc_sweep_span(s, false);
	gc_sweep_exit();
	gort_rt_exit();
	return s != NULL;
}

void gc_sweep_finish(void)
{
	while (gc_sweep_one())
		;
	/* others may still hold a span they popped */
	while (atomic_load(&sweep_active))
		sched_yield();
}

void gc_sweep_prepare(void)
{
	/* no thread without a P is allocating while this runs */
	gort_lock(&gc_shared_lock);
	gc_sweep_finish();
	atomic_fetch_add(&gc_heap.sweepgen, 2);
	gc_mcache_flush_all_stale();
	atomic_store(&sweep_cursor, 0);
	atomic_store_explicit(&sweep_done, false, memory_order_release);
	gort_unlock(&gc_shared_lock);
}

void gc_bgsweep(void *arg)
{
	unsigned int n = 0;

	while (gc_sweep_one())
		if (++n % 16 == 0)
			gort_yield();
}
