/* SPDX-License-Identifier: MIT */
/*
 * gc.h - the garbage-collected heap: what the allocator (mheap.c,
 * mcentral.c, mcache.c, sweep.c, scavenge.c) and the collector (mgc.c,
 * mark.c, barrier.c, roots.c, finalizer.c) promise each other.
 *
 * Shape (Go's runtime/malloc.go, mheap.go, mcentral.go, mgc.go):
 *  - One contiguous reservation [heap.base, heap.end), MAP_NORESERVE, of
 *    8 KiB pages, handed out from the bottom (heap.used only grows, in
 *    64 MiB steps).  "Is this word a heap pointer" is a range check and a
 *    load from heap.spans[], the page -> span map, which is itself a
 *    NORESERVE array touched only where the heap is.  A contiguous heap
 *    also keeps the dirty-page scan of the write barrier to one range.
 *  - A span is a run of pages holding objects of one size class (or one
 *    large object); its metadata (struct gc_span, bitmaps) lives outside
 *    the heap, so the collector's bookkeeping never dirties heap pages.
 *  - Span class = size class << 1 | noscan: noscan objects (byte buffers)
 *    are never scanned and never need the barrier.
 *  - Per-P mcache: one cached span per span class, no lock on the fast
 *    path.  Threads without a P share one mcache under a lock.
 *  - mcentral per span class: partial and full lists, swept and unswept,
 *    as Go's (sweepgen arithmetic below).  mheap: free page runs (by
 *    size), span allocation and freeing, growth.
 *
 * Mark state: each span has two bitmaps of nelems bits.  allocbits says
 * which objects were live at the last sweep; an object is allocated iff
 * idx < freeindex or its allocbit is set (Go's rule: the allocator only
 * moves freeindex forward over free slots it hands out).  markbits are set
 * by the collector (atomic OR); sweep makes markbits the new allocbits and
 * clears a fresh markbits.  While the collector marks (gc_black_alloc), new
 * objects are allocated marked ("black"), as in Go.
 *
 * Sweep generations (Go's mspan.sweepgen, heap.sweepgen advances by 2 at
 * every mark termination):
 *   span.sweepgen == heap.sweepgen - 2: needs sweeping
 *   span.sweepgen == heap.sweepgen - 1: being swept
 *   span.sweepgen == heap.sweepgen:     swept, ready to use
 *   span.sweepgen == heap.sweepgen + 1: cached in an mcache before
 *                                        sweep began; needs sweeping
 *   span.sweepgen == heap.sweepgen + 3: swept, then cached, still cached
 *
 * Lock order: heap.lock -> mcentral locks are never nested the other way
 * (mcentral takes heap.lock to get a span; the heap never calls into
 * mcentral).  The collector takes no allocator lock while scanning: it
 * reads spans[] and span fields with atomics and relies on spans never
 * being freed to the OS while marking (scavenging only releases pages
 * of free spans, whose spans[] entries are NULL).
 *
 * Rejected: a heap of separate 64 MiB arenas found through a two-level
 * map (Go's, for address spaces it cannot reserve at once; Linux x86-64
 * and AArch64 reserve 64 GiB without committing it), and malloc'd spans
 * metadata inside the heap (dirtying tracked pages on every sweep).
 */
#ifndef GORT_GC_H
#define GORT_GC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime.h"

#define GC_PAGE_SHIFT 13
#define GC_PAGE_SIZE ((uintptr_t)1 << GC_PAGE_SHIFT)
#define GC_MAX_SMALL 32768		/* larger objects get their own span */
#define GC_HEAP_GROW (64u << 20)	/* heap.used grows in these steps */
#ifndef GC_HEAP_RESERVE
#define GC_HEAP_RESERVE ((uintptr_t)64 << 30)	/* first try; halves on ENOMEM */
#endif

/* The generated size-class table (scripts/mksizeclasses, sizeclasses.h). */
#include "gc/sizeclasses.h"
/* GC_NUM_CLASSES classes, class 0 meaning "large" as in Go. */
extern const uint32_t gc_class_size[GC_NUM_CLASSES] GORT_INTERNAL;
extern const uint8_t gc_class_npages[GC_NUM_CLASSES] GORT_INTERNAL;
uint8_t gc_size_to_class(size_t size) GORT_INTERNAL;

enum gc_span_state {
	SPAN_DEAD = 0,		/* not in use: on a free list or unused */
	SPAN_INUSE = 1,		/* holds GC objects */
};

struct gc_span {
	uintptr_t base;			/* first byte of its first page */
	uintptr_t npages;		/* pages in the span */
	struct gc_span *next, *prev;	/* list it sits on (mcentral, heap) */
	uint32_t elemsize;		/* object size; npages * page for large
					 * (UINT32_MAX past 4 GiB: use npages) */
	uint32_t nelems;		/* objects in the span */
	uint32_t divmul;		/* ceil(2^32 / elemsize): idx by multiply */
	uint8_t spanclass;		/* sizeclass << 1 | noscan */
	_Atomic uint8_t state;		/* enum gc_span_state */
	bool needzero;			/* free slots may hold old bytes */
	_Atomic bool has_specials;	/* a finalizer is set on an object here */
	_Atomic uint32_t sweepgen;	/* see the table above */
	_Atomic uint32_t freeindex;	/* slots below are allocated */
	uint32_t alloccount;		/* allocated objects (mcache owner) */
	uint64_t alloccache;		/* ~allocbits from freeindex, as Go's */
	uint8_t *allocbits;		/* live at last sweep */
	_Atomic uint8_t *markbits;	/* marked this cycle */
	int64_t unusedsince;		/* for the scavenger (free spans) */
};

static inline bool gc_span_noscan(const struct gc_span *s)
{
	return s->spanclass & 1;
}

static inline uint32_t gc_span_sizeclass(const struct gc_span *s)
{
	return s->spanclass >> 1;
}

struct gc_heap {
	uintptr_t base, end;		/* the reservation */
	_Atomic uintptr_t used;		/* [base, used) has been handed out */
	struct gc_span *_Atomic *spans;	/* page index -> span, or NULL */
	_Atomic uint32_t sweepgen;	/* advances by 2 per cycle */
	struct gort_lock lock;		/* free page runs, span structs */
	/* statistics (Go's MemStats names), bytes unless said */
	_Atomic uint64_t heap_live;	/* allocated, counted at span refill */
	_Atomic uint64_t heap_marked;	/* marked by the last cycle */
	/* cumulative; small objects are counted per mcache and added
	 * by gort_read_memstats, these two hold large objects only */
	_Atomic uint64_t total_alloc;	/* cumulative bytes allocated */
	_Atomic uint64_t mallocs;	/* cumulative objects allocated */
	_Atomic uint64_t frees;		/* cumulative objects freed */
	_Atomic uint64_t heap_inuse;	/* bytes in in-use spans */
	_Atomic uint64_t heap_released;	/* bytes returned to the OS, or
					 * mapped and never touched (Go) */
	_Atomic uint64_t heap_sys;	/* bytes of heap.used mapped */
};
extern struct gc_heap gc_heap GORT_INTERNAL;

/* The heap exists (first gort_alloc, or gort_main, created it). */
int gc_heap_init(void) GORT_INTERNAL;

static inline bool gc_in_heap(uintptr_t p)
{
	return p - gc_heap.base <
	       atomic_load_explicit(&gc_heap.used, memory_order_acquire) -
		       gc_heap.base;
}

/* Span holding p, NULL when p is outside the heap or in a free page. */
static inline struct gc_span *gc_span_of(uintptr_t p)
{
	struct gc_span *s;

	if (!gc_in_heap(p))
		return NULL;
	s = atomic_load_explicit(
		&gc_heap.spans[(p - gc_heap.base) >> GC_PAGE_SHIFT],
		memory_order_acquire);
	if (!s || atomic_load_explicit(&s->state, memory_order_acquire) !=
			  SPAN_INUSE)
		return NULL;
	return s;
}

static inline uint32_t gc_obj_index(const struct gc_span *s, uintptr_t p)
{
	return (uint32_t)(((uint64_t)(p - s->base) * s->divmul) >> 32);
}

static inline bool gc_bit(const uint8_t *bits, uint32_t i)
{
	return bits[i >> 3] & (1u << (i & 7));
}

/*
 * Conservative pointer test: the base of the allocated object that p
 * points into (interior pointers count), with its span and index, or 0.
 */
static inline uintptr_t gc_find_object(uintptr_t p, struct gc_span **sp,
				       uint32_t *idxp)
{
	struct gc_span *s = gc_span_of(p);
	uint32_t idx;

	if (!s)
		return 0;
	idx = gc_obj_index(s, p);
	if (idx >= s->nelems)
		return 0;
	if (idx >= atomic_load_explicit(&s->freeindex, memory_order_acquire) &&
	    !gc_bit(s->allocbits, idx))
		return 0;
	*sp = s;
	*idxp = idx;
	return s->base + (uintptr_t)idx * s->elemsize;
}

/* Set the mark bit; true if this call set it (the object was white). */
static inline bool gc_mark_set(struct gc_span *s, uint32_t idx)
{
	uint8_t bit = 1u << (idx & 7);

	if (atomic_load_explicit(&s->markbits[idx >> 3],
				 memory_order_relaxed) & bit)
		return false;
	return !(atomic_fetch_or_explicit(&s->markbits[idx >> 3], bit,
					  memory_order_relaxed) & bit);
}

static inline bool gc_is_marked(struct gc_span *s, uint32_t idx)
{
	return atomic_load_explicit(&s->markbits[idx >> 3],
				    memory_order_relaxed) &
	       (1u << (idx & 7));
}

/* ---- allocator (mcache.c, mcentral.c, mheap.c) ---- */

struct gc_mcache;
/* Each P's cache (created by gc_mcache_create at procresize). */
struct gc_mcache *gc_mcache_create(void) GORT_INTERNAL;
/* Return cached spans to their mcentrals (P destroyed, or mark end). */
void gc_mcache_flush(struct gc_mcache *c) GORT_INTERNAL;
/*
 * Mark termination, world stopped: bytes of small objects allocated
 * marked since the cycle began (each mcache counts its own), zeroed.
 */
uint64_t gc_mcache_take_black_bytes(void) GORT_INTERNAL;
/* Flush, and keep c for reuse (its counters stay in memstats). */
void gc_mcache_destroy(struct gc_mcache *c) GORT_INTERNAL;
/* Zeroed object of size bytes, NULL only when the heap is exhausted. */
void *gc_malloc(size_t size, bool noscan) GORT_INTERNAL;

/* ---- sweep (sweep.c) ---- */

/* Stop-the-world at mark termination: advance sweepgen, queue spans. */
void gc_sweep_prepare(void) GORT_INTERNAL;
/* Sweep one span; false when nothing is left to sweep. */
bool gc_sweep_one(void) GORT_INTERNAL;
/* Every span swept (the start of the next cycle waits for this). */
void gc_sweep_finish(void) GORT_INTERNAL;
/*
 * Body of the background sweeper goroutine the collector starts after
 * each cycle: sweeps what is queued, yielding every few spans, returns.
 */
void gc_bgsweep(void *arg) GORT_INTERNAL;

/* ---- scavenger (scavenge.c) ---- */

/* Keep heap_sys - heap_released at most this (Go: 10 % over the goal). */
void gc_scavenge_set_goal(uint64_t retain_bytes) GORT_INTERNAL;
/* Give up to bytes of free pages back to the OS now; bytes released. */
uint64_t gc_scavenge(uint64_t bytes) GORT_INTERNAL;
/* sysmon, about once a second: the goal, and pages free for 5 minutes. */
void gc_scavenge_tick(int64_t now) GORT_INTERNAL;

/* ---- collector (mgc.c, mark.c, barrier.c, roots.c) ---- */

enum gc_phase {
	GC_OFF = 0,		/* allocation white, sweeping maybe */
	GC_MARK = 1,		/* concurrent mark: allocation black */
	GC_MARKTERM = 2,	/* world stopped, finishing the mark */
};
extern _Atomic uint32_t gc_phase GORT_INTERNAL;
/* New objects are allocated marked: gc_phase != GC_OFF. */
static inline bool gc_black_alloc(void)
{
	return atomic_load_explicit(&gc_phase, memory_order_relaxed) !=
	       GC_OFF;
}

/*
 * The allocator calls this after it added bytes to heap_live (at span
 * refill and for large objects): it may start a cycle or make the
 * allocating goroutine assist the marking.
 */
void gc_alloc_hook(uint64_t bytes) GORT_INTERNAL;
/* A stop-the-world waits: an allocating goroutine gives its P up. */
void gc_stw_yield(void) GORT_INTERNAL;
/* A span of freshly mapped heap pages (the barrier must track them). */
void gc_barrier_heap_grew(uintptr_t start, uintptr_t len) GORT_INTERNAL;
/* Objects with finalizers: sweep keeps their records in step. */
void gc_specials_sweep(struct gc_span *s) GORT_INTERNAL;
/* gort_read_memstats: the collector's fields (next_gc, pauses, ...). */
void gc_memstats_collector(struct gort_memstats *ms) GORT_INTERNAL;

#endif /* GORT_GC_H */
