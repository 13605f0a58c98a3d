// SPDX-License-Identifier: MIT
/*
 * collector_tmp.c - temporary until the collector lands: the collector's
 * side of gc.h that the allocator calls, doing nothing, so that the
 * allocator links and runs on its own (no cycle ever starts: gc_phase
 * stays GC_OFF, heap_live only grows, nothing is freed unless a test
 * sweeps by hand).  The collector's files replace all of it.
 */
#include "gc/malloc.h"

_Atomic uint32_t gc_phase;

void gc_alloc_hook(uint64_t bytes)
{
}

void gc_barrier_heap_grew(uintptr_t start, uintptr_t len)
{
}

void gc_specials_sweep(struct gc_span *s)
{
}

void gc_memstats_collector(struct gort_memstats *ms)
{
}
