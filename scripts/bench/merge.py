#!/usr/bin/env python3
"""Renders BENCHMARKS.md from the results present (scripts/bench/report.py) and keeps, for each
section whose step was not run on this machine, the section BENCHMARKS.md already had — each
section names the commit it was measured at, so nothing is presented as newer than it is.

  scripts/bench/merge.py        (after `scripts/bench.sh STEP…` or single `cargo bench` parts)
"""
import re, subprocess, sys

def sections(text):
    parts = re.split(r"(?m)^(?=## )", text)
    head, rest = parts[0], parts[1:]
    key = lambda s: re.sub(r"\s*\((measured|not measured).*$", "", s.splitlines()[0]).strip()
    return head, [(key(s), s) for s in rest]

new = subprocess.run([sys.executable, "scripts/bench/report.py"], capture_output=True, text=True, check=True).stdout
old = open("BENCHMARKS.md").read()
head, new_sections = sections(new)
_, old_sections = sections(old)
old_by_key = dict(old_sections)
out = [head.rstrip() + "\n\nSections whose step was not run again keep the figures of the commit they name.\n\n"]
for k, s in new_sections:
    fresh = "Not measured." not in s and "(not measured)" not in s.splitlines()[0]
    out.append(s if fresh or k not in old_by_key else old_by_key[k])
seen = {k for k, _ in new_sections}
out.extend(s for k, s in old_sections if k not in seen)
open("BENCHMARKS.md", "w").write("".join(out).rstrip() + "\n")
print("wrote BENCHMARKS.md")
