#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# qemu-test.sh - test gort.ko in a QEMU guest running Debian's own kernel.
#
#   selftests/kmod/qemu-test.sh x86_64|arm64
#
# Builds a busybox initramfs holding the module, the guest programs and
# selftests/kmod/guest/init.sh as /init, boots Debian's kernel (the one
# the module was built for) under QEMU with software emulation (TCG: no
# KVM on the build machines), and turns the guest's "KTAP:" lines from
# the serial console into TAP on stdout, one result per guest check,
# preceded by the boot itself and followed by the plan.  The guest
# programs and the module are built beforehand by `make check` (targets
# kmod and kmod-guest).
#
# Anything missing (QEMU, the kernel image, busybox, the module or the
# guest programs) makes the whole run a SKIP that names it: "1..0 # SKIP
# why", exit 4.  A guest that hangs is killed after TIMEOUT seconds
# (default 150) and fails; so does one that stops before its last check.
#
# Environment: TIMEOUT, KEEP_LOG=1 (keep the serial log and initramfs
# directory and print where they are).
#
# Rejected: KVM (present on the build machines but its guests hang: no
# nested virtualisation); a disk image (an initramfs needs no root, no
# image tools and boots faster); checking the trace on the host (the
# guest would have to send the whole trace over the serial line, and a
# truncated log would look like missing events).

set -u

arch=${1:-}
root=$(cd "$(dirname "$0")/../.." && pwd)
timeout_s=${TIMEOUT:-150}

skip() {
	echo "TAP version 13"
	echo "1..0 # SKIP $*"
	exit 4
}

case "$arch" in
x86_64)
	qemu=(qemu-system-x86_64 -smp 2)
	kflavour=amd64
	console=ttyS0
	kdir=/boot
	busybox=/bin/busybox
	guest=$root/build/kmod-guest
	;;
arm64)
	qemu=(qemu-system-aarch64 -M virt -cpu cortex-a57 -smp 2)
	kflavour=arm64
	console=ttyAMA0
	kdir=$root/build/deps/arm64-kernel/image/boot
	busybox=$root/build/deps/arm64-kernel/busybox/bin/busybox
	guest=$root/build/arm64/kmod-guest
	;;
*)
	echo "usage: $0 x86_64|arm64" >&2
	exit 2
	;;
esac

kver=$("$root/scripts/kver.sh") ||
	skip "linux-image-amd64 is not installed (scripts/deps.sh)"
kernel=$kdir/vmlinuz-$kver-$kflavour
ko=$root/build/kmod/$arch/gort.ko

command -v "${qemu[0]}" > /dev/null ||
	skip "${qemu[0]} not found (scripts/deps.sh installs it)"
for tool in cpio gzip timeout; do
	command -v $tool > /dev/null || skip "$tool not found"
done
[ -r "$kernel" ] || skip "no kernel image $kernel (scripts/deps.sh)"
[ -x "$busybox" ] || skip "no static busybox $busybox (scripts/deps.sh)"
[ -r "$ko" ] || skip "$ko not built (make kmod KARCH=$arch)"
for p in workload uapi; do
	[ -x "$guest/$p" ] || skip "$guest/$p not built (make kmod-guest)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/gort-kmod-$arch.XXXXXX") || exit 2
if [ "${KEEP_LOG:-}" = 1 ]; then
	echo "# keeping $work" >&2
else
	trap 'rm -rf "$work"' EXIT
fi
log=$work/serial.log

# ---- the initramfs ----
mkdir -p "$work/root/bin" "$work/root/proc" "$work/root/sys" \
	"$work/root/dev" "$work/root/tmp"
cp "$busybox" "$work/root/bin/busybox"
ln -s busybox "$work/root/bin/sh"
cp "$ko" "$work/root/gort.ko"
cp "$guest/workload" "$guest/uapi" "$work/root/"
cp "$root/selftests/kmod/guest/init.sh" "$work/root/init"
chmod 755 "$work/root/init"
(cd "$work/root" && find . -print0 |
	cpio --null -o -H newc --quiet | gzip -1) > "$work/initramfs.gz" ||
	skip "cannot build the initramfs"

# ---- boot ----
start=$(date +%s.%N)
timeout --kill-after=5 "$timeout_s" "${qemu[@]}" -accel tcg -m 512M \
	-nodefaults -display none -no-reboot -serial "file:$log" \
	-kernel "$kernel" -initrd "$work/initramfs.gz" \
	-append "console=$console panic=-1 loglevel=1 rdinit=/init" \
	< /dev/null > "$work/qemu.out" 2>&1
qrc=$?
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" \
	'BEGIN { printf "%.1f", b - a }')

# ---- results ----
echo "TAP version 13"
n=0
fail=0

result() {
	n=$((n + 1))
	echo "$1 $n $arch.$2"
	case "$1" in not*) fail=1 ;; esac
}

if [ $qrc -eq 0 ]; then
	result ok "boot_and_power_off"
	echo "# $arch guest: ${secs}s, kernel $kver-$kflavour"
else
	result "not ok" "boot_and_power_off"
	if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
		echo "# QEMU killed after ${timeout_s}s"
	else
		echo "# QEMU exited with status $qrc"
		sed 's/^/# qemu: /' "$work/qemu.out" | head -n 10
	fi
fi

done_seen=0
while IFS= read -r line; do
	line=${line%$'\r'}
	case "$line" in
	"KTAP: ok - "*)
		result ok "${line#KTAP: ok - }" ;;
	"KTAP: not ok - "*)
		result "not ok" "${line#KTAP: not ok - }" ;;
	"KTAP: # "*)
		echo "# ${line#KTAP: # }" ;;
	"KTAP: done")
		done_seen=1 ;;
	esac
done < <(tr -d '\000' < "$log" 2> /dev/null)

if [ $done_seen -eq 1 ]; then
	result ok "guest_ran_to_the_end"
else
	result "not ok" "guest_ran_to_the_end"
	echo "# the guest stopped early; end of its console:"
	tail -n 30 "$log" 2> /dev/null | sed 's/^/#   /'
fi
echo "1..$n"
exit $fail
