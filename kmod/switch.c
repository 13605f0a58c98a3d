// SPDX-License-Identifier: GPL-2.0
/*
 * switch.c - which goroutine each runtime thread runs, at every kernel
 * context switch.
 *
 * A runtime thread registers itself (GORT_IOC_REGISTER_THREAD) and gets an
 * entry in its file's thread table, where it keeps the goid of the
 * goroutine it runs.  The module keeps a registry from task to entry,
 * hashed by task pointer, and a probe on the kernel's sched_switch
 * tracepoint: when either the outgoing or the incoming task is
 * registered, the probe reads the goid from the module's own mapping of
 * the table (no user access: the probe runs with the runqueue locked and
 * interrupts off) and emits gort:sched_switch_goid.
 *
 * sched_switch is not exported to modules on 6.1, so the probe finds the
 * tracepoint by name with for_each_kernel_tracepoint() and attaches with
 * tracepoint_probe_register(), both exported (GPL) from 4.x to current
 * kernels.  Without the tracepoint (a kernel built without it) the module
 * loads and works, minus the annotation; GORT_IOC_STATS says which.
 *
 * Invariants:
 * - A task is in the registry at most once, module-wide (a second
 *   registration is -EBUSY), and holds a task reference there, so its
 *   task_struct cannot be freed and its address reused while registered.
 * - An entry is removed from the hash, then an RCU grace period passes,
 *   then its table slot is reused or the table freed: the probe, an RCU
 *   reader, never reads freed or reassigned memory.
 * - The probe costs one atomic read and, while gort:sched_switch_goid is
 *   disabled, one static branch for the rest of the system.
 *
 * Lock order: gort_file.lock -> gort_threads_lock.  The probe takes no
 * lock.
 *
 * Rejected: registering the probe from the event's reg callback (it runs
 * under tracepoints_mutex, which tracepoint_probe_register takes);
 * looking threads up by pid (a pid is reused once its thread exits, a
 * referenced task_struct is not); reading the goid with copy_from_user
 * (may fault, and faults cannot be taken under the runqueue lock).
 */
#include <linux/atomic.h>
#include <linux/bitmap.h>
#include <linux/hashtable.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/tracepoint.h>

#include "gort.h"
#include "gort_events.h"

/* A registered thread. */
struct gort_thread {
	struct hlist_node hnode;	/* in gort_threads, RCU */
	struct list_head fnode;		/* in its file's threads_list */
	struct task_struct *task;	/* referenced */
	struct gort_kmod_thread *slot;	/* its entry, kernel mapping */
	u32 index;			/* its entry's index */
};

static DEFINE_HASHTABLE(gort_threads, 8);
static DEFINE_SPINLOCK(gort_threads_lock);	/* writers of gort_threads */
static atomic_t gort_nr_threads = ATOMIC_INIT(0);
static struct tracepoint *gort_sched_switch_tp;

/* The goid a registered task runs, -1 for a task that is not registered. */
static s64 gort_goid_of(struct task_struct *t)
{
	struct gort_thread *th;

	hash_for_each_possible_rcu_notrace(gort_threads, th, hnode,
					   (unsigned long)t) {
		if (th->task == t)
			return (s64)(READ_ONCE(th->slot->goid) & S64_MAX);
	}
	return -1;
}

/* Probe on sched:sched_switch (6.1 prototype, unchanged since 5.18). */
static void gort_sched_switch_probe(void *data, bool preempt,
				    struct task_struct *prev,
				    struct task_struct *next,
				    unsigned int prev_state)
{
	s64 prev_goid, next_goid;

	if (!atomic_read(&gort_nr_threads) ||
	    !trace_sched_switch_goid_enabled())
		return;
	/* tracepoint probes run with preemption off: an RCU reader */
	prev_goid = gort_goid_of(prev);
	next_goid = gort_goid_of(next);
	if (prev_goid < 0 && next_goid < 0)
		return;
	trace_sched_switch_goid(prev->pid, prev_goid, next->pid, next_goid);
}

static void gort_find_sched_switch(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "sched_switch"))
		*(struct tracepoint **)priv = tp;
}

int gort_switch_init(void)
{
	struct tracepoint *tp = NULL;
	int err;

	for_each_kernel_tracepoint(gort_find_sched_switch, &tp);
	if (!tp) {
		pr_warn("gort: no sched_switch tracepoint; gort:sched_switch_goid stays silent\n");
		return 0;
	}
	err = tracepoint_probe_register(tp, gort_sched_switch_probe, NULL);
	if (err) {
		pr_err("gort: cannot attach to sched_switch: %d\n", err);
		return err;
	}
	gort_sched_switch_tp = tp;
	return 0;
}

void gort_switch_exit(void)
{
	if (!gort_sched_switch_tp)
		return;
	tracepoint_probe_unregister(gort_sched_switch_tp,
				    gort_sched_switch_probe, NULL);
	/* no CPU may still be inside the probe when its code goes away */
	tracepoint_synchronize_unregister();
	gort_sched_switch_tp = NULL;
}

bool gort_switch_active(void)
{
	return gort_sched_switch_tp != NULL;
}

unsigned int gort_live_threads(void)
{
	return atomic_read(&gort_nr_threads);
}

/* The registry entry of task t, or NULL; gort_threads_lock held. */
static struct gort_thread *gort_thread_find_locked(struct task_struct *t)
{
	struct gort_thread *th;

	hash_for_each_possible(gort_threads, th, hnode, (unsigned long)t) {
		if (th->task == t)
			return th;
	}
	return NULL;
}

/**
 * gort_thread_register - register the calling thread on file f
 * @f: a file whose ring is set up
 *
 * Return: the thread's index in the thread table; -EBUSY if the thread is
 * registered already (on any file), -ENOSPC if the table is full, -ENOMEM.
 */
int gort_thread_register(struct gort_file *f)
{
	struct gort_thread *th;
	unsigned long idx;
	int ret;

	th = kzalloc(sizeof(*th), GFP_KERNEL);
	if (!th)
		return -ENOMEM;
	mutex_lock(&f->lock);
	/*
	 * Only current registers current, so it cannot appear between this
	 * check and the insertion below.
	 */
	spin_lock(&gort_threads_lock);
	ret = gort_thread_find_locked(current) ? -EBUSY : 0;
	spin_unlock(&gort_threads_lock);
	if (ret)
		goto out_free;
	idx = find_first_zero_bit(f->thread_map, f->nr_threads);
	if (idx >= f->nr_threads) {
		ret = -ENOSPC;
		goto out_free;
	}
	th->task = current;
	th->index = idx;
	th->slot = &f->threads[idx];
	WRITE_ONCE(th->slot->goid, 0);
	get_task_struct(current);
	spin_lock(&gort_threads_lock);
	hash_add_rcu(gort_threads, &th->hnode, (unsigned long)current);
	atomic_inc(&gort_nr_threads);
	spin_unlock(&gort_threads_lock);
	set_bit(idx, f->thread_map);
	list_add(&th->fnode, &f->threads_list);
	f->nr_registered++;
	mutex_unlock(&f->lock);
	return idx;

out_free:
	mutex_unlock(&f->lock);
	kfree(th);
	return ret;
}

/*
 * Take th out of the registry; an RCU grace period must pass before it or
 * its slot is reused.  f->lock held.
 */
static void gort_thread_unhash(struct gort_file *f, struct gort_thread *th)
{
	spin_lock(&gort_threads_lock);
	hash_del_rcu(&th->hnode);
	atomic_dec(&gort_nr_threads);
	spin_unlock(&gort_threads_lock);
	list_del(&th->fnode);
	f->nr_registered--;
}

/* After the grace period: free th and its slot.  f->lock held. */
static void gort_thread_free(struct gort_file *f, struct gort_thread *th)
{
	clear_bit(th->index, f->thread_map);
	put_task_struct(th->task);
	kfree(th);
}

/**
 * gort_thread_unregister - unregister the calling thread from file f
 * @f: a file whose ring is set up
 *
 * Return: 0, or -ENOENT if the thread is not registered on f.
 */
int gort_thread_unregister(struct gort_file *f)
{
	struct gort_thread *th, *found = NULL;

	mutex_lock(&f->lock);
	list_for_each_entry(th, &f->threads_list, fnode) {
		if (th->task == current) {
			found = th;
			break;
		}
	}
	if (!found) {
		mutex_unlock(&f->lock);
		return -ENOENT;
	}
	gort_thread_unhash(f, found);
	synchronize_rcu();
	gort_thread_free(f, found);
	mutex_unlock(&f->lock);
	return 0;
}

/* Unregister every thread of f (its file is being released). */
void gort_threads_release(struct gort_file *f)
{
	struct gort_thread *th, *tmp;
	LIST_HEAD(gone);

	mutex_lock(&f->lock);
	list_for_each_entry_safe(th, tmp, &f->threads_list, fnode) {
		gort_thread_unhash(f, th);
		list_add(&th->fnode, &gone);
	}
	if (!list_empty(&gone))
		synchronize_rcu();
	list_for_each_entry_safe(th, tmp, &gone, fnode)
		gort_thread_free(f, th);
	mutex_unlock(&f->lock);
}
