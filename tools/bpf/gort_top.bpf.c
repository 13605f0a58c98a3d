// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * gort_top.bpf.c - the live state gort-top shows, kept in maps from
 * gort's USDT probes: per P (run-queue length from proc_runq, starts,
 * current goroutine), per goroutine (state, run time, blocks), the
 * scheduling latency histogram (go_create, go_unblock or go_stop to the
 * goroutine's next go_start, log2 ns buckets), block reasons, and the
 * collector's cycles and stop-the-world pauses.  gort-top pins the maps
 * under /sys/fs/bpf/gort/<pid>/, so bpftool reads them as well.
 *
 * Invariants: array indices are bounds-checked where they are used;
 * goroutine state lives in LRU hashes, so a program with more goroutines
 * than GORT_TOP_MAXG forgets the least recent ones instead of failing;
 * updates race benignly between CPUs except for the counters, which are
 * atomic adds.
 *
 * License: dual, GPL-compatible because usdt.bpf.h reads arguments with
 * the GPL-only bpf_probe_read_* helpers.
 *
 * Rejected: a ring buffer to user space (gort-top would redo in C what a
 * map update does here, and bpftool could not show the state).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "uapi/gort_trace.h"
#include "gort_top.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GORT_TOP_MAXP);
	__type(key, __u32);
	__type(value, struct gort_top_p);
} pstat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GORT_TOP_MAXG);
	__type(key, __u64);
	__type(value, struct gort_top_g);
} gstat SEC(".maps");

/* goid -> when it became runnable */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GORT_TOP_MAXG);
	__type(key, __u64);
	__type(value, __u64);
} ready SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GORT_TOP_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} lat_hist SEC(".maps");

/* go_block by reason; the last: a reason this program does not know */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GORT_BLOCK_REASON_COUNT + 1);
	__type(key, __u32);
	__type(value, __u64);
} blocks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gort_top_gc);
} gc SEC(".maps");

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) {
		v >>= 32;
		r += 32;
	}
	if (v >> 16) {
		v >>= 16;
		r += 16;
	}
	if (v >> 8) {
		v >>= 8;
		r += 8;
	}
	if (v >> 4) {
		v >>= 4;
		r += 4;
	}
	if (v >> 2) {
		v >>= 2;
		r += 2;
	}
	if (v >> 1)
		r += 1;
	return r;
}

static __always_inline void add(void *map, __u32 k, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(map, &k);

	if (v)
		__sync_fetch_and_add(v, n);
}

static __always_inline void made_ready(__u64 goid)
{
	__u64 now = bpf_ktime_get_ns();
	struct gort_top_g *g = bpf_map_lookup_elem(&gstat, &goid);

	bpf_map_update_elem(&ready, &goid, &now, BPF_ANY);
	if (g)
		g->state = 2;
}

/* goid stops running; state 2 runnable or 3 blocked */
static __always_inline void left(__u64 goid, __u64 state, __u64 reason)
{
	struct gort_top_g *g = bpf_map_lookup_elem(&gstat, &goid);
	__u64 now = bpf_ktime_get_ns();

	if (!g)
		return;
	if (g->state == 1 && g->start_ns && now > g->start_ns)
		g->run_ns += now - g->start_ns;
	g->state = state;
	if (state == 3) {
		g->blocks++;
		g->reason = reason;
	}
}

SEC("usdt")
int BPF_USDT(on_go_create, __u64 goid, int p, int m, __u64 new_goid,
	     __u64 fn)
{
	struct gort_top_g g = { .state = 2, .p = (__u64)-1 };

	bpf_map_update_elem(&gstat, &new_goid, &g, BPF_ANY);
	made_ready(new_goid);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_go_unblock, __u64 goid, int p, int m, __u64 ready_goid,
	     __u32 reason)
{
	made_ready(ready_goid);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_go_start, __u64 goid, int p, int m)
{
	__u64 now = bpf_ktime_get_ns(), *t = bpf_map_lookup_elem(&ready, &goid);
	struct gort_top_g *g = bpf_map_lookup_elem(&gstat, &goid);
	struct gort_top_p *ps;
	__u32 k = (__u32)p;

	if (t) {
		if (now > *t) {
			__u32 b = log2_u64(now - *t);

			barrier_var(b);
			if (b < GORT_TOP_BUCKETS)
				add(&lat_hist, b, 1);
		}
		bpf_map_delete_elem(&ready, &goid);
	}
	if (!g) {
		struct gort_top_g ng = { .p = (__u64)-1 };

		bpf_map_update_elem(&gstat, &goid, &ng, BPF_NOEXIST);
		g = bpf_map_lookup_elem(&gstat, &goid);
	}
	if (g) {
		g->state = 1;
		g->p = (__u64)p;
		g->starts++;
		g->start_ns = now;
	}
	ps = bpf_map_lookup_elem(&pstat, &k);
	if (ps) {
		__sync_fetch_and_add(&ps->starts, 1);
		ps->cur_goid = goid;
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(on_go_stop, __u64 goid, int p, int m, __u32 reason)
{
	left(goid, 2, 0);
	made_ready(goid);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_go_block, __u64 goid, int p, int m, __u32 reason)
{
	__u32 i = reason < GORT_BLOCK_REASON_COUNT ? reason :
						     GORT_BLOCK_REASON_COUNT;

	barrier_var(i);
	if (i <= GORT_BLOCK_REASON_COUNT)
		add(&blocks, i, 1);
	left(goid, 3, reason);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_go_end, __u64 goid, int p, int m)
{
	struct gort_top_p *ps;
	__u32 k = (__u32)p;

	bpf_map_delete_elem(&gstat, &goid);
	bpf_map_delete_elem(&ready, &goid);
	ps = bpf_map_lookup_elem(&pstat, &k);
	if (ps && ps->cur_goid == goid)
		ps->cur_goid = 0;
	return 0;
}

SEC("usdt")
int BPF_USDT(on_proc_runq, __u64 goid, int p, int m, __u32 runq)
{
	__u32 k = (__u32)p;
	struct gort_top_p *ps = bpf_map_lookup_elem(&pstat, &k);

	if (ps) {
		ps->runq = runq;
		if (runq > ps->runq_max)
			ps->runq_max = runq;
	}
	return 0;
}

static __always_inline struct gort_top_gc *gcs(void)
{
	__u32 k = 0;

	return bpf_map_lookup_elem(&gc, &k);
}

SEC("usdt")
int BPF_USDT(on_gc_begin, __u64 goid, int p, int m, __u64 cycle)
{
	struct gort_top_gc *s = gcs();

	if (s) {
		s->in_cycle = 1;
		s->cycle_begin_ns = bpf_ktime_get_ns();
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(on_gc_end, __u64 goid, int p, int m, __u64 cycle)
{
	struct gort_top_gc *s = gcs();
	__u64 now = bpf_ktime_get_ns();

	if (s) {
		s->in_cycle = 0;
		s->cycles++;
		if (s->cycle_begin_ns && now > s->cycle_begin_ns)
			s->cycle_last_ns = now - s->cycle_begin_ns;
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(on_stw_begin, __u64 goid, int p, int m, __u32 reason)
{
	struct gort_top_gc *s = gcs();

	if (s) {
		s->in_stw = 1;
		s->stw_begin_ns = bpf_ktime_get_ns();
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(on_stw_end, __u64 goid, int p, int m)
{
	struct gort_top_gc *s = gcs();
	__u64 now = bpf_ktime_get_ns(), d;

	if (!s || !s->in_stw || now < s->stw_begin_ns)
		return 0;
	d = now - s->stw_begin_ns;
	s->in_stw = 0;
	s->stw_count++;
	s->stw_last_ns = d;
	s->stw_total_ns += d;
	if (d > s->stw_max_ns)
		s->stw_max_ns = d;
	return 0;
}
