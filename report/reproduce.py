"""The reproduction check: every published figure a report spec links (`fact:`) beside the report's own number.

The fact links arrive as `Target`s (`cdiscflow.specs.report.targets.expand_links`: one published value each, with
where the report keeps its number and how to compare); `check(targets, stats)` compares them: exact for counts, at
printed precision (`round`), within a tolerance or a range, or above a bound.  A failure is reported as FAIL, never
hidden; when a documented known mismatch (the facts' `known_expected_mismatches`) explains it, it says so.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Mapping

import pandas as pd

from cdiscflow.report.proportions import round_half_up
from cdiscflow.report.stats import Stats
from cdiscflow.specs.report.targets import Target

PASS, FAIL = "PASS", "FAIL"
CHECK_COLUMNS = ("area", "item", "paper", "cdiscflow", "tolerance", "result", "note", "fact")
_STAT_NAMES = {"n": "", "pct": " (%)", "median": " median", "min": " minimum", "max": " maximum",
               "p": " log-rank p", "min_pairwise_p": " smallest pairwise log-rank p"}


# ----------------------------------------------------------------------------------------------------------------
# comparison


def compare(target: Target, value: float | None) -> tuple[bool, str]:
    """(passed, why not) for the report's `value` against the target."""
    if value is None:
        return False, "the report has no such number"
    if math.isnan(value):
        return False, "not estimable from the data"
    if target.test == "above":
        return value > target.paper, ""
    if target.range is not None:
        return target.range[0] <= value <= target.range[1], ""
    if target.tolerance is not None:
        return abs(value - target.paper) <= target.tolerance + 1e-9, ""
    if target.round is not None:
        return Decimal(round_half_up(value, target.round)) == Decimal(repr(target.paper)), ""
    return abs(value - target.paper) < 1e-9, ""


def tolerance_text(target: Target) -> str:
    if target.test == "above":
        return f"above {_fmt(target.paper)}"
    if target.range is not None:
        return f"{_fmt(target.range[0])} to {_fmt(target.range[1])}"
    if target.tolerance is not None:
        return f"+/- {_fmt(target.tolerance)}"
    if target.round is not None:
        return f"exact at {target.round} decimal{'s' if target.round != 1 else ''}"
    return "exact"


def _fmt(x: float) -> str:
    if x is None or math.isnan(x):
        return ""
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.4g}" if abs(x) < 0.01 else f"{x:g}"


def _value_text(target: Target, value: float | None) -> str:
    if value is None or math.isnan(value):
        return "" if value is None else "NE"
    if target.stat in ("p", "min_pairwise_p"):
        return f"{value:.3g}"
    if target.round is not None:
        shown = round_half_up(value, target.round)
        exact = _fmt(round(value, 3))
        return shown if Decimal(shown) == Decimal(repr(value)) else f"{shown} ({exact})"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}"


def check(targets: list[Target], stats: Stats, known: Mapping[str, str]) -> pd.DataFrame:
    """One line per target: area, item, paper, cdiscflow, tolerance, result (PASS/FAIL), note, fact."""
    lines = []
    for t in targets:
        sel = {d: t.select.get(d, "") for d in ("row", "category", "column")}
        value = stats.get(t.table, stat=t.stat, **sel)
        passed, why = compare(t, value)
        note = why
        if t.known:
            note = (f"reproduced, although listed as known mismatch {t.known}" if passed
                    else f"documented mismatch {t.known}")
        if t.extra.get("ci"):
            lo, hi = t.extra["ci"]
            note = "; ".join(n for n in (note, f"published 95% CI {_fmt(lo)}-{_fmt(hi)}") if n)
        item = stats.label(t.table, **sel)
        suffix = stats.stat_labels.get((t.table, t.stat), _STAT_NAMES.get(t.stat, f" {t.stat}"))
        if suffix.strip().lower() not in item.lower():
            item += suffix
        lines.append([t.area, item, _fmt(t.paper), _value_text(t, value), tolerance_text(t),
                      PASS if passed else FAIL, note, t.fact])
    return pd.DataFrame(lines, columns=list(CHECK_COLUMNS))


def summary(checks: pd.DataFrame) -> pd.DataFrame:
    """Per area: checks, PASS, FAIL, of which documented known mismatches; a total line last."""
    failed = checks["result"] == FAIL
    documented = failed & checks["note"].str.startswith("documented mismatch")
    frame = pd.DataFrame({"area": checks["area"], "pass": ~failed, "fail": failed, "documented": documented})
    by = frame.groupby("area", sort=False).agg(checks=("pass", "size"), PASS=("pass", "sum"), FAIL=("fail", "sum"),
                                               documented=("documented", "sum"))
    by.loc["All"] = by.sum()
    by["unexpected FAIL"] = by["FAIL"] - by["documented"]
    by = by.rename(columns={"documented": "FAIL documented"}).reset_index()
    return by.astype({c: int for c in ("checks", "PASS", "FAIL", "FAIL documented", "unexpected FAIL")})


def known_mismatch_table(checks: pd.DataFrame, known: Mapping[str, str],
                         notes: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Every documented known mismatch with its explanation and what the reproduction table shows for it
    (`notes`: the report spec's own words on how the report shows a mismatch it does not check)."""
    notes = notes or {}
    lines = []
    for kid, text in known.items():
        hits = checks[checks["note"].str.contains(f"mismatch {kid}", regex=False)]
        failed = int((hits["result"] == FAIL).sum())
        if hits.empty:
            shown = notes.get(kid, "not a number the report checks")
        elif failed:
            shown = f"{failed} check(s) FAIL as expected: " + "; ".join(hits.loc[hits["result"] == FAIL, "item"])
        else:
            shown = f"{len(hits)} check(s) PASS: the data reproduce the paper here"
        if kid in notes and not hits.empty:
            shown += f". {notes[kid]}"
        lines.append([kid, text, shown])
    return pd.DataFrame(lines, columns=["id", "explanation (facts.yaml)", "in this report"])
