#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# qemu-test.sh - test gort.ko in a QEMU guest running Debian's own kernel.
#
#   selftests/kmod/qemu-test.sh x86_64|arm64
#
# Boots Debian's kernel (the one the module was built for) with an
# initramfs holding the module, the guest programs and
# selftests/kmod/guest/init.sh as /init, and prints the guest's checks as
# TAP: selftests/lib/qemu-guest.sh does the booting and the reporting.
# The guest programs and the module are built beforehand by `make check`
# (targets kmod and kmod-guest).
#
# Anything missing (QEMU, the kernel image, busybox, the module or the
# guest programs) makes the whole run a SKIP that names it: "1..0 # SKIP
# why", exit 4.  A guest that hangs is killed after TIMEOUT seconds
# (default 150) and fails; so does one that stops before its last check.
#
# Environment: TIMEOUT, KEEP_LOG=1 (keep the serial log and initramfs
# directory and print where they are).
#
# Rejected: checking the trace on the host (the guest would have to send
# the whole trace over the serial line, and a truncated log would look
# like missing events).

set -u

# shellcheck source-path=SCRIPTDIR source=../lib/qemu-guest.sh
. "$(dirname "$0")/../lib/qemu-guest.sh"

qg_setup kmod "${1:-}"
ko=$qg_root/build/kmod/$qg_arch/gort.ko
guest=$qg_bdir/kmod-guest

qg_need "$ko" "make kmod KARCH=$qg_arch"
for p in workload uapi; do
	qg_need "$guest/$p" "make kmod-guest"
done
qg_add "$ko" gort.ko
qg_add "$guest/workload" workload
qg_add "$guest/uapi" uapi
qg_init "$qg_root/selftests/kmod/guest/init.sh"
qg_boot "${TIMEOUT:-150}" 512M
