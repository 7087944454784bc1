# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# kernel-pkg.sh - sourced by build-guest.sh, fetch-kernel-headers.sh and
# build-module.sh: which Debian kernel the e2e guest boots, and where the
# pieces fetched for it are cached.  The caller defines die and log.
#
# The guest boots the kernel package linux-image-amd64 currently depends on
# (e.g. linux-image-6.1.0-57-amd64, version 6.1.192-3).  Nothing is ever
# installed: packages are fetched with `apt-get download` and unpacked into
# the cache directory, keyed by package and version:
#   vmlinuz-REL-VER, config-REL-VER     build-guest.sh (the kernel's /boot)
#   headers-REL-VER/                    fetch-kernel-headers.sh (dpkg -x of
#                                       linux-headers-REL, its -common and
#                                       linux-kbuild-X.Y)
# Offline (apt-cache cannot resolve linux-image-amd64), the newest cached
# vmlinuz-REL-VER is used, and the headers cached under the same REL-VER.
# All writers take an flock on CACHE/.lock.

# The cache directory (created): PVSCHED_E2E_CACHE, else
# /var/cache/pvsched-e2e when writable, else ~/.cache/pvsched-e2e.
kpkg_cache_dir() {
	local cache
	if [ -n "${PVSCHED_E2E_CACHE:-}" ]; then
		cache=$PVSCHED_E2E_CACHE
	elif mkdir -p /var/cache/pvsched-e2e 2>/dev/null && [ -w /var/cache/pvsched-e2e ]; then
		cache=/var/cache/pvsched-e2e
	else
		cache=${XDG_CACHE_HOME:-$HOME/.cache}/pvsched-e2e
	fi
	mkdir -p "$cache" || die "cannot create the cache directory $cache"
	echo "$cache"
}

# Take the cache lock on file descriptor 9 (held until the shell exits).
kpkg_lock() { # CACHE
	exec 9>"$1/.lock" || die "cannot open $1/.lock"
	flock -w 300 9 || die "cannot lock $1/.lock"
}

# Prints "PKG VERSION" of the kernel linux-image-amd64 depends on.
resolve_kernel_pkg() {
	local pkg ver
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	[ -n "$pkg" ] || return 1
	ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null |
		awk '$1 == "Version:" { print $2; exit }')
	[ -n "$ver" ] || return 1
	echo "$pkg $ver"
}

# resolve_kernel_pkg; when that fails and UPDATE is 1 (nothing usable is
# cached for the offline fallback), as root: `apt-get update` once, retry.
kpkg_resolve() { # UPDATE
	local r
	if r=$(resolve_kernel_pkg); then
		echo "$r"
		return 0
	fi
	if [ "$1" = 1 ] && [ "$(id -u)" = 0 ]; then
		log "apt-cache does not know linux-image-amd64: running apt-get update"
		apt-get update -qq >&2 || log "apt-get update failed"
		resolve_kernel_pkg && return 0
	fi
	return 1
}

# The newest cached kernel (what build-guest.sh boots offline), or nothing.
kpkg_newest_cached_kernel() { # CACHE
	local f
	for f in "$1"/vmlinuz-*; do
		[ -f "$f" ] || continue
		case $f in *.tmp) continue ;; esac
		echo "$f"
	done | sort -V | tail -n 1
}

# The release a bzImage reports (its setup header's kernel_version string,
# e.g. "6.1.0-57-amd64 (debian-kernel@...) #1 SMP ..."): its first word.
kpkg_vmlinuz_release() { # VMLINUZ
	local f=$1 off
	[ "$(dd if="$f" bs=1 skip=514 count=4 2>/dev/null)" = HdrS ] || return 1
	off=$(od -An -tu2 -j 526 -N 2 "$f" 2>/dev/null | tr -d ' ')
	[ -n "$off" ] && [ "$off" -gt 0 ] || return 1
	dd if="$f" bs=1 skip=$((off + 512)) count=200 2>/dev/null |
		tr '\0' '\n' | head -n 1 | awk 'NF { print $1 }' | grep . || return 1
}

# The vermagic string of a kernel module (first word: the kernel release).
kpkg_ko_vermagic() { # FILE.ko
	local ko=$1 m t v
	for m in "$(command -v modinfo 2>/dev/null)" /sbin/modinfo /usr/sbin/modinfo; do
		if [ -z "$m" ] || [ ! -x "$m" ]; then continue; fi
		v=$("$m" -F vermagic "$ko" 2>/dev/null) || continue
		[ -n "$v" ] && { echo "$v"; return 0; }
	done
	command -v objcopy >/dev/null 2>&1 || return 1
	t=$(mktemp) || return 1
	if objcopy -O binary --only-section=.modinfo "$ko" "$t" 2>/dev/null; then
		v=$(tr '\0' '\n' <"$t" | sed -n 's/^vermagic=//p' | head -n 1)
	fi
	rm -f "$t"
	[ -n "${v:-}" ] || return 1
	echo "$v"
}
