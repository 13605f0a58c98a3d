// SPDX-License-Identifier: GPL-2.0
/*
 * gort_test.c - helpers shared by the gort selftests (see gort_test.h).
 *
 * Only run_main(), gt_yield_or_park() and gt_join_thread() call into the
 * runtime (the latter two from goroutines only): the clock and sleep
 * helpers use the C library directly so that a test can busy-wait or
 * measure time without creating runtime calls (which are preemption points)
 * in the code under test.
 *
 * gt_fork_run() reads the child's stdout and stderr while it runs (a
 * goroutine dump can exceed a pipe's buffer), with poll() and a deadline,
 * and kills the child if it does not end in time, so a runtime that hangs
 * instead of dying fails the test with a message instead of a harness
 * timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gort_test.h"

extern char **environ;

static atomic_long gt_nfail;
static double gt_scale = 1.0;

__attribute__((constructor)) static void gt_read_scale(void)
{
	const char *v = getenv("GORT_TEST_SCALE");
	char *end;
	double d;

	if (!v || !*v)
		return;
	errno = 0;
	d = strtod(v, &end);
	if (errno || *end || !(d > 0.0 && d <= 1.0)) {
		fprintf(stderr,
			"# GORT_TEST_SCALE=%s ignored: want a number in (0, 1]\n",
			v);
		return;
	}
	gt_scale = d;
}

double gt_test_scale(void)
{
	return gt_scale;
}

long gt_scaled(long n)
{
	long s;

	if (n < 1)
		return n;
	s = (long)((double)n * gt_scale);
	return s < 1 ? 1 : s;
}

int run_main(int procs, int (*fn)(void *arg), void *arg)
{
	char buf[16];

	if (procs > 0) {
		snprintf(buf, sizeof(buf), "%d", procs);
		setenv("GORT_MAXPROCS", buf, 1);
	}
	return gort_main(fn, arg);
}

void gt_check_failed(const char *file, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Report only the first few: a broken loop would flood the log. */
	if (atomic_fetch_add(&gt_nfail, 1) < 20)
		fprintf(stderr, "# %s:%d: check failed in goroutine %llu: %s\n",
			file, line, (unsigned long long)gort_goid(), msg);
}

long gt_failures(void)
{
	return atomic_load(&gt_nfail);
}

/* Helper goroutine of gt_yield_or_park(): switch once, then release it. */
static void gt_park_helper(void *arg)
{
	gort_yield();
	gort_wg_done(arg);
}

int gt_yield_or_park(int round, int park_every)
{
	struct gort_waitgroup wg = { 0 };
	int ret;

	if (round % park_every != park_every - 1) {
		gort_yield();
		return 0;
	}
	gort_wg_add(&wg, 1);
	ret = gort_go(gt_park_helper, &wg);
	if (ret)
		gort_wg_done(&wg);
	gort_wg_wait(&wg);
	return ret;
}

void gt_join_thread(pthread_t th)
{
	gort_syscall_begin();
	pthread_join(th, NULL);
	gort_syscall_end();
}

int gt_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int64_t gt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void gt_sleep_ms(int ms)
{
	struct timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (long)(ms % 1000) * 1000000,
	};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

char gt_thread_state(pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "tid (comm) S ...": comm may hold spaces and parentheses. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return 0;
	return p[2];
}

static void gt_append(char **buf, size_t *len, size_t *cap,
		      const char *data, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t ncap = *cap ? *cap : 4096;
		char *nb;

		while (*len + n + 1 > ncap)
			ncap *= 2;
		nb = realloc(*buf, ncap);
		if (!nb)
			return;		/* keep what we have */
		*buf = nb;
		*cap = ncap;
	}
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
}

int gt_fork_run(int (*fn)(void *arg), void *arg, int timeout_s,
		struct gt_child *c)
{
	int outp[2], errp[2], fds[2], nopen, ret;
	size_t cap[2] = { 0, 0 };
	int64_t deadline;
	pid_t pid;

	memset(c, 0, sizeof(*c));
	if (pipe2(outp, O_CLOEXEC))
		return -errno;
	if (pipe2(errp, O_CLOEXEC)) {
		ret = -errno;
		close(outp[0]);
		close(outp[1]);
		return ret;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		close(outp[0]);
		close(outp[1]);
		close(errp[0]);
		close(errp[1]);
		return ret;
	}
	if (pid == 0) {
		dup2(outp[1], STDOUT_FILENO);
		dup2(errp[1], STDERR_FILENO);
		ret = fn(arg);
		fflush(stdout);
		fflush(stderr);
		_exit(ret);
	}
	close(outp[1]);
	close(errp[1]);
	fds[0] = outp[0];
	fds[1] = errp[0];
	nopen = 2;
	deadline = gt_now_ns() + (int64_t)timeout_s * 1000000000;
	while (nopen > 0) {
		struct pollfd pfd[2];
		int n = 0, i, left;

		for (i = 0; i < 2; i++) {
			if (fds[i] < 0)
				continue;
			pfd[n].fd = fds[i];
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
			n++;
		}
		left = (int)((deadline - gt_now_ns()) / 1000000);
		if (left <= 0) {
			c->timed_out = true;
			break;
		}
		if (poll(pfd, n, left) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < n; i++) {
			char buf[4096];
			int which = pfd[i].fd == fds[0] ? 0 : 1;
			ssize_t r;

			if (!pfd[i].revents)
				continue;
			r = read(pfd[i].fd, buf, sizeof(buf));
			if (r > 0) {
				if (which == 0)
					gt_append(&c->out, &c->out_len,
						  &cap[0], buf, r);
				else
					gt_append(&c->err, &c->err_len,
						  &cap[1], buf, r);
			} else if (r == 0 || errno != EINTR) {
				close(fds[which]);
				fds[which] = -1;
				nopen--;
			}
		}
	}
	/*
	 * The pipes can also reach EOF while the child lives on (it closed
	 * them, or a grandchild holds them): give it the rest of the time.
	 */
	for (;;) {
		pid_t r = waitpid(pid, &c->status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			break;
		if (c->timed_out || gt_now_ns() >= deadline) {
			c->timed_out = true;
			kill(pid, SIGKILL);
			waitpid(pid, &c->status, 0);
			break;
		}
		gt_sleep_ms(5);
	}
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	if (!c->out)
		c->out = strdup("");
	if (!c->err)
		c->err = strdup("");
	/*
	 * Pass the child's stderr on, marked, so that the runner's logs (and
	 * its sanitizer scan) see what the child printed.
	 */
	if (c->err && c->err_len) {
		fprintf(stderr, "# ---- child %d stderr ----\n", (int)pid);
		fwrite(c->err, 1, c->err_len, stderr);
		if (c->err[c->err_len - 1] != '\n')
			fputc('\n', stderr);
		fprintf(stderr, "# ---- end of child %d stderr ----\n",
			(int)pid);
		fflush(stderr);
	}
	return 0;
}

void gt_child_free(struct gt_child *c)
{
	free(c->out);
	free(c->err);
	c->out = NULL;
	c->err = NULL;
}

bool gt_exited_with(const struct gt_child *c, int code)
{
	return !c->timed_out && WIFEXITED(c->status) &&
		WEXITSTATUS(c->status) == code;
}

const char *gt_child_how(const struct gt_child *c, char *buf, size_t len)
{
	if (c->timed_out)
		snprintf(buf, len, "timed out (killed)");
	else if (WIFEXITED(c->status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(c->status));
	else if (WIFSIGNALED(c->status))
		snprintf(buf, len, "killed by signal %d (%s)",
			 WTERMSIG(c->status), strsignal(WTERMSIG(c->status)));
	else
		snprintf(buf, len, "wait status 0x%x", c->status);
	return buf;
}

int gt_count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++) {
		if (*s == '\n')
			n++;
		else if (!s[1])
			n++;
	}
	return n;
}

void *gt_shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void gt_clear_gort_env(void)
{
	char name[256];
	bool again = true;

	/* unsetenv() reshuffles environ, so rescan after each removal. */
	while (again) {
		char **e;

		again = false;
		for (e = environ; *e; e++) {
			const char *eq = strchr(*e, '=');
			size_t n;

			if (strncmp(*e, "GORT_", 5) || !eq)
				continue;
			n = eq - *e;
			if (n >= sizeof(name))
				continue;
			memcpy(name, *e, n);
			name[n] = '\0';
			unsetenv(name);
			again = true;
			break;
		}
	}
}
