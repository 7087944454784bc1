#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""pvschedd's configuration: check mode, startup, reload, shutdown.

- `pvschedd -n -c good.ini` exits 0; `-n` on bad files exits nonzero and
  names file:line of the bad line (bad values, unknown keys, syntax errors,
  and section headers: unknown, misspelt, badly named, duplicated, or a
  [vm] without pid=, reported at the header's line even with no key below);
- a process VM declared in the config ([vm NAME] pid=) is monitored from
  the first status answer on;
- SIGHUP with a bad file keeps the old configuration: the daemon still
  serves, logs an error naming file:line, and nothing of the bad file (a
  new [vm], a new period) is applied;
- SIGHUP with a good changed file applies it (a new [vm] appears, the new
  period is reported, also in the header of regions already published);
  `pvschedctl reload` does the same (a removed [vm] disappears, its region
  is marked detached and its file removed);
- SIGTERM exits 0, marks every region detached and removes the socket.
"""
import mmap
import os
import signal
import struct
import sys
import subprocess

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pvstest  # noqa: E402
from pvstest import check  # noqa: E402


def check_mode(h, path, expect_ok, needle=None):
    r = subprocess.run([h.pvschedd, '-n', '-c', path], capture_output=True, text=True,
                       timeout=20)
    out = r.stdout + r.stderr
    h.check_sanitizers('pvschedd -n', out)
    if expect_ok:
        check(r.returncode == 0, 'pvschedd -n -c %s: rc %d: %s' % (path, r.returncode, out))
        check('OK' in r.stdout, 'pvschedd -n: no OK in %r' % out)
    else:
        check(r.returncode != 0, 'pvschedd -n -c %s accepted a bad file: %s' % (path, out))
        check(needle in r.stderr, 'pvschedd -n -c %s: expected %r in %r' % (path, needle, out))
    h.log('pvschedd -n -c %s -> %d: %s' % (os.path.basename(path), r.returncode, out.strip()))


def base_text(h, period='10'):
    return ('# pvschedd integration test\n'
            '[daemon]\n'
            'period_ms = %s\n'
            'rescan_ms = 100\n'
            'socket = %s\n'
            'region_dir = %s\n'
            'qemu_comm = %s\n' % (period, h.sock, h.tmp, h.no_qemu))


def main(h):
    vm1 = h.start_procvm('vm1', threads=2, idle=True)
    vm2 = h.start_procvm('vm2', threads=1, idle=True)

    # ---- check mode ----
    good = h.config('good.ini', text=base_text(h) + '\n[vm cfg1]\npid = %d\n' % vm1.pid)
    check_mode(h, good, True)
    # line 8 is the bad line in each (base_text is 7 lines)
    bads = [
        ('period_ms = banana\n', "period_ms 'banana'"),
        ('no_such_key = 1\n', "unknown key 'no_such_key'"),
        ('this line has no equals sign\n', 'syntax error'),
        ('region_size = 12345\n', "region_size '12345'"),
        ('socket = relative/path\n', "socket 'relative/path'"),
        ('period_ms = 0.1\n', "period_ms '0.1'"),
    ]
    for i, (line, needle) in enumerate(bads):
        path = h.config('bad%d.ini' % i, text=base_text(h) + line + '\n[vm ok]\npid = 1\n')
        check_mode(h, path, False, '%s:8: %s' % (path, needle))
    # a [vm] key error names its line
    path = h.config('bad-vm.ini', text=base_text(h) + '\n[vm v]\npid = 1\npid = x\n')
    check_mode(h, path, False, "%s:11: pid 'x'" % path)
    # section headers are checked at their own line, even with no key below
    sections = [
        ('[vm empty]\n# pid = 1\n', 8, '[vm empty]: needs pid= or pidfile='),
        ('[vm lonely]\nthreads = vcpu*\n', 8, '[vm lonely]: needs pid= or pidfile='),
        ('[frobnicator]\n\n[vm ok]\npid = 1\n', 8, 'unknown section [frobnicator]'),
        ('[deamon]\nperiod_ms = 5\n', 8, 'unknown section [deamon]'),
        ('[vm bad/name]\n\n', 8, '[vm bad/name]: name must be'),
        ('[vm a]\npid = 1\n[vm a]\npid = 2\n', 10, '[vm a]: declared twice'),
        ('[vm a]\npid=1\n[vm b]\npid=1\n[vm a]\npid=2\n', 12, '[vm a]: declared twice'),
    ]
    for i, (text, line, needle) in enumerate(sections):
        path = h.config('sec%d.ini' % i, text=base_text(h) + text)
        check_mode(h, path, False, '%s:%d: %s' % (path, line, needle))
    check_mode(h, h.path('missing.ini'), False, h.path('missing.ini'))

    # ---- start: the config VM is there from the first answer on ----
    conf = h.config('pvschedd.conf', text=base_text(h) + '\n[vm cfg1]\npid = %d\n' % vm1.pid)
    h.start_daemon(conf)
    st = h.status()
    v = h.vm(st, 'cfg1')
    check(v is not None, 'config VM cfg1 not monitored at start: %r' % st)
    check(v['pid'] == vm1.pid and v['kind'] == 'process', 'cfg1 entry: %r' % v)
    check(st['period_us'] == 10000, 'period_us %r, config says 10 ms' % st['period_us'])
    h.wait_vm('cfg1', nvcpus=2, region_ok=True)
    r1 = h.path('pvsched-cfg1')
    h.wait_heartbeat_advances(r1, 'cfg1')

    # ---- SIGHUP with a bad file: old config kept ----
    bad_text = (base_text(h, period='20') + '\n[vm cfg1]\npid = %d\n' % vm1.pid +
                '\n[vm cfg2]\npid = %d\n' % vm2.pid + 'bogus_key = 1\n')
    bad_line = bad_text.count('\n')  # the last line
    with open(conf, 'w') as f:
        f.write(bad_text)
    os.kill(h.daemon.pid, signal.SIGHUP)
    needle = '%s:%d: ' % (conf, bad_line)
    h.wait_for(lambda: 'reload failed' in h.daemon_log() and needle in h.daemon_log(),
               'the daemon to log the failed reload naming %s' % needle)
    h.log('daemon log: %s' % [ln for ln in h.daemon_log().splitlines() if 'reload' in ln])
    h.daemon_alive()
    st = h.status()
    check(h.vm(st, 'cfg2') is None, 'bad config partially applied: cfg2 appeared')
    check(st['period_us'] == 10000, 'bad config partially applied: period_us %r'
          % st['period_us'])
    check(h.vm(st, 'cfg1') is not None, 'cfg1 lost after a failed reload')
    h.wait_heartbeat_advances(r1, 'cfg1 after a failed reload')
    # a few rescans later, still nothing of the bad file
    r0 = st['rescans']
    h.wait_for(lambda: h.status()['rescans'] >= r0 + 3, 'three rescans')
    check(h.vm(h.status(), 'cfg2') is None, 'cfg2 appeared from a rejected config')

    # ---- SIGHUP with a good changed file: applied ----
    with open(conf, 'w') as f:
        f.write(base_text(h, period='20') + '\n[vm cfg1]\npid = %d\n' % vm1.pid +
                '\n[vm cfg2]\npid = %d\n' % vm2.pid)
    os.kill(h.daemon.pid, signal.SIGHUP)
    h.wait_vm('cfg2', nvcpus=1, region_ok=True)
    check(h.status()['period_us'] == 20000, 'new period not applied')
    # attached regions announce the new period (guests judge staleness by it)
    h.wait_for(lambda: 'period 20000 us' in h.ctl('dump', r1).stdout,
               'the region of cfg1 to announce the new period')
    check('configuration reloaded' in h.daemon_log(), 'no reload message in the log')
    r2 = h.path('pvsched-cfg2')
    h.wait_heartbeat_advances(r2, 'cfg2')
    d = h.dump(r2)
    check(d['valid'] and d['vm_name'] == 'cfg2', 'cfg2 region: %r' % d)

    # ---- pvschedctl reload: cfg1 removed from the file goes away ----
    with open(conf, 'w') as f:
        f.write(base_text(h, period='20') + '\n[vm cfg2]\npid = %d\n' % vm2.pid)
    with open(r1, 'rb') as f:  # as cfg1's process, still running, maps it
        m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    h.ctl('reload')
    h.wait_for(lambda: h.vm(h.status(), 'cfg1') is None, 'cfg1 to leave status after reload')
    check(struct.unpack_from('<I', m, 64)[0] == 2, 'cfg1 region not detached after removal')
    m.close()
    check(not os.path.exists(r1), 'the region file of removed process VM cfg1 was left behind')
    check(h.vm(h.status(), 'cfg2') is not None, 'cfg2 lost by the reload')
    h.wait_heartbeat_advances(r2, 'cfg2 after the second reload')

    # ---- SIGTERM ----
    h.stop_daemon(0)
    # cfg2's process still runs: at a daemon stop (a restart, an upgrade)
    # its region stays, marked detached, for the next pvschedd to take over
    d = h.dump(r2)
    check(d['host_state'] == 'detached', '%s not detached after SIGTERM: %r' % (r2, d))
    check(os.path.exists(r2), '%s was deleted at SIGTERM' % r2)
    check(not os.path.exists(h.sock), 'socket %s left behind after SIGTERM' % h.sock)
    check(vm1.alive() and vm2.alive(), 'pvschedd exit hurt the process VMs')


pvstest.run('config', main)
