#!/usr/bin/env python3
"""Prints GOPS (best of the repetitions) and qforge/peer ratios from the JSON files of scripts/bench_kernels.sh."""
import glob
import json
import os
import re
import sys
from collections import defaultdict

out = sys.argv[1] if len(sys.argv) > 1 else "build/bench/results"
rows = defaultdict(dict)  # (bench, cap, threads, kind, shape) -> engine -> (gops, label)
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    m = re.match(r"(bm_\w+?)_(\w+)_t(\d)\.json", os.path.basename(path))
    if not m:
        continue
    bench, cap, threads = m.group(1), m.group(2), m.group(3)
    try:
        data = json.load(open(path))
    except (OSError, ValueError):
        continue
    for b in data.get("benchmarks", []):
        if b.get("run_type") != "iteration" or "GOPS" not in b:
            continue
        parts = b["run_name"].split("/")
        kind, engine, shape = parts[0], parts[1], parts[2]
        key = (bench, cap, threads, kind, shape)
        g = b["GOPS"]
        if engine not in rows[key] or g > rows[key][engine][0]:
            rows[key][engine] = (g, b.get("label", ""))

for key in sorted(rows, key=lambda k: (k[0], k[1], k[2], k[3])):
    bench, cap, threads, kind, shape = key
    engines = rows[key]
    peer = engines.get("dnnl")
    cells = []
    for e, (g, label) in sorted(engines.items()):
        cells.append(f"{e}={g:.0f}")
    ratio = ""
    if peer:
        for e, (g, _) in engines.items():
            if e.startswith("qforge") and peer[0] > 0:
                ratio += f" {e}/dnnl={g / peer[0]:.2f}"
    dl = f" [{peer[1].split()[0]}]" if peer and peer[1] else ""
    print(f"{bench:8} {cap:11} t{threads} {kind:4} {shape:16} " + " ".join(cells) + ratio + dl)
