// SPDX-License-Identifier: MIT
/*
 * roots.c - where marking starts: the data and bss of every loaded
 * object, registered roots, goroutine stacks and saved registers, the
 * stacks of threads blocked in gort_main and the registers of every M
 * that runs goroutine code when the world stops (Boehm's signal scheme,
 * DESIGN.md section 6).
 *
 * Goroutine stacks are scanned concurrently when their goroutine is not
 * on an M, and again at mark termination only if it ran since: each G
 * has gc_nrun, bumped when it starts running (odd: on an M) and again on
 * the context that takes over after its registers were saved (even: its
 * stack is at rest from ctx.sp up).  A concurrent scan records the even
 * value it saw before reading the stack; at termination a G whose gc_nrun
 * moved (or that never got scanned) is scanned again with the world
 * stopped.  The bumps are plain stores by the one M that owns the G at
 * the time, so the switch path pays no atomic instruction.  Stacks are
 * never unmapped while a cycle runs (stack.c keeps default-size stacks
 * in its pools, and other sizes' munmap waits for gc_phase == GC_OFF).
 *
 * Stopping threads: gort_stop_the_world takes every P, but goroutines
 * whose P was retaken (C code that made no runtime call for 10 ms, or a
 * syscall) keep running on their Ms.  Each M with a current goroutine is
 * sent GC_SIG_SUSPEND; the handler saves the interrupted registers in the
 * M, acknowledges and sleeps on a futex until gc_resume_threads.  It
 * runs on the interrupted stack, so its saved sp is where the stack's
 * live part begins (minus x86-64's 128-byte red zone).  SA_RESTART makes
 * most interrupted system calls restart; those that never restart after
 * a handler (nanosleep, epoll_wait, poll, ...: signal(7)) return EINTR
 * inside gort_syscall_begin/end, as under Boehm's collector.
 *
 * Lock order: roots_lock (registered roots) is a leaf; sched.allglock is
 * taken before any timer heap lock.  Nothing here takes a lock that a
 * suspended M could hold: the world is stopped only after the loader's
 * segment list and every other lock-protected list was read.
 *
 * Rejected: ptrace-style stopping (needs a tracer process), and scanning
 * running goroutines' stacks without stopping them (a pointer moved from
 * a register to an already-scanned stack slot would be missed: registers
 * are not covered by the page barrier).
 *
 * A forked child (Documentation/gc.md: it may only exec or exit) copies
 * the suspend request of a stop in progress with the rest of memory, and
 * under qemu-user it can copy an undelivered GC_SIG_SUSPEND as well: the
 * emulator keeps a guest's pending signals in its own memory, which the
 * child inherits, and delivers them when fork returns.  The handler would
 * then wait in the child for a resume that no thread there will give, and
 * the parent's waitpid with it; so a handler whose process is not the one
 * that set up the collector (suspend_pid) returns at once.
 *
 * Every answer names its request: the handler stores the generation it
 * answered in its own M (gc_ack_gen), and the suspender waits for that,
 * M by M.  A global count of answers would count a late one (from a
 * request given up on, see gc_scan_running) as an answer to the next.
 */
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ucontext.h>
#include <unistd.h>

#include "gc/gcint.h"
#include "timer.h"

#define sched gort_sched
#ifdef __x86_64__
#define RED_ZONE 128
#else
#define RED_ZONE 0
#endif

uint64_t gc_globals_bytes;
_Atomic uint64_t gc_stack_scan_bytes;

/* ---- data and bss of loaded objects ---- */

struct segment {
	uintptr_t lo, hi;		/* a writable PT_LOAD segment */
};

static struct segment *segs;		/* read with the world stopped too */
static int nsegs, capsegs;

static int add_segment(struct dl_phdr_info *info, size_t size, void *data)
{
	int i;

	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		struct segment *n;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
			continue;
		if (nsegs == capsegs) {
			int cap = capsegs ? 2 * capsegs : 32;

			n = realloc(segs, cap * sizeof(*n));
			if (!n)
				return 1;
			segs = n;
			capsegs = cap;
		}
		segs[nsegs].lo = info->dlpi_addr + ph->p_vaddr;
		segs[nsegs].hi = segs[nsegs].lo + ph->p_memsz;
		nsegs++;
	}
	return 0;
}

void gc_roots_refresh_segments(void)
{
	uint64_t bytes = 0;
	int i;

	nsegs = 0;
	if (dl_iterate_phdr(add_segment, NULL))
		gort_fatal("runtime: out of memory listing loaded objects");
	for (i = 0; i < nsegs; i++)
		bytes += segs[i].hi - segs[i].lo;
	gc_globals_bytes = bytes;
}

/* ---- registered roots ---- */

struct root {
	uintptr_t lo, hi;		/* gort_gc_add_roots range */
};

static struct gort_lock roots_lock;	/* guards roots, nroots */
static struct root *roots;
static int nroots, caproots;

GORT_API int gort_gc_add_roots(void *start, size_t len)
{
	uintptr_t lo = (uintptr_t)start;
	struct root *n;
	int i, err = 0;

	if (!start || !len || lo + len < lo)
		return -EINVAL;
	gort_lock(&roots_lock);
	for (i = 0; i < nroots; i++) {
		if (roots[i].lo == lo) {
			err = -EINVAL;
			goto out_unlock;
		}
	}
	if (nroots == caproots) {
		int cap = caproots ? 2 * caproots : 16;

		n = realloc(roots, cap * sizeof(*n));
		if (!n) {
			err = -ENOMEM;
			goto out_unlock;
		}
		roots = n;
		caproots = cap;
	}
	roots[nroots].lo = lo;
	roots[nroots].hi = lo + len;
	nroots++;
out_unlock:
	gort_unlock(&roots_lock);
	return err;
}

GORT_API int gort_gc_remove_roots(void *start)
{
	int i, err = -ENOENT;

	gort_lock(&roots_lock);
	for (i = 0; i < nroots; i++) {
		if (roots[i].lo == (uintptr_t)start) {
			roots[i] = roots[--nroots];
			err = 0;
			break;
		}
	}
	gort_unlock(&roots_lock);
	return err;
}

/* ---- threads blocked in gort_main ---- */

/*
 * The thread that called gort_main waits in it for the whole run; its
 * frames (main's locals) are roots.  Its callee-saved registers were
 * spilled by __builtin_unwind_init in gort_main's frame, below sp_lo.
 */
static _Atomic uintptr_t caller_lo, caller_hi;

void gc_note_caller_stack(void *sp)
{
	pthread_attr_t attr;
	void *addr;
	size_t size;

	if (!sp) {
		atomic_store(&caller_lo, 0);
		return;
	}
	if (pthread_getattr_np(pthread_self(), &attr))
		return;
	if (!pthread_attr_getstack(&attr, &addr, &size)) {
		atomic_store(&caller_hi, (uintptr_t)addr + size);
		atomic_store(&caller_lo, (uintptr_t)sp);
	}
	pthread_attr_destroy(&attr);
}

/* ---- static roots ---- */

GC_NO_SANITIZE
static void scan_timers(struct gc_work *w)
{
	int i, j, n = sched.nallp;

	for (i = 0; i < n; i++) {
		struct gort_p *p = sched.allp[i];

		if (!p)
			continue;
		gort_lock(&p->timers.lock);
		for (j = 0; j < p->timers.n; j++)
			gc_grey(w, (uintptr_t)tw_timer(p->timers.a[j]));
		gort_unlock(&p->timers.lock);
	}
}

void gc_scan_static_roots(struct gc_work *w)
{
	uintptr_t lo = atomic_load(&caller_lo);
	int i;

	for (i = 0; i < nsegs; i++)
		gc_scan_block(w, segs[i].lo, segs[i].hi);
	gort_lock(&roots_lock);
	for (i = 0; i < nroots; i++)
		gc_scan_block(w, roots[i].lo, roots[i].hi);
	gort_unlock(&roots_lock);
	if (lo)
		gc_scan_block(w, lo, atomic_load(&caller_hi));
	if (atomic_load(&sched.running))
		scan_timers(w);
}

/* ---- goroutine stacks ---- */

static bool waits_on_gc_object(struct gort_g *gp)
{
	switch (READ_ONCE(gp->waitreason)) {
	case WR_CHAN_RECEIVE:
	case WR_CHAN_SEND:
	case WR_SELECT:
	case WR_SEMACQUIRE:
	case WR_SYNC_WAITGROUP_WAIT:
	case WR_SYNC_MUTEX_LOCK:
	case WR_SYNC_RWMUTEX_RLOCK:
	case WR_SYNC_RWMUTEX_LOCK:
	case WR_SYNC_COND_WAIT:
		return true;
	default:
		return false;
	}
}

/* A wait object nobody else can reach: an unmarked GC object. */
static bool unreachable(uintptr_t obj)
{
	struct gc_span *s;
	uint32_t idx;

	if (!obj || !gc_find_object(obj, &s, &idx))
		return false;	/* outside the heap: a global, malloc'd */
	return !gc_is_marked(s, idx);
}

/* Every object gp waits on is unreachable, so nothing can wake it. */
GC_NO_SANITIZE
static bool wait_unreachable(struct gort_g *gp)
{
	const struct gort_select_case *cs = READ_ONCE(gp->waitsel);
	int i, n = READ_ONCE(gp->waitseln);

	if (atomic_load(&gp->status) != G_WAITING || !waits_on_gc_object(gp))
		return false;
	if (cs) {
		for (i = 0; i < n; i++)
			if (cs[i].chan && !unreachable((uintptr_t)cs[i].chan))
				return false;
		return n > 0;
	}
	return unreachable((uintptr_t)READ_ONCE(gp->waitobj));
}

/* Scan a goroutine at rest (not on an M): from its saved sp up. */
GC_NO_SANITIZE
static void scan_g_at_rest(struct gc_work *w, struct gort_g *gp,
			   uint32_t nrun)
{
	uintptr_t lo = (uintptr_t)gp->stack.lo, sp;

	gc_grey(w, (uintptr_t)gp->arg);
	if (lo) {
		sp = (uintptr_t)READ_ONCE(gp->ctx.sp);
		if (sp >= lo && sp < lo + gp->stack.size) {
			gc_scan_block(w, sp, lo + gp->stack.size);
			atomic_fetch_add_explicit(&gc_stack_scan_bytes,
						  lo + gp->stack.size - sp,
						  memory_order_relaxed);
		}
	}
	gp->gc_scan_nrun = nrun;
	gp->gc_scan_cycle = atomic_load(&gc_cycle);
}

void gc_scan_stacks(struct gc_work *w, bool defer_leaks)
{
	uint32_t cycle = atomic_load(&gc_cycle);
	struct gort_g *gp;

	gort_lock(&sched.allglock);
	for (gp = sched.allg; gp; gp = gp->allnext) {
		uint32_t s = atomic_load(&gp->status), nrun;

		if (s == G_DEAD || s == G_IDLE)
			continue;
		nrun = atomic_load_explicit(&gp->gc_nrun,
					    memory_order_acquire);
		if (nrun & 1) {
			/* on an M: at termination its M was suspended */
			gc_grey(w, (uintptr_t)gp->arg);
			continue;
		}
		if (gp->gc_deferred)
			continue;
		if (gp->gc_scan_cycle == cycle && gp->gc_scan_nrun == nrun)
			continue;	/* at rest since its scan */
		if (defer_leaks && wait_unreachable(gp)) {
			gp->gc_deferred = true;
			continue;
		}
		scan_g_at_rest(w, gp, nrun);
	}
	gort_unlock(&sched.allglock);
}

int gc_scan_leak_candidates(struct gc_work *w)
{
	struct gort_g *gp;
	int n = 0;

	gort_lock(&sched.allglock);
	for (gp = sched.allg; gp; gp = gp->allnext) {
		if (!gp->gc_deferred || wait_unreachable(gp))
			continue;
		gp->gc_deferred = false;
		if (!(atomic_load(&gp->gc_nrun) & 1))
			scan_g_at_rest(w, gp, atomic_load(&gp->gc_nrun));
		n++;
	}
	gort_unlock(&sched.allglock);
	return n;
}

int gc_report_leaks(struct gc_work *w)
{
	struct gort_g *gp;
	int n = 0;

	gort_lock(&sched.allglock);
	for (gp = sched.allg; gp; gp = gp->allnext) {
		if (!gp->gc_deferred)
			continue;
		gp->gc_deferred = false;
		if (!gp->gc_leaked) {
			gp->gc_leaked = true;
			gort_dprintf(2, "goroutine leak: goroutine %llu can never wake (what it waits on is unreachable)\n",
				     (unsigned long long)gp->goid);
			gort_dump_g(2, gp);
		}
		/* it stays alive: keep what its stack references */
		scan_g_at_rest(w, gp, atomic_load(&gp->gc_nrun));
		n++;
	}
	gort_unlock(&sched.allglock);
	return n;
}

/* ---- stopping threads ---- */

static bool on_stack(uintptr_t sp, uintptr_t lo, size_t size)
{
	return lo && sp >= lo && sp < lo + size;
}

/*
 * Odd while threads must stay suspended; every suspend and every resume
 * moves it on, so a handler still on its way out of the last stop (woken,
 * not yet run) cannot mistake the next stop for its own and wait on.
 */
static _Atomic uint32_t suspend_word;
static pid_t suspend_pid;		/* the process that suspends */

/* The coming signal is meant for m (read by its handler). */
static void set_req(struct gort_m *m, bool on)
{
	atomic_store_explicit(&m->gc_suspend_req, on, memory_order_relaxed);
}

/* m's handler answered the request of generation gen. */
static bool answered(struct gort_m *m, uint32_t gen)
{
	return atomic_load_explicit(&m->gc_ack_gen, memory_order_acquire) ==
	       gen;
}

/*
 * How long gc_scan_running waits for a running M to answer before it
 * leaves that M to mark termination.  A handler runs within microseconds
 * of the signal unless its thread is off-CPU or the signal is held back:
 * TSan delivers an asynchronous signal only when the thread next enters
 * one of its interceptors, and a thread waiting on a raw futex (an M
 * stopping the world for gort_gomaxprocs, waiting for this very P) may
 * not enter one until the scan gives up.
 */
#define SCAN_ANSWER_NS 2000000
#define SCAN_SPIN_NS 20000
/* How long mark termination spins for a suspend's answer, and naps. */
#define SUSPEND_SPIN_NS 20000
/*
 * Signals to an M that keeps declining because it is in the runtime.
 * Such a goroutine is mostly an allocating one, and its next assist
 * scans its own stack for this round (gc_scan_epoch); more tries cost the
 * collector 20 us each and the goroutine an interruption.
 */
#define SCAN_TRIES 3
/* Suspending one M while the world runs: a handler that finds its M in
 * the runtime (where it may hold the mark work lists' lock) declines. */
static _Atomic bool suspend_single;
static struct gort_m *self_m;		/* the M that stopped the world */

static void suspend_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	struct gort_m *m = gort_getm();
	int saved_errno = errno;
	uint32_t gen = atomic_load(&suspend_word);
	int i;

	if (!m || !(gen & 1) || !atomic_load_explicit(&m->gc_suspend_req,
						  memory_order_relaxed))
		return;
	if (getpid() != suspend_pid)
		return;		/* a forked child's copy of the request */
	if (atomic_load(&suspend_single) &&
	    atomic_load_explicit(&m->in_runtime, memory_order_relaxed)) {
		set_req(m, false);
		atomic_store_explicit(&m->gc_ack_gen, gen,
				      memory_order_release);
		return;
	}
#if defined(__x86_64__)
	for (i = 0; i < NGREG && i < GC_NREGS; i++)
		m->gc_regs[i] = (uintptr_t)uc->uc_mcontext.gregs[i];
	m->gc_sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
	for (i = 0; i < 31 && i < GC_NREGS; i++)
		m->gc_regs[i] = (uintptr_t)uc->uc_mcontext.regs[i];
	m->gc_sp = (uintptr_t)uc->uc_mcontext.sp;
#endif
	set_req(m, false);
	atomic_store_explicit(&m->gc_suspended, true, memory_order_release);
	atomic_store_explicit(&m->gc_ack_gen, gen, memory_order_release);
	while (atomic_load(&suspend_word) == gen)
		gort_futex_wait(&suspend_word, gen, -1);
	atomic_store_explicit(&m->gc_suspended, false, memory_order_relaxed);
	errno = saved_errno;
}

int gc_roots_init(void)
{
	struct sigaction sa;

	suspend_pid = getpid();
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = suspend_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigfillset(&sa.sa_mask);
	if (sigaction(GC_SIG_SUSPEND, &sa, NULL))
		return -errno;
	return 0;
}

void gc_suspend_threads(void)
{
	const struct timespec nap = { 0, SUSPEND_SPIN_NS };
	struct gort_m *m;
	uint32_t gen;
	int64_t start, waited;

	self_m = gort_getm();
	gen = atomic_fetch_add(&suspend_word, 1) + 1;
	for (m = sched.allm; m; m = m->alllink) {
		m->gc_signalled = false;
		set_req(m, false);
		atomic_store(&m->gc_suspended, false);
		if (m == self_m || READ_ONCE(m->exited))
			continue;
		if (!__atomic_load_n(&m->curg, __ATOMIC_ACQUIRE)) {
			/*
			 * Between goroutines: prev's stop is a few
			 * instructions away (finish_switch), and until it is
			 * recorded nothing else scans prev.  Waiting needs
			 * no signal, which an M about to sleep on a futex
			 * might never take under TSan.
			 */
			start = gort_nanotime_internal();
			while (__atomic_load_n(&m->prevg, __ATOMIC_ACQUIRE)) {
				if (gort_nanotime_internal() - start >
				    10000000000LL)
					gort_fatal("runtime: thread %d (M%lld) did not finish a goroutine switch within 10 s",
						   (int)m->tid,
						   (long long)m->id);
				gort_cpu_relax();
			}
			continue;
		}
		set_req(m, true);
		if (pthread_kill(m->thread, GC_SIG_SUSPEND)) {
			set_req(m, false);
			continue;
		}
		m->gc_signalled = true;
	}
	start = gort_nanotime_internal();
	for (m = sched.allm; m; m = m->alllink)
		while (m->gc_signalled && !answered(m, gen)) {
			struct gort_g *gp;

			/*
			 * It left its goroutine since (no P: it is off to
			 * sleep), and the goroutine's stop is recorded, so
			 * the stack scan finds it at rest: no need to wait
			 * for a handler that TSan holds back until the
			 * thread leaves its futex.  A handler that runs
			 * anyway finds the request gone, or is resumed
			 * with the others.
			 */
			gp = __atomic_load_n(&m->curg, __ATOMIC_ACQUIRE);
			if (!gp && !__atomic_load_n(&m->prevg, __ATOMIC_ACQUIRE)) {
				set_req(m, false);
				m->gc_signalled = false;
				break;
			}
			waited = gort_nanotime_internal() - start;
			if (waited > 10000000000LL)
				gort_fatal("runtime: thread %d (M%lld, goroutine %llu) did not stop for the garbage collector within 10 s",
					   (int)m->tid, (long long)m->id,
					   gp ? (unsigned long long)gp->goid : 0ULL);
			/*
			 * Not answered soon: it is off-CPU, maybe queued behind
			 * this thread.  Sleep rather than spin or yield (see
			 * gort_stop_the_world): a thread without its P runs its
			 * goroutine on until its time slice ends.
			 */
			if (waited > SUSPEND_SPIN_NS)
				nanosleep(&nap, NULL);
			else
				gort_cpu_relax();
		}
}

void gc_resume_threads(void)
{
	atomic_fetch_add(&suspend_word, 1);
	gort_futex_wake(&suspend_word, INT32_MAX);
	self_m = NULL;
}


/* The suspended Ms: registers, and the stack their sp is on. */
GC_NO_SANITIZE
void gc_scan_suspended(struct gc_work *w)
{
	struct gort_m *m;

	for (m = sched.allm; m; m = m->alllink) {
		struct gort_g *gp;
		uintptr_t sp, glo;

		if (!atomic_load_explicit(&m->gc_suspended,
					  memory_order_acquire))
			continue;
		gc_scan_block(w, (uintptr_t)m->gc_regs,
			      (uintptr_t)(m->gc_regs + GC_NREGS));
		sp = m->gc_sp - RED_ZONE;
		gp = READ_ONCE(m->curg);
		/* caught switching to g0: the goroutine it is leaving */
		if (!gp)
			gp = __atomic_load_n(&m->prevg, __ATOMIC_ACQUIRE);
		glo = gp ? (uintptr_t)gp->stack.lo : 0;
		if (gp && on_stack(m->gc_sp, glo, gp->stack.size)) {
			gc_scan_block(w, sp, glo + gp->stack.size);
			atomic_fetch_add_explicit(&gc_stack_scan_bytes,
						  glo + gp->stack.size - sp,
						  memory_order_relaxed);
			gp->gc_scan_nrun = atomic_load(&gp->gc_nrun);
			gp->gc_scan_cycle = atomic_load(&gc_cycle);
		} else {
			/* on g0 (about to switch) or another stack */
			if (on_stack(m->gc_sp, (uintptr_t)m->g0lo, m->g0size))
				gc_scan_block(w, sp,
					      (uintptr_t)m->g0lo + m->g0size);
			if (gp)
				scan_g_at_rest(w, gp,
					       atomic_load(&gp->gc_nrun));
		}
	}
}

/*
 * Scan the stacks of goroutines running now, each with only its own M
 * suspended for the scan (Go scans a goroutine's stack with that
 * goroutine stopped, not the world).  What they reference gets marked
 * while the world runs, so mark termination's rescan of those stacks
 * finds it marked.  An M inside the runtime is skipped this round.
 */
_Atomic uint32_t gc_scan_epoch;

GC_NO_SANITIZE
void gc_scan_running(struct gc_work *w)
{
	struct gort_m *m, *self = gort_getm();
	uint32_t epoch = atomic_fetch_add(&gc_scan_epoch, 1) + 1;

	for (m = sched.allm; m; m = m->alllink) {
		struct gort_g *gp = READ_ONCE(m->curg);
		uintptr_t glo, sp;
		uint32_t gen;
		int64_t start;
		int tries = 0;

		/* in a system call its stack is at rest: termination's
		 * suspend covers it, and a signal here would only cost the
		 * call an EINTR */
		if (m == self || !gp || gp->system || READ_ONCE(m->exited) ||
		    !(atomic_load(&gp->gc_nrun) & 1) ||
		    atomic_load(&gp->status) != G_RUNNING)
			continue;
again:
		atomic_store(&suspend_single, true);
		atomic_store(&m->gc_suspended, false);
		gen = atomic_fetch_add(&suspend_word, 1) + 1;
		set_req(m, true);
		if (pthread_kill(m->thread, GC_SIG_SUSPEND)) {
			set_req(m, false);
			goto resume;
		}
		start = gort_nanotime_internal();
		while (!answered(m, gen)) {
			int64_t waited = gort_nanotime_internal() - start;

			/*
			 * A target that has not answered soon is off-CPU,
			 * maybe queued behind this very thread (two CPUs, a
			 * mark worker on the other): let it run here.
			 */
			if (waited > SCAN_SPIN_NS)
				sched_yield();
			else
				gort_cpu_relax();
			if (waited > SCAN_ANSWER_NS) {
				/*
				 * Left to termination.  Should the handler
				 * run after all, it finds the request gone,
				 * or answers a generation that has passed
				 * and does not wait.
				 */
				set_req(m, false);
				goto resume;
			}
		}
		if (!atomic_load_explicit(&m->gc_suspended,
					  memory_order_acquire)) {
			/* it was in the runtime: try again soon */
			atomic_fetch_add(&suspend_word, 1);
			atomic_store(&suspend_single, false);
			if (++tries < SCAN_TRIES && READ_ONCE(m->curg) == gp &&
			    atomic_load(&gp->gc_self_scan_epoch) != epoch) {
				for (int i = 0; i < 256; i++)
					gort_cpu_relax();
				goto again;
			}
			continue;
		}
		gp = READ_ONCE(m->curg);
		glo = gp ? (uintptr_t)gp->stack.lo : 0;
		if (gp && on_stack(m->gc_sp, glo, gp->stack.size)) {
			gc_scan_block(w, (uintptr_t)m->gc_regs,
				      (uintptr_t)(m->gc_regs + GC_NREGS));
			sp = m->gc_sp - RED_ZONE;
			gc_scan_block(w, sp, glo + gp->stack.size);
		}
resume:
		atomic_fetch_add(&suspend_word, 1);
		gort_futex_wake(&suspend_word, INT32_MAX);
		/* wait until it left the handler: the next suspend reuses
		 * the generation word */
		while (atomic_load(&m->gc_suspended))
			gort_cpu_relax();
		atomic_store(&suspend_single, false);
	}
}
