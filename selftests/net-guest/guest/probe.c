// SPDX-License-Identifier: GPL-2.0
/*
 * probe.c - the io_uring guest's own checks, run before the network
 * suite: the kernel accepts io_uring, gort picks it by itself, and a
 * goroutine round trip over the guest's loopback works on it.
 *
 *  - io_uring_setup(2) succeeds and reports the features gort's rings ask
 *    for (IORING_FEAT_NODROP, IORING_FEAT_FAST_POLL); a refusal is a
 *    failure, not a skip: Debian's 6.1 kernel has io_uring, so a guest
 *    without it means the test no longer tests what it claims;
 *  - with GORT_NETPOLL unset, gort_netpoll_name() is "io_uring" (no
 *    silent fall-back to epoll), and with GORT_NETPOLL=uring too;
 *  - GORT_TEST_SCALE reaches the programs and gt_scaled() follows it;
 *  - echo over TCP on 127.0.0.1 and [::1], over a unix socket, and
 *    through getaddrinfo's "localhost" (the guest's /etc/hosts), each
 *    with the accepting goroutine and the dialling one parked in the
 *    rings, with 1 and 2 Ps.
 *
 * Built static for the guest (make net-guest), not as one of the
 * selftests/<suite> programs: under qemu-user, where every other arm64
 * program runs, io_uring does not exist and these checks would only fail.
 *
 * Rejected: testing the rings with liburing directly (the guest exists
 * for gort's io_uring paths; the kernel side alone is the first check).
 */
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gort_test.h"

#define MSG		"gort io_uring guest probe"
#define ROUNDS		16

TEST(test_scale_reaches_programs)
{
	const char *v = getenv("GORT_TEST_SCALE");

	if (!v)
		SKIP(return, "GORT_TEST_SCALE is not set");
	ASSERT_EQ(strtod(v, NULL), gt_test_scale());
	ASSERT_EQ(gt_scaled(1000), (long)(1000 * strtod(v, NULL)));
	TH_LOG("GORT_TEST_SCALE=%s: 1000 iterations become %ld", v,
	       gt_scaled(1000));
}

TEST(io_uring_setup)
{
	struct io_uring_params p;
	int fd;

	memset(&p, 0, sizeof(p));
	fd = syscall(__NR_io_uring_setup, 8, &p);
	ASSERT_LE(0, fd) {
		TH_LOG("io_uring_setup: %s: the guest kernel refuses io_uring",
		       strerror(errno));
	}
	TH_LOG("io_uring: sq_entries=%u cq_entries=%u features=%#x",
	       p.sq_entries, p.cq_entries, p.features);
	EXPECT_NE(0, (int)!!(p.features & IORING_FEAT_NODROP));
	EXPECT_NE(0, (int)!!(p.features & IORING_FEAT_FAST_POLL));
	close(fd);
}

static char poller[16];

static int name_main(void *arg)
{
	snprintf(poller, sizeof(poller), "%s", gort_netpoll_name());
	return 0;
}

TEST(default_poller_is_io_uring)
{
	unsetenv("GORT_NETPOLL");
	ASSERT_EQ(0, run_main(1, name_main, NULL));
	ASSERT_STREQ("io_uring", poller);
}

TEST(forced_poller_is_io_uring)
{
	setenv("GORT_NETPOLL", "uring", 1);
	ASSERT_EQ(0, run_main(1, name_main, NULL));
	ASSERT_STREQ("io_uring", poller);
}

/* ---- echo round trips ---- */

struct echo {
	const char *network;
	char listen[108];	/* address to listen on */
	char dial[108];		/* address to dial, "%d" for the port */
	int lfd;
	struct gort_waitgroup wg;
	long echoed;
};

static void echo_server(void *arg)
{
	struct echo *e = arg;
	char buf[256];
	ssize_t n;
	int fd;

	fd = gort_accept(e->lfd, NULL, NULL);
	GT_CHECKF(fd >= 0, "accept: %s", strerror(-fd));
	if (fd >= 0) {
		while ((n = gort_read(fd, buf, sizeof(buf))) > 0) {
			GT_CHECK(gort_write(fd, buf, n) == n);
			e->echoed += n;
		}
		GT_CHECKF(n == 0, "server read: %s", strerror((int)-n));
		gort_close(fd);
	}
	gort_wg_done(&e->wg);
}

static int echo_main(void *arg)
{
	struct echo *e = arg;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[128], buf[sizeof(MSG)];
	int fd, i, port = 0;
	ssize_t n;

	GT_CHECKF(!strcmp(gort_netpoll_name(), "io_uring"), "poller %s",
		  gort_netpoll_name());
	e->lfd = gort_listen(e->network, e->listen, 16);
	GT_CHECKF(e->lfd >= 0, "listen %s %s: %s", e->network, e->listen,
		  strerror(-e->lfd));
	if (e->lfd < 0)
		return 1;
	if (getsockname(e->lfd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	snprintf(addr, sizeof(addr), e->dial, port);

	gort_wg_add(&e->wg, 1);
	GT_CHECK(gort_go(echo_server, e) == 0);
	fd = gort_dial(e->network, addr, 10 * 1000000000LL);
	GT_CHECKF(fd >= 0, "dial %s %s: %s", e->network, addr, strerror(-fd));
	if (fd >= 0) {
		for (i = 0; i < ROUNDS; i++) {
			GT_CHECK(gort_write(fd, MSG, sizeof(MSG)) ==
				 sizeof(MSG));
			n = gort_read(fd, buf, sizeof(buf));
			GT_CHECKF(n == sizeof(MSG) && !memcmp(buf, MSG, n),
				  "round %d: read %zd", i, n);
		}
		gort_close(fd);
	}
	gort_wg_wait(&e->wg);
	gort_close(e->lfd);
	GT_CHECKF(e->echoed == ROUNDS * (long)sizeof(MSG), "echoed %ld",
		  e->echoed);
	return 0;
}

FIXTURE(echo) {
	struct echo e;
};

FIXTURE_VARIANT(echo) {
	const char *network;
	const char *listen;
	const char *dial;
	int procs;
};

FIXTURE_VARIANT_ADD(echo, tcp4_procs1) {
	"tcp4", "127.0.0.1:0", "127.0.0.1:%d", 1
};
FIXTURE_VARIANT_ADD(echo, tcp4_procs2) {
	"tcp4", "127.0.0.1:0", "127.0.0.1:%d", 2
};
FIXTURE_VARIANT_ADD(echo, tcp6_procs1) {
	"tcp6", "[::1]:0", "[::1]:%d", 1
};
FIXTURE_VARIANT_ADD(echo, tcp6_procs2) {
	"tcp6", "[::1]:0", "[::1]:%d", 2
};
FIXTURE_VARIANT_ADD(echo, unix_procs2) {
	"unix", "/tmp/probe.sock", "/tmp/probe.sock", 2
};
FIXTURE_VARIANT_ADD(echo, localhost_procs2) {
	"tcp4", "127.0.0.1:0", "localhost:%d", 2
};

FIXTURE_SETUP(echo)
{
	memset(&self->e, 0, sizeof(self->e));
	self->e.network = variant->network;
	snprintf(self->e.listen, sizeof(self->e.listen), "%s",
		 variant->listen);
	snprintf(self->e.dial, sizeof(self->e.dial), "%s", variant->dial);
	if (!strcmp(variant->network, "unix"))
		unlink(variant->listen);
	setenv("GORT_NETPOLL", "uring", 1);
}

FIXTURE_TEARDOWN(echo)
{
	if (!strcmp(variant->network, "unix"))
		unlink(variant->listen);
}

TEST_F(echo, round_trips)
{
	ASSERT_EQ(0, run_main(variant->procs, echo_main, &self->e));
	ASSERT_EQ(0, gt_failures());
}

TEST_HARNESS_MAIN
