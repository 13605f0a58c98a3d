// SPDX-License-Identifier: MIT
/*
 * trace_kmod.c - feed the runtime's trace records to gort.ko, which
 * re-emits them as kernel tracepoints (gort:go_create, gort:go_start, ...)
 * and marks the kernel's context switches of each runtime thread with the
 * goroutine it was running (gort:sched_switch_goid).
 *
 * GORT_DEBUG=kmodtrace=1 turns it on at gort_main start (lib/trace.c's
 * gort_trace_sinks_start): it registers as the GORT_TRACE_SINK_KMOD sink
 * of lib/trace.h, so the scheduler only fires its events and knows
 * nothing of the module.  Without the
 * module (no /dev/gort) nothing happens and nothing is said: the setting
 * means "feed the module when it is loaded".  A device that is there but
 * refuses (permissions, an incompatible module) gets one line on stderr
 * and tracing stays off.
 *
 * The ring is the one of include/uapi/gort_kmod.h: every M appends with the
 * lock-free producer of trace_kmod.h and never waits; when the module has
 * fallen a full ring behind, a record is dropped and counted in the ring
 * header, where the module's GORT_IOC_STATS reports it.  Each M registers
 * its thread at start and keeps its current goid in its own cache line of
 * the thread table (a relaxed store per goroutine switch): the sink sets
 * it from the thread's own go_start, and back to 0 (the scheduler) from
 * the go_block, go_stop or go_end of that goroutine, which each fire on
 * the thread just before it switches to the scheduler.
 *
 * Invariants:
 * - gort_kmod_on is set only while the ring is mapped; the hooks in the
 *   scheduler test it before calling in here.
 * - kmod_self is this thread's entry in the thread table, or NULL.
 * - The mapping and the descriptor are given up only when no thread of
 *   an ended run can still touch them (a zombie M left in user code may
 *   resume later and would write its goid): otherwise they are kept for
 *   the process's lifetime and reused by the next gort_main.
 *
 * Lock order: none; open and close run on gort_main's thread before the
 * Ms start and after they have ended.
 *
 * Rejected: hooks of their own in the scheduler for the goid (they were
 * there first; the events already mark the same switches), and a write(2)
 * or ioctl per event (a system call on every
 * scheduler transition); a per-M ring (a mapping per M and a merge in the
 * module); blocking on a full ring (the scheduler must never wait for a
 * tracer).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime.h"
#include "trace.h"
#include "trace_kmod.h"

/*
 * 8192 records (512 KiB): 80 ms of a busy scheduler at 100k events/s,
 * against a drain every 10 ms.
 */
#define KMOD_SLOTS 8192u
#define KMOD_THREADS 1024u

static struct {
	int fd;				/* /dev/gort, -1: closed */
	void *map;			/* the shared mapping */
	size_t map_size;
	struct gort_kmod_ring *ring;	/* header, at map */
	struct gort_kmod_slot *slots;	/* record slots */
	struct gort_kmod_thread *threads;	/* thread table */
	uint32_t mask;			/* nr_slots - 1 */
} kmod = { .fd = -1 };

bool gort_kmod_on;
static __thread struct gort_kmod_thread *kmod_self
	__attribute__((tls_model("initial-exec")));

/* Map the ring of fd (set up for map_size bytes) and check its header. */
static int kmod_map(int fd, size_t map_size)
{
	const struct gort_kmod_ring *ring;
	void *map;

	map = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	ring = map;
	if (ring->magic != GORT_KMOD_MAGIC ||
	    ring->version != GORT_KMOD_VERSION ||
	    ring->nr_slots != KMOD_SLOTS ||
	    ring->nr_threads != KMOD_THREADS ||
	    ring->slots_off + (uint64_t)KMOD_SLOTS *
	    sizeof(struct gort_kmod_slot) > map_size ||
	    ring->threads_off + (uint64_t)KMOD_THREADS *
	    sizeof(struct gort_kmod_thread) > map_size) {
		munmap(map, map_size);
		return -EPROTO;
	}
	kmod.map = map;
	kmod.map_size = map_size;
	kmod.ring = map;
	kmod.slots = (void *)((char *)map + ring->slots_off);
	kmod.threads = (void *)((char *)map + ring->threads_off);
	kmod.mask = KMOD_SLOTS - 1;
	return 0;
}

/* The goroutine the calling thread runs now (0: the scheduler). */
static void set_goid(uint64_t goid)
{
	if (kmod_self)
		__atomic_store_n(&kmod_self->goid, goid, __ATOMIC_RELAXED);
}

/*
 * The GORT_TRACE_SINK_KMOD sink: publish the thread's goroutine, then
 * append the record.  Called late (after close) it does nothing.
 */
static void kmod_sink(const struct gort_trace_event *ev)
{
	if (!gort_kmod_active())
		return;
	switch (ev->kind) {
	case GORT_EV_GO_START:
		set_goid(ev->goid);
		break;
	case GORT_EV_GO_BLOCK:
	case GORT_EV_GO_STOP:
	case GORT_EV_GO_END:
		/* its own thread, just before it switches to the scheduler */
		if (kmod_self && __atomic_load_n(&kmod_self->goid,
						 __ATOMIC_RELAXED) == ev->goid)
			set_goid(0);
		break;
	default:
		break;
	}
	gort_kmod_ring_put(kmod.ring, kmod.slots, kmod.mask, ev);
}

int gort_kmod_open(void)
{
	struct gort_kmod_setup s = {
		.size = sizeof(s),
		.version = GORT_KMOD_VERSION,
		.nr_slots = KMOD_SLOTS,
		.nr_threads = KMOD_THREADS,
	};
	int fd, err;

	if (kmod.fd >= 0)
		goto on;	/* kept from an earlier run */
	fd = open(GORT_KMOD_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		/* no module loaded: tracing to it just stays off */
		if (err == -ENOENT || err == -ENODEV || err == -ENXIO)
			return 0;
		return err;
	}
	if (ioctl(fd, GORT_IOC_SETUP, &s) < 0) {
		err = -errno;
		goto err_close;
	}
	err = kmod_map(fd, s.map_size);
	if (err)
		goto err_close;
	kmod.fd = fd;
on:
	__atomic_store_n(&gort_kmod_on, true, __ATOMIC_RELEASE);
	gort_trace_sink_set(GORT_TRACE_SINK_KMOD, kmod_sink);
	return 0;

err_close:
	close(fd);
	return err;
}

void gort_kmod_close(void)
{
	if (kmod.fd < 0)
		return;
	gort_trace_sink_set(GORT_TRACE_SINK_KMOD, NULL);
	__atomic_store_n(&gort_kmod_on, false, __ATOMIC_RELAXED);
	ioctl(kmod.fd, GORT_IOC_FLUSH);
	if (atomic_load(&gort_zombie_threads))
		return;
	munmap(kmod.map, kmod.map_size);
	close(kmod.fd);
	memset(&kmod, 0, sizeof(kmod));
	kmod.fd = -1;
}

void gort_kmod_thread_start(void)
{
	int idx;

	if (!gort_kmod_active() || kmod_self)
		return;
	idx = ioctl(kmod.fd, GORT_IOC_REGISTER_THREAD);
	/* a full table (or an old registration): no annotation, no harm */
	if (idx >= 0 && (uint32_t)idx < KMOD_THREADS)
		kmod_self = &kmod.threads[idx];
}

void gort_kmod_thread_exit(void)
{
	if (!kmod_self)
		return;
	__atomic_store_n(&kmod_self->goid, 0, __ATOMIC_RELAXED);
	ioctl(kmod.fd, GORT_IOC_UNREGISTER_THREAD);
	kmod_self = NULL;
}

