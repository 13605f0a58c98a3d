// SPDX-License-Identifier: GPL-2.0
/*
 * tools.c - gort-trace and gort-top do what Documentation/tools.md says,
 * checked from the outside: the tools run as child processes and their
 * output is read back.
 *
 *  - convert_ten: a 10-goroutine program's trace converts to a Perfetto
 *    trace that a small protobuf reader here finds to hold one track per
 *    P and one per goroutine (named after its function), slices that nest
 *    on every track, and exactly one flow per go_unblock, each from an
 *    "unblock G<n>" instant to G<n>'s next "running" slice;
 *  - convert_window_split: --from/--to and --split files each stand alone
 *    (their slices nest and close) and split covers the whole run;
 *  - convert_bad_input: not a trace, a truncated header, version 1, a
 *    corrupt batch: one line, exit 1; a tail cut off mid-batch: a warning
 *    and the complete part converted, exit 0;
 *  - convert_big: a synthetic trace of at least 1 GiB (real record and
 *    batch layout, streams interleaved, one stream's only batch spanning
 *    the whole run and written last) converts within 64 MiB of peak RSS,
 *    every record accounted for;
 *  - flight: GORT_TRACEFLIGHT: SIGUSR2 makes a valid trace file no larger
 *    than the window, holding the most recent events and not the first
 *    ones, and one is written at exit too;
 *  - record: gort-trace record -p attached to a running program sees
 *    exactly the N go_create of the N goroutines it spawns meanwhile;
 *  - top: gort-top -n shows the program's Ps, the latency histogram and
 *    "no GC yet", its maps are pinned while it runs (bpftool map dump
 *    pinned shows them) and gone after;
 *  - top_gc: a report made after 3 collections counts them in its GC
 *    line, and its pause figures agree with each other (last <= max <=
 *    total <= pauses times max);
 *  - not_root: gort-top and gort-trace record as nobody: one line, exit 1.
 *
 * The tools are the native build's (build/tools): a cross or sanitizer
 * build of this program runs them as they are, or SKIPs when they are
 * missing.  BPF cases need root, uprobes and this program's code running
 * natively; otherwise they SKIP with the reason.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "trace.h"

#include "kselftest_harness.h"
#include "gort_test.h"
#include "workload.h"

#define PROCS 2
#define TOOL(name) GORT_TOOLS "/" name

/* Cases that need more than the harness's default 30 s use this. */
FIXTURE(slow) {
	int unused;	/* the harness wants a member */
};

FIXTURE_SETUP(slow)
{
}

FIXTURE_TEARDOWN(slow)
{
}

/* ---- running the tools ---- */

struct run {
	int status;		/* wait4's */
	struct rusage ru;	/* the child's */
	char out[8192];		/* head of stdout */
	char err[8192];		/* head of stderr */
	double secs;		/* wall time */
};

static void slurp(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
}

/* Run argv with stdout and stderr captured; -errno or 0. */
static int run_tool(char *const argv[], int timeout_s, struct run *r)
{
	char on[] = "/tmp/gort-tools-outXXXXXX", en[] = "/tmp/gort-tools-errXXXXXX";
	int ofd = mkstemp(on), efd = mkstemp(en), waited = 0;
	struct timespec a, b;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	if (ofd < 0 || efd < 0)
		return -errno;
	unlink(on);
	unlink(en);
	clock_gettime(CLOCK_MONOTONIC, &a);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		dup2(ofd, 1);
		dup2(efd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	while (!wait4(pid, &r->status, WNOHANG, &r->ru)) {
		if (waited++ > timeout_s * 100) {
			kill(pid, SIGKILL);
			wait4(pid, &r->status, 0, &r->ru);
			break;
		}
		usleep(10000);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	r->secs = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	slurp(ofd, r->out, sizeof(r->out));
	slurp(efd, r->err, sizeof(r->err));
	close(ofd);
	close(efd);
	return 0;
}

static bool exited(const struct run *r, int code)
{
	return WIFEXITED(r->status) && WEXITSTATUS(r->status) == code;
}

#define NEED_TOOL(name)                                                    \
	do {                                                               \
		if (access(TOOL(name), X_OK))                              \
			SKIP(return, "%s is not built (run make natively)", \
			     TOOL(name));                                  \
	} while (0)

/* ---- reading trace files (small ones, whole) ---- */

struct tfile {
	struct gort_trace_file_header h;
	struct gort_trace_event *ev;
	size_t n;
	size_t size;		/* bytes */
	const char *bad;	/* why it is not a valid trace, or NULL */
};

static void tfile_read(const char *path, struct tfile *t)
{
	const size_t rs = sizeof(struct gort_trace_event);
	struct gort_trace_batch bh;
	struct stat st;
	size_t off;
	char *buf;
	int fd;

	memset(t, 0, sizeof(*t));
	t->bad = "cannot read";
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		return;
	t->size = (size_t)st.st_size;
	buf = malloc(t->size + 1);
	t->ev = malloc(t->size + 1);
	if (!buf || !t->ev || pread(fd, buf, t->size, 0) != (ssize_t)t->size)
		goto out;
	close(fd);
	t->bad = "bad header";
	if (t->size < sizeof(t->h))
		goto out;
	memcpy(&t->h, buf, sizeof(t->h));
	if (memcmp(t->h.magic, GORT_TRACE_MAGIC, 8) ||
	    t->h.version != GORT_TRACE_VERSION)
		goto out;
	for (off = sizeof(t->h); off < t->size;) {
		t->bad = "bad batch";
		if (off + rs > t->size)
			goto out;
		memcpy(&bh, buf + off, sizeof(bh));
		if (bh.magic != GORT_TRACE_BATCH_MAGIC || !bh.nrec ||
		    off + rs + bh.nrec * rs > t->size)
			goto out;
		memcpy(t->ev + t->n, buf + off + rs, bh.nrec * rs);
		t->n += bh.nrec;
		off += rs + bh.nrec * rs;
	}
	t->bad = NULL;
out:
	free(buf);
}

static size_t count_kind(const struct tfile *t, uint32_t kind)
{
	size_t i, c = 0;

	for (i = 0; i < t->n; i++)
		c += t->ev[i].kind == kind;
	return c;
}

/* ---- reading Perfetto traces ---- */

struct ptrack {
	uint64_t uuid;
	char name[128];
	int depth;		/* open slices */
	uint64_t last_ts;
	uint64_t last_running;	/* ts of the last "running" begin */
	long begins;
};

struct pflow {
	uint64_t id;
	uint64_t ts;		/* of its source */
	uint64_t goid;		/* "unblock G<goid>" */
	bool done;
};

struct pview {
	struct ptrack tr[4096];
	int ntr;
	struct pflow fl[65536];
	int nfl;
	long events, flows_ok;
	const char *bad;	/* the first violation */
	char why[256];
};

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	int shift = 0;

	*v = 0;
	while (*p < end && shift < 64) {
		uint8_t b = *(*p)++;

		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
		shift += 7;
	}
	return false;
}

/* One field of a message: its number, wire type, and value or bytes. */
struct field {
	unsigned int num, wt;
	uint64_t v;
	const uint8_t *p;
	size_t len;
};

static bool next_field(const uint8_t **p, const uint8_t *end, struct field *f)
{
	uint64_t key;
	int i;

	if (*p >= end || !varint(p, end, &key))
		return false;
	f->num = (unsigned int)(key >> 3);
	f->wt = key & 7;
	switch (f->wt) {
	case 0:
		return varint(p, end, &f->v);
	case 1:
		if (end - *p < 8)
			return false;
		for (f->v = 0, i = 0; i < 8; i++)
			f->v |= (uint64_t)(*p)[i] << (8 * i);
		*p += 8;
		return true;
	case 2:
		if (!varint(p, end, &f->v) || f->v > (uint64_t)(end - *p))
			return false;
		f->p = *p;
		f->len = f->v;
		*p += f->len;
		return true;
	default:
		return false;
	}
}

static struct ptrack *ptrack(struct pview *v, uint64_t uuid)
{
	int i;

	for (i = 0; i < v->ntr; i++)
		if (v->tr[i].uuid == uuid)
			return &v->tr[i];
	return NULL;
}

#define PBAD(...)                                                    \
	do {                                                         \
		if (!v->bad) {                                       \
			snprintf(v->why, sizeof(v->why), __VA_ARGS__); \
			v->bad = v->why;                             \
		}                                                    \
	} while (0)

static void p_descriptor(struct pview *v, const uint8_t *p, const uint8_t *end)
{
	struct ptrack t = { 0 };
	struct field f;

	while (next_field(&p, end, &f)) {
		if (f.num == 1 && f.wt == 0)
			t.uuid = f.v;
		else if (f.num == 2 && f.wt == 2)
			snprintf(t.name, sizeof(t.name), "%.*s", (int)f.len,
				 (const char *)f.p);
	}
	if (ptrack(v, t.uuid))
		PBAD("track %" PRIu64 " described twice", t.uuid);
	else if (v->ntr < (int)ARRAY_SIZE(v->tr))
		v->tr[v->ntr++] = t;
}

static void p_event(struct pview *v, uint64_t ts, const uint8_t *p,
		    const uint8_t *end)
{
	uint64_t type = 0, uuid = 0, fout = 0, fin = 0;
	char name[128] = "";
	struct ptrack *t;
	struct field f;
	int i;

	while (next_field(&p, end, &f)) {
		if (f.num == 9)
			type = f.v;
		else if (f.num == 11)
			uuid = f.v;
		else if (f.num == 23 && f.wt == 2)
			snprintf(name, sizeof(name), "%.*s", (int)f.len,
				 (const char *)f.p);
		else if (f.num == 47)
			fout = f.v;
		else if (f.num == 48)
			fin = f.v;
	}
	v->events++;
	t = ptrack(v, uuid);
	if (!t) {
		PBAD("an event on undescribed track %" PRIu64, uuid);
		return;
	}
	if (ts < t->last_ts)
		PBAD("track %s goes back in time", t->name);
	t->last_ts = ts;
	if (type == 1) {
		t->depth++;
		t->begins++;
	} else if (type == 2 && t->depth-- <= 0) {
		PBAD("track %s ends a slice it never began", t->name);
	}
	if (fout) {
		uint64_t goid = 0;

		if (sscanf(name, "unblock G%" SCNu64, &goid) != 1 || type != 3)
			PBAD("a flow starts at \"%s\", not an unblock", name);
		if (v->nfl < (int)ARRAY_SIZE(v->fl))
			v->fl[v->nfl++] = (struct pflow){ fout, ts, goid, false };
	}
	if (type == 1 && !strcmp(name, "running")) {
		if (fin) {
			char want[32];

			for (i = 0; i < v->nfl && v->fl[i].id != fin; i++)
				;
			if (i == v->nfl) {
				PBAD("flow %" PRIu64 " ends before it starts", fin);
				return;
			}
			snprintf(want, sizeof(want), "G%" PRIu64, v->fl[i].goid);
			if (strncmp(t->name, want, strlen(want)) ||
			    (t->name[strlen(want)] &&
			     t->name[strlen(want)] != ' '))
				PBAD("flow to %s ends on %s", want, t->name);
			else if (t->last_running > v->fl[i].ts)
				PBAD("flow to %s skips a start", want);
			else if (v->fl[i].done)
				PBAD("flow %" PRIu64 " ends twice", fin);
			else
				v->flows_ok++;
			v->fl[i].done = true;
		}
		t->last_running = ts;
	} else if (fin) {
		PBAD("a flow ends at \"%s\", not a start", name);
	}
}

/* Read a Perfetto trace and check what every output must satisfy. */
static void pview_read(const char *path, struct pview *v)
{
	uint8_t *buf = NULL;
	const uint8_t *p, *end;
	struct field f;
	struct stat st;
	int fd, i;

	memset(v, 0, sizeof(*v));
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) ||
	    !(buf = malloc((size_t)st.st_size + 1)) ||
	    pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		v->bad = "cannot read the output";
		goto out;
	}
	p = buf;
	end = buf + st.st_size;
	while (p < end) {
		const uint8_t *q, *qe;
		uint64_t ts = 0;
		struct field g;

		if (!next_field(&p, end, &f) || f.num != 1 || f.wt != 2) {
			v->bad = "not a sequence of TracePackets";
			goto out;
		}
		for (q = f.p, qe = f.p + f.len; next_field(&q, qe, &g);)
			if (g.num == 8)
				ts = g.v;
		for (q = f.p; next_field(&q, qe, &g);) {
			if (g.num == 60 && g.wt == 2)
				p_descriptor(v, g.p, g.p + g.len);
			else if (g.num == 11 && g.wt == 2)
				p_event(v, ts, g.p, g.p + g.len);
		}
	}
	for (i = 0; i < v->ntr; i++)
		if (v->tr[i].depth)
			PBAD("track %s has %d slices left open", v->tr[i].name,
			     v->tr[i].depth);
	/* a flow may dangle only if the file ends before the start */
	for (i = 0; i < v->nfl; i++) {
		char want[32];
		int j;

		if (v->fl[i].done)
			continue;
		snprintf(want, sizeof(want), "G%" PRIu64 " ", v->fl[i].goid);
		for (j = 0; j < v->ntr; j++) {
			char name[130];

			snprintf(name, sizeof(name), "%s ", v->tr[j].name);
			if (!strncmp(name, want, strlen(want)) &&
			    v->tr[j].last_running > v->fl[i].ts)
				PBAD("the flow from unblock G%" PRIu64
				     " at %" PRIu64 " misses its start at %"
				     PRIu64, v->fl[i].goid, v->fl[i].ts,
				     v->tr[j].last_running);
		}
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
}

static int count_tracks(const struct pview *v, char lead)
{
	int i, n = 0;

	for (i = 0; i < v->ntr; i++) {
		const char *s = v->tr[i].name;

		n += s[0] == lead && s[1] >= '0' && s[1] <= '9';
	}
	return n;
}

/* ---- the 10-goroutine program ---- */

#define TEN 10
#define TEN_ROUNDS 20

static struct gort_chan *ring[TEN];
static struct gort_waitgroup ten_wg;
static int ten_fd;

/* Pass a token around the ring: every receive blocks, every send readies. */
static void tw_worker(void *arg)
{
	int i = (int)(intptr_t)arg, r, tok;

	for (r = 0; r < TEN_ROUNDS; r++) {
		gort_chan_recv(ring[i], &tok);
		if (r % 5 == 0)
			gort_sleep(100000);
		tok++;
		gort_chan_send(ring[(i + 1) % TEN], &tok);
	}
	gort_wg_done(&ten_wg);
}

static int ten_main(void *arg)
{
	int i, tok = 0;

	if (gort_trace_start(ten_fd))
		return 1;
	for (i = 0; i < TEN; i++)
		ring[i] = gort_chan_make(sizeof(int), 1);
	gort_wg_add(&ten_wg, TEN);
	for (i = 0; i < TEN; i++)
		gort_go(tw_worker, (void *)(intptr_t)i);
	gort_chan_send(ring[0], &tok);
	gort_wg_wait(&ten_wg);
	gort_chan_recv(ring[0], &tok);
	return gort_trace_stop() ? 2 : 0;
}

static char tmpdir[] = "/tmp/gort-tools-XXXXXX";

static const char *tpath(const char *name)
{
	static char buf[8][256];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, name);
	return buf[i];
}

static int make_ten_trace(const char *path)
{
	ten_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (ten_fd < 0)
		return -errno;
	if (run_main(PROCS, ten_main, NULL))
		return -EIO;
	close(ten_fd);
	return 0;
}

static void rm_tmpdir(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd)) {
		/* a leftover in /tmp, nothing a test checks */
	}
}

static char exe_path[4096];

static void self_exe(void)
{
	ssize_t n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);

	exe_path[n > 0 ? n : 0] = '\0';
}

TEST(convert_ten)
{
	static struct pview v;
	struct tfile t;
	struct run r;
	int ps[GORT_MAX_PROCS] = { 0 }, nps = 0, named = 0, i;
	size_t k;

	NEED_TOOL("gort-trace");
	ASSERT_NE(NULL, mkdtemp(tmpdir));
	self_exe();
	ASSERT_EQ(0, make_ten_trace(tpath("ten.trace")));
	tfile_read(tpath("ten.trace"), &t);
	ASSERT_EQ(NULL, t.bad);
	for (k = 0; k < t.n; k++)
		if (t.ev[k].kind == GORT_EV_GO_START && t.ev[k].p >= 0 &&
		    t.ev[k].p < GORT_MAX_PROCS && !ps[t.ev[k].p]++)
			nps++;
	ASSERT_EQ((size_t)TEN, count_kind(&t, GORT_EV_GO_CREATE));
	do {
		char *argv[] = { TOOL("gort-trace"), "convert", "--stats",
				 "--exe", exe_path,
				 (char *)tpath("ten.trace"),
				 (char *)tpath("ten.pftrace"), NULL };

		ASSERT_EQ(0, run_tool(argv, 60, &r));
	} while (0);
	ASSERT_TRUE(exited(&r, 0)) TH_LOG("%s", r.err);
	pview_read(tpath("ten.pftrace"), &v);
	EXPECT_EQ(NULL, v.bad) TH_LOG("%s", v.bad);
	/* one track per P that ran a goroutine, one per goroutine */
	EXPECT_EQ(nps, count_tracks(&v, 'P'));
	/* the workers and the goroutine that started the trace */
	EXPECT_EQ(TEN + 1, count_tracks(&v, 'G'));
	for (i = 0; i < v.ntr; i++)
		named += !!strstr(v.tr[i].name, " tw_worker");
	EXPECT_EQ(TEN, named);
	/* every unblock flows to the start it caused */
	EXPECT_EQ((long)count_kind(&t, GORT_EV_GO_UNBLOCK), v.flows_ok);
	EXPECT_LT(TEN * TEN_ROUNDS / 2, v.flows_ok);
	TH_LOG("%d tracks, %ld events, %ld flows; %s", v.ntr, v.events,
	       v.flows_ok, r.err);
	free(t.ev);
	rm_tmpdir();
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

TEST(convert_window_split)
{
	static struct pview v;
	struct tfile t;
	struct run r;
	uint64_t span, total = 0, *ts;
	char from[32], to[32], split[32];
	int i, files = 0;

	NEED_TOOL("gort-trace");
	ASSERT_NE(NULL, mkdtemp(tmpdir));
	ASSERT_EQ(0, make_ten_trace(tpath("ten.trace")));
	tfile_read(tpath("ten.trace"), &t);
	ASSERT_EQ(NULL, t.bad);
	ASSERT_LT(8u, t.n);
	ts = calloc(t.n, sizeof(*ts));
	ASSERT_NE(NULL, ts);
	span = 0;
	for (size_t k = 0; k < t.n; k++) {
		ts[k] = t.ev[k].ts_ns - t.h.start_ns;
		if (ts[k] > span)
			span = ts[k];
	}
	/*
	 * The window runs from the first quarter's last event to the first
	 * half's: events cluster (an emulator's slow start, a collection),
	 * so a window cut by time alone may hold none.
	 */
	qsort(ts, t.n, sizeof(*ts), cmp_u64);
	snprintf(from, sizeof(from), "%" PRIu64, ts[t.n / 4]);
	snprintf(to, sizeof(to), "%" PRIu64, ts[t.n / 2] + 1);
	free(ts);
	{
		char *argv[] = { TOOL("gort-trace"), "convert", "--from", from,
				 "--to", to, (char *)tpath("ten.trace"),
				 (char *)tpath("win.pftrace"), NULL };

		ASSERT_EQ(0, run_tool(argv, 60, &r));
	}
	ASSERT_TRUE(exited(&r, 0)) TH_LOG("%s", r.err);
	pview_read(tpath("win.pftrace"), &v);
	EXPECT_EQ(NULL, v.bad) TH_LOG("%s", v.bad);
	EXPECT_LT(0, v.events);
	snprintf(split, sizeof(split), "%" PRIu64, span / 3 + 1);
	{
		char *argv[] = { TOOL("gort-trace"), "convert", "--split", split,
				 (char *)tpath("ten.trace"),
				 (char *)tpath("part"), NULL };

		ASSERT_EQ(0, run_tool(argv, 60, &r));
	}
	ASSERT_TRUE(exited(&r, 0)) TH_LOG("%s", r.err);
	for (i = 0; i < 10; i++) {
		char name[32];

		snprintf(name, sizeof(name), "part.%03d", i);
		if (access(tpath(name), F_OK))
			break;
		pview_read(tpath(name), &v);
		EXPECT_EQ(NULL, v.bad) TH_LOG("%s: %s", name, v.bad);
		total += (uint64_t)v.events;
		files++;
	}
	/* the run from its start to its last event in 3 or 4 windows */
	EXPECT_LE(3, files);
	EXPECT_GE(4, files);
	EXPECT_LT(0u, total);
	free(t.ev);
	rm_tmpdir();
}

static void write_file(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd >= 0) {
		if (write(fd, p, len) != (ssize_t)len) {
			/* a short file: the converter's check will say */
		}
		close(fd);
	}
}

TEST(convert_bad_input)
{
	struct gort_trace_file_header h;
	static const struct {
		const char *file;	/* made below */
		const char *says;	/* in the one line */
	} bad[] = {
		{ "empty", "not a gort trace" },
		{ "text", "not a gort trace" },
		{ "short", "truncated trace header" },
		{ "v1", "version 1" },
		{ "corrupt", "corrupt trace" },
	};
	struct stat st;
	struct run r;
	char *buf;
	size_t i;
	int fd;

	NEED_TOOL("gort-trace");
	ASSERT_NE(NULL, mkdtemp(tmpdir));
	ASSERT_EQ(0, make_ten_trace(tpath("ten.trace")));
	fd = open(tpath("ten.trace"), O_RDONLY);
	ASSERT_EQ(0, fstat(fd, &st));
	buf = malloc((size_t)st.st_size);
	ASSERT_EQ(st.st_size, pread(fd, buf, (size_t)st.st_size, 0));
	close(fd);
	memcpy(&h, buf, sizeof(h));
	write_file(tpath("empty"), "", 0);
	write_file(tpath("text"), "hello, this is not a trace file at all, no\n"
				  "not even close to 64 bytes of header....\n", 84);
	write_file(tpath("short"), buf, 40);
	h.version = 1;
	write_file(tpath("v1"), &h, sizeof(h));
	/* a batch header overwritten in the middle */
	memset(buf + sizeof(h), 0x5a, 8);
	write_file(tpath("corrupt"), buf, (size_t)st.st_size);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		char *argv[] = { TOOL("gort-trace"), "convert",
				 (char *)tpath(bad[i].file),
				 (char *)tpath("out"), NULL };

		ASSERT_EQ(0, run_tool(argv, 30, &r));
		EXPECT_TRUE(exited(&r, 1)) TH_LOG("%s", bad[i].file);
		EXPECT_EQ(1, gt_count_lines(r.err)) TH_LOG("%s: %s",
							   bad[i].file, r.err);
		EXPECT_NE(NULL, strstr(r.err, bad[i].says))
			TH_LOG("%s: %s", bad[i].file, r.err);
	}
	/* a crashed writer: the file ends inside a batch */
	fd = open(tpath("ten.trace"), O_RDONLY);
	ASSERT_EQ(st.st_size, pread(fd, buf, (size_t)st.st_size, 0));
	close(fd);
	write_file(tpath("cut"), buf, (size_t)st.st_size - 100);
	{
		char *argv[] = { TOOL("gort-trace"), "convert", "--stats",
				 (char *)tpath("cut"), (char *)tpath("out"),
				 NULL };
		static struct pview v;

		ASSERT_EQ(0, run_tool(argv, 30, &r));
		EXPECT_TRUE(exited(&r, 0)) TH_LOG("%s", r.err);
		EXPECT_NE(NULL, strstr(r.err, "warning")) TH_LOG("%s", r.err);
		pview_read(tpath("out"), &v);
		EXPECT_EQ(NULL, v.bad) TH_LOG("%s", v.bad);
		EXPECT_LT(0, v.events);
	}
	free(buf);
	rm_tmpdir();
}

/* ---- a big synthetic trace ---- */

#define BIG_STREAMS 8
#define BIG_RSS_KIB (64 << 10)

struct big_stream {
	uint64_t ts, seq, goid;
	int phase;		/* next event of its goroutine's life */
	int p;
	struct gort_trace_event buf[GORT_TRACE_BATCH_MAX];
};

/*
 * The next record of stream s: its goroutines' lives are create, start,
 * block on a channel, unblock (by the stream's scheduler), start, end.
 */
static void big_event(struct big_stream *s, int id,
		      struct gort_trace_event *e)
{
	static const uint32_t life[] = {
		GORT_EV_GO_CREATE, GORT_EV_GO_START, GORT_EV_GO_BLOCK,
		GORT_EV_GO_UNBLOCK, GORT_EV_GO_START, GORT_EV_GO_END,
	};
	uint32_t kind = life[s->phase];

	memset(e, 0, sizeof(*e));
	s->ts += 50;
	e->ts_ns = s->ts;
	e->kind = kind;
	e->p = s->p;
	e->m = id;
	e->tid = 1000 + (uint32_t)id;
	if (kind == GORT_EV_GO_CREATE || kind == GORT_EV_GO_UNBLOCK) {
		e->goid = 0;
		e->arg[0] = s->goid;
		e->arg[1] = kind == GORT_EV_GO_CREATE ? 0x1000 :
						      GORT_BLOCK_CHAN_RECV;
	} else {
		e->goid = s->goid;
		e->arg[0] = kind == GORT_EV_GO_BLOCK ? GORT_BLOCK_CHAN_RECV : 0;
	}
	if (++s->phase == (int)ARRAY_SIZE(life)) {
		s->phase = 0;
		s->goid += BIG_STREAMS;
	}
}

static int big_batch(FILE *f, struct big_stream *s, int id, uint32_t n)
{
	struct gort_trace_batch bh = { .magic = GORT_TRACE_BATCH_MAGIC };
	uint32_t i;

	for (i = 0; i < n; i++)
		big_event(s, id, &s->buf[i]);
	bh.nrec = n;
	bh.stream = (uint32_t)id;
	bh.tid = s->buf[0].tid;
	bh.seq = s->seq++;
	bh.first_ns = s->buf[0].ts_ns;
	bh.last_ns = s->buf[n - 1].ts_ns;
	return fwrite(&bh, sizeof(bh), 1, f) == 1 &&
			       fwrite(s->buf, sizeof(s->buf[0]), n, f) == n ?
		       0 :
		       -EIO;
}

TEST_F_TIMEOUT(slow, convert_big, 300)
{
	static struct big_stream st[BIG_STREAMS + 1];
	struct gort_trace_file_header h = { 0 };
	const size_t per = sizeof(struct gort_trace_batch) +
			   GORT_TRACE_BATCH_MAX * sizeof(struct gort_trace_event);
	long long want = 1LL << 30;
	uint64_t nrec = 0, t0 = 1000000000ull, rare_ts;
	char line[256];
	struct run r;
	size_t batches, b;
	FILE *f;
	int i;

	NEED_TOOL("gort-trace");
	/* scaled down only where the machine is slow (scale below 1) */
	if (gt_test_scale() < 1)
		want = gt_scaled(want);
	ASSERT_NE(NULL, mkdtemp(tmpdir));
	f = fopen(tpath("big.trace"), "w");
	ASSERT_NE(NULL, f);
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	memcpy(h.magic, GORT_TRACE_MAGIC, 8);
	h.version = GORT_TRACE_VERSION;
	h.record_size = sizeof(struct gort_trace_event);
	h.start_ns = t0;
	h.batch_max = GORT_TRACE_BATCH_MAX;
	h.pid = 1;
	ASSERT_EQ(1u, fwrite(&h, sizeof(h), 1, f));
	for (i = 0; i <= BIG_STREAMS; i++) {
		st[i].ts = t0 + (uint64_t)i;
		st[i].goid = 1 + (uint64_t)i;
		st[i].p = i % 4;
	}
	batches = (size_t)want / per + 1;
	/* round-robin with an uneven stride, as threads fill at their pace */
	for (b = 0; b < batches; b++) {
		i = (int)((b * 5 + b / 7) % BIG_STREAMS);
		ASSERT_EQ(0, big_batch(f, &st[i], i, GORT_TRACE_BATCH_MAX));
		nrec += GORT_TRACE_BATCH_MAX;
	}
	/*
	 * The rare thread: 1000 records spread over the whole run, all in
	 * one batch written last (a partial buffer flushed at stop).
	 */
	rare_ts = st[0].ts;
	st[BIG_STREAMS].p = 5;
	for (b = 0; b < 1000; b++) {
		st[BIG_STREAMS].ts = t0 + b * (rare_ts - t0) / 1000;
		big_event(&st[BIG_STREAMS], BIG_STREAMS,
			  &st[BIG_STREAMS].buf[b]);
	}
	{
		struct gort_trace_batch bh = {
			.magic = GORT_TRACE_BATCH_MAGIC, .nrec = 1000,
			.stream = BIG_STREAMS, .tid = 9999,
			.first_ns = st[BIG_STREAMS].buf[0].ts_ns,
			.last_ns = st[BIG_STREAMS].buf[999].ts_ns,
		};

		ASSERT_EQ(1u, fwrite(&bh, sizeof(bh), 1, f));
		ASSERT_EQ(1000u, fwrite(st[BIG_STREAMS].buf,
					sizeof(st[0].buf[0]), 1000, f));
		nrec += 1000;
	}
	ASSERT_EQ(0, fclose(f));
	do {
		char *argv[] = { TOOL("gort-trace"), "convert", "--stats",
				 (char *)tpath("big.trace"), "/dev/null",
				 NULL };

		ASSERT_EQ(0, run_tool(argv, 280, &r));
	} while (0);
	unlink(tpath("big.trace"));
	rm_tmpdir();
	EXPECT_TRUE(exited(&r, 0)) TH_LOG("%s", r.err);
	snprintf(line, sizeof(line), "gort-trace: %" PRIu64 " records,", nrec);
	EXPECT_NE(NULL, strstr(r.err, line)) TH_LOG("want \"%s\": %s", line,
						     r.err);
	EXPECT_GT(BIG_RSS_KIB, r.ru.ru_maxrss);
	TH_LOG("%lld MiB, %" PRIu64 " records: peak RSS %ld KiB, %.1f s",
	       want >> 20, nrec, r.ru.ru_maxrss, r.secs);
}

/* ---- the flight recorder ---- */

#define FLIGHT_SIZE (256 << 10)

static struct gort_chan *fl_a, *fl_b;
static _Atomic int fl_stop;
static int fl_rep;

static void fl_pong(void *arg)
{
	int v;

	while (gort_chan_recv(fl_a, &v))
		gort_chan_send(fl_b, &v);
}

/* Ping-pong for a while, report a time, ping-pong until told to stop. */
static int fl_main(void *arg)
{
	int64_t t0 = gort_nanotime(), mark;
	int v = 0;

	fl_a = gort_chan_make(sizeof(int), 0);
	fl_b = gort_chan_make(sizeof(int), 0);
	gort_go(fl_pong, NULL);
	while (gort_nanotime() - t0 < 100000000) {
		gort_chan_send(fl_a, &v);
		gort_chan_recv(fl_b, &v);
	}
	mark = gort_nanotime();
	if (write(fl_rep, &mark, sizeof(mark)) != sizeof(mark))
		return 1;
	while (!atomic_load(&fl_stop) &&
	       gort_nanotime() - t0 < 20000000000LL) {
		gort_chan_send(fl_a, &v);
		gort_chan_recv(fl_b, &v);
	}
	gort_chan_close(fl_a);
	return 0;
}

static __attribute__((unused)) void signal_threads(pid_t pid, int sig)
{
	char path[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d)))
		if (atoi(de->d_name) > 0)
			syscall(SYS_tgkill, pid, atoi(de->d_name), sig);
	closedir(d);
}

static void fl_on_usr1(int sig)
{
	int saved = errno;

	atomic_store(&fl_stop, 1);
	errno = saved;
}

/*
 * A flight dump: valid, within the window, with events after mark.  A
 * signal dump holds the most recent whole batches, and the partial batch
 * of each thread that emitted while the dump waited for them, so nothing
 * from the start of the run and nearly all of it from after mark (a
 * thread that was idle since ping-pong began hands over records as old as
 * that); the dump at exit adds each thread's last partial batch, whose
 * records can be as old as the thread's last event.
 */
static void check_window(struct __test_metadata *_metadata,
			 const char *path, int64_t mark, bool at_signal)
{
	struct tfile t;
	uint64_t hi = 0;
	size_t k, before = 0;

	tfile_read(path, &t);
	ASSERT_EQ(NULL, t.bad) TH_LOG("%s", path);
	EXPECT_TRUE(!!(t.h.flags & GORT_TRACE_F_FLIGHT));
	EXPECT_GE((size_t)FLIGHT_SIZE, t.size);
	/* at least most of the window is used */
	EXPECT_LT((size_t)FLIGHT_SIZE / 2, t.size);
	for (k = 0; k < t.n; k++) {
		hi = t.ev[k].ts_ns > hi ? t.ev[k].ts_ns : hi;
		before += t.ev[k].ts_ns < (uint64_t)mark;
	}
	/* the most recent events, not the first ones */
	EXPECT_LT((uint64_t)mark, hi);
	if (at_signal) {
		EXPECT_EQ(0u, count_kind(&t, GORT_EV_PROCS_CHANGE));
		EXPECT_GT(t.n / 10, before)
			TH_LOG("%zu of %zu records from before the mark",
			       before, t.n);
	}
	free(t.ev);
}

TEST_F_TIMEOUT(slow, flight, 60)
{
	int rep[2], status, i;
	struct sigaction sa;
	char size[32];
	int64_t mark;
	pid_t pid;

	ASSERT_NE(NULL, mkdtemp(tmpdir));
	ASSERT_EQ(0, pipe(rep));
	snprintf(size, sizeof(size), "%dKiB", FLIGHT_SIZE >> 10);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(rep[0]);
		fl_rep = rep[1];
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = fl_on_usr1;
		sigaction(SIGUSR1, &sa, NULL);
		gt_clear_gort_env();
		setenv("GORT_TRACE", tpath("flight.trace"), 1);
		setenv("GORT_TRACEFLIGHT", size, 1);
		_exit(run_main(PROCS, fl_main, NULL));
	}
	close(rep[1]);
	ASSERT_EQ((ssize_t)sizeof(mark), read(rep[0], &mark, sizeof(mark)));
	usleep(50000);
	/* nothing is written before the signal */
	EXPECT_NE(0, access(tpath("flight.trace"), F_OK));
	kill(pid, SIGUSR2);
#ifdef __SANITIZE_THREAD__
	/*
	 * TSan runs a handler only when the thread the kernel chose next
	 * enters a call it intercepts, and an idle M parked in a raw futex
	 * system call never does: ask every thread.
	 */
	signal_threads(pid, SIGUSR2);
#endif
	for (i = 0; i < 500 && access(tpath("flight.trace"), F_OK); i++)
		usleep(10000);
	ASSERT_EQ(0, access(tpath("flight.trace"), F_OK));
	ASSERT_EQ(0, rename(tpath("flight.trace"), tpath("signal.trace")));
	check_window(_metadata, tpath("signal.trace"), mark, true);
	{
		char *argv[] = { TOOL("gort-trace"), "convert",
				 (char *)tpath("signal.trace"),
				 (char *)tpath("signal.pftrace"), NULL };
		static struct pview v;
		struct run r;

		if (!access(TOOL("gort-trace"), X_OK)) {
			ASSERT_EQ(0, run_tool(argv, 30, &r));
			EXPECT_TRUE(exited(&r, 0)) TH_LOG("%s", r.err);
			pview_read(tpath("signal.pftrace"), &v);
			EXPECT_EQ(NULL, v.bad) TH_LOG("%s", v.bad);
		}
	}
	/* and at exit */
	kill(pid, SIGUSR1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	check_window(_metadata, tpath("flight.trace"), mark, false);
	rm_tmpdir();
}

static int noop_main(void *arg)
{
	return 0;
}

static int env_child(void *arg)
{
	return run_main(1, noop_main, NULL);
}

TEST(flight_env_bad)
{
	static const char *const vals[][2] = {
		{ "64", "a.trace" },		/* under 64KiB */
		{ "lots", "a.trace" },
		{ "1MiB", NULL },		/* no GORT_TRACE */
	};
	struct gt_child c;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(vals); i++) {
		gt_clear_gort_env();
		setenv("GORT_TRACEFLIGHT", vals[i][0], 1);
		if (vals[i][1])
			setenv("GORT_TRACE", "/tmp/gort-flight-unused", 1);
		ASSERT_EQ(0, gt_fork_run(env_child, NULL, 20, &c));
		EXPECT_TRUE(gt_exited_with(&c, 2)) TH_LOG("%s", vals[i][0]);
		EXPECT_EQ(1, gt_count_lines(c.err)) TH_LOG("%s", c.err);
		EXPECT_NE(NULL, strstr(c.err, "GORT_TRACEFLIGHT"));
		gt_child_free(&c);
	}
	gt_clear_gort_env();
	unlink("/tmp/gort-flight-unused");
}

/* ---- BPF: record and top ---- */

static const char *bpf_skip_reason(char *buf, size_t len)
{
	char arch[64];

#ifdef GORT_NO_BPF
	snprintf(buf, len, "built without BPF: %s", GORT_NO_BPF);
	return buf;
#endif
	if (!wl_native(arch, sizeof(arch))) {
		snprintf(buf, len, "the kernel (%s) does not run this program's code",
			 arch);
		return buf;
	}
	if (access("/sys/bus/event_source/devices/uprobe", F_OK))
		return "the kernel has no uprobe event source";
	if (geteuid() != 0)
		return "attaching uprobes needs root (CAP_SYS_ADMIN)";
	return NULL;
}

/* The watched program: spawn on command, report, until told to quit. */
static int bw_ctl, bw_rep;
static struct gort_waitgroup bw_wg;

static void bw_worker(void *arg)
{
	gort_sleep(1000000);
	gort_wg_done(&bw_wg);
}

static int bw_main(void *arg)
{
	char c;
	int i, n;

	for (;;) {
		gort_syscall_begin();
		n = (int)read(bw_ctl, &c, 1);
		gort_syscall_end();
		if (n != 1 || c == 'q')
			return 0;
		/* 'g': 50 goroutines; 'c': 3 collections; 'b': a busy second */
		if (c == 'g') {
			gort_wg_add(&bw_wg, 50);
			for (i = 0; i < 50; i++)
				gort_go(bw_worker, NULL);
			gort_wg_wait(&bw_wg);
		} else if (c == 'c') {
			for (i = 0; i < 3; i++)
				gort_gc();
		} else {
			int64_t t0 = gort_nanotime();

			while (gort_nanotime() - t0 < 1500000000) {
				gort_wg_add(&bw_wg, 20);
				for (i = 0; i < 20; i++)
					gort_go(bw_worker, NULL);
				gort_wg_wait(&bw_wg);
			}
		}
		if (write(bw_rep, "d", 1) != 1)
			return 1;
	}
}

/* Fork the watched program; its pid, with *ctl and *rep its pipes. */
static pid_t bw_start(int *ctl, int *rep)
{
	int c[2], r[2];
	pid_t pid;

	if (pipe(c) || pipe(r))
		return -1;
	pid = fork();
	if (!pid) {
		close(c[1]);
		close(r[0]);
		bw_ctl = c[0];
		bw_rep = r[1];
		gt_clear_gort_env();
		_exit(run_main(PROCS, bw_main, NULL));
	}
	close(c[0]);
	close(r[1]);
	*ctl = c[1];
	*rep = r[0];
	return pid;
}

static bool bw_cmd(int ctl, int rep, char cmd)
{
	char d;

	return write(ctl, &cmd, 1) == 1 && read(rep, &d, 1) == 1;
}

/* Occurrences of want in s. */
static int count_of(const char *s, const char *want)
{
	int n = 0;

	for (; (s = strstr(s, want)); s++)
		n++;
	return n;
}

/*
 * Read fd into buf (from empty) until want appears n times, or timeout_ms
 * pass, or the pipe ends.
 */
static bool wait_for_n(int fd, const char *want, int n, char *buf,
		       size_t len, int timeout_ms)
{
	size_t got = 0;

	buf[0] = '\0';
	while (timeout_ms > 0 && count_of(buf, want) < n) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t r;

		if (poll(&p, 1, 100) <= 0) {
			timeout_ms -= 100;
			continue;
		}
		r = read(fd, buf + got, len - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		buf[got] = '\0';
	}
	return count_of(buf, want) >= n;
}

/* Read fd until `want` appears or timeout_ms pass. */
static bool wait_for(int fd, const char *want, char *buf, size_t len,
		     int timeout_ms)
{
	return wait_for_n(fd, want, 1, buf, len, timeout_ms);
}

TEST_F_TIMEOUT(slow, record, 60)
{
	char why[256], buf[4096], pidarg[16];
	int ctl, rep, err[2], status;
	const char *skip = bpf_skip_reason(why, sizeof(why));
	struct tfile t;
	pid_t pid, rp;

	if (skip)
		SKIP(return, "%s", skip);
	NEED_TOOL("gort-trace");
	ASSERT_NE(NULL, mkdtemp(tmpdir));
	pid = bw_start(&ctl, &rep);
	ASSERT_LT(0, pid);
	snprintf(pidarg, sizeof(pidarg), "%d", pid);
	ASSERT_EQ(0, pipe(err));
	rp = fork();
	ASSERT_LE(0, rp);
	if (!rp) {
		dup2(err[1], 2);
		execl(TOOL("gort-trace"), "gort-trace", "record", "-p", pidarg,
		      "-o", tpath("rec.trace"), NULL);
		_exit(127);
	}
	close(err[1]);
	EXPECT_TRUE(wait_for(err[0], "recording", buf, sizeof(buf), 20000))
		TH_LOG("%s", buf);
	EXPECT_TRUE(bw_cmd(ctl, rep, 'g'));
	kill(rp, SIGINT);
	ASSERT_EQ(rp, waitpid(rp, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	EXPECT_TRUE(bw_cmd(ctl, rep, 'q') || true);
	close(ctl);
	waitpid(pid, NULL, 0);
	tfile_read(tpath("rec.trace"), &t);
	ASSERT_EQ(NULL, t.bad);
	EXPECT_EQ(50u, count_kind(&t, GORT_EV_GO_CREATE));
	EXPECT_EQ(50u, count_kind(&t, GORT_EV_GO_END));
	EXPECT_EQ((uint32_t)pid, t.h.pid);
	free(t.ev);
	{
		char *argv[] = { TOOL("gort-trace"), "convert",
				 (char *)tpath("rec.trace"),
				 (char *)tpath("rec.pftrace"), NULL };
		static struct pview v;
		struct run r;

		ASSERT_EQ(0, run_tool(argv, 30, &r));
		EXPECT_TRUE(exited(&r, 0)) TH_LOG("%s", r.err);
		pview_read(tpath("rec.pftrace"), &v);
		EXPECT_EQ(NULL, v.bad) TH_LOG("%s", v.bad);
		EXPECT_EQ(50 + 1, count_tracks(&v, 'G'));
	}
	rm_tmpdir();
}

/* gort-top -p pid -i ms -n iters, its stdout on *out; its pid, or -1 */
static pid_t top_start(pid_t pid, const char *ms, const char *iters,
		       int *out)
{
	char pidarg[16];
	int fds[2];
	pid_t tp;

	snprintf(pidarg, sizeof(pidarg), "%d", pid);
	if (pipe(fds))
		return -1;
	tp = fork();
	if (tp < 0)
		return -1;
	if (!tp) {
		dup2(fds[1], 1);
		execl(TOOL("gort-top"), "gort-top", "-p", pidarg, "-i", ms,
		      "-n", iters, NULL);
		_exit(127);
	}
	close(fds[1]);
	*out = fds[0];
	return tp;
}

/* Append what fd has until EOF to buf, which holds got bytes already. */
static void read_rest(int fd, char *buf, size_t len, size_t got)
{
	for (;;) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
}

TEST_F_TIMEOUT(slow, top, 60)
{
	char why[256], dir[64], cmd[256];
	const char *skip = bpf_skip_reason(why, sizeof(why));
	int ctl, rep, out, status;
	static char buf[65536];
	static const char *const maps[] = { "pstat", "gstat", "lat_hist",
					    "blocks", "gc" };
	size_t i;
	pid_t pid, tp;
	FILE *f;

	if (skip)
		SKIP(return, "%s", skip);
	NEED_TOOL("gort-top");
	if (system("command -v bpftool >/dev/null 2>&1 || test -x /usr/sbin/bpftool"))
		SKIP(return, "no bpftool");
	pid = bw_start(&ctl, &rep);
	ASSERT_LT(0, pid);
	snprintf(dir, sizeof(dir), "/sys/fs/bpf/gort/%d", pid);
	tp = top_start(pid, "500", "4", &out);
	ASSERT_LE(0, tp);
	/* the busy second runs while gort-top reports */
	EXPECT_TRUE(bw_cmd(ctl, rep, 'b'));
	for (i = 0; i < ARRAY_SIZE(maps); i++) {
		char line[512];
		int found = 0;

		snprintf(cmd, sizeof(cmd),
			 "PATH=$PATH:/usr/sbin bpftool map dump pinned %s/%s 2>&1",
			 dir, maps[i]);
		f = popen(cmd, "r");
		ASSERT_NE(NULL, f);
		while (fgets(line, sizeof(line), f))
			found += !strncmp(maps[i], "pstat", 5) ?
					 !!strstr(line, "\"runq_max\"") :
					 !!strstr(line, "\"key\"") ||
						 !!strstr(line, "Found 0");
		EXPECT_LT(0, found) TH_LOG("bpftool map dump pinned %s/%s",
					   dir, maps[i]);
		pclose(f);
	}
	read_rest(out, buf, sizeof(buf), 0);
	ASSERT_EQ(tp, waitpid(tp, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status)) TH_LOG("%s", buf);
	EXPECT_NE(NULL, strstr(buf, "report 4"));
	EXPECT_NE(NULL, strstr(buf, "\nP0 "));
	EXPECT_NE(NULL, strstr(buf, "scheduling latency"));
	EXPECT_NE(NULL, strstr(buf, "sleep="));
	EXPECT_NE(NULL, strstr(buf, "GC: no GC yet"));
	/* the pins are gone with gort-top */
	EXPECT_NE(0, access(dir, F_OK));
	bw_cmd(ctl, rep, 'q');
	close(ctl);
	waitpid(pid, NULL, 0);
}

/* dur() of gort-top: "123ns", "45us", "6ms", "7s", truncated: [*lo, *hi] */
static bool parse_dur(const char *s, uint64_t *lo, uint64_t *hi)
{
	unsigned long long v;
	uint64_t unit;
	char u[4];

	if (sscanf(s, "%llu%3[a-z]", &v, u) != 2)
		return false;
	if (!strcmp(u, "ns"))
		unit = 1;
	else if (!strcmp(u, "us"))
		unit = 1000;
	else if (!strcmp(u, "ms"))
		unit = 1000000;
	else if (!strcmp(u, "s"))
		unit = 1000000000;
	else
		return false;
	*lo = v * unit;
	*hi = *lo + unit - 1;
	return true;
}

TEST_F_TIMEOUT(slow, top_gc, 60)
{
	char why[256], state[16], clast[32], slast[32], smax[32], stotal[32];
	const char *skip = bpf_skip_reason(why, sizeof(why));
	unsigned long long cycles, pauses;
	uint64_t last_lo, last_hi, max_lo, max_hi, tot_lo, tot_hi, lo, hi;
	int ctl, rep, out, status;
	static char buf[65536];
	char *line, *next;
	pid_t pid, tp;

	if (skip)
		SKIP(return, "%s", skip);
	NEED_TOOL("gort-top");
	pid = bw_start(&ctl, &rep);
	ASSERT_LT(0, pid);
	tp = top_start(pid, "200", "1000", &out);
	ASSERT_LE(0, tp);
	/* a report means the probes are attached: collect after it */
	EXPECT_TRUE(wait_for(out, "report 1", buf, sizeof(buf), 20000))
		TH_LOG("%s", buf);
	EXPECT_TRUE(bw_cmd(ctl, rep, 'c'));
	/*
	 * The collections are over (slowly, under a sanitizer).  Drop the
	 * reports made meanwhile, then take the second one after: it was
	 * read from the maps a whole interval after the first, which may
	 * have been read before the last collection ended.
	 */
	wait_for(out, "(nothing)", buf, sizeof(buf), 100);
	EXPECT_TRUE(wait_for_n(out, "gort-top: pid", 3, buf, sizeof(buf),
			       20000))
		TH_LOG("%s", buf);
	kill(tp, SIGINT);
	ASSERT_EQ(tp, waitpid(tp, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status)) TH_LOG("%s", buf);
	bw_cmd(ctl, rep, 'q');
	close(ctl);
	waitpid(pid, NULL, 0);
	line = strstr(buf, "gort-top: pid");
	line = line ? strstr(line + 1, "gort-top: pid") : NULL;
	ASSERT_NE(NULL, line) TH_LOG("%s", buf);
	/* that report's GC line */
	line = strstr(line, "\nGC: ");
	ASSERT_NE(NULL, line) TH_LOG("%s", buf);
	next = strchr(++line, '\n');
	if (next)
		*next = '\0';
	ASSERT_EQ(7, sscanf(line,
			    "GC: %15[^,], %llu cycles (last %31[^)]); STW: %llu pauses, last %31[^,], max %31[^,], total %31s",
			    state, &cycles, clast, &pauses, slast, smax,
			    stotal))
		TH_LOG("%s", line);
	EXPECT_STREQ("idle", state) TH_LOG("%s", line);
	EXPECT_LE(3ull, cycles) TH_LOG("%s", line);
	EXPECT_LE(cycles, pauses) TH_LOG("%s", line);
	ASSERT_TRUE(parse_dur(clast, &lo, &hi)) TH_LOG("%s", line);
	ASSERT_TRUE(parse_dur(slast, &last_lo, &last_hi)) TH_LOG("%s", line);
	ASSERT_TRUE(parse_dur(smax, &max_lo, &max_hi)) TH_LOG("%s", line);
	ASSERT_TRUE(parse_dur(stotal, &tot_lo, &tot_hi)) TH_LOG("%s", line);
	EXPECT_LE(last_lo, max_hi) TH_LOG("%s", line);
	EXPECT_LE(max_lo, tot_hi) TH_LOG("%s", line);
	EXPECT_LE(tot_lo, pauses * max_hi) TH_LOG("%s", line);
}

TEST(not_root)
{
	char pidarg[16];
	struct run r;

	NEED_TOOL("gort-top");
	if (geteuid() != 0)
		SKIP(return, "dropping to nobody needs root");
	if (access("/usr/bin/setpriv", X_OK))
		SKIP(return, "no setpriv (util-linux)");
	snprintf(pidarg, sizeof(pidarg), "%d", getpid());
	{
		char *argv[] = { "/usr/bin/setpriv", "--reuid=65534",
				 "--regid=65534", "--clear-groups",
				 "--inh-caps=-all", "--bounding-set=-all",
				 TOOL("gort-top"), "-p", pidarg, "-n", "1",
				 NULL };

		ASSERT_EQ(0, run_tool(argv, 30, &r));
		EXPECT_TRUE(exited(&r, 1));
		EXPECT_STREQ("gort-top: BPF not permitted: run as root or with CAP_BPF+CAP_PERFMON\n",
			     r.err);
	}
	{
		char *argv[] = { "/usr/bin/setpriv", "--reuid=65534",
				 "--regid=65534", "--clear-groups",
				 "--inh-caps=-all", "--bounding-set=-all",
				 TOOL("gort-trace"), "record", "-p", pidarg,
				 "-d", "1", "-o", "/dev/null", NULL };

		if (access(TOOL("gort-trace"), X_OK))
			return;
		ASSERT_EQ(0, run_tool(argv, 30, &r));
		EXPECT_TRUE(exited(&r, 1));
		EXPECT_EQ(1, gt_count_lines(r.err)) TH_LOG("%s", r.err);
		EXPECT_NE(NULL, strstr(r.err, "BPF not permitted"));
	}
}

TEST_HARNESS_MAIN
