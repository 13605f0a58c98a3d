// SPDX-License-Identifier: GPL-2.0
/*
 * gort_net.c - helpers shared by the network selftests (see gort_net.h).
 *
 * io_uring is probed with the raw system call rather than through the
 * runtime, so that "is io_uring there?" and "did gort pick it?" are two
 * separate answers: the first decides whether the io_uring variants run,
 * the second is what they check.
 *
 * gt_wait_io_parked() reads the runtime's own goroutine dump, the one
 * place that says what a goroutine waits for; a test that closes a
 * descriptor or moves a deadline "while the read is blocked" must know
 * the read is blocked, or it tests a different path (the op seeing the
 * close before it starts) and still passes.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "gort_net.h"

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif

int gt_io_uring_probe(void)
{
	struct io_uring_params p;
	long fd;

	memset(&p, 0, sizeof(p));
	fd = syscall(__NR_io_uring_setup, 4, &p);
	if (fd < 0)
		return -errno;
	close((int)fd);
	return 0;
}

const char *gt_poller_name(const char *poller)
{
	return strcmp(poller, "uring") ? poller : "io_uring";
}

static char default_name[32];

static int read_poller_name(void *arg)
{
	snprintf(default_name, sizeof(default_name), "%s",
		 gort_netpoll_name());
	return 0;
}

int gt_net_setup(const struct gt_net_variant *v, char *why, size_t len)
{
	const char *only = getenv("GT_NET_VARIANT");
	char name[32];
	int err;

	snprintf(name, sizeof(name), "%s%s_procs%d", v->poller,
		 v->plain ? "_plain" : "", v->procs);
	if (only && *only && strncmp(name, only, strlen(only))) {
		snprintf(why, len, "GT_NET_VARIANT=%s leaves out %s", only,
			 name);
		return 1;
	}
	if (!strcmp(v->poller, "uring")) {
		err = gt_io_uring_probe();
		if (err) {
			unsetenv("GORT_NETPOLL");
			default_name[0] = '\0';
			if (gort_main(read_poller_name, NULL) ||
			    strcmp(default_name, "epoll")) {
				snprintf(why, len,
					 "io_uring_setup: %s, yet a run without GORT_NETPOLL used \"%s\", not epoll",
					 strerror(-err), default_name);
				return -1;
			}
			snprintf(why, len,
				 "io_uring unavailable (io_uring_setup: %s); the default run fell back to epoll",
				 strerror(-err));
			return 1;
		}
	}
	if (v->debug && setenv("GORT_DEBUG", v->debug, 1)) {
		snprintf(why, len, "setenv: %s", strerror(errno));
		return -1;
	}
	if (setenv("GORT_NETPOLL", v->poller, 1)) {
		snprintf(why, len, "setenv: %s", strerror(errno));
		return -1;
	}
	return 0;
}

struct net_run {
	int (*fn)(void *arg);
	void *arg;
	const char *want;
};

static int net_run_main(void *arg)
{
	struct net_run *r = arg;
	const char *name = gort_netpoll_name();

	if (strcmp(name, r->want)) {
		GT_CHECKF(0, "GORT_NETPOLL asked for %s, %s runs", r->want,
			  name);
		return 1;
	}
	return r->fn(r->arg);
}

int gt_net_run(const struct gt_net_variant *v, int (*fn)(void *arg),
	       void *arg)
{
	struct net_run r = { fn, arg, gt_poller_name(v->poller) };

	return run_main(v->procs, net_run_main, &r);
}

int gt_port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -errno;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -EAFNOSUPPORT;
}

static int set_bufs(int fd, int size)
{
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)))
		return -errno;
	return 0;
}

int gt_tcp_pair_small(int *client, int *server, int bufsize)
{
	char addr[64];
	int lfd, c, s, port, err = 0, mss = 1024;

	lfd = gort_listen("tcp4", "127.0.0.1:0", 0);
	if (lfd < 0)
		return lfd;
	/* accepted sockets inherit these; the MSS is the one the SYN-ACK
	 * announces, so it bounds the client's segments */
	if (bufsize > 0 &&
	    (set_bufs(lfd, bufsize) ||
	     setsockopt(lfd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss))))
		err = -errno;
	if (err) {
		gort_close(lfd);
		return err;
	}
	port = gt_port_of(lfd);
	if (port < 0) {
		gort_close(lfd);
		return port;
	}
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	c = gort_dial("tcp4", addr, 0);
	if (c < 0) {
		gort_close(lfd);
		return c;
	}
	s = gort_accept(lfd, NULL, NULL);
	gort_close(lfd);
	if (s < 0) {
		gort_close(c);
		return s;
	}
	if (bufsize > 0) {
		err = set_bufs(c, bufsize);
		if (err) {
			gort_close(c);
			gort_close(s);
			return err;
		}
	}
	*client = c;
	*server = s;
	return 0;
}

int gt_tcp_pair(int *client, int *server)
{
	return gt_tcp_pair_small(client, server, 0);
}

ssize_t gt_read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = gort_read(fd, (char *)buf + got, len - got);

		if (n < 0)
			return n;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

void gt_pattern_fill(void *buf, size_t len, uint32_t seed, uint64_t off)
{
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = gt_pattern_byte(seed, off + i);
}

ssize_t gt_pattern_find_diff(const void *buf, size_t len, uint32_t seed,
			     uint64_t off)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != gt_pattern_byte(seed, off + i))
			return (ssize_t)i;
	return -1;
}

/* Is "goroutine <goid> [IO wait" in the dump held by memfd fd? */
static bool dump_says_io_wait(int fd, uint64_t goid)
{
	char want[64], *buf;
	struct stat st;
	bool found = false;
	ssize_t n;

	if (fstat(fd, &st) || st.st_size <= 0)
		return false;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return false;
	n = pread(fd, buf, (size_t)st.st_size, 0);
	if (n > 0) {
		buf[n] = '\0';
		snprintf(want, sizeof(want), "goroutine %llu [IO wait",
			 (unsigned long long)goid);
		found = strstr(buf, want) != NULL;
	}
	free(buf);
	return found;
}

bool gt_wait_io_parked(uint64_t goid, int64_t timeout_ns)
{
	int64_t end = gort_nanotime() + timeout_ns;
	bool found = false;
	int fd;

	fd = memfd_create("gt_dump", MFD_CLOEXEC);
	if (fd < 0)
		return false;
	for (;;) {
		if (ftruncate(fd, 0) || lseek(fd, 0, SEEK_SET))
			break;
		if (gort_dump_goroutines(fd))
			break;
		found = dump_says_io_wait(fd, goid);
		if (found || gort_nanotime() >= end)
			break;
		gort_sleep(1000000);
	}
	close(fd);
	return found;
}

int64_t gt_process_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int gt_count_sockets(void)
{
	DIR *d = opendir("/proc/self/fd");
	char path[300], target[64];
	struct dirent *e;
	int n = 0;
	ssize_t len;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len > 0 && !strncmp(target, "socket:", 7))
			n++;
	}
	closedir(d);
	return n;
}
