// SPDX-License-Identifier: MIT
/*
 * memstats.c - gort_read_memstats (Go's runtime.ReadMemStats) for the
 * allocator's fields; the collector fills its own through
 * gc_memstats_collector.
 *
 * Small allocations are counted per mcache by size class, on the fast
 * path, with plain stores by the owner; frees are counted by the sweeper
 * per span.  Reading does not stop the world: it reads the frees first
 * and the mallocs after, both only ever grow, so mallocs >= frees and
 * alloc and heap_objects are never negative, however the two race.  The
 * heap_* page counts are read under heap.lock, where they change together.
 *
 * Rejected: stopping the world as Go does (a monitoring thread polling
 * memstats would pause every goroutine) and Go's consistent-stats
 * sequence counters (the monotonic-order argument above gives the
 * guarantee that matters at no cost to the fast path).
 */
#include <string.h>

#include "gc/malloc.h"

GORT_API void gort_read_memstats(struct gort_memstats *ms)
{
	uint64_t nfree[GC_NUM_CLASSES], nmalloc[GC_NUM_CLASSES] = { 0 };
	uint64_t frees, large_freed, mallocs, total, freed, inuse, sys, rel;
	struct gc_mcache *c;
	int i;

	memset(ms, 0, sizeof(*ms));
	frees = atomic_load(&gc_heap.frees);
	large_freed = atomic_load(&gc_stats.large_bytes_freed);
	for (i = 0; i < GC_NUM_CLASSES; i++)
		nfree[i] = atomic_load(&gc_stats.nfree[i]);
	/* after the frees: every freed object's malloc is counted */
	mallocs = atomic_load(&gc_heap.mallocs);
	total = atomic_load(&gc_heap.total_alloc);
	for (c = atomic_load(&gc_mcache_all); c; c = c->allnext)
		for (i = 1; i < GC_NUM_CLASSES; i++)
			nmalloc[i] += READ_ONCE(c->nmalloc[i]);
	freed = large_freed;
	for (i = 1; i < GC_NUM_CLASSES; i++) {
		mallocs += nmalloc[i];
		total += nmalloc[i] * gc_class_size[i];
		freed += nfree[i] * gc_class_size[i];
		if (i < GORT_MEMSTATS_NSIZE) {
			ms->by_size[i].size = gc_class_size[i];
			ms->by_size[i].mallocs = nmalloc[i];
			ms->by_size[i].frees = nfree[i];
		}
	}
	ms->mallocs = mallocs;
	ms->frees = frees;
	ms->total_alloc = total;
	ms->alloc = total - freed;
	ms->heap_alloc = ms->alloc;
	ms->heap_objects = mallocs - frees;

	gort_lock(&gc_heap.lock);
	inuse = atomic_load(&gc_heap.heap_inuse);
	sys = atomic_load(&gc_heap.heap_sys);
	rel = atomic_load(&gc_heap.heap_released);
	gort_unlock(&gc_heap.lock);
	ms->heap_sys = sys;
	ms->heap_inuse = inuse;
	ms->heap_idle = sys - inuse;
	ms->heap_released = rel;
	gort_stack_stats(&ms->stack_inuse, &ms->stack_sys);
	ms->gc_sys = gc_meta_sys();
	ms->sys = ms->heap_sys + ms->stack_sys + ms->gc_sys;
	ms->fragmentation =
		inuse ? 100.0 * (1.0 - (double)ms->alloc / inuse) : 0.0;
	gc_memstats_collector(ms);
}
