// SPDX-License-Identifier: MIT
/*
 * uring.c - the io_uring poller: one ring per P.
 *
 * A goroutine's read, write, accept or connect becomes one SQE on the ring
 * of the P it runs on; the goroutine parks, and the SQE is submitted in a
 * batch with everything else the P's goroutines queued, when the P runs
 * out of goroutines (findrunnable) or the submission queue fills.  The
 * kernel tries each request at once and arms its own poll otherwise, so a
 * request costs no system call of its own: one io_uring_enter submits the
 * batch and the completions come back in the same ring.
 *
 * Ring ownership when a P moves between Ms.  The ring belongs to the P,
 * not to a thread, so it is created without IORING_SETUP_SINGLE_ISSUER
 * (which binds a ring to the first task that submits).  A lock per ring
 * guards its submission and completion queues: the P's M takes it to queue
 * and to reap; the timer callback of a deadline and gort_close take it to
 * queue a cancel; sysmon and the blocked poller take it to reap a ring
 * whose P is busy or idle.  It is uncontended on the hot path.
 *
 * A remote wake-up reaches a ring through the shared epoll set: every ring
 * descriptor is in it, and the one idle M blocked there wakes when any
 * ring has completions, reaps that ring and readies the goroutines.
 *
 * In-flight operations.  A parked goroutine's request is identified by a
 * user_data that is the pollop's address with a 16-bit sequence number on
 * top, so a cancel that arrives after the request completed cannot hit a
 * later request at the same stack address.  A deadline's timer and
 * gort_close queue IORING_OP_ASYNC_CANCEL for it and submit at once; the
 * request then completes with -ECANCELED (or with its result, if it won
 * the race), which is the goroutine's only wake-up.  A request can be
 * cancelled before its SQE was queued (the closer or the timer ran first):
 * the goroutine checks both flags under the ring lock before it queues.
 *
 * Lock order: fd lock -> ring lock -> timer lock.  A ring lock is held
 * across a park only until the park's commit callback drops it, so that no
 * completion can ready a goroutine still switching away.
 *
 * Rejected alternatives:
 *  1. One ring for the whole process: every P would take one lock per
 *     request, and completions of all connections would funnel through
 *     whoever reaps it.
 *  2. SQPOLL: a kernel thread per ring spinning on a 2-CPU machine takes
 *     the CPU the goroutines need.
 *  3. IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN: completions would have to
 *     be reaped by the thread that created the ring, which a P outlives.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netpoll.h"

#define RING_ENTRIES 512
#define RING_CQ_ENTRIES 8192
#define TAG_SHIFT 48
#define PTR_MASK ((UINT64_C(1) << TAG_SHIFT) - 1)

struct gort_uring {
	struct gort_lock lock;		/* guards ring */
	struct io_uring ring;
	_Atomic uint16_t seq;		/* tag of the next request */
	_Atomic uint32_t queued;	/* SQEs not yet submitted */
	int id;				/* the P's id, for dumps */
	struct gort_uring *next;	/* all rings */
	/* sysmon's view */
	unsigned int seen_cq_head;	/* CQ head at its last look */
	unsigned int seen_queued;	/* queued SQEs at its last look */
};

/*
 * What other threads may look at without the ring lock: the kernel-shared
 * CQ indices (read atomically) and the count of queued SQEs.
 */
static inline unsigned int cq_pending(struct gort_uring *r)
{
	return __atomic_load_n(r->ring.cq.ktail, __ATOMIC_ACQUIRE) -
	       __atomic_load_n(r->ring.cq.khead, __ATOMIC_RELAXED);
}

static inline unsigned int sq_flags(struct gort_uring *r)
{
	return __atomic_load_n(r->ring.sq.kflags, __ATOMIC_RELAXED);
}

static void submit_locked(struct gort_uring *r)
{
	io_uring_submit(&r->ring);
	atomic_store_explicit(&r->queued, 0, memory_order_relaxed);
}

static struct gort_uring *_Atomic all_rings;
static struct gort_lock rings_lock;	/* creation of rings */
static bool have_poll_first;	/* IORING_RECVSEND_POLL_FIRST (5.19) */

static int ring_create(struct gort_uring **out, int id)
{
	struct io_uring_params params;
	struct gort_uring *r;
	int err;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	memset(&params, 0, sizeof(params));
	params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN |
		       IORING_SETUP_TASKRUN_FLAG;
	params.cq_entries = RING_CQ_ENTRIES;
	err = io_uring_queue_init_params(RING_ENTRIES, &r->ring, &params);
	if (err == -EINVAL) {
		/* before 5.19: completions interrupt the thread instead */
		params.flags = IORING_SETUP_CQSIZE;
		err = io_uring_queue_init_params(RING_ENTRIES, &r->ring,
						 &params);
	} else if (!err && id == 0) {
		/* the first ring, made before any goroutine runs, decides */
		have_poll_first = true;		/* same kernel release */
	}
	if (err)
		goto free_ring;
	if (!(params.features & IORING_FEAT_NODROP)) {
		/* completions could be lost under load: not for us */
		err = -ENOSYS;
		goto exit_queue;
	}
	r->id = id;
	err = gort_netpoll_watch(r->ring.ring_fd, EPOLLIN, r);
	if (err)
		goto exit_queue;
	gort_lock(&rings_lock);
	r->next = atomic_load(&all_rings);
	atomic_store(&all_rings, r);
	gort_unlock(&rings_lock);
	*out = r;
	return 0;

exit_queue:
	io_uring_queue_exit(&r->ring);
free_ring:
	free(r);
	return err;
}

static struct gort_uring *ring0;	/* made at start; proves io_uring works */

static int uring_init(void)
{
	int err = ring_create(&ring0, 0);

	return err;
}

static void uring_fini(void)
{
	struct gort_uring *r, *next;

	for (r = atomic_load(&all_rings); r; r = next) {
		next = r->next;
		io_uring_queue_exit(&r->ring);
		free(r);
	}
	atomic_store(&all_rings, NULL);
	ring0 = NULL;
}

void gort_uring_free_p(struct gort_p *p)
{
	p->ring = NULL;		/* rings are freed with all_rings */
}

/* The ring of p (the caller owns p): made at the P's first request. */
static struct gort_uring *ring_of(struct gort_p *p)
{
	struct gort_uring *r = p->ring;

	if (likely(r))
		return r;
	if (p->id == 0 || ring_create(&r, p->id))
		r = ring0;	/* out of memlock: share the first ring */
	p->ring = r;
	return r;
}

/* ---- completions ---- */

#define REAP_BATCH 64

/* Take up to REAP_BATCH completions; the caller readies gps after unlock. */
static int ring_reap_locked(struct gort_uring *r, struct gort_g **gps)
{
	struct io_uring_cqe *cqe;
	unsigned int head;
	int n = 0, seen = 0;

	if (unlikely(sq_flags(r) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)))
		io_uring_get_events(&r->ring);
	io_uring_for_each_cqe(&r->ring, head, cqe) {
		uint64_t ud = cqe->user_data;

		seen++;
		if (ud) {
			struct gort_pollop *op =
				(struct gort_pollop *)(uintptr_t)(ud & PTR_MASK);

			op->res = cqe->res;
			gps[n++] = op->gp;
		}
		if (n == REAP_BATCH)
			break;
	}
	io_uring_cq_advance(&r->ring, seen);
	return n;
}

static void ready_all(struct gort_g **gps, int n)
{
	for (int i = 0; i < n; i++)
		gort_goready_io(gps[i]);
}

/* Submit what is queued and reap what completed; returns goroutines readied. */
static int ring_poll(struct gort_uring *r, bool trylock)
{
	struct gort_g *gps[REAP_BATCH];
	int n, total = 0;

	do {
		if (trylock) {
			if (atomic_load_explicit(&r->lock.state,
						 memory_order_relaxed))
				return total;
			uint32_t zero = 0;

			if (!atomic_compare_exchange_strong(&r->lock.state,
							    &zero, 1))
				return total;
		} else {
			gort_lock(&r->lock);
		}
		if (io_uring_sq_ready(&r->ring))
			submit_locked(r);
		n = ring_reap_locked(r, gps);
		gort_unlock(&r->lock);
		ready_all(gps, n);
		total += n;
	} while (n == REAP_BATCH);
	return total;
}

static inline bool ring_has_work(struct gort_uring *r)
{
	return atomic_load_explicit(&r->queued, memory_order_relaxed) ||
	       cq_pending(r) ||
	       (sq_flags(r) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN));
}

/*
 * p's M has nothing to run: its own ring first, then completions waiting
 * in rings of Ps that nobody reaps at the moment (idle, or busy with a
 * long run queue), as any M polls Go's one netpoller.
 */
static int uring_poll_p(struct gort_p *p)
{
	struct gort_uring *r = p->ring, *o;
	int n = 0;

	if (r && ring_has_work(r))
		n = ring_poll(r, false);
	if (n)
		return n;
	for (o = atomic_load(&all_rings); o; o = o->next)
		if (o != r && cq_pending(o))
			n += ring_poll(o, true);
	return n;
}

static void uring_event(void *ptr, uint32_t mask)
{
	ring_poll(ptr, false);
}

/*
 * sysmon: a ring whose completions (or queued requests) have not moved
 * since its last look belongs to a P that is busy running goroutines;
 * reap and submit for it.
 */
static void uring_sysmon(void)
{
	struct gort_uring *r;

	for (r = atomic_load(&all_rings); r; r = r->next) {
		unsigned int cqh = __atomic_load_n(r->ring.cq.khead,
						   __ATOMIC_RELAXED);
		unsigned int q = atomic_load_explicit(&r->queued,
						      memory_order_relaxed);
		bool stale = (cq_pending(r) && cqh == r->seen_cq_head) ||
			     (q && q == r->seen_queued);

		r->seen_cq_head = cqh;
		r->seen_queued = q;
		if (stale)
			ring_poll(r, true);
	}
}

/* ---- requests ---- */

static struct io_uring_sqe *get_sqe(struct gort_uring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	while (unlikely(!sqe)) {
		submit_locked(r);
		sqe = io_uring_get_sqe(&r->ring);
	}
	atomic_fetch_add_explicit(&r->queued, 1, memory_order_relaxed);
	return sqe;
}

static void queue_cancel_locked(struct gort_uring *r, uint64_t tag)
{
	struct io_uring_sqe *sqe = get_sqe(r);

	io_uring_prep_cancel64(sqe, tag, 0);
	io_uring_sqe_set_data64(sqe, 0);
	submit_locked(r);
}

static void deadline_fire(void *arg, int64_t now)
{
	struct gort_pollop *op = arg;
	struct gort_uring *r;

	atomic_store(&op->timedout, true);
	r = op->ring;
	gort_lock(&r->lock);
	queue_cancel_locked(r, op->tag);
	gort_unlock(&r->lock);
}

static bool park_commit(struct gort_g *gp, void *arg)
{
	struct gort_uring *r = arg;

	gort_unlock(&r->lock);
	return true;
}

static void prep(struct io_uring_sqe *sqe, const struct gort_ioreq *rq,
		 struct gort_fd *fds)
{
	switch (rq->op) {
	case IO_READ:
		if (fds->is_stream_sock && !rq->iovcnt) {
			io_uring_prep_recv(sqe, rq->fd, rq->buf, rq->len, 0);
			/*
			 * Right after a write the answer cannot be there yet:
			 * wait for data instead of failing a first attempt.
			 */
			if (READ_ONCE(fds->poll_first) && have_poll_first)
				sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
		} else if (rq->iovcnt)
			io_uring_prep_readv(sqe, rq->fd, rq->iov,
					    (unsigned int)rq->iovcnt, -1);
		else
			io_uring_prep_read(sqe, rq->fd, rq->buf,
					   (unsigned int)rq->len, -1);
		break;
	case IO_WRITE:
		if (rq->iovcnt)
			io_uring_prep_writev(sqe, rq->fd, rq->iov,
					     (unsigned int)rq->iovcnt, -1);
		else
			io_uring_prep_write(sqe, rq->fd, rq->buf,
					    (unsigned int)rq->len, -1);
		break;
	case IO_PREAD:
		io_uring_prep_read(sqe, rq->fd, rq->buf, (unsigned int)rq->len,
				   (uint64_t)rq->off);
		break;
	case IO_PWRITE:
		io_uring_prep_write(sqe, rq->fd, rq->buf,
				    (unsigned int)rq->len, (uint64_t)rq->off);
		break;
	case IO_RECV:
		io_uring_prep_recv(sqe, rq->fd, rq->buf, rq->len, rq->flags);
		break;
	case IO_SEND:
		if (rq->iovcnt)
			io_uring_prep_sendmsg(sqe, rq->fd, &rq->msg,
					      rq->flags | MSG_NOSIGNAL);
		else
			io_uring_prep_send(sqe, rq->fd, rq->buf, rq->len,
					   rq->flags | MSG_NOSIGNAL);
		break;
	case IO_ACCEPT:
		io_uring_prep_accept(sqe, rq->fd, rq->buf, rq->addrlen,
				     rq->flags | SOCK_CLOEXEC);
		break;
	case IO_CONNECT:
		io_uring_prep_connect(sqe, rq->fd, rq->buf,
				      (socklen_t)rq->len);
		break;
	case IO_POLL_IN:
		io_uring_prep_poll_add(sqe, rq->fd, POLLIN);
		break;
	case IO_POLL_OUT:
		io_uring_prep_poll_add(sqe, rq->fd, POLLOUT);
		break;
	}
}

/* Bytes a read or write request asks for. */
static size_t rq_len(const struct gort_ioreq *rq)
{
	size_t n = 0;
	int i;

	if (!rq->iovcnt)
		return rq->len;
	for (i = 0; i < rq->iovcnt; i++)
		n += rq->iov[i].iov_len;
	return n;
}

/*
 * One request, start to completion; -EAGAIN only from non-blocking fds.
 * uring_io may make several, and after a park the goroutine runs on
 * whichever M took it (with that M's P and ring), so the M is looked up
 * here, never passed in.
 */
static ssize_t uring_one(struct gort_fd *fds, const struct gort_ioreq *rq)
{
	struct gort_m *m = gort_getm();
	struct gort_pollop op;
	struct gort_uring *r;
	struct io_uring_sqe *sqe;
	int mode = gort_io_mode(rq->op);
	ssize_t res;

	memset(&op, 0, sizeof(op));
	op.gp = m->curg;
	op.fds = fds;
	op.mode = mode;
	gort_timer_rt_init(&op.timer, deadline_fire, &op);
	/*
	 * Ring and tag are known before the op is visible on the fd's list,
	 * so gort_close and the deadline can always queue a cancel; one that
	 * reaches the ring before this request is caught by the check of
	 * closing/timedout under the ring lock below.
	 */
	r = ring_of(m->p);
	op.ring = r;
	op.tag = ((uint64_t)atomic_fetch_add_explicit(&r->seq, 1,
						     memory_order_relaxed)
		  << TAG_SHIFT) |
		 (uintptr_t)&op;

	gort_lock(&fds->lock);
	if (fds->closing) {
		gort_unlock(&fds->lock);
		return -ECANCELED;
	}
	op.deadline = fds->deadline[mode];
	if (op.deadline && op.deadline <= gort_nanotime_internal()) {
		gort_unlock(&fds->lock);
		return -ETIMEDOUT;
	}
	op.next = fds->ops;
	fds->ops = &op;
	fds->nops++;
	if (op.deadline)
		gort_timer_rt_start(&op.timer, op.deadline);
	gort_unlock(&fds->lock);

	gort_lock(&r->lock);
	if (READ_ONCE(fds->closing) || atomic_load(&op.timedout)) {
		gort_unlock(&r->lock);
		res = -ECANCELED;
		goto done;
	}
	sqe = get_sqe(r);
	prep(sqe, rq, fds);
	io_uring_sqe_set_data64(sqe, op.tag);
	atomic_fetch_add_explicit(&gort_netpoll.waiters, 1,
				  memory_order_relaxed);
	gort_gopark(park_commit, r, WR_IO_WAIT);
	atomic_fetch_sub_explicit(&gort_netpoll.waiters, 1,
				  memory_order_relaxed);
	res = op.res;
	/* a hint, raced by a reader and a writer of one socket: relaxed */
	if (fds->is_stream_sock)
		WRITE_ONCE(fds->poll_first, mode == IO_MODE_WRITE && res > 0);
done:
	/* always: gort_set_deadline may have armed it after we looked */
	gort_timer_rt_stop(&op.timer);
	if (res == -ECANCELED && atomic_load(&op.timedout) &&
	    !READ_ONCE(fds->closing))
		res = -ETIMEDOUT;
	/*
	 * A stream write that gort_close cancelled after part of it went
	 * out completes with the length of that part, and gort_write would
	 * go on with the rest on a descriptor that is closed by then, or
	 * already reused for another file.  Its caller's answer is
	 * -ECANCELED, as for a write that had sent nothing.
	 */
	if (res > 0 && mode == IO_MODE_WRITE && READ_ONCE(fds->closing) &&
	    (size_t)res < rq_len(rq))
		res = -ECANCELED;
	gort_fd_op_done(fds, &op);
	return res;
}

static ssize_t uring_io(struct gort_fd *fds, const struct gort_ioreq *rq,
			struct gort_m *m)
{
	ssize_t r;

	for (;;) {
		r = uring_one(fds, rq);
		if (r == -EINTR)
			continue;
		if (r != -EAGAIN || rq->op == IO_POLL_IN ||
		    rq->op == IO_POLL_OUT || gort_io_nowait(rq))
			return r;
		/* a non-blocking descriptor: wait for readiness, retry */
		struct gort_ioreq prq = {
			.op = gort_io_mode(rq->op) ? IO_POLL_OUT : IO_POLL_IN,
			.fd = rq->fd,
		};

		r = uring_one(fds, &prq);
		if (r < 0)
			return r;
	}
}

static int uring_fd_init(struct gort_fd *fds)
{
	return 0;
}

/* Under fds->lock.  The cancels are queued on each op's ring. */
static void uring_cancel_all(struct gort_fd *fds, int res)
{
	struct gort_pollop *op;

	for (op = fds->ops; op; op = op->next) {
		struct gort_uring *r = op->ring;

		gort_lock(&r->lock);
		queue_cancel_locked(r, op->tag);
		gort_unlock(&r->lock);
	}
}

/* Under fds->lock: move the timers of mode's waiting ops. */
static void uring_deadline_changed(struct gort_fd *fds, int mode)
{
	struct gort_pollop *op;
	int64_t dl = fds->deadline[mode];

	for (op = fds->ops; op; op = op->next) {
		if (op->mode != mode || atomic_load(&op->timedout))
			continue;
		op->deadline = dl;
		if (dl)
			gort_timer_rt_start(&op->timer, dl);
		else
			gort_timer_rt_stop(&op->timer);
	}
}

const struct gort_netpoll_ops gort_netpoll_uring = {
	.name = "io_uring",
	.init = uring_init,
	.fini = uring_fini,
	.fd_init = uring_fd_init,
	.io = uring_io,
	.cancel_all = uring_cancel_all,
	.deadline_changed = uring_deadline_changed,
	.poll_p = uring_poll_p,
	.event = uring_event,
	.sysmon = uring_sysmon,
};
