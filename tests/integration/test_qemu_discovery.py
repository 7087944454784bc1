#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""QEMU-style discovery without QEMU.

fakeqemu is copied to a unique name (a process's name is its executable's)
and qemu_comm is set to exactly that name: only our fakes match, never a
QEMU someone else runs on this machine, and no other pvschedd (default
qemu_comm "qemu*,kvm") takes our fakes for its VMs.

- 'fakevm': -name guest=fakevm,debug-threads=on and an ivshmem-style
  -object memory-backend-file,...,mem-path=TMP/pvsched-fakevm,size=1M
  whose file is pre-created as QEMU would (1 MiB of zeros).  Its threads are
  "CPU 1/TCG", "CPU 0/TCG" (created in that order) and "worker".
  pvschedd must discover VM "fakevm" (kind qemu) with vCPU index n on the
  thread named "CPU n/TCG" and nothing on "worker", attach to the existing
  file without resizing it (still 1 MiB), and publish (valid header naming
  fakevm, heartbeat advancing, 2 vCPU slots);
- 'plain': old-style -name plain and no pvsched memory backend: monitored,
  but its region is reported missing and no file is created (QEMU, not
  pvschedd, creates the backing file); when the file appears later, a
  rescan picks it up and publishes, without resizing it;
- 'big': 20 vCPU threads and an 8 KiB region (16 slots): monitored, the
  region refused with its path in the error, the file left as it was;
- a process with a matching name but no "CPU n/..." threads is not a VM;
- when the fake QEMU exits, the VM goes away and its region is marked
  detached and kept; at SIGTERM pvschedd detaches the rest.
"""
import os
import random
import shutil
import string
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pvstest  # noqa: E402
from pvstest import check, proc_tids  # noqa: E402


def main(h):
    fake = pvstest.binary('FAKEQEMU')
    # Not "qemu-...": any other pvschedd on this machine with the default
    # qemu_comm ("qemu*,kvm") would adopt our fakes and lock their regions.
    name = 'fakeq-' + ''.join(random.choice(string.ascii_lowercase) for _ in range(8))
    exe = h.path(name)  # 14 bytes: the whole name fits the 15-byte comm
    shutil.copy2(fake, exe)
    region = h.path('pvsched-fakevm')
    with open(region, 'wb') as f:
        f.write(b'\0' * (1 << 20))
    # a guest may already have written its part (header line 3, the guest
    # half of vCPU slots) before pvschedd attaches: that must survive
    guest_bytes = {192: struct.pack('<QHH', 1, 1, 0),
                   4096 + 128: struct.pack('<I', 7),
                   4096 + 256 + 128: struct.pack('<I', 9)}
    with open(region, 'r+b') as f:
        for off, b in guest_bytes.items():
            f.seek(off)
            f.write(b)

    def start_fake(label, args, nvcpus=2, idle=False):
        p = h.spawn([exe] + args, label,
                    env={'FAKEQEMU_VCPUS': str(nvcpus), 'FAKEQEMU_IDLE': '1' if idle else '0'})
        h.wait_for(lambda: 'ready' in p.log() or not p.alive(), '%s to start' % label)
        check(p.alive(), '%s died: %s' % (label, p.log()))
        return p

    q = start_fake('fakevm', [
        '-name', 'guest=fakevm,debug-threads=on',
        '-accel', 'tcg,thread=multi', '-smp', '2', '-m', '64',
        '-object', 'memory-backend-file,id=pvs,share=on,mem-path=%s,size=1M' % region,
        '-device', 'ivshmem-plain,memdev=pvs',
    ])
    plain = start_fake('plain', ['-name', 'plain', '-smp', '1'], nvcpus=1)
    small = h.path('pvsched-big')
    with open(small, 'wb') as f:
        f.write(b'\0' * 8192)  # 16 vCPU slots
    start_fake('big', ['-name', 'big', '-object',
                       'memory-backend-file,id=pvs,share=on,mem-path=%s,size=8K' % small],
               nvcpus=20, idle=True)
    # matching name, but no "CPU n/..." threads: sleep(1) under that name
    os.mkdir(h.path('other'))
    shutil.copy2(shutil.which('sleep'), h.path('other', name))
    h.spawn([h.path('other', name), '600'], 'novcpu')

    conf = h.config(daemon={'qemu_comm': name, 'rescan_ms': '100'})
    h.start_daemon(conf)

    v = h.wait_vm('fakevm', nvcpus=2, region_ok=True)
    check(v['kind'] == 'qemu' and v['pid'] == q.pid, 'fakevm entry: %r' % v)
    check(v['region'] == region, 'region path %r, expected the mem-path %r'
          % (v['region'], region))
    by_name = {comm: tid for tid, comm in proc_tids(q.pid).items()}
    want = {0: by_name['CPU 0/TCG'], 1: by_name['CPU 1/TCG']}
    got = {c['index']: c['tid'] for c in v['vcpus']}
    check(got == want, 'vCPU index -> tid %r, expected (from thread names) %r' % (got, want))
    check(want[1] < want[0], 'test setup: CPU 1 should have the lower tid')
    check(by_name['worker'] not in got.values(), 'the worker thread was taken as a vCPU')
    check(os.path.getsize(region) == 1 << 20, 'region resized to %d' % os.path.getsize(region))
    d = h.dump(region)
    check(d['valid'] and d['vm_name'] == 'fakevm' and d['host_state'] == 'active'
          and d['nr_vcpus'] == 2, 'fakevm region: %r' % d)
    h.wait_heartbeat_advances(region, 'fakevm')
    d = h.dump(region)
    check([c['boost_req'] for c in d['vcpus']] == [7, 9],
          'guest-written boost_req overwritten: %r' % d)
    with open(region, 'rb') as f:
        data = f.read()
    for off, b in guest_bytes.items():
        check(data[off:off + len(b)] == b, 'guest-written bytes at %d overwritten' % off)
    check('created' not in [ln for ln in h.daemon_log().splitlines() if region in ln
                            and 'publishing' in ln][0],
          'pvschedd says it created the QEMU region')

    p = h.wait_vm('plain', nvcpus=1)
    check(p['kind'] == 'qemu' and not p['region_ok'], 'plain entry: %r' % p)
    check('no such region' in p.get('region_error', ''), 'plain region_error: %r' % p)
    check(not os.path.exists(h.path('pvsched-plain')),
          'pvschedd created a region file for a QEMU without the device')
    st = h.status()
    check(sorted(x['name'] for x in st['vms']) == ['big', 'fakevm', 'plain'],
          'unexpected VMs: %r' % [x['name'] for x in st['vms']])

    # 20 vCPUs do not fit an 8 KiB region (16 slots): monitored, the region
    # refused with its path named, and the file left as it was
    b = h.wait_vm('big', nvcpus=20)
    check(not b['region_ok'] and small in b.get('region_error', ''),
          'big: region_ok %r, error %r' % (b['region_ok'], b.get('region_error')))
    check(open(small, 'rb').read() == b'\0' * 8192, 'the 8 KiB region of big was changed')
    h.log('big: %s' % b['region_error'])

    # the backing file of plain appears later (as when QEMU creates it):
    # a later rescan publishes into it, without resizing it
    later = h.path('pvsched-plain')
    with open(later + '.tmp', 'wb') as f:
        f.write(b'\0' * (1 << 16))
    os.rename(later + '.tmp', later)
    h.wait_vm('plain', nvcpus=1, region_ok=True)
    h.wait_heartbeat_advances(later, 'plain')
    check(os.path.getsize(later) == 1 << 16, 'plain region resized')

    # the fake QEMU exits: VM gone, region detached and kept at 1 MiB
    check(h.stop(q) == 0, 'fakeqemu failed')
    h.wait_for(lambda: h.vm(h.status(), 'fakevm') is None, 'fakevm to leave status')
    d = h.dump(region)
    check(d['host_state'] == 'detached', 'region %r after QEMU exited' % d['host_state'])
    check(os.path.getsize(region) == 1 << 20, 'region resized at exit')
    check(h.vm(h.status(), 'plain') is not None, 'plain lost')
    h.stop_daemon(0)
    check(h.dump(later)['host_state'] == 'detached', 'plain not detached at exit')


pvstest.run('qemu-discovery', main)
