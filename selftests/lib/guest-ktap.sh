# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# guest-ktap.sh - what every QEMU guest's /init shares: the mounts and the
# result lines the host reads from the serial console.  Installed as
# /lib/ktap.sh by selftests/lib/qemu-guest.sh; /init (busybox sh, PID 1)
# sources it and calls guest_start first.
#
# Result lines (the host numbers them and turns them into TAP):
#   KTAP: ok - NAME             ok NAME
#   KTAP: not ok - NAME         nok NAME
#   KTAP: ok - NAME # SKIP WHY  skip NAME WHY
#   KTAP: # TEXT                diag TEXT
#   KTAP: done                  finish (then the guest powers off)
# A guest that does not reach finish fails on the host, so /init must not
# exit (PID 1 exiting panics the kernel; panic=-1 then reboots, which
# -no-reboot turns into QEMU's exit, but without "done").
#
# ksft_ktap PREFIX FILE turns a kselftest harness program's stdout into
# result lines named PREFIX.TEST, one per test case.  The 6.1 harness
# prints a skipped case as "ok N # SKIP WHY" without its name, so the name
# comes from the "#  RUN  NAME ..." line before it.
#
# Invariant: POSIX sh as busybox ash runs it; nothing here needs more than
# busybox and /proc.
#
# Rejected: one copy of these functions in each /init (two guests already
# repeat them); sending whole program outputs to the host for parsing
# (the console is slow under TCG, and a truncated log would read as
# missing results rather than as a guest that died).

guest_start() {
	export PATH=/bin
	/bin/busybox --install -s /bin
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev
	mount -t tmpfs tmpfs /tmp
	# written by the host's qg_env
	# shellcheck disable=SC1091
	. /etc/guest.env
}

ok() {
	echo "KTAP: ok - $1"
}

nok() {
	echo "KTAP: not ok - $1"
}

skip() {
	echo "KTAP: ok - $1 # SKIP $2"
}

diag() {
	echo "KTAP: # $*"
}

# diag_file FILE [N]: the first N (20) lines of FILE as diagnostics.
diag_file() {
	head -n "${2:-20}" "$1" 2>/dev/null | while IFS= read -r l; do
		diag "  $l"
	done
}

# diag_tail FILE [N]: the last N (20) lines of FILE as diagnostics.
diag_tail() {
	tail -n "${2:-20}" "$1" 2>/dev/null | while IFS= read -r l; do
		diag "  $l"
	done
}

# check NAME COMMAND...: a result line for COMMAND's status.
check() {
	name=$1
	shift
	if "$@"; then ok "$name"; else nok "$name"; fi
}

# Seconds since boot, two decimals.
uptime_s() {
	read -r up _ < /proc/uptime
	echo "$up"
}

finish() {
	echo "KTAP: done"
	sync
	poweroff -f
}

# ksft_ktap PREFIX FILE: result lines for the TAP in FILE.  Sets
# ksft_pass, ksft_fail, ksft_skip, ksft_results, ksft_plan (-1 without a
# "1..N" line), ksft_skip_why (the reason of "1..0 # SKIP WHY", else
# empty) and ksft_running (the test that started last and has no result,
# the one a killed program was in, else empty).
ksft_ktap() {
	ksft_pass=0
	ksft_fail=0
	ksft_skip=0
	ksft_results=0
	ksft_plan=-1
	ksft_skip_why=
	kk_prefix=$1
	kk_test=
	while IFS= read -r kk_l; do
		case "$kk_l" in
		"#  RUN "*)
			# shellcheck disable=SC2086  # split into words on purpose
			set -- $kk_l
			kk_test=$3 ;;
		"ok "[0-9]*)
			kk_rest=${kk_l#ok }
			kk_rest=${kk_rest#* }
			case "$kk_l" in
			*"# SKIP"*)
				kk_why=${kk_l#*# SKIP}
				kk_why=${kk_why# }
				kk_name=${kk_rest%%# SKIP*}
				kk_name=${kk_name% }
				[ -n "$kk_name" ] || kk_name=$kk_test
				[ -n "$kk_name" ] || kk_name=test$((ksft_results + 1))
				skip "$kk_prefix.$kk_name" "$kk_why"
				ksft_skip=$((ksft_skip + 1)) ;;
			*)
				ok "$kk_prefix.$kk_rest"
				ksft_pass=$((ksft_pass + 1)) ;;
			esac
			ksft_results=$((ksft_results + 1))
			kk_test= ;;
		"not ok "[0-9]*)
			kk_rest=${kk_l#not ok }
			kk_rest=${kk_rest#* }
			nok "$kk_prefix.$kk_rest"
			ksft_fail=$((ksft_fail + 1))
			ksft_results=$((ksft_results + 1))
			kk_test= ;;
		"1.."[0-9]*)
			if [ "$ksft_plan" -lt 0 ]; then
				kk_p=${kk_l#1..}
				ksft_plan=${kk_p%%[!0-9]*}
				case "$kk_l" in
				*"# SKIP"*)
					ksft_skip_why=${kk_l#*# SKIP}
					ksft_skip_why=${ksft_skip_why# } ;;
				esac
			fi ;;
		esac
	done < "$2"
	# shellcheck disable=SC2034  # for the caller
	ksft_running=$kk_test
}
