/* SPDX-License-Identifier: MIT */
/*
 * AArch64 pieces of the runtime: the saved-context layout that switch.S
 * defines, building a fresh context, the thread-local current-M slot, and
 * the spin-wait hint, and the virtual counter.
 *
 * The current M is read through tpidr_el0 in volatile asm on every access:
 * GCC keeps the thread pointer in a register across calls, and a goroutine
 * that resumed on another thread inside the same function would otherwise
 * read the old thread's slot.
 */
#ifndef GORT_ARCH_H
#define GORT_ARCH_H

#include <stdint.h>

#define GORT_ARCH_NAME "arm64"

struct gort_ctx {
	void *sp;	/* saved stack pointer; the frame is in switch.S */
};

void gort_ctx_switch(struct gort_ctx *save, const struct gort_ctx *load);
void gort_ctx_trampoline(void);

/* Frame layout of switch.S, in 8-byte words from the saved sp. */
enum {
	GORT_CTX_WORDS = 22,	/* x19..x30 (12), d8..d15 (8), fpcr, pad */
	GORT_CTX_FP = 10,	/* saved x29 */
	GORT_CTX_PC = 11,	/* saved x30 */
};

/* Prepare ctx so that switching to it calls entry(arg) on the given stack. */
static inline void gort_ctx_make(struct gort_ctx *ctx, void *stack_top,
				 void (*entry)(void *), void *arg)
{
	uintptr_t top = (uintptr_t)stack_top & ~(uintptr_t)15;
	uint64_t *sp = (uint64_t *)top - GORT_CTX_WORDS;
	int i;

	for (i = 0; i < GORT_CTX_WORDS; i++)
		sp[i] = 0;
	sp[0] = (uint64_t)(uintptr_t)entry;	/* x19 */
	sp[1] = (uint64_t)(uintptr_t)arg;	/* x20 */
	sp[GORT_CTX_PC] = (uint64_t)(uintptr_t)gort_ctx_trampoline;
	ctx->sp = sp;
}

static inline void gort_cpu_relax(void)
{
	__asm__ __volatile__("yield" ::: "memory");
}

/*
 * The virtual counter, read without an isb: a trace record's clock
 * (lib/trace.c), where a read that drifts a few cycles past its
 * neighbours does no harm.
 */
static inline uint64_t gort_arch_cycles(void)
{
	uint64_t c;

	__asm__ __volatile__("mrs %0, cntvct_el0" : "=r"(c));
	return c;
}

/* The counter's rate, which the architecture states in cntfrq_el0. */
static inline uint64_t gort_arch_cycles_hz(void)
{
	uint64_t hz;

	__asm__ __volatile__("mrs %0, cntfrq_el0" : "=r"(hz));
	return hz;
}

/* The kernel clocksource that reads the same counter. */
#define GORT_ARCH_CLOCKSOURCE "arch_sys_counter"

extern __thread struct gort_m *gort_tls_m;

static inline struct gort_m *gort_arch_getm(void)
{
	struct gort_m *m;
	uint64_t off;

	__asm__ __volatile__("mrs %0, tpidr_el0\n\t"
			     "adrp %1, :gottprel:gort_tls_m\n\t"
			     "ldr %1, [%1, #:gottprel_lo12:gort_tls_m]\n\t"
			     "ldr %0, [%0, %1]"
			     : "=&r"(m), "=&r"(off));
	return m;
}

static inline void gort_arch_setm(struct gort_m *m)
{
	uint64_t tp, off;

	__asm__ __volatile__("mrs %0, tpidr_el0\n\t"
			     "adrp %1, :gottprel:gort_tls_m\n\t"
			     "ldr %1, [%1, #:gottprel_lo12:gort_tls_m]\n\t"
			     "str %2, [%0, %1]"
			     : "=&r"(tp), "=&r"(off)
			     : "r"(m)
			     : "memory");
}

#endif /* GORT_ARCH_H */
