// SPDX-License-Identifier: MIT
/*
 * finalizer.c - gort_gc_set_finalizer (Go's runtime.SetFinalizer and the
 * finalizer half of mheap.go's specials).
 *
 * Records live in a hash table keyed by object address, outside the GC
 * heap (malloc), so a record never keeps its object alive.  What the
 * object references is a root (gc_scan_finalizers), not the object
 * itself, as in Go: when the mark ends with the object unmarked, nothing
 * but its finalizer can reach it.  Mark termination then moves the
 * record to the run queue and marks the object (and what it references,
 * already marked), so it survives until the finalizer returned; after the
 * world restarts each queued finalizer runs in a goroutine of its own,
 * whose argument (a GC object holding fn and obj) keeps obj reachable
 * until fn is done.  A finalizer runs once: its record is gone.
 *
 * Invariants: a span has has_specials set when one of its objects has a
 * record (sweep calls gc_specials_sweep then, and records of objects
 * freed without finalizing, which cannot happen while the mark queues
 * them, are dropped).  fin_lock guards the table and the run queue; it is
 * never held while the world is stopped by someone who could be waiting
 * for it (gort_gc_set_finalizer runs with a P, so a stop-the-world waits
 * until it released the lock).
 *
 * Rejected: a finalizer goroutine that runs them one after another (Go's
 * runfinq): one slow finalizer would hold up every other, and DESIGN.md
 * asks for finalizers in goroutines.
 */
#include <errno.h>
#include <stdlib.h>

#include "gc/gcint.h"

struct fin {
	struct fin *next;		/* hash chain, or the run queue */
	uintptr_t obj;			/* object base */
	void (*fn)(void *obj);		/* its finalizer */
};

/* What a finalizer goroutine gets: a GC object, so obj stays alive. */
struct fin_run {
	void (*fn)(void *obj);
	void *obj;
};

#define FIN_BUCKETS_MIN 64

static struct gort_lock fin_lock;	/* guards everything below */
static struct fin **buckets;
static size_t nbuckets, nfins;
static struct fin *runq;		/* queued by the last mark */

static size_t bucket_of(uintptr_t obj)
{
	return (size_t)((obj >> 4) * 0x9e3779b97f4a7c15ull >> 32) &
	       (nbuckets - 1);
}

static int grow(void)
{
	size_t n = nbuckets ? 2 * nbuckets : FIN_BUCKETS_MIN, i;
	struct fin **nb = calloc(n, sizeof(*nb)), *f, *next;
	struct fin **old = buckets;
	size_t oldn = nbuckets;

	if (!nb)
		return -ENOMEM;
	buckets = nb;
	nbuckets = n;
	for (i = 0; i < oldn; i++) {
		for (f = old[i]; f; f = next) {
			next = f->next;
			f->next = buckets[bucket_of(f->obj)];
			buckets[bucket_of(f->obj)] = f;
		}
	}
	free(old);
	return 0;
}

GORT_API void gort_gc_set_finalizer(void *objp, void (*fn)(void *obj))
{
	uintptr_t obj = (uintptr_t)objp;
	struct gc_span *s;
	struct fin *f, **pp, *nf = NULL;
	uint32_t idx;

	if (!objp)
		gort_panic("runtime.SetFinalizer: nil pointer");
	if (!gc_find_object(obj, &s, &idx))
		gort_panic("runtime.SetFinalizer: pointer not in allocated block");
	if (s->base + (uintptr_t)idx * s->elemsize != obj)
		gort_panic("runtime.SetFinalizer: pointer not at beginning of allocated block");
	if (fn) {
		nf = malloc(sizeof(*nf));
		if (!nf)
			gort_fatal("runtime: out of memory for a finalizer");
	}
	gort_lock(&fin_lock);
	if (nf && nfins + 1 > nbuckets * 2 && grow() && !nbuckets) {
		gort_unlock(&fin_lock);
		gort_fatal("runtime: out of memory for a finalizer");
	}
	if (nbuckets) {
		for (pp = &buckets[bucket_of(obj)]; (f = *pp);
		     pp = &f->next) {
			if (f->obj != obj)
				continue;
			if (fn) {
				f->fn = fn;
				free(nf);
			} else {
				*pp = f->next;
				free(f);
				nfins--;
			}
			gort_unlock(&fin_lock);
			return;
		}
	}
	if (nf) {
		nf->obj = obj;
		nf->fn = fn;
		nf->next = buckets[bucket_of(obj)];
		buckets[bucket_of(obj)] = nf;
		nfins++;
		atomic_store(&s->has_specials, true);
	}
	gort_unlock(&fin_lock);
}

/* What the object's finalizer could see is reachable; it is not. */
GC_NO_SANITIZE
void gc_scan_finalizers(struct gc_work *w)
{
	size_t i;
	struct fin *f;

	gort_lock(&fin_lock);
	for (i = 0; i < nbuckets; i++) {
		for (f = buckets[i]; f; f = f->next) {
			struct gc_span *s = gc_span_of(f->obj);

			if (s)
				gc_scan_block(w, f->obj, f->obj + s->elemsize);
		}
	}
	for (f = runq; f; f = f->next)
		gc_grey(w, f->obj);
	gort_unlock(&fin_lock);
}

int gc_queue_finalizers(struct gc_work *w)
{
	struct fin *f, **pp;
	struct gc_span *s;
	uint32_t idx;
	size_t i;
	int n = 0;

	gort_lock(&fin_lock);
	for (i = 0; i < nbuckets; i++) {
		for (pp = &buckets[i]; (f = *pp);) {
			if (!gc_find_object(f->obj, &s, &idx) ||
			    gc_is_marked(s, idx)) {
				pp = &f->next;
				continue;
			}
			*pp = f->next;
			nfins--;
			f->next = runq;
			runq = f;
			gc_grey(w, f->obj);	/* lives until fn ran */
			n++;
		}
	}
	gort_unlock(&fin_lock);
	return n;
}

static void run_one(void *arg)
{
	struct fin_run *r = arg;

	r->fn(r->obj);
}

void gc_run_finalizers(void)
{
	struct fin *f, *next;

	gort_lock(&fin_lock);
	f = runq;
	runq = NULL;
	gort_unlock(&fin_lock);
	for (; f; f = next) {
		struct fin_run *r = gc_malloc(sizeof(*r), false);

		next = f->next;
		if (!r)
			gort_fatal("runtime: out of memory starting a finalizer");
		r->fn = f->fn;
		r->obj = (void *)f->obj;
		free(f);
		if (gort_go(run_one, r))
			gort_fatal("runtime: cannot start a finalizer goroutine");
	}
}

/* Sweep is about to free s's unmarked objects: drop their records. */
void gc_specials_sweep(struct gc_span *s)
{
	uintptr_t lo = s->base, hi = s->base + s->npages * GC_PAGE_SIZE;
	struct fin *f, **pp;
	bool left = false;
	size_t i;

	gort_lock(&fin_lock);
	for (i = 0; i < nbuckets; i++) {
		for (pp = &buckets[i]; (f = *pp);) {
			if (f->obj < lo || f->obj >= hi) {
				pp = &f->next;
				continue;
			}
			if (gc_is_marked(s, gc_obj_index(s, f->obj))) {
				left = true;
				pp = &f->next;
				continue;
			}
			*pp = f->next;
			nfins--;
			free(f);
		}
	}
	gort_unlock(&fin_lock);
	if (!left)
		atomic_store(&s->has_specials, false);
}
