// SPDX-License-Identifier: MIT
/*
 * lock.c - the runtime's own futex mutex and one-shot notes.
 *
 * These are thread-level primitives: they block the OS thread, never a
 * goroutine, and are held only for short critical sections inside the
 * scheduler (never across a context switch).  The mutex is the classic
 * three-state futex lock (Drepper, "Futexes Are Tricky", mutex 3) with a
 * short spin first, because the critical sections are tens of nanoseconds
 * and a futex sleep/wake pair costs microseconds (tens when the waker has
 * to wake an idle vCPU on these machines).
 *
 * Rejected: pthread_mutex_t (fine, but its size and its robust/PI variants
 * are not needed, and it cannot be used from a signal-free STW path without
 * pulling in more of libc than a runtime core should) and pure spinlocks (a
 * preempted holder would make every other M burn its time slice).
 */
#include <errno.h>
#include <sched.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

int gort_futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t ns)
{
	struct timespec ts, *tsp = NULL;
	long r;

	if (ns >= 0) {
		ts.tv_sec = ns / 1000000000;
		ts.tv_nsec = ns % 1000000000;
		tsp = &ts;
	}
	r = syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, tsp, NULL, 0);
	return r < 0 ? -errno : 0;
}

void gort_futex_wake(_Atomic uint32_t *addr, int n)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/*
 * Go's lock_futex spin: 4 tries 30 PAUSEs apart, then one sched_yield,
 * then sleep.  Trying every PAUSE keeps the lock's cache line bouncing
 * between the cores and slows the holder down (measured: 5x on a
 * contended channel).
 */
void gort_lock(struct gort_lock *l)
{
	uint32_t c = 0;
	int spin, i;

	if (atomic_compare_exchange_strong_explicit(&l->state, &c, 1,
						    memory_order_acquire,
						    memory_order_relaxed))
		return;
	for (spin = 0; spin < 5; spin++) {
		c = 0;
		if (atomic_load_explicit(&l->state, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(&l->state, &c, 1,
							  memory_order_acquire,
							  memory_order_relaxed))
			return;
		if (spin < 4) {
			for (i = 0; i < 30; i++)
				gort_cpu_relax();
		} else {
			sched_yield();
		}
	}
	c = atomic_exchange_explicit(&l->state, 2, memory_order_acquire);
	while (c != 0) {
		gort_futex_wait(&l->state, 2, -1);
		c = atomic_exchange_explicit(&l->state, 2, memory_order_acquire);
	}
}

void gort_unlock(struct gort_lock *l)
{
	if (atomic_exchange_explicit(&l->state, 0, memory_order_release) == 2)
		gort_futex_wake(&l->state, 1);
}

void gort_note_clear(struct gort_note *n)
{
	atomic_store_explicit(&n->key, 0, memory_order_relaxed);
}

void gort_note_wake(struct gort_note *n)
{
	/* A second wake (teardown racing startm) is harmless: one sleeper. */
	if (atomic_exchange_explicit(&n->key, 1, memory_order_release) == 0)
		gort_futex_wake(&n->key, 1);
}

void gort_note_sleep(struct gort_note *n)
{
	while (atomic_load_explicit(&n->key, memory_order_acquire) == 0)
		gort_futex_wait(&n->key, 0, -1);
}

bool gort_note_sleep_ns(struct gort_note *n, int64_t ns)
{
	int64_t deadline, now;

	if (ns < 0) {
		gort_note_sleep(n);
		return true;
	}
	deadline = gort_nanotime_internal() + ns;
	while (atomic_load_explicit(&n->key, memory_order_acquire) == 0) {
		now = gort_nanotime_internal();
		if (now >= deadline)
			return false;
		gort_futex_wait(&n->key, 0, deadline - now);
	}
	return true;
}
