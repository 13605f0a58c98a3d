// SPDX-License-Identifier: MIT
/*
 * hello.c - the first gort program to read.
 *
 * main_fn runs as goroutine 1.  It starts a tree of goroutines, each of
 * which sums its share of 1..N and adds it to a total, and waits for all
 * of them with a wait group; then it prints what it saw.  Nothing here
 * blocks a thread: the wait parks the goroutine and the Ps run the others.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <gort.h>

#define WORKERS 100000
#define PER_WORKER 100

static struct gort_waitgroup wg;
static _Atomic long long total;

static void worker(void *arg)
{
	long long first = (long long)(intptr_t)arg * PER_WORKER + 1, sum = 0;

	for (long long i = first; i < first + PER_WORKER; i++)
		sum += i;
	atomic_fetch_add(&total, sum);
	gort_wg_done(&wg);
}

static int main_fn(void *arg)
{
	long long n = (long long)WORKERS * PER_WORKER;
	int64_t t0 = gort_nanotime();

	gort_wg_add(&wg, WORKERS);
	for (intptr_t i = 0; i < WORKERS; i++) {
		int err = gort_go(worker, (void *)i);

		if (err) {
			fprintf(stderr, "gort_go: error %d\n", err);
			return 1;
		}
	}
	gort_wg_wait(&wg);
	printf("hello from goroutine %llu on %d Ps: %d goroutines summed 1..%lld = %lld (want %lld) in %.1f ms\n",
	       (unsigned long long)gort_goid(), gort_gomaxprocs(0), WORKERS,
	       n, (long long)atomic_load(&total), n * (n + 1) / 2,
	       (gort_nanotime() - t0) / 1e6);
	return atomic_load(&total) == n * (n + 1) / 2 ? 0 : 1;
}

int main(void)
{
	int ret = gort_main(main_fn, NULL);

	if (ret < 0) {
		fprintf(stderr, "gort_main: error %d\n", ret);
		return 1;
	}
	return ret;
}
