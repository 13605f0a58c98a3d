// SPDX-License-Identifier: GPL-2.0
/*
 * multishot.c - what a server relies on when the io_uring poller serves
 * accepts and reads from multishot requests (one SQE, many completions,
 * queued per descriptor), checked on every poller and with the features
 * off, since the guarantees are the same whichever path runs:
 *
 *  - many connections accepted at once, by goroutines on several Ps, are
 *    each returned exactly once, and none is lost or leaked;
 *  - gort_close of a listener with connections accepted by the kernel but
 *    not yet returned closes them: the sockets in /proc/self/fd go back
 *    to where they were;
 *  - a peer that sends faster than the reader reads cannot make gort hold
 *    unbounded memory: the sender stalls once the kernel's socket buffers,
 *    the buffer ring and a bounded queue are full, and every byte
 *    arrives, in order;
 *  - with a buffer ring of one buffer (GORT_DEBUG=uringbufs=1) the data
 *    is intact: running out of buffers falls back to single-shot reads;
 *  - gort_close of a connection while its reader waits wakes the reader
 *    with -ECANCELED and really closes the socket (the peer sees EOF);
 *  - MSG_PEEK, MSG_WAITALL, EOF and a reset read as recv(2) says.
 *
 * Where a check only means something with a feature on (connections
 * queued before gort_accept asks), it runs when gort_netpoll_features()
 * names the feature; the rest run everywhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gort_net.h"

#define MS 1000000LL

GT_NET_FIXTURE(net);

static bool has_feature(const char *name)
{
	return strstr(gort_netpoll_features(), name) != NULL;
}

/* ---- many connections accepted at once across Ps ---- */

#define NDIAL 64
#define NACCEPT 4

struct many {
	int lfd;
	char addr[64];
	atomic_int seen[NDIAL];		/* times each client's id was read */
	atomic_int accepted;
	struct gort_waitgroup wg;
};

static void many_acceptor(void *arg)
{
	struct many *m = arg;

	for (;;) {
		uint32_t id;
		int fd = gort_accept(m->lfd, NULL, NULL);

		if (fd == -ECANCELED || fd == -EBADF)
			break;
		GT_CHECKF(fd >= 0, "accept: %d", fd);
		if (fd < 0)
			break;
		atomic_fetch_add(&m->accepted, 1);
		if (gt_read_full(fd, &id, sizeof(id)) == sizeof(id) &&
		    id < NDIAL) {
			atomic_fetch_add(&m->seen[id], 1);
			GT_CHECK(gort_write(fd, &id, sizeof(id)) == sizeof(id));
		} else {
			GT_CHECK(!"bad id");
		}
		gort_close(fd);
	}
	gort_wg_done(&m->wg);
}

struct dialer {
	struct many *m;
	uint32_t id;
	struct gort_waitgroup *wg;
};

static void many_dialer(void *arg)
{
	struct dialer *d = arg;
	uint32_t back = ~0u;
	int fd = gort_dial("tcp4", d->m->addr, 5000 * MS);

	GT_CHECKF(fd >= 0, "dial %u: %d", d->id, fd);
	if (fd >= 0) {
		GT_CHECK(gort_write(fd, &d->id, sizeof(d->id)) == 4);
		GT_CHECK(gt_read_full(fd, &back, sizeof(back)) == 4);
		GT_CHECKF(back == d->id, "dialer %u got %u", d->id, back);
		gort_close(fd);
	}
	gort_wg_done(d->wg);
}

/* One round: NDIAL dialers, NACCEPT acceptors, the listener closed. */
static void many_round(void)
{
	static struct dialer ds[NDIAL];
	struct gort_waitgroup dwg = { 0 };
	struct many *m = calloc(1, sizeof(*m));
	int i;

	m->lfd = gort_listen("tcp4", "127.0.0.1:0", 128);
	GT_CHECK(m->lfd >= 0);
	snprintf(m->addr, sizeof(m->addr), "127.0.0.1:%d",
		 gt_port_of(m->lfd));
	gort_wg_add(&m->wg, NACCEPT);
	for (i = 0; i < NACCEPT; i++)
		GT_CHECK(gort_go(many_acceptor, m) == 0);
	gort_wg_add(&dwg, NDIAL);
	for (i = 0; i < NDIAL; i++) {
		ds[i] = (struct dialer){ m, (uint32_t)i, &dwg };
		GT_CHECK(gort_go(many_dialer, &ds[i]) == 0);
	}
	gort_wg_wait(&dwg);
	/* the acceptors wait in gort_accept: gort_close wakes them all */
	GT_CHECK(gort_close(m->lfd) == 0);
	gort_wg_wait(&m->wg);
	GT_CHECKF(atomic_load(&m->accepted) == NDIAL, "accepted %d",
		  atomic_load(&m->accepted));
	for (i = 0; i < NDIAL; i++)
		GT_CHECKF(atomic_load(&m->seen[i]) == 1, "client %d seen %d",
			  i, atomic_load(&m->seen[i]));
	free(m);
}

static int many_main(void *arg)
{
	int base;

	base = gt_count_sockets();
	many_round();
	many_round();
	GT_CHECKF(gt_count_sockets() == base, "descriptors: %d, before %d",
		  gt_count_sockets(), base);
	return 0;
}

TEST_F(net, accept_many_across_ps)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, many_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- a listener closed with connections queued ---- */

#define NQUEUED 10

static int queued_main(void *arg)
{
	int base = gt_count_sockets(), lfd, c0, s0, i, want;
	int cs[NQUEUED];
	char addr[64];
	int64_t until;

	lfd = gort_listen("tcp4", "127.0.0.1:0", 64);
	GT_CHECK(lfd >= 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", gt_port_of(lfd));
	/* the first accept arms the multishot (where there is one) */
	c0 = gort_dial("tcp4", addr, 5000 * MS);
	s0 = gort_accept(lfd, NULL, NULL);
	GT_CHECK(c0 >= 0 && s0 >= 0);
	for (i = 0; i < NQUEUED; i++) {
		cs[i] = gort_dial("tcp4", addr, 5000 * MS);
		GT_CHECK(cs[i] >= 0);
	}
	if (has_feature("multishot-accept")) {
		/* the kernel accepts them on its own, before anyone asks */
		want = base + 3 + 2 * NQUEUED;
		until = gort_nanotime() + 2000 * MS;
		while (gt_count_sockets() != want && gort_nanotime() < until)
			gort_sleep(1 * MS);
		GT_CHECKF(gt_count_sockets() == want,
			  "%d descriptors, want %d with %d queued", gt_count_sockets(),
			  want, NQUEUED);
	}
	GT_CHECK(gort_close(lfd) == 0);
	GT_CHECKF(gt_count_sockets() == base + 2 + NQUEUED,
		  "after closing the listener: %d descriptors, want %d",
		  gt_count_sockets(), base + 2 + NQUEUED);
	/* the dialers' peers are gone: EOF or a reset, not a hang */
	for (i = 0; i < NQUEUED; i++) {
		char b;
		ssize_t n;

		GT_CHECK(gort_set_deadline(cs[i], gort_nanotime() + 2000 * MS,
					   0) == 0);
		n = gort_read(cs[i], &b, 1);
		GT_CHECKF(n == 0 || n == -ECONNRESET, "client %d read %zd", i,
			  n);
		gort_close(cs[i]);
	}
	gort_close(c0);
	gort_close(s0);
	GT_CHECKF(gt_count_sockets() == base, "descriptors: %d, before %d",
		  gt_count_sockets(), base);
	return 0;
}

TEST_F(net, listener_closed_with_queued_connections)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, queued_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/*
 * Give the next run's rings n provided buffers: GORT_DEBUG=uringbufs=n
 * added to what the variant set.  0 or -1 (setenv).
 */
static int ring_bufs(int n)
{
	const char *old = getenv("GORT_DEBUG");
	char dbg[256];

	snprintf(dbg, sizeof(dbg), "%s%suringbufs=%d", old ? old : "",
		 old ? "," : "", n);
	return setenv("GORT_DEBUG", dbg, 1);
}

/* ---- a sender faster than the reader ---- */

#define FAST_TOTAL (4u << 20)
#define FAST_CHUNK (64u << 10)
#define FAST_SOCKBUF (64 << 10)	/* SO_SNDBUF and SO_RCVBUF of the pair */
/*
 * What may go out before the sender stalls: the sockets' buffers (the
 * kernel doubles both sizes), the descriptor's queue (the runtime pauses
 * the receive at 64 KiB), what the kernel received into the buffer ring
 * before the reaper saw it (the whole ring at worst: FAST_RING_BUFS of
 * 4 KiB, set for this test since the default ring is 1 MiB), and the
 * chunk being written: 512 KiB in all.  The check allows twice that;
 * unbounded, all 4 MiB would go.
 */
#define FAST_RING_BUFS 32
#define FAST_BOUND (1u << 20)

struct fast {
	int fd;
	uint64_t total;			/* bytes to send */
	atomic_uint_fast64_t sent;	/* sent so far */
	struct gort_waitgroup wg;
};

static void fast_sender(void *arg)
{
	struct fast *f = arg;
	uint8_t *chunk = malloc(FAST_CHUNK);
	uint64_t off = 0;

	while (chunk && off < f->total) {
		gt_pattern_fill(chunk, FAST_CHUNK, 7, off);
		if (gort_write(f->fd, chunk, FAST_CHUNK) != FAST_CHUNK) {
			GT_CHECK(!"write");
			break;
		}
		off += FAST_CHUNK;
		atomic_store(&f->sent, off);
	}
	free(chunk);
	gort_wg_done(&f->wg);
}

/* Read bytes from..total in odd sizes, checking every byte's place. */
static void fast_read_all(int fd, uint64_t from, uint64_t total)
{
	uint8_t *buf = malloc(5000);
	uint64_t got = from;
	size_t want = 1;

	while (buf && got < total) {
		ssize_t n = gort_read(fd, buf, want);
		ssize_t bad;

		if (n <= 0) {
			GT_CHECKF(0, "read at %llu: %zd",
				  (unsigned long long)got, n);
			break;
		}
		bad = gt_pattern_find_diff(buf, (size_t)n, 7, got);
		if (bad >= 0) {
			GT_CHECKF(0, "byte %llu differs",
				  (unsigned long long)(got + (uint64_t)bad));
			break;
		}
		got += (uint64_t)n;
		want = want * 3 % 5000 + 1;
	}
	free(buf);
}

/*
 * A request-answer exchange first, so that the reader's next read would
 * wait (where a multishot receive is armed); then the peer streams.
 */
static void fast_start(struct fast *f, int *c, int *s, uint64_t total)
{
	char b;

	GT_CHECK(gt_tcp_pair_small(c, s, FAST_SOCKBUF) == 0);
	GT_CHECK(gort_write(*s, "?", 1) == 1);
	GT_CHECK(gort_read(*c, &b, 1) == 1);
	f->fd = *c;
	f->total = total;
	gort_wg_add(&f->wg, 1);
	GT_CHECK(gort_go(fast_sender, f) == 0);
}

static int fast_main(void *arg)
{
	struct fast f = { 0 };
	uint8_t b;
	int c, s;

	fast_start(&f, &c, &s, FAST_TOTAL);
	GT_CHECK(gort_read(s, &b, 1) == 1);
	GT_CHECK(gt_pattern_find_diff(&b, 1, 7, 0) < 0);
	/* the reader stops reading: the sender must stall */
	gort_sleep(300 * MS);
	GT_CHECKF(atomic_load(&f.sent) < FAST_BOUND,
		  "%llu bytes went out to a reader that did not read",
		  (unsigned long long)atomic_load(&f.sent));
	fast_read_all(s, 1, FAST_TOTAL);
	gort_wg_wait(&f.wg);
	gort_close(c);
	gort_close(s);
	return 0;
}

TEST_F(net, fast_sender_bounded)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, ring_bufs(FAST_RING_BUFS));
	ASSERT_EQ(0, gt_net_run(&variant->v, fast_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- two fast streams through a buffer ring of one buffer ---- */

static void one_stream(void *arg)
{
	struct gort_waitgroup *wg = arg;
	struct fast f = { 0 };
	int c, s;

	fast_start(&f, &c, &s, FAST_TOTAL / 4);
	fast_read_all(s, 0, FAST_TOTAL / 4);
	gort_wg_wait(&f.wg);
	gort_close(c);
	gort_close(s);
	gort_wg_done(wg);
}

static int exhaust_main(void *arg)
{
	struct gort_waitgroup wg = { 0 };

	gort_wg_add(&wg, 2);
	GT_CHECK(gort_go(one_stream, &wg) == 0);
	GT_CHECK(gort_go(one_stream, &wg) == 0);
	gort_wg_wait(&wg);
	return 0;
}

TEST_F(net, buffer_ring_exhausted)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, ring_bufs(1));
	ASSERT_EQ(0, gt_net_run(&variant->v, exhaust_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- gort_close while the reader waits ---- */

struct waiter {
	int fd;
	uint64_t goid;
	ssize_t res;
	struct gort_waitgroup wg;
};

static void close_reader(void *arg)
{
	struct waiter *w = arg;
	char b[16];

	w->goid = gort_goid();
	/* an answer went out: this read is the one that would wait */
	GT_CHECK(gort_write(w->fd, "?", 1) == 1);
	w->res = gort_read(w->fd, b, sizeof(b));
	gort_wg_done(&w->wg);
}

static int close_main(void *arg)
{
	struct waiter w = { 0 };
	char b;
	int c, s;

	GT_CHECK(gt_tcp_pair(&c, &s) == 0);
	w.fd = s;
	gort_wg_add(&w.wg, 1);
	GT_CHECK(gort_go(close_reader, &w) == 0);
	GT_CHECK(gort_read(c, &b, 1) == 1);
	GT_CHECK(gt_wait_io_parked(w.goid, 5000 * MS));
	GT_CHECK(gort_close(s) == 0);
	gort_wg_wait(&w.wg);
	GT_CHECKF(w.res == -ECANCELED, "reader: %zd", w.res);
	/* the socket is closed for real: nothing holds it open */
	GT_CHECK(gort_set_deadline(c, gort_nanotime() + 2000 * MS, 0) == 0);
	GT_CHECKF(gort_read(c, &b, 1) == 0, "peer did not see EOF");
	gort_close(c);
	return 0;
}

TEST_F(net, close_wakes_reader)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, close_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- recv flags, EOF and reset with a queue in between ---- */

static int flags_main(void *arg)
{
	char b[64];
	int c, s;

	GT_CHECK(gt_tcp_pair(&c, &s) == 0);
	GT_CHECK(gort_write(s, "?", 1) == 1);
	GT_CHECK(gort_read(c, b, 1) == 1);
	GT_CHECK(gort_write(c, "hello", 5) == 5);
	/* a peek leaves the bytes for the read */
	GT_CHECK(gort_recv(s, b, 3, MSG_PEEK) == 3 && !memcmp(b, "hel", 3));
	GT_CHECK(gort_recv(s, b, 5, MSG_WAITALL) == 5 &&
		 !memcmp(b, "hello", 5));
	/* nothing queued: MSG_DONTWAIT does not wait */
	GT_CHECK(gort_recv(s, b, sizeof(b), MSG_DONTWAIT) == -EAGAIN);
	/* WAITALL gathers pieces */
	GT_CHECK(gort_write(c, "ab", 2) == 2);
	GT_CHECK(gort_write(c, "cd", 2) == 2);
	GT_CHECK(gort_recv(s, b, 4, MSG_WAITALL) == 4 && !memcmp(b, "abcd", 4));
	/* half-close: the rest, then EOF, again and again */
	GT_CHECK(gort_write(c, "xy", 2) == 2);
	GT_CHECK(shutdown(c, SHUT_WR) == 0);
	GT_CHECK(gt_read_full(s, b, 2) == 2 && !memcmp(b, "xy", 2));
	GT_CHECK(gort_read(s, b, sizeof(b)) == 0);
	GT_CHECK(gort_read(s, b, sizeof(b)) == 0);
	/* the other direction still works */
	GT_CHECK(gort_write(s, "ok", 2) == 2);
	GT_CHECK(gt_read_full(c, b, 2) == 2 && !memcmp(b, "ok", 2));
	gort_close(c);
	gort_close(s);

	/* a reset reads as ECONNRESET */
	GT_CHECK(gt_tcp_pair(&c, &s) == 0);
	GT_CHECK(gort_write(s, "?", 1) == 1);
	GT_CHECK(gort_read(c, b, 1) == 1);
	{
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		GT_CHECK(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg,
				    sizeof(lg)) == 0);
	}
	GT_CHECK(gort_close(c) == 0);
	GT_CHECKF(gort_read(s, b, sizeof(b)) == -ECONNRESET, "after reset");
	gort_close(s);
	return 0;
}

TEST_F(net, recv_flags_eof_reset)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, flags_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- the knobs ---- */

static int noop_main(void *arg)
{
	return 0;
}

/* A malformed knob stops the program before it starts, with status 2. */
TEST(knob_malformed)
{
	static const char *const bad[] = { "uringrecv=2", "uringaccept=",
					   "uringbufs=3", "uringbufs=65536" };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		int status;
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (pid == 0) {
			int fd = open("/dev/null", 1);

			dup2(fd, 2);
			setenv("GORT_DEBUG", bad[i], 1);
			_exit(run_main(1, noop_main, NULL) == 0 ? 0 : 1);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2)
			TH_LOG("GORT_DEBUG=%s: status %#x", bad[i], status);
	}
}

TEST_HARNESS_MAIN
