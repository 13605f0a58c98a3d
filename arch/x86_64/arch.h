/* SPDX-License-Identifier: MIT */
/*
 * x86-64 pieces of the runtime: the saved-context layout that switch.S
 * defines, building a fresh context, the thread-local current-M slot, and
 * the spin-wait hint, and the CPU's cycle counter.
 *
 * The current M is read with an explicit %fs-relative load in volatile asm
 * rather than a plain __thread access: a goroutine can resume on another
 * thread inside the same C function, and a compiler that cached the thread
 * pointer (or the TLS slot's address) across gort_ctx_switch would read the
 * old thread's slot.  GCC does exactly that CSE on AArch64; the x86-64 path
 * uses the same discipline so both architectures obey one rule.
 */
#ifndef GORT_ARCH_H
#define GORT_ARCH_H

#include <stdint.h>

#define GORT_ARCH_NAME "x86_64"

struct gort_ctx {
	void *sp;	/* saved stack pointer; the frame is in switch.S */
};

void gort_ctx_switch(struct gort_ctx *save, const struct gort_ctx *load);
void gort_ctx_trampoline(void);

/* Frame layout of switch.S, in 8-byte words from the saved sp. */
enum {
	GORT_CTX_WORDS = 9,	/* control words(2), r12..rbx(5), rbp, ret */
	GORT_CTX_FP = 7,	/* saved rbp */
	GORT_CTX_PC = 8,	/* return address */
};

/* Prepare ctx so that switching to it calls entry(arg) on the given stack. */
static inline void gort_ctx_make(struct gort_ctx *ctx, void *stack_top,
				 void (*entry)(void *), void *arg)
{
	uintptr_t top = (uintptr_t)stack_top & ~(uintptr_t)15;
	uint64_t *sp = (uint64_t *)(top - 8) - (GORT_CTX_WORDS - 1);

	sp[0] = 0x1f80 | ((uint64_t)0x037f << 32); /* MXCSR, x87 CW defaults */
	sp[1] = 0;
	sp[2] = (uint64_t)(uintptr_t)entry;	/* r12 */
	sp[3] = (uint64_t)(uintptr_t)arg;	/* r13 */
	sp[4] = 0;
	sp[5] = 0;
	sp[6] = 0;
	sp[7] = 0;				/* rbp: ends frame walks */
	sp[8] = (uint64_t)(uintptr_t)gort_ctx_trampoline;
	ctx->sp = sp;
}

static inline void gort_cpu_relax(void)
{
	__asm__ __volatile__("pause" ::: "memory");
}

/*
 * The time-stamp counter, unordered (no lfence): a trace record's clock
 * (lib/trace.c), where a read that drifts a few cycles past its
 * neighbours matters less than the 9 ns that lfence + rdtsc adds here.
 */
static inline uint64_t gort_arch_cycles(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* The counter's rate if the CPU states it (0: measure it). */
static inline uint64_t gort_arch_cycles_hz(void)
{
	return 0;
}

/* The kernel clocksource that reads the same counter. */
#define GORT_ARCH_CLOCKSOURCE "tsc"

extern __thread struct gort_m *gort_tls_m;

static inline struct gort_m *gort_arch_getm(void)
{
	struct gort_m *m;

	__asm__ __volatile__("movq gort_tls_m@gottpoff(%%rip), %0\n\t"
			     "movq %%fs:(%0), %0"
			     : "=r"(m));
	return m;
}

static inline void gort_arch_setm(struct gort_m *m)
{
	__asm__ __volatile__("movq gort_tls_m@gottpoff(%%rip), %%rax\n\t"
			     "movq %0, %%fs:(%%rax)"
			     :
			     : "r"(m)
			     : "rax", "memory");
}

#endif /* GORT_ARCH_H */
