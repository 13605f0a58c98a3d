/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gort.h - what the files of gort.ko share.
 *
 * gort.ko has three parts:
 *   dev.c     /dev/gort: open, ioctls, mmap of the ring, release, init/exit
 *   ring.c    draining the ring into the gort:* tracepoints
 *   switch.c  the thread registry and the sched_switch probe that emits
 *             gort:sched_switch_goid
 *
 * One struct gort_file per open file.  Its ring is set up once
 * (GORT_IOC_SETUP) and lives until the file is released, which happens
 * only after every mapping of it is gone (a mapping holds the file), so
 * the pages never disappear under a process.  Each open file and each
 * mapping also holds a reference on the module (fops.owner), so the
 * module cannot be unloaded while a process is attached: rmmod fails with
 * EWOULDBLOCK until the last file is released.
 *
 * Lock order: gort_file.lock -> gort_threads_lock (switch.c).
 * gort_file.drain_lock is taken alone.  The sched_switch probe takes no
 * lock: it reads the registry under RCU (it runs with preemption off).
 */
#ifndef GORT_KMOD_H
#define GORT_KMOD_H

#include <linux/list.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/workqueue.h>

#include "uapi/gort_kmod.h"

struct gort_file {
	struct mutex lock;		/* guards setup and the thread list */
	struct mutex drain_lock;	/* one drainer at a time */
	/*
	 * Set once by GORT_IOC_SETUP under lock, published by the release
	 * store of ring and read with an acquire load; constant afterwards.
	 */
	struct gort_kmod_ring *ring;	/* kernel mapping of the pages */
	struct gort_kmod_slot *slots;	/* inside it */
	struct gort_kmod_thread *threads;	/* inside it */
	struct page **pages;		/* what mmap maps */
	unsigned int nr_pages;
	size_t map_size;		/* exact size mmap must ask for */
	u32 nr_slots;			/* power of two */
	u32 nr_threads;
	unsigned long drain_period;	/* jiffies between background drains */
	struct delayed_work drain_work;	/* the background drain */
	/* under drain_lock */
	u64 tail;			/* next position to drain */
	u64 drained;			/* records re-emitted */
	/* under lock */
	unsigned long *thread_map;	/* used entries of the thread table */
	struct list_head threads_list;	/* this file's struct gort_thread */
	u32 nr_registered;		/* entries on threads_list */
};

/* ring.c */
int gort_drain(struct gort_file *f);
void gort_drain_work(struct work_struct *work);

/* switch.c */
int gort_switch_init(void);
void gort_switch_exit(void);
bool gort_switch_active(void);
int gort_thread_register(struct gort_file *f);
int gort_thread_unregister(struct gort_file *f);
void gort_threads_release(struct gort_file *f);
unsigned int gort_live_threads(void);

#endif /* GORT_KMOD_H */
