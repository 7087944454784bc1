#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A process VM's doorbell: the eventfd pvschedd passes at attach.

pvschedd runs with boosting on, boost_scan_us = 500 and no ivshmem socket
(ivshmem_socket = none: process VMs ring all the same).  boostvm runs
under `pvsched-run --attach NAME --threads 'vcpu*'`, which asks for the
doorbell and hands the eventfd to the program (PVSCHED_DOORBELL_FD);
libpvsched rings it.

 1. attach: the VM is listened to and not polled (boost_scans stay at the
    publish period's pace, 10 a second at period_ms = 100, where the 500 us
    scan would add 2000), its region offers PVSCHED_F_DOORBELL, and the
    program holds the eventfd;
 2. a request rings and is granted (the vCPU thread SCHED_FIFO), the
    release rings and ends it; each is a wake-up the daemon counts;
 3. a VM attached by pvschedctl (no descriptor to pass) is polled; both
    are granted;
 4. a ring storm (boost/unboost as fast as it can) is muted, counted and
    logged once; the other VM is still granted; the storm's VM is listened
    to again afterwards;
 5. detach and exit: the eventfd is closed with its VM (the daemon's open
    fds return to what they were) and the region file is removed;
 6. an attach that fails (a bad name) fails pvsched-run clearly, and the
    program is not run.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pvstest  # noqa: E402
from pvstest import check, sched_policy as policy  # noqa: E402

F_DOORBELL = 1 << 5
GRANTED = 1


class VM:
    """boostvm with 2 vCPU threads, attached by pvsched-run (ring=True) or
    started alone and attached by pvschedctl (ring=False)."""

    def __init__(self, h, name, ring=True):
        self.h, self.name = h, name
        boostvm = pvstest.binary('BOOSTVM')
        if ring:
            argv = [pvstest.binary('PVSCHED_RUN'), '--attach', name, '--threads', 'vcpu*',
                    '--socket', h.sock, boostvm, '-t', '2']
        else:
            argv = [boostvm, '-t', '2', '-r', h.path('pvsched-' + name)]
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        h.procs.append(pvstest.Proc(self.p, name, os.devnull))
        line = self.p.stdout.readline()
        check(line.startswith('ready'), '%s did not start: %r %s' % (
            name, line, '' if line else self.p.stderr.read()))
        self.tids = [int(x) for x in self.cmd('tids').split()[1:]]
        if not ring:
            h.ctl('attach', '--pid', str(self.p.pid), '--name', name, '--threads', 'vcpu*')
        h.wait_vm(name, nvcpus=2, region_ok=True)
        r = self.cmd('open')
        check(r == 'ok', '%s: open: %r' % (name, r))
        h.wait_for(lambda: self.cmd('state 0').startswith('state 0 '),
                   '%s: its slots to carry its thread ids' % name, timeout=5)

    def cmd(self, line):
        self.p.stdin.write(line + '\n')
        self.p.stdin.flush()
        r = self.p.stdout.readline().strip()
        check(r, '%s: no answer to %r' % (self.name, line))
        return r

    def state(self, i=0):
        r = self.cmd('state %d' % i).split()
        return int(r[2]) if len(r) == 3 else None

    def bell(self):
        return self.h.vm(self.h.status(), self.name)['doorbell']

    def quit(self):
        if self.p.poll() is None:
            self.p.stdin.write('quit\n')
            self.p.stdin.flush()
        self.p.wait(timeout=10)


def nfds(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def environ(pid):
    with open('/proc/%d/environ' % pid, 'rb') as f:
        return dict(x.split(b'=', 1) for x in f.read().split(b'\0') if b'=' in x)


def fd_target(pid, fd):
    try:
        return os.readlink('/proc/%d/fd/%d' % (pid, fd))
    except OSError:
        return None


def header_features(region):
    with open(region, 'rb') as f:
        b = f.read(136)
    return int.from_bytes(b[24:32], 'little'), int.from_bytes(b[132:136], 'little')


def grant_and_release(h, vm, what):
    """vCPU 0 asks: granted, its thread SCHED_FIFO; released: back."""
    w0 = vm.bell()['wakes']
    check(vm.cmd('boost 0') == 'ok', '%s: boost' % vm.name)
    h.wait_for(lambda: vm.state() == GRANTED, '%s granted' % what, timeout=5)
    check(policy(vm.tids[0])[0] == os.SCHED_FIFO,
          '%s: vCPU 0 granted but its thread is %r' % (what, policy(vm.tids[0])))
    check(vm.cmd('unboost 0') == 'ok', '%s: unboost' % vm.name)
    h.wait_for(lambda: policy(vm.tids[0])[0] == os.SCHED_OTHER, '%s released' % what,
               timeout=5)
    return vm.bell()['wakes'] - w0


def main(h):
    conf = h.config(daemon={'boost': 'on', 'period_ms': '100', 'boost_scan_us': '500',
                            'ivshmem_socket': 'none', 'boost_max_ms': '5000',
                            'boost_budget_pct': '100'})
    dmn = h.start_daemon(conf)
    fds0 = nfds(dmn.pid)

    # 1. attach with a doorbell
    a = VM(h, 'ring-a')
    v = h.vm(h.status(), 'ring-a')
    check(v['doorbell']['connected'] and v['doorbell']['listening'] and
          not v['doorbell']['polled'], 'ring-a doorbell status %r' % v['doorbell'])
    env = environ(a.p.pid)
    check(env.get(b'PVSCHED_REGION') == h.path('pvsched-ring-a').encode(),
          'PVSCHED_REGION %r' % env.get(b'PVSCHED_REGION'))
    efd = int(env.get(b'PVSCHED_DOORBELL_FD', b'-1'))
    check(fd_target(a.p.pid, efd) == 'anon_inode:[eventfd]',
          'PVSCHED_DOORBELL_FD=%d in the program is %r' % (efd, fd_target(a.p.pid, efd)))
    feat, value = header_features(h.path('pvsched-ring-a'))
    check(feat & F_DOORBELL and value, 'region features %#x doorbell %#x' % (feat, value))
    check('ring-a: rings an eventfd passed at attach' in h.daemon_log(),
          'the doorbell is not in the log')
    s0 = h.status()
    time.sleep(1.0)
    s1 = h.status()
    scans = s1['boost_scans'] - s0['boost_scans']
    h.log('boost scans in 1 s with only a ringing process VM: %d' % scans)
    check(scans < 100, 'the 500 us scan runs although the VM rings: %d scans in 1 s' % scans)

    # 2. request and release ring
    rings = grant_and_release(h, a, 'ring-a')
    check(rings >= 2, 'a request and a release: %d wake-ups counted' % rings)
    check(h.status()['doorbell_scans'] >= 2, 'no doorbell scans counted')

    # 3. a VM attached by pvschedctl is polled
    b = VM(h, 'poll-b', ring=False)
    vb = h.vm(h.status(), 'poll-b')
    check(not vb['doorbell']['connected'] and vb['doorbell']['polled'],
          'poll-b doorbell status %r' % vb['doorbell'])
    grant_and_release(h, b, 'poll-b')
    grant_and_release(h, a, 'ring-a beside a polled VM')

    # 4. a storm: muted, the other VM still granted
    a.p.stdin.write('flip 1 200000\n')
    a.p.stdin.flush()
    h.wait_for(lambda: a.bell()['mutes'] >= 1, 'the storm muted', timeout=20)
    t0 = time.monotonic()
    grant_and_release(h, b, 'poll-b during ring-a\'s storm')
    h.log('poll-b granted and released in %.0f ms during the storm'
          % ((time.monotonic() - t0) * 1000))
    r = a.p.stdout.readline().strip()
    check(r == 'ok', 'storm: %r' % r)
    h.log('ring-a after the storm: %r' % a.bell())
    h.wait_for(lambda: a.bell()['listening'], 'ring-a listened to after the storm')
    check(h.daemon_log().count('ring-a: rings its doorbell more than') == 1,
          'the storm is not logged exactly once')
    grant_and_release(h, a, 'ring-a after the storm')

    # 5. detach and exit release the eventfd and the region
    c = VM(h, 'ring-c')
    h.ctl('detach', 'ring-c')
    h.wait_for(lambda: h.vm(h.status(), 'ring-c') is None, 'ring-c detached')
    check(not os.path.exists(h.path('pvsched-ring-c')), 'ring-c left its region file')
    # its library still rings its own copy of the eventfd: nobody listens
    check(c.cmd('boost 0') == 'ok', 'ring-c: a request after detach')
    c.quit()
    a.quit()
    b.quit()
    h.wait_for(lambda: not h.status()['vms'], 'the VMs to be gone')
    check(not os.path.exists(h.path('pvsched-ring-a')), 'ring-a left its region file')
    h.wait_for(lambda: nfds(dmn.pid) <= fds0, 'pvschedd\'s fds back to %d (now %d)'
               % (fds0, nfds(dmn.pid)))

    # 6. a failed attach runs nothing
    r = subprocess.run([pvstest.binary('PVSCHED_RUN'), '--attach', 'bad name', '--socket',
                        h.sock, 'true'], capture_output=True, text=True, timeout=20)
    check(r.returncode == 1 and "'name' must be" in r.stderr,
          'pvsched-run with a bad name: rc %d %r' % (r.returncode, r.stderr))
    h.daemon_alive()
    h.stop_daemon(0)


pvstest.run('doorbell-process', main)
