// SPDX-License-Identifier: GPL-2.0
/*
 * emfile.c - gort_accept at the descriptor limit, with each poller and 1
 * and 2 Ps.
 *
 * A server that runs out of descriptors sees accept fail with EMFILE
 * while the connections stay queued.  The classic failure is an accept
 * loop that retries at once and spins a CPU for as long as the limit
 * lasts (the listener stays readable, so a poller wakes it every time).
 * gort_accept backs off instead (1 ms doubling to 100 ms) before it
 * returns -EMFILE.  Checked:
 *
 *  - with RLIMIT_NOFILE lowered and every descriptor up to it in use,
 *    gort_accept returns exactly -EMFILE while connections wait;
 *  - a server loop that retries it for 400 ms uses well under a fifth of
 *    that in CPU time (CLOCK_PROCESS_CPUTIME_ID: every thread of the
 *    process, so a spinning idle M or sysmon counts too) and makes a
 *    bounded number of attempts;
 *  - the listener still works: once a few descriptors are closed, each
 *    of the waiting connections is accepted, with its own peer, and
 *    carries data.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gort_net.h"

#define MS		1000000LL
#define NPEND		3		/* connections waiting in the queue */
#define WINDOW		(400 * MS)	/* the retry loop runs this long */
#define MAX_TRIES	40		/* back-off: about 10 in 400 ms */
#define NFILL_MAX	4096

static int fillers[NFILL_MAX];

static int local_port(int fd)
{
	return gt_port_of(fd);
}

static int peer_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	if (getpeername(fd, (struct sockaddr *)&a, &len))
		return -errno;
	return ntohs(a.sin_port);
}

static int emfile_main(void *arg)
{
	int lfd, cl[NPEND], acc[NPEND], nfill = 0, tries = 0, i, j, r = 0;
	int base;
	int64_t t0, t1 = 0, cpu0, cpu1, wall, cpu;
	struct rlimit old, rl;
	char addr[64], b;

	lfd = gort_listen("tcp4", "127.0.0.1:0", 0);
	GT_CHECK(lfd >= 0);
	if (lfd < 0)
		return 1;
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", gt_port_of(lfd));
	for (i = 0; i < NPEND; i++) {
		cl[i] = gort_dial("tcp4", addr, 5000 * MS);
		GT_CHECK(cl[i] >= 0);
	}

	/* every descriptor up to a lowered limit in use */
	base = open("/dev/null", O_RDONLY | O_CLOEXEC);
	GT_CHECK(base >= 0);
	GT_CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
	rl = old;
	rl.rlim_cur = (rlim_t)base + 64;
	GT_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	while (nfill < NFILL_MAX) {
		int fd = dup(base);

		if (fd < 0) {
			GT_CHECKF(errno == EMFILE, "dup: %s", strerror(errno));
			break;
		}
		fillers[nfill++] = fd;
	}

	/* a server's retry loop, while connections wait */
	t0 = gort_nanotime();
	cpu0 = gt_process_cpu_ns();
	do {
		r = gort_accept(lfd, NULL, NULL);
		tries++;
		if (r != -EMFILE) {
			GT_CHECKF(0, "accept at the limit: %d", r);
			if (r >= 0)
				gort_close(r);
			break;
		}
		t1 = gort_nanotime();
	} while (t1 - t0 < WINDOW);
	cpu1 = gt_process_cpu_ns();
	wall = t1 - t0;
	cpu = cpu1 - cpu0;
	printf("# %d accepts failed with EMFILE in %lld ms, using %lld ms of CPU\n",
	       tries, (long long)(wall / MS), (long long)(cpu / MS));
	fflush(stdout);
	GT_CHECKF(cpu < wall / 5, "%lld ms of CPU in %lld ms",
		  (long long)(cpu / MS), (long long)(wall / MS));
	GT_CHECKF(tries <= MAX_TRIES, "%d accepts in %lld ms", tries,
		  (long long)(wall / MS));

	/* room for the waiting connections: each is accepted */
	for (i = 0; i < NPEND && nfill > 0; i++)
		close(fillers[--nfill]);
	for (i = 0; i < NPEND; i++) {
		t0 = gort_nanotime();
		acc[i] = gort_accept(lfd, NULL, NULL);
		GT_CHECKF(acc[i] >= 0, "accept %d after closing: %d", i,
			  acc[i]);
		GT_CHECKF(gort_nanotime() - t0 < 2000 * MS,
			  "accept %d took %lld ms", i,
			  (long long)((gort_nanotime() - t0) / MS));
	}
	/* each is one of the clients, and works */
	for (i = 0; i < NPEND; i++) {
		if (acc[i] < 0)
			continue;
		for (j = 0; j < NPEND; j++)
			if (peer_port(acc[i]) == local_port(cl[j]))
				break;
		GT_CHECKF(j < NPEND, "accepted %d is no client of ours", i);
		if (j == NPEND)
			continue;
		GT_CHECK(gort_write(cl[j], "z", 1) == 1);
		GT_CHECK(gort_read(acc[i], &b, 1) == 1 && b == 'z');
		GT_CHECK(gort_close(acc[i]) == 0);
	}

	while (nfill > 0)
		close(fillers[--nfill]);
	close(base);
	GT_CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
	for (i = 0; i < NPEND; i++)
		if (cl[i] >= 0)
			GT_CHECK(gort_close(cl[i]) == 0);
	GT_CHECK(gort_close(lfd) == 0);
	return 0;
}

GT_NET_FIXTURE(net)

TEST_F_TIMEOUT(net, accept_at_fd_limit, 60)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, emfile_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

TEST_HARNESS_MAIN
