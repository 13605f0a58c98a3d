// SPDX-License-Identifier: MIT
/*
 * net.c - the network workloads: httpd-raw and echo-server (servers that
 * compare.sh loads with wrk and the Go echo client), and echo-client.
 *
 * The servers are the example programs themselves, included here with
 * their main() left out, so that what is measured is exactly what
 * examples/ shows a newcomer.  As in the Go peer, the servers have no idle
 * timeout and print one "listening" line on stderr; they run until killed.
 *
 * echo-client follows the Go peer's echoClient: it opens all connections
 * first, releases the goroutines together, stops them after -d seconds and
 * reports round trips per second; every reply is checked byte for byte.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gort.h>

#include "bench.h"

#define HTTPD_NO_MAIN
#include "../examples/httpd.c"
#define ECHO_NO_MAIN
#include "../examples/echo.c"

static int listen_or_fail(const char *w, const char *addr)
{
	int lfd = gort_listen("tcp", addr, 4096);

	if (lfd < 0)
		bench_fail(w, "listen %s: %s", addr, strerror(-lfd));
	return lfd;
}

int bench_httpd_raw(const struct bench_args *a)
{
	int lfd = listen_or_fail("httpd-raw", a->addr), err;

	if (lfd < 0)
		return 1;
	httpd_idle_ns = 0;
	fprintf(stderr, "raw http listening on %s procs=%d poller=%s\n",
		a->addr, bench_procs(), gort_netpoll_name());
	err = httpd_serve(lfd);
	return bench_fail("httpd-raw", "accept: %s", strerror(-err));
}

int bench_echo_server(const struct bench_args *a)
{
	int lfd = listen_or_fail("echo-server", a->addr), err;

	if (lfd < 0)
		return 1;
	fprintf(stderr, "echo listening on %s procs=%d poller=%s\n", a->addr,
		bench_procs(), gort_netpoll_name());
	err = echo_serve(lfd);
	return bench_fail("echo-server", "accept: %s", strerror(-err));
}

struct echo_client {
	int fd;
	size_t size;
	_Atomic bool *stop;
	struct gort_waitgroup *start, *done;
	int64_t roundtrips;
	int err;		/* -errno, or 1 for a wrong reply */
};

static void echo_client_conn(void *arg)
{
	struct echo_client *c = arg;
	char *msg = malloc(c->size), *in = malloc(c->size);

	if (!msg || !in) {
		c->err = -ENOMEM;
		goto out;
	}
	memset(msg, 'x', c->size);
	gort_wg_wait(c->start);
	while (!atomic_load_explicit(c->stop, memory_order_relaxed)) {
		size_t got = 0;
		ssize_t n = gort_write(c->fd, msg, c->size);

		if (n < 0) {
			c->err = (int)n;
			break;
		}
		while (got < c->size) {
			n = gort_read(c->fd, in + got, c->size - got);
			if (n <= 0) {
				c->err = n < 0 ? (int)n : -ECONNRESET;
				goto out;
			}
			got += (size_t)n;
		}
		if (memcmp(msg, in, c->size)) {
			c->err = 1;
			break;
		}
		c->roundtrips++;
	}
out:
	free(msg);
	free(in);
	gort_wg_done(c->done);
}

int bench_echo_client(const struct bench_args *a)
{
	struct gort_waitgroup start = { 0 }, done = { 0 };
	_Atomic bool stop = false;
	struct echo_client *cs;
	int64_t t0, total = 0, elapsed;
	long i, n = a->conns > 0 ? a->conns : 50;
	int rc = 0;

	if (a->size <= 0)
		return bench_fail("echo", "-size must be positive");
	cs = calloc((size_t)n, sizeof(*cs));
	if (!cs)
		return bench_fail("echo", "out of memory");
	for (i = 0; i < n; i++) {
		cs[i].fd = gort_dial("tcp", a->addr, 5 * (int64_t)1000000000);
		if (cs[i].fd < 0) {
			rc = bench_fail("echo", "dial %s: %s", a->addr,
					strerror(-cs[i].fd));
			n = i;
			goto close;
		}
		cs[i].size = (size_t)a->size;
		cs[i].stop = &stop;
		cs[i].start = &start;
		cs[i].done = &done;
	}
	gort_wg_add(&start, 1);
	gort_wg_add(&done, n);
	for (i = 0; i < n; i++) {
		if (gort_go(echo_client_conn, &cs[i])) {
			rc = bench_fail("echo", "cannot start goroutines");
			exit(1);
		}
	}
	t0 = bench_now();
	gort_wg_done(&start);
	gort_sleep((int64_t)(a->secs * 1e9));
	atomic_store(&stop, true);
	gort_wg_wait(&done);
	elapsed = bench_now() - t0;
	for (i = 0; i < n; i++) {
		if (cs[i].err) {
			rc = bench_fail("echo", "connection %ld: %s", i,
					cs[i].err == 1 ? "wrong reply" :
							 strerror(-cs[i].err));
			goto close;
		}
		total += cs[i].roundtrips;
	}
	printf("echo roundtrips_per_s=%.0f conns=%ld msg_bytes=%ld seconds=%.2f client_procs=%d\n",
	       (double)total / ((double)elapsed / 1e9), n, a->size,
	       (double)elapsed / 1e9, bench_procs());
close:
	for (i = 0; i < n; i++)
		gort_close(cs[i].fd);
	free(cs);
	return rc;
}
