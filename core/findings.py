"""One findings table for every check in cdiscflow.

Raw-input problems, mapping problems, schema failures, conformance rules and export limits all produce rows of the
same shape, so a data manager reads one table and CI reads one file:

    severity | rule_id | dataset | variable | subject | row | value | expected | message | source

`row` is 1-based: the data row of the raw file (header not counted) for raw findings, the record number of the
dataset otherwise.  `source` names the file or checker the finding comes from.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd

from cdiscflow.core.atomic import write_text
from cdiscflow.core.spreadsheet import csv_text

COLUMNS = ("severity", "rule_id", "dataset", "variable", "subject", "row", "value", "expected", "message", "source")
SEVERITIES = ("error", "warning", "note")  # most to least severe
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
    frame["row"] = frame["row"].astype("Int64")
    return frame


def at_or_above(severity: str, threshold: str) -> bool:
    return _RANK[severity] <= _RANK[threshold]


class Findings:
    """Collects findings from many checks, then reports them once."""

    def __init__(self) -> None:
        self._rows: list[dict] = []
        self._frames: list[pd.DataFrame] = []

    def add(self, *, severity: str, rule_id: str, message: str, dataset: str = "", variable: str = "",
            subject: str = "", row: int | None = None, value: object = "", expected: object = "",
            source: str = "") -> None:
        if severity not in _RANK:
            raise ValueError(f"unknown severity {severity!r}; use one of {SEVERITIES}")
        self._rows.append(dict(severity=severity, rule_id=rule_id, dataset=dataset, variable=variable,
                               subject=subject, row=row, value=_text(value), expected=_text(expected),
                               message=message, source=source))

    def extend(self, frame: pd.DataFrame | "Findings") -> None:
        """Add many findings at once (a frame with some of COLUMNS; the rest are filled with blanks)."""
        if isinstance(frame, Findings):
            frame = frame.frame()
        if frame is None or len(frame) == 0:
            return
        missing = [c for c in ("severity", "rule_id", "message") if c not in frame.columns]
        if missing:
            raise ValueError(f"findings frame lacks {missing}")
        bad = set(frame["severity"].unique()) - set(SEVERITIES)
        if bad:
            raise ValueError(f"unknown severities {sorted(bad)}")
        self._frames.append(frame.reindex(columns=list(COLUMNS)).copy())

    def frame(self) -> pd.DataFrame:
        parts = [f for f in self._frames]
        if self._rows:
            parts.append(pd.DataFrame(self._rows, columns=list(COLUMNS)))
        if not parts:
            return empty_frame()
        out = pd.concat(parts, ignore_index=True)
        for col in COLUMNS:
            if col == "row":
                out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
            else:
                out[col] = out[col].astype(object).fillna("").astype(str).astype(object)  # (numbers too: "3.0")
        rank = out["severity"].map(_RANK)
        out = out.assign(_rank=rank).sort_values(
            ["_rank", "dataset", "rule_id", "variable", "subject", "row", "value"], kind="stable", na_position="first"
        )
        return out.drop(columns="_rank").reset_index(drop=True)

    def __len__(self) -> int:
        return len(self._rows) + sum(len(f) for f in self._frames)

    def __bool__(self) -> bool:
        return len(self) > 0

    def counts(self) -> dict[str, int]:
        c: Counter[str] = Counter()
        for r in self._rows:
            c[r["severity"]] += 1
        for f in self._frames:
            c.update(f["severity"].value_counts().to_dict())
        return {s: int(c.get(s, 0)) for s in SEVERITIES}

    def count_at_or_above(self, threshold: str) -> int:
        return sum(n for s, n in self.counts().items() if at_or_above(s, threshold))

    def write(self, directory: str | Path, stem: str = "findings") -> tuple[Path, Path]:
        """Write `stem.csv` and `stem.json` (atomically, deterministically) and return their paths."""
        directory = Path(directory)
        frame = self.frame()
        csv_path, json_path = directory / f"{stem}.csv", directory / f"{stem}.json"
        write_text(csv_path, csv_text(frame))  # for people: formulas neutralised; the JSON keeps exact values
        # One record per line: readable, and fast for millions of findings (no parse/re-serialise round trip).
        records = frame.to_json(orient="records", lines=True, force_ascii=False).strip()
        body = ",\n".join(records.split("\n")) if records else ""
        write_text(json_path, f'{{"counts": {json.dumps(self.counts())},\n"findings": [\n{body}\n]}}\n')
        return csv_path, json_path

    def summary(self, limit: int = 10) -> str:
        """A short text summary for the terminal: counts per severity and rule, then the first findings."""
        frame = self.frame()
        if frame.empty:
            return "no findings"
        lines = [", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in self.counts().items() if n)]
        by_rule = frame.groupby(["severity", "rule_id", "dataset"], sort=False).size().reset_index(name="n")
        for r in by_rule.head(limit).itertuples(index=False):
            lines.append(f"  {r.severity:<7} {r.rule_id:<22} {r.dataset or '-':<9} {r.n}")
        if len(by_rule) > limit:
            lines.append(f"  ... {len(by_rule) - limit} more rule/dataset groups")
        return "\n".join(lines)


def _text(value: object) -> str:
    if value is None:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)
