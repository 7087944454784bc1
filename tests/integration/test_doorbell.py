#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""pvschedd as the ivshmem server, against fake QEMU clients (dbclient.py)
that speak the protocol of QEMU's ivshmem-doorbell device.

 1. a client gets the greeting (version 0, id 0, the region, peer 1's and
    its own eventfd); the VM is found with its doorbell connected, the
    region offers PVSCHED_F_DOORBELL with doorbell = 1 << 16, and the VM is
    not polled: boost_scans stays at the publish period's pace (10 a
    second at period_ms = 100, where boost_scan_us = 500 would be 2000);
 2. a boost request with a ring is granted; the wake is counted, and the
    release with a ring ends it;
 3. bad clients affect only themselves: a process that is not a QEMU, one
    that sends data, one that never reads, one that hangs up at once, and
    a second connection of a connected QEMU are refused or dropped, and
    the first client still rings and is heard;
 4. a ring storm is muted (counted, polled meanwhile) while another VM
    is still granted promptly and the control socket answers; the storm's
    VM is listened to again after it stops;
 5. a client that exits releases its connection and eventfds: the
    daemon's open fds return to what they were;
 6. a VM restarted at once (its new QEMU connects before discovery has
    seen the old one go) is greeted, and the new VM publishes to the
    region its QEMU was given and is listened to.
"""
import os
import random
import string
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pvstest  # noqa: E402
from pvstest import check, nfds  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
F_DOORBELL = 1 << 5


class Client(pvstest.LineChild):
    def __init__(self, h, exe, sock, name, mode='good'):
        self.h, self.name = h, name
        self.p = subprocess.Popen([exe, os.path.join(HERE, 'dbclient.py'), sock, mode, '-name',
                                   'guest=%s,debug-threads=on' % name],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        h.procs.append(pvstest.Proc(self.p, name, os.devnull))
        self.ready = self.p.stdout.readline().strip()
        check(self.ready.startswith('ready'), '%s did not start: %r' % (name, self.ready))

    def state(self):
        r = self.cmd('state').split()
        return {k: int(v, 0) for k, v in (x.split('=') for x in r[1:])}

    def quit(self):
        if self.p.poll() is None:
            self.p.stdin.write('quit\n')
            self.p.stdin.flush()
        self.p.wait(timeout=10)


def granted(h, c, boosts0):
    """C's vCPU was boosted since its boosts counter read BOOSTS0."""
    v = h.vm(h.status(), c.name)
    return v and v['vcpus'] and v['vcpus'][0]['boosts'] > boosts0


def boosts(h, c):
    return h.vm(h.status(), c.name)['vcpus'][0]['boosts']


def boost_and_ring(h, c, name, what):
    """C asks for a boost and rings; wait (5 s) until its vCPU is granted,
    logging its status and region if it is not."""
    g0 = boosts(h, c)
    c.cmd('boost')
    c.cmd('ring')
    try:
        h.wait_for(lambda: granted(h, c, g0), what, timeout=5)
    except pvstest.TestFailure:
        h.log('%s: %r; its region: %r' % (name, h.vm(h.status(), name), c.state()))
        raise


def main(h):
    comm = 'dbq-' + ''.join(random.choice(string.ascii_lowercase) for _ in range(8))
    exe = h.path(comm)
    os.symlink(sys.executable, exe)  # comm is the name it was run by
    ivs = h.path('ivshmem.sock')
    # a boost may last 5 s: a loaded machine cannot make a grant we look
    # for end before we see it (the boosts counter says it happened anyway)
    conf = h.config(daemon={'boost': 'on', 'qemu_comm': comm, 'period_ms': '100',
                            'boost_scan_us': '500', 'ivshmem_socket': ivs,
                            'boost_max_ms': '5000', 'boost_budget_pct': '100'})
    dmn = h.start_daemon(conf)
    check(os.path.exists(ivs), 'no ivshmem socket at %s' % ivs)
    fds0 = nfds(dmn.pid)

    # 1. greeting, discovery, the region's offer, no polling
    a = Client(h, exe, ivs, 'bell-a')
    check(a.ready == 'ready id=0 size=%d' % (1 << 20), 'greeting: %r' % a.ready)
    h.wait_vm('bell-a', nvcpus=1, region_ok=True)
    vm = h.wait_for(lambda: (lambda v: v if v and v['doorbell']['listening'] else None)(
        h.vm(h.status(), 'bell-a')), 'bell-a to be listened to')
    check(vm['doorbell']['connected'] and not vm['doorbell']['polled'],
          'doorbell status %r' % vm['doorbell'])
    check(vm['region'] == h.path('pvsched-bell-a'), 'region %s' % vm['region'])
    st = h.wait_for(lambda: (lambda s: s if s['features'] & F_DOORBELL else None)(a.state()),
                    'PVSCHED_F_DOORBELL in the region')
    check(st['doorbell'] == 1 << 16, 'header doorbell %#x' % st['doorbell'])
    scans = h.boost_scans_in(1.0)
    h.log('boost scans in 1 s with only a doorbell VM: %d' % scans)
    check(scans < 100, 'the 500 us scan runs although the VM rings: %d scans in 1 s' % scans)

    # 2. a request with a ring is granted; the release with a ring ends it
    w0 = h.vm(h.status(), 'bell-a')['doorbell']['wakes']
    boost_and_ring(h, a, 'bell-a', 'bell-a granted')
    v = h.vm(h.status(), 'bell-a')
    check(v['doorbell']['wakes'] > w0, 'ring not counted: %r' % v['doorbell'])
    check(h.status()['doorbell_scans'] >= 1, 'no doorbell scan')
    a.cmd('unboost')
    a.cmd('ring')
    h.wait_for(lambda: a.state()['boost_state'] == 0, 'bell-a released', timeout=5)

    # 3. bad clients
    r = subprocess.run([sys.executable, '-c',
                        'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]);'
                        's.settimeout(5); print(repr(s.recv(8)))', ivs],
                       capture_output=True, text=True, timeout=10)
    check(r.stdout.strip() == "b''", 'a non-QEMU process got %r %s' % (r.stdout, r.stderr))
    send = Client(h, exe, ivs, 'bell-send', 'send')
    check(send.ready == 'ready sent eof', 'a client that sends: %r' % send.ready)
    noread = Client(h, exe, ivs, 'bell-noread', 'noread')
    drop = Client(h, exe, ivs, 'bell-drop', 'drop')
    check(a.cmd('dup') == 'dup eof', 'a second connection of bell-a was not refused')
    h.wait_for(lambda: 'ivshmem client pid %d (VM bell-a) refused' % a.p.pid in h.daemon_log(),
               'the refusal in the log')
    check('sent 13 bytes' in h.daemon_log(), 'the sender is not named in the log')
    h.daemon_alive()
    w0 = h.vm(h.status(), 'bell-a')['doorbell']['wakes']
    a.cmd('ring')
    h.wait_for(lambda: h.vm(h.status(), 'bell-a')['doorbell']['wakes'] > w0,
               'bell-a heard after the bad clients')
    for c in (send, noread, drop):
        c.quit()

    # 4. a storm is muted; another VM is still granted
    b = Client(h, exe, ivs, 'bell-b')
    h.wait_for(lambda: (lambda v: v and v['region_ok'] and v['doorbell']['listening'])(
        h.vm(h.status(), 'bell-b')), 'bell-b listened to')
    a.p.stdin.write('storm 3\n')
    a.p.stdin.flush()
    h.wait_for(lambda: h.vm(h.status(), 'bell-a')['doorbell']['mutes'] >= 1, 'the storm muted')
    t0 = time.monotonic()
    boost_and_ring(h, b, 'bell-b', 'bell-b granted during the storm')
    h.log('bell-b granted %.0f ms after its ring, during bell-a\'s storm'
          % ((time.monotonic() - t0) * 1000))
    b.cmd('unboost')
    b.cmd('ring')
    r = a.p.stdout.readline().strip()
    check(r.startswith('stormed'), 'storm: %r' % r)
    h.log('bell-a %s; daemon: %r' % (r, h.vm(h.status(), 'bell-a')['doorbell']))
    h.wait_for(lambda: h.vm(h.status(), 'bell-a')['doorbell']['listening'],
               'bell-a listened to again after the storm')
    check('rings its doorbell more than 2000 times a second' in h.daemon_log(),
          'the storm is not in the log')

    # 5. exits release everything
    a.quit()
    b.quit()
    h.wait_for(lambda: h.status()['ivshmem_clients'] == 0, 'the clients to be gone')
    h.wait_for(lambda: h.vm(h.status(), 'bell-a') is None, 'bell-a to leave status')
    h.wait_for(lambda: nfds(dmn.pid) <= fds0, 'pvschedd\'s fds back to %d (now %d)'
               % (fds0, nfds(dmn.pid)))

    # 6. a quick restart: same name, new process
    r1 = Client(h, exe, ivs, 'bell-r')
    h.wait_for(lambda: (lambda v: v and v['doorbell']['listening'])(h.vm(h.status(), 'bell-r')),
               'bell-r listened to')
    r1.quit()
    r2 = Client(h, exe, ivs, 'bell-r')
    check(r2.ready.startswith('ready id=0'), 'the restarted QEMU was not greeted: %r' % r2.ready)

    def new_vm():
        for v in h.status()['vms']:
            if v['pid'] == r2.p.pid and v['region_ok'] and v['doorbell']['listening']:
                return v
    v = h.wait_for(new_vm, 'the restarted bell-r listened to')
    check(v['region'] == h.path('pvsched-bell-r'), 'restarted VM publishes to %s' % v['region'])
    w0 = v['doorbell']['wakes']
    r2.cmd('ring')
    h.wait_for(lambda: new_vm()['doorbell']['wakes'] > w0, 'the restarted VM heard')
    r2.quit()
    h.daemon_alive()
    h.stop_daemon(0)
    check(not os.path.exists(ivs), 'ivshmem socket left behind at exit')


pvstest.run('doorbell', main)
