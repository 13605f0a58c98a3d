# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# qemu-guest.sh - boot Debian's kernel in a QEMU guest with a busybox
# initramfs and turn what the guest reports into TAP.  Sourced (bash) by
# the tests that need a whole kernel of their own: selftests/kmod (gort.ko)
# and selftests/net-guest (io_uring on arm64).
#
#   . selftests/lib/qemu-guest.sh
#   qg_setup NAME ARCH          x86_64 or arm64; SKIPs when QEMU, the
#                               kernel image, busybox or a tool is missing
#   qg_need FILE HINT           SKIP "FILE not built (HINT)" unless FILE is
#                               a readable file
#   qg_add SRC DEST             copy SRC to /DEST in the initramfs
#   qg_env NAME VALUE           export NAME=VALUE to the guest's /init
#   qg_init SCRIPT              the guest's /init (busybox sh)
#   qg_boot TIMEOUT MEMORY      build the initramfs, boot, print TAP, exit
#
# After qg_setup: qg_arch, qg_kver, qg_root (the source tree) and qg_bdir
# (the build directory of ARCH's user-space programs: build or
# build/arm64).  qg_boot never returns: it exits 0 when every result
# passed, 1 otherwise; usage errors exit 2; skips print "1..0 # SKIP why"
# and exit 4, as a kselftest program that skips as a whole.
#
# The guest side.  The initramfs always holds busybox as /bin/busybox
# (/bin/sh links to it) and selftests/lib/guest-ktap.sh as /lib/ktap.sh,
# which /init sources for the mounts and the result functions.  Results
# reach the host as lines on the serial console:
#   KTAP: ok - NAME
#   KTAP: not ok - NAME
#   KTAP: ok - NAME # SKIP REASON
#   KTAP: # DIAGNOSTIC
#   KTAP: done                  (/init ran to its end)
# and become "ok N ARCH.NAME" here, preceded by ARCH.boot_and_power_off
# (QEMU exited by itself before TIMEOUT seconds) and followed by
# ARCH.guest_ran_to_the_end ("KTAP: done" was seen), then the plan.  The
# kernel's own messages on the console are ignored (loglevel=1 keeps them
# few).
#
# Invariants: nothing is written outside a fresh temporary directory,
# removed on exit unless KEEP_LOG=1 (then its path is printed on stderr);
# a guest that hangs is killed after TIMEOUT seconds and fails, keeping
# the results it printed so far; a guest that stops early fails.
#
# Environment: KEEP_LOG=1.
#
# Rejected: KVM (present on the build machines but its guests hang: no
# nested virtualisation), so TCG; a disk image (an initramfs needs no
# root, no image tools and boots faster); a virtio-serial or 9p channel
# for the results (the console needs no guest driver and is there from the
# first instruction, so even a guest that panics leaves its last words);
# a stand-alone script taking files as arguments (each test checks its own
# prerequisites with its own hints, and a sourced library lets it do so
# without a second option parser).

set -u

qg_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

qg_skip() {
	echo "TAP version 13"
	echo "1..0 # SKIP $*"
	exit 4
}

qg_setup() {
	local name=$1 tool

	qg_arch=$2
	case "$qg_arch" in
	x86_64)
		qg_qemu=(qemu-system-x86_64 -smp 2)
		qg_kflavour=amd64
		qg_console=ttyS0
		qg_kdir=/boot
		qg_busybox=/bin/busybox
		qg_bdir=$qg_root/build
		;;
	arm64)
		qg_qemu=(qemu-system-aarch64 -M virt -cpu cortex-a57 -smp 2)
		qg_kflavour=arm64
		qg_console=ttyAMA0
		qg_kdir=$qg_root/build/deps/arm64-kernel/image/boot
		qg_busybox=$qg_root/build/deps/arm64-kernel/busybox/bin/busybox
		# shellcheck disable=SC2034  # for the sourcing script
		qg_bdir=$qg_root/build/arm64
		;;
	*)
		echo "usage: $0 x86_64|arm64" >&2
		exit 2
		;;
	esac

	qg_kver=$("$qg_root/scripts/kver.sh") ||
		qg_skip "linux-image-amd64 is not installed (scripts/deps.sh)"
	qg_kernel=$qg_kdir/vmlinuz-$qg_kver-$qg_kflavour

	command -v "${qg_qemu[0]}" > /dev/null ||
		qg_skip "${qg_qemu[0]} not found (scripts/deps.sh installs it)"
	for tool in cpio gzip timeout; do
		command -v $tool > /dev/null || qg_skip "$tool not found"
	done
	[ -r "$qg_kernel" ] ||
		qg_skip "no kernel image $qg_kernel (scripts/deps.sh)"
	[ -x "$qg_busybox" ] ||
		qg_skip "no static busybox $qg_busybox (scripts/deps.sh)"

	qg_work=$(mktemp -d "${TMPDIR:-/tmp}/gort-$name-$qg_arch.XXXXXX") ||
		exit 2
	if [ "${KEEP_LOG:-}" = 1 ]; then
		echo "# keeping $qg_work" >&2
	else
		# shellcheck disable=SC2064  # expand now: the path is fixed
		trap "rm -rf '$qg_work'" EXIT
	fi
	mkdir -p "$qg_work/root/bin" "$qg_work/root/lib" \
		"$qg_work/root/etc" "$qg_work/root/proc" "$qg_work/root/sys" \
		"$qg_work/root/dev" "$qg_work/root/tmp"
	cp "$qg_busybox" "$qg_work/root/bin/busybox"
	ln -s busybox "$qg_work/root/bin/sh"
	cp "$qg_root/selftests/lib/guest-ktap.sh" "$qg_work/root/lib/ktap.sh"
	: > "$qg_work/root/etc/guest.env"
}

qg_need() {
	if [ ! -f "$1" ] || [ ! -r "$1" ]; then
		qg_skip "$1 not built ($2)"
	fi
}

qg_add() {
	mkdir -p "$(dirname "$qg_work/root/$2")"
	cp "$1" "$qg_work/root/$2" || qg_skip "cannot copy $1 to the initramfs"
}

qg_env() {
	# single-quoted for the guest's sh: ' becomes '\''
	printf "export %s='%s'\n" "$1" "${2//\'/\'\\\'\'}" \
		>> "$qg_work/root/etc/guest.env"
}

qg_init() {
	cp "$1" "$qg_work/root/init" || qg_skip "cannot copy $1 to the initramfs"
	chmod 755 "$qg_work/root/init"
}

# qg_result ok|"not ok" NAME
qg_result() {
	qg_n=$((qg_n + 1))
	echo "$1 $qg_n $qg_arch.$2"
	case "$1" in not*) qg_fail=1 ;; esac
}

qg_boot() {
	local timeout_s=$1 mem=$2 log=$qg_work/serial.log start qrc secs
	local line done_seen=0

	(cd "$qg_work/root" && find . -print0 |
		cpio --null -o -H newc --quiet | gzip -1) \
		> "$qg_work/initramfs.gz" || qg_skip "cannot build the initramfs"

	start=$(date +%s.%N)
	timeout --kill-after=5 "$timeout_s" "${qg_qemu[@]}" -accel tcg \
		-m "$mem" -nodefaults -display none -no-reboot \
		-serial "file:$log" \
		-kernel "$qg_kernel" -initrd "$qg_work/initramfs.gz" \
		-append "console=$qg_console panic=-1 loglevel=1 rdinit=/init" \
		< /dev/null > "$qg_work/qemu.out" 2>&1
	qrc=$?
	secs=$(awk -v a="$start" -v b="$(date +%s.%N)" \
		'BEGIN { printf "%.1f", b - a }')

	echo "TAP version 13"
	qg_n=0
	qg_fail=0
	if [ $qrc -eq 0 ]; then
		qg_result ok "boot_and_power_off"
		echo "# $qg_arch guest: ${secs}s, kernel $qg_kver-$qg_kflavour"
	else
		qg_result "not ok" "boot_and_power_off"
		if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
			echo "# QEMU killed after ${timeout_s}s"
		else
			echo "# QEMU exited with status $qrc"
			sed 's/^/# qemu: /' "$qg_work/qemu.out" | head -n 10
		fi
	fi

	while IFS= read -r line; do
		line=${line%$'\r'}
		case "$line" in
		"KTAP: ok - "*)
			qg_result ok "${line#KTAP: ok - }" ;;
		"KTAP: not ok - "*)
			qg_result "not ok" "${line#KTAP: not ok - }" ;;
		"KTAP: # "*)
			echo "# ${line#KTAP: # }" ;;
		"KTAP: done")
			done_seen=1 ;;
		esac
	done < <(tr -d '\000' < "$log" 2> /dev/null)

	if [ $done_seen -eq 1 ]; then
		qg_result ok "guest_ran_to_the_end"
	else
		qg_result "not ok" "guest_ran_to_the_end"
		echo "# the guest stopped early; end of its console:"
		tail -n 30 "$log" 2> /dev/null | sed 's/^/#   /'
	fi
	echo "1..$qg_n"
	exit $qg_fail
}
