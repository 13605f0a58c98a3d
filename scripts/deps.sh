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
libclang-rt-14-dev wrk"

missing=
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
