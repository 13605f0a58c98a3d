// SPDX-License-Identifier: MIT
/*
 * mark.c - the mark work queue and conservative scanning (Go's mgcwork.go
 * and the scanning half of mgcmark.go, without pointer maps: every
 * aligned word of a scanned object, stack or root is a candidate pointer).
 *
 * Grey objects are object addresses in work buffers.  Each marker (a
 * background worker, an assisting goroutine, the mark-termination
 * coordinator) owns a struct gc_work with two buffers, as Go's gcWork, so
 * a put right after a get does not bounce between the marker and the
 * global lists; full buffers go to the global full list, where any marker
 * takes them.  The lists are under gc_work_lock: markers take it once per
 * 500 objects, which no profile of binary-trees shows.
 *
 * Invariants:
 *  - An address is put on a work buffer only by the marker whose
 *    gc_mark_set() turned its mark bit on, so every object is scanned
 *    once per cycle (dirty-page rescans are separate, see barrier.c).
 *  - A large object is scanned in oblets of GC_OBLET bytes: its base is
 *    queued when it is marked, and scanning the oblet at the base queues
 *    the starts of the others, so one huge array never makes one marker
 *    hold the others up (Go's oblets).
 *  - gc_nbusy counts markers that may still put work; the concurrent
 *    mark is done when it is 0 and the full list is empty.
 *
 * A marker takes GC_PREFETCH_AHEAD grey objects off its buffers at once,
 * prefetches each as it takes it, and scans the oldest: the objects of a
 * work buffer are scattered over the heap, and scanning one at a time
 * waited for each one's cache line (the prefetch FIFO of Cher, Hosking
 * and Vijaykumar, "Software prefetching for mark-sweep garbage
 * collection", ASPLOS 2004).  Binary-trees at depth 21 went from 17.9 s
 * to 13.4 s with 8 ahead, and to 13.1 s with 16.  The objects held ahead
 * are still grey: a drain that stops on its budget puts them back.
 *
 * Scanning reads memory that mutators write at the same time: the words
 * may be torn or stale, which a conservative collector tolerates (a stale
 * value is at worst an extra retained object; the barrier catches the
 * stores that matter).  The scanning functions are therefore outside the
 * sanitizers' view: ASan would report reads of stack redzones, TSan the
 * races the design accepts.
 *
 * Rejected: a lock-free Treiber stack of buffers (needs ABA tags or
 * hazard pointers for buffers that are reused, for no measured gain with
 * at most a few markers), and Boehm's mark stack with overflow rescans
 * (restarting marks from the heap costs unbounded time in a pause).
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include "gc/gc.h"
#include "gc/gcint.h"

#define GC_WORKBUF_CHUNK (1u << 20)	/* buffers are mapped this many at once */
#define GC_OBLET ((uintptr_t)128 << 10)
#define GC_PREFETCH_AHEAD 16	/* objects taken and prefetched before scanning */

struct gc_workbuf {
	struct gc_workbuf *next;	/* on the full or empty list */
	uint32_t n;			/* entries in obj[] */
	uintptr_t obj[GC_WORKBUF_N];	/* grey object (or oblet) addresses */
};

static struct gort_lock gc_work_lock;	/* guards the two lists */
static struct gc_workbuf *gc_full;	/* buffers with work */
static struct gc_workbuf *gc_empty;	/* free buffers */
_Atomic int64_t gc_nfull;		/* buffers on gc_full */
_Atomic int32_t gc_nbusy;		/* markers that may still put work */
_Atomic uint64_t gc_wbuf_bytes;	/* mapped for buffers (gc_sys) */
_Atomic uint64_t gc_scan_done;		/* bytes scanned this cycle */

static struct gc_workbuf *wbuf_new(void)
{
	struct gc_workbuf *b;
	char *chunk;
	size_t i, n = GC_WORKBUF_CHUNK / sizeof(*b);

	gort_lock(&gc_work_lock);
	b = gc_empty;
	if (b) {
		gc_empty = b->next;
		gort_unlock(&gc_work_lock);
		b->n = 0;
		b->next = NULL;
		return b;
	}
	gort_unlock(&gc_work_lock);
	chunk = mmap(NULL, GC_WORKBUF_CHUNK, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (chunk == MAP_FAILED)
		gort_fatal("runtime: out of memory for mark work buffers");
	atomic_fetch_add(&gc_wbuf_bytes, GC_WORKBUF_CHUNK);
	gort_lock(&gc_work_lock);
	for (i = 1; i < n; i++) {
		b = (struct gc_workbuf *)(chunk + i * sizeof(*b));
		b->next = gc_empty;
		gc_empty = b;
	}
	gort_unlock(&gc_work_lock);
	b = (struct gc_workbuf *)chunk;
	b->n = 0;
	b->next = NULL;
	return b;
}

static void wbuf_put_full(struct gc_workbuf *b)
{
	gort_lock(&gc_work_lock);
	b->next = gc_full;
	gc_full = b;
	gort_unlock(&gc_work_lock);
	atomic_fetch_add(&gc_nfull, 1);
}

static void wbuf_put_empty(struct gc_workbuf *b)
{
	gort_lock(&gc_work_lock);
	b->next = gc_empty;
	gc_empty = b;
	gort_unlock(&gc_work_lock);
}

static struct gc_workbuf *wbuf_get_full(void)
{
	struct gc_workbuf *b;

	if (atomic_load_explicit(&gc_nfull, memory_order_relaxed) <= 0)
		return NULL;
	gort_lock(&gc_work_lock);
	b = gc_full;
	if (b)
		gc_full = b->next;
	gort_unlock(&gc_work_lock);
	if (b)
		atomic_fetch_sub(&gc_nfull, 1);
	return b;
}

bool gc_work_global_empty(void)
{
	return atomic_load(&gc_nfull) == 0;
}

void gc_work_init(struct gc_work *w)
{
	memset(w, 0, sizeof(*w));
}

void gc_work_put(struct gc_work *w, uintptr_t obj)
{
	struct gc_workbuf *b = w->b1;

	if (unlikely(!b || b->n == GC_WORKBUF_N)) {
		struct gc_workbuf *t = w->b2;

		if (t && t->n < GC_WORKBUF_N) {
			w->b2 = b;
			w->b1 = t;
		} else {
			if (b)
				wbuf_put_full(b);
			w->b1 = wbuf_new();
		}
		b = w->b1;
	}
	b->obj[b->n++] = obj;
}

static bool gc_work_get(struct gc_work *w, uintptr_t *obj)
{
	struct gc_workbuf *b = w->b1;

	if (likely(b && b->n)) {
		*obj = b->obj[--b->n];
		return true;
	}
	if (w->b2 && w->b2->n) {
		w->b1 = w->b2;
		w->b2 = b;
		b = w->b1;
		*obj = b->obj[--b->n];
		return true;
	}
	b = wbuf_get_full();
	if (!b)
		return false;
	if (w->b1) {
		if (w->b2)
			wbuf_put_empty(w->b2);
		w->b2 = w->b1;
	}
	w->b1 = b;
	*obj = b->obj[--b->n];
	return true;
}

/* Give the buffers back: work to the full list, the rest to the free. */
void gc_work_dispose(struct gc_work *w)
{
	struct gc_workbuf *bs[2] = { w->b1, w->b2 };
	int i;

	for (i = 0; i < 2; i++) {
		if (!bs[i])
			continue;
		if (bs[i]->n)
			wbuf_put_full(bs[i]);
		else
			wbuf_put_empty(bs[i]);
	}
	w->b1 = w->b2 = NULL;
	if (w->scanned_bytes != w->scanned_flushed) {
		atomic_fetch_add_explicit(&gc_scan_done,
					  w->scanned_bytes - w->scanned_flushed,
					  memory_order_relaxed);
		w->scanned_flushed = w->scanned_bytes;
	}
	if (w->marked_bytes) {
		atomic_fetch_add(&gc_heap.heap_marked, w->marked_bytes);
		w->marked_bytes = 0;
	}
}

/* ---- scanning ---- */

/*
 * Grey the object p points into, if it is a white heap object.  In
 * checkmark mode the marks go to the checkmark pass's bitmap instead.
 */
static inline void grey(struct gc_work *w, uintptr_t p)
{
	struct gc_span *s;
	uint32_t idx;
	uintptr_t obj;

	if (!gc_in_heap(p))
		return;
	obj = gc_find_object(p, &s, &idx);
	if (!obj || !gc_mark_set(s, idx))
		return;
	w->marked_bytes += s->elemsize;
	w->nmarked++;
	if (!gc_span_noscan(s))
		gc_work_put(w, obj);
}

void gc_grey(struct gc_work *w, uintptr_t p)
{
	grey(w, p);
}

GC_NO_SANITIZE
void gc_scan_block(struct gc_work *w, uintptr_t lo, uintptr_t hi)
{
	const volatile uintptr_t *q;

	lo = (lo + sizeof(uintptr_t) - 1) & ~(sizeof(uintptr_t) - 1);
	hi &= ~(sizeof(uintptr_t) - 1);
	for (q = (const volatile uintptr_t *)lo;
	     (uintptr_t)q < hi; q++)
		grey(w, *q);
	w->scanned_bytes += hi > lo ? hi - lo : 0;
}

/* Scan the object or oblet at addr (from a work buffer). */
static void scan_object(struct gc_work *w, uintptr_t addr)
{
	struct gc_span *s = gc_span_of(addr);
	uintptr_t end, next;

	if (!s)
		gort_throw("runtime: grey object outside the heap");
	if (s->nelems == 1 && s->elemsize > GC_OBLET) {
		end = s->base + s->elemsize;
		if (addr == s->base) {
			/* queue the other oblets; this one is scanned now */
			for (next = addr + GC_OBLET; next < end;
			     next += GC_OBLET)
				gc_work_put(w, next);
		}
		if (addr + GC_OBLET < end)
			end = addr + GC_OBLET;
		gc_scan_block(w, addr, end);
		return;
	}
	gc_scan_block(w, addr, addr + s->elemsize);
}

/*
 * Go's gcWork.balance: the global list is empty, so share part of ours
 * (the second buffer, or the older half of the first) with the markers
 * that have none.  Without it one worker kept the whole mark to itself
 * while assists found nothing to do and the mutator allocated black at
 * full speed.
 */
static void balance(struct gc_work *w)
{
	struct gc_workbuf *b = w->b2, *nb;
	uint32_t half;

	if (b && b->n) {
		w->b2 = NULL;
		wbuf_put_full(b);
		return;
	}
	b = w->b1;
	if (!b || b->n < 4)
		return;
	nb = wbuf_new();
	half = b->n / 2;
	memcpy(nb->obj, b->obj, half * sizeof(b->obj[0]));
	memmove(b->obj, b->obj + half, (b->n - half) * sizeof(b->obj[0]));
	nb->n = half;
	b->n -= half;
	wbuf_put_full(nb);
}

/*
 * Scan grey objects until none is left or budget bytes were scanned
 * (budget < 0: no limit).  Returns the bytes scanned.
 */
int64_t gc_drain(struct gc_work *w, int64_t budget)
{
	uintptr_t ahead[GC_PREFETCH_AHEAD];
	uint64_t start = w->scanned_bytes;
	uint32_t tick = 0, head = 0, n = 0;
	uintptr_t obj;

	for (;;) {
		while (n < GC_PREFETCH_AHEAD && gc_work_get(w, &obj)) {
			__builtin_prefetch((const void *)obj);
			ahead[(head + n++) % GC_PREFETCH_AHEAD] = obj;
		}
		if (!n)
			break;
		obj = ahead[head];
		head = (head + 1) % GC_PREFETCH_AHEAD;
		n--;
		if (unlikely((++tick & 63) == 0) &&
		    atomic_load_explicit(&gc_nfull, memory_order_relaxed) == 0)
			balance(w);
		scan_object(w, obj);
		if (budget >= 0 &&
		    (int64_t)(w->scanned_bytes - start) >= budget)
			break;
	}
	/* what was fetched ahead and not scanned stays grey */
	while (n--) {
		gc_work_put(w, ahead[head]);
		head = (head + 1) % GC_PREFETCH_AHEAD;
	}
	return (int64_t)(w->scanned_bytes - start);
}

/*
 * Rescan the part of the marked objects that lies in [lo, hi): the pages
 * the barrier saw written since their objects were scanned.
 */
GC_NO_SANITIZE
void gc_rescan_range(struct gc_work *w, uintptr_t lo, uintptr_t hi)
{
	uintptr_t page = lo & ~(GC_PAGE_SIZE - 1);

	while (page < hi) {
		struct gc_span *s = gc_span_of(page);
		uintptr_t from, to, send;
		uint32_t idx, last;

		if (!s || gc_span_noscan(s)) {
			page += GC_PAGE_SIZE;
			continue;
		}
		from = page > lo ? page : lo;
		send = s->base + s->npages * GC_PAGE_SIZE;
		to = send < hi ? send : hi;
		idx = gc_obj_index(s, from);
		last = gc_obj_index(s, to - 1);
		if (last >= s->nelems)
			last = s->nelems - 1;
		for (; idx <= last && idx < s->nelems; idx++) {
			uintptr_t ob = s->base + (uintptr_t)idx * s->elemsize;
			uintptr_t oe = ob + s->elemsize;

			if (!gc_is_marked(s, idx))
				continue;
			gc_scan_block(w, ob > from ? ob : from,
				      oe < to ? oe : to);
		}
		page = to;
		page = (page + GC_PAGE_SIZE - 1) & ~(GC_PAGE_SIZE - 1);
	}
}

/* ---- shared rescans ---- */

/*
 * The dirty pages a pre-clean round collects are rescanned by whoever
 * helps: the coordinator, mark workers, and allocating goroutines in
 * their assists.  The assists are what makes the rounds converge: a
 * goroutine that dirties pages as fast as the coordinator rescans them
 * (binary-trees writes every page it allocates) otherwise keeps the
 * dirty set, and so the final pause, from shrinking.
 *
 * A round's ranges are cut into GC_RESCAN_CHUNK entries in one of two
 * buffers and published with a new generation in rescan_cursor
 * (generation << 32 | next entry); a helper claims an entry by a
 * compare-exchange on the cursor, so a helper that read the last
 * round's cursor can never claim from a buffer being refilled.  The
 * coordinator waits for every entry of a round to be done before it
 * fills the other buffer, and fills a buffer only two generations after
 * it was published.  A round that does not fit is rescanned inline.
 */
#define RESCAN_CAP 8192

struct rescan_buf {
	_Atomic uint32_t n;
	uintptr_t lo[RESCAN_CAP], hi[RESCAN_CAP];
};

static struct rescan_buf *_Atomic rescan_bufs[2];
static _Atomic uint64_t rescan_cursor;	/* generation << 32 | next */
static _Atomic uint32_t rescan_done;	/* entries finished this round */
static uint32_t rescan_gen;		/* the coordinator's */

static struct rescan_buf *rescan_buf_of(uint32_t gen)
{
	return atomic_load_explicit(&rescan_bufs[gen & 1],
				    memory_order_acquire);
}

static struct rescan_buf *rescan_filling(void)
{
	struct rescan_buf *b = rescan_buf_of(rescan_gen + 1);

	if (!b) {
		b = mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (b == MAP_FAILED)
			return NULL;
		atomic_store_explicit(&rescan_bufs[(rescan_gen + 1) & 1], b,
				      memory_order_release);
	}
	return b;
}

void gc_rescan_share(struct gc_work *w, uintptr_t lo, uintptr_t hi)
{
	struct rescan_buf *b = rescan_filling();
	uint32_t n;

	if (!b) {
		gc_rescan_range(w, lo, hi);
		return;
	}
	n = atomic_load_explicit(&b->n, memory_order_relaxed);
	for (; lo < hi; lo += GC_RESCAN_CHUNK) {
		if (n == RESCAN_CAP) {
			gc_rescan_range(w, lo, hi);
			break;
		}
		b->lo[n] = lo;
		b->hi[n] =
			hi - lo > GC_RESCAN_CHUNK ? lo + GC_RESCAN_CHUNK : hi;
		n++;
	}
	atomic_store_explicit(&b->n, n, memory_order_relaxed);
}

void gc_rescan_publish(void)
{
	struct rescan_buf *next;

	if (!rescan_filling())
		return;		/* nothing was queued */
	rescan_gen++;
	atomic_store_explicit(&rescan_done, 0, memory_order_relaxed);
	atomic_store_explicit(&rescan_cursor, (uint64_t)rescan_gen << 32,
			      memory_order_release);
	next = rescan_filling();
	if (next)
		atomic_store_explicit(&next->n, 0, memory_order_relaxed);
}

int64_t gc_rescan_help(struct gc_work *w, int64_t max_entries)
{
	int64_t bytes = 0;

	while (max_entries > 0) {
		uint64_t c = atomic_load_explicit(&rescan_cursor,
						  memory_order_acquire);
		struct rescan_buf *b = rescan_buf_of((uint32_t)(c >> 32));
		uint32_t idx = (uint32_t)c;

		if (!b || idx >= atomic_load_explicit(&b->n,
						      memory_order_relaxed))
			break;
		if (!atomic_compare_exchange_weak_explicit(
			    &rescan_cursor, &c, c + 1, memory_order_acquire,
			    memory_order_relaxed))
			continue;
		gc_rescan_range(w, b->lo[idx], b->hi[idx]);
		bytes += (int64_t)(b->hi[idx] - b->lo[idx]);
		atomic_fetch_add_explicit(&rescan_done, 1,
					  memory_order_release);
		max_entries--;
	}
	return bytes;
}

bool gc_rescan_pending(void)
{
	uint64_t c = atomic_load_explicit(&rescan_cursor,
					  memory_order_relaxed);
	struct rescan_buf *b = rescan_buf_of((uint32_t)(c >> 32));

	return b && (uint32_t)c < atomic_load_explicit(&b->n,
						       memory_order_relaxed);
}

void gc_rescan_finish(struct gc_work *w)
{
	struct rescan_buf *b = rescan_buf_of(rescan_gen);
	int64_t start = 0;

	if (!rescan_gen || !b)
		return;
	while (gc_rescan_help(w, INT64_MAX) ||
	       atomic_load_explicit(&rescan_done, memory_order_acquire) !=
		       atomic_load_explicit(&b->n, memory_order_relaxed)) {
		/* a helper is in its last entry; if it is off-CPU, it may
		 * be queued behind this thread */
		if (!start)
			start = gort_nanotime_internal();
		else if (gort_nanotime_internal() - start > 20000)
			sched_yield();
		gort_cpu_relax();
	}
}

/* The run ended, maybe mid-round: nothing stays claimable. */
static void rescan_reset(void)
{
	struct rescan_buf *b = rescan_buf_of(rescan_gen + 1);

	atomic_store(&rescan_cursor,
		     (uint64_t)rescan_gen << 32 | UINT32_MAX);
	if (b)
		atomic_store(&b->n, 0);
}

void gc_work_reset(void)
{
	rescan_reset();
	struct gc_workbuf *b, *next;

	gort_lock(&gc_work_lock);
	for (b = gc_full; b; b = next) {
		next = b->next;
		b->next = gc_empty;
		gc_empty = b;
	}
	gc_full = NULL;
	gort_unlock(&gc_work_lock);
	atomic_store(&gc_nfull, 0);
	atomic_store(&gc_nbusy, 0);
}
