// SPDX-License-Identifier: GPL-2.0
/*
 * file.c - gort's I/O calls on regular files and pipes, with each poller
 * and 1 and 2 Ps.
 *
 * The API says the I/O calls work on any descriptor.  Regular files
 * cannot be polled (epoll refuses them; the epoll poller runs the system
 * call on a thread without a P, io_uring reads them itself), so they take
 * a different path from sockets in both pollers.  Checked on a temporary
 * file:
 *
 *  - gort_pwrite of 1 MiB at an offset returns 1 MiB and gort_pread reads
 *    it back; the hole before it reads as zeros; a pread across EOF is
 *    short and one past EOF returns 0; neither moves the file position;
 *  - gort_read and gort_write work at the file position and advance it,
 *    as read(2) and write(2) do;
 *  - 64 goroutines writing disjoint blocks at once, then reading them
 *    back, each get their own data;
 *  - errors: a negative offset is -EINVAL, pread on a pipe -ESPIPE, read
 *    of a directory -EISDIR.
 *
 * And on a pipe: a gort_read blocked on an empty pipe is woken by a
 * gort_write from another goroutine, a 1 MiB gort_write through the
 * 64 KiB pipe completes against a reader, and closing the write end
 * gives the reader EOF.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gort_net.h"

#define BIG		(1u << 20)
#define HOLE		4096
#define NWRITERS	64
#define BLOCK		65536

GT_NET_FIXTURE(net)

static char tmpl[256];

static int temp_file(void)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(tmpl, sizeof(tmpl), "%s/gort-file-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemp(tmpl);
	if (fd >= 0)
		unlink(tmpl);
	return fd;
}

static off_t pos_of(int fd)
{
	return lseek(fd, 0, SEEK_CUR);
}

struct block_io {
	int fd;
	int i;				/* block number */
	struct gort_waitgroup *wg;	/* all writers (or readers) ended */
};

static void block_write(void *arg)
{
	struct block_io *b = arg;
	uint8_t *buf = malloc(BLOCK);

	gt_pattern_fill(buf, BLOCK, 100 + b->i, 0);
	GT_CHECK(gort_pwrite(b->fd, buf, BLOCK, (off_t)b->i * BLOCK) ==
		 BLOCK);
	free(buf);
	gort_wg_done(b->wg);
}

static void block_read(void *arg)
{
	struct block_io *b = arg;
	uint8_t *buf = malloc(BLOCK);

	GT_CHECK(gort_pread(b->fd, buf, BLOCK, (off_t)b->i * BLOCK) ==
		 BLOCK);
	GT_CHECKF(gt_pattern_find_diff(buf, BLOCK, 100 + b->i, 0) < 0,
		  "block %d", b->i);
	free(buf);
	gort_wg_done(b->wg);
}

static int file_main(void *arg)
{
	static struct block_io blocks[NWRITERS];
	struct gort_waitgroup wg = { 0 };
	uint8_t *data, *back;
	char buf[64];
	int fd, dfd, p[2], i;
	ssize_t n;

	fd = temp_file();
	GT_CHECKF(fd >= 0, "mkstemp %s: %s", tmpl, strerror(errno));
	if (fd < 0)
		return 1;
	data = malloc(BIG);
	back = malloc(BIG + HOLE);
	GT_CHECK(data && back);
	if (!data || !back)
		return 1;
	gt_pattern_fill(data, BIG, 1, 0);

	/* positional I/O */
	GT_CHECK(gort_pwrite(fd, data, BIG, HOLE) == BIG);
	GT_CHECK(pos_of(fd) == 0);
	memset(back, 0xff, BIG + HOLE);
	n = gort_pread(fd, back, BIG + HOLE, 0);
	GT_CHECKF(n == BIG + HOLE, "pread of the whole file: %zd", n);
	for (i = 0; i < HOLE && back[i] == 0; i++)
		;
	GT_CHECKF(i == HOLE, "the hole has a nonzero byte at %d", i);
	GT_CHECK(!memcmp(back + HOLE, data, BIG));
	n = gort_pread(fd, buf, sizeof(buf), BIG + HOLE - 10);
	GT_CHECKF(n == 10, "pread across EOF: %zd", n);
	GT_CHECK(!memcmp(buf, data + BIG - 10, 10));
	GT_CHECK(gort_pread(fd, buf, sizeof(buf), BIG + HOLE) == 0);
	GT_CHECK(gort_pread(fd, buf, sizeof(buf), 10 * BIG) == 0);
	GT_CHECK(pos_of(fd) == 0);

	/* at the file position */
	GT_CHECK(gort_write(fd, "hello", 5) == 5);
	GT_CHECK(pos_of(fd) == 5);
	GT_CHECK(gort_write(fd, " world", 6) == 6);
	GT_CHECK(pos_of(fd) == 11);
	GT_CHECK(lseek(fd, 6, SEEK_SET) == 6);
	n = gort_read(fd, buf, 5);
	GT_CHECKF(n == 5 && !memcmp(buf, "world", 5), "read at 6: %zd", n);
	GT_CHECK(pos_of(fd) == 11);
	GT_CHECK(lseek(fd, 0, SEEK_END) == BIG + HOLE);
	GT_CHECK(gort_read(fd, buf, sizeof(buf)) == 0);
	GT_CHECK(gort_pread(fd, buf, 11, 0) == 11 &&
		 !memcmp(buf, "hello world", 11));

	/* many goroutines at once */
	GT_CHECK(ftruncate(fd, 0) == 0);
	gort_wg_add(&wg, NWRITERS);
	for (i = 0; i < NWRITERS; i++) {
		blocks[i] = (struct block_io){ fd, i, &wg };
		GT_CHECK(gort_go(block_write, &blocks[i]) == 0);
	}
	gort_wg_wait(&wg);
	gort_wg_add(&wg, NWRITERS);
	for (i = 0; i < NWRITERS; i++)
		GT_CHECK(gort_go(block_read, &blocks[i]) == 0);
	gort_wg_wait(&wg);

	/* errors */
	GT_CHECK(gort_pread(fd, buf, 1, -1) == -EINVAL);
	GT_CHECK(gort_pwrite(fd, buf, 1, -1) == -EINVAL);
	GT_CHECK(pipe2(p, O_CLOEXEC) == 0);
	GT_CHECK(gort_pread(p[0], buf, 1, 0) == -ESPIPE);
	GT_CHECK(gort_pwrite(p[1], buf, 1, 0) == -ESPIPE);
	GT_CHECK(gort_close(p[0]) == 0 && gort_close(p[1]) == 0);
	dfd = open(getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") :
		   "/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	GT_CHECK(dfd >= 0);
	GT_CHECK(gort_read(dfd, buf, sizeof(buf)) == -EISDIR);
	GT_CHECK(gort_close(dfd) == 0);

	GT_CHECK(gort_close(fd) == 0);
	free(data);
	free(back);
	return 0;
}

TEST_F_TIMEOUT(net, regular_file, 60)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, file_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- pipes ---- */

struct pipe_reader {
	int fd;
	uint64_t goid;			/* the reader */
	size_t got;			/* bytes read before EOF */
	ssize_t first;			/* the first read's result */
	char first_buf[16];		/* and its data */
	struct gort_chan *started;	/* receives once goid is set */
	struct gort_waitgroup wg;	/* it ended */
};

static void pipe_read_all(void *arg)
{
	struct pipe_reader *r = arg;
	static uint8_t buf[65536];
	ssize_t n;

	r->goid = gort_goid();
	gort_chan_send(r->started, NULL);
	r->first = gort_read(r->fd, r->first_buf, 4);
	if (r->first > 0) {
		while ((n = gort_read(r->fd, buf, sizeof(buf))) > 0) {
			if (gt_pattern_find_diff(buf, (size_t)n, 2, r->got) >=
			    0) {
				GT_CHECKF(0, "pipe data at %zu differ", r->got);
				break;
			}
			r->got += (size_t)n;
		}
		GT_CHECKF(n == 0, "pipe read: %zd", n);
	}
	gort_wg_done(&r->wg);
}

static int pipe_main(void *arg)
{
	struct pipe_reader r;
	uint8_t *data = malloc(BIG);
	int p[2];

	GT_CHECK(data != NULL);
	if (!data)
		return 1;
	gt_pattern_fill(data, BIG, 2, 0);
	GT_CHECK(pipe2(p, O_CLOEXEC) == 0);
	memset(&r, 0, sizeof(r));
	r.fd = p[0];
	r.started = gort_chan_make(0, 0);
	gort_wg_add(&r.wg, 1);
	GT_CHECK(gort_go(pipe_read_all, &r) == 0);
	gort_chan_recv(r.started, NULL);
	GT_CHECK(gt_wait_io_parked(r.goid, 5000 * 1000000LL));
	GT_CHECK(gort_write(p[1], "wake", 4) == 4);
	GT_CHECK(gort_write(p[1], data, BIG) == BIG);
	GT_CHECK(gort_close(p[1]) == 0);
	gort_wg_wait(&r.wg);
	GT_CHECKF(r.first == 4 && !memcmp(r.first_buf, "wake", 4),
		  "first pipe read: %zd", r.first);
	GT_CHECKF(r.got == BIG, "%zu bytes through the pipe", r.got);
	GT_CHECK(gort_close(p[0]) == 0);
	free(data);
	return 0;
}

TEST_F_TIMEOUT(net, pipe, 60)
{
	GT_NET_BEGIN();
	ASSERT_EQ(0, gt_net_run(&variant->v, pipe_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

TEST_HARNESS_MAIN
