#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A fake QEMU with an ivshmem-doorbell device, for test_doorbell.py.

Run through a symlink to python3 whose name matches pvschedd's qemu_comm
(a process's name is the name it was executed by), with QEMU's -name on
the command line:

    LINK dbclient.py SOCKET MODE -name guest=NAME,debug-threads=on

It starts one thread named "CPU 0/TCG" (discovery's vCPU) and connects to
pvschedd's ivshmem server.  MODE:
  good    read the greeting as QEMU does and map the region; then obey
          commands on stdin (below);
  send    read the greeting, then send bytes (a client never sends);
  noread  connect and never read;
  drop    connect and close at once (a disconnect mid-greeting).
Prints "ready ..." when set up.  Commands (good): boost, unboost (slot 0's
boost_req as libpvsched changes it, without ringing), ring (write peer 1's
eventfd, as QEMU does when the guest writes the Doorbell register), storm
SECS (ring in a tight loop), state (print slot 0's boost_state and the
header's doorbell fields), dup (a second connection: prints "dup eof" when
the server closes it without a greeting), quit.
"""
import ctypes
import mmap
import os
import socket
import struct
import sys
import threading
import time

VCPU = 4096
GUEST = 128


def name_thread(name):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(15, name.encode(), 0, 0, 0)  # PR_SET_NAME


def vcpu():
    name_thread("CPU 0/TCG")
    while True:
        time.sleep(0.05)


def recv_msg(s):
    data, fds, _, _ = socket.recv_fds(s, 8, 1)
    if len(data) != 8:
        raise EOFError("server closed after %d bytes" % len(data))
    return struct.unpack("<q", data)[0], (fds[0] if fds else -1)


def greeting(s):
    msgs = [recv_msg(s) for _ in range(5)]
    want = [(0, False), (0, False), (-1, True), (1, True), (0, True)]
    for (v, fd), (wv, wfd) in zip(msgs, want):
        if v != wv or (fd >= 0) != wfd:
            raise ValueError("unexpected greeting %r" % msgs)
    return msgs


def say(*a):
    print(*a, flush=True)


def main():
    sock, mode = sys.argv[1], sys.argv[2]
    threading.Thread(target=vcpu, daemon=True).start()
    time.sleep(0.1)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    if mode == "drop":
        s.close()
        say("ready dropped")
    elif mode == "noread":
        say("ready connected")
    if mode in ("drop", "noread"):
        for line in sys.stdin:
            if line.strip() == "quit":
                break
        return
    msgs = greeting(s)
    shm, ring_fd = msgs[2][1], msgs[3][1]
    mem = mmap.mmap(shm, os.fstat(shm).st_size)
    if mode == "send":
        s.send(b"hello, server")
        s.settimeout(5)
        say("ready sent", "eof" if s.recv(16) == b"" else "data")
        for line in sys.stdin:
            if line.strip() == "quit":
                break
        return
    say("ready id=%d size=%d" % (msgs[1][0], len(mem)))

    def add(off, d):
        v = struct.unpack_from("<I", mem, off)[0]
        struct.pack_into("<I", mem, off, (v + d) & 0xffffffff)

    def changed():
        add(VCPU + GUEST + 4, 1)  # boost_seq
        add(204, 1)  # boost_gen

    def ring():
        os.write(ring_fd, struct.pack("<Q", 1))

    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "boost":
            add(VCPU + GUEST, 1)
            changed()
            say("ok")
        elif cmd[0] == "unboost":
            add(VCPU + GUEST, -1)
            changed()
            say("ok")
        elif cmd[0] == "ring":
            ring()
            say("ok")
        elif cmd[0] == "storm":
            end, n = time.monotonic() + float(cmd[1]), 0
            while time.monotonic() < end:
                ring()
                n += 1
            say("stormed %d" % n)
        elif cmd[0] == "state":
            feat = struct.unpack_from("<Q", mem, 24)[0]
            bell = struct.unpack_from("<I", mem, 132)[0]
            st = struct.unpack_from("<I", mem, VCPU + 52)[0]
            say("state boost_state=%d features=%#x doorbell=%#x" % (st, feat, bell))
        elif cmd[0] == "dup":
            d = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            d.connect(sock)
            d.settimeout(5)
            try:
                data = d.recv(8)
                say("dup eof" if data == b"" else "dup greeted")
            except OSError as e:
                say("dup error %s" % e)
            d.close()
        elif cmd[0] == "quit":
            break
    s.close()


if __name__ == "__main__":
    main()
