// SPDX-License-Identifier: GPL-2.0
/*
 * unix.c - "unix" stream sockets through gort_listen, gort_dial and the I/O
 * calls, with each poller and 1 and 2 Ps.
 *
 * Local services (a daemon's control socket, a sidecar) use Unix sockets
 * with the same code as TCP, so the same promises are checked:
 *
 *  - listen on a path, dial it, echo messages of many sizes; accept
 *    reports an AF_UNIX peer, both ends are O_CLOEXEC;
 *  - 100 clients at once, each echoing 64 KiB, get their own bytes back;
 *  - a write to a connection whose peer closed gives -EPIPE and does not
 *    kill the process with SIGPIPE;
 *  - errors as the kernel reports them: listening on a path in use is
 *    -EADDRINUSE, dialing a path that does not exist -ENOENT, and a
 *    socket file whose listener is gone -ECONNREFUSED.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gort_net.h"

#define NCLIENTS	100
#define PER_CLIENT	65536

GT_NET_FIXTURE(net)

static char dir[256], path[300];

struct userver {
	int lfd;
	int n;				/* connections to serve */
	struct gort_waitgroup wg;	/* echo goroutines ended */
	int family;			/* of the first accepted peer */
};

struct uconn {
	struct userver *s;
	int fd;
};

static void uconn_echo(void *arg)
{
	struct uconn *c = arg;
	char buf[8192];
	ssize_t n;

	while ((n = gort_read(c->fd, buf, sizeof(buf))) > 0)
		if (gort_write(c->fd, buf, (size_t)n) != n) {
			GT_CHECK(!"echo write");
			break;
		}
	GT_CHECKF(n >= 0, "echo read: %zd", n);
	GT_CHECK(gort_close(c->fd) == 0);
	gort_wg_done(&c->s->wg);
	free(c);
}

static void userve(void *arg)
{
	struct userver *s = arg;
	int i;

	for (i = 0; i < s->n; i++) {
		struct sockaddr_un sun;
		socklen_t len = sizeof(sun);
		struct uconn *c = malloc(sizeof(*c));
		int fd = gort_accept(s->lfd, (struct sockaddr *)&sun, &len);

		if (fd < 0 || !c) {
			GT_CHECKF(0, "accept: %d", fd);
			free(c);
			gort_wg_done(&s->wg);
			continue;
		}
		if (i == 0)
			s->family = sun.sun_family;
		GT_CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		c->s = s;
		c->fd = fd;
		if (gort_go(uconn_echo, c)) {
			GT_CHECK(!"gort_go");
			gort_close(fd);
			free(c);
			gort_wg_done(&s->wg);
		}
	}
}

struct uclient {
	int i;
	struct gort_waitgroup *wg;	/* clients ended */
};

static void uclient_run(void *arg)
{
	struct uclient *u = arg;
	uint8_t *out = malloc(PER_CLIENT), *in = malloc(PER_CLIENT);
	int fd = gort_dial("unix", path, 5000 * 1000000LL);

	GT_CHECKF(fd >= 0, "dial %s: %d", path, fd);
	if (fd >= 0 && out && in) {
		gt_pattern_fill(out, PER_CLIENT, (uint32_t)u->i, 0);
		GT_CHECK(gort_write(fd, out, PER_CLIENT) == PER_CLIENT);
		GT_CHECK(gt_read_full(fd, in, PER_CLIENT) == PER_CLIENT);
		GT_CHECKF(!memcmp(in, out, PER_CLIENT), "client %d", u->i);
	}
	if (fd >= 0)
		GT_CHECK(gort_close(fd) == 0);
	free(out);
	free(in);
	gort_wg_done(u->wg);
}

static int unix_main(void *arg)
{
	static struct uclient cl[NCLIENTS];
	static uint8_t out[30000], in[30000];
	struct gort_waitgroup wg = { 0 };
	struct userver s;
	size_t size;
	int fd, i, r;

	memset(&s, 0, sizeof(s));
	s.lfd = gort_listen("unix", path, 0);
	GT_CHECKF(s.lfd >= 0, "listen on %s: %d", path, s.lfd);
	if (s.lfd < 0)
		return 1;
	GT_CHECK(fcntl(s.lfd, F_GETFD) & FD_CLOEXEC);
	r = gort_listen("unix", path, 0);
	GT_CHECKF(r == -EADDRINUSE, "second listen on the path: %d", r);

	s.n = 1 + NCLIENTS;
	gort_wg_add(&s.wg, s.n);
	GT_CHECK(gort_go(userve, &s) == 0);

	/* one client, many message sizes */
	fd = gort_dial("unix", path, 0);
	GT_CHECK(fd >= 0);
	GT_CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	for (size = 1; size <= sizeof(out); size = size * 3 + 1) {
		gt_pattern_fill(out, size, (uint32_t)size, 0);
		GT_CHECK(gort_write(fd, out, size) == (ssize_t)size);
		GT_CHECK(gt_read_full(fd, in, size) == (ssize_t)size);
		GT_CHECKF(!memcmp(in, out, size), "message of %zu", size);
	}
	GT_CHECK(gort_close(fd) == 0);

	/* many at once */
	gort_wg_add(&wg, NCLIENTS);
	for (i = 0; i < NCLIENTS; i++) {
		cl[i] = (struct uclient){ i, &wg };
		if (gort_go(uclient_run, &cl[i])) {
			GT_CHECK(!"gort_go");
			gort_wg_done(&wg);
		}
	}
	gort_wg_wait(&wg);
	gort_wg_wait(&s.wg);
	GT_CHECKF(s.family == AF_UNIX, "accepted family %d", s.family);
	GT_CHECK(gort_close(s.lfd) == 0);

	/* the socket file outlives its listener: refused */
	r = gort_dial("unix", path, 0);
	GT_CHECKF(r == -ECONNREFUSED, "dial of a dead socket file: %d", r);
	unlink(path);
	r = gort_dial("unix", path, 0);
	GT_CHECKF(r == -ENOENT, "dial of a missing path: %d", r);
	return 0;
}

/* A fresh directory for the socket, under TMPDIR if the path fits. */
static bool make_path(void)
{
	const char *tmp = getenv("TMPDIR");
	struct sockaddr_un sun;

	if (!tmp || !*tmp || strlen(tmp) + 30 >= sizeof(sun.sun_path))
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/gort-unix-XXXXXX", tmp);
	if (!mkdtemp(dir))
		return false;
	snprintf(path, sizeof(path), "%s/sock", dir);
	return true;
}

TEST_F_TIMEOUT(net, listen_dial_echo, 60)
{
	GT_NET_BEGIN();
	ASSERT_TRUE(make_path());
	EXPECT_EQ(0, gt_net_run(&variant->v, unix_main, NULL));
	EXPECT_EQ(0, gt_failures());
	unlink(path);
	rmdir(dir);
}

static int epipe_main(void *arg)
{
	char buf[4];
	int lfd, c, s;

	lfd = gort_listen("unix", path, 0);
	GT_CHECK(lfd >= 0);
	c = gort_dial("unix", path, 0);
	GT_CHECK(c >= 0);
	s = gort_accept(lfd, NULL, NULL);
	GT_CHECK(s >= 0);
	GT_CHECK(gort_close(lfd) == 0);
	GT_CHECK(gort_close(s) == 0);
	GT_CHECK(gort_read(c, buf, sizeof(buf)) == 0);
	GT_CHECK(gort_write(c, "x", 1) == -EPIPE);
	GT_CHECK(gort_send(c, "x", 1, 0) == -EPIPE);
	GT_CHECK(gort_close(c) == 0);
	return 0;
}

TEST_F_TIMEOUT(net, write_to_closed_peer, 60)
{
	GT_NET_BEGIN();
	ASSERT_TRUE(make_path());
	EXPECT_EQ(0, gt_net_run(&variant->v, epipe_main, NULL));
	EXPECT_EQ(0, gt_failures());
	unlink(path);
	rmdir(dir);
}

TEST_HARNESS_MAIN
