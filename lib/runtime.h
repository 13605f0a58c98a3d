/* SPDX-License-Identifier: MIT */
/*
 * runtime.h - gort's internal types and the calls between its files.
 *
 * G is a goroutine, M an OS thread, P the right to run goroutines (a
 * processor, GORT_MAXPROCS of them), as in Go's runtime/proc.go.  An M runs
 * goroutine code only while it holds a P.  Each M has a g0 context (its own
 * thread stack) where the scheduler loop runs when no goroutine can be
 * switched to directly.
 *
 * Lock order (outer first): sched.lock -> sema bucket locks.  No runtime
 * lock is held across a context switch except through a park's unlock
 * callback, which runs after the switch, on the next context.
 *
 * The runtime-entry protocol (sysmon preemption without signals):
 *   Every public call that needs the P sets m->in_runtime = 1, then reads
 *   its P's status.  sysmon (or a stop-the-world) takes a P whose goroutine
 *   runs C code by moving the status RUNNING -> RETAKE, issuing a
 *   process-wide memory barrier (membarrier, or a signal where that is
 *   missing), and then reading in_runtime: if it is 0 the M is outside the
 *   runtime and will see the new status at its next entry, so the P is
 *   handed to another M; if it is 1 the retake is undone.  The barrier
 *   makes the pair (store in_runtime; load status) against (store status;
 *   load in_runtime) a Dekker handshake without a fence on the fast path.
 */
#ifndef GORT_RUNTIME_H
#define GORT_RUNTIME_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "arch.h"
#include "gort.h"
#include "uapi/gort_trace.h"

#define GORT_INTERNAL __attribute__((visibility("hidden")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define barrier() __asm__ __volatile__("" ::: "memory")
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/*
 * Fields that one thread owns but others read for diagnostics (schedtrace,
 * dumps, teardown): relaxed atomic accesses, which cost nothing on x86-64
 * and AArch64 and tell the reader's compiler and TSan the race is meant.
 */
#define READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

#define GORT_MAX_PROCS 1024
#define GORT_RUNQ_SIZE 256		/* per-P ring, as Go's */
#define GORT_STACK_DEFAULT (256u << 10)
#define GORT_STACK_MIN (16u << 10)
#define GORT_STACK_MAX ((size_t)1 << 30)	/* Go's 64-bit limit */

/* ---- low-level locks (lib/sched/lock.c) ---- */

/* Futex mutex: 0 unlocked, 1 locked, 2 locked with waiters. */
struct gort_lock {
	_Atomic uint32_t state;
};
void gort_lock(struct gort_lock *l) GORT_INTERNAL;
void gort_unlock(struct gort_lock *l) GORT_INTERNAL;

/* One-shot wake-up for a single sleeper (Go's note). */
struct gort_note {
	_Atomic uint32_t key;	/* 0 clear, 1 woken */
};
void gort_note_clear(struct gort_note *n) GORT_INTERNAL;
void gort_note_sleep(struct gort_note *n) GORT_INTERNAL;
/* false on timeout; ns < 0 waits forever */
bool gort_note_sleep_ns(struct gort_note *n, int64_t ns) GORT_INTERNAL;
void gort_note_wake(struct gort_note *n) GORT_INTERNAL;
int gort_futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t ns)
	GORT_INTERNAL;
void gort_futex_wake(_Atomic uint32_t *addr, int n) GORT_INTERNAL;
/*
 * membarrier(2) PRIVATE_EXPEDITED, registered once by a constructor
 * (lib/sched/lock.c), before any thread exists: gort_membarrier_ok says
 * whether it was, and only then may gort_membarrier() be called, which
 * runs a full fence in every thread of the process that is running.
 */
extern bool gort_membarrier_ok GORT_INTERNAL;
void gort_membarrier(void) GORT_INTERNAL;

/* ---- goroutines ---- */

/* Go's goroutine statuses, same numbers as runtime2.go. */
enum gort_gstatus {
	G_IDLE = 0,
	G_RUNNABLE = 1,
	G_RUNNING = 2,
	G_SYSCALL = 3,
	G_WAITING = 4,
	G_DEAD = 6,
};

/* Why a goroutine waits; the strings are Go's waitReason strings. */
enum gort_waitreason {
	WR_ZERO = 0,
	WR_SYNC_WAITGROUP_WAIT,
	WR_SEMACQUIRE,
	WR_CHAN_RECEIVE,
	WR_CHAN_SEND,
	WR_CHAN_RECEIVE_NIL,
	WR_CHAN_SEND_NIL,
	WR_SELECT,
	WR_SELECT_NO_CASES,
	WR_SLEEP,
	WR_SYNC_MUTEX_LOCK,
	WR_SYNC_RWMUTEX_RLOCK,
	WR_SYNC_RWMUTEX_LOCK,
	WR_SYNC_COND_WAIT,
	WR_IO_WAIT,
	WR_PREEMPTED,
	WR_WAIT_FOR_GC_CYCLE,
	WR_COUNT,
};
const char *gort_waitreason_str(unsigned int wr) GORT_INTERNAL;

struct gort_stack {
	char *lo;		/* lowest usable byte */
	size_t size;		/* usable bytes above lo */
	bool guarded;		/* a PROT_NONE page sits below lo */
};

struct gort_m;
struct gort_p;

struct gort_g {
	struct gort_ctx ctx;		/* saved context while not running */
	struct gort_g *schedlink;	/* run queue and free list link */
	struct gort_m *m;		/* M running it, NULL otherwise */
	struct gort_m *lockedm;		/* M it is wired to, or NULL */
	uint64_t goid;			/* Go's goroutine id, from 1 */
	_Atomic uint32_t status;	/* enum gort_gstatus */
	uint32_t waitreason;		/* enum gort_waitreason while waiting */
	uint32_t lockcount;		/* gort_lock_os_thread nesting */
	bool is_main;			/* gort_main's goroutine */
	void (*fn)(void *);		/* entry, until it has started */
	void *arg;			/* entry argument */
	struct gort_stack stack;	/* lo == NULL until it first runs */
	size_t stack_request;		/* stack size asked for at creation */
	const char *name;		/* gort_go_opts name, or NULL */
	void *createpc;			/* return address of gort_go's caller */
	uint64_t parent_goid;		/* goroutine that created it */
	struct gort_g *allnext;		/* all Gs ever made, for dumps */
	bool slab_head;			/* first G of a calloc'd slab */
	struct gort_g *batchlink;	/* next batch on the global free list */
	uint32_t batchlen;		/* Gs in the batch this G heads */
	bool system;			/* a runtime goroutine (mark worker):
					 * not counted, not dumped */
	/* the collector's view (lib/gc/roots.c) */
	_Atomic uint32_t gc_nrun;	/* odd while on an M */
	uint32_t gc_scan_nrun;		/* gc_nrun when the stack was scanned */
	uint32_t gc_scan_cycle;		/* the cycle of that scan */
	_Atomic uint32_t gc_self_scan_epoch; /* gc_scan_epoch when it last
					 * scanned its own stack (assist) */
	bool gc_deferred;		/* leak check: scan postponed */
	bool gc_leaked;			/* reported as leaked */
	void *waitobj;			/* what it blocks on, or NULL */
	const struct gort_select_case *waitsel;	/* select's cases */
	int waitseln;			/* and their number */
#ifdef __SANITIZE_ADDRESS__
	void *asan_fake_stack;		/* ASan fiber bookkeeping */
#endif
#ifdef __SANITIZE_THREAD__
	void *tsan_fiber;		/* TSan's fiber for this goroutine */
#endif
};

/* ---- processors ---- */

enum gort_pstatus {
	P_IDLE = 0,		/* on the idle list or being handed over */
	P_RUNNING = 1,		/* owned by an M running goroutines */
	P_SYSCALL = 2,		/* its M is inside gort_syscall_begin/end */
	P_RETAKE = 3,		/* sysmon is checking whether it may take it */
	P_STOP = 4,		/* taken by a stop-the-world */
	P_DEAD = 5,		/* beyond gomaxprocs, or the runtime ended */
};

#define GORT_STACK_CACHE 16

/* A P's timers: a 4-ary min-heap by `when` (lib/time.c). */
struct gort_timer_rt;
/*
 * A heap slot: the timer's when kept beside it, so sifting reads no
 * timer; the timer's address has TW_UNINDEXED set for a sleep timer,
 * which keeps no index (lib/time.c).
 */
struct timer_when {
	int64_t when;
	uintptr_t timer;
};
#define TW_UNINDEXED ((uintptr_t)1)

static inline struct gort_timer_rt *tw_timer(struct timer_when tw)
{
	return (struct gort_timer_rt *)(tw.timer & ~TW_UNINDEXED);
}

struct timer_heap {
	struct gort_lock lock;		/* guards a, n, cap */
	struct timer_when *a;		/* the 4-ary heap (lib/time.c) */
	int n, cap;
	_Atomic int64_t when0;		/* earliest when; 0: empty */
};

/*
 * p->status holds the state in its low 4 bits and an ownership epoch above
 * them, bumped by every acquirep.  An M that held the P remembers the word
 * (m->pword), so "is this P still mine and running" is one compare, and a
 * P that was taken and re-acquired by another M never looks like the old
 * owner's (no ABA in gort_syscall_end's compare-and-swap).
 */
#define PSTATE(word) ((word) & 0xfu)
#define PWORD(word, state) (((word) & ~0xfu) | (state))

struct gort_p {
	int id;				/* index in sched.allp */
	_Atomic uint32_t status;	/* enum gort_pstatus | epoch << 4 */
	struct gort_m *_Atomic m;	/* owner, NULL when idle */
	struct gort_p *link;		/* idle list */
	_Atomic uint32_t schedtick;	/* incremented on every execute */
	_Atomic uint32_t syscalltick;	/* incremented on every syscall */
	uint32_t gfreecnt;		/* length of gfree */
	struct gort_g *gfree;		/* dead Gs for reuse */
	int nstack;			/* entries used in stackcache */
	struct gort_stack stackcache[GORT_STACK_CACHE]; /* default size */
	uint64_t goidcache;		/* next goid to hand out */
	uint64_t goidcacheend;		/* end of the cached goid batch */
	struct timer_heap timers;	/* timers started on this P */
	struct gort_uring *ring;	/* its io_uring (lib/netpoll), lazily */
	struct gc_mcache *mcache;	/* its allocator cache (lib/gc) */
	/* sysmon's view, written by sysmon only */
	uint32_t sysmon_schedtick;	/* schedtick last seen */
	int64_t sysmon_schedwhen;	/* when it changed */
	uint32_t sysmon_syscalltick;	/* syscalltick last seen */
	int64_t sysmon_syscallwhen;	/* when it changed */
	/* run queue: head is consumed by owner and thieves, tail by owner */
	_Atomic uint32_t runqhead;
	_Atomic uint32_t runqtail;
	struct gort_g *_Atomic runnext;	/* runs next, ahead of runq */
	struct gort_g *runq[GORT_RUNQ_SIZE];
};

/* ---- threads ---- */

enum gort_post {
	POST_NONE = 0,
	POST_READY,		/* prev yielded: queue it on the local runq */
	POST_PARK,		/* prev parked: run the unlock callback */
	POST_EXIT,		/* prev finished: free it */
	POST_GLOBAL,		/* prev lost its P: queue it globally */
};

struct gort_m {
	int64_t id;			/* M number, from 0 */
	struct gort_g *curg;		/* goroutine running, NULL on g0 */
	struct gort_p *p;		/* P held, NULL when none */
	struct gort_p *nextp;		/* P handed over by startm */
	struct gort_p *oldp;		/* P held before a syscall */
	uint32_t pword;			/* p->status while this M runs on it */
	struct gort_m *link;		/* idle list */
	struct gort_m *alllink;		/* all Ms */
	struct gort_g *lockedg;		/* goroutine wired to this M */
	_Atomic uint32_t in_runtime;	/* see the entry protocol above */
	uint32_t rt_nest;		/* runtime entries inside the runtime */
	_Atomic bool spinning;		/* looking for work with a P */
	bool blocked;			/* parked on its note */
	_Atomic bool exiting;		/* thread must end: back to its loop */
	bool exiting_locked;		/* its wired G ended: the thread ends */
	bool exited;			/* its thread has returned */
	bool zombie;			/* left in user code when its run ended */
	uint32_t gen;			/* gort_main generation it belongs to */
	struct gort_note park;		/* where it sleeps when idle */
	struct gort_ctx g0ctx;		/* the scheduler loop's context */
	pthread_t thread;		/* its thread */
	pid_t tid;			/* its kernel thread id */
	char *g0lo;			/* thread stack bounds, for dumps */
	size_t g0size;
	uint32_t fastrand;		/* xorshift state for stealing */
	/* post-switch action, run by whatever context resumes on this M */
	enum gort_post post;
	struct gort_g *prevg;		/* the context switched away from */
	bool (*unlockf)(struct gort_g *, void *); /* POST_PARK callback */
	void *unlockarg;
	/* goroutines the blocked poller readied, before it has a P */
	bool collect_ready;		/* gort_goready appends to readyq */
	struct gort_g *readyq, *readyq_tail;
	stack_t altstack;		/* signal stack for stack overflows */
	_Atomic uint32_t barrier_ack;	/* signal-barrier handshake */
	/* registers saved by the collector's suspend signal (lib/gc) */
#define GC_NREGS 34
	uintptr_t gc_regs[GC_NREGS];
	uintptr_t gc_sp;		/* interrupted stack pointer */
	_Atomic bool gc_suspend_req;	/* the signal is meant for this M */
	_Atomic bool gc_suspended;	/* registers saved, waiting */
	_Atomic uint32_t gc_ack_gen;	/* the suspend generation its handler
					 * last answered (roots.c) */
	bool gc_signalled;		/* sent this stop's signal (the
					 * stopping thread's own field) */
	uint64_t gc_rescan_owed;	/* bytes allocated in pre-clean that
					 * its assists have not matched */
#ifdef __SANITIZE_ADDRESS__
	void *asan_g0_fake;		/* ASan fiber bookkeeping for g0 */
#endif
#ifdef __SANITIZE_THREAD__
	void *tsan_g0_fiber;		/* TSan's fiber for the thread itself */
#endif
};

/* ---- the scheduler ---- */

struct gort_sched {
	struct gort_lock lock;		/* guards what follows up to runtime */
	struct gort_g *runqhead;	/* global run queue */
	struct gort_g *runqtail;
	_Atomic int32_t runqsize;
	struct gort_p *pidle;		/* idle Ps */
	_Atomic int32_t npidle;
	struct gort_m *midle;		/* idle Ms */
	int32_t nmidle;			/* idle Ms */
	int32_t nmidlelocked;		/* Ms parked with a locked G */
	int32_t mcount;			/* Ms created */
	int64_t mnext;			/* next M id */
	struct gort_m *allm;		/* every M, for dumps and teardown */
	struct gort_g *gfree;		/* batches of dead Gs, via batchlink */
	_Atomic int32_t ngfree;		/* batches in gfree (read unlocked) */
	/* lock-free state */
	_Atomic int32_t nmspinning;	/* Ms spinning with a P */
	_Atomic int32_t needspinning;	/* a spinner was wanted, none free */
	_Atomic uint64_t goidgen;	/* goid batches */
	_Atomic int32_t ngoroutines;	/* live goroutines */
	_Atomic int32_t gomaxprocs;
	struct gort_p *allp[GORT_MAX_PROCS];	/* Ps 0..gomaxprocs-1 */
	int32_t nallp;			/* Ps ever made (kept across resizes) */
	struct gort_lock allglock;	/* guards allg */
	struct gort_g *allg;		/* every G ever made */
	/* stop-the-world */
	_Atomic uint32_t worldsema;	/* one stopper at a time (Go's) */
	_Atomic bool stw_wait;		/* Ms holding Ps must give them up */
	_Atomic int32_t stopwait;	/* Ps still to stop */
	struct gort_note stopnote;	/* the stopper sleeps here */
	/* run state */
	_Atomic bool running;		/* between gort_main start and end */
	_Atomic bool exiting;		/* main returned: everything stops */
	_Atomic uint32_t main_done; /* futex the gort_main caller waits on */
	int main_ret;			/* main_fn's return value */
	int64_t starttime;		/* nanotime at gort_main start */
	int32_t nforeign_blocked;	/* foreign threads blocked in gort */
	int32_t thread_baseline;	/* other threads when gort_main began */
	pthread_t sysmon_thread;
	_Atomic uint32_t sysmon_kick;	/* futex: wake sysmon early */
	_Atomic bool sysmon_exit;	/* sysmon must end */
	_Atomic int64_t sysmon_wake;	/* when sysmon plans to wake */
	bool sysmon_started;
	bool use_membarrier;		/* else the signal barrier */
};

extern struct gort_sched gort_sched GORT_INTERNAL;

/* Run-time settings from the environment (lib/env.c). */
struct gort_config {
	int maxprocs;			/* 0: default */
	size_t stack_size;		/* default stack size */
	int schedtrace_ms;		/* 0: off */
	bool scheddetail;
	bool gctrace;
	bool gccheckmark;
	bool kmodtrace;			/* feed gort.ko when it is loaded */
	bool goroutineleak;		/* report leaked goroutines after GC */
	const char *gcbarrier;		/* forced barrier mode, or NULL */
	int gc_percent;			/* -1 off */
	int64_t memlimit;		/* bytes, INT64_MAX: none */
	int netpoll;			/* 0 auto, 1 uring, 2 epoll */
	/* io_uring features the kernel has, each off by GORT_DEBUG=...=0 */
	bool uring_accept;		/* multishot accept */
	bool uring_recv;		/* multishot recv into provided buffers */
	bool uring_regring;		/* ring fds registered per thread */
	int uring_bufs;			/* provided buffers per ring */
	const char *trace_path;		/* GORT_TRACE, or NULL */
	size_t trace_flight;		/* GORT_TRACEFLIGHT bytes, 0: off */
};
extern struct gort_config gort_config GORT_INTERNAL;
/* Parse GORT_*: on a malformed value print one line and exit(2). */
void gort_env_parse(void) GORT_INTERNAL;
int gort_default_procs(void) GORT_INTERNAL;

/* ---- calls between files ---- */

extern __thread struct gort_m *gort_tls_m;

static inline struct gort_m *gort_getm(void)
{
	return gort_arch_getm();
}

static inline struct gort_g *gort_getg(void)
{
	struct gort_m *m = gort_arch_getm();

	return m ? m->curg : NULL;
}

/* lib/time.c */
int64_t gort_nanotime_internal(void) GORT_INTERNAL;
void gort_sysmon_kick(int64_t when) GORT_INTERNAL;

/*
 * Set p's state, keeping its epoch; only who may change p calls this.  A
 * retaker may hold the word in RETAKE for the length of a memory barrier
 * and then put the old word back: wait it out, or the put-back would
 * overwrite this change.
 */
static inline void gort_p_set(struct gort_p *p, uint32_t state)
{
	uint32_t w = atomic_load_explicit(&p->status, memory_order_relaxed);

	for (;;) {
		if (PSTATE(w) == P_RETAKE) {
			gort_cpu_relax();
			w = atomic_load_explicit(&p->status,
						 memory_order_relaxed);
			continue;
		}
		if (atomic_compare_exchange_weak_explicit(
			    &p->status, &w, PWORD(w, state),
			    memory_order_release, memory_order_relaxed))
			return;
	}
}

static inline uint32_t gort_p_state(struct gort_p *p)
{
	return PSTATE(atomic_load_explicit(&p->status, memory_order_acquire));
}

/*
 * Move p from state `from` to `to` if it is in `from` (any epoch); the
 * retakers' and the stoppers' way to claim a P they do not own.
 */
static inline bool gort_p_cas(struct gort_p *p, uint32_t from, uint32_t to,
			      uint32_t *oldword)
{
	uint32_t w = atomic_load_explicit(&p->status, memory_order_acquire);

	do {
		if (PSTATE(w) != from)
			return false;
	} while (!atomic_compare_exchange_weak(&p->status, &w, PWORD(w, to)));
	if (oldword)
		*oldword = w;
	return true;
}

/* lib/sched/proc.c */
struct gort_m *gort_rt_enter_slow(struct gort_m *m) GORT_INTERNAL;
/*
 * Enter the runtime from goroutine code.  Returns the M (NULL on a foreign
 * thread); on return the M holds a running P (it may have slept to get one
 * back if sysmon took it).
 */
static inline struct gort_m *gort_rt_enter(void)
{
	struct gort_m *m = gort_getm();
	struct gort_p *p;

	if (!m)
		return NULL;
	if (atomic_load_explicit(&m->in_runtime, memory_order_relaxed)) {
		/* a timer callback or the scheduler calling a public entry */
		m->rt_nest++;
		return m;
	}
	atomic_store_explicit(&m->in_runtime, 1, memory_order_relaxed);
	barrier();
	p = m->p;
	if (unlikely(!p || atomic_load_explicit(&p->status,
						memory_order_acquire) !=
				   m->pword))
		return gort_rt_enter_slow(m);
	return m;
}

static inline void gort_rt_exit(void)
{
	struct gort_m *m = gort_getm();

	if (m) {
		if (m->rt_nest) {
			m->rt_nest--;
			return;
		}
		barrier();
		atomic_store_explicit(&m->in_runtime, 0, memory_order_release);
	}
}

void gort_gopark(bool (*unlockf)(struct gort_g *, void *), void *arg,
		 enum gort_waitreason reason) GORT_INTERNAL;
void gort_goready(struct gort_g *gp) GORT_INTERNAL;
void gort_goready_io(struct gort_g *gp) GORT_INTERNAL;
void gort_stop_the_world(enum gort_trace_stw_reason reason) GORT_INTERNAL;
/* Start a runtime goroutine: not counted by gort_num_goroutine, not
 * shown in dumps (the collector's mark workers and sweeper). */
int gort_go_system(void (*fn)(void *), void *arg) GORT_INTERNAL;
void gort_start_the_world(void) GORT_INTERNAL;
void gort_handoffp(struct gort_p *p) GORT_INTERNAL;
void gort_wake_for_timers(void) GORT_INTERNAL;
void gort_foreign_blocked(bool blocked) GORT_INTERNAL;
/*
 * Wake a thread gort did not start that sleeps on *word.  The waker takes
 * it off the blocked count, so the deadlock detector never sees a moment
 * where it is runnable but counted as blocked.
 */
void gort_wake_foreign(_Atomic uint32_t *word) GORT_INTERNAL;
extern _Atomic int32_t gort_zombie_threads GORT_INTERNAL;
/* Threads of the runtime that are not Ms (the trace writer), alive now. */
extern _Atomic int32_t gort_helper_threads GORT_INTERNAL;
int gort_mcount_running(void) GORT_INTERNAL;
extern _Atomic uint32_t gort_generation GORT_INTERNAL;

/*
 * The collector's record of when a goroutine runs (lib/gc/roots.c):
 * gc_nrun is odd while it is on an M; only the M that owns it writes.
 */
static inline void gc_g_started(struct gort_g *gp)
{
	uint32_t n = atomic_load_explicit(&gp->gc_nrun, memory_order_relaxed);

	atomic_store_explicit(&gp->gc_nrun, n + 1 + (n & 1),
			      memory_order_relaxed);
}

/* After its registers were saved, on the context that took over. */
static inline void gc_g_stopped(struct gort_g *gp)
{
	uint32_t n = atomic_load_explicit(&gp->gc_nrun, memory_order_relaxed);

	atomic_store_explicit(&gp->gc_nrun, n + (n & 1), memory_order_release);
}

/*
 * Another goroutine wrote gp's stack while gp was parked (a channel
 * hand-off straight into a waiting receiver).  The page barrier does not
 * see stacks, so the write counts as a run: gp's stack is scanned again at
 * mark termination, as Go's sendDirect shades the value it copies.  At
 * rest gp's gc_nrun is even and only the writer, holding the channel's
 * lock, touches it until gp is readied.
 */
static inline void gc_stack_written(struct gort_g *gp)
{
	uint32_t n = atomic_load_explicit(&gp->gc_nrun, memory_order_relaxed);

	atomic_store_explicit(&gp->gc_nrun, n + 2, memory_order_release);
}

/* lib/gc (the parts the scheduler calls) */
int gc_init(void) GORT_INTERNAL;
void gc_run_end(void) GORT_INTERNAL;
void gc_note_caller_stack(void *sp) GORT_INTERNAL;

/* lib/sched/stack.c */
int gort_stack_init(void) GORT_INTERNAL;
void gort_stack_fini(void) GORT_INTERNAL;
int gort_stack_alloc(struct gort_p *p, size_t size, struct gort_stack *st)
	GORT_INTERNAL;
void gort_stack_free(struct gort_p *p, struct gort_stack *st) GORT_INTERNAL;
void gort_stack_check_canary(struct gort_g *gp) GORT_INTERNAL;
/* Before a goroutine switches out: a stack without a guard page checks
 * its canary. */
static inline void gort_stack_check(struct gort_g *gp)
{
	if (unlikely(!gp->stack.guarded))
		gort_stack_check_canary(gp);
}
void gort_stack_flush(struct gort_p *p) GORT_INTERNAL;
void gort_stack_stats(uint64_t *inuse, uint64_t *sys) GORT_INTERNAL;
void gort_stack_abandon(void) GORT_INTERNAL;
bool gort_stack_in_guard(const struct gort_g *gp, uintptr_t addr)
	GORT_INTERNAL;

/* lib/sched/sysmon.c */
int gort_sysmon_start(void) GORT_INTERNAL;
void gort_sysmon_stop(void) GORT_INTERNAL;
bool gort_retake_running(struct gort_p *p, bool stopping) GORT_INTERNAL;
int gort_barrier_init(void) GORT_INTERNAL;
void gort_schedtrace(bool detail) GORT_INTERNAL;

/* lib/symtab.c */
bool gort_symbolize(uintptr_t pc, const char **name, uintptr_t *off,
		    const char **obj, uintptr_t *objoff) GORT_INTERNAL;

/* lib/debug.c */
_Noreturn void gort_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2))) GORT_INTERNAL;
_Noreturn void gort_throw(const char *msg) GORT_INTERNAL;
void gort_dump_all(int fd, struct gort_g *self, struct gort_g *skip)
	GORT_INTERNAL;
void gort_dump_g(int fd, struct gort_g *gp) GORT_INTERNAL;
int gort_signals_init(void) GORT_INTERNAL;
void gort_signals_fini(void) GORT_INTERNAL;
void gort_m_signal_stack(struct gort_m *m) GORT_INTERNAL;
void gort_m_signal_stack_free(struct gort_m *m) GORT_INTERNAL;
void gort_write_all(int fd, const char *p, size_t n) GORT_INTERNAL;
void gort_dprintf(int fd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3))) GORT_INTERNAL;

/*
 * Waiter lists of sema.c and sync.c's cond: singly linked through a
 * `next` pointer that is the node's first member, with a tail pointer.
 */
struct gort_snode {
	struct gort_snode *next;
};

/* Unlink node (whose predecessor is prev, NULL at the head). */
static inline void gort_slist_unlink(struct gort_snode **head,
				     struct gort_snode **tail,
				     struct gort_snode *prev,
				     struct gort_snode *node)
{
	if (prev)
		prev->next = node->next;
	else
		*head = node->next;
	if (*tail == node)
		*tail = prev;
}

/* lib/sema.c: Go's runtime semaphores, for sync.* */
void gort_semacquire(_Atomic uint32_t *addr, enum gort_waitreason reason)
	GORT_INTERNAL;
void gort_semrelease(_Atomic uint32_t *addr) GORT_INTERNAL;
void gort_semacquire_lifo(_Atomic uint32_t *addr, bool lifo,
			  enum gort_waitreason reason) GORT_INTERNAL;
void gort_semrelease_handoff(_Atomic uint32_t *addr, bool handoff)
	GORT_INTERNAL;


#endif /* GORT_RUNTIME_H */
