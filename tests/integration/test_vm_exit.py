#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Process VMs that exit while pvschedd monitors them.

Three process VMs: 'keep' stays, 'killed' is SIGKILLed, 'ends' exits by
itself (--duration), 'cfg' is declared in the config and SIGTERMed.  Each
one that exits disappears from status (deadline: a few rescan periods,
generous against a loaded machine), its region is marked detached (as a
reader that still maps it sees) and its file removed; meanwhile 'keep' stays listed with both vCPUs and its heartbeat
keeps advancing, in status and in the region; the daemon never dies and
exits 0 on SIGTERM.
"""
import mmap
import os
import signal
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pvstest  # noqa: E402
from pvstest import check  # noqa: E402

RESCAN_MS = 200


def main(h):
    keep = h.start_procvm('keep', threads=2, idle=True)
    cfgvm = h.start_procvm('cfg', threads=2, idle=True)
    conf = h.config(daemon={'rescan_ms': str(RESCAN_MS)},
                    vms=[('cfg', {'pid': str(cfgvm.pid)})])
    h.start_daemon(conf)
    killed = h.start_procvm('killed', threads=2)
    ends = h.start_procvm('ends', threads=2, idle=True, extra=['-d', '2'])
    for name, p in (('keep', keep), ('killed', killed), ('ends', ends)):
        h.attach(p.pid, name)
    for name in ('keep', 'killed', 'ends', 'cfg'):
        h.wait_vm(name, nvcpus=2, region_ok=True)
    keep_region = h.path('pvsched-keep')

    # what a reader still mapping a region sees after pvschedd lets it go
    maps = {}
    for name in ('killed', 'ends', 'cfg'):
        with open(h.path('pvsched-' + name), 'rb') as f:
            maps[name] = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)

    def gone(name, proc):
        h.log('%s (pid %d) is gone; waiting for pvschedd to notice' % (name, proc.pid))
        # a few rescans; the deadline only guards against a hang
        h.wait_for(lambda: h.vm(h.status(), name) is None,
                   '%s to disappear from status' % name, timeout=RESCAN_MS / 1000.0 * 25)
        state = struct.unpack_from('<I', maps[name], 64)[0]
        check(state == 2, 'region of %s has host_state %d after its process exited, '
              'expected 2 (DETACHED)' % (name, state))
        check(not os.path.exists(h.path('pvsched-' + name)),
              'the region file of process VM %s was left behind' % name)
        h.daemon_alive()
        v = h.vm(h.status(), 'keep')
        check(v is not None and v['region_ok'] and len([c for c in v['vcpus'] if c['tid']]) == 2,
              "'keep' lost vCPUs or its region after %s exited: %r" % (name, v))
        hb = v['heartbeat']
        h.wait_for(lambda: h.vm(h.status(), 'keep')['heartbeat'] > hb,
                   "'keep' heartbeat (status) to advance after %s exited" % name)
        h.wait_heartbeat_advances(keep_region, "'keep' after %s exited" % name)

    # SIGKILL: no chance to clean up, threads vanish at once
    os.kill(killed.pid, signal.SIGKILL)
    killed.popen.wait()
    gone('killed', killed)

    # exits by itself
    check(ends.popen.wait(timeout=30) == 0, "'ends' procvm failed")
    gone('ends', ends)

    # declared in the config: the config still names its pid, but the
    # process is gone, so it must not linger (or come back)
    check(h.stop(cfgvm) == 0, "'cfg' procvm failed")
    gone('cfg', cfgvm)

    # nothing came back over several more rescans, and 'keep' still lives
    hb = h.dump(keep_region)['heartbeat']
    r0 = h.status()['rescans']
    h.wait_for(lambda: h.status()['rescans'] >= r0 + 3, 'three more rescans', timeout=30)
    check(h.dump(keep_region)['heartbeat'] > hb, "'keep' heartbeat stopped")
    st = h.status()
    check([v['name'] for v in st['vms']] == ['keep'],
          'only keep should be monitored: %r' % [v['name'] for v in st['vms']])
    check(h.dump(keep_region)['host_state'] == 'active', "'keep' region not active")
    check(sorted(f for f in os.listdir(h.path()) if f.startswith('pvsched-')) ==
          ['pvsched-keep'], 'region files left: %r' % os.listdir(h.path()))
    h.stop_daemon(0)
    check(h.dump(keep_region)['host_state'] == 'detached', "'keep' region not detached at exit")


pvstest.run('vm-exit', main)
