// SPDX-License-Identifier: GPL-2.0
/*
 * ring.c - drain a process's ring into the gort:* tracepoints.
 *
 * The consumer half of the queue described in include/uapi/gort_kmod.h.
 * A drain pass starts at the file's private consumer position and takes
 * records while the slot at that position says it holds that position's
 * record (seq == pos + 1), at most one ring's worth per pass, so a pass
 * always ends even if the process keeps producing or writes nonsense into
 * the mapping.  Each record is copied out of the shared page before it is
 * looked at; then the slot is handed back to the producers and the copy is
 * emitted as the tracepoint of its kind.
 *
 * Drains run in process context only (the flush ioctl, the file's
 * background work item, release), one at a time per file (drain_lock), so
 * emitting may sleep between records and the consumer position needs no
 * atomics.
 *
 * Invariants:
 * - f->tail is the next position to drain; every position before it has
 *   been emitted exactly once and its slot freed (seq = pos + nr_slots).
 * - The header's tail and drained fields are a copy for the process to
 *   read; the module never reads them back.
 *
 * Rejected: draining from the sched_switch probe or a timer callback
 * (atomic context; a large ring would be emitted with interrupts off) and
 * waking a reader per record (no reader: tracefs, perf and BPF consume
 * the tracepoints).
 */
#include <linux/kernel.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/string.h>
#include <linux/workqueue.h>

#include "gort.h"

#define CREATE_TRACE_POINTS
#include "gort_events.h"

/* The tracepoint of each record kind; gaps and later kinds: unknown. */
static void (*const gort_emitters[])(const struct gort_trace_event *) = {
	[GORT_EV_GO_CREATE] = trace_go_create,
	[GORT_EV_GO_START] = trace_go_start,
	[GORT_EV_GO_END] = trace_go_end,
	[GORT_EV_GO_STOP] = trace_go_stop,
	[GORT_EV_GO_BLOCK] = trace_go_block,
	[GORT_EV_GO_UNBLOCK] = trace_go_unblock,
	[GORT_EV_GO_SYSCALL_BEGIN] = trace_go_syscall_begin,
	[GORT_EV_GO_SYSCALL_END] = trace_go_syscall_end,
	[GORT_EV_PROC_START] = trace_proc_start,
	[GORT_EV_PROC_STOP] = trace_proc_stop,
	[GORT_EV_PROC_STEAL] = trace_proc_steal,
	[GORT_EV_STW_BEGIN] = trace_stw_begin,
	[GORT_EV_STW_END] = trace_stw_end,
	[GORT_EV_GC_BEGIN] = trace_gc_begin,
	[GORT_EV_GC_END] = trace_gc_end,
	[GORT_EV_GC_MARK_ASSIST_BEGIN] = trace_gc_mark_assist_begin,
	[GORT_EV_GC_MARK_ASSIST_END] = trace_gc_mark_assist_end,
	[GORT_EV_GC_SWEEP_BEGIN] = trace_gc_sweep_begin,
	[GORT_EV_GC_SWEEP_END] = trace_gc_sweep_end,
	[GORT_EV_HEAP_ALLOC] = trace_heap_alloc,
	[GORT_EV_HEAP_GOAL] = trace_heap_goal,
	[GORT_EV_PROCS_CHANGE] = trace_procs_change,
	[GORT_EV_NETPOLL_BLOCK] = trace_netpoll_block,
	[GORT_EV_NETPOLL_READY] = trace_netpoll_ready,
	[GORT_EV_GC_BARRIER] = trace_gc_barrier,
	[GORT_EV_USER_LOG] = trace_user_log,
};

/* Emit one record as the tracepoint of its kind. */
static void gort_emit(const struct gort_trace_event *ev)
{
	if (ev->kind < ARRAY_SIZE(gort_emitters) && gort_emitters[ev->kind])
		gort_emitters[ev->kind](ev);
	else
		trace_unknown(ev);
}

/**
 * gort_drain - re-emit the records the process has published
 * @f: a file whose ring is set up
 *
 * Return: the number of records drained (at most nr_slots).
 */
int gort_drain(struct gort_file *f)
{
	struct gort_trace_event ev;
	struct gort_kmod_slot *slot;
	u32 mask = f->nr_slots - 1;
	u64 pos;
	int n;

	mutex_lock(&f->drain_lock);
	pos = f->tail;
	for (n = 0; n < f->nr_slots; n++) {
		slot = &f->slots[pos & mask];
		/* acquire: the record is read after its publication */
		if (smp_load_acquire(&slot->seq) != pos + 1)
			break;
		memcpy(&ev, &slot->ev, sizeof(ev));
		/* release: the copy is made before producers reuse the slot */
		smp_store_release(&slot->seq, pos + f->nr_slots);
		pos++;
		gort_emit(&ev);
		if ((n & 255) == 255)
			cond_resched();
	}
	f->tail = pos;
	f->drained += n;
	WRITE_ONCE(f->ring->tail, pos);
	WRITE_ONCE(f->ring->drained, f->drained);
	mutex_unlock(&f->drain_lock);
	return n;
}

/* The background drain: every drain_period while the file is set up. */
void gort_drain_work(struct work_struct *work)
{
	struct gort_file *f = container_of(to_delayed_work(work),
					   struct gort_file, drain_work);

	gort_drain(f);
	schedule_delayed_work(&f->drain_work, f->drain_period);
}
