/* SPDX-License-Identifier: GPL-2.0 */
/*
 * regs.S (AArch64) - hold callee-saved registers across a call.
 *
 * long regs_hold_across(void (*fn)(void *), void *arg, const uint64_t *pat);
 *
 *   Loads pat[0..9] into x19-x28 and pat[10..17] into d8-d15, calls
 *   fn(arg), and returns a bitmask with bit i set when register i no
 *   longer holds pat[i]; bit 18 is set when x29 no longer points at this
 *   function's frame.  x29 keeps a valid frame pointer throughout (unwinders
 *   follow it), so it is checked against the frame instead of a pattern.
 *   The caller's registers are saved and restored: the function itself
 *   keeps AAPCS64.
 *
 * void regs_clobber(void *arg);
 *
 *   Breaks the ABI on purpose: overwrites x19-x28 and d8-d15 and returns.
 *   Used only to show that regs_hold_across() notices.
 *
 * Frame (176 bytes, 16-byte aligned): x29/x30 at 0, x19-x28 at 16..95,
 * d8-d15 at 96..159, pat at 160.
 */
	.text

/* Set bit \bit of x0 when x\reg differs from [x2, #\off]. */
.macro	checkx reg, off, bit
	ldr	x3, [x2, #\off]
	cmp	x\reg, x3
	cset	x4, ne
	orr	x0, x0, x4, lsl #\bit
.endm

/* Set bit \bit of x0 when d\reg differs (bitwise) from [x2, #\off]. */
.macro	checkd reg, off, bit
	ldr	x3, [x2, #\off]
	fmov	x5, d\reg
	cmp	x5, x3
	cset	x4, ne
	orr	x0, x0, x4, lsl #\bit
.endm

	.globl	regs_hold_across
	.type	regs_hold_across, %function
regs_hold_across:
	.cfi_startproc
	stp	x29, x30, [sp, #-176]!
	.cfi_def_cfa_offset 176
	.cfi_offset x29, -176
	.cfi_offset x30, -168
	mov	x29, sp
	stp	x19, x20, [sp, #16]
	stp	x21, x22, [sp, #32]
	stp	x23, x24, [sp, #48]
	stp	x25, x26, [sp, #64]
	stp	x27, x28, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	.cfi_offset x19, -160
	.cfi_offset x20, -152
	.cfi_offset x21, -144
	.cfi_offset x22, -136
	.cfi_offset x23, -128
	.cfi_offset x24, -120
	.cfi_offset x25, -112
	.cfi_offset x26, -104
	.cfi_offset x27, -96
	.cfi_offset x28, -88
	.cfi_offset d8, -80
	.cfi_offset d9, -72
	.cfi_offset d10, -64
	.cfi_offset d11, -56
	.cfi_offset d12, -48
	.cfi_offset d13, -40
	.cfi_offset d14, -32
	.cfi_offset d15, -24
	str	x2, [sp, #160]		/* pat, for after the call */

	mov	x16, x0			/* fn */
	mov	x0, x1			/* arg */
	ldp	x19, x20, [x2, #0]
	ldp	x21, x22, [x2, #16]
	ldp	x23, x24, [x2, #32]
	ldp	x25, x26, [x2, #48]
	ldp	x27, x28, [x2, #64]
	ldp	d8, d9, [x2, #80]
	ldp	d10, d11, [x2, #96]
	ldp	d12, d13, [x2, #112]
	ldp	d14, d15, [x2, #128]
	blr	x16

	ldr	x2, [sp, #160]
	mov	x0, #0
	checkx	19, 0, 0
	checkx	20, 8, 1
	checkx	21, 16, 2
	checkx	22, 24, 3
	checkx	23, 32, 4
	checkx	24, 40, 5
	checkx	25, 48, 6
	checkx	26, 56, 7
	checkx	27, 64, 8
	checkx	28, 72, 9
	checkd	8, 80, 10
	checkd	9, 88, 11
	checkd	10, 96, 12
	checkd	11, 104, 13
	checkd	12, 112, 14
	checkd	13, 120, 15
	checkd	14, 128, 16
	checkd	15, 136, 17
	mov	x3, sp
	cmp	x29, x3
	cset	x4, ne
	orr	x0, x0, x4, lsl #18

	ldp	x19, x20, [sp, #16]
	ldp	x21, x22, [sp, #32]
	ldp	x23, x24, [sp, #48]
	ldp	x25, x26, [sp, #64]
	ldp	x27, x28, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	ldp	x29, x30, [sp], #176
	.cfi_restore x29
	.cfi_restore x30
	.cfi_def_cfa_offset 0
	ret
	.cfi_endproc
	.size	regs_hold_across, .-regs_hold_across

	.globl	regs_clobber
	.type	regs_clobber, %function
regs_clobber:
	.cfi_startproc
	mov	x9, #0x5a5a
	movk	x9, #0x5a5a, lsl #16
	movk	x9, #0x5a5a, lsl #32
	movk	x9, #0x5a5a, lsl #48
	mov	x19, x9
	mov	x20, x9
	mov	x21, x9
	mov	x22, x9
	mov	x23, x9
	mov	x24, x9
	mov	x25, x9
	mov	x26, x9
	mov	x27, x9
	mov	x28, x9
	fmov	d8, x9
	fmov	d9, x9
	fmov	d10, x9
	fmov	d11, x9
	fmov	d12, x9
	fmov	d13, x9
	fmov	d14, x9
	fmov	d15, x9
	ret
	.cfi_endproc
	.size	regs_clobber, .-regs_clobber

	.section .note.GNU-stack, "", %progbits
