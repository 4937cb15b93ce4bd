"""Time-to-event parameters from data objects (admiral's `event_source` / `censor_source` / `derive_param_tte`).

A parameter is its origin date plus lists of event and censoring sources; a new endpoint is new data, not code:

    death = EventSource("ADSL", date="DTHDT", filter="notna(DTHDT)",
                        set_values_to={"EVNTDESC": "Death", "SRCDOM": "ADSL", "SRCVAR": "DTHDT"})
    alive = CensorSource("ADSL", date="LSTALVDT", set_values_to={"EVNTDESC": "Alive", ...})
    adtte = derive_param_tte(adsl, start_date="RANDDT", event_conditions=[death], censor_conditions=[alive],
                             source_datasets={"ADSL": adsl}, set_values_to={"PARAMCD": "OS", "PARAM": "..."})

Rules (admiral's): per source the records meeting `filter` with a date are taken; per subject the *earliest* event
(ties: the source listed first) or, without an event, the *latest* censoring (ties: the source listed last).
STARTDT is the origin from ADSL; an event or censoring date before it is moved to it (ADT = max(ADT, STARTDT)).
AVAL = ADT - STARTDT + 1 in days; CNSR is 0 for events and the source's code (1, 2 ...) for censorings.
Subjects without an origin date get no record.  A subject with an origin but neither an event nor a censoring is an
error (add a censoring at the origin date).  Filters may use ``STARTDT`` (the subject's origin), e.g. to ignore
progressions before the origin: ``"PARAMCD == 'PD' and ADT >= STARTDT"``.

A study declares its parameters in YAML (see `load_tte_parameters`).

Oncology conventions are choices of sources, not code (admiralonco's ADTTE template as data:
tests/data/pharmaverse_imwg/adam/tte.yaml):

* PFS censored at the last assessment: a censoring source on ADRS LSTA, whose date follows the ADRS convention
  `last_assessment.not_evaluable` (adrs.yaml): the last evaluable assessment (default) or the last assessment even
  if NE (admiralonco).  A source on the OVR records themselves (``PARAMCD == 'OVR' and ANL01FL == 'Y' and
  ANL02FL == 'Y' and AVALC != 'NE'``; the latest is taken) censors at the last evaluable assessment whatever LSTA
  holds.
* Duration of response (admiralonco's RSD): the origin is the date of first response, merged into ADSL by adsl.yaml
  ``analysis: {merges: [{dataset: ADRS, filter: "PARAMCD == 'RSP' and AVALC == 'Y' and ANL01FL == 'Y'",
  new_vars: {RSPDT: ADT}}]}``; ``RSD: {start_date: RSPDT, events: [pd, death], censors: [lasta]}`` then gives
  a record to the responders only (subjects without an origin date get none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from cdiscflow.adam.verbs.checks import (
    SUBJECT_KEYS, as_names, check_frame, require_columns, require_dates, require_unique,
)
from cdiscflow.adam.verbs.ordering import extreme_rows
from cdiscflow.core.expr import Condition, Expr, ExpressionError, evaluate_condition, names, parse, set_values
from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.specs.model import NAME_RE

_SOURCE_NR = "__source_nr__"
_IS_EVENT = "__is_event__"


@dataclass(frozen=True)
class TteSource:
    """Records of `dataset_name` meeting `filter` whose `date` marks an event or a censoring."""

    dataset_name: str
    date: str
    filter: Condition = None
    order: tuple[str, ...] = ()
    set_values_to: Mapping[str, Any] = field(default_factory=dict)
    censor: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.filter, str):
            parse(self.filter)
        object.__setattr__(self, "order", tuple(as_names(self.order, arg="order")))
        object.__setattr__(self, "set_values_to", MappingProxyType(dict(self.set_values_to)))


@dataclass(frozen=True)
class EventSource(TteSource):
    """An event (CNSR = 0)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.censor != 0:
            raise ValueError(f"an EventSource has CNSR 0, not {self.censor}")


@dataclass(frozen=True)
class CensorSource(TteSource):
    """A censoring (CNSR = `censor`, a positive integer; distinct values tell censoring reasons apart)."""

    censor: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.censor, (int, np.integer)) or isinstance(self.censor, bool) or self.censor < 1:
            raise ValueError(f"a CensorSource needs a positive integer censor code, not {self.censor!r}")


@dataclass(frozen=True)
class TteParameter:
    """One time-to-event parameter as declared in a study spec."""

    paramcd: str
    start_date: str
    events: tuple[EventSource, ...]
    censors: tuple[CensorSource, ...]
    set_values_to: Mapping[str, Any]
    population: str | None = None  # condition on ADSL: only these subjects get a record (None: every subject)

    def derive(self, dataset_adsl: pd.DataFrame, source_datasets: Mapping[str, pd.DataFrame],
               dataset: pd.DataFrame | None = None, *, selections: dict | None = None) -> pd.DataFrame:
        if self.population is not None:  # only the subjects' variables derive_param_tte reads are taken
            read = [c for c in (*SUBJECT_KEYS, self.start_date, _flag_name(self.start_date))
                    if c in dataset_adsl.columns]
            dataset_adsl = dataset_adsl.loc[evaluate_condition(self.population, dataset_adsl, dataset="ADSL"),
                                            list(dict.fromkeys(read))]
        return derive_param_tte(dataset_adsl, start_date=self.start_date, event_conditions=self.events,
                                censor_conditions=self.censors, source_datasets=source_datasets,
                                set_values_to=self.set_values_to, dataset=dataset, selections=selections)


def derive_param_tte(
    dataset_adsl: pd.DataFrame,
    *,
    start_date: str,
    event_conditions: Sequence[EventSource],
    censor_conditions: Sequence[CensorSource],
    source_datasets: Mapping[str, pd.DataFrame],
    set_values_to: Mapping[str, Any],
    dataset: pd.DataFrame | None = None,
    subject_keys: Iterable[str] = SUBJECT_KEYS,
    selections: dict | None = None,
) -> pd.DataFrame:
    """One record per subject with an origin date: STARTDT, ADT, CNSR, AVAL (days) and the sources' values.

    Returns `dataset` (e.g. the ADTTE built so far; None: nothing) with the new parameter's records appended.
    `selections`: a dict shared by the parameters of one derivation (same source frames): a source that does not
    read STARTDT selects its records once (e.g. the death event of OS, PFS and the duration of response)."""
    keys = list(as_names(subject_keys, arg="subject_keys"))
    check_frame(dataset_adsl, name="dataset_adsl")
    require_columns(dataset_adsl, keys + [start_date], dataset="dataset_adsl")
    require_dates(dataset_adsl, [start_date], dataset="dataset_adsl")
    require_unique(dataset_adsl, keys, dataset="dataset_adsl")
    if not event_conditions:
        raise ValueError("event_conditions must list at least one EventSource")
    for i, src in enumerate(event_conditions):
        if not isinstance(src, EventSource):
            raise TypeError(f"event_conditions[{i}] is a {type(src).__name__}, not an EventSource")
    for i, src in enumerate(censor_conditions):
        if not isinstance(src, CensorSource):
            raise TypeError(f"censor_conditions[{i}] is a {type(src).__name__}, not a CensorSource")
    paramcd = set_values_to.get("PARAMCD")
    if dataset is not None and paramcd is not None and "PARAMCD" in dataset.columns \
            and (dataset["PARAMCD"] == paramcd).any():
        raise InputError(f"dataset already has records of PARAMCD {paramcd}")

    origin = dataset_adsl[keys].copy()
    origin["STARTDT"] = dataset_adsl[start_date].dt.floor("D").to_numpy()
    flag_var = _flag_name(start_date)
    if flag_var in dataset_adsl.columns:
        origin["STARTDTF"] = dataset_adsl[flag_var].to_numpy()

    events = _select_sources(event_conditions, source_datasets, origin, keys, "first", selections)
    censors = _select_sources(censor_conditions, source_datasets, origin, keys, "last", selections)
    events[_IS_EVENT] = 1
    censors[_IS_EVENT] = 0
    both = pd.concat([events, censors], ignore_index=True)
    chosen = extreme_rows(both, keys, (_IS_EVENT,), "last").drop(columns=[_IS_EVENT, _SOURCE_NR])

    with_origin = origin[origin["STARTDT"].notna()]
    out = with_origin.merge(chosen, how="left", on=keys, sort=False)
    lost = out["ADT"].isna()
    if lost.any():
        shown = ", ".join(map(str, out.loc[lost, keys[-1]].head(5))) + (" ..." if lost.sum() > 5 else "")
        raise InputError(
            f"derive_param_tte ({paramcd or 'new parameter'}): {int(lost.sum())} subject(s) with a {start_date} have "
            f"neither an event nor a censoring ({keys[-1]} {shown}). Add a CensorSource at the origin date "
            f"(dataset ADSL, date {start_date})."
        )
    out["ADT"] = out[["ADT", "STARTDT"]].max(axis=1)
    out["CNSR"] = out["CNSR"].astype("int64")
    out["AVAL"] = ((out["ADT"] - out["STARTDT"]).dt.days + 1).astype("float64")
    out = set_values(out, set_values_to, dataset="the new parameter")
    first = keys + [c for c in set_values_to if c not in keys]
    out = out[first + [c for c in out.columns if c not in first]]
    if dataset is None:
        return out.reset_index(drop=True)
    return pd.concat([dataset, out], ignore_index=True)


def _flag_name(date_var: str) -> str:
    """The imputation flag of a date variable: ADT -> ADTF, ASTDTM -> ASTDTF, DTHDT -> DTHDTF."""
    return date_var[:-3] + "DTF" if date_var.endswith("DTM") else date_var + "F"


def _select_sources(sources: Sequence[TteSource], source_datasets: Mapping[str, pd.DataFrame],
                    origin: pd.DataFrame, keys: list[str], mode: str, selections: dict | None = None) -> pd.DataFrame:
    """Per subject the first (events) or last (censorings) dated record over all sources (`selections`: see
    derive_param_tte)."""
    parts = []
    for number, src in enumerate(sources):
        if src.dataset_name not in source_datasets:
            raise InputError(f"a {type(src).__name__} reads dataset '{src.dataset_name}', which is not among "
                             f"source_datasets ({', '.join(source_datasets) or 'none'})")
        data = check_frame(source_datasets[src.dataset_name], name=src.dataset_name)
        label = f"{src.dataset_name} ({type(src).__name__} on {src.date})"
        used = list(names(src.filter)) if isinstance(src.filter, str) else []
        for value in src.set_values_to.values():
            if isinstance(value, Expr) and isinstance(value.source, str):
                used += names(value.source)
        # the selection depends on the source, its frame, the mode and the keys; on the origin only through STARTDT
        # (the frames are held by the caller while `selections` lives, so their ids name them)
        memo = (id(src), id(data), mode, tuple(keys)) if selections is not None and "STARTDT" not in used else None
        if memo is not None and memo in selections:
            part = selections[memo].copy()
            part[_SOURCE_NR] = number
            parts.append(part)
            continue
        if "STARTDT" in used and "STARTDT" not in data.columns:
            data = data.merge(origin[keys + ["STARTDT"]], how="left", on=keys, sort=False)
        require_columns(data, keys + [src.date, *src.order, *[u for u in used if u != "STARTDT"]], dataset=label)
        require_dates(data, [src.date], dataset=label)
        flag_var = _flag_name(src.date)
        mask = evaluate_condition(src.filter, data, dataset=label) & data[src.date].notna().to_numpy()
        rows = data.loc[mask, _selected_columns(src, data, keys, used, flag_var)]
        rows = extreme_rows(rows, keys, (src.date, *src.order), mode)
        part = rows[keys].copy()
        part["ADT"] = rows[src.date].dt.floor("D").to_numpy()
        if flag_var in rows.columns and flag_var != src.date:
            part["ADTF"] = rows[flag_var].to_numpy()
        part["CNSR"] = src.censor
        evaluated = set_values(rows, src.set_values_to, dataset=label)
        for name in src.set_values_to:
            part[name] = evaluated[name].to_numpy()
        if memo is not None:
            selections[memo] = part.copy()
            selections.setdefault("__held__", []).append((src, data))  # keeps the ids valid while memoised
        part[_SOURCE_NR] = number
        parts.append(part)
    if not parts:  # no sources of this kind: an empty, typed selection
        empty = origin[keys].iloc[:0].assign(ADT=origin["STARTDT"].iloc[:0])
        return empty.assign(CNSR=pd.Series(dtype="int64"), **{_SOURCE_NR: pd.Series(dtype="int64")})
    combined = pd.concat(parts, ignore_index=True)
    # ties: events take the source listed first, censorings the source listed last (admiral)
    return extreme_rows(combined, keys, ("ADT", _SOURCE_NR), mode)


def _selected_columns(src: TteSource, data: pd.DataFrame, keys: list[str], used: list[str], flag_var: str) -> list:
    """The variables of `data` a source's selection reads (keys, date, order, flag, set_values_to): only these are
    copied with the selected records.  Every variable when a value is computed by a function (it may read any)."""
    if any(isinstance(v, Expr) and not isinstance(v.source, str) for v in src.set_values_to.values()):
        return list(data.columns)
    wanted = [*keys, src.date, *src.order, flag_var, *used]
    return [c for c in dict.fromkeys(wanted) if c in data.columns]


# ----------------------------------------------------------------------------------------------------------------
# the YAML spec section

_SOURCE_KEYS = {"type", "dataset", "date", "filter", "order", "censor", "set_values_to", "description"}
_PARAM_KEYS = {"start_date", "events", "censors", "set_values_to", "population", "description"}


def load_tte_parameters(section: Mapping[str, Any] | None, *, where: str = "adam/tte.yaml") -> dict[str, TteParameter]:
    """Build the time-to-event parameters a study declares; raise SpecError listing every problem (file + item).

    The section (e.g. ``specs/<study>/adam/tte.yaml``) has named `sources` and `parameters`::

        sources:
          death:
            type: event                # or: censor (then `censor: 1`, 2 ... tells reasons apart; default 1)
            dataset: ADSL
            date: DTHDT
            filter: notna(DTHDT)       # optional, the condition language of cdiscflow.core.expr
            order: [DTHSEQ]            # optional tie-break after the date
            set_values_to: {EVNTDESC: Death, SRCDOM: ADSL, SRCVAR: DTHDT, SRCSEQ: {expr: ASEQ}}
        parameters:
          OS:
            start_date: RANDDT
            events: [death]
            censors: [alive, randomised]
            population: SAFFL == 'Y'   # optional: the ADSL subjects who get a record (default: all with an origin)
            set_values_to: {PARAM: Overall Survival (days)}   # PARAMCD is the key

    Values in set_values_to are constants; ``{expr: ...}`` computes them from the source record.

    Two optional keys shape the dataset after every parameter's records (read by
    `recipes.adtte.load_tte_dataset_rules`)::

        adsl_vars: [TRT01P, TRT01A, TRTDURD]   # ADSL variables joined onto every record
        derive: {TRTP: {expr: TRT01P}}         # then variables from conditions/expressions (categories.VariableRule)
    """
    problems: list[str] = []

    def problem(item: str, msg: str) -> None:
        problems.append(f"{where}: {item}: {msg}")

    if not isinstance(section, Mapping):
        raise SpecError(f"{where}: must be a mapping with 'sources' and 'parameters'")
    for key in sorted(set(section) - {"sources", "parameters", "description", "adsl_vars", "derive"}):
        problem(key, "unknown key (expected sources, parameters, adsl_vars, derive)")
    raw_sources = section.get("sources") or {}
    raw_params = section.get("parameters") or {}
    if not isinstance(raw_sources, Mapping) or not raw_sources:
        problem("sources", "must name at least one source")
        raw_sources = {}
    if not isinstance(raw_params, Mapping) or not raw_params:
        problem("parameters", "must name at least one parameter")
        raw_params = {}

    sources: dict[str, TteSource] = {}
    for name, spec in raw_sources.items():
        item = f"sources.{name}"
        if not isinstance(spec, Mapping):
            problem(item, "must be a mapping")
            continue
        for key in sorted(set(spec) - _SOURCE_KEYS):
            problem(item, f"unknown key '{key}' (expected {', '.join(sorted(_SOURCE_KEYS))})")
        kind = spec.get("type")
        if kind not in ("event", "censor"):
            problem(item, f"type must be 'event' or 'censor', not {kind!r}")
            continue
        dataset, date = spec.get("dataset"), spec.get("date")
        if not isinstance(dataset, str) or not dataset:
            problem(item, "dataset is missing")
        if not _is_name(date):
            problem(item, f"date {date!r} is not a variable name")
        flt = spec.get("filter")
        if flt is not None:
            try:
                parse(str(flt))
            except ExpressionError as exc:
                problem(f"{item}.filter", str(exc))
        order = spec.get("order") or ()
        if isinstance(order, str):
            order = (order,)
        bad_order = [o for o in order if not _is_name(o)]
        if bad_order:
            problem(f"{item}.order", f"{bad_order} are not variable names")
        values = _values(spec.get("set_values_to"), f"{item}.set_values_to", problem)
        censor = spec.get("censor", 0 if kind == "event" else 1)
        if kind == "event" and censor != 0:
            problem(item, f"an event has censor 0, not {censor!r}")
        if kind == "censor" and (not isinstance(censor, int) or isinstance(censor, bool) or censor < 1):
            problem(item, f"censor must be a positive integer, not {censor!r}")
            censor = 1
        if any(p.startswith(f"{where}: {item}") for p in problems):
            continue
        cls = EventSource if kind == "event" else CensorSource
        sources[name] = cls(dataset_name=dataset, date=date, filter=flt, order=tuple(order), set_values_to=values,
                            censor=censor)

    parameters: dict[str, TteParameter] = {}
    for paramcd, spec in raw_params.items():
        item = f"parameters.{paramcd}"
        if not _is_name(paramcd):
            problem(item, "PARAMCD must be 1-8 characters: upper-case letters, digits, _ and a leading letter")
        if not isinstance(spec, Mapping):
            problem(item, "must be a mapping")
            continue
        for key in sorted(set(spec) - _PARAM_KEYS):
            problem(item, f"unknown key '{key}' (expected {', '.join(sorted(_PARAM_KEYS))})")
        start = spec.get("start_date")
        if not _is_name(start):
            problem(item, f"start_date {start!r} is not a variable name")
        chosen: dict[str, list] = {}
        for role, kind in (("events", EventSource), ("censors", CensorSource)):
            refs = spec.get(role) or []
            if isinstance(refs, str):
                refs = [refs]
            chosen[role] = []
            for ref in refs:
                if ref not in raw_sources:
                    problem(f"{item}.{role}", f"unknown source '{ref}' (sources: {', '.join(raw_sources)})")
                elif ref in sources and not isinstance(sources[ref], kind):
                    problem(f"{item}.{role}", f"source '{ref}' is not of type {role[:-1]}")
                elif ref in sources:
                    chosen[role].append(sources[ref])
            if role == "events" and not refs:
                problem(item, "needs at least one event")
            if role == "censors" and not refs:
                problem(item, "needs at least one censoring (e.g. the origin date) so every subject gets a record")
        values = _values(spec.get("set_values_to"), f"{item}.set_values_to", problem)
        population = spec.get("population")
        if population is not None:
            try:
                parse(str(population))
            except ExpressionError as exc:
                problem(f"{item}.population", str(exc))
        if "PARAMCD" in values and values["PARAMCD"] != paramcd:
            problem(item, f"set_values_to PARAMCD {values['PARAMCD']!r} differs from the parameter key")
        values = {"PARAMCD": paramcd, **values}
        parameters[paramcd] = TteParameter(paramcd=paramcd, start_date=start, events=tuple(chosen["events"]),
                                           censors=tuple(chosen["censors"]), set_values_to=MappingProxyType(values),
                                           population=None if population is None else str(population))
    if problems:
        raise SpecError(problems)
    return parameters


def tte_parameters_from_spec(spec: Any, section: str = "adam/tte") -> dict[str, TteParameter]:
    """The parameters of a loaded study spec's section (`StudySpec.section`)."""
    data = spec.section(section)
    if data is None:
        raise SpecError(f"the study spec has no {section}.yaml", path=str(getattr(spec, "path", "")) or None)
    return load_tte_parameters(data, where=f"{section}.yaml")


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(NAME_RE.match(value))


def _values(raw: Any, item: str, problem) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problem(item, "must be a mapping of variable: value")
        return {}
    out: dict[str, Any] = {}
    for var, value in raw.items():
        if not _is_name(var):
            problem(item, f"{var!r} is not a variable name")
            continue
        if isinstance(value, Mapping):
            if set(value) != {"expr"}:
                problem(f"{item}.{var}", "a computed value is written {expr: <expression>}")
                continue
            try:
                out[var] = Expr(str(value["expr"]))
            except ExpressionError as exc:
                problem(f"{item}.{var}", str(exc))
        elif isinstance(value, (str, int, float)) or value is None:
            out[var] = value
        else:
            problem(f"{item}.{var}", f"value {value!r} is neither a constant nor {{expr: ...}}")
    return out

