#!/bin/sh
# SPDX-License-Identifier: MIT
#
# deps.sh: install what gort's build and tests need on Debian 12, then
# extract the kselftest harness headers into the build directory.
#
# Idempotent: a package already installed is not asked for again, and the
# extracted headers are kept once present, so a second run takes well under a
# second.  Only Debian packages are used; nothing is downloaded from elsewhere.
#
# The kselftest harness (kselftest_harness.h, kselftest.h) ships in no Debian
# package as a file; it lives only inside linux-source-6.1's tarball, so it is
# unpacked from there into $OUT/kselftest at build time and never copied into
# the repository.
#
# The module tests boot Debian's own 6.1 kernels under QEMU.  The amd64
# kernel and headers are ordinary packages; the arm64 kernel image, headers
# and static busybox are fetched with `apt-get download` and unpacked with
# dpkg-deb into $OUT/arm64-kernel, never installed: installing the
# arm64 headers package would pull arm64 compilers and remove the amd64
# toolchain.  That needs arm64 as a foreign dpkg architecture (package lists
# only; nothing arm64 gets installed).  The kernel ABI (6.1.0-NN) follows
# whatever linux-image-amd64 depends on, so a Debian point release that
# bumps it is picked up by the next run.
#
# The AArch64 build links liburing statically; Debian's arm64 liburing-dev
# is unpacked the same way into $OUT/arm64, for the same reason.
#
# Usage: scripts/deps.sh [build-dir]     (default: build)
set -eu

OUT=${1:-build}/deps
SUDO=
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
fi

PKGS="build-essential pkg-config clang llvm clang-format
liburing-dev libbpf-dev bpftool libelf-dev zlib1g-dev systemtap-sdt-dev
bpftrace
linux-source-6.1 xz-utils
gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
libclang-rt-14-dev wrk
linux-headers-amd64 linux-image-amd64 qemu-system-x86 qemu-system-arm
busybox-static cpio"

missing=
updated=
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	echo "deps.sh: installing:$missing"
	$SUDO env DEBIAN_FRONTEND=noninteractive \
		apt-get -o DPkg::Lock::Timeout=600 update
	updated=1
	# shellcheck disable=SC2086
	$SUDO env DEBIAN_FRONTEND=noninteractive \
		apt-get -o DPkg::Lock::Timeout=600 install -y \
		--no-install-recommends $missing
fi

mkdir -p "$OUT/kselftest"
if [ ! -f "$OUT/kselftest/kselftest_harness.h" ] ||
		[ ! -f "$OUT/kselftest/kselftest.h" ]; then
	src=$(ls /usr/src/linux-source-6.1.tar.xz 2>/dev/null || true)
	if [ -z "$src" ]; then
		echo "deps.sh: /usr/src/linux-source-6.1.tar.xz is missing" >&2
		exit 1
	fi
	s=linux-source-6.1/tools/testing/selftests
	tmp="$OUT/kselftest.tmp"
	rm -rf "$tmp" && mkdir -p "$tmp"
	tar -xJf "$src" -C "$tmp" --strip-components=4 \
		"$s/kselftest_harness.h" "$s/kselftest.h"
	mv "$tmp/kselftest_harness.h" "$tmp/kselftest.h" "$OUT/kselftest/"
	rm -rf "$tmp"
fi

# arm64 kernel, headers and busybox for the arm64 module test (see above).
if ! kver=$("$(dirname "$0")/kver.sh"); then
	echo "deps.sh: cannot tell the kernel ABI from linux-image-amd64" >&2
	exit 1
fi
A64="$OUT/arm64-kernel"
if [ ! -f "$A64/.done-$kver" ]; then
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		$SUDO dpkg --add-architecture arm64
		updated=
	fi
	if [ -z "$updated" ]; then
		$SUDO env DEBIAN_FRONTEND=noninteractive \
			apt-get -o DPkg::Lock::Timeout=600 update
	fi
	rm -rf "$A64" && mkdir -p "$A64/debs"
	echo "deps.sh: fetching the arm64 $kver kernel, headers and busybox"
	(cd "$A64/debs" &&
	 apt-get -o DPkg::Lock::Timeout=600 -o APT::Sandbox::User=root \
		download "linux-image-$kver-arm64:arm64" \
		"linux-headers-$kver-arm64:arm64" busybox-static:arm64)
	# only the kernel image and busybox; the modules would be 350 MB
	mkdir -p "$A64/image" "$A64/busybox"
	dpkg-deb --fsys-tarfile "$A64"/debs/linux-image-*_arm64.deb |
		tar -x -C "$A64/image" "./boot/vmlinuz-$kver-arm64"
	dpkg-deb --fsys-tarfile "$A64"/debs/busybox-static_*_arm64.deb |
		tar -x -C "$A64/busybox" ./bin/busybox
	dpkg-deb -x "$A64"/debs/linux-headers-*_arm64.deb "$A64/headers"
	# The headers' scripts/ and tools/ link to ../../lib/linux-kbuild-*:
	# host programs (fixdep, modpost), so the amd64 ones installed with
	# linux-headers-amd64 serve.
	for kb in /usr/lib/linux-kbuild-*; do
		mkdir -p "$A64/headers/usr/lib"
		ln -sfn "$kb" "$A64/headers/usr/lib/${kb##*/}"
	done
	rm -rf "$A64/debs"
	touch "$A64/.done-$kver"
fi

# arm64 liburing for the cross build (the arm64 architecture is enabled
# above)
L64="$OUT/arm64"
if [ ! -f "$L64/usr/lib/aarch64-linux-gnu/liburing.a" ]; then
	tmp="$OUT/arm64.tmp"
	rm -rf "$tmp" && mkdir -p "$tmp"
	(cd "$tmp" &&
	 apt-get -o DPkg::Lock::Timeout=600 -o APT::Sandbox::User=root \
		download liburing-dev:arm64 liburing2:arm64)
	for deb in "$tmp"/*.deb; do
		dpkg-deb -x "$deb" "$tmp/root"
	done
	rm -rf "$L64"
	mv "$tmp/root" "$L64"
	rm -rf "$tmp"
fi
