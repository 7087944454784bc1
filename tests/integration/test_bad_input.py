#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Bad regions and bad control requests never hurt pvschedd or others' data.

Regions (three config VMs):
- 'badsize': region= names an existing 5000-byte file (not a power of
  two): status shows region_ok false with an error naming the path; the
  file keeps its size and content (also across rescans, which retry it);
  the VM is still monitored; once the operator removes the file, a rescan
  creates the region and publishes;
- 'stolen': region= names a valid-looking region whose header says it
  belongs to VM 'someone-else': refused the same way, file untouched;
- 'link', 'fifo': region= is a symlink (to a file that would make a fine
  region) or a FIFO: refused, naming the path; link, FIFO and target stay;
- 'good': default region, published (heartbeat advances) all along.

Control socket (mode 0660, srw-rw----):
- garbage JSON, an oversize request (> 4 KiB; exactly 4096 bytes is fine),
  an unknown command, and other malformed requests each get
  {"ok": false, "error": ...} and the
  daemon keeps serving; so do clients that connect and send nothing, or
  hang up at once, and more idle clients than the daemon serves at once: a
  client beyond the limit gets {"ok": false, "error": "busy: ..."} (and
  pvschedctl prints it), the idle ones are dropped after their 2 s deadline.
"""
import os
import socket
import stat
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pvstest  # noqa: E402
from pvstest import check, file_digest  # noqa: E402


def foreign_region(path, owner):
    """A 1 MiB file with a pvsched header naming another VM."""
    buf = bytearray(1 << 20)
    struct.pack_into('<QHHIQ', buf, 0, pvstest.PVSCHED_MAGIC, 1, 0, 256, 1 << 20)
    name = owner.encode()
    buf[pvstest.OFF_VM_NAME:pvstest.OFF_VM_NAME + len(name)] = name
    struct.pack_into('<I', buf, 64, 2)  # host_state DETACHED: its agent left
    with open(path, 'wb') as f:
        f.write(buf)


def main(h):
    p1 = h.start_procvm('badsize', threads=2, idle=True)
    p2 = h.start_procvm('stolen', threads=1, idle=True)
    p3 = h.start_procvm('good', threads=2, idle=True)
    p4 = h.start_procvm('link', threads=1, idle=True)
    p5 = h.start_procvm('fifo', threads=1, idle=True)
    badsize = h.path('odd', 'bad')
    stolen = h.path('odd', 'stolen')
    os.mkdir(h.path('odd'))
    with open(badsize, 'wb') as f:
        f.write(os.urandom(5000))
    foreign_region(stolen, 'someone-else')
    # a symlink to a file that would make a fine region, and a FIFO
    link, target, fifo = h.path('odd', 'link'), h.path('odd', 'target'), h.path('odd', 'fifo')
    with open(target, 'wb') as f:
        f.write(os.urandom(1 << 16))
    os.symlink(target, link)
    os.mkfifo(fifo)
    digests = {p: (os.path.getsize(p), file_digest(p)) for p in (badsize, stolen, target)}
    conf = h.config(vms=[('badsize', {'pid': p1.pid, 'region': badsize}),
                         ('stolen', {'pid': p2.pid, 'region': stolen}),
                         ('link', {'pid': p4.pid, 'region': link}),
                         ('fifo', {'pid': p5.pid, 'region': fifo}),
                         ('good', {'pid': p3.pid})])
    h.start_daemon(conf)
    good_region = h.path('pvsched-good')

    # ---- regions ----
    v = h.wait_vm('badsize', nvcpus=2, region_ok=False)
    err = v.get('region_error', '')
    check(badsize in err, 'region_error of badsize does not name %s: %r' % (badsize, err))
    check('5000 bytes' in err and 'left untouched' in err,
          'region_error of badsize does not say what is wrong: %r' % err)
    v = h.wait_vm('stolen', nvcpus=1, region_ok=False)
    err = v.get('region_error', '')
    check(stolen in err and "'someone-else'" in err,
          'region_error of stolen does not name the path and the owner: %r' % err)
    h.log('badsize: %s' % h.vm(h.status(), 'badsize')['region_error'])
    h.log('stolen: %s' % err)
    for name, path in (('link', link), ('fifo', fifo)):
        v = h.wait_vm(name, region_ok=False)
        err = v.get('region_error', '')
        check(path in err, 'region_error of %s does not name %s: %r' % (name, path, err))
        h.log('%s: %s' % (name, err))
    check(os.path.islink(link) and stat.S_ISFIFO(os.stat(fifo).st_mode),
          'the symlink or the FIFO was replaced')
    h.wait_vm('good', nvcpus=2, region_ok=True)
    h.wait_heartbeat_advances(good_region, 'good')
    check(h.vm(h.status(), 'badsize')['heartbeat'] == 0, 'unpublished VM has a heartbeat')
    log = h.daemon_log()
    check(badsize in log and stolen in log, 'region errors not logged with their paths')
    # several rescans later (each looks at every VM again), still untouched
    r0 = h.status()['rescans']
    h.wait_for(lambda: h.status()['rescans'] >= r0 + 3, 'three rescans')
    for p, (size, digest) in digests.items():
        check(os.path.getsize(p) == size, '%s changed size: %d -> %d'
              % (p, size, os.path.getsize(p)))
        check(file_digest(p) == digest, '%s content changed' % p)
    check(sorted(os.listdir(h.path('odd'))) == ['bad', 'fifo', 'link', 'stolen', 'target'],
          'files appeared beside the bad regions: %r' % os.listdir(h.path('odd')))

    # ---- control socket ----
    st = os.stat(h.sock)
    check(stat.S_ISSOCK(st.st_mode), '%s is not a socket' % h.sock)
    check(stat.S_IMODE(st.st_mode) == 0o660, 'socket mode %o, expected 0660 (srw-rw----)'
          % stat.S_IMODE(st.st_mode))
    check(stat.filemode(st.st_mode) == 'srw-rw----', 'socket is %s' % stat.filemode(st.st_mode))

    def served():
        r = h.raw_json(b'{"cmd":"ping"}\n')
        check(r.get('ok') is True, 'ping after bad input: %r' % r)
        check(h.vm(h.status(), 'good') is not None, 'status after bad input lost good')
        h.daemon_alive()

    bad_requests = [
        (b'{not json\n', 'invalid JSON'),
        (b'\x00\x01\x02garbage\xff\xfe\n', 'NUL'),
        (b'}\n', 'invalid JSON'),
        (b'{"cmd":"status"} trailing\n', 'trailing data'),
        (b'[1,2,3]\n', 'not a JSON object'),
        (b'"status"\n', 'not a JSON object'),
        (b'{"cmd":"frobnicate"}\n', "unknown command 'frobnicate'"),
        (b'{"cmd":42}\n', "'cmd' must be a string"),
        (b'{}\n', "missing 'cmd'"),
        (b'{"cmd":"status","evil":1}\n', "unknown key 'evil'"),
        (b'{"cmd":"attach","name":"x"}\n', "attach needs 'name' and 'pid'"),
        (b'{"cmd":"attach","name":"x","pid":"1"}\n', "'pid' must be an integer"),
        (b'{"cmd":"attach","name":"x","pid":-1}\n', "'pid' out of range"),
        (b'{"cmd":"attach","name":"x","pid":99999999999}\n', "'pid' out of range"),
        (b'{"cmd":"detach"}\n', "detach needs 'name'"),
        (b'{"cmd":"detach","name":"../x"}\n', "'name' must be"),
        (b'{"cmd":"status","cmd":"frobnicate"}\n', 'unknown command'),
        (b'\n', ('empty request', 'incomplete JSON')),
        (b'{"cmd":"' + b'a' * 3000 + b'"}\n', 'unknown command'),
        (b'[' * 5000 + b'\n', 'longer than 4096'),
        (b'{"cmd":"status","name":"' + b'x' * 5000 + b'"}\n', 'longer than 4096'),
        (b'x' * 100000 + b'\n', 'longer than 4096'),
        (b'{"cmd":"status"', 'incomplete JSON'),  # EOF, no newline
    ]
    for data, needles in bad_requests:
        r = h.raw_json(data)
        err = r.get('error', '')
        if isinstance(needles, str):
            needles = (needles,)
        check(r.get('ok') is False and err and any(n in err for n in needles),
              'request %r: expected an error with %r, got %r' % (data[:60], needles, r))
        h.log('%-40r -> %s' % (data[:40], r['error']))
        served()
    # the limit is 4096 bytes of JSON, with or without its newline
    for n, nl, ok in ((4095, 1, True), (4096, 1, True), (4096, 0, True), (4097, 1, False),
                      (4097, 0, False)):
        r = h.raw_json(b'{"cmd":"ping"' + b' ' * (n - 14) + b'}' + b'\n' * nl)
        check(r.get('ok') is ok and (ok or 'longer than 4096' in r.get('error', '')),
              '%d-byte request%s: %r, expected ok=%s' % (n, ' + newline' * nl, r, ok))
    # deep nesting within the size limit
    r = h.raw_json(b'[' * 4000 + b']' * 90 + b'\n')
    check(r.get('ok') is False, 'deeply nested request accepted: %r' % r)
    served()

    # a client that sends nothing (and keeps the connection) does not block
    # others; nor do clients that hang up at once; nor more idle clients
    # than the daemon serves at once (it drops them, or their deadline does)
    idle = []
    for _ in range(40):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(h.sock)
        idle.append(s)
    for _ in range(20):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(h.sock)
        s.close()
    half = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    half.connect(h.sock)
    try:
        half.sendall(b'{"cmd":"sta')  # and then nothing
    except (BrokenPipeError, ConnectionResetError):
        pass  # all client slots taken: the daemon closed it at once
    # with every slot taken by idle clients, a new client is told so (not a
    # broken pipe), and pvschedctl says it
    r = h.raw_json(b'{"cmd":"ping"}\n', timeout=3)
    check(r.get('ok') is False and 'busy' in r.get('error', ''),
          'a client over the limit got %r, expected a "busy" answer' % r)
    r = h.ctl('status', ok=False)
    check(r.returncode != 0 and 'busy' in r.stderr,
          'pvschedctl over the limit: rc %d, stderr %r' % (r.returncode, r.stderr))
    # the daemon must keep publishing meanwhile
    h.wait_heartbeat_advances(good_region, 'good while idle clients are connected')
    # once the idle clients hit their deadline (or are closed) others are served
    h.wait_for(lambda: h.raw_json(b'{"cmd":"ping"}\n', timeout=3).get('ok') is True,
               'ping with idle clients connected', timeout=20)
    for s in idle:
        s.close()
    half.close()
    served()

    # pvschedctl reports the daemon's errors and exits nonzero
    r = h.ctl('detach', 'nosuch', ok=False)
    check("no VM named 'nosuch'" in r.stderr, 'pvschedctl detach error: %r' % r.stderr)

    # and, after all that, the regions are still as they were
    for p, (size, digest) in digests.items():
        check(os.path.getsize(p) == size and file_digest(p) == digest, '%s changed' % p)
    h.wait_heartbeat_advances(good_region, 'good at the end')

    # the operator removes the bad file: a later rescan creates the region
    os.unlink(badsize)
    del digests[badsize]
    h.wait_vm('badsize', nvcpus=2, region_ok=True)
    h.wait_heartbeat_advances(badsize, 'badsize once its file was removed')
    check(os.path.getsize(badsize) == 1 << 20, 'recreated region size')
    h.stop_daemon(0)
    for p, (size, digest) in digests.items():
        check(os.path.getsize(p) == size and file_digest(p) == digest,
              '%s changed at daemon exit' % p)
    check(h.dump(good_region)['host_state'] == 'detached', 'good not detached at exit')


pvstest.run('bad-input', main)
