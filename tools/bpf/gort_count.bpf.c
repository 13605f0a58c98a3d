// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * gort_count.bpf.c - count hits of gort's USDT probes, by event kind and
 * by block reason, in global variables the loader reads directly.
 *
 * The smallest useful libbpf tool over the probes of
 * Documentation/probes.md, and the one selftests/trace/bpf.c loads: its
 * programs are bare SEC("usdt") so the loader attaches each with
 * bpf_program__attach_usdt() to the process and binary it chooses (the
 * skeleton's auto-attach would need the path in the section name).
 * Argument types follow the probe table: goid u64, p and m s32, then the
 * kind-specific values.  Counters are bumped with atomic adds: probes of
 * one process fire on several CPUs at once.
 *
 * Invariant: every index into a counter array is bounds-checked right
 * where it is used (barrier_var() keeps clang from hoisting the address
 * computation above the check, which the verifier rejects), and an
 * unknown reason (a newer runtime) is counted as such.
 *
 * Rejected: a ring buffer of records (counting is all the test and a
 * first look need; a buffer costs a consumer and drops under load) and
 * BPF hash maps (the kinds and reasons are small dense enums).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "uapi/gort_trace.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* hits by enum gort_trace_kind */
__u64 counts[GORT_EV_KIND_COUNT];
/* go_block by reason; the last: a reason unknown to this program */
__u64 blocks[GORT_BLOCK_REASON_COUNT + 1];
/* go_create whose ids cannot be right */
__u64 odd_creates;

static __always_inline void hit(__u32 kind)
{
	if (kind < GORT_EV_KIND_COUNT)
		__sync_fetch_and_add(&counts[kind], 1);
}

SEC("usdt")
int BPF_USDT(on_go_create, __u64 goid, int p, int m, __u64 new_goid,
	     __u64 fn)
{
	hit(GORT_EV_GO_CREATE);
	/* ids only grow, and a goroutine creates from some P and M */
	if (new_goid <= goid || !fn || (goid && (p < 0 || m < 0)))
		__sync_fetch_and_add(&odd_creates, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_go_start, __u64 goid, int p, int m)
{
	hit(GORT_EV_GO_START);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_go_end, __u64 goid, int p, int m)
{
	hit(GORT_EV_GO_END);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_go_block, __u64 goid, int p, int m, __u32 reason)
{
	__u32 i = reason < GORT_BLOCK_REASON_COUNT ? reason :
						     GORT_BLOCK_REASON_COUNT;

	hit(GORT_EV_GO_BLOCK);
	/* keep clang from scaling the index before it is bounded */
	barrier_var(i);
	if (i <= GORT_BLOCK_REASON_COUNT)
		__sync_fetch_and_add(&blocks[i], 1);
	return 0;
}
