/* SPDX-License-Identifier: GPL-2.0 */
/*
 * compat.h - kernel API differences between 6.1 (Debian 12, the kernel the
 * tests boot) and newer kernels, in one place.
 *
 * Only interfaces gort.ko uses are covered, each keyed on the release that
 * changed it.  Everything else gort.ko calls (misc devices, vmap,
 * vm_insert_page, for_each_kernel_tracepoint, tracepoint_probe_register,
 * copy_struct_from_user, the sched_switch probe prototype with prev_state)
 * is unchanged from 6.1 through at least 6.12.
 *
 * Rejected: probing the kernel with a configure step (the out-of-tree
 * build has only the headers, and LINUX_VERSION_CODE says enough).
 */
#ifndef GORT_KMOD_COMPAT_H
#define GORT_KMOD_COMPAT_H

#include <linux/mm.h>
#include <linux/version.h>

/* vma->vm_flags became read-only in 6.3: changes go through vm_flags_mod. */
static inline void gort_vm_flags_mod(struct vm_area_struct *vma,
				     vm_flags_t set, vm_flags_t clear)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_mod(vma, set, clear);
#else
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
#endif
}

#endif /* GORT_KMOD_COMPAT_H */
