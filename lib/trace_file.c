// SPDX-License-Identifier: MIT
/*
 * trace_file.c - GORT_TRACE=FILE and gort_trace_start/gort_trace_stop: the
 * trace-file sink of lib/trace.h, Go's runtime/trace.Start and Stop.
 *
 * The file is a struct gort_trace_file_header and then batches, each a
 * struct gort_trace_batch and raw struct gort_trace_event records
 * (include/uapi/gort_trace.h): each thread that emits fills a buffer of
 * its own, and a full buffer is written whole, so a batch holds one
 * thread's records in its order.  The batch header sits in the buffer just
 * before the records, so a batch is one write(2).
 *
 * Flight recorder (GORT_TRACEFLIGHT=SIZE with GORT_TRACE=FILE): the writer
 * keeps full buffers in a FIFO instead of writing them, dropping the
 * oldest while the window would exceed SIZE, and writes the window as a
 * whole trace file (FILE.tmp, renamed to FILE, so a reader never sees half
 * a dump) when SIGUSR2 arrives and at stop.  The signal handler only sets
 * a flag and wakes the writer (an atomic store and a futex wake, both
 * async-signal-safe); the writer does the I/O.  Before a signal dump the
 * writer bumps flush_gen and gives the threads a few milliseconds: each
 * thread that emits meanwhile seals its partial buffer and queues it, so
 * the dump is complete up to the request (the header's cut_ns) for every
 * thread that is running; a thread that stays idle keeps its last few
 * records to itself until stop.
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
 * sink sets busy, and only then looks at `on`; stop clears `on`, and then
 * waits for each slot's busy flag to drop.  Each side needs a full fence
 * between its store and its load (Dekker): then either the sink sees `on`
 * cleared and records nothing, or stop sees it busy and waits, and after
 * the wait no thread touches a buffer, so stop flushes the partial ones
 * and frees them.  The fences are asymmetric where the kernel allows: the
 * sink has only a compiler barrier, and stop has membarrier(2)'s
 * PRIVATE_EXPEDITED run a full fence on every thread of the process that
 * is running (one that is not passes a fence when it is next scheduled).
 * An mfence costs as much as the rest of an event's append; stop is
 * rare.  The registration is the runtime lock's (gort_membarrier_ok).
 * Without membarrier (before Linux 4.14, or seccomp) both sides fence; so
 * does a TSan build, which does not know the syscall.
 *
 * The writer is woken for every KICK_BATCH buffers queued, and otherwise
 * looks every WRITER_PERIOD_NS: a wake-up per buffer (a futex wake that
 * interrupts another CPU, 15,000 a second under a busy trace) cost the
 * emitting threads more than their appends.
 *
 * The writer thread is the runtime's, not the program's: it is counted in
 * gort_helper_threads so that the deadlock detector does not take it for a
 * foreign thread that might still wake a goroutine.
 *
 * Invariants: a stream's records never go back in time (the sink raises
 * a record's ts_ns to its predecessor's, see lib/trace.c on the clock);
 * a slot's buffer belongs to its thread while `on` is set and
 * to stop afterwards; a buffer is on the writer's stack at most once, and
 * then no slot holds it; a buffer's batch header is filled by its owner
 * just before it leaves the slot.  The flight window (kept, kept_bytes)
 * belongs to the writer thread, and to stop once the writer has ended.
 * Lock order: trace_lock is taken alone.
 *
 * Rejected: per-M buffers inside struct gort_m (foreign threads and sysmon
 * emit too, and an M's buffer would have to survive gort_main's teardown),
 * Go's varint batches (the uapi fixes raw records, see its comment), and
 * for the flight recorder a ring of records shared by all threads (every
 * append would contend on its head; whole buffers keep the hot path as it
 * is and the dump a valid file of whole batches).
 */
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "trace.h"

#define TBUF_EVENTS GORT_TRACE_BATCH_MAX	/* records per buffer: 48 KiB */
#define KICK_BATCH 8			/* full buffers per writer wake-up */
#define WRITER_PERIOD_NS 10000000	/* the writer looks this often */

struct tbuf {
	struct tbuf *next;		/* on the writer's stack, or in the
					 * flight window */
	uint32_t n;			/* records in ev */
	struct gort_trace_batch bh;	/* written with ev, just before it */
	struct gort_trace_event ev[TBUF_EVENTS];
};

_Static_assert(__builtin_offsetof(struct tbuf, ev) ==
	       __builtin_offsetof(struct tbuf, bh) +
	       sizeof(struct gort_trace_batch),
	       "a batch is written in one piece");

struct tslot {
	_Atomic uint32_t busy;		/* its thread is inside the sink */
	uint32_t stream;		/* gort_trace_batch.stream */
	uint32_t tid;			/* its thread's kernel thread id */
	uint64_t seq;			/* its next batch's seq */
	uint64_t last_ns;		/* ts_ns of its last record */
	uint32_t flush_gen;		/* flush_gen it last answered */
	struct tbuf *buf;		/* buffer being filled, or NULL */
	struct tslot *next;		/* every slot, for stop */
};

static struct gort_lock trace_lock;	/* start and stop, one at a time */
static bool tracing;			/* a trace is being written */
static _Atomic uint32_t on;		/* the sink takes records */
/* stop fences for the sink (membarrier; see the top) */
#ifdef __SANITIZE_THREAD__
#define stop_fences false
#else
#define stop_fences gort_membarrier_ok
#endif
static int trace_fd = -1;
static struct tslot *_Atomic slots;	/* every thread's slot */
static struct tbuf *_Atomic full;	/* full buffers, newest first */
static _Atomic uint32_t writer_kick;	/* futex: full buffers, or quit */
static _Atomic uint32_t nqueued;	/* buffers queued since the last drain */
static _Atomic bool writer_quit;
static pthread_t writer;
static int write_err;			/* first write error, -errno */
static _Atomic uint64_t dropped;	/* records lost to a failed malloc */
static _Atomic uint32_t nstreams;	/* slots made so far */

/* The flight recorder; flight_max 0: a plain trace. */
static size_t flight_max;		/* bytes a dump may take */
static char *flight_path;		/* where dumps go */
static char *flight_tmp;		/* flight_path + ".tmp" */
static struct tbuf *kept, *kept_tail;	/* the window, oldest first */
static size_t kept_bytes;		/* its batches' size */
static _Atomic uint32_t dump_req;	/* SIGUSR2 came: dump the window */
static _Atomic uint32_t flush_gen;	/* bumped: hand over partial buffers */
static uint64_t cut_ns;			/* the dump's gort_trace_file_header */
static uint64_t trace_start_ns;		/* the header's start_ns */
static struct sigaction old_usr2;	/* restored at stop */

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

static size_t batch_bytes(const struct tbuf *b)
{
	return sizeof(b->bh) + b->n * sizeof(b->ev[0]);
}

/* Fill b's batch header; by the thread that owns b (or stop). */
static void seal(struct tslot *s, struct tbuf *b)
{
	b->bh = (struct gort_trace_batch){
		.magic = GORT_TRACE_BATCH_MAGIC,
		.nrec = b->n,
		.stream = s->stream,
		.tid = s->tid,
		.seq = s->seq++,
		.first_ns = b->ev[0].ts_ns,
		.last_ns = b->ev[b->n - 1].ts_ns,
	};
}

/*
 * The executable's load bias, for a converter that names goroutines by
 * their function: the run-time address of its program headers less the
 * address its PT_PHDR entry asks for.
 */
static uint64_t exe_bias(void)
{
	const ElfW(Phdr) *ph = (const void *)getauxval(AT_PHDR);
	unsigned long i, n = getauxval(AT_PHNUM);

	for (i = 0; ph && i < n; i++)
		if (ph[i].p_type == PT_PHDR)
			return (uint64_t)(uintptr_t)ph - ph[i].p_vaddr;
	return 0;
}

static void header_init(struct gort_trace_file_header *h, uint32_t flags)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, GORT_TRACE_MAGIC, sizeof(h->magic));
	h->version = GORT_TRACE_VERSION;
	h->record_size = sizeof(struct gort_trace_event);
	h->start_ns = trace_start_ns;
	h->batch_max = GORT_TRACE_BATCH_MAX;
	h->flags = flags;
	h->pid = (uint32_t)getpid();
	h->exe_bias = exe_bias();
	h->cut_ns = flags & GORT_TRACE_F_FLIGHT ? cut_ns : 0;
}

/* Write the flight window as a trace file at flight_path, replacing it. */
static void flight_dump(void)
{
	struct gort_trace_file_header h;
	struct tbuf *b;
	int fd, err;

	header_init(&h, GORT_TRACE_F_FLIGHT);
	fd = open(flight_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		goto out_err;
	}
	err = write_all(fd, &h, sizeof(h));
	for (b = kept; b && !err; b = b->next)
		err = write_all(fd, &b->bh, batch_bytes(b));
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(flight_tmp, flight_path))
		err = -errno;
	if (err)
		unlink(flight_tmp);
out_err:
	if (err && !write_err)
		write_err = err;
}

/* Add b to the flight window, dropping the oldest batches over the cap. */
static void flight_keep(struct tbuf *b)
{
	b->next = NULL;
	if (kept_tail)
		kept_tail->next = b;
	else
		kept = b;
	kept_tail = b;
	kept_bytes += batch_bytes(b);
	while (kept && sizeof(struct gort_trace_file_header) + kept_bytes >
			       flight_max) {
		struct tbuf *old = kept;

		kept = old->next;
		if (!kept)
			kept_tail = NULL;
		kept_bytes -= batch_bytes(old);
		free(old);
	}
}

/* Write b's batch (keeping the first error) and free it, or keep it. */
static void flush_buf(struct tbuf *b)
{
	int err;

	if (flight_max) {
		flight_keep(b);
		return;
	}
	err = write_all(trace_fd, &b->bh, batch_bytes(b));
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

static void flight_free(void)
{
	struct tbuf *b, *next;

	for (b = kept; b; b = next) {
		next = b->next;
		free(b);
	}
	kept = kept_tail = NULL;
	kept_bytes = 0;
}

/*
 * A dump asked for by SIGUSR2: let running threads hand over their
 * partial buffers first (see the comment at the top), then write.
 */
static void flight_signal_dump(void)
{
	struct timespec ms = { 0, 1000000 };
	int i;

	cut_ns = gort_trace_now();
	atomic_fetch_add(&flush_gen, 1);
	for (i = 0; i < 10; i++) {
		nanosleep(&ms, NULL);
		drain();
	}
	flight_dump();
	cut_ns = 0;
}

/* Until kicked, or a period passed with full buffers queued. */
static void writer_wait(void)
{
	while (!atomic_exchange(&writer_kick, 0))
		if (gort_futex_wait(&writer_kick, 0, WRITER_PERIOD_NS) ==
			    -ETIMEDOUT &&
		    atomic_load(&full))
			return;
}

static void *writer_main(void *arg)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	for (;;) {
		bool quit;

		writer_wait();
		/*
		 * Read before the drain: stop asks only once no sink can
		 * queue any more, so this drain takes the last buffers.  Read
		 * after it, a buffer queued during the drain would be left
		 * behind, and written into the next trace's file.
		 */
		quit = atomic_load(&writer_quit);
		atomic_store_explicit(&nqueued, 0, memory_order_relaxed);
		drain();
		if (flight_max && atomic_exchange(&dump_req, 0))
			flight_signal_dump();
		if (quit)
			return NULL;
	}
}

/* ---- the sink ---- */

static struct tslot *slot_new(void)
{
	struct tslot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->stream = atomic_fetch_add(&nstreams, 1);
	s->tid = (uint32_t)syscall(SYS_gettid);
	/* a flush asked for before this thread existed is not for it */
	s->flush_gen = atomic_load_explicit(&flush_gen, memory_order_relaxed);
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
	if (atomic_fetch_add_explicit(&nqueued, 1, memory_order_relaxed) + 1 >=
		    KICK_BATCH &&
	    !atomic_exchange(&writer_kick, 1))
		gort_futex_wake(&writer_kick, 1);
}

void gort_trace_file_append(uint64_t ts_ns, uint32_t kind, uint64_t goid,
			    int32_t p, int32_t m, uint32_t tid, uint64_t a0,
			    uint64_t a1)
{
	struct tslot *s = my_slot;
	struct gort_trace_event *rec;
	struct tbuf *b;

	if (!s) {
		s = slot_new();
		if (!s)
			goto out_drop;
		my_slot = s;
	}
	atomic_store_explicit(&s->busy, 1, memory_order_relaxed);
	if (stop_fences)
		atomic_signal_fence(memory_order_seq_cst);
	else
		atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&on, memory_order_acquire))
		goto out_idle;		/* stopping: record nothing */
	/* timed before the start, delayed past it: not part of the trace */
	if (unlikely(ts_ns < trace_start_ns))
		goto out_idle;
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
	/* an unordered counter read may come out a few cycles early */
	if (unlikely(ts_ns < s->last_ns))
		ts_ns = s->last_ns;
	s->last_ns = ts_ns;
	rec = &b->ev[b->n++];
	rec->ts_ns = ts_ns;
	rec->goid = goid;
	rec->kind = kind;
	rec->p = p;
	rec->m = m;
	rec->tid = tid;
	rec->arg[0] = a0;
	rec->arg[1] = a1;
	if (b->n == TBUF_EVENTS ||
	    unlikely(atomic_load_explicit(&flush_gen, memory_order_relaxed) !=
		     s->flush_gen)) {
		/* full, or a flight dump wants what this thread has */
		s->flush_gen = atomic_load_explicit(&flush_gen,
						    memory_order_relaxed);
		s->buf = NULL;
		seal(s, b);
		queue_full(b);
	}
out_idle:
	atomic_store_explicit(&s->busy, 0, memory_order_release);
	return;
out_drop:
	atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
}

static void file_sink(const struct gort_trace_event *ev)
{
	gort_trace_file_append(ev->ts_ns, ev->kind, ev->goid, ev->p, ev->m,
			       ev->tid, ev->arg[0], ev->arg[1]);
}

/* ---- start and stop ---- */

/* SIGUSR2 in flight mode: ask the writer for a dump; nothing else. */
static void on_usr2(int sig)
{
	int saved = errno;

	atomic_store(&dump_req, 1);
	atomic_store(&writer_kick, 1);
	gort_futex_wake(&writer_kick, 1);
	errno = saved;
}

/* stop's half of the Dekker pair: `on` was cleared just before */
static void stop_fence(void)
{
	if (stop_fences) {
		gort_membarrier();
		return;
	}
	/* TSan does not model fences (-Wtsan); the fence still runs */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wtsan"
	atomic_thread_fence(memory_order_seq_cst);
#pragma GCC diagnostic pop
}

/*
 * Start a trace into fd, or with fd -1 a flight recorder of at most
 * flight bytes whose dumps go to path.
 */
static int trace_begin(int fd, const char *path, size_t flight)
{
	struct gort_trace_file_header h;
	struct sigaction sa;
	int err;

	gort_lock(&trace_lock);
	err = -EBUSY;
	if (tracing)
		goto out_unlock;
	gort_trace_clock_start();
	gort_trace_clock_sync(true);
	trace_start_ns = gort_trace_now();
	if (flight) {
		err = -ENOMEM;
		flight_path = strdup(path);
		if (!flight_path ||
		    asprintf(&flight_tmp, "%s.tmp", path) < 0) {
			flight_tmp = NULL;
			goto out_free_path;
		}
		flight_max = flight;
	} else {
		header_init(&h, 0);
		err = write_all(fd, &h, sizeof(h));
		if (err)
			goto out_unlock;
	}
	trace_fd = fd;
	write_err = 0;
	atomic_store(&writer_quit, false);
	atomic_store(&writer_kick, 0);
	atomic_store(&dump_req, 0);
	atomic_fetch_add(&gort_helper_threads, 1);
	err = -pthread_create(&writer, NULL, writer_main, NULL);
	if (err) {
		atomic_fetch_sub(&gort_helper_threads, 1);
		goto out_free_path;
	}
	if (flight) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_usr2;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR2, &sa, &old_usr2);
	}
	tracing = true;
	atomic_store(&on, 1);
	gort_trace_sink_set(GORT_TRACE_SINK_FILE, file_sink);
	gort_unlock(&trace_lock);
	return 0;

out_free_path:
	free(flight_path);
	free(flight_tmp);
	flight_path = flight_tmp = NULL;
	flight_max = 0;
out_unlock:
	gort_unlock(&trace_lock);
	return err;
}

GORT_API int gort_trace_start(int fd)
{
	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	return trace_begin(fd, NULL, 0);
}

int gort_trace_flight_start(const char *path, size_t bytes)
{
	if (!path || bytes < GORT_TRACE_FLIGHT_MIN)
		return -EINVAL;
	return trace_begin(-1, path, bytes);
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
	stop_fence();
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
		if (s->buf && s->buf->n) {
			seal(s, s->buf);
			flush_buf(s->buf);
		} else {
			free(s->buf);
		}
		s->buf = NULL;
	}
	if (flight_max) {
		sigaction(SIGUSR2, &old_usr2, NULL);
		flight_dump();
		flight_free();
		free(flight_path);
		free(flight_tmp);
		flight_path = flight_tmp = NULL;
		flight_max = 0;
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
