#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The host side of live migration, with fake QEMUs (tests/e2e/
test_migration.py migrates real ones).

- 'peer': an ivshmem-plain device without master=on (QEMU's default, peer
  mode, which QEMU refuses to migrate): status says migratable false and
  the log says so once, naming the fix (master=on; libvirt role='master');
- 'mig': master=on and -incoming defer, its vCPU threads paused, its region
  file already holding what a migration stream brings: the source host's
  header (another VM name, another host_instance, a heartbeat) and host
  part.  pvschedd finds the VM but leaves the file alone while it waits
  (status: incoming, region not adopted); once the vCPU threads run
  (SIGUSR1), it adopts the region under a host_instance of its own, with
  its own VM name, and publishes;
- 'garbled': the same, but what came with the stream has no pvsched header
  (a source without pvschedd, or not a pvsched region): said once, naming
  the VM and the file, then initialised and published;
- rewritten: after that, the header is rewritten under it (a stream that
  arrives late, or a guest writing its host part): pvschedd notices at its
  next period, says so once, re-initialises (a new instance) and goes on;
- a storm of rewrites every 5 ms for 1.5 s: re-initialised at most every
  100 ms, the daemon keeps serving and the other VM keeps its heartbeat.
"""
import os
import random
import shutil
import string
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pvstest  # noqa: E402
from pvstest import check, file_digest  # noqa: E402

OFF_HOST_STATE, OFF_HEARTBEAT, OFF_INSTANCE = 64, 72, 88


def header(path):
    with open(path, 'rb') as f:
        b = f.read(128)
    name = b[pvstest.OFF_VM_NAME:pvstest.OFF_VM_NAME + 32].split(b'\0')[0].decode()
    return {'magic': struct.unpack_from('<Q', b, 0)[0],
            'heartbeat': struct.unpack_from('<Q', b, OFF_HEARTBEAT)[0],
            'instance': struct.unpack_from('<Q', b, OFF_INSTANCE)[0], 'name': name}


def source_region(path, name, instance):
    """1 MiB as a migration stream leaves it: the source's header and host part."""
    buf = bytearray(1 << 20)
    struct.pack_into('<QHHIQ', buf, 0, pvstest.PVSCHED_MAGIC, 1, 3, 256, 1 << 20)
    struct.pack_into('<I', buf, OFF_HOST_STATE, 1)  # ACTIVE: its agent was alive
    struct.pack_into('<Q', buf, OFF_HEARTBEAT, 123456)
    struct.pack_into('<Q', buf, OFF_INSTANCE, instance)
    buf[pvstest.OFF_VM_NAME:pvstest.OFF_VM_NAME + len(name)] = name.encode()
    struct.pack_into('<IIQ', buf, 4096, 0, 1, 987654321000)  # slot 0: state, run_ns
    with open(path, 'wb') as f:
        f.write(buf)


def rewrite(path, instance, name=None):
    with open(path, 'r+b') as f:
        f.seek(OFF_INSTANCE)
        f.write(struct.pack('<Q', instance))
        if name:
            f.seek(pvstest.OFF_VM_NAME)
            f.write(name.encode().ljust(32, b'\0'))


def main(h):
    fake = pvstest.binary('FAKEQEMU')
    name = 'fakem-' + ''.join(random.choice(string.ascii_lowercase) for _ in range(8))
    exe = h.path(name)
    shutil.copy2(fake, exe)

    def start_fake(label, args, paused):
        p = h.spawn([exe] + args, label,
                    env={'FAKEQEMU_VCPUS': '2', 'FAKEQEMU_PAUSED': '1' if paused else '0'})
        h.wait_for(lambda: 'ready' in p.log() or not p.alive(), '%s to start' % label)
        check(p.alive(), '%s died: %s' % (label, p.log()))
        return p

    peer_region, mig_region = h.path('pvsched-peer'), h.path('pvsched-mig')
    with open(peer_region, 'wb') as f:
        f.write(b'\0' * (1 << 20))
    src_instance = 0x5eed5eed5eed5eed
    source_region(mig_region, 'the-source-name', src_instance)
    # what a stream from a source host without pvschedd, or another
    # program's memory, brings: no pvsched header at all
    garbled_region = h.path('pvsched-garbled')
    with open(garbled_region, 'wb') as f:
        f.write(os.urandom(4096) + b'\0' * ((1 << 20) - 4096))
    digest = file_digest(mig_region)
    start_fake('peer', ['-name', 'guest=peer,debug-threads=on', '-object',
                        'memory-backend-file,id=pvs,share=on,mem-path=%s,size=1M' % peer_region,
                        '-device', 'ivshmem-plain,memdev=pvs'], paused=False)
    mig = start_fake('mig', ['-name', 'guest=mig,debug-threads=on', '-object',
                             '{"qom-type":"memory-backend-file","id":"shmmem-shmem0",'
                             '"mem-path":"%s","share":true,"size":1048576}' % mig_region,
                             '-device', '{"driver":"ivshmem-plain","id":"shmem0",'
                             '"memdev":"shmmem-shmem0","master":"on"}',
                             '-incoming', 'defer'], paused=True)
    garbled = start_fake('garbled', ['-name', 'guest=garbled,debug-threads=on', '-object',
                                     'memory-backend-file,id=pvs,share=on,mem-path=%s,size=1M'
                                     % garbled_region, '-device',
                                     'ivshmem-plain,memdev=pvs,master=on', '-incoming',
                                     'unix:/nonexistent'], paused=True)
    conf = h.config(daemon={'qemu_comm': name, 'rescan_ms': '100'})
    h.start_daemon(conf)

    # ---- peer mode: said once, with the fix
    p = h.wait_vm('peer', nvcpus=2, region_ok=True)
    check(p.get('migratable') is False, 'peer: migratable %r, expected false' % p)
    r0 = h.status()['rescans']
    h.wait_for(lambda: h.status()['rescans'] >= r0 + 3, 'three rescans')
    lines = [ln for ln in h.daemon_log().splitlines() if 'cannot be live-migrated' in ln]
    check(len(lines) == 1 and 'vm peer' in lines[0] and 'master=on' in lines[0]
          and "role='master'" in lines[0],
          'peer: expected one line naming the VM and the fix, got %r' % lines)

    # ---- incoming: found, not adopted while it waits
    v = h.wait_vm('mig', nvcpus=2)
    check(v.get('migratable') is True, 'mig: migratable %r, expected true' % v)
    time.sleep(1.0)
    v = h.vm(h.status(), 'mig')
    check(v['incoming'] is True and v['region_ok'] is False,
          'mig waiting: incoming %r region_ok %r' % (v['incoming'], v['region_ok']))
    check(file_digest(mig_region) == digest, 'the waiting VM\'s region was written')

    # ---- it runs: adopted under an instance of our own, our name
    mig.popen.send_signal(10)  # SIGUSR1
    v = h.wait_vm('mig', region_ok=True, timeout=10)
    check(v['incoming'] is False, 'mig still incoming after it ran: %r' % v)
    hd = header(mig_region)
    check(hd['instance'] not in (0, src_instance) and hd['name'] == 'mig',
          'adopted header: %r' % hd)
    h.wait_heartbeat_advances(mig_region, 'mig')
    d = h.dump(mig_region)
    check(d['valid'] and d['vcpus'][0]['run_ns'] < 987654321000,
          'the source\'s host part survived adoption: %r' % d['vcpus'][0])
    log = h.daemon_log()
    check('adopting its region' in log and 'belongs to VM' not in log,
          'adoption not logged, or refused for the source\'s VM name')
    check(v['region_reinits'] == 0, 'adoption counted as a rewrite: %r' % v)
    check("held another host agent's header (VM 'the-source-name', instance 5eed5eed5eed5eed)"
          in log, 'adoption over the source\'s header not said')

    # ---- a stream without a pvsched header: said once, initialised
    garbled.popen.send_signal(10)
    h.wait_vm('garbled', region_ok=True, timeout=10)
    d = h.dump(garbled_region)
    check(d['valid'] and d['vm_name'] == 'garbled', 'garbled region after adoption: %r' % d)
    lines = [ln for ln in h.daemon_log().splitlines() if 'without a valid pvsched header' in ln]
    check(len(lines) == 1 and 'vm garbled' in lines[0] and garbled_region in lines[0],
          'expected one line naming the VM and the file: %r' % lines)

    # ---- rewritten under it: noticed, said once, re-initialised
    inst1 = hd['instance']
    rewrite(mig_region, 0x1111222233334444, 'intruder')
    h.wait_for(lambda: h.vm(h.status(), 'mig')['region_reinits'] == 1, 'one re-init')
    h.wait_for(lambda: header(mig_region)['instance'] not in (inst1, 0x1111222233334444, 0),
               'a new instance')
    check(header(mig_region)['name'] == 'mig', 'name after re-init: %r' % header(mig_region))
    h.wait_heartbeat_advances(mig_region, 'mig after re-init')
    check(h.daemon_log().count('was rewritten by someone else') == 1,
          'the rewrite was not logged exactly once')

    # ---- a storm: bounded, others unaffected
    stop = threading.Event()

    def storm():
        while not stop.is_set():
            rewrite(mig_region, random.getrandbits(64) | 1)
            time.sleep(0.005)
    t = threading.Thread(target=storm)
    hb0 = header(peer_region)['heartbeat']
    t0 = time.monotonic()
    t.start()
    time.sleep(1.5)
    stop.set()
    t.join()
    secs = time.monotonic() - t0
    n = h.vm(h.status(), 'mig')['region_reinits']
    h.log('storm: %d re-inits in %.2fs' % (n, secs))
    check(2 <= n <= 1 + int(secs / 0.1) + 2, 're-inits during the storm: %d in %.2fs' % (n, secs))
    check(header(peer_region)['heartbeat'] > hb0 + 50, 'peer\'s heartbeat stalled in the storm')
    h.wait_heartbeat_advances(mig_region, 'mig after the storm')
    h.daemon_alive()


if __name__ == '__main__':
    pvstest.run('migration-host', main)
