/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * gort_kmod.h - the interface between the gort runtime and gort.ko
 * (/dev/gort): ioctls and the layout of the ring they share.
 *
 * A process opens /dev/gort, asks for a ring with GORT_IOC_SETUP and maps
 * it with mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0).
 * The mapping holds, at the offsets the header gives:
 *
 *   header   struct gort_kmod_ring: geometry, producer and consumer indices
 *   slots    nr_slots x struct gort_kmod_slot, one trace record each
 *   threads  nr_threads x struct gort_kmod_thread, the goroutine each
 *            registered thread runs
 *
 * The ring is Vyukov's bounded queue with many producers (the runtime's
 * threads, lock-free, never blocking) and one consumer (the module).  Slot
 * i starts with seq == i.  A producer claims position pos when its slot's
 * seq == pos by a compare-and-swap of head from pos to pos + 1, fills the
 * record and publishes it with a release store of seq = pos + 1; when seq
 * < pos the ring is full and the record is dropped and counted in
 * `dropped`.  The module drains position pos when seq == pos + 1, copies
 * the record out, and frees the slot with seq = pos + nr_slots.  The module
 * drains on GORT_IOC_FLUSH, every drain_ms milliseconds from a work item,
 * and once more when the file is released, and re-emits every record as a
 * tracepoint gort:<kind> (gort:go_create, gort:go_start, ...).
 *
 * A thread registered with GORT_IOC_REGISTER_THREAD gets a slot in
 * `threads` and keeps the goid of the goroutine it runs there (0 while it
 * runs the scheduler).  The module reads it, from its own kernel mapping of
 * the same pages, whenever the kernel switches that thread in or out, and
 * emits gort:sched_switch_goid.
 *
 * Invariants:
 * - The module trusts nothing in the mapping: it keeps its own copy of the
 *   geometry and of the consumer position, copies a record out of its slot
 *   before looking at it, and drains at most nr_slots records per pass, so
 *   a process that scribbles on the ring loses its own events and nothing
 *   else.
 * - Every argument struct starts with its size and the interface version.
 *   A size below the first version's is -EINVAL, a larger size is accepted
 *   when the bytes the module does not know are zero (-E2BIG otherwise),
 *   so old and new programs and modules keep working together.  The size
 *   bits of the ioctl command are not checked; the size field is.
 * - Numbers here are never reused: new ioctls and fields are appended.
 *
 * Rejected: write(2) of each record (a system call per scheduler event);
 * one ring per thread (a registration and a mapping per M, and the module
 * would have to merge them in time order); copy_from_user from the
 * scheduler hook (it may fault and sleep, and the hook runs with the
 * runqueue locked).
 */
#ifndef GORT_UAPI_KMOD_H
#define GORT_UAPI_KMOD_H

#ifdef __KERNEL__
#include <linux/ioctl.h>
#include <linux/types.h>
#else
#include <stdint.h>
#include <sys/ioctl.h>
#endif

#include "gort_trace.h"

#define GORT_KMOD_DEVICE "/dev/gort"
#define GORT_KMOD_VERSION 1
#define GORT_KMOD_MAGIC 0x74726f67	/* "gort" little-endian */

/* Limits of struct gort_kmod_setup. */
#define GORT_KMOD_MIN_SLOTS 64
#define GORT_KMOD_MAX_SLOTS (1u << 16)	/* 4 MiB of records */
#define GORT_KMOD_MAX_THREADS 4096
#define GORT_KMOD_DEFAULT_DRAIN_MS 10
#define GORT_KMOD_MAX_DRAIN_MS 1000

/* GORT_IOC_SETUP: create the ring. */
struct gort_kmod_setup {
	__u32 size;		/* in: sizeof(struct gort_kmod_setup) */
	__u32 version;		/* in: GORT_KMOD_VERSION */
	__u32 nr_slots;		/* in: records; a power of two, 64..65536 */
	__u32 nr_threads;	/* in: thread slots, 1..4096 */
	__u32 drain_ms;		/* in: background drain period, 0: 10 ms */
	__u32 flags;		/* in: 0 */
	__u64 map_size;		/* out: bytes to mmap at offset 0 */
};

/* GORT_IOC_STATS: counters of this file and of the whole module. */
struct gort_kmod_stats {
	__u32 size;		/* in: sizeof(struct gort_kmod_stats) */
	__u32 version;		/* in: GORT_KMOD_VERSION */
	__u64 drained;		/* records re-emitted as tracepoints */
	__u64 dropped;		/* producers' dropped count, as last read */
	__u32 threads;		/* threads registered on this file */
	__u32 live_files;	/* files set up, module-wide */
	__u32 live_threads;	/* threads registered, module-wide */
	__u32 switch_probe;	/* 1: sched_switch is annotated */
};

#define GORT_IOC_BASE 'g'	/* 'g' 0x40-0x4f: free in ioctl-number.rst */
#define GORT_IOC_SETUP _IOWR(GORT_IOC_BASE, 0x40, struct gort_kmod_setup)
/* Register the calling thread; returns its index in the thread table. */
#define GORT_IOC_REGISTER_THREAD _IO(GORT_IOC_BASE, 0x41)
#define GORT_IOC_UNREGISTER_THREAD _IO(GORT_IOC_BASE, 0x42)
/* Drain the ring now; returns the number of records drained. */
#define GORT_IOC_FLUSH _IO(GORT_IOC_BASE, 0x43)
#define GORT_IOC_STATS _IOWR(GORT_IOC_BASE, 0x44, struct gort_kmod_stats)

/* The header at offset 0 of the mapping. */
struct gort_kmod_ring {
	/* set by the module at setup, read-only for the process */
	__u32 magic;		/* GORT_KMOD_MAGIC */
	__u32 version;		/* GORT_KMOD_VERSION */
	__u32 nr_slots;		/* ring capacity, a power of two */
	__u32 nr_threads;	/* entries in the thread table */
	__u64 slots_off;	/* byte offset of the slot array */
	__u64 threads_off;	/* byte offset of the thread table */
	__u64 reserved0[4];
	/* producers' cache line */
	__u64 head;		/* next position to claim */
	__u64 dropped;		/* records that found the ring full */
	__u64 reserved1[6];
	/* the module's cache line, for information only */
	__u64 tail;		/* next position the module drains */
	__u64 drained;		/* records re-emitted so far */
	__u64 reserved2[6];
};

struct gort_kmod_slot {
	__u64 seq;		/* see the protocol above */
	__u64 reserved;
	struct gort_trace_event ev;	/* the record */
};

struct gort_kmod_thread {
	__u64 goid;		/* goroutine the thread runs, 0: none */
	__u64 reserved[7];	/* one cache line per thread */
};

#endif /* GORT_UAPI_KMOD_H */
