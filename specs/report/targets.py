"""The fact links of a report spec fitted to the published figures they name: one `Target` per published value.

`expand_links(report)` turns every fact link into `Target`s (one published value each, with where the report keeps
its number and how to compare); a fact whose shape does not fit its link (more or fewer levels, a list of the wrong
length) is a spec problem (SpecError), found by `cdiscflow check-spec` before any run.  The reproduction check
(`cdiscflow.report.reproduce`) compares the targets with the report's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from cdiscflow.core.errors import SpecError
from cdiscflow.specs.report.model import FactLink, ReportSpec, ReproductionSpec, TableSpec, TimeToEventSpec


@dataclass(frozen=True)
class Target:
    """One published value and where the report keeps the number it is compared with."""

    area: str
    fact: str  # dotted path (+ key trail) in the facts
    table: str
    select: Mapping[str, str]
    stat: str
    paper: float
    round: int | None = None
    tolerance: float | None = None
    range: tuple[float, float] | None = None
    test: str = "equal"
    known: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)  # shown, not checked (e.g. the published CI)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _has_numbers(node: Any) -> bool:
    if _number(node):
        return True
    if isinstance(node, Mapping):
        return any(_has_numbers(v) for v in node.values())
    if isinstance(node, (list, tuple)):
        return any(_has_numbers(v) for v in node)
    return False


def _resolve(facts: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = facts
    for key in path:
        node = next(v for k, v in node.items() if str(k) == key)
    return node


# ----------------------------------------------------------------------------------------------------------------
# fact links -> targets


def _areas(report: ReportSpec) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in report.items(TableSpec):
        out[t.name] = t.area
        if t.by_term is not None:
            out[t.by_term.name] = t.area
    for t in report.items(TimeToEventSpec):
        for suffix in ("", "_logrank", "_followup", "_at_risk"):
            out[t.name + suffix] = t.area
    return out


def links(report: ReportSpec) -> list[FactLink]:
    """Every fact link of the report spec, in page order."""
    out: list[FactLink] = []
    for section in report.sections:
        for item in section.items:
            if isinstance(item, TableSpec):
                for row in item.rows:
                    out += row.facts
                out += item.facts
                if item.by_term is not None:
                    out += item.by_term.facts
            elif isinstance(item, (TimeToEventSpec, ReproductionSpec)):
                out += item.facts
    return out


def expand_links(report: ReportSpec) -> list[Target]:
    """The targets of every fact link; SpecError when a fact's shape does not fit its link."""
    if report.facts is None:
        return []
    areas = _areas(report)
    problems: list[str] = []
    targets: list[Target] = []
    for link in links(report):
        try:
            node = _resolve(report.facts, link.path)
            targets += _expand(link, node, areas.get(link.table, link.table))
        except _Shape as exc:
            problems.append(f"{link.where}: {'.'.join(link.path)}: {exc}")
        except StopIteration:
            problems.append(f"{link.where}: the facts have no {'.'.join(link.path)}")
    if problems:
        raise SpecError(problems, path=report.path)
    return targets


class _Shape(Exception):
    """A fact whose shape does not fit the link (more or fewer levels, a list of the wrong length)."""


def _expand(link: FactLink, node: Any, area: str) -> list[Target]:
    base = dict(area=area, table=link.table, stat=link.stat, round=link.round, test=link.test)
    path = ".".join(link.path)
    if link.mode == "tree":
        out = []
        if link.tally:
            if not isinstance(node, (list, tuple)):
                raise _Shape("tally needs a list of values")
            node = {str(v): sum(str(w) == str(v) for w in node) for v in node}
        if link.keys:
            if not isinstance(node, Mapping):
                raise _Shape("keys need a mapping")
            node = {k: v for k, v in node.items() if str(k) in link.keys}
        for select, value, trail in _walk(node, link.levels, dict(link.select), ()):
            stat = select.pop("stat", link.stat)
            out.append(Target(fact=".".join((path, *trail)), select=select, paper=float(value),
                              tolerance=_num(link.tolerance), range=_pair(link.range),
                              known=link.known if isinstance(link.known, str) else "",
                              **{**base, "stat": stat}))
        return out
    if link.mode == "records":
        records = [node] if isinstance(node, Mapping) else list(node)
        out = []
        for i, rec in enumerate(records):
            if not isinstance(rec, Mapping):
                raise _Shape(f"record {i + 1} is not a mapping")
            value = rec.get(link.value)
            if not _number(value):
                continue
            select = dict(link.select)
            for fld, dim in link.match.items():
                if fld not in rec:
                    raise _Shape(f"record {i + 1} has no field {fld!r}")
                select[dim] = str(rec[fld])
            tolerance = rec.get(link.tolerance) if isinstance(link.tolerance, str) else link.tolerance
            rng = rec.get(link.range) if isinstance(link.range, str) else link.range
            trail = "[" + ", ".join(f"{f}={rec[f]}" for f in link.match) + "]" if link.match else ""
            out.append(Target(fact=f"{path}{trail}.{link.value}", select=select, paper=float(value),
                              tolerance=_num(tolerance), range=_pair(rng), known=_known_for(link.known, rec),
                              extra={"ci": rec.get(link.ci)} if link.ci else {}, **base))
        return out
    out = []  # tuples
    if not isinstance(node, (list, tuple)):
        raise _Shape("is not a list of tuples")
    for i, item in enumerate(node):
        if not isinstance(item, (list, tuple)) or len(item) != len(link.fields):
            raise _Shape(f"item {i + 1} does not have {len(link.fields)} fields")
        select, value = dict(link.select), None
        for fld, v in zip(link.fields, item):
            if fld == "value":
                value = v
            elif fld is not None:
                select[fld] = str(v)
        if _number(value):
            out.append(Target(fact=f"{path}[{i}]", select=select, paper=float(value), tolerance=_num(link.tolerance),
                              range=_pair(link.range), known=link.known if isinstance(link.known, str) else "",
                              **base))
    return out


def _walk(node: Any, levels: tuple, select: dict, trail: tuple) -> list[tuple[dict, float, tuple]]:
    if node is None or isinstance(node, (bool, str)):
        return []
    if _number(node):
        expected = [lv for lv in levels if isinstance(lv, str)]
        if expected:
            raise _Shape(f"is a number where the report expects keys for {', '.join(expected)}")
        return [(select, node, trail)]
    if isinstance(node, (list, tuple)):
        if not levels or not isinstance(levels[0], Mapping):
            raise _Shape("is a list where the report expects a number or keys")
        (dim, ids), = levels[0].items()
        if len(node) != len(ids):
            raise _Shape(f"has {len(node)} values for {len(ids)} ({', '.join(ids)})")
        return [({**select, dim: i}, v, (*trail[:-1], f"{trail[-1] if trail else ''}[{k}]"))
                for k, (i, v) in enumerate(zip(ids, node)) if _number(v)]
    if isinstance(node, Mapping):
        if not levels or not isinstance(levels[0], str):
            raise _Shape("has more levels than the report")
        out = []
        for key, child in node.items():
            if _has_numbers(child):
                out += _walk(child, levels[1:], {**select, levels[0]: str(key)}, (*trail, str(key)))
        return out
    raise _Shape(f"unexpected value {node!r}")


def _num(x: Any) -> float | None:
    return float(x) if _number(x) else None


def _pair(x: Any) -> tuple[float, float] | None:
    if isinstance(x, (list, tuple)) and len(x) == 2 and all(_number(v) for v in x):
        return float(x[0]), float(x[1])
    return None


def _known_for(known: Any, record: Mapping) -> str:
    if isinstance(known, str):
        return known
    for k in known or ():
        if all(str(record.get(f)) == str(v) for f, v in k.items() if f != "id"):
            return str(k["id"])
    return ""
