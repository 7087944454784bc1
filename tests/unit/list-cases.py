#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/unit/list-cases.py FILE.c - the names of a unit-test file's cases.

Each tests/unit/test_*.c lists its cases once, in
`static const struct tcase cases[] = { {"name", t_fn}, ... };`; meson
registers one test() per name printed here (one per line), so a case added
to the array is run without a second list to keep in step.  Fails, naming
the file, when the array is missing, empty, or names a case twice.
"""
import re
import sys


def cases(path):
    with open(path, encoding="utf-8") as f:
        src = f.read()
    m = re.search(r"struct\s+tcase\s+cases\s*\[\s*\]\s*=\s*\{(.*?)\};", src, re.S)
    if not m:
        raise SystemExit(f"{path}: no 'static const struct tcase cases[] = {{...}};'")
    names = re.findall(r'\{\s*"([^"]+)"\s*,\s*\w+\s*\}', m.group(1))
    if not names:
        raise SystemExit(f"{path}: cases[] lists no case")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SystemExit(f"{path}: case named twice: {', '.join(dup)}")
    return names


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: list-cases.py FILE.c")
    print("\n".join(cases(sys.argv[1])))
