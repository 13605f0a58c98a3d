// SPDX-License-Identifier: MIT
/*
 * bench.h - what the gort-bench driver and its workloads share.
 *
 * gort-bench is one program with one subcommand per workload of
 * ../shared/bench/WORKLOADS.md; gort-bench.c parses the command line the
 * way the Go peer's flag package does and runs the chosen workload as the
 * main goroutine of gort_main().  A workload is a function that takes the
 * parsed arguments, prints its result lines and returns 0, or prints what
 * went wrong to stderr and returns non-zero (a failed correctness check
 * must never leave a number behind that could be mistaken for a result).
 *
 * Adding a workload: write int bench_<name>(const struct bench_args *) in
 * a file under bench/, declare it below and fill in its row of the table in
 * gort-bench.c.
 */
#ifndef GORT_BENCH_H
#define GORT_BENCH_H

#include <stdint.h>
#include <time.h>

/* The command line, as the Go peer's flag set defines it. */
struct bench_args {
	const char *name;	/* the workload's subcommand */
	long n;			/* -n; <= 0: the workload's default */
	const char *addr;	/* -addr: listen or dial address */
	long conns;		/* -c: echo client connections */
	double secs;		/* -d: echo client seconds */
	long size;		/* -size: echo message bytes */
	long depth;		/* -depth: binary-trees depth */
	int quiet;		/* -q: gc does not print its check lines */
};

/* Wall time on the monotonic clock, in nanoseconds. */
static inline int64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* elapsed_ns / n, as the Go peer's nsPer(). */
static inline double bench_ns_per(int64_t elapsed_ns, long n)
{
	return (double)elapsed_ns / (double)n;
}

/* The number of Ps in use (Go's runtime.GOMAXPROCS(0)). */
int bench_procs(void);
/* A field of /proc/self/status in KiB ("VmRSS", "VmHWM"), or -1. */
long bench_status_kb(const char *field);
/* Report a failed check of workload w on stderr; returns 1. */
int bench_fail(const char *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Workloads (sched.c). */
int bench_spawn(const struct bench_args *a);
int bench_ctxswitch(const struct bench_args *a);

/* Workloads (chan.c). */
int bench_pingpong(const struct bench_args *a);
int bench_ring(const struct bench_args *a);
int bench_chanmpmc(const struct bench_args *a);
int bench_select(const struct bench_args *a);
int bench_mutex(const struct bench_args *a);
int bench_timers(const struct bench_args *a);
int bench_idle(const struct bench_args *a);

/* Workloads (net.c). */
int bench_httpd_raw(const struct bench_args *a);
int bench_echo_server(const struct bench_args *a);
int bench_echo_client(const struct bench_args *a);

/* Workloads (gc.c). */
int bench_gc(const struct bench_args *a);
int bench_gcbench(const struct bench_args *a);

#endif /* GORT_BENCH_H */
