// SPDX-License-Identifier: GPL-2.0
/*
 * thread.c - gort's I/O calls from a thread gort did not start, with each
 * poller and 1 and 2 Ps.
 *
 * C programs hand sockets to threads of their own (a library's worker, a
 * legacy blocking component), and the API says the I/O calls work there
 * by blocking the calling thread.  That thread holds no P, so it must not
 * stall goroutines, and the descriptor it uses may have been set up by
 * the poller (non-blocking under epoll), so "blocking" is gort's doing,
 * not the kernel's.  Checked, on a TCP connection shared with goroutines:
 *
 *  - a plain pthread's gort_read waits for data: the thread sleeps in the
 *    kernel (its state is 'S') while a goroutine, even with one P, goes on
 *    running, then sends the data the thread gets;
 *  - its gort_write of 1 MiB against a goroutine that reads slowly
 *    returns all of it, and its gort_writev/gort_readv work;
 *  - a read deadline set on the descriptor applies to the thread's read:
 *    -ETIMEDOUT, no earlier than the deadline;
 *  - its gort_close closes the connection (the goroutine sees EOF);
 *  - and before gort_main runs at all, gort_write/gort_read on a socket
 *    pair work as plain blocking calls.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gort_net.h"

#define MS	1000000LL
#define REPLY	(1u << 20)

GT_NET_FIXTURE(net)

struct foreign {
	int fd;				/* the thread's end */
	atomic_int tid;			/* the thread, once it runs */
	atomic_int step;		/* how far it got */
	ssize_t first;			/* its first read */
	char buf[16];			/* and what that read got */
	ssize_t wrote;			/* gort_write of REPLY */
	ssize_t vec_out, vec_in;	/* gort_writev, gort_readv */
	ssize_t timed;			/* the read with a deadline */
	int64_t deadline, timed_end;	/* the deadline, and when it ended */
	int closed;			/* gort_close's result */
	uint8_t *reply;			/* REPLY bytes of pattern 3 */
};

static void *foreign_run(void *arg)
{
	struct foreign *f = arg;
	struct iovec v[2];
	char a[3], b[3];

	atomic_store(&f->tid, gettid());
	f->first = gort_read(f->fd, f->buf, sizeof(f->buf));
	atomic_store(&f->step, 1);
	f->wrote = gort_write(f->fd, f->reply, REPLY);
	v[0] = (struct iovec){ "ab", 2 };
	v[1] = (struct iovec){ "cde", 3 };
	f->vec_out = gort_writev(f->fd, v, 2);
	v[0] = (struct iovec){ a, 2 };
	v[1] = (struct iovec){ b, 3 };
	f->vec_in = gort_readv(f->fd, v, 2);
	if (f->vec_in != 5 || memcmp(a, "xy", 2) || memcmp(b, "zuv", 3))
		f->vec_in = -1000;
	atomic_store(&f->step, 2);
	f->deadline = gort_nanotime() + 50 * MS;
	if (gort_set_deadline(f->fd, f->deadline, 0) == 0) {
		f->timed = gort_read(f->fd, f->buf, sizeof(f->buf));
		f->timed_end = gort_nanotime();
	}
	f->closed = gort_close(f->fd);
	atomic_store(&f->step, 3);
	return NULL;
}

/* Goroutines that keep going while the thread is blocked. */
static atomic_long ticks;
static atomic_bool stop_ticking;

static void ticker(void *arg)
{
	while (!atomic_load(&stop_ticking)) {
		atomic_fetch_add(&ticks, 1);
		gort_yield();
	}
	gort_wg_done(arg);
}

static int thread_main(void *arg)
{
	static uint8_t got[REPLY];
	struct gort_waitgroup twg = { 0 };
	struct foreign f;
	pthread_t th;
	size_t have = 0;
	char state = 0, buf[8];
	long t0;
	int c, i;
	ssize_t n;

	memset(&f, 0, sizeof(f));
	f.reply = malloc(REPLY);
	GT_CHECK(f.reply != NULL);
	if (!f.reply)
		return 1;
	gt_pattern_fill(f.reply, REPLY, 3, 0);
	/* the thread has the client end: its segments are the small ones */
	GT_CHECK(gt_tcp_pair_small(&f.fd, &c, 16384) == 0);
	gort_wg_add(&twg, 1);
	GT_CHECK(gort_go(ticker, &twg) == 0);
	GT_CHECK(pthread_create(&th, NULL, foreign_run, &f) == 0);

	/* the thread sleeps in its read; goroutines run meanwhile */
	for (i = 0; i < 5000; i++) {
		int tid = atomic_load(&f.tid);

		state = tid ? gt_thread_state(tid) : 0;
		if (state == 'S')
			break;
		gort_sleep(MS);
	}
	GT_CHECKF(state == 'S', "the thread's state is '%c'", state);
	t0 = atomic_load(&ticks);
	gort_sleep(20 * MS);
	GT_CHECKF(atomic_load(&ticks) > t0, "goroutines stalled");
	GT_CHECK(atomic_load(&f.step) == 0);
	GT_CHECK(gort_write(c, "ping", 4) == 4);

	/* its 1 MiB reply, read slowly */
	while (have < REPLY) {
		n = gort_read(c, got + have,
			      REPLY - have < 4096 ? REPLY - have : 4096);
		if (n <= 0) {
			GT_CHECKF(0, "reading the reply: %zd", n);
			break;
		}
		have += (size_t)n;
		if (have % 65536 < 4096)
			gort_sleep(MS);
	}
	GT_CHECK(have == REPLY && !memcmp(got, f.reply, REPLY));
	GT_CHECK(gt_read_full(c, buf, 5) == 5 && !memcmp(buf, "abcde", 5));
	GT_CHECK(gort_write(c, "xyzuv", 5) == 5);
	gt_join_thread(th);
	atomic_store(&stop_ticking, true);
	gort_wg_wait(&twg);

	GT_CHECKF(f.first == 4 && !memcmp(f.buf, "ping", 4),
		  "the thread's read: %zd", f.first);
	GT_CHECKF(f.wrote == REPLY, "the thread's write: %zd", f.wrote);
	GT_CHECKF(f.vec_out == 5, "the thread's writev: %zd", f.vec_out);
	GT_CHECKF(f.vec_in == 5, "the thread's readv: %zd", f.vec_in);
	GT_CHECKF(f.timed == -ETIMEDOUT, "the thread's read with a deadline: %zd",
		  f.timed);
	GT_CHECKF(f.timed_end >= f.deadline, "it timed out %lld ns early",
		  (long long)(f.deadline - f.timed_end));
	GT_CHECK(f.closed == 0);
	GT_CHECK(gort_read(c, buf, sizeof(buf)) == 0);
	GT_CHECK(gort_close(c) == 0);
	free(f.reply);
	return 0;
}

TEST_F_TIMEOUT(net, plain_pthread, 60)
{
	int sv[2];
	char b[4];

	GT_NET_BEGIN();
	/* no runtime at all yet: plain blocking calls */
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_EQ(3, gort_write(sv[0], "abc", 3));
	ASSERT_EQ(3, gort_read(sv[1], b, sizeof(b)));
	ASSERT_EQ(0, memcmp(b, "abc", 3));
	ASSERT_EQ(0, gort_close(sv[0]));
	ASSERT_EQ(0, gort_read(sv[1], b, sizeof(b)));
	ASSERT_EQ(0, gort_close(sv[1]));

	ASSERT_EQ(0, gt_net_run(&variant->v, thread_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

TEST_HARNESS_MAIN
