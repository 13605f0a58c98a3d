// SPDX-License-Identifier: MIT
/*
 * malloc.c - gort_alloc and gort_alloc_noscan: size classes, the
 * allocation fast path, large objects (Go's runtime/malloc.go).
 *
 * A small object (<= 32 KiB) comes from the current P's mcache: the span
 * of its span class hands out the next free slot by counting trailing
 * zeros of alloccache (free = 1), with no lock and no atomic
 * read-modify-write; only when the span is full does refill go to the
 * mcentral.  The public call enters the runtime (gort_rt_enter): that is
 * what makes the P, and so its mcache, ours until gort_rt_exit even if
 * sysmon wants it back.  Threads without a P use the shared mcache under
 * its lock.  A large object gets a span of its own (class 0).
 *
 * Objects are zeroed: a span whose slots may hold old bytes is needzero
 * (set by sweep, and by the heap for pages that were not zero); fresh and
 * released pages are zero already and are not written.  While the
 * collector marks, new objects are allocated marked.  Zero-byte requests
 * all get the address of one static word outside the heap (Go's
 * zerobase).
 *
 * The pacer hears of allocation in span-sized steps: refill counts a
 * span's free slots into heap_live, large objects their pages, and
 * gc_alloc_hook runs after the runtime is left, so that a hook that
 * stops the world or parks the goroutine holds no allocator lock.
 *
 * Rejected: Go's 16-byte tiny allocator (it combines noscan objects of
 * under 16 bytes; most small C objects here hold pointers) and an 8-byte
 * malloc header for type information (the collector is conservative).
 */
#include <errno.h>
#include <string.h>

#include "gc/malloc.h"

const uint32_t gc_class_size[GC_NUM_CLASSES] = GC_CLASS_SIZE_INIT;
const uint8_t gc_class_npages[GC_NUM_CLASSES] = GC_CLASS_NPAGES_INIT;
static const uint8_t size_to_class8[GC_SIZE_TO_CLASS8_LEN] =
	GC_SIZE_TO_CLASS8_INIT;
static const uint8_t size_to_class128[GC_SIZE_TO_CLASS128_LEN] =
	GC_SIZE_TO_CLASS128_INIT;

/* What every zero-byte allocation points at. */
static uint64_t zerobase[2] __attribute__((aligned(16)));

static inline uint8_t size_to_class(size_t size)
{
	if (size <= GC_SMALL_SIZE_MAX)
		return size_to_class8[(size + GC_SMALL_SIZE_DIV - 1) /
				      GC_SMALL_SIZE_DIV];
	return size_to_class128[(size - GC_SMALL_SIZE_MAX + GC_LARGE_SIZE_DIV -
				 1) /
				GC_LARGE_SIZE_DIV];
}

uint8_t gc_size_to_class(size_t size)
{
	return size && size <= GC_MAX_SMALL ? size_to_class(size) : 0;
}

/* Go's nextFreeFast: a free slot within alloccache, or UINT32_MAX. */
static inline uint32_t next_free_fast(struct gc_span *s)
{
	uint32_t bit, idx, fi;

	if (!s->alloccache)
		return UINT32_MAX;
	bit = (uint32_t)__builtin_ctzll(s->alloccache);
	fi = atomic_load_explicit(&s->freeindex, memory_order_relaxed);
	idx = fi + bit;
	if (idx >= s->nelems)
		return UINT32_MAX;
	fi = idx + 1;
	if (fi % 64 == 0 && fi != s->nelems)
		return UINT32_MAX; /* needs a refill of alloccache */
	s->alloccache >>= bit;
	s->alloccache >>= 1;
	atomic_store_explicit(&s->freeindex, fi, memory_order_release);
	return idx;
}

/*
 * Zero a small slot: inline stores for the sizes binary trees and lists
 * are made of, where a call to memset would cost as much as the rest of
 * the allocation.  (The loop must not become a memset call itself.)
 */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) static inline void
zero_slot(void *x, uint32_t n)
{
	uint64_t *w = x;
	uint32_t i;

	if (n > 128) {
		memset(x, 0, n);
		return;
	}
	for (i = 0; i < n / 8; i++)
		w[i] = 0;
}

static void *alloc_large(size_t size, bool noscan, uint64_t *live)
{
	uint8_t spc = gc_spanclass(0, noscan);
	uintptr_t npages;
	struct gc_span *s;
	uint64_t bytes;

	if (size > GC_HEAP_RESERVE)
		return NULL;
	npages = (size + GC_PAGE_SIZE - 1) >> GC_PAGE_SHIFT;
	s = gc_heap_alloc_span(npages, spc);
	if (!s)
		return NULL;
	bytes = (uint64_t)npages << GC_PAGE_SHIFT;
	if (s->needzero)
		memset((void *)s->base, 0, bytes);
	s->alloccount = 1;
	atomic_store_explicit(&s->freeindex, 1, memory_order_release);
	if (gc_black_alloc() && gc_mark_set(s, 0))
		atomic_fetch_add(&gc_heap.heap_marked, bytes);
	/* on its class's full list, where the sweeper finds it */
	gc_mcentral_push_swept(s);
	gc_heap_publish(s);
	atomic_fetch_add(&gc_heap.mallocs, 1);
	atomic_fetch_add(&gc_heap.total_alloc, bytes);
	atomic_fetch_add(&gc_heap.heap_live, bytes);
	*live += bytes;
	return (void *)s->base;
}

static inline void *alloc_small(struct gc_mcache *c, size_t size, bool noscan,
				uint64_t *live)
{
	uint8_t sc = size_to_class(size), spc = gc_spanclass(sc, noscan);
	struct gc_span *s = c->alloc[spc];
	uint32_t idx = next_free_fast(s);
	void *x;

	if (unlikely(idx == UINT32_MAX)) {
		idx = gc_span_next_free_index(s);
		if (idx == s->nelems) {
			s = gc_mcache_refill(c, spc, live);
			if (!s)
				return NULL;
			idx = gc_span_next_free_index(s);
		}
	}
	s->alloccount++;
	x = (void *)(s->base + (uintptr_t)idx * s->elemsize);
	if (s->needzero)
		zero_slot(x, s->elemsize);
	if (unlikely(gc_black_alloc()) && gc_mark_set(s, idx))
		WRITE_ONCE(c->black_bytes, c->black_bytes + s->elemsize);
	WRITE_ONCE(c->nmalloc[sc], c->nmalloc[sc] + 1);
	return x;
}

void *gc_malloc(size_t size, bool noscan)
{
	uint64_t live = 0;
	struct gort_m *m;
	void *x;

	if (unlikely(!size))
		return zerobase;
	if (unlikely(size > GC_MAX_SMALL) && gc_sweep_pending()) {
		/*
		 * Go's proportional sweep: a large object pays by sweeping as
		 * many spans as it takes pages, so last cycle's garbage is
		 * reused before the heap takes more pages.
		 */
		size_t n = (size + GC_PAGE_SIZE - 1) >> GC_PAGE_SHIFT;

		while (n-- && gc_sweep_one())
			;
	}
	m = gort_rt_enter();
	if (likely(m && m->p && m->p->mcache)) {
		x = likely(size <= GC_MAX_SMALL) ?
			    alloc_small(m->p->mcache, size, noscan, &live) :
			    alloc_large(size, noscan, &live);
	} else {
		/*
		 * No P: the shared mcache, one thread at a time.  Large
		 * objects too, so that gc_sweep_prepare, which takes this
		 * lock, never runs in the middle of an allocation.
		 */
		gort_lock(&gc_shared_lock);
		if (size > GC_MAX_SMALL) {
			x = alloc_large(size, noscan, &live);
		} else {
			if (!gc_shared_cache)
				gc_shared_cache = gc_mcache_create();
			x = gc_shared_cache ? alloc_small(gc_shared_cache, size,
							  noscan, &live) :
					      NULL;
		}
		gort_unlock(&gc_shared_lock);
	}
	gort_rt_exit();
	if (live)
		gc_alloc_hook(live);
	else if (unlikely(atomic_load_explicit(&gort_sched.stw_wait,
					       memory_order_relaxed)))
		gc_stw_yield();
	if (unlikely(!x))
		errno = ENOMEM;
	return x;
}

GORT_API void *gort_alloc(size_t size)
{
	return gc_malloc(size, false);
}

GORT_API void *gort_alloc_noscan(size_t size)
{
	return gc_malloc(size, true);
}
