#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/e2e/test_doorbell_guest.py BUILDDIR - the doorbell in a real QEMU
guest.

The pvsched device is an ivshmem-doorbell (-chardev socket to pvschedd's
ivshmem.sock, vectors=1, master=on) instead of ivshmem-plain: pvschedd is
its ivshmem server, creates the region and passes it to QEMU at device
realize.  pvschedd runs with boosting on.  Checks, in order:

  greet     QEMU realizes the device against pvschedd (the guest boots),
            the VM is found with its doorbell connected and listened to,
            its region file is the one pvschedd created, and QEMU is the
            master (peer id 0): the VM is migratable
  offer     the guest sees PVSCHED_F_DOORBELL and doorbell = 1 << 16
  off       the boost_scan_us poll is off for this VM: pvschedctl status
            says it is not polled, and boost_scans advance at the publish
            period's pace (100 a second at period_ms = 10), not the
            500 us scan's (2000 a second more)
  ring      guest_bell boosts and releases 5 times through libpvsched
            (which rings the doorbell register, BAR0 offset 12, through
            the device's sysfs resource0): every request is granted and
            every release seen, the daemon's doorbell wake-ups and the
            scans they caused rise by at least one per request and
            release, and the grant delays are printed

Exit 0 when all hold, 1 otherwise; this test never skips.
"""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pvsguest import poll, run_test  # noqa: E402

F_DOORBELL = 1 << 5
N = 5


def run(rig, check):
    bell = os.path.join(rig.builddir, "tests", "e2e", "guest_bell")
    rig.build_image(bins=[bell])
    rig.start_daemon("boost = on\nboost_max_ms = 10000\nboost_budget_pct = 100\n"
                     "boost_scan_us = 500\n")
    rig.boot(doorbell=True)

    # greet
    rig.wait_vm()
    vm = poll(rig.status, lambda v: v and v["doorbell"]["listening"], 10, 0.2)
    print(f"doorbell status: {vm['doorbell']}, region {vm['region']}", flush=True)
    check(vm["doorbell"]["connected"] and vm["doorbell"]["listening"],
          "the VM's ivshmem-doorbell is connected to pvschedd and listened to")
    check(vm["region"] == rig.region and os.path.getsize(rig.region) == 1 << 20,
          f"its region is {rig.region} (1 MiB), created by pvschedd")
    check(vm.get("migratable") is True, f"QEMU is the master: migratable ({vm.get('migratable')})")

    # off
    st0 = json.loads(rig.ctl("status", "--json")[1])
    t0 = time.monotonic()
    time.sleep(2.0)
    st1 = json.loads(rig.ctl("status", "--json")[1])
    rate = (st1["boost_scans"] - st0["boost_scans"]) / (time.monotonic() - t0)
    vm = rig.status()
    print(f"boost scans: {rate:.0f} a second with only this doorbell VM", flush=True)
    check(not vm["doorbell"]["polled"], "pvschedctl status: the VM is not polled")
    check(rate < 1000, f"the 500 us scan is off: {rate:.0f} boost scans a second (< 1000)")

    # offer + ring
    w0, d0 = vm["doorbell"]["wakes"], st1["doorbell_scans"]
    rc, out = rig.run("bell", f"/opt/pvsched/bin/guest_bell -n {N} -g 300", timeout=120)
    for line in out:
        print(f"  guest: {line}", flush=True)
    opened = [l for l in out if l.startswith("BELL open")]
    check(rc == 0 and opened, "guest_bell ran")
    if opened:
        m = re.search(r"doorbell=(\S+) features=(\S+)", opened[0])
        check(m and int(m[1], 16) == 1 << 16 and int(m[2], 16) & F_DOORBELL,
              f"the guest sees PVSCHED_F_DOORBELL and doorbell 0x10000: {opened[0]}")
    done = [l for l in out if l.startswith("BELL done")]
    m = re.search(r"granted=(\d+) released=(\d+) max_granted_us=(-?\d+)", done[0]) if done else None
    check(m and int(m[1]) == N and int(m[2]) == N,
          f"every request granted and every release seen: {done[0] if done else out[-3:]}")
    vm = rig.status()
    st2 = json.loads(rig.ctl("status", "--json")[1])
    wakes, scans = vm["doorbell"]["wakes"] - w0, st2["doorbell_scans"] - d0
    print(f"doorbell wake-ups {wakes}, scans they caused {scans}, for {2 * N} rings", flush=True)
    check(wakes >= 2 * N, f"pvschedd woke on the eventfd for each ring ({wakes} >= {2 * N})")
    check(scans >= 2 * N, f"each wake-up scanned the VM ({scans} >= {2 * N})")
    check(not vm["doorbell"]["polled"] and vm["doorbell"]["mutes"] == 0,
          f"never polled or muted: {vm['doorbell']}")
    print(f"{check.failed} check(s) failed" if check.failed else "all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(run_test("pvsdb", run))
