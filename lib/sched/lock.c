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
 * Unlocking with no atomic read-modify-write: an unlock that finds no
 * sleeper counted is a release store of 0 followed by a second read of
 * the count.  A thread about to sleep counts itself and then runs
 * membarrier(2) (PRIVATE_EXPEDITED), which puts a full fence into every
 * thread of the process that is running.  Either the unlocker's second
 * read comes after that fence and sees the sleeper, or its store of 0
 * was visible before the sleeper's exchange, which then takes the lock
 * instead of sleeping: no wake-up is lost (Dekker's pair, with the
 * expensive half on the slow path).  An unlock that finds a sleeper
 * counted is the classic exchange.
 *
 * The counts are not in the lock: after its store of 0 the unlocker may
 * no longer touch the lock's memory, which the next owner may free (a
 * timer on a goroutine's stack, a collected channel).  They live in a
 * static table indexed by a hash of the lock's address, so a sleeper on
 * one lock can send the unlock of another down the exchange path, or
 * make it wake an address nobody waits on: slower, never wrong.
 *
 * An exchange costs a channel hand-off about a tenth of its time on
 * these machines (four unlocks per ping-pong round trip); the fence costs
 * each sleeper one system call and an interrupt of every other running
 * thread, on top of its futex wait.  Where membarrier is missing (before
 * Linux 4.14, or filtered by seccomp) the unlock is the classic exchange.
 * The choice is made once, in a constructor, before any thread can hold
 * a lock: an unlocker of one kind and a sleeper of the other would lose
 * wake-ups.  Registration is inherited by fork.
 *
 * Rejected: pthread_mutex_t (fine, but its size and its robust/PI variants
 * are not needed, and it cannot be used from a signal-free STW path without
 * pulling in more of libc than a runtime core should) and pure spinlocks (a
 * preempted holder would make every other M burn its time slice).
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
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

/* Registered: unlock by store (see the top). */
bool gort_membarrier_ok;

/* Threads in gort_lock's slow path, by hash of the lock's address. */
#define SLEEPER_BUCKETS 64
static struct {
	_Atomic uint32_t n;
} __attribute__((aligned(64))) sleepers[SLEEPER_BUCKETS];

static _Atomic uint32_t *sleepers_of(const struct gort_lock *l)
{
	uint64_t h = (uint64_t)(uintptr_t)l * 0x9e3779b97f4a7c15ull;

	return &sleepers[h >> 58].n;
}

__attribute__((constructor)) static void membarrier_init(void)
{
	long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

	if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
	    !syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
		     0, 0))
		gort_membarrier_ok = true;
}

void gort_membarrier(void)
{
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0))
		gort_fatal("runtime: membarrier: %s", strerror(errno));
}

/*
 * Go's lock_futex spin, longer: LOCK_SPINS tries 30 PAUSEs apart, then
 * one sched_yield, then sleep.  Trying every PAUSE keeps the lock's cache
 * line bouncing between the cores and slows the holder down (measured:
 * 5x on a contended channel).  Go tries 4 times; here a PAUSE is 25 ns,
 * and with 4 tries two Ms taking turns at one channel's lock (chanmpmc)
 * gave up 2,700 times a run, each paying membarrier's interrupt of the
 * other CPU before sleeping.  8 tries (6 us of spinning) made chanmpmc
 * 10 % faster at 2 Ps, spawn and timers 5 % faster, and left the rest
 * unchanged.
 */
#define LOCK_SPINS 8

void gort_lock(struct gort_lock *l)
{
	_Atomic uint32_t *n;
	uint32_t c = 0;
	int spin, i;

	if (atomic_compare_exchange_strong_explicit(&l->state, &c, 1,
						    memory_order_acquire,
						    memory_order_relaxed))
		return;
	for (spin = 0; spin < LOCK_SPINS + 1; spin++) {
		c = 0;
		if (atomic_load_explicit(&l->state, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(&l->state, &c, 1,
							  memory_order_acquire,
							  memory_order_relaxed))
			return;
		if (spin < LOCK_SPINS) {
			for (i = 0; i < 30; i++)
				gort_cpu_relax();
		} else {
			sched_yield();
		}
	}
	/* count ourselves, then fence for the unlockers (see the top) */
	n = sleepers_of(l);
	atomic_fetch_add_explicit(n, 1, memory_order_seq_cst);
	if (gort_membarrier_ok)
		gort_membarrier();
	c = atomic_exchange_explicit(&l->state, 2, memory_order_acquire);
	while (c != 0) {
		gort_futex_wait(&l->state, 2, -1);
		c = atomic_exchange_explicit(&l->state, 2, memory_order_acquire);
	}
	atomic_fetch_sub_explicit(n, 1, memory_order_relaxed);
}

void gort_unlock(struct gort_lock *l)
{
	_Atomic uint32_t *n = sleepers_of(l);

	if (likely(gort_membarrier_ok) &&
	    !atomic_load_explicit(n, memory_order_relaxed)) {
		atomic_store_explicit(&l->state, 0, memory_order_release);
		/* a sleeper that came meanwhile; l itself may be gone now */
		if (unlikely(atomic_load_explicit(n, memory_order_relaxed)))
			gort_futex_wake(&l->state, 1);
		return;
	}
	/* contended: a sleeper's exchange marked the lock 2 */
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
