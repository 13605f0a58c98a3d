// SPDX-License-Identifier: MIT
/*
 * sync.c - gort_waitgroup (sync.WaitGroup), zero value ready.
 *
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
