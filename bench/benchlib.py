# SPDX-License-Identifier: MIT
"""bench/benchlib.py - what every benchmark runner (bench/*/run,
bench/*/qemu-vm) shares, written once.

    sys.path.insert(0, os.path.dirname(HERE))      # bench/
    import benchlib
    benchlib.NAME = "bench/boost"                  # the prefix of die()

  messages     log() (stdout), log_err() (stderr), die() (exit with
               "NAME: message"), BenchError;
  arguments    parse_args(): -h/--help prints the docstring, flags, one
               BUILDDIR; env_str/env_int/env_float/env_words/env_flag/
               env_lines/env_numbers: the runners' environment, unset or empty =
               the default, a bad value dies naming the variable;
  signals      catch_signals() turns SIGTERM/SIGHUP into Interrupted, as
               Ctrl-C is KeyboardInterrupt; uninterrupted(): a block (the
               clean-up) that a second signal cannot cut short;
  statistics   med() (median, None ignored), rotate() (the order of
               variants in round k), spread(), nearest_rank() (a
               percentile from a histogram);
  CPU          cpu_jiffies() (/proc/stat: busy, steal, total), steal_pct(),
               busy_pct(), schedstat(), tid_run_ns(), proc_run_ns(),
               proc_schedstat(), proc_timeslices(), thread_times(),
               stat_fields() (/proc/.../stat after comm);
  quiet        other_load(), wait_quiet(): what must not run while a
               benchmark measures, and the wait for it to end;
  processes    copy_binaries() (a rebuild during the run cannot mix
               versions), Daemon (pvschedd with its own config, socket,
               region_dir and journal; pvschedctl against it), hogs
               (HOG, start_hogs), kill_all(), low_slack(), host cyclictest
               (ensure_tool, host_cyclictest, cyclictest_json), cgroups
               (cpu_cgroup_root, make_cgroup, cgroup_of, move_to_cgroup,
               remove_cgroup);
  output       write_json(), save() (a result and its plot), gnuplot(),
               have_gnuplot(), machine(), goal_text().

The integration tests' harness (tests/integration/pvstest.py) is not used
here: it is built for meson (binaries from the environment, sanitizer
checks, a test failing on the first surprise), a runner copies its binaries
first and reports what it measured.  bench/selftest.py checks this module
and that every runner starts (meson test bench/runners, suite unit).
"""
import contextlib
import ctypes
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
NAME = "bench"  # the runner, for die(): set by each runner

# ---------------------------------------------------------------- messages


class BenchError(RuntimeError):
    """A run that cannot go on (pvschedd, pvschedctl, a helper failed)."""


def log(msg=""):
    print(msg, flush=True)


def log_err(msg=""):
    print(msg, file=sys.stderr, flush=True)


def die(msg):
    raise SystemExit("%s: %s" % (NAME, msg))


# ---------------------------------------------------------------- arguments


def parse_args(doc, usage, argv=None):
    """(BUILDDIR made absolute, {flags given}): -h / --help prints DOC and
    exits 0; anything but exactly one non-option argument prints the usage
    line and exits 2."""
    argv = sys.argv[1:] if argv is None else argv
    if "-h" in argv or "--help" in argv:
        print(doc)
        sys.exit(0)
    args = [a for a in argv if not a.startswith("-")]
    if len(args) != 1:
        print("usage: " + usage, file=sys.stderr)
        sys.exit(2)
    return os.path.abspath(args[0]), {a for a in argv if a.startswith("-")}


def _env(name):
    v = os.environ.get(name, "").strip()
    return v or None


def _in_range(name, v, lo, hi):
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        die("%s must be in %s..%s" % (name, "" if lo is None else lo, "" if hi is None else hi))
    return v


def env_str(name, default):
    return _env(name) or default


def env_int(name, default, lo=None, hi=None):
    v = _env(name)
    if v is None:
        return default
    try:
        return _in_range(name, int(v), lo, hi)
    except ValueError:
        die("%s must be an integer" % name)


def env_float(name, default, lo=None, hi=None):
    v = _env(name)
    if v is None:
        return None if default is None else float(default)
    try:
        return _in_range(name, float(v), lo, hi)
    except ValueError:
        die("%s must be a number" % name)


def env_words(name, default):
    """A space-separated list (DEFAULT: a string)."""
    return (_env(name) or default).split()


def env_numbers(name, default):
    """A space-separated list of numbers: int, or float when written with
    a point."""
    try:
        return [float(x) if "." in x else int(x) for x in env_words(name, default)]
    except ValueError:
        die("%s must be numbers separated by spaces" % name)


def env_flag(name, default):
    """On unless "0" (DEFAULT when unset or empty)."""
    v = _env(name)
    return default if v is None else v != "0"


def env_lines(name):
    """Extra "key = value" config lines, ';'-separated."""
    return [l.strip() for l in (_env(name) or "").split(";") if l.strip()]


# ---------------------------------------------------------------- signals


class Interrupted(Exception):
    pass


def on_signal(signum, frame):
    raise Interrupted("signal %d" % signum)


def catch_signals():
    """SIGTERM and SIGHUP end the run like Ctrl-C: the runner's finally
    clauses stop what it started."""
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)


@contextlib.contextmanager
def uninterrupted():
    """Ctrl-C, SIGTERM and SIGHUP are ignored in the block (a clean-up a
    second signal must not cut short), then handled as before."""
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = [signal.signal(s, signal.SIG_IGN) for s in sigs]
    try:
        yield
    finally:
        for s, h in zip(sigs, old):
            signal.signal(s, h)


# ---------------------------------------------------------------- statistics


def med(xs):
    """The median of XS without the Nones; None if nothing is left."""
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def rotate(lst, k):
    """LST started at its K-th element: in round K of interleaved repeats
    every variant runs once, each round in another order."""
    if not lst:
        return lst
    k %= len(lst)
    return lst[k:] + lst[:k]


def spread(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def nearest_rank(rows, p, n=None):
    """The P-th percentile (nearest rank) of a histogram: ROWS are (value,
    count) in ascending order of value, N the number of samples (default:
    the sum of the counts; more when some fell beyond the histogram).
    None when the rank lies beyond the rows."""
    if n is None:
        n = sum(c for _, c in rows)
    if not n:
        return None
    need, acc = max(1, int(p / 100.0 * n + 0.999999)), 0  # ceil(p % of n), no float dust
    for value, c in rows:
        acc += c
        if acc >= need:
            return value
    return None


# ---------------------------------------------------------------- CPU accounting


def cpu_jiffies():
    """(busy, steal, total) jiffies of all CPUs from /proc/stat (busy: user,
    nice, system, irq, softirq; total: those, idle, iowait and steal; this
    machine is itself a VM)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    total = sum(v)
    return total - v[3] - v[4] - v[7], v[7], total


def steal_pct(j0, j1):
    """Stolen share of the CPUs' time between two cpu_jiffies(), %."""
    return round(100.0 * (j1[1] - j0[1]) / max(1, j1[2] - j0[2]), 2)


def busy_pct(seconds=1.0):
    """CPU time the whole machine used over SECONDS, % of one CPU."""
    a = cpu_jiffies()
    time.sleep(seconds)
    b = cpu_jiffies()
    return 100.0 * (b[0] - a[0]) / os.sysconf("SC_CLK_TCK") / seconds


def schedstat(path):
    """(run ns, run-queue wait ns) from a schedstat file, None if gone."""
    try:
        with open(path) as f:
            run, wait = (int(x) for x in f.read().split()[:2])
        return run, wait
    except (OSError, ValueError):
        return None


def tid_run_ns(tid):
    """Run time (ns) of one thread, None if it is gone."""
    s = schedstat("/proc/%d/schedstat" % tid)
    return s[0] if s else None


def thread_times(pid):
    """{tid: (comm, run ns, wait ns)} of every thread of PID."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for t in tids:
        s = schedstat("/proc/%d/task/%s/schedstat" % (pid, t))
        try:
            with open("/proc/%d/task/%s/comm" % (pid, t)) as f:
                comm = f.read().strip()
        except OSError:
            continue
        if s:
            out[int(t)] = (comm, s[0], s[1])
    return out


def proc_run_ns(pid):
    """Exact CPU time (schedstat sum_exec_runtime, ns) of all threads of PID."""
    total = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0
    for t in tids:
        s = schedstat("/proc/%d/task/%s/schedstat" % (pid, t))
        total += s[0] if s else 0
    return total


def proc_schedstat(pid):
    """(run ns, run-queue wait ns, times put on a CPU) of all threads of
    PID, summed from their schedstat files."""
    total = [0, 0, 0]
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return tuple(total)
    for t in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                v = [int(x) for x in f.read().split()[:3]]
        except (OSError, ValueError):
            continue
        for i in range(min(3, len(v))):
            total[i] += v[i]
    return tuple(total)


def proc_timeslices(pid):
    """Times the threads of PID were put on a CPU: for a process that
    mostly sleeps, its wake-ups."""
    return proc_schedstat(pid)[2]


def stat_fields(path):
    """The fields of a /proc/.../stat file after the command name: [0] is
    field 3 (state), [11] utime, [12] stime, [36] the CPU, [38] the
    policy.  None if it is gone."""
    try:
        with open(path) as f:
            s = f.read()
    except OSError:
        return None
    return s[s.rindex(")") + 2:].split()


# ---------------------------------------------------------------- a quiet machine

# What must not run while a benchmark measures (this machine is small and
# shared): tests, QEMU guests (ours carry "qemu-system" in their command
# lines or run its binary under another name), every pvsched benchmark
# helper (their names, and the overhead runner's temp dir, start with
# pvsched-bench-) and the integration tests' process VMs.
LOAD_PATTERNS = ["meson test", "qemu-system", "pvsched-bench-", "pvsched-procvm"]


def other_load(extra=(), quiet_pct=None, own=(), own_dir=None):
    """What keeps the machine busy: the LOAD_PATTERNS and EXTRA found in a
    process's command line (as `pgrep -f` would), a process running a
    qemu-system-* binary, and - when nothing is found and QUIET_PCT is
    given - "N% of a CPU busy" when the machine used more than QUIET_PCT %
    of a CPU over a second (builds, other sessions' hogs).  Not counted:
    this process, the pids in OWN, processes with OWN_DIR in their command
    line (the runner's own, started from its temp dir), pgrep (another
    runner's search) and flock (`flock LOCK meson test ...` waiting for a
    lock this benchmark may hold: counted once its command runs, as
    flock's child)."""
    pats = list(LOAD_PATTERNS) + [p for p in extra if p not in LOAD_PATTERNS]
    skip = {os.getpid()} | set(own)
    found = set()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in skip:
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().decode("utf-8", "replace").rstrip("\0").split("\0")
        except OSError:
            continue
        if not argv[0] or os.path.basename(argv[0]) in ("pgrep", "flock"):
            continue
        line = " ".join(argv)
        if own_dir and own_dir in line:
            continue
        found.update(p for p in pats if p in line)
        try:
            if os.path.basename(os.readlink("/proc/%s/exe" % d)).startswith("qemu-system"):
                found.add("qemu-system")
        except OSError:
            pass
    out = [p for p in pats if p in found]
    if not out and quiet_pct is not None and quiet_pct < 100 * (os.cpu_count() or 1):
        u = busy_pct()
        if u > quiet_pct:
            out.append("%.0f%% of a CPU busy" % u)
    return out


def wait_quiet(busy, max_s, give_up, on_wait=None, on_quiet=None):
    """Wait while BUSY() names other load (every 5 s).  After MAX_S: die
    when GIVE_UP, else go on and say so.  ON_WAIT / ON_QUIET: called when
    the wait begins / after it (the runner's own load pauses meanwhile).
    Returns (seconds it took, still busy)."""
    t0, said = time.monotonic(), False
    while True:
        load = busy()
        if not load:
            if said:
                if on_quiet:
                    on_quiet()
                log("  (machine quiet again after %.0f s)" % (time.monotonic() - t0))
            return time.monotonic() - t0, False
        if not said:
            log("  waiting: %s on this machine" % ", ".join(load))
            said = True
            if on_wait:
                on_wait()
        if time.monotonic() - t0 > max_s:
            if give_up:
                die("other load (%s) for %d min: giving up" % (", ".join(load), max_s // 60))
            log("  still busy (%s) after %d s: running anyway, marked noisy" % (
                ", ".join(load), max_s))
            if on_quiet:
                on_quiet()
            return time.monotonic() - t0, True
        time.sleep(5)


# ---------------------------------------------------------------- processes


def copy_binaries(build, dest, rels, hint="make build"):
    """{key: copy} of BUILD/REL for each {key: REL}, copied into DEST so a
    rebuild during the run cannot mix versions.  Dies naming the first
    one missing."""
    for rel in rels.values():
        if not os.path.exists(os.path.join(build, rel)):
            die("%s missing: build first (%s)" % (os.path.join(build, rel), hint))
    os.makedirs(dest, exist_ok=True)
    out = {}
    for key, rel in rels.items():
        out[key] = os.path.join(dest, os.path.basename(rel))
        shutil.copy2(os.path.join(build, rel), out[key])
    return out


class DaemonError(BenchError):
    """pvschedd did not start: EXITED (its exit status, or None: it did not
    answer), LAST (the last line of its log)."""

    def __init__(self, msg, exited=None, last=""):
        super().__init__(msg)
        self.exited, self.last = exited, last


class Daemon:
    """A pvschedd of the benchmark's own, never the machine's: its config,
    control socket, region_dir and journal in DIR; with QEMU_COMM a name no
    process can have (longer than a comm), so no QEMU of someone else's test
    is touched.  stop() lets it exit cleanly (it puts back every thread it
    changed)."""

    def __init__(self, pvschedd, pvschedctl, dir, qemu_comm=None):
        self.exe, self.ctl_exe, self.dir = pvschedd, pvschedctl, dir
        self.sock = os.path.join(dir, "control.sock")
        self.journal = os.path.join(dir, "journal")
        self.qemu_comm = qemu_comm
        self.proc = None
        self.log_path = None

    @property
    def pid(self):
        return self.proc.pid

    def write_conf(self, lines=(), vms=(), name="pvschedd.conf"):
        """[daemon] with its own socket, region_dir, journal (qemu_comm) and
        LINES ("key = value"); then a [vm NAME] section for each (NAME,
        [lines]) of VMS.  Returns the path."""
        text = ["[daemon]", "socket = %s" % self.sock, "region_dir = %s" % self.dir,
                "journal = %s" % self.journal]
        if self.qemu_comm:
            text.append("qemu_comm = %s" % self.qemu_comm)
        text += list(lines)
        for vm, keys in vms:
            text += ["", "[vm %s]" % vm] + list(keys)
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("\n".join(text) + "\n")
        return path

    def start(self, conf, args=(), log_path=None, append=False, timeout=10):
        """Start it on CONF (its output to LOG_PATH) and wait until it
        answers `pvschedctl status`; DaemonError if it exits first or does
        not answer within TIMEOUT s."""
        self.log_path = log_path or os.path.join(self.dir, "pvschedd.log")
        try:
            os.unlink(self.sock)  # the last daemon's
        except OSError:
            pass
        with open(self.log_path, "a" if append else "w") as lf:
            self.proc = subprocess.Popen([self.exe] + list(args) + ["-c", conf], stdout=lf,
                                         stderr=subprocess.STDOUT)
        end = time.monotonic() + timeout
        while True:
            if os.path.exists(self.sock) and self.status() is not None:
                return
            if self.proc.poll() is not None:
                rc, self.proc = self.proc.returncode, None
                lines = self.read_log().strip().splitlines()
                last = lines[-1] if lines else "pvschedd exited"
                raise DaemonError("pvschedd exited with status %d: %s" % (rc, last), rc, last)
            if time.monotonic() > end:  # still running: the caller stop()s it
                raise DaemonError("pvschedd did not answer on %s within %g s" % (
                    self.sock, timeout))
            time.sleep(0.05)

    def read_log(self, tail=3000):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-tail:]
        except (OSError, TypeError):
            return ""

    def ctl(self, *args, ok=True, timeout=20):
        """pvschedctl -s SOCK ARGS; BenchError when OK and it fails."""
        r = subprocess.run([self.ctl_exe, "-s", self.sock] + list(args), capture_output=True,
                           text=True, timeout=timeout)
        if ok and r.returncode != 0:
            raise BenchError("pvschedctl %s failed (%d): %s%s" % (
                " ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def status(self, timeout=20):
        """`pvschedctl status --json`, None when it does not answer."""
        try:
            r = self.ctl("status", "--json", ok=None, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def vm(self, name, st=None):
        """VM NAME's entry in the status (ST, or asked now), or None."""
        for v in (st if st is not None else self.status() or {}).get("vms", []):
            if v.get("name") == name:
                return v
        return None

    def stop(self, wait_s=10, tries=1, kill=True):
        """SIGTERM (its clean exit restores every thread it changed), up to
        TRIES times WAIT_S s; then, with KILL, SIGKILL and `pvschedctl reset
        --journal` (what its journal lists, put back without it).  False
        when it is still running (not KILL)."""
        p = self.proc
        if p is None or p.poll() is not None:
            self.proc = None
            return True
        for _ in range(tries):
            p.terminate()
            try:
                p.wait(wait_s)
                self.proc = None
                return True
            except subprocess.TimeoutExpired:
                pass
        if not kill:
            return False
        p.kill()
        p.wait()
        self.proc = None
        subprocess.run([self.ctl_exe, "reset", "--journal", self.journal], capture_output=True)
        return True


# A CPU hog: one busy shell loop, SCHED_OTHER, not pinned.
HOG = ["sh", "-c", "while :; do :; done"]


def start_hogs(n=None, **popen):
    """N hogs (default: one per CPU)."""
    return [subprocess.Popen(HOG, **popen) for _ in range(n or os.cpu_count() or 1)]


def kill_all(procs, wait_s=10):
    """SIGKILL each of PROCS still running and reap it (our children:
    workloads, hogs, cyclictest; never pvschedd, which must exit cleanly
    to put back what it changed)."""
    for p in procs:
        if p.poll() is None:
            p.kill()
        try:
            p.wait(wait_s)
        except subprocess.TimeoutExpired:
            pass


def low_slack():
    """1 ns timer slack (PR_SET_TIMERSLACK) for this process; as a
    preexec_fn, for a child (inherited by exec).  Without it a SCHED_OTHER
    sleeper's timer fires up to 50 us late by design."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(29, ctypes.c_ulong(1), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def ensure_tool(cmd, package, required=True):
    """COMMAND on the PATH, else Debian's PACKAGE installed through
    scripts/install-deps.sh; dies when REQUIRED and it is still missing."""
    if shutil.which(cmd):
        return True
    log("%s: %s not found: installing Debian's %s (scripts/install-deps.sh %s)" % (
        NAME, cmd, package, package))
    r = subprocess.run([os.path.join(ROOT, "scripts", "install-deps.sh"), package])
    if r.returncode == 0 and shutil.which(cmd):
        return True
    if required:
        die("%s (Debian package %s) is needed: apt-get install %s" % (cmd, package, package))
    return False


# The host's cyclictest during a guest run: one SCHED_OTHER thread (no -p),
# 1 ms interval, a 1 us histogram up to CT_HIST us.
CT_HIST = 20000


def host_cyclictest(seconds, json_path):
    return subprocess.Popen(["cyclictest", "-t1", "-i", "1000", "-q", "-m", "-D", str(seconds),
                             "-h", str(CT_HIST), "--histfile=/dev/null", "--json=" + json_path],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=low_slack)


def cyclictest_cleanup(p):
    """cyclictest leaves its shared-memory stats file behind."""
    try:
        os.unlink("/dev/shm/cyclictest%d" % p.pid)
    except OSError:
        pass


def cyclictest_stats(threads, hist_us):
    """avg (weighted by cycles), p99 (nearest rank over the merged
    histogram), max over the "thread" entries of a cyclictest JSON;
    overflows = cycles beyond the histogram.  A p99 among them is reported
    as the histogram's end, p99_overflow.  None without cycles."""
    merged, cycles, wsum, mx, over = {}, 0, 0.0, 0, 0
    per = []
    for key in sorted(threads, key=int):
        th = threads[key]
        h = {int(k): int(v) for k, v in th.get("histogram", {}).items()}
        c = int(th.get("cycles", 0))
        o = max(0, c - sum(h.values()))
        for k, v in h.items():
            merged[k] = merged.get(k, 0) + v
        cycles += c
        wsum += float(th.get("avg", 0.0)) * c
        mx = max(mx, int(th.get("max", 0)))
        over += o
        per.append({"thread": int(key), "cycles": c, "avg_us": float(th.get("avg", 0.0)),
                    "min_us": int(th.get("min", 0)), "max_us": int(th.get("max", 0)),
                    "cpu": th.get("cpu"), "overflows": o})
    if not cycles:
        return None
    p99 = nearest_rank(sorted(merged.items()), 99, cycles)
    p99_over = p99 is None
    if p99_over:  # in the overflow: at least the histogram's end
        p99 = hist_us
    return {"avg_us": round(wsum / cycles, 2), "p99_us": float(p99), "max_us": float(mx),
            "cycles": cycles, "overflows": over, "p99_overflow": p99_over, "threads": per}


def cyclictest_json(path, hist_us=CT_HIST):
    """cyclictest_stats() of the JSON file cyclictest --json wrote, None if
    it is missing or unreadable."""
    try:
        with open(path) as f:
            return cyclictest_stats(json.load(f)["thread"], hist_us)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cpu_cgroup_root():
    """(mount point, v1?) of the cpu controller: cgroup v2 if it has cpu,
    else the v1 cpu hierarchy."""
    v1 = v2 = None
    with open("/proc/self/mountinfo") as f:
        for ln in f:
            pre, _, post = ln.partition(" - ")
            w, p = pre.split(), post.split()
            if len(p) >= 3 and p[0] == "cgroup" and "cpu" in p[2].split(",") and not v1:
                v1 = w[4]
            elif len(p) >= 3 and p[0] == "cgroup2" and not v2:
                v2 = w[4]
    if v2:
        try:
            with open(os.path.join(v2, "cgroup.controllers")) as f:
                if "cpu" in f.read().split():
                    return v2, False
        except OSError:
            pass
    if v1:
        return v1, True
    raise BenchError("cgshares: no cgroup cpu controller on this host")


def make_cgroup(name, rel, total_rel):
    """A cgroup NAME under the cpu controller's root with relative CPU
    weight REL (cpu.shares 1024 x REL on v1, cpu.weight 100 x REL on v2);
    on v1 with RT group scheduling RT time in proportion, REL / TOTAL_REL
    of the root's 95 % (a cgroup's RT throttling would otherwise cap a
    gang's share: measured, 400 ms/s each gave A/B 0.86 under gang)."""
    root, v1 = cpu_cgroup_root()
    path = os.path.join(root, name)
    os.mkdir(path)
    with open(os.path.join(path, "cpu.shares" if v1 else "cpu.weight"), "w") as f:
        f.write(str(int(rel * (1024 if v1 else 100))))
    rt = os.path.join(path, "cpu.rt_runtime_us")
    if os.path.exists(rt):
        with open(rt, "w") as f:
            f.write(str(int(950000 * rel / total_rel)))
    return path


def cgroup_of(pid):
    """The directory of PID's cgroup in the cpu controller's hierarchy."""
    root, v1 = cpu_cgroup_root()
    with open("/proc/%d/cgroup" % pid) as f:
        for ln in f:
            _, ctl, path = ln.rstrip("\n").split(":", 2)
            if (v1 and "cpu" in ctl.split(",")) or (not v1 and ctl == ""):
                return os.path.join(root, path.lstrip("/"))
    return root


def move_to_cgroup(path, pid):
    with open(os.path.join(path, "cgroup.procs"), "w") as f:
        f.write(str(pid))


def remove_cgroup(path):
    try:
        os.rmdir(path)  # its processes were stopped or moved out
    except OSError as e:
        log_err("cgshares: could not remove %s: %s" % (path, e))


# ---------------------------------------------------------------- output


def write_json(path, doc, indent=1, sort_keys=True):
    """PATH written whole or not at all (a temporary file renamed)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f, indent=indent, sort_keys=sort_keys)
        f.write("\n")
    os.replace(path + ".tmp", path)


def save(doc, outdir, name, quick=False, plot=None):
    """The result DOC as OUTDIR/NAME, then PLOT() (its figure); nothing
    with QUICK (a smoke run)."""
    if quick:
        log("--quick: nothing written")
        return
    path = os.path.join(outdir, name)
    write_json(path, doc)
    log("wrote " + path)
    if plot:
        plot()


def have_gnuplot():
    if shutil.which("gnuplot"):
        return True
    log("gnuplot not found: no plot (scripts/install-deps.sh gnuplot-nox)")
    return False


def gnuplot(script, svg, *remove):
    """Run gnuplot on SCRIPT, which writes SVG; the files in REMOVE (its
    data) are removed after it.  Says what it did; True if it worked."""
    try:
        r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
        err = r.stderr.strip() if r.returncode != 0 else None
    except OSError as e:
        err = str(e)
    for path in remove:
        try:
            os.unlink(path)
        except OSError:
            pass
    if err is not None:
        log("gnuplot failed on %s: %s" % (os.path.basename(svg), err))
        return False
    log("wrote " + svg)
    return True


def machine(**extra):
    """The "machine" entry of a result: CPUs, kernel, date (UTC)."""
    m = {"cpus": os.cpu_count(), "kernel": os.uname().release,
         "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    m.update(extra)
    return m


def goal_text(g, unknown="n/a"):
    """(value, verdict) of a goal {"value", "met"} for a table; UNKNOWN:
    the verdict when there is none."""
    v = "n/a" if g["value"] is None else "%.3f" % g["value"]
    met = unknown if g["met"] is None else ("met" if g["met"] else "NOT MET")
    return v, met

