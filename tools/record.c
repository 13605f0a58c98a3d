// SPDX-License-Identifier: MIT
/*
 * record.c - `gort-trace record -p PID [-o FILE] [-d SECONDS]`: attach
 * tools/bpf/gort_record.bpf.c to every gort USDT probe of a running
 * process and write what fires as a trace file, the format GORT_TRACE
 * writes (include/uapi/gort_trace.h), until SECONDS pass, SIGINT or
 * SIGTERM arrives, or the process ends.
 *
 * The probes are found in the libgort.so the process maps, else in its
 * executable (a static link of libgort.a); libbpf's attach_usdt handles
 * each probe's sites and semaphores, so guarded probes start firing when
 * we attach and stop when we detach.  The ring buffer's records are
 * sorted into one batch buffer per thread (a thread's records arrive in
 * its order), written as a batch when full and at the end: the file is
 * then exactly what the runtime's own writer would have made.
 *
 * Stopping: detach first, then drain the ring, so that nothing fired
 * before the detach is lost and nothing after it arrives.
 *
 * Rejected: writing records in ring order as single-thread batches (a
 * reader would see one stream whose time goes back across CPUs).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gort-trace.h"
#include "tool_bpf.h"
#include "uapi/gort_trace.h"

#ifndef GORT_NO_BPF
#include <bpf/libbpf.h>

#include "gort_record.skel.h"
#include "trace_probes.h"

struct rstream {
	uint32_t tid;			/* its thread */
	uint64_t seq;			/* next batch's seq */
	uint32_t n;			/* records in buf */
	struct gort_trace_event buf[GORT_TRACE_BATCH_MAX];
};

static struct {
	FILE *f;
	struct rstream **s;		/* by first appearance */
	size_t ns, cap;
	uint64_t nrec;
	int err;
} rec;

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	stop = 1;
}

static void put_batch(uint32_t id, struct rstream *s)
{
	struct gort_trace_batch bh = {
		.magic = GORT_TRACE_BATCH_MAGIC,
		.nrec = s->n,
		.stream = id,
		.tid = s->tid,
		.seq = s->seq++,
		.first_ns = s->buf[0].ts_ns,
		.last_ns = s->buf[s->n - 1].ts_ns,
	};

	if (fwrite(&bh, sizeof(bh), 1, rec.f) != 1 ||
	    fwrite(s->buf, sizeof(s->buf[0]), s->n, rec.f) != s->n)
		rec.err = errno ? errno : EIO;
	s->n = 0;
}

static int on_event(void *ctx, void *data, size_t len)
{
	const struct gort_trace_event *e = data;
	struct rstream *s = NULL;
	size_t i;

	if (len < sizeof(*e))
		return 0;
	for (i = 0; i < rec.ns; i++) {
		if (rec.s[i]->tid == e->tid) {
			s = rec.s[i];
			break;
		}
	}
	if (!s) {
		if (rec.ns == rec.cap) {
			size_t cap = rec.cap ? rec.cap * 2 : 16;
			struct rstream **n = realloc(rec.s, cap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			rec.s = n;
			rec.cap = cap;
		}
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		s->tid = e->tid;
		i = rec.ns;
		rec.s[rec.ns++] = s;
	}
	s->buf[s->n++] = *e;
	rec.nrec++;
	if (s->n == GORT_TRACE_BATCH_MAX)
		put_batch((uint32_t)i, s);
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: gort-trace record -p PID [-o FILE] [-d SECONDS]\n");
	return 2;
}

int gort_trace_record(int argc, char **argv)
{
	const char *out = "gort.trace";
	struct gort_record_bpf *skel = NULL;
	struct bpf_link **links = NULL;
	struct gort_trace_file_header h;
	struct ring_buffer *rb = NULL;
	char bin[4096], why[256];
	int pid = 0, nl = 0, i, opt, ret = 1, err;
	double secs = 0;
	uint64_t deadline = 0;
	struct sigaction sa;
	static const struct {
		const char *name;	/* probe */
		const char *prog;	/* its program */
		bool reserved;		/* no binary has it yet */
	} probes[] = {
#define P(name, kind, class, args) \
	{ #name, "on_" #name, !strcmp(#class, "RESERVED") },
		GORT_TRACE_PROBES(P)
#undef P
	};

	optind = 1;
	while ((opt = getopt(argc, argv, "p:o:d:")) != -1) {
		switch (opt) {
		case 'p':
			pid = atoi(optarg);
			break;
		case 'o':
			out = optarg;
			break;
		case 'd':
			secs = atof(optarg);
			if (secs <= 0)
				return usage();
			break;
		default:
			return usage();
		}
	}
	if (pid <= 0 || optind != argc)
		return usage();
	/* BPF first: without permission, that is the one thing to say */
	gort_tool_quiet_libbpf();
	skel = gort_record_bpf__open();
	err = skel ? gort_record_bpf__load(skel) : -errno;
	if (err) {
		fprintf(stderr, "gort-trace: %s\n", gort_tool_bpf_error(err));
		goto out_destroy;
	}
	if (gort_tool_find_binary(pid, bin, sizeof(bin), why, sizeof(why))) {
		fprintf(stderr, "gort-trace: %s\n", why);
		goto out_destroy;
	}
	links = calloc(ARRAY_LEN(probes), sizeof(*links));
	if (!links)
		goto out_destroy;
	for (i = 0; i < (int)ARRAY_LEN(probes); i++) {
		struct bpf_program *prog = bpf_object__find_program_by_name(
			skel->obj, probes[i].prog);

		if (!prog || probes[i].reserved)
			continue;
		links[i] = bpf_program__attach_usdt(prog, pid, bin, "gort",
						    probes[i].name, NULL);
		if (!links[i]) {
			err = -errno;
			if (err == -ENOENT)
				continue;	/* an older runtime */
			fprintf(stderr, "gort-trace: attaching to gort:%s in %s: %s\n",
				probes[i].name, bin,
				gort_tool_bpf_error(err));
			goto out_detach;
		}
		nl++;
	}
	if (!nl) {
		fprintf(stderr, "gort-trace: %s (pid %d) has no gort USDT probes\n",
			bin, pid);
		goto out_detach;
	}
	rec.f = fopen(out, "we");
	if (!rec.f) {
		fprintf(stderr, "gort-trace: %s: %s\n", out, strerror(errno));
		goto out_detach;
	}
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, GORT_TRACE_MAGIC, sizeof(h.magic));
	h.version = GORT_TRACE_VERSION;
	h.record_size = sizeof(struct gort_trace_event);
	h.start_ns = now_ns();
	h.batch_max = GORT_TRACE_BATCH_MAX;
	h.pid = (uint32_t)pid;
	h.exe_bias = gort_tool_exe_bias(pid);
	if (fwrite(&h, sizeof(h), 1, rec.f) != 1)
		rec.err = errno;
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL,
			      NULL);
	if (!rb) {
		fprintf(stderr, "gort-trace: ring buffer: %s\n",
			strerror(errno));
		goto out_close;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (secs > 0)
		deadline = h.start_ns + (uint64_t)(secs * 1e9);
	fprintf(stderr, "gort-trace: recording pid %d from %s (%d probes) to %s\n",
		pid, bin, nl, out);
	while (!stop && !rec.err) {
		/* woken when the ring fills up, else drained every 10 ms */
		err = ring_buffer__poll(rb, 10);
		if (err >= 0)
			err = ring_buffer__consume(rb);
		if (err < 0 && err != -EINTR)
			break;
		if (deadline && now_ns() >= deadline)
			break;
		if (kill(pid, 0) && errno == ESRCH)
			break;
	}
	/* detach, then drain: see the comment at the top */
	for (i = 0; i < (int)ARRAY_LEN(probes); i++)
		bpf_link__destroy(links[i]);
	free(links);
	links = NULL;
	ring_buffer__consume(rb);
	for (i = 0; i < (int)rec.ns; i++)
		if (rec.s[i]->n)
			put_batch((uint32_t)i, rec.s[i]);
	if (skel->bss->dropped)
		fprintf(stderr, "gort-trace: warning: %llu records lost to a full ring buffer\n",
			(unsigned long long)skel->bss->dropped);
	fprintf(stderr, "gort-trace: %" PRIu64 " records from %zu threads\n",
		rec.nrec, rec.ns);
	ret = rec.err ? 1 : 0;
out_close:
	if (fclose(rec.f) && !rec.err)
		rec.err = errno;
	if (rec.err) {
		fprintf(stderr, "gort-trace: %s: %s\n", out, strerror(rec.err));
		ret = 1;
	}
out_detach:
	ring_buffer__free(rb);
	if (links) {
		for (i = 0; i < (int)ARRAY_LEN(probes); i++)
			bpf_link__destroy(links[i]);
		free(links);
	}
out_destroy:
	gort_record_bpf__destroy(skel);
	for (i = 0; i < (int)rec.ns; i++)
		free(rec.s[i]);
	free(rec.s);
	return ret;
}

#else /* GORT_NO_BPF */

int gort_trace_record(int argc, char **argv)
{
	fprintf(stderr, "gort-trace: record is not built in: %s\n",
		GORT_NO_BPF);
	return 1;
}

#endif /* GORT_NO_BPF */
