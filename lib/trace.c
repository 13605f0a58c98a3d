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
 * The records' clock (gort_trace_now): CLOCK_MONOTONIC costs 24 ns a read
 * through the vDSO on these VMs, and a channel hand-off makes three
 * records, so the clock alone doubled the cost of a traced hand-off.
 * Where the kernel's own clocksource is the CPU counter that user space
 * can read (x86-64 "tsc", AArch64 "arch_sys_counter"), records read that
 * counter (9 ns for rdtsc) and scale it to nanoseconds from an anchor, a
 * (counter, CLOCK_MONOTONIC) pair.  The rate comes from cntfrq_el0 on
 * AArch64; on x86-64 it is measured against CLOCK_MONOTONIC, first over
 * CALIB_NS when the first sink turns on (about ten parts per million), then
 * again from that first anchor at every re-anchoring, so it sharpens as
 * the process runs.  A trace start re-anchors, and sysmon re-anchors
 * every RESYNC_NS while any sink is on, so a record is within a few
 * microseconds of what clock_gettime would have said, and within tens of
 * nanoseconds near a start or stop: a record never lands outside the
 * gort_nanotime() readings taken around gort_trace_start and
 * gort_trace_stop.  A re-anchoring can step the clock back by that
 * error; the file sink keeps each thread's records in non-decreasing
 * order (an unordered counter read can also land a few cycles early).
 * Anywhere else (another clocksource, qemu-user, no sysfs) records read
 * clock_gettime.
 *
 * Rejected: a table of sinks behind a lock (a lock on a path that runs on
 * every M at once), and formatting records here (sinks differ: a trace file
 * wants them raw, the kernel module copies them into its ring).  For the
 * clock: reading the kernel's scaling factors from the vDSO data page (its
 * layout is the kernel's private business and changes between versions),
 * raw counter values in the records with the rate in the file header (every
 * sink and reader would have to convert, and the kernel module's
 * tracepoints want nanoseconds), and ordered reads (lfence + rdtsc costs
 * what rdtscp does, twice a plain rdtsc).
 */
#define _SDT_HAS_SEMAPHORES 1

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

/* ---- the records' clock ---- */

#define CALIB_NS 2000000	/* x86-64: the counter rate's first measure */
#define CALIB_TRIES 5		/* reads per anchor; the tightest counts */
#define RESYNC_NS 100000000	/* sysmon re-anchors this often */

/*
 * The scale, under a sequence count: odd while gort_trace_clock_sync
 * rewrites it.  The fields are atomics, so that a reader racing a
 * rewrite reads a torn value it then discards, not a data race.
 */
static struct {
	_Atomic uint32_t seq;		/* even: the fields below agree */
	_Atomic uint64_t cycles0;	/* the counter at the anchor */
	_Atomic uint64_t ns0;		/* CLOCK_MONOTONIC at the anchor */
	_Atomic uint64_t mult;		/* ns per count, 32.32 fixed */
} tclock;
static _Atomic bool tclock_counter;	/* records read the counter */
static pthread_once_t tclock_once = PTHREAD_ONCE_INIT;
static struct gort_lock tclock_lock;	/* one rewriter at a time */
static uint64_t tclock_first_cycles;	/* the first anchor, from which */
static uint64_t tclock_first_ns;	/* x86-64 measures the rate */

/* The kernel keeps its clock with the counter user space reads. */
static bool clocksource_is_counter(void)
{
	static const char path[] =
		"/sys/devices/system/clocksource/clocksource0/"
		"current_clocksource";
	char name[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, name, sizeof(name) - 1);
	close(fd);
	if (n <= 0)
		return false;
	name[n] = 0;
	name[strcspn(name, "\n")] = 0;
	return !strcmp(name, GORT_ARCH_CLOCKSOURCE);
}

/* An anchor: a counter read and the clock_gettime it sits between. */
static void tclock_pair(uint64_t *cycles, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;
	int i;

	*cycles = *ns = 0;
	for (i = 0; i < CALIB_TRIES; i++) {
		uint64_t t1 = (uint64_t)gort_nanotime_internal();
		uint64_t c = gort_arch_cycles();
		uint64_t t2 = (uint64_t)gort_nanotime_internal();

		if (t2 - t1 < best) {
			best = t2 - t1;
			*cycles = c;
			*ns = t1 + (t2 - t1) / 2;
		}
	}
}

/*
 * Publish an anchor and a rate; tclock_lock held.  No fences (TSan does
 * not model them): the odd count is an acquire-release exchange, so the
 * fields' stores stay after it, and they are release stores, so a reader
 * whose acquire load sees one of them also sees the odd count after it.
 */
static void tclock_set(uint64_t cycles, uint64_t ns, uint64_t hz)
{
	uint32_t seq = atomic_load_explicit(&tclock.seq, memory_order_relaxed);
	uint64_t mult = (uint64_t)(((unsigned __int128)1000000000u << 32) / hz);

	atomic_exchange_explicit(&tclock.seq, seq + 1, memory_order_acq_rel);
	atomic_store_explicit(&tclock.cycles0, cycles, memory_order_release);
	atomic_store_explicit(&tclock.ns0, ns, memory_order_release);
	atomic_store_explicit(&tclock.mult, mult, memory_order_release);
	atomic_store_explicit(&tclock.seq, seq + 2, memory_order_release);
}

/* The counter's rate measured from the first anchor to (cycles, ns). */
static uint64_t tclock_measured_hz(uint64_t cycles, uint64_t ns)
{
	if (cycles <= tclock_first_cycles || ns <= tclock_first_ns)
		return 0;		/* a counter that does not count */
	return (uint64_t)((unsigned __int128)(cycles - tclock_first_cycles) *
			  1000000000u / (ns - tclock_first_ns));
}

/*
 * Take an anchor now and publish it with the stated rate, or the one
 * measured since the first anchor; false if that rate is implausible.
 * tclock_lock held.
 */
static bool tclock_anchor(void)
{
	uint64_t c, n, hz = gort_arch_cycles_hz();

	tclock_pair(&c, &n);
	if (!hz)
		hz = tclock_measured_hz(c, n);
	if (hz < 1000000)
		return false;
	tclock_set(c, n, hz);
	return true;
}

static void tclock_init(void)
{
	bool ok;

	if (!clocksource_is_counter())
		return;
	tclock_pair(&tclock_first_cycles, &tclock_first_ns);
	if (!gort_arch_cycles_hz())
		while ((uint64_t)gort_nanotime_internal() - tclock_first_ns <
		       CALIB_NS)
			gort_cpu_relax();
	gort_lock(&tclock_lock);
	ok = tclock_anchor();
	gort_unlock(&tclock_lock);
	if (ok)		/* else keep clock_gettime */
		atomic_store_explicit(&tclock_counter, true,
				      memory_order_release);
}

void gort_trace_clock_start(void)
{
	pthread_once(&tclock_once, tclock_init);
}

void gort_trace_clock_sync(bool now)
{
	if (!atomic_load_explicit(&tclock_counter, memory_order_acquire))
		return;
	/* sysmon calls this at every tick: look before taking the lock */
	if (!now && (uint64_t)gort_nanotime_internal() -
				atomic_load_explicit(&tclock.ns0,
						     memory_order_relaxed) <
			    RESYNC_NS)
		return;
	gort_lock(&tclock_lock);
	tclock_anchor();
	gort_unlock(&tclock_lock);
}

uint64_t gort_trace_now(void)
{
	uint64_t c0, ns0, mult, d;
	uint32_t seq;

	if (!atomic_load_explicit(&tclock_counter, memory_order_acquire))
		return (uint64_t)gort_nanotime_internal();
	do {
		seq = atomic_load_explicit(&tclock.seq, memory_order_acquire);
		c0 = atomic_load_explicit(&tclock.cycles0,
					  memory_order_acquire);
		ns0 = atomic_load_explicit(&tclock.ns0, memory_order_acquire);
		mult = atomic_load_explicit(&tclock.mult,
					    memory_order_acquire);
	} while (unlikely((seq & 1) ||
			  seq != atomic_load_explicit(&tclock.seq,
						      memory_order_relaxed)));
	d = gort_arch_cycles() - c0;
	return ns0 + (uint64_t)(((unsigned __int128)d * mult) >> 32);
}

/* ---- sinks ---- */

int gort_trace_sink_set(unsigned int sink, gort_trace_sink_fn *fn)
{
	if (sink >= GORT_TRACE_NSINKS)
		return -EINVAL;
	if (fn) {
		gort_trace_clock_start();
		__atomic_store_n(&sinks[sink], fn, __ATOMIC_RELEASE);
		__atomic_fetch_or(&gort_trace_flags, 1u << sink,
				  __ATOMIC_RELEASE);
	} else {
		__atomic_fetch_and(&gort_trace_flags, ~(1u << sink),
				   __ATOMIC_RELEASE);
	}
	return 0;
}

/* Hand ev to the sinks in the set `on`. */
static void emit_to(uint32_t on, const struct gort_trace_event *ev)
{
	while (on) {
		unsigned int i = (unsigned int)__builtin_ctz(on);
		gort_trace_sink_fn *fn =
			__atomic_load_n(&sinks[i], __ATOMIC_ACQUIRE);

		on &= on - 1;
		if (fn)
			fn(ev);
	}
}

void gort_trace_emit(const struct gort_trace_event *ev)
{
	emit_to(__atomic_load_n(&gort_trace_flags, __ATOMIC_ACQUIRE), ev);
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

/*
 * The trace-file sink takes the fields, not a struct gort_trace_event: a
 * record assembled on the stack with narrow stores and copied out with
 * wide loads stalls on store forwarding: a tenth of a traced hand-off's
 * time went there.  The other sinks take the struct.
 */
static void emit_tid(uint32_t kind, uint64_t goid, int32_t p, int32_t m,
		     uint32_t tid, uint64_t a0, uint64_t a1)
{
	uint64_t ts = gort_trace_now();
	uint32_t on = __atomic_load_n(&gort_trace_flags, __ATOMIC_ACQUIRE);
	struct gort_trace_event ev;

	if (on & (1u << GORT_TRACE_SINK_FILE)) {
		gort_trace_file_append(ts, kind, goid, p, m, tid, a0, a1);
		on &= ~(1u << GORT_TRACE_SINK_FILE);
		if (likely(!on))
			return;
	}
	ev = (struct gort_trace_event){
		.ts_ns = ts,
		.goid = goid,
		.kind = kind,
		.p = p,
		.m = m,
		.tid = tid,
		.arg = { a0, a1 },
	};
	emit_to(on, &ev);
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
