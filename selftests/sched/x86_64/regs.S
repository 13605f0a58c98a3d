/* SPDX-License-Identifier: GPL-2.0 */
/*
 * regs.S (x86-64) - hold callee-saved registers across a call.
 *
 * long regs_hold_across(void (*fn)(void *), void *arg, const uint64_t *pat);
 *
 *   Loads pat[0..5] into rbx, rbp, r12, r13, r14 and r15, calls fn(arg),
 *   and returns a bitmask with bit i set when register i no longer holds
 *   pat[i] (0: all survived).  The caller's own rbx, rbp and r12-r15 are
 *   saved and restored, so the function itself keeps the System V ABI.
 *   While fn runs, rbp holds a pattern instead of a frame pointer: the
 *   ABI allows that, and a context switch must not depend on rbp.
 *
 * void regs_clobber(void *arg);
 *
 *   Breaks the ABI on purpose: overwrites every callee-saved register and
 *   returns.  Used only to show that regs_hold_across() notices.
 *
 * The frame: return address, six saved registers, then an 8-byte slot for
 * pat, which also restores 16-byte alignment for the call (entry rsp is
 * 8 mod 16; 7 pushes/slots of 8 bytes later it is 0 mod 16).
 */
	.text

/* Set bit \bit of eax when \reg differs from \off(%rdx); clobbers ecx. */
.macro	check reg, off, bit
	xorl	%ecx, %ecx
	cmpq	\off(%rdx), \reg
	setne	%cl
	shll	$\bit, %ecx
	orl	%ecx, %eax
.endm

	.globl	regs_hold_across
	.type	regs_hold_across, @function
regs_hold_across:
	.cfi_startproc
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbp, 0
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbx, 0
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r12, 0
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r13, 0
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r14, 0
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r15, 0
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8

	movq	%rdx, (%rsp)		/* pat, for after the call */
	movq	%rdi, %rax		/* fn */
	movq	%rsi, %rdi		/* arg */
	movq	0(%rdx), %rbx
	movq	8(%rdx), %rbp
	movq	16(%rdx), %r12
	movq	24(%rdx), %r13
	movq	32(%rdx), %r14
	movq	40(%rdx), %r15
	call	*%rax

	movq	(%rsp), %rdx
	xorl	%eax, %eax
	check	%rbx, 0, 0
	check	%rbp, 8, 1
	check	%r12, 16, 2
	check	%r13, 24, 3
	check	%r14, 32, 4
	check	%r15, 40, 5

	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%r15
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r15
	popq	%r14
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r14
	popq	%r13
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r13
	popq	%r12
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r12
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbx
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbp
	ret
	.cfi_endproc
	.size	regs_hold_across, .-regs_hold_across

	.globl	regs_clobber
	.type	regs_clobber, @function
regs_clobber:
	.cfi_startproc
	movabsq	$0x5a5a5a5a5a5a5a5a, %rax
	movq	%rax, %rbx
	movq	%rax, %rbp
	movq	%rax, %r12
	movq	%rax, %r13
	movq	%rax, %r14
	movq	%rax, %r15
	ret
	.cfi_endproc
	.size	regs_clobber, .-regs_clobber

	.section .note.GNU-stack, "", @progbits
