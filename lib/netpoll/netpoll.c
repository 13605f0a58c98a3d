// SPDX-License-Identifier: MIT
/*
 * netpoll.c - what the io_uring and epoll pollers share: choosing one, the
 * descriptor table and its deadlines, gort_close, and the blocking poll of
 * an idle M.
 *
 * Choosing.  GORT_NETPOLL=uring|epoll forces a poller (uring fails loudly
 * when the kernel refuses it); by default io_uring is tried once at start
 * and epoll is used when io_uring_setup fails (ENOSYS under qemu-user or an
 * old kernel, EPERM under kernel.io_uring_disabled or a seccomp filter,
 * ENOMEM when RLIMIT_MEMLOCK is too small).  GORT_DEBUG=netpoll... is not
 * needed: gort_netpoll_name() says which one runs and why.
 *
 * The blocking poll.  Go lets exactly one idle M block in netpoll; gort
 * does the same with one epoll instance (epfd).  Under io_uring it holds
 * every P's ring descriptor (readable when that ring has completions), so
 * one M can wait for all rings at once, whichever P they belong to; under
 * epoll it holds the sockets themselves.  An eventfd (breakfd) in the same
 * set lets the runtime end the wait (teardown, a timer that became due
 * earlier than the poller's timeout).
 *
 * Descriptor table.  A two-level array indexed by fd, grown on demand and
 * never shrunk while the runtime runs, so a struct gort_fd pointer stays
 * valid for the life of the run (an epoll event of a closed descriptor
 * only causes a spurious retry).  gort_close marks the entry closing, ends
 * every waiting operation with -ECANCELED, waits until the poller no longer
 * uses the descriptor, and only then closes it: a descriptor number is
 * never reused while an io_uring request still names it.
 *
 * Invariants:
 *  - gort_netpoll.waiters counts goroutines parked in a poller.  An idle M
 *    blocks in epoll_wait only while it is positive, so a program whose
 *    goroutines all wait on channels still gets the deadlock report.
 *  - A pollop is on its fd's list from before it can be woken until its
 *    goroutine has run again and stopped its deadline timer.
 *
 * Rejected alternatives:
 *  1. An idle M per P, each blocked in its P's ring: waking idle vCPUs
 *     costs 20-25 us here, and with several idle Ps every completion would
 *     wake a different thread; one blocked poller, as in Go, wakes one.
 *  2. A hash map for the descriptor table: descriptors are small dense
 *     integers, and the array costs one load on the hot path.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netpoll.h"

struct gort_netpoll gort_netpoll = { .epfd = -1, .breakfd = -1 };

#define FD_CHUNK 1024
#define FD_CHUNKS_MAX 4096	/* 4M descriptors */

static struct gort_fd *_Atomic fd_chunks[FD_CHUNKS_MAX];
static struct gort_lock fd_grow_lock;

int gort_netpoll_watch(int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	if (epoll_ctl(gort_netpoll.epfd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	return 0;
}

int gort_netpoll_init(void)
{
	const struct gort_netpoll_ops *ops;
	int err;

	gort_netpoll.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (gort_netpoll.epfd < 0)
		return -errno;
	gort_netpoll.breakfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (gort_netpoll.breakfd < 0) {
		err = -errno;
		goto close_epfd;
	}
	err = gort_netpoll_watch(gort_netpoll.breakfd, EPOLLIN, NULL);
	if (err)
		goto close_breakfd;

	ops = gort_config.netpoll == 2 ? &gort_netpoll_epoll :
					 &gort_netpoll_uring;
	err = ops->init();
	if (err && gort_config.netpoll == 1) {
		gort_fatal("runtime: GORT_NETPOLL=uring: io_uring is not available: %s",
			   strerror(-err));
	}
	if (err) {
		snprintf(gort_netpoll.why_epoll, sizeof(gort_netpoll.why_epoll),
			 "io_uring_setup: %s", strerror(-err));
		ops = &gort_netpoll_epoll;
		err = ops->init();
		if (err)
			goto close_breakfd;
	} else if (ops == &gort_netpoll_epoll) {
		snprintf(gort_netpoll.why_epoll, sizeof(gort_netpoll.why_epoll),
			 "GORT_NETPOLL=epoll");
	}
	gort_netpoll.ops = ops;
	return 0;

close_breakfd:
	close(gort_netpoll.breakfd);
	gort_netpoll.breakfd = -1;
close_epfd:
	close(gort_netpoll.epfd);
	gort_netpoll.epfd = -1;
	return err;
}

void gort_netpoll_fini(void)
{
	int i;

	if (gort_netpoll.ops)
		gort_netpoll.ops->fini();
	for (i = 0; i < FD_CHUNKS_MAX; i++) {
		struct gort_fd *chunk = atomic_load(&fd_chunks[i]);

		if (!chunk)
			continue;
		free(chunk);
		atomic_store(&fd_chunks[i], NULL);
	}
	if (gort_netpoll.breakfd >= 0)
		close(gort_netpoll.breakfd);
	if (gort_netpoll.epfd >= 0)
		close(gort_netpoll.epfd);
	memset(&gort_netpoll, 0, sizeof(gort_netpoll));
	gort_netpoll.epfd = -1;
	gort_netpoll.breakfd = -1;
}

GORT_API const char *gort_netpoll_name(void)
{
	return gort_netpoll.ops ? gort_netpoll.ops->name : "none";
}

GORT_API const char *gort_netpoll_features(void)
{
	return gort_netpoll.ops == &gort_netpoll_uring ? gort_uring_features() :
							 "";
}

/* ---- descriptor table ---- */

struct gort_fd *gort_fd_get(int fd, bool create)
{
	struct gort_fd *chunk, *fds, *entry;
	unsigned int ci;

	if (fd < 0 || fd >= FD_CHUNK * FD_CHUNKS_MAX)
		return NULL;
	ci = (unsigned int)fd / FD_CHUNK;
	chunk = atomic_load_explicit(&fd_chunks[ci], memory_order_acquire);
	if (unlikely(!chunk)) {
		if (!create)
			return NULL;
		gort_lock(&fd_grow_lock);
		chunk = atomic_load(&fd_chunks[ci]);
		if (!chunk) {
			chunk = calloc(FD_CHUNK, sizeof(*chunk));
			if (chunk)
				atomic_store_explicit(&fd_chunks[ci], chunk,
						      memory_order_release);
		}
		gort_unlock(&fd_grow_lock);
		if (!chunk)
			return NULL;
	}
	fds = entry = &chunk[(unsigned int)fd % FD_CHUNK];
	if (likely(READ_ONCE(fds->init)) || !create)
		return fds;
	gort_lock(&entry->lock);
	if (!fds->init) {
		uint32_t gen = fds->gen;
		struct stat st;

		/* closed with close(2): what a poller queued is lost anyway */
		free(fds->accq);
		free(fds->rx_buf);
		memset((char *)fds + sizeof(fds->lock), 0,
		       sizeof(*fds) - sizeof(fds->lock));
		fds->gen = gen + 1;
		fds->fd = fd;
		if (fstat(fd, &st) == 0) {
			fds->is_sock = S_ISSOCK(st.st_mode);
			fds->no_pos = S_ISSOCK(st.st_mode) ||
				      S_ISFIFO(st.st_mode);
		}
		if (fds->is_sock) {
			int type = 0;
			socklen_t tl = sizeof(type);

			if (!getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl))
				fds->is_stream_sock = type == SOCK_STREAM;
		}
		if (gort_netpoll.ops->fd_init(fds) == 0)
			WRITE_ONCE(fds->init, true);
		else
			fds = NULL;
	}
	gort_unlock(&entry->lock);
	return fds;
}

void gort_fd_op_done(struct gort_fd *fds, struct gort_pollop *op)
{
	struct gort_pollop **pp;
	struct gort_g *closer = NULL;

	gort_lock(&fds->lock);
	for (pp = &fds->ops; *pp; pp = &(*pp)->next) {
		if (*pp == op) {
			*pp = op->next;
			fds->nops--;
			break;
		}
	}
	if (fds->nops == 0 && fds->closer) {
		closer = fds->closer;
		fds->closer = NULL;
	}
	gort_unlock(&fds->lock);
	if (closer)
		gort_goready(closer);
}

bool gort_fd_unbusy(struct gort_fd *fds)
{
	struct gort_g *closer = NULL;

	gort_lock(&fds->lock);
	fds->nops--;
	if (fds->nops == 0 && fds->closer) {
		closer = fds->closer;
		fds->closer = NULL;
	}
	gort_unlock(&fds->lock);
	/* from a reaper, as the poller's other wake-ups: behind the queue */
	if (closer)
		gort_goready_io(closer);
	return closer;
}

static bool close_park_commit(struct gort_g *gp, void *arg)
{
	struct gort_fd *fds = arg;

	gort_unlock(&fds->lock);
	return true;
}

int gort_fd_close(int fd)
{
	struct gort_fd *fds = gort_fd_get(fd, false);
	struct gort_m *m;
	struct gort_g *self;

	if (fds && READ_ONCE(fds->init)) {
		/* the goroutine, not its M: it may resume on another M */
		m = gort_rt_enter();
		self = m ? m->curg : NULL;
		gort_lock(&fds->lock);
		if (!fds->init || fds->closing) {
			gort_unlock(&fds->lock);
			gort_rt_exit();
			goto plain;
		}
		/* uring_one reads it under the ring lock, not this one */
		WRITE_ONCE(fds->closing, true);
		gort_netpoll.ops->cancel_all(fds, -ECANCELED);
		while (fds->nops > 0) {
			if (!self) {
				/* a foreign thread: the ops end soon */
				gort_unlock(&fds->lock);
				sched_yield();
				gort_lock(&fds->lock);
				continue;
			}
			fds->closer = self;
			/*
			 * A poller: a multishot's last completion, which no
			 * other goroutine waits for, is what wakes it.
			 */
			atomic_fetch_add_explicit(&gort_netpoll.waiters, 1,
						  memory_order_relaxed);
			gort_gopark(close_park_commit, fds, WR_IO_WAIT);
			atomic_fetch_sub_explicit(&gort_netpoll.waiters, 1,
						  memory_order_relaxed);
			gort_lock(&fds->lock);
		}
		if (gort_netpoll.ops->fd_release)
			gort_netpoll.ops->fd_release(fds);
		WRITE_ONCE(fds->init, false);
		gort_unlock(&fds->lock);
		gort_rt_exit();
	}
plain:
	if (close(fd))
		return errno == EINTR ? 0 : -errno;
	return 0;
}

int gort_fd_set_deadline(int fd, int64_t rd, int64_t wd)
{
	struct gort_fd *fds;

	if (rd < 0 || wd < 0)
		return -EINVAL;
	if (fcntl(fd, F_GETFD) < 0)
		return -errno;
	fds = gort_fd_get(fd, true);
	if (!fds)
		return -ENOMEM;
	gort_lock(&fds->lock);
	if (fds->closing) {
		gort_unlock(&fds->lock);
		return -EBADF;
	}
	/* io_uring's multishot reads look without the lock */
	if (fds->deadline[IO_MODE_READ] != rd) {
		WRITE_ONCE(fds->deadline[IO_MODE_READ], rd);
		gort_netpoll.ops->deadline_changed(fds, IO_MODE_READ);
	}
	if (fds->deadline[IO_MODE_WRITE] != wd) {
		WRITE_ONCE(fds->deadline[IO_MODE_WRITE], wd);
		gort_netpoll.ops->deadline_changed(fds, IO_MODE_WRITE);
	}
	gort_unlock(&fds->lock);
	return 0;
}

/* ---- blocking calls on foreign threads ---- */

int gort_io_mode(enum gort_io_op op)
{
	switch (op) {
	case IO_WRITE:
	case IO_PWRITE:
	case IO_SEND:
	case IO_CONNECT:
	case IO_POLL_OUT:
		return IO_MODE_WRITE;
	default:
		return IO_MODE_READ;
	}
}

/* The system call itself, as the request describes it. */
ssize_t gort_io_syscall(const struct gort_ioreq *rq, int extra_flags)
{
	ssize_t r;

	switch (rq->op) {
	case IO_READ:
		r = rq->iovcnt ? readv(rq->fd, rq->iov, rq->iovcnt) :
				 read(rq->fd, rq->buf, rq->len);
		break;
	case IO_WRITE:
		r = rq->iovcnt ? writev(rq->fd, rq->iov, rq->iovcnt) :
				 write(rq->fd, rq->buf, rq->len);
		break;
	case IO_PREAD:
		r = pread(rq->fd, rq->buf, rq->len, rq->off);
		break;
	case IO_PWRITE:
		r = pwrite(rq->fd, rq->buf, rq->len, rq->off);
		break;
	case IO_RECV:
		r = recv(rq->fd, rq->buf, rq->len, rq->flags | extra_flags);
		break;
	case IO_SEND:
		if (rq->iovcnt)
			r = sendmsg(rq->fd, &rq->msg,
				    rq->flags | extra_flags | MSG_NOSIGNAL);
		else
			r = send(rq->fd, rq->buf, rq->len,
				 rq->flags | extra_flags | MSG_NOSIGNAL);
		break;
	case IO_ACCEPT:
		r = accept4(rq->fd, rq->buf, rq->addrlen,
			    rq->flags | SOCK_CLOEXEC);
		break;
	case IO_CONNECT:
		r = connect(rq->fd, rq->buf, (socklen_t)rq->len);
		break;
	default:
		errno = EINVAL;
		r = -1;
	}
	return r < 0 ? -errno : r;
}

/*
 * A thread gort did not start (or gort_main not running): block the
 * thread, honouring the deadline with poll(2).
 */
static ssize_t io_blocking(const struct gort_ioreq *rq, int64_t deadline)
{
	int mode = gort_io_mode(rq->op);
	ssize_t r;

	for (;;) {
		struct pollfd pfd = { .fd = rq->fd,
				      .events = mode ? POLLOUT : POLLIN };
		int timeout = -1;

		if (deadline) {
			int64_t left = deadline - gort_nanotime_internal();

			if (left <= 0)
				return -ETIMEDOUT;
			timeout = (int)((left + 999999) / 1000000);
		}
		if (rq->op == IO_POLL_IN || rq->op == IO_POLL_OUT ||
		    deadline || rq->op == IO_CONNECT) {
			int n = poll(&pfd, 1, timeout);

			if (n < 0 && errno != EINTR)
				return -errno;
			if (n <= 0)
				continue;
			if (rq->op == IO_POLL_IN || rq->op == IO_POLL_OUT)
				return 0;
		}
		r = gort_io_syscall(rq, 0);
		if (r == -EINTR)
			continue;
		if (r == -EAGAIN && !gort_io_nowait(rq) &&
		    (deadline || rq->op != IO_CONNECT)) {
			struct pollfd p2 = pfd;

			if (!deadline)
				poll(&p2, 1, -1);
			continue;
		}
		return r;
	}
}

/*
 * A write to a socket as a send (sendmsg for vectors) with MSG_NOSIGNAL:
 * write(2) on a connection the peer reset or that was shut down raises
 * SIGPIPE, which kills a C program by default.  Go ignores that SIGPIPE
 * and returns EPIPE; so does gort, without touching the process's
 * signal dispositions.  srq holds the rewritten request.
 */
static const struct gort_ioreq *write_as_send(const struct gort_ioreq *rq,
					      struct gort_ioreq *srq)
{
	*srq = *rq;
	srq->op = IO_SEND;
	srq->flags = 0;
	if (rq->iovcnt) {
		memset(&srq->msg, 0, sizeof(srq->msg));
		srq->msg.msg_iov = (struct iovec *)rq->iov;
		srq->msg.msg_iovlen = (size_t)rq->iovcnt;
	}
	return srq;
}

ssize_t gort_io(const struct gort_ioreq *rq)
{
	struct gort_ioreq srq;
	struct gort_fd *fds;
	struct gort_m *m;
	ssize_t r;

	/*
	 * Go's Read and Write of nothing return 0 at once; recv(2) of 0
	 * bytes would instead wait for data to arrive on a stream socket.
	 */
	if (rq->len == 0 && rq->iovcnt == 0 &&
	    (rq->op == IO_READ || rq->op == IO_WRITE || rq->op == IO_RECV ||
	     rq->op == IO_SEND || rq->op == IO_PREAD || rq->op == IO_PWRITE))
		return fcntl(rq->fd, F_GETFD) < 0 ? -EBADF : 0;
	m = gort_rt_enter();
	if (!m || !m->curg || !gort_netpoll.ops) {
		int64_t dl = 0;
		struct stat st;
		bool sock;

		gort_rt_exit();
		fds = gort_netpoll.ops ? gort_fd_get(rq->fd, false) : NULL;
		if (fds && READ_ONCE(fds->init)) {
			dl = READ_ONCE(fds->deadline[gort_io_mode(rq->op)]);
			sock = fds->is_sock;
		} else {
			sock = rq->op == IO_WRITE && fstat(rq->fd, &st) == 0 &&
			       S_ISSOCK(st.st_mode);
		}
		if (rq->op == IO_WRITE && sock)
			rq = write_as_send(rq, &srq);
		return io_blocking(rq, dl);
	}
	fds = gort_fd_get(rq->fd, true);
	if (!fds) {
		gort_rt_exit();
		return fcntl(rq->fd, F_GETFD) < 0 ? -EBADF : -ENOMEM;
	}
	if (rq->op == IO_WRITE && fds->is_sock)
		rq = write_as_send(rq, &srq);
	/*
	 * io_uring ignores the offset of a stream (a pipe read at an offset
	 * just reads, and may wait forever); pread(2) says ESPIPE.
	 */
	if ((rq->op == IO_PREAD || rq->op == IO_PWRITE) && fds->no_pos) {
		gort_rt_exit();
		return -ESPIPE;
	}
	r = gort_netpoll.ops->io(fds, rq, m);
	gort_rt_exit();
	return r;
}

/* ---- the blocking poller ---- */

void gort_netpoll_break(void)
{
	uint64_t one = 1;

	if (gort_netpoll.breakfd < 0)
		return;
	if (atomic_exchange(&gort_netpoll.break_pending, 1))
		return;
	if (write(gort_netpoll.breakfd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, a wake-up is pending anyway */
	}
}

static bool dispatch(struct epoll_event *ev, int n)
{
	bool any = false;

	for (int i = 0; i < n; i++) {
		if (!ev[i].data.ptr) {
			uint64_t v;

			if (read(gort_netpoll.breakfd, &v, sizeof(v)) < 0) {
				/* EAGAIN: another reader took it */
			}
			atomic_store(&gort_netpoll.break_pending, 0);
			continue;
		}
		gort_netpoll.ops->event(ev[i].data.ptr, ev[i].events);
		any = true;
	}
	return any;
}

bool gort_netpoll_block(int64_t ns)
{
	struct epoll_event ev[128];
	int timeout, n;

	if (ns < 0)
		timeout = -1;
	else
		timeout = (int)((ns + 999999) / 1000000);
	n = epoll_wait(gort_netpoll.epfd, ev, (int)ARRAY_SIZE(ev), timeout);
	if (n <= 0)
		return false;
	return dispatch(ev, n);
}

void gort_netpoll_sysmon(void)
{
	if (gort_netpoll.ops && gort_netpoll_waiting())
		gort_netpoll.ops->sysmon();
}

/* Non-blocking epoll_wait for the epoll poller's findrunnable and sysmon. */
int gort_netpoll_epoll_nb(void)
{
	struct epoll_event ev[128];
	int n = epoll_wait(gort_netpoll.epfd, ev, (int)ARRAY_SIZE(ev), 0);

	if (n <= 0)
		return 0;
	dispatch(ev, n);
	return n;
}
