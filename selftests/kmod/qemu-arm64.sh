#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# gort.ko in an arm64 QEMU guest: see qemu-test.sh.
exec "$(dirname "$0")/qemu-test.sh" arm64
