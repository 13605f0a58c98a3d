#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# init.sh - /init of the module test's QEMU guest (busybox sh, PID 1).
#
# The initramfs holds busybox, gort.ko, workload and uapi (built for the
# guest's architecture, see selftests/kmod/qemu-test.sh).  This script
# loads the module, runs the workload with GORT_DEBUG=kmodtrace=1 and the
# gort:* events enabled, checks the trace against what the workload says
# it did, runs the interface tests (uapi, kselftest harness), unloads the
# module and checks the kernel log, then powers the guest off.
#
# Results go to the serial console as the KTAP: lines of
# selftests/lib/guest-ktap.sh (/lib/ktap.sh here), which the host turns
# into TAP; it fails a run that does not reach finish.
#
# Checks on the trace (trace lines look like
#   "  kworker/0:1-12  [000] .....  1.2: go_create: ts=.. goid=1 p=0 m=0
#    tid=93 new_goid=2 fn=0x..."):
#   - as many go_create and go_end events as goroutines the program had;
#   - the goids created and ended are exactly the program's;
#   - each goroutine's go_create names its parent (main);
#   - each created goroutine has a go_start;
#   - a sched_switch_goid event says the sleeper's thread was switched out
#     while it ran the sleeper goroutine;
#   - the trace buffer lost nothing (no overrun), so counts are exact.

# shellcheck source-path=SCRIPTDIR source=../../lib/guest-ktap.sh
. /lib/ktap.sh
guest_start
T=/sys/kernel/tracing
mount -t tracefs tracefs $T

if insmod /gort.ko; then
	ok insmod
else
	nok insmod
	finish
fi
check dev_node test -c /dev/gort

missing=
for e in go_create go_start go_end go_block unknown sched_switch_goid; do
	[ -f "$T/events/gort/$e/format" ] || missing="$missing $e"
done
if [ -z "$missing" ]; then ok tracefs_events; else
	nok tracefs_events
	diag "missing gort events:$missing"
fi

# ---- the workload under kmodtrace ----

echo 0 > $T/tracing_on
echo 8192 > $T/buffer_size_kb
echo > $T/trace
echo 1 > $T/events/gort/enable
echo 1 > $T/tracing_on
GORT_DEBUG=kmodtrace=1 GORT_MAXPROCS=2 /workload > /tmp/expect \
	2> /tmp/workload.err
rc=$?
echo 0 > $T/tracing_on
cat $T/trace > /tmp/trace

if [ $rc -eq 0 ] && [ ! -s /tmp/workload.err ]; then
	ok workload_runs
else
	nok workload_runs
	diag "workload exit status $rc, stderr:"
	diag_file /tmp/workload.err
fi

overrun=$(cat $T/per_cpu/cpu*/stats | awk '/^overrun:/ { n += $2 }
	END { print n + 0 }')
if [ "$overrun" -eq 0 ]; then ok trace_no_overrun; else
	nok trace_no_overrun
	diag "trace buffer overran: $overrun events lost"
fi

# The goroutines the program had: main and every "go" line.
awk '$1 == "main" || $1 == "go" { print $2 }' /tmp/expect | sort -n \
	> /tmp/want_goids
want=$(wc -l < /tmp/want_goids)

# go_create: "new_goid=N", its creator "goid=P"; go_end/go_start: "goid=N"
sed -n 's/.* go_create: .* goid=\([0-9]*\) .* new_goid=\([0-9]*\) .*/\2 \1/p' \
	/tmp/trace > /tmp/created
sed -n 's/.* go_end: .* goid=\([0-9]*\) p=.*/\1/p' /tmp/trace \
	| sort -n > /tmp/ended
sed -n 's/.* go_start: .* goid=\([0-9]*\) p=.*/\1/p' /tmp/trace \
	| sort -un > /tmp/started
awk '{ print $1 }' /tmp/created | sort -n > /tmp/created_goids

n=$(wc -l < /tmp/created)
if [ "$want" -gt 1 ] && [ "$n" -eq "$want" ]; then ok go_create_count; else
	nok go_create_count
	diag "go_create events: $n, goroutines: $want"
fi
n=$(wc -l < /tmp/ended)
if [ "$want" -gt 1 ] && [ "$n" -eq "$want" ]; then ok go_end_count; else
	nok go_end_count
	diag "go_end events: $n, goroutines: $want"
fi
if [ "$want" -gt 1 ] && cmp -s /tmp/created_goids /tmp/want_goids; then
	ok go_create_goids
else
	nok go_create_goids
	diag "created goids differ from the program's"
fi
if [ "$want" -gt 1 ] && cmp -s /tmp/ended /tmp/want_goids; then
	ok go_end_goids
else
	nok go_end_goids
	diag "ended goids differ from the program's"
fi

# every "go GOID PARENT" has a go_create with that parent
bad=$(awk 'NR == FNR { parent[$1] = $2; next }
	$1 == "go" && parent[$2] != $3 { n++ }
	$1 == "go" { seen++ }
	END { print (seen ? n + 0 : -1) }' /tmp/created /tmp/expect)
if [ "$bad" = 0 ]; then ok go_create_parents; else
	nok go_create_parents
	diag "goroutines whose go_create names the wrong parent: $bad"
fi

notstarted=$(awk 'NR == FNR { s[$1] = 1; next } !($1 in s) { n++ }
	END { print n + 0 }' /tmp/started /tmp/want_goids)
if [ "$want" -gt 1 ] && [ "$notstarted" -eq 0 ]; then ok go_start_each; else
	nok go_start_each
	diag "goroutines without a go_start: $notstarted"
fi

# (split on purpose: $1 = tid, $2 = goid)
# shellcheck disable=SC2046
set -- $(awk '$1 == "switch" { print $2, $3 }' /tmp/expect)
if [ $# -eq 2 ] && grep -q "sched_switch_goid: prev_pid=$1 prev_goid=$2 " \
		/tmp/trace; then
	ok sched_switch_names_goroutine
else
	nok sched_switch_names_goroutine
	diag "no sched_switch_goid with prev_pid=${1:-?} prev_goid=${2:-?}"
	grep sched_switch_goid /tmp/trace | head -n 5 > /tmp/sw
	diag_file /tmp/sw
fi

if grep -q ' go_create: ' /tmp/trace; then
	# what was seen, and a line of each kind, for whoever reads the log
	counts=
	for e in go_create go_start go_end sched_switch_goid; do
		counts="$counts $e=$(grep -c " $e: " /tmp/trace)"
	done
	diag "$want goroutines; events:$counts"
	{
		for e in go_create go_start go_end; do
			grep -m 1 " $e: " /tmp/trace
		done
		grep -m 1 "sched_switch_goid: prev_pid=${1:-x} prev_goid=${2:-x} " \
			/tmp/trace
	} > /tmp/sample
	diag "trace sample:"
	diag_file /tmp/sample
else
	diag "trace (first lines):"
	diag_file /tmp/trace 30
fi

# ---- the interface and its negative cases ----

GORT_KMOD_PATH=/gort.ko /uapi > /tmp/uapi.out 2> /tmp/uapi.err
rc=$?
ksft_ktap uapi /tmp/uapi.out
if [ "$rc" -eq 0 ] && [ "$ksft_plan" -eq "$ksft_results" ]; then
	ok uapi_complete
else
	nok uapi_complete
	diag "uapi: exit status $rc, plan $ksft_plan, $ksft_results results"
	diag_file /tmp/uapi.err 40
fi

# ---- unload, and the kernel's opinion ----

check rmmod rmmod gort
check dev_node_gone test ! -e /dev/gort

dmesg > /tmp/dmesg
if grep -qE 'BUG:|WARNING:|Oops|general protection|Call Trace|kernel BUG|UBSAN|list_(add|del) corruption|refcount_t:|RCU stall|stall on CPU|hung_task|segfault' \
		/tmp/dmesg; then
	nok dmesg_clean
	grep -nE -A3 'BUG:|WARNING:|Oops|general protection|Call Trace|kernel BUG|UBSAN|corruption|refcount_t:|stall|hung_task|segfault' \
		/tmp/dmesg | head -n 40 > /tmp/dmesg.bad
	diag_file /tmp/dmesg.bad 40
else
	ok dmesg_clean
fi
finish
