#!/bin/sh
# SPDX-License-Identifier: MIT
#
# kver.sh: print the Debian kernel ABI that gort.ko is built and tested
# against ("6.1.0-56"), the one linux-image-amd64 depends on, so that a
# Debian point release that bumps the ABI needs no edit here.  Prints
# nothing (and exits 1) when linux-image-amd64 is not installed.
set -eu

kver=$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null |
	sed -n 's/.*linux-image-\([0-9.]*-[0-9]*\)-amd64.*/\1/p')
[ -n "$kver" ] || exit 1
echo "$kver"
