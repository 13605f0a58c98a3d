// SPDX-License-Identifier: GPL-2.0
/*
 * tcp.c - TCP streams through gort's I/O calls, with each poller and 1
 * and 2 Ps: what a server or client written against gort_read/gort_write
 * relies on, beyond "bytes arrive".
 *
 *  - Round trips on tcp4 (127.0.0.1), tcp6 ([::1], skipped with the reason
 *    where the host has no IPv6 loopback) and a "tcp" listener on ":0",
 *    which must take both families on one IPv6 socket (V6ONLY off): the
 *    addresses gort_accept reports, O_CLOEXEC and TCP_NODELAY on both ends
 *    (the API promises them), messages of many sizes echoed intact, and
 *    EOF after the peer's gort_close.
 *  - Short reads and writes: gort_read returns what is there instead of
 *    waiting to fill the buffer, 1-byte reads return 1 byte, zero-length
 *    calls return 0 at once, and a gort_write of 4 MiB through 16 KiB
 *    socket buffers blocks (the reader checks it has not returned yet) and
 *    then returns all 4 MiB against a slow reader, every byte in order.
 *  - Peer reset (SO_LINGER 0 close sends RST), exactly as Linux reports it:
 *    the first call after the RST gets ECONNRESET, whichever it is (the
 *    error is consumed); after that reads see EOF (0) and writes EPIPE.
 *    A read or a write already blocked when the RST arrives gets
 *    ECONNRESET.  Go returns these errors as they are, and a write after
 *    the reset must not kill the process with SIGPIPE.
 *  - Half-close (shutdown(SHUT_WR)): the peer reads the data, then 0, and
 *    0 again without blocking; it can still write back, and the half that
 *    shut down can still read; its own writes fail with EPIPE.
 *  - gort_readv/gort_writev: many vectors (some empty), a 3 MiB writev
 *    that completes against a slow reader, partial readv filling in order,
 *    and -EINVAL for a vector count of 0 or above IOV_MAX.
 *  - gort_recv/gort_send flags: MSG_PEEK leaves the data for the next read
 *    (also when the peek had to wait for it), MSG_DONTWAIT gives -EAGAIN
 *    instead of blocking, MSG_WAITALL waits for the whole length.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gort_net.h"

#define MS		1000000LL
#define SMALLBUF	16384	/* SO_SNDBUF/SO_RCVBUF for short I/O */

GT_NET_FIXTURE(net)

static bool has_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl >= 0 && (fl & FD_CLOEXEC);
}

static int nodelay_of(int fd)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len))
		return -errno;
	return v;
}

/* The address of a sockaddr as text ("127.0.0.1", "::ffff:127.0.0.1"). */
static const char *addr_text(const struct sockaddr_storage *ss, char *buf,
			     size_t len)
{
	const void *a = ss->ss_family == AF_INET ?
		(const void *)&((const struct sockaddr_in *)ss)->sin_addr :
		(const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

	if (!inet_ntop(ss->ss_family, a, buf, (socklen_t)len))
		snprintf(buf, len, "(family %d)", ss->ss_family);
	return buf;
}

static int port_of_sa(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET ?
		     ((const struct sockaddr_in *)ss)->sin_port :
		     ((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* Is there an IPv6 loopback to bind to? */
static bool have_ipv6_loopback(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6,
				  .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* ---- round trips ---- */

#define NMSG	64

struct rt_server {
	int lfd;
	int naccept;			/* connections to serve */
	char peer[NMSG][64];		/* address of each accepted peer */
	int peer_port[NMSG];		/* and its port */
	socklen_t peer_len[NMSG];	/* length gort_accept reported */
	int family[NMSG];		/* its family */
	struct gort_waitgroup wg;	/* the server ended */
};

/* Accept naccept connections one after the other and echo each to EOF. */
static void rt_serve(void *arg)
{
	struct rt_server *s = arg;
	static char buf[65536];
	int i;

	for (i = 0; i < s->naccept; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd;
		ssize_t n;

		memset(&ss, 0, sizeof(ss));
		fd = gort_accept(s->lfd, (struct sockaddr *)&ss, &len);
		GT_CHECKF(fd >= 0, "accept: %d", fd);
		if (fd < 0)
			break;
		GT_CHECK(has_cloexec(fd));
		GT_CHECKF(nodelay_of(fd) == 1, "accepted TCP_NODELAY %d",
			  nodelay_of(fd));
		s->peer_len[i] = len;
		s->family[i] = ss.ss_family;
		s->peer_port[i] = port_of_sa(&ss);
		addr_text(&ss, s->peer[i], sizeof(s->peer[i]));
		while ((n = gort_read(fd, buf, sizeof(buf))) > 0)
			GT_CHECK(gort_write(fd, buf, (size_t)n) == n);
		GT_CHECKF(n == 0, "server read: %zd", n);
		GT_CHECK(gort_close(fd) == 0);
	}
	gort_wg_done(&s->wg);
}

/* Dial network/address, echo NMSG messages of growing sizes, close. */
static int rt_client(const char *network, const char *address,
		     int *local_port)
{
	static uint8_t out[40000], in[40000];
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	size_t size = 1;
	int fd, i;

	fd = gort_dial(network, address, 5000 * MS);
	GT_CHECKF(fd >= 0, "dial %s %s: %d", network, address, fd);
	if (fd < 0)
		return fd;
	GT_CHECK(has_cloexec(fd));
	GT_CHECKF(nodelay_of(fd) == 1, "dialed TCP_NODELAY %d",
		  nodelay_of(fd));
	GT_CHECK(getsockname(fd, (struct sockaddr *)&ss, &len) == 0);
	*local_port = port_of_sa(&ss);
	for (i = 0; i < NMSG; i++) {
		gt_pattern_fill(out, size, (uint32_t)i, 0);
		GT_CHECK(gort_write(fd, out, size) == (ssize_t)size);
		memset(in, 0, size);
		GT_CHECKF(gt_read_full(fd, in, size) == (ssize_t)size,
			  "message %d of %zu bytes", i, size);
		GT_CHECKF(!memcmp(in, out, size), "message %d differs", i);
		size = size * 7 / 5 + 1;
		if (size > sizeof(out))
			size = sizeof(out);
	}
	return gort_close(fd);
}

struct rt_case {
	const char *listen_net, *listen_addr;
	struct {
		const char *net;	/* dial network */
		const char *host;	/* "host" or "[v6]" before ":port" */
		const char *want_peer;	/* address accept must report */
		int want_family;	/* and its family */
	} dial[4];
	int ndial;
	int want_lfamily;		/* listener's family */
};

static int rt_main(void *arg)
{
	struct rt_case *c = arg;
	struct rt_server s;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[128];
	int i, port, local_port[4];

	memset(&s, 0, sizeof(s));
	s.lfd = gort_listen(c->listen_net, c->listen_addr, 0);
	GT_CHECKF(s.lfd >= 0, "listen %s %s: %d", c->listen_net,
		  c->listen_addr, s.lfd);
	if (s.lfd < 0)
		return 1;
	GT_CHECK(has_cloexec(s.lfd));
	GT_CHECK(getsockname(s.lfd, (struct sockaddr *)&ss, &len) == 0);
	GT_CHECKF(ss.ss_family == c->want_lfamily, "listener family %d",
		  ss.ss_family);
	if (ss.ss_family == AF_INET6 && !strcmp(c->listen_net, "tcp")) {
		int v6only = -1;
		socklen_t vl = sizeof(v6only);

		GT_CHECK(!getsockopt(s.lfd, IPPROTO_IPV6, IPV6_V6ONLY,
				     &v6only, &vl));
		GT_CHECKF(v6only == 0, "\"tcp\" listener has V6ONLY %d",
			  v6only);
	}
	port = gt_port_of(s.lfd);
	s.naccept = c->ndial;
	gort_wg_add(&s.wg, 1);
	GT_CHECK(gort_go(rt_serve, &s) == 0);
	for (i = 0; i < c->ndial; i++) {
		snprintf(addr, sizeof(addr), "%s:%d", c->dial[i].host, port);
		if (rt_client(c->dial[i].net, addr, &local_port[i]) < 0)
			break;
	}
	if (i < c->ndial) {
		gort_close(s.lfd);	/* wakes the server's accept */
		gort_wg_wait(&s.wg);
		return 1;
	}
	gort_wg_wait(&s.wg);
	for (i = 0; i < c->ndial; i++) {
		GT_CHECKF(!strcmp(s.peer[i], c->dial[i].want_peer),
			  "dial %d: accept reported %s, want %s", i, s.peer[i],
			  c->dial[i].want_peer);
		GT_CHECKF(s.family[i] == c->dial[i].want_family,
			  "dial %d: family %d", i, s.family[i]);
		GT_CHECKF(s.peer_len[i] == (s.family[i] == AF_INET ?
					    sizeof(struct sockaddr_in) :
					    sizeof(struct sockaddr_in6)),
			  "dial %d: address length %u", i,
			  (unsigned int)s.peer_len[i]);
		GT_CHECKF(s.peer_port[i] == local_port[i],
			  "dial %d: accept saw port %d, the dialer has %d", i,
			  s.peer_port[i], local_port[i]);
	}
	GT_CHECK(gort_close(s.lfd) == 0);
	return 0;
}

TEST_F_TIMEOUT(net, roundtrip_tcp4, 60)
{
	struct rt_case c = {
		.listen_net = "tcp4", .listen_addr = "127.0.0.1:0",
		.dial = { { "tcp4", "127.0.0.1", "127.0.0.1", AF_INET },
			  { "tcp", "127.0.0.1", "127.0.0.1", AF_INET },
			  { "tcp4", "", "127.0.0.1", AF_INET } },
		.ndial = 3, .want_lfamily = AF_INET,
	};

	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, rt_main, &c));
	ASSERT_EQ(0, gt_failures());
}

TEST_F_TIMEOUT(net, roundtrip_tcp6, 60)
{
	struct rt_case c = {
		.listen_net = "tcp6", .listen_addr = "[::1]:0",
		.dial = { { "tcp6", "[::1]", "::1", AF_INET6 },
			  { "tcp", "[::1]", "::1", AF_INET6 },
			  { "tcp6", "", "::1", AF_INET6 } },
		.ndial = 3, .want_lfamily = AF_INET6,
	};

	GT_NET_BEGIN();
	if (!have_ipv6_loopback())
		SKIP(return, "no IPv6 loopback (::1) to bind to");
	ASSERT_EQ(0, gt_net_run(&variant->v, rt_main, &c));
	ASSERT_EQ(0, gt_failures());
}

/* "tcp" on ":0": one socket for both families (a v4 peer is v4-mapped). */
TEST_F_TIMEOUT(net, roundtrip_dual_stack, 60)
{
	struct rt_case c = {
		.listen_net = "tcp", .listen_addr = ":0",
		.dial = { { "tcp4", "127.0.0.1", "::ffff:127.0.0.1", AF_INET6 },
			  { "tcp6", "[::1]", "::1", AF_INET6 },
			  { "tcp", "", "::ffff:127.0.0.1", AF_INET6 } },
		.ndial = 3, .want_lfamily = AF_INET6,
	};

	GT_NET_BEGIN();
	if (!have_ipv6_loopback())
		SKIP(return, "no IPv6 loopback: \"tcp\" listens on IPv4 only");
	ASSERT_EQ(0, gt_net_run(&variant->v, rt_main, &c));
	ASSERT_EQ(0, gt_failures());
}

/* ---- short reads and writes ---- */

#define BIG_WRITE	(4u << 20)

struct slow {
	int fd;
	const uint8_t *data;
	ssize_t wrote;			/* gort_write's result */
	atomic_bool done;		/* gort_write returned */
	struct gort_waitgroup wg;	/* the writer ended */
};

static void big_writer(void *arg)
{
	struct slow *w = arg;

	w->wrote = gort_write(w->fd, w->data, BIG_WRITE);
	atomic_store(&w->done, true);
	gort_wg_done(&w->wg);
}

static int short_main(void *arg)
{
	static uint8_t buf[65536];
	struct slow w;
	uint8_t *data;
	size_t got = 0, want;
	int c, s, i;
	ssize_t n;

	GT_CHECK(gt_tcp_pair_small(&c, &s, SMALLBUF) == 0);

	/* a read returns what is there, it does not wait to fill buf */
	GT_CHECK(gort_write(c, "0123456789", 10) == 10);
	n = gort_read(s, buf, sizeof(buf));
	GT_CHECKF(n == 10, "read of 64 KiB with 10 bytes there: %zd", n);
	GT_CHECK(!memcmp(buf, "0123456789", 10));
	/* reads of 1 byte */
	GT_CHECK(gort_write(c, "abc", 3) == 3);
	for (i = 0; i < 3; i++) {
		n = gort_read(s, buf, 1);
		GT_CHECKF(n == 1 && buf[0] == "abc"[i], "1-byte read %d: %zd",
			  i, n);
	}
	/* zero-length calls return 0 at once, even with nothing to read */
	GT_CHECK(gort_read(s, buf, 0) == 0);
	GT_CHECK(gort_write(c, buf, 0) == 0);

	/* 4 MiB through small buffers against a slow reader */
	data = malloc(BIG_WRITE);
	GT_CHECK(data != NULL);
	if (!data)
		return 1;
	gt_pattern_fill(data, BIG_WRITE, 77, 0);
	memset(&w, 0, sizeof(w));
	w.fd = c;
	w.data = data;
	gort_wg_add(&w.wg, 1);
	GT_CHECK(gort_go(big_writer, &w) == 0);
	gort_sleep(100 * MS);
	GT_CHECKF(!atomic_load(&w.done),
		  "gort_write of 4 MiB returned (%zd) before anything was read",
		  w.wrote);
	for (i = 0; got < BIG_WRITE; i++) {
		/* 1-byte reads first, then sizes that do not divide anything */
		want = i < 2000 ? 1 : (size_t)(i * 613 % 6007) + 1;
		if (want > BIG_WRITE - got)
			want = BIG_WRITE - got;
		n = gort_read(s, buf, want);
		if (n <= 0) {
			GT_CHECKF(0, "read at %zu: %zd", got, n);
			break;
		}
		GT_CHECKF((size_t)n <= want, "read of %zu gave %zd", want, n);
		if (i < 2000)
			GT_CHECKF(n == 1, "1-byte read gave %zd", n);
		if (memcmp(buf, data + got, (size_t)n)) {
			GT_CHECKF(0, "bytes at %zu differ", got);
			break;
		}
		got += (size_t)n;
		if (i % 64 == 0)
			gort_sleep(MS);		/* a slow reader */
	}
	gort_wg_wait(&w.wg);
	GT_CHECKF(w.wrote == BIG_WRITE, "gort_write returned %zd", w.wrote);
	GT_CHECK(got == BIG_WRITE);
	GT_CHECK(gort_close(c) == 0);
	GT_CHECK(gort_read(s, buf, sizeof(buf)) == 0);
	GT_CHECK(gort_close(s) == 0);
	free(data);
	return 0;
}

TEST_F_TIMEOUT(net, short_reads_writes, 60)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, short_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- peer reset and half-close ---- */

/* Close fd so that the kernel sends RST instead of FIN. */
static void close_with_rst(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	GT_CHECK(!setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)));
	GT_CHECK(gort_close(fd) == 0);
}

/* Wait (without reading) until fd has seen the peer's RST or FIN. */
static bool wait_hangup(int fd)
{
	int i;

	for (i = 0; i < 5000; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)))
			return true;
		gort_sleep(MS);
	}
	return false;
}

struct blocked_op {
	int fd;
	bool write;			/* gort_write of a lot, or gort_read */
	uint64_t goid;			/* the goroutine doing it */
	ssize_t res;			/* what it returned */
	struct gort_chan *started;	/* receives once goid is set */
	struct gort_waitgroup wg;	/* it returned */
};

static void blocked_op_run(void *arg)
{
	struct blocked_op *b = arg;
	static char big[8 << 20];
	char buf[64];

	b->goid = gort_goid();
	gort_chan_send(b->started, NULL);
	if (b->write)
		b->res = gort_write(b->fd, big, sizeof(big));
	else
		b->res = gort_read(b->fd, buf, sizeof(buf));
	gort_wg_done(&b->wg);
}

/* Start a gort_read (or a write that fills the buffers) and wait until it
 * is parked in the poller. */
static void start_blocked(struct blocked_op *b, int fd, bool write)
{
	memset(b, 0, sizeof(*b));
	b->fd = fd;
	b->write = write;
	b->started = gort_chan_make(0, 0);
	gort_wg_add(&b->wg, 1);
	GT_CHECK(gort_go(blocked_op_run, b) == 0);
	gort_chan_recv(b->started, NULL);
	GT_CHECKF(gt_wait_io_parked(b->goid, 5000 * MS),
		  "goroutine %llu never parked in the poller",
		  (unsigned long long)b->goid);
}

static int reset_main(void *arg)
{
	struct blocked_op b;
	char buf[64];
	int c, s;

	/* read first: ECONNRESET once, then EOF; writes then get EPIPE */
	GT_CHECK(gt_tcp_pair(&c, &s) == 0);
	close_with_rst(s);
	GT_CHECKF(gort_read(c, buf, sizeof(buf)) == -ECONNRESET,
		  "first read after RST");
	GT_CHECK(gort_read(c, buf, sizeof(buf)) == 0);
	GT_CHECK(gort_write(c, "x", 1) == -EPIPE);
	GT_CHECK(gort_send(c, "x", 1, 0) == -EPIPE);
	GT_CHECK(gort_close(c) == 0);

	/* write first: ECONNRESET once, then EPIPE; reads see EOF */
	GT_CHECK(gt_tcp_pair(&c, &s) == 0);
	close_with_rst(s);
	GT_CHECK(wait_hangup(c));
	GT_CHECKF(gort_write(c, "x", 1) == -ECONNRESET,
		  "first write after RST");
	GT_CHECK(gort_write(c, "x", 1) == -EPIPE);
	GT_CHECK(gort_read(c, buf, sizeof(buf)) == 0);
	GT_CHECK(gort_close(c) == 0);

	/* a read blocked when the RST arrives */
	GT_CHECK(gt_tcp_pair(&c, &s) == 0);
	start_blocked(&b, c, false);
	close_with_rst(s);
	gort_wg_wait(&b.wg);
	GT_CHECKF(b.res == -ECONNRESET, "blocked read: %zd", b.res);
	GT_CHECK(gort_close(c) == 0);

	/* a write blocked (buffers full) when the RST arrives */
	GT_CHECK(gt_tcp_pair_small(&c, &s, SMALLBUF) == 0);
	start_blocked(&b, c, true);
	close_with_rst(s);
	gort_wg_wait(&b.wg);
	GT_CHECKF(b.res == -ECONNRESET, "blocked write: %zd", b.res);
	GT_CHECK(gort_close(c) == 0);
	return 0;
}

TEST_F_TIMEOUT(net, peer_reset, 60)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, reset_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

static int half_close_main(void *arg)
{
	static uint8_t reply[200000], got[200000];
	char buf[64];
	int c, s;

	GT_CHECK(gt_tcp_pair(&c, &s) == 0);
	GT_CHECK(gort_write(c, "request", 7) == 7);
	GT_CHECK(shutdown(c, SHUT_WR) == 0);
	GT_CHECK(gt_read_full(s, buf, 7) == 7 && !memcmp(buf, "request", 7));
	/* EOF, and EOF again: a read after EOF does not block */
	GT_CHECK(gort_read(s, buf, sizeof(buf)) == 0);
	GT_CHECK(gort_read(s, buf, sizeof(buf)) == 0);
	/* the other direction still works, for more than a buffer's worth */
	gt_pattern_fill(reply, sizeof(reply), 5, 0);
	GT_CHECK(gort_write(s, reply, sizeof(reply)) == sizeof(reply));
	GT_CHECK(gt_read_full(c, got, sizeof(got)) == sizeof(got));
	GT_CHECK(!memcmp(got, reply, sizeof(got)));
	/* the half that shut down cannot write (and is not killed) */
	GT_CHECK(gort_write(c, "x", 1) == -EPIPE);
	GT_CHECK(gort_close(s) == 0);
	GT_CHECK(gort_read(c, buf, sizeof(buf)) == 0);
	GT_CHECK(gort_close(c) == 0);
	return 0;
}

TEST_F_TIMEOUT(net, half_close, 60)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, half_close_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- readv/writev ---- */

#define NVEC		100
#define BIGV_LEN	(3u << 20)

struct vwriter {
	int fd;
	struct iovec *iov;
	int iovcnt;
	ssize_t res;			/* gort_writev's result */
	struct gort_waitgroup wg;	/* it returned */
};

static void vwriter_run(void *arg)
{
	struct vwriter *w = arg;

	w->res = gort_writev(w->fd, w->iov, w->iovcnt);
	gort_wg_done(&w->wg);
}

/* Read len bytes with readv into three odd-sized pieces; check them. */
static void readv_check(int fd, size_t len, uint32_t seed, bool slow)
{
	static uint8_t a[7], b[1000], d[4099];
	struct iovec v[3] = { { a, sizeof(a) }, { b, sizeof(b) },
			      { d, sizeof(d) } };
	size_t got = 0;
	int i = 0;

	while (got < len) {
		ssize_t n = gort_readv(fd, v, 3), k = 0;
		int j;

		if (n <= 0) {
			GT_CHECKF(0, "readv at %zu: %zd", got, n);
			return;
		}
		/* the vectors fill in order */
		for (j = 0; j < 3 && k < n; j++) {
			size_t m = (size_t)(n - k) < v[j].iov_len ?
				   (size_t)(n - k) : v[j].iov_len;

			if (gt_pattern_find_diff(v[j].iov_base, m, seed,
						 got + (size_t)k) >= 0) {
				GT_CHECKF(0, "readv data at %zu differ",
					  got + (size_t)k);
				return;
			}
			k += (ssize_t)m;
		}
		got += (size_t)n;
		if (slow && ++i % 32 == 0)
			gort_sleep(MS);
	}
	GT_CHECK(got == len);
}

static int vec_main(void *arg)
{
	static struct iovec iov[NVEC], big[8];
	static uint8_t small_data[NVEC * 5000];
	struct iovec r[3];
	struct vwriter w;
	uint8_t *data;
	char x[4], y[4], z[100];
	size_t total = 0;
	int c, s, i;
	ssize_t n;

	GT_CHECK(gt_tcp_pair_small(&c, &s, SMALLBUF) == 0);
	/* many vectors, some empty */
	for (i = 0; i < NVEC; i++) {
		size_t len = i % 7 == 3 ? 0 : (size_t)(i * 37 % 5000) + 1;

		iov[i].iov_base = small_data + total;
		iov[i].iov_len = len;
		total += len;
	}
	gt_pattern_fill(small_data, total, 9, 0);
	memset(&w, 0, sizeof(w));
	w.fd = c;
	w.iov = iov;
	w.iovcnt = NVEC;
	gort_wg_add(&w.wg, 1);
	GT_CHECK(gort_go(vwriter_run, &w) == 0);
	readv_check(s, total, 9, false);
	gort_wg_wait(&w.wg);
	GT_CHECKF(w.res == (ssize_t)total, "writev: %zd of %zu", w.res,
		  total);

	/* 3 MiB in 8 vectors through small buffers, against a slow reader */
	data = malloc(BIGV_LEN);
	GT_CHECK(data != NULL);
	if (!data)
		return 1;
	gt_pattern_fill(data, BIGV_LEN, 10, 0);
	for (i = 0; i < 8; i++) {
		big[i].iov_base = data + (size_t)i * (BIGV_LEN / 8);
		big[i].iov_len = BIGV_LEN / 8;
	}
	w.iov = big;
	w.iovcnt = 8;
	gort_wg_add(&w.wg, 1);
	GT_CHECK(gort_go(vwriter_run, &w) == 0);
	readv_check(s, BIGV_LEN, 10, true);
	gort_wg_wait(&w.wg);
	GT_CHECKF(w.res == BIGV_LEN, "big writev: %zd", w.res);
	free(data);

	/* a partial readv fills the vectors in order */
	GT_CHECK(gort_write(c, "0123456789", 10) == 10);
	r[0] = (struct iovec){ x, 4 };
	r[1] = (struct iovec){ y, 4 };
	r[2] = (struct iovec){ z, sizeof(z) };
	n = gort_readv(s, r, 3);
	GT_CHECKF(n == 10, "partial readv: %zd", n);
	GT_CHECK(!memcmp(x, "0123", 4) && !memcmp(y, "4567", 4) &&
		 !memcmp(z, "89", 2));

	/* bad vector counts */
	GT_CHECK(gort_readv(s, r, 0) == -EINVAL);
	GT_CHECK(gort_writev(c, r, 0) == -EINVAL);
	GT_CHECK(gort_readv(s, r, IOV_MAX + 1) == -EINVAL);
	GT_CHECK(gort_writev(c, r, IOV_MAX + 1) == -EINVAL);
	GT_CHECK(gort_close(c) == 0);
	GT_CHECK(gort_close(s) == 0);
	return 0;
}

TEST_F_TIMEOUT(net, readv_writev, 60)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, vec_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- recv/send flags ---- */

struct peeker {
	int fd;
	char buf[64];
	ssize_t res;			/* gort_recv's result */
	struct gort_waitgroup wg;	/* it returned */
};

static void peek_run(void *arg)
{
	struct peeker *p = arg;

	p->res = gort_recv(p->fd, p->buf, sizeof(p->buf), MSG_PEEK);
	gort_wg_done(&p->wg);
}

static void drip(void *arg)
{
	int fd = (int)(intptr_t)arg, i;

	for (i = 0; i < 10; i++) {
		gort_sleep(2 * MS);
		GT_CHECK(gort_send(fd, "0123456789" + i, 1, 0) == 1);
	}
}

static int flags_main(void *arg)
{
	static char fill[65536];
	struct peeker p;
	char buf[64];
	int c, s, i;
	ssize_t n;

	GT_CHECK(gt_tcp_pair_small(&c, &s, SMALLBUF) == 0);
	GT_CHECK(gort_send(c, "hello world", 11, 0) == 11);
	/* MSG_PEEK leaves the data in place */
	GT_CHECK(gort_recv(s, buf, 5, MSG_PEEK) == 5 &&
		 !memcmp(buf, "hello", 5));
	memset(buf, 0, sizeof(buf));
	GT_CHECK(gort_recv(s, buf, sizeof(buf), MSG_PEEK) == 11 &&
		 !memcmp(buf, "hello world", 11));
	memset(buf, 0, sizeof(buf));
	GT_CHECK(gort_recv(s, buf, sizeof(buf), 0) == 11 &&
		 !memcmp(buf, "hello world", 11));
	/* MSG_DONTWAIT with nothing there: -EAGAIN, no blocking */
	GT_CHECK(gort_recv(s, buf, sizeof(buf), MSG_DONTWAIT) == -EAGAIN);

	/* a peek that has to wait, then the data is still there */
	memset(&p, 0, sizeof(p));
	p.fd = s;
	gort_wg_add(&p.wg, 1);
	GT_CHECK(gort_go(peek_run, &p) == 0);
	gort_sleep(20 * MS);
	GT_CHECK(gort_send(c, "later", 5, 0) == 5);
	gort_wg_wait(&p.wg);
	GT_CHECKF(p.res == 5 && !memcmp(p.buf, "later", 5),
		  "waiting peek: %zd", p.res);
	GT_CHECK(gort_read(s, buf, sizeof(buf)) == 5 &&
		 !memcmp(buf, "later", 5));

	/* MSG_WAITALL waits for all 10 bytes, sent one at a time */
	GT_CHECK(gort_go(drip, (void *)(intptr_t)c) == 0);
	memset(buf, 0, sizeof(buf));
	n = gort_recv(s, buf, 10, MSG_WAITALL);
	GT_CHECKF(n == 10 && !memcmp(buf, "0123456789", 10),
		  "MSG_WAITALL recv: %zd", n);

	/* MSG_DONTWAIT on a full send buffer: -EAGAIN, no blocking */
	for (i = 0; i < 10000; i++) {
		n = gort_send(c, fill, sizeof(fill), MSG_DONTWAIT);
		if (n < 0)
			break;
	}
	GT_CHECKF(n == -EAGAIN, "send MSG_DONTWAIT %d: %zd", i, n);
	GT_CHECK(gort_close(c) == 0);
	GT_CHECK(gort_close(s) == 0);
	return 0;
}

TEST_F_TIMEOUT(net, recv_send_flags, 60)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, flags_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

TEST_HARNESS_MAIN
