#!/bin/bash
# SPDX-License-Identifier: MIT
#
# fetch-kernel-headers.sh - the headers of the kernel the e2e guest boots,
# for building out-of-tree modules against it (build-module.sh).
#
#   fetch-kernel-headers.sh            prints KDIR (for make -C KDIR M=...)
#   fetch-kernel-headers.sh --release  prints that kernel's release
#                                      (e.g. 6.1.0-57-amd64)
#
# The kernel is the one build-guest.sh boots: the linux-image-REL package
# linux-image-amd64 depends on, version VER (kernel-pkg.sh).  Its headers
# are three packages, fetched with `apt-get download` and unpacked with
# `dpkg -x` (never installed) into CACHE/headers-REL-VER/:
#   linux-headers-REL (= VER)            the flavour's .config, Module.symvers
#   linux-headers-REL-BASE-common (= VER) from its Depends (the source tree)
#   linux-kbuild-X.Y (VER if apt knows it, else the candidate satisfying the
#                    Depends: the host programs, scripts/ and tools/)
# KDIR is CACHE/headers-REL-VER/usr/src/linux-headers-REL; its Makefile,
# which includes /usr/src/linux-headers-...-common/Makefile by absolute path,
# is rewritten to include the unpacked one.  Reruns are a cache hit (and work
# offline: then the headers for the newest cached kernel, as build-guest.sh
# would boot it, are used).  The same lock, cache dir and `apt-get update`
# fallback as build-guest.sh's kernel.
#
# Building against KDIR needs the compiler the kernel was built with (its
# .kernelvariables name gcc-12 for Debian 12), make and binutils, and
# libelf1 for objtool; as root, missing ones are installed with apt-get.
# (Not needed for external modules: bc, flex, bison, perl, pahole,
# libssl-dev.)
#
# Environment:
#   PVSCHED_E2E_CACHE   cache dir (as build-guest.sh)
#   PVSCHED_E2E_KDIR    use this KDIR instead (skips apt entirely)
#   PVSCHED_E2E_KERNEL  the guest boots this vmlinuz instead (build-guest.sh):
#                       its headers are unknown, so PVSCHED_E2E_KDIR is then
#                       required; --release reads the vmlinuz's own release
set -euo pipefail

die() { echo "fetch-kernel-headers: error: $*" >&2; exit 1; }
log() { echo "fetch-kernel-headers: $*" >&2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=kernel-pkg.sh
. "$here/kernel-pkg.sh"

want=kdir
case ${1:-} in
"") ;;
--release) want=release ;;
*) die "usage: $0 [--release]" ;;
esac

# ---- overrides --------------------------------------------------------------
if [ -n "${PVSCHED_E2E_KERNEL:-}" ]; then
	[ -s "$PVSCHED_E2E_KERNEL" ] || die "PVSCHED_E2E_KERNEL=$PVSCHED_E2E_KERNEL is not a file"
	if [ "$want" = release ]; then
		kpkg_vmlinuz_release "$PVSCHED_E2E_KERNEL" ||
			die "cannot read the kernel release from PVSCHED_E2E_KERNEL=$PVSCHED_E2E_KERNEL (not a bzImage?)"
		exit 0
	fi
	[ -n "${PVSCHED_E2E_KDIR:-}" ] ||
		die "PVSCHED_E2E_KERNEL is set: the headers of that kernel are unknown; set PVSCHED_E2E_KDIR to them"
fi
if [ -n "${PVSCHED_E2E_KDIR:-}" ]; then
	if [ "$want" = release ]; then
		# UTS_RELEASE is what a module's vermagic gets (Debian's headers
		# have "6.1.192" in include/config/kernel.release, so not that).
		rel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$PVSCHED_E2E_KDIR/include/generated/utsrelease.h" 2>/dev/null || true)
		[ -n "$rel" ] || die "cannot get the release of PVSCHED_E2E_KDIR=$PVSCHED_E2E_KDIR (no UTS_RELEASE in include/generated/utsrelease.h)"
		echo "$rel"
		exit 0
	fi
	[ -f "$PVSCHED_E2E_KDIR/Makefile" ] || die "PVSCHED_E2E_KDIR=$PVSCHED_E2E_KDIR has no Makefile"
	echo "$PVSCHED_E2E_KDIR"
	exit 0
fi

# ---- resolve ----------------------------------------------------------------
cache=$(kpkg_cache_dir)
cache=$(cd "$cache" && pwd -P) # KDIR's Makefile includes an absolute path
kpkg_lock "$cache"

# Offline: the headers for the kernel build-guest.sh then boots.
offline_hdir=""
newest=$(kpkg_newest_cached_kernel "$cache")
if [ -n "$newest" ] && [ -s "$cache/headers-${newest#"$cache"/vmlinuz-}/PACKAGES" ]; then
	offline_hdir=$cache/headers-${newest#"$cache"/vmlinuz-}
fi
need_update=1
[ -z "$offline_hdir" ] || need_update=0
resolved=$(kpkg_resolve "$need_update") || resolved=""
if [ -n "$resolved" ]; then
	read -r pkg ver <<<"$resolved"
	rel=${pkg#linux-image-}
	hdir=$cache/headers-$rel-$ver
else
	[ -n "$newest" ] ||
		die "cannot resolve linux-image-amd64 (apt-cache; offline?) and no cached kernel in $cache (build-guest.sh caches it)"
	[ -n "$offline_hdir" ] ||
		die "cannot resolve linux-image-amd64 (apt-cache; offline?) and no headers cached for $newest (expected $cache/headers-${newest#"$cache"/vmlinuz-})"
	hdir=$offline_hdir
	rel=$(sed -n 's/^release //p' "$hdir/PACKAGES")
	[ -n "$rel" ] || die "$hdir/PACKAGES names no release"
	log "offline: using cached $hdir (for $newest)"
fi
if [ "$want" = release ]; then
	echo "$rel"
	exit 0
fi

# ---- fetch and unpack -------------------------------------------------------
# Prints the Depends: of PKG=VER, one dependency per line ("name (op ver)").
pkg_depends() { # PKG VER
	apt-cache show "$1=$2" 2>/dev/null | awk '/^Depends:/ { sub(/^Depends: */, ""); print; exit }' |
		tr ',' '\n' | sed 's/^ *//; s/ *$//'
}

# The version of linux-kbuild-X.Y to fetch for the dependency "NAME (OP V)":
# VER (same source package as the headers) if apt knows it and it satisfies
# the dependency, else the candidate if it does.
pick_kbuild_version() { # NAME OP V VER
	local name=$1 op=$2 v=$3 ver=$4 c
	for c in "$ver" "$(apt-cache policy "$name" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }')"; do
		if [ -z "$c" ] || [ "$c" = "(none)" ]; then continue; fi
		apt-cache show "$name=$c" >/dev/null 2>&1 || continue
		if [ -z "$op" ] || dpkg --compare-versions "$c" "$op" "$v"; then
			echo "$c"
			return 0
		fi
	done
	return 1
}

fetch_headers() {
	local hpkg=linux-headers-$rel deps common="" common_ver="" kbuild="" kbuild_op="" kbuild_req="" kbuild_ver
	deps=$(pkg_depends "$hpkg" "$ver") || deps=""
	[ -n "$deps" ] || die "apt-cache knows no $hpkg version $ver (the headers of $pkg $ver)"
	# "linux-headers-6.1.0-57-common (= 6.1.192-3)", "linux-kbuild-6.1 (>= 6.1.192-3)"
	read -r common common_ver < <(sed -n 's/^\(linux-headers-[^ |]*-common[^ |]*\) (= \([^)]*\)).*/\1 \2/p' <<<"$deps" | head -n 1) || true
	[ -n "$common" ] || die "$hpkg=$ver: no linux-headers-*-common (= VERSION) in its Depends: $(tr '\n' ',' <<<"$deps")"
	read -r kbuild kbuild_op kbuild_req < <(sed -n 's/^\(linux-kbuild-[^ |]*\)\( (\([<>=]*\) \([^)]*\))\)\{0,1\}.*/\1 \3 \4/p' <<<"$deps" | head -n 1) || true
	[ -n "$kbuild" ] || die "$hpkg=$ver: no linux-kbuild-* in its Depends: $(tr '\n' ',' <<<"$deps")"
	kbuild_ver=$(pick_kbuild_version "$kbuild" "$kbuild_op" "$kbuild_req" "$ver") ||
		die "no version of $kbuild that apt knows satisfies $hpkg's dependency ($kbuild ${kbuild_op:-} ${kbuild_req:-})"

	log "fetching $hpkg ($ver), $common ($common_ver), $kbuild ($kbuild_ver) with apt-get download (not installed) into $cache"
	local tmp p v deb
	tmp=$(mktemp -d "$cache/dl.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	# _apt cannot write into a root-only directory; let it, to avoid a warning.
	chmod 755 "$tmp"
	chown _apt "$tmp" 2>/dev/null || true
	mkdir -p "$tmp/deb" "$tmp/root"
	chmod 755 "$tmp/deb"
	chown _apt "$tmp/deb" 2>/dev/null || true
	for p in "$hpkg=$ver" "$common=$common_ver" "$kbuild=$kbuild_ver"; do
		(cd "$tmp/deb" && apt-get download "$p" >&2) || die "apt-get download $p failed"
		deb=$(find "$tmp/deb" -maxdepth 1 -name "${p%%=*}_*.deb" | head -n 1)
		[ -n "$deb" ] || die "apt-get download $p produced no .deb"
		dpkg -x "$deb" "$tmp/root" || die "cannot unpack $deb (package ${p%%=*})"
		rm -f "$deb"
	done
	[ -f "$tmp/root/usr/src/$hpkg/Makefile" ] || die "$hpkg=$ver has no /usr/src/$hpkg/Makefile"
	[ -f "$tmp/root/usr/src/$common/Makefile" ] || die "$common=$common_ver has no /usr/src/$common/Makefile"
	# Absolute symlinks into /usr/src (lib/modules/REL/build) would point
	# outside the tree; they are not needed.
	rm -rf "$tmp/root/lib/modules"
	rmdir "$tmp/root/lib" 2>/dev/null || true
	printf 'release %s\nimage %s %s\nheaders %s %s\ncommon %s %s\nkbuild %s %s\n' \
		"$rel" "$pkg" "$ver" "$hpkg" "$ver" "$common" "$common_ver" "$kbuild" "$kbuild_ver" \
		>"$tmp/root/PACKAGES"
	rm -rf "$hdir"
	mv "$tmp/root" "$hdir" || die "cannot move the headers to $hdir"
	rm -rf "$tmp"
	trap - EXIT
	log "headers cached: $hdir"
}
[ -s "$hdir/PACKAGES" ] || fetch_headers

# ---- KDIR -------------------------------------------------------------------
kdir=$hdir/usr/src/linux-headers-$rel
[ -f "$kdir/Makefile" ] || die "no $kdir/Makefile (remove $hdir and rerun)"
# Debian's "include /usr/src/linux-headers-...-common/Makefile": point it at
# the unpacked tree (again if the cache dir moved).
inc=$(sed -n 's/^include \(.*\)$/\1/p' "$kdir/Makefile" | head -n 1)
[ -n "$inc" ] || die "$kdir/Makefile includes no Makefile: $(head -c 300 "$kdir/Makefile")"
common_dir=$(basename "$(dirname "$inc")")
want_inc=$hdir/usr/src/$common_dir/Makefile
[ -f "$want_inc" ] || die "$kdir/Makefile includes $inc, but $want_inc does not exist"
if [ "$inc" != "$want_inc" ]; then
	esc=$(printf '%s' "$want_inc" | sed 's/[|&\\]/\\&/g')
	sed -i "s|^include .*\$|include $esc|" "$kdir/Makefile" || die "cannot rewrite $kdir/Makefile"
fi
if [ ! -d "$kdir/scripts/" ] || [ ! -d "$kdir/include/" ]; then
	die "$kdir is incomplete (scripts/ or include/ missing: linux-kbuild not unpacked?)"
fi
uts=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$kdir/include/generated/utsrelease.h" 2>/dev/null || true)
[ "$uts" = "$rel" ] || die "$kdir/include/generated/utsrelease.h: UTS_RELEASE '$uts', expected $rel (headers do not match the kernel)"
kvars=$kdir/.kernelvariables
if [ -f "$kvars" ]; then
	krel=$(sed -n 's/^override KERNELRELEASE = //p' "$kvars")
	[ -z "$krel" ] || [ "$krel" = "$rel" ] || die "$kvars: KERNELRELEASE $krel, expected $rel"
fi

# ---- host tools -------------------------------------------------------------
# The compiler the kernel was built with: Debian's .kernelvariables say
# "CC = ... $(CROSS_COMPILE)gcc-12" (package gcc-12).
cc=gcc
if [ -f "$kvars" ]; then
	c=$(sed -n 's/^CC = .*\(gcc-[0-9][0-9]*\)$/\1/p' "$kvars" | head -n 1)
	[ -z "$c" ] || cc=$c
fi
missing=()
command -v "$cc" >/dev/null 2>&1 || missing+=("$cc")
command -v make >/dev/null 2>&1 || missing+=(make)
command -v ld >/dev/null 2>&1 || missing+=(binutils)
objtool=$kdir/tools/objtool/objtool
if [ -x "$objtool" ] && LC_ALL=C ldd "$objtool" 2>/dev/null | grep -q 'libelf.* not found'; then
	missing+=(libelf1)
fi
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "building modules against $kdir needs ${missing[*]}: apt-get install ${missing[*]} (not root to do it)"
	log "installing ${missing[*]} (needed to build modules against $kdir)"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
		apt-get update -qq >&2 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
			die "apt-get install ${missing[*]} failed (needed to build modules against $kdir)"
	fi
	command -v "$cc" >/dev/null 2>&1 || die "$cc still not found after installing ${missing[*]}"
fi
echo "$kdir"
