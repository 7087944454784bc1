# SPDX-License-Identifier: MIT
"""tests/e2e/pvsguest.py - a real QEMU guest, pvschedd beside it, and the
guest's shell over the serial console: the parts the guest-driver test and
bench/guest-rt share.

    with GuestRig(builddir, workdir) as rig:
        rig.build_module()                    # pvsched.ko for the guest's kernel
        rig.build_image(module=True, bins=["/usr/bin/cyclictest"])
        rig.start_daemon(extra_conf="boost = on\\n")
        rig.boot(extra_ivshmem=[path])        # serve mode
        rc, out = rig.run("tag", "insmod /lib/modules/pvsched.ko")
        st = rig.status()                     # pvschedctl status --json
        slot = rig.region_slot(0)             # the region as the host sees it

The guest is tests/e2e/build-guest.sh's image in "serve" mode: /init reads
"run TAG COMMAND" lines from the console and answers "PVS out tag=TAG ..."
lines and "PVS end tag=TAG rc=RC".  QEMU runs TCG with one host thread per
vCPU (-accel tcg,thread=multi) under a process name of its own, a symlink
to the binary, and pvschedd discovers only that name: no other pvschedd on
the machine touches our region, and ours leaves other QEMUs alone.  Every
process started here is stopped by close(), the region files removed.
"""
import json
import mmap
import socket
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD_GUEST = os.path.join(HERE, "build-guest.sh")
BUILD_MODULE = os.path.join(HERE, "build-module.sh")
MODULE_SRC = os.path.join(ROOT, "guest", "linux")

BOOT_TIMEOUT = 120


class RigError(Exception):
    pass


def log(msg):
    print(f"pvsguest: {msg}", file=sys.stderr, flush=True)


def stop(proc, secs=5.0):
    """SIGTERM, wait, SIGKILL one child we started (never anything else)."""
    if proc is None:
        return
    if proc.poll() is not None:
        proc.wait()
        return
    try:
        proc.terminate()
        proc.wait(timeout=secs)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except ProcessLookupError:
        pass


class Serial:
    """Reads QEMU's serial console (its stdout) in a thread; every line is
    kept with the host time it arrived and appended to a log file."""

    def __init__(self, proc, path):
        self.proc = proc
        self.lines = []
        self.cond = threading.Condition()
        self.eof = False
        self.logf = open(path, "w", buffering=1)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n").replace("\r", "")
            now = time.monotonic()
            self.logf.write(f"{now:.3f} {line}\n")
            with self.cond:
                self.lines.append((now, line))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def wait_for(self, pred, timeout, start=0):
        """Index of the first line from `start` on that satisfies pred."""
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    if pred(self.lines[i][1]):
                        return i
                    i += 1
                if self.eof:
                    raise RigError("QEMU exited (serial console closed)")
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def send(self, text):
        self.proc.stdin.write((text + "\n").encode())
        self.proc.stdin.flush()

    def tail(self, n=30):
        with self.cond:
            return [l for _, l in self.lines[-n:]]


class Check:
    """The tests' verdicts: check(ok, what) prints "ok: what" or "FAIL: what"
    and counts the failures."""

    def __init__(self):
        self.failed = 0

    def __call__(self, ok, what):
        print(f"{'ok' if ok else 'FAIL'}: {what}", flush=True)
        if not ok:
            self.failed += 1
        return ok


def poll(fn, pred, timeout, step=0.1):
    """Call FN until PRED holds for its value or TIMEOUT seconds pass;
    returns the last value."""
    end = time.monotonic() + timeout
    v = fn()
    while not pred(v) and time.monotonic() < end:
        time.sleep(step)
        v = fn()
    return v


def run_test(tag, fn, cleanup=None):
    """The main() of a test with one guest: BUILDDIR from argv, a GuestRig
    tagged TAG, fn(rig, check); CLEANUP() runs however fn ends.  Returns the
    exit status: 0 when every check held, 1 otherwise, 2 for bad usage.
    PVSCHED_E2E_KEEP=1 keeps the rig's files (logs, image)."""
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} BUILDDIR", file=sys.stderr)
        return 2
    check = Check()
    keep = os.environ.get("PVSCHED_E2E_KEEP") == "1"
    try:
        with GuestRig(sys.argv[1], tag=tag, keep=keep) as rig:
            try:
                rc = fn(rig, check)
            except RigError as e:
                print(f"FAIL: {e}")
                print(rig.fail_context())
                rig.failed = True
                return 1
            finally:
                if cleanup:
                    cleanup()
            if check.failed:
                rig.failed = True
                print(rig.fail_context())
            return rc if rc else (1 if check.failed else 0)
    except RigError as e:
        print(f"FAIL: {e}")
        return 1


class QMP:
    """A QEMU monitor (QMP) client on a unix socket: one command at a time;
    events arriving in between are skipped."""

    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise RigError(f"QMP socket {path} did not accept within {timeout}s")
                time.sleep(0.1)
        self.sock.settimeout(timeout)
        self.f = self.sock.makefile("rw")
        greeting = json.loads(self.f.readline())
        if "QMP" not in greeting:
            raise RigError(f"not a QMP greeting: {greeting}")
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        """Run NAME; returns its "return" value, raises RigError on "error"."""
        self.f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            line = self.f.readline()
            if not line:
                raise RigError(f"QMP closed during {name}")
            r = json.loads(line)
            if "return" in r:
                return r["return"]
            if "error" in r:
                raise RigError(f"QMP {name}: {r['error'].get('desc', r['error'])}")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# Region layout (include/pvsched/abi.h, ABI 1.4): offsets the host reads.
HDR_FMT = "<QHHIQQIIIIIIII"  # magic .. reserved0 (64 bytes)
PVSCHED_MAGIC = 0x0044454843535650
SLOT_GUEST = 128


class GuestRig:
    def __init__(self, builddir, workdir=None, tag="pvsg", keep=False):
        self.builddir = os.path.abspath(builddir)
        self.keep = keep
        self.own_tmp = workdir is None
        self.tmp = workdir or tempfile.mkdtemp(prefix=f"pvsched-{tag}.", dir="/dev/shm")
        os.makedirs(self.tmp, exist_ok=True)
        self.tag = tag
        # QEMU runs under this process name, the VM is named after it, and
        # our pvschedd discovers only it (qemu_comm)
        self.comm = f"{tag}-{os.getpid()}"[:15]  # the kernel truncates comm
        self.name = self.comm
        self.sock = os.path.join(self.tmp, "control.sock")
        self.daemon = None
        self.qemu = None
        self.serial = None
        self.regions = []
        self.failed = False
        self.pvschedd = os.path.join(self.builddir, "daemon", "pvschedd")
        self.pvschedctl = os.path.join(self.builddir, "tools", "pvschedctl")
        self.probe = os.path.join(self.builddir, "tests", "e2e", "guest_probe")
        for what, path in (("pvschedd", self.pvschedd), ("pvschedctl", self.pvschedctl),
                           ("guest_probe", self.probe)):
            if not os.access(path, os.X_OK):
                raise RigError(f"{what} not found at {path} (build first: ninja -C {builddir})")
        self.qemu_bin = shutil.which("qemu-system-x86_64")
        if not self.qemu_bin:
            raise RigError("qemu-system-x86_64 not found (apt-get install qemu-system-x86)")

    # ------------------------------------------------------------ lifecycle

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.failed = True
        self.close()
        return False

    def close(self):
        if self.qemu is not None and self.qemu.poll() is None and self.serial is not None:
            try:
                self.serial.send("quit")
                self.qemu.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        stop(self.qemu, 5)
        self.qemu = None
        stop(self.daemon, 10)
        self.daemon = None
        for r in self.regions:
            try:
                os.unlink(r)
            except FileNotFoundError:
                pass
        if self.failed or self.keep:
            log(f"logs kept in {self.tmp}")
        elif self.own_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def fail_context(self):
        """The end of the guest's console and of the daemon's log."""
        out = []
        if self.serial is not None:
            out.append("---- guest serial (last 30 lines) ----")
            out += ["  " + l for l in self.serial.tail(30)]
        dl = os.path.join(self.tmp, "pvschedd.log")
        if os.path.exists(dl):
            out.append("---- pvschedd log (last 20 lines) ----")
            with open(dl, errors="replace") as f:
                out += ["  " + l.rstrip() for l in f.readlines()[-20:]]
        return "\n".join(out)

    # ------------------------------------------------------------ building

    def _build(self, cmd, logname, failure):
        """Run a build script; its output goes to LOGNAME in the rig's
        directory (and its tail to stderr when it fails: FAILURE raised)."""
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        with open(os.path.join(self.tmp, logname), "w") as f:
            f.write(r.stdout)
        if r.returncode != 0:
            sys.stderr.write(r.stdout[-4000:])
            raise RigError(failure)

    def build_module(self):
        """pvsched.ko built against the headers of the kernel the image boots."""
        out = os.path.join(self.tmp, "module")
        self._build([BUILD_MODULE, MODULE_SRC, out], "build-module.log",
                    "tests/e2e/build-module.sh failed: the guest driver did not build")
        self.module = os.path.join(out, "pvsched.ko")
        if not os.path.isfile(self.module):
            raise RigError(f"build-module.sh left no {self.module}")
        return self.module

    def build_image(self, module=False, bins=(), args=()):
        """ARGS: further build-guest.sh options (bench/dop/qemu-vm: the
        OpenMP probe, the shim and the kernel)."""
        out = os.path.join(self.tmp, "guest")
        cmd = [BUILD_GUEST]
        if module:
            cmd += ["--module", self.module]
        for b in bins:
            cmd += ["--bin", b]
        cmd += list(args) + [out, self.probe]
        self._build(cmd, "build-guest.log", "tests/e2e/build-guest.sh failed (guest image)")
        self.kernel = os.path.join(out, "vmlinuz")
        self.initrd = os.path.join(out, "initramfs.cpio.gz")

    # ------------------------------------------------------------ host side

    def start_daemon(self, extra_conf=""):
        exe = os.path.join(self.tmp, "pvschedd")
        shutil.copy2(self.pvschedd, exe)  # a rebuild cannot swap it mid-run
        conf = os.path.join(self.tmp, "pvschedd.conf")
        with open(conf, "w") as f:
            f.write("[daemon]\nperiod_ms = 10\nrescan_ms = 500\n"
                    f"socket = {self.sock}\nregion_dir = {self.tmp}\nqemu_comm = {self.comm}\n"
                    f"journal = {self.tmp}/journal\n" + extra_conf)
        self.daemon_log = os.path.join(self.tmp, "pvschedd.log")
        with open(self.daemon_log, "a") as lf:
            self.daemon = subprocess.Popen([exe, "-f", "-c", conf], stdin=subprocess.DEVNULL,
                                           stdout=lf, stderr=subprocess.STDOUT,
                                           start_new_session=True)
        time.sleep(0.5)
        if self.daemon.poll() is not None:
            raise RigError(f"pvschedd exited at start (rc {self.daemon.returncode}): "
                           + open(self.daemon_log).read()[-2000:])

    def ctl(self, *args, timeout=10):
        r = subprocess.run([self.pvschedctl, "-s", self.sock, *args], capture_output=True,
                           text=True, timeout=timeout)
        return r.returncode, r.stdout, r.stderr

    def status(self):
        """This VM's entry of pvschedctl status --json (None if not known yet).
        A read is idempotent: one whose connection broke (pvschedctl starved
        past pvschedd's 2 s client timeout on a host the guests overload,
        seen under spread in bench/cosched) is asked again, twice at most."""
        for attempt in range(3):
            rc, out, err = self.ctl("status", "--json")
            if rc == 0 or not any(w in err for w in ("write to", "read from")):
                break
            print(f"pvsguest: pvschedctl status: {err.strip()}; asking again",
                  file=sys.stderr, flush=True)
            time.sleep(0.1)
        if rc != 0:
            raise RigError(f"pvschedctl status failed: {err.strip()}")
        for vm in json.loads(out).get("vms", []):
            if vm.get("name") == self.name:
                return vm
        return None

    def sibling(self, name):
        """A second guest for the same pvschedd (same image, process name,
        socket and region directory), called NAME; boot() it like this
        one.  Its close() stops its own QEMU only."""
        s = GuestRig.__new__(GuestRig)
        s.__dict__.update({k: v for k, v in self.__dict__.items()
                           if k in ("builddir", "tmp", "tag", "pvschedd", "pvschedctl", "probe",
                                    "qemu_bin", "comm", "sock", "kernel", "initrd",
                                    "daemon_log")})
        s.keep, s.own_tmp, s.failed = self.keep, False, False
        s.daemon = s.qemu = s.serial = None
        s.regions = []
        s.name = name
        return s

    # ------------------------------------------------------------ guest

    def boot(self, extra_ivshmem=(), smp=2, append="", incoming=None, doorbell=False):
        """Boot in serve mode.  EXTRA_IVSHMEM: files for further
        ivshmem-plain devices, placed *before* the pvsched device on the
        PCI bus (a driver must not take the first 1af4:1110 it sees).
        INCOMING: a migration URI: QEMU waits for the guest to arrive there
        (-incoming) instead of booting it.  DOORBELL: the pvsched device is
        an ivshmem-doorbell served by our pvschedd (its ivshmem.sock beside
        the control socket; start_daemon() first), which creates the region
        and passes it to QEMU.  QMP listens on self.qmp_path."""
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir, exist_ok=True)
        qemu = os.path.join(bindir, self.comm)
        if not os.path.exists(qemu):
            os.symlink(self.qemu_bin, qemu)
        self.region = os.path.join(self.tmp, f"pvsched-{self.name}")
        self.regions.append(self.region)
        sfx = "" if self.name == self.comm else f"-{self.name}"  # a sibling()
        cmd = [qemu, "-accel", "tcg,thread=multi", "-smp", str(smp), "-m", "256M",
               "-name", f"{self.name},debug-threads=on", "-nographic", "-no-reboot",
               "-net", "none", "-kernel", self.kernel, "-initrd", self.initrd,
               "-append", f"console=ttyS0 quiet loglevel=3 panic=-1 pvs_mode=serve {append}".strip()]
        for k, path in enumerate(extra_ivshmem):
            cmd += ["-object", f"memory-backend-file,id=other{k},share=on,mem-path={path},size=1M",
                    "-device", f"ivshmem-plain,memdev=other{k},master=on"]
        if doorbell:
            self.ivshmem_sock = os.path.join(os.path.dirname(self.sock), "ivshmem.sock")
            cmd += ["-chardev", f"socket,path={self.ivshmem_sock},id=pvsdb",
                    "-device", "ivshmem-doorbell,chardev=pvsdb,vectors=1,master=on"]
        else:
            cmd += ["-object",
                    f"memory-backend-file,id=pvs,share=on,mem-path={self.region},size=1M",
                    "-device", "ivshmem-plain,memdev=pvs,master=on"]
        self.qmp_path = os.path.join(self.tmp, f"qmp{sfx}.sock")
        cmd += ["-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        if incoming:
            cmd += ["-incoming", incoming]
        with open(os.path.join(self.tmp, f"qemu{sfx}.cmd"), "w") as f:
            f.write(" ".join(cmd) + "\n")
        t0 = time.monotonic()
        self.qemu = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.serial = Serial(self.qemu, os.path.join(self.tmp, f"serial{sfx}.log"))
        if incoming:
            log(f"QEMU pid {self.qemu.pid} waits for the guest at {incoming}")
            return 0.0
        i = self.serial.wait_for(lambda l: l.startswith("PVS serve ready"), BOOT_TIMEOUT)
        if i is None:
            raise RigError(f"guest did not reach serve mode within {BOOT_TIMEOUT}s")
        self.boot_s = self.serial.lines[i][0] - t0
        log(f"guest up after {self.boot_s:.1f}s (QEMU pid {self.qemu.pid}, region {self.region})")
        return self.boot_s

    def run(self, tag, command, timeout=120):
        """Run COMMAND in the guest's shell; returns (rc, [output lines])."""
        start = len(self.serial.lines)
        self.serial.send(f"run {tag} {command}")
        i = self.serial.wait_for(lambda l: l.startswith(f"PVS end tag={tag} "), timeout, start)
        if i is None:
            raise RigError(f"guest command {tag} did not finish within {timeout}s: {command}")
        out = []
        prefix = f"PVS out tag={tag} "
        for _, l in self.serial.lines[start:i]:
            if l.startswith(prefix):
                out.append(l[len(prefix):])
        rc = int(self.serial.lines[i][1].rsplit("rc=", 1)[1])
        return rc, out

    def wait_vm(self, timeout=20):
        """Wait until pvschedd publishes to our region with every vCPU known."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            vm = self.status()
            if vm and vm.get("region_ok") and len(vm.get("vcpus", [])) >= 1 and \
                    all(v.get("tid") for v in vm["vcpus"]):
                return vm
            time.sleep(0.2)
        raise RigError(f"pvschedd did not find VM {self.name} within {timeout}s")

    # ------------------------------------------------------------ the region

    def region_header(self, path=None):
        """(magic_ok, host_state, heartbeat, host_instance) of a region
        (ours by default), read from the file as the host sees it."""
        with open(path or self.region, "rb") as f:
            m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
            try:
                magic = struct.unpack_from("<Q", m, 0)[0]
                state = struct.unpack_from("<I", m, 64)[0]
                hb = struct.unpack_from("<Q", m, 72)[0]
                inst = struct.unpack_from("<Q", m, 88)[0]
            finally:
                m.close()
        return magic == PVSCHED_MAGIC, state, hb, inst

    def region_slot(self, index):
        """The guest part of vCPU slot INDEX, read from the region file:
        boost_req, boost_seq, wake_at_ns, wake_len_us, kreq, kwake_at_ns,
        kwake_len_us."""
        with open(self.region, "rb") as f:
            m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
            try:
                hdr = struct.unpack_from(HDR_FMT, m, 0)
                vcpu_offset, vcpu_stride = hdr[10], hdr[11]
                base = vcpu_offset + index * vcpu_stride + SLOT_GUEST
                req, seq, wake, wlen, kreq, kwake, klen = struct.unpack_from("<IIQIIQI", m, base)
                gen = struct.unpack_from("<I", m, 204)[0]
                feat = struct.unpack_from("<Q", m, 192)[0]
            finally:
                m.close()
        return {"boost_req": req, "boost_seq": seq, "wake_at_ns": wake, "wake_len_us": wlen,
                "kreq": kreq, "kwake_at_ns": kwake, "kwake_len_us": klen, "boost_gen": gen,
                "guest_features": feat}

    # ------------------------------------------------------------ host threads

    @staticmethod
    def thread_policy(tid):
        """(policy, rt_priority) of a host thread, from /proc/TID/stat."""
        with open(f"/proc/{tid}/stat") as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        # fields[0] is field 3 (state); rt_priority is field 40, policy 41
        return int(fields[38]), int(fields[37])
