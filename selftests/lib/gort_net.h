/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gort_net.h - helpers shared by the network selftests (selftests/net).
 *
 * Every network test runs once per poller and number of Ps: the fixture
 * GT_NET_FIXTURE(name) has the variants uring_procs1, uring_procs2,
 * epoll_procs1 and epoll_procs2, and uring_plain_procs2.  The uring
 * variants turn on every optional io_uring feature the kernel has, also
 * those off by default (GT_NET_ALL: multishot receive), and the plain one
 * turns them all off (GT_NET_PLAIN), so the single-shot paths that older
 * kernels take stay tested here.  Its setup exports GORT_NETPOLL
 * (and GORT_DEBUG) for the test's process; gt_net_run() starts gort_main
 * with the variant's Ps and checks, before the test's main function runs,
 * that the poller asked for is the one running (a silent fall-back would
 * make the io_uring variants test epoll twice).
 *
 * Where io_uring is missing (qemu-user answers io_uring_setup with ENOSYS;
 * kernel.io_uring_disabled or seccomp give EPERM) the io_uring variants
 * SKIP with the reason, never pass; their setup first checks that a run
 * without GORT_NETPOLL fell back to epoll on its own, and fails if not.
 * The harness of this kernel runs a test body even after its setup
 * skipped, so each body starts with GT_NET_BEGIN().  To run some variants
 * only (the harness has no filter), set GT_NET_VARIANT to a prefix of
 * their names ("epoll", "uring_procs2"); the others then SKIP.
 *
 * The rest are small pieces that most network tests need: a connected
 * TCP pair, a listener's port, a byte pattern that tells streams and
 * offsets apart, and a way to know that a goroutine really is parked in
 * the poller before acting on it (rather than sleeping and hoping).
 */
#ifndef GORT_NET_H
#define GORT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gort_test.h"

struct gt_net_variant {
	const char *poller;	/* GORT_NETPOLL value: "uring" or "epoll" */
	int procs;		/* GORT_MAXPROCS */
	const char *debug;	/* GORT_DEBUG, or NULL */
	bool plain;		/* named <poller>_plain_procs<N> */
};

/* io_uring with every optional feature on, also those off by default */
#define GT_NET_ALL "uringrecv=1"
/* io_uring with every optional feature off: the single-shot paths */
#define GT_NET_PLAIN "uringaccept=0,uringrecv=0,uringregring=0"

#define GT_NET_FIXTURE(name)						\
	FIXTURE(name) {							\
		int unused;						\
	};								\
	FIXTURE_VARIANT(name) {						\
		struct gt_net_variant v;				\
	};								\
	FIXTURE_VARIANT_ADD(name, uring_procs1) {			\
		.v = { .poller = "uring", .procs = 1,			\
		       .debug = GT_NET_ALL } };				\
	FIXTURE_VARIANT_ADD(name, uring_procs2) {			\
		.v = { .poller = "uring", .procs = 2,			\
		       .debug = GT_NET_ALL } };				\
	FIXTURE_VARIANT_ADD(name, epoll_procs1) {			\
		.v = { .poller = "epoll", .procs = 1 } };		\
	FIXTURE_VARIANT_ADD(name, epoll_procs2) {			\
		.v = { .poller = "epoll", .procs = 2 } };		\
	FIXTURE_VARIANT_ADD(name, uring_plain_procs2) {			\
		.v = { .poller = "uring", .procs = 2,			\
		       .debug = GT_NET_PLAIN, .plain = true } };	\
	FIXTURE_SETUP(name)						\
	{								\
		char why[256];						\
		int r = gt_net_setup(&variant->v, why, sizeof(why));	\
									\
		if (r > 0)						\
			SKIP(return, "%s", why);			\
		if (r < 0) {						\
			TH_LOG("%s", why);				\
			ASSERT_EQ(0, r);				\
		}							\
	}								\
	FIXTURE_TEARDOWN(name) { }

/* First statement of every test body of a GT_NET_FIXTURE. */
#define GT_NET_BEGIN() do {						\
	if (_metadata->skip)						\
		return;							\
} while (0)

/*
 * Fixture setup: export GORT_NETPOLL=v->poller.  Returns 0 (go on), 1 (skip:
 * io_uring is unavailable, why says so) or -1 (failure, why says it).
 */
int gt_net_setup(const struct gt_net_variant *v, char *why, size_t len);
/* 0 if io_uring_setup works here, else -errno (ENOSYS, EPERM, ...). */
int gt_io_uring_probe(void);
/* What gort_netpoll_name() must say for GORT_NETPOLL=poller. */
const char *gt_poller_name(const char *poller);
/*
 * run_main(v->procs, fn, arg), first checking in the main goroutine that
 * gort_netpoll_name() is the variant's poller; returns fn's value, or 1
 * (fn not run) on a mismatch.
 */
int gt_net_run(const struct gt_net_variant *v, int (*fn)(void *arg),
	       void *arg);

/* ---- sockets ---- */

/* Port of a bound socket, or -errno. */
int gt_port_of(int fd);
/*
 * In a goroutine: a connected loopback TCP pair made with gort_listen,
 * gort_dial and gort_accept (the listener is closed again).  *client is the
 * dialed end, *server the accepted one.  0 or -errno.
 */
int gt_tcp_pair(int *client, int *server);
/*
 * The same with SO_SNDBUF and SO_RCVBUF of bufsize on both ends, so that
 * little is in flight and writes block soon.  The client's segments are
 * limited to 1 KiB (TCP_MAXSEG on the listener): loopback's 64 KiB MSS
 * does not fit in such buffers, and the receiver would drop segments and
 * leave the sender in zero-window probes that back off for minutes.
 */
int gt_tcp_pair_small(int *client, int *server, int bufsize);
/* gort_read until len bytes, EOF or an error: bytes read, or -errno. */
ssize_t gt_read_full(int fd, void *buf, size_t len);

/* ---- data ---- */

/* Byte off of stream seed: differs between streams and along one. */
static inline uint8_t gt_pattern_byte(uint32_t seed, uint64_t off)
{
	uint64_t x = (off >> 3) * 0x9E3779B97F4A7C15ull + seed;

	x ^= x >> 29;
	x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 32;
	return (uint8_t)(x >> ((off & 7) * 8));
}

void gt_pattern_fill(void *buf, size_t len, uint32_t seed, uint64_t off);
/* Index of the first byte of buf that differs from the pattern, or -1. */
ssize_t gt_pattern_find_diff(const void *buf, size_t len, uint32_t seed,
			     uint64_t off);

/* ---- goroutines and time ---- */

/*
 * In a goroutine: wait until goroutine goid is parked in the poller ("IO
 * wait" in gort_dump_goroutines()), polling every millisecond.  False if
 * it was not within timeout_ns.
 */
bool gt_wait_io_parked(uint64_t goid, int64_t timeout_ns);
/* CPU time of the whole process (every thread), in nanoseconds. */
int64_t gt_process_cpu_ns(void);

/*
 * Open sockets of this process, -1 if /proc is unreadable.  Only sockets:
 * a P's io_uring is made at its first request, wherever that falls.
 */
int gt_count_sockets(void);

#endif /* GORT_NET_H */
