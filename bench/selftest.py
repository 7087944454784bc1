#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/selftest.py - the benchmark runners' own check, run by `meson test`
as bench/runners (suite unit): every runner (bench/*/run, bench/*/qemu-vm)
compiles and starts (--help: its imports, bench/benchlib.py among them,
and its module-level environment parsing), and benchlib's helpers the
runners rely on (medians, rotation, percentiles, environment, cyclictest
statistics, the quiet-machine scan, the daemon config) do what they say.
No benchmark runs, nothing needs root."""
import contextlib
import glob
import io
import json
import os
import py_compile
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402

RUNNERS = sorted(glob.glob(os.path.join(HERE, "*", "run")) +
                 glob.glob(os.path.join(HERE, "*", "qemu-vm")))


class Runners(unittest.TestCase):
    def test_found(self):
        names = {os.path.relpath(r, HERE) for r in RUNNERS}
        self.assertTrue({"boost/run", "cosched/run", "dop/run", "overhead/run",
                         "guest-rt/run"} <= names, names)

    def test_compile(self):
        with tempfile.TemporaryDirectory() as t:
            for r in RUNNERS:
                with self.subTest(runner=r):
                    py_compile.compile(r, cfile=os.path.join(t, "c.pyc"), doraise=True)

    def test_help(self):
        """--help imports everything and parses the environment first."""
        for r in RUNNERS:
            with self.subTest(runner=r):
                p = subprocess.run([sys.executable, r, "--help"], capture_output=True,
                                   text=True, timeout=60)
                # cosched/qemu-vm prints its docstring as a usage error (2)
                self.assertIn(p.returncode, (0, 2), p.stderr)
                self.assertIn(os.path.relpath(r, os.path.dirname(HERE)), p.stdout + p.stderr)
                self.assertNotIn("Traceback", p.stderr)


class Env:
    """os.environ with some variables set (None: unset) for a block."""

    def __init__(self, **kv):
        self.kv, self.old = kv, {}

    def __enter__(self):
        for k, v in self.kv.items():
            self.old[k] = os.environ.get(k)
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def __exit__(self, *exc):
        for k, v in self.old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Helpers(unittest.TestCase):
    def test_med(self):
        self.assertEqual(benchlib.med([3, None, 1, 2]), 2)
        self.assertEqual(benchlib.med([4, 1]), 2.5)
        self.assertIsNone(benchlib.med([]))
        self.assertIsNone(benchlib.med([None]))
        self.assertEqual(benchlib.spread([3, 1, 2]), {"median": 2, "min": 1, "max": 3})

    def test_rotate(self):
        self.assertEqual(benchlib.rotate([1, 2, 3], 0), [1, 2, 3])
        self.assertEqual(benchlib.rotate([1, 2, 3], 1), [2, 3, 1])
        self.assertEqual(benchlib.rotate([1, 2, 3], 5), [3, 1, 2])
        self.assertEqual(benchlib.rotate(("a", "b"), 1), ("b", "a"))
        self.assertEqual(benchlib.rotate([], 2), [])

    def test_nearest_rank(self):
        rows = [(i, 1) for i in range(1, 101)]
        self.assertEqual(benchlib.nearest_rank(rows, 99), 99)
        self.assertEqual(benchlib.nearest_rank(rows, 50), 50)
        self.assertEqual(benchlib.nearest_rank(rows, 100), 100)
        self.assertEqual(benchlib.nearest_rank(rows, 0), 1)
        self.assertIsNone(benchlib.nearest_rank(rows, 99, n=200))  # beyond the histogram
        self.assertIsNone(benchlib.nearest_rank([], 50))

    def test_env(self):
        with Env(X_INT=None, X_F=" 2.5 ", X_W="", X_FLAG="0", X_L="a = 1; ;b=2 ", X_N="1 2.5"):
            self.assertEqual(benchlib.env_int("X_INT", 3), 3)
            self.assertEqual(benchlib.env_float("X_F", 1.0), 2.5)
            self.assertIs(type(benchlib.env_float("X_INT", 5)), float)
            self.assertEqual(benchlib.env_words("X_W", "p q"), ["p", "q"])
            self.assertEqual(benchlib.env_str("X_W", "d"), "d")
            self.assertFalse(benchlib.env_flag("X_FLAG", True))
            self.assertTrue(benchlib.env_flag("X_INT", True))
            self.assertEqual(benchlib.env_lines("X_L"), ["a = 1", "b=2"])
            self.assertEqual(benchlib.env_numbers("X_N", "9"), [1, 2.5])
        with Env(X_INT="7"):
            self.assertEqual(benchlib.env_int("X_INT", 3, 1, 10), 7)
        with Env(X_INT="x"):
            with self.assertRaisesRegex(SystemExit, "X_INT must be an integer"):
                benchlib.env_int("X_INT", 3)
        with Env(X_INT="70"):
            with self.assertRaisesRegex(SystemExit, "X_INT must be in 1..10"):
                benchlib.env_int("X_INT", 3, 1, 10)

    def test_parse_args(self):
        with self.assertRaises(SystemExit) as e, contextlib.redirect_stderr(io.StringIO()):
            benchlib.parse_args("doc", "usage", [])
        self.assertEqual(e.exception.code, 2)
        build, flags = benchlib.parse_args("doc", "usage", ["--quick", "b"])
        self.assertEqual((build, flags), (os.path.abspath("b"), {"--quick"}))

    def test_cyclictest_stats(self):
        threads = {"1": {"histogram": {"5": 50, "7": 49}, "cycles": 100, "avg": 6.0,
                         "max": 90, "min": 4, "cpu": 1},
                    "0": {"histogram": {"5": 100}, "cycles": 100, "avg": 5.0, "max": 5,
                          "min": 5, "cpu": 0}}
        s = benchlib.cyclictest_stats(threads, 20000)
        self.assertEqual((s["avg_us"], s["p99_us"], s["max_us"], s["cycles"], s["overflows"]),
                         (5.5, 7.0, 90.0, 200, 1))
        self.assertFalse(s["p99_overflow"])
        self.assertEqual([t["thread"] for t in s["threads"]], [0, 1])
        s = benchlib.cyclictest_stats({"0": {"histogram": {"5": 90}, "cycles": 100,
                                             "avg": 9.0, "max": 30000}}, 20000)
        self.assertEqual((s["p99_us"], s["p99_overflow"]), (20000.0, True))
        self.assertIsNone(benchlib.cyclictest_stats({}, 20000))

    def test_proc(self):
        busy, steal, total = benchlib.cpu_jiffies()
        self.assertTrue(0 <= busy + steal <= total, (busy, steal, total))
        self.assertGreater(benchlib.proc_run_ns(os.getpid()), 0)
        self.assertIsNotNone(benchlib.tid_run_ns(os.getpid()))
        self.assertIn(os.getpid(), benchlib.thread_times(os.getpid()))
        self.assertIn(benchlib.stat_fields("/proc/self/stat")[0], "RSD")
        self.assertIsNone(benchlib.stat_fields("/proc/0/stat"))

    def test_other_load(self):
        marker = "pvs-selftest-marker-%d" % os.getpid()
        with tempfile.TemporaryDirectory() as t:
            p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", marker, t])
            try:
                # until the child has exec'd, its command line is ours
                end = time.monotonic() + 10
                while time.monotonic() < end:
                    with open("/proc/%d/cmdline" % p.pid, "rb") as f:
                        if marker.encode() in f.read():
                            break
                    time.sleep(0.01)
                self.assertIn(marker, benchlib.other_load(extra=[marker]))
                self.assertNotIn(marker, benchlib.other_load(extra=[marker], own=[p.pid]))
                self.assertNotIn(marker, benchlib.other_load(extra=[marker], own_dir=t))
            finally:
                p.kill()
                p.wait()
        self.assertNotIn(marker, benchlib.other_load(extra=[marker]))

    def test_wait_quiet(self):
        calls, loads = [], [["meson test"], ["meson test"], []]
        sleep, benchlib.time.sleep = benchlib.time.sleep, lambda s: calls.append("sleep")
        try:
            with contextlib.redirect_stdout(io.StringIO()) as out:
                _, noisy = benchlib.wait_quiet(lambda: loads.pop(0), 60, True,
                                               on_wait=lambda: calls.append("wait"),
                                               on_quiet=lambda: calls.append("quiet"))
                self.assertFalse(noisy)
                self.assertEqual(calls, ["wait", "sleep", "sleep", "quiet"])
                self.assertIn("waiting: meson test on this machine", out.getvalue())
                self.assertTrue(benchlib.wait_quiet(lambda: ["x"], -1, False)[1])
                with self.assertRaisesRegex(SystemExit, "other load .x. for"):
                    benchlib.wait_quiet(lambda: ["x"], -1, True)
                self.assertEqual(benchlib.wait_quiet(lambda: [], -1, True)[1], False)
        finally:
            benchlib.time.sleep = sleep

    def test_daemon_conf(self):
        with tempfile.TemporaryDirectory() as t:
            d = benchlib.Daemon("/nonexistent/pvschedd", "/nonexistent/pvschedctl", t,
                                qemu_comm="pvs-x-none")
            conf = d.write_conf(["boost = on"], [("A", ["cosched = gang", "shares = 2"])])
            with open(conf) as f:
                self.assertEqual(f.read(), "[daemon]\nsocket = %s/control.sock\n"
                                 "region_dir = %s\njournal = %s/journal\nqemu_comm = pvs-x-none\n"
                                 "boost = on\n\n[vm A]\ncosched = gang\nshares = 2\n" % (t, t, t))
            self.assertTrue(d.stop())  # never started

    def test_write_json_goal_text(self):
        with tempfile.TemporaryDirectory() as t:
            path = os.path.join(t, "sub", "r.json")
            benchlib.write_json(path, {"b": 1, "a": [1, 2]})
            with open(path) as f:
                self.assertEqual(json.load(f), {"a": [1, 2], "b": 1})
            self.assertEqual(os.listdir(os.path.dirname(path)), ["r.json"])
        self.assertEqual(benchlib.goal_text({"value": 1.23456, "met": False}),
                         ("1.235", "NOT MET"))
        self.assertEqual(benchlib.goal_text({"value": None, "met": None}, "not run"),
                         ("n/a", "not run"))


if __name__ == "__main__":
    unittest.main(verbosity=1)
