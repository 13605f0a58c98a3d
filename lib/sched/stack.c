// SPDX-License-Identifier: MIT
/*
 * stack.c - goroutine stacks: arenas, pools, guard pages and canaries.
 *
 * C cannot move a stack (pointers into it are everywhere), so each stack is
 * a fixed reservation, MAP_NORESERVE: only the pages a goroutine touches
 * cost memory.  Default-size stacks are carved from arenas of
 * STACKS_PER_ARENA slots, which turns a million stack allocations into a
 * few thousand mmap calls, and recycled through a per-P cache (no lock)
 * backed by a global pool.  Other sizes get their own mapping.
 *
 * A slot is [guard page][stack].  Where the kernel has guard regions
 * (MADV_GUARD_INSTALL, Linux 6.13) every stack gets one: they cost no VMA
 * and no memory.  Otherwise the guard page is made PROT_NONE while the
 * process's VMA budget allows: every guard splits a mapping in three,
 * costing two VMAs, and vm.max_map_count (65530 by default) bounds them for
 * the whole process, malloc and the program's own mappings included.  The
 * budget is half of what is left of max_map_count at start, less a quarter
 * reserve.  Past it, a stack gets a canary in its lowest 16 bytes that the
 * scheduler checks whenever the goroutine switches out; a guard page turns
 * an overflow into SIGSEGV at once, the canary into a report at the next
 * switch.
 *
 * Lock order: the stack lock is a leaf.
 *
 * Rejected: one mmap per stack (a syscall per goroutine when the pool is
 * cold, and a VMA per stack), and guard pages for every stack (a million
 * goroutines would need two million VMAs).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#endif

#include "runtime.h"

#define STACKS_PER_ARENA 64
#define CANARY_A 0x676f72746361ULL	/* "gortca" */
#define CANARY_B 0x6e61727921ULL	/* "nary!" */

struct arena {
	struct arena *next;	/* all arenas, for the final unmap */
	char *base;		/* mapping start */
	size_t len;		/* mapping length */
};

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102		/* Linux 6.13 */
#endif

static struct {
	struct gort_lock lock;		/* guards everything below */
	bool madv_guard;		/* MADV_GUARD_INSTALL works here */
	size_t page;			/* page size */
	size_t size;			/* default stack size, page-rounded */
	struct arena *arenas;		/* default-size arenas */
	char *carve;			/* next unused slot in the newest */
	int carve_left;			/* slots left there */
	long guard_budget;		/* guard pages still allowed */
	struct gort_stack *pool;	/* free default stacks */
	int npool, poolcap;
	long narenas;			/* default-size arenas mapped */
} st;

/* Bytes of odd-size stacks mapped (read by memstats without the lock). */
static _Atomic uint64_t odd_bytes;

static long vma_count(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	long n = 0;
	int c;

	if (!f)
		return 1000;
	while ((c = getc(f)) != EOF)
		if (c == '\n')
			n++;
	fclose(f);
	return n;
}

static long read_max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
	long v = 65530;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = 65530;
		fclose(f);
	}
	return v;
}

/*
 * Guard regions (Linux 6.13+) cost no VMA: every stack can have one.  An
 * emulator may accept the advice and do nothing (qemu-user does), so the
 * probe checks that reading the guard from a system call faults.
 */
static bool madv_guard_works(void)
{
	char *p = mmap(NULL, 2 * st.page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool ok = false;
	int fds[2];

	if (p == MAP_FAILED)
		return false;
	if (madvise(p, st.page, MADV_GUARD_INSTALL) == 0 &&
	    pipe2(fds, O_CLOEXEC) == 0) {
		ok = write(fds[1], p, 1) < 0 && errno == EFAULT;
		close(fds[0]);
		close(fds[1]);
	}
	munmap(p, 2 * st.page);
	return ok;
}

int gort_stack_init(void)
{
	long max = read_max_map_count(), used = vma_count();

	memset(&st, 0, sizeof(st));
	st.page = (size_t)sysconf(_SC_PAGESIZE);
	st.size = (gort_config.stack_size + st.page - 1) & ~(st.page - 1);
	st.guard_budget = (max - used - max / 4) / 2;
	if (st.guard_budget < 0)
		st.guard_budget = 0;
	st.madv_guard = madv_guard_works();
	return 0;
}

static void stack_canary_set(struct gort_stack *s)
{
	uint64_t *c = (uint64_t *)s->lo;

	c[0] = CANARY_A ^ (uintptr_t)s->lo;
	c[1] = CANARY_B;
}

void gort_stack_check_canary(struct gort_g *gp)
{
	const uint64_t *c = (const uint64_t *)gp->stack.lo;

	if (!c)
		return;
	if (c[0] != (CANARY_A ^ (uintptr_t)gp->stack.lo) || c[1] != CANARY_B)
		gort_fatal("goroutine %llu stack overflow (canary of its %zu-byte stack overwritten)",
			   (unsigned long long)gp->goid, gp->stack.size);
}

bool gort_stack_in_guard(const struct gort_g *gp, uintptr_t addr)
{
	uintptr_t lo = (uintptr_t)gp->stack.lo;

	if (!lo)
		return false;
	/* Past the guard page still counts when the guard is what it hit
	 * first; a fault within a page below lo is an overflow either way. */
	return addr < lo && addr >= lo - st.page;
}

/* Give slot [base, base + page + size) its guard or its canary. */
static void stack_protect(char *base, size_t size, struct gort_stack *s)
{
	s->lo = base + st.page;
	s->size = size;
	s->guarded = false;
	if (st.madv_guard && madvise(base, st.page, MADV_GUARD_INSTALL) == 0) {
		s->guarded = true;
		return;
	}
	if (st.guard_budget > 0 && mprotect(base, st.page, PROT_NONE) == 0) {
		st.guard_budget--;
		s->guarded = true;
	}
	if (!s->guarded)
		stack_canary_set(s);
}

static int arena_new(void)
{
	size_t slot = st.page + st.size, len = slot * STACKS_PER_ARENA;
	struct arena *a = malloc(sizeof(*a));
	char *base;

	if (!a)
		return -ENOMEM;
	base = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
		    -1, 0);
	if (base == MAP_FAILED) {
		free(a);
		return -ENOMEM;
	}
	a->base = base;
	a->len = len;
	a->next = st.arenas;
	st.arenas = a;
	st.carve = base;
	st.carve_left = STACKS_PER_ARENA;
	st.narenas++;
	return 0;
}

static int stack_alloc_odd(size_t size, struct gort_stack *s)
{
	char *base = mmap(NULL, st.page + size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
				  MAP_STACK,
			  -1, 0);

	if (base == MAP_FAILED)
		return -ENOMEM;
	atomic_fetch_add(&odd_bytes, st.page + size);
	gort_lock(&st.lock);
	stack_protect(base, size, s);
	gort_unlock(&st.lock);
	return 0;
}

int gort_stack_alloc(struct gort_p *p, size_t size, struct gort_stack *s)
{
	int err;

	size = (size + st.page - 1) & ~(st.page - 1);
	if (size != st.size)
		return stack_alloc_odd(size, s);
	if (p && p->nstack > 0) {
		*s = p->stackcache[--p->nstack];
		return 0;
	}
	gort_lock(&st.lock);
	if (st.npool > 0) {
		/* refill half the per-P cache in one go */
		int n = 0;

		*s = st.pool[--st.npool];
		while (p && st.npool > 0 && n < GORT_STACK_CACHE / 2) {
			p->stackcache[p->nstack++] = st.pool[--st.npool];
			n++;
		}
		gort_unlock(&st.lock);
		return 0;
	}
	if (st.carve_left == 0) {
		err = arena_new();
		if (err) {
			gort_unlock(&st.lock);
			return err;
		}
	}
	stack_protect(st.carve, st.size, s);
	st.carve += st.page + st.size;
	st.carve_left--;
	gort_unlock(&st.lock);
	return 0;
}

static void pool_put_locked(const struct gort_stack *s)
{
	if (st.npool == st.poolcap) {
		int cap = st.poolcap ? st.poolcap * 2 : 256;
		struct gort_stack *np = realloc(st.pool, cap * sizeof(*np));

		if (!np)
			gort_fatal("runtime: out of memory for the stack pool");
		st.pool = np;
		st.poolcap = cap;
	}
	st.pool[st.npool++] = *s;
}

void gort_stack_free(struct gort_p *p, struct gort_stack *s)
{
#ifdef __SANITIZE_ADDRESS__
	/* Frames that never returned leave their redzones poisoned. */
	__asan_unpoison_memory_region(s->lo, s->size);
#endif
	if (!s->guarded)
		stack_canary_set(s);
	if (s->size != st.size) {
		munmap(s->lo - st.page, st.page + s->size);
		atomic_fetch_sub(&odd_bytes, st.page + s->size);
		if (s->guarded && !st.madv_guard) {
			gort_lock(&st.lock);
			st.guard_budget++;
			gort_unlock(&st.lock);
		}
		return;
	}
	if (p && p->nstack < GORT_STACK_CACHE) {
		p->stackcache[p->nstack++] = *s;
		return;
	}
	gort_lock(&st.lock);
	if (p) {
		/* spill half the cache with this one */
		while (p->nstack > GORT_STACK_CACHE / 2)
			pool_put_locked(&p->stackcache[--p->nstack]);
	}
	pool_put_locked(s);
	gort_unlock(&st.lock);
}

/*
 * memstats: stack memory mapped, and the part not sitting free in the
 * pool or uncarved (stacks in per-P caches count as in use).
 */
void gort_stack_stats(uint64_t *inuse, uint64_t *sys)
{
	uint64_t slot, mapped, idle;

	gort_lock(&st.lock);
	slot = st.page + st.size;
	mapped = (uint64_t)st.narenas * STACKS_PER_ARENA * slot;
	idle = (uint64_t)(st.npool + st.carve_left) * slot;
	gort_unlock(&st.lock);
	*sys = mapped + atomic_load(&odd_bytes);
	*inuse = *sys - idle;
}

void gort_stack_flush(struct gort_p *p)
{
	gort_lock(&st.lock);
	while (p->nstack > 0)
		pool_put_locked(&p->stackcache[--p->nstack]);
	gort_unlock(&st.lock);
}

/* Every goroutine is gone: unmap all default-size arenas. */
void gort_stack_fini(void)
{
	struct arena *a, *next;

	for (a = st.arenas; a; a = next) {
		next = a->next;
		munmap(a->base, a->len);
		free(a);
	}
	free(st.pool);
	memset(&st, 0, sizeof(st));
}

/* Some goroutine still runs on an arena stack: keep the mappings. */
void gort_stack_abandon(void)
{
	struct arena *a, *next;

	for (a = st.arenas; a; a = next) {
		next = a->next;
		free(a);
	}
	free(st.pool);
	memset(&st, 0, sizeof(st));
}
