#!/usr/bin/env python3
"""Counts test cases from GoogleTest XML reports and meson's test log.

A test binary that failed without writing a report (a crash, a timeout) counts as one failure.
Prints "N passed, N failed[, N skipped]" and exits 1 on any failure.
"""
import json
import pathlib
import sys
import xml.etree.ElementTree as ET

results = pathlib.Path(sys.argv[1])
passed, failed, skipped = int(sys.argv[2]), int(sys.argv[3]), 0
failures = []

for log in results.rglob("meson-testlog.json"):
    reported = {p.stem for p in log.parent.glob("*.xml")}
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        exe = pathlib.Path(entry["command"][0]).name
        xml = log.parent / f"{exe}.xml"
        ok = entry["result"] in ("OK", "EXPECTEDFAIL")
        if entry["result"] == "SKIP":
            skipped += 1
            continue
        if not xml.exists():
            if ok:
                passed += 1
            else:
                failed += 1
                failures.append(f"{log.parent.name}/{entry['name']}: {entry['result']} (no report)")
            continue
        tree = ET.parse(xml)
        cases = 0
        for case in tree.iter("testcase"):
            cases += 1
            if case.find("failure") is not None:
                failed += 1
                failures.append(f"{exe}: {case.get('classname')}.{case.get('name')}")
            elif case.get("result") == "skipped" or case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
        if not ok and not any(True for c in tree.iter("testcase") if c.find("failure") is not None):
            # The binary failed (crash after the report, sanitizer exit) with no failed case in it.
            failed += 1
            failures.append(f"{exe}: {entry['result']} (exit {entry.get('returncode')})")

for f in failures:
    print(f"FAILED {f}")
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed else 0)
