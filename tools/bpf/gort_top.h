/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * gort_top.h - the map values gort_top.bpf.c keeps and gort-top (and
 * `bpftool map dump pinned /sys/fs/bpf/gort/<pid>/<map>`) reads.
 * Plain __u64 fields only, so that the BTF bpftool prints from is the
 * whole documentation of the layout.
 */
#ifndef GORT_TOP_H
#define GORT_TOP_H

#define GORT_TOP_MAXP 256	/* Ps shown; a larger id is not counted */
#define GORT_TOP_BUCKETS 64	/* log2(ns) buckets of latency */
#define GORT_TOP_MAXG 65536	/* goroutines tracked (LRU beyond) */

/* pstat[p]: one P */
struct gort_top_p {
	__u64 runq;		/* run-queue length at the last go_start */
	__u64 runq_max;		/* the largest seen */
	__u64 starts;		/* goroutines started on it */
	__u64 cur_goid;		/* goroutine started last, 0 after it ends */
};

/* gstat[goid]: one live goroutine */
struct gort_top_g {
	__u64 state;		/* 1 running, 2 runnable, 3 blocked */
	__u64 p;		/* the P it last ran on */
	__u64 starts;		/* times it started running */
	__u64 run_ns;		/* time spent running, ended stretches */
	__u64 start_ns;		/* when it last started */
	__u64 blocks;		/* times it blocked */
	__u64 reason;		/* its last block reason */
};

/* gc[0]: the collector, from gc_* and stw_* probes */
struct gort_top_gc {
	__u64 in_cycle;		/* 1 between gc_begin and gc_end */
	__u64 cycles;		/* gc_end seen */
	__u64 cycle_begin_ns;	/* the current or last cycle's gc_begin */
	__u64 cycle_last_ns;	/* the last cycle's length */
	__u64 in_stw;		/* 1 between stw_begin and stw_end */
	__u64 stw_begin_ns;	/* the current or last stw_begin */
	__u64 stw_count;	/* stop-the-world pauses ended */
	__u64 stw_last_ns;	/* the last pause */
	__u64 stw_max_ns;	/* the longest pause */
	__u64 stw_total_ns;	/* all pauses */
};

#endif /* GORT_TOP_H */
