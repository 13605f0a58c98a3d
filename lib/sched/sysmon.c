// SPDX-License-Identifier: MIT
/*
 * sysmon.c - the system monitor: P retake, schedtrace, and the
 * process-wide memory barrier that makes retaking safe.
 *
 * sysmon is a thread without a P, as in Go.  It wakes every 20 us while the
 * program is busy, backing off to 10 ms when nothing happens, and:
 *  - retakes a P whose M has been inside gort_syscall_begin/end for a full
 *    tick (at once if the P has queued work or nobody else could run it;
 *    otherwise after 10 ms, so a quick syscall does not cost a hand-off);
 *  - retakes a P whose goroutine has run C code for 10 ms without a
 *    runtime call (the schedtick did not move), so one spinning goroutine
 *    cannot starve the others of its P;
 *  - starts an M when a timer is due on a P that nobody is running, and
 *    sleeps no later than the next timer (timers are never lost when their
 *    P goes idle);
 *  - prints GORT_DEBUG=schedtrace lines in Go's format;
 *  - while a trace sink is on, re-anchors the records' clock to
 *    CLOCK_MONOTONIC every 100 ms (lib/trace.c).
 *
 * Retaking a running P uses the handshake in runtime.h: status RUNNING ->
 * RETAKE, a process-wide barrier, then a look at the M's in_runtime flag.
 * The barrier is membarrier(PRIVATE_EXPEDITED) where the kernel has it (an
 * IPI to the CPUs running this process, ~9 us here), otherwise a signal to
 * the M's thread whose handler issues a full fence and acknowledges; either
 * way the M's fast path needs no fence.
 *
 * Rejected: retaking by signal and switching goroutines in the handler
 * (DESIGN.md section 4: C has no safe points), and a fence on every runtime
 * entry (it would double the cost of a channel hand-off).
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime.h"
#include "gc/gc.h"
#include "netpoll/netpoll.h"
#include "timer.h"
#include "trace.h"

#define sched gort_sched

#define RUN_LIMIT_NS 10000000		/* 10 ms without a runtime call */
#define SYSCALL_LIMIT_NS 20000		/* 20 us in a syscall */
#define SIG_BARRIER SIGURG

static void barrier_handler(int sig, siginfo_t *si, void *uc)
{
	struct gort_m *m = gort_getm();

	atomic_thread_fence(memory_order_seq_cst);
	if (m)
		atomic_store(&m->barrier_ack, 1);
}

int gort_barrier_init(void)
{
	struct sigaction sa;

	if (syscall(SYS_membarrier,
		    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0) {
		sched.use_membarrier = true;
		return 0;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = barrier_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIG_BARRIER, &sa, NULL))
		return -errno;
	sched.use_membarrier = false;
	return 0;
}

/* Full barrier on the thread of m (and, with membarrier, on all of them). */
static void process_barrier(struct gort_m *m)
{
	int64_t until;

	if (sched.use_membarrier) {
		syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
		return;
	}
	atomic_store(&m->barrier_ack, 0);
	if (pthread_kill(m->thread, SIG_BARRIER))
		return;
	until = gort_nanotime_internal() + 100000000;
	while (!atomic_load(&m->barrier_ack) &&
	       gort_nanotime_internal() < until)
		sched_yield();
}

/*
 * Take p from an M that runs goroutine code without entering the runtime.
 * Returns true when p was taken, false when its M was in the runtime (it
 * will give p up by itself if it must).  A taken p is handed off, or, for
 * a stop-the-world (stopping), stopped where it is: handing it off would
 * start an M only to have it stop the P, and that M waits for a CPU that
 * the goroutine still running without its P may hold for a whole time
 * slice (a 2 ms collector pause on two CPUs, measured).
 */
bool gort_retake_running(struct gort_p *p, bool stopping)
{
	uint32_t old;
	struct gort_m *m;

	if (!gort_p_cas(p, P_RUNNING, P_RETAKE, &old))
		return false;
	m = atomic_load(&p->m);
	if (m)
		process_barrier(m);
	if (!m || atomic_load(&m->in_runtime)) {
		uint32_t held = PWORD(old, P_RETAKE);

		/* owners wait while it reads RETAKE, so this cannot fail */
		if (!atomic_compare_exchange_strong(&p->status, &held, old))
			gort_throw("runtime: P status changed during a retake");
		return false;
	}
	/* the RETAKE word is ours: no owner writes it meanwhile */
	gort_trace_proc_stop(m, p);
	atomic_store(&p->m, NULL);
	if (stopping) {
		/* its run queue stays on it: the restart finds it */
		atomic_store(&p->status, PWORD(old, P_STOP));
		atomic_fetch_sub(&sched.stopwait, 1);
		return true;
	}
	atomic_store(&p->status, PWORD(old, P_IDLE));
	gort_handoffp(p);
	return true;
}

static bool retake_syscall(struct gort_p *p, int64_t now)
{
	uint32_t t = atomic_load(&p->syscalltick);

	if (p->sysmon_syscalltick != t) {
		p->sysmon_syscalltick = t;
		p->sysmon_syscallwhen = now;
		return false;
	}
	if (now - p->sysmon_syscallwhen < SYSCALL_LIMIT_NS)
		return false;
	/*
	 * Nothing waits for this P and someone could take new work: leave it
	 * for a while, a hand-off costs more than a short syscall.
	 */
	if (atomic_load(&p->runqtail) == atomic_load(&p->runqhead) &&
	    !atomic_load(&p->runnext) &&
	    atomic_load(&sched.nmspinning) + atomic_load(&sched.npidle) > 0 &&
	    now - p->sysmon_syscallwhen < RUN_LIMIT_NS)
		return false;
	if (!gort_p_cas(p, P_SYSCALL, P_IDLE, NULL))
		return false;
	gort_trace_proc_stop(atomic_load(&p->m), p);
	atomic_store(&p->m, NULL);
	gort_handoffp(p);
	return true;
}

static bool retake_running(struct gort_p *p, int64_t now)
{
	uint32_t t = atomic_load(&p->schedtick);

	if (p->sysmon_schedtick != t) {
		p->sysmon_schedtick = t;
		p->sysmon_schedwhen = now;
		return false;
	}
	if (now - p->sysmon_schedwhen < RUN_LIMIT_NS)
		return false;
	p->sysmon_schedwhen = now;
	return gort_retake_running(p, false);
}

static int retake(int64_t now)
{
	int32_t i, procs = atomic_load(&sched.gomaxprocs), n = 0;

	if (atomic_load(&sched.stw_wait))
		return 0;
	for (i = 0; i < procs; i++) {
		struct gort_p *p = sched.allp[i];

		switch (gort_p_state(p)) {
		case P_SYSCALL:
			n += retake_syscall(p, now);
			break;
		case P_RUNNING:
			n += retake_running(p, now);
			break;
		default:
			break;
		}
	}
	return n;
}

/* A timer due at `when` was started: make sure sysmon is up by then. */
void gort_sysmon_kick(int64_t when)
{
	int64_t planned = atomic_load_explicit(&sched.sysmon_wake,
					       memory_order_relaxed);

	if (planned && when >= planned)
		return;
	atomic_store(&sched.sysmon_kick, 1);
	gort_futex_wake(&sched.sysmon_kick, 1);
}

/*
 * Timers of an idle P run only when an M looks at them: if one is due and
 * nobody is spinning, start an M (it runs due timers of every P while it
 * looks for work).
 */
static void check_timers(int64_t now, int64_t *next)
{
	int64_t when = gort_timers_next();

	*next = when;
	if (when && when <= now)
		gort_wake_for_timers();
}

static void *sysmon(void *arg)
{
	int64_t delay = 20000, lasttrace = 0, lastscav = 0, now, next, sleep;
	int idle = 0;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	for (;;) {
		now = gort_nanotime_internal();
		check_timers(now, &next);
		gort_netpoll_sysmon();
		/*
		 * Never past the next timer; but an overdue one on a busy P is
		 * that P's to run: sleeping 0 would spin a core on it.
		 */
		sleep = delay;
		if (next > now && next - now < sleep)
			sleep = next - now;
		atomic_store(&sched.sysmon_wake, now + sleep);
		if (sleep > 0 && !atomic_exchange(&sched.sysmon_kick, 0))
			gort_futex_wait(&sched.sysmon_kick, 0, sleep);
		atomic_store(&sched.sysmon_kick, 0);
		if (atomic_load(&sched.sysmon_exit))
			break;
		now = gort_nanotime_internal();
		if (now - lastscav >= 1000000000) {
			lastscav = now;
			gc_scavenge_tick(now);
		}
		if (gort_trace_on())
			gort_trace_clock_sync(false);
		if (retake(now))
			idle = 0;
		else
			idle++;
		/* 20 us for the first 1 ms of quiet, then double up to 10 ms */
		if (idle == 0)
			delay = 20000;
		else if (idle > 50)
			delay = delay * 2 > 10000000 ? 10000000 : delay * 2;
		if (gort_config.schedtrace_ms > 0) {
			int64_t period = (int64_t)gort_config.schedtrace_ms *
					 1000000;

			if (delay > period)
				delay = period;
			if (now - lasttrace >= period) {
				lasttrace = now;
				gort_schedtrace(gort_config.scheddetail);
			}
		}
	}
	return NULL;
}

int gort_sysmon_start(void)
{
	int err;

	atomic_store(&sched.sysmon_exit, false);
	atomic_store(&sched.sysmon_kick, 0);
	err = pthread_create(&sched.sysmon_thread, NULL, sysmon, NULL);
	if (err)
		gort_fatal("runtime: cannot start sysmon: %s", strerror(err));
	sched.sysmon_started = true;
	return 0;
}

void gort_sysmon_stop(void)
{
	if (!sched.sysmon_started)
		return;
	atomic_store(&sched.sysmon_exit, true);
	atomic_store(&sched.sysmon_kick, 1);
	gort_futex_wake(&sched.sysmon_kick, 1);
	pthread_join(sched.sysmon_thread, NULL);
	sched.sysmon_started = false;
}

/*
 * Go's schedtrace line, field for field (runtime/proc.go schedtrace());
 * the numeric P and G statuses are Go's numbers.
 */
void gort_schedtrace(bool detail)
{
	char buf[8192];
	int32_t i, procs = atomic_load(&sched.gomaxprocs);
	int64_t now = gort_nanotime_internal();
	size_t n = 0;
	struct gort_m *m;
	struct gort_g *gp;

#define OUT(...)                                                        \
	do {                                                            \
		if (n < sizeof(buf))                                    \
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, \
					      __VA_ARGS__);             \
		if (n >= sizeof(buf) - 256) {                           \
			gort_write_all(2, buf, n);           \
			n = 0;                                          \
		}                                                       \
	} while (0)

	gort_lock(&sched.lock);
	OUT("SCHED %lldms: gomaxprocs=%d idleprocs=%d threads=%d spinningthreads=%d needspinning=%d idlethreads=%d runqueue=%d",
	    (long long)((now - sched.starttime) / 1000000), procs,
	    atomic_load(&sched.npidle), sched.mcount + 1,
	    atomic_load(&sched.nmspinning), atomic_load(&sched.needspinning),
	    sched.nmidle, atomic_load(&sched.runqsize));
	if (detail) {
		/* gcwaiting and sysmonwait are atomic.Bool in Go */
		OUT(" gcwaiting=%s nmidlelocked=%d stopwait=%d sysmonwait=false\n",
		    atomic_load(&sched.stw_wait) ? "true" : "false",
		    sched.nmidlelocked, atomic_load(&sched.stopwait));
	}
	for (i = 0; i < procs; i++) {
		struct gort_p *p = sched.allp[i];
		uint32_t h = atomic_load(&p->runqhead);
		uint32_t t = atomic_load(&p->runqtail);
		struct gort_m *pm = atomic_load(&p->m);
		int32_t len = (int32_t)(t - h);

		if (len < 0)
			len = 0;
		if (detail) {
			uint32_t s = gort_p_state(p);
			int ntimers;

			gort_lock(&p->timers.lock);
			ntimers = p->timers.n;
			gort_unlock(&p->timers.lock);
			/* Go's P statuses: idle 0, running 1, syscall 2,
			 * gcstop 3, dead 4 */
			int gs = s == P_IDLE ? 0 : s == P_RUNNING || s == P_RETAKE ? 1 :
				 s == P_SYSCALL ? 2 : s == P_STOP ? 3 : 4;

			if (pm)
				OUT("  P%d: status=%d schedtick=%u syscalltick=%u m=%lld runqsize=%d gfreecnt=%u timerslen=%d\n",
				    i, gs, atomic_load(&p->schedtick),
				    atomic_load(&p->syscalltick),
				    (long long)pm->id, len,
				    READ_ONCE(p->gfreecnt), ntimers);
			else
				OUT("  P%d: status=%d schedtick=%u syscalltick=%u m=nil runqsize=%d gfreecnt=%u timerslen=%d\n",
				    i, gs, atomic_load(&p->schedtick),
				    atomic_load(&p->syscalltick), len,
				    READ_ONCE(p->gfreecnt), ntimers);
		} else {
			OUT("%s%d", i == 0 ? " [" : " ", len);
			if (i == procs - 1)
				OUT("]\n");
		}
	}
	if (!detail) {
		gort_unlock(&sched.lock);
		gort_write_all(2, buf, n);
		return;
	}
	for (m = sched.allm; m; m = m->alllink) {
		struct gort_p *mp = READ_ONCE(m->p);
		struct gort_g *cg = READ_ONCE(m->curg);
		struct gort_g *lg = READ_ONCE(m->lockedg);
		char pid[24] = "nil", cid[24] = "nil", lid[24] = "nil";

		if (m->exited)
			continue;
		if (mp)
			snprintf(pid, sizeof(pid), "%d", mp->id);
		if (cg)
			snprintf(cid, sizeof(cid), "%llu",
				 (unsigned long long)cg->goid);
		if (lg)
			snprintf(lid, sizeof(lid), "%llu",
				 (unsigned long long)lg->goid);
		OUT("  M%lld: p=%s curg=%s mallocing=0 throwing=0 preemptoff= locks=0 dying=0 spinning=%s blocked=%s lockedg=%s\n",
		    (long long)m->id, pid, cid,
		    atomic_load(&m->spinning) ? "true" : "false",
		    m->blocked ? "true" : "false", lid);
	}
	gort_lock(&sched.allglock);
	for (gp = sched.allg; gp; gp = gp->allnext) {
		uint32_t s = atomic_load(&gp->status);
		struct gort_m *gm = READ_ONCE(gp->m);
		struct gort_m *lm = READ_ONCE(gp->lockedm);
		char mid[24] = "nil", lid[24] = "nil";

		if (s == G_DEAD || s == G_IDLE)
			continue;
		if (gm)
			snprintf(mid, sizeof(mid), "%lld", (long long)gm->id);
		if (lm)
			snprintf(lid, sizeof(lid), "%lld", (long long)lm->id);
		OUT("  G%llu: status=%u(%s) m=%s lockedm=%s\n",
		    (unsigned long long)gp->goid, s,
		    s == G_WAITING ?
			    gort_waitreason_str(READ_ONCE(gp->waitreason)) : "",
		    mid, lid);
	}
	gort_unlock(&sched.allglock);
	gort_unlock(&sched.lock);
	gort_write_all(2, buf, n);
#undef OUT
}
