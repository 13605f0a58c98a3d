#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# gort.ko in a x86_64 QEMU guest: see qemu-test.sh.
exec "$(dirname "$0")/qemu-test.sh" x86_64
