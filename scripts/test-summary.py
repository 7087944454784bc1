#!/usr/bin/env python3
"""Count meson test results over one or more testlog.json files and print
the closing line CI reads: 'N passed, N failed' (exit 1 on any failure or
when a log is missing, since a tier that did not run is not a pass)."""
import json
import sys

passed = failed = skipped = 0
missing = []
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                r = json.loads(line)
                res = r.get("result")
                if res in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                elif res == "SKIP":
                    # a skipped test did not prove anything: count it as failed
                    failed += 1
                    print(f"SKIPPED (counted as failure): {r.get('name')}")
                else:
                    failed += 1
                    print(f"FAILED: {r.get('name')} ({res})")
    except FileNotFoundError:
        missing.append(path)
for m in missing:
    print(f"missing test log {m}: that tier did not run")
    failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
