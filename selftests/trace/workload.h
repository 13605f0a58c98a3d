/* SPDX-License-Identifier: GPL-2.0 */
/*
 * workload.h - a gort program whose probe counts are known in advance,
 * for the trace tests that watch it from outside (bpftrace.c, bpf.c).
 *
 * The main goroutine starts WL_N workers, hands each a value over an
 * unbuffered channel, and waits for them.  Each worker receives, sleeps
 * 1 ms and makes one gort_syscall_begin/end call.  So, exactly:
 *  - WL_N go_create by main, WL_N + 1 go_end in all (main's included);
 *  - WL_N parks on the channel (for each hand-off the side that comes
 *    first parks: chan send or chan receive), WL_N parks for sleep, at
 *    most one for the wait group, nothing else;
 *  - WL_N syscall pairs.
 * wl_run() returns only once gort_num_goroutine() is back where it was,
 * and go_end fires before the count drops, so no worker is still on its
 * way out (a goroutine alive when main returns would never end).
 *
 * A header of static functions, not a program: every .c file of a
 * selftests directory is a test program of its own.
 */
#ifndef GORT_TRACE_WORKLOAD_H
#define GORT_TRACE_WORKLOAD_H

#include <unistd.h>

#include "gort.h"

#define WL_N 100
#define WL_SLEEP_NS 1000000

static struct gort_chan *wl_chan;
static struct gort_waitgroup wl_wg;

static __attribute__((unused)) void wl_worker(void *arg)
{
	int v;

	gort_chan_recv(wl_chan, &v);
	gort_sleep(WL_SLEEP_NS);
	gort_syscall_begin();
	usleep(100);
	gort_syscall_end();
	gort_wg_done(&wl_wg);
}

/* Run the workload in the calling goroutine; 0 or -errno. */
static __attribute__((unused)) int wl_run(void)
{
	int i, ret, before = gort_num_goroutine();

	wl_chan = gort_chan_make(sizeof(int), 0);
	if (!wl_chan)
		return -ENOMEM;
	gort_wg_add(&wl_wg, WL_N);
	for (i = 0; i < WL_N; i++) {
		ret = gort_go(wl_worker, NULL);
		if (ret)
			return ret;
	}
	for (i = 0; i < WL_N; i++)
		gort_chan_send(wl_chan, &i);
	gort_wg_wait(&wl_wg);
	while (gort_num_goroutine() > before)
		gort_yield();
	return 0;
}

/*
 * Whether uprobes can see this program's code: not when it runs under
 * qemu-user on a kernel of another architecture (the kernel names its
 * own in /proc/sys/kernel/arch, which qemu does not emulate).  Writes
 * the kernel's architecture into arch.
 */
static __attribute__((unused)) bool wl_native(char *arch, size_t len)
{
#if defined(__x86_64__)
	const char *mine = "x86_64";
#elif defined(__aarch64__)
	const char *mine = "aarch64";
#else
	const char *mine = "?";
#endif
	FILE *f = fopen("/proc/sys/kernel/arch", "re");

	snprintf(arch, len, "%s", mine);
	if (!f)
		return true;	/* before 6.1: no way to tell, assume so */
	if (fgets(arch, (int)len, f))
		arch[strcspn(arch, "\n")] = '\0';
	fclose(f);
	return !strcmp(arch, mine);
}

#endif /* GORT_TRACE_WORKLOAD_H */
