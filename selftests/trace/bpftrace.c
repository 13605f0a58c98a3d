// SPDX-License-Identifier: GPL-2.0
/*
 * bpftrace.c - the bpftrace one-liners of Documentation/probes.md run as
 * written and print what they must.
 *
 * Each one-liner is taken from the document (the lines "bpftrace -e '...'"
 * of its "bpftrace one-liners" section), its "./app" replaced by this
 * program, and run as bpftrace -e PROG -c THIS, with GORT_TRACE_WORKLOAD
 * set so that this program, started by bpftrace, runs the workload of
 * workload.h (whose counts are known) instead of its tests.  The output
 * maps are then checked against those counts: goroutines created by main
 * and by nobody, none alive at the end, parks by reason, time parked in
 * sleep, one syscall histogram entry per worker, latencies for every
 * wake-up.  A one-liner in the document that no check here knows, or a
 * check whose one-liner is gone, fails too, so the two stay in step.
 *
 * Root is needed (uprobes and BPF maps need CAP_SYS_ADMIN here), and a
 * kernel that runs this program's code itself (not qemu-user on another
 * architecture); otherwise the tests SKIP with the reason.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "gort_test.h"
#include "workload.h"

#define PROCS 2

static int workload_main(void *arg)
{
	return wl_run() ? 1 : 0;
}

/* Started by bpftrace -c: be the workload, not the test program. */
__attribute__((constructor)) static void workload_entry(void)
{
	if (!getenv("GORT_TRACE_WORKLOAD"))
		return;
	exit(run_main(PROCS, workload_main, NULL));
}

/* ---- the document ---- */

#define MAX_ONELINERS 32

static char *oneliners[MAX_ONELINERS];
static int noneliners;

/* The one-liners' programs (between the quotes), in document order. */
static int read_oneliners(void)
{
	char path[4096], line[4096];
	bool in = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/Documentation/probes.md",
		 GORT_SRCDIR);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *q1, *q2;

		if (!strncmp(line, "## ", 3))
			in = !strncmp(line, "## bpftrace one-liners", 22);
		if (!in || strncmp(line, "bpftrace -e '", 13))
			continue;
		q1 = strchr(line, '\'');
		q2 = strrchr(line, '\'');
		if (q2 <= q1 || noneliners == MAX_ONELINERS)
			continue;
		*q2 = '\0';
		oneliners[noneliners++] = strdup(q1 + 1);
	}
	fclose(f);
	return noneliners;
}

/* Does prog use map (as "@map[" or "@map =")? */
static bool uses_map(const char *prog, const char *map)
{
	const char *p = prog;
	size_t n = strlen(map);

	while ((p = strstr(p, map))) {
		if (p[n] == '[' || p[n] == ' ')
			return true;
		p += n;
	}
	return false;
}

/* prog with every "./app" replaced by exe. */
static char *with_binary(const char *prog, const char *exe)
{
	size_t cap = strlen(prog) * 2 + strlen(exe) * 16 + 1, n = 0;
	char *out = malloc(cap);
	const char *p = prog, *q;

	if (!out)
		return NULL;
	while ((q = strstr(p, "./app"))) {
		n += (size_t)snprintf(out + n, cap - n, "%.*s%s", (int)(q - p),
				      p, exe);
		p = q + 5;
	}
	snprintf(out + n, cap - n, "%s", p);
	return out;
}

/* ---- bpftrace's output ---- */

/* Value printed for "@map[key]" or "@map" (key NULL); -1 if absent. */
static long long map_value(const char *out, const char *map, const char *key)
{
	char want[128];
	const char *p = out;

	if (key)
		snprintf(want, sizeof(want), "\n%s[%s]: ", map, key);
	else
		snprintf(want, sizeof(want), "\n%s: ", map);
	p = strstr(out, want);
	return p ? strtoll(p + strlen(want), NULL, 10) : -1;
}

/* Sum of the bucket counts of histogram "@map"; -1 if absent. */
static long long hist_total(const char *out, const char *map)
{
	char want[128];
	const char *p;
	long long total = 0;

	snprintf(want, sizeof(want), "\n%s: \n", map);
	p = strstr(out, want);
	if (!p)
		return -1;
	p += strlen(want);
	while (*p == '[') {
		const char *close = strchr(p, ')');
		const char *eol = strchr(p, '\n');

		if (!close || !eol || close > eol)
			break;
		total += strtoll(close + 1, NULL, 10);
		p = eol + 1;
	}
	return total;
}

/* ---- the checks, one per one-liner ---- */

typedef void check_fn(struct __test_metadata *_metadata, const char *out);

static void check_created(struct __test_metadata *_metadata, const char *out)
{
	/* goroutine 1 by nobody (gort_main), the workers by goroutine 1 */
	EXPECT_EQ(1, map_value(out, "@created", "0"));
	EXPECT_EQ(WL_N, map_value(out, "@created", "1"));
}

static void check_live(struct __test_metadata *_metadata, const char *out)
{
	EXPECT_EQ(0, map_value(out, "@live", NULL));
}

static void check_reasons(struct __test_metadata *_metadata, const char *out)
{
	long long send = map_value(out, "@reasons", "1");
	long long recv = map_value(out, "@reasons", "2");

	/* every hand-off parks exactly one side */
	EXPECT_EQ(WL_N, (send > 0 ? send : 0) + (recv > 0 ? recv : 0));
	EXPECT_EQ(WL_N, map_value(out, "@reasons", "11"));
	EXPECT_GE(1, map_value(out, "@reasons", "10"));
}

static void check_parked(struct __test_metadata *_metadata, const char *out)
{
	EXPECT_LE((long long)WL_N * WL_SLEEP_NS,
		  map_value(out, "@parked_ns", "11"));
	EXPECT_LT(0, map_value(out, "@parked_ns", "2") +
			     map_value(out, "@parked_ns", "1") + 1);
}

static void check_latency(struct __test_metadata *_metadata, const char *out)
{
	/* each channel hand-off and each sleep wakes one goroutine */
	EXPECT_LE(2 * WL_N, hist_total(out, "@latency_ns"));
}

static void check_syscall(struct __test_metadata *_metadata, const char *out)
{
	EXPECT_EQ(WL_N, hist_total(out, "@syscall_ns"));
}

static void check_stolen(struct __test_metadata *_metadata, const char *out)
{
	/* stealing depends on timing: only what is printed must make sense */
	long long p0 = map_value(out, "@stolen", "0");
	long long p1 = map_value(out, "@stolen", "1");

	EXPECT_TRUE(p0 == -1 || p0 > 0);
	EXPECT_TRUE(p1 == -1 || p1 > 0);
	EXPECT_EQ(NULL, strstr(out, "@stolen[2]"));
}

static const struct {
	const char *map;
	check_fn *check;
} checks[] = {
	{ "@created", check_created },
	{ "@live", check_live },
	{ "@reasons", check_reasons },
	{ "@parked_ns", check_parked },
	{ "@latency_ns", check_latency },
	{ "@syscall_ns", check_syscall },
	{ "@stolen", check_stolen },
};

/* Which check a one-liner belongs to: -1 none, -2 several. */
static int check_of(const char *prog)
{
	int found = -1;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(checks); i++) {
		if (!uses_map(prog, checks[i].map))
			continue;
		if (found >= 0)
			return -2;
		found = (int)i;
	}
	return found;
}

TEST(every_oneliner_checked)
{
	size_t i;
	int k, n;

	n = read_oneliners();
	ASSERT_LT(0, n) TH_LOG("no one-liners in probes.md (%d)", n);
	for (k = 0; k < n; k++)
		EXPECT_LE(0, check_of(oneliners[k]))
			TH_LOG("no check (or several) for: %s", oneliners[k]);
	for (i = 0; i < ARRAY_SIZE(checks); i++) {
		int uses = 0;

		for (k = 0; k < n; k++)
			uses += check_of(oneliners[k]) == (int)i;
		EXPECT_EQ(1, uses) TH_LOG("%s: %d one-liners", checks[i].map,
					  uses);
	}
}

/* ---- running them ---- */

struct run {
	const char *prog;
	const char *exe;
};

static int exec_bpftrace(void *arg)
{
	const struct run *r = arg;

	setenv("GORT_TRACE_WORKLOAD", "1", 1);
	execlp("bpftrace", "bpftrace", "-e", r->prog, "-c", r->exe,
	       (char *)NULL);
	fprintf(stderr, "bpftrace: %s\n", strerror(errno));
	return 127;
}

static bool have_bpftrace(void)
{
	const char *path = getenv("PATH");
	char buf[4096], *dir, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path ? path : "/usr/bin:/bin");
	for (dir = strtok_r(buf, ":", &save); dir;
	     dir = strtok_r(NULL, ":", &save)) {
		char file[4200];

		snprintf(file, sizeof(file), "%s/bpftrace", dir);
		if (!access(file, X_OK))
			return true;
	}
	return false;
}

FIXTURE(oneliner) {
	int unused;
};

FIXTURE_VARIANT(oneliner) {
	int check;		/* index in checks[] */
};

FIXTURE_VARIANT_ADD(oneliner, created) { .check = 0 };
FIXTURE_VARIANT_ADD(oneliner, live) { .check = 1 };
FIXTURE_VARIANT_ADD(oneliner, reasons) { .check = 2 };
FIXTURE_VARIANT_ADD(oneliner, parked) { .check = 3 };
FIXTURE_VARIANT_ADD(oneliner, latency) { .check = 4 };
FIXTURE_VARIANT_ADD(oneliner, syscall) { .check = 5 };
FIXTURE_VARIANT_ADD(oneliner, stolen) { .check = 6 };

FIXTURE_SETUP(oneliner)
{
}

FIXTURE_TEARDOWN(oneliner)
{
}

TEST_F_TIMEOUT(oneliner, runs, 120)
{
	char exe[4096], arch[64], how[128];
	struct gt_child c;
	struct run r;
	ssize_t len;
	int k, n, ret;

	if (!wl_native(arch, sizeof(arch)))
		SKIP(return, "the kernel (%s) does not run this program's code: uprobes cannot see it",
		     arch);
	if (geteuid() != 0)
		SKIP(return, "attaching uprobes needs root (CAP_SYS_ADMIN)");
	if (!have_bpftrace())
		SKIP(return, "bpftrace is not installed (scripts/deps.sh installs it)");
	n = read_oneliners();
	ASSERT_LT(0, n);
	for (k = 0; k < n && check_of(oneliners[k]) != variant->check; k++)
		;
	ASSERT_LT(k, n) TH_LOG("no one-liner uses %s",
			       checks[variant->check].map);
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ASSERT_LT(0, len);
	exe[len] = '\0';
	r.prog = with_binary(oneliners[k], exe);
	r.exe = exe;
	ASSERT_NE(NULL, r.prog);

	ret = gt_fork_run(exec_bpftrace, &r, 100, &c);
	ASSERT_EQ(0, ret);
	TH_LOG("%s", r.prog);
	if (!gt_exited_with(&c, 0)) {
		TH_LOG("bpftrace %s; stdout:\n%s\nstderr:\n%s",
		       gt_child_how(&c, how, sizeof(how)), c.out, c.err);
		ASSERT_TRUE(false);
	}
	checks[variant->check].check(_metadata, c.out);
	if (_metadata->passed == 0)
		TH_LOG("output:\n%s", c.out);
	gt_child_free(&c);
}

TEST_HARNESS_MAIN
