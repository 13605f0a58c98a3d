/* SPDX-License-Identifier: MIT */
/*
 * malloc.h - what the allocator's own files (mheap.c, mcentral.c,
 * mcache.c, malloc.c, sweep.c, scavenge.c, memstats.c) share and the
 * collector does not need: gc.h is the contract with the collector, this
 * is the plumbing behind it.
 *
 * Lock order (outer first): sched.lock (procresize making mcaches) ->
 * shared mcache lock -> mcentral lock -> scavenger lock -> heap.lock.
 * mcentral never holds its lock while it sweeps or calls the heap; the
 * heap drops its lock before it sweeps; sweeping a span takes one
 * mcentral lock (to queue the span) or heap.lock (to free it), never
 * both.
 */
#ifndef GORT_GC_MALLOC_H
#define GORT_GC_MALLOC_H

#include "gc/gc.h"

#define GC_NUM_SPANCLASSES (GC_NUM_CLASSES * 2)

static inline uint8_t gc_spanclass(uint32_t sizeclass, bool noscan)
{
	return (uint8_t)(sizeclass << 1 | noscan);
}

/* Bytes of one of a span's bitmaps: whole 64-bit words (alloccache). */
static inline size_t gc_bitmap_bytes(uint32_t nelems)
{
	return ((size_t)nelems + 63) / 64 * 8;
}

/* ---- metadata (mheap.c): fixed-size blocks outside the heap ---- */

/* Zeroed block of size bytes (<= 4096); heap.lock held. */
void *gc_meta_alloc(size_t size) GORT_INTERNAL;
void gc_meta_free(void *p, size_t size) GORT_INTERNAL;
/* Bytes of metadata mapped (memstats gc_sys). */
uint64_t gc_meta_sys(void) GORT_INTERNAL;

/* ---- page heap (mheap.c) ---- */

/*
 * A span of npages for span class spc, with zeroed bitmaps and
 * state SPAN_DEAD: the caller finishes it and then publishes it with
 * gc_heap_publish.  NULL when the heap is exhausted.
 */
struct gc_span *gc_heap_alloc_span(uintptr_t npages, uint8_t spc) GORT_INTERNAL;
/* spans[] entries and state SPAN_INUSE: the collector may now see it. */
void gc_heap_publish(struct gc_span *s) GORT_INTERNAL;
/* An unpublished span or a swept empty one goes back to the free pages. */
void gc_heap_free_span(struct gc_span *s) GORT_INTERNAL;
/* Current time for unusedsince (monotonic ns). */
int64_t gc_nanotime(void) GORT_INTERNAL;

/* ---- page heap internals the scavenger walks (mheap.c) ---- */

/* Free run of pages with unreleased pages, oldest-first preference;
 * taken off the free lists.  heap.lock held. */
struct gc_span *gc_heap_take_unreleased(int64_t older_than) GORT_INTERNAL;
/* Pages are indexes from the heap base. */
bool gc_heap_page_released(uintptr_t page) GORT_INTERNAL;
uintptr_t gc_heap_count_released(uintptr_t page, uintptr_t n) GORT_INTERNAL;
void gc_heap_mark_released(uintptr_t page, uintptr_t n) GORT_INTERNAL;
/* Put a run taken by gc_heap_take_unreleased back; heap.lock held. */
void gc_heap_put_free(struct gc_span *r) GORT_INTERNAL;

/* ---- mcentral (mcentral.c) ---- */

struct gc_mcentral {
	struct gort_lock lock; /* guards the four lists */
	/* [sweepgen / 2 % 2]: swept; the other one: unswept (Go's trick:
	 * advancing sweepgen turns every swept list into an unswept one) */
	struct gc_span *partial[2]; /* spans with free slots */
	struct gc_span *full[2]; /* spans without */
} __attribute__((aligned(64)));

extern struct gc_mcentral gc_central[GC_NUM_SPANCLASSES] GORT_INTERNAL;

/* A span with a free slot for an mcache (swept, owned by the caller). */
struct gc_span *gc_mcentral_cache_span(struct gc_mcentral *c) GORT_INTERNAL;
/* A span an mcache gives back (not stale: already swept this cycle). */
void gc_mcentral_uncache_span(struct gc_mcentral *c,
			      struct gc_span *s) GORT_INTERNAL;
/* Queue a swept span (sweepgen == heap.sweepgen) by its fullness. */
void gc_mcentral_push_swept(struct gc_span *s) GORT_INTERNAL;
/* Queue a span that needs sweeping (sweepgen == heap.sweepgen - 2). */
void gc_mcentral_push_unswept(struct gc_span *s) GORT_INTERNAL;
/* Pop a span that needs sweeping from list (0 partial, 1 full). */
struct gc_span *gc_mcentral_pop_unswept(struct gc_mcentral *c,
					int full) GORT_INTERNAL;

/* ---- mcache (mcache.c) ---- */

struct gc_mcache {
	/* the span each span class allocates from (gc_emptyspan if none) */
	struct gc_span *alloc[GC_NUM_SPANCLASSES];
	/* small objects allocated per size class; written by the owner
	 * only, read by memstats (relaxed) */
	uint64_t nmalloc[GC_NUM_CLASSES];
	/* bytes of small objects allocated marked while the collector
	 * marks (owner writes, mark termination takes them) */
	uint64_t black_bytes;
	struct gc_mcache *allnext; /* every mcache ever made */
	struct gc_mcache *freenext; /* destroyed ones, for reuse */
	bool live; /* owned by a P or the shared one */
};

/* Span with no free slot: an mcache's "nothing cached" (never written). */
extern struct gc_span gc_emptyspan GORT_INTERNAL;
/* Cached span of spc is full: swap in one with room; NULL: no memory.
 * Adds to *live the bytes newly counted in heap_live. */
struct gc_span *gc_mcache_refill(struct gc_mcache *c, uint8_t spc,
				 uint64_t *live) GORT_INTERNAL;
/* Sweep prepare: every mcache's spans to the unswept lists. */
void gc_mcache_flush_all_stale(void) GORT_INTERNAL;
/* Every mcache ever made (a list that only grows), for memstats. */
extern struct gc_mcache *_Atomic gc_mcache_all GORT_INTERNAL;
/* The mcache of threads without a P, and its lock. */
extern struct gort_lock gc_shared_lock GORT_INTERNAL;
extern struct gc_mcache *gc_shared_cache GORT_INTERNAL;

/* Go's nextFreeIndex: first free slot at or after freeindex, or nelems. */
uint32_t gc_span_next_free_index(struct gc_span *s) GORT_INTERNAL;
/* Load alloccache from allocbits for the 64 slots from byte index. */
static inline void gc_span_refill_alloccache(struct gc_span *s,
					     uint32_t whichbyte)
{
	uint64_t w;

	__builtin_memcpy(&w, s->allocbits + whichbyte, 8);
	s->alloccache = ~w; /* little-endian: bit i is slot 8*byte+i */
}

/* ---- sweep (sweep.c) ---- */

/*
 * Sweep s, owned by the caller (sweepgen == heap.sweepgen - 1).  With
 * preserve the caller keeps the span (an mcentral handing it to an
 * mcache) and gets true if it has a free slot; otherwise s is queued in
 * its mcentral or freed to the heap.
 */
bool gc_sweep_span(struct gc_span *s, bool preserve) GORT_INTERNAL;
/* Count a sweeper in/out: gc_sweep_finish waits for them. */
void gc_sweep_enter(void) GORT_INTERNAL;
void gc_sweep_exit(void) GORT_INTERNAL;
/* Spans swept to empty and given back to the heap, ever (for retries). */
extern _Atomic uint64_t gc_sweep_spans_freed GORT_INTERNAL;
/* Is there anything left to sweep in this cycle? */
bool gc_sweep_pending(void) GORT_INTERNAL;

/* ---- statistics (memstats.c) ---- */

struct gc_stats {
	_Atomic uint64_t nfree[GC_NUM_CLASSES]; /* swept small objects */
	_Atomic uint64_t large_bytes_freed; /* swept large objects */
};
extern struct gc_stats gc_stats GORT_INTERNAL;

#endif /* GORT_GC_MALLOC_H */
