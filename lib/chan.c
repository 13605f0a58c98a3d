// SPDX-License-Identifier: MIT
/*
 * chan.c - channels with Go's semantics (runtime/chan.go in C).
 *
 * Invariants (as in Go):
 *  At least one of c->sendq and c->recvq is empty, except for a goroutine
 *  blocked in select on both ends of one unbuffered channel.
 *  For buffered channels also:
 *   c->qcount > 0 implies that c->recvq is empty.
 *   c->qcount < c->dataqsiz implies that c->sendq is empty.
 *
 * c->lock guards every field of the channel and the sudogs queued on it.
 * It is never held across a park: gort_gopark's unlock callback releases
 * it once the parking goroutine is off its stack.
 *
 * An unbuffered send to a parked receiver copies the value straight into
 * the receiver's sudog->elem (its stack), then readies the receiver onto
 * the sender's runnext: the receiver runs next on this P, with the value
 * in cache, and the sender's next block switches straight to it.  A
 * receive from a full buffered channel with a parked sender takes the head
 * of the buffer and moves the sender's value to the tail, preserving FIFO.
 *
 * Threads the runtime did not start block on a futex in their own sudog,
 * so C code can feed goroutines from library callback threads.
 *
 * Misuse panics with Go's messages: send on a closed channel, close of a
 * closed channel, close of a nil channel.
 *
 * Memory: a channel is one object of the garbage-collected heap (DESIGN.md
 * section 6), its buffer included, scanned for pointers since elements
 * may hold them; it is reclaimed once nothing references it.
 *
 * Rejected: lock-free channels (Go tried; the lock is uncontended in the
 * common hand-off and a lock-free select over many channels is not known
 * to be correct), and a mutex+condvar per channel (parks threads, not
 * goroutines).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "gc/gc.h"

#define MAX_ELEM_SIZE (64u << 10)	/* Go's limit */

/* ---- wait queues ---- */

void gort_waitq_enqueue(struct waitq *q, struct gort_sudog *sg)
{
	sg->next = NULL;
	sg->prev = q->last;
	if (q->last)
		q->last->next = sg;
	else
		q->first = sg;
	q->last = sg;
}

void gort_waitq_remove(struct waitq *q, struct gort_sudog *sg)
{
	if (sg->prev)
		sg->prev->next = sg->next;
	else if (q->first == sg)
		q->first = sg->next;
	else
		return;		/* not queued (already dequeued) */
	if (sg->next)
		sg->next->prev = sg->prev;
	else
		q->last = sg->prev;
	sg->next = sg->prev = NULL;
}

/*
 * First waiter that may still be woken.  A sudog of a select that another
 * channel already won is skipped (and dropped): Go's selectDone CAS.
 */
struct gort_sudog *gort_waitq_dequeue(struct waitq *q)
{
	struct gort_sudog *sg;

	while ((sg = q->first)) {
		q->first = sg->next;
		if (q->first)
			q->first->prev = NULL;
		else
			q->last = NULL;
		sg->next = sg->prev = NULL;
		if (sg->sel) {
			uint32_t zero = 0;

			if (!atomic_compare_exchange_strong(&sg->sel->done,
							    &zero, 1))
				continue;
			sg->sel->winner = sg;
		}
		return sg;
	}
	return NULL;
}

/* Wake the owner of a dequeued sudog (its fields are final by now). */
void gort_sudog_ready(struct gort_sudog *sg)
{
	struct gort_g *gp = sg->g;

	if (gp)
		gort_goready(gp);
	else
		gort_wake_foreign(&sg->woken);
}

static bool unlock_chan(struct gort_g *gp, void *arg)
{
	gort_unlock(arg);
	return true;
}

/* Sleep until sg is readied; `unlock` is released once we are off-CPU. */
void gort_sudog_wait(struct gort_sudog *sg, struct gort_lock *unlock,
		     enum gort_waitreason reason)
{
	if (sg->g) {
		/* the lock is inside the channel: leak detection's object */
		sg->g->waitobj = unlock;
		gort_gopark(unlock_chan, unlock, reason);
		return;
	}
	gort_unlock(unlock);
	gort_foreign_blocked(true);
	while (!atomic_load_explicit(&sg->woken, memory_order_acquire))
		gort_futex_wait(&sg->woken, 0, -1);
}

static void sudog_init(struct gort_sudog *sg, struct gort_m *m,
		       struct gort_chan *c, void *elem)
{
	memset(sg, 0, sizeof(*sg));
	sg->g = m && m->curg ? m->curg : NULL;
	sg->c = c;
	sg->elem = elem;
}

/* ---- make, len, cap ---- */

GORT_API struct gort_chan *gort_chan_make(size_t elem_size, size_t cap)
{
	struct gort_chan *c;

	if (elem_size > MAX_ELEM_SIZE ||
	    (elem_size && cap > (SIZE_MAX / 2 - sizeof(*c)) / elem_size)) {
		errno = EINVAL;
		return NULL;
	}
	c = gc_malloc(sizeof(*c) + elem_size * cap, false);
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->elemsize = elem_size;
	c->dataqsiz = cap;
	return c;
}

GORT_API size_t gort_chan_len(struct gort_chan *c)
{
	size_t n;

	if (!c)
		return 0;
	gort_lock(&c->lock);
	n = c->qcount;
	gort_unlock(&c->lock);
	return n;
}

GORT_API size_t gort_chan_cap(struct gort_chan *c)
{
	return c ? c->dataqsiz : 0;
}

static inline char *slot(struct gort_chan *c, size_t i)
{
	return c->buf + i * c->elemsize;
}

/*
 * Word-sized elements get inline copies: a libc call for 8 bytes was a
 * tenth of chanmpmc's time (memmove into the receiver, memset of the
 * slot it left).
 */
static inline void elem_copy(void *dst, const void *src, size_t size)
{
	switch (size) {
	case 8:
		memcpy(dst, src, 8);
		break;
	case 4:
		memcpy(dst, src, 4);
		break;
	case 16:
		memcpy(dst, src, 16);
		break;
	default:
		memcpy(dst, src, size);
	}
}

static inline void elem_clear(void *dst, size_t size)
{
	switch (size) {
	case 8:
		memset(dst, 0, 8);
		break;
	case 4:
		memset(dst, 0, 4);
		break;
	case 16:
		memset(dst, 0, 16);
		break;
	default:
		memset(dst, 0, size);
	}
}

static inline void copy_elem(struct gort_chan *c, void *dst, const void *src)
{
	if (!dst)
		return;
	if (src)
		elem_copy(dst, src, c->elemsize);
	else
		elem_clear(dst, c->elemsize);
}

_Noreturn void gort_chan_panic_closed_send(struct gort_chan *c)
{
	gort_unlock(&c->lock);
	gort_panic("send on closed channel");
}

/*
 * Complete a send if it can proceed now (c locked, not closed): true when
 * done, and c is unlocked; false leaves c locked.
 */
bool gort_chan_send_locked(struct gort_chan *c, const void *elem)
{
	struct gort_sudog *sg = gort_waitq_dequeue(&c->recvq);

	if (sg) {
		/* Straight into the receiver's memory. */
		copy_elem(c, sg->elem, elem);
		if (sg->g)
			gc_stack_written(sg->g);
		sg->success = true;
		gort_unlock(&c->lock);
		gort_sudog_ready(sg);
		return true;
	}
	if (c->qcount < c->dataqsiz) {
		copy_elem(c, slot(c, c->sendx), elem);
		if (++c->sendx == c->dataqsiz)
			c->sendx = 0;
		c->qcount++;
		gort_unlock(&c->lock);
		return true;
	}
	return false;
}

/*
 * Complete a receive if it can proceed now (c locked): true when done (c
 * unlocked, *ok false for a closed, drained channel); false leaves c
 * locked.
 */
bool gort_chan_recv_locked(struct gort_chan *c, void *elem, bool *ok)
{
	struct gort_sudog *sg;

	if (c->closed && c->qcount == 0) {
		gort_unlock(&c->lock);
		copy_elem(c, elem, NULL);
		*ok = false;
		return true;
	}
	sg = gort_waitq_dequeue(&c->sendq);
	if (sg) {
		if (c->dataqsiz == 0) {
			copy_elem(c, elem, sg->elem);
		} else {
			/* Full buffer: take the head, the sender's value
			 * goes to the tail. */
			copy_elem(c, elem, slot(c, c->recvx));
			copy_elem(c, slot(c, c->recvx), sg->elem);
			if (++c->recvx == c->dataqsiz)
				c->recvx = 0;
			c->sendx = c->recvx;
		}
		sg->success = true;
		gort_unlock(&c->lock);
		gort_sudog_ready(sg);
		*ok = true;
		return true;
	}
	if (c->qcount > 0) {
		copy_elem(c, elem, slot(c, c->recvx));
		elem_clear(slot(c, c->recvx), c->elemsize);
		if (++c->recvx == c->dataqsiz)
			c->recvx = 0;
		c->qcount--;
		gort_unlock(&c->lock);
		*ok = true;
		return true;
	}
	return false;
}

/* A nil channel (and an empty select) blocks forever, as in Go. */
_Noreturn void gort_chan_block_forever(enum gort_waitreason reason)
{
	struct gort_m *m = gort_rt_enter();
	static struct gort_lock never;

	if (m && m->curg) {
		gort_lock(&never);
		gort_gopark(unlock_chan, &never, reason);
	} else {
		_Atomic uint32_t forever = 0;

		gort_rt_exit();
		for (;;)
			gort_futex_wait(&forever, 0, -1);
	}
	gort_throw("goroutine blocked forever was woken");
}

/* An operation on a NULL channel: never ready; blocking never returns. */
static bool nil_chan_op(bool block, enum gort_waitreason reason)
{
	if (block)
		gort_chan_block_forever(reason);
	return false;
}

/*
 * The operation could not proceed at once (c is locked): give up if it
 * must not block, else wait on queue q.  Returns -1 for gave up, else the
 * sudog's success (false: woken by close).
 */
static int chan_wait(struct gort_m *m, struct gort_chan *c, struct waitq *q,
		     void *elem, bool block, enum gort_waitreason reason)
{
	struct gort_sudog sg;

	if (!block) {
		gort_unlock(&c->lock);
		gort_rt_exit();
		return -1;
	}
	sudog_init(&sg, m, c, elem);
	gort_waitq_enqueue(q, &sg);
	gort_sudog_wait(&sg, &c->lock, reason);
	gort_rt_exit();
	return sg.success;
}

static bool chansend(struct gort_chan *c, const void *elem, bool block)
{
	struct gort_m *m;
	int r;

	if (!c)
		return nil_chan_op(block, WR_CHAN_SEND_NIL);
	m = gort_rt_enter();
	gort_lock(&c->lock);
	if (c->closed)
		gort_chan_panic_closed_send(c);
	if (gort_chan_send_locked(c, elem)) {
		gort_rt_exit();
		return true;
	}
	r = chan_wait(m, c, &c->sendq, (void *)elem, block, WR_CHAN_SEND);
	if (r == 0)
		gort_panic("send on closed channel");
	return r > 0;
}

/* Returns whether a receive happened; *ok: a value (not a close). */
static bool chanrecv(struct gort_chan *c, void *elem, bool block, bool *ok)
{
	struct gort_m *m;
	int r;

	if (!c)
		return nil_chan_op(block, WR_CHAN_RECEIVE_NIL);
	m = gort_rt_enter();
	gort_lock(&c->lock);
	if (gort_chan_recv_locked(c, elem, ok)) {
		gort_rt_exit();
		return true;
	}
	r = chan_wait(m, c, &c->recvq, elem, block, WR_CHAN_RECEIVE);
	if (r < 0)
		return false;
	*ok = r;
	if (!r)
		copy_elem(c, elem, NULL);
	return true;
}

GORT_API void gort_chan_send(struct gort_chan *c, const void *elem)
{
	chansend(c, elem, true);
}

GORT_API bool gort_chan_recv(struct gort_chan *c, void *elem)
{
	bool ok = false;

	chanrecv(c, elem, true, &ok);
	return ok;
}

GORT_API int gort_chan_try_send(struct gort_chan *c, const void *elem)
{
	return chansend(c, elem, false) ? 0 : -EAGAIN;
}

GORT_API int gort_chan_try_recv(struct gort_chan *c, void *elem)
{
	bool ok = false;

	if (!chanrecv(c, elem, false, &ok))
		return -EAGAIN;
	return ok ? 1 : 0;
}

GORT_API void gort_chan_close(struct gort_chan *c)
{
	struct gort_sudog *sg, *wake = NULL;

	if (!c)
		gort_panic("close of nil channel");
	gort_rt_enter();
	gort_lock(&c->lock);
	if (c->closed) {
		gort_unlock(&c->lock);
		gort_panic("close of closed channel");
	}
	c->closed = true;
	/* Collect every waiter first: ready them only after unlocking. */
	while ((sg = gort_waitq_dequeue(&c->recvq))) {
		if (sg->elem)
			elem_clear(sg->elem, c->elemsize);
		sg->success = false;
		sg->next = wake;
		wake = sg;
	}
	while ((sg = gort_waitq_dequeue(&c->sendq))) {
		sg->success = false;
		sg->next = wake;
		wake = sg;
	}
	gort_unlock(&c->lock);
	while (wake) {
		sg = wake;
		wake = sg->next;
		gort_sudog_ready(sg);
	}
	gort_rt_exit();
}
