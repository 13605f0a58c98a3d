// SPDX-License-Identifier: GPL-2.0
/*
 * echo.c - 10,000 concurrent loopback TCP connections each echo 1 MiB,
 * with each poller and 1 and 2 Ps.
 *
 * This is the load a goroutine-per-connection server is written for, so
 * what it asserts is what such a server relies on:
 *
 *  - 10,000 connections are open at the same time: the server accepts
 *    every one before it echoes anything, clients dial every one before
 *    any sends, and both ends keep their descriptors until all are done;
 *  - every byte comes back, in order, on its own connection: connection i
 *    sends a window of a random table that starts at a different offset for
 *    each i, and its reader compares every byte it gets with that window,
 *    so a lost, repeated, reordered or crossed chunk is found;
 *  - each gort_write of the whole 1 MiB returns the full length (it loops
 *    over short writes), and each side sees EOF exactly after 1 MiB.
 *
 * Server and clients run in two processes, each in its own gort_main with
 * the same poller and Ps, so a process needs one descriptor per connection
 * (not two) and the test fits RLIMIT_NOFILE hard limits of 16k and up; the
 * soft limit is raised to the hard one first, and the test SKIPs with the
 * reason when even the hard limit is too low.
 *
 * Kernel memory is what bounds this test, not the poller.  500 of the
 * connections echo at a time while the other 9,500 sit parked in the
 * poller (server goroutines blocked in gort_read), and every socket's
 * buffers are 128 KiB: with all 10,000 streaming through autotuned buffers
 * the data in flight passes tcp_mem, and Linux then drops segments and
 * resets orphaned connections ("TCP: out of memory -- consider tuning
 * tcp_mem"), which is the kernel shedding load, not a poller bug.
 *
 * GORT_TEST_SCALE scales the number of connections down (make check sets
 * 0.1 under TSan and qemu-user, which make every goroutine switch far
 * slower), and the output says so; under ASan all 10,000 run (most of the
 * cost is the kernel's, which ASan does not slow).
 *
 * Dials are limited to 256 at a time so that the listener's backlog never
 * overflows: a dropped SYN costs a one-second retransmit and would make
 * the run time a lottery.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gort_net.h"

#define NCONN_FULL	10000
#define PER_CONN	(1u << 20)
#define TABLE_LEN	(2u << 20)
#define DIAL_PARALLEL	256
#define CHUNK		16384
#define FD_SPARE	256	/* descriptors besides the connections */
#define SOCKBUF		131072
#define ACTIVE		500	/* connections echoing at one time */

GT_NET_FIXTURE(net)

static int nconn;
static uint8_t *table;		/* TABLE_LEN random bytes */

/* The window of the table that connection i sends. */
static const uint8_t *window_of(int i)
{
	/* 4099 is odd, so i -> i * 4099 mod 2^20 is one-to-one */
	return table + ((size_t)i * 4099) % PER_CONN;
}

/* Bound what one connection keeps in kernel buffers. */
static void small_buffers(int fd)
{
	int v = SOCKBUF;

	GT_CHECK(!setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)));
	GT_CHECK(!setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)));
}

static void make_table(void)
{
	uint64_t x = 88172645463325252ull;
	size_t i;

	for (i = 0; i < TABLE_LEN; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		table[i] = (uint8_t)(x >> 24);
	}
}

/* ---- server (a child process) ---- */

struct server {
	int port_pipe;			/* where the port is written */
	int *fds;			/* the accepted connections */
	atomic_int served;		/* connections that echoed it all */
	struct gort_waitgroup wg;
};

struct sconn {
	struct server *s;		/* shared state */
	int fd;				/* the connection */
};

/* Echo until EOF, then end our direction; the descriptor stays open. */
static void serve_conn(void *arg)
{
	struct sconn *c = arg;
	struct server *s = c->s;
	uint64_t total = 0;
	char buf[CHUNK];
	ssize_t n, w;

	for (;;) {
		n = gort_read(c->fd, buf, sizeof(buf));
		if (n <= 0) {
			GT_CHECKF(n == 0, "server read: %zd", n);
			break;
		}
		w = gort_write(c->fd, buf, (size_t)n);
		if (w != n) {
			GT_CHECKF(0, "server write of %zd: %zd", n, w);
			break;
		}
		total += (uint64_t)n;
	}
	if (total == PER_CONN)
		atomic_fetch_add(&s->served, 1);
	else
		GT_CHECKF(0, "server echoed %llu bytes before EOF, want %u",
			  (unsigned long long)total, PER_CONN);
	GT_CHECK(shutdown(c->fd, SHUT_WR) == 0);
	free(c);
	gort_wg_done(&s->wg);
}

static int server_main(void *arg)
{
	struct server *s = arg;
	int lfd, port, i, n = 0;

	lfd = gort_listen("tcp4", "127.0.0.1:0", 0);
	GT_CHECKF(lfd >= 0, "listen: %d", lfd);
	if (lfd < 0)
		return 1;
	/* accepted sockets inherit the listener's buffer sizes */
	small_buffers(lfd);
	port = gt_port_of(lfd);
	if (write(s->port_pipe, &port, sizeof(port)) != sizeof(port))
		return 1;
	close(s->port_pipe);
	/* every connection is accepted, and stays open, before any echo */
	for (n = 0; n < nconn; n++) {
		s->fds[n] = gort_accept(lfd, NULL, NULL);
		if (s->fds[n] < 0) {
			GT_CHECKF(0, "accept %d: %d", n, s->fds[n]);
			break;
		}
	}
	gort_close(lfd);
	for (i = 0; i < n; i++) {
		struct sconn *c = malloc(sizeof(*c));

		if (!c) {
			GT_CHECK(!"out of memory");
			continue;
		}
		c->s = s;
		c->fd = s->fds[i];
		gort_wg_add(&s->wg, 1);
		if (gort_go(serve_conn, c)) {
			GT_CHECK(!"gort_go");
			free(c);
			gort_wg_done(&s->wg);
		}
	}
	gort_wg_wait(&s->wg);
	for (i = 0; i < n; i++)
		GT_CHECK(gort_close(s->fds[i]) == 0);
	return 0;
}

static int server_proc(const struct gt_net_variant *v, int port_pipe)
{
	static struct server s;
	int r;

	s.port_pipe = port_pipe;
	s.fds = calloc((size_t)nconn, sizeof(int));
	if (!s.fds)
		return 1;
	r = gt_net_run(v, server_main, &s);
	if (r == 0 && atomic_load(&s.served) != nconn) {
		fprintf(stderr, "# server: served %d connections, want %d\n",
			atomic_load(&s.served), nconn);
		r = 1;
	}
	return r || gt_failures() ? 1 : 0;
}

/* ---- clients (the test's process) ---- */

struct clients {
	char addr[64];
	struct gort_chan *dial_slots;	/* at most DIAL_PARALLEL dialing */
	struct gort_chan *echo_slots;	/* at most ACTIVE echoing */
	struct gort_chan *start;	/* closed once all are connected */
	struct gort_chan *finish;	/* closed once all are echoed */
	struct gort_waitgroup connected;	/* dials ended */
	struct gort_waitgroup echoed;	/* echoes that ended */
	struct gort_waitgroup done;	/* client goroutines that ended */
	atomic_int ok;			/* connections that got all back */
	atomic_int bad;			/* mismatches (5 are reported) */
};

struct cconn {
	struct clients *cl;		/* shared state */
	int i;				/* connection number */
	int fd;				/* its descriptor */
	ssize_t wrote;			/* the writer's gort_write result */
	struct gort_waitgroup writer;	/* the writer ended */
};

static void client_writer(void *arg)
{
	struct cconn *c = arg;

	c->wrote = gort_write(c->fd, window_of(c->i), PER_CONN);
	/* EOF for the server once everything was sent */
	shutdown(c->fd, SHUT_WR);
	gort_wg_done(&c->writer);
}

/* Send the window and check what comes back: true if all of it did. */
static bool echo_once(struct cconn *c)
{
	struct clients *cl = c->cl;
	const uint8_t *want = window_of(c->i);
	uint64_t got = 0;
	char buf[CHUNK];
	bool good = true;
	ssize_t n;

	gort_wg_add(&c->writer, 1);
	if (gort_go(client_writer, c)) {
		GT_CHECK(!"gort_go");
		gort_wg_done(&c->writer);
		return false;
	}
	for (;;) {
		n = gort_read(c->fd, buf, sizeof(buf));
		if (n <= 0) {
			GT_CHECKF(n == 0, "client %d read: %zd", c->i, n);
			good = n == 0;
			break;
		}
		if (got + (uint64_t)n > PER_CONN) {
			GT_CHECKF(0, "client %d: %llu bytes back, sent %u",
				  c->i, (unsigned long long)(got + n),
				  PER_CONN);
			good = false;
			break;
		}
		if (memcmp(buf, want + got, (size_t)n)) {
			ssize_t j = 0;

			while (j < n && buf[j] == (char)want[got + j])
				j++;
			if (atomic_fetch_add(&cl->bad, 1) < 5)
				GT_CHECKF(0, "client %d: byte %llu differs",
					  c->i, (unsigned long long)(got + j));
			good = false;
			break;
		}
		got += (uint64_t)n;
	}
	/* (on a failure the writer ends when the connection is reset) */
	gort_wg_wait(&c->writer);
	if (good && c->wrote != PER_CONN) {
		GT_CHECKF(0, "client %d: gort_write gave %zd", c->i, c->wrote);
		good = false;
	}
	if (good && got != PER_CONN) {
		GT_CHECKF(0, "client %d: EOF after %llu bytes", c->i,
			  (unsigned long long)got);
		good = false;
	}
	return good;
}

static void client_conn(void *arg)
{
	struct cconn *c = arg;
	struct clients *cl = c->cl;

	gort_chan_send(cl->dial_slots, NULL);
	c->fd = gort_dial("tcp4", cl->addr, 30 * 1000000000LL);
	gort_chan_recv(cl->dial_slots, NULL);
	gort_wg_done(&cl->connected);
	if (c->fd < 0) {
		GT_CHECKF(0, "dial %d: %d", c->i, c->fd);
		gort_wg_done(&cl->echoed);
		goto out;
	}
	small_buffers(c->fd);
	/* start together: a closed channel releases every receiver */
	gort_chan_recv(cl->start, NULL);
	gort_chan_send(cl->echo_slots, NULL);
	if (echo_once(c))
		atomic_fetch_add(&cl->ok, 1);
	gort_chan_recv(cl->echo_slots, NULL);
	gort_wg_done(&cl->echoed);
	/* every connection stays open until all have echoed */
	gort_chan_recv(cl->finish, NULL);
	GT_CHECK(gort_close(c->fd) == 0);
out:
	gort_wg_done(&cl->done);
}

static int clients_main(void *arg)
{
	struct clients *cl = arg;
	struct cconn *conns = calloc((size_t)nconn, sizeof(*conns));
	int i;

	cl->dial_slots = gort_chan_make(0, DIAL_PARALLEL);
	cl->echo_slots = gort_chan_make(0, ACTIVE);
	cl->start = gort_chan_make(0, 0);
	cl->finish = gort_chan_make(0, 0);
	if (!conns || !cl->dial_slots || !cl->echo_slots || !cl->start ||
	    !cl->finish) {
		GT_CHECK(!"out of memory");
		free(conns);
		return 1;
	}
	gort_wg_add(&cl->connected, nconn);
	gort_wg_add(&cl->echoed, nconn);
	gort_wg_add(&cl->done, nconn);
	for (i = 0; i < nconn; i++) {
		conns[i].cl = cl;
		conns[i].i = i;
		if (gort_go(client_conn, &conns[i])) {
			GT_CHECK(!"gort_go");
			gort_wg_done(&cl->connected);
			gort_wg_done(&cl->echoed);
			gort_wg_done(&cl->done);
		}
	}
	gort_wg_wait(&cl->connected);
	gort_chan_close(cl->start);
	gort_wg_wait(&cl->echoed);
	gort_chan_close(cl->finish);
	gort_wg_wait(&cl->done);
	free(conns);
	return 0;
}

/* Read the server's port from the pipe, within 60 s. */
static int read_port(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int port = -1;

	if (poll(&p, 1, 60000) != 1 || read(fd, &port, sizeof(port)) !=
	    sizeof(port))
		return -1;
	return port;
}

TEST_F_TIMEOUT(net, echo_10k_conns_1mib, 600)
{
	static struct clients cl;
	struct rlimit rl;
	int pp[2], port, status = 0;
	int64_t t0;
	pid_t pid;

	GT_NET_BEGIN();
	nconn = (int)gt_scaled(NCONN_FULL);
	if (nconn != NCONN_FULL)
		printf("# GORT_TEST_SCALE: %d connections instead of %d\n",
		       nconn, NCONN_FULL);
	fflush(stdout);
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
	if (rl.rlim_max != RLIM_INFINITY &&
	    rl.rlim_max < (rlim_t)nconn + FD_SPARE)
		SKIP(return,
		     "RLIMIT_NOFILE hard limit %llu < %d: cannot hold %d connections",
		     (unsigned long long)rl.rlim_max, nconn + FD_SPARE, nconn);
	rl.rlim_cur = rl.rlim_max;
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));

	table = malloc(TABLE_LEN);
	ASSERT_NE(NULL, table);
	make_table();
	ASSERT_EQ(0, pipe(pp));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(pp[0]);
		_exit(server_proc(&variant->v, pp[1]));
	}
	close(pp[1]);
	port = read_port(pp[0]);
	close(pp[0]);
	if (port <= 0)
		kill(pid, SIGKILL);
	ASSERT_LT(0, port);
	snprintf(cl.addr, sizeof(cl.addr), "127.0.0.1:%d", port);

	t0 = gt_now_ns();
	EXPECT_EQ(0, gt_net_run(&variant->v, clients_main, &cl));
	if (gt_failures())
		kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	printf("# %d connections x %u bytes echoed in %.1f s\n", nconn,
	       PER_CONN, (double)(gt_now_ns() - t0) / 1e9);
	fflush(stdout);
	EXPECT_EQ(0, gt_failures());
	EXPECT_EQ(nconn, atomic_load(&cl.ok));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("server process: wait status 0x%x", status);
	free(table);
}

TEST_HARNESS_MAIN
