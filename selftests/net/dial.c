// SPDX-License-Identifier: GPL-2.0
/*
 * dial.c - gort_dial and gort_listen failures, name resolution, and which
 * poller runs.
 *
 * A client must be able to tell "nobody listens" from "nobody answers"
 * from "you asked for something impossible", so the errors are checked
 * exactly, with each poller and 1 and 2 Ps:
 *
 *  - a port with no listener: -ECONNREFUSED (tcp4, and tcp6 where there
 *    is an IPv6 loopback);
 *  - a dial that gets no answer: -ETIMEDOUT, no earlier than the timeout;
 *  - malformed addresses (no port, empty or non-numeric or out-of-range
 *    port, IPv6 without brackets, unix paths empty or too long, NULL):
 *    -EINVAL, from gort_dial and gort_listen alike;
 *  - an unknown network ("udp", "tcp5", "", "ip"): -EPROTONOSUPPORT;
 *  - no failed dial leaks its socket (the process has as many sockets
 *    open before as after);
 *  - host names are resolved ("localhost", through getaddrinfo on a
 *    thread without a P).
 *
 * The unanswered dial.  The textbook way, a SYN to an unroutable address
 * such as 10.255.255.1, sends traffic off this machine, which a sandbox
 * may forbid or answer with an ICMP error (EHOSTUNREACH, ENETUNREACH), and
 * a blackhole route in a network namespace needs privileges.  Instead the
 * dial goes to a loopback listener whose accept queue is full (backlog 1,
 * never accepted): Linux drops a SYN for a listener whose queue is full
 * (LISTENOVERFLOWS), so the connect stays in SYN_SENT, retransmitting,
 * until the dial's deadline ends it.  That is reliable anywhere loopback
 * is, with no traffic off the host.
 *
 * poller_choice (no variants) checks the choice itself: without
 * GORT_NETPOLL the run uses io_uring when io_uring_setup works here and
 * falls back to epoll on its own when it does not (qemu-user answers
 * ENOSYS); GORT_NETPOLL=epoll gives epoll; GORT_NETPOLL=uring gives
 * io_uring, or where io_uring is missing a fatal error (exit 2) rather than
 * a silent fall-back; a malformed value is a one-line error at start.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gort_net.h"

#define MS	1000000LL

GT_NET_FIXTURE(net)

/* A port on 127.0.0.1 (or ::1) that is bound but not listening. */
static int reserve_port(int family, int *fdp)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET) {
		((struct sockaddr_in *)&ss)->sin_addr.s_addr =
			htonl(INADDR_LOOPBACK);
		len = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
		len = sizeof(struct sockaddr_in6);
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&ss, len)) {
		close(fd);
		return -errno;
	}
	*fdp = fd;
	return gt_port_of(fd);
}

static int refused_main(void *arg)
{
	char addr[64];
	int port, rfd, fds0, r;

	fds0 = gt_count_sockets();
	port = reserve_port(AF_INET, &rfd);
	GT_CHECK(port > 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	r = gort_dial("tcp4", addr, 0);
	GT_CHECKF(r == -ECONNREFUSED, "tcp4 dial of a closed port: %d", r);
	r = gort_dial("tcp4", addr, 5000 * MS);
	GT_CHECKF(r == -ECONNREFUSED, "with a timeout: %d", r);
	close(rfd);
	port = reserve_port(AF_INET6, &rfd);
	if (port > 0) {
		snprintf(addr, sizeof(addr), "[::1]:%d", port);
		r = gort_dial("tcp6", addr, 0);
		GT_CHECKF(r == -ECONNREFUSED, "tcp6 dial of a closed port: %d",
			  r);
		close(rfd);
	}
	GT_CHECKF(gt_count_sockets() == fds0, "%d sockets before, %d after",
		  fds0, gt_count_sockets());
	return 0;
}

TEST_F_TIMEOUT(net, dial_refused, 60)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, refused_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

static int timeout_main(void *arg)
{
	int fillers[16], nfill = 0, lfd, fds0, r = 0, i;
	int64_t t0, el, timeout = 250 * MS;
	char addr[64];

	lfd = gort_listen("tcp4", "127.0.0.1:0", 1);
	GT_CHECK(lfd >= 0);
	if (lfd < 0)
		return 1;
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", gt_port_of(lfd));
	/* fill the accept queue: dials succeed until one gets no answer */
	while (nfill < (int)ARRAY_SIZE(fillers)) {
		r = gort_dial("tcp4", addr, 300 * MS);
		if (r < 0)
			break;
		fillers[nfill++] = r;
	}
	GT_CHECKF(r == -ETIMEDOUT, "after %d queued connections: %d", nfill,
		  r);
	fds0 = gt_count_sockets();
	t0 = gort_nanotime();
	r = gort_dial("tcp4", addr, timeout);
	el = gort_nanotime() - t0;
	GT_CHECKF(r == -ETIMEDOUT, "dial to a full queue: %d", r);
	GT_CHECKF(el >= timeout, "timed out after %lld ns of %lld",
		  (long long)el, (long long)timeout);
	GT_CHECKF(gt_count_sockets() == fds0, "%d sockets before, %d after",
		  fds0, gt_count_sockets());
	for (i = 0; i < nfill; i++)
		GT_CHECK(gort_close(fillers[i]) == 0);
	GT_CHECK(gort_close(lfd) == 0);
	return 0;
}

TEST_F_TIMEOUT(net, dial_timeout, 60)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, timeout_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

static const char *const bad_addrs[] = {
	"127.0.0.1",		/* no port */
	"127.0.0.1:",		/* empty port */
	":",			/* neither */
	"::1:80",		/* IPv6 without brackets */
	"[::1]80",		/* nothing between ] and the port */
	"[::1:80",		/* no ] */
	"127.0.0.1:http",	/* not a number */
	"127.0.0.1:65536",	/* out of range */
	"127.0.0.1:-1",
	"127.0.0.1: 80",
};

static const char *const bad_nets[] = {
	"udp", "tcp5", "", "ip", "TCP", "unixgram",
};

static int bad_main(void *arg)
{
	char longpath[200];
	int fds0 = gt_count_sockets(), r;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad_addrs); i++) {
		r = gort_dial("tcp", bad_addrs[i], 1000 * MS);
		GT_CHECKF(r == -EINVAL, "dial \"%s\": %d", bad_addrs[i], r);
		r = gort_listen("tcp", bad_addrs[i], 0);
		GT_CHECKF(r == -EINVAL, "listen \"%s\": %d", bad_addrs[i], r);
	}
	GT_CHECK(gort_dial("tcp4", NULL, 0) == -EINVAL);
	GT_CHECK(gort_listen("tcp4", NULL, 0) == -EINVAL);
	/* unix paths: empty, too long for sun_path, NULL */
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	GT_CHECK(gort_dial("unix", "", 0) == -EINVAL);
	GT_CHECK(gort_listen("unix", "", 0) == -EINVAL);
	GT_CHECK(gort_dial("unix", longpath, 0) == -EINVAL);
	GT_CHECK(gort_listen("unix", longpath, 0) == -EINVAL);
	GT_CHECK(gort_dial("unix", NULL, 0) == -EINVAL);

	/* networks */
	for (i = 0; i < ARRAY_SIZE(bad_nets); i++) {
		r = gort_dial(bad_nets[i], "127.0.0.1:80", 0);
		GT_CHECKF(r == -EPROTONOSUPPORT, "dial on \"%s\": %d",
			  bad_nets[i], r);
		r = gort_listen(bad_nets[i], "127.0.0.1:0", 0);
		GT_CHECKF(r == -EPROTONOSUPPORT, "listen on \"%s\": %d",
			  bad_nets[i], r);
	}
	GT_CHECK(gort_dial(NULL, "127.0.0.1:80", 0) == -EINVAL);
	GT_CHECK(gort_listen(NULL, "127.0.0.1:0", 0) == -EINVAL);
	GT_CHECKF(gt_count_sockets() == fds0, "%d sockets before, %d after",
		  fds0, gt_count_sockets());
	return 0;
}

TEST_F_TIMEOUT(net, bad_address_and_network, 60)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, bad_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

static int name_main(void *arg)
{
	static const char *const nets[] = { "tcp", "tcp4" };
	char addr[64], buf[4];
	int lfd, c, s, i;

	lfd = gort_listen("tcp", ":0", 0);
	GT_CHECK(lfd >= 0);
	if (lfd < 0)
		return 1;
	snprintf(addr, sizeof(addr), "localhost:%d", gt_port_of(lfd));
	for (i = 0; i < 2; i++) {
		c = gort_dial(nets[i], addr, 5000 * MS);
		GT_CHECKF(c >= 0, "dial %s %s: %d", nets[i], addr, c);
		if (c < 0)
			continue;
		s = gort_accept(lfd, NULL, NULL);
		GT_CHECK(s >= 0);
		GT_CHECK(gort_write(c, "hi", 2) == 2);
		GT_CHECK(gt_read_full(s, buf, 2) == 2 && !memcmp(buf, "hi", 2));
		GT_CHECK(gort_close(c) == 0);
		GT_CHECK(gort_close(s) == 0);
	}
	GT_CHECK(gort_close(lfd) == 0);
	return 0;
}

TEST_F_TIMEOUT(net, dial_by_name, 60)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;

	GT_NET_BEGIN();
	if (getaddrinfo("localhost", "80", &hints, &res))
		SKIP(return, "\"localhost\" does not resolve here");
	freeaddrinfo(res);
	ASSERT_EQ(0, gt_net_run(&variant->v, name_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- which poller runs ---- */

static char name_seen[32];

static int name_of_run(void *arg)
{
	snprintf(name_seen, sizeof(name_seen), "%s", gort_netpoll_name());
	return 0;
}

static int uring_forced_child(void *arg)
{
	gt_clear_gort_env();
	setenv("GORT_NETPOLL", arg, 1);
	return gort_main(name_of_run, NULL);
}

TEST(poller_choice)
{
	int uring = gt_io_uring_probe();
	struct gt_child ch;
	char how[64];

	printf("# io_uring_setup here: %s\n",
	       uring ? strerror(-uring) : "works");
	fflush(stdout);
	gt_clear_gort_env();
	ASSERT_STREQ("none", gort_netpoll_name());

	ASSERT_EQ(0, gort_main(name_of_run, NULL));
	EXPECT_STREQ(uring ? "epoll" : "io_uring", name_seen);
	ASSERT_STREQ("none", gort_netpoll_name());

	setenv("GORT_NETPOLL", "epoll", 1);
	ASSERT_EQ(0, gort_main(name_of_run, NULL));
	EXPECT_STREQ("epoll", name_seen);

	if (!uring) {
		setenv("GORT_NETPOLL", "uring", 1);
		ASSERT_EQ(0, gort_main(name_of_run, NULL));
		EXPECT_STREQ("io_uring", name_seen);
	} else {
		/* forced, but missing: a fatal error, not a fall-back */
		ASSERT_EQ(0, gt_fork_run(uring_forced_child, "uring", 30, &ch));
		EXPECT_TRUE(gt_exited_with(&ch, 2))
			TH_LOG("GORT_NETPOLL=uring without io_uring: %s",
			       gt_child_how(&ch, how, sizeof(how)));
		EXPECT_NE(NULL, strstr(ch.err, "io_uring"));
		gt_child_free(&ch);
	}

	ASSERT_EQ(0, gt_fork_run(uring_forced_child, "kqueue", 30, &ch));
	EXPECT_TRUE(gt_exited_with(&ch, 2))
		TH_LOG("GORT_NETPOLL=kqueue: %s",
		       gt_child_how(&ch, how, sizeof(how)));
	EXPECT_NE(NULL, strstr(ch.err, "GORT_NETPOLL"));
	EXPECT_EQ(1, gt_count_lines(ch.err));
	gt_child_free(&ch);
}

TEST_HARNESS_MAIN
