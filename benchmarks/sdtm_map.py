"""CPU seconds of the SDTM stage's steps (`map_study`: read, map, derive, assemble), issue 18.

    .venv/bin/python benchmarks/sdtm_map.py                                   # embedded study, min of 3
    .venv/bin/python benchmarks/sdtm_map.py --raw /tmp/bench10k/raw_10000 --repeat 3
    .venv/bin/python benchmarks/sdtm_map.py --warm 3                          # also 3 more calls in each process

Each repetition is a fresh Python process that loads the study spec and calls `map_study` once, as `cdiscflow run`
does (`compact_text=True`): the first call pays what a run pays (lazy imports, caches).  A step's figure is the
CPU time of the process (`time.process_time`) over that step (`SdtmResult.timings` names the steps; the engine's
clock is swapped for the CPU clock here), so a busy shared machine changes it little.  The table shows the minimum
over the repetitions and the load average as each repetition ended.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

STEPS = ("read", "map", "derive", "assemble")


def child(raw: str, warm: int, result_path: str) -> None:
    from cdiscflow.sdtm import map_study
    from cdiscflow.sdtm.mapping import engine
    from cdiscflow.specs.load import load_study

    engine.time = types.SimpleNamespace(perf_counter=time.process_time)  # the steps' CPU, not wall, time
    spec = load_study()
    calls = []
    for _ in range(1 + warm):  # over calls: the first as in a run, then warm ones
        cpu = time.process_time()
        result = map_study(spec, raw or None, compact_text=True)
        calls.append({**result.timings, "map_study": time.process_time() - cpu})
    Path(result_path).write_text(json.dumps(calls))


def measure(raw: str, warm: int) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="sdtm-map-bench-") as tmp:
        out = Path(tmp) / "result.json"
        subprocess.run([sys.executable, __file__, "_child", raw, str(warm), str(out)], check=True)
        calls = json.loads(out.read_text())
    load = os.getloadavg()[0]
    return [{**c, "load": load} for c in calls]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", default="", help="raw export folder (default: the embedded study's)")
    ap.add_argument("--repeat", type=int, default=3, help="fresh processes (default 3)")
    ap.add_argument("--warm", type=int, default=0, help="further calls of map_study in each process")
    ap.add_argument("--json", help="write every measurement here")
    args = ap.parse_args(argv)
    runs = [measure(args.raw, args.warm) for _ in range(args.repeat)]  # over processes
    first = [r[0] for r in runs]
    warm = [c for r in runs for c in r[1:]]
    names = (*STEPS, "map_study")
    print(f"map_study on {args.raw or 'the embedded study'}: CPU s, min of {len(first)} fresh processes"
          + (f" / {len(warm)} warm calls" if warm else ""))
    print("| step | first call | " + ("warm call |" if warm else ""))
    print("|---|---:|" + ("---:|" if warm else ""))
    for n in names:
        cells = [f"{min(c[n] for c in first):.3f}"] + ([f"{min(c[n] for c in warm):.3f}"] if warm else [])
        print(f"| {n} | " + " | ".join(cells) + " |")
    print("load average (1 min) as the processes ended: " + ", ".join(f"{c['load']:.1f}" for c in first))
    if args.json:
        Path(args.json).write_text(json.dumps({"raw": args.raw, "runs": runs}, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        child(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        main()
