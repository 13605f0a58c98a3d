/* SPDX-License-Identifier: MIT */
/*
 * trace_read.h - a streaming reader of gort trace files (format version 2,
 * include/uapi/gort_trace.h): the records of every thread merged by
 * timestamp, without holding the file.
 *
 * How: one pass reads only the batch headers (seeking over the records)
 * and builds, per stream, the list of its batches' offsets; the records
 * are then merged by a binary heap of one cursor per stream, each cursor
 * reading its stream's batches a chunk at a time with pread(2).  Memory
 * is O(streams * chunk + batches * 16 bytes): for a 1 GiB trace of 48 KiB
 * batches, 22k index entries (350 KiB) and a few KiB per thread, whatever
 * the number of records.
 *
 * Invariants: a stream's batches are visited in file order, which the
 * writer makes their seq order (checked: a stream whose seq goes back is
 * a corrupt file); within a stream ts_ns never decreases, so the heap
 * yields records in ts_ns order overall (ties: lower stream first).
 *
 * Rejected: loading and sorting all records (a 1 GiB trace would need
 * 1 GiB of memory: the reason the batches got headers), and a cursor per
 * batch (22k open cursors for 1 GiB, each with a buffer).
 */
#ifndef GORT_TRACE_READ_H
#define GORT_TRACE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uapi/gort_trace.h"

#define TR_CHUNK 256	/* records a cursor reads at a time: 12 KiB */

struct tr_batch {
	uint64_t off;		/* file offset of its first record */
	uint32_t nrec;		/* records in it (fewer if truncated) */
};

struct tr_stream {
	uint32_t id;			/* gort_trace_batch.stream */
	uint32_t tid;			/* its thread */
	uint64_t last_seq;		/* seq of its last batch seen */
	uint64_t first_ns;		/* its first record's time */
	uint64_t last_ns;		/* its last record's time */
	struct tr_batch *b;		/* its batches, in order */
	size_t nb, cap;
	/* the cursor */
	size_t bi;			/* batch being read */
	uint32_t ri;			/* next record in it */
	uint32_t ci, cn;		/* next and count in chunk */
	struct gort_trace_event chunk[TR_CHUNK];
};

struct tr_reader {
	int fd;
	struct gort_trace_file_header h;
	uint64_t size;			/* file size */
	struct tr_stream **s;		/* streams, by first appearance */
	size_t ns, scap;
	struct tr_stream **heap;	/* streams with records left, by ts */
	size_t nh;
	uint64_t nbatch, nrec;		/* totals of the index */
	uint64_t truncated_at;		/* offset of a cut-off tail, or 0 */
	uint64_t truncated_ns;		/* the cut-off stream's last whole
					 * record: later, that thread's
					 * records are missing */
	uint64_t first_ns, last_ns;	/* over every batch */
	uint64_t complete_ns;		/* from here on every stream's
					 * records are there (a flight
					 * window's streams start apart) */
	char err[256];			/* the one-line error of tr_open */
};

/*
 * Open path and index its batches.  0, or -1 with r->err set to one line
 * saying what is wrong (not a trace, a version this reader does not know,
 * corrupt).  A file cut off inside its last batch is not an error:
 * r->truncated_at says where the complete part ends.
 */
int tr_open(struct tr_reader *r, const char *path);
void tr_close(struct tr_reader *r);
/* The next record in ts_ns order into *ev; false at the end (or -EIO). */
bool tr_next(struct tr_reader *r, struct gort_trace_event *ev);
/* Rewind the merge to the start. */
void tr_rewind(struct tr_reader *r);

#endif /* GORT_TRACE_READ_H */
