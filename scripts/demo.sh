#!/bin/sh
# make demo: pvschedd measures a process VM being preempted by a host CPU
# hog and publishes it into the VM's region; then an unmodified OpenMP
# program, run by pvsched-run, shrinks its team under a host hog (the
# spin / block / pvsched table of bench/dop).  Needs no QEMU, ~35 s.
set -eu
BUILD=${1:-build}
D=$(mktemp -d /tmp/pvsched-demo.XXXXXX)
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$D" /dev/shm/pvsched-demo-vm
}
trap cleanup EXIT INT TERM

cat >"$D/pvschedd.conf" <<CONF
[daemon]
period_ms = 10
rescan_ms = 500
socket = $D/control.sock
region_dir = /dev/shm
journal = $D/journal
CONF
CTL="$BUILD/tools/pvschedctl -s $D/control.sock"

"$BUILD/daemon/pvschedd" -q -c "$D/pvschedd.conf" &
PIDS="$PIDS $!"
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -S "$D/control.sock" ] && break; sleep 0.1; done

# The process VM: two busy threads playing two vCPUs.
"$BUILD/tools/pvsched-procvm" -t 2 >/dev/null &
VM=$!
PIDS="$PIDS $VM"
$CTL attach --pid "$VM" --name demo-vm
sleep 2.5

hr() { printf '\n==== %s ====\n' "$1"; }
guest() {
	# what the guest reads from its region (the library's view)
	"$BUILD/tools/pvsched-procvm" -t 1 -i -d 0.05 -w 10 -r /dev/shm/pvsched-demo-vm | tail -n 1 |
		sed 's/^t=[0-9.]* /guest sees: /'
}

hr "before: the host is quiet"
$CTL status
guest

NCPU=$(nproc)
hr "during: $NCPU host CPU hog(s) compete with the VM's vCPUs"
HOGS=""
i=0
while [ $i -lt "$NCPU" ]; do
	timeout 6 sh -c 'while :; do :; done' &
	HOGS="$HOGS $!"
	i=$((i + 1))
done
PIDS="$PIDS $HOGS"
sleep 3
$CTL status
guest
for h in $HOGS; do wait "$h" 2>/dev/null || true; done

sleep 2.5
hr "after: the hogs are gone"
$CTL status
guest
printf '\n%%RUN = share of the last second on a CPU, %%RDY = share spent runnable but\n'
printf 'waiting for a CPU (esxtop'"'"'s ready time).  The region /dev/shm/pvsched-demo-vm is\n'
printf 'what a guest maps (QEMU ivshmem-plain); decode it with: pvschedctl dump FILE\n'

# the first part's VM and daemon go first: their busy threads would be
# load of their own for the second
for p in $PIDS; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
PIDS=""

hr "an OpenMP program adapts: spin / block / pvsched under a host CPU hog"
# bench/dop's kernel (barrier-heavy, like NPB UA) as a 2-thread process VM
# with one host hog: spinning and blocking libgomp against pvsched-run.
"$(dirname "$0")/../bench/dop/run" --demo "$BUILD"
