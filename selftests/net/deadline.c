// SPDX-License-Identifier: GPL-2.0
/*
 * deadline.c - deadlines and gort_close on waiting operations, with each
 * poller and 1 and 2 Ps.
 *
 * Servers use deadlines to bound how long a connection may hold a
 * goroutine, and gort_close from another goroutine to stop one; both act on
 * operations that are already waiting, which is where a poller can get it
 * wrong (a timer armed for the old deadline, a cancel that races the
 * completion, a wake-up lost or doubled).  Checked:
 *
 *  - read and write deadlines fail the operation with -ETIMEDOUT no
 *    earlier than the deadline (gort_nanotime() after the return), and the
 *    connection works again once the deadline is cleared;
 *  - a deadline moved while a read waits is the one that counts: extended,
 *    the read times out at the later deadline (and, given data after the
 *    first deadline, returns the data); shortened from none, it times out;
 *    cleared, the read waits on and returns data that comes later; the same
 *    for a write blocked on full buffers;
 *  - a deadline already in the past fails read, recv, write and accept at
 *    once, even with data or a connection ready (as in Go: the deadline is
 *    checked before the attempt), and consumes nothing;
 *  - gort_close from another goroutine wakes a blocked gort_read, a
 *    blocked gort_write and a blocked gort_accept with -ECANCELED, returns
 *    0, and the descriptor is closed when it returns (the peer sees EOF);
 *  - a slow client that trickles a request and never finishes it is cut
 *    off by the server's read deadline, although every read made progress
 *    (a deadline is absolute, not an idle timeout), while a normal client
 *    of the same server is served.
 *
 * "The operation is waiting" is made certain, not assumed: the test waits
 * until the goroutine shows as parked in the poller in the runtime's
 * goroutine dump before it moves a deadline or closes.  Timing checks are
 * lower bounds only (ASan, TSan and qemu stretch everything); where a step
 * must happen before a deadline, the margins are hundreds of milliseconds
 * and the test checks that it did.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gort_net.h"

#define MS		1000000LL
#define SMALLBUF	16384

GT_NET_FIXTURE(net)

/* A read or write (or accept) in a goroutine of its own. */
struct op {
	int fd;
	int kind;			/* OP_READ, OP_WRITE or OP_ACCEPT */
	uint64_t goid;			/* the goroutine doing it */
	ssize_t res;			/* what it returned */
	char buf[64];			/* what a read got */
	int64_t ended;			/* gort_nanotime() at its return */
	atomic_bool done;		/* it returned */
	struct gort_chan *started;	/* receives once goid is set */
	struct gort_waitgroup wg;	/* it returned */
};

enum { OP_READ, OP_WRITE, OP_ACCEPT };

static void op_run(void *arg)
{
	static char big[8 << 20];
	struct op *o = arg;

	o->goid = gort_goid();
	gort_chan_send(o->started, NULL);
	switch (o->kind) {
	case OP_READ:
		o->res = gort_read(o->fd, o->buf, sizeof(o->buf));
		break;
	case OP_WRITE:
		o->res = gort_write(o->fd, big, sizeof(big));
		break;
	case OP_ACCEPT:
		o->res = gort_accept(o->fd, NULL, NULL);
		break;
	}
	o->ended = gort_nanotime();
	atomic_store(&o->done, true);
	gort_wg_done(&o->wg);
}

/* Start the operation and return once it is parked in the poller. */
static bool op_start(struct op *o, int fd, int kind)
{
	bool parked;

	memset(o, 0, sizeof(*o));
	o->fd = fd;
	o->kind = kind;
	o->started = gort_chan_make(0, 0);
	gort_wg_add(&o->wg, 1);
	if (gort_go(op_run, o)) {
		GT_CHECK(!"gort_go");
		gort_wg_done(&o->wg);
		return false;
	}
	gort_chan_recv(o->started, NULL);
	parked = gt_wait_io_parked(o->goid, 5000 * MS);
	GT_CHECKF(parked, "goroutine %llu never parked in the poller",
		  (unsigned long long)o->goid);
	return parked;
}

static ssize_t op_wait(struct op *o)
{
	gort_wg_wait(&o->wg);
	return o->res;
}

/* ---- deadlines that fire ---- */

static int fire_main(void *arg)
{
	int64_t dl, now;
	char buf[16];
	int c, s;
	ssize_t n;

	GT_CHECK(gt_tcp_pair_small(&c, &s, SMALLBUF) == 0);

	/* read */
	dl = gort_nanotime() + 50 * MS;
	GT_CHECK(gort_set_deadline(s, dl, 0) == 0);
	n = gort_read(s, buf, sizeof(buf));
	now = gort_nanotime();
	GT_CHECKF(n == -ETIMEDOUT, "read: %zd", n);
	GT_CHECKF(now >= dl, "read timed out %lld ns early",
		  (long long)(dl - now));
	/* the deadline stays: the next read fails at once */
	GT_CHECK(gort_read(s, buf, sizeof(buf)) == -ETIMEDOUT);
	GT_CHECK(gort_recv(s, buf, sizeof(buf), 0) == -ETIMEDOUT);
	/* cleared, the connection works */
	GT_CHECK(gort_set_deadline(s, 0, 0) == 0);
	GT_CHECK(gort_write(c, "ok", 2) == 2);
	GT_CHECK(gt_read_full(s, buf, 2) == 2 && !memcmp(buf, "ok", 2));

	/* write, against a peer that does not read */
	dl = gort_nanotime() + 50 * MS;
	GT_CHECK(gort_set_deadline(c, 0, dl) == 0);
	{
		static char big[8 << 20];

		n = gort_write(c, big, sizeof(big));
	}
	now = gort_nanotime();
	GT_CHECKF(n == -ETIMEDOUT, "write: %zd", n);
	GT_CHECKF(now >= dl, "write timed out %lld ns early",
		  (long long)(dl - now));

	/* a deadline on a listener bounds gort_accept */
	{
		int lfd = gort_listen("tcp4", "127.0.0.1:0", 0);

		GT_CHECK(lfd >= 0);
		dl = gort_nanotime() + 30 * MS;
		GT_CHECK(gort_set_deadline(lfd, dl, 0) == 0);
		n = gort_accept(lfd, NULL, NULL);
		now = gort_nanotime();
		GT_CHECKF(n == -ETIMEDOUT, "accept: %zd", n);
		GT_CHECK(now >= dl);
		GT_CHECK(gort_close(lfd) == 0);
	}
	GT_CHECK(gort_close(c) == 0);
	GT_CHECK(gort_close(s) == 0);
	return 0;
}

TEST_F_TIMEOUT(net, deadlines_fire, 60)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, fire_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- deadlines moved while an operation waits ---- */

static int moved_main(void *arg)
{
	int64_t dl0, dl1, t;
	struct op o;
	int c, s;

	GT_CHECK(gt_tcp_pair_small(&c, &s, SMALLBUF) == 0);

	/* extended: times out at the later deadline */
	dl0 = gort_nanotime() + 300 * MS;
	GT_CHECK(gort_set_deadline(s, dl0, 0) == 0);
	op_start(&o, s, OP_READ);
	t = gort_nanotime();
	dl1 = t + 600 * MS;
	GT_CHECK(gort_set_deadline(s, dl1, 0) == 0);
	GT_CHECKF(t < dl0, "extension came %lld ns after the old deadline",
		  (long long)(t - dl0));
	GT_CHECKF(op_wait(&o) == -ETIMEDOUT, "extended read: %zd", o.res);
	GT_CHECKF(o.ended >= dl1,
		  "read timed out %lld ns before the extended deadline",
		  (long long)(dl1 - o.ended));

	/* extended: data after the old deadline is read */
	dl0 = gort_nanotime() + 300 * MS;
	GT_CHECK(gort_set_deadline(s, dl0, 0) == 0);
	op_start(&o, s, OP_READ);
	t = gort_nanotime();
	GT_CHECK(gort_set_deadline(s, t + 5000 * MS, 0) == 0);
	GT_CHECK(t < dl0);
	gort_sleep(dl0 + 100 * MS - gort_nanotime());
	GT_CHECKF(!atomic_load(&o.done), "read ended (%zd) at the old deadline",
		  o.res);
	GT_CHECK(gort_write(c, "late", 4) == 4);
	GT_CHECKF(op_wait(&o) == 4 && !memcmp(o.buf, "late", 4),
		  "read after the old deadline: %zd", o.res);

	/* set on a read waiting without one */
	GT_CHECK(gort_set_deadline(s, 0, 0) == 0);
	op_start(&o, s, OP_READ);
	dl1 = gort_nanotime() + 50 * MS;
	GT_CHECK(gort_set_deadline(s, dl1, 0) == 0);
	GT_CHECKF(op_wait(&o) == -ETIMEDOUT, "newly bounded read: %zd", o.res);
	GT_CHECK(o.ended >= dl1);

	/* cleared: the read waits on and gets later data */
	dl0 = gort_nanotime() + 300 * MS;
	GT_CHECK(gort_set_deadline(s, dl0, 0) == 0);
	op_start(&o, s, OP_READ);
	t = gort_nanotime();
	GT_CHECK(gort_set_deadline(s, 0, 0) == 0);
	GT_CHECK(t < dl0);
	gort_sleep(dl0 + 100 * MS - gort_nanotime());
	GT_CHECKF(!atomic_load(&o.done), "read ended (%zd) after its deadline was cleared",
		  o.res);
	GT_CHECK(gort_write(c, "more", 4) == 4);
	GT_CHECKF(op_wait(&o) == 4 && !memcmp(o.buf, "more", 4),
		  "read after clearing: %zd", o.res);

	/* a write blocked on full buffers: extended, it times out later */
	dl0 = gort_nanotime() + 300 * MS;
	GT_CHECK(gort_set_deadline(c, 0, dl0) == 0);
	op_start(&o, c, OP_WRITE);
	t = gort_nanotime();
	dl1 = t + 600 * MS;
	GT_CHECK(gort_set_deadline(c, 0, dl1) == 0);
	GT_CHECK(t < dl0);
	GT_CHECKF(op_wait(&o) == -ETIMEDOUT, "extended write: %zd", o.res);
	GT_CHECKF(o.ended >= dl1,
		  "write timed out %lld ns before the extended deadline",
		  (long long)(dl1 - o.ended));

	GT_CHECK(gort_close(c) == 0);
	GT_CHECK(gort_close(s) == 0);
	return 0;
}

TEST_F_TIMEOUT(net, deadlines_moved_while_waiting, 60)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, moved_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- deadlines already past ---- */

static int past_main(void *arg)
{
	int64_t t0;
	char buf[16];
	int c, s, lfd, d, port;
	char addr[64];
	ssize_t n;

	GT_CHECK(gt_tcp_pair(&c, &s) == 0);
	GT_CHECK(gort_write(c, "abc", 3) == 3);
	gort_sleep(10 * MS);	/* the data is there */
	GT_CHECK(gort_set_deadline(s, 1, 1) == 0);
	t0 = gort_nanotime();
	n = gort_read(s, buf, sizeof(buf));
	GT_CHECKF(n == -ETIMEDOUT, "read with data ready: %zd", n);
	n = gort_recv(s, buf, sizeof(buf), 0);
	GT_CHECKF(n == -ETIMEDOUT, "recv with data ready: %zd", n);
	n = gort_write(s, "x", 1);
	GT_CHECKF(n == -ETIMEDOUT, "write with room: %zd", n);
	GT_CHECKF(gort_nanotime() - t0 < 1000 * MS, "took %lld ms",
		  (long long)((gort_nanotime() - t0) / MS));
	/* nothing was consumed or sent */
	GT_CHECK(gort_recv(c, buf, sizeof(buf), MSG_DONTWAIT) == -EAGAIN);
	GT_CHECK(gort_set_deadline(s, 0, 0) == 0);
	GT_CHECK(gort_read(s, buf, sizeof(buf)) == 3 &&
		 !memcmp(buf, "abc", 3));

	/* accept, with a connection waiting */
	lfd = gort_listen("tcp4", "127.0.0.1:0", 0);
	port = gt_port_of(lfd);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	d = gort_dial("tcp4", addr, 0);
	GT_CHECK(d >= 0);
	gort_sleep(10 * MS);
	GT_CHECK(gort_set_deadline(lfd, gort_nanotime() - 1, 0) == 0);
	n = gort_accept(lfd, NULL, NULL);
	GT_CHECKF(n == -ETIMEDOUT, "accept with a connection ready: %zd", n);
	GT_CHECK(gort_set_deadline(lfd, 0, 0) == 0);
	n = gort_accept(lfd, NULL, NULL);
	GT_CHECKF(n >= 0, "accept after clearing: %zd", n);
	if (n >= 0)
		GT_CHECK(gort_close((int)n) == 0);

	/* bad arguments */
	GT_CHECK(gort_set_deadline(s, -1, 0) == -EINVAL);
	GT_CHECK(gort_set_deadline(s, 0, -1) == -EINVAL);
	GT_CHECK(gort_close(d) == 0);
	GT_CHECK(gort_close(lfd) == 0);
	GT_CHECK(gort_close(c) == 0);
	GT_CHECK(gort_close(s) == 0);
	GT_CHECK(gort_set_deadline(s, 0, 0) == -EBADF);
	return 0;
}

TEST_F_TIMEOUT(net, deadline_in_the_past, 60)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, past_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- gort_close wakes waiting operations ---- */

static int close_main(void *arg)
{
	struct op r, w;
	char buf[16];
	int c, s, lfd;

	/* a blocked read */
	GT_CHECK(gt_tcp_pair(&c, &s) == 0);
	op_start(&r, s, OP_READ);
	GT_CHECK(gort_close(s) == 0);
	GT_CHECK(fcntl(s, F_GETFD) == -1 && errno == EBADF);
	GT_CHECKF(op_wait(&r) == -ECANCELED, "blocked read: %zd", r.res);
	GT_CHECK(gort_read(c, buf, sizeof(buf)) == 0);
	GT_CHECK(gort_close(c) == 0);

	/* a blocked read and a blocked write on one descriptor */
	GT_CHECK(gt_tcp_pair_small(&c, &s, SMALLBUF) == 0);
	op_start(&r, c, OP_READ);
	op_start(&w, c, OP_WRITE);
	GT_CHECK(gort_close(c) == 0);
	GT_CHECKF(op_wait(&r) == -ECANCELED, "blocked read: %zd", r.res);
	GT_CHECKF(op_wait(&w) == -ECANCELED, "blocked write: %zd", w.res);
	GT_CHECK(gort_close(s) == 0);

	/* a blocked accept */
	lfd = gort_listen("tcp4", "127.0.0.1:0", 0);
	GT_CHECK(lfd >= 0);
	op_start(&r, lfd, OP_ACCEPT);
	GT_CHECK(gort_close(lfd) == 0);
	GT_CHECKF(op_wait(&r) == -ECANCELED, "blocked accept: %zd", r.res);
	GT_CHECK(fcntl(lfd, F_GETFD) == -1 && errno == EBADF);

	/* a descriptor that is closed already */
	GT_CHECK(gort_close(lfd) == -EBADF);
	GT_CHECK(gort_close(-1) == -EBADF);
	return 0;
}

TEST_F_TIMEOUT(net, close_wakes_waiters, 60)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, close_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- a slow client cut off by the server's deadline ---- */

#define REQ_DEADLINE	(300 * MS)

static const char slow_req[] =
	"GET / HTTP/1.1\r\nHost: example\r\nUser-Agent: slow\r\n"
	"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";

struct slow_srv {
	int lfd;
	int nconn;			/* connections to handle */
	atomic_int cut;			/* cut off by the deadline */
	atomic_int served;		/* answered */
	atomic_int cut_bytes;		/* what the cut one had sent */
	atomic_bool early;		/* a deadline fired early */
	struct gort_waitgroup wg;	/* handlers ended */
};

struct slow_conn {
	struct slow_srv *srv;
	int fd;
};

/* An HTTP-ish handler: the whole request within REQ_DEADLINE, or out. */
static void slow_handle(void *arg)
{
	struct slow_conn *sc = arg;
	struct slow_srv *srv = sc->srv;
	char req[512];
	size_t got = 0;
	int64_t dl = gort_nanotime() + REQ_DEADLINE;
	ssize_t n;

	GT_CHECK(gort_set_deadline(sc->fd, dl, 0) == 0);
	for (;;) {
		n = gort_read(sc->fd, req + got, sizeof(req) - 1 - got);
		if (n == -ETIMEDOUT) {
			if (gort_nanotime() < dl)
				atomic_store(&srv->early, true);
			atomic_store(&srv->cut_bytes, (int)got);
			atomic_fetch_add(&srv->cut, 1);
			break;
		}
		if (n <= 0) {
			GT_CHECKF(0, "handler read: %zd", n);
			break;
		}
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n")) {
			static const char resp[] =
				"HTTP/1.0 200 OK\r\n\r\nhello";

			GT_CHECK(gort_write(sc->fd, resp, sizeof(resp) - 1) ==
				 sizeof(resp) - 1);
			atomic_fetch_add(&srv->served, 1);
			break;
		}
	}
	GT_CHECK(gort_close(sc->fd) == 0);
	free(sc);
	gort_wg_done(&srv->wg);
}

static void slow_accept(void *arg)
{
	struct slow_srv *srv = arg;
	int i;

	for (i = 0; i < srv->nconn; i++) {
		struct slow_conn *sc = malloc(sizeof(*sc));
		int fd = gort_accept(srv->lfd, NULL, NULL);

		if (fd < 0 || !sc) {
			GT_CHECKF(0, "accept: %d", fd);
			free(sc);
			gort_wg_done(&srv->wg);
			continue;
		}
		sc->srv = srv;
		sc->fd = fd;
		if (gort_go(slow_handle, sc)) {
			GT_CHECK(!"gort_go");
			gort_close(fd);
			free(sc);
			gort_wg_done(&srv->wg);
		}
	}
}

struct trickle {
	int fd;
	int sent;			/* bytes sent before the error */
	ssize_t err;			/* the write error that stopped it */
	struct gort_waitgroup wg;	/* it ended */
};

/* One byte every 20 ms, never the blank line that ends the request. */
static void trickle_run(void *arg)
{
	struct trickle *t = arg;
	int i;

	for (i = 0;; i = (i + 1) % (int)(sizeof(slow_req) - 1)) {
		ssize_t n = gort_write(t->fd, slow_req + i, 1);

		if (n != 1) {
			t->err = n;
			break;
		}
		t->sent++;
		gort_sleep(20 * MS);
		if (t->sent > 1000)	/* 20 s: never cut off */
			break;
	}
	gort_wg_done(&t->wg);
}

static int slow_main(void *arg)
{
	static const char good_req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct slow_srv srv;
	struct trickle t;
	char addr[64], buf[256];
	int good, port;
	ssize_t n;

	memset(&srv, 0, sizeof(srv));
	srv.lfd = gort_listen("tcp4", "127.0.0.1:0", 0);
	GT_CHECK(srv.lfd >= 0);
	if (srv.lfd < 0)
		return 1;
	srv.nconn = 2;
	gort_wg_add(&srv.wg, srv.nconn);
	GT_CHECK(gort_go(slow_accept, &srv) == 0);
	port = gt_port_of(srv.lfd);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);

	memset(&t, 0, sizeof(t));
	t.fd = gort_dial("tcp4", addr, 0);
	GT_CHECK(t.fd >= 0);
	gort_wg_add(&t.wg, 1);
	GT_CHECK(gort_go(trickle_run, &t) == 0);

	/* a normal client meanwhile */
	good = gort_dial("tcp4", addr, 0);
	GT_CHECK(good >= 0);
	GT_CHECK(gort_write(good, good_req, sizeof(good_req) - 1) ==
		 sizeof(good_req) - 1);
	n = gt_read_full(good, buf, sizeof(buf));
	GT_CHECKF(n == 24 && !memcmp(buf, "HTTP/1.0 200 OK\r\n\r\nhello", 24),
		  "normal client got %zd bytes", n);
	GT_CHECK(gort_close(good) == 0);

	/*
	 * The slow one is cut off: EOF, or ECONNRESET when a byte it had
	 * sent was still unread when the server closed (Linux then resets).
	 */
	n = gort_read(t.fd, buf, sizeof(buf));
	GT_CHECKF(n == 0 || n == -ECONNRESET, "slow client read: %zd", n);
	gort_wg_wait(&t.wg);
	GT_CHECKF(t.err == -EPIPE || t.err == -ECONNRESET,
		  "slow client's write ended with %zd after %d bytes", t.err,
		  t.sent);
	gort_wg_wait(&srv.wg);
	GT_CHECK(atomic_load(&srv.cut) == 1);
	GT_CHECK(atomic_load(&srv.served) == 1);
	GT_CHECK(!atomic_load(&srv.early));
	/* it was making progress all along: 300 ms at a byte per 20 ms */
	GT_CHECKF(atomic_load(&srv.cut_bytes) >= 3,
		  "the slow client had sent %d bytes",
		  atomic_load(&srv.cut_bytes));
	GT_CHECK(gort_close(t.fd) == 0);
	GT_CHECK(gort_close(srv.lfd) == 0);
	return 0;
}

TEST_F_TIMEOUT(net, slow_client_cut_off, 60)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, slow_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

TEST_HARNESS_MAIN
