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
 *  - Calls of the sync functions from a thread the runtime did not start
 *    block that thread instead of a goroutine, and work.
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
	size_t stack_size;	/* bytes; rounded up to pages; default GORT_STACK */
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
/* Sync: the zero value is ready to use                               */
/* ------------------------------------------------------------------ */

/* sync.WaitGroup */
struct gort_waitgroup {
	uint64_t state_;	/* counter (high 32) and waiter count (low 32) */
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

#ifdef __cplusplus
}
#endif

#endif /* GORT_H */
