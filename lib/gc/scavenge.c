// SPDX-License-Identifier: MIT
/*
 * scavenge.c - giving free heap pages back to the OS (Go's
 * runtime/mgcscavenge.go, in its simplest form).
 *
 * sysmon calls gc_scavenge_tick about once a second.  It releases, with
 * MADV_DONTNEED, the pages of free runs that have been free for over five
 * minutes, and also whatever it takes to bring the retained heap
 * (heap_sys - heap_released) down to the goal the collector sets with
 * gc_scavenge_set_goal (Go: 10 % over the heap goal; none until it is
 * set).  The kernel refills released pages with zeros, so the heap marks
 * them in released[] and a span carved from released pages only needs no
 * zeroing (mheap.c).
 *
 * A run being released is taken off the free lists and the heap lock is
 * dropped around madvise, so allocation never waits for the kernel; the
 * run goes back (and coalesces) afterwards.
 *
 * Rejected: releasing at free time (a page fault for every reuse of
 * recently freed memory) and MADV_FREE (cheaper, but RSS does not drop
 * until the kernel is short of memory, and the pages are not guaranteed
 * zero until then, which would cost the zeroing this saves).
 */
#include <sys/mman.h>

#include "gc/malloc.h"

#define UNUSED_NS (300LL * 1000000000) /* Go's 5 minutes */

static _Atomic uint64_t retain_goal = UINT64_MAX;
static struct gort_lock scav_lock; /* one scavenger at a time */

void gc_scavenge_set_goal(uint64_t retain_bytes)
{
	atomic_store(&retain_goal, retain_bytes);
}

/* Release up to budget bytes of runs free since older_than. */
static uint64_t scavenge(uint64_t budget, int64_t older_than)
{
	uint64_t released = 0;

	gort_lock(&scav_lock);
	gort_lock(&gc_heap.lock);
	while (released < budget) {
		struct gc_span *r = gc_heap_take_unreleased(older_than);
		uintptr_t p, end;

		if (!r)
			break;
		p = (r->base - gc_heap.base) >> GC_PAGE_SHIFT;
		end = p + r->npages;
		gort_unlock(&gc_heap.lock);
		/* unreleased stretches of the run, until the budget is met */
		while (p < end && released < budget) {
			uintptr_t q;

			if (gc_heap_page_released(p)) {
				p++;
				continue;
			}
			for (q = p; q < end && !gc_heap_page_released(q) &&
				    released < budget;
			     q++)
				released += GC_PAGE_SIZE;
			madvise((void *)(gc_heap.base + (p << GC_PAGE_SHIFT)),
				(q - p) << GC_PAGE_SHIFT, MADV_DONTNEED);
			gort_lock(&gc_heap.lock);
			gc_heap_mark_released(p, q - p);
			gort_unlock(&gc_heap.lock);
			p = q;
		}
		gort_lock(&gc_heap.lock);
		gc_heap_put_free(r);
	}
	gort_unlock(&gc_heap.lock);
	gort_unlock(&scav_lock);
	return released;
}

uint64_t gc_scavenge(uint64_t bytes)
{
	if (!atomic_load_explicit(&gc_heap.used, memory_order_acquire))
		return 0;
	return scavenge(bytes, INT64_MAX);
}

void gc_scavenge_tick(int64_t now)
{
	uint64_t sys, rel, goal = atomic_load(&retain_goal);

	if (!atomic_load_explicit(&gc_heap.used, memory_order_acquire))
		return;
	sys = atomic_load(&gc_heap.heap_sys);
	rel = atomic_load(&gc_heap.heap_released);
	if (sys - rel > goal)
		scavenge(sys - rel - goal, INT64_MAX);
	scavenge(UINT64_MAX, now - UNUSED_NS);
}
