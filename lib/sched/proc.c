// SPDX-License-Identifier: MIT
/*
 * proc.c - goroutines, threads and processors: the M:P:G scheduler.
 *
 * The model is Go's runtime/proc.go.  G is a goroutine, M an OS thread, P
 * the right to run goroutines; an M runs goroutine code only while it holds
 * a P.  Each P has a 256-slot lock-free ring of runnable Gs plus a runnext
 * slot (the G most recently readied by this P runs next: a channel hand-off
 * then costs one switch and stays in cache).  Overflow goes to the global
 * run queue under sched.lock.  An M with nothing to run steals half of
 * another P's ring.
 *
 * Switching.  Unlike Go, which always passes through g0 (mcall), a
 * goroutine that parks, yields or exits switches straight to the next
 * runnable G of its P when there is one, so a hand-off costs one register
 * switch.  What must happen to the previous G once nothing runs on its
 * stack any more (queue it, run a park's unlock callback, free it) is left
 * in m->post and done by finish_switch() in whatever context resumes on
 * this M.  No G is published as runnable while its stack is still in use.
 *
 * Worker parking follows Go's spinning-M protocol: a G made runnable wakes
 * an idle P only if no M is already spinning (looking for work with a P);
 * a spinning M that finds work stops spinning and wakes another spinner, so
 * the number of spinners stays at most one beyond need, and wake-ups go one
 * at a time.  The last spinner to give up re-checks every run queue after
 * leaving the spinning state, which closes the window where a readier saw
 * a spinner and did not wake anyone.  Waking an idle vCPU costs 20-25 us on
 * these VMs, so a spinning M also spins briefly on the queues before it
 * parks.  The spin is polite: past its first few microseconds (where a
 * hand-off between two Ps usually lands) each round gives the CPU away
 * with sched_yield, which returns at once when nothing else is runnable
 * there and otherwise lets that thread run.  A server's load generator,
 * or any other process on a small machine, then never waits behind an M
 * that has nothing to do: with 2 Ps on 2 vCPUs and wrk beside it, pure
 * PAUSE spinning held wrk off the CPU for whole time slices (httpd-raw
 * c100 p99 6.5 ms against 2 ms, and 6 % fewer requests).
 *
 * Preemption without signals (DESIGN.md section 4): gort never switches a
 * goroutine from a signal handler.  sysmon takes the P away from a G that
 * has run C code for 10 ms (or sat in gort_syscall_begin/end for 20 us),
 * using the runtime-entry handshake described in runtime.h; the G keeps its
 * thread and queues for a P at its next runtime call (rt_enter_slow).
 *
 * Invariants:
 *  - A G is on at most one run queue, and on none while it runs.
 *  - m->p != NULL and p->status == m->pword (RUNNING, this M's epoch) while an M runs
 *    goroutine code with a P (P_SYSCALL inside gort_syscall_begin/end).
 *  - An M whose lockedg is set runs no other G: it hands its P away and
 *    sleeps until lockedg is runnable and some M gives it a P back.
 *  - nmspinning counts Ms with m->spinning set.
 *
 * Lock order: sched.lock -> allglock.  sched.lock is never held across a
 * context switch or a futex sleep.
 *
 * Rejected alternatives:
 *  1. Switching through g0 on every park (Go's mcall): twice the switches
 *     and a cold stack on the hot channel path.
 *  2. One global run queue: contention on every spawn and wake-up.
 *  3. Async preemption by signals: C has no safe points (a goroutine
 *     stopped inside malloc would deadlock the next one to call malloc).
 *  4. Allocating a goroutine's stack at gort_go: a G that has not started
 *     needs none; taking it at first run from a per-P cache of hot stacks
 *     lets a million pending goroutines cost only their descriptors.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef __SANITIZE_THREAD__
#include <sanitizer/tsan_interface.h>
#endif

#include "chan.h"
#include "gc/gc.h"
#include "netpoll/netpoll.h"
#include "runtime.h"
#include "timer.h"
#include "trace.h"

struct gort_sched gort_sched;
__thread struct gort_m *gort_tls_m __attribute__((tls_model("initial-exec")));

#define sched gort_sched

/* spin on the run queues this long before an idle M parks */
#define SPIN_NS 50000
/* of which the first part in PAUSEs only; then a sched_yield per round */
#define SPIN_PAUSE_NS 5000
#define GOID_BATCH 16
#define G_SLAB 64

static const char *const waitreason_strings[WR_COUNT] = {
	[WR_ZERO] = "",
	[WR_SYNC_WAITGROUP_WAIT] = "sync.WaitGroup.Wait",
	[WR_SEMACQUIRE] = "semacquire",
	[WR_CHAN_RECEIVE] = "chan receive",
	[WR_CHAN_SEND] = "chan send",
	[WR_CHAN_RECEIVE_NIL] = "chan receive (nil chan)",
	[WR_CHAN_SEND_NIL] = "chan send (nil chan)",
	[WR_SELECT] = "select",
	[WR_SELECT_NO_CASES] = "select (no cases)",
	[WR_SLEEP] = "sleep",
	[WR_SYNC_MUTEX_LOCK] = "sync.Mutex.Lock",
	[WR_SYNC_RWMUTEX_RLOCK] = "sync.RWMutex.RLock",
	[WR_SYNC_RWMUTEX_LOCK] = "sync.RWMutex.Lock",
	[WR_SYNC_COND_WAIT] = "sync.Cond.Wait",
	[WR_IO_WAIT] = "IO wait",
	[WR_PREEMPTED] = "preempted",
	[WR_WAIT_FOR_GC_CYCLE] = "wait for GC cycle",
};

const char *gort_waitreason_str(unsigned int wr)
{
	return wr < WR_COUNT ? waitreason_strings[wr] : "?";
}

static void schedule_loop(struct gort_m *m);
static void stopm(struct gort_m *m);
static void wakep(void);
static void gfput(struct gort_p *p, struct gort_g *gp);

/* Bumped by every gort_main: Ms of an ended run see a stale value. */
_Atomic uint32_t gort_generation;

/*
 * Thread-exit accounting lives outside `sched`, which teardown resets: a
 * thread left in user code when its run ended (a zombie) may reach its exit
 * path at any time, even while the next run's scheduler is being set up.
 * Lock order: exit_lock -> sched.lock.
 */
static struct gort_lock exit_lock;
static _Atomic uint32_t mlive;	/* M threads of this run not yet exited */

static inline bool m_must_exit(const struct gort_m *m)
{
	return atomic_load_explicit(&m->exiting, memory_order_relaxed) ||
	       m->gen != atomic_load_explicit(
					       &gort_generation,
					       memory_order_relaxed) ||
	       atomic_load_explicit(&sched.exiting, memory_order_acquire);
}

static inline bool single_p(void)
{
	return atomic_load_explicit(&sched.gomaxprocs, memory_order_relaxed) ==
	       1;
}

/* Run p's due timers if it has any (a clock read only when it does). */
static inline void run_due_timers(struct gort_p *p)
{
	int64_t when = atomic_load_explicit(&p->timers.when0,
					    memory_order_relaxed), now;

	if (unlikely(when)) {
		now = gort_nanotime_internal();
		if (when <= now)
			gort_timers_run(p, now);
	}
}

static inline struct gort_g *runq_slot_load(struct gort_p *p, uint32_t i)
{
	return __atomic_load_n(&p->runq[i % GORT_RUNQ_SIZE], __ATOMIC_RELAXED);
}

static inline void runq_slot_store(struct gort_p *p, uint32_t i,
				   struct gort_g *gp)
{
	__atomic_store_n(&p->runq[i % GORT_RUNQ_SIZE], gp, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* Global run queue (sched.lock held)                                 */
/* ------------------------------------------------------------------ */

/* Append the n Gs linked from head to tail. */
static void globrunqputbatch(struct gort_g *head, struct gort_g *tail,
			     int32_t n)
{
	tail->schedlink = NULL;
	if (sched.runqtail)
		sched.runqtail->schedlink = head;
	else
		sched.runqhead = head;
	sched.runqtail = tail;
	atomic_fetch_add_explicit(&sched.runqsize, n, memory_order_relaxed);
}

static void globrunqput(struct gort_g *gp)
{
	globrunqputbatch(gp, gp, 1);
}

static struct gort_g *globrunqpop(void)
{
	struct gort_g *gp = sched.runqhead;

	if (!gp)
		return NULL;
	sched.runqhead = gp->schedlink;
	if (!sched.runqhead)
		sched.runqtail = NULL;
	atomic_fetch_sub_explicit(&sched.runqsize, 1, memory_order_relaxed);
	return gp;
}

static bool runqput(struct gort_p *p, struct gort_g *gp, bool next);

/* Take a fair share of the global queue: one to run, the rest to p. */
static struct gort_g *globrunqget(struct gort_p *p, int32_t max)
{
	int32_t size = atomic_load_explicit(&sched.runqsize,
					    memory_order_relaxed);
	int32_t n, procs = atomic_load_explicit(&sched.gomaxprocs,
						memory_order_relaxed);
	struct gort_g *gp;

	if (size == 0)
		return NULL;
	n = size / procs + 1;
	if (n > size)
		n = size;
	if (max > 0 && n > max)
		n = max;
	if (n > GORT_RUNQ_SIZE / 2)
		n = GORT_RUNQ_SIZE / 2;
	gp = globrunqpop();
	while (--n > 0)
		runqput(p, globrunqpop(), false);
	return gp;
}

/* ------------------------------------------------------------------ */
/* Local run queues                                                   */
/* ------------------------------------------------------------------ */

static bool runqempty(struct gort_p *p)
{
	for (;;) {
		uint32_t head = atomic_load_explicit(&p->runqhead,
						     memory_order_acquire);
		uint32_t tail = atomic_load_explicit(&p->runqtail,
						     memory_order_acquire);
		struct gort_g *next = atomic_load_explicit(
			&p->runnext, memory_order_acquire);

		if (tail == atomic_load_explicit(&p->runqtail,
						 memory_order_acquire))
			return head == tail && !next;
	}
}

/* Move half of p's ring plus gp to the global queue (ring is full). */
static bool runqputslow(struct gort_p *p, struct gort_g *gp, uint32_t head,
			uint32_t tail)
{
	struct gort_g *batch[GORT_RUNQ_SIZE / 2 + 1];
	uint32_t i, n = (tail - head) / 2;

	for (i = 0; i < n; i++)
		batch[i] = runq_slot_load(p, head + i);
	if (!atomic_compare_exchange_strong_explicit(
		    &p->runqhead, &head, head + n, memory_order_release,
		    memory_order_relaxed))
		return false;
	batch[n] = gp;
	for (i = 0; i < n; i++)
		batch[i]->schedlink = batch[i + 1];
	gort_lock(&sched.lock);
	globrunqputbatch(batch[0], batch[n], (int32_t)n + 1);
	gort_unlock(&sched.lock);
	return true;
}

/* Queue gp on p, which the caller owns; with next, into runnext. */
static bool runqput(struct gort_p *p, struct gort_g *gp, bool next)
{
	uint32_t head, tail;

	if (next) {
		struct gort_g *old;

		if (single_p()) {
			old = atomic_load_explicit(&p->runnext,
						   memory_order_relaxed);
			atomic_store_explicit(&p->runnext, gp,
					      memory_order_relaxed);
		} else {
			old = atomic_exchange_explicit(&p->runnext, gp,
						       memory_order_acq_rel);
		}
		if (!old)
			return true;
		gp = old;
	}
	for (;;) {
		head = atomic_load_explicit(&p->runqhead, memory_order_acquire);
		tail = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
		if (tail - head < GORT_RUNQ_SIZE) {
			runq_slot_store(p, tail, gp);
			atomic_store_explicit(&p->runqtail, tail + 1,
					      memory_order_release);
			return true;
		}
		if (runqputslow(p, gp, head, tail))
			return true;
	}
}

/* Owner's dequeue: runnext first, then the ring. */
static struct gort_g *runqget(struct gort_p *p)
{
	struct gort_g *gp;
	uint32_t head, tail;

	if (single_p()) {
		/* No other P exists, so no thief can race the owner. */
		gp = atomic_load_explicit(&p->runnext, memory_order_relaxed);
		if (gp) {
			atomic_store_explicit(&p->runnext, NULL,
					      memory_order_relaxed);
			return gp;
		}
		head = atomic_load_explicit(&p->runqhead, memory_order_relaxed);
		tail = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
		if (head == tail)
			return NULL;
		gp = runq_slot_load(p, head);
		atomic_store_explicit(&p->runqhead, head + 1,
				      memory_order_relaxed);
		return gp;
	}
	gp = atomic_load_explicit(&p->runnext, memory_order_relaxed);
	if (gp && atomic_compare_exchange_strong_explicit(
			  &p->runnext, &gp, NULL, memory_order_acq_rel,
			  memory_order_relaxed))
		return gp;
	for (;;) {
		head = atomic_load_explicit(&p->runqhead, memory_order_acquire);
		tail = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
		if (tail == head)
			return NULL;
		gp = runq_slot_load(p, head);
		if (atomic_compare_exchange_weak_explicit(
			    &p->runqhead, &head, head + 1,
			    memory_order_release, memory_order_relaxed))
			return gp;
	}
}

/* Grab half of victim's queue into batch starting at batch_head. */
static uint32_t runqgrab(struct gort_p *victim, struct gort_p *into,
			 uint32_t batch_head, bool steal_runnext)
{
	for (;;) {
		uint32_t head = atomic_load_explicit(&victim->runqhead,
						     memory_order_acquire);
		uint32_t tail = atomic_load_explicit(&victim->runqtail,
						     memory_order_acquire);
		uint32_t i, n = tail - head;

		n -= n / 2;
		if (n == 0) {
			struct gort_g *next;
			int64_t until;

			if (!steal_runnext)
				return 0;
			next = atomic_load_explicit(&victim->runnext,
						    memory_order_acquire);
			if (!next)
				return 0;
			/*
			 * The victim probably just readied next and is about
			 * to block and run it: give it ~3 us (Go sleeps the
			 * same) rather than bouncing next between CPUs.
			 */
			if (gort_p_state(victim) == P_RUNNING) {
				until = gort_nanotime_internal() + 3000;
				while (gort_nanotime_internal() < until)
					gort_cpu_relax();
			}
			if (!atomic_compare_exchange_strong_explicit(
				    &victim->runnext, &next, NULL,
				    memory_order_acq_rel,
				    memory_order_relaxed))
				continue;
			runq_slot_store(into, batch_head, next);
			return 1;
		}
		if (n > GORT_RUNQ_SIZE / 2)
			continue;	/* read inconsistent head and tail */
		for (i = 0; i < n; i++)
			runq_slot_store(into, batch_head + i,
					runq_slot_load(victim, head + i));
		if (atomic_compare_exchange_strong_explicit(
			    &victim->runqhead, &head, head + n,
			    memory_order_release, memory_order_relaxed))
			return n;
	}
}

/* Steal into p; *np: how many goroutines were taken (the one returned too). */
static struct gort_g *runqsteal(struct gort_p *p, struct gort_p *victim,
				bool steal_runnext, uint32_t *np)
{
	uint32_t tail = atomic_load_explicit(&p->runqtail,
					     memory_order_relaxed);
	uint32_t n = runqgrab(victim, p, tail, steal_runnext);
	struct gort_g *gp;

	*np = n;
	if (n == 0)
		return NULL;
	n--;
	gp = runq_slot_load(p, tail + n);
	if (n)
		atomic_store_explicit(&p->runqtail, tail + n,
				      memory_order_release);
	return gp;
}

static uint32_t fastrand(struct gort_m *m)
{
	uint32_t x = m->fastrand;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	m->fastrand = x;
	return x;
}

static struct gort_g *stealwork(struct gort_m *m)
{
	int32_t procs = atomic_load_explicit(&sched.gomaxprocs,
					     memory_order_relaxed);
	int round, i;

	for (round = 0; round < 4; round++) {
		uint32_t start = fastrand(m) % (uint32_t)procs;

		for (i = 0; i < procs; i++) {
			struct gort_p *victim =
				sched.allp[(start + i) % (uint32_t)procs];
			struct gort_g *gp;
			uint32_t n;

			if (victim == m->p)
				continue;
			if (round == 0) {
				/* an idle P's timers are ours to run */
				run_due_timers(victim);
				gp = runqget(m->p);
				if (gp)
					return gp;
			}
			if (gort_p_state(victim) == P_IDLE)
				continue;
			gp = runqsteal(m->p, victim, round == 3, &n);
			if (gp) {
				/* only g0 looks for work */
				gort_trace_proc_steal(m, m->p, victim, n);
				return gp;
			}
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Idle P and M lists (sched.lock held)                               */
/* ------------------------------------------------------------------ */

static void pidleput(struct gort_p *p)
{
	atomic_store_explicit(&p->m, NULL, memory_order_relaxed);
	gort_p_set(p, P_IDLE);
	p->link = sched.pidle;
	sched.pidle = p;
	atomic_fetch_add_explicit(&sched.npidle, 1, memory_order_relaxed);
}

static struct gort_p *pidleget(void)
{
	struct gort_p *p = sched.pidle;

	if (p) {
		sched.pidle = p->link;
		atomic_fetch_sub_explicit(&sched.npidle, 1,
					  memory_order_relaxed);
	}
	return p;
}

static void mput(struct gort_m *m)
{
	m->link = sched.midle;
	sched.midle = m;
	sched.nmidle++;
}

static struct gort_m *mget(void)
{
	struct gort_m *m = sched.midle;

	if (m) {
		sched.midle = m->link;
		sched.nmidle--;
	}
	return m;
}

/* m owns p from now on, in a new epoch of p's status word. */
static void setp(struct gort_m *m, struct gort_p *p)
{
	uint32_t w = atomic_load_explicit(&p->status, memory_order_relaxed);

	WRITE_ONCE(m->p, p);
	m->pword = (w & ~0xfu) + 0x10 + P_RUNNING;
	atomic_store_explicit(&p->m, m, memory_order_relaxed);
	atomic_store_explicit(&p->status, m->pword, memory_order_release);
}

static void acquirep(struct gort_m *m, struct gort_p *p)
{
	setp(m, p);
	gort_trace_proc_start(m, p);
}

static struct gort_p *releasep(struct gort_m *m)
{
	struct gort_p *p = m->p;

	WRITE_ONCE(m->p, NULL);
	atomic_store_explicit(&p->m, NULL, memory_order_relaxed);
	gort_trace_proc_stop(m, p);
	gort_p_set(p, P_IDLE);
	return p;
}

/* ------------------------------------------------------------------ */
/* Deadlock detection                                                 */
/* ------------------------------------------------------------------ */

int gort_mcount_running(void)
{
	return sched.mcount - sched.nmidle - sched.nmidlelocked;
}

static bool foreign_wakers(void);
static int count_threads(void);

/* Called with sched.lock held whenever an M goes idle. */
static void checkdead(void)
{
	struct gort_g *gp;
	int waiting = 0;

	if (atomic_load(&sched.exiting) || atomic_load(&sched.stw_wait))
		return;
	if (gort_mcount_running() > 0)
		return;
	if (atomic_load(&gort_ntimers) > 0)
		return;		/* a timer will wake someone */
	if (gort_netpoll_waiting())
		return;		/* so can the network, as in Go */
	if (foreign_wakers())
		return;
	if (atomic_load(&sched.runqsize) > 0)
		return;
	for (int i = 0; i < atomic_load(&sched.gomaxprocs); i++)
		if (!runqempty(sched.allp[i]))
			return;
	gort_lock(&sched.allglock);
	for (gp = sched.allg; gp; gp = gp->allnext) {
		uint32_t s = atomic_load(&gp->status);

		if (s == G_WAITING) {
			waiting++;
		} else if (s == G_RUNNABLE || s == G_RUNNING ||
			   s == G_SYSCALL) {
			gort_unlock(&sched.allglock);
			return;
		}
	}
	gort_unlock(&sched.allglock);
	gort_unlock(&sched.lock);
	if (waiting == 0)
		gort_fatal("no goroutines (main called gort_goexit) - deadlock!");
	gort_fatal("all goroutines are asleep - deadlock!");
}

/* ------------------------------------------------------------------ */
/* Ms                                                                 */
/* ------------------------------------------------------------------ */

static void *mstart(void *arg);

static struct gort_m *allocm(void)
{
	struct gort_m *m = calloc(1, sizeof(*m));

	if (!m)
		gort_fatal("runtime: cannot allocate an M");
	gort_lock(&sched.lock);
	m->id = sched.mnext++;
	m->gen = atomic_load(&gort_generation);
	m->fastrand = (uint32_t)(m->id * 2654435761u) | 1;
	m->alllink = sched.allm;
	sched.allm = m;
	sched.mcount++;
	gort_unlock(&sched.lock);
	return m;
}

static void newm(struct gort_p *p, bool spinning)
{
	struct gort_m *m = allocm();
	pthread_attr_t attr;
	sigset_t all, old;
	int err;

	m->nextp = p;
	atomic_store(&m->spinning, spinning);
	atomic_fetch_add(&mlive, 1);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 1 << 20);
	/* Ms start with every signal blocked until their altstack is set. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&m->thread, &attr, mstart, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err)
		gort_fatal("runtime: failed to create new OS thread (%s)",
			   strerror(err));
}

/* Start an M to run p (an idle P when NULL); spinning: it looks for work. */
static void startm(struct gort_p *p, bool spinning)
{
	struct gort_m *nm;

	gort_lock(&sched.lock);
	if (!p) {
		p = pidleget();
		if (!p) {
			gort_unlock(&sched.lock);
			if (spinning)
				atomic_fetch_sub(&sched.nmspinning, 1);
			return;
		}
	}
	nm = mget();
	if (nm) {
		/*
		 * Under sched.lock: off the idle list nm is still on allm,
		 * where a teardown (teardown_wait) clears a parked M's nextp.
		 */
		atomic_store(&nm->spinning, spinning);
		nm->nextp = p;
	}
	gort_unlock(&sched.lock);
	if (!nm) {
		newm(p, spinning);
		return;
	}
	gort_note_wake(&nm->park);
}

/* Wake an idle P for a newly runnable G if no M is already looking. */
static void wakep(void)
{
	int32_t zero = 0;

	if (atomic_load_explicit(&sched.npidle, memory_order_relaxed) == 0)
		return;
	if (atomic_load_explicit(&sched.nmspinning, memory_order_relaxed) ||
	    !atomic_compare_exchange_strong(&sched.nmspinning, &zero, 1))
		return;
	startm(NULL, true);
}

/* sysmon saw a due timer: make sure some M will look at it. */
void gort_wake_for_timers(void)
{
	wakep();
}

/* p has no M any more: find it one if it has work, else idle it. */
void gort_handoffp(struct gort_p *p)
{
	int32_t zero = 0;

	if (!runqempty(p) || atomic_load(&sched.runqsize) > 0) {
		startm(p, false);
		return;
	}
	if (atomic_load(&sched.nmspinning) + atomic_load(&sched.npidle) == 0 &&
	    atomic_compare_exchange_strong(&sched.nmspinning, &zero, 1)) {
		startm(p, true);
		return;
	}
	gort_lock(&sched.lock);
	if (atomic_load(&sched.stw_wait)) {
		atomic_store(&p->m, NULL);
		gort_p_set(p, P_STOP);
		if (atomic_fetch_sub(&sched.stopwait, 1) == 1)
			gort_note_wake(&sched.stopnote);
		gort_unlock(&sched.lock);
		return;
	}
	if (atomic_load(&sched.runqsize) > 0) {
		gort_unlock(&sched.lock);
		startm(p, false);
		return;
	}
	pidleput(p);
	gort_unlock(&sched.lock);
}

/*
 * Sleep on m's note until someone hands it a P (or the runtime ends).
 * locked: it waits for its wired goroutine, not on the idle list.
 */
static void msleep(struct gort_m *m, bool locked)
{
	gort_lock(&sched.lock);
	if (locked)
		sched.nmidlelocked++;
	else
		mput(m);
	m->blocked = true;
	checkdead();
	gort_unlock(&sched.lock);
	gort_note_sleep(&m->park);
	gort_note_clear(&m->park);
	gort_lock(&sched.lock);
	if (locked)
		sched.nmidlelocked--;
	m->blocked = false;
	gort_unlock(&sched.lock);
	if (m->nextp) {
		acquirep(m, m->nextp);
		m->nextp = NULL;
	}
}

/* Park m until startm hands it a P (or the runtime ends). */
static void stopm(struct gort_m *m)
{
	msleep(m, false);
}

/* Give up the P for a stop-the-world and wait to be restarted. */
static void gcstopm(struct gort_m *m)
{
	struct gort_p *p;

	if (atomic_load(&m->spinning)) {
		atomic_store(&m->spinning, false);
		atomic_fetch_sub(&sched.nmspinning, 1);
	}
	p = m->p;
	WRITE_ONCE(m->p, NULL);
	atomic_store(&p->m, NULL);
	gort_trace_proc_stop(m, p);
	gort_lock(&sched.lock);
	gort_p_set(p, P_STOP);
	if (atomic_fetch_sub(&sched.stopwait, 1) == 1)
		gort_note_wake(&sched.stopnote);
	gort_unlock(&sched.lock);
	stopm(m);
}

/* m's locked G cannot run elsewhere: hand the P away and wait for it. */
static void stoplockedm(struct gort_m *m)
{
	if (m->p)
		gort_handoffp(releasep(m));
	msleep(m, true);
}

/* gp is wired to another M: give that M our P and go idle. */
static void startlockedm(struct gort_m *m, struct gort_g *gp)
{
	struct gort_m *lm = gp->lockedm;
	struct gort_p *p = releasep(m);

	lm->nextp = p;
	gort_note_wake(&lm->park);
	stopm(m);
}

static void resetspinning(struct gort_m *m)
{
	atomic_store(&m->spinning, false);
	atomic_fetch_sub(&sched.nmspinning, 1);
	wakep();
}

/* ------------------------------------------------------------------ */
/* Finding work                                                       */
/* ------------------------------------------------------------------ */

static struct gort_g *trylocal(struct gort_m *m)
{
	struct gort_p *p = m->p;
	struct gort_g *gp;

	if ((atomic_load_explicit(&p->schedtick, memory_order_relaxed) % 61) ==
		    0 &&
	    atomic_load_explicit(&sched.runqsize, memory_order_relaxed) > 0) {
		gort_lock(&sched.lock);
		gp = globrunqget(p, 1);
		gort_unlock(&sched.lock);
		if (gp)
			return gp;
	}
	gp = runqget(p);
	if (gp)
		return gp;
	if (atomic_load_explicit(&sched.runqsize, memory_order_relaxed) > 0) {
		gort_lock(&sched.lock);
		gp = globrunqget(p, 0);
		gort_unlock(&sched.lock);
	}
	return gp;
}

static bool become_spinning(struct gort_m *m)
{
	int32_t procs = atomic_load(&sched.gomaxprocs);

	if (atomic_load(&m->spinning))
		return true;
	if (2 * atomic_load(&sched.nmspinning) >=
	    procs - atomic_load(&sched.npidle))
		return false;
	atomic_store(&m->spinning, true);
	atomic_fetch_add(&sched.nmspinning, 1);
	return true;
}

/*
 * The poller's turn of an M without a P: wait in the poller until I/O
 * completes or the next timer is due, then take an idle P and queue what
 * completed there.  True if the M holds a P again.
 */
static bool netpoll_block(struct gort_m *m)
{
	struct gort_g *list, *gp;
	struct gort_p *p;
	int64_t next;

	for (;;) {
		int64_t delay = -1;

		next = gort_timers_next();
		if (next) {
			delay = next - gort_nanotime_internal();
			if (delay < 0)
				delay = 0;
		}
		if (m_must_exit(m))
			break;
		m->collect_ready = true;
		gort_netpoll_block(delay);
		m->collect_ready = false;
		/* a wake-up for I/O someone else reaped: wait again */
		if (m->readyq || next || !gort_netpoll_waiting() ||
		    atomic_load(&sched.runqsize) > 0 ||
		    atomic_load(&sched.stw_wait))
			break;
	}
	atomic_store(&gort_netpoll.blocking, false);
	list = m->readyq;
	m->readyq = m->readyq_tail = NULL;

	/*
	 * Take a P even when nothing completed while goroutines still wait
	 * for I/O (an edge nobody waited for, a cancel's completion, a ring
	 * another M reaped first): with it this M goes round findrunnable
	 * and blocks in the poller again, as Go's does.  Stopping instead
	 * would leave nobody in the poller, and if every other M is idle,
	 * checkdead calls that a deadlock.
	 */
	gort_lock(&sched.lock);
	p = list || next || gort_netpoll_waiting() ? pidleget() : NULL;
	if (!p && list) {
		while ((gp = list)) {
			list = gp->schedlink;
			globrunqput(gp);
		}
	}
	gort_unlock(&sched.lock);
	if (!p)
		return false;
	acquirep(m, p);
	while ((gp = list)) {
		list = gp->schedlink;
		runqput(p, gp, false);
	}
	if (!runqempty(p))
		wakep();	/* more than this M can run at once */
	return true;
}

/* Block until there is a G to run; NULL when the M must stop. */
static struct gort_g *findrunnable(struct gort_m *m)
{
	struct gort_g *gp;
	struct gort_p *p;
	int64_t now, polite, until;
	int i;

top:
	if (m_must_exit(m))
		return NULL;
	if (atomic_load(&sched.stw_wait)) {
		gcstopm(m);
		goto top;
	}
	run_due_timers(m->p);
	gp = trylocal(m);
	if (gp)
		return gp;
	/* I/O that completed for this P's goroutines, before stealing */
	if (gort_netpoll_waiting() && gort_netpoll.ops->poll_p(m->p) > 0) {
		gp = trylocal(m);
		if (gp)
			return gp;
	}
	if (become_spinning(m)) {
		gp = stealwork(m);
		if (gp)
			return gp;
		now = gort_nanotime_internal();
		polite = now + SPIN_PAUSE_NS;
		until = now + SPIN_NS;
		do {
			if (now < polite) {
				for (i = 0; i < 64; i++)
					gort_cpu_relax();
			} else {
				sched_yield();
			}
			if (atomic_load(&sched.stw_wait) || m_must_exit(m))
				goto top;
			/*
			 * The kernel finishes this thread's io_uring requests
			 * only when it enters the kernel (task work): look
			 * at the rings while spinning, or the I/O waits for
			 * the spin to end.
			 */
			if (gort_netpoll_waiting())
				gort_netpoll.ops->poll_p(m->p);
			gp = trylocal(m);
			if (!gp && atomic_load(&sched.gomaxprocs) > 1)
				gp = stealwork(m);
			if (gp)
				return gp;
			now = gort_nanotime_internal();
		} while (now < until);
	}

	gort_lock(&sched.lock);
	if (atomic_load(&sched.stw_wait) || m_must_exit(m)) {
		gort_unlock(&sched.lock);
		goto top;
	}
	if (atomic_load(&sched.runqsize) > 0) {
		gp = globrunqget(m->p, 0);
		gort_unlock(&sched.lock);
		return gp;
	}
	p = releasep(m);
	pidleput(p);
	gort_unlock(&sched.lock);
	/* nobody runs this P's timers now: sysmon must wake for them */
	if (atomic_load_explicit(&p->timers.when0, memory_order_relaxed))
		gort_sysmon_kick(atomic_load(&p->timers.when0));

	if (atomic_load(&m->spinning)) {
		int32_t procs = atomic_load(&sched.gomaxprocs);

		atomic_store(&m->spinning, false);
		atomic_fetch_sub(&sched.nmspinning, 1);
		/* A readier may have counted on us: look once more. */
		for (i = 0; i < procs; i++) {
			if (runqempty(sched.allp[i]) &&
			    atomic_load(&sched.runqsize) == 0)
				continue;
			gort_lock(&sched.lock);
			p = pidleget();
			gort_unlock(&sched.lock);
			if (p) {
				acquirep(m, p);
				atomic_store(&m->spinning, true);
				atomic_fetch_add(&sched.nmspinning, 1);
				goto top;
			}
			break;
		}
	}
	/* Go's blocking netpoll: one idle M waits for I/O and timers. */
	if (gort_netpoll_waiting() &&
	    !atomic_exchange(&gort_netpoll.blocking, true)) {
		if (netpoll_block(m))
			goto top;
	}
	stopm(m);
	goto top;
}

/* ------------------------------------------------------------------ */
/* Switching                                                          */
/* ------------------------------------------------------------------ */

static void gentry(void *arg);

/* gp runs on m now (one more schedule of p, which sysmon watches). */
static inline void set_running(struct gort_m *m, struct gort_p *p,
			       struct gort_g *gp)
{
	WRITE_ONCE(m->curg, gp);
	WRITE_ONCE(gp->m, m);
	atomic_store_explicit(&gp->status, G_RUNNING, memory_order_relaxed);
	gc_g_started(gp);
	atomic_store_explicit(&p->schedtick,
			      atomic_load_explicit(&p->schedtick,
						   memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* Make gp the M's current goroutine, giving it a stack if it has none. */
static void execute_prepare(struct gort_m *m, struct gort_g *gp)
{
	struct gort_p *p = m->p;
	int err;

	if (unlikely(atomic_load_explicit(&gp->status, memory_order_relaxed) !=
		     G_RUNNABLE))
		gort_fatal("runtime: goroutine %llu scheduled while %s",
			   (unsigned long long)gp->goid,
			   atomic_load(&gp->status) == G_RUNNING ? "running" :
								   "not runnable");
	set_running(m, p, gp);
	gort_trace_go_start(m, p, gp);
	gort_trace_proc_runq(m, p, gp);
	if (unlikely(!gp->stack.lo)) {
		err = gort_stack_alloc(p, gp->stack_request, &gp->stack);
		if (err)
			gort_fatal("runtime: cannot allocate a %zu-byte goroutine stack: %s",
				   gp->stack_request, strerror(-err));
		gort_ctx_make(&gp->ctx, gp->stack.lo + gp->stack.size, gentry,
			      gp);
	}
}

/*
 * Sanitizer fiber annotations: ASan must know which stack is live (for its
 * fake stacks and stack-bounds checks), TSan which fiber runs (for its
 * happens-before clocks).  san_switch() is called just before a switch,
 * san_landed() just after one, in the context that resumed.
 */
#ifdef __SANITIZE_ADDRESS__
static void asan_switch(struct gort_m *m, struct gort_g *from,
			struct gort_g *to, bool from_dies)
{
	void **save = NULL;

	if (!from_dies)
		save = from ? &from->asan_fake_stack : &m->asan_g0_fake;
	if (to)
		__sanitizer_start_switch_fiber(save, to->stack.lo,
					       to->stack.size);
	else
		__sanitizer_start_switch_fiber(save, m->g0lo, m->g0size);
}

static void asan_landed(struct gort_m *m, struct gort_g *self, bool fresh)
{
	__sanitizer_finish_switch_fiber(fresh ? NULL :
					self  ? self->asan_fake_stack :
						m->asan_g0_fake,
					NULL, NULL);
}
#else
static inline void asan_switch(struct gort_m *m, struct gort_g *from,
			       struct gort_g *to, bool from_dies)
{
}

static inline void asan_landed(struct gort_m *m, struct gort_g *self,
			       bool fresh)
{
}
#endif

#ifdef __SANITIZE_THREAD__
static void tsan_switch(struct gort_m *m, struct gort_g *to)
{
	if (to && !to->tsan_fiber)
		to->tsan_fiber = __tsan_create_fiber(0);
	__tsan_switch_to_fiber(to ? to->tsan_fiber : m->tsan_g0_fiber, 0);
}

static void tsan_g0_init(struct gort_m *m)
{
	m->tsan_g0_fiber = __tsan_get_current_fiber();
}

static void tsan_free(struct gort_g *gp)
{
	if (gp->tsan_fiber) {
		__tsan_destroy_fiber(gp->tsan_fiber);
		gp->tsan_fiber = NULL;
	}
}
#else
static inline void tsan_switch(struct gort_m *m, struct gort_g *to)
{
}

static inline void tsan_g0_init(struct gort_m *m)
{
}

static inline void tsan_free(struct gort_g *gp)
{
}
#endif

static inline void san_switch(struct gort_m *m, struct gort_g *from,
			      struct gort_g *to, bool from_dies)
{
	asan_switch(m, from, to, from_dies);
	tsan_switch(m, to);
}

/* Runs in the context that resumed on m: finish what the switcher left. */
static void finish_switch(struct gort_m *m)
{
	struct gort_g *prev = m->prevg;
	enum gort_post post = m->post;

	m->post = POST_NONE;
	/*
	 * The stop is recorded before prevg lets go of prev: until then the
	 * collector counts prev as this M's (gc_suspend_threads waits for
	 * an M caught between goroutines, gc_scan_suspended scans prev with
	 * a suspended one), as prev's gc_nrun still says it is on an M.
	 * An M that switches without a P (its P was taken during a system
	 * call) does so while the world is stopped; prev's stack once went
	 * unscanned in that window and an object only its registers held
	 * was freed (gc/collect fork_during_cycle).
	 */
	if (prev)
		gc_g_stopped(prev);
	__atomic_store_n(&m->prevg, NULL, __ATOMIC_RELEASE);
	switch (post) {
	case POST_NONE:
		break;
	case POST_READY:
		atomic_store_explicit(&prev->status, G_RUNNABLE,
				      memory_order_relaxed);
		runqput(m->p, prev, false);
		break;
	case POST_PARK:
		if (!m->unlockf(prev, m->unlockarg)) {
			/* the wait ended before it began */
			gort_trace_go_unblock(m, prev);
			atomic_store_explicit(&prev->status, G_RUNNABLE,
				      memory_order_relaxed);
			runqput(m->p, prev, true);
		}
		break;
	case POST_EXIT:
		gfput(m->p, prev);
		break;
	case POST_GLOBAL:
		atomic_store_explicit(&prev->status, G_RUNNABLE,
				      memory_order_relaxed);
		gort_lock(&sched.lock);
		globrunqput(prev);
		gort_unlock(&sched.lock);
		wakep();
		break;
	}
}

/*
 * Switch from the running goroutine cur to next (or to g0 when next is
 * NULL), leaving post for the context that resumes on this M.  Returns in
 * cur when it is resumed, possibly on another M.
 */
static void switch_from_g(struct gort_m *m, struct gort_g *cur,
			  struct gort_g *next, enum gort_post post)
{
	const struct gort_ctx *to;
	uint32_t nest;

	gort_stack_check(cur);
	m->post = post;
	__atomic_store_n(&m->prevg, cur, __ATOMIC_RELAXED);
	if (next) {
		execute_prepare(m, next);
		to = &next->ctx;
	} else {
		/* release: prevg is seen by whoever sees curg gone */
		__atomic_store_n(&m->curg, NULL, __ATOMIC_RELEASE);
		to = &m->g0ctx;
	}
	WRITE_ONCE(cur->m, NULL);
	/* the nesting depth is this goroutine's, not the M's */
	nest = m->rt_nest;
	m->rt_nest = 0;
	san_switch(m, cur, next, post == POST_EXIT);
	gort_ctx_switch(&cur->ctx, to);
	m = gort_getm();
	m->rt_nest = nest;
	asan_landed(m, cur, false);
	finish_switch(m);
	/*
	 * A busy P's timers run here, where no lock is held any more (the
	 * switcher may have held a channel lock that a timer sends on).
	 */
	if (m->p)
		run_due_timers(m->p);
}

/* Next G this M may switch to directly, or NULL to go through g0. */
static struct gort_g *direct_next(struct gort_m *m)
{
	struct gort_p *p = m->p;
	struct gort_g *gp;

	if (m->lockedg || !p ||
	    atomic_load_explicit(&sched.stw_wait, memory_order_relaxed) ||
	    atomic_load_explicit(&sched.exiting, memory_order_relaxed))
		return NULL;
	if ((atomic_load_explicit(&p->schedtick, memory_order_relaxed) % 61) ==
		    0 &&
	    atomic_load_explicit(&sched.runqsize, memory_order_relaxed) > 0)
		return NULL;
	gp = runqget(p);
	if (gp && gp->lockedm) {
		/* Wired elsewhere: let g0 hand our P to its M. */
		runqput(p, gp, true);
		return NULL;
	}
	return gp;
}

static void gentry(void *arg)
{
	struct gort_g *gp = arg;
	struct gort_m *m = gort_getm();

	asan_landed(m, gp, true);
	finish_switch(m);
	gort_rt_exit();
	gp->fn(gp->arg);
	gort_goexit();
}

/* The scheduler loop of an M, on its g0 (thread) stack. */
static void schedule_loop(struct gort_m *m)
{
	struct gort_g *gp;

	for (;;) {
		if (m_must_exit(m))
			return;
		if (!m->p && !m->lockedg) {
			stopm(m);
			continue;
		}
		if (m->lockedg) {
			stoplockedm(m);
			if (m_must_exit(m))
				return;
			if (!m->p)
				continue;
			gp = m->lockedg;
		} else {
			gp = findrunnable(m);
			if (!gp)
				return;
			if (atomic_load(&m->spinning))
				resetspinning(m);
			if (gp->lockedm && gp->lockedm != m) {
				startlockedm(m, gp);
				continue;
			}
		}
		execute_prepare(m, gp);
		san_switch(m, NULL, gp, false);
		gort_ctx_switch(&m->g0ctx, &gp->ctx);
		asan_landed(m, NULL, false);
		finish_switch(m);
		if (m->exiting_locked) {
			/* Its wired goroutine ended: the thread ends too. */
			if (m->p)
				gort_handoffp(releasep(m));
			return;
		}
	}
}

static void *mstart(void *arg)
{
	struct gort_m *m = arg;
	pthread_attr_t attr;
	sigset_t none;
	void *lo;
	size_t size;

	gort_arch_setm(m);
	m->tid = (pid_t)syscall(SYS_gettid);
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		pthread_attr_getstack(&attr, &lo, &size);
		m->g0lo = lo;
		m->g0size = size;
		pthread_attr_destroy(&attr);
	}
	gort_m_signal_stack(m);
	tsan_g0_init(m);
	gort_trace_thread_start();
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	atomic_store(&m->in_runtime, 1);
	if (m->nextp) {
		acquirep(m, m->nextp);
		m->nextp = NULL;
	}
	schedule_loop(m);

	/* The thread ends; nothing below may touch m after mlive drops. */
	gort_trace_thread_exit();
	gort_m_signal_stack_free(m);
	gort_arch_setm(NULL);
	gort_lock(&exit_lock);
	if (m->zombie) {
		/* an ended run's M: its memory is kept, `sched` is not ours */
		gort_unlock(&exit_lock);
		atomic_fetch_sub(&gort_zombie_threads, 1);
		return NULL;
	}
	gort_lock(&sched.lock);
	sched.mcount--;
	m->exited = true;
	gort_unlock(&sched.lock);
	atomic_fetch_sub(&mlive, 1);
	gort_unlock(&exit_lock);
	gort_futex_wake(&mlive, 1);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Goroutine descriptors                                              */
/* ------------------------------------------------------------------ */

static struct gort_g *galloc_slab(void)
{
	struct gort_g *slab = calloc(G_SLAB, sizeof(*slab));
	int i;

	if (!slab)
		return NULL;
	gort_lock(&sched.allglock);
	for (i = 0; i < G_SLAB; i++) {
		slab[i].allnext = i + 1 < G_SLAB ? &slab[i + 1] : sched.allg;
		slab[i].schedlink = i + 1 < G_SLAB ? &slab[i + 1] : NULL;
		atomic_store_explicit(&slab[i].status, G_DEAD,
				      memory_order_relaxed);
	}
	sched.allg = slab;
	slab[0].slab_head = true;
	gort_unlock(&sched.allglock);
	return slab;
}

/*
 * Dead Gs move between a P's list and the global one in whole batches
 * (the list as it is, linked by schedlink), so the global lock is held
 * for O(1) work: a P that spawns and a P that runs the spawned goroutines
 * trade batches instead of walking cold lists under the lock.
 */
#define GFREE_BATCH 64

static void gfree_push_batch(struct gort_g *head, uint32_t n)
{
	head->batchlen = n;
	gort_lock(&sched.lock);
	head->batchlink = sched.gfree;
	sched.gfree = head;
	atomic_fetch_add_explicit(&sched.ngfree, 1, memory_order_relaxed);
	gort_unlock(&sched.lock);
}

static struct gort_g *gfree_pop_batch(uint32_t *n)
{
	struct gort_g *head;

	gort_lock(&sched.lock);
	head = sched.gfree;
	if (head) {
		sched.gfree = head->batchlink;
		atomic_fetch_sub_explicit(&sched.ngfree, 1,
					  memory_order_relaxed);
	}
	gort_unlock(&sched.lock);
	if (head)
		*n = head->batchlen;
	return head;
}

/* A dead G to reuse, from p's cache, the global list or a new slab. */
static struct gort_g *gfget(struct gort_p *p)
{
	struct gort_g *gp, *rest;
	uint32_t n;

	if (p && !p->gfree &&
	    atomic_load_explicit(&sched.ngfree, memory_order_relaxed) > 0) {
		p->gfree = gfree_pop_batch(&n);
		WRITE_ONCE(p->gfreecnt, p->gfree ? n : 0);
	}
	if (p && p->gfree) {
		gp = p->gfree;
		p->gfree = gp->schedlink;
		WRITE_ONCE(p->gfreecnt, p->gfreecnt - 1);
		return gp;
	}
	if (!p && atomic_load_explicit(&sched.ngfree, memory_order_relaxed)) {
		gp = gfree_pop_batch(&n);
		if (gp) {
			if (gp->schedlink)
				gfree_push_batch(gp->schedlink, n - 1);
			return gp;
		}
	}
	gp = galloc_slab();
	if (!gp)
		return NULL;
	/* the rest of the slab goes to the free list it would come from */
	rest = gp->schedlink;
	if (p) {
		while (rest) {
			struct gort_g *nx = rest->schedlink;

			rest->schedlink = p->gfree;
			p->gfree = rest;
			WRITE_ONCE(p->gfreecnt, p->gfreecnt + 1);
			rest = nx;
		}
	} else if (rest) {
		gfree_push_batch(rest, G_SLAB - 1);
	}
	return gp;
}

static void gfput(struct gort_p *p, struct gort_g *gp)
{
	tsan_free(gp);
	if (gp->stack.lo)
		gort_stack_free(p, &gp->stack);
	gp->stack.lo = NULL;
	atomic_store_explicit(&gp->status, G_DEAD, memory_order_relaxed);
	gp->schedlink = p->gfree;
	p->gfree = gp;
	WRITE_ONCE(p->gfreecnt, p->gfreecnt + 1);
	if (p->gfreecnt >= GFREE_BATCH) {
		gfree_push_batch(p->gfree, p->gfreecnt);
		p->gfree = NULL;
		WRITE_ONCE(p->gfreecnt, 0);
	}
}

static uint64_t newgoid(struct gort_p *p)
{
	if (!p)
		return atomic_fetch_add(&sched.goidgen, 1) + 1;
	if (p->goidcache == p->goidcacheend) {
		p->goidcache = atomic_fetch_add(&sched.goidgen, GOID_BATCH) + 1;
		p->goidcacheend = p->goidcache + GOID_BATCH;
	}
	return p->goidcache++;
}

/* ------------------------------------------------------------------ */
/* Public: goroutines                                                 */
/* ------------------------------------------------------------------ */

static int newproc(void (*fn)(void *), void *arg, size_t stack_size,
		   const char *name, void *createpc, bool system)
{
	struct gort_m *m;
	struct gort_p *p;
	struct gort_g *gp, *self;

	if (!fn)
		return -EINVAL;
	if (stack_size == 0)
		stack_size = gort_config.stack_size;
	if (stack_size > GORT_STACK_MAX)
		return -EINVAL;
	if (stack_size < GORT_STACK_MIN)
		stack_size = GORT_STACK_MIN;
	if (!atomic_load_explicit(&sched.running, memory_order_acquire) ||
	    atomic_load_explicit(&sched.exiting, memory_order_relaxed))
		return -ESRCH;

	m = gort_rt_enter();
	p = m ? m->p : NULL;
	gp = gfget(p);
	if (!gp) {
		gort_rt_exit();
		return -ENOMEM;
	}
	self = m ? m->curg : NULL;
	gp->fn = fn;
	gp->arg = arg;
	gp->stack_request = stack_size;
	gp->name = name;
	gp->createpc = createpc;
	gp->parent_goid = self ? self->goid : 0;
	gp->goid = newgoid(p);
	WRITE_ONCE(gp->lockedm, NULL);
	gp->lockcount = 0;
	gp->is_main = false;
	gp->system = system;
	gp->gc_leaked = false;
	gp->gc_deferred = false;
	WRITE_ONCE(gp->waitreason, 0);
	if (!system)
		atomic_fetch_add_explicit(&sched.ngoroutines, 1,
					  memory_order_relaxed);
	gort_trace_go_create(m, gp, fn);
	atomic_store_explicit(&gp->status, G_RUNNABLE, memory_order_release);
	if (p) {
		/* a runtime goroutine queues behind the work it interrupts:
		 * in runnext, a collection asked for in a loop would take
		 * turns with its asker and starve every other goroutine */
		runqput(p, gp, !system);
	} else {
		gort_lock(&sched.lock);
		globrunqput(gp);
		gort_unlock(&sched.lock);
	}
	wakep();
	gort_rt_exit();
	return 0;
}

GORT_API int gort_go(void (*fn)(void *), void *arg)
{
	return newproc(fn, arg, 0, NULL, __builtin_return_address(0), false);
}

int gort_go_system(void (*fn)(void *), void *arg)
{
	return newproc(fn, arg, 0, NULL, __builtin_return_address(0), true);
}

GORT_API int gort_go_opts(void (*fn)(void *), void *arg,
			  const struct gort_go_opts *opts)
{
	size_t size = 0;
	long page = sysconf(_SC_PAGESIZE);

	if (opts && opts->stack_size) {
		if (opts->stack_size > GORT_STACK_MAX)
			return -EINVAL;
		size = (opts->stack_size + (size_t)page - 1) &
		       ~((size_t)page - 1);
	}
	return newproc(fn, arg, size, opts ? opts->name : NULL,
		       __builtin_return_address(0), false);
}

/*
 * Yield with one P.  No other thread can run a goroutine from this P's
 * queue: a thief needs a P of its own, there is none, and the P count
 * cannot change while this M is inside the runtime.  So the yielding
 * goroutine may be queued before the switch, and nothing is left for the
 * other side to finish.  Returns false when the general path must run.
 */
static bool yield_single_p(struct gort_m *m, struct gort_g *cur)
{
	struct gort_p *p = m->p;
	struct gort_g *next;
	uint32_t head, tail, nest;

	if (!single_p() || m->lockedg ||
	    atomic_load_explicit(&p->timers.when0, memory_order_relaxed) ||
	    atomic_load_explicit(&sched.runqsize, memory_order_relaxed) ||
	    atomic_load_explicit(&sched.stw_wait, memory_order_relaxed) ||
	    atomic_load_explicit(&sched.exiting, memory_order_relaxed))
		return false;
	next = atomic_load_explicit(&p->runnext, memory_order_relaxed);
	head = atomic_load_explicit(&p->runqhead, memory_order_relaxed);
	tail = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
	if (next) {
		if (next->lockedm || !next->stack.lo)
			return false;
		atomic_store_explicit(&p->runnext, NULL, memory_order_relaxed);
	} else {
		if (head == tail)
			return true;	/* nothing else to run */
		next = runq_slot_load(p, head);
		if (next->lockedm || !next->stack.lo)
			return false;
		head++;
		atomic_store_explicit(&p->runqhead, head, memory_order_relaxed);
	}
	gort_stack_check(cur);
	gort_trace_go_stop(m, p, cur, GORT_STOP_YIELD);
	/* its stop is recorded on the other side */
	__atomic_store_n(&m->prevg, cur, __ATOMIC_RELAXED);
	atomic_store_explicit(&cur->status, G_RUNNABLE, memory_order_relaxed);
	runq_slot_store(p, tail, cur);
	atomic_store_explicit(&p->runqtail, tail + 1, memory_order_relaxed);
	WRITE_ONCE(cur->m, NULL);
	set_running(m, p, next);
	gort_trace_go_start(m, p, next);
	gort_trace_proc_runq(m, p, next);
	nest = m->rt_nest;
	m->rt_nest = 0;
	san_switch(m, cur, next, false);
	gort_ctx_switch(&cur->ctx, &next->ctx);
	m = gort_getm();
	m->rt_nest = nest;
	asan_landed(m, cur, false);
	if (m->post || m->prevg)
		finish_switch(m);
	return true;
}

GORT_API void gort_yield(void)
{
	struct gort_m *m = gort_rt_enter();
	struct gort_g *gp, *next;

	if (!m || !m->curg) {
		gort_rt_exit();
		sched_yield();
		return;
	}
	gp = m->curg;
	if (likely(yield_single_p(m, gp))) {
		gort_rt_exit();
		return;
	}
	/*
	 * Due timers first, as Go's Gosched does by going through the
	 * scheduler: with nothing else runnable no switch happens below, and
	 * a goroutine that yields in a loop would keep its P's timers (sleeps,
	 * deadlines) from firing until sysmon preempted it.
	 */
	run_due_timers(m->p);
	next = direct_next(m);
	if (next) {
		gort_trace_go_stop(m, m->p, gp, GORT_STOP_YIELD);
		switch_from_g(m, gp, next, POST_READY);
	} else if (m->lockedg || atomic_load(&sched.stw_wait) ||
		   atomic_load(&sched.runqsize) > 0 || !runqempty(m->p)) {
		gort_trace_go_stop(m, m->p, gp, GORT_STOP_YIELD);
		switch_from_g(m, gp, NULL, POST_READY);
	}
	gort_rt_exit();
}

/* Park the running goroutine; unlockf(gp, arg) runs once it is off-CPU. */
void gort_gopark(bool (*unlockf)(struct gort_g *, void *), void *arg,
		 enum gort_waitreason reason)
{
	struct gort_m *m = gort_getm();
	struct gort_g *gp = m->curg;

	WRITE_ONCE(gp->waitreason, reason);
	m->unlockf = unlockf;
	m->unlockarg = arg;
	/* after the stores: nothing else is live across its cold call */
	gort_trace_go_block(m, gp);
	atomic_store_explicit(&gp->status, G_WAITING, memory_order_relaxed);
	switch_from_g(m, gp, direct_next(m), POST_PARK);
	WRITE_ONCE(gp->waitreason, 0);
	WRITE_ONCE(gp->waitobj, NULL);
	WRITE_ONCE(gp->waitsel, NULL);
}

/* Make a parked goroutine runnable (from any thread). */
static void ready(struct gort_g *gp, bool next)
{
	struct gort_m *m = gort_getm();
	uint32_t status = atomic_load_explicit(&gp->status,
					       memory_order_relaxed);

	/*
	 * Only the waker that took gp off a wait queue readies it, so a
	 * plain check and store suffice (no locked instruction on the
	 * hand-off path).
	 */
	if (unlikely(status != G_WAITING))
		gort_fatal("runtime: goready of goroutine %llu, which is not waiting (status %u)",
			   (unsigned long long)gp->goid, status);
	/* before gp can run (and change its wait reason) */
	gort_trace_go_unblock(m, gp);
	atomic_store_explicit(&gp->status, G_RUNNABLE, memory_order_relaxed);
	if (m && unlikely(m->collect_ready)) {
		/* the blocked poller: queued once it has a P */
		gp->schedlink = NULL;
		if (m->readyq_tail)
			m->readyq_tail->schedlink = gp;
		else
			m->readyq = gp;
		m->readyq_tail = gp;
		return;
	}
	if (m && m->p && atomic_load_explicit(&m->in_runtime,
					      memory_order_relaxed) &&
	    atomic_load_explicit(&m->p->status, memory_order_acquire) ==
		    m->pword) {
		runqput(m->p, gp, next);
	} else {
		gort_lock(&sched.lock);
		globrunqput(gp);
		gort_unlock(&sched.lock);
	}
	wakep();
}

void gort_goready(struct gort_g *gp)
{
	ready(gp, true);
}

/*
 * I/O completions come in batches: queue them in order, behind what is
 * runnable already, as Go's injectglist does.  runnext would let the last
 * completion of every batch overtake the others and, with a thousand
 * connections, starve the ones that overflow to the global queue.
 */
void gort_goready_io(struct gort_g *gp)
{
	ready(gp, false);
}

static void main_finished(void)
{
	atomic_store(&sched.exiting, true);
	gort_netpoll_break();
	atomic_store(&sched.main_done, 1);
	gort_futex_wake(&sched.main_done, 1);
}

GORT_API _Noreturn void gort_goexit(void)
{
	struct gort_m *m = gort_rt_enter();
	struct gort_g *gp;

	if (!m || !m->curg)
		gort_fatal("gort_goexit called outside a goroutine");
	gp = m->curg;
	/* before the count drops: gort_num_goroutine() == 1 means all ended */
	gort_trace_go_end(m, m->p, gp);
	if (!gp->system)
		atomic_fetch_sub(&sched.ngoroutines, 1);
	if (gp->lockcount || m->lockedg == gp) {
		/* Go ends a thread whose wired goroutine exits. */
		gp->lockcount = 0;
		WRITE_ONCE(gp->lockedm, NULL);
		WRITE_ONCE(m->lockedg, NULL);
		m->exiting_locked = true;
		switch_from_g(m, gp, NULL, POST_EXIT);
	} else {
		switch_from_g(m, gp, direct_next(m), POST_EXIT);
	}
	gort_throw("dead goroutine resumed");
}

GORT_API uint64_t gort_goid(void)
{
	struct gort_g *gp = gort_getg();

	return gp ? gp->goid : 0;
}

GORT_API int gort_num_goroutine(void)
{
	return atomic_load(&sched.ngoroutines);
}

GORT_API void gort_lock_os_thread(void)
{
	struct gort_m *m = gort_rt_enter();

	if (m && m->curg) {
		m->curg->lockcount++;
		WRITE_ONCE(m->curg->lockedm, m);
		WRITE_ONCE(m->lockedg, m->curg);
	}
	gort_rt_exit();
}

GORT_API void gort_unlock_os_thread(void)
{
	struct gort_m *m = gort_rt_enter();

	if (m && m->curg && m->curg->lockcount &&
	    --m->curg->lockcount == 0) {
		WRITE_ONCE(m->curg->lockedm, NULL);
		WRITE_ONCE(m->lockedg, NULL);
	}
	gort_rt_exit();
}

/* ------------------------------------------------------------------ */
/* Losing the P: syscalls and sysmon retakes                          */
/* ------------------------------------------------------------------ */

/*
 * The M's P was taken (sysmon, stop-the-world, end of the runtime) while
 * its goroutine ran outside the runtime.  Get an idle P, or queue the
 * goroutine globally and let this thread sleep until it is rescheduled.
 */
struct gort_m *gort_rt_enter_slow(struct gort_m *m)
{
	struct gort_p *p = m->p;
	struct gort_g *gp = m->curg;

	if (p) {
		/*
		 * A retaker is deciding whether to take it: wait for the
		 * verdict.  One read decides: a stopper retries a retake at
		 * once, so a second read may find RETAKE again while p is
		 * still ours, and dropping it then would orphan p.
		 */
		uint32_t w;

		while ((w = atomic_load(&p->status)) ==
		       PWORD(m->pword, P_RETAKE))
			gort_cpu_relax();
		if (w == m->pword && !m_must_exit(m))
			return m;
		WRITE_ONCE(m->p, NULL);
	}
	if (!gp)
		return m;	/* on g0: the scheduler deals with it */
	if (m_must_exit(m)) {
		/* The runtime ended: this goroutine never runs again. */
		WRITE_ONCE(m->curg, NULL);
		san_switch(m, gp, NULL, false);
		gort_ctx_switch(&gp->ctx, &m->g0ctx);
		gort_throw("abandoned goroutine resumed");
	}
	gort_lock(&sched.lock);
	p = atomic_load(&sched.stw_wait) ? NULL : pidleget();
	gort_unlock(&sched.lock);
	if (p) {
		acquirep(m, p);
		atomic_store_explicit(&gp->status, G_RUNNING, memory_order_relaxed);
		return m;
	}
	gort_trace_go_stop_without_p(m, gp, GORT_STOP_PREEMPTED);
	switch_from_g(m, gp, NULL, POST_GLOBAL);
	m = gort_getm();
	atomic_store_explicit(&gp->status, G_RUNNING, memory_order_relaxed);
	return m;
}

GORT_API void gort_syscall_begin(void)
{
	struct gort_m *m = gort_rt_enter();
	struct gort_p *p;

	if (!m || !m->curg) {
		gort_rt_exit();
		return;
	}
	p = m->p;
	atomic_store_explicit(&p->syscalltick,
			      atomic_load_explicit(&p->syscalltick,
						   memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&m->curg->status, G_SYSCALL,
			      memory_order_relaxed);
	gort_trace_go_syscall_begin(m, p, m->curg);
	m->oldp = p;
	gort_p_set(p, P_SYSCALL);
	gort_rt_exit();
}

GORT_API void gort_syscall_end(void)
{
	struct gort_m *m = gort_getm();
	struct gort_p *p;
	uint32_t expect;

	if (!m || !m->curg || !m->oldp)
		return;
	atomic_store_explicit(&m->in_runtime, 1, memory_order_relaxed);
	p = m->oldp;
	m->oldp = NULL;
	expect = PWORD(m->pword, P_SYSCALL);
	if (atomic_compare_exchange_strong(&p->status, &expect, m->pword) &&
	    !m_must_exit(m)) {
		gort_trace_go_syscall_end(m, p, m->curg);
		atomic_store_explicit(&m->curg->status, G_RUNNING,
				      memory_order_relaxed);
		gort_rt_exit();
		return;
	}
	/* its P was taken (and its proc_stop reported) meanwhile */
	gort_trace_go_syscall_end_blocked(m, m->curg);
	WRITE_ONCE(m->p, NULL);
	m = gort_rt_enter_slow(m);
	atomic_store_explicit(&m->curg->status, G_RUNNING,
			      memory_order_relaxed);
	gort_rt_exit();
}

/* ------------------------------------------------------------------ */
/* Stop-the-world and GOMAXPROCS                                      */
/* ------------------------------------------------------------------ */

static void stop_p_locked(struct gort_p *p)
{
	atomic_store(&p->m, NULL);
	gort_p_set(p, P_STOP);
	atomic_fetch_sub(&sched.stopwait, 1);
}

#define STOP_SPIN_ALL_NS 2000000	/* retries in short steps */
#define STOP_SPIN_NS 20000		/* of which on the CPU throughout */
#define STOP_NAP_NS 20000		/* the steps after that */

/* Stop every P but the caller's (the caller is a goroutine in runtime). */
void gort_stop_the_world(enum gort_trace_stw_reason reason)
{
	struct gort_m *m;
	int32_t procs, i;
	struct gort_p *p;
	int64_t spin_until, now;

	/*
	 * Go's worldsema: a second stopper (a collection while
	 * gort_gomaxprocs resizes) parks here, giving its P up, instead of
	 * each holding its own P while waiting for the other's.
	 */
	gort_semacquire(&sched.worldsema, WR_SEMACQUIRE);
	m = gort_getm();
	gort_trace_stw_begin(m, reason);
	gort_lock(&sched.lock);
	procs = atomic_load(&sched.gomaxprocs);
	gort_note_clear(&sched.stopnote);
	atomic_store(&sched.stopwait, procs);
	atomic_store(&sched.stw_wait, true);
	gort_p_set(m->p, P_STOP);
	atomic_fetch_sub(&sched.stopwait, 1);
	while ((p = pidleget()))
		stop_p_locked(p);
	gort_unlock(&sched.lock);

	spin_until = gort_nanotime_internal() + STOP_SPIN_ALL_NS;
	while (atomic_load(&sched.stopwait) > 0) {
		if (m_must_exit(m) && m->curg) {
			/*
			 * gort_main ended meanwhile: its teardown killed the
			 * Ps this stop waits for.  The stopper (a collection
			 * the run's last goroutines asked for) never runs again.
			 */
			struct gort_g *gp = m->curg;

			atomic_store(&sched.stw_wait, false);
			WRITE_ONCE(m->curg, NULL);
			san_switch(m, gp, NULL, false);
			gort_ctx_switch(&gp->ctx, &m->g0ctx);
			gort_throw("abandoned goroutine resumed");
		}
		for (i = 0; i < procs; i++) {
			p = sched.allp[i];
			if (gort_p_cas(p, P_SYSCALL, P_STOP, NULL)) {
				gort_trace_proc_stop(atomic_load(&p->m), p);
				atomic_store(&p->m, NULL);
				atomic_fetch_sub(&sched.stopwait, 1);
			} else if (p != m->p &&
				   gort_p_state(p) == P_RUNNING) {
				gort_retake_running(p, true);
			}
		}
		if (atomic_load(&sched.stopwait) <= 0)
			break;
		/*
		 * Retry at once for STOP_SPIN_NS (the collector's pauses are
		 * measured in microseconds), then after naps of STOP_NAP_NS
		 * up to STOP_SPIN_ALL_NS, then in 100 us steps.  The naps
		 * give the CPU away: the M that must stop a P may be one just
		 * woken to take it over, queued on this very CPU behind the
		 * stopper (stops of 2 to 4 ms on two CPUs).  They sleep, not
		 * sched_yield: a yielder gets its CPU back only when the
		 * thread it yielded to ends its time slice, and that thread
		 * may be a goroutine's, running on without its P (stops of
		 * 0.9 to 2.2 ms, about one binary-trees cycle in a thousand);
		 * a sleeper is woken by the last P's stop or its timer, and
		 * preempts.
		 */
		now = gort_nanotime_internal();
		if (now < spin_until) {
			if (now - spin_until + STOP_SPIN_ALL_NS > STOP_SPIN_NS)
				gort_note_sleep_ns(&sched.stopnote,
						   STOP_NAP_NS);
			else
				for (i = 0; i < 64; i++)
					gort_cpu_relax();
			continue;
		}
		gort_note_sleep_ns(&sched.stopnote, 100000);
	}
	/* every P is ours now; the note may still hold a late wake */
	gort_note_clear(&sched.stopnote);
}

static void procresize(struct gort_m *m, int32_t nprocs)
{
	int32_t old = atomic_load(&sched.gomaxprocs), i;
	struct gort_p *mine = m->p;

	for (i = 0; i < nprocs; i++) {
		struct gort_p *p = sched.allp[i];

		if (!p) {
			p = calloc(1, sizeof(*p));
			if (!p)
				gort_fatal("runtime: cannot allocate a P");
			p->id = i;
			sched.allp[i] = p;
			sched.nallp = i + 1;
		}
		if (!p->mcache)
			p->mcache = gc_mcache_create();
		if (!p->mcache)
			gort_fatal("runtime: cannot allocate an mcache");
		gort_p_set(p, P_STOP);
	}
	for (i = nprocs; i < old; i++) {
		struct gort_p *p = sched.allp[i];
		struct gort_g *gp;

		while ((gp = runqget(p)))
			globrunqput(gp);
		if (p->gfree) {
			/* sched.lock is held: link the batch in directly */
			p->gfree->batchlen = p->gfreecnt;
			p->gfree->batchlink = sched.gfree;
			sched.gfree = p->gfree;
			atomic_fetch_add(&sched.ngfree, 1);
			p->gfree = NULL;
		}
		WRITE_ONCE(p->gfreecnt, 0);
		gort_stack_flush(p);
		gc_mcache_flush(p->mcache);
		gort_timers_move(p, sched.allp[0]);
		gort_p_set(p, P_DEAD);
		atomic_store(&p->m, NULL);
	}
	atomic_store(&sched.gomaxprocs, nprocs);
	if (mine && mine->id >= nprocs) {
		WRITE_ONCE(m->p, NULL);
		gort_trace_proc_stop(m, mine);
		acquirep(m, sched.allp[0]);
	}
}

/* Restart the world; nprocs > 0 resizes to that many Ps first. */
static void start_the_world_resize(int32_t nprocs)
{
	struct gort_m *m = gort_getm();
	struct gort_p *work[GORT_MAX_PROCS];
	int32_t i, nwork = 0;

	gort_lock(&sched.lock);
	if (nprocs > 0) {
		procresize(m, nprocs);
		gort_trace_procs_change(m, nprocs);
	}
	/* the caller kept its P: a new epoch, not a new owner */
	setp(m, m->p);
	for (i = 0; i < atomic_load(&sched.gomaxprocs); i++) {
		struct gort_p *p = sched.allp[i];

		if (p == m->p)
			continue;
		if (!runqempty(p))
			work[nwork++] = p;
		else
			pidleput(p);
	}
	atomic_store(&sched.stw_wait, false);
	gort_unlock(&sched.lock);
	for (i = 0; i < nwork; i++)
		startm(work[i], false);
	gort_trace_stw_end(m);
	wakep();
}

void gort_start_the_world(void)
{
	start_the_world_resize(0);
	gort_semrelease(&sched.worldsema);
}

GORT_API int gort_gomaxprocs(int n)
{
	int prev = atomic_load(&sched.gomaxprocs);
	struct gort_m *m;

	if (n <= 0 || !atomic_load(&sched.running))
		return prev > 0 ? prev : gort_default_procs();
	if (n > GORT_MAX_PROCS)
		n = GORT_MAX_PROCS;
	if (n == prev)
		return prev;
	m = gort_rt_enter();
	if (!m || !m->curg) {
		gort_rt_exit();
		return prev;	/* only a goroutine can stop the world */
	}
	gort_stop_the_world(GORT_STW_GOMAXPROCS);
	start_the_world_resize(n);
	gort_semrelease(&sched.worldsema);
	gort_rt_exit();
	return prev;
}

/* A thread gort did not start blocks in (true) or leaves (false) gort. */
void gort_foreign_blocked(bool blocked)
{
	gort_lock(&sched.lock);
	sched.nforeign_blocked += blocked ? 1 : -1;
	gort_unlock(&sched.lock);
}

void gort_wake_foreign(_Atomic uint32_t *word)
{
	gort_foreign_blocked(false);
	atomic_store_explicit(word, 1, memory_order_release);
	gort_futex_wake(word, 1);
}

/* Threads of an ended run still in user code (they end at their next
 * gort call). */
_Atomic int32_t gort_zombie_threads;
_Atomic int32_t gort_helper_threads;

static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * Could a thread that gort does not run wake a goroutine?  Any thread
 * started since gort_main began that is neither gort's (Ms, sysmon, the
 * gort_main caller, threads of ended runs, the trace writer) nor blocked
 * inside gort could:
 * it may be a library's callback thread about to send on a channel.
 * Threads that already existed when gort_main began (an emulator's or a
 * sanitizer's helpers, the program's own set-up) are not counted.
 */
static bool foreign_wakers(void)
{
	int n = count_threads();
	int ours = sched.mcount + 2 + atomic_load(&gort_zombie_threads) +
		   atomic_load(&gort_helper_threads) + sched.thread_baseline;


	return n < 0 || n - ours - sched.nforeign_blocked > 0;
}

/* ------------------------------------------------------------------ */
/* gort_main                                                          */
/* ------------------------------------------------------------------ */

struct main_args {
	int (*fn)(void *);
	void *arg;
};

static void main_entry(void *arg)
{
	struct main_args *ma = arg;

	sched.main_ret = ma->fn(ma->arg);
	/* in the runtime from here: teardown must not take this M as stuck */
	gort_rt_enter();
	main_finished();
	/* This goroutine never runs again; its M goes back to g0 and ends. */
	gort_goexit();
}

static void sched_reset(void)
{
	memset(&sched, 0, sizeof(sched));
}

static void free_all(void)
{
	struct gort_g *gp, *next, *slabs = NULL;
	struct gort_m *m, *mn;
	int32_t i;

	for (gp = sched.allg; gp; gp = next) {
		next = gp->allnext;
		if (gp->stack.lo)
			gort_stack_free(NULL, &gp->stack);
		if (gp->slab_head) {
			gp->schedlink = slabs;
			slabs = gp;
		}
	}
	for (gp = slabs; gp; gp = next) {
		next = gp->schedlink;
		free(gp);
	}
	for (m = sched.allm; m; m = mn) {
		mn = m->alllink;
		free(m);
	}
	for (i = 0; i < sched.nallp; i++) {
		gort_timers_free(sched.allp[i]);
		gc_mcache_destroy(sched.allp[i]->mcache);
		free(sched.allp[i]);
		sched.allp[i] = NULL;
	}
	sched.nallp = 0;
	atomic_store(&gort_ntimers, 0);
}

/* GORT_TRACE=FILE: trace this run into FILE (exit 2 if that fails). */
static int env_trace_start(void)
{
	const char *path = gort_config.trace_path;
	int fd, err;

	if (!path)
		return -1;
	if (gort_config.trace_flight) {
		/* nothing is written until SIGUSR2 or the end of the run */
		err = gort_trace_flight_start(path, gort_config.trace_flight);
		if (err) {
			gort_dprintf(2, "gort: GORT_TRACEFLIGHT: %s\n",
				     strerror(-err));
			_exit(2);
		}
		return INT_MAX;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		gort_dprintf(2, "gort: GORT_TRACE=\"%s\": %s\n", path,
			     strerror(errno));
		_exit(2);
	}
	err = gort_trace_start(fd);
	if (err) {
		gort_dprintf(2, "gort: GORT_TRACE=\"%s\": %s\n", path,
			     err == -EBUSY ? "a trace is already being written" :
					     strerror(-err));
		_exit(2);
	}
	return fd;
}

static void env_trace_stop(int fd)
{
	int err;

	if (fd < 0)
		return;
	err = gort_trace_stop();
	if (err)
		gort_dprintf(2, "gort: GORT_TRACE=\"%s\": %s\n",
			     gort_config.trace_path, strerror(-err));
	if (fd != INT_MAX)	/* the flight recorder has no descriptor */
		close(fd);
}

/* Graveyard for generations whose Ms were left in user code. */
static struct gort_sched *graveyard[64];
static int ngraveyard;

/* Wait for every M to end, except those still running goroutine code;
 * returns how many of those there are. */
static int teardown_wait(void)
{
	struct gort_m *m;
	int32_t stuck;

	for (;;) {
		uint32_t live;

		stuck = 0;
		gort_lock(&exit_lock);
		live = atomic_load(&mlive);
		gort_lock(&sched.lock);
		for (m = sched.allm; m; m = m->alllink) {
			if (m->exited)
				continue;
			atomic_store(&m->exiting, true);
			if (m->blocked) {
				m->nextp = NULL;
				if (!atomic_load(&m->park.key))
					gort_note_wake(&m->park);
			} else if (!atomic_load(&m->in_runtime) &&
				   READ_ONCE(m->curg)) {
				stuck++;
			}
		}
		if (live <= (uint32_t)stuck) {
			/* the rest are zombies: their exit path leaves sched
			 * alone, decided under exit_lock */
			int32_t marked = 0;

			for (m = sched.allm; m; m = m->alllink) {
				m->zombie = !m->exited && !m->blocked &&
					    !atomic_load(&m->in_runtime) &&
					    READ_ONCE(m->curg);
				marked += m->zombie;
			}
			if (marked != stuck) {
				/* one came back into the runtime: again */
				for (m = sched.allm; m; m = m->alllink)
					m->zombie = false;
				gort_unlock(&sched.lock);
				gort_unlock(&exit_lock);
				continue;
			}
			atomic_fetch_sub(&mlive, (uint32_t)stuck);
			atomic_fetch_add(&gort_zombie_threads, stuck);
			gort_unlock(&sched.lock);
			gort_unlock(&exit_lock);
			return stuck;
		}
		gort_unlock(&sched.lock);
		gort_unlock(&exit_lock);
		gort_netpoll_break();
		gort_futex_wait(&mlive, live, 1000000);
	}
}

GORT_API int gort_main(int (*main_fn)(void *), void *arg)
{
	static struct main_args ma;
	bool expect = false;
	struct gort_g *gp;
	int32_t procs, i;
	int ret, err, stuck, trace_fd;

	if (!main_fn)
		return -EINVAL;
	if (!atomic_compare_exchange_strong(&sched.running, &expect, true))
		return -EBUSY;
	gort_env_parse();
	procs = gort_config.maxprocs ? gort_config.maxprocs :
				       gort_default_procs();
	gort_trace_sinks_start();

	sched.starttime = gort_nanotime_internal();
	atomic_store(&sched.worldsema, 1);
	err = gort_stack_init();
	if (err)
		gort_fatal("runtime: cannot set up stacks: %s", strerror(-err));
	err = gort_barrier_init();
	if (err)
		gort_fatal("runtime: no process-wide memory barrier: %s",
			   strerror(-err));
	err = gc_init();
	if (err)
		gort_fatal("runtime: cannot set up the garbage collector: %s",
			   strerror(-err));
	gort_signals_init();
	err = gort_netpoll_init();
	if (err)
		gort_fatal("runtime: cannot set up the network poller: %s",
			   strerror(-err));
	trace_fd = env_trace_start();

	for (i = 0; i < procs; i++) {
		struct gort_p *p = calloc(1, sizeof(*p));

		if (!p)
			gort_fatal("runtime: cannot allocate a P");
		p->id = i;
		p->mcache = gc_mcache_create();
		if (!p->mcache)
			gort_fatal("runtime: cannot allocate an mcache");
		sched.allp[i] = p;
	}
	sched.nallp = procs;
	atomic_store(&sched.gomaxprocs, procs);
	for (i = procs - 1; i >= 1; i--)
		pidleput(sched.allp[i]);

	ma.fn = main_fn;
	ma.arg = arg;
	gp = gfget(NULL);
	if (!gp)
		gort_fatal("runtime: cannot allocate the main goroutine");
	gp->fn = main_entry;
	gp->arg = &ma;
	gp->stack_request = gort_config.stack_size;
	gp->goid = newgoid(NULL);
	gp->is_main = true;
	gp->createpc = __builtin_return_address(0);
	atomic_store(&sched.ngoroutines, 1);
	/* the caller's thread is not an M: no goroutine, P or M made these */
	gort_trace_procs_change_boot(procs);
	gort_trace_go_create(NULL, gp, (void *)main_fn);
	atomic_store(&gp->status, G_RUNNABLE);
	runqput(sched.allp[0], gp, true);

	gort_sysmon_start();
	/* everything but the caller and sysmon; a sanitizer's helper thread
	 * starts with the first pthread_create, which was sysmon's */
	sched.thread_baseline = count_threads() - 2 -
				atomic_load(&gort_helper_threads);
	if (sched.thread_baseline < 0)
		sched.thread_baseline = 0;
	/*
	 * This thread's frames (the caller's locals) are roots meanwhile.
	 * Before the first M: finding the stack's bounds opens
	 * /proc/self/maps, which must not race the main goroutine's own
	 * descriptors (a test that fills the table to its limit).
	 */
	__builtin_unwind_init();
	gc_note_caller_stack(__builtin_frame_address(0));
	newm(sched.allp[0], false);

	while (!atomic_load(&sched.main_done))
		gort_futex_wait(&sched.main_done, 0, -1);
	gc_note_caller_stack(NULL);
	ret = sched.main_ret;

	/* End every M: Ps die, sleeping Ms are woken to exit. */
	atomic_store(&sched.exiting, true);
	for (i = 0; i < sched.nallp; i++)
		gort_p_set(sched.allp[i], P_DEAD);
	gort_sysmon_stop();
	stuck = teardown_wait();
	gort_netpoll_fini();
	gc_run_end();
	/* every M has ended or sits in C code: no event is left to come */
	env_trace_stop(trace_fd);
	if (!stuck) {
		free_all();
		gort_stack_fini();
	} else if (ngraveyard < (int)ARRAY_SIZE(graveyard)) {
		/*
		 * Some goroutine still runs C code on its thread: keep this
		 * generation's memory (it will look at its M and P when it
		 * next calls in, see exiting and end its thread).
		 */
		struct gort_sched *old = malloc(sizeof(*old));

		if (old) {
			memcpy(old, &sched, sizeof(*old));
			graveyard[ngraveyard++] = old;
		}
		gort_stack_abandon();
	}
	gort_signals_fini();
	gort_trace_sinks_stop();	/* every M has ended */
	/* Ms of this run that are still out there now see a stale generation */
	atomic_fetch_add(&gort_generation, 1);
	sched_reset();	/* clears running: gort_main may be called again */
	return ret;
}
