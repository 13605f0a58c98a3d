// SPDX-License-Identifier: MIT
/*
 * httpd.c - a goroutine-per-connection HTTP/1.1 keep-alive server.
 *
 *	httpd [-t idle_seconds] [host:port]	(default 127.0.0.1:8080)
 *
 * Every connection gets a goroutine and a 4 KiB buffer.  The goroutine
 * reads, answers each complete request in the buffer ("hello\n", in
 * order, so pipelined requests work), keeps a partial request for the next
 * read and sends all answers with one write.  A request header that does
 * not fit in 4 KiB, a malformed request line, EOF, an error, or a client
 * idle for longer than the timeout closes the connection.  Request bodies
 * are not supported.  This is the httpd-raw workload of the benchmarks
 * (bench/net.c includes this file with HTTPD_NO_MAIN defined).
 *
 * The code reads like blocking code: gort_read parks the goroutine, not
 * the thread, so ten thousand idle keep-alive connections cost ten
 * thousand small stacks and no threads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gort.h>

#define HTTPD_BUF 4096

static const char httpd_response[] =
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	"Content-Length: 6\r\n\r\nhello\n";

/* Closes idle connections after this long; 0: never. */
static int64_t httpd_idle_ns;

/* "METHOD SP target SP HTTP/1.x" up to the first CRLF. */
static bool request_line_ok(const char *req, size_t len)
{
	const char *eol = memchr(req, '\r', len);
	const char *sp1, *sp2;
	size_t n;

	if (!eol)
		return false;
	n = (size_t)(eol - req);
	sp1 = memchr(req, ' ', n);
	if (!sp1 || sp1 == req)
		return false;
	sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - req));
	if (!sp2 || sp2 == sp1 + 1)
		return false;
	return (size_t)(eol - sp2 - 1) == 8 && !memcmp(sp2 + 1, "HTTP/1.", 7);
}

static void httpd_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[HTTPD_BUF];
	/* worst case: every 4-byte "\r\n\r\n" in the buffer is a request */
	char out[(HTTPD_BUF / 4) * (sizeof(httpd_response) - 1)];
	size_t have = 0;

	for (;;) {
		size_t start = 0, outlen = 0;
		ssize_t n;

		if (httpd_idle_ns)
			gort_set_deadline(fd, gort_nanotime() + httpd_idle_ns,
					  0);
		n = gort_read(fd, buf + have, sizeof(buf) - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		for (;;) {
			char *end = memmem(buf + start, have - start,
					   "\r\n\r\n", 4);
			size_t len;

			if (!end)
				break;
			len = (size_t)(end + 4 - (buf + start));
			if (!request_line_ok(buf + start, len))
				goto close;
			memcpy(out + outlen, httpd_response,
			       sizeof(httpd_response) - 1);
			outlen += sizeof(httpd_response) - 1;
			start += len;
		}
		memmove(buf, buf + start, have - start);
		have -= start;
		if (have == sizeof(buf))
			break;		/* header larger than 4 KiB */
		if (outlen && gort_write(fd, out, outlen) < 0)
			break;
	}
close:
	gort_close(fd);
}

/* Accept forever; returns only if the listener fails for good. */
static int httpd_serve(int lfd)
{
	for (;;) {
		int fd = gort_accept(lfd, NULL, NULL);

		if (fd == -EMFILE || fd == -ENFILE || fd == -ECONNABORTED ||
		    fd == -EINTR)
			continue;	/* gort_accept has backed off */
		if (fd < 0)
			return fd;
		if (gort_go(httpd_conn, (void *)(intptr_t)fd)) {
			gort_close(fd);	/* out of memory: shed the load */
			continue;
		}
	}
}

#ifndef HTTPD_NO_MAIN
static const char *listen_addr = "127.0.0.1:8080";

static int httpd_main(void *arg)
{
	int lfd = gort_listen("tcp", listen_addr, 4096);
	int err;

	if (lfd < 0) {
		fprintf(stderr, "httpd: listen %s: %s\n", listen_addr,
			strerror(-lfd));
		return 1;
	}
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char host[64] = "?";
		int port = 0;

		/* the real port, for ":0" */
		if (!getsockname(lfd, (struct sockaddr *)&ss, &sl)) {
			if (ss.ss_family == AF_INET) {
				struct sockaddr_in *a = (void *)&ss;

				inet_ntop(AF_INET, &a->sin_addr, host,
					  sizeof(host));
				port = ntohs(a->sin_port);
			} else if (ss.ss_family == AF_INET6) {
				struct sockaddr_in6 *a = (void *)&ss;

				inet_ntop(AF_INET6, &a->sin6_addr, host,
					  sizeof(host));
				port = ntohs(a->sin6_port);
			}
		}
		fprintf(stderr,
			"httpd: listening on %s port %d (%d procs, %s poller)\n",
			host, port, gort_gomaxprocs(0), gort_netpoll_name());
	}
	err = httpd_serve(lfd);
	fprintf(stderr, "httpd: accept: %s\n", strerror(-err));
	return 1;
}

int main(int argc, char **argv)
{
	int i;

	httpd_idle_ns = 60 * (int64_t)1000000000;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-t") && i + 1 < argc) {
			char *end;
			double s = strtod(argv[++i], &end);

			if (*end || s < 0) {
				fprintf(stderr, "httpd: bad -t %s\n", argv[i]);
				return 2;
			}
			httpd_idle_ns = (int64_t)(s * 1e9);
		} else if (argv[i][0] != '-' && i == argc - 1) {
			listen_addr = argv[i];
		} else {
			fprintf(stderr,
				"usage: httpd [-t idle_seconds] [host:port]\n");
			return 2;
		}
	}
	return gort_main(httpd_main, NULL);
}
#endif
