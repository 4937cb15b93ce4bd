"""CPU seconds of reading the raw export and of validating the run's datasets, in process (issue 18).

    .venv/bin/python benchmarks/read_validate.py                                   # the embedded study
    .venv/bin/python benchmarks/read_validate.py --raw /tmp/bench10k/raw_10000 --repeat 3
    .venv/bin/python benchmarks/read_validate.py --json rv.json

"read" is `sdtm.raw.forms.read_export` (every form file parsed and checked: RAW-* findings, dates and numbers
converted), the step "read" of the sdtm stage.  "validate" is `validation.api.run_validation` on the datasets as a
pipeline run holds them when it validates (`map_study` + `derive_study` with compact text, mapped once before the
timing), the main process's part of the validate stage.  Each figure is the minimum of `--repeat` runs in one
process, after one run that is not counted (imports, first-call costs); CPU = process time (user + system).  The
findings counted are printed so that two versions can be compared.  The machine is shared: the load average is
printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def cpu_seconds(fn, repeat: int) -> tuple[float, object]:
    result = fn()  # not counted: imports and first-call costs
    best = float("inf")
    for _ in range(repeat):
        c0 = time.process_time()
        result = fn()
        best = min(best, time.process_time() - c0)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", help="raw export folder (default: the embedded study's)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each (default 5)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)

    from cdiscflow.adam import derive_study
    from cdiscflow.core.frames import compact_all
    from cdiscflow.sdtm import map_study
    from cdiscflow.sdtm.raw.forms import read_export
    from cdiscflow.usecases import require_valid_spec
    from cdiscflow.validation.api import run_validation

    spec = require_valid_spec(None)
    raw = args.raw or spec.raw_dir
    read_cpu, export = cpu_seconds(lambda: read_export(spec, raw), args.repeat)
    sdtm = map_study(spec, raw, on_error="strict", compact_text=True)
    compact_all(sdtm.datasets)
    adam = dict(derive_study(spec, sdtm.datasets, compact_text=True).datasets)
    compact_all(adam)
    datasets = {**sdtm.datasets, **adam}
    validate_cpu, result = cpu_seconds(lambda: run_validation(datasets, spec), args.repeat)
    figures = {
        "raw": str(raw), "records": sum(len(f) for f in datasets.values()), "repeat": args.repeat,
        "read cpu s": round(read_cpu, 3), "read findings": len(export.findings.frame()),
        "validate cpu s": round(validate_cpu, 3), "validate findings": len(result.findings.frame()),
        "rules ran": sum(r.status == "ran" for r in result.rule_runs),
        "load average": round(os.getloadavg()[0], 1),
    }
    print(" ".join(f"{k}={v}" for k, v in figures.items()))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
