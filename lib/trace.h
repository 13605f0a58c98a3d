/* SPDX-License-Identifier: MIT */
/*
 * trace.h - how the runtime reports an event: the one place every
 * scheduler, channel, select, sync and sleep site goes through.
 *
 * An event has two consumers, both optional:
 *  - a USDT probe (provider "gort", <sys/sdt.h>) for bpftrace, libbpf and
 *    perf: a nop in the instruction stream and a note in .note.stapsdt
 *    that says where its arguments are;
 *  - gort_trace_emit(), one cold function that hands a
 *    struct gort_trace_event (include/uapi/gort_trace.h) to the sinks that
 *    are on: the trace-file writer (lib/trace_file.c), the kernel-module
 *    feeder (lib/trace_kmod.c, which also publishes each thread's
 *    goroutine from the events) and in-process observers.
 *    A sink plugs in with gort_trace_sink_set(); the event sites never
 *    change.
 *
 * The probe table (names, argument lists, which probes are guarded) is
 * lib/trace_probes.h; Documentation/probes.md says when each one fires.
 *
 * Cost with nothing attached and no sink on, per site:
 *  - a PLAIN probe: the nop (its arguments are fields the note names in
 *    place, so no instruction prepares them) and one predictable branch on
 *    the flag word gort_trace_flags;
 *  - a GUARDED probe, one whose arguments need computing: one branch on
 *    the probe's USDT semaphore or'ed with the flag word; the arguments,
 *    the probe and the record are built in lib/trace.c, out of line.
 *
 * Invariants:
 *  - The first three arguments of every probe and the goid, p and m of
 *    every record describe where the event happened: goroutine id (0: the
 *    scheduler, on g0 or outside any goroutine), P id (-1: none), M id (-1:
 *    a thread that is not an M).  The only events reported on behalf of
 *    another thread are the proc_stop of a P that sysmon or a
 *    stop-the-world takes from its M: they name that M.
 *  - A translation unit that defines _SDT_HAS_SEMAPHORES needs a semaphore
 *    for every probe it contains (sys/sdt.h names one in every note).  Only
 *    lib/trace.c defines it, it defines every semaphore, and it holds every
 *    GUARDED probe; PLAIN probes live at their sites, in units without
 *    semaphores, and this header hides their helpers from lib/trace.c.
 *  - The flag word has one bit per sink (enum gort_trace_sink).  A sink
 *    that is turned off may still be called by an event that read the
 *    flag before it changed, so a sink function stays valid for the life
 *    of the process and tolerates late calls.
 *
 * Rejected alternatives:
 *  - A semaphore on every probe: sys/sdt.h's semaphore use costs an address
 *    computation per site on AArch64, and a probe whose arguments are in
 *    place gains nothing from one.
 *  - Vendoring the single-header usdt.h: the build already depends on
 *    systemtap-sdt-dev, and the notes are the same.
 *  - Weak symbols for the sinks: a weak reference does not pull an object
 *    out of libgort.a, so a sink would link in or not depending on what
 *    else the program calls.  Registered function pointers always work.
 *  - A lock or an atomic read-modify-write on the emit path: the sinks
 *    keep per-M state; gort_trace_emit only reads.
 */
#ifndef GORT_TRACE_H
#define GORT_TRACE_H

#include <stdint.h>
#include <sys/sdt.h>

#include "runtime.h"
#include "trace_probes.h"
#include "uapi/gort_trace.h"

/*
 * make PROBES=0: no probe notes and no semaphore tests, only the sink flag
 * word.  Not a configuration to ship (the tools find nothing to attach
 * to); it is the baseline that the cost of the probes is measured against.
 */
#ifdef GORT_NO_PROBES
#undef STAP_PROBE3
#undef STAP_PROBE4
#undef STAP_PROBE5
#define STAP_PROBE3(provider, name, a1, a2, a3) ((void)0)
#define STAP_PROBE4(provider, name, a1, a2, a3, a4) ((void)0)
#define STAP_PROBE5(provider, name, a1, a2, a3, a4, a5) ((void)0)
#endif

/* ---- sinks ---- */

enum gort_trace_sink {
	GORT_TRACE_SINK_FILE = 0,	/* GORT_TRACE / gort_trace_start */
	GORT_TRACE_SINK_KMOD = 1,	/* /dev/gort, lib/trace_kmod.c */
	GORT_TRACE_SINK_DEBUG = 2,	/* in-process observers (selftests) */
	GORT_TRACE_NSINKS
};

typedef void gort_trace_sink_fn(const struct gort_trace_event *ev);

/* Bit (1 << sink) set while that sink is on; read at every event site. */
extern uint32_t gort_trace_flags GORT_INTERNAL;

/*
 * Turn sink on with fn (fn NULL: off).  Returns 0, or -EINVAL for an
 * unknown sink.
 */
int gort_trace_sink_set(unsigned int sink, gort_trace_sink_fn *fn)
	GORT_INTERNAL;

/*
 * The records' clock: CLOCK_MONOTONIC in nanoseconds, read through the
 * CPU's counter where the kernel's clock is that counter (lib/trace.c).
 * Set up by gort_trace_clock_start (which gort_trace_sink_set calls
 * before it turns a sink on; it measures the counter's rate once per
 * process, 2 ms on x86-64); before that, and where the counter is not the
 * kernel's clock, clock_gettime.  gort_trace_clock_sync re-anchors the
 * scale to CLOCK_MONOTONIC: with now, at once (a trace start); without,
 * if the last anchor is RESYNC_NS old (sysmon's periodic call).
 */
uint64_t gort_trace_now(void) GORT_INTERNAL;
void gort_trace_clock_start(void) GORT_INTERNAL;
void gort_trace_clock_sync(bool now) GORT_INTERNAL;

/* Hand ev to every sink that is on. */
void gort_trace_emit(const struct gort_trace_event *ev)
	__attribute__((cold)) GORT_INTERNAL;

/*
 * Build the record of an event of the calling thread (its clock reading
 * and kernel thread id) and emit it.
 */
void gort_trace_ev(uint32_t kind, uint64_t goid, int32_t p, int32_t m,
		   uint64_t a0, uint64_t a1)
	__attribute__((cold, noinline)) GORT_INTERNAL;

/*
 * GORT_TRACEFLIGHT: start the trace-file sink as a flight recorder that
 * keeps the last `bytes` of batches and writes them as a trace file at
 * path on SIGUSR2 and at gort_trace_stop (trace_file.c).  0, -EINVAL
 * (bytes under GORT_TRACE_FLIGHT_MIN), -EBUSY, -ENOMEM.
 */
#define GORT_TRACE_FLIGHT_MIN (64u << 10)	/* one batch and a header */
int gort_trace_flight_start(const char *path, size_t bytes) GORT_INTERNAL;

/*
 * The sinks' life, for lib/sched/proc.c: turn on those the environment
 * asks for (GORT_DEBUG=kmodtrace=1: gort.ko) at gort_main start, and off
 * once every M has ended; tell the sinks that keep per-thread state when
 * an M's thread starts and ends.  GORT_TRACE's file sink is started and
 * stopped by proc.c itself (it may exit the process on a bad path).
 */
void gort_trace_sinks_start(void) GORT_INTERNAL;
void gort_trace_sinks_stop(void) GORT_INTERNAL;
void gort_trace_thread_start(void) GORT_INTERNAL;
void gort_trace_thread_exit(void) GORT_INTERNAL;

/*
 * The trace-file sink's record of an event, from its fields (the sink
 * function registered for GORT_TRACE_SINK_FILE does the same from a
 * struct gort_trace_event).  Called only while that sink's bit is set,
 * and tolerates a late call as every sink does.
 */
void gort_trace_file_append(uint64_t ts_ns, uint32_t kind, uint64_t goid,
			    int32_t p, int32_t m, uint32_t tid, uint64_t a0,
			    uint64_t a1) GORT_INTERNAL;

/* Records the trace-file sink lost to a failed allocation (trace_file.c). */
uint64_t gort_trace_dropped(void) GORT_INTERNAL;

/* The uapi block reason (enum gort_trace_block_reason) of a wait reason. */
uint32_t gort_trace_block_reason(uint32_t waitreason) GORT_INTERNAL;

/*
 * Always inlined: gcc counts a probe's note as code and would call a
 * helper with one out of line.
 */
#define GORT_TRACE_INLINE static inline __attribute__((always_inline))

GORT_TRACE_INLINE bool gort_trace_on(void)
{
	return unlikely(READ_ONCE(gort_trace_flags) != 0);
}

/* ---- guarded probes: the semaphores, and the sites in lib/trace.c ---- */

#define GORT_TRACE_SEMA_PLAIN(name)
#define GORT_TRACE_SEMA_RESERVED(name)
#define GORT_TRACE_SEMA_GUARDED(name)					\
	extern unsigned short gort_##name##_semaphore GORT_INTERNAL;
#define GORT_TRACE_SEMA_DECL(name, kind, class, args)			\
	GORT_TRACE_SEMA_##class(name)
GORT_TRACE_PROBES(GORT_TRACE_SEMA_DECL)
#undef GORT_TRACE_SEMA_DECL

/* A tracer is attached to probe `name`, or a sink is on. */
#ifdef GORT_NO_PROBES
#define GORT_TRACE_ENABLED(name) gort_trace_on()
#define GORT_TRACE_PROBE_ATTACHED(name) false
#else
#define GORT_TRACE_ENABLED(name)					\
	unlikely((READ_ONCE(gort_##name##_semaphore) |			\
		  READ_ONCE(gort_trace_flags)) != 0)
#define GORT_TRACE_PROBE_ATTACHED(name)					\
	unlikely(READ_ONCE(gort_##name##_semaphore) != 0)
#endif

#define GORT_TRACE_COLD __attribute__((cold, noinline)) GORT_INTERNAL

/* m may be NULL (a foreign thread, or gort_main's own thread). */
void gort_trace_go_create_slow(const struct gort_m *m,
			       const struct gort_g *newg, void *fn)
	GORT_TRACE_COLD;
void gort_trace_go_block_slow(const struct gort_m *m, const struct gort_g *gp)
	GORT_TRACE_COLD;
void gort_trace_go_unblock_slow(const struct gort_m *m,
				const struct gort_g *gp) GORT_TRACE_COLD;
void gort_trace_proc_start_slow(const struct gort_m *m,
				const struct gort_p *p) GORT_TRACE_COLD;
void gort_trace_proc_stop_slow(const struct gort_m *m,
			       const struct gort_p *p) GORT_TRACE_COLD;
void gort_trace_proc_runq_slow(const struct gort_m *m, const struct gort_p *p,
			       const struct gort_g *gp) GORT_TRACE_COLD;

/* newg was created by the code running on m, to run fn. */
GORT_TRACE_INLINE void
gort_trace_go_create(const struct gort_m *m, const struct gort_g *newg,
		     void *fn)
{
	if (GORT_TRACE_ENABLED(go_create))
		gort_trace_go_create_slow(m, newg, fn);
}

/* gp, running on m, parks for gp->waitreason (enum gort_waitreason). */
GORT_TRACE_INLINE void
gort_trace_go_block(const struct gort_m *m, const struct gort_g *gp)
{
	if (GORT_TRACE_ENABLED(go_block))
		gort_trace_go_block_slow(m, gp);
}

/* The code on m (NULL: a foreign thread) makes the waiting gp runnable. */
GORT_TRACE_INLINE void
gort_trace_go_unblock(const struct gort_m *m, const struct gort_g *gp)
{
	if (GORT_TRACE_ENABLED(go_unblock))
		gort_trace_go_unblock_slow(m, gp);
}

/* m now holds p. */
GORT_TRACE_INLINE void
gort_trace_proc_start(const struct gort_m *m, const struct gort_p *p)
{
	if (GORT_TRACE_ENABLED(proc_start))
		gort_trace_proc_start_slow(m, p);
}

/* m no longer holds p (m may be another thread's M: p was taken). */
GORT_TRACE_INLINE void
gort_trace_proc_stop(const struct gort_m *m, const struct gort_p *p)
{
	if (GORT_TRACE_ENABLED(proc_stop))
		gort_trace_proc_stop_slow(m, p);
}

/*
 * gp starts on p: the probe reports how many goroutines wait in p's run
 * queue (gort-top's per-P view).  Only the semaphore is tested, not the
 * sink flag word, and no record is made: a record per schedule would
 * double a trace file for a number that a trace's events already imply.
 */
GORT_TRACE_INLINE void
gort_trace_proc_runq(const struct gort_m *m, const struct gort_p *p,
		     const struct gort_g *gp)
{
	if (GORT_TRACE_PROBE_ATTACHED(proc_runq))
		gort_trace_proc_runq_slow(m, p, gp);
}

/* ---- plain probes: the nop and the flag word at the site ---- */

#ifndef _SDT_HAS_SEMAPHORES

/*
 * Each helper takes the objects the event is about and reads their ids in
 * the probe's operands, which name the fields in place (8@32(%rsi)).  The
 * record, built only when a sink is on, reads them again with loads of
 * its own: were the two to share one load, the compiler would hoist it
 * into registers ahead of the nop, on the path where nothing is traced.
 * Constants (a missing goroutine or P, a reason) are immediates.
 */
#define GORT_TRACE_GOID(gp) READ_ONCE((gp)->goid)
#define GORT_TRACE_PID(p) READ_ONCE((p)->id)
#define GORT_TRACE_MID(m) ((int32_t)READ_ONCE((m)->id))

/* gp starts or resumes running on p, on m. */
GORT_TRACE_INLINE void gort_trace_go_start(const struct gort_m *m,
					   const struct gort_p *p,
					   const struct gort_g *gp)
{
	STAP_PROBE3(gort, go_start, gp->goid, p->id, (int32_t)m->id);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_GO_START, GORT_TRACE_GOID(gp),
			      GORT_TRACE_PID(p), GORT_TRACE_MID(m), 0, 0);
}

/* gp, running on p and m, ends. */
GORT_TRACE_INLINE void gort_trace_go_end(const struct gort_m *m,
					 const struct gort_p *p,
					 const struct gort_g *gp)
{
	STAP_PROBE3(gort, go_end, gp->goid, p->id, (int32_t)m->id);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_GO_END, GORT_TRACE_GOID(gp),
			      GORT_TRACE_PID(p), GORT_TRACE_MID(m), 0, 0);
}

/* gp stops running on p and stays runnable (enum gort_trace_stop_reason). */
GORT_TRACE_INLINE void gort_trace_go_stop(const struct gort_m *m,
					  const struct gort_p *p,
					  const struct gort_g *gp,
					  uint32_t reason)
{
	STAP_PROBE4(gort, go_stop, gp->goid, p->id, (int32_t)m->id, reason);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_GO_STOP, GORT_TRACE_GOID(gp),
			      GORT_TRACE_PID(p), GORT_TRACE_MID(m), reason, 0);
}

/* The same, for a goroutine that holds no P (its P was taken). */
GORT_TRACE_INLINE void gort_trace_go_stop_without_p(const struct gort_m *m,
						    const struct gort_g *gp,
						    uint32_t reason)
{
	STAP_PROBE4(gort, go_stop, gp->goid, -1, (int32_t)m->id, reason);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_GO_STOP, GORT_TRACE_GOID(gp), -1,
			      GORT_TRACE_MID(m), reason, 0);
}

GORT_TRACE_INLINE void gort_trace_go_syscall_begin(const struct gort_m *m,
						   const struct gort_p *p,
						   const struct gort_g *gp)
{
	STAP_PROBE3(gort, go_syscall_begin, gp->goid, p->id, (int32_t)m->id);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_GO_SYSCALL_BEGIN, GORT_TRACE_GOID(gp),
			      GORT_TRACE_PID(p), GORT_TRACE_MID(m), 0, 0);
}

/* gp's call ended and it still holds p. */
GORT_TRACE_INLINE void gort_trace_go_syscall_end(const struct gort_m *m,
						 const struct gort_p *p,
						 const struct gort_g *gp)
{
	STAP_PROBE4(gort, go_syscall_end, gp->goid, p->id, (int32_t)m->id,
		    (uint32_t)0);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_GO_SYSCALL_END, GORT_TRACE_GOID(gp),
			      GORT_TRACE_PID(p), GORT_TRACE_MID(m), 0, 0);
}

/* gp's call ended and its P was taken meanwhile (GoSyscallEndBlocked). */
GORT_TRACE_INLINE void
gort_trace_go_syscall_end_blocked(const struct gort_m *m,
				  const struct gort_g *gp)
{
	STAP_PROBE4(gort, go_syscall_end, gp->goid, -1, (int32_t)m->id,
		    (uint32_t)1);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_GO_SYSCALL_END, GORT_TRACE_GOID(gp), -1,
			      GORT_TRACE_MID(m), 1, 0);
}

/* m, on g0 with p, took n runnable goroutines from victim's queue. */
GORT_TRACE_INLINE void gort_trace_proc_steal(const struct gort_m *m,
					     const struct gort_p *p,
					     const struct gort_p *victim,
					     uint32_t n)
{
	STAP_PROBE5(gort, proc_steal, (uint64_t)0, p->id, (int32_t)m->id,
		    victim->id, n);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_PROC_STEAL, 0, GORT_TRACE_PID(p),
			      GORT_TRACE_MID(m),
			      (uint64_t)GORT_TRACE_PID(victim), n);
}

/* The goroutine on m stops the world (enum gort_trace_stw_reason). */
GORT_TRACE_INLINE void gort_trace_stw_begin(const struct gort_m *m,
					    uint32_t reason)
{
	STAP_PROBE4(gort, stw_begin, m->curg->goid, m->p->id, (int32_t)m->id,
		    reason);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_STW_BEGIN, GORT_TRACE_GOID(m->curg),
			      GORT_TRACE_PID(m->p), GORT_TRACE_MID(m), reason,
			      0);
}

GORT_TRACE_INLINE void gort_trace_stw_end(const struct gort_m *m)
{
	STAP_PROBE3(gort, stw_end, m->curg->goid, m->p->id, (int32_t)m->id);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_STW_END, GORT_TRACE_GOID(m->curg),
			      GORT_TRACE_PID(m->p), GORT_TRACE_MID(m), 0, 0);
}

/* The collector's coordinator on m opened (closed) cycle `cycle`. */
GORT_TRACE_INLINE void gort_trace_gc_begin(const struct gort_m *m,
					   uint32_t cycle)
{
	STAP_PROBE4(gort, gc_begin, m->curg->goid, m->p->id, (int32_t)m->id,
		    cycle);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_GC_BEGIN, GORT_TRACE_GOID(m->curg),
			      GORT_TRACE_PID(m->p), GORT_TRACE_MID(m), cycle,
			      0);
}

GORT_TRACE_INLINE void gort_trace_gc_end(const struct gort_m *m,
					 uint32_t cycle)
{
	STAP_PROBE4(gort, gc_end, m->curg->goid, m->p->id, (int32_t)m->id,
		    cycle);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_GC_END, GORT_TRACE_GOID(m->curg),
			      GORT_TRACE_PID(m->p), GORT_TRACE_MID(m), cycle,
			      0);
}

/* The goroutine on m starts (ends) helping the mark as it allocates. */
GORT_TRACE_INLINE void gort_trace_gc_assist(const struct gort_m *m,
					    bool begin)
{
	if (begin) {
		STAP_PROBE3(gort, gc_mark_assist_begin, m->curg->goid,
			    m->p->id, (int32_t)m->id);
	} else {
		STAP_PROBE3(gort, gc_mark_assist_end, m->curg->goid,
			    m->p->id, (int32_t)m->id);
	}
	if (gort_trace_on())
		gort_trace_ev(begin ? GORT_EV_GC_MARK_ASSIST_BEGIN :
				      GORT_EV_GC_MARK_ASSIST_END,
			      GORT_TRACE_GOID(m->curg), GORT_TRACE_PID(m->p),
			      GORT_TRACE_MID(m), 0, 0);
}

/* The goroutine on m set the number of Ps to procs. */
GORT_TRACE_INLINE void gort_trace_procs_change(const struct gort_m *m,
					       int32_t procs)
{
	STAP_PROBE4(gort, procs_change, m->curg->goid, m->p->id,
		    (int32_t)m->id, procs);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_PROCS_CHANGE, GORT_TRACE_GOID(m->curg),
			      GORT_TRACE_PID(m->p), GORT_TRACE_MID(m),
			      (uint64_t)procs, 0);
}

/* gort_main's thread (no goroutine, P or M) starts procs Ps. */
GORT_TRACE_INLINE void gort_trace_procs_change_boot(int32_t procs)
{
	STAP_PROBE4(gort, procs_change, (uint64_t)0, -1, -1, procs);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_PROCS_CHANGE, 0, -1, -1,
			      (uint64_t)procs, 0);
}

#endif /* !_SDT_HAS_SEMAPHORES */

#endif /* GORT_TRACE_H */
