/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gort_events.h - the gort:* tracepoints.
 *
 * One event per record kind of include/uapi/gort_trace.h, named as the
 * kind is (gort:go_create, gort:go_start, gort:go_end, gort:go_block, ...,
 * the names of the runtime's USDT probes), all of one class so they cost
 * one set of generated functions.  Every event carries the record as the
 * runtime wrote it: ts (the runtime's CLOCK_MONOTONIC time, which is also
 * the trace clock "mono"), goid, p, m, tid (the runtime thread, since the
 * event itself is emitted later by the thread that drains the ring) and
 * the two kind-specific arguments, printed under their meaning.  A kind
 * this module does not know yet (a newer runtime) comes out as gort:unknown
 * with its number.
 *
 * gort:sched_switch_goid accompanies sched:sched_switch whenever either
 * side is a thread registered with /dev/gort: the goroutine the thread was
 * running when it was switched out (prev_goid) or will run when it is
 * switched in (next_goid); -1 for a thread that is not registered, 0 for
 * one that is in the scheduler between goroutines.
 *
 * The C names lack a gort_ prefix because tracefs takes the event name
 * from them and the system name (gort) already says whose they are.
 *
 * Rejected: one event with a kind field (filters and bpftrace probes want
 * tracepoint:gort:go_block, not a kind number to look up); per-kind field
 * names in the binary layout (one class keeps every event's format the
 * same for tools that read records, and TP_printk names the arguments).
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM gort

#if !defined(GORT_KMOD_EVENTS_H) || defined(TRACE_HEADER_MULTI_READ)
#define GORT_KMOD_EVENTS_H

#include <linux/tracepoint.h>

#include "uapi/gort_trace.h"

/* What every record prints first. */
#define GORT_FMT "ts=%llu goid=%llu p=%d m=%d tid=%u"
#define GORT_ARGS \
	__entry->ts, __entry->goid, __entry->p, __entry->m, __entry->tid

DECLARE_EVENT_CLASS(gort_record,
	TP_PROTO(const struct gort_trace_event *ev),
	TP_ARGS(ev),
	TP_STRUCT__entry(
		__field(u64, ts)
		__field(u64, goid)
		__field(s32, p)
		__field(s32, m)
		__field(u32, tid)
		__field(u32, kind)
		__field(u64, arg0)
		__field(u64, arg1)
	),
	TP_fast_assign(
		__entry->ts = ev->ts_ns;
		__entry->goid = ev->goid;
		__entry->p = ev->p;
		__entry->m = ev->m;
		__entry->tid = ev->tid;
		__entry->kind = ev->kind;
		__entry->arg0 = ev->arg[0];
		__entry->arg1 = ev->arg[1];
	),
	TP_printk(GORT_FMT " kind=%u arg0=%llu arg1=%llu", GORT_ARGS,
		  __entry->kind, __entry->arg0, __entry->arg1)
);

/* A record kind printed as the common fields alone. */
#define GORT_EVENT(name)						\
	DEFINE_EVENT_PRINT(gort_record, name,				\
		TP_PROTO(const struct gort_trace_event *ev),		\
		TP_ARGS(ev),						\
		TP_printk(GORT_FMT, GORT_ARGS))

/* ... followed by arg0 under its name. */
#define GORT_EVENT1(name, a0)						\
	DEFINE_EVENT_PRINT(gort_record, name,				\
		TP_PROTO(const struct gort_trace_event *ev),		\
		TP_ARGS(ev),						\
		TP_printk(GORT_FMT " " a0 "=%llu", GORT_ARGS,		\
			  __entry->arg0))

/* ... followed by arg0 and arg1 under their names. */
#define GORT_EVENT2(name, a0, a1)					\
	DEFINE_EVENT_PRINT(gort_record, name,				\
		TP_PROTO(const struct gort_trace_event *ev),		\
		TP_ARGS(ev),						\
		TP_printk(GORT_FMT " " a0 "=%llu " a1 "=%llu",		\
			  GORT_ARGS, __entry->arg0, __entry->arg1))

/* A kind this module does not know: the class's own format. */
DEFINE_EVENT(gort_record, unknown,
	TP_PROTO(const struct gort_trace_event *ev),
	TP_ARGS(ev));

DEFINE_EVENT_PRINT(gort_record, go_create,
	TP_PROTO(const struct gort_trace_event *ev),
	TP_ARGS(ev),
	TP_printk(GORT_FMT " new_goid=%llu fn=0x%llx", GORT_ARGS,
		  __entry->arg0, __entry->arg1));
GORT_EVENT(go_start);
GORT_EVENT(go_end);
GORT_EVENT1(go_stop, "reason");
DEFINE_EVENT_PRINT(gort_record, go_block,
	TP_PROTO(const struct gort_trace_event *ev),
	TP_ARGS(ev),
	TP_printk(GORT_FMT " reason=%s", GORT_ARGS,
		  __print_symbolic(__entry->arg0,
				   { GORT_BLOCK_UNKNOWN, "unknown" },
				   { GORT_BLOCK_CHAN_SEND, "chan_send" },
				   { GORT_BLOCK_CHAN_RECV, "chan_recv" },
				   { GORT_BLOCK_SELECT, "select" },
				   { GORT_BLOCK_SELECT_NO_CASES,
				     "select_no_cases" },
				   { GORT_BLOCK_NIL_CHAN, "nil_chan" },
				   { GORT_BLOCK_SYNC_MUTEX, "sync_mutex" },
				   { GORT_BLOCK_SYNC_RWMUTEX_R,
				     "sync_rwmutex_r" },
				   { GORT_BLOCK_SYNC_RWMUTEX_W,
				     "sync_rwmutex_w" },
				   { GORT_BLOCK_SYNC_COND, "sync_cond" },
				   { GORT_BLOCK_SYNC_WAITGROUP,
				     "sync_waitgroup" },
				   { GORT_BLOCK_SLEEP, "sleep" },
				   { GORT_BLOCK_NET_IO, "net_io" },
				   { GORT_BLOCK_GC_ASSIST, "gc_assist" })));
GORT_EVENT1(go_unblock, "target");
GORT_EVENT(go_syscall_begin);
GORT_EVENT(go_syscall_end);
GORT_EVENT(proc_start);
GORT_EVENT(proc_stop);
GORT_EVENT2(proc_steal, "victim", "n");
GORT_EVENT1(stw_begin, "reason");
GORT_EVENT(stw_end);
GORT_EVENT1(gc_begin, "cycle");
GORT_EVENT1(gc_end, "cycle");
GORT_EVENT(gc_mark_assist_begin);
GORT_EVENT(gc_mark_assist_end);
GORT_EVENT(gc_sweep_begin);
GORT_EVENT2(gc_sweep_end, "swept", "reclaimed");
GORT_EVENT1(heap_alloc, "bytes");
GORT_EVENT1(heap_goal, "bytes");
GORT_EVENT1(procs_change, "procs");
GORT_EVENT2(netpoll_block, "fd", "op");
GORT_EVENT2(netpoll_ready, "target", "result");
GORT_EVENT1(gc_barrier, "mode");
GORT_EVENT2(user_log, "arg0", "arg1");

TRACE_EVENT(sched_switch_goid,
	TP_PROTO(pid_t prev_pid, s64 prev_goid, pid_t next_pid,
		 s64 next_goid),
	TP_ARGS(prev_pid, prev_goid, next_pid, next_goid),
	TP_STRUCT__entry(
		__field(pid_t, prev_pid)
		__field(pid_t, next_pid)
		__field(s64, prev_goid)
		__field(s64, next_goid)
	),
	TP_fast_assign(
		__entry->prev_pid = prev_pid;
		__entry->next_pid = next_pid;
		__entry->prev_goid = prev_goid;
		__entry->next_goid = next_goid;
	),
	TP_printk("prev_pid=%d prev_goid=%lld next_pid=%d next_goid=%lld",
		  __entry->prev_pid, __entry->prev_goid, __entry->next_pid,
		  __entry->next_goid)
);

#endif /* GORT_KMOD_EVENTS_H */

/* Out of tree: define_trace.h finds this file through -I$(src). */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE gort_events
#include <trace/define_trace.h>
