// SPDX-License-Identifier: GPL-2.0
/*
 * select.c - gort_select is Go's select, with 1, 2 and 8 Ps.
 *
 *  - among ready cases the choice is uniform: over two always-ready
 *    channels, 100000 draws pass a chi-square test (1 dof) at 23.9, which
 *    a fair picker fails with probability below 1e-6; with 20 ready cases
 *    every one is chosen;
 *  - timeout 0 is Go's default: -EAGAIN when nothing is ready;
 *  - timeout > 0 gives -ETIMEDOUT, no earlier than asked;
 *  - a closed channel is always ready to receive (ok false, elem zeroed);
 *  - send cases, to a buffer and to a waiting receiver; a send case on a
 *    closed channel panics;
 *  - NULL-channel cases are never chosen;
 *  - a goroutine blocked in select is woken exactly once: many senders
 *    race on the channels several selects wait on, and every value sent
 *    is received exactly once;
 *  - more than 8 cases, blocking and not;
 *  - -EINVAL for a bad dir or n < 0.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "gort_test.h"

GT_PROCS_FIXTURE(select)

/* ---- fairness ---- */

#define NDRAWS	100000

static long picks[2];

static int fair_main(void *arg)
{
	struct gort_chan *c[2];
	struct gort_select_case cs[2];
	int i, v = 1, got;

	for (i = 0; i < 2; i++) {
		c[i] = gort_chan_make(sizeof(int), 1);
		GT_CHECK(c[i] != NULL);
		gort_chan_send(c[i], &v);
		cs[i] = (struct gort_select_case){ c[i], GORT_RECV, &got, false };
	}
	for (i = 0; i < NDRAWS; i++) {
		int r = gort_select(cs, 2, -1);

		if (r < 0 || r > 1) {
			GT_CHECKF(0, "select returned %d", r);
			return 1;
		}
		GT_CHECK(cs[r].ok);
		picks[r]++;
		gort_chan_send(c[r], &v);	/* ready again */
	}
	return 0;
}

TEST_F_TIMEOUT(select, fair_choice, 120)
{
	double d, chi2;

	ASSERT_EQ(0, run_main(variant->procs, fair_main, NULL));
	ASSERT_EQ(0, gt_failures());
	ASSERT_EQ(NDRAWS, picks[0] + picks[1]);
	/* (a - N/2)^2/(N/2) + (b - N/2)^2/(N/2) = (a - b)^2 / N */
	d = (double)(picks[0] - picks[1]);
	chi2 = d * d / NDRAWS;
	EXPECT_LT(chi2, 23.9) {
		TH_LOG("picks %ld/%ld, chi2 %.2f", picks[0], picks[1], chi2);
	}
}

/* ---- default, timeout ---- */

static int default_main(void *arg)
{
	struct gort_chan *a = gort_chan_make(sizeof(int), 0);
	struct gort_chan *b = gort_chan_make(sizeof(int), 2);
	int x = 5, y = 6, v = 1;
	struct gort_select_case cs[3] = {
		{ a, GORT_RECV, &x, true },
		{ b, GORT_RECV, &y, true },
		{ a, GORT_SEND, &v, false },
	};
	int64_t t0, asked;

	GT_CHECK(gort_select(cs, 3, 0) == -EAGAIN);
	GT_CHECK(x == 5 && y == 6);
	GT_CHECK(gort_select(cs, 0, 0) == -EAGAIN);
	GT_CHECK(gort_select(NULL, 0, 0) == -EAGAIN);
	/* Now b has a value: the default is not taken. */
	gort_chan_send(b, &v);
	GT_CHECK(gort_select(cs, 3, 0) == 1);
	GT_CHECK(y == 1 && cs[1].ok);

	/* Timeouts, never early. */
	for (asked = 1000000; asked <= 30000000; asked *= 3) {
		t0 = gort_nanotime();
		GT_CHECK(gort_select(cs, 3, asked) == -ETIMEDOUT);
		GT_CHECKF(gort_nanotime() - t0 >= asked, "after %lld of %lld ns",
			  (long long)(gort_nanotime() - t0), (long long)asked);
	}
	t0 = gort_nanotime();
	GT_CHECK(gort_select(NULL, 0, 5000000) == -ETIMEDOUT);
	GT_CHECK(gort_nanotime() - t0 >= 5000000);
	return 0;
}

TEST_F_TIMEOUT(select, default_and_timeout, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, default_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* Many goroutines time out at once, none early. */
static struct gort_waitgroup tmo_wg;

static void timeout_g(void *arg)
{
	struct gort_chan *never = arg;
	int64_t asked = 1000000 + (gort_goid() % 10) * 1000000, t0;
	struct gort_select_case cs = { never, GORT_RECV, NULL, false };

	t0 = gort_nanotime();
	GT_CHECK(gort_select(&cs, 1, asked) == -ETIMEDOUT);
	GT_CHECK(gort_nanotime() - t0 >= asked);
	gort_wg_done(&tmo_wg);
}

static int many_timeouts_main(void *arg)
{
	struct gort_chan *never = gort_chan_make(1, 0);
	int i;

	gort_wg_add(&tmo_wg, 1000);
	for (i = 0; i < 1000; i++)
		GT_CHECK(gort_go(timeout_g, never) == 0);
	gort_wg_wait(&tmo_wg);
	return 0;
}

TEST_F_TIMEOUT(select, many_timeouts, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, many_timeouts_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- closed channels, NULL channels ---- */

static int closed_main(void *arg)
{
	struct gort_chan *cl = gort_chan_make(sizeof(long), 0);
	struct gort_chan *never = gort_chan_make(sizeof(long), 0);
	long a = -1, b = -1;
	struct gort_select_case cs[2] = {
		{ never, GORT_RECV, &b, true },
		{ cl, GORT_RECV, &a, true },
	};
	int i;

	gort_chan_close(cl);
	for (i = 0; i < 100; i++) {
		a = -1;
		cs[1].ok = true;
		GT_CHECK(gort_select(cs, 2, i % 2 ? -1 : 0) == 1);
		GT_CHECK(!cs[1].ok);
		GT_CHECK(a == 0);
		GT_CHECK(b == -1);
	}
	cs[1].elem = NULL;
	GT_CHECK(gort_select(cs, 2, 1000000000) == 1);
	return 0;
}

TEST_F_TIMEOUT(select, closed_always_ready, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, closed_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

static int nil_main(void *arg)
{
	struct gort_chan *c = gort_chan_make(sizeof(int), 1);
	int v = 3, w = -1, i;
	struct gort_select_case cs[4] = {
		{ NULL, GORT_RECV, &w, false },
		{ c, GORT_SEND, &v, false },
		{ NULL, GORT_SEND, &v, false },
		{ NULL, GORT_RECV, NULL, false },
	};
	struct gort_select_case rc[3] = {
		{ NULL, GORT_RECV, &w, false },
		{ c, GORT_RECV, &w, false },
		{ NULL, GORT_SEND, &v, false },
	};

	for (i = 0; i < 1000; i++) {
		GT_CHECK(gort_select(cs, 4, i % 2 ? -1 : 0) == 1);
		GT_CHECK(gort_chan_len(c) == 1);
		GT_CHECK(gort_select(rc, 3, i % 2 ? -1 : 0) == 1);
		GT_CHECK(w == 3 && rc[1].ok);
	}
	/* Only NULL cases: nothing ever ready. */
	GT_CHECK(gort_select(cs + 2, 2, 0) == -EAGAIN);
	GT_CHECK(gort_select(cs + 2, 2, 2000000) == -ETIMEDOUT);
	return 0;
}

TEST_F_TIMEOUT(select, nil_never_chosen, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, nil_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- send cases ---- */

static struct gort_chan *rx_chan;
static int rx_val;
static struct gort_waitgroup rx_wg;

static void rx(void *arg)
{
	GT_CHECK(gort_chan_recv(rx_chan, &rx_val));
	gort_wg_done(&rx_wg);
}

static int send_main(void *arg)
{
	struct gort_chan *b = gort_chan_make(sizeof(int), 2);
	struct gort_chan *never = gort_chan_make(sizeof(int), 0);
	int v = 10, w, i;
	struct gort_select_case cs[2] = {
		{ never, GORT_RECV, &w, false },
		{ b, GORT_SEND, &v, false },
	};

	GT_CHECK(gort_select(cs, 2, 0) == 1);
	v = 11;
	GT_CHECK(gort_select(cs, 2, -1) == 1);
	v = 12;
	GT_CHECK(gort_select(cs, 2, 0) == -EAGAIN);	/* full */
	GT_CHECK(gort_chan_len(b) == 2);
	GT_CHECK(gort_chan_recv(b, &w) && w == 10);
	GT_CHECK(gort_chan_recv(b, &w) && w == 11);

	/* A send case to a waiting receiver, on an unbuffered channel. */
	rx_chan = gort_chan_make(sizeof(int), 0);
	cs[1].chan = rx_chan;
	GT_CHECK(gort_select(cs, 2, 0) == -EAGAIN);	/* no receiver yet */
	gort_wg_add(&rx_wg, 1);
	GT_CHECK(gort_go(rx, NULL) == 0);
	v = 99;
	GT_CHECK(gort_select(cs, 2, -1) == 1);
	gort_wg_wait(&rx_wg);
	GT_CHECK(rx_val == 99);

	/* A blocked send case completed by a later receiver. */
	rx_val = 0;
	gort_wg_add(&rx_wg, 1);
	GT_CHECK(gort_go(rx, NULL) == 0);
	v = 100;
	GT_CHECK(gort_select(cs, 2, -1) == 1);
	gort_wg_wait(&rx_wg);
	GT_CHECK(rx_val == 100);
	(void)i;
	return 0;
}

TEST_F_TIMEOUT(select, send_case, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, send_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- woken exactly once ---- */

#define NCHANS		4
#define NSENDERS	64
#define PER_SENDER	500
#define NSELECTORS	4
#define TOTAL		(NSENDERS * PER_SENDER)

struct once_ctx {
	struct gort_chan *c[NCHANS];
	struct gort_waitgroup senders, selectors;
	atomic_long sent, received, timeouts;
	atomic_uchar seen[TOTAL];
};

static struct once_ctx *oc;

static void racer(void *arg)
{
	int s = (intptr_t)arg, i;

	for (i = 0; i < PER_SENDER; i++) {
		int v = s * PER_SENDER + i;

		gort_chan_send(oc->c[(s + i) % NCHANS], &v);
		atomic_fetch_add(&oc->sent, 1);
	}
	gort_wg_done(&oc->senders);
}

static void selector(void *arg)
{
	struct gort_select_case cs[NCHANS];
	int vals[NCHANS], i, n = TOTAL / NSELECTORS;

	for (i = 0; i < NCHANS; i++)
		cs[i] = (struct gort_select_case){ oc->c[i], GORT_RECV,
						   &vals[i], false };
	for (i = 0; i < n; i++) {
		int k, r;

		for (k = 0; k < NCHANS; k++)
			vals[k] = -1;
		r = gort_select(cs, NCHANS, 5000000000LL);
		if (r == -ETIMEDOUT) {
			atomic_fetch_add(&oc->timeouts, 1);
			break;
		}
		if (r < 0 || r >= NCHANS) {
			GT_CHECKF(0, "select returned %d", r);
			break;
		}
		GT_CHECK(cs[r].ok);
		/* Exactly one case wrote its element. */
		for (k = 0; k < NCHANS; k++)
			if (k != r)
				GT_CHECKF(vals[k] == -1, "case %d written too", k);
		if (vals[r] < 0 || vals[r] >= TOTAL) {
			GT_CHECKF(0, "value %d", vals[r]);
			continue;
		}
		atomic_fetch_add(&oc->seen[vals[r]], 1);
		atomic_fetch_add(&oc->received, 1);
	}
	gort_wg_done(&oc->selectors);
}

static int once_main(void *arg)
{
	intptr_t i;
	int cap = *(int *)arg;

	for (i = 0; i < NCHANS; i++)
		oc->c[i] = gort_chan_make(sizeof(int), i % 2 ? cap : 0);
	gort_wg_add(&oc->senders, NSENDERS);
	gort_wg_add(&oc->selectors, NSELECTORS);
	for (i = 0; i < NSELECTORS; i++)
		GT_CHECK(gort_go(selector, NULL) == 0);
	for (i = 0; i < NSENDERS; i++)
		GT_CHECK(gort_go(racer, (void *)i) == 0);
	gort_wg_wait(&oc->selectors);
	/* If a value had been lost, a sender is still blocked or the
	 * selectors timed out; either way the counts differ. */
	if (atomic_load(&oc->timeouts) == 0)
		gort_wg_wait(&oc->senders);
	return 0;
}

static void woken_once(struct __test_metadata *_metadata, int procs, int cap)
{
	long i, lost = 0, dup = 0;

	oc = calloc(1, sizeof(*oc));
	ASSERT_NE(NULL, oc);
	ASSERT_EQ(0, run_main(procs, once_main, &cap));
	EXPECT_EQ(0, gt_failures());
	EXPECT_EQ(0, atomic_load(&oc->timeouts));
	EXPECT_EQ(TOTAL, atomic_load(&oc->sent));
	EXPECT_EQ(atomic_load(&oc->sent), atomic_load(&oc->received));
	for (i = 0; i < TOTAL; i++) {
		if (!oc->seen[i])
			lost++;
		else if (oc->seen[i] > 1)
			dup++;
	}
	EXPECT_EQ(0, lost);
	EXPECT_EQ(0, dup);
	free(oc);
}

TEST_F_TIMEOUT(select, woken_exactly_once, 120)
{
	woken_once(_metadata, variant->procs, 0);
	woken_once(_metadata, variant->procs, 1);
}

/* ---- many cases ---- */

#define NMANY	20

static struct gort_chan *many[NMANY];

static void late_send(void *arg)
{
	int v = 1717;

	gort_sleep(10000000);
	gort_chan_send(many[17], &v);
}

static int many_main(void *arg)
{
	struct gort_select_case cs[NMANY];
	int vals[NMANY], count[NMANY] = { 0 }, i, v;

	for (i = 0; i < NMANY; i++) {
		many[i] = gort_chan_make(sizeof(int), 1);
		cs[i] = (struct gort_select_case){ many[i], GORT_RECV,
						   &vals[i], false };
	}
	GT_CHECK(gort_select(cs, NMANY, 0) == -EAGAIN);
	v = 13;
	gort_chan_send(many[13], &v);
	GT_CHECK(gort_select(cs, NMANY, -1) == 13);
	GT_CHECK(vals[13] == 13 && cs[13].ok);

	/* Blocking on 20 cases, woken by the last-but-two. */
	GT_CHECK(gort_go(late_send, NULL) == 0);
	GT_CHECK(gort_select(cs, NMANY, -1) == 17);
	GT_CHECK(vals[17] == 1717);

	/* All ready: every case gets chosen. */
	for (i = 0; i < NMANY; i++)
		gort_chan_send(many[i], &i);
	for (i = 0; i < 4000; i++) {
		int r = gort_select(cs, NMANY, -1);

		if (r < 0 || r >= NMANY) {
			GT_CHECKF(0, "select returned %d", r);
			return 1;
		}
		GT_CHECK(vals[r] == r);
		count[r]++;
		gort_chan_send(many[r], &r);
	}
	for (i = 0; i < NMANY; i++)
		GT_CHECKF(count[i] > 0, "case %d never chosen", i);

	/* Mixed: 10 full send cases and 10 empty receive cases, one ready. */
	for (i = 0; i < NMANY; i++) {
		if (i % 2) {
			GT_CHECK(gort_chan_recv(many[i], NULL));
		} else {
			cs[i].dir = GORT_SEND;
		}
	}
	GT_CHECK(gort_select(cs, NMANY, 0) == -EAGAIN);
	GT_CHECK(gort_chan_recv(many[8], NULL));
	GT_CHECK(gort_select(cs, NMANY, 0) == 8);
	return 0;
}

TEST_F_TIMEOUT(select, more_than_8_cases, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, many_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- bad arguments ---- */

static int einval_main(void *arg)
{
	struct gort_chan *c = gort_chan_make(sizeof(int), 1);
	int v = 1;
	struct gort_select_case cs[2] = {
		{ c, GORT_SEND, &v, false },
		{ c, 0, &v, false },
	};

	GT_CHECK(gort_select(cs, 2, 0) == -EINVAL);
	GT_CHECK(gort_select(cs, 2, -1) == -EINVAL);
	cs[1].dir = 3;
	GT_CHECK(gort_select(cs, 2, 0) == -EINVAL);
	cs[1].dir = -1;
	GT_CHECK(gort_select(cs, 2, 1000000) == -EINVAL);
	/* Nothing was sent by the rejected selects. */
	GT_CHECK(gort_chan_len(c) == 0);
	GT_CHECK(gort_select(cs, -1, 0) == -EINVAL);
	GT_CHECK(gort_select(cs, -1, -1) == -EINVAL);
	GT_CHECK(gort_select(cs, 1, 0) == 0);
	GT_CHECK(gort_chan_len(c) == 1);
	return 0;
}

TEST_F_TIMEOUT(select, einval, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, einval_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/*
 * A bad dir is -EINVAL even on a NULL-channel case ("-EINVAL for a bad
 * dir", no exception), and the select has no effect: the valid send case
 * beside it does not proceed.
 */
static int einval_nil_main(void *arg)
{
	struct gort_chan *c = gort_chan_make(sizeof(int), 1);
	int v = 1;
	struct gort_select_case cs[2] = {
		{ c, GORT_SEND, &v, false },
		{ NULL, 7, &v, false },
	};

	GT_CHECK(gort_select(cs, 2, 0) == -EINVAL);
	GT_CHECK(gort_chan_len(c) == 0);
	return 0;
}

TEST_F_TIMEOUT(select, einval_nil_case, 60)
{
	ASSERT_EQ(0, run_main(variant->procs, einval_nil_main, NULL));
	ASSERT_EQ(0, gt_failures());
}

/* ---- send case on a closed channel panics ---- */

static int *closed_procs;

static int closed_send_main(void *arg)
{
	struct gort_chan *c = gort_chan_make(sizeof(int), 1);
	struct gort_chan *never = gort_chan_make(sizeof(int), 0);
	int v = 1;
	struct gort_select_case cs[2] = {
		{ never, GORT_RECV, NULL, false },
		{ c, GORT_SEND, &v, false },
	};

	gort_chan_close(c);
	gort_select(cs, 2, -1);
	return 0;
}

static int closed_send_child(void *arg)
{
	gt_clear_gort_env();
	return run_main(*closed_procs, closed_send_main, NULL);
}

TEST_F_TIMEOUT(select, send_case_on_closed_panics, 60)
{
	struct gt_child c;
	char how[64];

	closed_procs = gt_shared_alloc(sizeof(int));
	ASSERT_NE(NULL, closed_procs);
	*closed_procs = variant->procs;
	ASSERT_EQ(0, gt_fork_run(closed_send_child, NULL, 60, &c));
	EXPECT_TRUE(gt_exited_with(&c, 2)) {
		TH_LOG("child %s", gt_child_how(&c, how, sizeof(how)));
	}
	EXPECT_NE(NULL, strstr(c.err, "panic: send on closed channel"));
	gt_child_free(&c);
}

TEST_HARNESS_MAIN
