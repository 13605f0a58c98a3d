/* SPDX-License-Identifier: MIT */
/*
 * trace_kmod.h - the runtime's side of gort.ko (/dev/gort): internal calls
 * and the ring producer.
 *
 * lib/trace_kmod.c opens the device and maps the ring when
 * GORT_DEBUG=kmodtrace=1 and turns itself on as the GORT_TRACE_SINK_KMOD
 * sink of lib/trace.h: every event reaches it through gort_trace_emit(),
 * and from the go_start/go_block/go_stop/go_end events of its own thread
 * it publishes the goroutine each registered thread runs.  lib/trace.c
 * calls the open, close and thread hooks.  The protocol is in
 * include/uapi/gort_kmod.h.
 *
 * This header needs nothing of the runtime's, so the module's selftests
 * can drive a ring with the same producer the runtime uses.
 */
#ifndef GORT_TRACE_KMOD_H
#define GORT_TRACE_KMOD_H

#include <stdbool.h>
#include <stdint.h>

#include "uapi/gort_kmod.h"

#define GORT_KMOD_HIDDEN __attribute__((visibility("hidden")))

struct gort_m;
struct gort_g;

/*
 * Open /dev/gort and set up the ring.  0 when tracing to the module is on,
 * and also when there is no device (no module loaded: tracing stays off);
 * -errno when the device is there but could not be used.
 */
int gort_kmod_open(void) GORT_KMOD_HIDDEN;
/* Drain what is left and, unless a thread may still write, unmap. */
void gort_kmod_close(void) GORT_KMOD_HIDDEN;
/* Register / unregister the calling thread (an M) with the module. */
void gort_kmod_thread_start(void) GORT_KMOD_HIDDEN;
void gort_kmod_thread_exit(void) GORT_KMOD_HIDDEN;

/* Set while the ring is mapped: the sink and the hooks test it first. */
extern bool gort_kmod_on GORT_KMOD_HIDDEN;

static inline bool gort_kmod_active(void)
{
	return __builtin_expect(__atomic_load_n(&gort_kmod_on,
						__ATOMIC_RELAXED), 0);
}

/*
 * The producer of the ring's protocol: claim the next position, fill its
 * slot, publish it.  Returns false, after counting the drop, when the
 * ring is full.  Lock-free: a producer that loses the race for a
 * position retries at the next one; none waits for another.
 */
static inline bool gort_kmod_ring_put(struct gort_kmod_ring *ring,
				      struct gort_kmod_slot *slots,
				      uint32_t mask,
				      const struct gort_trace_event *ev)
{
	uint64_t pos = __atomic_load_n(&ring->head, __ATOMIC_RELAXED);
	struct gort_kmod_slot *slot;
	int64_t dif;

	for (;;) {
		slot = &slots[pos & mask];
		dif = (int64_t)(__atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE) -
				pos);
		if (dif == 0) {
			/* free for pos: claim it (a failed CAS reloads pos) */
			if (__atomic_compare_exchange_n(&ring->head, &pos,
							pos + 1, true,
							__ATOMIC_RELAXED,
							__ATOMIC_RELAXED))
				break;
			continue;
		}
		if (dif < 0) {
			/* the module has not drained this lap yet */
			__atomic_fetch_add(&ring->dropped, 1,
					   __ATOMIC_RELAXED);
			return false;
		}
		/* another producer took pos */
		pos = __atomic_load_n(&ring->head, __ATOMIC_RELAXED);
	}
	slot->ev = *ev;
	__atomic_store_n(&slot->seq, pos + 1, __ATOMIC_RELEASE);
	return true;
}

#endif /* GORT_TRACE_KMOD_H */
