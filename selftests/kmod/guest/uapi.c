// SPDX-License-Identifier: GPL-2.0
/*
 * uapi.c - /dev/gort's interface (include/uapi/gort_kmod.h), and what a
 * process can get wrong with it, run inside the module test's QEMU guest
 * with gort.ko loaded and the gort:* events enabled.
 *
 * Covered: unknown commands (-ENOTTY), unreadable and unwritable
 * arguments (-EFAULT, and no half-made ring after one), short, long and
 * versioned argument structs (-EINVAL, -E2BIG), ring geometry limits,
 * double setup (-EBUSY), calls before setup, every wrong way to map the
 * ring, thread registration rules, records drained into the tracepoints
 * (read back from tracefs), a full ring counting drops, a ring scribbled
 * over by its process, producers and registrations racing the drain, a
 * process killed or exiting with the device open (release frees and
 * unregisters everything and still emits what was left), and unloading
 * the module while a process has the ring mapped (refused; allowed once
 * the process is gone; the module then loads again).  The unload test
 * needs GORT_KMOD_PATH (the .ko to load back) and runs last.
 *
 * The kselftest harness of Linux 6.1 runs fixture setup before a SKIP
 * can stop a test, so each test opens the device itself (OPEN_DEV).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
/* the runtime's producer, as lib/trace_kmod.c uses it */
#include "../../../lib/trace_kmod.h"

#define TRACEFS "/sys/kernel/tracing"

/* Open /dev/gort into fd, or skip the test when the module is absent. */
#define OPEN_DEV(fd) do {						\
	fd = open(GORT_KMOD_DEVICE, O_RDWR | O_CLOEXEC);		\
	if (fd < 0 && errno == ENOENT)					\
		SKIP(return, "%s missing: gort.ko not loaded",		\
		     GORT_KMOD_DEVICE);					\
	ASSERT_LE(0, fd) {						\
		TH_LOG("open %s: %s", GORT_KMOD_DEVICE,		\
		       strerror(errno));				\
	}								\
} while (0)

/* ioctl() as 0/count or -errno. */
static long xioctl(int fd, unsigned long cmd, void *arg)
{
	long r = ioctl(fd, cmd, arg);

	return r < 0 ? -errno : r;
}

static void setup_init(struct gort_kmod_setup *s, uint32_t slots,
		       uint32_t threads)
{
	memset(s, 0, sizeof(*s));
	s->size = sizeof(*s);
	s->version = GORT_KMOD_VERSION;
	s->nr_slots = slots;
	s->nr_threads = threads;
}

static long do_setup(int fd, uint32_t slots, uint32_t threads,
		     uint64_t *map_size)
{
	struct gort_kmod_setup s;
	long r;

	setup_init(&s, slots, threads);
	r = xioctl(fd, GORT_IOC_SETUP, &s);
	if (map_size)
		*map_size = s.map_size;
	return r;
}

static long do_stats(int fd, struct gort_kmod_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->version = GORT_KMOD_VERSION;
	return xioctl(fd, GORT_IOC_STATS, st);
}

/* A mapped ring. */
struct ring {
	void *map;
	size_t size;
	struct gort_kmod_ring *hdr;
	struct gort_kmod_slot *slots;
	struct gort_kmod_thread *threads;
	uint32_t mask;
};

/*
 * Set up fd with the given geometry and map it; 0 or -errno.  The
 * background drain runs once a second, so that the tests' own flushes do
 * most of the draining; the checks hold whoever drains.
 */
static int ring_open(int fd, uint32_t slots, uint32_t threads,
		     struct ring *r)
{
	struct gort_kmod_setup s;
	uint64_t size;

	setup_init(&s, slots, threads);
	s.drain_ms = 1000;
	if (ioctl(fd, GORT_IOC_SETUP, &s))
		return -errno;
	size = s.map_size;
	r->map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (r->map == MAP_FAILED)
		return -errno;
	r->size = size;
	r->hdr = r->map;
	r->slots = (void *)((char *)r->map + r->hdr->slots_off);
	r->threads = (void *)((char *)r->map + r->hdr->threads_off);
	r->mask = r->hdr->nr_slots - 1;
	return 0;
}

static bool ring_put(struct ring *r, uint32_t kind, uint64_t goid,
		     uint64_t arg0, uint64_t arg1)
{
	struct gort_trace_event ev = {
		.ts_ns = 1,
		.goid = goid,
		.kind = kind,
		.p = 0,
		.m = 0,
		.tid = (uint32_t)syscall(SYS_gettid),
		.arg = { arg0, arg1 },
	};

	return gort_kmod_ring_put(r->hdr, r->slots, r->mask, &ev);
}

/* ---- tracefs ---- */

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -EIO;
}

/* Turn the gort events and tracing on; false if there is no tracefs. */
static bool trace_on(void)
{
	return !write_file(TRACEFS "/events/gort/enable", "1") &&
	       !write_file(TRACEFS "/tracing_on", "1");
}

/* Does the trace buffer hold a line containing both a and b? */
static bool trace_has(const char *a, const char *b)
{
	FILE *f = fopen(TRACEFS "/trace", "re");
	char line[512];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, a) && (!b || strstr(line, b));
	fclose(f);
	return found;
}

/* Wait up to 3 s for the module-wide counts to drop to zero. */
static bool wait_module_idle(struct gort_kmod_stats *st)
{
	int fd = open(GORT_KMOD_DEVICE, O_RDWR | O_CLOEXEC), i;

	if (fd < 0)
		return false;
	for (i = 0; i < 300; i++) {
		if (do_stats(fd, st))
			break;
		if (!st->live_files && !st->live_threads) {
			close(fd);
			return true;
		}
		usleep(10000);
	}
	close(fd);
	return false;
}

/* ---- commands and arguments ---- */

TEST(stats_before_setup)
{
	struct gort_kmod_stats st;
	int fd;

	OPEN_DEV(fd);
	ASSERT_EQ(0, do_stats(fd, &st));
	EXPECT_EQ(sizeof(st), st.size);
	EXPECT_EQ((__u32)GORT_KMOD_VERSION, st.version);
	EXPECT_EQ(0U, st.drained);
	EXPECT_EQ(0U, st.threads);
	/* every kernel this is tested on has sched_switch */
	EXPECT_EQ(1U, st.switch_probe);
	close(fd);
}

TEST(unknown_command_is_enotty)
{
	struct gort_kmod_setup s;
	int fd, buf[64] = { 0 };

	OPEN_DEV(fd);
	setup_init(&s, 64, 1);
	EXPECT_EQ(-ENOTTY, xioctl(fd, _IO(GORT_IOC_BASE, 0x4f), buf));
	EXPECT_EQ(-ENOTTY, xioctl(fd, _IO(GORT_IOC_BASE, 0x3f), buf));
	EXPECT_EQ(-ENOTTY, xioctl(fd, _IO('x', 0x40), buf));
	EXPECT_EQ(-ENOTTY, xioctl(fd, TCGETS, buf));
	/* our number with the wrong direction */
	EXPECT_EQ(-ENOTTY, xioctl(fd, _IOR(GORT_IOC_BASE, 0x40,
					   struct gort_kmod_setup), &s));
	/* the size bits do not matter, the struct's size field does */
	EXPECT_EQ(0, xioctl(fd, _IOWR(GORT_IOC_BASE, 0x40, int[2]), &s));
	close(fd);
}

TEST(bad_pointer_is_efault)
{
	long page = sysconf(_SC_PAGESIZE);
	struct gort_kmod_setup *s;
	char *mem;
	int fd;

	OPEN_DEV(fd);
	mem = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	ASSERT_EQ(0, mprotect(mem + page, page, PROT_NONE));

	EXPECT_EQ(-EFAULT, xioctl(fd, GORT_IOC_SETUP, NULL));
	EXPECT_EQ(-EFAULT, xioctl(fd, GORT_IOC_STATS, NULL));
	EXPECT_EQ(-EFAULT, xioctl(fd, GORT_IOC_SETUP, mem + page));
	/* size and version are readable, the rest is in the guard page */
	s = (void *)(mem + page - 8);
	s->size = sizeof(*s);
	s->version = GORT_KMOD_VERSION;
	EXPECT_EQ(-EFAULT, xioctl(fd, GORT_IOC_SETUP, s));
	/* readable but not writable: map_size cannot be returned ... */
	s = (void *)mem;
	setup_init(s, 64, 1);
	ASSERT_EQ(0, mprotect(mem, page, PROT_READ));
	EXPECT_EQ(-EFAULT, xioctl(fd, GORT_IOC_SETUP, s));
	/* ... and nothing was set up */
	EXPECT_EQ(-EINVAL, xioctl(fd, GORT_IOC_FLUSH, NULL));
	EXPECT_EQ(0, do_setup(fd, 64, 1, NULL));
	munmap(mem, 2 * page);
	close(fd);
}

TEST(short_size_is_einval)
{
	static const uint32_t sizes[] = { 0, 4, 8, 31 };
	struct gort_kmod_setup s;
	struct gort_kmod_stats st;
	unsigned int i;
	int fd;

	OPEN_DEV(fd);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		setup_init(&s, 64, 1);
		s.size = sizes[i];
		EXPECT_EQ(-EINVAL, xioctl(fd, GORT_IOC_SETUP, &s)) {
			TH_LOG("size %u", sizes[i]);
		}
	}
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st) - 1;
	st.version = GORT_KMOD_VERSION;
	EXPECT_EQ(-EINVAL, xioctl(fd, GORT_IOC_STATS, &st));
	close(fd);
}

TEST(long_size_needs_zero_tail)
{
	long page = sysconf(_SC_PAGESIZE);
	struct gort_kmod_setup *s;
	char *buf;
	int fd;

	buf = calloc(1, 3 * page);
	ASSERT_NE(NULL, buf);
	s = (void *)buf;

	/* a newer caller's longer struct, unknown part zero: accepted */
	OPEN_DEV(fd);
	setup_init(s, 64, 1);
	s->size = 64;
	EXPECT_EQ(0, xioctl(fd, GORT_IOC_SETUP, s));
	EXPECT_NE(0U, s->map_size);
	close(fd);

	/* unknown part not zero: a request this module cannot honour */
	OPEN_DEV(fd);
	setup_init(s, 64, 1);
	s->size = 64;
	buf[40] = 1;
	EXPECT_EQ(-E2BIG, xioctl(fd, GORT_IOC_SETUP, s));
	buf[40] = 0;
	/* longer than a page */
	s->size = 2 * page;
	EXPECT_EQ(-E2BIG, xioctl(fd, GORT_IOC_SETUP, s));
	s->size = UINT32_MAX;
	EXPECT_EQ(-E2BIG, xioctl(fd, GORT_IOC_SETUP, s));
	close(fd);
	free(buf);
}

TEST(bad_version_or_flags_is_einval)
{
	struct gort_kmod_setup s;
	struct gort_kmod_stats st;
	int fd;

	OPEN_DEV(fd);
	setup_init(&s, 64, 1);
	s.version = 0;
	EXPECT_EQ(-EINVAL, xioctl(fd, GORT_IOC_SETUP, &s));
	s.version = GORT_KMOD_VERSION + 1;
	EXPECT_EQ(-EINVAL, xioctl(fd, GORT_IOC_SETUP, &s));
	setup_init(&s, 64, 1);
	s.flags = 1;
	EXPECT_EQ(-EINVAL, xioctl(fd, GORT_IOC_SETUP, &s));
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	st.version = 7;
	EXPECT_EQ(-EINVAL, xioctl(fd, GORT_IOC_STATS, &st));
	close(fd);
}

TEST(bad_geometry_is_einval)
{
	static const uint32_t bad_slots[] = { 0, 1, 32, 63, 100, 96,
					      1u << 17, UINT32_MAX };
	static const uint32_t bad_threads[] = { 0, 4097, UINT32_MAX };
	struct gort_kmod_setup s;
	unsigned int i;
	int fd;

	OPEN_DEV(fd);
	for (i = 0; i < sizeof(bad_slots) / sizeof(bad_slots[0]); i++) {
		setup_init(&s, bad_slots[i], 1);
		EXPECT_EQ(-EINVAL, xioctl(fd, GORT_IOC_SETUP, &s)) {
			TH_LOG("nr_slots %u", bad_slots[i]);
		}
	}
	for (i = 0; i < sizeof(bad_threads) / sizeof(bad_threads[0]); i++) {
		setup_init(&s, 64, bad_threads[i]);
		EXPECT_EQ(-EINVAL, xioctl(fd, GORT_IOC_SETUP, &s)) {
			TH_LOG("nr_threads %u", bad_threads[i]);
		}
	}
	setup_init(&s, 64, 1);
	s.drain_ms = 1001;
	EXPECT_EQ(-EINVAL, xioctl(fd, GORT_IOC_SETUP, &s));
	close(fd);

	/* the limits themselves are fine */
	OPEN_DEV(fd);
	EXPECT_EQ(0, do_setup(fd, GORT_KMOD_MAX_SLOTS,
			      GORT_KMOD_MAX_THREADS, NULL));
	close(fd);
}

TEST(double_setup_is_ebusy)
{
	struct gort_kmod_stats st;
	struct ring r;
	int fd;

	OPEN_DEV(fd);
	ASSERT_EQ(0, ring_open(fd, 64, 2, &r));
	EXPECT_EQ(-EBUSY, do_setup(fd, 64, 2, NULL));
	EXPECT_EQ(-EBUSY, do_setup(fd, 128, 4, NULL));
	/* the first ring is intact */
	EXPECT_EQ(64U, r.hdr->nr_slots);
	EXPECT_TRUE(ring_put(&r, GORT_EV_USER_LOG, 1, 2, 3));
	EXPECT_LE(0, xioctl(fd, GORT_IOC_FLUSH, NULL));
	ASSERT_EQ(0, do_stats(fd, &st));
	EXPECT_EQ(1U, st.drained);
	munmap(r.map, r.size);
	close(fd);
}

TEST(calls_before_setup_are_einval)
{
	void *p;
	int fd;

	OPEN_DEV(fd);
	EXPECT_EQ(-EINVAL, xioctl(fd, GORT_IOC_REGISTER_THREAD, NULL));
	EXPECT_EQ(-EINVAL, xioctl(fd, GORT_IOC_UNREGISTER_THREAD, NULL));
	EXPECT_EQ(-EINVAL, xioctl(fd, GORT_IOC_FLUSH, NULL));
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	close(fd);
}

/* ---- the mapping ---- */

TEST(mmap_must_match_the_ring)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t size;
	char *p, *q;
	uint32_t i;
	struct gort_kmod_ring *h;
	int fd;

	OPEN_DEV(fd);
	ASSERT_EQ(0, do_setup(fd, 128, 3, &size));
	ASSERT_EQ(0U, size % page);

	p = mmap(NULL, size - page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, size + page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, page);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, size, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EPERM, errno);

	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	h = (void *)p;
	EXPECT_EQ((__u32)GORT_KMOD_MAGIC, h->magic);
	EXPECT_EQ((__u32)GORT_KMOD_VERSION, h->version);
	EXPECT_EQ(128U, h->nr_slots);
	EXPECT_EQ(3U, h->nr_threads);
	EXPECT_LE(sizeof(*h), h->slots_off);
	EXPECT_LE(h->slots_off + 128 * sizeof(struct gort_kmod_slot),
		  h->threads_off);
	EXPECT_GE(size, h->threads_off +
		  3 * sizeof(struct gort_kmod_thread));
	for (i = 0; i < 128; i++) {
		struct gort_kmod_slot *sl =
			(void *)(p + h->slots_off + i * sizeof(*sl));

		if (sl->seq != i) {
			EXPECT_EQ(i, sl->seq);
			break;
		}
	}
	/* never executable, never grown */
	EXPECT_EQ(-1, mprotect(p, page, PROT_READ | PROT_EXEC));
	EXPECT_EQ(EACCES, errno);
	q = mremap(p, size, size + page, MREMAP_MAYMOVE);
	EXPECT_EQ(MAP_FAILED, q);

	/* a second mapping shows the same pages; read-only is allowed */
	q = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, q);
	h->reserved0[0] = 0x1234;
	EXPECT_EQ(0x1234U, ((struct gort_kmod_ring *)q)->reserved0[0]);
	munmap(q, size);
	munmap(p, size);
	close(fd);
}

/* ---- threads ---- */

struct reg_arg {
	int fd;
	long ret;
};

static void *register_thread(void *p)
{
	struct reg_arg *a = p;

	a->ret = xioctl(a->fd, GORT_IOC_REGISTER_THREAD, NULL);
	return NULL;
}

TEST(thread_registration_rules)
{
	struct gort_kmod_stats st;
	struct reg_arg a;
	pthread_t th;
	struct ring r;
	int fd, fd2;

	OPEN_DEV(fd);
	ASSERT_EQ(0, ring_open(fd, 64, 1, &r));
	EXPECT_EQ(0, xioctl(fd, GORT_IOC_REGISTER_THREAD, NULL));
	EXPECT_EQ(-EBUSY, xioctl(fd, GORT_IOC_REGISTER_THREAD, NULL));
	ASSERT_EQ(0, do_stats(fd, &st));
	EXPECT_EQ(1U, st.threads);

	/* the table has one entry: a second thread gets none */
	a.fd = fd;
	ASSERT_EQ(0, pthread_create(&th, NULL, register_thread, &a));
	pthread_join(th, NULL);
	EXPECT_EQ(-ENOSPC, a.ret);

	/* a thread is registered once, module-wide */
	OPEN_DEV(fd2);
	ASSERT_EQ(0, do_setup(fd2, 64, 4, NULL));
	EXPECT_EQ(-EBUSY, xioctl(fd2, GORT_IOC_REGISTER_THREAD, NULL));
	EXPECT_EQ(-ENOENT, xioctl(fd2, GORT_IOC_UNREGISTER_THREAD, NULL));

	EXPECT_EQ(0, xioctl(fd, GORT_IOC_UNREGISTER_THREAD, NULL));
	EXPECT_EQ(-ENOENT, xioctl(fd, GORT_IOC_UNREGISTER_THREAD, NULL));
	ASSERT_EQ(0, do_stats(fd, &st));
	EXPECT_EQ(0U, st.threads);
	/* the freed entry is handed out again, on either file */
	EXPECT_EQ(0, xioctl(fd2, GORT_IOC_REGISTER_THREAD, NULL));
	EXPECT_EQ(0, xioctl(fd2, GORT_IOC_UNREGISTER_THREAD, NULL));
	EXPECT_EQ(0, xioctl(fd, GORT_IOC_REGISTER_THREAD, NULL));
	close(fd2);
	munmap(r.map, r.size);
	/* closing with a thread registered unregisters it */
	close(fd);
	EXPECT_TRUE(wait_module_idle(&st)) {
		TH_LOG("live files %u, threads %u", st.live_files,
		       st.live_threads);
	}
}

/* ---- records ---- */

TEST(flush_emits_tracepoints)
{
	struct gort_kmod_stats st;
	struct ring r;
	uint64_t mark = 0x5eed0000 + (uint64_t)getpid();
	char want[64], want2[64];
	int fd, i;

	OPEN_DEV(fd);
	if (!trace_on())
		SKIP(goto out, "no tracefs at " TRACEFS);
	ASSERT_EQ(0, ring_open(fd, 64, 1, &r));
	for (i = 0; i < 10; i++)
		ASSERT_TRUE(ring_put(&r, GORT_EV_USER_LOG, 77, mark, i));
	ASSERT_TRUE(ring_put(&r, GORT_EV_GO_BLOCK, 78, GORT_BLOCK_SELECT,
			     0));
	ASSERT_TRUE(ring_put(&r, 999, 79, mark, 1));
	EXPECT_LE(0, xioctl(fd, GORT_IOC_FLUSH, NULL));
	EXPECT_EQ(0, xioctl(fd, GORT_IOC_FLUSH, NULL));
	ASSERT_EQ(0, do_stats(fd, &st));
	EXPECT_EQ(12U, st.drained);
	EXPECT_EQ(0U, st.dropped);
	EXPECT_EQ(12U, r.hdr->tail);
	EXPECT_EQ(12U, r.hdr->drained);
	/* drained slots are handed back for the next lap */
	EXPECT_EQ(64U, r.slots[0].seq);
	EXPECT_EQ(12U, r.slots[12].seq);

	snprintf(want, sizeof(want), "arg0=%llu arg1=9",
		 (unsigned long long)mark);
	EXPECT_TRUE(trace_has("user_log: ", want)) {
		TH_LOG("no user_log line with %s", want);
	}
	EXPECT_TRUE(trace_has("go_block: ", "goid=78 ")) {
		TH_LOG("no go_block line for goid 78");
	}
	EXPECT_TRUE(trace_has("go_block: ", "reason=select")) {
		TH_LOG("go_block does not name its reason");
	}
	snprintf(want2, sizeof(want2), "kind=999 arg0=%llu",
		 (unsigned long long)mark);
	EXPECT_TRUE(trace_has("unknown: ", want2)) {
		TH_LOG("no gort:unknown line with %s", want2);
	}
	munmap(r.map, r.size);
out:
	close(fd);
}

TEST(full_ring_drops_and_counts)
{
	struct gort_kmod_stats st;
	struct ring r;
	int fd, i, kept = 0;

	OPEN_DEV(fd);
	ASSERT_EQ(0, ring_open(fd, 64, 1, &r));
	for (i = 0; i < 70; i++)
		kept += ring_put(&r, GORT_EV_USER_LOG, 1, i, 0);
	/* a drain may have run between two puts: then fewer drops */
	EXPECT_EQ(70, kept + (int)r.hdr->dropped);
	EXPECT_LE(64, kept);
	ASSERT_EQ(0, do_stats(fd, &st));
	EXPECT_EQ(r.hdr->dropped, st.dropped);
	xioctl(fd, GORT_IOC_FLUSH, NULL);
	ASSERT_EQ(0, do_stats(fd, &st));
	EXPECT_EQ((uint64_t)kept, st.drained);
	/* room again */
	EXPECT_TRUE(ring_put(&r, GORT_EV_USER_LOG, 1, 70, 0));
	EXPECT_LE(0, xioctl(fd, GORT_IOC_FLUSH, NULL));
	ASSERT_EQ(0, do_stats(fd, &st));
	EXPECT_EQ((uint64_t)kept + 1, st.drained);
	munmap(r.map, r.size);
	close(fd);
}

TEST(scribbled_ring_is_harmless)
{
	struct gort_kmod_stats st;
	struct ring r;
	uint64_t x = 0x9e3779b97f4a7c15ull, before;
	long n;
	uint32_t i;
	int fd;

	OPEN_DEV(fd);
	ASSERT_EQ(0, ring_open(fd, 64, 2, &r));
	ASSERT_EQ(0, xioctl(fd, GORT_IOC_REGISTER_THREAD, NULL));
	/* garbage everywhere, including the thread table's goids */
	for (i = 0; i < r.size / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		((uint64_t *)r.map)[i] = x;
	}
	n = xioctl(fd, GORT_IOC_FLUSH, NULL);
	EXPECT_LE(0, n);
	EXPECT_GE(64, n);
	usleep(20000);		/* context switches read the goid */

	/*
	 * Every slot claims to hold its record, with nonsense inside: the
	 * drains take exactly one ring's worth and stop.
	 */
	ASSERT_EQ(0, do_stats(fd, &st));
	before = st.drained;
	for (i = 0; i < 64; i++) {
		uint64_t pos = before + i;

		__atomic_store_n(&r.slots[pos & 63].seq, pos + 1,
				 __ATOMIC_RELEASE);
	}
	EXPECT_LE(0, xioctl(fd, GORT_IOC_FLUSH, NULL));
	EXPECT_EQ(0, xioctl(fd, GORT_IOC_FLUSH, NULL));
	ASSERT_EQ(0, do_stats(fd, &st));
	EXPECT_EQ(before + 64, st.drained);
	munmap(r.map, r.size);
	close(fd);
	EXPECT_TRUE(wait_module_idle(&st));
}

#define RACE_THREADS 4
#define RACE_RECORDS 3000

struct race {
	int fd;
	struct ring *r;
	long reg_err;		/* first registration error */
	_Atomic int running;
	_Atomic uint64_t kept;
};

static void *race_thread(void *p)
{
	struct race *rc = p;
	struct gort_kmod_thread *self = NULL;
	uint64_t kept = 0;
	long idx;
	int i;

	for (i = 0; i < RACE_RECORDS; i++) {
		if (i % 500 == 0) {
			/* register and unregister while others drain */
			if (self)
				xioctl(rc->fd, GORT_IOC_UNREGISTER_THREAD,
				       NULL);
			idx = xioctl(rc->fd, GORT_IOC_REGISTER_THREAD, NULL);
			if (idx < 0) {
				__atomic_store_n(&rc->reg_err, idx,
						 __ATOMIC_RELAXED);
				self = NULL;
			} else {
				self = &rc->r->threads[idx];
			}
		}
		if (self)
			__atomic_store_n(&self->goid, (uint64_t)i + 1,
					 __ATOMIC_RELAXED);
		kept += ring_put(rc->r, GORT_EV_GO_START, (uint64_t)i + 1, 0,
				 0);
		if (i % 100 == 0)
			usleep(100);
	}
	if (self)
		xioctl(rc->fd, GORT_IOC_UNREGISTER_THREAD, NULL);
	atomic_fetch_add(&rc->kept, kept);
	atomic_fetch_sub(&rc->running, 1);
	return NULL;
}

TEST(producers_race_the_drain)
{
	struct gort_kmod_stats st;
	pthread_t th[RACE_THREADS];
	struct race rc = { 0 };
	struct ring r;
	int fd, i;

	OPEN_DEV(fd);
	ASSERT_EQ(0, ring_open(fd, 256, RACE_THREADS, &r));
	rc.fd = fd;
	rc.r = &r;
	atomic_store(&rc.running, RACE_THREADS);
	for (i = 0; i < RACE_THREADS; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, race_thread, &rc));
	while (atomic_load(&rc.running) > 0)
		xioctl(fd, GORT_IOC_FLUSH, NULL);
	for (i = 0; i < RACE_THREADS; i++)
		pthread_join(th[i], NULL);
	xioctl(fd, GORT_IOC_FLUSH, NULL);

	EXPECT_EQ(0, rc.reg_err);
	ASSERT_EQ(0, do_stats(fd, &st));
	EXPECT_EQ(atomic_load(&rc.kept), st.drained);
	EXPECT_EQ((uint64_t)RACE_THREADS * RACE_RECORDS,
		  st.drained + st.dropped);
	EXPECT_EQ(0U, st.threads);
	munmap(r.map, r.size);
	close(fd);
}

/* ---- processes that go away ---- */

static _Atomic int sleepy_registered;

static void *sleepy_thread(void *p)
{
	int fd = *(int *)p;

	if (xioctl(fd, GORT_IOC_REGISTER_THREAD, NULL) >= 0)
		atomic_fetch_add(&sleepy_registered, 1);
	for (;;)
		usleep(1000);
	return NULL;
}

/*
 * Child: set up a ring, keep it mapped, register three threads, leave
 * `records` records unflushed with arg0 = mark, close the descriptor if
 * close_fd, then report on pipe wfd and either sleep or _exit(0).
 */
static void attached_child(int wfd, uint64_t mark, int records,
			   bool close_fd, bool do_exit)
{
	pthread_t th[2];
	struct ring r;
	int fd, i;
	char c = 'x';

	fd = open(GORT_KMOD_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd < 0 || ring_open(fd, 64, 4, &r))
		_exit(3);
	if (xioctl(fd, GORT_IOC_REGISTER_THREAD, NULL) < 0)
		_exit(4);
	r.threads[0].goid = 4242;
	for (i = 0; i < 2; i++)
		if (pthread_create(&th[i], NULL, sleepy_thread, &fd))
			_exit(5);
	while (atomic_load(&sleepy_registered) < 2)
		usleep(1000);
	for (i = 0; i < records; i++)
		ring_put(&r, GORT_EV_USER_LOG, 4242, mark, (uint64_t)i);
	if (close_fd)
		close(fd);
	if (write(wfd, &c, 1) != 1)
		_exit(6);
	if (do_exit)
		_exit(0);
	for (;;)
		usleep(1000);
}

/* Fork an attached child; returns its pid once it is set up, or -1. */
static pid_t start_attached(uint64_t mark, int records, bool close_fd,
			    bool do_exit)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		attached_child(p[1], mark, records, close_fd, do_exit);
	}
	close(p[1]);
	if (pid > 0 && read(p[0], &c, 1) != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(p[0]);
	return pid;
}

TEST(process_killed_with_device_open)
{
	uint64_t mark = 0x6b110000 + (uint64_t)getpid();
	struct gort_kmod_stats st;
	char want[64];
	pid_t pid;
	int fd, status;

	OPEN_DEV(fd);
	trace_on();
	pid = start_attached(mark, 5, false, false);
	ASSERT_LT(0, pid);
	EXPECT_EQ(0, do_stats(fd, &st));
	EXPECT_EQ(1U, st.live_files);
	EXPECT_EQ(3U, st.live_threads);
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status));
	close(fd);
	EXPECT_TRUE(wait_module_idle(&st)) {
		TH_LOG("after the kill: live files %u, threads %u",
		       st.live_files, st.live_threads);
	}
	/* release emitted what the process left in its ring */
	snprintf(want, sizeof(want), "arg0=%llu arg1=4",
		 (unsigned long long)mark);
	EXPECT_TRUE(trace_has("user_log: ", want)) {
		TH_LOG("the killed process's last records were lost");
	}
}

TEST(process_exits_with_device_open)
{
	struct gort_kmod_stats st;
	pid_t pid;
	int status;

	pid = start_attached(0, 3, false, true);
	if (pid < 0 && access(GORT_KMOD_DEVICE, F_OK))
		SKIP(return, "%s missing", GORT_KMOD_DEVICE);
	ASSERT_LT(0, pid);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		TH_LOG("child status 0x%x", status);
	}
	EXPECT_TRUE(wait_module_idle(&st)) {
		TH_LOG("after the exit: live files %u, threads %u",
		       st.live_files, st.live_threads);
	}
}

/* ---- module unload (last: the module goes away and comes back) ---- */

static long delete_module(const char *name, int flags)
{
	return syscall(SYS_delete_module, name, flags) ? -errno : 0;
}

TEST(unload_while_attached)
{
	const char *path = getenv("GORT_KMOD_PATH");
	struct gort_kmod_stats st;
	struct stat sb;
	pid_t pid;
	int fd, i, ko;
	long err;

	if (!path)
		SKIP(return, "GORT_KMOD_PATH not set: nothing to load back");
	if (access(GORT_KMOD_DEVICE, F_OK))
		SKIP(return, "%s missing", GORT_KMOD_DEVICE);
	trace_on();
	/* the child closes its descriptor: the mapping alone holds on */
	pid = start_attached(1, 3, true, false);
	ASSERT_LT(0, pid);
	EXPECT_EQ(-EWOULDBLOCK, delete_module("gort", O_NONBLOCK));
	EXPECT_EQ(0, stat(GORT_KMOD_DEVICE, &sb));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);

	/* nothing attached: the module goes */
	for (i = 0; i < 100; i++) {
		err = delete_module("gort", O_NONBLOCK);
		if (err != -EWOULDBLOCK)
			break;
		usleep(20000);
	}
	ASSERT_EQ(0, err);
	EXPECT_EQ(-1, stat(GORT_KMOD_DEVICE, &sb));
	EXPECT_EQ(ENOENT, errno);

	/* and loads again, clean */
	ko = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, ko);
	ASSERT_EQ(0, syscall(SYS_finit_module, ko, "", 0)) {
		TH_LOG("finit_module %s: %s", path, strerror(errno));
	}
	close(ko);
	fd = open(GORT_KMOD_DEVICE, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, do_stats(fd, &st));
	EXPECT_EQ(0U, st.live_files);
	EXPECT_EQ(0U, st.live_threads);
	close(fd);
}

TEST_HARNESS_MAIN
