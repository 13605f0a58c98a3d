// SPDX-License-Identifier: GPL-2.0
/*
 * rtlock.c - the runtime's own thread-level mutex (lib/sched/lock.c).
 *
 * Every channel, timer heap and scheduler structure relies on it, and its
 * unlock is a plain store unless a sleeper is counted (membarrier(2)
 * makes the first sleeper of a contended spell see it), so the property
 * checked is the one everything else rests on: under threads that contend
 * hard enough to sleep, it excludes (a counter guarded by it and by
 * nothing else comes out exact) and wakes its sleepers (a lost wake-up
 * hangs the case past the harness's timeout).  The race the membarrier
 * closes is a few cycles wide (an unlock's store still in its store
 * buffer), so these cases run the protocol's paths rather than prove it;
 * the argument is at the top of lock.c.
 *
 *  - contended: 8 threads, each sometimes holding the lock across a
 *    sleep so that the others reach the futex;
 *  - handoff: 2 threads that take turns through the lock alone, each
 *    waiting for the other's turn while holding nothing, so that an
 *    unlock lands just as the other thread counts itself as a sleeper;
 *  - trylock_compatible: the io_uring poller's try-lock (a compare and
 *    exchange from 0 to 1) fails while the lock is held and succeeds
 *    once it is released, with sleepers around.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

#include "kselftest_harness.h"
#include "gort_test.h"

static struct gort_lock lk;
static uint64_t guarded;		/* only ever touched under lk */

#define NTHREADS 8

static void *contend_fn(void *arg)
{
	long n = (long)arg, i;

	for (i = 0; i < n; i++) {
		gort_lock(&lk);
		guarded++;
		if (i % 256 == 0) {
			struct timespec ts = { 0, 20000 };

			nanosleep(&ts, NULL);	/* make the others sleep */
		}
		gort_unlock(&lk);
	}
	return NULL;
}

TEST(contended)
{
	pthread_t th[NTHREADS];
	long n = (long)gt_scaled(100000);
	int i;

	guarded = 0;
	for (i = 0; i < NTHREADS; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, contend_fn,
					    (void *)n));
	for (i = 0; i < NTHREADS; i++)
		ASSERT_EQ(0, pthread_join(th[i], NULL));
	gort_lock(&lk);
	EXPECT_EQ((uint64_t)n * NTHREADS, guarded);
	gort_unlock(&lk);
}

static _Atomic long turn;

static void *handoff_fn(void *arg)
{
	long me = (long)arg, n = (long)gt_scaled(200000), i;

	for (i = 0; i < n; i++) {
		gort_lock(&lk);
		while ((guarded & 1) != (uint64_t)me) {
			/* not our turn: let the other in, then retry */
			gort_unlock(&lk);
			sched_yield();
			gort_lock(&lk);
		}
		guarded++;
		gort_unlock(&lk);
	}
	atomic_fetch_add(&turn, 1);
	return NULL;
}

TEST(handoff)
{
	pthread_t a, b;

	guarded = 0;
	ASSERT_EQ(0, pthread_create(&a, NULL, handoff_fn, (void *)0L));
	ASSERT_EQ(0, pthread_create(&b, NULL, handoff_fn, (void *)1L));
	ASSERT_EQ(0, pthread_join(a, NULL));
	ASSERT_EQ(0, pthread_join(b, NULL));
	EXPECT_EQ(2, atomic_load(&turn));
	EXPECT_EQ(2 * (uint64_t)gt_scaled(200000), guarded);
}

static bool try_lock(struct gort_lock *l)
{
	uint32_t zero = 0;

	return atomic_compare_exchange_strong(&l->state, &zero, 1);
}

static void *sleeper_fn(void *arg)
{
	gort_lock(&lk);
	guarded++;
	gort_unlock(&lk);
	return NULL;
}

TEST(trylock_compatible)
{
	pthread_t th[4];
	struct timespec ts = { 0, 50000000 };
	int i;

	guarded = 0;
	gort_lock(&lk);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, sleeper_fn, NULL));
	nanosleep(&ts, NULL);	/* they spin, then sleep */
	EXPECT_FALSE(try_lock(&lk));
	EXPECT_EQ(0u, guarded);
	gort_unlock(&lk);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, pthread_join(th[i], NULL));
	EXPECT_EQ(4u, guarded);
	ASSERT_TRUE(try_lock(&lk));
	gort_unlock(&lk);
}

TEST_HARNESS_MAIN
