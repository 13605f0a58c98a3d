#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# qemu-arm64.sh - the network suite on io_uring, the collector's suite on
# a real kernel's page protection, and the trace files' clock on the
# architecture counter, in an arm64 QEMU guest.
#
#   selftests/net-guest/qemu-arm64.sh
#
# The arm64 build's suites run under qemu-aarch64-static, which has no
# io_uring, so there they only ever test the epoll poller.  This boots
# Debian's arm64 kernel (full system, TCG) with an initramfs holding the
# guest's probe (build/arm64/net-guest/probe) and every program of the
# suites in GUEST_SUITES (default "net gc trace/file":
# build/arm64/selftests/net/*, gc/* and the one program trace/file), and
# guest/init.sh as /init, which brings up loopback, runs the probe and
# then each program with GORT_NETPOLL=uring, and reports one result per
# test case.  selftests/lib/qemu-guest.sh does the booting and turns the
# guest's results into TAP: ARCH.PROBE-OR-SUITE/PROGRAM.TEST.
#
# The gc suite is here for its mprotect barrier: under qemu-aarch64-static
# the barrier misses writes (the moving-pointers checkmark fails, always
# on objects written by atomic instructions), so the qemu-user run skips
# those variants; in this guest the same binary passes them.
#
# trace/file is here for the records' clock: where the kernel's clock is
# the architecture counter (arch_sys_counter), records read cntvct_el0
# (lib/trace.c), and qemu-user reports the host's clocksource, so only a
# guest runs that path.
#
# SKIP as a whole (exit 4) when QEMU, the kernel image, busybox or the
# probe is missing.  A suite without programs is one skipped result, and
# the probe still runs, so io_uring in the guest is checked either way.
#
# Environment:
#   GUEST_SUITES      suites to run (directories of build/arm64/selftests,
#                     or single programs in them)
#   GORT_TEST_SCALE   passed to the guest's programs (default 0.01): the
#                     factor by which a test scales its heavy loops down,
#                     see selftests/lib/gort_test.h
#   TIMEOUT           seconds before QEMU is killed (default 180); the
#                     guest stops starting programs 15 s before that, so
#                     it can still report
#   PROG_TIMEOUT      seconds one program may take in the guest (90)
#   MEM               the guest's memory (2G: a goroutine per connection
#                     costs its stack, and a test's client and server may
#                     be two processes)
#   KEEP_LOG=1        keep the serial log and the initramfs directory
#
# Rejected: running the suites in the kmod guest (a failure in one would
# hide the other, and the module test must stay short); a guest for
# x86_64 as well (the build machines' own kernel runs io_uring natively
# in every x86_64 variant of make check); one QEMU boot per program (a
# boot costs 2-4 s under TCG, the programs often less).

set -u

# shellcheck source-path=SCRIPTDIR source=../lib/qemu-guest.sh
. "$(dirname "$0")/../lib/qemu-guest.sh"

qg_setup net-guest arm64
suites=${GUEST_SUITES:-net gc trace/file}
timeout_s=${TIMEOUT:-180}

qg_need "$qg_bdir/net-guest/probe" \
	"make B=build/arm64 CROSS=aarch64-linux-gnu- net-guest"
qg_add "$qg_bdir/net-guest/probe" probe
for s in $suites; do
	one="$qg_bdir/selftests/$s"
	if [ -f "$one" ] && [ -x "$one" ]; then
		qg_add "$one" "t/$s"	# a single program
		continue
	fi
	for p in "$qg_bdir/selftests/$s"/*; do
		if [ -f "$p" ] && [ -x "$p" ]; then
			qg_add "$p" "t/$s/${p##*/}"
		fi
	done
done
qg_env GUEST_SUITES "$suites"
qg_env GUEST_DEADLINE "$((timeout_s - 15))"
qg_env PROG_TIMEOUT "${PROG_TIMEOUT:-90}"
qg_env GORT_TEST_SCALE "${GORT_TEST_SCALE:-0.01}"
qg_env GORT_NETPOLL uring
# the epoll variants run on the host and under qemu-user; here, io_uring
qg_env GT_NET_VARIANT uring
qg_init "$qg_root/selftests/net-guest/guest/init.sh"
qg_boot "$timeout_s" "${MEM:-2G}"
