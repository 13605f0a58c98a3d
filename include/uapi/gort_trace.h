/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * gort trace events: the one event layout that the runtime's trace buffers,
 * the trace file format, the USDT probe arguments and kmod/gort.ko share.
 *
 * Names and meanings follow Go's execution tracer (Go 1.25,
 * internal/trace/tracev2/events.go) in snake case: "Begin"/"End" suffixes
 * mark time ranges; "Start", "Stop", "Create", "Destroy" (here "end"),
 * "Block" and "Unblock" are reserved for scheduling resources.
 *
 * Invariants:
 * - A record is fixed-size (48 bytes) and naturally aligned, so a reader can
 *   walk a buffer without decoding and the kernel can copy records from a
 *   shared ring without parsing variable-length data.
 * - Every record names the goroutine, P and M it happened on (goid 0: no
 *   goroutine, the scheduler itself; p -1: no P).
 * - Values are appended to the enum and never renumbered: trace files and
 *   a loaded module outlive a rebuild of the library.
 *
 * Rejected: Go's varint-encoded batches.  They are a third the size, but the
 * kernel module would have to decode them and a torn record could not be
 * skipped; gort's trace converter compresses on output instead.
 */
#ifndef GORT_UAPI_TRACE_H
#define GORT_UAPI_TRACE_H

/*
 * The kernel's own fixed-size types in both worlds: a private typedef of
 * __u64 would clash with <linux/types.h> in any user-space file that also
 * includes a kernel header (linux/futex.h, linux/membarrier.h).  A BPF
 * program has them from its vmlinux.h already.
 */
#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

enum gort_trace_kind {
	GORT_EV_NONE = 0,
	GORT_EV_GO_CREATE = 1,		/* arg0: new goid, arg1: fn address */
	GORT_EV_GO_START = 2,		/* goid starts running on p */
	GORT_EV_GO_END = 3,		/* goid returned or called goexit */
	GORT_EV_GO_STOP = 4,		/* yield/preempt; arg0: reason */
	GORT_EV_GO_BLOCK = 5,		/* arg0: wait reason (enum below) */
	GORT_EV_GO_UNBLOCK = 6,		/* arg0: goid made runnable,
					 * arg1: the reason it waited for */
	GORT_EV_GO_SYSCALL_BEGIN = 7,
	GORT_EV_GO_SYSCALL_END = 8,	/* arg0: 1 if its P was taken */
	GORT_EV_PROC_START = 9,		/* an M acquired p */
	GORT_EV_PROC_STOP = 10,		/* an M released p */
	GORT_EV_PROC_STEAL = 11,	/* arg0: victim p, arg1: goroutines */
	GORT_EV_STW_BEGIN = 12,		/* arg0: reason */
	GORT_EV_STW_END = 13,
	GORT_EV_GC_BEGIN = 14,		/* arg0: cycle */
	GORT_EV_GC_END = 15,		/* arg0: cycle */
	GORT_EV_GC_MARK_ASSIST_BEGIN = 16,
	GORT_EV_GC_MARK_ASSIST_END = 17,
	GORT_EV_GC_SWEEP_BEGIN = 18,
	GORT_EV_GC_SWEEP_END = 19,	/* arg0: bytes swept, arg1: reclaimed */
	GORT_EV_HEAP_ALLOC = 20,	/* arg0: bytes */
	GORT_EV_HEAP_GOAL = 21,		/* arg0: bytes */
	GORT_EV_PROCS_CHANGE = 22,	/* arg0: new gomaxprocs */
	GORT_EV_NETPOLL_BLOCK = 23,	/* arg0: fd, arg1: op */
	GORT_EV_NETPOLL_READY = 24,	/* arg0: goid, arg1: result */
	GORT_EV_GC_BARRIER = 25,	/* arg0: dirty-tracking mode */
	GORT_EV_USER_LOG = 26,
	GORT_EV_PROC_RUNQ = 27,		/* arg0: goroutines waiting in p's
					 * run queue as goid starts on it
					 * (a probe only: never recorded) */
	GORT_EV_KIND_COUNT
};

/* arg0 of GORT_EV_GO_BLOCK: why the goroutine waits (Go's waitReason). */
enum gort_trace_block_reason {
	GORT_BLOCK_UNKNOWN = 0,
	GORT_BLOCK_CHAN_SEND = 1,
	GORT_BLOCK_CHAN_RECV = 2,
	GORT_BLOCK_SELECT = 3,
	GORT_BLOCK_SELECT_NO_CASES = 4,
	GORT_BLOCK_NIL_CHAN = 5,
	GORT_BLOCK_SYNC_MUTEX = 6,
	GORT_BLOCK_SYNC_RWMUTEX_R = 7,
	GORT_BLOCK_SYNC_RWMUTEX_W = 8,
	GORT_BLOCK_SYNC_COND = 9,
	GORT_BLOCK_SYNC_WAITGROUP = 10,
	GORT_BLOCK_SLEEP = 11,
	GORT_BLOCK_NET_IO = 12,
	GORT_BLOCK_GC_ASSIST = 13,
	GORT_BLOCK_REASON_COUNT
};

/* arg0 of GORT_EV_GO_STOP: why a running goroutine stopped (Go's GoStop). */
enum gort_trace_stop_reason {
	GORT_STOP_UNKNOWN = 0,
	GORT_STOP_YIELD = 1,		/* gort_yield (runtime.Gosched) */
	GORT_STOP_PREEMPTED = 2,	/* its P was retaken, none was free */
	GORT_STOP_REASON_COUNT
};

/* arg0 of GORT_EV_STW_BEGIN: what stops the world (Go's STW kinds). */
enum gort_trace_stw_reason {
	GORT_STW_UNKNOWN = 0,
	GORT_STW_GOMAXPROCS = 1,	/* gort_gomaxprocs resizes the Ps */
	GORT_STW_GOROUTINE_DUMP = 2,	/* gort_dump_goroutines */
	GORT_STW_GC_SWEEP_TERM = 3,	/* a collection starts */
	GORT_STW_GC_MARK_TERM = 4,	/* a collection's mark ends */
	GORT_STW_REASON_COUNT
};

struct gort_trace_event {
	__u64 ts_ns;	/* CLOCK_MONOTONIC, as gort_nanotime(); read
			 * through the CPU counter (trace-files.md) */
	__u64 goid;	/* goroutine the event happened on, 0 for none */
	__u32 kind;	/* enum gort_trace_kind */
	__s32 p;	/* P id, -1 when the M holds none */
	__s32 m;	/* M id */
	__u32 tid;	/* kernel thread id of the M */
	__u64 arg[2];	/* kind-specific, see the enum */
};

/*
 * A trace file (GORT_TRACE=FILE, gort_trace_start): this header, then
 * batches, each a struct gort_trace_batch followed by its nrec records.
 * A batch holds one thread's records in the order it emitted them; a
 * thread's batches appear in the file in their seq order, but the
 * batches of different threads interleave in the order they filled up,
 * so a thread that emits rarely may have its first batch near the end.
 * Readers merge the streams by ts_ns (gort-trace convert does it with a
 * cursor per stream, never holding the file).
 *
 * Version 1 had no batch headers: a reader could not tell where one
 * thread's records stopped and another's began without sorting the whole
 * file.  Readers reject it, naming the version.
 */
#define GORT_TRACE_MAGIC "gorttrc"	/* with its NUL, the 8 magic bytes */
#define GORT_TRACE_VERSION 2
#define GORT_TRACE_BATCH_MAGIC 0x68746162u	/* "bath" little-endian */
#define GORT_TRACE_BATCH_MAX 1024	/* records in a batch, at most */

/* gort_trace_file_header.flags */
#define GORT_TRACE_F_FLIGHT 0x1	/* a flight-recorder window: the streams
				 * start mid-run, goroutines and Ps may
				 * appear already running */

struct gort_trace_file_header {
	char magic[8];		/* GORT_TRACE_MAGIC */
	__u32 version;		/* GORT_TRACE_VERSION */
	__u32 record_size;	/* sizeof(struct gort_trace_event) */
	__u64 start_ns;		/* CLOCK_MONOTONIC when tracing started */
	__u32 batch_max;	/* GORT_TRACE_BATCH_MAX of the writer */
	__u32 flags;		/* GORT_TRACE_F_* */
	__u32 pid;		/* the traced process */
	__u32 reserved0;	/* zero */
	__u64 exe_bias;		/* load bias of its executable: a go_create
				 * fn address minus this is the symbol's
				 * value in the ELF file (0: not PIE, or
				 * unknown) */
	__u64 cut_ns;		/* a flight dump on a signal: when it was
				 * asked for; every thread that ran since
				 * handed over its records up to then, so
				 * the window is complete up to here */
	__u64 reserved[1];	/* zero */
};

/* Record-sized, so that a file is a whole number of 48-byte units. */
struct gort_trace_batch {
	__u32 magic;		/* GORT_TRACE_BATCH_MAGIC: catches a torn or
				 * foreign file at the first bad batch */
	__u32 nrec;		/* records that follow, 1..batch_max */
	__u32 stream;		/* the writing thread's number, unique in
				 * the process */
	__u32 tid;		/* that thread's kernel thread id */
	__u64 seq;		/* increases by one per batch of a stream */
	__u64 first_ns;		/* ts_ns of the first record */
	__u64 last_ns;		/* ts_ns of the last record */
	__u64 reserved;		/* zero */
};

#endif /* GORT_UAPI_TRACE_H */
