#!/bin/bash
# SPDX-License-Identifier: MIT
#
# build-guest.sh - build the end-to-end test's guest: a Debian kernel and a
# busybox initramfs whose /init runs guest_probe, then powers off.
#
#   build-guest.sh OUT_DIR PROBE_BIN
#
# Produces OUT_DIR/vmlinuz and OUT_DIR/initramfs.cpio.gz.
#
# The kernel is never installed: the linux-image-<ver>-amd64 package that
# linux-image-amd64 currently depends on is fetched with `apt-get download`
# and only its /boot is unpacked into a cache directory, so reruns are fast
# (and work offline once cached).  Environment:
#   PVSCHED_E2E_CACHE   kernel cache dir (default /var/cache/pvsched-e2e when
#                       writable, else ~/.cache/pvsched-e2e)
#   PVSCHED_E2E_KERNEL  use this vmlinuz instead (skips apt entirely)
#
# The Debian kernel has everything the guest needs built in (PCI, the 8250
# serial console, devtmpfs, gzip initramfs); the ivshmem-plain device needs
# no guest driver: guest_probe mmaps /sys/bus/pci/devices/BDF/resource2.
# Nothing is modular that we need, so the initramfs carries no modules.
#
# The guest's /init reads its parameters from the kernel command line:
#   pvs_duration=SECONDS   how long guest_probe reports (default 20)
#   pvs_interval=MS        report interval (default 200)
#   pvs_busy=N             spinning threads (default: number of guest CPUs)
#   pvs_wait=SECONDS       how long to wait for a valid region (default 15)
set -euo pipefail

die() { echo "build-guest: error: $*" >&2; exit 1; }
log() { echo "build-guest: $*" >&2; }

[ $# -eq 2 ] || die "usage: $0 OUT_DIR PROBE_BIN"
out=$1
probe=$2
[ -x "$probe" ] || die "guest probe '$probe' is not an executable"
file_out=""
if command -v file >/dev/null 2>&1; then file_out=$(LC_ALL=C file -L "$probe" 2>/dev/null || true); fi
case $file_out in
*"dynamically linked"*) die "guest probe '$probe' must be statically linked ($file_out)";;
esac
mkdir -p "$out"
out=$(cd "$out" && pwd)

# ---- kernel ---------------------------------------------------------------
need_cfg=(CONFIG_PCI CONFIG_SERIAL_8250 CONFIG_SERIAL_8250_CONSOLE CONFIG_DEVTMPFS
	CONFIG_BLK_DEV_INITRD CONFIG_RD_GZIP CONFIG_SYSFS CONFIG_PROC_FS)

check_config() { # CONFIG_FILE: the options we rely on must be built in (=y)
	local cfg=$1 opt
	[ -f "$cfg" ] || return 0
	for opt in "${need_cfg[@]}"; do
		grep -q "^$opt=y\$" "$cfg" || die "kernel config $cfg: $opt is not built in (=y)"
	done
}

resolve_kernel_pkg() { # prints "PKG VERSION" of the kernel linux-image-amd64 depends on
	local pkg ver
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	[ -n "$pkg" ] || return 1
	ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null |
		awk '$1 == "Version:" { print $2; exit }')
	[ -n "$ver" ] || return 1
	echo "$pkg $ver"
}

get_kernel() { # prints the path of a cached vmlinuz
	local cache pkg ver rel tmp deb
	if [ -n "${PVSCHED_E2E_CACHE:-}" ]; then
		cache=$PVSCHED_E2E_CACHE
	elif mkdir -p /var/cache/pvsched-e2e 2>/dev/null && [ -w /var/cache/pvsched-e2e ]; then
		cache=/var/cache/pvsched-e2e
	else
		cache=${XDG_CACHE_HOME:-$HOME/.cache}/pvsched-e2e
	fi
	mkdir -p "$cache"
	exec 9>"$cache/.lock"
	flock -w 300 9 || die "cannot lock $cache/.lock"

	local resolved=""
	if ! resolved=$(resolve_kernel_pkg); then
		if [ "$(id -u)" = 0 ] && ! ls "$cache"/vmlinuz-* >/dev/null 2>&1; then
			log "apt-cache does not know linux-image-amd64: running apt-get update"
			apt-get update -qq >&2 || log "apt-get update failed"
			resolved=$(resolve_kernel_pkg) || resolved=""
		fi
	fi
	if [ -z "$resolved" ]; then
		# Offline: use the newest kernel already in the cache.
		local k
		k=$(ls -1 "$cache"/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)
		[ -n "$k" ] || die "cannot resolve linux-image-amd64 (apt-cache) and no cached kernel in $cache"
		log "offline: using cached $k"
		echo "$k"
		return
	fi
	read -r pkg ver <<<"$resolved"
	rel=${pkg#linux-image-}
	local key="$cache/vmlinuz-$rel-$ver"
	if [ -s "$key" ]; then
		check_config "$cache/config-$rel-$ver"
		echo "$key"
		return
	fi
	log "fetching $pkg ($ver) with apt-get download (not installed) into $cache"
	tmp=$(mktemp -d "$cache/dl.XXXXXX")
	# _apt cannot write into a root-only directory; let it, to avoid a warning.
	chmod 755 "$tmp"
	chown _apt "$tmp" 2>/dev/null || true
	(cd "$tmp" && apt-get download "$pkg=$ver" >&2) || { rm -rf "$tmp"; die "apt-get download $pkg=$ver failed"; }
	deb=$(ls "$tmp"/*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || { rm -rf "$tmp"; die "apt-get download produced no .deb"; }
	mkdir -p "$tmp/x"
	# Same as `dpkg -x`, restricted to /boot (the modules are not needed).
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" --wildcards './boot/*' ||
		{ rm -rf "$tmp"; die "cannot unpack $deb"; }
	local vm cfg
	vm=$(ls "$tmp"/x/boot/vmlinuz-* 2>/dev/null | head -n 1)
	cfg=$(ls "$tmp"/x/boot/config-* 2>/dev/null | head -n 1)
	[ -n "$vm" ] || { rm -rf "$tmp"; die "no /boot/vmlinuz-* in $deb"; }
	if [ -n "$cfg" ]; then
		cp "$cfg" "$cache/config-$rel-$ver"
		check_config "$cache/config-$rel-$ver"
	fi
	cp "$vm" "$key.tmp" && mv "$key.tmp" "$key"
	rm -rf "$tmp"
	log "kernel cached: $key"
	echo "$key"
}

if [ -n "${PVSCHED_E2E_KERNEL:-}" ]; then
	[ -s "$PVSCHED_E2E_KERNEL" ] || die "PVSCHED_E2E_KERNEL=$PVSCHED_E2E_KERNEL is not a file"
	kernel=$PVSCHED_E2E_KERNEL
else
	kernel=$(get_kernel)
fi
cp -f "$kernel" "$out/vmlinuz"
echo "$kernel" >"$out/vmlinuz.source"

# ---- initramfs ------------------------------------------------------------
busybox=""
for b in /bin/busybox /usr/bin/busybox; do
	[ -x "$b" ] || continue
	if ! command -v file >/dev/null 2>&1 || LC_ALL=C file -L "$b" | grep -q 'statically linked'; then
		busybox=$b
		break
	fi
done
[ -n "$busybox" ] || die "no static busybox (install busybox-static)"

root=$(mktemp -d "$out/initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root}
cp "$busybox" "$root/bin/busybox"
"$busybox" --list-full | while read -r applet; do
	[ -n "$applet" ] || continue
	[ -e "$root/$applet" ] && continue
	mkdir -p "$root/$(dirname "$applet")"
	ln -s /bin/busybox "$root/$applet"
done
[ -e "$root/bin/sh" ] || ln -s /bin/busybox "$root/bin/sh"
cp "$probe" "$root/bin/guest_probe"
chmod 755 "$root/bin/guest_probe"
# An initial console for /init (the kernel opens /dev/console before /init
# runs); /init also reopens it after mounting devtmpfs, in case mknod failed.
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
mknod -m 666 "$root/dev/null" c 1 3 2>/dev/null || true

cat >"$root/init" <<'EOF'
#!/bin/sh
# pvsched e2e guest init: mount, report, run guest_probe, power off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "PVS init uptime=$(cut -d' ' -f1 /proc/uptime) kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)"

dur=20 interval=200 busy=$(grep -c ^processor /proc/cpuinfo) wait=15
for w in $(cat /proc/cmdline); do
	case $w in
	pvs_duration=*) dur=${w#*=} ;;
	pvs_interval=*) interval=${w#*=} ;;
	pvs_busy=*) busy=${w#*=} ;;
	pvs_wait=*) wait=${w#*=} ;;
	esac
done

for d in /sys/bus/pci/devices/*; do
	[ -e "$d/vendor" ] || continue
	echo "PVS pci bdf=${d##*/} vendor=$(cat $d/vendor) device=$(cat $d/device) enable=$(cat $d/enable 2>/dev/null)"
done

/bin/guest_probe -d "$dur" -i "$interval" -b "$busy" -w "$wait"
echo "PVS exit rc=$? uptime=$(cut -d' ' -f1 /proc/uptime)"
sync
poweroff -f
# Not reached; if it is, exiting init panics and -no-reboot ends QEMU.
sleep 1
exit 1
EOF
chmod 755 "$root/init"

(cd "$root" && find . -mindepth 1 -print | LC_ALL=C sort |
	cpio --quiet -o -H newc --owner=0:0) | gzip -1 >"$out/initramfs.cpio.gz.tmp"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
log "kernel: $out/vmlinuz (from $kernel)"
log "initramfs: $out/initramfs.cpio.gz ($(stat -c %s "$out/initramfs.cpio.gz") bytes)"
