# SPDX-License-Identifier: MIT
"""Shared harness of pvsched's integration tests.

Every test runs real binaries (pvschedd, pvschedctl, pvsched-procvm and the
helpers built in tests/integration) in its own temporary directory: config,
control socket and region_dir all live there.  Every process a test starts
is registered and killed on exit, whatever the exit path (assertion failure,
exception, SIGTERM from meson's timeout).

The binaries come from the environment (meson.build sets them):
PVSCHEDD, PVSCHEDCTL, PROCVM, CHURNVM, FAKEQEMU; PVS_SAMPLER, if set, is
written as `sampler =` into every config the harness generates.

Tests check behaviour, never speed: every wait is "until X or a generous
deadline", and a deadline only turns a hang into a clear failure.
"""
import atexit
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

# Markers a sanitizer build prints when it finds something.
SAN_MARKERS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:',
               'AddressSanitizer:DEADLYSIGNAL', 'ERROR: UndefinedBehaviorSanitizer')

# pvsched region header offsets (include/pvsched/abi.h)
PVSCHED_MAGIC = 0x0044454843535650
OFF_VM_NAME = 96


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def binary(var):
    p = os.environ.get(var)
    if not p or not os.access(p, os.X_OK):
        raise TestFailure('environment variable %s does not name an executable: %r' % (var, p))
    return p


def file_digest(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def median(xs):
    xs = sorted(xs)
    if not xs:
        return float('nan')
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2.0


RESET_ON_FORK = 0x40000000  # sched_getscheduler() ORs it into the policy


def sched_policy(tid):
    """(policy without RESET_ON_FORK, RT priority) of TID, or (None, None)
    when it is gone."""
    try:
        pol = os.sched_getscheduler(tid)
        return pol & ~RESET_ON_FORK, os.sched_getparam(tid).sched_priority
    except OSError:
        return None, None


def proc_tids(pid):
    """Threads of PID as {tid: comm}."""
    out = {}
    try:
        names = os.listdir('/proc/%d/task' % pid)
    except OSError:
        return out
    for t in names:
        try:
            with open('/proc/%d/task/%s/comm' % (pid, t)) as f:
                out[int(t)] = f.read().rstrip('\n')
        except OSError:
            pass
    return out


def proc_alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            s = f.read()
        return s[s.rindex(')') + 2] != 'Z'
    except (OSError, ValueError, IndexError):
        return False


class Proc:
    """A started process, its log file and (optionally) its stdout lines."""

    def __init__(self, popen, label, logpath, lines=None):
        self.popen = popen
        self.label = label
        self.logpath = logpath
        self.lines = lines  # list of (monotonic time, line) if piped
        self.pid = popen.pid

    def alive(self):
        return self.popen.poll() is None

    def log(self):
        try:
            with open(self.logpath, errors='replace') as f:
                return f.read()
        except OSError:
            return ''


def nfds(pid):
    """Open file descriptors of PID."""
    return len(os.listdir('/proc/%d/fd' % pid))


class LineChild:
    """A child that answers each command line on its stdin with one line on
    its stdout (boostvm, dbclient.py); self.p and self.name are set by the
    subclass."""

    def cmd(self, line):
        self.p.stdin.write(line + '\n')
        self.p.stdin.flush()
        r = self.p.stdout.readline().strip()
        check(r, '%s: no answer to %r' % (self.name, line))
        return r


class Harness:
    def __init__(self, name):
        self.name = name
        self.t0 = time.monotonic()
        # short path: AF_UNIX socket paths must fit 108 bytes
        self.tmp = tempfile.mkdtemp(prefix='pvs-it-%s-' % name, dir='/tmp')
        self.procs = []
        self.daemon = None
        self.sock = os.path.join(self.tmp, 'ctl.sock')
        self.pvschedd = binary('PVSCHEDD')
        self.pvschedctl = binary('PVSCHEDCTL')
        self.procvm = binary('PROCVM')
        # a qemu_comm no real process can match (names are <= 15 bytes),
        # so a QEMU that someone else runs on this machine is never touched
        self.no_qemu = 'pvs-none-never-matches-%d' % os.getpid()
        self._cleaned = False
        atexit.register(self.cleanup)
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, self._on_signal)
        self.log('tmp dir %s' % self.tmp)

    # ---- bookkeeping ----
    def _on_signal(self, signo, frame):
        self.log('got signal %d: cleaning up' % signo)
        raise SystemExit(128 + signo)

    def log(self, msg):
        print('[%7.3f] %s' % (time.monotonic() - self.t0, msg), flush=True)

    def path(self, *names):
        return os.path.join(self.tmp, *names)

    def spawn(self, argv, label, pipe_lines=False, env=None, **kw):
        """Start ARGV; its output goes to tmp/LABEL.log (and to .lines,
        timestamped, when PIPE_LINES)."""
        logpath = self.path('%s.log' % label)
        logf = open(logpath, 'a')  # O_APPEND: child and reader share it
        e = dict(os.environ)
        if env:
            e.update(env)
        if pipe_lines:
            p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=logf, env=e,
                                 text=True, bufsize=1, **kw)
            lines = []
            proc = Proc(p, label, logpath, lines)

            def reader():
                for line in p.stdout:
                    lines.append((time.monotonic(), line.rstrip('\n')))
                    logf.write(line)
                    logf.flush()
            th = threading.Thread(target=reader, daemon=True)
            th.start()
            proc.reader = th
        else:
            p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, env=e, **kw)
            proc = Proc(p, label, logpath)
        logf_close = logf if not pipe_lines else None
        if logf_close:
            logf_close.close()
        self.procs.append(proc)
        self.log('started %s (pid %d): %s' % (label, p.pid, ' '.join(argv)))
        return proc

    def stop(self, proc, sig=signal.SIGTERM, timeout=15):
        """Signal PROC and reap it; returns its exit status."""
        if proc.alive():
            try:
                proc.popen.send_signal(sig)
            except ProcessLookupError:
                pass
        try:
            rc = proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            rc = proc.popen.wait()
            raise TestFailure('%s (pid %d) did not exit within %d s of signal %d'
                              % (proc.label, proc.pid, timeout, sig))
        self.check_sanitizers(proc.label, proc.log())
        return rc

    def check_sanitizers(self, what, text):
        for m in SAN_MARKERS:
            if m in text:
                raise TestFailure('%s: sanitizer report (%s):\n%s' % (what, m, text[-4000:]))

    def cleanup(self):
        if self._cleaned:
            return
        self._cleaned = True
        for p in self.procs:
            if p.alive():
                try:
                    p.popen.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 3
        for p in self.procs:
            try:
                p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.popen.kill()
                p.popen.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- config and daemon ----
    def config(self, name='pvschedd.conf', daemon=None, vms=None, text=None):
        """Write a config file; DAEMON overrides [daemon] keys, VMS is a list
        of (name, {key: value})."""
        path = self.path(name)
        if text is None:
            d = {
                'period_ms': '10',
                'rescan_ms': '200',
                'socket': self.sock,
                'region_dir': self.tmp,
                'qemu_comm': self.no_qemu,
                # each test its own journal: no daemon of another test (or
                # of the machine) holds it
                'journal': self.path('journal'),
            }
            # meson.build runs some tests once per sampler
            if os.environ.get('PVS_SAMPLER'):
                d['sampler'] = os.environ['PVS_SAMPLER']
            d.update(daemon or {})
            text = '[daemon]\n' + ''.join('%s = %s\n' % kv for kv in d.items())
            for vname, keys in (vms or []):
                text += '\n[vm %s]\n' % vname + ''.join('%s = %s\n' % kv for kv in keys.items())
        with open(path, 'w') as f:
            f.write(text)
        return path

    def start_daemon(self, conf, args=(), label='pvschedd'):
        p = self.spawn([self.pvschedd, '-c', conf] + list(args), label)
        self.daemon = p

        def up():
            if not p.alive():
                raise TestFailure('pvschedd exited early (status %s):\n%s'
                                  % (p.popen.returncode, p.log()))
            if not os.path.exists(self.sock):
                return None
            r = self.ctl('status', '--json', ok=None)
            return r.returncode == 0
        self.wait_for(up, 'pvschedd to answer on its socket', timeout=20)
        self.log('pvschedd up, sampler %s' % self.status().get('sampler'))
        return p

    def stop_daemon(self, expect_rc=0):
        rc = self.stop(self.daemon)
        check(rc == expect_rc, 'pvschedd exited with %s, expected %s; log:\n%s'
              % (rc, expect_rc, self.daemon.log()[-4000:]))
        return rc

    def daemon_log(self):
        return self.daemon.log() if self.daemon else ''

    def daemon_alive(self):
        check(self.daemon.alive(), 'pvschedd died (status %s); log:\n%s'
              % (self.daemon.popen.returncode, self.daemon_log()[-4000:]))

    # ---- pvschedctl ----
    def ctl(self, *args, ok=True, timeout=20):
        """Run pvschedctl -s SOCK ARGS.  ok=True: must succeed; ok=False:
        must fail; ok=None: either."""
        argv = [self.pvschedctl, '-s', self.sock] + list(args)
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure('pvschedctl %s: no answer within %d s' % (' '.join(args), timeout))
        self.check_sanitizers('pvschedctl ' + ' '.join(args), r.stderr)
        if ok is True and r.returncode != 0:
            raise TestFailure('pvschedctl %s failed (%d): %s%s'
                              % (' '.join(args), r.returncode, r.stdout, r.stderr))
        if ok is False and r.returncode == 0:
            raise TestFailure('pvschedctl %s succeeded, expected an error: %s'
                              % (' '.join(args), r.stdout))
        return r

    def status(self):
        r = self.ctl('status', '--json')
        try:
            st = json.loads(r.stdout)
        except ValueError as e:
            raise TestFailure('pvschedctl status --json printed bad JSON (%s): %r' % (e, r.stdout))
        check(st.get('ok') is True, 'status not ok: %r' % st)
        return st

    def boost_scans_in(self, secs=1.0):
        """How many boost scans the daemon ran in SECS seconds."""
        s0 = self.status()['boost_scans']
        time.sleep(secs)
        return self.status()['boost_scans'] - s0

    @staticmethod
    def vm(st, name):
        for v in st.get('vms', []):
            if v.get('name') == name:
                return v
        return None

    def dump(self, path):
        r = subprocess.run([self.pvschedctl, 'dump', '--json', path], capture_output=True,
                           text=True, timeout=20)
        self.check_sanitizers('pvschedctl dump', r.stderr)
        try:
            d = json.loads(r.stdout)
        except ValueError:
            raise TestFailure('pvschedctl dump --json %s: rc %d, no JSON: %s%s'
                              % (path, r.returncode, r.stdout, r.stderr))
        d['_rc'] = r.returncode
        return d

    def attach(self, pid, name, *extra):
        return self.ctl('attach', '--pid', str(pid), '--name', name, *extra)

    def raw_request(self, data, timeout=10, shut_wr=True):
        """Send DATA (bytes) on a fresh connection; return the reply text."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.sock)
            try:
                s.sendall(data)
                if shut_wr:
                    s.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the daemon may answer and close before reading it all
            chunks = []
            while True:
                try:
                    b = s.recv(65536)
                except ConnectionResetError:
                    break
                if not b:
                    break
                chunks.append(b)
            return b''.join(chunks).decode(errors='replace')
        finally:
            s.close()

    def raw_json(self, data, **kw):
        txt = self.raw_request(data, **kw)
        try:
            return json.loads(txt)
        except ValueError:
            raise TestFailure('reply to %r is not JSON: %r' % (data[:80], txt))

    # ---- waiting ----
    def wait_for(self, pred, what, timeout=10, interval=0.05):
        deadline = time.monotonic() + timeout
        last_exc = None
        while True:
            try:
                v = pred()
                if v:
                    return v
            except TestFailure as e:
                last_exc = e
                if 'exited early' in str(e) or 'died' in str(e):
                    raise
            if time.monotonic() > deadline:
                raise TestFailure('timed out after %g s waiting for %s%s'
                                  % (timeout, what, '' if not last_exc else ': %s' % last_exc))
            time.sleep(interval)

    def wait_vm(self, name, nvcpus=None, region_ok=None, timeout=10):
        """Wait until status lists NAME (with NVCPUS live vCPUs, REGION_OK)."""
        def pred():
            st = self.status()
            v = self.vm(st, name)
            if not v:
                return None
            if nvcpus is not None and len([c for c in v['vcpus'] if c['tid']]) != nvcpus:
                return None
            if region_ok is not None and v['region_ok'] != region_ok:
                return None
            return v
        return self.wait_for(pred, 'VM %s in status' % name, timeout=timeout)

    def wait_heartbeat_advances(self, region, what, timeout=10):
        h0 = self.dump(region)['heartbeat']
        return self.wait_for(lambda: self.dump(region)['heartbeat'] > h0,
                             'heartbeat of %s (%s) to advance past %d' % (what, region, h0),
                             timeout=timeout)

    def start_procvm(self, label, threads=2, idle=False, extra=()):
        argv = [self.procvm, '-t', str(threads)] + (['-i'] if idle else []) + list(extra)
        p = self.spawn(argv, label)
        # all vCPU threads exist once it printed its banner
        self.wait_for(lambda: 'vCPU threads' in p.log() or not p.alive(),
                      '%s to start its threads' % label)
        check(p.alive(), '%s exited early: %s' % (label, p.log()))
        self.wait_for(lambda: len(proc_tids(p.pid)) >= threads + 1,
                      '%s threads in /proc' % label)
        return p


def run(name, main):
    """Run MAIN(harness); exit 0 on success, 1 on failure (logs printed)."""
    h = None
    rc = 1
    try:
        h = Harness(name)
        main(h)
        rc = 0
        h.log('PASS')
    except TestFailure as e:
        print('FAIL: %s' % e, flush=True)
    except SystemExit as e:
        print('FAIL: interrupted (%s)' % e.code, flush=True)
    except Exception:
        traceback.print_exc()
        print('FAIL: unexpected exception', flush=True)
    if rc and h:
        for p in h.procs:
            txt = p.log()
            print('---- %s (pid %d, status %s) log, last 3000 bytes ----\n%s'
                  % (p.label, p.pid, p.popen.poll(), txt[-3000:]), flush=True)
    if h:
        h.cleanup()
    sys.exit(rc)
