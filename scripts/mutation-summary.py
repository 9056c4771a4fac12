#!/usr/bin/env python3
"""Prints PIT's score per class from mutations.xml: `class: killed/total = N %`.

Killed counts what PIT counts as detected (KILLED, TIMED_OUT, MEMORY_ERROR, RUN_ERROR); inner
classes count with their outer class. With --survivors, lists each surviving or uncovered mutant.
Usage: scripts/mutation-summary.py [target/pit-reports/mutations.xml] [--survivors]
"""
import collections
import sys
import xml.etree.ElementTree as ET

args = [a for a in sys.argv[1:] if not a.startswith("--")]
path = args[0] if args else "target/pit-reports/mutations.xml"
show_survivors = "--survivors" in sys.argv
totals = collections.Counter()
killed = collections.Counter()
survivors = []
for m in ET.parse(path).getroot().iter("mutation"):
    cls = m.findtext("mutatedClass").rsplit(".", 1)[-1].split("$", 1)[0]
    totals[cls] += 1
    if m.get("detected") == "true":
        killed[cls] += 1
    else:
        survivors.append((cls, int(m.findtext("lineNumber")), m.get("status"),
                          m.findtext("mutatedMethod"), m.findtext("description")))
for cls in sorted(totals):
    print(f"{cls}: {killed[cls]}/{totals[cls]} = {100 * killed[cls] // totals[cls]} %")
all_killed, all_total = sum(killed.values()), sum(totals.values())
if all_total:
    print(f"total: {all_killed}/{all_total} = {100 * all_killed // all_total} %")
if show_survivors:
    for cls, line, status, method, desc in sorted(survivors):
        print(f"  {cls}:{line} {method} {status}: {desc}")
