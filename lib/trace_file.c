// SPDX-License-Identifier: MIT
/*
 * trace_file.c - GORT_TRACE=FILE and gort_trace_start/gort_trace_stop: the
 * trace-file sink of lib/trace.h, Go's runtime/trace.Start and Stop.
 *
 * The file is a struct gort_trace_file_header and then raw struct
 * gort_trace_event records (include/uapi/gort_trace.h), in batches: each
 * thread that emits fills a buffer of its own, and a full buffer is
 * written whole, so a batch holds one thread's records in its order.
 *
 * The hot path takes no lock and makes no system call: the sink appends to
 * the calling thread's buffer (a thread-local slot), and a full buffer goes
 * on a lock-free stack that a writer thread empties with write(2).  Writing
 * from the emitting thread was rejected: events fire under the scheduler's
 * locks, and a write to a pipe whose reader is a goroutine of the same
 * program would then deadlock it.
 *
 * Stopping without a lock on the hot path: every thread that ever emitted
 * owns a slot (never freed, kept on a global list) with a busy flag.  The
 * sink sets busy, issues a full fence, and only then looks at `on`; stop
 * clears `on`, issues a full fence, and then waits for each slot's busy
 * flag to drop.  Either the sink sees `on` cleared and records nothing, or
 * stop sees it busy and waits: after the wait no thread touches a buffer,
 * so stop flushes the partial ones and frees them.  The fence is paid only
 * while a trace is being written.
 *
 * The writer thread is the runtime's, not the program's: it is counted in
 * gort_helper_threads so that the deadlock detector does not take it for a
 * foreign thread that might still wake a goroutine.
 *
 * Invariants: a slot's buffer belongs to its thread while `on` is set and
 * to stop afterwards; a buffer is on the writer's stack at most once, and
 * then no slot holds it.  Lock order: trace_lock is taken alone.
 *
 * Rejected: per-M buffers inside struct gort_m (foreign threads and sysmon
 * emit too, and an M's buffer would have to survive gort_main's teardown),
 * and Go's varint batches (the uapi fixes raw records, see its comment).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace.h"

#define TBUF_EVENTS 1024	/* records per buffer: 48 KiB */

struct tbuf {
	struct tbuf *next;		/* on the writer's stack */
	uint32_t n;			/* records in ev */
	struct gort_trace_event ev[TBUF_EVENTS];
};

struct tslot {
	_Atomic uint32_t busy;		/* its thread is inside the sink */
	struct tbuf *buf;		/* buffer being filled, or NULL */
	struct tslot *next;		/* every slot, for stop */
};

static struct gort_lock trace_lock;	/* start and stop, one at a time */
static bool tracing;			/* a trace is being written */
static _Atomic uint32_t on;		/* the sink takes records */
static int trace_fd = -1;
static struct tslot *_Atomic slots;	/* every thread's slot */
static struct tbuf *_Atomic full;	/* full buffers, newest first */
static _Atomic uint32_t writer_kick;	/* futex: full buffers, or quit */
static _Atomic bool writer_quit;
static pthread_t writer;
static int write_err;			/* first write error, -errno */
static _Atomic uint64_t dropped;	/* records lost to a failed malloc */

static __thread struct tslot *my_slot;

/* ---- writing ---- */

static int write_all(int fd, const void *p, size_t len)
{
	const char *c = p;

	while (len) {
		ssize_t n = write(fd, c, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write b's records (keeping the first error) and free it. */
static void flush_buf(struct tbuf *b)
{
	int err = write_all(trace_fd, b->ev, b->n * sizeof(b->ev[0]));

	if (err && !write_err)
		write_err = err;
	free(b);
}

/* Write every queued buffer, oldest first. */
static void drain(void)
{
	struct tbuf *b = atomic_exchange(&full, NULL), *fifo = NULL, *next;

	for (; b; b = next) {
		next = b->next;
		b->next = fifo;
		fifo = b;
	}
	for (b = fifo; b; b = next) {
		next = b->next;
		flush_buf(b);
	}
}

static void *writer_main(void *arg)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	for (;;) {
		while (!atomic_exchange(&writer_kick, 0))
			gort_futex_wait(&writer_kick, 0, -1);
		drain();
		if (atomic_load(&writer_quit))
			return NULL;
	}
}

/* ---- the sink ---- */

static struct tslot *slot_new(void)
{
	struct tslot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->next = atomic_load(&slots);
	while (!atomic_compare_exchange_weak(&slots, &s->next, s))
		;
	return s;
}

static void queue_full(struct tbuf *b)
{
	b->next = atomic_load(&full);
	while (!atomic_compare_exchange_weak(&full, &b->next, b))
		;
	if (!atomic_exchange(&writer_kick, 1))
		gort_futex_wake(&writer_kick, 1);
}

static void file_sink(const struct gort_trace_event *ev)
{
	struct tslot *s = my_slot;
	struct tbuf *b;

	if (!s) {
		s = slot_new();
		if (!s)
			goto out_drop;
		my_slot = s;
	}
	atomic_store_explicit(&s->busy, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&on, memory_order_relaxed))
		goto out_idle;		/* stopping: record nothing */
	b = s->buf;
	if (!b) {
		b = malloc(sizeof(*b));
		if (!b) {
			atomic_store_explicit(&s->busy, 0,
					      memory_order_release);
			goto out_drop;
		}
		b->n = 0;
		s->buf = b;
	}
	b->ev[b->n++] = *ev;
	if (b->n == TBUF_EVENTS) {
		s->buf = NULL;
		queue_full(b);
	}
out_idle:
	atomic_store_explicit(&s->busy, 0, memory_order_release);
	return;
out_drop:
	atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
}

/* ---- start and stop ---- */

GORT_API int gort_trace_start(int fd)
{
	struct gort_trace_file_header h;
	int err;

	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	gort_lock(&trace_lock);
	err = -EBUSY;
	if (tracing)
		goto out_unlock;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, GORT_TRACE_MAGIC, sizeof(h.magic));
	h.version = GORT_TRACE_VERSION;
	h.record_size = sizeof(struct gort_trace_event);
	h.start_ns = (uint64_t)gort_nanotime_internal();
	err = write_all(fd, &h, sizeof(h));
	if (err)
		goto out_unlock;
	trace_fd = fd;
	write_err = 0;
	atomic_store(&writer_quit, false);
	atomic_store(&writer_kick, 0);
	atomic_fetch_add(&gort_helper_threads, 1);
	err = -pthread_create(&writer, NULL, writer_main, NULL);
	if (err) {
		atomic_fetch_sub(&gort_helper_threads, 1);
		goto out_unlock;
	}
	tracing = true;
	atomic_store(&on, 1);
	gort_trace_sink_set(GORT_TRACE_SINK_FILE, file_sink);
out_unlock:
	gort_unlock(&trace_lock);
	return err;
}

GORT_API int gort_trace_stop(void)
{
	struct tslot *s;
	int err;

	gort_lock(&trace_lock);
	if (!tracing) {
		gort_unlock(&trace_lock);
		return 0;	/* as Go's trace.Stop: nothing to stop */
	}
	/* the stop protocol's half: see the comment at the top */
	gort_trace_sink_set(GORT_TRACE_SINK_FILE, NULL);
	atomic_store_explicit(&on, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	/* a goroutine that stops tracing lets its P run others meanwhile */
	gort_syscall_begin();
	for (s = atomic_load(&slots); s; s = s->next)
		while (atomic_load_explicit(&s->busy, memory_order_acquire))
			sched_yield();
	/* the writer first: its buffers were filled before the partial ones */
	atomic_store(&writer_quit, true);
	atomic_store(&writer_kick, 1);
	gort_futex_wake(&writer_kick, 1);
	pthread_join(writer, NULL);
	atomic_fetch_sub(&gort_helper_threads, 1);
	for (s = atomic_load(&slots); s; s = s->next) {
		if (s->buf)
			flush_buf(s->buf);
		s->buf = NULL;
	}
	gort_syscall_end();
	err = write_err;
	trace_fd = -1;
	tracing = false;
	gort_unlock(&trace_lock);
	return err;
}

uint64_t gort_trace_dropped(void)
{
	return atomic_load(&dropped);
}
