// SPDX-License-Identifier: MIT
/*
 * echo.c - a goroutine-per-connection TCP echo server.
 *
 *	echo [host:port]	(default 127.0.0.1:7777)
 *
 * Each connection's goroutine reads up to 4 KiB and writes it back until
 * EOF: the echo-server workload of the benchmarks (bench/net.c includes
 * this file with ECHO_NO_MAIN defined).  Try it with `nc 127.0.0.1 7777`.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <gort.h>

static void echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];
	ssize_t n;

	while ((n = gort_read(fd, buf, sizeof(buf))) > 0)
		if (gort_write(fd, buf, (size_t)n) < 0)
			break;
	gort_close(fd);
}

static int echo_serve(int lfd)
{
	for (;;) {
		int fd = gort_accept(lfd, NULL, NULL);

		if (fd == -EMFILE || fd == -ENFILE || fd == -ECONNABORTED ||
		    fd == -EINTR)
			continue;	/* gort_accept has backed off */
		if (fd < 0)
			return fd;
		if (gort_go(echo_conn, (void *)(intptr_t)fd))
			gort_close(fd);
	}
}

#ifndef ECHO_NO_MAIN
static const char *listen_addr = "127.0.0.1:7777";

static int echo_main(void *arg)
{
	int lfd = gort_listen("tcp", listen_addr, 4096);
	int err;

	if (lfd < 0) {
		fprintf(stderr, "echo: listen %s: %s\n", listen_addr,
			strerror(-lfd));
		return 1;
	}
	fprintf(stderr, "echo: listening on %s\n", listen_addr);
	err = echo_serve(lfd);
	fprintf(stderr, "echo: accept: %s\n", strerror(-err));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: echo [host:port]\n");
		return 2;
	}
	if (argc == 2)
		listen_addr = argv[1];
	return gort_main(echo_main, NULL);
}
#endif
