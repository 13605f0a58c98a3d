/* SPDX-License-Identifier: MIT */
/*
 * gcint.h - calls between the collector's files (mgc.c drives a cycle;
 * mark.c queues and scans; roots.c finds roots; barrier.c tracks dirty
 * pages; finalizer.c keeps finalizer records).  The allocator does not
 * include it: its side of the contract is gc.h.
 */
#ifndef GORT_GC_GCINT_H
#define GORT_GC_GCINT_H

#include <signal.h>
#include <stdint.h>

#include "gc/gc.h"

/* Scanning reads racing memory on purpose (mark.c's design comment). */
#define GC_NO_SANITIZE                                                      \
	__attribute__((no_sanitize_address, no_sanitize_thread,             \
		       no_sanitize_undefined, noinline))

/* Stops an M for mark termination (roots.c); barrier.c's handler blocks it. */
#define GC_SIG_SUSPEND SIGPWR

#define GC_WORKBUF_N 509	/* a buffer is 4 KiB */

struct gc_workbuf;

/* One marker's grey set and counters. */
struct gc_work {
	struct gc_workbuf *b1, *b2;	/* current and spare buffer */
	uint64_t scanned_bytes;		/* bytes scanned by this marker */
	uint64_t scanned_flushed;	/* of which added to gc_scan_done */
	uint64_t marked_bytes;		/* bytes it marked, not yet flushed */
	uint64_t nmarked;		/* objects it marked */
};

/* mark.c */
void gc_work_init(struct gc_work *w) GORT_INTERNAL;
void gc_work_put(struct gc_work *w, uintptr_t obj) GORT_INTERNAL;
void gc_work_dispose(struct gc_work *w) GORT_INTERNAL;
bool gc_work_global_empty(void) GORT_INTERNAL;
/* Drop every queued buffer (the run ended mid-cycle). */
void gc_work_reset(void) GORT_INTERNAL;
void gc_grey(struct gc_work *w, uintptr_t p) GORT_INTERNAL;
void gc_scan_block(struct gc_work *w, uintptr_t lo, uintptr_t hi)
	GORT_INTERNAL;
int64_t gc_drain(struct gc_work *w, int64_t budget) GORT_INTERNAL;
void gc_rescan_range(struct gc_work *w, uintptr_t lo, uintptr_t hi)
	GORT_INTERNAL;
/* Dirty pages shared out for rescanning (pre-clean rounds): the
 * coordinator shares a round's ranges, publishes them, and finishes the
 * round (helping, then waiting for the helpers); anyone may help. */
#define GC_RESCAN_CHUNK ((uintptr_t)16 << 10)	/* bytes a shared entry */
void gc_rescan_share(struct gc_work *w, uintptr_t lo, uintptr_t hi)
	GORT_INTERNAL;
void gc_rescan_publish(void) GORT_INTERNAL;
void gc_rescan_finish(struct gc_work *w) GORT_INTERNAL;
/* Rescan up to max_entries shared entries; returns the bytes. */
int64_t gc_rescan_help(struct gc_work *w, int64_t max_entries)
	GORT_INTERNAL;
bool gc_rescan_pending(void) GORT_INTERNAL;
extern _Atomic int32_t gc_nbusy GORT_INTERNAL;
extern _Atomic uint64_t gc_wbuf_bytes GORT_INTERNAL;
extern _Atomic uint64_t gc_scan_done GORT_INTERNAL;

/* roots.c */
/* Globals of every loaded object, registered roots, the gort_main
 * caller's and blocked foreign threads' stacks, timers, unstarted Gs'
 * arguments: everything but goroutine stacks. */
void gc_scan_static_roots(struct gc_work *w) GORT_INTERNAL;
/* Refresh the list of loaded objects' writable segments (takes the
 * dynamic loader's lock: never with the world stopped). */
void gc_roots_refresh_segments(void) GORT_INTERNAL;
/*
 * Scan the stacks of goroutines not on an M that were not scanned since
 * they last ran (with the world stopped, that is every one that changed).
 * With leak detection, goroutines blocked on an unmarked GC object are
 * left for gc_scan_leak_candidates.
 */
void gc_scan_stacks(struct gc_work *w, bool defer_leaks) GORT_INTERNAL;
/* Deferred blocked goroutines whose wait object got marked are scanned
 * now; returns how many were scanned. */
int gc_scan_leak_candidates(struct gc_work *w) GORT_INTERNAL;
/* Report (and then scan) the goroutines still deferred: leaked. */
int gc_report_leaks(struct gc_work *w) GORT_INTERNAL;
/* Stop every M that runs goroutine code with a signal, saving its
 * registers; gc_resume_threads lets them go. */
void gc_suspend_threads(void) GORT_INTERNAL;
void gc_resume_threads(void) GORT_INTERNAL;
/* Registers and stacks of the suspended Ms' goroutines. */
void gc_scan_suspended(struct gc_work *w) GORT_INTERNAL;
/* Running goroutines' stacks, suspending one M at a time. */
void gc_scan_running(struct gc_work *w) GORT_INTERNAL;
/* Moves on at every gc_scan_running: an assist that finds its goroutine's
 * gc_self_scan_epoch behind scans its own stack. */
extern _Atomic uint32_t gc_scan_epoch GORT_INTERNAL;
int gc_roots_init(void) GORT_INTERNAL;
extern uint64_t gc_globals_bytes GORT_INTERNAL;	/* for gctrace */
extern _Atomic uint64_t gc_stack_scan_bytes GORT_INTERNAL;

/* barrier.c */
enum gc_barrier_mode {
	GC_BARRIER_NONE = 0,		/* not chosen yet */
	GC_BARRIER_PAGEMAP = 1,		/* PAGEMAP_SCAN + uffd WP_ASYNC */
	GC_BARRIER_MPROTECT = 2,	/* mprotect + SIGSEGV */
	GC_BARRIER_STW = 3,		/* no barrier: mark with world stopped */
};
extern enum gc_barrier_mode gc_barrier_mode GORT_INTERNAL;
const char *gc_barrier_name(enum gc_barrier_mode m) GORT_INTERNAL;
/* Choose the mode (GORT_DEBUG=gcbarrier= or the best that works). */
int gc_barrier_init(void) GORT_INTERNAL;
/* Start tracking writes to [heap.base, heap.used). */
void gc_barrier_arm(void) GORT_INTERNAL;
/* Rescan the marked objects on pages written since the last arm or
 * collect, re-arming them; returns the number of dirty pages.  share:
 * hand the pages to gc_rescan_share instead (the caller publishes). */
uint64_t gc_barrier_collect(struct gc_work *w, bool share) GORT_INTERNAL;
/* Stop tracking (mark termination, world stopped). */
void gc_barrier_disarm(void) GORT_INTERNAL;
/* Before the kernel writes into [p, p + len) on the caller's behalf
 * (mprotect mode would fail it with EFAULT). */
void gc_barrier_prepare_kernel_write(void *p, size_t len) GORT_INTERNAL;

/* finalizer.c */
/* Mark what finalizable objects reference (not the objects). */
void gc_scan_finalizers(struct gc_work *w) GORT_INTERNAL;
/* World stopped, mark done: queue finalizers of unmarked objects and mark
 * those objects (they live until their finalizer ran). */
int gc_queue_finalizers(struct gc_work *w) GORT_INTERNAL;
/* World running: start a goroutine for every queued finalizer. */
void gc_run_finalizers(void) GORT_INTERNAL;

/* mgc.c */
/* An allocating goroutine pays for bytes with mark work. */
void gc_assist(uint64_t bytes) GORT_INTERNAL;
extern _Atomic uint32_t gc_cycle GORT_INTERNAL;	/* cycles started */
bool gc_checkmark_active(void) GORT_INTERNAL;

#endif /* GORT_GC_GCINT_H */
