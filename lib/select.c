// SPDX-License-Identifier: MIT
/*
 * select.c - gort_select, Go's selectgo in C.
 *
 * 1. Shuffle the cases into a random poll order (uniform choice among the
 *    ready ones: the first ready case in a uniformly random order), and
 *    sort the distinct channels by address into a lock order, so that two
 *    selects over the same channels can never deadlock on their locks.
 * 2. Lock every channel; take the first ready case in poll order.  A
 *    closed channel is always ready to receive from (and sending to one
 *    panics).  None ready and timeout_ns == 0: Go's default, -EAGAIN.
 * 3. Otherwise queue one sudog per case, all sharing one select_state, and
 *    park, unlocking every channel once off-CPU.  The first waker to win
 *    the CAS on state.done completes its case and records it as the
 *    winner; the others skip these sudogs.  So a goroutine blocked in
 *    select is woken exactly once, by one case.
 * 4. Woken: lock everything again and unqueue the losing sudogs.
 *
 * A timeout arms a runtime timer whose callback also competes for
 * state.done; winning it means -ETIMEDOUT.
 *
 * Sudogs and the orders live in a small on-stack array, or on the heap
 * when a select has more than SELECT_STACK_CASES cases.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "timer.h"

#define SELECT_STACK_CASES 8

struct select_wait {
	struct select_state state;
	struct gort_chan **lockorder;	/* distinct channels, by address */
	int nlock;
	struct gort_timer_rt *timer;	/* timeout, armed once parked */
	int64_t when;
};

static void sellock(struct select_wait *w)
{
	for (int i = 0; i < w->nlock; i++)
		gort_lock(&w->lockorder[i]->lock);
}

static void selunlock(struct select_wait *w)
{
	for (int i = w->nlock - 1; i >= 0; i--)
		gort_unlock(&w->lockorder[i]->lock);
}

/*
 * Off-CPU now: arm the timeout (a timer armed earlier could ready us while
 * still running), then let wakers at the channels.
 */
static bool selparkcommit(struct gort_g *gp, void *arg)
{
	struct select_wait *w = arg;

	if (w->timer)
		gort_timer_rt_start(w->timer, w->when);
	selunlock(w);
	return true;
}

static int cmp_chan(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(struct gort_chan *const *)a;
	uintptr_t y = (uintptr_t)*(struct gort_chan *const *)b;

	return x < y ? -1 : x > y;
}

/*
 * Sort by address.  A select has a handful of cases, and qsort's calls
 * through a comparison pointer cost a two-case select more than its
 * comparisons do, so small ones get an inline insertion sort.
 */
#define SORT_INLINE_MAX 16

static void sort_chans(struct gort_chan **a, int n)
{
	if (n > SORT_INLINE_MAX) {
		qsort(a, n, sizeof(*a), cmp_chan);
		return;
	}
	for (int i = 1; i < n; i++) {
		struct gort_chan *c = a[i];
		int j = i;

		for (; j > 0 && (uintptr_t)a[j - 1] > (uintptr_t)c; j--)
			a[j] = a[j - 1];
		a[j] = c;
	}
}

/* Timer callback for a select timeout: claim the select, wake it. */
static void select_timeout(void *arg, int64_t now)
{
	struct gort_sudog *sg = arg;
	uint32_t zero = 0;

	if (atomic_compare_exchange_strong(&sg->sel->done, &zero, 1)) {
		sg->sel->winner = sg;
		gort_sudog_ready(sg);
	}
}

/*
 * splitmix64 on a per-thread state, as Go's cheaprand is per M: a shared
 * seed would cost every select an atomic add on one cache line for all
 * threads.  Seeded from the state's own address (one per thread) and the
 * clock; the stream only has to be uniform, not secret.
 */
static uint32_t select_rand(void)
{
	static __thread uint64_t state;
	uint64_t x;

	if (unlikely(!state))
		state = (((uintptr_t)&state * 0x9e3779b97f4a7c15ull) ^
			 (uint64_t)gort_nanotime_internal()) | 1;
	x = state += 0x9e3779b97f4a7c15ull;
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return (uint32_t)(x >> 32);
}

GORT_API int gort_select(struct gort_select_case *cases, int n,
			 int64_t timeout_ns)
{
	struct gort_chan *lockbuf[SELECT_STACK_CASES];
	int pollbuf[SELECT_STACK_CASES];
	struct gort_sudog sgbuf[SELECT_STACK_CASES];
	struct gort_chan **lockorder = lockbuf;
	int *pollorder = pollbuf;
	struct gort_sudog *sgs = sgbuf;
	struct gort_sudog tsg;
	struct gort_timer_rt tmr;
	struct select_wait w;
	struct gort_m *m;
	int i, j, npoll = 0, chosen = -1, ret;
	bool ok, armed = false;

	if (n < 0 || (n > 0 && !cases))
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (cases[i].dir != GORT_RECV && cases[i].dir != GORT_SEND)
			return -EINVAL;
	if (n > SELECT_STACK_CASES) {
		lockorder = malloc(n * sizeof(*lockorder));
		pollorder = malloc(n * sizeof(*pollorder));
		sgs = malloc(n * sizeof(*sgs));
		if (!lockorder || !pollorder || !sgs) {
			ret = -ENOMEM;
			goto out_free;
		}
	}

	/* Poll order: a uniform shuffle of the cases with a channel. */
	for (i = 0; i < n; i++) {
		if (!cases[i].chan)
			continue;
		/* Go's cheaprandn: a multiply, not a 25-cycle divide */
		j = (int)(((uint64_t)select_rand() * (uint32_t)(npoll + 1)) >>
			  32);
		pollorder[npoll] = pollorder[j];
		pollorder[j] = i;
		npoll++;
	}
	/* Lock order: distinct channels by address. */
	for (i = 0; i < npoll; i++)
		lockorder[i] = cases[pollorder[i]].chan;
	sort_chans(lockorder, npoll);
	w.nlock = 0;
	for (i = 0; i < npoll; i++)
		if (!w.nlock || lockorder[i] != lockorder[w.nlock - 1])
			lockorder[w.nlock++] = lockorder[i];
	w.lockorder = lockorder;

	m = gort_rt_enter();
	if (npoll == 0) {
		gort_rt_exit();
		if (timeout_ns == 0) {
			ret = -EAGAIN;
			goto out_free;
		}
		if (timeout_ns > 0) {
			gort_sleep(timeout_ns);
			ret = -ETIMEDOUT;
			goto out_free;
		}
		gort_chan_block_forever(WR_SELECT_NO_CASES);
	}

	sellock(&w);
	/* Pass 1: the first ready case in poll order. */
	for (i = 0; i < npoll; i++) {
		struct gort_select_case *cs = &cases[pollorder[i]];
		struct gort_chan *c = cs->chan;

		if (cs->dir == GORT_RECV) {
			if (c->sendq.first || c->qcount > 0 || c->closed) {
				chosen = pollorder[i];
				break;
			}
		} else {
			if (c->closed) {
				selunlock(&w);
				gort_rt_exit();
				gort_panic("send on closed channel");
			}
			if (c->recvq.first || c->qcount < c->dataqsiz) {
				chosen = pollorder[i];
				break;
			}
		}
	}
	if (chosen >= 0) {
		/*
		 * Complete it with only its channel locked; a select sudog
		 * we meet in a queue may be skipped, so re-check readiness.
		 */
		struct gort_select_case *cs = &cases[chosen];
		struct gort_chan *c = cs->chan;

		for (i = w.nlock - 1; i >= 0; i--)
			if (lockorder[i] != c)
				gort_unlock(&lockorder[i]->lock);
		if (cs->dir == GORT_RECV) {
			if (gort_chan_recv_locked(c, cs->elem, &ok)) {
				cs->ok = ok;
				goto done;
			}
		} else if (gort_chan_send_locked(c, cs->elem)) {
			goto done;
		}
		/* Lost a race with a wake-up: wait for real. */
		gort_unlock(&c->lock);
		sellock(&w);
		chosen = -1;
	}
	if (timeout_ns == 0) {
		selunlock(&w);
		gort_rt_exit();
		ret = -EAGAIN;
		goto out_free;
	}

	/* Pass 2: queue on every channel and park. */
	memset(&w.state, 0, sizeof(w.state));
	for (i = 0; i < npoll; i++) {
		struct gort_select_case *cs = &cases[pollorder[i]];
		struct gort_sudog *sg = &sgs[i];

		memset(sg, 0, sizeof(*sg));
		sg->g = m && m->curg ? m->curg : NULL;
		sg->c = cs->chan;
		sg->elem = cs->elem;
		sg->sel = &w.state;
		sg->caseidx = pollorder[i];
		gort_waitq_enqueue(cs->dir == GORT_RECV ? &cs->chan->recvq :
							  &cs->chan->sendq,
				   sg);
	}
	if (timeout_ns > 0) {
		memset(&tsg, 0, sizeof(tsg));
		tsg.g = sgs[0].g;
		tsg.sel = &w.state;
		tsg.caseidx = -1;
		gort_timer_rt_init(&tmr, select_timeout, &tsg);
		w.timer = &tmr;
		w.when = gort_nanotime_internal() + timeout_ns;
		armed = true;
	} else {
		w.timer = NULL;
	}
	if (sgs[0].g) {
		sgs[0].g->waitsel = cases;
		sgs[0].g->waitseln = n;
		gort_gopark(selparkcommit, &w, npoll == 1 ?
			    (cases[pollorder[0]].dir == GORT_RECV ?
				     WR_CHAN_RECEIVE : WR_CHAN_SEND) :
			    WR_SELECT);
	} else {
		if (w.timer)
			gort_timer_rt_start(w.timer, w.when);
		selunlock(&w);
		gort_foreign_blocked(true);
		/* every sudog shares the futex word of the winner's */
		while (!atomic_load(&w.state.done) || !w.state.winner ||
		       !atomic_load(&w.state.winner->woken))
			gort_futex_wait(&sgs[0].woken, 0, 1000000);
	}
	if (armed)
		gort_timer_rt_stop(&tmr);

	/* Woken once: unqueue the sudogs that lost. */
	sellock(&w);
	for (i = 0; i < npoll; i++) {
		struct gort_select_case *cs = &cases[pollorder[i]];

		if (&sgs[i] == w.state.winner)
			continue;
		gort_waitq_remove(cs->dir == GORT_RECV ? &cs->chan->recvq :
							 &cs->chan->sendq,
				  &sgs[i]);
	}
	selunlock(&w);
	if (w.state.winner == &tsg) {
		gort_rt_exit();
		ret = -ETIMEDOUT;
		goto out_free;
	}
	chosen = w.state.winner->caseidx;
	if (cases[chosen].dir == GORT_RECV) {
		cases[chosen].ok = w.state.winner->success;
		if (!w.state.winner->success && cases[chosen].elem)
			memset(cases[chosen].elem, 0,
			       cases[chosen].chan->elemsize);
	} else if (!w.state.winner->success) {
		gort_rt_exit();
		gort_panic("send on closed channel");
	}
done:
	gort_rt_exit();
	ret = chosen;
out_free:
	if (lockorder != lockbuf) {
		free(lockorder);
		free(pollorder);
		free(sgs);
	}
	return ret;
}
