// SPDX-License-Identifier: GPL-2.0
/*
 * runtime.c - the runtime's side of gort.ko, tested without the module.
 *
 * What runs here, on any host (the module itself is tested in QEMU guests
 * by selftests/kmod/qemu-test.sh):
 *  - GORT_DEBUG=kmodtrace=1 on a machine without /dev/gort: the program
 *    runs as usual and says nothing (tracing to the module stays off).
 *  - Malformed kmodtrace values: one line naming GORT_DEBUG, exit 2.
 *  - The ring producer of lib/trace_kmod.h against a consumer that
 *    follows the module's drain loop (kmod/ring.c) step for step: order,
 *    wrap-around, drops counted when full, and many producer threads
 *    racing one consumer with every record seen exactly once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gort_test.h"
#include "kselftest_harness.h"
/* the runtime's internal header: the producer under test */
#include "../../lib/trace_kmod.h"

/* ---- a ring in ordinary memory, drained as the module drains ---- */

struct fake_ring {
	struct gort_kmod_ring hdr;
	struct gort_kmod_slot *slots;
	uint32_t nr;
	uint64_t tail;			/* the consumer's own position */
};

static struct fake_ring *fake_ring_new(uint32_t nr)
{
	struct fake_ring *r = calloc(1, sizeof(*r));
	uint32_t i;

	if (!r)
		return NULL;
	r->slots = calloc(nr, sizeof(*r->slots));
	if (!r->slots) {
		free(r);
		return NULL;
	}
	r->nr = nr;
	for (i = 0; i < nr; i++)
		r->slots[i].seq = i;
	return r;
}

static void fake_ring_free(struct fake_ring *r)
{
	free(r->slots);
	free(r);
}

/* kmod/ring.c's gort_drain(), with fn in place of the tracepoints. */
static int fake_drain(struct fake_ring *r,
		      void (*fn)(const struct gort_trace_event *, void *),
		      void *arg)
{
	struct gort_trace_event ev;
	struct gort_kmod_slot *slot;
	uint64_t pos = r->tail;
	uint32_t n;

	for (n = 0; n < r->nr; n++) {
		slot = &r->slots[pos & (r->nr - 1)];
		if (__atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE) != pos + 1)
			break;
		memcpy(&ev, &slot->ev, sizeof(ev));
		__atomic_store_n(&slot->seq, pos + r->nr, __ATOMIC_RELEASE);
		pos++;
		if (fn)
			fn(&ev, arg);
	}
	r->tail = pos;
	return (int)n;
}

static bool fake_put(struct fake_ring *r, uint64_t goid, uint64_t arg0)
{
	struct gort_trace_event ev = {
		.goid = goid,
		.kind = GORT_EV_USER_LOG,
		.arg = { arg0, 0 },
	};

	return gort_kmod_ring_put(&r->hdr, r->slots, r->nr - 1, &ev);
}

struct seq_check {
	uint64_t next;			/* arg0 expected next */
	uint64_t bad;			/* records out of order */
};

static void check_order(const struct gort_trace_event *ev, void *arg)
{
	struct seq_check *sc = arg;

	if (ev->arg[0] != sc->next)
		sc->bad++;
	sc->next = ev->arg[0] + 1;
}

/* Records come out in order, across many laps of the ring. */
TEST(ring_order_and_wrap)
{
	struct fake_ring *r = fake_ring_new(64);
	struct seq_check sc = { 0, 0 };
	uint64_t i, drained = 0;

	ASSERT_NE(NULL, r);
	for (i = 0; i < 64 * 10; i++) {
		ASSERT_TRUE(fake_put(r, 1, i));
		if (i % 48 == 47)
			drained += fake_drain(r, check_order, &sc);
	}
	drained += fake_drain(r, check_order, &sc);
	EXPECT_EQ((uint64_t)(64 * 10), drained);
	EXPECT_EQ((uint64_t)0, sc.bad);
	EXPECT_EQ((uint64_t)0, r->hdr.dropped);
	EXPECT_EQ((uint64_t)(64 * 10), r->hdr.head);
	fake_ring_free(r);
}

/* A full ring drops, counts the drop, and takes records again once
 * drained; the records kept are the oldest ones. */
TEST(ring_full_drops_and_counts)
{
	struct fake_ring *r = fake_ring_new(64);
	struct seq_check sc = { 0, 0 };
	int i, kept = 0;

	ASSERT_NE(NULL, r);
	for (i = 0; i < 64 + 10; i++)
		kept += fake_put(r, 1, i);
	EXPECT_EQ(64, kept);
	EXPECT_EQ((uint64_t)10, r->hdr.dropped);
	EXPECT_EQ(64, fake_drain(r, check_order, &sc));
	EXPECT_EQ((uint64_t)0, sc.bad);
	EXPECT_EQ((uint64_t)64, sc.next);
	EXPECT_TRUE(fake_put(r, 1, 64));
	EXPECT_EQ(1, fake_drain(r, check_order, &sc));
	EXPECT_EQ((uint64_t)0, sc.bad);
	EXPECT_EQ((uint64_t)10, r->hdr.dropped);
	fake_ring_free(r);
}

/* A consumer that meets a slot not yet published stops there. */
TEST(ring_drain_stops_at_unpublished)
{
	struct fake_ring *r = fake_ring_new(64);

	ASSERT_NE(NULL, r);
	ASSERT_TRUE(fake_put(r, 1, 0));
	/* a producer claimed position 1 and has not published it yet ... */
	r->hdr.head = 2;
	/* ... while another published position 2 */
	ASSERT_TRUE(fake_put(r, 1, 2));
	EXPECT_EQ(1, fake_drain(r, NULL, NULL));
	EXPECT_EQ(0, fake_drain(r, NULL, NULL));
	EXPECT_EQ((uint64_t)1, r->tail);
	/* the late producer publishes: both come out */
	r->slots[1].seq = 2;
	EXPECT_EQ(2, fake_drain(r, NULL, NULL));
	fake_ring_free(r);
}

#define MP_THREADS 4
#define MP_PER_THREAD 10000

struct mp_state {
	struct fake_ring *r;
	_Atomic int producing;		/* producers still running */
	_Atomic uint64_t put_ok;	/* records the producers got in */
	uint8_t *seen;			/* per record id: times consumed */
	uint64_t consumed;
	uint64_t dup;			/* records consumed twice */
};

struct mp_arg {
	struct mp_state *st;
	int id;
};

static void *mp_producer(void *p)
{
	struct mp_arg *a = p;
	uint64_t i, ok = 0;

	for (i = 0; i < MP_PER_THREAD; i++) {
		uint64_t rec = (uint64_t)a->id * MP_PER_THREAD + i;

		ok += fake_put(a->st->r, (uint64_t)a->id + 1, rec);
		if (i % 512 == 0)
			sched_yield();
	}
	atomic_fetch_add(&a->st->put_ok, ok);
	atomic_fetch_sub(&a->st->producing, 1);
	return NULL;
}

static void mp_consume(const struct gort_trace_event *ev, void *arg)
{
	struct mp_state *st = arg;
	uint64_t rec = ev->arg[0];

	if (rec >= (uint64_t)MP_THREADS * MP_PER_THREAD || st->seen[rec]) {
		st->dup++;
		return;
	}
	st->seen[rec] = 1;
	st->consumed++;
}

/*
 * Many producers and one consumer: every record that a producer got in is
 * consumed exactly once, and got-in plus dropped is everything produced.
 */
TEST(ring_many_producers)
{
	struct mp_state st = { 0 };
	struct mp_arg args[MP_THREADS];
	pthread_t th[MP_THREADS];
	int i;

	st.r = fake_ring_new(256);
	ASSERT_NE(NULL, st.r);
	st.seen = calloc(MP_THREADS * MP_PER_THREAD, 1);
	ASSERT_NE(NULL, st.seen);
	atomic_store(&st.producing, MP_THREADS);
	for (i = 0; i < MP_THREADS; i++) {
		args[i].st = &st;
		args[i].id = i;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, mp_producer,
					    &args[i]));
	}
	while (atomic_load(&st.producing) > 0)
		fake_drain(st.r, mp_consume, &st);
	for (i = 0; i < MP_THREADS; i++)
		pthread_join(th[i], NULL);
	fake_drain(st.r, mp_consume, &st);

	EXPECT_EQ((uint64_t)0, st.dup);
	EXPECT_EQ(atomic_load(&st.put_ok), st.consumed);
	EXPECT_EQ((uint64_t)MP_THREADS * MP_PER_THREAD,
		  st.consumed + __atomic_load_n(&st.r->hdr.dropped,
						__ATOMIC_RELAXED));
	free(st.seen);
	fake_ring_free(st.r);
}

/* ---- GORT_DEBUG=kmodtrace ---- */

FIXTURE(knob) {
	int unused;
};
FIXTURE_SETUP(knob) { }
FIXTURE_TEARDOWN(knob) { }

static _Atomic int ended;

static void small_worker(void *arg)
{
	struct gort_chan *c = arg;
	int v = 1;

	gort_chan_send(c, &v);
	atomic_fetch_add(&ended, 1);
}

static int traced_main(void *arg)
{
	struct gort_chan *c = gort_chan_make(sizeof(int), 0);
	int i, v, sum = 0;

	for (i = 0; i < 50; i++)
		if (gort_go(small_worker, c))
			return 3;
	for (i = 0; i < 50; i++) {
		gort_chan_recv(c, &v);
		sum += v;
	}
	return sum == 50 ? 0 : 4;
}

static int traced_child(void *arg)
{
	gt_clear_gort_env();
	setenv("GORT_DEBUG", arg, 1);
	return run_main(2, traced_main, NULL);
}

/*
 * kmodtrace=1 without the module: the program runs as usual and prints
 * nothing.  (With the module loaded on this host the same holds; the
 * events then go to the module.)
 */
TEST_F_TIMEOUT(knob, without_module_is_silent, 60)
{
	struct gt_child c;
	char how[128];

	if (access(GORT_KMOD_DEVICE, F_OK) == 0)
		TH_LOG("%s exists: the events go to the module",
		       GORT_KMOD_DEVICE);
	ASSERT_EQ(0, gt_fork_run(traced_child, "kmodtrace=1", 30, &c));
	EXPECT_TRUE(gt_exited_with(&c, 0)) {
		TH_LOG("child: %s; stderr: %s",
		       gt_child_how(&c, how, sizeof(how)), c.err);
	}
	if (access(GORT_KMOD_DEVICE, F_OK) != 0) {
		EXPECT_EQ((uint64_t)0, c.err_len) {
			TH_LOG("stderr: %s", c.err);
		}
	}
	gt_child_free(&c);
}

/* kmodtrace=0 is accepted and changes nothing. */
TEST_F_TIMEOUT(knob, off, 60)
{
	struct gt_child c;
	char how[128];

	ASSERT_EQ(0, gt_fork_run(traced_child, "kmodtrace=0", 30, &c));
	EXPECT_TRUE(gt_exited_with(&c, 0)) {
		TH_LOG("child: %s; stderr: %s",
		       gt_child_how(&c, how, sizeof(how)), c.err);
	}
	EXPECT_EQ((uint64_t)0, c.err_len);
	gt_child_free(&c);
}

FIXTURE(bad_knob) {
	int unused;
};

FIXTURE_VARIANT(bad_knob) {
	const char *value;
	const char *want;		/* in the one line on stderr */
};

FIXTURE_VARIANT_ADD(bad_knob, two) {
	.value = "kmodtrace=2", .want = "kmodtrace wants 0 or 1",
};
FIXTURE_VARIANT_ADD(bad_knob, word) {
	.value = "kmodtrace=on", .want = "kmodtrace wants 0 or 1",
};
FIXTURE_VARIANT_ADD(bad_knob, empty) {
	.value = "kmodtrace=", .want = "kmodtrace wants 0 or 1",
};
FIXTURE_VARIANT_ADD(bad_knob, bare) {
	.value = "gctrace=0,kmodtrace",
	.want = "\"kmodtrace\" is not a knob=value pair",
};

FIXTURE_SETUP(bad_knob) { }
FIXTURE_TEARDOWN(bad_knob) { }

/* A malformed value: one line naming GORT_DEBUG and the knob, exit 2. */
TEST_F_TIMEOUT(bad_knob, is_fatal, 60)
{
	struct gt_child c;
	char how[128];

	ASSERT_EQ(0, gt_fork_run(traced_child, (void *)variant->value, 30,
				 &c));
	EXPECT_TRUE(gt_exited_with(&c, 2)) {
		TH_LOG("child: %s", gt_child_how(&c, how, sizeof(how)));
	}
	EXPECT_EQ(1, gt_count_lines(c.err)) {
		TH_LOG("stderr: %s", c.err);
	}
	EXPECT_NE(NULL, strstr(c.err, "GORT_DEBUG"));
	EXPECT_NE(NULL, strstr(c.err, variant->want)) {
		TH_LOG("stderr: %s", c.err);
	}
	gt_child_free(&c);
}

TEST_HARNESS_MAIN
