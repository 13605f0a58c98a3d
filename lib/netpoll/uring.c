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
 * Multishot accept and receive.  Where the kernel has them (each is tried
 * once at start with a real request on the first ring, and each can be
 * turned off with GORT_DEBUG), one SQE serves many completions, and what
 * they bring is queued on the descriptor (struct gort_fd, under its
 * mlock): accepted descriptors for a listener, received bytes for a
 * connection.  gort_accept and gort_read take from the queue without a
 * request of their own; a goroutine that finds it empty parks on it
 * (op->ms) and the reaper that queues something wakes one.
 *  - Accept: armed on the ring of the P whose goroutine first accepts,
 *    and again whenever an accept finds the queue empty and nothing
 *    armed (the kernel ended it, or an error such as EMFILE was handed
 *    to one caller, whose gort_accept backs off as before).
 *  - Receive (off by default, GORT_DEBUG=uringrecv=1: measured slower,
 *    see Documentation/netpoll.md): armed on a stream socket at a read
 *    right after a write, the read that would wait in a request-response
 *    exchange; a socket that only streams in keeps reading straight
 *    into the caller's buffer.  Each ring has one buffer ring
 *    (IORING_REGISTER_PBUF_RING);
 *    the reaper copies a completion's bytes into the descriptor's queue
 *    and hands the buffer back at once, so a connection nobody reads
 *    never holds a ring buffer.  The queue is bounded: at RX_QUEUE_MAX
 *    bytes the receive is cancelled and armed again only when a reader
 *    has emptied it, so a fast sender stalls on TCP's window as it
 *    would without gort in between.  Completions the kernel posted
 *    before the reaper saw the queue full still land in it: at worst
 *    one ring's worth of buffers more.  ENOBUFS (the ring ran dry), EAGAIN
 *    (an O_NONBLOCK socket) and EINVAL end multishot for that descriptor:
 *    its reads go back to single-shot requests once the queue is empty.
 *    EOF and errors (ECONNRESET) are queued behind the data, as recv(2)
 *    returns them.
 *  - An armed multishot counts in fds->nops until its last completion
 *    (no IORING_CQE_F_MORE): gort_close cancels it and waits for that,
 *    then closes whatever accepted descriptors nobody took.
 *
 * Registered ring descriptors.  io_uring_enter through an index
 * registered with IORING_REGISTER_RING_FDS skips the file lookup and the
 * atomic reference count on the ring's file, which all Ms share.  The
 * kernel keeps registrations per thread, while a ring belongs to a P that
 * moves between Ms, so each M registers a ring in a slot of its own the
 * first time it submits to it (rings 0..15; others go by descriptor).
 * The Ms end with gort_main and their registrations with them.
 *
 * Lock order: fd lock -> ring lock -> fd mlock -> timer lock.  A ring
 * lock is held across a park only until the park's commit callback drops
 * it, so that no completion can ready a goroutine still switching away.
 * A reaper holds the ring lock (and an fd's mlock) while it takes
 * completions and readies nothing until it has dropped them.
 *
 * Rejected alternatives:
 *  1. One ring for the whole process: every P would take one lock per
 *     request, and completions of all connections would funnel through
 *     whoever reaps it.
 *  2. SQPOLL: a kernel thread per ring spinning on a 2-CPU machine takes
 *     the CPU the goroutines need.
 *  3. IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN: completions would have to
 *     be reaped by the thread that created the ring, which a P outlives.
 *  4. Queueing a connection's provided buffers until its reader copies
 *     them out (no copy in the reaper): a slow reader would hold ring
 *     buffers, and a few of them would run the ring dry for every
 *     connection of that P; copying a few hundred bytes is cheaper than
 *     the single-shot fallback that ENOBUFS forces.
 *  5. Handing a multishot accept's address to the caller: one address
 *     buffer cannot serve many completions, so gort_accept asks
 *     getpeername when the caller wants the address.
 *  6. A registered file table (IOSQE_FIXED_FILE) for connections: every
 *     descriptor would need a slot kept in step with gort_close and with
 *     close(2) behind gort's back, for the cost of one fdget per request.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "netpoll.h"

#define RING_ENTRIES 512
#define RING_CQ_ENTRIES 8192
#define TAG_SHIFT 48
#define PTR_MASK ((UINT64_C(1) << TAG_SHIFT) - 1)
/* the low bits of a user_data say what its pointer points to */
#define UD_KIND_MASK UINT64_C(7)
enum { UD_OP = 0, UD_ACCEPT = 1, UD_RECV = 2 };

#define BGID 0			/* each ring has one buffer group */
#define RX_BUF_SIZE 4096	/* one provided buffer: a request, a chunk */
#define RX_QUEUE_MAX (64 << 10)	/* queued bytes per fd before a pause */
#define ACCEPT_QUEUE_MAX 128	/* queued connections per listener */
#define REG_RING_SLOTS 16	/* the kernel's per-thread limit */

struct gort_uring {
	struct gort_lock lock;		/* guards ring and the buffer ring */
	struct io_uring ring;
	_Atomic uint16_t seq;		/* tag of the next request */
	_Atomic uint32_t queued;	/* SQEs not yet submitted */
	int id;				/* the P's id, for dumps */
	struct gort_uring *next;	/* all rings */
	/* sysmon's view */
	unsigned int seen_cq_head;	/* CQ head at its last look */
	unsigned int seen_queued;	/* queued SQEs at its last look */
	/* provided buffers of multishot receives; br NULL: none */
	struct io_uring_buf_ring *br;
	char *bufs;			/* nbufs * RX_BUF_SIZE bytes */
	unsigned int nbufs;		/* a power of two */
	size_t br_size;			/* mapped bytes of br */
};

/* What the kernel has, decided once at start on the first ring. */
static bool have_poll_first;	/* IORING_RECVSEND_POLL_FIRST (5.19) */
static bool have_ms_accept;	/* IORING_ACCEPT_MULTISHOT (5.19) */
static bool have_ms_recv;	/* buffer rings (5.19), RECV_MULTISHOT (6.0) */
static bool have_regring;	/* IORING_REGISTER_RING_FDS (5.18) */
static uint8_t regring_flag;	/* liburing's int_flags bit for it */

/*
 * A registered ring descriptor belongs to the thread that registered it
 * (the kernel keeps it in the task's io_uring context), while a ring is
 * shared by every M that runs its P.  So each M registers the rings it
 * submits to, in slots of its own.
 */
struct reg_slot {
	struct gort_uring *r;		/* ring registered in this slot */
	int slot;			/* the kernel's index, -1: failed */
};
static __thread struct reg_slot reg_slots[REG_RING_SLOTS];

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

/*
 * Under r->lock: the calling M's registered index of r, or -1.  Only Ms
 * register (they end with gort_main, and with them their registrations);
 * a foreign thread or sysmon submits by descriptor.
 */
static int reg_slot_of(struct gort_uring *r)
{
	struct reg_slot *s;
	int fd, flags;

	if (!have_regring || r->id >= REG_RING_SLOTS || !gort_getm())
		return -1;
	s = &reg_slots[r->id];
	if (likely(s->r == r))
		return s->slot;
	if (s->r && s->slot >= 0) {
		/* a ring of an earlier gort_main: free the kernel's slot */
		struct io_uring_rsrc_update up = {
			.offset = (unsigned int)s->slot,
		};

		(void)syscall(__NR_io_uring_register, r->ring.ring_fd,
			      IORING_UNREGISTER_RING_FDS, &up, 1);
	}
	fd = r->ring.enter_ring_fd;
	flags = r->ring.int_flags;
	s->r = r;
	s->slot = io_uring_register_ring_fd(&r->ring) == 1 ?
			  r->ring.enter_ring_fd : -1;
	r->ring.enter_ring_fd = fd;
	r->ring.int_flags = (uint8_t)flags;
	return s->slot;
}

/*
 * io_uring_enter through the calling M's registered index when it has
 * one: the kernel then skips the descriptor lookup and the reference
 * count on the ring's file, which every M of the process shares.
 */
#define WITH_ENTER_FD(r, call)						\
	do {								\
		int slot_ = reg_slot_of(r);				\
									\
		if (slot_ >= 0) {					\
			(r)->ring.enter_ring_fd = slot_;		\
			(r)->ring.int_flags |= regring_flag;		\
		}							\
		call;							\
		if (slot_ >= 0) {					\
			(r)->ring.enter_ring_fd = (r)->ring.ring_fd;	\
			(r)->ring.int_flags &= (uint8_t)~regring_flag;	\
		}							\
	} while (0)

static void submit_locked(struct gort_uring *r)
{
	WITH_ENTER_FD(r, io_uring_submit(&r->ring));
	atomic_store_explicit(&r->queued, 0, memory_order_relaxed);
}

static struct gort_uring *_Atomic all_rings;
static struct gort_lock rings_lock;	/* creation of rings */

/* Provided buffers for multishot receives; a ring without them has none. */
static void bufs_setup(struct gort_uring *r)
{
	struct io_uring_buf_reg reg;
	unsigned int i, n = (unsigned int)gort_config.uring_bufs;
	size_t sz = (n * sizeof(struct io_uring_buf) + 4095) & ~(size_t)4095;
	void *br, *bufs;

	br = mmap(NULL, sz, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (br == MAP_FAILED)
		return;
	bufs = mmap(NULL, (size_t)n * RX_BUF_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bufs == MAP_FAILED)
		goto unmap_br;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uintptr_t)br;
	reg.ring_entries = n;
	reg.bgid = BGID;
	if (io_uring_register_buf_ring(&r->ring, &reg, 0))
		goto unmap_bufs;
	r->br = br;
	r->bufs = bufs;
	r->nbufs = n;
	r->br_size = sz;
	io_uring_buf_ring_init(r->br);
	for (i = 0; i < n; i++)
		io_uring_buf_ring_add(r->br, r->bufs + (size_t)i * RX_BUF_SIZE,
				      RX_BUF_SIZE, (unsigned short)i,
				      io_uring_buf_ring_mask(n), (int)i);
	io_uring_buf_ring_advance(r->br, (int)n);
	return;

unmap_bufs:
	munmap(bufs, (size_t)n * RX_BUF_SIZE);
unmap_br:
	munmap(br, sz);
}

static void bufs_free(struct gort_uring *r)
{
	if (!r->br)
		return;
	/* no buffer is picked after this: safe to unmap */
	io_uring_unregister_buf_ring(&r->ring, BGID);
	munmap(r->bufs, (size_t)r->nbufs * RX_BUF_SIZE);
	munmap(r->br, r->br_size);
	r->br = NULL;
}

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
	if (gort_config.uring_recv && (id == 0 || have_ms_recv))
		bufs_setup(r);
	err = gort_netpoll_watch(r->ring.ring_fd, EPOLLIN, r);
	if (err)
		goto free_bufs;
	gort_lock(&rings_lock);
	r->next = atomic_load(&all_rings);
	atomic_store(&all_rings, r);
	gort_unlock(&rings_lock);
	*out = r;
	return 0;

free_bufs:
	bufs_free(r);
exit_queue:
	io_uring_queue_exit(&r->ring);
free_ring:
	free(r);
	return err;
}

/* ---- what the kernel has: each feature tried once, for real ---- */

/* The next completion on a ring nothing else uses yet; false: none came. */
static bool probe_cqe(struct io_uring *ring, struct io_uring_cqe *out)
{
	struct __kernel_timespec ts = { .tv_sec = 1 };
	struct io_uring_cqe *cqe;

	io_uring_submit(ring);
	if (io_uring_wait_cqe_timeout(ring, &cqe, &ts))
		return false;
	*out = *cqe;
	io_uring_cqe_seen(ring, cqe);
	return true;
}

/* End the multishot ud of a probe and wait for its last completion. */
static void probe_cancel(struct gort_uring *r, uint64_t ud,
			 struct io_uring_cqe *cqe)
{
	struct io_uring_sqe *sqe;
	bool ended = !(cqe->flags & IORING_CQE_F_MORE), acked = false;

	if (ended)
		return;
	sqe = io_uring_get_sqe(&r->ring);
	io_uring_prep_cancel64(sqe, ud, 0);
	io_uring_sqe_set_data64(sqe, 0);
	while (!ended || !acked) {
		if (!probe_cqe(&r->ring, cqe))
			return;
		if (cqe->user_data == 0)
			acked = true;
		else if (!(cqe->flags & IORING_CQE_F_MORE))
			ended = true;
		if (cqe->user_data && cqe->res > 0 &&
		    !(cqe->flags & IORING_CQE_F_BUFFER))
			close(cqe->res);	/* an accepted probe fd */
	}
}

/* A multishot accept of a queued connection completes with F_MORE. */
static bool probe_ms_accept(struct gort_uring *r)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len = sizeof(sa_family_t);
	struct io_uring_cqe cqe;
	struct io_uring_sqe *sqe;
	int lfd, cfd = -1;
	bool ok = false;

	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return false;
	/* autobind: an abstract name, nothing left in the file system */
	if (bind(lfd, (struct sockaddr *)&sun, len) || listen(lfd, 1))
		goto close_lfd;
	len = sizeof(sun);
	if (getsockname(lfd, (struct sockaddr *)&sun, &len))
		goto close_lfd;
	cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd < 0 || connect(cfd, (struct sockaddr *)&sun, len))
		goto close_cfd;
	sqe = io_uring_get_sqe(&r->ring);
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, 1);
	if (!probe_cqe(&r->ring, &cqe))
		goto close_cfd;
	if (cqe.res >= 0) {
		close(cqe.res);
		ok = cqe.flags & IORING_CQE_F_MORE;
	}
	probe_cancel(r, 1, &cqe);
close_cfd:
	if (cfd >= 0)
		close(cfd);
close_lfd:
	close(lfd);
	return ok;
}

/* A multishot receive into the ring's buffers completes with F_MORE. */
static bool probe_ms_recv(struct gort_uring *r)
{
	struct io_uring_cqe cqe;
	struct io_uring_sqe *sqe;
	int sv[2];
	bool ok = false;

	if (!r->br || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return false;
	if (write(sv[1], "x", 1) != 1)
		goto close_pair;
	sqe = io_uring_get_sqe(&r->ring);
	io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, 1);
	if (!probe_cqe(&r->ring, &cqe))
		goto close_pair;
	ok = cqe.res == 1 && (cqe.flags & IORING_CQE_F_BUFFER) &&
	     (cqe.flags & IORING_CQE_F_MORE);
	if (cqe.flags & IORING_CQE_F_BUFFER) {
		unsigned short bid = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
		char *buf = r->bufs + (size_t)bid * RX_BUF_SIZE;

		io_uring_buf_ring_add(r->br, buf, RX_BUF_SIZE, bid,
				      io_uring_buf_ring_mask(r->nbufs), 0);
		io_uring_buf_ring_advance(r->br, 1);
	}
	probe_cancel(r, 1, &cqe);
close_pair:
	close(sv[0]);
	close(sv[1]);
	return ok;
}

/* The ring descriptor can be registered; learn liburing's flag for it. */
static bool probe_regring(struct gort_uring *r)
{
	int fd = r->ring.enter_ring_fd;
	uint8_t flags = r->ring.int_flags;

	if (io_uring_register_ring_fd(&r->ring) != 1)
		return false;
	regring_flag = r->ring.int_flags & (uint8_t)~flags;
	io_uring_unregister_ring_fd(&r->ring);
	r->ring.enter_ring_fd = fd;
	r->ring.int_flags = flags;
	return regring_flag != 0;
}

/* made at start; proves io_uring works */
static struct gort_uring *ring0;

static int uring_init(void)
{
	int err;

	have_ms_accept = have_ms_recv = have_regring = false;
	err = ring_create(&ring0, 0);
	if (err)
		return err;
	if (gort_config.uring_accept)
		have_ms_accept = probe_ms_accept(ring0);
	if (gort_config.uring_recv)
		have_ms_recv = probe_ms_recv(ring0);
	if (!have_ms_recv)
		bufs_free(ring0);
	if (gort_config.uring_regring)
		have_regring = probe_regring(ring0);
	return 0;
}

static void uring_fini(void)
{
	struct gort_uring *r, *next;

	for (r = atomic_load(&all_rings); r; r = next) {
		next = r->next;
		bufs_free(r);
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

/* The features this run uses, for gort_netpoll_features(). */
const char *gort_uring_features(void)
{
	static const char *const names[8] = {
		"",
		"multishot-accept",
		"multishot-recv",
		"multishot-accept multishot-recv",
		"registered-ring",
		"multishot-accept registered-ring",
		"multishot-recv registered-ring",
		"multishot-accept multishot-recv registered-ring",
	};

	return names[(have_ms_accept ? 1 : 0) | (have_ms_recv ? 2 : 0) |
		     (have_regring ? 4 : 0)];
}

/* ---- completions ---- */

#define REAP_BATCH 64

/* What one reap found, acted upon once the ring lock is dropped. */
struct reap {
	struct gort_pollop *ready;	/* ops to ready, linked by wnext */
	struct gort_pollop **tail;	/* where the next one goes */
	struct gort_fd *ended[REAP_BATCH];	/* multishots that ended */
	int nended;
	int nbufs;			/* buffers given back, not advanced */
};

static void queue_cancel_locked(struct gort_uring *r, uint64_t tag);

static void reap_add(struct reap *rp, struct gort_pollop *op)
{
	op->wnext = NULL;
	*rp->tail = op;
	rp->tail = &op->wnext;
}

/* Under fds->mlock: the longest-waiting op of fds's queue wakes with res. */
static bool mwake_one(struct gort_fd *fds, int res, struct reap *rp)
{
	struct gort_pollop *op = fds->mwaiters, **pp;

	if (!op)
		return false;
	/* the list is pushed at its head: wake from its tail, FIFO */
	for (pp = &fds->mwaiters; (*pp)->mnext; pp = &(*pp)->mnext)
		;
	op = *pp;
	*pp = NULL;
	op->woken = true;
	op->res = res;
	reap_add(rp, op);
	return true;
}

/* Under fds->mlock: the multishot of fds will complete no more. */
static void ms_end(struct gort_fd *fds, struct reap *rp)
{
	fds->ms_active = false;
	fds->ms_stopping = false;
	rp->ended[rp->nended++] = fds;
	/* each looks again: it re-arms, falls back or takes an error */
	while (mwake_one(fds, 0, rp))
		;
}

/* Under mlock: append n received bytes; false if out of memory. */
static bool rx_append(struct gort_fd *fds, const char *p, size_t n)
{
	if (fds->rx_head + fds->rx_len + n > fds->rx_cap && fds->rx_head) {
		memmove(fds->rx_buf, fds->rx_buf + fds->rx_head, fds->rx_len);
		fds->rx_head = 0;
	}
	if (fds->rx_len + n > fds->rx_cap) {
		size_t cap = fds->rx_cap ? fds->rx_cap : RX_BUF_SIZE;
		char *nb;

		while (cap < fds->rx_len + n)
			cap *= 2;
		nb = realloc(fds->rx_buf, cap);
		if (!nb)
			return false;
		fds->rx_buf = nb;
		fds->rx_cap = cap;
	}
	memcpy(fds->rx_buf + fds->rx_head + fds->rx_len, p, n);
	fds->rx_len += n;
	return true;
}

/*
 * A multishot receive's completion, under the ring lock.  The bytes are
 * copied out of the provided buffer at once and the buffer goes back to
 * the ring in the same reap: a reader that is slow, or a connection
 * nobody reads, never holds the ring's buffers, only its own queue, and
 * the queue is bounded by pausing the receive (a cancel) at
 * RX_QUEUE_MAX until the reader drains it.
 */
static void ms_recv_cqe(struct gort_uring *r, struct gort_fd *fds,
			const struct io_uring_cqe *cqe, struct reap *rp)
{
	bool more = cqe->flags & IORING_CQE_F_MORE;
	int res = cqe->res;

	gort_lock(&fds->mlock);
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned short bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		char *buf = r->bufs + (size_t)bid * RX_BUF_SIZE;

		if (res > 0 && !rx_append(fds, buf, (size_t)res) &&
		    !fds->ms_err) {
			/* bytes lost: the stream must not go on silently */
			fds->ms_err = -ENOMEM;
			fds->ms_off = true;
		}
		io_uring_buf_ring_add(r->br, buf, RX_BUF_SIZE, bid,
				      io_uring_buf_ring_mask(r->nbufs),
				      rp->nbufs++);
	}
	if (res == 0) {
		fds->rx_eof = true;
	} else if (res < 0) {
		switch (res) {
		case -ECANCELED:	/* gort_close, or the queue is full */
			break;
		case -ENOBUFS:		/* the ring ran dry: single-shot */
		case -EAGAIN:		/* an O_NONBLOCK socket */
		case -EINVAL:
		case -EOPNOTSUPP:
			fds->ms_off = true;
			break;
		default:		/* ECONNRESET and the like */
			fds->ms_err = res;
			fds->ms_off = true;
			break;
		}
	}
	if (more && (fds->rx_len >= RX_QUEUE_MAX || fds->ms_off) &&
	    !fds->ms_stopping) {
		fds->ms_stopping = true;
		queue_cancel_locked(r, cqe->user_data);
	}
	if (!more)
		ms_end(fds, rp);
	else if (fds->rx_len)
		mwake_one(fds, 0, rp);
	gort_unlock(&fds->mlock);
}

/* Under mlock: queue an accepted fd; false if out of memory. */
static bool accq_push(struct gort_fd *fds, int fd)
{
	if (fds->accq_len == fds->accq_cap) {
		int cap = fds->accq_cap ? fds->accq_cap * 2 : 16;
		int *q = realloc(fds->accq, (size_t)cap * sizeof(*q));

		if (!q)
			return false;
		fds->accq = q;
		fds->accq_cap = cap;
	}
	fds->accq[fds->accq_len++] = fd;
	return true;
}

/* A multishot accept's completion, under the ring lock. */
static void ms_accept_cqe(struct gort_uring *r, struct gort_fd *fds,
			  const struct io_uring_cqe *cqe, struct reap *rp)
{
	bool more = cqe->flags & IORING_CQE_F_MORE;
	int res = cqe->res;

	gort_lock(&fds->mlock);
	if (res >= 0) {
		/* out of memory: the peer sees a reset, as on a full backlog */
		if (!accq_push(fds, res))
			close(res);
	} else if (res == -EINVAL || res == -EAGAIN || res == -EOPNOTSUPP) {
		/* not a listener, or O_NONBLOCK: single-shot says it */
		fds->ms_off = true;
	} else if (res != -ECANCELED) {
		fds->ms_err = res;	/* EMFILE: gort_accept backs off */
	}
	if (more && fds->accq_len >= ACCEPT_QUEUE_MAX && !fds->ms_stopping) {
		fds->ms_stopping = true;
		queue_cancel_locked(r, cqe->user_data);
	}
	if (!more)
		ms_end(fds, rp);
	else if (fds->accq_len)
		mwake_one(fds, 0, rp);
	gort_unlock(&fds->mlock);
}

/* Take up to REAP_BATCH completions; returns how many. */
static int ring_reap_locked(struct gort_uring *r, struct reap *rp)
{
	struct io_uring_cqe *cqe;
	unsigned int head;
	int seen = 0;

	if (unlikely(sq_flags(r) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)))
		WITH_ENTER_FD(r, io_uring_get_events(&r->ring));
	io_uring_for_each_cqe(&r->ring, head, cqe) {
		uint64_t ud = cqe->user_data;
		void *ptr = (void *)(uintptr_t)(ud & PTR_MASK & ~UD_KIND_MASK);

		seen++;
		/* ud 0: a cancel's own completion, or a start-up probe's */
		switch (ptr ? ud & UD_KIND_MASK : UINT64_MAX) {
		case UD_OP:
			((struct gort_pollop *)ptr)->res = cqe->res;
			reap_add(rp, ptr);
			break;
		case UD_ACCEPT:
			ms_accept_cqe(r, ptr, cqe, rp);
			break;
		case UD_RECV:
			ms_recv_cqe(r, ptr, cqe, rp);
			break;
		}
		if (seen == REAP_BATCH)
			break;
	}
	io_uring_cq_advance(&r->ring, (unsigned int)seen);
	if (rp->nbufs) {
		io_uring_buf_ring_advance(r->br, rp->nbufs);
		rp->nbufs = 0;
	}
	return seen;
}

/* After the ring lock: ready what the reap woke; returns how many. */
static int reap_finish(struct reap *rp)
{
	struct gort_pollop *op, *next;
	int n = 0, i;

	for (op = rp->ready; op; op = next) {
		struct gort_g *gp = op->gp;

		next = op->wnext;	/* op is gone once gp runs */
		gort_netpoll_trace_ready(gp, op->res);
		gort_goready_io(gp);
		n++;
	}
	for (i = 0; i < rp->nended; i++)
		n += gort_fd_unbusy(rp->ended[i]);
	rp->ready = NULL;
	rp->tail = &rp->ready;
	rp->nended = 0;
	return n;
}

/* Submit what is queued and reap what completed; returns goroutines readied. */
static int ring_poll(struct gort_uring *r, bool trylock)
{
	struct reap rp = { .tail = &rp.ready };
	int seen, total = 0;

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
		seen = ring_reap_locked(r, &rp);
		gort_unlock(&r->lock);
		total += reap_finish(&rp);
	} while (seen == REAP_BATCH);
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
	gort_netpoll_trace_block(m, rq->fd, rq->op);
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

/* ---- multishot accept and receive ---- */

/* Waking an op that waits for a multishot's queue: only under fds->mlock. */
static void mwait_unlink(struct gort_fd *fds, struct gort_pollop *op)
{
	struct gort_pollop **pp;

	for (pp = &fds->mwaiters; *pp; pp = &(*pp)->mnext) {
		if (*pp == op) {
			*pp = op->mnext;
			break;
		}
	}
}

/* Wakes the op with res unless something did first; true if it did. */
static bool mwait_wake(struct gort_fd *fds, struct gort_pollop *op, int res)
{
	bool woke = false;

	gort_lock(&fds->mlock);
	if (!op->woken) {
		mwait_unlink(fds, op);
		op->woken = true;
		op->res = res;
		woke = true;
	}
	gort_unlock(&fds->mlock);
	if (woke) {
		gort_netpoll_trace_ready(op->gp, res);
		gort_goready_io(op->gp);
	}
	return woke;
}

static void mwait_deadline_fire(void *arg, int64_t now)
{
	struct gort_pollop *op = arg;

	atomic_store(&op->timedout, true);
	mwait_wake(op->fds, op, -ETIMEDOUT);
}

static bool mwait_commit(struct gort_g *gp, void *arg)
{
	struct gort_pollop *op = arg;

	if (op->deadline)
		gort_timer_rt_start(&op->timer, op->deadline);
	gort_unlock(&op->fds->mlock);
	gort_unlock(&op->fds->lock);
	return true;
}

/*
 * Park until fds's multishot delivers, ends, or the wait is cancelled;
 * entered with fds->lock and fds->mlock held, returns with neither.  0 or
 * -EAGAIN: look at the queue again; -ECANCELED, -ETIMEDOUT.
 */
static int mwait(struct gort_fd *fds, const struct gort_ioreq *rq)
{
	struct gort_m *m = gort_getm();
	struct gort_pollop op;

	memset(&op, 0, sizeof(op));
	op.gp = m->curg;
	op.fds = fds;
	op.mode = IO_MODE_READ;
	op.ms = true;
	op.deadline = fds->deadline[IO_MODE_READ];
	gort_timer_rt_init(&op.timer, mwait_deadline_fire, &op);
	op.next = fds->ops;
	fds->ops = &op;
	fds->nops++;
	op.mnext = fds->mwaiters;
	fds->mwaiters = &op;
	atomic_fetch_add_explicit(&gort_netpoll.waiters, 1,
				  memory_order_relaxed);
	gort_netpoll_trace_block(m, rq->fd, rq->op);
	gort_gopark(mwait_commit, &op, WR_IO_WAIT);
	atomic_fetch_sub_explicit(&gort_netpoll.waiters, 1,
				  memory_order_relaxed);
	gort_timer_rt_stop(&op.timer);
	gort_fd_op_done(fds, &op);
	return op.res;
}

/*
 * Arm a multishot of kind on the calling P's ring (queued, submitted with
 * the P's next batch).  0: armed, or the queue changed meanwhile (look
 * again); -ECANCELED; -ENOBUFS: this ring has no provided buffers.
 */
static int ms_arm(struct gort_fd *fds, int kind)
{
	struct gort_uring *r = ring_of(gort_getm()->p);
	struct io_uring_sqe *sqe;
	bool again;

	if (kind == UD_RECV && !r->br)
		return -ENOBUFS;
	gort_lock(&fds->lock);
	if (fds->closing) {
		gort_unlock(&fds->lock);
		return -ECANCELED;
	}
	gort_lock(&r->lock);
	gort_lock(&fds->mlock);
	again = fds->ms_active || fds->ms_off || fds->ms_err ||
		fds->accq_len || fds->rx_len || fds->rx_eof;
	if (!again) {
		fds->ms_active = true;
		WRITE_ONCE(fds->ms_used, true);
	}
	gort_unlock(&fds->mlock);
	if (again)
		goto unlock;
	fds->ms_ring = r;
	fds->ms_tag = ((uint64_t)atomic_fetch_add_explicit(
			       &r->seq, 1, memory_order_relaxed)
		       << TAG_SHIFT) |
		      (uintptr_t)fds | (uint64_t)kind;
	fds->nops++;		/* until its last completion */
	sqe = get_sqe(r);
	if (kind == UD_ACCEPT) {
		io_uring_prep_multishot_accept(sqe, fds->fd, NULL, NULL,
					       SOCK_CLOEXEC);
	} else {
		io_uring_prep_recv_multishot(sqe, fds->fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = BGID;
	}
	io_uring_sqe_set_data64(sqe, fds->ms_tag);
unlock:
	gort_unlock(&r->lock);
	gort_unlock(&fds->lock);
	return 0;
}

/* Copy up to len queued bytes into rq's buffer(s); under mlock. */
static size_t rx_copy(struct gort_fd *fds, const struct gort_ioreq *rq,
		      bool peek)
{
	const char *src = fds->rx_buf + fds->rx_head;
	size_t n = 0, avail = fds->rx_len;

	if (!rq->iovcnt) {
		n = rq->len < avail ? rq->len : avail;
		memcpy(rq->buf, src, n);
	} else {
		for (int i = 0; i < rq->iovcnt && n < avail; i++) {
			size_t k = rq->iov[i].iov_len;

			if (k > avail - n)
				k = avail - n;
			memcpy(rq->iov[i].iov_base, src + n, k);
			n += k;
		}
	}
	if (!peek) {
		fds->rx_head += n;
		fds->rx_len -= n;
		if (!fds->rx_len) {
			fds->rx_head = 0;
			if (fds->rx_cap > RX_BUF_SIZE) {
				/* a burst is over: keep a small buffer */
				free(fds->rx_buf);
				fds->rx_buf = NULL;
				fds->rx_cap = 0;
			}
		}
	}
	return n;
}

/* ms_io: use a single-shot request; no byte count or -errno */
#define MS_FALLBACK (-SSIZE_MAX - 1)

/*
 * A read, recv or accept served from fds's multishot queue.  Returns
 * bytes or an fd, -errno, or MS_FALLBACK when this fd or request is not
 * for a multishot (nothing queued, none armed, not armed now).
 */
static ssize_t ms_io(struct gort_fd *fds, const struct gort_ioreq *rq,
		     int kind, bool arm)
{
	bool peek = kind == UD_RECV && (rq->flags & MSG_PEEK);
	ssize_t res;
	int64_t dl;
	int w;

	for (;;) {
		if (READ_ONCE(fds->closing))
			return -ECANCELED;
		/* a passed deadline fails the op even with data queued */
		dl = READ_ONCE(fds->deadline[IO_MODE_READ]);
		if (dl && dl <= gort_nanotime_internal())
			return -ETIMEDOUT;
		gort_lock(&fds->mlock);
		if (kind == UD_RECV && fds->rx_len) {
			res = (ssize_t)rx_copy(fds, rq, peek);
			gort_unlock(&fds->mlock);
			return res;
		}
		if (kind == UD_ACCEPT && fds->accq_len) {
			res = fds->accq[0];
			memmove(fds->accq, fds->accq + 1,
				(size_t)--fds->accq_len * sizeof(int));
			gort_unlock(&fds->mlock);
			return res;
		}
		if (fds->ms_err) {
			res = fds->ms_err;
			fds->ms_err = 0;
			gort_unlock(&fds->mlock);
			return res;
		}
		if (fds->rx_eof) {
			gort_unlock(&fds->mlock);
			return 0;
		}
		if (!fds->ms_active) {
			bool off = fds->ms_off;

			gort_unlock(&fds->mlock);
			if (off || !arm)
				return MS_FALLBACK;
			w = ms_arm(fds, kind);
			if (w == -ENOBUFS)
				return MS_FALLBACK;
			if (w)
				return w;
			continue;
		}
		gort_unlock(&fds->mlock);
		if (gort_io_nowait(rq))
			return -EAGAIN;
		gort_lock(&fds->lock);
		gort_lock(&fds->mlock);
		if (fds->closing || fds->rx_len || fds->accq_len ||
		    fds->ms_err || fds->rx_eof || !fds->ms_active ||
		    fds->deadline[IO_MODE_READ] != dl) {
			gort_unlock(&fds->mlock);
			gort_unlock(&fds->lock);
			continue;
		}
		w = mwait(fds, rq);
		if (w && w != -EAGAIN)
			return w;
	}
}

/* recv flags the queue can serve; others go to the kernel as they are */
#define MS_RECV_FLAGS (MSG_PEEK | MSG_WAITALL | MSG_DONTWAIT | MSG_NOSIGNAL)

/*
 * Is rq served by a multishot?  MS_FALLBACK if not.  A receive arms one
 * only where a single-shot read would wait: right after a write (the
 * request-response pattern), never on a connection that only streams in,
 * where reading straight into the caller's buffer copies less.
 */
static ssize_t ms_try(struct gort_fd *fds, const struct gort_ioreq *rq)
{
	ssize_t r;

	if (rq->op == IO_ACCEPT) {
		if (!have_ms_accept || rq->flags)
			return MS_FALLBACK;
		r = ms_io(fds, rq, UD_ACCEPT, true);
		/* one address buffer cannot serve many completions: ask */
		if (r >= 0 && rq->buf &&
		    getpeername((int)r, rq->buf, rq->addrlen))
			*rq->addrlen = 0;
		return r;
	}
	if (!fds->is_stream_sock ||
	    (rq->op != IO_READ &&
	     (rq->op != IO_RECV || (rq->flags & ~MS_RECV_FLAGS))))
		return MS_FALLBACK;
	/* one load first: most reads are of fds without a multishot */
	if (!READ_ONCE(fds->ms_used) &&
	    (!have_ms_recv || !READ_ONCE(fds->poll_first)))
		return MS_FALLBACK;
	return ms_io(fds, rq, UD_RECV, have_ms_recv);
}

static ssize_t uring_io(struct gort_fd *fds, const struct gort_ioreq *rq,
			struct gort_m *m)
{
	ssize_t r;

	if (rq->op == IO_ACCEPT || rq->op == IO_READ || rq->op == IO_RECV) {
		r = ms_try(fds, rq);
		if (r != MS_FALLBACK)
			return r;
	}
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

/*
 * Under fds->lock.  The cancels are queued on each op's ring; ops that
 * wait for a multishot's queue wake here, and the multishot itself is
 * cancelled: its last completion lets gort_close go on.
 */
static void uring_cancel_all(struct gort_fd *fds, int res)
{
	struct gort_pollop *op;
	struct gort_uring *r;

	for (op = fds->ops; op; op = op->next) {
		if (op->ms) {
			mwait_wake(fds, op, res);
			continue;
		}
		r = op->ring;
		gort_lock(&r->lock);
		queue_cancel_locked(r, op->tag);
		gort_unlock(&r->lock);
	}
	r = fds->ms_ring;
	if (r) {
		gort_lock(&r->lock);
		queue_cancel_locked(r, fds->ms_tag);
		gort_unlock(&r->lock);
	}
}

/*
 * Under fds->lock, every op ended: close the connections a listener
 * accepted that nobody took, and free the queues.
 */
static void uring_fd_release(struct gort_fd *fds)
{
	int i;

	gort_lock(&fds->mlock);
	for (i = 0; i < fds->accq_len; i++)
		close(fds->accq[i]);
	free(fds->accq);
	free(fds->rx_buf);
	fds->accq = NULL;
	fds->accq_len = fds->accq_cap = 0;
	fds->rx_buf = NULL;
	fds->rx_head = fds->rx_len = fds->rx_cap = 0;
	fds->ms_ring = NULL;
	gort_unlock(&fds->mlock);
}

/* Under fds->lock: move the timers of mode's waiting ops. */
static void uring_deadline_changed(struct gort_fd *fds, int mode)
{
	struct gort_pollop *op;
	int64_t dl = fds->deadline[mode];

	for (op = fds->ops; op; op = op->next) {
		if (op->mode != mode || atomic_load(&op->timedout))
			continue;
		if (op->ms) {
			/*
			 * Its timer's callback takes mlock, which a move of
			 * the timer could wait for: wait again instead.
			 */
			mwait_wake(fds, op, -EAGAIN);
			continue;
		}
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
	.fd_release = uring_fd_release,
	.poll_p = uring_poll_p,
	.event = uring_event,
	.sysmon = uring_sysmon,
};
