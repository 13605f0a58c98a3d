// SPDX-License-Identifier: MIT
/*
 * mcentral.c - the spans of one span class that no mcache holds (Go's
 * runtime/mcentral.go).
 *
 * Each mcentral keeps partial (free slots) and full spans, each in two
 * lists indexed by sweepgen / 2 % 2: one for spans swept in this cycle,
 * one for spans still to sweep.  A span's list is chosen by its own
 * sweepgen, so when gc_sweep_prepare advances heap.sweepgen by 2 every
 * swept list becomes an unswept one without touching a span, and a span
 * queued with a stale sweepgen still lands where the sweeper looks.
 *
 * Handing a span to an mcache (cache_span): a swept partial span; else an
 * unswept span, swept on the spot (partial first, then full ones, which
 * sweeping may free up), at most 100 of them so that one refill does not
 * sweep the world; else a fresh span from the heap.  Large objects have
 * spans of class 0, which sit on the full lists for the sweeper to find.
 *
 * Invariants: a span on a list has sweepgen heap.sweepgen (swept) or
 * heap.sweepgen - 2 (unswept); whoever pops an unswept span owns it and
 * moves it to heap.sweepgen - 1 before sweeping; after gc_sweep_prepare
 * no span is pushed onto an unswept list, so they only shrink.
 *
 * Lock order: the mcentral lock is held only around list operations,
 * never while sweeping or calling the heap.
 *
 * Rejected: Go's lock-free spanSet (a block-list structure worth its
 * complexity with dozens of Ps; here the lock is held for a push or a pop
 * of a linked span and is per span class) and a single list per mcentral
 * with a sweep scan of it (the sweeper would have to skip swept spans).
 */
#include "gc/malloc.h"

struct gc_mcentral gc_central[GC_NUM_SPANCLASSES];

static inline int list_of(uint32_t sweepgen)
{
	return (sweepgen >> 1) & 1;
}

static void push(struct gc_span **l, struct gc_span *s)
{
	s->prev = NULL;
	s->next = *l;
	*l = s;
}

static struct gc_span *pop(struct gc_span **l)
{
	struct gc_span *s = *l;

	if (s) {
		*l = s->next;
		s->next = NULL;
	}
	return s;
}

static void push_by_sweepgen(struct gc_span *s)
{
	struct gc_mcentral *c = &gc_central[s->spanclass];
	int i = list_of(atomic_load(&s->sweepgen));

	gort_lock(&c->lock);
	if (s->alloccount == s->nelems)
		push(&c->full[i], s);
	else
		push(&c->partial[i], s);
	gort_unlock(&c->lock);
}

void gc_mcentral_push_swept(struct gc_span *s)
{
	push_by_sweepgen(s);
}

void gc_mcentral_push_unswept(struct gc_span *s)
{
	push_by_sweepgen(s);
}

struct gc_span *gc_mcentral_pop_unswept(struct gc_mcentral *c, int full)
{
	uint32_t sg = atomic_load(&gc_heap.sweepgen);
	int i = list_of(sg - 2);
	struct gc_span *s;

	gort_lock(&c->lock);
	s = pop(full ? &c->full[i] : &c->partial[i]);
	gort_unlock(&c->lock);
	if (s) {
		uint32_t want = sg - 2;

		if (!atomic_compare_exchange_strong(&s->sweepgen, &want,
						    sg - 1))
			gort_throw("gc: unswept span with a bad sweepgen");
	}
	return s;
}

static struct gc_span *pop_swept_partial(struct gc_mcentral *c)
{
	int i = list_of(atomic_load(&gc_heap.sweepgen));
	struct gc_span *s;

	gort_lock(&c->lock);
	s = pop(&c->partial[i]);
	gort_unlock(&c->lock);
	return s;
}

/* Sweep unswept spans of c until one has room (budget bounds the work). */
static struct gc_span *sweep_for_room(struct gc_mcentral *c)
{
	struct gc_span *s = NULL;
	int budget = 100, full;

	if (!gc_sweep_pending())
		return NULL;
	gc_sweep_enter();
	for (full = 0; full < 2; full++) {
		while (budget-- > 0 && (s = gc_mcentral_pop_unswept(c, full))) {
			if (gc_sweep_span(s, true))
				goto out;
			/* swept but still full: where full swept spans go */
			push_by_sweepgen(s);
			s = NULL;
		}
	}
out:
	gc_sweep_exit();
	return s;
}

struct gc_span *gc_mcentral_cache_span(struct gc_mcentral *c)
{
	struct gc_span *s = pop_swept_partial(c);
	uint8_t spc = (uint8_t)(c - gc_central);

	if (!s)
		s = sweep_for_room(c);
	if (!s) {
		s = gc_heap_alloc_span(gc_class_npages[spc >> 1], spc);
		if (!s)
			return NULL;
		gc_heap_publish(s);
	}
	if (s->alloccount >= s->nelems ||
	    atomic_load(&s->freeindex) >= s->nelems)
		gort_throw("gc: cached span has no free slot");
	/* alloccache starts at freeindex's 64-slot word, shifted to it */
	gc_span_refill_alloccache(s, (atomic_load(&s->freeindex) & ~63u) / 8);
	s->alloccache >>= atomic_load(&s->freeindex) % 64;
	return s;
}

void gc_mcentral_uncache_span(struct gc_mcentral *c, struct gc_span *s)
{
	push_by_sweepgen(s);
}
