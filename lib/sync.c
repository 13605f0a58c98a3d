// SPDX-License-Identifier: MIT
/*
 * sync.c - gort_waitgroup, gort_mutex, gort_rwmutex, gort_cond and
 * gort_once: Go's sync package, zero values ready, misuse reported with
 * Go's messages ("fatal error: sync: unlock of unlocked mutex" is a fatal
 * error in Go too, not a panic).  Sleepers wait on runtime semaphores
 * (sema.c), so none of these types holds a pointer or needs set-up.
 *
 * WaitGroup:
 * Go's algorithm: one 64-bit word holds the counter (high 32 bits, signed)
 * and the number of waiters (low 32 bits), so Add and Wait agree on both
 * with one atomic operation.  When the counter drops to zero with waiters,
 * the state is reset to zero and each waiter is released through the
 * runtime semaphore in sema_.
 *
 * Misuse panics with Go's messages: a negative counter, Add racing with
 * Wait while the counter was zero, and reuse of the group before every
 * Wait of the previous round has returned.
 */
#include "runtime.h"

GORT_API void gort_wg_add(struct gort_waitgroup *wg, int64_t delta)
{
	uint64_t state, add = (uint64_t)delta << 32;
	int32_t v;
	uint32_t w;

	state = __atomic_add_fetch(&wg->state_, add, __ATOMIC_SEQ_CST);
	v = (int32_t)(state >> 32);
	w = (uint32_t)state;
	if (v < 0)
		gort_panic("sync: negative WaitGroup counter");
	if (w != 0 && delta > 0 && v == (int32_t)delta)
		gort_panic("sync: WaitGroup misuse: Add called concurrently with Wait");
	if (v > 0 || w == 0)
		return;
	/* Counter is 0 and there are waiters: nobody may change state now. */
	if (__atomic_load_n(&wg->state_, __ATOMIC_SEQ_CST) != state)
		gort_panic("sync: WaitGroup misuse: Add called concurrently with Wait");
	__atomic_store_n(&wg->state_, 0, __ATOMIC_SEQ_CST);
	gort_rt_enter();
	for (; w != 0; w--)
		gort_semrelease((_Atomic uint32_t *)&wg->sema_);
	gort_rt_exit();
}

GORT_API void gort_wg_done(struct gort_waitgroup *wg)
{
	gort_wg_add(wg, -1);
}

GORT_API void gort_wg_wait(struct gort_waitgroup *wg)
{
	uint64_t state = __atomic_load_n(&wg->state_, __ATOMIC_SEQ_CST);

	for (;;) {
		if ((int32_t)(state >> 32) == 0)
			return;
		if (__atomic_compare_exchange_n(&wg->state_, &state, state + 1,
						false, __ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST)) {
			gort_semacquire((_Atomic uint32_t *)&wg->sema_,
					WR_SYNC_WAITGROUP_WAIT);
			if (__atomic_load_n(&wg->state_, __ATOMIC_SEQ_CST))
				gort_panic("sync: WaitGroup is reused before previous Wait has returned");
			return;
		}
	}
}

/* ------------------------------------------------------------------ */
/* gort_mutex: sync.Mutex                                             */
/* ------------------------------------------------------------------ */

/*
 * Go's two modes.  Normal: waiters queue FIFO, but a woken waiter competes
 * with new arrivals, which usually win (they are on a CPU already): good
 * throughput.  Starvation: a waiter that failed to get the lock for more
 * than 1 ms switches the mutex to starvation mode, where Unlock hands the
 * lock straight to the first waiter and new arrivals queue at the tail;
 * it ends when the last waiter is served or one waited under 1 ms.
 *
 * state_: bit 0 locked, bit 1 a waiter was woken, bit 2 starving, waiter
 * count above.
 */
#define MUTEX_LOCKED 1
#define MUTEX_WOKEN 2
#define MUTEX_STARVING 4
#define MUTEX_WAITER_SHIFT 3
#define STARVATION_NS 1000000

static bool can_spin(int iter)
{
	struct gort_m *m = gort_getm();

	/* as Go's sync_runtime_canSpin: a few rounds, only with spare Ps */
	return iter < 4 && m && m->p &&
	       atomic_load(&gort_sched.gomaxprocs) >
		       atomic_load(&gort_sched.npidle) +
			       atomic_load(&gort_sched.nmspinning) + 1 &&
	       atomic_load(&m->p->runqhead) == atomic_load(&m->p->runqtail);
}

static void mutex_lock_slow(struct gort_mutex *mu)
{
	int32_t *state = &mu->state_;
	int64_t wait_start = 0;
	bool starving = false, awoke = false;
	int iter = 0;
	int32_t old = __atomic_load_n(state, __ATOMIC_RELAXED), new;

	for (;;) {
		if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) == MUTEX_LOCKED &&
		    can_spin(iter)) {
			if (!awoke && !(old & MUTEX_WOKEN) &&
			    (old >> MUTEX_WAITER_SHIFT) &&
			    __atomic_compare_exchange_n(state, &old,
							old | MUTEX_WOKEN,
							false,
							__ATOMIC_SEQ_CST,
							__ATOMIC_SEQ_CST))
				awoke = true;
			for (int i = 0; i < 30; i++)
				gort_cpu_relax();
			iter++;
			old = __atomic_load_n(state, __ATOMIC_RELAXED);
			continue;
		}
		new = old;
		if (!(old & MUTEX_STARVING))
			new |= MUTEX_LOCKED;
		if (old & (MUTEX_LOCKED | MUTEX_STARVING))
			new += 1 << MUTEX_WAITER_SHIFT;
		if (starving && (old & MUTEX_LOCKED))
			new |= MUTEX_STARVING;
		if (awoke) {
			if (!(new & MUTEX_WOKEN))
				gort_fatal("sync: inconsistent mutex state");
			new &= ~MUTEX_WOKEN;
		}
		if (!__atomic_compare_exchange_n(state, &old, new, false,
						 __ATOMIC_SEQ_CST,
						 __ATOMIC_SEQ_CST))
			continue;	/* old was reloaded */
		if (!(old & (MUTEX_LOCKED | MUTEX_STARVING)))
			return;		/* locked it with the CAS */
		{
			bool lifo = wait_start != 0;

			if (!wait_start)
				wait_start = gort_nanotime_internal();
			gort_semacquire_lifo((_Atomic uint32_t *)&mu->sema_,
					     lifo, WR_SYNC_MUTEX_LOCK);
		}
		starving = starving || gort_nanotime_internal() - wait_start >
					       STARVATION_NS;
		old = __atomic_load_n(state, __ATOMIC_RELAXED);
		if (old & MUTEX_STARVING) {
			/* handed to us: fix up the state and go */
			int32_t delta = MUTEX_LOCKED -
					(1 << MUTEX_WAITER_SHIFT);

			if ((old & (MUTEX_LOCKED | MUTEX_WOKEN)) ||
			    !(old >> MUTEX_WAITER_SHIFT))
				gort_fatal("sync: inconsistent mutex state");
			if (!starving || (old >> MUTEX_WAITER_SHIFT) == 1)
				delta -= MUTEX_STARVING;
			__atomic_add_fetch(state, delta, __ATOMIC_SEQ_CST);
			return;
		}
		awoke = true;
		iter = 0;
	}
}

GORT_API void gort_mutex_lock(struct gort_mutex *mu)
{
	int32_t zero = 0;

	if (__atomic_compare_exchange_n(&mu->state_, &zero, MUTEX_LOCKED,
					false, __ATOMIC_ACQUIRE,
					__ATOMIC_RELAXED))
		return;
	mutex_lock_slow(mu);
}

GORT_API bool gort_mutex_trylock(struct gort_mutex *mu)
{
	int32_t old = __atomic_load_n(&mu->state_, __ATOMIC_RELAXED);

	if (old & (MUTEX_LOCKED | MUTEX_STARVING))
		return false;
	return __atomic_compare_exchange_n(&mu->state_, &old,
					   old | MUTEX_LOCKED, false,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static void mutex_unlock_slow(struct gort_mutex *mu, int32_t new)
{
	int32_t old;

	if (!((new + MUTEX_LOCKED) & MUTEX_LOCKED))
		gort_fatal("sync: unlock of unlocked mutex");
	if (new & MUTEX_STARVING) {
		/* hand the lock to the first waiter */
		gort_semrelease_handoff((_Atomic uint32_t *)&mu->sema_, true);
		return;
	}
	old = new;
	for (;;) {
		/* nobody to wake, or someone is already on it */
		if (!(old >> MUTEX_WAITER_SHIFT) ||
		    (old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING)))
			return;
		new = (old - (1 << MUTEX_WAITER_SHIFT)) | MUTEX_WOKEN;
		if (__atomic_compare_exchange_n(&mu->state_, &old, new, false,
						__ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST)) {
			gort_semrelease_handoff((_Atomic uint32_t *)&mu->sema_,
						false);
			return;
		}
	}
}

GORT_API void gort_mutex_unlock(struct gort_mutex *mu)
{
	int32_t new = __atomic_add_fetch(&mu->state_, -MUTEX_LOCKED,
					 __ATOMIC_RELEASE);

	if (new != 0) {
		gort_rt_enter();
		mutex_unlock_slow(mu, new);
		gort_rt_exit();
	}
}

/* ------------------------------------------------------------------ */
/* gort_rwmutex: sync.RWMutex                                         */
/* ------------------------------------------------------------------ */

/*
 * Go's algorithm: a writer first takes w_, then subtracts MAX_READERS from
 * reader_count_, so arriving readers see a negative count and queue behind
 * it (writers are not starved by a stream of readers); it waits for the
 * readers that were already in (reader_wait_).
 */
#define MAX_READERS (1 << 30)

GORT_API void gort_rwmutex_rlock(struct gort_rwmutex *rw)
{
	if (__atomic_add_fetch(&rw->reader_count_, 1, __ATOMIC_SEQ_CST) < 0)
		gort_semacquire_lifo((_Atomic uint32_t *)&rw->reader_sem_,
				     false, WR_SYNC_RWMUTEX_RLOCK);
}

GORT_API void gort_rwmutex_runlock(struct gort_rwmutex *rw)
{
	int32_t r = __atomic_add_fetch(&rw->reader_count_, -1,
				       __ATOMIC_SEQ_CST);

	if (r >= 0)
		return;
	if (r + 1 == 0 || r + 1 == -MAX_READERS)
		gort_fatal("sync: RUnlock of unlocked RWMutex");
	if (__atomic_add_fetch(&rw->reader_wait_, -1, __ATOMIC_SEQ_CST) == 0) {
		gort_rt_enter();
		gort_semrelease((_Atomic uint32_t *)&rw->writer_sem_);
		gort_rt_exit();
	}
}

GORT_API void gort_rwmutex_lock(struct gort_rwmutex *rw)
{
	int32_t r;

	gort_mutex_lock(&rw->w_);
	r = __atomic_add_fetch(&rw->reader_count_, -MAX_READERS,
			       __ATOMIC_SEQ_CST) + MAX_READERS;
	if (r != 0 && __atomic_add_fetch(&rw->reader_wait_, r,
					 __ATOMIC_SEQ_CST) != 0)
		gort_semacquire_lifo((_Atomic uint32_t *)&rw->writer_sem_,
				     false, WR_SYNC_RWMUTEX_LOCK);
}

GORT_API void gort_rwmutex_unlock(struct gort_rwmutex *rw)
{
	int32_t r = __atomic_add_fetch(&rw->reader_count_, MAX_READERS,
				       __ATOMIC_SEQ_CST);

	if (r >= MAX_READERS)
		gort_fatal("sync: Unlock of unlocked RWMutex");
	gort_rt_enter();
	for (int32_t i = 0; i < r; i++)
		gort_semrelease((_Atomic uint32_t *)&rw->reader_sem_);
	gort_rt_exit();
	gort_mutex_unlock(&rw->w_);
}

/* ------------------------------------------------------------------ */
/* gort_cond: sync.Cond                                               */
/* ------------------------------------------------------------------ */

/*
 * Go's notifyList: Wait takes a ticket before unlocking the mutex, so a
 * Signal between the unlock and the park is not lost; Signal wakes the
 * oldest ticket, Broadcast every one.  Waiters live on their stacks.
 */
struct cond_waiter {
	struct cond_waiter *next;	/* first, see gort_snode */
	uint32_t ticket;		/* order of arrival */
	struct gort_g *g;		/* NULL: a foreign thread */
	_Atomic uint32_t woken;
};

static bool unlock_cond(struct gort_g *gp, void *arg)
{
	gort_unlock(arg);
	return true;
}

static inline bool ticket_less(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

GORT_API void gort_cond_wait(struct gort_cond *cv, struct gort_mutex *mu)
{
	struct gort_lock *lk = (struct gort_lock *)&cv->lock_;
	struct cond_waiter w;
	struct gort_m *m;

	w.ticket = __atomic_fetch_add(&cv->wait_, 1, __ATOMIC_SEQ_CST);
	gort_mutex_unlock(mu);
	m = gort_rt_enter();
	gort_lock(lk);
	if (ticket_less(w.ticket, cv->notify_)) {
		gort_unlock(lk);
		goto out;
	}
	w.g = m && m->curg ? m->curg : NULL;
	w.next = NULL;
	atomic_store(&w.woken, 0);
	if (cv->tail_)
		((struct cond_waiter *)cv->tail_)->next = &w;
	else
		cv->head_ = &w;
	cv->tail_ = &w;
	if (w.g) {
		w.g->waitobj = cv;
		gort_gopark(unlock_cond, lk, WR_SYNC_COND_WAIT);
	} else {
		gort_unlock(lk);
		gort_foreign_blocked(true);
		while (!atomic_load(&w.woken))
			gort_futex_wait(&w.woken, 0, -1);
	}
out:
	gort_rt_exit();
	gort_mutex_lock(mu);
}

static void cond_ready(struct cond_waiter *w)
{
	struct gort_g *gp = w->g;

	if (gp)
		gort_goready(gp);
	else
		gort_wake_foreign(&w->woken);
}

GORT_API void gort_cond_signal(struct gort_cond *cv)
{
	struct gort_lock *lk = (struct gort_lock *)&cv->lock_;
	struct cond_waiter *w, *prev = NULL;
	uint32_t t;

	if (__atomic_load_n(&cv->wait_, __ATOMIC_SEQ_CST) ==
	    __atomic_load_n(&cv->notify_, __ATOMIC_SEQ_CST))
		return;
	gort_rt_enter();
	gort_lock(lk);
	t = cv->notify_;
	if (t == __atomic_load_n(&cv->wait_, __ATOMIC_SEQ_CST)) {
		gort_unlock(lk);
		gort_rt_exit();
		return;
	}
	__atomic_store_n(&cv->notify_, t + 1, __ATOMIC_SEQ_CST);
	for (w = cv->head_; w; prev = w, w = w->next) {
		if (w->ticket != t)
			continue;
		gort_slist_unlink((struct gort_snode **)&cv->head_,
				  (struct gort_snode **)&cv->tail_,
				  (struct gort_snode *)prev,
				  (struct gort_snode *)w);
		break;
	}
	gort_unlock(lk);
	if (w)
		cond_ready(w);
	gort_rt_exit();
}

GORT_API void gort_cond_broadcast(struct gort_cond *cv)
{
	struct gort_lock *lk = (struct gort_lock *)&cv->lock_;
	struct cond_waiter *w, *next;

	if (__atomic_load_n(&cv->wait_, __ATOMIC_SEQ_CST) ==
	    __atomic_load_n(&cv->notify_, __ATOMIC_SEQ_CST))
		return;
	gort_rt_enter();
	gort_lock(lk);
	w = cv->head_;
	cv->head_ = cv->tail_ = NULL;
	__atomic_store_n(&cv->notify_,
			 __atomic_load_n(&cv->wait_, __ATOMIC_SEQ_CST),
			 __ATOMIC_SEQ_CST);
	gort_unlock(lk);
	for (; w; w = next) {
		next = w->next;
		cond_ready(w);
	}
	gort_rt_exit();
}

/* ------------------------------------------------------------------ */
/* gort_once: sync.Once                                               */
/* ------------------------------------------------------------------ */

GORT_API void gort_once_do(struct gort_once *o, void (*fn)(void *),
			   void *arg)
{
	if (__atomic_load_n(&o->done_, __ATOMIC_ACQUIRE))
		return;
	gort_mutex_lock(&o->m_);
	if (!o->done_) {
		fn(arg);
		__atomic_store_n(&o->done_, 1, __ATOMIC_RELEASE);
	}
	gort_mutex_unlock(&o->m_);
}
