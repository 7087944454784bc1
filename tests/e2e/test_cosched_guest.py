#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/e2e/test_cosched_guest.py BUILDDIR - strict co-scheduling (gang)
of a real QEMU guest's vCPU threads.

A 2-vCPU TCG guest (the end-to-end image, serve mode) runs
pvsched-bench-klock (two threads contending a guest kernel spinlock
through rt_sigprocmask, one per vCPU) while the host runs one CPU hog per
pCPU; pvschedd discovers the VM with co-scheduling off.  Checks:

  gang      `pvschedctl policy VM gang`: pvschedctl status shows the policy
            and, polled for 2 s, both vCPUs in the gang's layer in the same
            snapshots (co-scheduled: never one raised without the other
            beyond a transition), both host threads SCHED_FIFO 5 together,
            each on a pCPU of its own (spread), the vCPUs both runnable in
            the snapshots of the slices (pvschedd's samples: running or
            preempted, in at least 30 % of them), and QEMU's main thread - it
            delivers a TCG guest's timer interrupts - raised with them
            (layer gang, SCHED_FIFO 6);
  none      `pvschedctl policy VM none`: every thread back to SCHED_OTHER
            and its own CPU mask;
  exit      the guest works again (gang raises a VM only while one of its
            vCPUs is runnable), gang again, then the guest powers off while
            its threads are raised: pvschedd drops the VM, keeps no live journal record and
            leaves SCHED_FIFO itself.
The poller runs at SCHED_FIFO 8 (above the gang's 5, below pvschedd's 11)
so that it does not only see the gaps between slices.  Uses both host
CPUs; never skips.
"""
import contextlib
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pvsguest import GuestRig, poll, run_test, stop  # noqa: E402

SCHED_OTHER, SCHED_FIFO = 0, 1
GANG_PRIO = 5


def live_records(path):
    """Thread identities with a live record in the journal at PATH."""
    live = set()
    with open(path) as f:
        for ln in f:
            w = ln.split()
            if not w or w[0].startswith("#"):
                continue
            if w[0] in ("+", "A"):
                live.add((w[2], w[3]))
            elif w[0] == "-":
                live.discard((w[1], w[2]))
    return live


def wait(pred, timeout, step=0.1):
    """PRED's first true value within TIMEOUT seconds, or its last one."""
    return poll(pred, bool, timeout, step)


@contextlib.contextmanager
def poller_fifo():
    """This process at SCHED_FIFO 8 (above the gang's 5, below pvschedd's
    11) while polling, bounded by the caller's timeout: in the fair class
    it would run only in the gaps between a gang's turns, when the vCPU
    threads are lowered, and never see them raised."""
    old = os.sched_getscheduler(0), os.sched_getparam(0)
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(8))
    try:
        yield
    finally:
        os.sched_setscheduler(0, old[0], old[1])


def run(rig, check, hogs):
    klock = os.path.join(rig.builddir, "bench", "pvsched-bench-klock")
    rig.build_image(bins=[klock])
    rig.start_daemon(extra_conf="cosched = none\ncosched_slice_ms = 20\n")
    rig.boot()
    vm = rig.wait_vm(timeout=30)
    check(vm.get("tcg") and vm.get("main_thread", {}).get("tid") == rig.qemu.pid,
          f"TCG VM found, QEMU's main thread known ({vm.get('main_thread')})")
    tids = [v["tid"] for v in vm["vcpus"]]
    main_tid = rig.qemu.pid
    check(len(tids) == 2, f"2 vCPU threads: {tids}")
    own = {t: (GuestRig.thread_policy(t), os.sched_getaffinity(t)) for t in tids + [main_tid]}

    for _ in range(os.cpu_count()):
        hogs.append(subprocess.Popen(["sh", "-c", "while :; do :; done"],
                                     start_new_session=True))
    rig.serial.send("run klock pvsched-bench-klock --threads 2 --seconds 8 --warmup-ms 100")
    time.sleep(0.5)

    # ---- gang ---------------------------------------------------------------
    rc, _, err = rig.ctl("policy", rig.name, "gang")
    check(rc == 0, f"pvschedctl policy {rig.name} gang ({err.strip()})")
    check(wait(lambda: rig.status().get("policy") == "gang", 5), "status: policy gang")
    seen = {"both": 0, "split": 0, "none": 0, "running": 0, "runnable": 0, "fifo": 0, "main": 0,
            "main_fifo": 0}
    masks = set()
    with poller_fifo():
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            vm = rig.status()
            layers = [v["layer"] for v in vm["vcpus"]]
            pols = [GuestRig.thread_policy(t) for t in tids]
            mp = GuestRig.thread_policy(main_tid)
            n = layers.count("gang")
            if n == len(tids):
                seen["both"] += 1
                seen["running"] += all(v["state"] == "running" for v in vm["vcpus"])
                seen["runnable"] += all(v["state"] in ("running", "preempted")
                                        for v in vm["vcpus"])
                seen["fifo"] += all(p == (SCHED_FIFO, GANG_PRIO) for p in pols)
                seen["main"] += vm.get("main_thread", {}).get("layer") == "gang"
                seen["main_fifo"] += mp == (SCHED_FIFO, GANG_PRIO + 1)
                masks.add(tuple(tuple(sorted(os.sched_getaffinity(t))) for t in tids))
            elif n:
                seen["split"] += 1
            else:
                seen["none"] += 1
            time.sleep(0.005)
    print(f"status snapshots over 2 s: {seen}; vCPU masks while raised: {masks}", flush=True)
    polls = seen["both"] + seen["split"] + seen["none"]
    check(seen["both"] >= polls // 2, "both vCPUs in the gang layer together in most snapshots")
    check(seen["split"] * 10 <= polls, "one vCPU raised without its sibling only in transitions")
    check(seen["fifo"] * 10 >= seen["both"] * 8,
          "in those snapshots both host threads SCHED_FIFO 5 (read from /proc)")
    check(seen["runnable"] * 10 >= seen["both"] * 3,
          "both vCPUs runnable at once in the slices' snapshots (pvschedd's samples; "
          "'running' both: %d)" % seen["running"])
    check(masks and all(len(set(m[0]) & set(m[1])) == 0 for m in masks),
          f"the siblings on different pCPUs: {masks}")
    check(seen["main"] * 10 >= seen["both"] * 8 and seen["main_fifo"] * 10 >= seen["both"] * 8,
          "QEMU's main thread raised with the gang (layer gang, SCHED_FIFO 6)")
    i = rig.serial.wait_for(lambda l: l.startswith("PVS end tag=klock "), 30)
    check(i is not None and rig.serial.lines[i][1].endswith("rc=0"),
          "the guest's kernel-lock workload ran to its end under gang")

    # ---- none: restored -----------------------------------------------------
    rc, _, err = rig.ctl("policy", rig.name, "none")
    check(rc == 0, f"pvschedctl policy {rig.name} none ({err.strip()})")

    def restored():
        return all((GuestRig.thread_policy(t), os.sched_getaffinity(t)) == own[t] for t in own)
    check(wait(restored, 5), "policy none: vCPU and main threads back to their own "
          "class and CPU mask")

    # ---- exit while raised --------------------------------------------------
    # gang raises a VM only while a vCPU of it is runnable: the guest works
    # again, and "quit" is read when that run ends
    rig.serial.send("run klock2 pvsched-bench-klock --threads 2 --seconds 4 --warmup-ms 100")
    check(rig.serial.wait_for(lambda l: l.startswith("PVS begin tag=klock2"), 30) is not None,
          "the guest runs its workload again")
    rig.ctl("policy", rig.name, "gang")
    states = []

    def raised_now():
        vm = rig.status() or {}
        states.append([(v.get("state"), v.get("layer")) for v in vm.get("vcpus", [])])
        return any(GuestRig.thread_policy(t)[0] == SCHED_FIFO for t in tids)
    with poller_fifo():
        raised = wait(raised_now, 5, 0.005)
    check(raised, f"gang again: the vCPU threads raised (last states {states[-3:]})")
    rig.serial.send("quit")
    try:
        rig.qemu.wait(timeout=30)
    except subprocess.TimeoutExpired:
        check(False, "the guest powered off")
        return
    journal = os.path.join(rig.tmp, "journal")
    check(wait(lambda: rig.status() is None, 10), "pvschedd dropped the VM after it exited")
    check(wait(lambda: not live_records(journal), 5),
          f"no live record left in the journal ({live_records(journal)})")
    check(wait(lambda: GuestRig.thread_policy(rig.daemon.pid)[0] == SCHED_OTHER, 5),
          "pvschedd left SCHED_FIFO once it held no thread")
    with open(rig.daemon_log) as f:
        bad = [l.strip() for l in f if "restore failed" in l]
    check(not bad, f"no failed restore in pvschedd's log ({bad})")


if __name__ == "__main__":
    HOGS = []
    sys.exit(run_test("pvscs", lambda rig, check: run(rig, check, HOGS),
                      cleanup=lambda: [stop(h) for h in HOGS]))
