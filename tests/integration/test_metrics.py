#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Prometheus metrics: `pvschedctl metrics`, the `metrics` request and the
metrics_file the daemon writes for node_exporter's textfile collector.

 1. the text of `pvschedctl metrics` passes a strict check of the
    exposition format 0.0.4 (HELP and TYPE once per family and before its
    samples, a family's samples together, names and labels well formed,
    escapes valid, no timestamps, counters named *_total) and parses with
    prometheus_client's parser (Debian's python3-prometheus-client);
 2. every documented family is there with its type and labels; the values
    agree with `status` (run and ready seconds vs run_ns / wait_ns, vCPU
    count, policy, shares, sampler); a busy vCPU's run seconds grow, the
    uptime grows, counters never go down;
 3. the raw request: {"cmd":"metrics"} answers ok, content_type, text;
    keys of other commands are checked as everywhere;
 4. metrics_file (metrics_interval_ms = 200): appears with mode 0644,
    is never seen partial, is replaced by rename (a reader holding the
    old file keeps a whole version), parses like the reply, and is
    refreshed.  Skipped, with a message, while daemon/main.c does not
    call pvs_metrics_write_file().
"""
import os
import re
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pvstest  # noqa: E402
from pvstest import check  # noqa: E402

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # a python3 that is not Debian's: use Debian's package
    sys.path.append('/usr/lib/python3/dist-packages')
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        text_string_to_metric_families = None

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# name -> (type, labels of every sample)
FAMILIES = {
    'pvsched_daemon_info': ('gauge', {'sampler'}),
    'pvsched_daemon_uptime_seconds': ('gauge', set()),
    'pvsched_daemon_period_seconds': ('gauge', set()),
    'pvsched_daemon_vms': ('gauge', set()),
    'pvsched_daemon_samples_total': ('counter', set()),
    'pvsched_daemon_sample_errors_total': ('counter', set()),
    'pvsched_daemon_rescans_total': ('counter', set()),
    'pvsched_daemon_boost_available': ('gauge', set()),
    'pvsched_daemon_boost_scans_total': ('counter', set()),
    'pvsched_daemon_boost_syscalls_total': ('counter', set()),
    'pvsched_daemon_cosched_syscalls_total': ('counter', set()),
    'pvsched_daemon_rt_threads': ('gauge', set()),
    'pvsched_vm_info': ('gauge', {'vm', 'kind'}),
    'pvsched_vm_vcpus': ('gauge', {'vm'}),
    'pvsched_vm_host_cpus': ('gauge', {'vm'}),
    'pvsched_vm_capacity_vcpus': ('gauge', {'vm'}),
    'pvsched_vm_advice_vcpus': ('gauge', {'vm'}),
    'pvsched_vm_preempted_vcpus': ('gauge', {'vm'}),
    'pvsched_vm_region_ok': ('gauge', {'vm'}),
    'pvsched_vm_boost_enabled': ('gauge', {'vm'}),
    'pvsched_vm_policy_info': ('gauge', {'vm', 'policy'}),
    'pvsched_vm_shares': ('gauge', {'vm'}),
    'pvsched_vm_gang_seconds_total': ('counter', {'vm'}),
    'pvsched_vm_shared_vcpus': ('gauge', {'vm'}),
    'pvsched_vcpu_up': ('gauge', {'vm', 'vcpu'}),
    'pvsched_vcpu_run_seconds_total': ('counter', {'vm', 'vcpu'}),
    'pvsched_vcpu_ready_seconds_total': ('counter', {'vm', 'vcpu'}),
    'pvsched_vcpu_costop_seconds_total': ('counter', {'vm', 'vcpu'}),
    'pvsched_vcpu_limited_seconds_total': ('counter', {'vm', 'vcpu'}),
    'pvsched_vcpu_boost_seconds_total': ('counter', {'vm', 'vcpu'}),
    'pvsched_vcpu_preemptions_total': ('counter', {'vm', 'vcpu'}),
    'pvsched_vcpu_boosts_total': ('counter', {'vm', 'vcpu'}),
    'pvsched_vcpu_throttles_total': ('counter', {'vm', 'vcpu'}),
    'pvsched_vcpu_placed_cpus': ('gauge', {'vm', 'vcpu'}),
}

NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*\Z')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
VALUE = re.compile(r'[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\Z|NaN\Z|[-+]Inf\Z')


def lint(text, what):
    """A strict check of the text format 0.0.4 as the textfile collector
    reads it; returns {(name, frozenset(labels.items())): float}."""
    check(text.endswith('\n'), '%s: does not end with a newline' % what)
    helped, typed, done = set(), {}, set()
    cur = None
    samples = {}
    for n, ln in enumerate(text.split('\n')[:-1], 1):
        where = '%s line %d: %r' % (what, n, ln)
        check(ln, '%s: empty line' % where)
        if ln.startswith('# HELP ') or ln.startswith('# TYPE '):
            parts = ln.split(' ', 3)
            check(len(parts) >= 4 and NAME.match(parts[2]), '%s: bad comment' % where)
            name = parts[2]
            check(name not in done, '%s: family %s resumed after others' % (where, name))
            if parts[1] == 'HELP':
                check(name not in helped, '%s: second HELP for %s' % (where, name))
                check(not re.search(r'\\[^\\n]', parts[3]), '%s: bad escape in HELP' % where)
                helped.add(name)
            else:
                check(name not in typed, '%s: second TYPE for %s' % (where, name))
                check(parts[3] in ('counter', 'gauge'), '%s: type %s' % (where, parts[3]))
                typed[name] = parts[3]
            if cur != name:
                if cur:
                    done.add(cur)
                cur = name
            continue
        check(not ln.startswith('#'), '%s: stray comment' % where)
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)\Z', ln)
        check(m, '%s: not "name{labels} value" (a timestamp is not allowed)' % where)
        name, lab, val = m.group(1), m.group(2), m.group(3)
        check(name == cur and name in typed and name in helped,
              '%s: sample without its HELP and TYPE just before' % where)
        check(VALUE.match(val), '%s: bad value' % where)
        labels = {}
        if lab:
            body = lab[1:-1]
            pos = 0
            while pos < len(body):
                lm = LABEL.match(body, pos)
                check(lm, '%s: bad label at %r' % (where, body[pos:]))
                check(lm.group(1) not in labels, '%s: label repeated' % where)
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
                if pos < len(body):
                    check(body[pos] == ',', '%s: labels not comma-separated' % where)
                    pos += 1
        if typed[name] == 'counter':
            check(name.endswith('_total'), '%s: counter not named *_total' % where)
        key = (name, frozenset(labels.items()))
        check(key not in samples, '%s: duplicate sample' % where)
        samples[key] = float(val)
    return samples, typed


def parse(text, what):
    """Lint, then prometheus_client's parser; returns (samples, types)."""
    samples, typed = lint(text, what)
    check(text_string_to_metric_families is not None,
          'prometheus_client is not installed (Debian: python3-prometheus-client, '
          'scripts/install-deps.sh installs it)')
    n = 0
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = (s.name, frozenset(s.labels.items()))
            check(key in samples, '%s: prometheus_client read %r, the lint did not' % (what, s))
            check(samples[key] == s.value or (s.value != s.value and samples[key] != samples[key]),
                  '%s: %s is %r for prometheus_client, %r here' % (what, s.name, s.value,
                                                                   samples[key]))
            n += 1
    check(n == len(samples), '%s: prometheus_client read %d samples, the lint %d'
          % (what, n, len(samples)))
    return samples, typed


def get(samples, name, **labels):
    key = (name, frozenset(labels.items()))
    check(key in samples, 'no sample %s%r' % (name, labels))
    return samples[key]


def metrics(h):
    return parse(h.ctl('metrics').stdout, 'pvschedctl metrics')


def main(h):
    prom = h.path('metrics', 'pvsched.prom')
    os.mkdir(h.path('metrics'))
    conf = h.config(daemon={'metrics_file': prom, 'metrics_interval_ms': '200'})
    h.start_daemon(conf)

    h.log('0. no VM: the daemon families only, well formed')
    samples, typed = metrics(h)
    check(all(n.startswith('pvsched_daemon_') for n in typed),
          'families without samples are left out: %r' % sorted(typed))
    check(get(samples, 'pvsched_daemon_vms') == 0, 'vms != 0 without VMs')

    vm = h.start_procvm('procvm', threads=2)
    h.attach(vm.pid, 'mvm')
    h.wait_vm('mvm', nvcpus=2, region_ok=True)

    h.log('1+2. the families, their labels, the values against status')
    samples, typed = metrics(h)
    st = h.status()
    for name, (typ, labels) in FAMILIES.items():
        check(typed.get(name) == typ, 'family %s: type %r, expected %s'
              % (name, typed.get(name), typ))
        keys = [dict(k[1]) for k in samples if k[0] == name]
        check(keys, 'family %s has no sample' % name)
        for lab in keys:
            check(set(lab) == labels, '%s labels %r, expected %r' % (name, lab, labels))
    extra = set(typed) - set(FAMILIES)
    check(not extra, 'undocumented families (add them to docs/metrics.md and here): %r' % extra)
    check(get(samples, 'pvsched_daemon_info', sampler=st['sampler']) == 1, 'daemon_info')
    check(get(samples, 'pvsched_daemon_vms') == 1, 'daemon_vms')
    check(get(samples, 'pvsched_vm_info', vm='mvm', kind='process') == 1, 'vm_info')
    check(get(samples, 'pvsched_vm_vcpus', vm='mvm') == 2, 'vm_vcpus')
    v = h.vm(st, 'mvm')
    check(get(samples, 'pvsched_vm_host_cpus', vm='mvm') == v['host_cpus'], 'host_cpus')
    check(get(samples, 'pvsched_vm_policy_info', vm='mvm', policy=v['policy']) == 1,
          'policy_info for %s' % v['policy'])
    check(get(samples, 'pvsched_vm_shares', vm='mvm') == v['shares'], 'shares')
    check(get(samples, 'pvsched_vm_region_ok', vm='mvm') == 1, 'region_ok')
    cap = get(samples, 'pvsched_vm_capacity_vcpus', vm='mvm')
    check(0 <= cap <= max(2, v['host_cpus']), 'capacity %r' % cap)
    check(get(samples, 'pvsched_daemon_period_seconds') == 0.01, 'period 10 ms')
    for c in v['vcpus']:
        i = str(c['index'])
        check(get(samples, 'pvsched_vcpu_up', vm='mvm', vcpu=i) == 1, 'vcpu_up')
        # metrics were read before status: never ahead of it
        run = get(samples, 'pvsched_vcpu_run_seconds_total', vm='mvm', vcpu=i)
        rdy = get(samples, 'pvsched_vcpu_ready_seconds_total', vm='mvm', vcpu=i)
        check(run <= c['run_ns'] / 1e9 + 1e-9, 'run %r > status %r' % (run, c['run_ns']))
        check(rdy <= c['wait_ns'] / 1e9 + 1e-9, 'ready %r > status %r' % (rdy, c['wait_ns']))
        check(get(samples, 'pvsched_vcpu_costop_seconds_total', vm='mvm', vcpu=i) >= 0, 'cstp')

    h.log('2. a busy vCPU: run seconds grow; counters never go down')
    t0 = samples
    time.sleep(1.0)
    samples, _ = metrics(h)
    for i in ('0', '1'):
        a = get(t0, 'pvsched_vcpu_run_seconds_total', vm='mvm', vcpu=i)
        b = get(samples, 'pvsched_vcpu_run_seconds_total', vm='mvm', vcpu=i)
        check(b - a > 0.05, 'vCPU %s busy for 1 s: run seconds %r -> %r' % (i, a, b))
    for key, val in t0.items():
        if key[0].endswith('_total') and key in samples:
            check(samples[key] >= val, '%s%r went down: %r -> %r'
                  % (key[0], dict(key[1]), val, samples[key]))
    check(get(samples, 'pvsched_daemon_uptime_seconds')
          > get(t0, 'pvsched_daemon_uptime_seconds'), 'uptime did not grow')

    h.log('3. the raw request')
    r = h.raw_json(b'{"cmd":"metrics"}\n')
    check(r.get('ok') is True and r.get('content_type', '').startswith('text/plain; version=0.0.4')
          and 'pvsched_vcpu_run_seconds_total{vm="mvm",vcpu="0"}' in r.get('text', ''),
          'metrics reply: %r' % {k: str(v)[:200] for k, v in r.items()})
    for req, err in ((b'{"cmd":"metrics","bogus":1}', "unknown key 'bogus'"),
                     (b'{"cmd":"metrics","name":"a/b"}', "'name' must be 1-31 characters"),
                     (b'{"cmd":"metrics","pid":"x"}', "'pid' must be an integer")):
        r = h.raw_json(req + b'\n')
        check(r.get('ok') is False and err in r.get('error', ''),
              '%r: expected an error with %r, got %r' % (req, err, r))
    r = h.raw_json(b'{"cmd":"metrics","name":"mvm"}\n')
    check(r.get('ok') is True, 'a valid key the command does not use is ignored: %r' % r)
    check(h.ctl('metrics', 'extra', ok=False).returncode == 2, 'metrics takes no argument')

    h.log('4. metrics_file for the textfile collector')
    with open(os.path.join(SRC, 'daemon', 'main.c')) as f:
        wired = 'pvs_metrics_write_file' in f.read()
    deadline = time.monotonic() + 5
    while not os.path.exists(prom) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not os.path.exists(prom):
        check(not wired, 'daemon/main.c calls pvs_metrics_write_file(), but %s never appeared'
              % prom)
        h.log('SKIP part 4: metrics_file is not written: daemon/main.c does not call '
              'pvs_metrics_write_file() every metrics_interval_ms yet')
        h.daemon_alive()
        h.stop_daemon()
        return
    st1 = os.stat(prom)
    check(stat.S_IMODE(st1.st_mode) == 0o644, 'mode %o, expected 0644' % stat.S_IMODE(st1.st_mode))
    held = open(prom)  # a reader that is slow: must keep a whole old version
    uptimes, reads = set(), 0
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        with open(prom) as f:
            text = f.read()
        fs, _ = parse(text, prom)  # complete every time: written by rename
        uptimes.add(get(fs, 'pvsched_daemon_uptime_seconds'))
        reads += 1
        time.sleep(0.03)
    check(len(uptimes) >= 3, 'the file was not refreshed every 200 ms: %d versions in 1.5 s'
          % len(uptimes))
    check(os.fstat(held.fileno()).st_nlink == 0,
          'the file was rewritten in place, not replaced by rename')
    parse(held.read(), prom + ' (the version replaced)')
    held.close()
    check(get(fs, 'pvsched_vm_vcpus', vm='mvm') == 2, 'the file lacks mvm')
    run_file = get(fs, 'pvsched_vcpu_run_seconds_total', vm='mvm', vcpu='0')
    check(run_file >= get(samples, 'pvsched_vcpu_run_seconds_total', vm='mvm', vcpu='0'),
          'the file is older than the last reply')
    left = [n for n in os.listdir(h.path('metrics')) if n != 'pvsched.prom']
    check(all(n == 'pvsched.prom.tmp' for n in left), 'stray files: %r' % left)
    h.log('metrics_file: %d reads, %d versions, all complete' % (reads, len(uptimes)))
    h.daemon_alive()
    h.stop_daemon()


if __name__ == '__main__':
    pvstest.run('metrics', main)
