/* SPDX-License-Identifier: MIT */
/*
 * perfetto.h - the few pieces of Perfetto's trace protobuf that
 * gort-trace writes, and a protobuf encoder small enough to read.
 *
 * A Perfetto trace is `Trace { repeated TracePacket packet = 1; }`, so a
 * file is a sequence of (tag 1, length, TracePacket) and can be streamed
 * packet by packet.  Field numbers are those of perfetto's
 * protos/perfetto/trace/trace_packet.proto, track_event/track_event.proto,
 * track_event/track_descriptor.proto, track_event/counter_descriptor.proto,
 * track_event/process_descriptor.proto and
 * track_event/debug_annotation.proto, named here after their messages and
 * fields.
 *
 * Encoder: a message is built into a struct pb (a growable byte buffer);
 * a nested message is built into its own struct pb and appended with its
 * length.  Nesting is at most three deep here, so the copies cost little.
 *
 * Rejected: linking libprotobuf or perfetto's SDK (a C++ dependency for a
 * dozen fields), and the legacy JSON format (Perfetto only half supports
 * it, and it is three times the size).
 */
#ifndef GORT_PERFETTO_H
#define GORT_PERFETTO_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Trace */
#define PF_TRACE_PACKET 1
/* TracePacket */
#define PF_PACKET_TIMESTAMP 8
#define PF_PACKET_SEQ_ID 10		/* trusted_packet_sequence_id */
#define PF_PACKET_TRACK_EVENT 11
#define PF_PACKET_SEQ_FLAGS 13		/* sequence_flags */
#define PF_PACKET_TRACK_DESCRIPTOR 60
#define PF_SEQ_INCREMENTAL_STATE_CLEARED 1
/* TrackDescriptor */
#define PF_TD_UUID 1
#define PF_TD_NAME 2
#define PF_TD_PROCESS 3
#define PF_TD_PARENT_UUID 5
#define PF_TD_COUNTER 8
/* ProcessDescriptor */
#define PF_PD_PID 1
#define PF_PD_PROCESS_NAME 6
/* CounterDescriptor */
#define PF_CD_UNIT 3
#define PF_CD_UNIT_COUNT 2		/* CounterDescriptor.Unit UNIT_COUNT */
#define PF_CD_UNIT_SIZE_BYTES 3		/* UNIT_SIZE_BYTES */
/* TrackEvent */
#define PF_TE_DEBUG_ANNOTATIONS 4
#define PF_TE_TYPE 9
#define PF_TE_TRACK_UUID 11
#define PF_TE_CATEGORIES 22
#define PF_TE_NAME 23
#define PF_TE_COUNTER_VALUE 30
#define PF_TE_FLOW_IDS 47		/* fixed64 */
#define PF_TE_TERMINATING_FLOW_IDS 48	/* fixed64 */
#define PF_TYPE_SLICE_BEGIN 1
#define PF_TYPE_SLICE_END 2
#define PF_TYPE_INSTANT 3
#define PF_TYPE_COUNTER 4
/* DebugAnnotation */
#define PF_DA_UINT_VALUE 3
#define PF_DA_INT_VALUE 4
#define PF_DA_STRING_VALUE 6
#define PF_DA_NAME 10

/* protobuf wire types */
#define PB_VARINT 0
#define PB_FIXED64 1
#define PB_LEN 2

struct pb {
	uint8_t *p;	/* the bytes */
	size_t n;	/* used */
	size_t cap;	/* allocated */
	int oom;	/* an allocation failed: the message is garbage */
};

static inline void pb_reset(struct pb *b)
{
	b->n = 0;
}

static inline void pb_need(struct pb *b, size_t more)
{
	size_t cap;
	uint8_t *p;

	if (b->n + more <= b->cap)
		return;
	cap = b->cap ? b->cap * 2 : 256;
	while (cap < b->n + more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		b->n = 0;
		return;
	}
	b->p = p;
	b->cap = cap;
}

static inline void pb_varint(struct pb *b, uint64_t v)
{
	pb_need(b, 10);
	if (b->oom)
		return;
	while (v >= 0x80) {
		b->p[b->n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b->p[b->n++] = (uint8_t)v;
}

static inline void pb_tag(struct pb *b, unsigned int field, unsigned int wt)
{
	pb_varint(b, (uint64_t)field << 3 | wt);
}

static inline void pb_u64(struct pb *b, unsigned int field, uint64_t v)
{
	pb_tag(b, field, PB_VARINT);
	pb_varint(b, v);
}

/* int64 fields are plain varints of the two's complement. */
static inline void pb_i64(struct pb *b, unsigned int field, int64_t v)
{
	pb_u64(b, field, (uint64_t)v);
}

static inline void pb_fixed64(struct pb *b, unsigned int field, uint64_t v)
{
	int i;

	pb_tag(b, field, PB_FIXED64);
	pb_need(b, 8);
	if (b->oom)
		return;
	for (i = 0; i < 8; i++)
		b->p[b->n++] = (uint8_t)(v >> (8 * i));
}

static inline void pb_bytes(struct pb *b, unsigned int field, const void *p,
			    size_t len)
{
	pb_tag(b, field, PB_LEN);
	pb_varint(b, len);
	pb_need(b, len);
	if (b->oom)
		return;
	memcpy(b->p + b->n, p, len);
	b->n += len;
}

static inline void pb_str(struct pb *b, unsigned int field, const char *s)
{
	pb_bytes(b, field, s, strlen(s));
}

static inline void pb_msg(struct pb *b, unsigned int field,
			  const struct pb *m)
{
	pb_bytes(b, field, m->p, m->n);
}

#endif /* GORT_PERFETTO_H */
