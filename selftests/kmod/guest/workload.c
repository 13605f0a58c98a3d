// SPDX-License-Identifier: GPL-2.0
/*
 * workload.c - a gort program whose scheduling is known in advance, run
 * with GORT_DEBUG=kmodtrace=1 inside the module test's QEMU guest.
 *
 * main starts NWORKERS workers, which pass values over a channel and
 * yield, and one sleeper, which blocks its thread in nanosleep(2) (not a
 * runtime call), so the kernel switches that thread out while it runs the
 * sleeper goroutine.  main then waits until it is the last goroutine, so
 * every go_end is in the ring before gort_main tears down and flushes it.
 *
 * After gort_main returns, the program prints what the trace must show,
 * one fact per line, for the guest's checker (guest/init.sh):
 *   main GOID          the main goroutine (created by the runtime)
 *   go GOID PARENT     each goroutine main created
 *   switch TID GOID    the sleeper: thread TID blocked running GOID
 * It exits 0 only if the runtime behaved (every goroutine ran and ended).
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "gort.h"

#define NWORKERS 40

static uint64_t main_goid;
static uint64_t worker_goid[NWORKERS];
static uint64_t sleeper_goid;
static pid_t sleeper_tid;
static struct gort_waitgroup wg;
static struct gort_chan *ch;

static void worker(void *arg)
{
	intptr_t i = (intptr_t)arg;
	int v = (int)i;

	worker_goid[i] = gort_goid();
	gort_chan_send(ch, &v);
	gort_yield();
	gort_chan_recv(ch, &v);
	gort_wg_done(&wg);
}

static void sleeper(void *arg)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	int i;

	sleeper_goid = gort_goid();
	sleeper_tid = (pid_t)syscall(SYS_gettid);
	for (i = 0; i < 5; i++)
		nanosleep(&ts, NULL);
	gort_wg_done(&wg);
}

static int main_fn(void *arg)
{
	intptr_t i;

	main_goid = gort_goid();
	ch = gort_chan_make(sizeof(int), NWORKERS);
	if (!ch)
		return 10;
	gort_wg_add(&wg, NWORKERS + 1);
	for (i = 0; i < NWORKERS; i++)
		if (gort_go(worker, (void *)i))
			return 11;
	if (gort_go(sleeper, NULL))
		return 12;
	gort_wg_wait(&wg);
	/* every go_end is published before the count drops */
	while (gort_num_goroutine() > 1)
		gort_sleep(1000 * 1000);
	return 0;
}

int main(void)
{
	int ret = gort_main(main_fn, NULL), i;

	if (ret) {
		fprintf(stderr, "workload: main_fn returned %d\n", ret);
		return 1;
	}
	printf("main %llu\n", (unsigned long long)main_goid);
	for (i = 0; i < NWORKERS; i++) {
		if (!worker_goid[i]) {
			fprintf(stderr, "workload: worker %d never ran\n", i);
			return 1;
		}
		printf("go %llu %llu\n", (unsigned long long)worker_goid[i],
		       (unsigned long long)main_goid);
	}
	printf("go %llu %llu\n", (unsigned long long)sleeper_goid,
	       (unsigned long long)main_goid);
	printf("switch %d %llu\n", (int)sleeper_tid,
	       (unsigned long long)sleeper_goid);
	return 0;
}
