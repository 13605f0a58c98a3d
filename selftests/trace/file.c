// SPDX-License-Identifier: GPL-2.0
/*
 * file.c - gort_trace_start/gort_trace_stop and GORT_TRACE=FILE write a
 * trace file that holds exactly the events of what was traced.
 *
 *  - start_stop: around workload.h's run, the file has a valid header and
 *    whole records only, exactly the workload's goroutine creations, ends,
 *    sleeps and channel parks, timestamps that never go back within one
 *    thread's records, none from before the start; a second start is
 *    -EBUSY, a stop with nothing traced is 0;
 *  - env_whole_run: GORT_TRACE=FILE (in a forked child) traces a whole
 *    gort_main run, from its procs_change and goroutine 1's creation to
 *    goroutine 1's end;
 *  - env_bad: an empty GORT_TRACE or a path that cannot be created is a
 *    one-line error and exit status 2;
 *  - bad_fd: -EBADF;
 *  - pipe_to_own_goroutine: a trace written to a pipe that a goroutine of
 *    the same program reads, larger than the pipe's buffer (events fire
 *    under scheduler locks: a sink that wrote from the emitting thread
 *    would deadlock here);
 *  - deadlock_still_detected: the trace writer thread is not taken for a
 *    foreign thread that could still wake a goroutine, so a deadlock under
 *    GORT_TRACE is still reported (exit 2) instead of hanging;
 *  - stop_under_load: 30 starts and stops while goroutines on every P
 *    emit without pause: each file is whole, and holds no record from
 *    before its start or after its stop (an append that missed the stop
 *    would land in a freed buffer, or in the next trace);
 *  - clock_follows_monotonic: the records' clock (the CPU counter where
 *    the kernel's clock is that counter, lib/trace.c) agrees with
 *    gort_nanotime: a goroutine's sleeps, each between two gort_nanotime
 *    readings, block and resume at times within those readings (give or
 *    take CLOCK_SLACK_NS), over a trace long enough for sysmon to
 *    re-anchor the clock; a wrong counter rate is off by milliseconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace.h"

#include "kselftest_harness.h"
#include "gort_test.h"
#include "workload.h"

#define PROCS 2

/* ---- reading a trace file ---- */

struct trace {
	struct gort_trace_file_header h;
	struct gort_trace_event *ev;	/* every batch's records, in file order */
	size_t n;
	size_t nbatch;
	size_t tail;		/* bytes after the last whole batch */
	const char *bad;	/* the first malformed batch, or NULL */
};

/*
 * Read the trace in fd (from offset 0), batch by batch, checking each
 * batch header against its records; 0 or -errno.
 */
static int trace_read(int fd, struct trace *t)
{
	const size_t rs = sizeof(struct gort_trace_event);
	uint64_t last_seq[256];
	struct stat st;
	size_t off;
	char *buf;
	ssize_t got;

	memset(t, 0, sizeof(*t));
	memset(last_seq, 0xff, sizeof(last_seq));
	if (fstat(fd, &st))
		return -errno;
	if ((size_t)st.st_size < sizeof(t->h))
		return -EINVAL;
	buf = malloc((size_t)st.st_size);
	t->ev = malloc((size_t)st.st_size + 1);
	if (!buf || !t->ev) {
		free(buf);
		return -ENOMEM;
	}
	got = pread(fd, buf, (size_t)st.st_size, 0);
	if (got != st.st_size) {
		free(buf);
		return -EIO;
	}
	memcpy(&t->h, buf, sizeof(t->h));
	for (off = sizeof(t->h); off + rs <= (size_t)st.st_size;) {
		struct gort_trace_batch bh;
		const struct gort_trace_event *ev;

		memcpy(&bh, buf + off, sizeof(bh));
		if (bh.magic != GORT_TRACE_BATCH_MAGIC || !bh.nrec ||
		    bh.nrec > GORT_TRACE_BATCH_MAX) {
			t->bad = "a batch header with a bad magic or count";
			break;
		}
		if (off + rs + bh.nrec * rs > (size_t)st.st_size)
			break;
		ev = (const void *)(buf + off + rs);
		if (ev[0].ts_ns != bh.first_ns ||
		    ev[bh.nrec - 1].ts_ns != bh.last_ns) {
			t->bad = "a batch whose first_ns/last_ns disagree";
			break;
		}
		if (bh.stream < 256) {
			if (last_seq[bh.stream] != UINT64_MAX &&
			    bh.seq <= last_seq[bh.stream]) {
				t->bad = "a stream whose seq goes back";
				break;
			}
			last_seq[bh.stream] = bh.seq;
		}
		memcpy(&t->ev[t->n], ev, bh.nrec * rs);
		t->n += bh.nrec;
		t->nbatch++;
		off += rs + bh.nrec * rs;
	}
	t->tail = (size_t)st.st_size - off;
	free(buf);
	return 0;
}

static long count(const struct trace *t, uint32_t kind, uint64_t goid,
		  uint64_t a0)
{
	long c = 0;
	size_t i;

	for (i = 0; i < t->n; i++)
		c += t->ev[i].kind == kind &&
		     (goid == UINT64_MAX || t->ev[i].goid == goid) &&
		     (a0 == UINT64_MAX || t->ev[i].arg[0] == a0);
	return c;
}
#define ANY UINT64_MAX

/* Check what every trace must satisfy; returns a reason or NULL. */
static const char *trace_sane(const struct trace *t, char *why, size_t len)
{
	size_t i, j;

	if (memcmp(t->h.magic, GORT_TRACE_MAGIC, sizeof(t->h.magic)))
		return "bad magic";
	if (t->h.version != GORT_TRACE_VERSION)
		return "bad version";
	if (t->h.record_size != sizeof(struct gort_trace_event))
		return "bad record size";
	if (t->bad)
		return t->bad;
	if (t->tail)
		return "a partial batch at the end";
	for (i = 0; i < t->n; i++) {
		const struct gort_trace_event *e = &t->ev[i];

		if (e->kind == GORT_EV_NONE || e->kind >= GORT_EV_KIND_COUNT) {
			snprintf(why, len, "record %zu: kind %u", i, e->kind);
			return why;
		}
		if (e->ts_ns < t->h.start_ns) {
			snprintf(why, len, "record %zu: before the start", i);
			return why;
		}
		/*
		 * Within one thread the file keeps its order.  (A proc_stop
		 * that sysmon reports names the M it took the P from, but
		 * sits among sysmon's records: left out.)
		 */
		if (e->kind == GORT_EV_PROC_STOP)
			continue;
		for (j = i; j-- > 0;) {
			if (t->ev[j].tid != e->tid ||
			    t->ev[j].kind == GORT_EV_PROC_STOP)
				continue;
			if (t->ev[j].ts_ns > e->ts_ns) {
				snprintf(why, len,
					 "record %zu: thread %u went back in time",
					 i, e->tid);
				return why;
			}
			break;
		}
	}
	return NULL;
}

#define ASSERT_SANE(t) do {						\
	char why_[128];							\
	const char *r_ = trace_sane(t, why_, sizeof(why_));		\
									\
	ASSERT_EQ(NULL, r_) TH_LOG("%s", r_);				\
} while (0)

static int tmp_fd(void)
{
	char path[] = "/tmp/gort-trace-XXXXXX";
	int fd = mkstemp(path);

	if (fd >= 0)
		unlink(path);
	return fd;
}

/* ---- start_stop ---- */

static int trace_fd;
static uint64_t main_goid;

/*
 * Run main_fn (which traces into trace_fd) under PROCS Ps, on a fresh
 * temporary file, and read back a sane trace; a failed ASSERT ends the
 * calling test (the harness jumps out).
 */
static void run_traced(struct __test_metadata *_metadata,
		       int (*main_fn)(void *), struct trace *t)
{
	trace_fd = tmp_fd();
	ASSERT_LE(0, trace_fd);
	ASSERT_EQ(0, run_main(PROCS, main_fn, NULL));
	ASSERT_EQ(0, gt_failures());
	ASSERT_EQ(0, trace_read(trace_fd, t));
	ASSERT_SANE(t);
}

static int start_stop_main(void *arg)
{
	main_goid = gort_goid();
	GT_CHECK(gort_trace_start(trace_fd) == 0);
	GT_CHECK(gort_trace_start(trace_fd) == -EBUSY);
	GT_CHECK(wl_run() == 0);
	GT_CHECK(gort_trace_stop() == 0);
	GT_CHECK(gort_trace_stop() == 0);
	return 0;
}

TEST(start_stop)
{
	struct trace t;

	run_traced(_metadata, start_stop_main, &t);
	EXPECT_EQ(0u, gort_trace_dropped());
	/* exactly the workload; goroutine 1 began before, ends after */
	EXPECT_EQ(WL_N, count(&t, GORT_EV_GO_CREATE, main_goid, ANY));
	EXPECT_EQ(WL_N, count(&t, GORT_EV_GO_CREATE, ANY, ANY));
	EXPECT_EQ(WL_N, count(&t, GORT_EV_GO_END, ANY, ANY));
	EXPECT_EQ(0, count(&t, GORT_EV_GO_END, main_goid, ANY));
	EXPECT_EQ(WL_N, count(&t, GORT_EV_GO_BLOCK, ANY, GORT_BLOCK_SLEEP));
	EXPECT_EQ(WL_N, count(&t, GORT_EV_GO_BLOCK, ANY,
			      GORT_BLOCK_CHAN_SEND) +
				count(&t, GORT_EV_GO_BLOCK, ANY,
				      GORT_BLOCK_CHAN_RECV));
	EXPECT_EQ(WL_N, count(&t, GORT_EV_GO_SYSCALL_BEGIN, ANY, ANY));
	EXPECT_LE(WL_N, count(&t, GORT_EV_GO_START, ANY, ANY));
	free(t.ev);
	close(trace_fd);
}

/* ---- GORT_TRACE ---- */

static int workload_main(void *arg)
{
	return wl_run() ? 1 : 0;
}

static int env_child(void *arg)
{
	setenv("GORT_TRACE", arg, 1);
	return run_main(PROCS, workload_main, NULL);
}

TEST(env_whole_run)
{
	char path[] = "/tmp/gort-trace-env-XXXXXX";
	struct gt_child c;
	struct trace t;
	uint64_t main_g = 0;
	long procs = 0;
	size_t i;
	int fd = mkstemp(path);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gt_fork_run(env_child, path, 60, &c));
	EXPECT_TRUE(gt_exited_with(&c, 0)) TH_LOG("stderr: %s", c.err);
	gt_child_free(&c);
	ASSERT_EQ(0, trace_read(fd, &t));
	unlink(path);
	close(fd);
	ASSERT_SANE(&t);
	/* gort_main's own records, from no goroutine, P or M (its thread's
	 * batch is written last, at the stop) */
	for (i = 0; i < t.n; i++) {
		const struct gort_trace_event *e = &t.ev[i];

		if (e->m != -1)
			continue;
		EXPECT_EQ(0u, e->goid);
		EXPECT_EQ(-1, e->p);
		if (e->kind == GORT_EV_PROCS_CHANGE)
			procs = (long)e->arg[0];
		else if (e->kind == GORT_EV_GO_CREATE)
			main_g = e->arg[0];
	}
	EXPECT_EQ(PROCS, procs);
	ASSERT_NE(0u, main_g);
	/* the workers and goroutine 1, each created and ended once */
	EXPECT_EQ(WL_N + 1, count(&t, GORT_EV_GO_CREATE, ANY, ANY));
	EXPECT_EQ(WL_N, count(&t, GORT_EV_GO_CREATE, main_g, ANY));
	EXPECT_EQ(WL_N + 1, count(&t, GORT_EV_GO_END, ANY, ANY));
	EXPECT_EQ(1, count(&t, GORT_EV_GO_END, main_g, ANY));
	free(t.ev);
}

static int env_bad_child(void *arg)
{
	setenv("GORT_TRACE", arg, 1);
	return run_main(1, workload_main, NULL);
}

TEST(env_bad)
{
	static const char *const bad[] = { "", "/nonexistent-dir/trace" };
	struct gt_child c;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		ASSERT_EQ(0, gt_fork_run(env_bad_child, (void *)bad[i], 30,
					 &c));
		EXPECT_TRUE(gt_exited_with(&c, 2)) TH_LOG("\"%s\"", bad[i]);
		EXPECT_NE(NULL, strstr(c.err, "gort: GORT_TRACE="))
			TH_LOG("stderr: %s", c.err);
		EXPECT_EQ(1, gt_count_lines(c.err)) TH_LOG("stderr: %s", c.err);
		gt_child_free(&c);
	}
}

TEST(bad_fd)
{
	int fd = tmp_fd();

	ASSERT_LE(0, fd);
	close(fd);
	EXPECT_EQ(-EBADF, gort_trace_start(-1));
	EXPECT_EQ(-EBADF, gort_trace_start(fd));
	EXPECT_EQ(0, gort_trace_stop());
}

/* ---- a pipe read by a goroutine of the traced program ---- */

#define PIPE_ROUNDS 4

static int pipe_fds[2];
static char *pipe_data;
static size_t pipe_len;
static struct gort_waitgroup pipe_wg;

static void pipe_reader(void *arg)
{
	size_t cap = 1 << 20;
	ssize_t n;

	pipe_data = malloc(cap);
	for (;;) {
		if (pipe_len == cap) {
			cap *= 2;
			pipe_data = realloc(pipe_data, cap);
		}
		GT_CHECK(pipe_data != NULL);
		if (!pipe_data)
			break;
		gort_syscall_begin();
		n = read(pipe_fds[0], pipe_data + pipe_len, cap - pipe_len);
		gort_syscall_end();
		if (n <= 0)
			break;
		pipe_len += (size_t)n;
	}
	gort_wg_done(&pipe_wg);
}

static int pipe_main(void *arg)
{
	int i;

	gort_wg_add(&pipe_wg, 1);
	GT_CHECK(gort_go(pipe_reader, NULL) == 0);
	GT_CHECK(gort_trace_start(pipe_fds[1]) == 0);
	for (i = 0; i < PIPE_ROUNDS; i++)
		GT_CHECK(wl_run() == 0);
	GT_CHECK(gort_trace_stop() == 0);
	close(pipe_fds[1]);
	gort_wg_wait(&pipe_wg);
	return 0;
}

TEST(pipe_to_own_goroutine)
{
	struct gort_trace_file_header h;
	struct gort_trace_batch bh;
	const struct gort_trace_event *ev;
	size_t n = 0, i, off;
	long creates = 0;

	ASSERT_EQ(0, pipe2(pipe_fds, O_CLOEXEC));
	ASSERT_EQ(0, run_main(PROCS, pipe_main, NULL));
	ASSERT_EQ(0, gt_failures());
	close(pipe_fds[0]);
	/* more than a pipe's 64 KiB went through */
	ASSERT_LT((size_t)(64 << 10), pipe_len);
	memcpy(&h, pipe_data, sizeof(h));
	EXPECT_EQ(0, memcmp(h.magic, GORT_TRACE_MAGIC, sizeof(h.magic)));
	EXPECT_EQ(0u, (pipe_len - sizeof(h)) % sizeof(*ev));
	/* batch by batch: a header, then its records */
	for (off = sizeof(h); off + sizeof(bh) <= pipe_len;
	     off += sizeof(bh) + n * sizeof(*ev)) {
		memcpy(&bh, pipe_data + off, sizeof(bh));
		ASSERT_EQ(GORT_TRACE_BATCH_MAGIC, bh.magic);
		n = bh.nrec;
		ASSERT_LE(off + sizeof(bh) + n * sizeof(*ev), pipe_len);
		ev = (const void *)(pipe_data + off + sizeof(bh));
		for (i = 0; i < n; i++)
			creates += ev[i].kind == GORT_EV_GO_CREATE;
	}
	EXPECT_EQ(pipe_len, off);
	EXPECT_EQ(PIPE_ROUNDS * WL_N, creates);
	free(pipe_data);
}

/* ---- deadlock detection while tracing ---- */

static int deadlock_main(void *arg)
{
	gort_chan_recv(NULL, NULL);	/* nothing can ever wake it */
	return 0;
}

static int deadlock_child(void *arg)
{
	setenv("GORT_TRACE", "/dev/null", 1);
	return run_main(1, deadlock_main, NULL);
}

TEST(deadlock_still_detected)
{
	struct gt_child c;
	char how[128];

	ASSERT_EQ(0, gt_fork_run(deadlock_child, NULL, 20, &c));
	EXPECT_TRUE(gt_exited_with(&c, 2))
		TH_LOG("%s", gt_child_how(&c, how, sizeof(how)));
	EXPECT_NE(NULL, strstr(c.err, "all goroutines are asleep - deadlock!"))
		TH_LOG("stderr: %s", c.err);
	gt_child_free(&c);
}

/* ---- stop_under_load ---- */

#define LOAD_G 3
#define LOAD_ROUNDS 30

static _Atomic bool load_quit;
static struct gort_waitgroup load_wg;
static int load_fds[LOAD_ROUNDS];
static int64_t load_start[LOAD_ROUNDS], load_stop[LOAD_ROUNDS];

static void load_fn(void *arg)
{
	while (!atomic_load_explicit(&load_quit, memory_order_relaxed))
		gort_yield();
	gort_wg_done(&load_wg);
}

static int load_main(void *arg)
{
	int i;

	gort_wg_add(&load_wg, LOAD_G);
	for (i = 0; i < LOAD_G; i++)
		GT_CHECK(gort_go(load_fn, NULL) == 0);
	for (i = 0; i < LOAD_ROUNDS; i++) {
		load_start[i] = gort_nanotime();
		GT_CHECK(gort_trace_start(load_fds[i]) == 0);
		gort_sleep(1000000);
		GT_CHECK(gort_trace_stop() == 0);
		load_stop[i] = gort_nanotime();
		gort_sleep(200000);
	}
	atomic_store(&load_quit, true);
	gort_wg_wait(&load_wg);
	return 0;
}

TEST(stop_under_load)
{
	struct trace t;
	size_t j;
	int i;

	for (i = 0; i < LOAD_ROUNDS; i++) {
		load_fds[i] = tmp_fd();
		ASSERT_LE(0, load_fds[i]);
	}
	ASSERT_EQ(0, run_main(PROCS, load_main, NULL));
	ASSERT_EQ(0, gt_failures());
	EXPECT_EQ(0u, gort_trace_dropped());
	for (i = 0; i < LOAD_ROUNDS; i++) {
		ASSERT_EQ(0, trace_read(load_fds[i], &t));
		ASSERT_SANE(&t);
		EXPECT_LT(0u, t.n) TH_LOG("trace %d is empty", i);
		for (j = 0; j < t.n; j++)
			if (t.ev[j].ts_ns < (uint64_t)load_start[i] ||
			    t.ev[j].ts_ns > (uint64_t)load_stop[i])
				break;
		EXPECT_EQ(t.n, j)
			TH_LOG("trace %d: record %zu at %llu, outside [%lld, %lld]",
			       i, j, (unsigned long long)t.ev[j].ts_ns,
			       (long long)load_start[i],
			       (long long)load_stop[i]);
		free(t.ev);
		close(load_fds[i]);
	}
}

/* ---- clock_follows_monotonic ---- */

#define CLOCK_SLEEPS 12
#define CLOCK_SLEEP_NS 25000000	/* 12 x 25 ms: past two re-anchorings */
#define CLOCK_SLACK_NS 20000	/* a few ppm of the trace, and then some */

static int64_t clock_before[CLOCK_SLEEPS], clock_after[CLOCK_SLEEPS];

static int clock_main(void *arg)
{
	int i;

	main_goid = gort_goid();
	GT_CHECK(gort_trace_start(trace_fd) == 0);
	for (i = 0; i < CLOCK_SLEEPS; i++) {
		clock_before[i] = gort_nanotime();
		gort_sleep(CLOCK_SLEEP_NS);
		clock_after[i] = gort_nanotime();
	}
	GT_CHECK(gort_trace_stop() == 0);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

TEST(clock_follows_monotonic)
{
	uint64_t block_ns[CLOCK_SLEEPS + 1];
	struct trace t;
	size_t i, j;
	int k = 0;

	run_traced(_metadata, clock_main, &t);
	/* the file holds threads' batches in fill order: sort the sleeps */
	for (i = 0; i < t.n; i++)
		if (t.ev[i].kind == GORT_EV_GO_BLOCK &&
		    t.ev[i].goid == main_goid &&
		    t.ev[i].arg[0] == GORT_BLOCK_SLEEP && k <= CLOCK_SLEEPS)
			block_ns[k++] = t.ev[i].ts_ns;
	ASSERT_EQ(CLOCK_SLEEPS, k);
	qsort(block_ns, CLOCK_SLEEPS, sizeof(block_ns[0]), cmp_u64);
	for (k = 0; k < CLOCK_SLEEPS; k++) {
		uint64_t start_ns = UINT64_MAX;

		/* the goroutine's first go_start after the block */
		for (j = 0; j < t.n; j++)
			if (t.ev[j].kind == GORT_EV_GO_START &&
			    t.ev[j].goid == main_goid &&
			    t.ev[j].ts_ns >= block_ns[k] &&
			    t.ev[j].ts_ns < start_ns)
				start_ns = t.ev[j].ts_ns;
		EXPECT_LE((uint64_t)clock_before[k] - CLOCK_SLACK_NS,
			  block_ns[k])
			TH_LOG("sleep %d blocked %lld ns before it began", k,
			       (long long)(clock_before[k] -
					   (int64_t)block_ns[k]));
		EXPECT_LE(block_ns[k] + CLOCK_SLEEP_NS - CLOCK_SLACK_NS,
			  start_ns)
			TH_LOG("sleep %d: %llu ns between block and start", k,
			       (unsigned long long)(start_ns - block_ns[k]));
		EXPECT_GE((uint64_t)clock_after[k] + CLOCK_SLACK_NS, start_ns)
			TH_LOG("sleep %d resumed %lld ns after it ended", k,
			       (long long)((int64_t)start_ns - clock_after[k]));
	}
	free(t.ev);
	close(trace_fd);
}

TEST_HARNESS_MAIN
