// SPDX-License-Identifier: MIT
/*
 * epoll.c - the readiness poller, for kernels or sandboxes without
 * io_uring (qemu-user, io_uring_disabled, seccomp) and GORT_NETPOLL=epoll.
 *
 * Go's model: a descriptor is made non-blocking and registered once,
 * edge-triggered, for both directions.  An operation tries the system call;
 * on EAGAIN the goroutine waits for the descriptor to become ready in that
 * direction and tries again.  An edge that arrives while nobody waits is
 * remembered (fds->ready), so it is never lost between a failed attempt
 * and the wait.
 *
 * Every wake-up of a waiting op happens under the fd lock and sets
 * op->woken first, so readiness, the deadline timer, gort_close and a
 * deadline change cannot wake a goroutine twice.  A deadline change wakes
 * the waiters with -EAGAIN: they wait again under the new deadline (moving
 * the timer from under the fd lock would deadlock with its callback, which
 * takes that lock).
 *
 * Descriptors epoll cannot watch (regular files: EPERM) run their system
 * call between gort_syscall_begin and gort_syscall_end, so a slow disk
 * costs a thread, never a P.
 *
 * Lock order: fd lock -> timer lock.  The park's commit callback drops the
 * fd lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netpoll.h"

static int epoll_init(void)
{
	return 0;
}

static void epoll_fini(void)
{
}

static int epoll_fd_init(struct gort_fd *fds)
{
	int fl = fcntl(fds->fd, F_GETFL);
	int err;

	if (fl < 0)
		return -errno;
	err = gort_netpoll_watch(fds->fd,
				 EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				 fds);
	if (err == -EPERM) {
		fds->nopoll = true;	/* a regular file or a directory */
		return 0;
	}
	if (err == -EEXIST)
		err = 0;	/* registered by an earlier incarnation */
	if (err)
		return err;
	if (!(fl & O_NONBLOCK) && fcntl(fds->fd, F_SETFL, fl | O_NONBLOCK))
		return -errno;
	return 0;
}

/* Under fds->lock. */
static void wake_op(struct gort_pollop *op, int res)
{
	op->woken = true;
	op->res = res;
	gort_netpoll_trace_ready(op->gp, res);
	gort_goready_io(op->gp);
}

static void deadline_fire(void *arg, int64_t now)
{
	struct gort_pollop *op = arg;
	struct gort_fd *fds = op->fds;

	gort_lock(&fds->lock);
	if (!op->woken) {
		atomic_store(&op->timedout, true);
		wake_op(op, -ETIMEDOUT);
	}
	gort_unlock(&fds->lock);
}

static bool park_commit(struct gort_g *gp, void *arg)
{
	struct gort_pollop *op = arg;

	if (op->deadline)
		gort_timer_rt_start(&op->timer, op->deadline);
	gort_unlock(&op->fds->lock);
	return true;
}

/*
 * Wait until fds is ready for mode: 0 (try again) or -errno.  The caller
 * may loop over several waits, and after a park the goroutine runs on
 * whichever M took it, so the M is looked up here, never passed in.
 */
static int wait_ready(struct gort_fd *fds, int mode, enum gort_io_op rop)
{
	struct gort_pollop op;
	int res;

	gort_lock(&fds->lock);
	if (fds->closing) {
		gort_unlock(&fds->lock);
		return -ECANCELED;
	}
	if (fds->ready[mode]) {
		fds->ready[mode] = false;
		gort_unlock(&fds->lock);
		return 0;
	}
	memset(&op, 0, sizeof(op));
	op.gp = gort_getg();	/* not m->curg: m may be a former M */
	op.fds = fds;
	op.mode = mode;
	op.deadline = fds->deadline[mode];
	if (op.deadline && op.deadline <= gort_nanotime_internal()) {
		gort_unlock(&fds->lock);
		return -ETIMEDOUT;
	}
	gort_timer_rt_init(&op.timer, deadline_fire, &op);
	op.next = fds->ops;
	fds->ops = &op;
	fds->nops++;
	atomic_fetch_add_explicit(&gort_netpoll.waiters, 1,
				  memory_order_relaxed);
	gort_netpoll_trace_block(gort_getm(), fds->fd, rop);
	gort_gopark(park_commit, &op, WR_IO_WAIT);
	atomic_fetch_sub_explicit(&gort_netpoll.waiters, 1,
				  memory_order_relaxed);
	gort_timer_rt_stop(&op.timer);
	res = op.res;
	gort_fd_op_done(fds, &op);
	return res;
}

static ssize_t epoll_io(struct gort_fd *fds, const struct gort_ioreq *rq,
			struct gort_m *m)
{
	int mode = gort_io_mode(rq->op);
	int64_t dl = READ_ONCE(fds->deadline[mode]);
	ssize_t r;
	int w;

	/*
	 * A passed deadline fails the operation before it is tried, even if
	 * it could proceed, as in Go and as under io_uring: otherwise a
	 * reader with data always waiting would never see its deadline.
	 */
	if (dl && dl <= gort_nanotime_internal())
		return -ETIMEDOUT;
	if (fds->nopoll) {
		if (rq->op == IO_POLL_IN || rq->op == IO_POLL_OUT)
			return 0;	/* always ready, as poll(2) says */
		gort_syscall_begin();
		do
			r = gort_io_syscall(rq, 0);
		while (r == -EINTR);
		gort_syscall_end();
		return r;
	}
	if (rq->op == IO_CONNECT) {
		int err = 0;
		socklen_t el = sizeof(err);

		r = gort_io_syscall(rq, 0);
		if (r != -EINPROGRESS && r != -EAGAIN)
			return r;
		for (;;) {
			w = wait_ready(fds, IO_MODE_WRITE, IO_CONNECT);
			if (w == -EAGAIN)
				continue;	/* deadline moved */
			if (w)
				return w;
			if (getsockopt(rq->fd, SOL_SOCKET, SO_ERROR, &err, &el))
				return -errno;
			if (err == 0) {
				struct sockaddr_storage peer;
				socklen_t pl = sizeof(peer);

				/*
				 * The wake-up can be stale: registering an
				 * unconnected socket reports it writable, and
				 * that edge may be the one remembered.  Only
				 * a peer address means connected (Go checks
				 * the same way).
				 */
				if (!getpeername(rq->fd,
						 (struct sockaddr *)&peer, &pl))
					return 0;
				if (errno != ENOTCONN)
					return -errno;
				continue;
			}
			if (err != EINPROGRESS && err != EALREADY)
				return -err;
		}
	}
	for (;;) {
		if (rq->op == IO_POLL_IN || rq->op == IO_POLL_OUT) {
			r = -EAGAIN;
		} else {
			r = gort_io_syscall(rq, 0);
			if (r == -EINTR)
				continue;
		}
		if (r != -EAGAIN || gort_io_nowait(rq))
			return r;
		w = wait_ready(fds, mode, rq->op);
		if (w == -EAGAIN)
			continue;
		if (w)
			return w;
		if (rq->op == IO_POLL_IN || rq->op == IO_POLL_OUT)
			return 0;
	}
}

/* Readiness of fds; runs on whichever M polled. */
static void epoll_event(void *ptr, uint32_t mask)
{
	struct gort_fd *fds = ptr;
	bool rd = mask & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
	bool wr = mask & (EPOLLOUT | EPOLLHUP | EPOLLERR);
	bool rwoke = false, wwoke = false;
	struct gort_pollop *op;

	gort_lock(&fds->lock);
	for (op = fds->ops; op; op = op->next) {
		if (op->woken)
			continue;
		if (op->mode == IO_MODE_READ && rd) {
			wake_op(op, 0);
			rwoke = true;
		} else if (op->mode == IO_MODE_WRITE && wr) {
			wake_op(op, 0);
			wwoke = true;
		}
	}
	if (rd && !rwoke)
		fds->ready[IO_MODE_READ] = true;
	if (wr && !wwoke)
		fds->ready[IO_MODE_WRITE] = true;
	gort_unlock(&fds->lock);
}

/* Under fds->lock. */
static void epoll_cancel_all(struct gort_fd *fds, int res)
{
	struct gort_pollop *op;

	for (op = fds->ops; op; op = op->next)
		if (!op->woken)
			wake_op(op, res);
}

/* Under fds->lock: waiters of mode wait again with the new deadline. */
static void epoll_deadline_changed(struct gort_fd *fds, int mode)
{
	struct gort_pollop *op;

	for (op = fds->ops; op; op = op->next)
		if (op->mode == mode && !op->woken)
			wake_op(op, -EAGAIN);
}

static int epoll_poll_p(struct gort_p *p)
{
	if (!gort_netpoll_waiting())
		return 0;
	return gort_netpoll_epoll_nb();
}

static void epoll_sysmon(void)
{
	static int64_t last;
	int64_t now = gort_nanotime_internal();

	/* Go's sysmon polls when nobody has for 10 ms */
	if (atomic_load_explicit(&gort_netpoll.blocking,
				 memory_order_relaxed) ||
	    now - last < 10000000)
		return;
	last = now;
	gort_netpoll_epoll_nb();
}

const struct gort_netpoll_ops gort_netpoll_epoll = {
	.name = "epoll",
	.init = epoll_init,
	.fini = epoll_fini,
	.fd_init = epoll_fd_init,
	.io = epoll_io,
	.cancel_all = epoll_cancel_all,
	.deadline_changed = epoll_deadline_changed,
	.poll_p = epoll_poll_p,
	.event = epoll_event,
	.sysmon = epoll_sysmon,
};
