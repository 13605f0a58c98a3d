// SPDX-License-Identifier: MIT
/*
 * barrier.c - the write barrier without compiler help: page-granular
 * dirty tracking of the heap, read out in batches (DESIGN.md section 6,
 * anchors-gc.md section 8).
 *
 * The collector's need: every heap page written after the mark began must
 * be rescanned (its marked objects) before the mark ends, or a pointer
 * stored into an already-scanned object would be missed.  That is an
 * insertion (Dijkstra) barrier at 4 KiB granularity; new objects are
 * allocated black and their stores are caught the same way.
 *
 * Modes, best first, chosen at run time (GORT_DEBUG=gcbarrier= forces
 * one, and a forced mode the kernel lacks is a start-up error):
 *  pagemap   userfaultfd in WP_ASYNC mode over the heap: the kernel
 *            resolves the first write to a protected page by itself
 *            (~0.8 us, no signal) and PAGEMAP_SCAN reads and re-arms the
 *            written pages in one walk (Linux 6.7+).  Kernel writes
 *            (read(2) into a heap buffer) are tracked too.  The heap is
 *            armed from the moment it grows and stays armed: a cycle's
 *            start only re-arms what was written since the last one,
 *            and mark termination only reads (no TLB flush in a pause).
 *  mprotect  the heap is made read-only while marking; a SIGSEGV handler
 *            records the page and makes it writable (~7 us a page).  A
 *            kernel write to a protected page fails with EFAULT, so the
 *            runtime's own I/O calls gc_barrier_prepare_kernel_write()
 *            first; user code that passes GC memory to raw system calls
 *            during a cycle must do the same (Documentation/gc.md).  If
 *            the process runs out of mappings (every unprotected page
 *            splits the heap's VMA), the heap is unprotected at once and
 *            mark termination rescans every marked object.
 *  stw       no barrier: the whole mark runs with the world stopped.
 *
 * Rejected: synchronous userfaultfd write-protect with a handler thread
 * (bdwgc's UFFDIO_WRITEPROTECT mode): without WP_UNPOPULATED (6.4+) a
 * write to a page never touched is not trapped, and the kernels that lack
 * WP_ASYNC mostly lack that too; soft-dirty bits (x86-64 only, and
 * clear_refs resets the whole process's bits, not the heap's).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gc/gcint.h"

/* Linux 6.7 uapi (Debian 12's headers are 6.1). */
#ifndef PAGEMAP_SCAN
struct page_region {
	uint64_t start, end, categories;
};
struct pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask;
	uint64_t return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_WRITTEN (1 << 1)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#define TRACK_PAGE 4096u		/* the barrier's card */
#define NVEC 512

enum gc_barrier_mode gc_barrier_mode;

static int uffd = -1;			/* pagemap mode */
static int pagemap_fd = -1;
static _Atomic bool armed;		/* mprotect mode: heap protected */
static _Atomic bool overflowed;		/* mprotect mode ran out of maps */
static _Atomic uint8_t *dirty;		/* mprotect mode: a byte a page */
static struct sigaction old_segv;

const char *gc_barrier_name(enum gc_barrier_mode m)
{
	switch (m) {
	case GC_BARRIER_PAGEMAP:
		return "pagemap";
	case GC_BARRIER_MPROTECT:
		return "mprotect";
	case GC_BARRIER_STW:
		return "stw";
	default:
		return "none";
	}
}

/* ---- pagemap ---- */

static int uffd_open(void)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED,
	};
	int fd = (int)syscall(SYS_userfaultfd,
			      O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int uffd_track(uintptr_t start, uintptr_t len)
{
	struct uffdio_register reg = {
		.range = { .start = start, .len = len },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	struct uffdio_writeprotect wp = {
		.range = { .start = start, .len = len },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};

	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp))
		return -errno;
	return 0;
}

/*
 * Written pages of [lo, hi), re-armed in the same walk when rearm; w
 * rescans (or shares out) each written range (NULL: only re-arm).
 * Returns written pages, or -errno.
 */
static void rescan_or_share(struct gc_work *w, bool share, uintptr_t lo,
			    uintptr_t hi)
{
	if (share)
		gc_rescan_share(w, lo, hi);
	else
		gc_rescan_range(w, lo, hi);
}

static int64_t pagemap_collect(uintptr_t lo, uintptr_t hi,
			       struct gc_work *w, bool share, bool rearm)
{
	struct page_region vec[NVEC];
	struct pm_scan_arg a;
	int64_t pages = 0;
	long n, i;

	while (lo < hi) {
		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.flags = rearm ? PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC
				: 0;
		a.start = lo;
		a.end = hi;
		a.vec = (uintptr_t)vec;
		a.vec_len = NVEC;
		a.category_mask = PAGE_IS_WRITTEN;
		a.return_mask = PAGE_IS_WRITTEN;
		n = ioctl(pagemap_fd, PAGEMAP_SCAN, &a);
		if (n < 0)
			return -errno;
		for (i = 0; i < n; i++) {
			pages += (vec[i].end - vec[i].start) / TRACK_PAGE;
			if (w)
				rescan_or_share(w, share, vec[i].start,
						vec[i].end);
		}
		if (a.walk_end <= lo)
			break;
		lo = a.walk_end;
	}
	return pages;
}

/* Can this kernel do it?  A real round on a scratch mapping. */
static int pagemap_probe(void)
{
	size_t len = 4 * TRACK_PAGE;
	char *p;
	int64_t n;
	int err;

	uffd = uffd_open();
	if (uffd < 0)
		return uffd;
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pagemap_fd < 0) {
		err = -errno;
		goto out_close_uffd;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		err = -errno;
		goto out_close_pagemap;
	}
	err = uffd_track((uintptr_t)p, len);
	if (err)
		goto out_unmap;
	p[TRACK_PAGE + 7] = 1;	/* one page written, three untouched */
	n = pagemap_collect((uintptr_t)p, (uintptr_t)p + len, NULL,
			    false, true);
	if (n != 1) {
		err = n < 0 ? (int)n : -EOPNOTSUPP;
		goto out_unmap;
	}
	n = pagemap_collect((uintptr_t)p, (uintptr_t)p + len, NULL,
			    false, true);
	if (n != 0) {
		err = n < 0 ? (int)n : -EOPNOTSUPP;
		goto out_unmap;
	}
	munmap(p, len);
	return 0;
out_unmap:
	munmap(p, len);
out_close_pagemap:
	close(pagemap_fd);
	pagemap_fd = -1;
out_close_uffd:
	close(uffd);
	uffd = -1;
	return err;
}

/* ---- mprotect ---- */

static void segv_handler(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	int saved_errno = errno;

	/*
	 * Heap pages are read-only only because of the barrier, so a write
	 * fault there is ours even when `armed` already reads false: the
	 * disarm (or an overflow on another thread) clears it before it
	 * makes the pages writable again.  A spare dirty mark costs one
	 * page's rescan.
	 */
	if (si->si_code == SEGV_ACCERR && dirty && a >= gc_heap.base &&
	    a < atomic_load(&gc_heap.used)) {
		uintptr_t page = a & ~(uintptr_t)(TRACK_PAGE - 1);

		/*
		 * Writable first, dirty second.  The other order loses a
		 * write: the collector could clear the mark, re-protect
		 * and rescan between the two, and our mprotect would then
		 * open the page again with no mark on it.  In this order a
		 * collector that clears a mark re-protects after us, and
		 * the retried store faults again.  (The suspend signal is
		 * blocked in here, so mark termination never finds a page
		 * opened but not yet marked.)
		 */
		if (mprotect((void *)page, TRACK_PAGE,
			     PROT_READ | PROT_WRITE)) {
			/* out of mappings: stop tracking, rescan it all */
			atomic_store(&overflowed, true);
			atomic_store(&armed, false);
			mprotect((void *)gc_heap.base,
				 atomic_load(&gc_heap.used) - gc_heap.base,
				 PROT_READ | PROT_WRITE);
		}
		atomic_store_explicit(&dirty[(page - gc_heap.base) /
					     TRACK_PAGE],
				      1, memory_order_release);
		errno = saved_errno;
		return;
	}
	errno = saved_errno;
	if (old_segv.sa_flags & SA_SIGINFO) {
		old_segv.sa_sigaction(sig, si, uc);
		return;
	}
	if (old_segv.sa_handler == SIG_IGN)
		return;
	if (old_segv.sa_handler != SIG_DFL) {
		old_segv.sa_handler(sig);
		return;
	}
	signal(SIGSEGV, SIG_DFL);
	raise(SIGSEGV);
}

/* The dirty map, a byte per page of the reservation, once it exists. */
static void mprotect_map_dirty(void)
{
	size_t len = (gc_heap.end - gc_heap.base) / TRACK_PAGE;
	void *p;

	if (dirty)
		return;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		gort_fatal("runtime: no memory for the heap's dirty-page map");
	dirty = p;
}

static int mprotect_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, GC_SIG_SUSPEND);
	if (sigaction(SIGSEGV, &sa, &old_segv))
		return -errno;
	return 0;
}

/* ---- the interface ---- */

static int choose_mode(void)
{
	const char *forced = gort_config.gcbarrier;
	int err;

	if (!forced || !strcmp(forced, "pagemap")) {
		err = pagemap_probe();
		if (!err) {
			gc_barrier_mode = GC_BARRIER_PAGEMAP;
			return 0;
		}
		if (forced)
			gort_fatal("GORT_DEBUG=gcbarrier=pagemap: this kernel cannot track heap writes with PAGEMAP_SCAN and userfaultfd WP_ASYNC (%s); Linux 6.7+ is needed",
				   strerror(-err));
	}
	/*
	 * mprotect only when asked for: under qemu-user (arm64 make check)
	 * reused large objects came back not zeroed with it, which is not
	 * understood yet; the stop-the-world mark is slower but correct.
	 */
	if (forced && !strcmp(forced, "mprotect")) {
		err = mprotect_init();
		if (!err) {
			gc_barrier_mode = GC_BARRIER_MPROTECT;
			return 0;
		}
		gort_fatal("GORT_DEBUG=gcbarrier=mprotect: %s",
			   strerror(-err));
	}
	gc_barrier_mode = GC_BARRIER_STW;
	return 0;
}

void gc_barrier_heap_grew(uintptr_t start, uintptr_t len)
{
	int err;

	switch (gc_barrier_mode) {
	case GC_BARRIER_PAGEMAP:
		err = uffd_track(start, len);
		if (err)
			gort_fatal("runtime: cannot track writes to the heap: %s",
				   strerror(-err));
		break;
	case GC_BARRIER_MPROTECT:
		mprotect_map_dirty();
		/* grown while marking: new objects must be tracked too */
		if (atomic_load(&armed))
			mprotect((void *)start, len, PROT_READ);
		break;
	default:
		break;
	}
}

/*
 * gort_alloc may run before gort_main (the first allocation makes the
 * heap), so the heap can have grown before the mode was chosen: it is
 * tracked from here on like later growth.
 */
int gc_barrier_init(void)
{
	uintptr_t used;
	int err = choose_mode();

	if (err)
		return err;
	gort_lock(&gc_heap.lock);
	used = atomic_load(&gc_heap.used);
	if (gc_heap.base && used > gc_heap.base)
		gc_barrier_heap_grew(gc_heap.base, used - gc_heap.base);
	gort_unlock(&gc_heap.lock);
	return 0;
}

void gc_barrier_arm(void)
{
	uintptr_t used = atomic_load(&gc_heap.used);

	switch (gc_barrier_mode) {
	case GC_BARRIER_PAGEMAP:
		if (pagemap_collect(gc_heap.base, used, NULL, false, true) < 0)
			gort_fatal("runtime: PAGEMAP_SCAN failed: %s",
				   strerror(errno));
		break;
	case GC_BARRIER_MPROTECT:
		atomic_store(&overflowed, false);
		atomic_store(&armed, true);
		used = atomic_load(&gc_heap.used);
		if (mprotect((void *)gc_heap.base, used - gc_heap.base,
			     PROT_READ)) {
			atomic_store(&armed, false);
			atomic_store(&overflowed, true);
		}
		break;
	default:
		break;
	}
}

uint64_t gc_barrier_collect(struct gc_work *w, bool share)
{
	uintptr_t used = atomic_load(&gc_heap.used), a;
	uint64_t pages = 0;
	int64_t n;

	switch (gc_barrier_mode) {
	case GC_BARRIER_PAGEMAP:
		/*
		 * Mark termination (share false) only reads: the pages stay
		 * written until the next cycle's arm re-arms them.  Re-arming
		 * there write-protected them with the world stopped, and
		 * the TLB flush that takes made the median pause 171 us
		 * against 142 us without (binary-trees, 2 Ps).
		 */
		n = pagemap_collect(gc_heap.base, used, w, share, share);
		if (n < 0)
			gort_fatal("runtime: PAGEMAP_SCAN failed: %s",
				   strerror((int)-n));
		return (uint64_t)n;
	case GC_BARRIER_MPROTECT:
		if (atomic_load(&overflowed)) {
			/* every page counts as written */
			gc_rescan_range(w, gc_heap.base, used);
			return (used - gc_heap.base) / TRACK_PAGE;
		}
		for (a = gc_heap.base; a < used; a += TRACK_PAGE) {
			_Atomic uint8_t *d = &dirty[(a - gc_heap.base) /
						    TRACK_PAGE];

			if (!atomic_load_explicit(d, memory_order_relaxed))
				continue;
			atomic_store_explicit(d, 0, memory_order_relaxed);
			/* re-arm before the rescan reads the page */
			if (atomic_load(&armed))
				mprotect((void *)a, TRACK_PAGE, PROT_READ);
			rescan_or_share(w, share, a, a + TRACK_PAGE);
			pages++;
		}
		return pages;
	default:
		return 0;
	}
}

void gc_barrier_disarm(void)
{
	uintptr_t used = atomic_load(&gc_heap.used);

	if (gc_barrier_mode != GC_BARRIER_MPROTECT)
		return;
	atomic_store(&armed, false);
	if (!dirty)
		return;		/* the heap never grew: nothing was armed */
	mprotect((void *)gc_heap.base, used - gc_heap.base,
		 PROT_READ | PROT_WRITE);
	memset((void *)dirty, 0, (used - gc_heap.base) / TRACK_PAGE);
}

void gc_barrier_prepare_kernel_write(void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p, end = a + len;

	if (gc_barrier_mode != GC_BARRIER_MPROTECT ||
	    !atomic_load_explicit(&armed, memory_order_relaxed) ||
	    !len || !gc_in_heap(a))
		return;
	/* a user-space write to each page takes the fault here */
	for (a &= ~(uintptr_t)(TRACK_PAGE - 1); a < end; a += TRACK_PAGE)
		__atomic_fetch_or((uint8_t *)(a > (uintptr_t)p ? a :
					      (uintptr_t)p),
				  0, __ATOMIC_RELAXED);
}
