#!/bin/bash
# SPDX-License-Identifier: MIT
#
# build-module.sh - build the guest's out-of-tree kernel module against the
# kernel the e2e guest boots.
#
#   build-module.sh SRC_DIR OUT_DIR
#
# SRC_DIR (e.g. guest/linux) has a Makefile whose default target builds
# pvsched.ko for `make KDIR=...` and a dkms-source target that lays out the
# DKMS source tree; that tree is made in a temporary directory and built
# there, never in the source tree, with KDIR
# from fetch-kernel-headers.sh; the module's vermagic must name the release
# of the kernel build-guest.sh boots.  Result: OUT_DIR/pvsched.ko, for
# `build-guest.sh --module OUT_DIR/pvsched.ko`.  On a failure the tail of
# make's output is shown.  Environment: as fetch-kernel-headers.sh
# (PVSCHED_E2E_CACHE, PVSCHED_E2E_KDIR, PVSCHED_E2E_KERNEL).
set -euo pipefail

die() { echo "build-module: error: $*" >&2; exit 1; }
log() { echo "build-module: $*" >&2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=kernel-pkg.sh
. "$here/kernel-pkg.sh"

[ $# -eq 2 ] || die "usage: $0 SRC_DIR OUT_DIR"
src=$1
out=$2
[ -d "$src" ] || die "module source '$src' is not a directory"
[ -f "$src/Makefile" ] || die "module source '$src' has no Makefile"

kdir=$("$here/fetch-kernel-headers.sh") || die "fetch-kernel-headers.sh failed: no headers to build against"
rel=$("$here/fetch-kernel-headers.sh" --release) || die "fetch-kernel-headers.sh --release failed"
if [ -z "$kdir" ] || [ -z "$rel" ]; then die "fetch-kernel-headers.sh printed no KDIR or release"; fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pvsched-kmod.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
# The tree DKMS would build (`make dkms-source`: the module's sources and
# <pvsched/abi.h>), never the source directory itself, so build products of
# an earlier in-tree build are not taken as up to date, and the DKMS
# packaging is what the guest's module is built from.
make -s -C "$src" dkms-source DKMS_SRC="$tmp/src" >"$tmp/dkms-source.log" 2>&1 ||
	{ cat "$tmp/dkms-source.log" >&2; die "make -C $src dkms-source failed"; }

log "building $src against $kdir ($rel) in $tmp/src"
# A toolchain chosen by the environment would not be the kernel's (gcc-12).
# cd (not make -C), so a Makefile's $(PWD) is the build directory.
if ! (cd "$tmp/src" &&
	env -u LLVM -u LLVM_IAS -u CROSS_COMPILE -u KBUILD_OUTPUT -u ARCH \
		make -j"$(nproc 2>/dev/null || echo 2)" KDIR="$kdir") >"$tmp/make.log" 2>&1; then
	echo "build-module: ---- make output (last 40 lines; KDIR=$kdir) ----" >&2
	tail -n 40 "$tmp/make.log" >&2
	die "make KDIR=$kdir in a copy of $src failed"
fi
grep -E 'warning:|WARNING:' "$tmp/make.log" >&2 || true

ko=$tmp/src/pvsched.ko
if [ ! -f "$ko" ]; then
	ko=$(find "$tmp/src" -name pvsched.ko -type f | head -n 1)
	if [ -z "$ko" ]; then
		tail -n 20 "$tmp/make.log" >&2
		die "make in $src succeeded but built no pvsched.ko (built: $(cd "$tmp/src" && find . -name '*.ko' | tr '\n' ' '))"
	fi
fi
vermagic=$(kpkg_ko_vermagic "$ko") || die "cannot read the vermagic of pvsched.ko (needs modinfo from kmod, or objcopy)"
[ "${vermagic%% *}" = "$rel" ] ||
	die "pvsched.ko has vermagic '$vermagic', but the guest boots $rel (KDIR $kdir)"

mkdir -p "$out" || die "cannot create $out"
cp "$ko" "$out/pvsched.ko.tmp" || die "cannot write $out/pvsched.ko.tmp"
mv "$out/pvsched.ko.tmp" "$out/pvsched.ko" || die "cannot write $out/pvsched.ko"
log "built $out/pvsched.ko (vermagic: $vermagic)"
