// SPDX-License-Identifier: MIT
/*
 * gort-bench.c - gort's side of the benchmark workloads.
 *
 * One program, one subcommand per workload of ../shared/bench/WORKLOADS.md,
 * with the names, flags and result lines of the Go peer
 * (../shared/bench/peers/go/main.go), so that compare.sh can run the two in
 * alternation and read both with the same parser:
 *
 *	gort-bench <workload> [-n N] [-addr HOST:PORT] [-c N] [-d SECS]
 *		   [-size N] [-depth N] [-q]
 *	gort-bench ctxswitch [n]
 *
 * Every result line is "<workload> <key>=<value> ...", the first key being
 * the primary metric, printed only after the workload's correctness checks
 * have passed.  A failed check, a runtime call that fails, or a workload
 * that this build does not have yet ends the program with a message on
 * stderr and a non-zero status (1 for a failure, 2 for a usage error, as
 * Go's flag package does) and no result line: compare.sh counts such a run
 * as failed instead of taking a number from it.
 *
 * Measuring: the workload runs as the main goroutine of gort_main(), so
 * runtime start-up and shutdown are never inside the timed section; each
 * workload reads CLOCK_MONOTONIC itself around exactly the section that
 * WORKLOADS.md times.  procs is the number of Ps in use, read inside the
 * runtime with gort_gomaxprocs(0) as the Go peer reads runtime.GOMAXPROCS(0);
 * it therefore comes from GORT_MAXPROCS (or the runtime's default) and shows
 * what actually ran rather than what was asked for.
 *
 * Flags follow Go's flag package: "-n 5", "-n=5", "--n=5", a bare "-q" for
 * the boolean, parsing stops at the first non-flag argument or at "--", an
 * unknown flag or a bad value is a usage error (status 2), -h prints usage
 * (status 0).  Every workload accepts every flag, as the peer's single flag
 * set does; -n <= 0 means the workload's default.  Arguments left after the
 * flags are an error, except ctxswitch's optional count (the C peers'
 * "ctxswitch <kind> [n]" form).
 *
 * Rejected alternatives: getopt_long (it permutes arguments and has no
 * "-flag=value" for single-dash long options, so the peer's command lines
 * would not carry over) and one program per workload (compare.sh and
 * `make bench` want one binary, and the shared flag set keeps them aligned).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gort.h>

#include "bench.h"

struct workload {
	const char *name;	/* subcommand, as in the Go peer */
	/* the workload; NULL: not in this build yet */
	int (*run)(const struct bench_args *a);
	int positional_n;	/* takes "[n]" after the flags */
};

static const struct workload workloads[] = {
	{ "spawn",	 bench_spawn,	  0 },
	{ "pingpong",	 bench_pingpong,  0 },
	{ "ring",	 bench_ring,	  0 },
	{ "chanmpmc",	 bench_chanmpmc,  0 },
	{ "select",	 bench_select,	  0 },
	{ "mutex",	 bench_mutex,	  0 },
	{ "timers",	 bench_timers,	  0 },
	{ "idle",	 bench_idle,	  0 },
	{ "ctxswitch",	 bench_ctxswitch, 1 },
	{ "httpd-raw",	 bench_httpd_raw, 0 },
	{ "echo-server", bench_echo_server, 0 },
	{ "echo-client", bench_echo_client, 0 },
	{ "gc",		 bench_gc,	  0 },
	{ "gcbench",	 bench_gcbench,	  0 },
};

#define N_WORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: gort-bench <workload> [-n N] [-addr HOST:PORT] "
		"[-c N] [-d SECS] [-size N] [-depth N] [-q]\n"
		"       gort-bench ctxswitch [n]\n"
		"workloads:");
	for (i = 0; i < N_WORKLOADS; i++)
		fprintf(f, " %s%s", workloads[i].name,
			workloads[i].run ? "" : "(not yet)");
	fprintf(f, "\nprocs comes from GORT_MAXPROCS; see WORKLOADS.md\n");
}

static _Noreturn void usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static _Noreturn void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "gort-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	exit(2);
}

int bench_procs(void)
{
	return gort_gomaxprocs(0);
}

long bench_status_kb(const char *field)
{
	char line[256];
	size_t len = strlen(field);
	long kb = -1;
	FILE *f;

	f = fopen("/proc/self/status", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, len) && line[len] == ':') {
			kb = strtol(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

int bench_fail(const char *w, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "gort-bench: %s: check failed: ", w);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* Go's strconv.ParseInt(s, 0, 64), less the underscores. */
static long parse_int(const char *flag, const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || end == s || *end)
		usage_error("invalid value \"%s\" for flag -%s: parse error",
			    s, flag);
	return v;
}

static double parse_float(const char *flag, const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end)
		usage_error("invalid value \"%s\" for flag -%s: parse error",
			    s, flag);
	return v;
}

/* Go's strconv.ParseBool. */
static int parse_bool(const char *flag, const char *s)
{
	static const char *const t[] = { "1", "t", "T", "TRUE", "true",
					 "True" };
	static const char *const f[] = { "0", "f", "F", "FALSE", "false",
					 "False" };
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!strcmp(s, t[i]))
			return 1;
		if (!strcmp(s, f[i]))
			return 0;
	}
	usage_error("invalid boolean value \"%s\" for -%s: parse error",
		    s, flag);
}

/*
 * Parse the flags in argv[*i..argc), Go style; *i is left at the first
 * argument that is not a flag.
 */
static void parse_flags(int argc, char **argv, int *i, struct bench_args *a)
{
	while (*i < argc) {
		char *arg = argv[*i], *name, *val;
		size_t len;

		if (arg[0] != '-' || !arg[1])
			return;		/* first non-flag argument */
		(*i)++;
		name = arg + 1;
		if (*name == '-') {
			name++;
			if (!*name)
				return;		/* "--" ends the flags */
		}
		if (*name == '-' || *name == '=')
			usage_error("bad flag syntax: %s", arg);
		val = strchr(name, '=');
		len = val ? (size_t)(val - name) : strlen(name);
		if (val)
			val++;

#define IS(s) (len == strlen(s) && !strncmp(name, s, len))
		if (IS("h") || IS("help")) {
			usage(stdout);
			exit(0);
		}
		if (IS("q")) {
			a->quiet = val ? parse_bool("q", val) : 1;
			continue;
		}
		if (!IS("n") && !IS("addr") && !IS("c") && !IS("d") &&
		    !IS("size") && !IS("depth"))
			usage_error("flag provided but not defined: -%.*s",
				    (int)len, name);
		if (!val) {
			if (*i >= argc)
				usage_error("flag needs an argument: -%s",
					    name);
			val = argv[(*i)++];
		}
		if (IS("n"))
			a->n = parse_int("n", val);
		else if (IS("addr"))
			a->addr = val;
		else if (IS("c"))
			a->conns = parse_int("c", val);
		else if (IS("d"))
			a->secs = parse_float("d", val);
		else if (IS("size"))
			a->size = parse_int("size", val);
		else
			a->depth = parse_int("depth", val);
#undef IS
	}
}

struct run {
	const struct workload *w;	/* what to run */
	const struct bench_args *a;	/* with these arguments */
};

/* The main goroutine: the workload, then its result lines flushed. */
static int run_main(void *arg)
{
	struct run *r = arg;
	int rc;

	rc = r->w->run(r->a);
	if (fflush(stdout) && !rc) {
		perror("gort-bench: stdout");
		rc = 1;
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct bench_args a = {
		.addr = "127.0.0.1:8080",
		.conns = 50,
		.secs = 10,
		.size = 64,
		.depth = 21,
	};
	const struct workload *w = NULL;
	struct run r;
	size_t k;
	int i = 2, rc;

	if (argc < 2)
		usage_error("no workload given");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "-help") ||
	    !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	for (k = 0; k < N_WORKLOADS; k++)
		if (!strcmp(argv[1], workloads[k].name))
			w = &workloads[k];
	if (!w)
		usage_error("unknown workload %s", argv[1]);
	a.name = w->name;

	parse_flags(argc, argv, &i, &a);
	if (i < argc && w->positional_n) {
		long n = parse_int("n", argv[i++]);

		if (n > 0)
			a.n = n;
	}
	if (i < argc)
		usage_error("%s: unexpected argument %s", w->name, argv[i]);

	if (!w->run) {
		fprintf(stderr, "gort-bench: workload %s is not implemented "
			"in this build yet\n", w->name);
		return 2;
	}

	r.w = w;
	r.a = &a;
	rc = gort_main(run_main, &r);
	if (rc < 0) {
		fprintf(stderr, "gort-bench: gort_main: %s\n", strerror(-rc));
		return 1;
	}
	return rc;
}
