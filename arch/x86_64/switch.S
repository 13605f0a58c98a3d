/* SPDX-License-Identifier: MIT */
/*
 * Goroutine context switch for x86-64 (System V ABI).
 *
 * A suspended context is nothing but its stack pointer: everything the ABI
 * says a callee must preserve is pushed on the suspended stack itself, so
 * struct gort_ctx is one word and a switch touches one cache line of each
 * stack.  Saved, in push order: rbp, rbx, r15, r14, r13, r12, then a 16-byte
 * slot holding MXCSR (at +0) and the x87 control word (at +4), which the ABI
 * also makes callee-saved.  Caller-saved registers need no saving: the
 * switch is an ordinary call for the compiler.
 *
 * Frame of a suspended context, from its saved sp upwards:
 *   +0 mxcsr  +4 x87 cw  +16 r12  +24 r13  +32 r14  +40 r15  +48 rbx
 *   +56 rbp   +64 return address
 * gort_ctx_make() in arch.h builds this frame for a fresh goroutine, with
 * r12 = entry function, r13 = its argument and the return address pointing
 * at gort_ctx_trampoline; rbp = 0 ends frame-pointer walks there.
 *
 * The switch ends in pop + indirect jump rather than ret (see there).
 *
 * Rejected: swapcontext (a sigprocmask system call on every switch) and
 * saving the whole FPU/SSE state with fxsave (512 bytes; the ABI makes every
 * xmm register caller-saved, so only the control words matter).
 */
	.text
	.globl	gort_ctx_switch
	.hidden	gort_ctx_switch
	.type	gort_ctx_switch, @function
	.p2align 4
/* void gort_ctx_switch(struct gort_ctx *save, const struct gort_ctx *load) */
gort_ctx_switch:
	.cfi_startproc
	pushq	%rbp
	pushq	%rbx
	pushq	%r15
	pushq	%r14
	pushq	%r13
	pushq	%r12
	subq	$16, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)
	movq	(%rsi), %rsp
	/*
	 * fldcw costs more than the rest of the switch together, and the
	 * control words almost never differ between goroutines: reload them
	 * only when the 6 bytes saved on the two stacks differ.
	 */
	movq	(%rdi), %rax
	movl	(%rax), %ecx		/* same widths as the stores: */
	cmpl	(%rsp), %ecx		/* a wider load would stall on */
	jne	2f			/* store forwarding */
	movzwl	4(%rax), %ecx
	cmpw	4(%rsp), %cx
	jne	2f
1:	addq	$16, %rsp
	popq	%r12
	popq	%r13
	popq	%r14
	popq	%r15
	popq	%rbx
	popq	%rbp
	/*
	 * Not ret: the return-stack predictor learned the caller of this
	 * call, and we return to another context's caller, so ret would
	 * mispredict on every switch.  An indirect jump goes through the
	 * branch target buffer, which learns the hand-off pattern.
	 */
	popq	%rcx
	jmp	*%rcx
2:	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	jmp	1b
	.cfi_endproc
	.size	gort_ctx_switch, .-gort_ctx_switch

	.globl	gort_ctx_trampoline
	.hidden	gort_ctx_trampoline
	.type	gort_ctx_trampoline, @function
	.p2align 4
/* First code a fresh context runs: entry(arg) with r12 = entry, r13 = arg. */
gort_ctx_trampoline:
	.cfi_startproc
	.cfi_undefined rip
	movq	%r13, %rdi
	callq	*%r12
	ud2
	.cfi_endproc
	.size	gort_ctx_trampoline, .-gort_ctx_trampoline

	.section .note.GNU-stack, "", @progbits
