// SPDX-License-Identifier: MIT
/*
 * gort-top [-p PID] [-i MS] [-n ITER] - a live view of a running gort
 * program from its USDT probes (Documentation/tools.md): per P, the
 * run-queue length, its peak and the goroutine it runs; the scheduling
 * latency histogram; block reasons; the collector's cycles and
 * stop-the-world pauses; the goroutines that ran longest.
 *
 * tools/bpf/gort_top.bpf.c keeps all of it in BPF maps, which this
 * program pins under /sys/fs/bpf/gort/<pid>/<map> (mounting bpffs there
 * first if it is not and we may), so `bpftool map dump pinned ...` shows
 * the same state, and removes the pins when it ends (-n done, SIGINT,
 * SIGTERM, or the process gone).  Without -p, the one process that maps
 * libgort.so is watched.  -n ITER prints ITER plain-text reports and
 * exits (for scripts and tests); otherwise the screen is redrawn every
 * -i MS (1000) until interrupted.
 *
 * Failure is one line and exit 1: "gort-top: BPF not permitted: run as
 * root or with CAP_BPF+CAP_PERFMON" when the kernel refuses the load
 * (libbpf's own messages are silenced, tool_bpf.c).
 *
 * Rejected: a curses UI (a dependency, and a test could not read it), and
 * reading the maps through the pins (the loader has the descriptors).
 */
#include <dirent.h>
#include <errno.h>
#include <linux/types.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "uapi/gort_trace.h"
#include "bpf/gort_top.h"
#include "tool_bpf.h"

#ifndef GORT_NO_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "gort_top.skel.h"

#define BPF_FS_MAGIC_ 0xcafe4a11
#define PIN_ROOT "/sys/fs/bpf"

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	stop = 1;
}

static const char *const reasons[GORT_BLOCK_REASON_COUNT + 1] = {
	"unknown", "chan send", "chan receive", "select", "select (no cases)",
	"chan (nil chan)", "sync.Mutex.Lock", "sync.RWMutex.RLock",
	"sync.RWMutex.Lock", "sync.Cond.Wait", "sync.WaitGroup.Wait",
	"sleep", "network", "GC assist wait", "(newer reason)",
};

/* The one process mapping libgort.so, for a gort-top without -p. */
static int find_pid(void)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int found = 0, n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char path[300], line[4096];
		int pid = atoi(de->d_name);
		FILE *f;

		if (pid <= 0 || pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%d/maps", pid);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			if (strstr(line, "/libgort.so")) {
				found = pid;
				n++;
				break;
			}
		}
		fclose(f);
	}
	closedir(d);
	return n == 1 ? found : -n;
}

/* /sys/fs/bpf is bpffs, or we mount it there (root only). */
static int bpffs_ready(void)
{
	struct statfs sf;

	if (!statfs(PIN_ROOT, &sf) && (unsigned long)sf.f_type == BPF_FS_MAGIC_)
		return 0;
	if (mount("bpf", PIN_ROOT, "bpf", 0, "mode=0700"))
		return -errno;
	return 0;
}

struct pinned {
	struct bpf_map *map;
	char path[256];
};

static int pin_all(struct gort_top_bpf *skel, int pid, struct pinned *pins,
		   int *npins, char *dir, size_t dlen)
{
	struct bpf_map *maps[] = {
		skel->maps.pstat, skel->maps.gstat, skel->maps.ready,
		skel->maps.lat_hist, skel->maps.blocks, skel->maps.gc,
	};
	size_t i;
	int err;

	err = bpffs_ready();
	if (err)
		return err;
	mkdir(PIN_ROOT "/gort", 0700);
	snprintf(dir, dlen, PIN_ROOT "/gort/%d", pid);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	for (i = 0; i < ARRAY_LEN(maps); i++) {
		snprintf(pins[i].path, sizeof(pins[i].path), "%s/%s", dir,
			 bpf_map__name(maps[i]));
		unlink(pins[i].path);	/* a gort-top that was killed */
		err = bpf_map__pin(maps[i], pins[i].path);
		if (err)
			return err;
		pins[i].map = maps[i];
		(*npins)++;
	}
	return 0;
}

static void unpin_all(struct pinned *pins, int npins, const char *dir)
{
	int i;

	for (i = 0; i < npins; i++)
		bpf_map__unpin(pins[i].map, pins[i].path);
	if (dir[0]) {
		rmdir(dir);
		/* fails, as it should, while another gort-top uses it */
		rmdir(PIN_ROOT "/gort");
	}
}

static const char *dur(uint64_t ns, char *buf, size_t len)
{
	if (ns < 10000)
		snprintf(buf, len, "%lluns", (unsigned long long)ns);
	else if (ns < 10000000)
		snprintf(buf, len, "%lluus", (unsigned long long)(ns / 1000));
	else if (ns < 10000000000ull)
		snprintf(buf, len, "%llums",
			 (unsigned long long)(ns / 1000000));
	else
		snprintf(buf, len, "%llus",
			 (unsigned long long)(ns / 1000000000));
	return buf;
}

struct grow {
	__u64 goid;
	struct gort_top_g g;
};

static int by_run(const void *a, const void *b)
{
	const struct grow *x = a, *y = b;

	return x->g.run_ns < y->g.run_ns ? 1 : x->g.run_ns > y->g.run_ns ? -1 :
									  0;
}

static void report(struct gort_top_bpf *skel, int pid, int iter)
{
	int pfd = bpf_map__fd(skel->maps.pstat);
	int gfd = bpf_map__fd(skel->maps.gstat);
	int hfd = bpf_map__fd(skel->maps.lat_hist);
	int bfd = bpf_map__fd(skel->maps.blocks);
	int cfd = bpf_map__fd(skel->maps.gc);
	static struct grow rows[4096];
	struct gort_top_gc gcs = { 0 };
	__u64 hist[GORT_TOP_BUCKETS] = { 0 }, total = 0, max = 0, key, next;
	char a[32], b[32], c[32], d[32];
	__u32 k;
	int n = 0, i, shown;

	printf("gort-top: pid %d, report %d\n", pid, iter);
	printf("%-5s %6s %8s %10s %10s\n", "P", "runq", "runq_max", "starts",
	       "running");
	for (k = 0, shown = 0; k < GORT_TOP_MAXP; k++) {
		struct gort_top_p ps;

		if (bpf_map_lookup_elem(pfd, &k, &ps) || !ps.starts)
			continue;
		snprintf(a, sizeof(a), "G%llu",
			 (unsigned long long)ps.cur_goid);
		printf("P%-4u %6llu %8llu %10llu %10s\n", k,
		       (unsigned long long)ps.runq,
		       (unsigned long long)ps.runq_max,
		       (unsigned long long)ps.starts, ps.cur_goid ? a : "-");
		shown++;
	}
	if (!shown)
		printf("(no goroutine started yet)\n");
	for (k = 0; k < GORT_TOP_BUCKETS; k++) {
		bpf_map_lookup_elem(hfd, &k, &hist[k]);
		total += hist[k];
		if (hist[k] > max)
			max = hist[k];
	}
	printf("scheduling latency (runnable -> running), %llu starts:\n",
	       (unsigned long long)total);
	for (k = 0; k < GORT_TOP_BUCKETS; k++) {
		int bar;

		if (!hist[k])
			continue;
		bar = (int)(hist[k] * 40 / (max ? max : 1));
		printf("  [%7s, %7s) %10llu %.*s\n",
		       dur(1ull << k, a, sizeof(a)),
		       dur(k < 63 ? 1ull << (k + 1) : ~0ull, b, sizeof(b)),
		       (unsigned long long)hist[k], bar,
		       "########################################");
	}
	printf("block reasons:");
	for (k = 0, shown = 0; k <= GORT_BLOCK_REASON_COUNT; k++) {
		__u64 v = 0;

		if (!bpf_map_lookup_elem(bfd, &k, &v) && v) {
			printf(" %s=%llu", reasons[k], (unsigned long long)v);
			shown++;
		}
	}
	printf("%s\n", shown ? "" : " none yet");
	k = 0;
	bpf_map_lookup_elem(cfd, &k, &gcs);
	if (!gcs.cycles && !gcs.in_cycle && !gcs.stw_count && !gcs.in_stw)
		printf("GC: no GC yet\n");
	else
		printf("GC: %s, %llu cycles (last %s); STW: %llu pauses, last %s, max %s, total %s%s\n",
		       gcs.in_cycle ? "in a cycle" : "idle",
		       (unsigned long long)gcs.cycles,
		       dur(gcs.cycle_last_ns, a, sizeof(a)),
		       (unsigned long long)gcs.stw_count,
		       dur(gcs.stw_last_ns, b, sizeof(b)),
		       dur(gcs.stw_max_ns, c, sizeof(c)),
		       dur(gcs.stw_total_ns, d, sizeof(d)),
		       gcs.in_stw ? " (stopped now)" : "");
	for (key = 0; n < (int)ARRAY_LEN(rows) &&
		      !bpf_map_get_next_key(gfd, n ? &key : NULL, &next);) {
		key = next;
		if (!bpf_map_lookup_elem(gfd, &key, &rows[n].g))
			rows[n++].goid = key;
	}
	qsort(rows, (size_t)n, sizeof(rows[0]), by_run);
	printf("goroutines: %d live; longest running:\n", n);
	printf("  %-10s %-9s %4s %8s %8s %7s %s\n", "G", "state", "P",
	       "starts", "run", "blocks", "last block");
	for (i = 0; i < n && i < 10; i++) {
		const struct gort_top_g *g = &rows[i].g;
		static const char *const st[] = { "?", "running", "runnable",
						   "blocked" };

		snprintf(a, sizeof(a), "G%llu",
			 (unsigned long long)rows[i].goid);
		printf("  %-10s %-9s %4lld %8llu %8s %7llu %s\n", a,
		       st[g->state < 4 ? g->state : 0], (long long)g->p,
		       (unsigned long long)g->starts,
		       dur(g->run_ns, b, sizeof(b)),
		       (unsigned long long)g->blocks,
		       g->blocks ? reasons[g->reason < GORT_BLOCK_REASON_COUNT ?
						   g->reason :
						   GORT_BLOCK_REASON_COUNT] :
				   "-");
	}
	fflush(stdout);
}

static int usage(void)
{
	fprintf(stderr, "usage: gort-top [-p PID] [-i MS] [-n ITER]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const char *const probes[] = {
		"go_create", "go_unblock", "go_start", "go_stop", "go_block",
		"go_end", "proc_runq", "gc_begin", "gc_end", "stw_begin",
		"stw_end",
	};
	struct bpf_link *links[ARRAY_LEN(probes)] = { 0 };
	struct gort_top_bpf *skel = NULL;
	struct pinned pins[8];
	char bin[4096], why[256], dir[128] = "";
	int pid = 0, ms = 1000, iters = 0, npins = 0, nl = 0, opt, err, ret = 1;
	size_t i;
	struct sigaction sa;

	while ((opt = getopt(argc, argv, "p:i:n:")) != -1) {
		switch (opt) {
		case 'p':
			pid = atoi(optarg);
			if (pid <= 0)
				return usage();
			break;
		case 'i':
			ms = atoi(optarg);
			if (ms <= 0)
				return usage();
			break;
		case 'n':
			iters = atoi(optarg);
			if (iters <= 0)
				return usage();
			break;
		default:
			return usage();
		}
	}
	if (optind != argc)
		return usage();
	/* BPF first: without permission, that is the one thing to say */
	gort_tool_quiet_libbpf();
	skel = gort_top_bpf__open();
	err = skel ? gort_top_bpf__load(skel) : -errno;
	if (err) {
		fprintf(stderr, "gort-top: %s\n", gort_tool_bpf_error(err));
		goto out_destroy;
	}
	if (!pid) {
		pid = find_pid();
		if (pid <= 0) {
			fprintf(stderr, pid ? "gort-top: %d processes map libgort.so: choose one with -p PID\n" :
					      "gort-top: no process maps libgort.so: give -p PID\n",
				-pid);
			goto out_destroy;
		}
	}
	if (gort_tool_find_binary(pid, bin, sizeof(bin), why, sizeof(why))) {
		fprintf(stderr, "gort-top: %s\n", why);
		goto out_destroy;
	}
	for (i = 0; i < ARRAY_LEN(probes); i++) {
		char name[64];
		struct bpf_program *prog;

		snprintf(name, sizeof(name), "on_%s", probes[i]);
		prog = bpf_object__find_program_by_name(skel->obj, name);
		if (!prog)
			continue;
		links[i] = bpf_program__attach_usdt(prog, pid, bin, "gort",
						    probes[i], NULL);
		if (!links[i]) {
			err = -errno;
			if (err == -ENOENT)
				continue;	/* a probe this runtime lacks */
			fprintf(stderr, "gort-top: attaching to gort:%s in %s: %s\n",
				probes[i], bin, gort_tool_bpf_error(err));
			goto out_detach;
		}
		nl++;
	}
	if (!nl) {
		fprintf(stderr, "gort-top: %s (pid %d) has no gort USDT probes\n",
			bin, pid);
		goto out_detach;
	}
	err = pin_all(skel, pid, pins, &npins, dir, sizeof(dir));
	if (err) {
		fprintf(stderr, "gort-top: pinning maps under %s/gort/%d: %s\n",
			PIN_ROOT, pid, strerror(-err));
		goto out_unpin;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (i = 1; !stop; i++) {
		struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

		nanosleep(&ts, NULL);
		if (stop)
			break;
		if (!iters)
			printf("\033[H\033[2J");
		report(skel, pid, (int)i);
		fflush(stdout);	/* a pipe reader sees each report as it is made */
		if (iters && (int)i >= iters)
			break;
		if (kill(pid, 0) && errno == ESRCH) {
			printf("gort-top: pid %d has ended\n", pid);
			break;
		}
	}
	ret = 0;
out_unpin:
	unpin_all(pins, npins, dir);
out_detach:
	for (i = 0; i < ARRAY_LEN(probes); i++)
		bpf_link__destroy(links[i]);
out_destroy:
	gort_top_bpf__destroy(skel);
	return ret;
}

#else /* GORT_NO_BPF */

int main(int argc, char **argv)
{
	fprintf(stderr, "gort-top: not built with BPF: %s\n", GORT_NO_BPF);
	return 1;
}

#endif /* GORT_NO_BPF */
