/* SPDX-License-Identifier: MIT */
/*
 * trace_probes.h - the table of gort's USDT probes: the one list that the
 * probe sites, Documentation/probes.md, gort-probes.7 and the selftests
 * are checked against.
 *
 * GORT_TRACE_PROBES(X) expands X(name, kind, class, args) once per probe:
 *   name   the probe name (provider "gort"), Go's execution-tracer event
 *          in snake case;
 *   kind   the enum gort_trace_kind of the record gort_trace_emit() gets;
 *   class  PLAIN: the probe sits at the event site, every argument a
 *          load the probe's operands name directly, so an idle probe is a
 *          nop;
 *          GUARDED: an argument needs computing (a branch for a missing G,
 *          P or M, a table lookup), so the site tests the probe's USDT
 *          semaphore and the probe itself sits in lib/trace.c, the one
 *          translation unit with semaphores;
 *          RESERVED: the name and arguments are fixed for a later part
 *          (the collector, the network poller); no binary has it yet;
 *   args   the probe's arguments in order, as the documentation lists them.
 *
 * Invariants: the first three arguments are always the goroutine id (0:
 * none, the scheduler itself), the P id (-1: none) and the M id (-1: not an
 * M); the arguments after them are the record's arg[0] and arg[1], in that
 * order.  Probes are added at the end and never renamed: scripts outlive a
 * release.
 *
 * Rejected: generating this header from Documentation/probes.md (the build
 * would parse Markdown, and the doc would stop being free text around the
 * table); the selftests check the documents against this list instead.
 */
#ifndef GORT_TRACE_PROBES_H
#define GORT_TRACE_PROBES_H

#define GORT_TRACE_PROBES(X)                                                 \
	X(go_create, GORT_EV_GO_CREATE, GUARDED, "goid, p, m, new_goid, fn") \
	X(go_start, GORT_EV_GO_START, PLAIN, "goid, p, m")                   \
	X(go_end, GORT_EV_GO_END, PLAIN, "goid, p, m")                       \
	X(go_stop, GORT_EV_GO_STOP, PLAIN, "goid, p, m, reason")             \
	X(go_block, GORT_EV_GO_BLOCK, GUARDED, "goid, p, m, reason")         \
	X(go_unblock, GORT_EV_GO_UNBLOCK, GUARDED,                           \
	  "goid, p, m, ready_goid, reason")                                  \
	X(go_syscall_begin, GORT_EV_GO_SYSCALL_BEGIN, PLAIN, "goid, p, m")   \
	X(go_syscall_end, GORT_EV_GO_SYSCALL_END, PLAIN,                     \
	  "goid, p, m, blocked")                                             \
	X(proc_start, GORT_EV_PROC_START, GUARDED, "goid, p, m")             \
	X(proc_stop, GORT_EV_PROC_STOP, GUARDED, "goid, p, m")               \
	X(proc_steal, GORT_EV_PROC_STEAL, PLAIN, "goid, p, m, victim_p, n")  \
	X(stw_begin, GORT_EV_STW_BEGIN, PLAIN, "goid, p, m, reason")         \
	X(stw_end, GORT_EV_STW_END, PLAIN, "goid, p, m")                     \
	X(procs_change, GORT_EV_PROCS_CHANGE, PLAIN, "goid, p, m, procs")    \
	X(gc_begin, GORT_EV_GC_BEGIN, PLAIN, "goid, p, m, cycle")         \
	X(gc_end, GORT_EV_GC_END, PLAIN, "goid, p, m, cycle")             \
	X(gc_mark_assist_begin, GORT_EV_GC_MARK_ASSIST_BEGIN, PLAIN,      \
	  "goid, p, m")                                                      \
	X(gc_mark_assist_end, GORT_EV_GC_MARK_ASSIST_END, PLAIN,          \
	  "goid, p, m")                                                      \
	X(gc_sweep_begin, GORT_EV_GC_SWEEP_BEGIN, RESERVED, "goid, p, m")    \
	X(gc_sweep_end, GORT_EV_GC_SWEEP_END, RESERVED,                      \
	  "goid, p, m, swept, reclaimed")                                    \
	X(gc_barrier, GORT_EV_GC_BARRIER, RESERVED, "goid, p, m, mode")      \
	X(heap_alloc, GORT_EV_HEAP_ALLOC, RESERVED, "goid, p, m, bytes")     \
	X(heap_goal, GORT_EV_HEAP_GOAL, RESERVED, "goid, p, m, bytes")       \
	X(netpoll_block, GORT_EV_NETPOLL_BLOCK, PLAIN,                       \
	  "goid, p, m, fd, op")                                              \
	X(netpoll_ready, GORT_EV_NETPOLL_READY, PLAIN,                       \
	  "goid, p, m, ready_goid, result")                                  \
	X(proc_runq, GORT_EV_PROC_RUNQ, GUARDED, "goid, p, m, runq")

#endif /* GORT_TRACE_PROBES_H */
