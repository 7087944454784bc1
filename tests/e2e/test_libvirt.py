#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/e2e/test_libvirt.py BUILDDIR - a libvirt domain with the pvsched
device, found by pvschedd, its guest reading its region.

libvirt comes from Debian (libvirt-daemon, libvirt-daemon-driver-qemu,
libvirt-clients; scripts/install-deps.sh installs them for make check).  On
a machine without systemd nothing runs libvirtd: the test starts virtlogd
and libvirtd itself when they are not running, and stops only what it
started.  libvirt's QEMU driver refuses to start without the user and group
"libvirt-qemu" (Debian's libvirt-daemon-system creates them): the test
creates what is missing and removes what it created.  It defines a TCG
domain that boots the end-to-end image directly (its /init runs
guest_probe, which reads the region and prints what it sees on the serial
console, a file here, then powers off) with the documented device:

    <shmem name='pvsched-NAME' role='master'>
      <model type='ivshmem-plain'/>
      <size unit='M'>1</size>
    </shmem>

and checks: pvschedd finds the domain (its name from libvirt's
-name guest=NAME, its region from the JSON -object), publishes to
/dev/shm/pvsched-NAME, reports it migratable (role='master' is master=on);
the guest reads its region alive with both vCPUs; libvirt's migration path
works on one host: `virsh save` (a migration into a file, which QEMU refuses
in peer mode) then `virsh restore` (a new QEMU started with -incoming
defer): pvschedd waits for the restored guest to run, adopts its region
under a new host_instance, and the guest goes on reading it alive; after
the guest powers off
and the domain is undefined, pvschedd drops it and the machine is as the
test found it: no domain, no region file, no daemon, user, group or
directory of the test's left behind.

The domain's emulator is a symlink to qemu-system-x86_64 under a name of
its own, and pvschedd's qemu_comm is exactly that name: no other QEMU on
the machine is touched.  Exit 0 when all hold, 1 otherwise; never skips.
"""
import grp
import os
import pwd
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pvsguest import Check, GuestRig, RigError  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
URI = "qemu:///system"
SOCK = "/var/run/libvirt/libvirt-sock"
# what libvirtd and virtlogd create when they first start: removed again
# when the test started them and they did not exist before
STATE_DIRS = ["/var/run/libvirt", "/var/lib/libvirt", "/var/cache/libvirt", "/var/log/libvirt",
              "/etc/libvirt/qemu", "/etc/libvirt/nwfilter", "/etc/libvirt/secrets",
              "/etc/libvirt/storage", "/etc/libvirt/network"]

DOMAIN = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 quiet loglevel=3 panic=-1 pvs_duration=25 pvs_interval=250</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>{emulator}</emulator>
    <serial type='file'>
      <source path='{serial}' append='on'/>
      <target port='0'/>
    </serial>
    <shmem name='pvsched-{name}' role='master'>
      <model type='ivshmem-plain'/>
      <size unit='M'>1</size>
    </shmem>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def log(msg):
    print(f"test_libvirt: {msg}", file=sys.stderr, flush=True)


def running(comm):
    return subprocess.run(["pgrep", "-x", comm], capture_output=True).returncode == 0


def virsh(*args, ok=True, timeout=60):
    r = subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True,
                       timeout=timeout)
    if ok and r.returncode != 0:
        raise RigError(f"virsh {' '.join(args)}: {r.stderr.strip() or r.stdout.strip()}")
    return r


class Machine:
    """What the test changes on the machine, and undoes."""

    def __init__(self):
        self.started = []  # (name, pid)
        self.users, self.groups = [], []
        self.dirs_before = {d for d in STATE_DIRS if os.path.exists(d)}

    def ensure_packages(self):
        if shutil.which("virsh") and shutil.which("libvirtd") and shutil.which("virtlogd"):
            return
        r = subprocess.run([os.path.join(ROOT, "scripts", "install-deps.sh"),
                            "libvirt-daemon", "libvirt-daemon-driver-qemu", "libvirt-clients"])
        if r.returncode != 0 or not shutil.which("virsh"):
            raise RigError("libvirt is not installed and install-deps.sh could not install it")

    def ensure_identity(self):
        try:
            grp.getgrnam("libvirt-qemu")
        except KeyError:
            subprocess.run(["groupadd", "--system", "libvirt-qemu"], check=True)
            self.groups.append("libvirt-qemu")
        try:
            pwd.getpwnam("libvirt-qemu")
        except KeyError:
            subprocess.run(["useradd", "--system", "--gid", "libvirt-qemu", "--no-create-home",
                            "--home-dir", "/var/lib/libvirt", "--shell", "/usr/sbin/nologin",
                            "libvirt-qemu"], check=True)
            self.users.append("libvirt-qemu")

    def ensure_daemons(self):
        os.makedirs("/var/log/libvirt", exist_ok=True)  # both log there
        for comm in ("virtlogd", "libvirtd"):
            if running(comm):
                log(f"{comm} already running: used as it is")
                continue
            subprocess.run([comm, "-d"], check=True)
            end = time.monotonic() + 10
            pid = None
            while time.monotonic() < end and pid is None:
                r = subprocess.run(["pgrep", "-x", comm], capture_output=True, text=True)
                pid = int(r.stdout.split()[0]) if r.returncode == 0 else None
                time.sleep(0.1)
            if pid is None:
                raise RigError(f"{comm} -d did not stay up (see /var/log/libvirt/{comm}.log)")
            self.started.append((comm, pid))
            log(f"started {comm} (pid {pid})")
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if os.path.exists(SOCK) and virsh("version", ok=False).returncode == 0:
                return
            time.sleep(0.2)
        raise RigError(f"libvirtd does not answer on {SOCK}: "
                       + open("/var/log/libvirt/libvirtd.log", errors="replace").read()[-1500:])

    def restore(self):
        for comm, pid in reversed(self.started):
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                continue
            end = time.monotonic() + 10
            while time.monotonic() < end and os.path.exists(f"/proc/{pid}"):
                time.sleep(0.1)
            log(f"stopped {comm} (pid {pid})")
        if self.started:
            for d in STATE_DIRS:
                if d not in self.dirs_before and os.path.exists(d):
                    shutil.rmtree(d, ignore_errors=True)
        for u in self.users:
            subprocess.run(["userdel", u])
        for g in self.groups:
            try:
                grp.getgrnam(g)  # userdel may have removed it with the user
            except KeyError:
                continue
            subprocess.run(["groupdel", g])


def run(rig, check, machine):
    machine.ensure_packages()
    rig.build_image()
    # QEMU may run as libvirt-qemu: everything it opens must be reachable
    os.chmod(rig.tmp, 0o755)
    for p in (os.path.dirname(rig.kernel), rig.kernel, rig.initrd):
        os.chmod(p, 0o755 if os.path.isdir(p) else 0o644)
    bindir = os.path.join(rig.tmp, "bin")
    os.makedirs(bindir, exist_ok=True)
    emulator = os.path.join(bindir, rig.comm)
    os.symlink(rig.qemu_bin, emulator)
    region = f"/dev/shm/pvsched-{rig.name}"
    rig.regions.append(region)  # removed by rig.close() if left behind
    serial = os.path.join(rig.tmp, "serial.log")

    machine.ensure_identity()
    machine.ensure_daemons()
    rig.start_daemon()
    xml = os.path.join(rig.tmp, "domain.xml")
    with open(xml, "w") as f:
        f.write(DOMAIN.format(name=rig.name, kernel=rig.kernel, initrd=rig.initrd,
                              emulator=emulator, serial=serial))
    virsh("define", xml)
    rig.defined = True
    virsh("start", rig.name)
    t0 = time.monotonic()

    vm = None
    while time.monotonic() - t0 < 60:
        vm = rig.status()
        if vm and vm.get("region_ok") and len(vm.get("vcpus", [])) == 2:
            break
        time.sleep(0.2)
    check(vm is not None and vm.get("region_ok") and vm.get("kind") == "qemu" and
          vm.get("region") == region,
          f"pvschedd finds domain {rig.name} and publishes to {region}: "
          f"{vm and {k: vm.get(k) for k in ('kind', 'region', 'region_ok')}}")
    check(vm is not None and len(vm.get("vcpus", [])) == 2 and
          all(v.get("tid") for v in vm["vcpus"]),
          f"both vCPU threads found: {vm and [v.get('tid') for v in vm['vcpus']]}")
    check(vm is not None and vm.get("migratable") is True,
          f"role='master' reads as migratable: {vm and vm.get('migratable')}")
    cmd = open(f"/proc/{vm['pid']}/cmdline", "rb").read().split(b"\0") if vm else []
    log("QEMU ivshmem arguments: " + " ".join(
        a.decode() for a in cmd if b"ivshmem" in a or b"pvsched" in a))
    if vm:
        st, qst = os.stat(region), os.stat(f"/proc/{vm['pid']}")
        log(f"QEMU runs as uid {qst.st_uid}; {region}: uid {st.st_uid} gid {st.st_gid} "
            f"mode {st.st_mode & 0o7777:o}")

    # libvirt's migration path, on one host: virsh save migrates the running
    # guest into a file (QEMU refuses in peer mode), virsh restore starts a
    # new QEMU with -incoming defer and streams it back
    def alive_lines():
        t = open(serial, errors="replace").read() if os.path.exists(serial) else ""
        return [l for l in t.splitlines() if l.startswith("PVS t_ms=") and " alive=1 rc=0 " in l]

    end = time.monotonic() + 60
    while time.monotonic() < end and len(alive_lines()) < 4:
        time.sleep(0.25)
    inst0 = rig.region_header(region)[3]
    saved = os.path.join(rig.tmp, "domain.save")
    r = virsh("save", rig.name, saved, ok=False, timeout=120)
    check(r.returncode == 0, f"virsh save (a migration to a file) works with role='master': "
          f"{(r.stderr or r.stdout).strip()}")
    n_before = len(alive_lines())
    pid0 = vm["pid"] if vm else 0
    gone = None
    end = time.monotonic() + 15
    while time.monotonic() < end and not gone:
        gone = rig.status() is None
        time.sleep(0.2)
    r = virsh("restore", saved, ok=False, timeout=120)
    check(r.returncode == 0, f"virsh restore: {(r.stderr or r.stdout).strip()}")
    vm2 = None
    end = time.monotonic() + 30
    while time.monotonic() < end:
        vm2 = rig.status()
        if vm2 and vm2.get("pid") != pid0 and vm2.get("region_ok") and not vm2.get("incoming"):
            break
        time.sleep(0.2)
    inst1 = rig.region_header(region)[3]
    with open(rig.daemon_log, errors="replace") as f:
        dlog = f.read()
    check(gone and vm2 is not None and vm2.get("region_ok") and inst1 not in (0, inst0) and
          "started with -incoming" in dlog and "adopting its region" in dlog,
          f"restored domain (libvirt's -incoming defer): pvschedd waits, then adopts the region "
          f"under a new instance ({inst0:016x} -> {inst1:016x})")
    if os.path.exists(saved):
        os.unlink(saved)

    # the guest's verdict: alive samples, before and after, then it powers off
    end = time.monotonic() + 120
    text = ""
    while time.monotonic() < end:
        text = open(serial, errors="replace").read() if os.path.exists(serial) else ""
        if "PVS exit" in text:
            break
        time.sleep(0.5)
    samples = [l for l in text.splitlines() if l.startswith("PVS t_ms=")]
    alive = [l for l in samples if " alive=1 rc=0 " in l and " nr_vcpus=2 " in l]
    check("PVS exit rc=0" in text and len(alive) >= len(samples) // 2 and alive,
          f"the guest reads its region: {len(alive)} of {len(samples)} samples alive "
          f"({(text.splitlines() or ['no output'])[-1]})")
    check(len(alive) > n_before, f"and after the restore: {len(alive) - n_before} more alive "
          "samples")
    if not alive:
        print("\n".join(text.splitlines()[-20:]))

    # gone: the domain ends (on_poweroff destroy), then is undefined
    end = time.monotonic() + 30
    while time.monotonic() < end and "running" in virsh("domstate", rig.name, ok=False).stdout:
        time.sleep(0.2)
    virsh("destroy", rig.name, ok=False)
    virsh("undefine", rig.name)
    rig.defined = False
    gone = None
    end = time.monotonic() + 15
    while time.monotonic() < end:
        gone = rig.status() is None
        if gone:
            break
        time.sleep(0.2)
    check(gone, "pvschedd drops the domain once it is gone")
    check(virsh("dominfo", rig.name, ok=False).returncode != 0, "the domain is undefined")


def main():
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} BUILDDIR", file=sys.stderr)
        return 2
    check = Check()
    machine = Machine()
    keep = os.environ.get("PVSCHED_E2E_KEEP") == "1"
    rig = None
    try:
        rig = GuestRig(sys.argv[1], tag="pvsvirt", keep=keep)
        rig.defined = False
        try:
            run(rig, check, machine)
        except (RigError, OSError, subprocess.SubprocessError) as e:
            print(f"FAIL: {e}")
            check.failed += 1
    except RigError as e:
        print(f"FAIL: {e}")
        check.failed += 1
    finally:
        if rig is not None:
            if rig.defined:
                virsh("destroy", rig.name, ok=False)
                virsh("undefine", rig.name, ok=False)
            if check.failed:
                rig.failed = True
                print(rig.fail_context())
                for f in (f"/var/log/libvirt/qemu/{rig.name}.log",):
                    if os.path.exists(f):
                        print(f"---- {f} ----\n" + open(f, errors="replace").read()[-2000:])
            rig.close()
        machine.restore()
    left = [p for p in (f"/dev/shm/pvsched-{rig.name}",) if rig and os.path.exists(p)]
    check(not left, f"no region file left behind: {left}")
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
