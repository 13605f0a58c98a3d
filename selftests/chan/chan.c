// SPDX-License-Identifier: GPL-2.0
/*
 * chan.c - channels do what gort.h (and Go) say, with 1, 2 and 8 Ps.
 *
 *  - a 1000-goroutine prime sieve of unbuffered channels gives the first
 *    1000 primes (the last is 7919);
 *  - 100 producers and 100 consumers on one buffered channel lose and
 *    duplicate nothing (every value seen exactly once, count and sum);
 *  - an unbuffered send waits for its receiver and a receive for its
 *    sender; a buffered channel is FIFO, also between two goroutines;
 *  - len and cap;
 *  - a NULL channel: try_send/try_recv are -EAGAIN, and a goroutine that
 *    sends or receives on it blocks for good (dump: "(nil chan)");
 *  - a closed channel drains its buffer, then gives false and zeroes elem
 *    (elem may be NULL); close wakes every blocked receiver, and every
 *    blocked sender panics;
 *  - send on closed, close of closed and close of NULL panic with Go's
 *    message and exit status 2 (forked children);
 *  - plain pthreads send to and receive from goroutines, and a pthread
 *    blocked in gort_chan_recv is woken by a goroutine;
 *  - elem_size > 64 KiB is NULL with errno EINVAL.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gort_test.h"

#define CHILD_TIMEOUT	60

GT_PROCS_FIXTURE(chan)

/* Wait until *flag != 0, yielding; false after about 10 s. */
static bool wait_flag(atomic_int *flag)
{
	int64_t deadline = gt_now_ns() + 10000000000LL;

	while (!atomic_load(flag)) {
		if (gt_now_ns() > deadline)
			return false;
		gort_sleep(100000);
	}
	return true;
}

/* ---- prime sieve ---- */

#define NPRIMES	1000

struct filter_arg {
	struct gort_chan *in, *out;
	int prime;
};

static void generate(void *arg)
{
	struct gort_chan *c = arg;
	int i;

	for (i = 2;; i++)
		gort_chan_send(c, &i);
}

static void filter(void *arg)
{
	struct filter_arg *f = arg;
	int v;

	for (;;) {
		if (!gort_chan_recv(f->in, &v)) {
			GT_CHECK(!"sieve channel closed");
			return;
		}
		if (v % f->prime)
			gort_chan_send(f->out, &v);
	}
}

static int primes[NPRIMES];
static struct filter_arg filters[NPRIMES];

static int sieve_main(void *arg)
{
	struct gort_chan *c = gort_chan_make(sizeof(int), 0);
	int i;

	GT_CHECK(c != NULL);
	GT_CHECK(gort_go(generate, c) == 0);
	for (i = 0; i < NPRIMES; i++) {
		struct gort_chan *c1;

		GT_CHECK(gort_chan_recv(c, &primes[i]));
		c1 = gort_chan_make(sizeof(int), 0);
		GT_CHECK(c1 != NULL);
		filters[i] = (struct filter_arg){ c, c1, primes[i] };
		GT_CHECK(gort_go(filter, &filters[i]) == 0);
		c = c1;
	}
	return 0;
}

static bool is_prime(int n)
{
	int d;

	if (n < 2)
		return false;
	for (d = 2; d * d <= n; d++)
		if (n % d == 0)
			return false;
	return true;
}

TEST_F_TIMEOUT(chan, prime_sieve, 120)
{
	int i, n = 1;

	ASSERT_EQ(0, run_main(variant->procs, sieve_main, NULL));
	ASSERT_EQ(0, gt_failures());
	EXPECT_EQ(2, primes[0]);
	EXPECT_EQ(7919, primes[NPRIMES - 1]);
	for (i = 0; i < NPRIMES; i++) {
		/* the i-th prime, computed independently */
		do
			n++;
		while (!is_prime(n));
		ASSERT_EQ(n, primes[i]) TH_LOG("prime #%d", i);
	}
}

/* ---- many producers, many consumers ---- */

#define NPROD		100
#define NCONS		100
#define PER_PROD	1000
#define NVALUES		(NPROD * PER_PROD)

struct mpmc {
	struct gort_chan *c;
	struct gort_waitgroup prod, cons;
	atomic_uchar seen[NVALUES];
	atomic_long count, sum;
};

static struct mpmc mp;

static void producer(void *arg)
{
	long base = (intptr_t)arg * PER_PROD, i;

	for (i = 0; i < PER_PROD; i++) {
		long v = base + i;

		gort_chan_send(mp.c, &v);
	}
	gort_wg_done(&mp.prod);
}

static void consumer(void *arg)
{
	long v;

	while (gort_chan_recv(mp.c, &v)) {
		GT_CHECKF(v >= 0 && v < NVALUES, "v=%ld", v);
		if (v < 0 || v >= NVALUES)
			continue;
		atomic_fetch_add(&mp.seen[v], 1);
		atomic_fetch_add(&mp.count, 1);
		atomic_fetch_add(&mp.sum, v);
	}
	GT_CHECK(v == 0);
	gort_wg_done(&mp.cons);
}

static int mpmc_main(void *arg)
{
	intptr_t i;

	mp.c = gort_chan_make(sizeof(long), 16);
	GT_CHECK(mp.c != NULL);
	gort_wg_add(&mp.prod, NPROD);
	gort_wg_add(&mp.cons, NCONS);
	for (i = 0; i < NCONS; i++)
		GT_CHECK(gort_go(consumer, NULL) == 0);
	for (i = 0; i < NPROD; i++)
		GT_CHECK(gort_go(producer, (void *)i) == 0);
	gort_wg_wait(&mp.prod);
	gort_chan_close(mp.c);
	gort_wg_wait(&mp.cons);
	return 0;
}

TEST_F_TIMEOUT(chan, producers_consumers, 120)
{
	long i, lost = 0, dup = 0;

	ASSERT_EQ(0, run_main(variant->procs, mpmc_main, NULL));
	ASSERT_EQ(0, gt_failures());
	for (i = 0; i < NVALUES; i++) {
		if (mp.seen[i] == 0)
			lost++;
		else if (mp.seen[i] > 1)
			dup++;
	}
	EXPECT_EQ(0, lost);
	EXPECT_EQ(0, dup);
	EXPECT_EQ(NVALUES, atomic_load(&mp.count));
	EXPECT_EQ((long)NVALUES * (NVALUES - 1) / 2, atomic_load(&mp.sum));
}

/* ---- unbuffered rendezvous ---- */

struct rdv {
	struct gort_chan *c;
	atomic_int started, done;
	int got;
};

static void rdv_sender(void *arg)
{
	struct rdv *r = arg;
	int v = 42;

	atomic_store(&r->started, 1);
	gort_chan_send(r->c, &v);
	atomic_store(&r->done, 1);
}

static void rdv_receiver(void *arg)
{
	struct rdv *r = arg;

	atomic_store(&r->started, 1);
	GT_CHECK(gort_chan_recv(r->c, &r->got));
	atomic_store(&r->done, 1);
}

static int rendezvous_main(void *arg)
{
	struct rdv r = { 0 };
	int v = 0;

	r.c = gort_chan_make(sizeof(int), 0);
	GT_CHECK(r.c != NULL);
	GT_CHECK(gort_chan_try_send(r.c, &v) == -EAGAIN);
	GT_CHECK(gort_chan_try_recv(r.c, &v) == -EAGAIN);

	/* The send waits for a receiver. */
	GT_CHECK(gort_go(rdv_sender, &r) == 0);
	GT_CHECK(wait_flag(&r.started));
	gort_sleep(20000000);
	GT_CHECK(atomic_load(&r.done) == 0);
	GT_CHECK(gort_chan_len(r.c) == 0);
	GT_CHECK(gort_chan_recv(r.c, &v));
	GT_CHECK(v == 42);
	GT_CHECK(wait_flag(&r.done));

	/* The receive waits for a sender. */
	r.started = 0;
	r.done = 0;
	GT_CHECK(gort_go(rdv_receiver, &r) == 0);
	GT_CHECK(wait_flag(&r.started));
	gort_sleep(20000000);
	GT_CHECK(atomic_load(&r.done) == 0);
	v = 7;
	gort_chan_send(r.c, &v);
	GT_CHECK(wait_flag(&r.done));
	GT_CHECK(r.got == 7);
	/* A waiting receiver makes try_send succeed. */
	r.started = 0;
	r.done = 0;
	GT_CHECK(gort_go(rdv_receiver, &r) == 0);
	GT_CHECK(wait_flag(&r.started));
	{
		int64_t deadline = gt_now_ns() + 10000000000LL;
		int ret;

		v = 9;
		while ((ret = gort_chan_try_send(r.c, &v)) == -EAGAIN &&
		       gt_now_ns() < deadline)
			gort_sleep(100000);
		GT_CHECK(ret == 0);
	}
	GT_CHECK(wait_flag(&r.done));
	GT_CHECK(r.got == 9);
	return 0;
}

TEST_F_TIMEOUT(chan, unbuffered_rendezvous, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, rendezvous_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- buffered FIFO, len and cap ---- */

#define FIFO_N	20000

static void fifo_sender(void *arg)
{
	struct gort_chan *c = arg;
	int i;

	for (i = 0; i < FIFO_N; i++)
		gort_chan_send(c, &i);
	gort_chan_close(c);
}

static int fifo_main(void *arg)
{
	struct gort_chan *c = gort_chan_make(sizeof(int), 100);
	int i, v, next = 0;

	GT_CHECK(c != NULL);
	for (i = 0; i < 100; i++) {
		GT_CHECK(gort_chan_try_send(c, &i) == 0);
		GT_CHECK(gort_chan_len(c) == (size_t)i + 1);
	}
	GT_CHECK(gort_chan_try_send(c, &i) == -EAGAIN);
	GT_CHECK(gort_chan_len(c) == 100);
	for (i = 0; i < 100; i++) {
		GT_CHECK(gort_chan_recv(c, &v));
		GT_CHECKF(v == i, "got %d want %d", v, i);
	}
	GT_CHECK(gort_chan_len(c) == 0);
	GT_CHECK(gort_chan_try_recv(c, &v) == -EAGAIN);

	/* Wrap-around, across goroutines, with a small odd buffer. */
	c = gort_chan_make(sizeof(int), 7);
	GT_CHECK(c != NULL);
	GT_CHECK(gort_go(fifo_sender, c) == 0);
	while (gort_chan_recv(c, &v)) {
		GT_CHECKF(v == next, "got %d want %d", v, next);
		next = v + 1;
		GT_CHECK(gort_chan_len(c) <= 7);
	}
	GT_CHECK(next == FIFO_N);
	return 0;
}

TEST_F_TIMEOUT(chan, buffered_fifo, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, fifo_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

static int lencap_main(void *arg)
{
	struct gort_chan *u = gort_chan_make(8, 0);
	struct gort_chan *b = gort_chan_make(8, 5);
	struct gort_chan *big = gort_chan_make(65536, 2);
	uint64_t v = 1;
	static char blob[65536];

	GT_CHECK(u && b && big);
	GT_CHECK(gort_chan_cap(u) == 0);
	GT_CHECK(gort_chan_len(u) == 0);
	GT_CHECK(gort_chan_cap(b) == 5);
	GT_CHECK(gort_chan_len(b) == 0);
	gort_chan_send(b, &v);
	gort_chan_send(b, &v);
	GT_CHECK(gort_chan_len(b) == 2);
	GT_CHECK(gort_chan_cap(b) == 5);
	GT_CHECK(gort_chan_recv(b, &v));
	GT_CHECK(gort_chan_len(b) == 1);
	gort_chan_close(b);
	GT_CHECK(gort_chan_len(b) == 1);
	GT_CHECK(gort_chan_cap(b) == 5);
	GT_CHECK(gort_chan_len(NULL) == 0);
	GT_CHECK(gort_chan_cap(NULL) == 0);
	/* 64 KiB elements are allowed, and copied whole. */
	GT_CHECK(gort_chan_cap(big) == 2);
	memset(blob, 0xa5, sizeof(blob));
	gort_chan_send(big, blob);
	memset(blob, 0, sizeof(blob));
	GT_CHECK(gort_chan_recv(big, blob));
	GT_CHECK(blob[0] == (char)0xa5 && blob[65535] == (char)0xa5);
	return 0;
}

TEST_F_TIMEOUT(chan, len_cap, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, lencap_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

static int einval_main(void *arg)
{
	struct gort_chan *c;

	errno = 0;
	c = gort_chan_make(65537, 1);
	GT_CHECK(c == NULL);
	GT_CHECKF(errno == EINVAL, "errno %d", errno);
	errno = 0;
	c = gort_chan_make(1 << 20, 0);
	GT_CHECK(c == NULL);
	GT_CHECKF(errno == EINVAL, "errno %d", errno);
	return 0;
}

TEST_F_TIMEOUT(chan, elem_too_big, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, einval_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- NULL channel ---- */

static atomic_int nil_started, nil_returned;

static void nil_receiver(void *arg)
{
	int v;

	atomic_fetch_add(&nil_started, 1);
	gort_chan_recv(NULL, &v);
	atomic_fetch_add(&nil_returned, 1);
}

static void nil_sender(void *arg)
{
	int v = 1;

	atomic_fetch_add(&nil_started, 1);
	gort_chan_send(NULL, &v);
	atomic_fetch_add(&nil_returned, 1);
}

static int nil_main(void *arg)
{
	struct gort_select_case sc = { .chan = NULL, .dir = GORT_RECV };
	int v = 5, fds[2], i;
	char buf[65536];
	ssize_t n, len = 0;
	int64_t t0;

	GT_CHECK(gort_chan_try_send(NULL, &v) == -EAGAIN);
	GT_CHECK(gort_chan_try_recv(NULL, &v) == -EAGAIN);
	GT_CHECK(v == 5);

	t0 = gort_nanotime();
	GT_CHECK(gort_select(&sc, 1, 20000000) == -ETIMEDOUT);
	GT_CHECK(gort_nanotime() - t0 >= 20000000);
	sc.dir = GORT_SEND;
	sc.elem = &v;
	GT_CHECK(gort_select(&sc, 1, 0) == -EAGAIN);

	GT_CHECK(gort_go(nil_receiver, NULL) == 0);
	GT_CHECK(gort_go(nil_sender, NULL) == 0);
	for (i = 0; i < 10000 && atomic_load(&nil_started) < 2; i++)
		gort_sleep(1000000);
	gort_sleep(50000000);
	GT_CHECK(atomic_load(&nil_started) == 2);
	GT_CHECK(atomic_load(&nil_returned) == 0);

	/* They show in the dump as blocked on a nil channel. */
	if (pipe(fds))
		return 1;
	GT_CHECK(gort_dump_goroutines(fds[1]) >= 0);
	close(fds[1]);
	while ((n = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	close(fds[0]);
	buf[len] = '\0';
	GT_CHECKF(strstr(buf, "[chan receive (nil chan)") != NULL, "dump:\n%s", buf);
	GT_CHECKF(strstr(buf, "[chan send (nil chan)") != NULL, "dump:\n%s", buf);
	return 0;
}

TEST_F_TIMEOUT(chan, nil_channel, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, nil_main, NULL));
	ASSERT_EQ(0, gt_failures());
	EXPECT_EQ(0, atomic_load(&nil_returned));
}

/* ---- closed channels ---- */

static int closed_main(void *arg)
{
	struct gort_chan *c = gort_chan_make(sizeof(int), 3);
	int v;

	GT_CHECK(c != NULL);
	v = 1;
	gort_chan_send(c, &v);
	v = 2;
	gort_chan_send(c, &v);
	gort_chan_close(c);
	GT_CHECK(gort_chan_len(c) == 2);
	v = -1;
	GT_CHECK(gort_chan_recv(c, &v) && v == 1);
	GT_CHECK(gort_chan_try_recv(c, &v) == 1 && v == 2);
	v = -1;
	GT_CHECK(!gort_chan_recv(c, &v));
	GT_CHECK(v == 0);
	v = -1;
	GT_CHECK(gort_chan_try_recv(c, &v) == 0);
	GT_CHECK(v == 0);
	GT_CHECK(!gort_chan_recv(c, NULL));
	GT_CHECK(gort_chan_try_recv(c, NULL) == 0);

	/* Unbuffered, closed: false and zero at once. */
	c = gort_chan_make(sizeof(long), 0);
	GT_CHECK(c != NULL);
	gort_chan_close(c);
	{
		long lv = -1;

		GT_CHECK(!gort_chan_recv(c, &lv) && lv == 0);
	}
	return 0;
}

TEST_F_TIMEOUT(chan, closed_drains_then_zero, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, closed_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

#define NWAITERS	50

struct closewake {
	struct gort_chan *c;
	struct gort_waitgroup wg;
	size_t cap;
	atomic_int started, woke_false;
};

static void close_waiter(void *arg)
{
	struct closewake *w = arg;
	long v = -1;

	atomic_fetch_add(&w->started, 1);
	if (!gort_chan_recv(w->c, &v)) {
		GT_CHECK(v == 0);
		atomic_fetch_add(&w->woke_false, 1);
	}
	gort_wg_done(&w->wg);
}

static int close_wakes_main(void *arg)
{
	struct closewake *w = arg;
	int i;

	w->c = gort_chan_make(sizeof(long), w->cap);
	GT_CHECK(w->c != NULL);
	gort_wg_add(&w->wg, NWAITERS);
	for (i = 0; i < NWAITERS; i++)
		GT_CHECK(gort_go(close_waiter, w) == 0);
	for (i = 0; i < 10000 && atomic_load(&w->started) < NWAITERS; i++)
		gort_sleep(1000000);
	gort_sleep(20000000);
	gort_chan_close(w->c);
	gort_wg_wait(&w->wg);
	GT_CHECK(atomic_load(&w->woke_false) == NWAITERS);
	return 0;
}

TEST_F_TIMEOUT(chan, close_wakes_receivers, 60)
{
	static struct closewake w0, w1;

	w1.cap = 4;	/* receivers also block on an empty buffer */
	ASSERT_EQ(0, run_main(variant->procs, close_wakes_main, &w0));
	ASSERT_EQ(0, run_main(variant->procs, close_wakes_main, &w1));
	ASSERT_EQ(0, gt_failures());
}

/* ---- panics, in forked children ---- */

struct panic_info {
	int procs;
	int which;
	atomic_int nblocked;
	atomic_int after;	/* code after the panicking call ran */
};

static struct panic_info *pinfo;

static void blocked_sender(void *arg)
{
	struct gort_chan *c = arg;
	int v = 1;

	atomic_fetch_add(&pinfo->nblocked, 1);
	gort_chan_send(c, &v);
	atomic_store(&pinfo->after, 1);
}

/*
 * Block three senders on c, close it under them (they must panic), and
 * give the panic time to end the process.
 */
static void close_under_senders(struct gort_chan *c)
{
	int i;

	for (i = 0; i < 3; i++)
		gort_go(blocked_sender, c);
	for (i = 0; i < 10000 && atomic_load(&pinfo->nblocked) < 3; i++)
		gort_sleep(1000000);
	gort_sleep(20000000);
	gort_chan_close(c);
	gort_sleep(2000000000);
}

static int panic_main(void *arg)
{
	struct gort_chan *c = gort_chan_make(sizeof(int), 1);
	int v = 1;

	switch (pinfo->which) {
	case 0:	/* send on closed */
		gort_chan_close(c);
		gort_chan_send(c, &v);
		break;
	case 1:	/* try_send on closed */
		gort_chan_close(c);
		gort_chan_try_send(c, &v);
		break;
	case 2:	/* close of closed */
		gort_chan_close(c);
		gort_chan_close(c);
		break;
	case 3:	/* close of nil */
		gort_chan_close(NULL);
		break;
	case 4:	/* blocked senders panic when the channel is closed */
		gort_chan_send(c, &v);	/* fill the buffer */
		close_under_senders(c);
		return 0;
	case 5:	/* same, unbuffered */
		c = gort_chan_make(sizeof(int), 0);
		close_under_senders(c);
		return 0;
	}
	atomic_store(&pinfo->after, 1);
	return 0;
}

static int panic_child(void *arg)
{
	gt_clear_gort_env();
	return run_main(pinfo->procs, panic_main, NULL);
}

static void expect_panic(struct __test_metadata *_metadata, int procs,
			 int which, const char *want)
{
	struct gt_child c;
	char how[64];

	pinfo = gt_shared_alloc(sizeof(*pinfo));
	ASSERT_NE(NULL, pinfo);
	pinfo->procs = procs;
	pinfo->which = which;
	ASSERT_EQ(0, gt_fork_run(panic_child, NULL, CHILD_TIMEOUT, &c));
	EXPECT_TRUE(gt_exited_with(&c, 2)) {
		TH_LOG("case %d: child %s, expected exit status 2", which,
		       gt_child_how(&c, how, sizeof(how)));
	}
	EXPECT_NE(NULL, strstr(c.err, want)) {
		TH_LOG("case %d: stderr lacks \"%s\"", which, want);
	}
	EXPECT_EQ(0, atomic_load(&pinfo->after));
	gt_child_free(&c);
}

TEST_F_TIMEOUT(chan, send_on_closed_panics, 120)
{
	expect_panic(_metadata, variant->procs, 0,
		     "panic: send on closed channel");
	expect_panic(_metadata, variant->procs, 1,
		     "panic: send on closed channel");
}

TEST_F_TIMEOUT(chan, close_of_closed_panics, 60)
{
	expect_panic(_metadata, variant->procs, 2,
		     "panic: close of closed channel");
}

TEST_F_TIMEOUT(chan, close_of_nil_panics, 60)
{
	expect_panic(_metadata, variant->procs, 3,
		     "panic: close of nil channel");
}

TEST_F_TIMEOUT(chan, close_panics_blocked_senders, 120)
{
	expect_panic(_metadata, variant->procs, 4,
		     "panic: send on closed channel");
	expect_panic(_metadata, variant->procs, 5,
		     "panic: send on closed channel");
}

/* ---- foreign threads ---- */

#define XN	2000

struct xthread {
	struct gort_chan *to_go, *to_thread, *wake;
	struct gort_waitgroup done;
	atomic_int tid, thread_woke;
	long thread_sum;
	int wake_val;
};

static void *x_thread(void *arg)
{
	struct xthread *x = arg;
	long i, v;

	for (i = 0; i < XN; i++)
		gort_chan_send(x->to_go, &i);
	gort_chan_close(x->to_go);
	while (gort_chan_recv(x->to_thread, &v))
		x->thread_sum += v;
	/* Now block in gort_chan_recv until a goroutine wakes us. */
	atomic_store(&x->tid, (int)syscall(SYS_gettid));
	if (gort_chan_recv(x->wake, &x->wake_val))
		atomic_store(&x->thread_woke, 1);
	gort_wg_done(&x->done);
	return NULL;
}

static void x_recv_go(void *arg)
{
	struct xthread *x = arg;
	long v, next = 0;

	while (gort_chan_recv(x->to_go, &v)) {
		GT_CHECKF(v == next, "got %ld want %ld", v, next);
		next++;
	}
	GT_CHECK(next == XN);
	gort_wg_done(&x->done);
}

static void x_send_go(void *arg)
{
	struct xthread *x = arg;
	long i;

	for (i = 1; i <= XN; i++)
		gort_chan_send(x->to_thread, &i);
	gort_chan_close(x->to_thread);
	gort_wg_done(&x->done);
}

static int xthread_main(void *arg)
{
	struct xthread *x = arg;
	pthread_t th;
	int i, v = 77;
	char st = 0;

	x->to_go = gort_chan_make(sizeof(long), 0);
	x->to_thread = gort_chan_make(sizeof(long), 3);
	x->wake = gort_chan_make(sizeof(int), 0);
	gort_wg_add(&x->done, 3);
	GT_CHECK(gort_go(x_recv_go, x) == 0);
	GT_CHECK(gort_go(x_send_go, x) == 0);
	if (pthread_create(&th, NULL, x_thread, x))
		return 1;
	/* Wait until the thread sleeps in gort_chan_recv(wake). */
	for (i = 0; i < 20000; i++) {
		if (atomic_load(&x->tid)) {
			st = gt_thread_state(atomic_load(&x->tid));
			if (st == 'S')
				break;
		}
		gort_sleep(1000000);
	}
	GT_CHECKF(st == 'S', "foreign thread state '%c'", st ? st : '?');
	GT_CHECK(atomic_load(&x->thread_woke) == 0);
	gort_chan_send(x->wake, &v);
	gort_wg_wait(&x->done);
	gt_join_thread(th);
	GT_CHECK(atomic_load(&x->thread_woke) == 1);
	GT_CHECK(x->wake_val == 77);
	GT_CHECK(x->thread_sum == (long)XN * (XN + 1) / 2);
	return 0;
}

TEST_F_TIMEOUT(chan, foreign_thread, 60)
{
	static struct xthread x;

	ASSERT_EQ(0, run_main(variant->procs, xthread_main, &x));
	ASSERT_EQ(0, gt_failures());
}

TEST_HARNESS_MAIN
