// SPDX-License-Identifier: MIT
/*
 * env.c - GORT_* environment settings and the default number of Ps.
 *
 * GORT_TRACE=FILE writes an execution trace of the run to FILE; with
 * GORT_TRACEFLIGHT=SIZE (64KiB..1TiB) it is a flight recorder instead,
 * keeping the last SIZE of the trace in memory and writing it to FILE on
 * SIGUSR2 and at exit (Documentation/trace-files.md).
 *
 * Read once at each gort_main start, as Go reads GOMAXPROCS and GODEBUG at
 * start-up.  A malformed value is a one-line error naming the variable and
 * what it wants, and exit status 2: a typo in GORT_MAXPROCS silently
 * becoming the default would make a benchmark or a capacity test measure
 * the wrong thing.  Knobs that belong to parts that are configured but
 * idle in this build (the collector's, the poller's) are still checked, so
 * a setting is never accepted and then ignored without a word.
 *
 * Default Ps: the CPUs in the affinity mask, capped by the cgroup v2 CPU
 * limit (cpu.max quota/period, rounded up, at least 2 unless there is only
 * one CPU), walking up the cgroup tree to the tightest limit, as Go 1.25
 * does: containers are where these servers run.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

struct gort_config gort_config;

static _Noreturn void bad(const char *var, const char *val, const char *want)
{
	fprintf(stderr, "gort: %s=\"%s\": %s\n", var, val, want);
	fflush(stderr);
	_exit(2);
}

static bool parse_int(const char *s, long long min, long long max,
		      long long *out)
{
	char *end;
	long long v;

	if (!*s || isspace((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* "262144", "256K", "256KiB", "1M", "1MiB", "1G", "1GiB" (binary units) */
static bool parse_size(const char *s, long long *out)
{
	static const struct {
		const char *suffix;
		int shift;
	} units[] = {
		{ "", 0 },    { "B", 0 },   { "K", 10 },  { "KiB", 10 },
		{ "KB", 10 }, { "M", 20 },  { "MiB", 20 }, { "MB", 20 },
		{ "G", 30 },  { "GiB", 30 }, { "GB", 30 }, { "T", 40 },
		{ "TiB", 40 }, { "TB", 40 },
	};
	char *end;
	unsigned long long v;
	size_t i;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return false;
	for (i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(end, units[i].suffix))
			continue;
		if (v > (unsigned long long)LLONG_MAX >> units[i].shift)
			return false;
		*out = (long long)(v << units[i].shift);
		return true;
	}
	return false;
}

static void parse_debug(const char *val)
{
	char buf[512], *save = NULL, *item;
	long long v;

	if (strlen(val) >= sizeof(buf))
		bad("GORT_DEBUG", val, "too long");
	strcpy(buf, val);
	for (item = strtok_r(buf, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		const char *key = item, *arg;
		char msg[160];

		if (!eq) {
			snprintf(msg, sizeof(msg),
				 "\"%s\" is not a knob=value pair", item);
			bad("GORT_DEBUG", val, msg);
		}
		*eq = '\0';
		arg = eq + 1;
		if (!strcmp(key, "schedtrace")) {
			if (!parse_int(arg, 0, INT_MAX, &v))
				bad("GORT_DEBUG", val,
				    "schedtrace wants a period in milliseconds (0 = off)");
			gort_config.schedtrace_ms = (int)v;
		} else if (!strcmp(key, "scheddetail") ||
			   !strcmp(key, "gctrace") ||
			   !strcmp(key, "gccheckmark") ||
			   !strcmp(key, "goroutineleak") ||
			   !strcmp(key, "kmodtrace") ||
			   !strcmp(key, "uringaccept") ||
			   !strcmp(key, "uringrecv") ||
			   !strcmp(key, "uringregring")) {
			if (!parse_int(arg, 0, 1, &v)) {
				snprintf(msg, sizeof(msg), "%s wants 0 or 1",
					 key);
				bad("GORT_DEBUG", val, msg);
			}
			if (!strcmp(key, "scheddetail"))
				gort_config.scheddetail = v;
			else if (!strcmp(key, "gctrace"))
				gort_config.gctrace = v;
			else if (!strcmp(key, "gccheckmark"))
				gort_config.gccheckmark = v;
			else if (!strcmp(key, "kmodtrace"))
				gort_config.kmodtrace = v;
			else if (!strcmp(key, "goroutineleak"))
				gort_config.goroutineleak = v;
			else if (!strcmp(key, "uringaccept"))
				gort_config.uring_accept = v;
			else if (!strcmp(key, "uringrecv"))
				gort_config.uring_recv = v;
			else if (!strcmp(key, "uringregring"))
				gort_config.uring_regring = v;
		} else if (!strcmp(key, "gcbarrier")) {
			if (strcmp(arg, "pagemap") && strcmp(arg, "mprotect") &&
			    strcmp(arg, "stw"))
				bad("GORT_DEBUG", val,
				    "gcbarrier wants pagemap, mprotect or stw");
			gort_config.gcbarrier = !strcmp(arg, "pagemap") ?
							"pagemap" :
						!strcmp(arg, "mprotect") ?
							"mprotect" :
							"stw";
		} else if (!strcmp(key, "uringbufs")) {
			/* a power of two: the kernel's buffer ring wants one */
			if (!parse_int(arg, 1, 32768, &v) || (v & (v - 1)))
				bad("GORT_DEBUG", val,
				    "uringbufs wants a power of two, 1 to 32768");
			gort_config.uring_bufs = (int)v;
		} else {
			snprintf(msg, sizeof(msg),
				 "unknown knob \"%s\" (known: schedtrace, scheddetail, gctrace, gccheckmark, gcbarrier, goroutineleak, kmodtrace, uringaccept, uringrecv, uringregring, uringbufs)",
				 key);
			bad("GORT_DEBUG", val, msg);
		}
	}
}

void gort_env_parse(void)
{
	const char *v;
	long long n;

	memset(&gort_config, 0, sizeof(gort_config));
	gort_config.stack_size = GORT_STACK_DEFAULT;
	gort_config.gc_percent = 100;
	gort_config.memlimit = INT64_MAX;
	gort_config.uring_accept = true;
	/* measured slower on httpd-raw and echo: Documentation/netpoll.md */
	gort_config.uring_recv = false;
	gort_config.uring_regring = true;
	gort_config.uring_bufs = 256;

	v = getenv("GORT_MAXPROCS");
	if (v) {
		if (!parse_int(v, 1, GORT_MAX_PROCS, &n))
			bad("GORT_MAXPROCS", v,
			    "want a whole number from 1 to 1024");
		gort_config.maxprocs = (int)n;
	}
	v = getenv("GORT_STACK");
	if (v) {
		if (!parse_size(v, &n) || n < (long long)GORT_STACK_MIN ||
		    n > (long long)GORT_STACK_MAX)
			bad("GORT_STACK", v,
			    "want a stack size from 16KiB to 1GiB (bytes, or with K/KiB/M/MiB/G/GiB)");
		gort_config.stack_size = (size_t)n;
	}
	v = getenv("GORT_DEBUG");
	if (v)
		parse_debug(v);
	v = getenv("GORT_GC");
	if (v) {
		if (!strcmp(v, "off"))
			gort_config.gc_percent = -1;
		else if (parse_int(v, 0, INT_MAX, &n))
			gort_config.gc_percent = (int)n;
		else
			bad("GORT_GC", v, "want a percentage or \"off\"");
	}
	v = getenv("GORT_MEMLIMIT");
	if (v) {
		if (!strcmp(v, "off"))
			gort_config.memlimit = INT64_MAX;
		else if (parse_size(v, &n))
			gort_config.memlimit = n;
		else
			bad("GORT_MEMLIMIT", v,
			    "want bytes, optionally with KiB/MiB/GiB/TiB, or \"off\"");
	}
	v = getenv("GORT_NETPOLL");
	if (v) {
		if (!strcmp(v, "uring"))
			gort_config.netpoll = 1;
		else if (!strcmp(v, "epoll"))
			gort_config.netpoll = 2;
		else
			bad("GORT_NETPOLL", v, "want \"uring\" or \"epoll\"");
	}
	v = getenv("GORT_TRACE");
	if (v && !*v)
		bad("GORT_TRACE", v, "want the trace file's path");
	gort_config.trace_path = v;
	/*
	 * A separate variable rather than a GORT_DEBUG knob: it is a size
	 * that goes with GORT_TRACE's path, not a debugging switch.
	 */
	v = getenv("GORT_TRACEFLIGHT");
	if (v) {
		if (!parse_size(v, &n) || n < (64 << 10) || n > (1LL << 40))
			bad("GORT_TRACEFLIGHT", v,
			    "want the flight recorder's size, 64KiB to 1TiB (bytes, or with K/KiB/M/MiB/G/GiB)");
		if (!gort_config.trace_path)
			bad("GORT_TRACEFLIGHT", v,
			    "needs GORT_TRACE=FILE, the file the recorder writes on SIGUSR2 and at exit");
		gort_config.trace_flight = (size_t)n;
	}
}

/* Tightest cgroup v2 cpu.max limit on the way to the root, in CPUs. */
static int cgroup_cpu_limit(void)
{
	char line[4096], path[4200], *rel;
	FILE *f = fopen("/proc/self/cgroup", "re");
	int best = 0;

	if (!f)
		return 0;
	rel = NULL;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "0::", 3)) {
			rel = line + 3;
			rel[strcspn(rel, "\n")] = '\0';
			break;
		}
	}
	fclose(f);
	if (!rel)
		return 0;
	for (;;) {
		char quota[32];
		long long period;
		FILE *c;

		snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cpu.max",
			 strcmp(rel, "/") ? rel : "");
		c = fopen(path, "re");
		if (c) {
			if (fscanf(c, "%31s %lld", quota, &period) == 2 &&
			    strcmp(quota, "max") && period > 0) {
				long long q = atoll(quota);
				int cpus = (int)((q + period - 1) / period);

				if (cpus > 0 && (!best || cpus < best))
					best = cpus;
			}
			fclose(c);
		}
		if (!strcmp(rel, "/") || !*rel)
			break;
		*strrchr(rel, '/') = '\0';
		if (!*rel)
			strcpy(rel, "/");
	}
	return best;
}

int gort_default_procs(void)
{
	cpu_set_t set;
	int n = 0, limit;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n <= 0)
		n = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (n <= 0)
		n = 1;
	limit = cgroup_cpu_limit();
	if (limit > 0) {
		if (limit < 2)
			limit = 2;
		if (limit < n)
			n = limit;
	}
	if (n > GORT_MAX_PROCS)
		n = GORT_MAX_PROCS;
	return n;
}
