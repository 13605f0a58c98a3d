/* SPDX-License-Identifier: MIT */
/*
 * chan.h - channel internals shared by chan.c, select.c and time.c.
 *
 * A sudog (Go's name) is a goroutine's entry in a channel's wait queue; it
 * lives on the waiting goroutine's (or foreign thread's) stack and is
 * valid until the waiter is woken.  One goroutine in a select has a sudog
 * on every channel it waits on; the shared select_state makes sure exactly
 * one of them wins: a waker must win the CAS on state->done before it may
 * complete the operation, so a goroutine blocked in select is woken once.
 */
#ifndef GORT_CHAN_H
#define GORT_CHAN_H

#include "runtime.h"

struct select_state {
	_Atomic uint32_t done;		/* 0 until a waker claims the select */
	struct gort_sudog *winner;	/* the sudog whose case proceeded */
};

struct gort_sudog {
	struct gort_g *g;		/* waiting goroutine, NULL: a thread */
	_Atomic uint32_t woken;		/* futex word for a foreign thread */
	struct gort_sudog *next;	/* wait queue links */
	struct gort_sudog *prev;
	void *elem;			/* value to send / where to receive */
	struct gort_chan *c;		/* channel it waits on */
	struct select_state *sel;	/* NULL unless in a select */
	int caseidx;			/* select case it belongs to */
	bool success;			/* false: woken by close */
};

struct waitq {
	struct gort_sudog *first;
	struct gort_sudog *last;
};

struct gort_chan {
	struct gort_lock lock;		/* guards everything below */
	bool closed;
	size_t elemsize;		/* bytes per element */
	size_t dataqsiz;		/* capacity */
	size_t qcount;			/* elements in buf */
	size_t sendx;			/* next slot to send into */
	size_t recvx;			/* next slot to receive from */
	struct waitq recvq;		/* blocked receivers */
	struct waitq sendq;		/* blocked senders */
	char buf[];			/* dataqsiz * elemsize bytes */
};

void gort_waitq_enqueue(struct waitq *q, struct gort_sudog *sg)
	GORT_INTERNAL;
struct gort_sudog *gort_waitq_dequeue(struct waitq *q) GORT_INTERNAL;
void gort_waitq_remove(struct waitq *q, struct gort_sudog *sg)
	GORT_INTERNAL;
void gort_sudog_ready(struct gort_sudog *sg) GORT_INTERNAL;
void gort_sudog_wait(struct gort_sudog *sg, struct gort_lock *unlock,
		     enum gort_waitreason reason) GORT_INTERNAL;
bool gort_chan_send_locked(struct gort_chan *c, const void *elem)
	GORT_INTERNAL;
bool gort_chan_recv_locked(struct gort_chan *c, void *elem, bool *ok)
	GORT_INTERNAL;
_Noreturn void gort_chan_panic_closed_send(struct gort_chan *c)
	GORT_INTERNAL;
/* Park the caller (goroutine or thread) for good, waiting for reason. */
_Noreturn void gort_chan_block_forever(enum gort_waitreason reason)
	GORT_INTERNAL;
/* Runtime allocations released when gort_main returns (no collector yet). */

#endif /* GORT_CHAN_H */
