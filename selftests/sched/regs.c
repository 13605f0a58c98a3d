// SPDX-License-Identifier: GPL-2.0
/*
 * regs.c - goroutine switches keep callee-saved registers and FP control.
 *
 * A goroutine switch happens inside a C call (gort_yield, gort_wg_wait,
 * ...), so to the compiler it is an ordinary function call: whatever the
 * ABI says survives a call must survive the switch, even when the goroutine
 * comes back on another thread.  That is:
 *
 *  - the callee-saved integer registers (x86-64: rbx, rbp, r12-r15;
 *    AArch64: x19-x28, x29) and, on AArch64, the low halves of v8-v15
 *    (d8-d15).  regs_hold_across() (x86_64/regs.S, arm64/regs.S) loads a
 *    per-goroutine pattern into all of them, calls a function that yields
 *    and parks many times while other goroutines do the same with other
 *    patterns, and reports any register that changed.  C code cannot test
 *    this: the compiler chooses which registers hold what.
 *  - the floating-point control state (x86-64: MXCSR control bits and the
 *    x87 control word; AArch64: FPCR), which the ABIs make callee-saved
 *    too.  Each goroutine sets its own rounding mode (and flush-to-zero,
 *    x87 precision) and checks, after every switch, both the control
 *    registers and the result of arithmetic that depends on them.
 *
 * gort_main itself is checked the same way from the calling thread: it
 * switches from the caller's stack to the runtime and back.
 *
 * A self-test (checker_catches_clobber) shows that the assembly helper
 * reports a register that a callee really did clobber, so a pass means
 * something.
 */
#include <fenv.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "kselftest_harness.h"
#include "gort_test.h"

#if defined(__x86_64__)
#define NREGS 6
static const char *const reg_names[] = {
	"rbx", "rbp", "r12", "r13", "r14", "r15",
};
#elif defined(__aarch64__)
#define NREGS 18
static const char *const reg_names[] = {
	"x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",
	"d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15", "x29",
};
#else
#error "regs.c: unsupported architecture"
#endif

long regs_hold_across(void (*fn)(void *), void *arg, const uint64_t *pat);
void regs_clobber(void *arg);

#define CHURN_ROUNDS	2000
#define PARK_EVERY	100

/* splitmix64: distinct, well-mixed patterns per seed and register. */
static void make_pattern(uint64_t *pat, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 0x0123456789abcdefull;
	int i;

	for (i = 0; i < NREGS; i++) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ull);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		pat[i] = z ^ (z >> 31);
	}
}

static void log_mask(long mask, const char *who)
{
	int i;

	for (i = 0; i < (int)ARRAY_SIZE(reg_names); i++)
		if (mask & (1L << i))
			fprintf(stderr, "# %s: %s changed\n", who,
				reg_names[i]);
}

static void nothing(void *arg)
{
}

/* The checker itself: a clean call passes, a clobbering one is caught. */
TEST(checker_catches_clobber)
{
	uint64_t pat[NREGS];
	long mask;

	make_pattern(pat, 1);
	EXPECT_EQ(0, regs_hold_across(nothing, NULL, pat));
	mask = regs_hold_across(regs_clobber, NULL, pat);
	EXPECT_EQ((1L << NREGS) - 1, mask & ((1L << NREGS) - 1)) {
		log_mask(mask, "regs_clobber");
	}
}

/* ---- callee-saved registers across yields and parks ---- */

/*
 * Switch away in every way a goroutine commonly does: yield, and park on a
 * wait group until a goroutine it started has run.
 */
static void churn(void *arg)
{
	atomic_long *rounds = arg;
	int i;

	for (i = 0; i < CHURN_ROUNDS; i++) {
		int ret = gt_yield_or_park(i, PARK_EVERY);

		GT_CHECKF(ret == 0, "gort_go: %d", ret);
		atomic_fetch_add(rounds, 1);
	}
}

struct reg_worker {
	uint64_t seed;
	long mask;			/* regs_hold_across() result */
	atomic_long rounds;		/* churn() progress */
	struct gort_waitgroup *wg;
};

static void reg_worker(void *arg)
{
	struct reg_worker *w = arg;
	uint64_t pat[NREGS];

	make_pattern(pat, w->seed);
	w->mask = regs_hold_across(churn, &w->rounds, pat);
	gort_wg_done(w->wg);
}

#define MAX_WORKERS 24

struct reg_test {
	int nworkers;
	struct reg_worker w[MAX_WORKERS + 1];	/* last: main goroutine */
	struct gort_waitgroup wg;
};

static int reg_main(void *arg)
{
	struct reg_test *t = arg;
	struct reg_worker *m = &t->w[t->nworkers];
	uint64_t pat[NREGS];
	int i;

	gort_wg_add(&t->wg, t->nworkers);
	for (i = 0; i < t->nworkers; i++) {
		t->w[i].seed = i + 100;
		t->w[i].wg = &t->wg;
		if (gort_go(reg_worker, &t->w[i])) {
			t->w[i].mask = -1;
			gort_wg_done(&t->wg);
		}
	}
	/* The main goroutine holds its own pattern meanwhile. */
	make_pattern(pat, 99);
	m->mask = regs_hold_across(churn, &m->rounds, pat);
	gort_wg_wait(&t->wg);
	return 0;
}

GT_PROCS_FIXTURE(sched)

/* Callee-saved registers survive yields and parks, on any thread. */
TEST_F_TIMEOUT(sched, callee_saved_registers, 120)
{
	static struct reg_test t;
	int i;

	t.nworkers = 4 + 2 * variant->procs;
	ASSERT_LE(t.nworkers, MAX_WORKERS);
	ASSERT_EQ(0, run_main(variant->procs, reg_main, &t));
	for (i = 0; i <= t.nworkers; i++) {
		char who[32];

		snprintf(who, sizeof(who), "goroutine #%d", i);
		EXPECT_EQ(0, t.w[i].mask) {
			log_mask(t.w[i].mask, who);
		}
		EXPECT_EQ(CHURN_ROUNDS, atomic_load(&t.w[i].rounds));
	}
	EXPECT_EQ(0, gt_failures());
}

/* ---- gort_main as seen by its caller ---- */

struct main_call {
	int procs;
	int ret;
	atomic_long rounds;
};

static void churn_and_done(void *arg)
{
	struct gort_waitgroup *wg = arg;
	atomic_long rounds = 0;

	churn(&rounds);
	gort_wg_done(wg);
}

static int churn_main(void *arg)
{
	struct main_call *c = arg;
	struct gort_waitgroup wg = { 0 };
	int i;

	gort_wg_add(&wg, 4);
	for (i = 0; i < 4; i++)
		if (gort_go(churn_and_done, &wg))
			gort_wg_done(&wg);
	churn(&c->rounds);
	gort_wg_wait(&wg);
	return 57;
}

static void call_gort_main(void *arg)
{
	struct main_call *c = arg;

	c->ret = run_main(c->procs, churn_main, c);
}

/* gort_main keeps its caller's callee-saved registers, twice in a row. */
TEST_F_TIMEOUT(sched, gort_main_keeps_caller_registers, 120)
{
	struct main_call c = { .procs = variant->procs };
	uint64_t pat[NREGS];
	long mask;
	int round;

	for (round = 0; round < 2; round++) {
		make_pattern(pat, 7 + round);
		c.ret = -1;
		mask = regs_hold_across(call_gort_main, &c, pat);
		EXPECT_EQ(0, mask) {
			log_mask(mask, "gort_main's caller");
		}
		EXPECT_EQ(57, c.ret);
	}
	EXPECT_EQ(2 * CHURN_ROUNDS, atomic_load(&c.rounds));
	EXPECT_EQ(0, gt_failures());
}

/* ---- floating-point control state ---- */

/*
 * The control bits that belong to the program (not the sticky exception
 * flags, which are caller-saved status).
 */
#if defined(__x86_64__)
#define MXCSR_CTRL	0xffc0u		/* DAZ, masks, RC, FTZ */
#define MXCSR_FTZ	0x8000u
#define X87CW_CTRL	0x1f3fu		/* masks, PC, RC, X */
#define X87CW_PC_MASK	0x0300u
#define X87CW_PC_53	0x0200u		/* double precision */

struct fp_ctl {
	uint32_t mxcsr;
	uint16_t x87cw;
};

static void fp_ctl_read(struct fp_ctl *c)
{
	uint32_t mxcsr;
	uint16_t cw;

	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(cw));
	c->mxcsr = mxcsr & MXCSR_CTRL;
	c->x87cw = cw & X87CW_CTRL;
}

/* Beyond the rounding mode: flush-to-zero and x87 precision. */
static void fp_ctl_extra(void)
{
	uint32_t mxcsr;
	uint16_t cw;

	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	mxcsr |= MXCSR_FTZ;
	__asm__ volatile("ldmxcsr %0" : : "m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(cw));
	cw = (cw & ~X87CW_PC_MASK) | X87CW_PC_53;
	__asm__ volatile("fldcw %0" : : "m"(cw));
}

static bool fp_ctl_equal(const struct fp_ctl *a, const struct fp_ctl *b)
{
	return a->mxcsr == b->mxcsr && a->x87cw == b->x87cw;
}

static void fp_ctl_log(const char *what, const struct fp_ctl *c)
{
	fprintf(stderr, "# %s: mxcsr=%#x x87cw=%#x\n", what,
		(unsigned int)c->mxcsr, (unsigned int)c->x87cw);
}
#elif defined(__aarch64__)
#define FPCR_CTRL	0x07c00000ull	/* AHP, DN, FZ, RMode */
#define FPCR_FZ		0x01000000ull

struct fp_ctl {
	uint64_t fpcr;
};

static void fp_ctl_read(struct fp_ctl *c)
{
	uint64_t fpcr;

	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	c->fpcr = fpcr & FPCR_CTRL;
}

static void fp_ctl_extra(void)
{
	uint64_t fpcr;

	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	fpcr |= FPCR_FZ;
	__asm__ volatile("msr fpcr, %0" : : "r"(fpcr));
}

static bool fp_ctl_equal(const struct fp_ctl *a, const struct fp_ctl *b)
{
	return a->fpcr == b->fpcr;
}

static void fp_ctl_log(const char *what, const struct fp_ctl *c)
{
	fprintf(stderr, "# %s: fpcr=%#llx\n", what,
		(unsigned long long)c->fpcr);
}
#endif

/* Results of arithmetic that the control state changes. */
struct fp_result {
	double third;		/* rounding mode */
	double denormal;	/* flush-to-zero */
	long double lthird;	/* x87 rounding mode and precision */
};

static volatile double v_one = 1.0, v_three = 3.0;
static volatile double v_small = 3e-308, v_hundredth = 0.01;
static volatile long double v_lone = 1.0L, v_lthree = 3.0L;

static __attribute__((noinline)) void fp_compute(struct fp_result *r)
{
	memset(r, 0, sizeof(*r));
	r->third = v_one / v_three;
	r->denormal = v_small * v_hundredth;
	r->lthird = v_lone / v_lthree;
}

static bool fp_result_equal(const struct fp_result *a,
			    const struct fp_result *b)
{
	/* Bitwise; long double compares only its value bytes. */
	return !memcmp(&a->third, &b->third, sizeof(a->third)) &&
		!memcmp(&a->denormal, &b->denormal, sizeof(a->denormal)) &&
		a->lthird == b->lthird;
}

static const int round_modes[4] = {
	FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO,
};

struct fp_worker {
	int idx;
	int mode;			/* fegetround() it must keep */
	long rounds;			/* rounds completed */
	long bad_ctl, bad_round, bad_result;
	struct gort_waitgroup *wg;
};

/* Set this goroutine's FP state from its index, then check it often. */
static void fp_hold(struct fp_worker *w)
{
	struct fp_ctl want, got;
	struct fp_result rwant, rgot;
	int i;

	w->mode = round_modes[w->idx % 4];
	GT_CHECK(fesetround(w->mode) == 0);
	if ((w->idx / 4) % 2)
		fp_ctl_extra();
	fp_ctl_read(&want);
	fp_compute(&rwant);

	for (i = 0; i < CHURN_ROUNDS; i++) {
		gt_yield_or_park(i, PARK_EVERY);
		fp_ctl_read(&got);
		if (!fp_ctl_equal(&want, &got)) {
			if (!w->bad_ctl++) {
				fp_ctl_log("wanted", &want);
				fp_ctl_log("found", &got);
			}
		}
		if (fegetround() != w->mode)
			w->bad_round++;
		fp_compute(&rgot);
		if (!fp_result_equal(&rwant, &rgot))
			w->bad_result++;
		w->rounds++;
	}
	/* Leave the thread as a well-behaved C function would. */
	fesetround(FE_TONEAREST);
}

static void fp_worker(void *arg)
{
	struct fp_worker *w = arg;

	fp_hold(w);
	gort_wg_done(w->wg);
}

#define FP_WORKERS 8

struct fp_test {
	struct fp_worker w[FP_WORKERS + 1];	/* last: main goroutine */
	struct gort_waitgroup wg;
};

static int fp_main(void *arg)
{
	struct fp_test *t = arg;
	int i;

	gort_wg_add(&t->wg, FP_WORKERS);
	for (i = 0; i < FP_WORKERS; i++) {
		t->w[i].idx = i;
		t->w[i].wg = &t->wg;
		if (gort_go(fp_worker, &t->w[i]))
			gort_wg_done(&t->wg);
	}
	t->w[FP_WORKERS].idx = 5;	/* upward, with the extra bits */
	fp_hold(&t->w[FP_WORKERS]);
	gort_wg_wait(&t->wg);
	return 0;
}

/* Each goroutine keeps its own rounding mode and FP control bits. */
TEST_F_TIMEOUT(sched, fp_control_state, 120)
{
	static struct fp_test t;
	int i;

	ASSERT_EQ(0, run_main(variant->procs, fp_main, &t));
	for (i = 0; i <= FP_WORKERS; i++) {
		struct fp_worker *w = &t.w[i];

		EXPECT_EQ(CHURN_ROUNDS, w->rounds) {
			TH_LOG("goroutine #%d did not finish", i);
		}
		EXPECT_EQ(0, w->bad_ctl) {
			TH_LOG("goroutine #%d: FP control changed %ld times",
			       i, w->bad_ctl);
		}
		EXPECT_EQ(0, w->bad_round) {
			TH_LOG("goroutine #%d: fegetround() changed %ld times",
			       i, w->bad_round);
		}
		EXPECT_EQ(0, w->bad_result) {
			TH_LOG("goroutine #%d: FP results changed %ld times",
			       i, w->bad_result);
		}
	}
	EXPECT_EQ(0, gt_failures());
}

TEST_HARNESS_MAIN
