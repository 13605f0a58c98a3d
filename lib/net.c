// SPDX-License-Identifier: MIT
/*
 * net.c - gort's network and file API: listen, accept, dial, read, write
 * and close, on top of the poller (lib/netpoll).
 *
 * Addresses follow Go's net package: "host:port", "[v6]:port", ":port";
 * "tcp" listens on both families through one IPv6 socket with V6ONLY off
 * (IPv4 alone where IPv6 is missing), "tcp4" and "tcp6" restrict the
 * family.  Numeric hosts never reach the resolver; names are resolved by
 * getaddrinfo between gort_syscall_begin and gort_syscall_end, because it
 * may block for seconds on DNS and must not hold a P meanwhile.
 *
 * Writes are complete or fail: gort_write and gort_writev loop over short
 * writes, as Go's Write does, because a C caller that forgets the loop
 * loses data silently.
 *
 * A descriptor created here starts with fresh poller state (deadlines
 * cleared), even if an earlier descriptor with the same number was closed
 * with close(2) instead of gort_close.
 *
 * Rejected: returning EMFILE from gort_accept at once.  A server's accept
 * loop that retries would spin a CPU while the limit lasts; the back-off
 * makes the loop calm without hiding the error.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "netpoll/netpoll.h"

enum net_kind { NET_TCP, NET_TCP4, NET_TCP6, NET_UNIX };

static int parse_network(const char *network, enum net_kind *kind)
{
	if (!network)
		return -EINVAL;
	if (!strcmp(network, "tcp"))
		*kind = NET_TCP;
	else if (!strcmp(network, "tcp4"))
		*kind = NET_TCP4;
	else if (!strcmp(network, "tcp6"))
		*kind = NET_TCP6;
	else if (!strcmp(network, "unix"))
		*kind = NET_UNIX;
	else
		return -EPROTONOSUPPORT;
	return 0;
}

/*
 * A port is a decimal number from 0 to 65535.  getaddrinfo would take
 * " 80" and "+80", turn 65536 into port 0 (a random port for listen) and
 * answer a name ("http") with EAI_NONAME, which reads as "no such host";
 * Go's net package calls each of these an invalid port.
 */
static int check_port(const char *port)
{
	unsigned long v = 0;
	const char *p;

	for (p = port; *p; p++) {
		if (*p < '0' || *p > '9' || p - port >= 5)
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	return p == port || v > 65535 ? -EINVAL : 0;
}

/* Split "host:port" / "[host]:port"; host may come back empty. */
static int split_host_port(const char *address, char *host, size_t hostsz,
			   char *port, size_t portsz)
{
	const char *colon, *hs, *he;

	if (!address)
		return -EINVAL;
	if (address[0] == '[') {
		he = strchr(address, ']');
		if (!he || he[1] != ':')
			return -EINVAL;
		hs = address + 1;
		colon = he + 1;
	} else {
		colon = strrchr(address, ':');
		if (!colon)
			return -EINVAL;	/* missing port */
		hs = address;
		he = colon;
		if (memchr(hs, ':', (size_t)(he - hs)))
			return -EINVAL;	/* IPv6 needs brackets */
	}
	if ((size_t)(he - hs) >= hostsz || strlen(colon + 1) >= portsz ||
	    colon[1] == '\0')
		return -EINVAL;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	strcpy(port, colon + 1);
	return check_port(port);
}

static int family_of(enum net_kind kind)
{
	return kind == NET_TCP4 ? AF_INET :
	       kind == NET_TCP6 ? AF_INET6 : AF_UNSPEC;
}

/* getaddrinfo on a thread without a P: it can block on DNS. */
static int resolve(const char *host, const char *port, int family,
		   bool passive, struct addrinfo **res)
{
	struct addrinfo hints;
	int err;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = (passive ? AI_PASSIVE : 0) | AI_NUMERICSERV;
	{
		/* numeric first: no thread hand-off for "127.0.0.1:80" */
		struct addrinfo nh = hints;

		nh.ai_flags |= AI_NUMERICHOST;
		err = getaddrinfo(host, port, &nh, res);
		if (err == 0)
			return 0;
	}
	gort_syscall_begin();
	err = getaddrinfo(host, port, &hints, res);
	gort_syscall_end();
	switch (err) {
	case 0:
		return 0;
	case EAI_NONAME:
	case EAI_NODATA:
		return -ENOENT;
	case EAI_AGAIN:
		return -EAGAIN;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SERVICE:
	case EAI_BADFLAGS:
		return -EINVAL;
	case EAI_FAMILY:
		return -EAFNOSUPPORT;
	case EAI_SYSTEM:
		return -errno;
	default:
		return -EINVAL;
	}
}

static void fd_fresh(int fd)
{
	struct gort_fd *fds = gort_netpoll.ops ? gort_fd_get(fd, false) : NULL;

	if (!fds || !READ_ONCE(fds->init))
		return;
	gort_lock(&fds->lock);
	if (fds->nops == 0)
		WRITE_ONCE(fds->init, false);	/* set up again at first use */
	gort_unlock(&fds->lock);
}

static int unix_addr(const char *path, struct sockaddr_un *sun,
		     socklen_t *len)
{
	size_t n = path ? strlen(path) : 0;

	if (n == 0 || n >= sizeof(sun->sun_path))
		return -EINVAL;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, n);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

static int listen_on(int family, const struct sockaddr *sa, socklen_t salen,
		     bool v6only, int backlog)
{
	int fd, one = 1, err;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (family != AF_UNIX &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		goto fail;
	if (family == AF_INET6) {
		int v = v6only;

		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)))
			goto fail;
	}
	if (bind(fd, sa, salen) || listen(fd, backlog))
		goto fail;
	fd_fresh(fd);
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

GORT_API int gort_listen(const char *network, const char *address,
			 int backlog)
{
	char host[256], port[32];
	struct addrinfo *res, *ai;
	enum net_kind kind;
	int err, fd = -EADDRNOTAVAIL;

	err = parse_network(network, &kind);
	if (err)
		return err;
	if (backlog <= 0)
		backlog = SOMAXCONN;
	if (kind == NET_UNIX) {
		struct sockaddr_un sun;
		socklen_t len;

		err = unix_addr(address, &sun, &len);
		if (err)
			return err;
		return listen_on(AF_UNIX, (struct sockaddr *)&sun, len, false,
				 backlog);
	}
	err = split_host_port(address, host, sizeof(host), port, sizeof(port));
	if (err)
		return err;
	if (host[0] == '\0' && kind != NET_TCP4) {
		struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
					   .sin6_addr = IN6ADDR_ANY_INIT };
		char *end;
		long p = strtol(port, &end, 10);

		if (*end || p < 0 || p > 65535)
			return -EINVAL;
		a6.sin6_port = htons((uint16_t)p);
		fd = listen_on(AF_INET6, (struct sockaddr *)&a6, sizeof(a6),
			       kind == NET_TCP6, backlog);
		if (fd != -EAFNOSUPPORT || kind == NET_TCP6)
			return fd;
		/* no IPv6 here: "tcp" falls back to IPv4 */
	}
	err = resolve(host[0] ? host : NULL, port, family_of(kind), true, &res);
	if (err)
		return err;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = listen_on(ai->ai_family, ai->ai_addr, ai->ai_addrlen,
			       ai->ai_family == AF_INET6 && kind == NET_TCP6,
			       backlog);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	return fd;
}

static void set_nodelay(int fd)
{
	int one = 1;

	/* fails harmlessly on unix sockets */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

GORT_API int gort_accept(int lfd, struct sockaddr *addr, socklen_t *addrlen)
{
	struct gort_ioreq rq = { .op = IO_ACCEPT, .fd = lfd, .buf = addr,
				 .addrlen = addrlen };
	struct gort_fd *fds;
	ssize_t r;

	if ((addr == NULL) != (addrlen == NULL))
		return -EINVAL;
	r = gort_io(&rq);
	fds = gort_netpoll.ops ? gort_fd_get(lfd, false) : NULL;
	if (r == -EMFILE || r == -ENFILE) {
		int ms = 1;

		/* a hint shared by a listener's accepters: no lock */
		if (fds) {
			ms = READ_ONCE(fds->accept_backoff_ms);
			if (!ms)
				ms = 1;
			WRITE_ONCE(fds->accept_backoff_ms,
				   ms * 2 > 100 ? 100 : ms * 2);
		}
		gort_sleep((int64_t)ms * 1000000);
		return (int)r;
	}
	if (r < 0)
		return (int)r;
	if (fds && READ_ONCE(fds->accept_backoff_ms))
		WRITE_ONCE(fds->accept_backoff_ms, 0);
	fd_fresh((int)r);
	set_nodelay((int)r);
	return (int)r;
}

static int dial_one(const struct addrinfo *ai, int64_t deadline)
{
	struct gort_ioreq rq = { .op = IO_CONNECT };
	int fd, err;

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	fd_fresh(fd);
	if (deadline) {
		err = gort_set_deadline(fd, 0, deadline);
		if (err)
			goto fail;
	}
	rq.fd = fd;
	rq.buf = ai->ai_addr;
	rq.len = ai->ai_addrlen;
	err = (int)gort_io(&rq);
	if (err)
		goto fail;
	if (deadline)
		gort_set_deadline(fd, 0, 0);
	if (ai->ai_family != AF_UNIX)
		set_nodelay(fd);
	return fd;
fail:
	gort_close(fd);
	return err;
}

GORT_API int gort_dial(const char *network, const char *address,
		       int64_t timeout_ns)
{
	char host[256], port[32];
	struct addrinfo *res, *ai;
	enum net_kind kind;
	int64_t deadline = 0;
	int err, fd = -ECONNREFUSED;

	err = parse_network(network, &kind);
	if (err)
		return err;
	if (timeout_ns > 0)
		deadline = gort_nanotime() + timeout_ns;
	if (kind == NET_UNIX) {
		struct sockaddr_un sun;
		struct addrinfo one;
		socklen_t len;

		err = unix_addr(address, &sun, &len);
		if (err)
			return err;
		memset(&one, 0, sizeof(one));
		one.ai_family = AF_UNIX;
		one.ai_addr = (struct sockaddr *)&sun;
		one.ai_addrlen = len;
		return dial_one(&one, deadline);
	}
	err = split_host_port(address, host, sizeof(host), port, sizeof(port));
	if (err)
		return err;
	if (host[0] == '\0')
		strcpy(host, kind == NET_TCP6 ? "::1" : "127.0.0.1");
	err = resolve(host, port, family_of(kind), false, &res);
	if (err)
		return err;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = dial_one(ai, deadline);
		if (fd >= 0 || fd == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	return fd;
}

GORT_API ssize_t gort_read(int fd, void *buf, size_t len)
{
	struct gort_ioreq rq = { .op = IO_READ, .fd = fd, .buf = buf,
				 .len = len };

	if (len > INT_MAX)
		rq.len = INT_MAX;
	return gort_io(&rq);
}

/*
 * MSG_WAITALL waits for len bytes (less only at EOF or an error, as
 * recv(2) does).  The kernel does the waiting for a blocking socket and
 * for io_uring, but a non-blocking recv returns what is there, so the
 * epoll poller's requests are repeated here until all of it came.
 */
GORT_API ssize_t gort_recv(int fd, void *buf, size_t len, int flags)
{
	struct gort_ioreq rq = { .op = IO_RECV, .fd = fd, .buf = buf,
				 .len = len, .flags = flags };
	size_t done = 0;
	ssize_t r;

	if (len > INT_MAX)
		rq.len = len = INT_MAX;
	if (!(flags & MSG_WAITALL) || (flags & (MSG_PEEK | MSG_DONTWAIT)))
		return gort_io(&rq);
	for (;;) {
		r = gort_io(&rq);
		if (r <= 0)
			return done ? (ssize_t)done : r;
		done += (size_t)r;
		if (done >= len)
			return (ssize_t)done;
		rq.buf = (char *)buf + done;
		rq.len = len - done;
	}
}

GORT_API ssize_t gort_send(int fd, const void *buf, size_t len, int flags)
{
	struct gort_ioreq rq = { .op = IO_SEND, .fd = fd, .buf = (void *)buf,
				 .len = len, .flags = flags };

	if (len > INT_MAX)
		rq.len = INT_MAX;
	return gort_io(&rq);
}

GORT_API ssize_t gort_pread(int fd, void *buf, size_t len, off_t off)
{
	struct gort_ioreq rq = { .op = IO_PREAD, .fd = fd, .buf = buf,
				 .len = len, .off = off };

	if (off < 0)
		return -EINVAL;
	if (len > INT_MAX)
		rq.len = INT_MAX;
	return gort_io(&rq);
}

GORT_API ssize_t gort_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	struct gort_ioreq rq = { .op = IO_PWRITE, .fd = fd, .buf = (void *)buf,
				 .len = len, .off = off };
	size_t done = 0;

	if (off < 0)
		return -EINVAL;
	while (done < len) {
		ssize_t r;

		rq.buf = (char *)buf + done;
		rq.len = len - done > INT_MAX ? INT_MAX : len - done;
		rq.off = off + (off_t)done;
		r = gort_io(&rq);
		if (r < 0)
			return r;
		if (r == 0)
			return -EIO;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

GORT_API ssize_t gort_write(int fd, const void *buf, size_t len)
{
	struct gort_ioreq rq = { .op = IO_WRITE, .fd = fd };
	size_t done = 0;

	do {
		ssize_t r;

		rq.buf = (char *)buf + done;
		rq.len = len - done > INT_MAX ? INT_MAX : len - done;
		r = gort_io(&rq);
		if (r < 0)
			return r;
		if (r == 0 && len > 0)
			return -EIO;
		done += (size_t)r;
	} while (done < len);
	return (ssize_t)done;
}

GORT_API ssize_t gort_readv(int fd, const struct iovec *iov, int iovcnt)
{
	struct gort_ioreq rq = { .op = IO_READ, .fd = fd, .iov = iov,
				 .iovcnt = iovcnt };

	if (iovcnt <= 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	return gort_io(&rq);
}

GORT_API ssize_t gort_writev(int fd, const struct iovec *iov, int iovcnt)
{
	struct iovec local[64], *v;
	struct gort_ioreq rq = { .op = IO_WRITE, .fd = fd };
	size_t total = 0, done = 0;
	int i, first = 0;

	if (iovcnt <= 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	v = iovcnt <= (int)ARRAY_SIZE(local) ? local :
					      malloc(sizeof(*v) * iovcnt);
	if (!v)
		return -ENOMEM;
	memcpy(v, iov, sizeof(*v) * iovcnt);
	for (i = 0; i < iovcnt; i++)
		total += v[i].iov_len;
	while (done < total) {
		ssize_t r;
		size_t n;

		while (first < iovcnt && v[first].iov_len == 0)
			first++;
		rq.iov = v + first;
		rq.iovcnt = iovcnt - first;
		r = gort_io(&rq);
		if (r <= 0) {
			done = r < 0 ? (size_t)r : (size_t)-EIO;
			break;
		}
		done += (size_t)r;
		for (n = (size_t)r; n > 0 && first < iovcnt; first++) {
			if (n < v[first].iov_len) {
				v[first].iov_base = (char *)v[first].iov_base + n;
				v[first].iov_len -= n;
				break;
			}
			n -= v[first].iov_len;
			v[first].iov_len = 0;
		}
	}
	if (v != local)
		free(v);
	return (ssize_t)done;
}

GORT_API int gort_close(int fd)
{
	if (fd < 0)
		return -EBADF;
	return gort_fd_close(fd);
}

GORT_API int gort_set_deadline(int fd, int64_t read_deadline,
			       int64_t write_deadline)
{
	if (!gort_netpoll.ops)
		return -ENOSYS;		/* outside gort_main */
	return gort_fd_set_deadline(fd, read_deadline, write_deadline);
}
