/* SPDX-License-Identifier: MIT */
/*
 * netpoll.h - the network poller's interface to the scheduler and to
 * lib/net.c.
 *
 * Two pollers sit behind this interface: io_uring (uring.c, the default)
 * and epoll (epoll.c, chosen when io_uring is missing or forbidden, or by
 * GORT_NETPOLL=epoll).  netpoll.c holds what both share: the descriptor
 * table with deadlines, the one epoll instance that an idle M blocks in,
 * and the bookkeeping of waiting goroutines.
 *
 * How a goroutine waits for I/O (both pollers):
 *   lib/net.c builds a struct gort_ioreq and calls gort_io().  The poller
 *   parks the goroutine with the I/O (io_uring) or the readiness wait
 *   (epoll) registered under a lock that the park's unlock callback drops
 *   after the switch, so no completion can ready a goroutine that has not
 *   finished parking.  A deadline is a runtime timer armed in the same
 *   callback; gort_close() and deadlines end a wait with -ECANCELED and
 *   -ETIMEDOUT.  Every wait ends through exactly one wake-up.
 *
 * Who reaps completions:
 *   - a P's own M, when its run queue is empty (findrunnable), before it
 *     steals: the cheap check is two loads, no system call;
 *   - the one M that blocks in the shared epoll instance when every P is
 *     idle and goroutines wait for I/O (Go's blocking netpoll), with a
 *     timeout no later than the next timer;
 *   - sysmon, for a ring whose completions sat unreaped for a whole tick
 *     while its P was busy.
 *
 * Multishot accept and receive (io_uring, where the kernel has them): one
 * request delivers many results, queued on the descriptor's struct
 * gort_fd under its mlock; gort_accept and gort_read take from the queue
 * and park on it (op->ms) when it is empty.  The armed request counts in
 * nops until its last completion, so gort_close waits for it as for any
 * op, and drops what is left queued (ops->fd_release) before close(2).  A
 * descriptor read or accepted through gort must therefore be closed with
 * gort_close: close(2) would leave the kernel's request holding it open.
 *
 * Lock order: fd lock -> ring lock -> fd mlock -> timer lock -> timer
 * heap lock.  sched.lock is never taken with a ring lock or an mlock
 * held.
 */
#ifndef GORT_NETPOLL_H
#define GORT_NETPOLL_H

#include <sys/socket.h>
#include <sys/uio.h>

#include "runtime.h"
#include "timer.h"
#include "trace.h"

enum gort_io_op {
	IO_READ,		/* read / readv at the file position */
	IO_WRITE,		/* write / writev at the file position */
	IO_PREAD,
	IO_PWRITE,
	IO_RECV,
	IO_SEND,
	IO_ACCEPT,
	IO_CONNECT,
	IO_POLL_IN,		/* wait until readable */
	IO_POLL_OUT,		/* wait until writable */
};

enum gort_io_mode { IO_MODE_READ = 0, IO_MODE_WRITE = 1 };

/* One I/O request, on the stack of the goroutine that makes it. */
struct gort_ioreq {
	enum gort_io_op op;
	int fd;
	void *buf;			/* or the sockaddr for connect/accept */
	size_t len;			/* bytes, or the sockaddr length */
	const struct iovec *iov;	/* readv/writev when iovcnt > 0 */
	int iovcnt;
	off_t off;			/* pread/pwrite */
	int flags;			/* recv/send/accept4 flags */
	socklen_t *addrlen;		/* accept */
	struct msghdr msg;		/* IO_SEND of iov (gort_io fills it) */
};

struct gort_fd;

/* A goroutine waiting for one operation or readiness of one fd. */
struct gort_pollop {
	struct gort_pollop *next;	/* fd's list of waiting ops */
	struct gort_g *gp;		/* the goroutine to ready */
	struct gort_fd *fds;		/* descriptor state */
	struct gort_uring *ring;	/* ring it was queued on (io_uring) */
	uint64_t tag;			/* io_uring user_data */
	int mode;			/* enum gort_io_mode */
	bool woken;			/* epoll: its wake-up was sent */
	int32_t res;			/* result, set before the wake-up */
	_Atomic bool timedout;		/* its deadline fired */
	int64_t deadline;		/* absolute, 0 none */
	struct gort_timer_rt timer;	/* the deadline */
	/* io_uring: waits for a multishot's queue, not for an SQE */
	bool ms;
	struct gort_pollop *mnext;	/* fds->mwaiters, under fds->mlock */
	struct gort_pollop *wnext;	/* a reaper's list of ops to ready */
};

/*
 * Per-descriptor state, created at the first gort_* I/O on a descriptor
 * and reset by gort_close.  Entries are never freed while the runtime
 * runs, so a stale pointer (an epoll event for a closed fd) only causes
 * a spurious retry.
 */
struct gort_fd {
	struct gort_lock lock;		/* guards what follows */
	int fd;
	uint32_t gen;			/* bumped by every reset */
	bool init;			/* set up for this descriptor */
	bool closing;			/* gort_close has begun */
	bool nopoll;			/* not pollable (regular file, epoll) */
	bool is_sock;			/* writes go out as send/sendmsg */
	bool is_stream_sock;		/* reads go out as recv (io_uring) */
	bool no_pos;			/* pipe or socket: no pread/pwrite */
	bool poll_first;		/* its last op was a write */
	int64_t deadline[2];		/* read, write; 0 none */
	struct gort_pollop *ops;	/* waiting ops */
	int nops;			/* length of ops */
	struct gort_g *closer;		/* gort_close waiting for ops to end */
	bool ready[2];			/* epoll: an edge arrived, nobody waited */
	int accept_backoff_ms;		/* EMFILE back-off of a listener */

	/*
	 * io_uring multishot accept or receive (uring.c).  The armed
	 * request counts in nops until its last completion, so gort_close
	 * waits for it.  ms_ring and ms_tag are guarded by lock; the rest
	 * by mlock, which a reaper takes under its ring lock.
	 */
	struct gort_uring *ms_ring;	/* ring of the last armed multishot */
	uint64_t ms_tag;		/* its user_data, for the cancel */
	struct gort_lock mlock;		/* after lock and the ring lock */
	bool ms_active;			/* armed, last completion not seen */
	bool ms_stopping;		/* cancelled: the queue is full */
	bool ms_off;			/* this fd uses single-shot requests */
	bool ms_used;			/* was armed: reads see the queue */
	bool rx_eof;			/* the multishot receive saw EOF */
	int ms_err;			/* error for the next caller, or 0 */
	struct gort_pollop *mwaiters;	/* ops parked on the queue */
	int *accq;			/* accepted, not yet returned fds */
	int accq_len, accq_cap;
	char *rx_buf;			/* received, not yet read bytes */
	size_t rx_head, rx_len, rx_cap;	/* offset, length and size */
};

struct gort_netpoll_ops {
	const char *name;
	int (*init)(void);
	void (*fini)(void);
	/* set up fds for this poller (register, non-blocking) */
	int (*fd_init)(struct gort_fd *fds);
	/* m is the M at entry: after a park the goroutine may be on another */
	ssize_t (*io)(struct gort_fd *fds, const struct gort_ioreq *rq,
		      struct gort_m *m);
	/* under fds->lock: end every waiting op with res */
	void (*cancel_all)(struct gort_fd *fds, int res);
	/* under fds->lock: the deadline of mode changed */
	void (*deadline_changed)(struct gort_fd *fds, int mode);
	/* under fds->lock, no op left: drop what the poller holds for fds */
	void (*fd_release)(struct gort_fd *fds);
	/* flush and reap what p's M can without blocking */
	int (*poll_p)(struct gort_p *p);
	/* an epoll event with data.ptr = ptr arrived (mask: events) */
	void (*event)(void *ptr, uint32_t mask);
	/* sysmon: reap what busy Ps left */
	void (*sysmon)(void);
};

extern const struct gort_netpoll_ops gort_netpoll_uring GORT_INTERNAL;
extern const struct gort_netpoll_ops gort_netpoll_epoll GORT_INTERNAL;

struct gort_netpoll {
	const struct gort_netpoll_ops *ops;	/* chosen at start */
	int epfd;			/* what the blocking poller waits in */
	int breakfd;			/* eventfd: wakes the blocking poller */
	_Atomic int32_t waiters;	/* goroutines waiting for I/O */
	_Atomic bool blocking;		/* an M sits in epoll_wait */
	_Atomic uint32_t break_pending;	/* breakfd written, not yet read */
	char why_epoll[128];		/* why io_uring was not used */
};
extern struct gort_netpoll gort_netpoll GORT_INTERNAL;

/* netpoll.c */
int gort_netpoll_init(void) GORT_INTERNAL;
void gort_netpoll_fini(void) GORT_INTERNAL;
struct gort_fd *gort_fd_get(int fd, bool create) GORT_INTERNAL;
ssize_t gort_io(const struct gort_ioreq *rq) GORT_INTERNAL;
int gort_fd_close(int fd) GORT_INTERNAL;
int gort_fd_set_deadline(int fd, int64_t rd, int64_t wd) GORT_INTERNAL;
/* an op of fds ended: drop it from the list, wake a waiting closer */
void gort_fd_op_done(struct gort_fd *fds, struct gort_pollop *op)
	GORT_INTERNAL;
/*
 * A request that held fds busy without a pollop (a multishot) ended;
 * true if that readied a waiting gort_close.
 */
bool gort_fd_unbusy(struct gort_fd *fds) GORT_INTERNAL;
/* the blocking poll of an idle M: ready what completed; false if none */
bool gort_netpoll_block(int64_t ns) GORT_INTERNAL;
void gort_netpoll_break(void) GORT_INTERNAL;
/* recv/send with MSG_DONTWAIT: -EAGAIN is the answer, not a reason to wait */
static inline bool gort_io_nowait(const struct gort_ioreq *rq)
{
	return (rq->op == IO_RECV || rq->op == IO_SEND) &&
	       (rq->flags & MSG_DONTWAIT);
}
/* Does a goroutine wait for I/O? */
static inline bool gort_netpoll_waiting(void)
{
	return atomic_load_explicit(&gort_netpoll.waiters,
				    memory_order_relaxed) > 0;
}
/* epoll registration of a poller object; data.ptr = ptr */
int gort_netpoll_watch(int fd, uint32_t events, void *ptr) GORT_INTERNAL;
void gort_netpoll_sysmon(void) GORT_INTERNAL;
int gort_io_mode(enum gort_io_op op) GORT_INTERNAL;
/* the request's system call, without waiting; -errno on failure */
ssize_t gort_io_syscall(const struct gort_ioreq *rq, int extra_flags)
	GORT_INTERNAL;
/* non-blocking epoll_wait over the shared set; events handled */
int gort_netpoll_epoll_nb(void) GORT_INTERNAL;

/*
 * The netpoll_block and netpoll_ready probes (lib/trace_probes.h), at the
 * pollers' sites.  The goroutine on m, which holds a P, parks until fd is
 * ready for op or op is done.
 */
static inline __attribute__((always_inline)) void
gort_netpoll_trace_block(struct gort_m *m, int fd, enum gort_io_op op)
{
	STAP_PROBE5(gort, netpoll_block, m->curg->goid, m->p->id,
		    (int32_t)m->id, fd, (int32_t)op);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_NETPOLL_BLOCK, m->curg->goid, m->p->id,
			      (int32_t)m->id, (uint64_t)fd, op);
}

/*
 * The poller readies gp with res; the thread doing it may be an M with a
 * P (findrunnable, gort_close), one without (the blocked poller) or
 * sysmon.
 */
static inline __attribute__((always_inline)) void
gort_netpoll_trace_ready(struct gort_g *gp, int32_t res)
{
	struct gort_m *m = gort_getm();

	if (m && m->p)
		STAP_PROBE5(gort, netpoll_ready, m->curg ? m->curg->goid : 0,
			    m->p->id, (int32_t)m->id, gp->goid, res);
	else
		STAP_PROBE5(gort, netpoll_ready, (uint64_t)0, -1,
			    m ? (int32_t)m->id : -1, gp->goid, res);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_NETPOLL_READY,
			      m && m->curg ? m->curg->goid : 0,
			      m && m->p ? m->p->id : -1,
			      m ? (int32_t)m->id : -1, gp->goid,
			      (uint64_t)(int64_t)res);
}

/* uring.c: per-P ring teardown (P structs outlive gomaxprocs changes) */
void gort_uring_free_p(struct gort_p *p) GORT_INTERNAL;
/* the io_uring features in use, as gort_netpoll_features() says them */
const char *gort_uring_features(void) GORT_INTERNAL;

#endif /* GORT_NETPOLL_H */
