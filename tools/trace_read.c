// SPDX-License-Identifier: MIT
/*
 * trace_read.c - the streaming trace reader of trace_read.h: an index of
 * batch headers, then a k-way merge of per-stream cursors.  The design
 * and its memory bound are in the header.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace_read.h"

#define RS sizeof(struct gort_trace_event)

static int fail(struct tr_reader *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	return -1;
}

static ssize_t pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got,
				  (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (!n)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* The stream numbered id, made on first sight. */
static struct tr_stream *stream_of(struct tr_reader *r, uint32_t id,
				   uint32_t tid)
{
	struct tr_stream *s;
	size_t i;

	for (i = 0; i < r->ns; i++)
		if (r->s[i]->id == id)
			return r->s[i];
	if (r->ns == r->scap) {
		size_t cap = r->scap ? r->scap * 2 : 16;
		struct tr_stream **n = realloc(r->s, cap * sizeof(*n));

		if (!n)
			return NULL;
		r->s = n;
		r->scap = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->id = id;
	s->tid = tid;
	s->last_seq = UINT64_MAX;
	r->s[r->ns++] = s;
	return s;
}

static int add_batch(struct tr_stream *s, uint64_t off, uint32_t nrec)
{
	if (s->nb == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct tr_batch *n = realloc(s->b, cap * sizeof(*n));

		if (!n)
			return -1;
		s->b = n;
		s->cap = cap;
	}
	s->b[s->nb].off = off;
	s->b[s->nb].nrec = nrec;
	s->nb++;
	return 0;
}

static int check_header(struct tr_reader *r, const char *path)
{
	const struct gort_trace_file_header *h = &r->h;

	if (memcmp(h->magic, GORT_TRACE_MAGIC, sizeof(h->magic)))
		return fail(r, "%s: not a gort trace (bad magic)", path);
	if (h->version != GORT_TRACE_VERSION)
		return fail(r,
			    "%s: trace format version %u, this gort-trace reads version %u%s",
			    path, h->version, GORT_TRACE_VERSION,
			    h->version == 1 ?
				    " (version 1 has no batch headers: trace the program again)" :
				    "");
	if (h->record_size != RS)
		return fail(r, "%s: records of %u bytes, expected %zu", path,
			    h->record_size, RS);
	if (!h->batch_max || h->batch_max > (1u << 20))
		return fail(r, "%s: corrupt header (batch size %u)", path,
			    h->batch_max);
	return 0;
}

int tr_open(struct tr_reader *r, const char *path)
{
	struct gort_trace_batch bh;
	struct stat st;
	uint64_t off;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	r->first_ns = UINT64_MAX;
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0)
		return fail(r, "%s: %s", path, strerror(errno));
	if (fstat(r->fd, &st))
		return fail(r, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(r, "%s: not a regular file", path);
	r->size = (uint64_t)st.st_size;
	n = pread_all(r->fd, &r->h, sizeof(r->h), 0);
	if (n < 0)
		return fail(r, "%s: %s", path, strerror(errno));
	if ((size_t)n < sizeof(r->h)) {
		if ((size_t)n >= sizeof(r->h.magic) &&
		    !memcmp(r->h.magic, GORT_TRACE_MAGIC, sizeof(r->h.magic)))
			return fail(r, "%s: truncated trace header (%zd of %zu bytes)",
				    path, n, sizeof(r->h));
		return fail(r, "%s: not a gort trace (%zd bytes)", path, n);
	}
	if (check_header(r, path))
		return -1;
	for (off = sizeof(r->h); off < r->size;) {
		struct tr_stream *s;
		uint64_t avail;

		n = pread_all(r->fd, &bh, sizeof(bh), off);
		if (n < 0)
			return fail(r, "%s: %s", path, strerror(errno));
		if ((size_t)n < sizeof(bh)) {
			r->truncated_at = off;
			break;
		}
		if (bh.magic != GORT_TRACE_BATCH_MAGIC || !bh.nrec ||
		    bh.nrec > r->h.batch_max)
			return fail(r, "%s: corrupt trace: no batch header at offset %llu",
				    path, (unsigned long long)off);
		s = stream_of(r, bh.stream, bh.tid);
		if (!s)
			return fail(r, "%s: out of memory", path);
		if (s->last_seq != UINT64_MAX && bh.seq <= s->last_seq)
			return fail(r, "%s: corrupt trace: stream %u goes back at offset %llu",
				    path, bh.stream, (unsigned long long)off);
		s->last_seq = bh.seq;
		if (!s->nb) {
			s->first_ns = bh.first_ns;
			if (bh.first_ns > r->complete_ns)
				r->complete_ns = bh.first_ns;
		}
		avail = (r->size - off - sizeof(bh)) / RS;
		if (avail < bh.nrec) {
			/* a crashed writer: keep the whole records */
			r->truncated_at = off;
			r->truncated_ns = s->last_ns;
			if (!avail)
				break;
			bh.nrec = (uint32_t)avail;
			/* ts_ns leads the record */
			if (pread_all(r->fd, &r->truncated_ns,
				      sizeof(r->truncated_ns),
				      off + sizeof(bh) + (avail - 1) * RS) !=
			    sizeof(r->truncated_ns))
				r->truncated_ns = s->last_ns;
			bh.last_ns = r->truncated_ns;
		}
		s->last_ns = bh.last_ns;
		if (add_batch(s, off + sizeof(bh), bh.nrec))
			return fail(r, "%s: out of memory", path);
		r->nbatch++;
		r->nrec += bh.nrec;
		if (bh.first_ns < r->first_ns)
			r->first_ns = bh.first_ns;
		if (bh.last_ns > r->last_ns)
			r->last_ns = bh.last_ns;
		if (r->truncated_at)
			break;
		off += sizeof(bh) + (uint64_t)bh.nrec * RS;
	}
	r->heap = calloc(r->ns + 1, sizeof(*r->heap));
	if (!r->heap)
		return fail(r, "%s: out of memory", path);
	if (r->first_ns == UINT64_MAX)
		r->first_ns = r->last_ns = r->h.start_ns;
	tr_rewind(r);
	return 0;
}

void tr_close(struct tr_reader *r)
{
	size_t i;

	for (i = 0; i < r->ns; i++) {
		free(r->s[i]->b);
		free(r->s[i]);
	}
	free(r->s);
	free(r->heap);
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

/* Make sure s->chunk has a record at ci; false when s is exhausted. */
static bool fill(struct tr_reader *r, struct tr_stream *s)
{
	while (s->ci == s->cn) {
		const struct tr_batch *b;
		uint32_t want;
		ssize_t n;

		if (s->bi == s->nb)
			return false;
		b = &s->b[s->bi];
		if (s->ri == b->nrec) {
			s->bi++;
			s->ri = 0;
			continue;
		}
		want = b->nrec - s->ri;
		if (want > TR_CHUNK)
			want = TR_CHUNK;
		n = pread_all(r->fd, s->chunk, want * RS,
			      b->off + (uint64_t)s->ri * RS);
		if (n < (ssize_t)(want * RS))
			return false;
		s->ri += want;
		s->ci = 0;
		s->cn = want;
	}
	return true;
}

static bool before(const struct tr_stream *a, const struct tr_stream *b)
{
	uint64_t ta = a->chunk[a->ci].ts_ns, tb = b->chunk[b->ci].ts_ns;

	return ta < tb || (ta == tb && a->id < b->id);
}

static void sift_down(struct tr_reader *r, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		struct tr_stream *t;

		if (l < r->nh && before(r->heap[l], r->heap[m]))
			m = l;
		if (l + 1 < r->nh && before(r->heap[l + 1], r->heap[m]))
			m = l + 1;
		if (m == i)
			return;
		t = r->heap[i];
		r->heap[i] = r->heap[m];
		r->heap[m] = t;
		i = m;
	}
}

void tr_rewind(struct tr_reader *r)
{
	size_t i;

	r->nh = 0;
	for (i = 0; i < r->ns; i++) {
		struct tr_stream *s = r->s[i];

		s->bi = 0;
		s->ri = s->ci = s->cn = 0;
		if (fill(r, s))
			r->heap[r->nh++] = s;
	}
	for (i = r->nh / 2; i-- > 0;)
		sift_down(r, i);
}

bool tr_next(struct tr_reader *r, struct gort_trace_event *ev)
{
	struct tr_stream *s;

	if (!r->nh)
		return false;
	s = r->heap[0];
	*ev = s->chunk[s->ci++];
	if (!fill(r, s))
		r->heap[0] = r->heap[--r->nh];
	if (r->nh)
		sift_down(r, 0);
	return true;
}
