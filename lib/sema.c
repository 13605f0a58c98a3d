// SPDX-License-Identifier: MIT
/*
 * sema.c - runtime semaphores: where sync primitives put their sleepers.
 *
 * Go's runtime/sema.go in C.  A semaphore is any uint32 in user memory
 * (the zero value of a gort_waitgroup holds one); waiters are kept in a
 * fixed table of buckets hashed by address, so the sync types need no
 * allocation and no pointer fields of their own.
 *
 * A waiter lives on the stack of the goroutine (or foreign thread) that
 * waits: it is valid until the waiter is woken, and only the waker that
 * removed it from its bucket may wake it.
 *
 * A goroutine parks (its M runs other goroutines); a thread the runtime did
 * not start sleeps on a futex in its waiter, counted as blocked for the
 * deadlock detector (any other thread of the process could still wake a
 * goroutine).
 *
 * Lock order: a bucket lock is a leaf, except that it is released by the
 * park's unlock callback after the switch.
 *
 * Rejected: a lock and queue inside every sync object (bigger zero values,
 * and Go's layout is the one users of its semantics know).
 */
#include <errno.h>

#include "runtime.h"

#define SEMTABSZ 251

struct sema_waiter {
	struct sema_waiter *next;	/* bucket list; first, see gort_snode */
	_Atomic uint32_t *addr;		/* semaphore it waits for */
	bool ticket;			/* handed the semaphore directly */
	struct gort_g *g;		/* waiting goroutine, or NULL */
	_Atomic uint32_t woken;		/* futex word for a foreign thread */
};

struct sema_root {
	struct gort_lock lock;		/* guards head, tail */
	_Atomic uint32_t nwait;		/* waiters, read without the lock */
	struct sema_waiter *head, *tail;
	char pad[64 - sizeof(struct gort_lock) - sizeof(uint32_t) -
		 2 * sizeof(void *)];
};

static struct sema_root semtable[SEMTABSZ];

static struct sema_root *root_of(_Atomic uint32_t *addr)
{
	return &semtable[((uintptr_t)addr >> 3) % SEMTABSZ];
}

static bool cansemacquire(_Atomic uint32_t *addr)
{
	uint32_t v = atomic_load(addr);

	while (v) {
		if (atomic_compare_exchange_weak(addr, &v, v - 1))
			return true;
	}
	return false;
}

static bool unlock_root(struct gort_g *gp, void *arg)
{
	gort_unlock(arg);
	return true;
}

void gort_semacquire(_Atomic uint32_t *addr, enum gort_waitreason reason)
{
	gort_semacquire_lifo(addr, false, reason);
}

/* lifo: queue at the head (a waiter that already waited, Go's mutex). */
void gort_semacquire_lifo(_Atomic uint32_t *addr, bool lifo,
			  enum gort_waitreason reason)
{
	struct sema_root *root;
	struct sema_waiter w;
	struct gort_m *m;
	struct gort_g *self;

	if (cansemacquire(addr))
		return;
	root = root_of(addr);
	m = gort_rt_enter();
	/* the goroutine, not the M: it may resume on another M below */
	self = m ? m->curg : NULL;
	for (;;) {
		gort_lock(&root->lock);
		atomic_fetch_add(&root->nwait, 1);
		if (cansemacquire(addr)) {
			atomic_fetch_sub(&root->nwait, 1);
			gort_unlock(&root->lock);
			break;
		}
		w.addr = addr;
		w.next = NULL;
		w.ticket = false;
		atomic_store(&w.woken, 0);
		w.g = self;
		if (lifo) {
			w.next = root->head;
			root->head = &w;
			if (!root->tail)
				root->tail = &w;
		} else {
			if (root->tail)
				root->tail->next = &w;
			else
				root->head = &w;
			root->tail = &w;
		}
		if (w.g) {
			w.g->waitobj = (void *)addr;
			gort_gopark(unlock_root, &root->lock, reason);
		} else {
			gort_unlock(&root->lock);
			gort_foreign_blocked(true);
			while (!atomic_load(&w.woken))
				gort_futex_wait(&w.woken, 0, -1);
		}
		if (w.ticket || cansemacquire(addr))
			break;
	}
	gort_rt_exit();
}

void gort_semrelease(_Atomic uint32_t *addr)
{
	gort_semrelease_handoff(addr, false);
}

/*
 * handoff: give the semaphore to the first waiter directly and let it run
 * at once (Go's starving mutex), instead of letting it compete again.
 */
void gort_semrelease_handoff(_Atomic uint32_t *addr, bool handoff)
{
	struct sema_root *root = root_of(addr);
	struct sema_waiter *w, *prev = NULL;
	struct gort_g *gp;
	bool handed = false;

	atomic_fetch_add(addr, 1);
	if (atomic_load(&root->nwait) == 0)
		return;
	gort_lock(&root->lock);
	for (w = root->head; w; prev = w, w = w->next) {
		if (w->addr != addr)
			continue;
		gort_slist_unlink((struct gort_snode **)&root->head,
				  (struct gort_snode **)&root->tail,
				  (struct gort_snode *)prev,
				  (struct gort_snode *)w);
		atomic_fetch_sub(&root->nwait, 1);
		break;
	}
	if (w && handoff && cansemacquire(addr))
		w->ticket = handed = true;
	gort_unlock(&root->lock);
	if (!w)
		return;
	gp = w->g;	/* w is the waiter's: read it before it may run */
	if (gp) {
		gort_goready(gp);
		if (handed)
			gort_yield();	/* the waiter is on runnext: run it */
	} else {
		gort_wake_foreign(&w->woken);
	}
}
