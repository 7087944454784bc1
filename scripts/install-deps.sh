#!/bin/sh
# Install the Debian packages pvsched needs to build, test and demo.
# Runs apt-get only when something is missing; needs root for that.
set -eu
PKGS="meson ninja-build gcc clang libclang-rt-14-dev pkg-config libinih-dev libjson-c-dev \
python3 qemu-system-x86 busybox-static cpio kmod libbpf-dev bpftool python3-prometheus-client \
libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients"
# Benchmark-only packages are not listed here: a bench runner asks for what
# it needs as arguments (bench/boost/run: `install-deps.sh rt-tests`, cyclictest;
# make bench: gnuplot-nox for the plots).
[ $# -gt 0 ] && PKGS="$PKGS $*"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || { echo "install-deps: apt-get update failed" >&2; exit 1; }
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
