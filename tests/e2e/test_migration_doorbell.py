#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/e2e/test_migration_doorbell.py BUILDDIR - live migration of a VM
whose pvsched device is an ivshmem-doorbell (docs/operator-guide.md
section 10, "The doorbell variant"), between two QEMU TCG instances on this
machine, each with its own pvschedd as its ivshmem server.

  A        the guest boots on A with `-device ivshmem-doorbell,...,
           master=on`; A's pvschedd created the region, listens to the
           VM's doorbell, status says migratable; guest_migwatch (-B)
           holds a boost request, granted by A
  A->B     B's QEMU starts with -incoming and the same device: it connects
           to B's pvschedd, which creates B's region file and listens at
           once, but does not adopt the region while the stream writes it;
           after the move B adopts it under its own host_instance, the
           guest reads B's agent within a bounded gap, and B grants the
           request that came with the stream
  ring     with A's QEMU gone, guest_bell boosts and releases 5 times: every
           request is granted and B's pvschedd is woken by the rings (the
           doorbell B offered after the move, not A's)
  end      no torn snapshot; A dropped the VM

Exit 0 when all hold, 1 otherwise; this test never skips.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_migration  # noqa: E402
from pvsguest import QMP, poll  # noqa: E402
from test_migration import CONF, GAP_MAX_S, log_has, migrate, reports, wait_report  # noqa: E402

BOOST_GRANTED = 1
N_BELL = 5


def run(a, b, check):
    a.build_image(bins=[os.path.join(a.builddir, "tests", "e2e", p)
                        for p in ("guest_migwatch", "guest_bell")])
    b.kernel, b.initrd = a.kernel, a.initrd
    a.start_daemon(CONF)
    b.start_daemon(CONF)

    # ---- A
    a.boot(doorbell=True)
    a.wait_vm()
    va = poll(a.status, lambda v: v and v["doorbell"]["listening"], 10)
    check(va is not None and va.get("migratable") is True,
          f"A: the doorbell VM is listened to and migratable: "
          f"{va and va['doorbell']}, migratable {va and va.get('migratable')}")
    qa = QMP(a.qmp_path)
    a.run("watch", "guest_migwatch -d 600 -B -i 5 -r 250 >/dev/console 2>&1 &")
    _, _, _, inst_a = a.region_header()
    r = wait_report(a, lambda x: x["alive"] and x["inst"] == inst_a and
                    x["boost"] == BOOST_GRANTED, 30)
    check(r is not None, f"A: the guest reads A's agent ({inst_a:016x}), its boost granted")

    # ---- A -> B
    b.boot(incoming=f"unix:{b.tmp}/migrate.sock", doorbell=True)
    qb = QMP(b.qmp_path)
    poll(b.status, lambda v: v is not None and v.get("vcpus"), 20)
    time.sleep(1.0)  # a few periods: it must still not adopt
    vb = b.status()
    check(vb is not None and vb["incoming"] and not vb["region_ok"] and
          vb["doorbell"]["connected"],
          f"B: the incoming QEMU is connected to B's server, its region not adopted: "
          f"incoming={vb and vb['incoming']} region_ok={vb and vb['region_ok']} "
          f"doorbell={vb and vb['doorbell']}")
    t0 = time.monotonic()
    res = migrate(qa, f"unix:{b.tmp}/migrate.sock")
    check(res.get("status") == "completed",
          f"A->B: migration {res.get('status')} in {time.monotonic() - t0:.2f}s "
          f"(downtime {res.get('downtime')} ms)")
    vb = poll(b.status, lambda v: v and v["region_ok"] and not v["incoming"] and
              v["doorbell"]["listening"], 15)
    _, _, _, inst_b = b.region_header()
    check(vb is not None and inst_b not in (0, inst_a) and log_has(b, "adopting its region"),
          f"B adopts the region under its own instance {inst_b:016x} and listens to the "
          f"doorbell: {vb and vb['doorbell']}")
    r_b = wait_report(b, lambda x: x["alive"] and x["inst"] == inst_b, 15)
    last_a = [t for t, x in reports(a) if x["alive"] and x["inst"] == inst_a]
    gap = (r_b[0] - last_a[-1]) if r_b and last_a else float("inf")
    check(r_b is not None and gap <= GAP_MAX_S,
          f"the guest reads A's agent, then B's within {gap:.2f}s (bound {GAP_MAX_S}s)")
    r = wait_report(b, lambda x: x["alive"] and x["inst"] == inst_b and
                    x["boost"] == BOOST_GRANTED, 15)
    check(r is not None, "B grants the boost request that came with the stream")

    # ---- A's QEMU quits; the guest rings B
    qa.cmd("quit")
    a.qemu.wait(timeout=20)
    gone = poll(a.status, lambda v: v is None, 10) is None
    check(gone, "A drops the VM when its QEMU quits")
    b.run("stop", "kill $(pidof guest_migwatch); sleep 0.5")
    w0 = b.status()["doorbell"]["wakes"]
    rc, out = b.run("bell", f"guest_bell -n {N_BELL} 2>&1", timeout=60)
    done = [l for l in out if l.startswith("BELL done")]
    w1 = b.status()["doorbell"]["wakes"]
    print("\n".join(out), flush=True)
    m = re.search(r"granted=(\d+) released=(\d+)", done[0]) if done else None
    check(rc == 0 and m and int(m[1]) == N_BELL and int(m[2]) == N_BELL,
          f"on B every request is granted and released: {done}")
    check(w1 - w0 >= 2 * N_BELL, f"B's pvschedd is woken by the guest's rings: {w0} -> {w1}")

    # ---- end
    torn = [l for r_ in (a, b) for _, l in r_.serial.lines if l.startswith("MIG torn")]
    check(not torn, f"no torn snapshot: {torn[:3]}")
    qb.cmd("quit")
    b.qemu.wait(timeout=20)
    qa.close()
    qb.close()
    return 0


if __name__ == "__main__":
    sys.exit(test_migration.main(("pvsdbmA", "pvsdbmB"), run))
