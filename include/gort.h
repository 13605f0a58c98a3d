/* SPDX-License-Identifier: MIT */
/*
 * gort.h - the public interface of gort, a Go-style goroutine runtime for C.
 *
 * One header, one contract (see Documentation/ and DESIGN.md):
 *
 *  - Every symbol is gort_* or GORT_*; the library exports nothing else.
 *  - Functions that can fail return 0, a count, or -errno (liburing style)
 *    and never set errno for that.  Functions returning pointers return NULL
 *    and set errno.
 *  - Programmer errors that Go turns into a panic print "panic: <Go's
 *    message>", the state and stack of every goroutine, and exit with
 *    status 2, as Go does.
 *  - Time is int64_t nanoseconds on the monotonic clock.
 *  - Sync types are plain structs whose all-zero value is ready to use; they
 *    may be globals, stack variables or fields of any memory.  Their fields
 *    are private: touch them only through the functions below.
 *  - Calls of the channel, select, sync and time functions from a thread
 *    the runtime did not start block that thread instead of a goroutine,
 *    and work.
 *
 * Rejected alternative: opaque handles for the sync types.  Go's zero values
 * are what makes sync.Mutex embeddable anywhere; an allocation per mutex
 * would lose that and add a failure path to every initialisation.
 */
#ifndef GORT_H
#define GORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GORT_API __attribute__((visibility("default")))
#define GORT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GORT_API
#define GORT_PRINTF(a, b)
#endif

/* ------------------------------------------------------------------ */
/* Runtime                                                            */
/* ------------------------------------------------------------------ */

/*
 * Start the runtime, run main_fn(arg) as the main goroutine and return its
 * value when it returns.  Goroutines still alive then never run again and
 * their memory is released (a goroutine that is executing C code or sits in
 * a system call at that moment keeps its thread and stack until it next
 * calls into gort, where its thread exits).  gort_main may be called again
 * afterwards; nested or concurrent calls return -EBUSY.
 */
GORT_API int gort_main(int (*main_fn)(void *arg), void *arg);

/* Options for gort_go_opts; a zero field means the default. */
struct gort_go_opts {
	size_t stack_size; /* bytes; rounded up to pages; default GORT_STACK */
	const char *name;	/* shown in goroutine dumps; must outlive it */
};

/* Start fn(arg) in a new goroutine: 0 or -errno (-EINVAL for a NULL fn or
 * a stack over 1 GiB, -ENOMEM, -ESRCH when no gort_main is running).  May
 * be called from any thread while gort_main runs. */
GORT_API int gort_go(void (*fn)(void *arg), void *arg);
GORT_API int gort_go_opts(void (*fn)(void *arg), void *arg,
			  const struct gort_go_opts *opts);

/* runtime.Gosched: let other goroutines run; this one stays runnable. */
GORT_API void gort_yield(void);
/* runtime.Goexit: end the calling goroutine.  As in Go, the main goroutine
 * calling it does not end gort_main: the others keep running, and when the
 * last of them ends the program dies with "no goroutines ... deadlock!". */
GORT_API _Noreturn void gort_goexit(void);
/* The calling goroutine's id; 0 outside a goroutine. */
GORT_API uint64_t gort_goid(void);
/* runtime.GOMAXPROCS: n > 0 sets the number of Ps; returns the previous. */
GORT_API int gort_gomaxprocs(int n);
/* Number of goroutines that exist (running, runnable or blocked). */
GORT_API int gort_num_goroutine(void);
/* Wire the calling goroutine to its current OS thread, and undo it.
 * Calls nest: the goroutine is unwired after as many unlocks as locks. */
GORT_API void gort_lock_os_thread(void);
GORT_API void gort_unlock_os_thread(void);
/* Print "panic: <message>" and every goroutine's stack, exit 2. */
GORT_API _Noreturn void gort_panic(const char *fmt, ...) GORT_PRINTF(1, 2);
/*
 * Bracket a blocking call of the caller's own (read(2) on a pipe, a lock of
 * another library): while inside, the goroutine's P may be handed to
 * another thread so other goroutines keep running.
 */
GORT_API void gort_syscall_begin(void);
GORT_API void gort_syscall_end(void);
/* Write what SIGQUIT prints (every goroutine's state and stack) to fd. */
GORT_API int gort_dump_goroutines(int fd);

/* ------------------------------------------------------------------ */
/* Channels                                                           */
/* ------------------------------------------------------------------ */

struct gort_chan;

/*
 * A channel of elements of elem_size bytes (at most 64 KiB) with room for
 * cap of them (0: unbuffered).  NULL with errno EINVAL or ENOMEM.
 * The channel is a GC object: it is reclaimed once nothing the collector
 * scans references it.
 */
GORT_API struct gort_chan *gort_chan_make(size_t elem_size, size_t cap);
/* Copies elem_size bytes from elem.  Panics on a closed channel; a NULL
 * channel blocks forever. */
GORT_API void gort_chan_send(struct gort_chan *c, const void *elem);
/* true: a value was received into elem.  false: c is closed and drained,
 * *elem is zeroed.  elem may be NULL. */
GORT_API bool gort_chan_recv(struct gort_chan *c, void *elem);
/* 0, or -EAGAIN if the send would block.  Panics on a closed channel. */
GORT_API int gort_chan_try_send(struct gort_chan *c, const void *elem);
/* 1: a value, 0: closed and drained, -EAGAIN: would block. */
GORT_API int gort_chan_try_recv(struct gort_chan *c, void *elem);
/* Panics on a closed or NULL channel; wakes every blocked receiver (they
 * get zero values) and every blocked sender (they panic). */
GORT_API void gort_chan_close(struct gort_chan *c);
GORT_API size_t gort_chan_len(struct gort_chan *c);
GORT_API size_t gort_chan_cap(struct gort_chan *c);

enum { GORT_RECV = 1, GORT_SEND = 2 };

struct gort_select_case {
	struct gort_chan *chan;	/* NULL: this case is never ready */
	int dir;		/* GORT_RECV or GORT_SEND */
	void *elem; /* value to send, or where to receive (or NULL) */
	bool ok; /* set for a chosen receive: false when closed */
};

/*
 * Go's select.  Returns the index of the case that proceeded; among ready
 * cases one is chosen uniformly at random.  timeout_ns < 0 blocks;
 * 0 is Go's default (-EAGAIN if none is ready); > 0 gives -ETIMEDOUT after
 * that long.  -EINVAL for a bad dir or n < 0.
 */
GORT_API int gort_select(struct gort_select_case *cases, int n,
			 int64_t timeout_ns);

/* ------------------------------------------------------------------ */
/* Sync: the zero value is ready to use                               */
/* ------------------------------------------------------------------ */

/* sync.Mutex, with Go's normal and starvation modes. */
struct gort_mutex {
	int32_t state_;
	uint32_t sema_;
};
GORT_API void gort_mutex_lock(struct gort_mutex *mu);
GORT_API bool gort_mutex_trylock(struct gort_mutex *mu);
GORT_API void gort_mutex_unlock(struct gort_mutex *mu);

/* sync.RWMutex: a waiting writer holds off new readers. */
struct gort_rwmutex {
	struct gort_mutex w_;
	uint32_t writer_sem_;
	uint32_t reader_sem_;
	int32_t reader_count_;
	int32_t reader_wait_;
};
GORT_API void gort_rwmutex_rlock(struct gort_rwmutex *rw);
GORT_API void gort_rwmutex_runlock(struct gort_rwmutex *rw);
GORT_API void gort_rwmutex_lock(struct gort_rwmutex *rw);
GORT_API void gort_rwmutex_unlock(struct gort_rwmutex *rw);

/* sync.Cond: the caller holds mu around gort_cond_wait, as in Go. */
struct gort_cond {
	uint32_t wait_;
	uint32_t notify_;
	uint32_t lock_;
	uint32_t pad_;
	void *head_;
	void *tail_;
};
GORT_API void gort_cond_wait(struct gort_cond *cv, struct gort_mutex *mu);
GORT_API void gort_cond_signal(struct gort_cond *cv);
GORT_API void gort_cond_broadcast(struct gort_cond *cv);

/* sync.Once */
struct gort_once {
	uint32_t done_;
	struct gort_mutex m_;
};
GORT_API void gort_once_do(struct gort_once *o, void (*fn)(void *arg),
			   void *arg);


/* sync.WaitGroup */
struct gort_waitgroup {
	uint64_t state_; /* counter (high 32) and waiter count (low 32) */
	uint32_t sema_;		/* runtime semaphore the waiters sleep on */
	uint32_t pad_;
};
GORT_API void gort_wg_add(struct gort_waitgroup *wg, int64_t delta);
GORT_API void gort_wg_done(struct gort_waitgroup *wg);
GORT_API void gort_wg_wait(struct gort_waitgroup *wg);

/* ------------------------------------------------------------------ */
/* Time                                                               */
/* ------------------------------------------------------------------ */

/* Nanoseconds on the monotonic clock. */
GORT_API int64_t gort_nanotime(void);
/* time.Sleep: parks a goroutine; blocks a foreign thread. */
GORT_API void gort_sleep(int64_t ns);

struct gort_timer;
/*
 * Timers, with Go 1.23 semantics: the channel has capacity 1 and receives
 * the gort_nanotime() the timer fired at; Stop and Reset drain it, so no
 * value from before them is received after them.  Until the collector
 * lands, timers are released when gort_main returns.  NULL + errno
 * (ENOMEM; ESRCH outside gort_main) on failure.
 */
GORT_API struct gort_chan *gort_after(int64_t ns);
GORT_API struct gort_timer *gort_timer_new(int64_t ns);
/* fn(arg) runs in its own goroutine; gort_timer_chan() of it is NULL. */
GORT_API struct gort_timer *gort_after_func(int64_t ns, void (*fn)(void *),
					    void *arg);
GORT_API struct gort_chan *gort_timer_chan(struct gort_timer *t);
/* true if it stopped a pending timer, or (Go 1.23) one that fired but
 * whose value was not received yet. */
GORT_API bool gort_timer_stop(struct gort_timer *t);
/* Restart: fires ns from now; returns what gort_timer_stop would. */
GORT_API bool gort_timer_reset(struct gort_timer *t, int64_t ns);
/* Fires every period_ns (panics if <= 0); stop it with gort_timer_stop.
 * Ticks nobody receives are dropped. */
GORT_API struct gort_timer *gort_ticker_new(int64_t period_ns);

/* ------------------------------------------------------------------ */
/* Network and file I/O: the goroutine parks, never the thread        */
/* ------------------------------------------------------------------ */

/*
 * network: "tcp" (IPv6 and IPv4), "tcp4", "tcp6" or "unix".  address:
 * "host:port", "[v6addr]:port", ":port" (every local address for listen,
 * the local host for dial), or a path for "unix".  Host names are resolved
 * with getaddrinfo on a thread that holds no P.  Descriptors are created
 * O_CLOEXEC; TCP connections get TCP_NODELAY, as in Go.
 *
 * The I/O calls work on any descriptor (sockets, pipes, regular files);
 * called from a thread gort did not start they block that thread.  A
 * descriptor used with them must be closed with gort_close.
 */
GORT_API int gort_listen(const char *network, const char *address,
			 int backlog);
/* New connection's descriptor.  At the descriptor limit it waits (1 ms,
 * doubling to 100 ms) before returning -EMFILE/-ENFILE, so a retry loop
 * does not spin and the listener stays usable. */
GORT_API int gort_accept(int lfd, struct sockaddr *addr, socklen_t *addrlen);
/* timeout_ns <= 0: none.  -ETIMEDOUT when it passes. */
GORT_API int gort_dial(const char *network, const char *address,
		       int64_t timeout_ns);
GORT_API ssize_t gort_read(int fd, void *buf, size_t len);
/* All of buf, or -errno (bytes written before the error are lost to the
 * caller, as with Go's Write returning n < len with an error). */
GORT_API ssize_t gort_write(int fd, const void *buf, size_t len);
GORT_API ssize_t gort_readv(int fd, const struct iovec *iov, int iovcnt);
/* All of the vectors, or -errno, as gort_write. */
GORT_API ssize_t gort_writev(int fd, const struct iovec *iov, int iovcnt);
/* flags as for recv(2)/send(2): MSG_DONTWAIT returns -EAGAIN instead of
 * waiting, MSG_WAITALL waits for all len bytes (less only at EOF or an
 * error), MSG_PEEK leaves the data for the next read.  gort_send, unlike
 * gort_write, may send less than len. */
GORT_API ssize_t gort_recv(int fd, void *buf, size_t len, int flags);
GORT_API ssize_t gort_send(int fd, const void *buf, size_t len, int flags);
GORT_API ssize_t gort_pread(int fd, void *buf, size_t len, off_t off);
GORT_API ssize_t gort_pwrite(int fd, const void *buf, size_t len, off_t off);
/* Goroutines blocked on fd return -ECANCELED; then the descriptor is
 * closed. */
GORT_API int gort_close(int fd);
/* Absolute gort_nanotime() values, 0 = none; an operation whose deadline
 * passes fails with -ETIMEDOUT.  Applies to operations already waiting. */
GORT_API int gort_set_deadline(int fd, int64_t read_deadline,
			       int64_t write_deadline);
/* "io_uring" or "epoll": the poller this run uses ("none" outside
 * gort_main). */
GORT_API const char *gort_netpoll_name(void);
/* The io_uring features the poller found and uses, space-separated:
 * "multishot-accept", "multishot-recv", "registered-ring"; "" under epoll
 * or outside gort_main.  GORT_DEBUG=uringaccept=0 etc. turn them off. */
GORT_API const char *gort_netpoll_features(void);

/* ------------------------------------------------------------------ */
/* Garbage-collected heap                                             */
/* ------------------------------------------------------------------ */

/*
 * The rule: a pointer to a GC object must be held somewhere the collector
 * scans (a goroutine's stack or registers, a global of any loaded object,
 * another GC object, or memory given to gort_gc_add_roots).  malloc'd
 * memory and __thread variables are not scanned.  Interior pointers keep
 * their object alive.
 */

/* Zeroed, 16-byte aligned (8 for objects of 8 bytes), scanned for
 * pointers.  NULL with errno ENOMEM when the heap is exhausted. */
GORT_API void *gort_alloc(size_t size);
/* Zeroed and never scanned: byte buffers, numbers. */
GORT_API void *gort_alloc_noscan(size_t size);
/* A full collection, blocking the caller until it ends (runtime.GC). */
GORT_API void gort_gc(void);
/* debug.SetGCPercent: -1 turns the collector off; returns the previous. */
GORT_API int gort_gc_percent(int percent);
/* debug.SetMemoryLimit: bytes >= 0 sets the soft limit (INT64_MAX: none);
 * < 0 only queries.  Returns the previous limit. */
GORT_API int64_t gort_gc_memory_limit(int64_t bytes);
/* Scan [start, start + len) as a root until gort_gc_remove_roots(start).
 * 0, -EINVAL (NULL, empty, or start already registered), -ENOMEM. */
GORT_API int gort_gc_add_roots(void *start, size_t len);
/* 0 or -ENOENT. */
GORT_API int gort_gc_remove_roots(void *start);
/* Run fn(obj) in a goroutine of its own once obj is unreachable (Go's
 * runtime.SetFinalizer); fn NULL removes it.  obj must be the start of a
 * GC object (else panic, as Go).  The object lives until fn returns. */
GORT_API void gort_gc_set_finalizer(void *obj, void (*fn)(void *obj));

#define GORT_MEMSTATS_NSIZE 68
/* Go's runtime.MemStats, the fields that apply; bytes unless said. */
struct gort_memstats {
	uint64_t alloc;			/* bytes of allocated heap objects */
	uint64_t total_alloc;		/* cumulative bytes allocated */
	uint64_t sys;			/* bytes obtained from the OS */
	uint64_t mallocs;		/* cumulative objects allocated */
	uint64_t frees;			/* cumulative objects freed */
	uint64_t heap_alloc;		/* = alloc */
	uint64_t heap_sys;		/* heap bytes mapped */
	uint64_t heap_idle;		/* in spans with no objects */
	uint64_t heap_inuse;		/* in spans with objects */
	uint64_t heap_released;		/* idle bytes returned to the OS */
	uint64_t heap_objects;		/* allocated objects */
	uint64_t stack_inuse;		/* goroutine stacks in use */
	uint64_t stack_sys;		/* stack memory from the OS */
	uint64_t gc_sys;		/* collector metadata */
	uint64_t next_gc;		/* heap goal of the next cycle */
	uint64_t last_gc;		/* end of the last cycle, ns since
					 * the epoch (CLOCK_REALTIME) */
	uint64_t pause_total_ns;	/* cumulative stop-the-world */
	uint64_t pause_ns[256];		/* recent pauses, circular */
	uint64_t pause_end[256];	/* their ends, as last_gc */
	uint32_t num_gc;		/* completed cycles */
	uint32_t num_forced_gc;		/* of which gort_gc started */
	double gc_cpu_fraction;		/* of CPU time since start */
	/* tcmalloc's realized fragmentation: 1 - alloc / heap_inuse, in % */
	double fragmentation;
	struct {
		uint32_t size;		/* largest object of the class */
		uint64_t mallocs;	/* cumulative */
		uint64_t frees;		/* cumulative */
	} by_size[GORT_MEMSTATS_NSIZE];
};
GORT_API void gort_read_memstats(struct gort_memstats *ms);

/* ------------------------------------------------------------------ */
/* Tracing                                                            */
/* ------------------------------------------------------------------ */

/*
 * Write an execution trace to fd until gort_trace_stop (Go's
 * runtime/trace.Start): a struct gort_trace_file_header, then
 * struct gort_trace_event records of <uapi/gort_trace.h>, in batches of
 * one thread each (sort by ts_ns across threads).  Returns 0, -EBADF,
 * -EBUSY when a trace is already being written, or the -errno of writing
 * the header.  GORT_TRACE=FILE traces a whole gort_main run.  The USDT
 * probes (Documentation/probes.md) need none of this.
 */
GORT_API int gort_trace_start(int fd);
/* Stop and write what is buffered; 0 or the first write error (-errno).
 * Stopping when nothing is traced is not an error; fd stays open. */
GORT_API int gort_trace_stop(void);

#ifdef __cplusplus
}
#endif

#endif /* GORT_H */
