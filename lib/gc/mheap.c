// SPDX-License-Identifier: MIT
/*
 * mheap.c - the page heap: one reservation, the page -> span map, free
 * page runs, and the metadata allocator (Go's runtime/mheap.go).
 *
 * The heap is one MAP_NORESERVE reservation of GC_HEAP_RESERVE bytes
 * (halved until the kernel agrees, down to 1 GiB), MADV_NOHUGEPAGE
 * because the write barrier tracks 4 KiB pages.  heap.used moves up in
 * GC_HEAP_GROW steps and never down; the pages below it are either in an
 * in-use span (spans[] points at it) or in a free run.
 *
 * Free runs are struct gc_span in state SPAN_DEAD.  They are found by
 * size through 127 exact-size lists (a two-word bitmap says which are
 * non-empty) and one list of runs of 128 pages and more, searched best
 * fit; they are coalesced through freerun[], a page -> run map that holds
 * each run at its first and last page only.  freerun[] is separate from
 * spans[] so that spans[] holds in-use spans or NULL and nothing else:
 * the collector reads it without a lock.
 *
 * Which pages are zero is a property of pages, not of runs: released[]
 * has one bit per page, set for pages that were never touched (fresh
 * growth) or given back with MADV_DONTNEED (scavenge.c), which the kernel
 * refills with zeros.  A span carved from released pages only is
 * needzero = false.  heap_released is the count of set bits, exactly,
 * so runs can be split and merged freely whatever their pages' history.
 *
 * Metadata (spans, bitmaps, mcaches) comes from fixed-size free lists
 * over 256 KiB mmap chunks outside the heap: no malloc on the allocation
 * path (gort_alloc must work where malloc's locks may be held), and the
 * collector's bookkeeping never dirties heap pages.
 *
 * Invariants (heap.lock held):
 *   - two free runs are never adjacent (frees coalesce), except while the
 *     scavenger has one off the lists;
 *   - freerun[first] == freerun[last] == r for a listed run, NULL at
 *     every other page;
 *   - heap_inuse = pages of spans handed out (published or not) * page.
 *
 * Lock order: heap.lock is taken last among the allocator's locks; the
 * collector's gc_barrier_heap_grew runs under it and must not allocate.
 *
 * Rejected: Go's radix tree of page bitmaps (pageAlloc; it scales to
 * many arenas and lock-free allocation of single pages by per-P page
 * caches, which one contiguous heap and the mcentral layer above make
 * unnecessary here), an address-ordered tree of runs (best fit by size is
 * what matters; coalescing needs only the neighbours, which freerun[]
 * gives in O(1)), and a per-run "released" flag (merging a released run
 * with a dirty one would either lose the accounting or force an madvise
 * of the whole result, as Go 1.12 did).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "gc/malloc.h"

#define MIN_RESERVE ((uintptr_t)1 << 30)
#define NBUCKETS 128 /* exact lists for 1..127 pages */
#define META_CHUNK (256u << 10)
#define META_MAX 4096 /* largest metadata block */

struct gc_heap gc_heap;

/* heap.lock guards all of this */
static struct {
	struct gc_span *bucket[NBUCKETS]; /* [n]: free runs of n pages */
	struct gc_span *large; /* free runs of NBUCKETS+ pages */
	uint64_t nonempty[NBUCKETS / 64]; /* bucket[n] != NULL */
	struct gc_span **freerun; /* page -> free run at its ends */
	uint64_t *released; /* page -> given back / untouched */
	uintptr_t npages_max; /* pages in the reservation */
	/* metadata */
	void *metafree[META_MAX / 8 + 1]; /* free blocks by size / 8 */
	char *metacarve; /* next unused byte of the chunk */
	size_t metaleft; /* bytes left there */
	_Atomic uint64_t metasys; /* bytes of chunks mapped */
} mh;

static pthread_once_t heap_once = PTHREAD_ONCE_INIT;
static int heap_init_err;

int64_t gc_nanotime(void)
{
	return gort_nanotime_internal();
}

/* ---- metadata ---- */

void *gc_meta_alloc(size_t size)
{
	size_t idx;
	void **p;

	size = (size + 7) & ~(size_t)7;
	idx = size / 8;
	p = mh.metafree[idx];
	if (p) {
		mh.metafree[idx] = *p;
		memset(p, 0, size);
		return p;
	}
	if (mh.metaleft < size) {
		char *c = mmap(NULL, META_CHUNK, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (c == MAP_FAILED)
			return NULL;
		atomic_fetch_add(&mh.metasys, META_CHUNK);
		mh.metacarve = c;
		mh.metaleft = META_CHUNK;
	}
	p = (void **)mh.metacarve;
	mh.metacarve += size;
	mh.metaleft -= size;
	return p;
}

void gc_meta_free(void *p, size_t size)
{
	size_t idx = ((size + 7) & ~(size_t)7) / 8;

	*(void **)p = mh.metafree[idx];
	mh.metafree[idx] = p;
}

uint64_t gc_meta_sys(void)
{
	uintptr_t pages =
		(atomic_load(&gc_heap.used) - gc_heap.base) >> GC_PAGE_SHIFT;

	/* the maps are touched only where the heap is */
	return atomic_load(&mh.metasys) + pages * 2 * sizeof(void *) +
	       pages / 8;
}

/* ---- the reservation ---- */

static void *map_noreserve(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void heap_init_once(void)
{
	uintptr_t size = GC_HEAP_RESERVE, npages;
	void *base = NULL;

	for (; size >= MIN_RESERVE; size /= 2) {
		base = map_noreserve(size);
		if (base)
			break;
	}
	if (!base) {
		fprintf(stderr,
			"gort: cannot reserve 1 GiB of address space "
			"for the heap: %s\n",
			strerror(errno));
		heap_init_err = -ENOMEM;
		return;
	}
	/* fails only on kernels without THP, where it is moot */
	madvise(base, size, MADV_NOHUGEPAGE);
	npages = size >> GC_PAGE_SHIFT;
	gc_heap.spans = map_noreserve(npages * sizeof(*gc_heap.spans));
	mh.freerun = map_noreserve(npages * sizeof(*mh.freerun));
	mh.released = map_noreserve((npages + 63) / 64 * 8);
	if (!gc_heap.spans || !mh.freerun || !mh.released) {
		fprintf(stderr, "gort: cannot map the heap's page tables\n");
		munmap(base, size);
		heap_init_err = -ENOMEM;
		return;
	}
	mh.npages_max = npages;
	gc_heap.base = (uintptr_t)base;
	gc_heap.end = gc_heap.base + size;
	atomic_store(&gc_heap.sweepgen, 2);
	atomic_store_explicit(&gc_heap.used, gc_heap.base,
			      memory_order_release);
}

int gc_heap_init(void)
{
	pthread_once(&heap_once, heap_init_once);
	return heap_init_err;
}

/* ---- released-page bits ---- */

static uintptr_t page_of(uintptr_t addr)
{
	return (addr - gc_heap.base) >> GC_PAGE_SHIFT;
}

bool gc_heap_page_released(uintptr_t page)
{
	return __atomic_load_n(&mh.released[page / 64], __ATOMIC_RELAXED) &
	       (1ull << (page % 64));
}

/* Set (or clear) n bits from page; returns how many changed. */
static uintptr_t released_range(uintptr_t page, uintptr_t n, bool set)
{
	uintptr_t changed = 0;

	while (n) {
		uintptr_t bit = page % 64, k = 64 - bit < n ? 64 - bit : n;
		uint64_t mask = (k == 64 ? ~0ull : ((1ull << k) - 1)) << bit;
		uint64_t *w = &mh.released[page / 64];
		uint64_t v = __atomic_load_n(w, __ATOMIC_RELAXED);

		/* relaxed: the scavenger reads bits of runs it took off the
		 * lists without the lock */
		if (set) {
			changed += __builtin_popcountll(~v & mask);
			v |= mask;
		} else {
			changed += __builtin_popcountll(v & mask);
			v &= ~mask;
		}
		__atomic_store_n(w, v, __ATOMIC_RELAXED);
		page += k;
		n -= k;
	}
	return changed;
}

/* Released pages among n from page. */
uintptr_t gc_heap_count_released(uintptr_t page, uintptr_t n)
{
	uintptr_t c = 0;

	while (n) {
		uintptr_t bit = page % 64, k = 64 - bit < n ? 64 - bit : n;
		uint64_t mask = (k == 64 ? ~0ull : ((1ull << k) - 1)) << bit;

		c += __builtin_popcountll(
			__atomic_load_n(&mh.released[page / 64],
					__ATOMIC_RELAXED) &
			mask);
		page += k;
		n -= k;
	}
	return c;
}

static uintptr_t released_range_count(const struct gc_span *r)
{
	return gc_heap_count_released(page_of(r->base), r->npages);
}

void gc_heap_mark_released(uintptr_t page, uintptr_t n)
{
	uintptr_t c = released_range(page, n, true);

	atomic_fetch_add(&gc_heap.heap_released, (uint64_t)c << GC_PAGE_SHIFT);
}

/* ---- free runs ---- */

static void run_set(struct gc_span *r, struct gc_span *v)
{
	uintptr_t p = page_of(r->base);

	mh.freerun[p] = v;
	mh.freerun[p + r->npages - 1] = v;
}

static void list_insert(struct gc_span **head, struct gc_span *r)
{
	r->prev = NULL;
	r->next = *head;
	if (*head)
		(*head)->prev = r;
	*head = r;
}

static void list_remove(struct gc_span **head, struct gc_span *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		*head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->next = r->prev = NULL;
}

static void run_insert(struct gc_span *r)
{
	run_set(r, r);
	if (r->npages < NBUCKETS) {
		list_insert(&mh.bucket[r->npages], r);
		mh.nonempty[r->npages / 64] |= 1ull << (r->npages % 64);
	} else {
		list_insert(&mh.large, r);
	}
}

static void run_remove(struct gc_span *r)
{
	run_set(r, NULL);
	if (r->npages < NBUCKETS) {
		list_remove(&mh.bucket[r->npages], r);
		if (!mh.bucket[r->npages])
			mh.nonempty[r->npages / 64] &=
				~(1ull << (r->npages % 64));
	} else {
		list_remove(&mh.large, r);
	}
}

/* Insert r, merging it with the free runs on either side. */
void gc_heap_put_free(struct gc_span *r)
{
	uintptr_t p = page_of(r->base);
	uintptr_t top = page_of(atomic_load(&gc_heap.used));
	struct gc_span *n;

	if (p > 0 && (n = mh.freerun[p - 1])) {
		run_remove(n);
		r->base = n->base;
		r->npages += n->npages;
		if (n->unusedsince > r->unusedsince)
			r->unusedsince = n->unusedsince;
		gc_meta_free(n, sizeof(*n));
		p = page_of(r->base);
	}
	if (p + r->npages < top && (n = mh.freerun[p + r->npages])) {
		run_remove(n);
		r->npages += n->npages;
		if (n->unusedsince > r->unusedsince)
			r->unusedsince = n->unusedsince;
		gc_meta_free(n, sizeof(*n));
	}
	run_insert(r);
}

/* Smallest free run of at least npages (lowest bucket, then best fit). */
static struct gc_span *run_find(uintptr_t npages)
{
	struct gc_span *r, *best = NULL;
	uintptr_t i;

	if (npages < NBUCKETS) {
		for (i = npages / 64; i < NBUCKETS / 64; i++) {
			uint64_t w = mh.nonempty[i];

			if (i == npages / 64)
				w &= ~0ull << (npages % 64);
			if (w)
				return mh.bucket[i * 64 + __builtin_ctzll(w)];
		}
	}
	for (r = mh.large; r; r = r->next)
		if (r->npages >= npages && (!best || r->npages < best->npages))
			best = r;
	return best;
}

/* Map the next GC_HEAP_GROW bytes (or what npages needs) into free runs. */
static int heap_grow(uintptr_t npages)
{
	uintptr_t used = atomic_load(&gc_heap.used), need, len;
	struct gc_span *r;

	if (used == gc_heap.base)
		npages++;	/* the page never handed out, below */
	if (npages > (gc_heap.end - used) >> GC_PAGE_SHIFT)
		return -ENOMEM;
	need = npages << GC_PAGE_SHIFT;
	len = (need + GC_HEAP_GROW - 1) / GC_HEAP_GROW * GC_HEAP_GROW;
	if (len > gc_heap.end - used)
		len = gc_heap.end - used;
	r = gc_meta_alloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->base = used;
	r->npages = len >> GC_PAGE_SHIFT;
	r->unusedsince = gc_nanotime();
	atomic_fetch_add(&gc_heap.heap_sys, len);
	gc_heap_mark_released(page_of(used), r->npages);
	if (used == gc_heap.base) {
		/*
		 * The first page is never handed out.  gc_heap.base sits in
		 * the runtime's data, which is scanned as every global is,
		 * so an object there would live as long as the process:
		 * the first tree a program builds, say, however large.  The
		 * page stays mapped and untouched (counted as released).
		 */
		r->base += GC_PAGE_SIZE;
		r->npages--;
	}
	atomic_store_explicit(&gc_heap.used, used + len, memory_order_release);
	gc_barrier_heap_grew(used, len);
	gc_heap_put_free(r);
	return 0;
}

static void span_init(struct gc_span *s, uint8_t spc)
{
	uint32_t sc = spc >> 1;
	uintptr_t bytes = s->npages << GC_PAGE_SHIFT;

	s->spanclass = spc;
	if (sc) {
		s->elemsize = gc_class_size[sc];
		s->nelems = (uint32_t)(bytes / s->elemsize);
		s->divmul = (uint32_t)(0xffffffffu / s->elemsize) + 1;
	} else {
		/* a large object: index 0 for every address in the span */
		s->elemsize = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
		s->nelems = 1;
		s->divmul = 0;
	}
	atomic_store(&s->sweepgen, atomic_load(&gc_heap.sweepgen));
	atomic_store(&s->freeindex, 0);
	atomic_store(&s->has_specials, false);
	s->alloccount = 0;
	s->next = s->prev = NULL;
}

/* Take npages off run r (removed from the lists), the rest stays free. */
static struct gc_span *run_take(struct gc_span *r, uintptr_t npages)
{
	uintptr_t p = page_of(r->base), nrel;

	if (r->npages > npages) {
		struct gc_span *rest = gc_meta_alloc(sizeof(*rest));

		if (!rest)
			return NULL;
		run_remove(r);
		rest->base = r->base + (npages << GC_PAGE_SHIFT);
		rest->npages = r->npages - npages;
		rest->unusedsince = r->unusedsince;
		run_insert(rest);
		r->npages = npages;
	} else {
		run_remove(r);
	}
	nrel = released_range(p, npages, false);
	atomic_fetch_sub(&gc_heap.heap_released,
			 (uint64_t)nrel << GC_PAGE_SHIFT);
	atomic_fetch_add(&gc_heap.heap_inuse,
			 (uint64_t)npages << GC_PAGE_SHIFT);
	r->needzero = nrel != npages;
	return r;
}

static struct gc_span *alloc_locked(uintptr_t npages, bool grow)
{
	struct gc_span *r = run_find(npages);

	if (!r && grow && heap_grow(npages) == 0)
		r = run_find(npages);
	return r ? run_take(r, npages) : NULL;
}

struct gc_span *gc_heap_alloc_span(uintptr_t npages, uint8_t spc)
{
	struct gc_span *s;
	uint32_t nelems;
	size_t bytes;

	if (gc_heap_init())
		return NULL;
	gort_lock(&gc_heap.lock);
	s = alloc_locked(npages, false);
	while (!s && gc_sweep_pending()) {
		/* sweep before growing: this cycle's garbage may free pages */
		uint64_t freed = atomic_load(&gc_sweep_spans_freed);

		gort_unlock(&gc_heap.lock);
		while (gc_sweep_one() &&
		       atomic_load(&gc_sweep_spans_freed) == freed)
			;
		gort_lock(&gc_heap.lock);
		s = alloc_locked(npages, false);
		if (atomic_load(&gc_sweep_spans_freed) == freed)
			break; /* nothing was freed: sweeping is over */
	}
	if (!s)
		s = alloc_locked(npages, true);
	if (!s)
		goto out_unlock;
	span_init(s, spc);
	nelems = s->nelems;
	bytes = gc_bitmap_bytes(nelems);
	s->allocbits = gc_meta_alloc(bytes);
	s->markbits = gc_meta_alloc(bytes);
	if (!s->allocbits || !s->markbits)
		goto out_free;
	gort_unlock(&gc_heap.lock);
	gc_span_refill_alloccache(s, 0);
	return s;

out_free:
	gort_unlock(&gc_heap.lock);
	gc_heap_free_span(s);
	return NULL;
out_unlock:
	gort_unlock(&gc_heap.lock);
	errno = ENOMEM;
	return NULL;
}

void gc_heap_publish(struct gc_span *s)
{
	uintptr_t p = page_of(s->base), i;

	for (i = 0; i < s->npages; i++)
		atomic_store_explicit(&gc_heap.spans[p + i], s,
				      memory_order_release);
	atomic_store_explicit(&s->state, SPAN_INUSE, memory_order_release);
}

void gc_heap_free_span(struct gc_span *s)
{
	uintptr_t p = page_of(s->base), i;
	size_t bytes = gc_bitmap_bytes(s->nelems);

	gort_lock(&gc_heap.lock);
	if (atomic_load(&s->state) == SPAN_INUSE) {
		atomic_store_explicit(&s->state, SPAN_DEAD,
				      memory_order_release);
		for (i = 0; i < s->npages; i++)
			atomic_store_explicit(&gc_heap.spans[p + i], NULL,
					      memory_order_release);
	}
	if (s->allocbits)
		gc_meta_free(s->allocbits, bytes);
	if (s->markbits)
		gc_meta_free((void *)s->markbits, bytes);
	s->allocbits = NULL;
	s->markbits = NULL;
	atomic_fetch_sub(&gc_heap.heap_inuse,
			 (uint64_t)s->npages << GC_PAGE_SHIFT);
	s->unusedsince = gc_nanotime();
	gc_heap_put_free(s);
	gort_unlock(&gc_heap.lock);
}

/*
 * For the scavenger: a free run that still has pages to give back and
 * has been free since older_than or before, largest first (fewest
 * madvise calls per byte); off the lists until gc_heap_put_free.
 */
struct gc_span *gc_heap_take_unreleased(int64_t older_than)
{
	struct gc_span *r;
	int i;

	for (r = mh.large; r; r = r->next)
		if (r->unusedsince <= older_than &&
		    released_range_count(r) < r->npages)
			goto found;
	for (i = NBUCKETS - 1; i > 0; i--)
		for (r = mh.bucket[i]; r; r = r->next)
			if (r->unusedsince <= older_than &&
			    released_range_count(r) < r->npages)
				goto found;
	return NULL;
found:
	run_remove(r);
	return r;
}
