#!/bin/bash
# SPDX-License-Identifier: MIT
#
# build-guest.sh - build the end-to-end test's guest: a Debian kernel and a
# busybox initramfs whose /init runs guest_probe (and, when given, the
# OpenMP probe), then powers off; or, in serve mode, runs commands the host
# sends over the serial console (bench/dop/qemu-vm).
#
#   build-guest.sh [--omp-probe FILE] [--omp-shim FILE] [--dopkernel FILE]
#                  [--module FILE.ko] [--bin FILE]... OUT_DIR PROBE_BIN
#
# Produces OUT_DIR/vmlinuz, OUT_DIR/initramfs.cpio.gz and
# OUT_DIR/initramfs.manifest (sha256 and source of every file copied in).
#
# The kernel is never installed: the linux-image-<ver>-amd64 package that
# linux-image-amd64 currently depends on is fetched with `apt-get download`
# and only its /boot is unpacked into a cache directory, keyed by package
# name and version, so reruns are fast (and work offline once cached).  The
# initramfs is not cached: it is assembled from the given files at every
# run (under a second), so a rebuilt probe, library or kernel benchmark
# always lands in it.  The package resolution and the cache are shared with
# fetch-kernel-headers.sh (kernel-pkg.sh).  Environment:
#   PVSCHED_E2E_CACHE   kernel cache dir (default /var/cache/pvsched-e2e when
#                       writable, else ~/.cache/pvsched-e2e)
#   PVSCHED_E2E_KERNEL  use this vmlinuz instead (skips apt entirely)
#
# The Debian kernel has everything the guest needs built in (PCI, the 8250
# serial console, devtmpfs, gzip initramfs); the ivshmem-plain device needs
# no guest driver: guest_probe mmaps /sys/bus/pci/devices/BDF/resource2.
# The initramfs carries none of the kernel's own modules; only, with
# --module, our out-of-tree one (build-module.sh), which nothing loads:
#   --module FILE.ko   -> /lib/modules/pvsched.ko (its vermagic must name the
#                      release of the kernel above; test: insmod it)
#
# Dynamic programs (all optional; GCC's libgomp programs):
#   --omp-probe FILE   the OpenMP probe -> /opt/pvsched/bin/guest_omp
#   --omp-shim FILE    libpvsched-omp.so -> /opt/pvsched/lib/libpvsched-omp.so
#   --dopkernel FILE   pvsched-bench-dopkernel -> /opt/pvsched/bin/
#   --bin FILE         (repeatable) any host program -> /opt/pvsched/bin/NAME
#                      (its base name), e.g. Debian's /usr/bin/cyclictest
# Their shared libraries (the dynamic loader, libc, libgomp, ...) are the
# host's, found with ldd and copied to the same paths, so the guest's
# loader finds them in its default directories (the guest kernel is Linux
# x86-64 too).
#
# The guest's /init reads its parameters from the kernel command line:
#   pvs_mode=probe|serve   probe (default): run guest_probe, and guest_omp
#                          with the preload beside it when both are present;
#                          serve: run the host's commands (below)
#   pvs_duration=SECONDS   how long guest_probe reports (default 20)
#   pvs_interval=MS        report interval (default 200)
#   pvs_busy=N             spinning threads (default: number of guest CPUs)
#   pvs_wait=SECONDS       how long to wait for a valid region (default 15)
#   pvs_omp_interval=MS    guest_omp's interval (default 250)
#
# Serve mode: /init prints "PVS serve ready", then reads lines from the
# console (echo off).  "run TAG SHELL-COMMAND" runs the command with
# /opt/pvsched/bin first in PATH and answers "PVS begin tag=TAG", each
# output line as "PVS out tag=TAG LINE", then "PVS end tag=TAG rc=RC";
# "quit" powers off.
#
# Users: /init writes /etc/passwd and /etc/group with root and pvsuser
# (uid 1000, gid 1000, home /home/pvsuser, shell /bin/sh; no /etc/shadow:
# root needs no password), makes /tmp world-writable (1777) and mounts a
# tmpfs on /dev/shm (shm_open, as cyclictest does).  Commands
# run as root; to run one as pvsuser (PATH is kept, HOME=/home/pvsuser):
#   su pvsuser -c 'COMMAND'
set -euo pipefail

die() { echo "build-guest: error: $*" >&2; exit 1; }
log() { echo "build-guest: $*" >&2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=kernel-pkg.sh
. "$here/kernel-pkg.sh"

omp_probe="" omp_shim="" dopkernel="" module=""
bins=()
while [ $# -gt 0 ]; do
	case $1 in
	--omp-probe) [ $# -ge 2 ] || die "$1 needs a FILE"; omp_probe=$2; shift 2 ;;
	--omp-shim) [ $# -ge 2 ] || die "$1 needs a FILE"; omp_shim=$2; shift 2 ;;
	--dopkernel) [ $# -ge 2 ] || die "$1 needs a FILE"; dopkernel=$2; shift 2 ;;
	--module) [ $# -ge 2 ] || die "$1 needs a FILE.ko"; module=$2; shift 2 ;;
	--bin) [ $# -ge 2 ] || die "$1 needs a FILE"; bins+=("$2"); shift 2 ;;
	--) shift; break ;;
	-*) die "unknown option $1" ;;
	*) break ;;
	esac
done
[ $# -eq 2 ] || die "usage: $0 [--omp-probe FILE] [--omp-shim FILE] [--dopkernel FILE] [--module FILE.ko] [--bin FILE]... OUT_DIR PROBE_BIN"
out=$1
probe=$2
[ -x "$probe" ] || die "guest probe '$probe' is not an executable"
file_out=""
if command -v file >/dev/null 2>&1; then file_out=$(LC_ALL=C file -L "$probe" 2>/dev/null || true); fi
case $file_out in
*"dynamically linked"*) die "guest probe '$probe' must be statically linked ($file_out)";;
esac
for f in "$omp_probe" "$dopkernel"; do
	[ -z "$f" ] || [ -x "$f" ] || die "'$f' is not an executable"
done
[ -z "$omp_shim" ] || [ -f "$omp_shim" ] || die "'$omp_shim' is not a file"
[ -z "$module" ] || [ -f "$module" ] || die "module '$module' is not a file"
declare -A bin_names=([guest_omp]=--omp-probe [pvsched-bench-dopkernel]=--dopkernel)
for f in ${bins[@]+"${bins[@]}"}; do
	if [ ! -f "$f" ] || [ ! -x "$f" ]; then die "--bin '$f' is not an executable file"; fi
	n=$(basename "$f")
	[ -z "${bin_names[$n]:-}" ] || die "--bin '$f': /opt/pvsched/bin/$n is already taken (${bin_names[$n]})"
	bin_names[$n]="--bin $f"
done
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

get_kernel() { # prints the path of a cached vmlinuz
	local cache pkg ver rel tmp deb
	cache=$(kpkg_cache_dir)
	kpkg_lock "$cache"

	local resolved="" need_update=0
	[ -n "$(kpkg_newest_cached_kernel "$cache")" ] || need_update=1
	resolved=$(kpkg_resolve "$need_update") || resolved=""
	if [ -z "$resolved" ]; then
		# Offline: use the newest kernel already in the cache.
		local k
		k=$(kpkg_newest_cached_kernel "$cache")
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

# The module must be built for this kernel, or insmod refuses it in the guest.
if [ -n "$module" ]; then
	krel=$(kpkg_vmlinuz_release "$kernel") || krel=""
	vermagic=$(kpkg_ko_vermagic "$module") || vermagic=""
	if [ -z "$krel" ] || [ -z "$vermagic" ]; then
		log "note: cannot compare $module's vermagic '$vermagic' with $kernel's release '$krel' (modinfo or objcopy missing?)"
	elif [ "${vermagic%% *}" != "$krel" ]; then
		die "module $module was built for ${vermagic%% *} (vermagic '$vermagic'), but the guest boots $krel ($kernel): rebuild it (tests/e2e/build-module.sh)"
	fi
fi

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
: >"$out/initramfs.manifest.tmp"
add_file() { # SRC DEST_IN_IMAGE MODE: copy (following links), note it in the manifest
	local src=$1 dst=$2 mode=$3
	mkdir -p "$root$(dirname "$dst")"
	cp -L "$src" "$root$dst" || die "cannot copy $src"
	chmod "$mode" "$root$dst"
	printf '%s %s %s\n' "$(sha256sum <"$src" | cut -d' ' -f1)" "$dst" "$(readlink -f "$src")" \
		>>"$out/initramfs.manifest.tmp"
}
add_file "$probe" /bin/guest_probe 755

# The shared libraries a dynamic program needs, as ldd resolves them on this
# host: "NAME => /path (addr)", "/path/ld-linux... (addr)"; the vDSO has no
# file.  Each is copied to the path ldd names (followed if a symlink), so
# the guest's loader, which has no ld.so.cache, finds it in its default
# directories; the program's interpreter path is one of them.
declare -A libs_done=()
add_libs() { # FILE
	local f=$1 out_ldd lib
	local rc=0
	out_ldd=$(LC_ALL=C ldd "$f" 2>&1) || rc=$?
	case $out_ldd in
	*"not a dynamic executable"*|*"statically linked"*) return 0 ;; # (ldd fails: rc 1)
	*"not found"*) die "ldd $f: a library is missing: $out_ldd" ;;
	esac
	[ "$rc" = 0 ] || die "ldd $f failed: $out_ldd"
	while read -r lib; do
		[ -n "$lib" ] || continue
		[ -z "${libs_done[$lib]:-}" ] || continue
		libs_done[$lib]=1
		[ -e "$lib" ] || die "ldd $f names $lib, which does not exist"
		add_file "$lib" "$lib" 755
	done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3; next }
		$1 ~ /^\// { print $1 }' <<<"$out_ldd")
}
if [ -n "$omp_probe" ]; then
	add_file "$omp_probe" /opt/pvsched/bin/guest_omp 755
	add_libs "$omp_probe"
fi
if [ -n "$omp_shim" ]; then
	add_file "$omp_shim" /opt/pvsched/lib/libpvsched-omp.so 755
	add_libs "$omp_shim"
fi
if [ -n "$dopkernel" ]; then
	add_file "$dopkernel" /opt/pvsched/bin/pvsched-bench-dopkernel 755
	add_libs "$dopkernel"
fi
for f in ${bins[@]+"${bins[@]}"}; do
	add_file "$f" "/opt/pvsched/bin/$(basename "$f")" 755
	add_libs "$f"
done
if [ -n "$module" ]; then
	add_file "$module" /lib/modules/pvsched.ko 644
fi
# An initial console for /init (the kernel opens /dev/console before /init
# runs); /init also reopens it after mounting devtmpfs, in case mknod failed.
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
mknod -m 666 "$root/dev/null" c 1 3 2>/dev/null || true

cat >"$root/init" <<'EOF'
#!/bin/sh
# pvsched e2e guest init: mount, report, run guest_probe (or serve the
# host's commands), power off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "PVS init uptime=$(cut -d' ' -f1 /proc/uptime) kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)"

# Users: root, and pvsuser for tests that drop privileges (su pvsuser -c CMD).
mkdir -p /etc /home/pvsuser
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'pvsuser:x:1000:1000:pvsched test user:/home/pvsuser:/bin/sh' >/etc/passwd
printf '%s\n' 'root:x:0:' 'pvsuser:x:1000:' >/etc/group
chown 1000:1000 /home/pvsuser
chmod 1777 /tmp
# POSIX shared memory (shm_open: cyclictest uses it).
mkdir -p /dev/shm && mount -t tmpfs -o mode=1777 tmpfs /dev/shm

mode=probe dur=20 interval=200 busy=$(grep -c ^processor /proc/cpuinfo) wait=15 omp_interval=250
for w in $(cat /proc/cmdline); do
	case $w in
	pvs_mode=*) mode=${w#*=} ;;
	pvs_duration=*) dur=${w#*=} ;;
	pvs_interval=*) interval=${w#*=} ;;
	pvs_busy=*) busy=${w#*=} ;;
	pvs_wait=*) wait=${w#*=} ;;
	pvs_omp_interval=*) omp_interval=${w#*=} ;;
	esac
done

for d in /sys/bus/pci/devices/*; do
	[ -e "$d/vendor" ] || continue
	echo "PVS pci bdf=${d##*/} vendor=$(cat $d/vendor) device=$(cat $d/device) enable=$(cat $d/enable 2>/dev/null)"
done

shim=/opt/pvsched/lib/libpvsched-omp.so
if [ "$mode" = serve ]; then
	# Commands from the host, one per line: "run TAG COMMAND..." or "quit".
	stty -echo 2>/dev/null
	export PATH=/opt/pvsched/bin:$PATH
	echo "PVS serve ready"
	while IFS= read -r line; do
		line=$(printf '%s' "$line" | tr -d '\r')
		case $line in
		"run "*)
			rest=${line#run }
			tag=${rest%% *}
			cmd=${rest#"$tag"}
			echo "PVS begin tag=$tag"
			(eval "$cmd") >/tmp/out 2>&1 </dev/null
			rc=$?
			sed "s/^/PVS out tag=$tag /" /tmp/out
			echo "PVS end tag=$tag rc=$rc"
			;;
		quit) break ;;
		"") ;;
		*) echo "PVS serve unknown=$line" ;;
		esac
	done
	echo "PVS exit rc=0 uptime=$(cut -d' ' -f1 /proc/uptime)"
	sync
	poweroff -f
	sleep 1
	exit 1
fi

# The OpenMP probe (an unmodified libgomp program) beside guest_probe: its
# team follows the host's advice through the preload.
omp_pid=""
if [ -x /opt/pvsched/bin/guest_omp ] && [ -f "$shim" ]; then
	OMP_DYNAMIC=true LD_PRELOAD=$shim /opt/pvsched/bin/guest_omp -d "$dur" -i "$omp_interval" &
	omp_pid=$!
fi
/bin/guest_probe -d "$dur" -i "$interval" -b "$busy" -w "$wait"
rc=$?
if [ -n "$omp_pid" ]; then
	[ "$rc" = 0 ] || kill "$omp_pid" 2>/dev/null
	wait "$omp_pid"
	echo "PVS omp exit rc=$?"
fi
echo "PVS exit rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime)"
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
mv "$out/initramfs.manifest.tmp" "$out/initramfs.manifest"
log "kernel: $out/vmlinuz (from $kernel)"
log "initramfs: $out/initramfs.cpio.gz ($(stat -c %s "$out/initramfs.cpio.gz") bytes, $(wc -l <"$out/initramfs.manifest") files of ours: $out/initramfs.manifest)"
