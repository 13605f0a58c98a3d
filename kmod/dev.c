// SPDX-License-Identifier: GPL-2.0
/*
 * dev.c - /dev/gort: the file a gort process feeds its trace records
 * through, and the module's init and exit.
 *
 * A process opens /dev/gort, creates its ring (GORT_IOC_SETUP), maps it,
 * registers each runtime thread (GORT_IOC_REGISTER_THREAD) and from then
 * on appends records without system calls; the module drains them into
 * the gort:* tracepoints (ring.c) and annotates the kernel's context
 * switches of the registered threads (switch.c).  The interface is
 * include/uapi/gort_kmod.h.
 *
 * The ring's pages are allocated here (order-0, zeroed, charged to the
 * opener's memory cgroup), mapped contiguously into the kernel with vmap()
 * for the module's own reads and writes, and inserted into the process's
 * mapping page by page.
 *
 * Lifetime: the ring is created once per file and freed at release.  A
 * mapping holds a reference on the file, and the file one on the module,
 * so release runs only after the process has unmapped the ring (or died),
 * and the module cannot be unloaded before that: rmmod fails with
 * EWOULDBLOCK while any process is attached.  Release stops the
 * background drain, unregisters the file's threads, drains what is left
 * (the last events of a process that was killed are kept) and frees
 * everything.
 *
 * Errors: an unknown command is -ENOTTY; an argument that cannot be read
 * -EFAULT; an argument struct shorter than the first version, a wrong
 * version, a bad geometry or flags -EINVAL; a struct longer than a page,
 * or one with non-zero bytes past what this module knows, -E2BIG (as for
 * openat2 and clone3); anything but setup, stats and close on a file that
 * is not set up -EINVAL; a second setup -EBUSY; a mapping that is not
 * MAP_SHARED, not at offset 0 or not exactly map_size bytes -EINVAL, and
 * an executable one -EPERM.
 *
 * Lock order: gort_file.lock -> gort_threads_lock (gort.h).
 *
 * Rejected: vmalloc_user() + remap_vmalloc_range() (simpler, but the pages
 * would not be charged to the opener's cgroup, and any user who may open
 * the device could pin unaccounted memory); a ring shared by all
 * processes (one process could fill or corrupt another's events); a
 * device readable by everyone (mode 0600; a site that wants unprivileged
 * gort programs traced grants access with a udev rule).
 */
#include <linux/atomic.h>
#include <linux/bitmap.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "compat.h"
#include "gort.h"

static atomic_t gort_live_files = ATOMIC_INIT(0);

/*
 * The ioctl command without its size bits: the struct's size field
 * versions the argument instead.
 */
#define GORT_IOC_CMD(cmd) ((cmd) & ~(_IOC_SIZEMASK << _IOC_SIZESHIFT))

#define GORT_HEADER_SIZE sizeof(struct gort_kmod_ring)

static int gort_open(struct inode *inode, struct file *file)
{
	struct gort_file *f;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	mutex_init(&f->lock);
	mutex_init(&f->drain_lock);
	INIT_LIST_HEAD(&f->threads_list);
	INIT_DELAYED_WORK(&f->drain_work, gort_drain_work);
	file->private_data = f;
	return nonseekable_open(inode, file);
}

/* The ring, or NULL before setup. */
static struct gort_kmod_ring *gort_ring(struct gort_file *f)
{
	/* acquire: pairs with the release in gort_ring_alloc() */
	return smp_load_acquire(&f->ring);
}

/*
 * Copy an argument struct that starts with { __u32 size; __u32 version; }
 * into dst (ksize bytes); the rules are in the file comment.
 */
static int gort_copy_arg(void *dst, size_t ksize, void __user *uarg)
{
	u32 usize;
	int err;

	if (get_user(usize, (u32 __user *)uarg))
		return -EFAULT;
	if (usize < ksize)
		return -EINVAL;
	if (usize > PAGE_SIZE)
		return -E2BIG;
	err = copy_struct_from_user(dst, ksize, uarg, usize);
	if (err)
		return err;
	if (((u32 *)dst)[1] != GORT_KMOD_VERSION)
		return -EINVAL;
	return 0;
}

/* Bytes of the mapping, and where the slots and the thread table go. */
static size_t gort_layout(u32 nr_slots, u32 nr_threads, u64 *slots_off,
			  u64 *threads_off)
{
	size_t off = GORT_HEADER_SIZE;

	*slots_off = off;
	off += (size_t)nr_slots * sizeof(struct gort_kmod_slot);
	*threads_off = off;
	off += (size_t)nr_threads * sizeof(struct gort_kmod_thread);
	return PAGE_ALIGN(off);
}

static int gort_check_setup(const struct gort_kmod_setup *s)
{
	if (s->flags)
		return -EINVAL;
	if (s->nr_slots < GORT_KMOD_MIN_SLOTS ||
	    s->nr_slots > GORT_KMOD_MAX_SLOTS || !is_power_of_2(s->nr_slots))
		return -EINVAL;
	if (!s->nr_threads || s->nr_threads > GORT_KMOD_MAX_THREADS)
		return -EINVAL;
	if (s->drain_ms > GORT_KMOD_MAX_DRAIN_MS)
		return -EINVAL;
	return 0;
}

/* Allocate and map f's pages and fill in the header; f->lock held. */
static int gort_ring_alloc(struct gort_file *f, const struct gort_kmod_setup *s,
			   size_t map_size, u64 slots_off, u64 threads_off)
{
	unsigned int i, nr_pages = map_size >> PAGE_SHIFT;
	struct gort_kmod_ring *ring;
	struct page **pages;
	u32 n;

	pages = kvcalloc(nr_pages, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	for (i = 0; i < nr_pages; i++) {
		pages[i] = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
		if (!pages[i])
			goto err_free_pages;
	}
	ring = vmap(pages, nr_pages, VM_MAP, PAGE_KERNEL);
	if (!ring)
		goto err_free_pages;
	f->thread_map = bitmap_zalloc(s->nr_threads, GFP_KERNEL);
	if (!f->thread_map)
		goto err_unmap;

	ring->magic = GORT_KMOD_MAGIC;
	ring->version = GORT_KMOD_VERSION;
	ring->nr_slots = s->nr_slots;
	ring->nr_threads = s->nr_threads;
	ring->slots_off = slots_off;
	ring->threads_off = threads_off;
	f->slots = (void *)ring + slots_off;
	f->threads = (void *)ring + threads_off;
	for (n = 0; n < s->nr_slots; n++)
		f->slots[n].seq = n;
	f->pages = pages;
	f->nr_pages = nr_pages;
	f->map_size = map_size;
	f->nr_slots = s->nr_slots;
	f->nr_threads = s->nr_threads;
	f->drain_period = msecs_to_jiffies(s->drain_ms ? s->drain_ms :
					   GORT_KMOD_DEFAULT_DRAIN_MS);
	if (!f->drain_period)
		f->drain_period = 1;
	/* everything above is visible to whoever sees the ring */
	smp_store_release(&f->ring, ring);
	return 0;

err_unmap:
	vunmap(ring);
err_free_pages:
	while (i--)
		__free_page(pages[i]);
	kvfree(pages);
	return -ENOMEM;
}

static void gort_ring_free(struct gort_file *f)
{
	unsigned int i;

	bitmap_free(f->thread_map);
	vunmap(f->ring);
	for (i = 0; i < f->nr_pages; i++)
		__free_page(f->pages[i]);
	kvfree(f->pages);
	f->ring = NULL;
}

static long gort_ioc_setup(struct gort_file *f,
			   struct gort_kmod_setup __user *uarg)
{
	struct gort_kmod_setup s;
	u64 slots_off, threads_off;
	size_t map_size;
	int err;

	err = gort_copy_arg(&s, sizeof(s), uarg);
	if (err)
		return err;
	err = gort_check_setup(&s);
	if (err)
		return err;
	map_size = gort_layout(s.nr_slots, s.nr_threads, &slots_off,
			       &threads_off);
	/* before anything exists that a failed copy would have to undo */
	if (put_user((u64)map_size, &uarg->map_size))
		return -EFAULT;

	mutex_lock(&f->lock);
	if (f->ring) {
		err = -EBUSY;
		goto out_unlock;
	}
	err = gort_ring_alloc(f, &s, map_size, slots_off, threads_off);
	if (err)
		goto out_unlock;
	atomic_inc(&gort_live_files);
	schedule_delayed_work(&f->drain_work, f->drain_period);
out_unlock:
	mutex_unlock(&f->lock);
	return err;
}

static long gort_ioc_stats(struct gort_file *f,
			   struct gort_kmod_stats __user *uarg)
{
	struct gort_kmod_ring *ring = gort_ring(f);
	struct gort_kmod_stats st;
	int err;

	err = gort_copy_arg(&st, sizeof(st), uarg);
	if (err)
		return err;
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	st.version = GORT_KMOD_VERSION;
	if (ring) {
		mutex_lock(&f->drain_lock);
		st.drained = f->drained;
		mutex_unlock(&f->drain_lock);
		st.dropped = READ_ONCE(ring->dropped);
		mutex_lock(&f->lock);
		st.threads = f->nr_registered;
		mutex_unlock(&f->lock);
	}
	st.live_files = atomic_read(&gort_live_files);
	st.live_threads = gort_live_threads();
	st.switch_probe = gort_switch_active();
	if (copy_to_user(uarg, &st, sizeof(st)))
		return -EFAULT;
	return 0;
}

static long gort_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct gort_file *f = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (GORT_IOC_CMD(cmd)) {
	case GORT_IOC_CMD(GORT_IOC_SETUP):
		return gort_ioc_setup(f, uarg);
	case GORT_IOC_CMD(GORT_IOC_STATS):
		return gort_ioc_stats(f, uarg);
	case GORT_IOC_CMD(GORT_IOC_REGISTER_THREAD):
		if (!gort_ring(f))
			return -EINVAL;
		return gort_thread_register(f);
	case GORT_IOC_CMD(GORT_IOC_UNREGISTER_THREAD):
		if (!gort_ring(f))
			return -EINVAL;
		return gort_thread_unregister(f);
	case GORT_IOC_CMD(GORT_IOC_FLUSH):
		if (!gort_ring(f))
			return -EINVAL;
		return gort_drain(f);
	default:
		return -ENOTTY;
	}
}

static int gort_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct gort_file *f = file->private_data;
	unsigned long addr;
	unsigned int i;
	int err;

	if (!gort_ring(f))
		return -EINVAL;
	if (vma->vm_pgoff || vma->vm_end - vma->vm_start != f->map_size ||
	    !(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	/* never code, never grown by mremap */
	gort_vm_flags_mod(vma, VM_DONTEXPAND, VM_MAYEXEC);
	for (i = 0, addr = vma->vm_start; i < f->nr_pages;
	     i++, addr += PAGE_SIZE) {
		/* on failure the caller unmaps what was inserted */
		err = vm_insert_page(vma, addr, f->pages[i]);
		if (err)
			return err;
	}
	return 0;
}

static int gort_release(struct inode *inode, struct file *file)
{
	struct gort_file *f = file->private_data;

	if (f->ring) {
		cancel_delayed_work_sync(&f->drain_work);
		gort_threads_release(f);
		gort_drain(f);
		gort_ring_free(f);
		atomic_dec(&gort_live_files);
	}
	kfree(f);
	return 0;
}

static const struct file_operations gort_fops = {
	.owner = THIS_MODULE,
	.open = gort_open,
	.release = gort_release,
	.unlocked_ioctl = gort_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = gort_mmap,
	.llseek = noop_llseek,
};

static struct miscdevice gort_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "gort",
	.fops = &gort_fops,
	.mode = 0600,
};

static int __init gort_init(void)
{
	int err;

	/* the layout user space was compiled against */
	BUILD_BUG_ON(sizeof(struct gort_trace_event) != 48);
	BUILD_BUG_ON(sizeof(struct gort_kmod_slot) != 64);
	BUILD_BUG_ON(sizeof(struct gort_kmod_thread) != 64);
	BUILD_BUG_ON(sizeof(struct gort_kmod_ring) != 192);
	BUILD_BUG_ON(sizeof(struct gort_kmod_setup) != 32);
	BUILD_BUG_ON(sizeof(struct gort_kmod_stats) != 40);

	err = gort_switch_init();
	if (err)
		return err;
	err = misc_register(&gort_misc);
	if (err)
		goto err_switch_exit;
	return 0;

err_switch_exit:
	gort_switch_exit();
	return err;
}

static void __exit gort_exit(void)
{
	misc_deregister(&gort_misc);
	gort_switch_exit();
}

module_init(gort_init);
module_exit(gort_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("gort goroutine runtime: /dev/gort and gort:* tracepoints");
