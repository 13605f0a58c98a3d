// SPDX-License-Identifier: MIT
/*
 * debug.c - panics, fatal errors, goroutine dumps and the runtime's
 * signal handlers.
 *
 * What a user sees when things go wrong follows Go: "panic: <message>" or
 * "fatal error: <message>", then every goroutine as
 *
 *	goroutine 7 [sync.WaitGroup.Wait]:
 *	gort_wg_wait()
 *		/usr/lib/libgort.so +0x4d21
 *	created by worker_main in goroutine 1
 *
 * and exit status 2.  A frame's second line is the object and the offset
 * inside it, what addr2line -e OBJECT OFFSET wants.  Stacks of goroutines
 * that are not running are walked through their saved frame pointers
 * (gort builds with -fno-omit-frame-pointer; code built without it shows
 * fewer frames).  A goroutine running on another thread is shown as Go
 * shows it: "goroutine running on other thread; stack unavailable".
 *
 * Signals: SIGSEGV/SIGBUS on a goroutine's guard page is a stack overflow,
 * reported from the M's alternate signal stack; any other fault goes to
 * the handler that was installed before gort (ASan's, or the default).
 * SIGQUIT dumps every goroutine and exits 2, as Go does.
 *
 * Output goes through write(2) from a stack buffer: these paths run in
 * signal handlers and on broken heaps, so they allocate nothing.
 *
 * Rejected: backtrace(3)/libunwind for other goroutines (they unwind only
 * the calling thread's current stack).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime.h"

#define sched gort_sched
#define ALTSTACK_SIZE (64 << 10)
#define MAX_FRAMES 64

static struct sigaction old_segv, old_bus, old_quit;
static bool signals_installed;
static _Atomic int dying;

void gort_write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

void gort_dprintf(int fd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	gort_write_all(fd, buf, (size_t)n);
}

static void print_pc(int fd, uintptr_t pc, bool is_return)
{
	/* a return address points after the call: look up the call itself */
	uintptr_t look = is_return ? pc - 1 : pc, off, objoff;
	const char *name = "?", *obj;

	gort_symbolize(look, &name, &off, &obj, &objoff);
	gort_dprintf(fd, "%s(...)\n\t%s +0x%lx\n", name, obj,
		     (unsigned long)objoff);
}

static void print_symbol_only(int fd, uintptr_t pc)
{
	uintptr_t off, objoff;
	const char *name, *obj;

	if (gort_symbolize(pc, &name, &off, &obj, &objoff))
		gort_dprintf(fd, "%s", name);
	else
		gort_dprintf(fd, "%s +0x%lx", obj, (unsigned long)objoff);
}

/*
 * Walk a frame-pointer chain that lies within [lo, hi).  The dump does not
 * stop the world, so a goroutine seen waiting may start running and write
 * the frames read here: every link is bounds-checked, so a stale one can
 * only make that goroutine's trace wrong or short, and TSan is told the
 * read is meant to be racy.
 */
__attribute__((no_sanitize_thread, noinline))
static void walk_frames(int fd, uintptr_t pc, uintptr_t fp, uintptr_t lo,
			uintptr_t hi)
{
	int n;

	for (n = 0; n < MAX_FRAMES && pc; n++) {
		uintptr_t next;

		print_pc(fd, pc, true);
		if (!fp || fp < lo || fp + 16 > hi || (fp & 7))
			break;
		next = ((uintptr_t *)fp)[0];
		pc = ((uintptr_t *)fp)[1];
		if (next <= fp)
			break;
		fp = next;
	}
}

static const char *gstatus_str(const struct gort_g *gp, uint32_t s)
{
	switch (s) {
	case G_RUNNABLE:
		return "runnable";
	case G_RUNNING:
		return "running";
	case G_SYSCALL:
		return "syscall";
	case G_WAITING:
		return gort_waitreason_str(READ_ONCE(gp->waitreason));
	case G_DEAD:
		return "dead";
	default:
		return "idle";
	}
}

static void dump_g(int fd, struct gort_g *gp, struct gort_g *self)
{
	uint32_t s = atomic_load(&gp->status);
	uintptr_t lo = (uintptr_t)gp->stack.lo;

	gort_dprintf(fd, "goroutine %llu [%s%s%s]%s%s:\n",
		     (unsigned long long)gp->goid, gstatus_str(gp, s),
		     READ_ONCE(gp->gc_leaked) ? " (leaked)" : "",
		     READ_ONCE(gp->lockedm) ? ", locked to thread" : "",
		     gp->name ? " " : "", gp->name ? gp->name : "");
	if (gp == self) {
		uintptr_t fp = (uintptr_t)__builtin_frame_address(0);

		walk_frames(fd, ((uintptr_t *)fp)[1], ((uintptr_t *)fp)[0],
			    lo ? lo : fp, lo ? lo + gp->stack.size : fp + (1 << 20));
	} else if (s == G_RUNNING || s == G_SYSCALL) {
		gort_dprintf(fd, "\tgoroutine running on other thread; stack unavailable\n");
	} else if (!lo) {
		/* not started yet: show where it will start */
		print_pc(fd, (uintptr_t)gp->fn, false);
	} else {
		const uintptr_t *sp = gp->ctx.sp;

		if ((uintptr_t)sp >= lo && (uintptr_t)sp < lo + gp->stack.size)
			walk_frames(fd, sp[GORT_CTX_PC], sp[GORT_CTX_FP], lo,
				    lo + gp->stack.size);
	}
	if (gp->createpc && !gp->is_main) {
		gort_dprintf(fd, "created by ");
		print_symbol_only(fd, (uintptr_t)gp->createpc - 1);
		gort_dprintf(fd, " in goroutine %llu\n",
			     (unsigned long long)gp->parent_goid);
	}
	gort_dprintf(fd, "\n");
}

void gort_dump_g(int fd, struct gort_g *gp)
{
	dump_g(fd, gp, NULL);
}

/* Every goroutine that exists but skip, the caller's first. */
void gort_dump_all(int fd, struct gort_g *self, struct gort_g *skip)
{
	struct gort_g *gp;

	if (self)
		dump_g(fd, self, self);
	for (gp = sched.allg; gp; gp = gp->allnext) {
		uint32_t s = atomic_load(&gp->status);

		if (gp == self || gp == skip || s == G_DEAD || s == G_IDLE ||
		    gp->system)
			continue;
		dump_g(fd, gp, self);
	}
}

static _Noreturn void die_with_dump(void)
{
	gort_dump_all(2, gort_getg(), NULL);
	_exit(2);
}

static void enter_dying(void)
{
	/* A second fatal error while printing the first: just stop. */
	if (atomic_fetch_add(&dying, 1) != 0) {
		for (;;)
			pause();
	}
}

_Noreturn void gort_fatal(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	enter_dying();
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	gort_dprintf(2, "fatal error: %s\n\n", buf);
	die_with_dump();
}

_Noreturn void gort_throw(const char *msg)
{
	gort_fatal("%s", msg);
}

GORT_API _Noreturn void gort_panic(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	enter_dying();
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt ? fmt : "(nil)", ap);
	va_end(ap);
	gort_dprintf(2, "panic: %s\n\n", buf);
	die_with_dump();
}

GORT_API int gort_dump_goroutines(int fd)
{
	struct gort_m *m;
	bool stw = false;

	if (fd < 0)
		return -EBADF;
	if (fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	m = gort_rt_enter();
	if (m && m->curg && atomic_load(&sched.running)) {
		gort_stop_the_world(GORT_STW_GOROUTINE_DUMP);
		stw = true;
	}
	gort_lock(&sched.allglock);
	gort_dump_all(fd, m ? m->curg : NULL, NULL);
	gort_unlock(&sched.allglock);
	if (stw)
		gort_start_the_world();
	gort_rt_exit();
	return 0;
}

/* ---- signals ---- */

static void chain(int sig, siginfo_t *si, void *uc, struct sigaction *old)
{
	if (old->sa_flags & SA_SIGINFO) {
		if (old->sa_sigaction) {
			old->sa_sigaction(sig, si, uc);
			return;
		}
	} else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
		return;
	}
	/* default action: re-raise with the default disposition */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void fault_handler(int sig, siginfo_t *si, void *uc)
{
	struct gort_m *m = gort_getm();
	struct gort_g *gp = m ? m->curg : NULL;

	if (gp && gort_stack_in_guard(gp, (uintptr_t)si->si_addr)) {
		enter_dying();
		gort_dprintf(2, "runtime: goroutine %llu stack overflow: its %zu-byte stack is exhausted\nfatal error: stack overflow\n\n",
			     (unsigned long long)gp->goid, gp->stack.size);
		gort_dprintf(2, "goroutine %llu stack overflow\n",
			     (unsigned long long)gp->goid);
		if (gp->createpc) {
			gort_dprintf(2, "created by ");
			print_symbol_only(2, (uintptr_t)gp->createpc - 1);
			gort_dprintf(2, " in goroutine %llu\n\n",
				     (unsigned long long)gp->parent_goid);
		}
		/* its own frames are gone past the guard: dump the others */
		gort_dump_all(2, NULL, gp);
		_exit(2);
	}
	chain(sig, si, uc, sig == SIGSEGV ? &old_segv : &old_bus);
}

static void quit_handler(int sig, siginfo_t *si, void *uc)
{
	enter_dying();
	gort_dprintf(2, "SIGQUIT: quit\n\n");
	die_with_dump();
}

int gort_signals_init(void)
{
	struct sigaction sa;

	if (signals_installed)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sa.sa_sigaction = fault_handler;
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	sa.sa_sigaction = quit_handler;
	sigaction(SIGQUIT, &sa, &old_quit);
	signals_installed = true;
	return 0;
}

void gort_signals_fini(void)
{
	if (!signals_installed)
		return;
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	signals_installed = false;
}

void gort_m_signal_stack(struct gort_m *m)
{
	void *p = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return;
	m->altstack.ss_sp = p;
	m->altstack.ss_size = ALTSTACK_SIZE;
	m->altstack.ss_flags = 0;
	if (sigaltstack(&m->altstack, NULL)) {
		munmap(p, ALTSTACK_SIZE);
		m->altstack.ss_sp = NULL;
	}
}

void gort_m_signal_stack_free(struct gort_m *m)
{
	stack_t off = { .ss_flags = SS_DISABLE };

	if (!m->altstack.ss_sp)
		return;
	sigaltstack(&off, NULL);
	munmap(m->altstack.ss_sp, ALTSTACK_SIZE);
	m->altstack.ss_sp = NULL;
}
