"""Response criteria as data: `ResponseCriteria` (the response values from best to worst, their AVAL codes, the
response-rate thresholds and the confirmation rule) loaded from the YAML files in ``specs/standards/response/``
(IMWG 2016, RECIST 1.1 ...) or from a study's adam/adrs section, with overrides; every problem is a SpecError
naming the file and key.  The engines of `response.py` read these; nothing about a criterion is in code."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import pandas as pd

from cdiscflow.core.expr import Expr
from cdiscflow.core.errors import SpecError
from cdiscflow.specs.cdisc import cdisc_codelist
from cdiscflow.specs.model import STANDARDS_DIR
from cdiscflow.specs.safe_yaml import YamlProblem, load_yaml

CRITERIA_DIR = STANDARDS_DIR / "response"
METHODS = ("next_assessment", "interval")


@dataclass(frozen=True)
class Response:
    value: str
    aval: float | None = None


@dataclass(frozen=True)
class Rate:
    name: str
    values: tuple[str, ...]
    description: str = ""
    sustained: tuple[str, ...] = ()  # values that count only on or after origin + sustained_days
    sustained_days: int | None = None


@dataclass(frozen=True)
class Confirmation:
    method: str
    unconfirmed: str
    levels: tuple[str, ...] = ()  # next_assessment: levels that need confirmation
    pd_unconfirmed: str = "NE"
    running_best: bool = False
    max_gap_days: int | None = None
    min_days: int = 0  # interval
    max_ne: int = 0
    confirmed_by: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class ResponseCriteria:
    id: str
    name: str
    responses: tuple[Response, ...]  # best first
    progression: str
    not_evaluable: str
    stable: str
    missing: Response
    rates: Mapping[str, Rate]
    confirmation: Confirmation
    sd_like: tuple[str, ...] = ()
    sd_min_days: int | None = None
    rscat: str = ""
    path: str = ""

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(r.value for r in self.responses)

    def rank(self, value: str) -> int:
        """0 for the best response; larger is worse (NE, listed last, is the largest)."""
        return self.values.index(value)

    def at_or_above(self, threshold: str) -> tuple[str, ...]:
        evaluable = [v for v in self.values if v not in (self.progression, self.not_evaluable)]
        return tuple(evaluable[: evaluable.index(threshold) + 1])

    def aval(self, values: pd.Series) -> pd.Series:
        """AVAL for AVALC values (responses and the missing value); other values give NaN."""
        codes = {r.value: r.aval for r in (*self.responses, self.missing) if r.aval is not None}
        return values.map(codes).astype("float64")

    def aval_expr(self, var: str = "AVALC") -> Expr:
        """`set_values_to` helper: AVAL computed from AVALC."""
        return Expr(lambda frame: self.aval(frame[var]))

    def worst_first(self) -> tuple[str, ...]:
        """Same-date tie-break for ANL01FL: PD, then the evaluable levels from worst to best, NE last."""
        evaluable = [v for v in self.values if v not in (self.progression, self.not_evaluable)]
        return (self.progression, *reversed(evaluable), self.not_evaluable)


# ----------------------------------------------------------------------------------------------------------------
# loading


def available_criteria() -> dict[str, Path]:
    """Criteria id (e.g. IMWG2016) -> file, from specs/standards/response/."""
    out = {}
    for path in sorted(CRITERIA_DIR.glob("*.yaml")):
        doc = load_yaml(path)[0] or {}
        out[str(doc.get("id", path.stem)).upper()] = path
    return out


def load_response_criteria(ref: str | Path, *, overrides: Mapping[str, Any] | None = None,
                           where: str | None = None) -> ResponseCriteria:
    """Load criteria by id (``IMWG2016``, ``RECIST11``) or YAML path, with a study's `overrides` merged in.

    `overrides` replace top-level settings and, for `rates` and `confirmation`, single entries (e.g.
    ``{"sd_min_days": 42, "rates": {"CBR": {"at_or_above": "MR"}}}``).  Every problem is reported at once in a
    SpecError naming the file (and `where` the overrides come from)."""
    path = Path(ref)
    if not path.suffix:
        known = available_criteria()
        if str(ref).upper() not in known:
            raise SpecError(f"{where or 'response criteria'}: unknown criteria {str(ref)!r} "
                            f"(available: {', '.join(known)})")
        path = known[str(ref).upper()]
    if not path.is_file():
        raise SpecError(f"response criteria file {path} does not exist")
    try:
        doc = load_yaml(path)[0] or {}  # as every spec file: size and alias limits, libyaml when installed
    except YamlProblem as exc:
        raise SpecError(f"{path.name}{f' line {exc.line}' if exc.line else ''}: {exc}") from None
    if not isinstance(doc, dict):
        raise SpecError(f"{path.name}: must be a mapping")
    for key, value in (overrides or {}).items():
        if key in ("rates", "confirmation") and isinstance(value, Mapping) and isinstance(doc.get(key), dict):
            doc[key] = {**doc[key], **dict(value)}
        else:
            doc[key] = value
    label = path.name + (f" (with overrides from {where})" if overrides and where else "")
    return _build_criteria(doc, label, str(path))


def response_criteria_from_spec(spec: Any, section: str = "adam/adrs") -> ResponseCriteria:
    """The criteria a study selects in its spec section (`StudySpec.section`), e.g. ``specs/<study>/adam/adrs.yaml``::

        response_criteria:
          id: IMWG2016
          overrides:                                     # optional, see load_response_criteria
            rates:
              CBR: {at_or_above: MR}                     # replaces the standard's CBR
              CB: {at_or_above: SD, sustained: {values: [MR, SD], min_days: 42}}   # adds admiralonco's CB

    A rate is ``{at_or_above: <level>}`` or ``{values: [...]}``, with an optional ``description`` and
    ``sustained: {values: [levels of the rate], min_days: n}``: those levels count only on or after the origin
    + n days (the origin is adrs.yaml's `origin`, or the period start)."""
    where = f"{section}.yaml"
    data = spec.section(section)
    choice = data.get("response_criteria") if isinstance(data, Mapping) else None
    if not isinstance(choice, Mapping) or not isinstance(choice.get("id"), str):
        raise SpecError(f"{where}: response_criteria: give the criteria id (available: {', '.join(available_criteria())})",
                        path=str(getattr(spec, "path", "")) or None)
    unknown = sorted(set(choice) - {"id", "overrides"})
    if unknown:
        raise SpecError(f"{where}: response_criteria: unknown key(s) {', '.join(unknown)} (expected id, overrides)")
    overrides = choice.get("overrides") or {}
    if not isinstance(overrides, Mapping):
        raise SpecError(f"{where}: response_criteria.overrides: must be a mapping of settings")
    return load_response_criteria(choice["id"], overrides=_thaw(overrides), where=where)


def _thaw(value: Any) -> Any:
    """Plain dicts/lists from the read-only views a loaded StudySpec hands out."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


_RATE_KEYS = {"at_or_above", "values", "description", "sustained"}


def _sustained(spec: Any, chosen: tuple[str, ...], item: str, problem) -> tuple[tuple[str, ...], int | None]:
    """A rate's ``sustained: {values: [...], min_days: n}``: those of its values count only n days after origin."""
    if spec is None:
        return (), None
    if not isinstance(spec, Mapping) or set(spec) != {"values", "min_days"}:
        problem(item, "must be {values: [levels of the rate], min_days: <whole number of days>}")
        return (), None
    values = tuple(spec.get("values") or ())
    bad = [v for v in values if v not in chosen]
    if not values or bad:
        problem(item, f"values must be levels the rate counts ({', '.join(chosen)}), not {list(bad) or 'none'}")
    days = spec.get("min_days")
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        problem(item, f"min_days must be a whole number of days >= 0, not {days!r}")
        days = None
    return values, days


def _build_criteria(doc: dict, label: str, path: str) -> ResponseCriteria:
    problems: list[str] = []

    def problem(item: str, msg: str) -> None:
        problems.append(f"{label}: {item}: {msg}")

    known_keys = {"id", "name", "rscat", "codelist", "responses", "missing", "progression", "not_evaluable", "stable",
                  "sd_like", "sd_min_days", "rates", "confirmation"}
    for key in sorted(set(doc) - known_keys):
        problem(key, "unknown setting")
    responses: list[Response] = []
    for i, item in enumerate(doc.get("responses") or []):
        if not isinstance(item, Mapping) or not isinstance(item.get("value"), str):
            problem(f"responses[{i}]", "must be {value: <term>, aval: <number>}")
            continue
        aval = item.get("aval")
        if aval is not None and not isinstance(aval, (int, float)):
            problem(f"responses[{i}]", f"aval {aval!r} is not a number")
        responses.append(Response(item["value"], None if aval is None else float(aval)))
    values = [r.value for r in responses]
    if not values:
        problem("responses", "must list the response values from best to worst")
    dup = sorted({v for v in values if values.count(v) > 1})
    if dup:
        problem("responses", f"values listed twice: {', '.join(dup)}")
    avals = [r.aval for r in responses if r.aval is not None]
    if len(set(avals)) != len(avals):
        problem("responses", "AVAL codes must differ")
    codelist = doc.get("codelist")
    if codelist:
        cl = cdisc_codelist(str(codelist))
        if cl is None:
            problem("codelist", f"{codelist} is not a CDISC codelist in the project's CT copy")
        else:
            unknown = [v for v in values if v not in cl["terms"]]
            if unknown:
                problem("responses", f"{', '.join(unknown)} not in codelist {codelist} ({cl['name']})")
    for role in ("progression", "not_evaluable", "stable"):
        if doc.get(role) not in values:
            problem(role, f"{doc.get(role)!r} is not one of the responses")
    missing = doc.get("missing") or {}
    if not isinstance(missing, Mapping) or not isinstance(missing.get("value"), str):
        problem("missing", "must be {value: <text>, aval: <number or empty>}")
        missing = {"value": "MISSING"}
    sd_like = tuple(doc.get("sd_like") or ())
    for v in sd_like:
        if v not in values:
            problem("sd_like", f"{v!r} is not one of the responses")
    sd_min_days = doc.get("sd_min_days")
    if sd_min_days is not None and (not isinstance(sd_min_days, int) or sd_min_days < 0):
        problem("sd_min_days", f"must be a whole number of days, not {sd_min_days!r}")
    if sd_like and sd_min_days is None:
        problem("sd_min_days", "sd_like values need sd_min_days")

    evaluable = [v for v in values if v not in (doc.get("progression"), doc.get("not_evaluable"))]
    rates: dict[str, Rate] = {}
    for name, spec in (doc.get("rates") or {}).items():
        if not isinstance(spec, Mapping):
            problem(f"rates.{name}", "must be {at_or_above: <level>} or {values: [...]}")
            continue
        for key in sorted(set(spec) - _RATE_KEYS, key=str):
            problem(f"rates.{name}", f"unknown setting '{key}' (expected {', '.join(sorted(_RATE_KEYS))})")
        if "at_or_above" in spec:
            if spec["at_or_above"] not in evaluable:
                problem(f"rates.{name}", f"threshold {spec['at_or_above']!r} is not an evaluable response level")
                continue
            chosen = tuple(evaluable[: evaluable.index(spec["at_or_above"]) + 1])
        else:
            chosen = tuple(spec.get("values") or ())
            bad = [v for v in chosen if v not in values]
            if not chosen or bad:
                problem(f"rates.{name}", f"values must be response levels (bad: {bad or 'none given'})")
                continue
        sustained, days = _sustained(spec.get("sustained"), chosen, f"rates.{name}.sustained", problem)
        rates[str(name)] = Rate(str(name), chosen, str(spec.get("description", "")), sustained, days)

    conf = doc.get("confirmation") or {}
    method = conf.get("method")
    if method not in METHODS:
        problem("confirmation.method", f"must be one of {', '.join(METHODS)}, not {method!r}")
    unconfirmed = conf.get("unconfirmed", doc.get("stable"))
    if unconfirmed not in values:
        problem("confirmation.unconfirmed", f"{unconfirmed!r} is not one of the responses")
    levels = tuple(conf.get("levels") or ())
    for v in levels:
        if v not in evaluable:
            problem("confirmation.levels", f"{v!r} is not an evaluable response level")
    confirmed_by = {}
    for level, by in (conf.get("confirmed_by") or {}).items():
        by = tuple(by or ())
        if level not in evaluable or not by or any(b not in evaluable for b in by):
            problem(f"confirmation.confirmed_by.{level}", "level and confirming values must be evaluable levels")
            continue
        confirmed_by[level] = by
    if method == "next_assessment" and not levels:
        problem("confirmation.levels", "next_assessment needs the levels that require confirmation")
    if method == "interval":
        if not confirmed_by:
            problem("confirmation.confirmed_by", "interval needs {level: [confirming levels]}")
        if not isinstance(conf.get("min_days"), int) or conf.get("min_days", 0) < 1:
            problem("confirmation.min_days", "interval needs min_days, a whole number of days >= 1")
    for key in ("max_ne", "max_gap_days"):
        if conf.get(key) is not None and (not isinstance(conf.get(key), int) or conf.get(key) < 0):
            problem(f"confirmation.{key}", f"must be a whole number >= 0, not {conf.get(key)!r}")
    extra = set(conf) - {"method", "unconfirmed", "levels", "pd_unconfirmed", "running_best", "max_gap_days",
                         "min_days", "max_ne", "confirmed_by"}
    for key in sorted(extra):
        problem(f"confirmation.{key}", "unknown setting")
    pd_unconfirmed = conf.get("pd_unconfirmed", doc.get("not_evaluable"))
    if pd_unconfirmed not in values:
        problem("confirmation.pd_unconfirmed", f"{pd_unconfirmed!r} is not one of the responses")
    if problems:
        raise SpecError(problems)
    return ResponseCriteria(
        id=str(doc.get("id", "")), name=str(doc.get("name", "")), rscat=str(doc.get("rscat", "")),
        responses=tuple(responses), progression=doc["progression"], not_evaluable=doc["not_evaluable"],
        stable=doc["stable"],
        missing=Response(missing["value"], None if missing.get("aval") is None else float(missing["aval"])),
        rates=MappingProxyType(rates),
        confirmation=Confirmation(
            method=method, unconfirmed=unconfirmed, levels=levels, pd_unconfirmed=pd_unconfirmed,
            running_best=bool(conf.get("running_best", False)), max_gap_days=conf.get("max_gap_days"),
            min_days=int(conf.get("min_days") or 0), max_ne=int(conf.get("max_ne") or 0),
            confirmed_by=MappingProxyType(confirmed_by)),
        sd_like=sd_like, sd_min_days=sd_min_days, path=path,
    )
