// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * gort_record.bpf.c - `gort-trace record`: every gort USDT probe becomes a
 * struct gort_trace_event (include/uapi/gort_trace.h) in a BPF ring
 * buffer, which tools/record.c writes out as a trace file.
 *
 * One program per probe of lib/trace_probes.h, generated from that table
 * so that a probe added there is recorded without an edit here (a probe a
 * binary lacks, like the reserved ones, is simply not attached).  The
 * probe's arguments are read before the ring-buffer slot is reserved: the
 * reads are calls into libbpf's usdt.bpf.h, and nothing fails while a
 * reservation is held.  Time is bpf_ktime_get_ns(), CLOCK_MONOTONIC like
 * the runtime's own records.
 *
 * Invariant: the record is the one the runtime's sinks would write: goid,
 * p, m from the first three arguments, arg[0..1] from the rest, tid the
 * firing thread.  A full ring counts a drop in `dropped` rather than
 * blocking anything.
 *
 * License: dual MIT/GPL, a GPL-compatible string, because usdt.bpf.h reads
 * arguments with the GPL-only bpf_probe_read_* helpers.
 *
 * Rejected: perf buffers (per-CPU, so a reader must re-merge across CPUs
 * and a thread that migrates could be reordered), and bpftrace (a
 * dependency and a text format to parse back).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "uapi/gort_trace.h"
#include "trace_probes.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 32 << 20);
} events SEC(".maps");

/*
 * Wake the reader only once this much is waiting: a wakeup per record
 * costs more than the probe itself, and the reader also drains on a
 * 10 ms timer (tools/record.c).
 */
#define WAKE_BYTES (4 << 20)

/* records lost to a full ring */
__u64 dropped;

static __always_inline int emit(struct pt_regs *ctx, __u32 kind)
{
	long goid = 0, p = -1, m = -1, a0 = 0, a1 = 0;
	struct gort_trace_event *e;

	bpf_usdt_arg(ctx, 0, &goid);
	bpf_usdt_arg(ctx, 1, &p);
	bpf_usdt_arg(ctx, 2, &m);
	bpf_usdt_arg(ctx, 3, &a0);
	bpf_usdt_arg(ctx, 4, &a1);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&dropped, 1);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->goid = (__u64)goid;
	e->kind = kind;
	e->p = (__s32)p;
	e->m = (__s32)m;
	e->tid = (__u32)bpf_get_current_pid_tgid();
	e->arg[0] = (__u64)a0;
	e->arg[1] = (__u64)a1;
	bpf_ringbuf_submit(e, bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >=
				      WAKE_BYTES ?
				      BPF_RB_FORCE_WAKEUP :
				      BPF_RB_NO_WAKEUP);
	return 0;
}

#define PROG(name, kind, class, args)				\
	SEC("usdt") int on_##name(struct pt_regs *ctx)		\
	{							\
		return emit(ctx, kind);				\
	}
GORT_TRACE_PROBES(PROG)
