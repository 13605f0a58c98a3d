// SPDX-License-Identifier: MIT
/*
 * trace.c - the out-of-line half of lib/trace.h: USDT semaphores, the
 * GUARDED probes, the records and the sinks.
 *
 * This is the only translation unit that defines _SDT_HAS_SEMAPHORES
 * (sys/sdt.h then names a semaphore in every note it emits here), so it
 * defines the semaphore of every GUARDED probe of lib/trace_probes.h and
 * holds each of those probes exactly once: the inline helper at the event
 * site tests the semaphore (and the sink flag word) and calls in here, where
 * the arguments are computed, the probe fires and the record is built.
 * The kernel counts attached tracers in the semaphore (uprobe
 * ref_ctr_offset); libbpf and bpftrace manage it.
 *
 * The sinks: gort_trace_flags has bit (1 << i) set while sinks[i] is on.
 * gort_trace_sink_set() publishes the function before the bit and clears
 * only the bit when turning a sink off, so an emitter that saw the bit
 * always finds a function to call (a late call to a sink that was just
 * turned off is allowed, see lib/trace.h).
 *
 * The sinks' life (gort_trace_sinks_start/stop, the thread hooks) is here
 * too, so the scheduler calls the trace layer and no sink directly.
 *
 * Rejected: a table of sinks behind a lock (a lock on a path that runs on
 * every M at once), and formatting records here (sinks differ: a trace file
 * wants them raw, the kernel module copies them into its ring).
 */
#define _SDT_HAS_SEMAPHORES 1

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "trace.h"
#include "trace_kmod.h"

uint32_t gort_trace_flags;

static gort_trace_sink_fn *sinks[GORT_TRACE_NSINKS];

/*
 * The semaphores: 16-bit counters in .probes, as sys/sdt.h's dtrace -G
 * makes them; the kernel adds one per attached uprobe.
 */
#define SEMA_PLAIN(name)
#define SEMA_RESERVED(name)
#define SEMA_GUARDED(name)                     \
	unsigned short gort_##name##_semaphore \
		__attribute__((section(".probes"), used));
#define SEMA_DEFINE(name, kind, class, args) SEMA_##class(name)
GORT_TRACE_PROBES(SEMA_DEFINE)
#undef SEMA_DEFINE

/* ---- sinks ---- */

int gort_trace_sink_set(unsigned int sink, gort_trace_sink_fn *fn)
{
	if (sink >= GORT_TRACE_NSINKS)
		return -EINVAL;
	if (fn) {
		__atomic_store_n(&sinks[sink], fn, __ATOMIC_RELEASE);
		__atomic_fetch_or(&gort_trace_flags, 1u << sink,
				  __ATOMIC_RELEASE);
	} else {
		__atomic_fetch_and(&gort_trace_flags, ~(1u << sink),
				   __ATOMIC_RELEASE);
	}
	return 0;
}

void gort_trace_emit(const struct gort_trace_event *ev)
{
	uint32_t on = __atomic_load_n(&gort_trace_flags, __ATOMIC_ACQUIRE);

	while (on) {
		unsigned int i = (unsigned int)__builtin_ctz(on);
		gort_trace_sink_fn *fn =
			__atomic_load_n(&sinks[i], __ATOMIC_ACQUIRE);

		on &= on - 1;
		if (fn)
			fn(ev);
	}
}

/* ---- the sinks' life ---- */

void gort_trace_sinks_start(void)
{
	int err;

	if (!gort_config.kmodtrace)
		return;
	err = gort_kmod_open();
	if (err)
		gort_dprintf(2, "gort: kmodtrace: %s: %s; kernel tracing off\n",
			     GORT_KMOD_DEVICE, strerror(-err));
}

void gort_trace_sinks_stop(void)
{
	gort_kmod_close();
}

void gort_trace_thread_start(void)
{
	gort_kmod_thread_start();
}

void gort_trace_thread_exit(void)
{
	gort_kmod_thread_exit();
}

/* ---- records ---- */

/* Kernel thread id of the caller (an M knows its own). */
static uint32_t self_tid(void)
{
	static __thread uint32_t tid;
	struct gort_m *m = gort_getm();

	if (m && m->tid)
		return (uint32_t)m->tid;
	if (!tid)
		tid = (uint32_t)syscall(SYS_gettid);
	return tid;
}

static void emit_tid(uint32_t kind, uint64_t goid, int32_t p, int32_t m,
		     uint32_t tid, uint64_t a0, uint64_t a1)
{
	struct gort_trace_event ev = {
		.ts_ns = (uint64_t)gort_nanotime_internal(),
		.goid = goid,
		.kind = kind,
		.p = p,
		.m = m,
		.tid = tid,
		.arg = { a0, a1 },
	};

	gort_trace_emit(&ev);
}

void gort_trace_ev(uint32_t kind, uint64_t goid, int32_t p, int32_t m,
		   uint64_t a0, uint64_t a1)
{
	emit_tid(kind, goid, p, m, self_tid(), a0, a1);
}

/* ---- block reasons ---- */

/* enum gort_waitreason (Go's, for dumps) -> the uapi's block reasons */
static const uint8_t block_reasons[WR_COUNT] = {
	[WR_ZERO] = GORT_BLOCK_UNKNOWN,
	[WR_SYNC_WAITGROUP_WAIT] = GORT_BLOCK_SYNC_WAITGROUP,
	[WR_SEMACQUIRE] = GORT_BLOCK_UNKNOWN,
	[WR_CHAN_RECEIVE] = GORT_BLOCK_CHAN_RECV,
	[WR_CHAN_SEND] = GORT_BLOCK_CHAN_SEND,
	[WR_CHAN_RECEIVE_NIL] = GORT_BLOCK_NIL_CHAN,
	[WR_CHAN_SEND_NIL] = GORT_BLOCK_NIL_CHAN,
	[WR_SELECT] = GORT_BLOCK_SELECT,
	[WR_SELECT_NO_CASES] = GORT_BLOCK_SELECT_NO_CASES,
	[WR_SLEEP] = GORT_BLOCK_SLEEP,
	[WR_SYNC_MUTEX_LOCK] = GORT_BLOCK_SYNC_MUTEX,
	[WR_SYNC_RWMUTEX_RLOCK] = GORT_BLOCK_SYNC_RWMUTEX_R,
	[WR_SYNC_RWMUTEX_LOCK] = GORT_BLOCK_SYNC_RWMUTEX_W,
	[WR_SYNC_COND_WAIT] = GORT_BLOCK_SYNC_COND,
	[WR_IO_WAIT] = GORT_BLOCK_NET_IO,
	[WR_PREEMPTED] = GORT_BLOCK_UNKNOWN,
	[WR_WAIT_FOR_GC_CYCLE] = GORT_BLOCK_UNKNOWN,
};

uint32_t gort_trace_block_reason(uint32_t waitreason)
{
	return waitreason < WR_COUNT ? block_reasons[waitreason] :
				       GORT_BLOCK_UNKNOWN;
}

/* ---- GUARDED probes ---- */

/* Where the code on m runs: its goroutine, P and M ids (m may be NULL). */
struct where {
	uint64_t goid;
	int32_t p;
	int32_t m;
};

static struct where where_of(const struct gort_m *m)
{
	struct where w = { 0, -1, -1 };
	const struct gort_g *gp;
	const struct gort_p *p;

	if (!m)
		return w;
	gp = READ_ONCE(m->curg);
	p = READ_ONCE(m->p);
	w.goid = gp ? gp->goid : 0;
	w.p = p ? p->id : -1;
	w.m = (int32_t)m->id;
	return w;
}

void gort_trace_go_create_slow(const struct gort_m *m,
			       const struct gort_g *newg, void *fn)
{
	struct where w = where_of(m);

	STAP_PROBE5(gort, go_create, w.goid, w.p, w.m, newg->goid, fn);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_GO_CREATE, w.goid, w.p, w.m, newg->goid,
			      (uint64_t)(uintptr_t)fn);
}

void gort_trace_go_block_slow(const struct gort_m *m, const struct gort_g *gp)
{
	struct where w = where_of(m);
	uint32_t reason = gort_trace_block_reason(READ_ONCE(gp->waitreason));

	STAP_PROBE4(gort, go_block, gp->goid, w.p, w.m, reason);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_GO_BLOCK, gp->goid, w.p, w.m, reason, 0);
}

void gort_trace_go_unblock_slow(const struct gort_m *m, const struct gort_g *gp)
{
	struct where w = where_of(m);
	uint32_t reason = gort_trace_block_reason(READ_ONCE(gp->waitreason));

	STAP_PROBE5(gort, go_unblock, w.goid, w.p, w.m, gp->goid, reason);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_GO_UNBLOCK, w.goid, w.p, w.m, gp->goid,
			      reason);
}

void gort_trace_proc_start_slow(const struct gort_m *m, const struct gort_p *p)
{
	struct where w = where_of(m);

	STAP_PROBE3(gort, proc_start, w.goid, p->id, w.m);
	if (gort_trace_on())
		gort_trace_ev(GORT_EV_PROC_START, w.goid, p->id, w.m, 0, 0);
}

void gort_trace_proc_stop_slow(const struct gort_m *m, const struct gort_p *p)
{
	struct where w = where_of(m);
	uint32_t tid;

	STAP_PROBE3(gort, proc_stop, w.goid, p->id, w.m);
	if (!gort_trace_on())
		return;
	/* sysmon or a stop-the-world may report it for the M it took p from */
	tid = m && m->tid ? (uint32_t)m->tid : self_tid();
	emit_tid(GORT_EV_PROC_STOP, w.goid, p->id, w.m, tid, 0, 0);
}

void gort_trace_proc_runq_slow(const struct gort_m *m, const struct gort_p *p,
			       const struct gort_g *gp)
{
	uint32_t head = atomic_load_explicit(&p->runqhead, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
	uint32_t n = tail - head;

	/* a racing steal can make the difference momentarily odd */
	if (n > GORT_RUNQ_SIZE)
		n = GORT_RUNQ_SIZE;
	if (atomic_load_explicit(&p->runnext, memory_order_relaxed))
		n++;
	STAP_PROBE4(gort, proc_runq, gp->goid, p->id, (int32_t)m->id, n);
}
