/* SPDX-License-Identifier: MIT */
/*
 * Goroutine context switch for AArch64 (AAPCS64).
 *
 * As on x86-64, a suspended context is only its stack pointer; the
 * callee-saved state lives in a 176-byte frame on the suspended stack:
 *   +0 x19,x20  +16 x21,x22  +32 x23,x24  +48 x25,x26  +64 x27,x28
 *   +80 x29(fp),x30(lr)  +96 d8..d15 (64 bytes)  +160 FPCR  +168 pad
 * Only the low 64 bits of v8-v15 are callee-saved (AAPCS64 6.1.2).  FPCR
 * carries the rounding mode, which C code expects to survive a call; it is
 * written back only when it differs, because an FPCR write can serialise
 * the pipeline on some cores.
 *
 * gort_ctx_make() in arch.h builds a fresh frame with x19 = entry,
 * x20 = argument, x30 = gort_ctx_trampoline and x29 = 0 (ends frame walks).
 */
	.text
	.globl	gort_ctx_switch
	.hidden	gort_ctx_switch
	.type	gort_ctx_switch, %function
	.p2align 4
/* void gort_ctx_switch(struct gort_ctx *save, const struct gort_ctx *load) */
gort_ctx_switch:
	.cfi_startproc
	sub	sp, sp, #176
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	mrs	x9, fpcr
	str	x9, [sp, #160]
	mov	x10, sp
	str	x10, [x0]
	ldr	x10, [x1]
	mov	sp, x10
	ldr	x10, [sp, #160]
	cmp	x9, x10
	b.eq	1f
	msr	fpcr, x10
1:	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	add	sp, sp, #176
	/* br, not ret: see the x86-64 switch on return-stack mispredictions */
	br	x30
	.cfi_endproc
	.size	gort_ctx_switch, .-gort_ctx_switch

	.globl	gort_ctx_trampoline
	.hidden	gort_ctx_trampoline
	.type	gort_ctx_trampoline, %function
	.p2align 4
/* First code a fresh context runs: entry(arg) with x19 = entry, x20 = arg. */
gort_ctx_trampoline:
	.cfi_startproc
	.cfi_undefined x30
	mov	x0, x20
	blr	x19
	brk	#0
	.cfi_endproc
	.size	gort_ctx_trampoline, .-gort_ctx_trampoline

	.section .note.GNU-stack, "", %progbits
