#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# init.sh - /init of the io_uring guest (busybox sh, PID 1); see
# selftests/net-guest/qemu-arm64.sh.
#
# The initramfs holds /probe and the suites' programs as /t/SUITE/NAME
# (a suite named as one program, SUITE/NAME, is that program alone).
# This script
#   1. mounts /dev/shm, brings up loopback with 127.0.0.1 and ::1,
#      writes /etc/hosts (so "localhost" resolves), and raises
#      RLIMIT_NOFILE to 65536, the per-process descriptor limit the
#      network tests may use;
#   2. runs /probe (io_uring_setup works, gort picks io_uring, loopback
#      echo on it);
#   3. runs each program of GUEST_SUITES with GORT_NETPOLL=uring and the
#      GORT_TEST_SCALE the host chose;
#   4. powers off.
# Each program's test cases become results named PROGRAM.TEST (SUITE/NAME
# for a suite's program, "probe" for the probe).  A program that goes wrong
# outside its test cases (crash, exit status without a failed case, plan
# and results that disagree, killed after its time) gets one more failed
# result named after the program; one that skips as a whole ("1..0 #
# SKIP", exit 4) is one skipped result: the counting of selftests/run_tests.
# Diagnostics: a line per program with its counts and time, and for a
# failing one the end of its stdout and stderr and what the kernel said
# meanwhile about memory and TCP (an OOM kill reads as "signal 9" alone).
#
# Time: each program may take PROG_TIMEOUT seconds, less if fewer remain
# before GUEST_DEADLINE (seconds since boot); a program with under 5 s
# left is not started and fails, so the guest always reaches finish
# before the host kills it.
#
# Invariant: after each program every other process is killed (kill -1
# spares PID 1), so a program's strays, e.g. harness children in their
# own process groups, never compete with the next one for the two vCPUs.

# shellcheck source-path=SCRIPTDIR source=../../lib/guest-ktap.sh
. /lib/ktap.sh
guest_start

# ---- loopback, names and limits ----

# POSIX shared memory (shm_open, sem_open) lives there
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm

ip link set lo up
ip -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1/' ||
	ip -6 addr add ::1/128 dev lo 2>/dev/null
ip addr show dev lo > /tmp/lo
if grep -q 'inet 127.0.0.1/' /tmp/lo && grep -q 'inet6 ::1/' /tmp/lo &&
		grep -q 'UP' /tmp/lo; then
	ok loopback_up
else
	nok loopback_up
	diag_file /tmp/lo
fi
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' > /etc/hosts
printf 'hosts: files\n' > /etc/nsswitch.conf

# (busybox ash has ulimit -n, POSIX sh need not)
# shellcheck disable=SC3045
if ulimit -n 65536 && [ "$(ulimit -n)" -ge 65536 ]; then
	ok rlimit_nofile
else
	nok rlimit_nofile
	# shellcheck disable=SC3045
	diag "RLIMIT_NOFILE stays at $(ulimit -n)"
fi
diag "$(uname -srm), $(grep -c ^processor /proc/cpuinfo) CPUs," \
	"GORT_NETPOLL=$GORT_NETPOLL GORT_TEST_SCALE=$GORT_TEST_SCALE"

# ---- the programs ----

# secs FROM TO: TO - FROM, one decimal
secs() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'
}

# run_prog NAME PATH
run_prog() {
	rp_name=$1
	rp_start=$(uptime_s)
	rp_left=$(awk -v d="$GUEST_DEADLINE" -v t="$rp_start" \
		'BEGIN { printf "%d", d - t }')
	if [ "$rp_left" -lt 5 ]; then
		nok "$rp_name"
		diag "$rp_name: not run, the guest's time is spent" \
			"(GUEST_DEADLINE=$GUEST_DEADLINE s)"
		return
	fi
	rp_limit=$PROG_TIMEOUT
	[ "$rp_left" -ge "$rp_limit" ] || rp_limit=$rp_left

	timeout -s KILL "$rp_limit" "$2" > /tmp/out 2> /tmp/err < /dev/null
	rp_rc=$?
	kill -KILL -1 2>/dev/null
	rp_time=$(secs "$rp_start" "$(uptime_s)")
	# what the kernel said meanwhile (loglevel=1 keeps it off the console)
	dmesg -c > /tmp/dmesg 2>/dev/null

	ksft_ktap "$rp_name" /tmp/out
	rp_why=
	if [ "$rp_rc" -eq 137 ] && awk -v t="$rp_time" -v l="$rp_limit" \
			'BEGIN { exit !(t >= l) }'; then
		rp_why="killed after ${rp_limit}s${ksft_running:+ in $ksft_running}"
	elif [ "$rp_rc" -eq 4 ] && [ "$ksft_fail" -eq 0 ] &&
			{ [ -n "$ksft_skip_why" ] || [ "$ksft_pass" -eq 0 ]; }; then
		if [ "$ksft_results" -eq 0 ]; then
			skip "$rp_name" "${ksft_skip_why:-exit status 4}"
			ksft_skip=1
		fi
	elif [ "$rp_rc" -ne 0 ] && [ "$ksft_fail" -eq 0 ]; then
		if [ "$rp_rc" -gt 128 ]; then
			rp_why="signal $((rp_rc - 128)), no test failed"
		else
			rp_why="exit status $rp_rc, no test failed"
		fi
	fi
	if [ -z "$rp_why" ] && [ "$ksft_plan" -lt 0 ]; then
		rp_why="no TAP plan (1..N) on stdout"
	elif [ -z "$rp_why" ] && [ "$ksft_plan" -ne "$ksft_results" ]; then
		rp_why="TAP plan 1..$ksft_plan but $ksft_results results"
	fi
	if [ -n "$rp_why" ]; then
		nok "$rp_name"
		diag "$rp_name: $rp_why"
		ksft_fail=$((ksft_fail + 1))
	fi
	diag "$rp_name: $ksft_pass passed, $ksft_fail failed," \
		"$ksft_skip skipped (${rp_time}s)"
	if [ "$ksft_fail" -gt 0 ]; then
		# (without the lines of the cases that passed)
		grep -vE '^(ok [0-9]|#  RUN |#[[:space:]]+OK[[:space:]])' \
			/tmp/out > /tmp/out.short
		diag "---- end of $rp_name's stdout ----"
		diag_tail /tmp/out.short 30
		diag "---- end of $rp_name's stderr ----"
		diag_tail /tmp/err 30
		if grep -qiE 'out of memory|oom-kill|killed process|TCP: ' \
				/tmp/dmesg; then
			diag "---- the kernel, meanwhile ----"
			grep -iE 'out of memory|oom-kill|killed process|TCP: ' \
				/tmp/dmesg > /tmp/dmesg.short
			diag_tail /tmp/dmesg.short 10
		fi
	fi
}

dmesg -c > /dev/null 2>&1
run_prog probe /probe
for s in $GUEST_SUITES; do
	if [ -f /t/"$s" ]; then
		run_prog "$s" /t/"$s"	# a single program
		continue
	fi
	found=
	for p in /t/"$s"/*; do
		[ -x "$p" ] || continue
		found=1
		run_prog "$s/${p##*/}" "$p"
	done
	[ -n "$found" ] ||
		skip "$s" "no programs in build/arm64/selftests/$s (make tests for arm64)"
done
finish
