#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""attach/detach of a process VM with pvschedctl.

- attach works; status lists the VM with 2 vCPUs whose tids are exactly the
  non-main threads of /proc/PID/task; the region file exists with the
  configured mode (0640 here, not the default) and is valid and live;
- attach errors (nonexistent pid, duplicate name, pid already monitored,
  bad names) exit nonzero with a clear message and change nothing;
- detach removes the VM from status and marks its region detached (the
  heartbeat stops, as the process, which still maps it, sees) and removes
  the file; detaching an unknown name errors; re-attach works.
"""
import mmap
import os
import stat
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pvstest  # noqa: E402
from pvstest import check, proc_tids  # noqa: E402


def unused_pid():
    with open('/proc/sys/kernel/pid_max') as f:
        pid_max = int(f.read())
    for pid in range(pid_max - 1, 1, -1):
        if not os.path.exists('/proc/%d' % pid):
            return pid
    raise pvstest.TestFailure('no free pid found')


def expect_error(h, args, needle):
    r = h.ctl(*args, ok=False)
    msg = r.stderr.strip()
    check(needle in msg, 'pvschedctl %s: expected an error containing %r, got %r'
          % (' '.join(args), needle, msg))
    h.log('pvschedctl %s -> rc %d: %s' % (' '.join(args), r.returncode, msg))


def main(h):
    conf = h.config(daemon={'region_mode': '0640'})
    h.start_daemon(conf)
    vm = h.start_procvm('procvm', threads=2, idle=True)
    other = h.start_procvm('procvm2', threads=1, idle=True)
    region = h.path('pvsched-vm1')

    # ---- attach ----
    h.attach(vm.pid, 'vm1')
    v = h.wait_vm('vm1', nvcpus=2, region_ok=True)
    check(v['kind'] == 'process' and v['pid'] == vm.pid, 'bad VM entry: %r' % v)
    check(v['region'] == region, 'region %r, expected %r' % (v['region'], region))
    tids = sorted(c['tid'] for c in v['vcpus'])
    want = sorted(t for t in proc_tids(vm.pid) if t != vm.pid)
    check(tids == want, 'status tids %r != /proc/%d/task minus main %r' % (tids, vm.pid, want))
    check(sorted(c['index'] for c in v['vcpus']) == [0, 1], 'indexes: %r' % v['vcpus'])
    st = os.stat(region)
    check(stat.S_ISREG(st.st_mode), '%s is not a regular file' % region)
    check(stat.S_IMODE(st.st_mode) == 0o640,
          'region mode %o, configured 0640' % stat.S_IMODE(st.st_mode))
    check(st.st_size == 1 << 20, 'region size %d, expected the default 1 MiB' % st.st_size)
    d = h.dump(region)
    check(d['valid'] and d['vm_name'] == 'vm1' and d['host_state'] == 'active'
          and d['nr_vcpus'] == 2, 'region after attach: %r' % d)
    h.wait_heartbeat_advances(region, 'vm1')

    # ---- attach errors: nonzero exit, clear message, nothing changes ----
    bad_pid = unused_pid()
    expect_error(h, ['attach', '--pid', str(bad_pid), '--name', 'ghost'],
                 'no process with pid %d' % bad_pid)
    expect_error(h, ['attach', '--pid', str(other.pid), '--name', 'vm1'],
                 "a VM named 'vm1' is already monitored")
    expect_error(h, ['attach', '--pid', str(vm.pid), '--name', 'vm1b'],
                 "pid %d is already monitored as VM 'vm1'" % vm.pid)
    for bad in ('bad/name', 'has space', 'x' * 32, '', '../../etc'):
        expect_error(h, ['attach', '--pid', str(other.pid), '--name', bad],
                     "'name' must be 1-31 characters of [A-Za-z0-9._-]")
    expect_error(h, ['attach', '--pid', '-5', '--name', 'neg'], "bad pid '-5'")
    expect_error(h, ['attach', '--name', 'nopid'], '--pid and --name are required')
    st = h.status()
    check([x['name'] for x in st['vms']] == ['vm1'],
          'failed attaches left something behind: %r' % [x['name'] for x in st['vms']])
    for f in os.listdir(h.tmp):
        check(not f.startswith('pvsched-') or f == 'pvsched-vm1',
              'a failed attach created region %s' % f)

    # ---- detach ----
    expect_error(h, ['detach', 'nosuch'], "no VM named 'nosuch'")
    with open(region, 'rb') as f:  # as the still-running process maps it
        m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    h.ctl('detach', 'vm1')
    st = h.status()
    check(h.vm(st, 'vm1') is None, 'vm1 still in status after detach: %r' % st)
    check(struct.unpack_from('<I', m, 64)[0] == 2,
          'host_state %d after detach, expected 2 (DETACHED)' % struct.unpack_from('<I', m, 64)[0])
    hb = struct.unpack_from('<Q', m, 72)[0]
    time.sleep(0.3)  # 30 publish periods
    check(struct.unpack_from('<Q', m, 72)[0] == hb, 'heartbeat still advancing after detach')
    m.close()
    check(not os.path.exists(region), 'detach left the process VM\'s region file behind')
    expect_error(h, ['detach', 'vm1'], "no VM named 'vm1'")

    # ---- the name is free again: re-attach, also a second VM ----
    h.attach(vm.pid, 'vm1')
    h.attach(other.pid, 'vm2')
    h.wait_vm('vm1', nvcpus=2, region_ok=True)
    h.wait_vm('vm2', nvcpus=1, region_ok=True)
    d = h.dump(region)
    check(d['host_state'] == 'active', 're-attached region host_state %r' % d['host_state'])
    check(d['heartbeat'] < hb + 50, 're-attach reused the old file (heartbeat %d, was %d)'
          % (d['heartbeat'], hb))
    h.wait_heartbeat_advances(region, 'vm1 re-attached')
    h.wait_heartbeat_advances(h.path('pvsched-vm2'), 'vm2')
    h.daemon_alive()
    h.stop_daemon(0)
    for name in ('vm1', 'vm2'):
        d = h.dump(h.path('pvsched-' + name))
        check(d['host_state'] == 'detached', '%s not detached after SIGTERM: %r' % (name, d))


pvstest.run('attach', main)
