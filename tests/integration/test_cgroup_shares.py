#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Gang shares from the VM's cgroup (docs/cosched.md, "Shares from the
cgroup"), on this machine's real cgroup hierarchy: cgroup v2 (cpu.weight)
when the cpu controller is available there, else cgroup v1's cpu
controller (cpu.shares) - whichever the host has; never skipped.

 1. process VMs A and B, each alone in a cgroup of its own with weight 2:1
    (v2 cpu.weight 200 / 100, v1 cpu.shares 2048 / 1024), C outside any
    cgroup of its own (the test's cgroup, or the root), all three gang with
    no shares key: status shares 2000 / 1000 / 1000, from "cgroup",
    "cgroup", "default"; A's and B's threads really raised (on a v1 host
    with RT group scheduling the test gives each cgroup RT time, as an
    operator must: the kernel refuses SCHED_FIFO in a cgroup without it);
    the gang rotation gives A about twice B's slices (stride scheduling,
    deterministic while both are runnable);
 2. D in a cgroup shared with another process (a `sleep`): not its own,
    its weight (4x) unused, a log line says so;
 3. a config `shares` overrides the cgroup (SIGHUP reload);
 4. bad input on a cgroup the operator names (`cgroup = DIR` for C): a
    malformed weight, an unreadable one (a directory), a vanished cgroup:
    one log line each naming the VM and the file, C at the default shares,
    A and B unaffected;
 5. pvschedd wrote no cgroup file: the weights are what the test set.
Everything the test creates (cgroups, processes) is removed at the end.
"""
import os
import shutil
import signal
import time

from pvstest import check, run, sched_policy as policy

TAG = 'pvstest-%d' % os.getpid()


def mounts():
    """{'v1': cpu mount or None, 'v2': cgroup2 mount or None}"""
    v1 = v2 = None
    with open('/proc/self/mountinfo') as f:
        for ln in f:
            pre, _, post = ln.partition(' - ')
            w, p = pre.split(), post.split()
            if len(p) < 3:
                continue
            if p[0] == 'cgroup' and 'cpu' in p[2].split(',') and not v1:
                v1 = w[4]
            elif p[0] == 'cgroup2' and not v2:
                v2 = w[4]
    return {'v1': v1, 'v2': v2}


def read(path):
    with open(path) as f:
        return f.read().strip()


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)


class Cgroups:
    """Cgroups the test makes (and removes) on the host's cpu hierarchy."""

    def __init__(self, h):
        self.h = h
        self.made = []
        m = mounts()
        v2 = m['v2']
        if v2 and 'cpu' in read(os.path.join(v2, 'cgroup.controllers')).split():
            sub = os.path.join(v2, 'cgroup.subtree_control')
            if 'cpu' not in read(sub).split():
                # the root's own file: enabling a controller for children
                # changes nothing for processes in the root
                write(sub, '+cpu')
            self.root, self.v1, self.file = v2, False, 'cpu.weight'
        elif m['v1']:
            self.root, self.v1, self.file = m['v1'], True, 'cpu.shares'
        else:
            raise AssertionError('no cgroup cpu controller (v1 or v2) on this host: %r' % m)
        h.log('cgroup %s at %s (%s)' % ('v1' if self.v1 else 'v2', self.root, self.file))

    def weight(self, rel):
        """The file value for relative weight REL (1 = the default)."""
        return str(int(rel * (1024 if self.v1 else 100)))

    def make(self, name, rel, rt_us=0):
        path = os.path.join(self.root, '%s-%s' % (TAG, name))
        os.mkdir(path)
        self.made.append(path)
        write(os.path.join(path, self.file), self.weight(rel))
        rt = os.path.join(path, 'cpu.rt_runtime_us')
        if rt_us and os.path.exists(rt):
            write(rt, str(rt_us))  # RT group scheduling: SCHED_FIFO needs RT time
        return path

    def move(self, path, pid):
        write(os.path.join(path, 'cgroup.procs'), str(pid))

    def remove(self):
        for path in reversed(self.made):
            try:
                for pid in read(os.path.join(path, 'cgroup.procs')).split():
                    try:
                        self.move(self.root, pid)
                    except OSError:
                        pass
                os.rmdir(path)
            except OSError as e:
                self.h.log('could not remove %s: %s' % (path, e))


def main(h):
    cg = Cgroups(h)
    procs = []
    try:
        body(h, cg, procs)
    finally:
        for p in procs:
            h.stop(p)
        if h.daemon:
            h.stop(h.daemon)
        cg.remove()


def body(h, cg, procs):
    fake = h.path('fakecg')
    vms = [('A', {'cosched': 'gang'}), ('B', {'cosched': 'gang'}),
           ('C', {'cosched': 'gang'}), ('D', {'cosched': 'gang'})]
    daemon = {'cosched_slice_ms': '20', 'cosched_rt_pct': '80'}
    conf = h.config(daemon=daemon, vms=vms)
    dmn = h.start_daemon(conf)
    cga = cg.make('A', 2, rt_us=300000)
    cgb = cg.make('B', 1, rt_us=300000)
    cgd = cg.make('D', 4)
    pa = h.start_procvm('vm-a', threads=2, extra=['--duration', '40'])
    pb = h.start_procvm('vm-b', threads=2, extra=['--duration', '40'])
    pc = h.start_procvm('vm-c', threads=2, idle=True, extra=['--duration', '40'])
    pd = h.start_procvm('vm-d', threads=2, idle=True, extra=['--duration', '40'])
    other = h.spawn(['sleep', '60'], 'sleep-in-D')
    procs += [pa, pb, pc, pd, other]
    cg.move(cga, pa.pid)
    cg.move(cgb, pb.pid)
    cg.move(cgd, pd.pid)
    cg.move(cgd, other.pid)
    for p, name in ((pa, 'A'), (pb, 'B'), (pc, 'C'), (pd, 'D')):
        h.attach(p.pid, name, '--threads', 'vcpu*')
    for name in 'ABCD':
        h.wait_vm(name, nvcpus=2)

    h.log('1. shares 2:1 from the cgroups, the default outside one')

    def shares():
        st = h.status()
        return {n: (h.vm(st, n).get('shares'), h.vm(st, n).get('shares_from')) for n in 'ABCD'}
    want = {'A': (2000, 'cgroup'), 'B': (1000, 'cgroup'), 'C': (1000, 'default'),
            'D': (1000, 'default')}
    h.wait_for(lambda: shares() == want, 'shares %r' % want, timeout=5)
    st = h.status()
    check(h.vm(st, 'A').get('cgroup_file') == os.path.join(cga, cg.file),
          'A cgroup_file: %r' % h.vm(st, 'A').get('cgroup_file'))
    log = h.daemon_log()
    check('vm A: shares 2000 from its cgroup (%s/%s = %s)' % (cga, cg.file, cg.weight(2))
          in log, 'no log line for A\'s cgroup shares')
    # the rotation: both A and B always runnable, A gets twice B's slices
    ta = [v['tid'] for v in h.vm(st, 'A')['vcpus']]
    h.wait_for(lambda: any(policy(t) == (os.SCHED_FIFO, 5) for t in ta),
               'A\'s vCPUs raised in its slices (SCHED_FIFO 5)', timeout=5, interval=0.001)
    g0 = {n: h.vm(st, n)['gang_ns'] for n in 'AB'}
    time.sleep(2.0)
    st = h.status()
    d = {n: h.vm(st, n)['gang_ns'] - g0[n] for n in 'AB'}
    h.log('   gang time over 2 s: A %.0f ms, B %.0f ms' % (d['A'] / 1e6, d['B'] / 1e6))
    check(d['B'] > 0 and 1.6 <= d['A'] / d['B'] <= 2.5,
          'gang slices not 2:1 between A and B: %r' % d)

    h.log('2. a cgroup shared with another process is not the VM\'s own')
    check('vm D: cgroup %s holds other processes too' % cgd in log,
          'no log line says D\'s cgroup is shared')

    h.log('3. a config shares key overrides the cgroup')
    vms[0] = ('A', {'cosched': 'gang', 'shares': '500'})
    vms[2] = ('C', {'cosched': 'gang', 'cgroup': fake})
    os.mkdir(fake)
    write(os.path.join(fake, 'cpu.weight'), 'lots\n')
    h.config(daemon=daemon, vms=vms)
    dmn.popen.send_signal(signal.SIGHUP)
    h.wait_for(lambda: shares()['A'] == (500, 'config'), 'A shares 500 from the config')
    check(shares()['B'] == (1000, 'cgroup'), 'B changed: %r' % (shares(),))

    h.log('4. bad cgroups named by the config: one log line each, default shares')
    wfile = os.path.join(fake, 'cpu.weight')
    h.wait_for(lambda: any('vm C: cgroup file %s: malformed' % wfile in ln and
                           'shares 1000' in ln for ln in h.daemon_log().splitlines()),
               'the malformed weight logged (one line: VM, file, the default shares)')
    check(shares()['C'] == (1000, 'default'), 'C: %r' % (shares()['C'],))
    write(wfile, '300\n')
    h.wait_for(lambda: shares()['C'] == (3000, 'cgroup'), 'C shares 3000 from DIR/cpu.weight')
    os.unlink(wfile)
    os.mkdir(wfile)  # unreadable: a directory where the file should be
    h.wait_for(lambda: 'vm C: cgroup file %s: Is a directory' % wfile in h.daemon_log(),
               'the unreadable weight logged')
    check(shares()['C'] == (1000, 'default'), 'C: %r' % (shares()['C'],))
    shutil.rmtree(fake)
    vanished = 'vm C: cgroup file %s: No such file or directory' % os.path.join(fake,
                                                                               'cpu.shares')
    h.wait_for(lambda: vanished in h.daemon_log(), 'the vanished cgroup logged')
    time.sleep(1.5)  # re-read every second: logged once, not every time
    log = h.daemon_log()
    check(log.count(vanished) == 1, 'the vanished cgroup logged %d times' % log.count(vanished))
    check(log.count('malformed') == 1, 'the malformed weight logged more than once')
    s = shares()
    check(s['C'] == (1000, 'default') and s['B'] == (1000, 'cgroup') and
          s['A'] == (500, 'config'), 'after the bad cgroups: %r' % s)
    check(dmn.alive(), 'pvschedd died')

    h.log('5. pvschedd wrote no cgroup file')
    for path, rel in ((cga, 2), (cgb, 1), (cgd, 4)):
        check(read(os.path.join(path, cg.file)) == cg.weight(rel),
              '%s/%s changed' % (path, cg.file))
    h.stop(dmn)
    for ln in h.daemon_log().splitlines():
        if 'cgroup' in ln:
            h.log('   log: ' + ln)
    for t in ta:
        check(policy(t) == (os.SCHED_OTHER, 0), 'A thread %d not restored' % t)


if __name__ == '__main__':
    run('cgroup-shares', main)
