/* SPDX-License-Identifier: MIT */
/*
 * timer.h - runtime timers: what gort_sleep, select timeouts and the
 * public timers are built on.
 *
 * A timer sits in the heap of one P.  Its own lock guards its state; the
 * heap lock guards the heap array.  Lock order: timer -> heap.  A callback
 * runs with no lock held, on whatever M ran the heap (a goroutine's M at a
 * switch, or g0 in the scheduler), and must not block: it readies a
 * goroutine, sends without blocking, or starts a goroutine.
 * gort_timer_rt_stop() waits for a running callback to return, so a timer
 * may live on the stack of the goroutine that stops it.
 *
 * A sleep timer (gort_sleep's) has no user but its parked goroutine, which
 * touches it again only once it has fired: it is armed and fired under
 * the heap lock alone, and never stopped.
 */
#ifndef GORT_TIMER_H
#define GORT_TIMER_H

#include "runtime.h"

struct timer_heap;

struct gort_timer_rt {
	struct gort_lock lock;		/* guards the fields below */
	bool pending;			/* in a heap */
	int64_t when;			/* nanotime it fires at */
	int64_t period;			/* > 0: fires again every period */
	struct timer_heap *heap;	/* heap it is in */
	int idx;			/* its index there, -1 when popped */
	_Atomic int running;		/* runners between its pop and return */
	bool sleep;			/* a sleeping goroutine's: see time.c */
	uint32_t starts;		/* times started, to tell a restart */
	void (*f)(void *arg, int64_t now);	/* what firing does */
	void *arg;
};

void gort_timer_rt_init(struct gort_timer_rt *t,
			void (*f)(void *arg, int64_t now), void *arg)
	GORT_INTERNAL;
void gort_timer_rt_start(struct gort_timer_rt *t, int64_t when) GORT_INTERNAL;
/* true if it stopped a pending timer; waits for a running callback */
bool gort_timer_rt_stop(struct gort_timer_rt *t) GORT_INTERNAL;
/* Run p's expired timers; returns the heap's next `when` (0: none). */
int64_t gort_timers_run(struct gort_p *p, int64_t now) GORT_INTERNAL;
/* Earliest timer over all Ps (0: none). */
int64_t gort_timers_next(void) GORT_INTERNAL;
void gort_timers_free(struct gort_p *p) GORT_INTERNAL;
void gort_timers_move(struct gort_p *from, struct gort_p *to) GORT_INTERNAL;
extern _Atomic int64_t gort_ntimers GORT_INTERNAL;

#endif /* GORT_TIMER_H */
