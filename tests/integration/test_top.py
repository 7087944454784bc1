#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""pvschedctl top and pvschedctl policy.

 1. `top -b -n 2 -d 0.2`: two plain snapshots separated by one blank line,
    no escape sequence; each has the header line, the column header, the
    VM's row and one row per vCPU with the status's thread ids; stdout not
    a terminal without -b gives the same; bad -d / -n / -o name the input;
 2. on a pseudo-terminal: the frame is drawn with ANSI sequences within
    the terminal's width, keys change the sort (R: %RDY), q quits, SIGTERM
    quits; the terminal's attributes are restored both times;
 3. `policy`: errors name the bad input (unknown VM, unknown policy, bad
    shares), in pvschedctl and in the daemon's replies to raw requests;
    a change shows in status, in top and in metrics; `config` goes back.
"""
import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pvstest  # noqa: E402
from pvstest import check  # noqa: E402

COLUMNS = ['VM', 'VCPU', 'TID', '%RUN', '%RDY', '%CSTP', '%MLMTD', '%BOOST', 'STATE', 'LAYER',
           'CPUS', 'POLICY']


def snapshots(out):
    check('\x1b' not in out, 'escape sequences in plain output: %r' % out[:300])
    snaps = [s for s in out.strip('\n').split('\n\n')]
    return [s.split('\n') for s in snaps]


def check_snapshot(lines, vm, tids):
    check(lines[0].startswith('pvschedctl top - '), 'header line: %r' % lines[0])
    check('sampler ' in lines[0] and '1 VM,' in lines[0] and 'host CPU' in lines[0],
          'header line: %r' % lines[0])
    hdr = [i for i, ln in enumerate(lines) if ln.split()[:1] == ['VM']]
    check(hdr, 'no column header in %r' % lines)
    check(lines[hdr[0]].split() == COLUMNS, 'columns %r, expected %r'
          % (lines[hdr[0]].split(), COLUMNS))
    rows = [ln.split() for ln in lines[hdr[0] + 1:]]
    vmrows = [r for r in rows if r[0] == vm and r[1] == '-']
    check(len(vmrows) == 1, 'one VM row for %s expected: %r' % (vm, rows))
    vcpus = [r for r in rows if r[0] == vm and r[1] != '-']
    check(sorted(int(r[2]) for r in vcpus) == sorted(tids),
          'vCPU rows %r, expected the tids %r' % (vcpus, tids))
    for r in vcpus + vmrows:
        for x in r[3:8]:
            check(re.match(r'\d+\.\d\Z', x), 'percent %r in %r' % (x, r))
    # the VM row sums its vCPUs (rounding aside)
    run = sum(float(r[3]) for r in vcpus)
    check(abs(float(vmrows[0][3]) - run) <= 0.1 * len(vcpus) + 0.05,
          'VM %%RUN %s is not the sum %.1f' % (vmrows[0][3], run))
    return vmrows[0], vcpus


def expect_error(h, args, needle, rc=None):
    r = h.ctl(*args, ok=False)
    msg = r.stderr.strip()
    check(needle in msg, 'pvschedctl %s: expected an error containing %r, got %r'
          % (' '.join(args), needle, msg))
    if rc is not None:
        check(r.returncode == rc, 'pvschedctl %s: exit %d, expected %d'
              % (' '.join(args), r.returncode, rc))
    h.log('pvschedctl %s -> rc %d: %s' % (' '.join(args), r.returncode, msg))


def raw_error(h, req, needle):
    r = h.raw_json(json.dumps(req).encode() + b'\n')
    check(r.get('ok') is False and needle in r.get('error', ''),
          '%r: expected an error containing %r, got %r' % (req, needle, r))


class PtyTop:
    """pvschedctl top on a pseudo-terminal of COLS x ROWS."""

    def __init__(self, h, cols=100, rows=30, args=()):
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
        self.before = termios.tcgetattr(self.slave)
        self.p = subprocess.Popen([h.pvschedctl, '-s', h.sock, 'top'] + list(args),
                                  stdin=self.slave, stdout=self.slave, stderr=self.slave,
                                  start_new_session=True, close_fds=True)
        h.procs.append(pvstest.Proc(self.p, 'top-pty', os.devnull))
        self.out = b''
        self.lock = threading.Lock()
        self.th = threading.Thread(target=self._read, daemon=True)
        self.th.start()

    def _read(self):
        while True:
            try:
                b = os.read(self.master, 65536)
            except OSError:
                return
            if not b:
                return
            with self.lock:
                self.out += b

    def text(self):
        with self.lock:
            return self.out.decode(errors='replace')

    def send(self, s):
        os.write(self.master, s.encode())

    def finish(self, timeout=10):
        rc = self.p.wait(timeout=timeout)
        after = termios.tcgetattr(self.slave)
        os.close(self.slave)
        self.th.join(timeout=2)
        os.close(self.master)
        return rc, after


def screen_lines(text):
    """The lines of every frame, escape sequences removed (a frame starts
    with cursor home, not on a new line)."""
    out = []
    for frame in text.split('\x1b[H'):
        plain = re.sub(r'\x1b\[[0-9;?]*[A-Za-z]', '', frame)
        out += plain.replace('\r', '').split('\n')
    return out


def main(h):
    conf = h.config()
    h.start_daemon(conf)
    vm = h.start_procvm('procvm', threads=2)
    h.attach(vm.pid, 'topvm')
    v = h.wait_vm('topvm', nvcpus=2, region_ok=True)
    tids = [c['tid'] for c in v['vcpus']]

    h.log('1. top -b -n 2 -d 0.2')
    t0 = time.monotonic()
    r = h.ctl('top', '-b', '-n', '2', '-d', '0.2')
    dt = time.monotonic() - t0
    snaps = snapshots(r.stdout)
    check(len(snaps) == 2, 'expected 2 snapshots, got %d: %r' % (len(snaps), r.stdout))
    check(dt >= 0.2, 'two snapshots 0.2 s apart took %.3f s' % dt)
    for s in snaps:
        check_snapshot(s, 'topvm', tids)
    h.log('snapshot:\n' + '\n'.join(snaps[-1]))
    # stdout is a pipe: plain snapshots without -b too
    r = h.ctl('top', '-n', '1', '-o', 'name')
    s = snapshots(r.stdout)
    check(len(s) == 1, 'top -n 1 printed %d snapshots' % len(s))
    check_snapshot(s[0], 'topvm', tids)
    check('sort NAME' in s[0][0], 'sort shown: %r' % s[0][0])
    # rates need a full second: %RUN appears, sorted highest first
    h.wait_for(lambda: all(c['run_pct'] > 0 for c in h.vm(h.status(), 'topvm')['vcpus']),
               'the first %RUN')
    r = h.ctl('top', '-b', '-n', '1', '-o', 'RUN')
    _, vcpus = check_snapshot(snapshots(r.stdout)[0], 'topvm', tids)
    runs = [float(x[3]) for x in vcpus]
    check(runs == sorted(runs, reverse=True), 'vCPU rows not sorted by %%RUN: %r' % runs)
    check(sum(runs) > 0, 'busy vCPUs show no %%RUN: %r' % vcpus)
    expect_error(h, ['top', '-d', '0'], "-d '0'", rc=2)
    expect_error(h, ['top', '-d', 'abc'], "-d 'abc'", rc=2)
    expect_error(h, ['top', '-n', '0'], "-n '0'", rc=2)
    expect_error(h, ['top', '-o', 'bogus'], "-o 'bogus'", rc=2)
    expect_error(h, ['-s', h.path('nosuch.sock'), 'top', '-b', '-n', '1'], 'cannot reach pvschedd',
                 rc=1)

    h.log('2. top on a terminal: keys, width, the terminal restored')
    t = PtyTop(h, cols=100, rows=30, args=['-d', '0.2'])
    h.wait_for(lambda: 'topvm' in t.text(), 'the first frame on the terminal', timeout=10)
    t.send('R')
    h.wait_for(lambda: 'sort %RDY' in t.text(), 'R to sort by %RDY', timeout=5)
    t.send('e')
    time.sleep(0.3)
    t.send('q')
    rc, after = t.finish()
    text = t.text()
    h.check_sanitizers('top on a terminal', text)
    check(rc == 0, 'top exited %d after q: %r' % (rc, text[-500:]))
    check(after == t.before, 'terminal attributes not restored after q: %r != %r'
          % (after, t.before))
    check('\x1b[H' in text and '\x1b[K' in text, 'no in-place redraw sequences')
    check('\x1b[?25h' in text, 'cursor not shown again at exit')
    long_lines = [ln for ln in screen_lines(text) if len(ln) > 100]
    check(not long_lines, 'lines wider than the terminal: %r' % long_lines[:3])
    check('keys: q quit' in text, 'no key help on the terminal')

    t = PtyTop(h, cols=60, rows=10, args=['-d', '0.2'])
    h.wait_for(lambda: 'topvm' in t.text(), 'a frame on a small terminal', timeout=10)
    t.p.send_signal(signal.SIGTERM)
    rc, after = t.finish()
    check(rc == 0, 'top exited %d on SIGTERM' % rc)
    h.check_sanitizers('top on a terminal', t.text())
    check(after == t.before, 'terminal attributes not restored after SIGTERM')
    check(not [ln for ln in screen_lines(t.text()) if len(ln) > 60], 'wider than 60 columns')

    h.log('3. policy: errors name the bad input')
    expect_error(h, ['policy', 'nosuch', 'spread'], "no VM named 'nosuch'", rc=1)
    expect_error(h, ['policy', 'topvm', 'bogus'], "unknown policy 'bogus'", rc=2)
    expect_error(h, ['policy', 'topvm', 'spread', '--shares', '0'], "--shares '0'", rc=2)
    expect_error(h, ['policy', 'topvm', 'spread', '--shares', '2000000'], "--shares '2000000'",
                 rc=2)
    expect_error(h, ['policy', 'topvm', 'spread', '--shares', 'x'], "--shares 'x'", rc=2)
    expect_error(h, ['policy', 'topvm'], 'Usage: pvschedctl policy', rc=2)
    raw_error(h, {'cmd': 'policy', 'vm': 'topvm', 'policy': 'bogus'},
              "unknown policy 'bogus': expected none, spread, dedicated, gang, relaxed or config")
    raw_error(h, {'cmd': 'policy', 'vm': 'topvm', 'policy': 7}, "'policy' must be a string")
    raw_error(h, {'cmd': 'policy', 'vm': 'topvm', 'shares': 0},
              "'shares' 0 out of range (1..1000000)")
    raw_error(h, {'cmd': 'policy', 'vm': 'topvm', 'shares': 1000001},
              "'shares' 1000001 out of range (1..1000000)")
    raw_error(h, {'cmd': 'policy', 'vm': 'topvm', 'shares': '5'}, "'shares' must be an integer")
    raw_error(h, {'cmd': 'policy', 'vm': 'nosuch', 'policy': 'gang'}, "no VM named 'nosuch'")
    raw_error(h, {'cmd': 'policy', 'vm': 'a/b', 'policy': 'gang'}, "'vm' must be 1-31 characters")
    raw_error(h, {'cmd': 'policy', 'policy': 'gang'}, "policy needs 'vm'")
    raw_error(h, {'cmd': 'policy', 'vm': 'topvm'}, "policy needs 'policy' or 'shares'")
    raw_error(h, {'cmd': 'policy', 'vm': 'topvm', 'policy': 'gang', 'bogus': 1},
              "unknown key 'bogus'")
    st = h.vm(h.status(), 'topvm')
    check(st['policy'] == 'none', 'after only errors the policy is %r' % st['policy'])

    h.log('3. policy topvm spread --shares 2000: status, top, metrics')
    r = h.ctl('policy', 'topvm', 'spread', '--shares', '2000')
    check('policy spread, shares 2000' in r.stdout, 'policy reply: %r' % r.stdout)
    st = h.vm(h.status(), 'topvm')
    check(st['policy'] == 'spread' and st['shares'] == 2000, 'status after policy: %s/%s'
          % (st['policy'], st['shares']))
    for c in st['vcpus']:
        for k in ('layer', 'cpus', 'cstp_pct', 'mlmtd_pct', 'costop_ns', 'limited_ns', 'run_pct',
                  'rdy_pct', 'boost_pct'):
            check(k in c, 'status vCPU without %r: %r' % (k, c))
        check(c['layer'] in ('own', 'costop', 'gang', 'boost'), 'layer %r' % c['layer'])
    # spread places the two vCPUs: their CPU lists show in status
    v = h.wait_for(lambda: (lambda x: x if all(c['cpus'] for c in x['vcpus']) else None)(
        h.vm(h.status(), 'topvm')), 'spread to place the vCPUs', timeout=5)
    h.log('placed: %r' % [c['cpus'] for c in v['vcpus']])
    vmrow, vcpus = check_snapshot(snapshots(h.ctl('top', '-b', '-n', '1').stdout)[0], 'topvm',
                                  tids)
    check(vmrow[-1] == 'spread/2000', 'top POLICY column %r' % vmrow[-1])
    check(sorted(r[-1] for r in vcpus) == sorted(c['cpus'] for c in v['vcpus']),
          'top CPUS %r, status %r' % ([r[-1] for r in vcpus], [c['cpus'] for c in v['vcpus']]))
    m = h.ctl('metrics').stdout
    check('pvsched_vm_policy_info{vm="topvm",policy="spread"} 1\n' in m, 'metrics policy_info')
    check('pvsched_vm_shares{vm="topvm"} 2000\n' in m, 'metrics shares')
    h.ctl('policy', 'topvm', '--shares', '3000')
    st = h.vm(h.status(), 'topvm')
    check(st['policy'] == 'spread' and st['shares'] == 3000, 'shares alone keeps the policy: '
          '%s/%s' % (st['policy'], st['shares']))
    h.ctl('policy', 'topvm', 'config')
    st = h.vm(h.status(), 'topvm')
    check(st['policy'] == 'none', 'config: back to none, got %r' % st['policy'])
    h.daemon_alive()
    h.stop_daemon()


if __name__ == '__main__':
    pvstest.run('top', main)
