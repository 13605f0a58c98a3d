// SPDX-License-Identifier: GPL-2.0
/*
 * bpf.c - a libbpf tool attached to a running gort program counts exactly
 * the goroutines the program creates and ends.
 *
 * The test forks a child that starts gort (2 Ps) and waits on a pipe.
 * The parent loads tools/bpf/gort_count.bpf.c through its bpftool
 * skeleton, attaches its programs to the child's go_create, go_start,
 * go_end and go_block probes with bpf_program__attach_usdt() (by pid, on
 * this very binary), and lets the child run the workload of workload.h.
 * Then, exactly: WL_N go_create and WL_N go_end (the main goroutine was
 * created before the attach and ends after the detach), WL_N parks for
 * sleep, at least WL_N starts, and no go_create with impossible ids.  The
 * child also reads its own go_create semaphore: raised while the tool is
 * attached (libbpf and the kernel manage it; without it the guarded
 * probe would never fire), back to 0 once it is detached.
 *
 * Needs root (CAP_SYS_ADMIN: uprobes), a kernel with uprobes that runs
 * this program's code natively (not qemu-user on another architecture),
 * and a build with libbpf (native, with the kernel's BTF for vmlinux.h);
 * otherwise it SKIPs with the reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "trace.h"

#ifdef GORT_HAVE_BPF
#include <bpf/libbpf.h>
#include "gort_count.skel.h"
#endif

#include "kselftest_harness.h"
#include "gort_test.h"
#include "workload.h"

#define PROCS 2

#ifdef GORT_HAVE_BPF

/* ---- the child: a gort program driven over two pipes ---- */

struct report {
	int ret;			/* wl_run()'s */
	unsigned short sema_on;		/* go_create semaphore, attached */
};

static int ctl_fd = -1, rep_fd = -1;

/* Read one command byte, inside the runtime's syscall bracket. */
static char child_cmd(void)
{
	char c = 0;
	ssize_t n;

	gort_syscall_begin();
	do
		n = read(ctl_fd, &c, 1);
	while (n < 0 && errno == EINTR);
	gort_syscall_end();
	return n == 1 ? c : 0;
}

static int child_main(void *arg)
{
	struct report r = { 0 };
	unsigned short off;

	if (write(rep_fd, "R", 1) != 1 || child_cmd() != 'G')
		return 1;
	r.sema_on = READ_ONCE(gort_go_create_semaphore);
	r.ret = wl_run();
	if (write(rep_fd, &r, sizeof(r)) != sizeof(r) || child_cmd() != 'C')
		return 1;
	off = READ_ONCE(gort_go_create_semaphore);
	if (write(rep_fd, &off, sizeof(off)) != sizeof(off))
		return 1;
	return child_cmd() == 'X' ? 0 : 1;
}

/* ---- the parent ---- */

/* Read exactly len bytes within timeout_ms; false on EOF or timeout. */
static bool read_within(int fd, void *buf, size_t len, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char *p = buf;

	while (len) {
		ssize_t n;

		if (poll(&pfd, 1, timeout_ms) != 1)
			return false;
		n = read(fd, p, len);
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static pid_t start_child(int *ctl, int *rep)
{
	int to_child[2], to_parent[2];
	pid_t pid;

	if (pipe2(to_child, O_CLOEXEC) || pipe2(to_parent, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(to_child[1]);
		close(to_parent[0]);
		ctl_fd = to_child[0];
		rep_fd = to_parent[1];
		_exit(run_main(PROCS, child_main, NULL));
	}
	close(to_child[0]);
	close(to_parent[1]);
	*ctl = to_child[1];
	*rep = to_parent[0];
	return pid;
}

/*
 * Can this kernel load uprobe (kprobe-type) programs for us at all?  Asked
 * with libbpf's own probe program, so that a load failure of the tool
 * itself (the verifier answers EACCES too) is never taken for a missing
 * feature.  Returns 0 or the errno that says why not.
 */
static int bpf_unavailable(void)
{
	int ret = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_KPROBE, NULL);

	return ret == 1 ? 0 : ret < 0 ? -ret : EOPNOTSUPP;
}

static int quiet_libbpf(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static const char *const probes[] = {
	"go_create", "go_start", "go_end", "go_block",
};

/* Attach every program to pid's probes; 0 or an errno. */
static int attach_all(struct gort_count_bpf *skel, pid_t pid,
		      const char *exe, const char **failed)
{
	struct bpf_program *progs[] = {
		skel->progs.on_go_create, skel->progs.on_go_start,
		skel->progs.on_go_end, skel->progs.on_go_block,
	};
	struct bpf_link **links[] = {
		&skel->links.on_go_create, &skel->links.on_go_start,
		&skel->links.on_go_end, &skel->links.on_go_block,
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(progs); i++) {
		/* the skeleton destroys the links it holds */
		*links[i] = bpf_program__attach_usdt(progs[i], pid, exe,
						     "gort", probes[i], NULL);
		if (!*links[i]) {
			*failed = probes[i];
			return errno;
		}
	}
	return 0;
}
#endif

TEST(count_exact)
{
#ifndef GORT_HAVE_BPF
	SKIP(return, "built without libbpf: %s", GORT_NO_BPF);
#else
	struct gort_count_bpf *skel;
	struct report r = { -1, 0 };
	uint64_t counts[GORT_EV_KIND_COUNT];
	uint64_t blocks[GORT_BLOCK_REASON_COUNT + 1];
	uint64_t odd;
	unsigned short sema_off = 0xffff;
	const char *failed = "";
	char exe[4096], arch[64], c;
	int ctl, rep, status, err;
	ssize_t len;
	pid_t pid;

	if (!wl_native(arch, sizeof(arch)))
		SKIP(return, "the kernel (%s) does not run this program's code",
		     arch);
	if (access("/sys/bus/event_source/devices/uprobe", F_OK))
		SKIP(return, "the kernel has no uprobe event source");
	if (geteuid() != 0)
		SKIP(return, "attaching uprobes needs root (CAP_SYS_ADMIN)");
	libbpf_set_print(quiet_libbpf);
	err = bpf_unavailable();
	if (err)
		SKIP(return, "the kernel cannot load uprobe BPF programs: %s",
		     strerror(err));
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ASSERT_LT(0, len);
	exe[len] = '\0';

	pid = start_child(&ctl, &rep);
	ASSERT_LT(0, pid);
	/* (if an assertion ends the test, the child reads EOF and exits) */
	ASSERT_TRUE(read_within(rep, &c, 1, 10000))
		TH_LOG("the child did not start");

	skel = gort_count_bpf__open_and_load();
	err = skel ? attach_all(skel, pid, exe, &failed) : errno;
	if (err) {
		gort_count_bpf__destroy(skel);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		ASSERT_EQ(0, err) TH_LOG("%s%s: %s", skel ? "attach " : "load",
					 failed, strerror(err));
	}

	/* run the workload under the probes, then detach */
	ASSERT_EQ(1, write(ctl, "G", 1));
	ASSERT_TRUE(read_within(rep, &r, sizeof(r), 60000))
		TH_LOG("the workload did not finish");
	memcpy(counts, skel->bss->counts, sizeof(counts));
	memcpy(blocks, skel->bss->blocks, sizeof(blocks));
	odd = skel->bss->odd_creates;
	gort_count_bpf__destroy(skel);
	ASSERT_EQ(1, write(ctl, "C", 1));
	ASSERT_TRUE(read_within(rep, &sema_off, sizeof(sema_off), 10000));
	ASSERT_EQ(1, write(ctl, "X", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(ctl);
	close(rep);

	EXPECT_EQ(0, r.ret);
	EXPECT_EQ((uint64_t)WL_N, counts[GORT_EV_GO_CREATE]);
	EXPECT_EQ((uint64_t)WL_N, counts[GORT_EV_GO_END]);
	EXPECT_LE((uint64_t)WL_N, counts[GORT_EV_GO_START]);
	EXPECT_EQ((uint64_t)WL_N, blocks[GORT_BLOCK_SLEEP]);
	EXPECT_EQ((uint64_t)WL_N, blocks[GORT_BLOCK_CHAN_SEND] +
					  blocks[GORT_BLOCK_CHAN_RECV]);
	EXPECT_EQ(0u, blocks[GORT_BLOCK_REASON_COUNT]);
	EXPECT_EQ(0u, odd);
	EXPECT_LE(1, r.sema_on) TH_LOG("go_create's semaphore was not raised");
	EXPECT_EQ(0, sema_off) TH_LOG("go_create's semaphore stayed raised");
#endif
}

TEST_HARNESS_MAIN
