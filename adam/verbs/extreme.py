"""One engine for "the first/last record among ordered events": best overall response, first PD, response flags,
last date known alive ...  (admiral's `event()` + `derive_extreme_event()` / `derive_vars_extreme_event()`).

An `Event` is data: which source records qualify (`condition`), what they become (`set_values_to`), and a
description.  For each subject the engine collects the qualifying records of every event, then keeps one:

* by default events are tried in list order, so the first event with any record wins (best response: sCR before
  CR before ...), whatever the `mode`; `order`/`mode` choose among that event's records (the earliest date);
* with `ignore_event_order=True` only `order`/`mode` decide and the list order breaks remaining ties (the earlier
  event wins), e.g. the latest of several dates.

    best_response = [Event("sCR", "AVALC == 'sCR'", {"AVALC": "sCR"}, dataset_name="ovr"), ...,
                     Event("no assessment", None, {"AVALC": "MISSING"}, dataset_name="adsl")]
    adrs = derive_extreme_event(adrs, events=best_response, source_datasets={"ovr": ovr, "adsl": adsl},
                                order=("ADT",), set_values_to={"PARAMCD": "CBOR"})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from cdiscflow.adam.verbs.checks import SUBJECT_KEYS, as_names, check_frame, require_columns
from cdiscflow.adam.verbs.ordering import check_mode, extreme_rows, order_columns
from cdiscflow.core.expr import Condition, Expr, ExpressionError, evaluate_condition, parse, set_values
from cdiscflow.adam.verbs.merge import derive_vars_merged
from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.specs.model import NAME_RE

_EVENT_NR = "__event_nr__"


@dataclass(frozen=True)
class Event:
    """One kind of qualifying record: `condition` on the source dataset `dataset_name` (None: the `dataset` given
    to the engine), the values the selected record gets, and which source variables it keeps (None: all)."""

    description: str
    condition: Condition = None
    set_values_to: Mapping[str, Any] = field(default_factory=dict)
    dataset_name: str | None = None
    keep_source_vars: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.condition, str):
            parse(self.condition)
        object.__setattr__(self, "set_values_to", MappingProxyType(dict(self.set_values_to)))
        if self.keep_source_vars is not None:
            object.__setattr__(self, "keep_source_vars", tuple(self.keep_source_vars))


def select_extreme_event(
    *,
    events: Sequence[Event],
    source_datasets: Mapping[str, pd.DataFrame] | None = None,
    dataset: pd.DataFrame | None = None,
    by_vars: Iterable[str] = SUBJECT_KEYS,
    order: Iterable[str] = (),
    mode: str = "first",
    ignore_event_order: bool = False,
    description_var: str | None = None,
) -> pd.DataFrame:
    """The selected record per `by_vars` group (one row per group that has any qualifying record): the first/last
    of each group among the events' qualifying records, one after the other.  The records of consecutive events of
    one kind (`_same_kind`: ADRS's best response has eight events on the confirmed responses, each setting AVALC)
    are taken from their source at once."""
    check_mode(mode)
    by = list(as_names(by_vars, arg="by_vars"))
    if not events:
        raise ValueError("events must list at least one Event")
    sources = dict(source_datasets or {})
    found = []
    for number, event in enumerate(events):
        if not isinstance(event, Event):
            raise TypeError(f"events[{number}] is a {type(event).__name__}, not an Event")
        source, name = _source(event, sources, dataset)
        require_columns(source, by, dataset=name, purpose=f"event '{event.description}'")
        mask = evaluate_condition(event.condition, source, dataset=name)
        columns = None
        if event.keep_source_vars is not None:  # only the kept variables are copied with the records
            require_columns(source, event.keep_source_vars, dataset=name, purpose=f"event '{event.description}'")
            columns = list(dict.fromkeys(by + [c for c in event.keep_source_vars if c not in by]))
            columns += [c for c in order_columns(order) if c in source.columns and c not in columns]
        marks = {_EVENT_NR: number, **({description_var: event.description} if description_var else {})}
        found.append(_Qualifying(source, name, np.flatnonzero(mask), columns, {**event.set_values_to, **marks}))
    combined = _combined(*_taken_by_run(found))
    require_columns(combined, order_columns(order), dataset="the events' records", purpose="order")
    if ignore_event_order:
        chosen = extreme_rows(combined, by, [*order, _EVENT_NR if mode == "first" else f"-{_EVENT_NR}"], mode)
    else:
        chosen = extreme_rows(combined, by, order, mode, priority=[_EVENT_NR])
    return chosen.drop(columns=_EVENT_NR).reset_index(drop=True)


@dataclass(frozen=True)
class _Qualifying:
    """One event's qualifying records: positions in its source, the variables kept (None: all) and its values."""

    source: pd.DataFrame
    name: str
    positions: np.ndarray
    columns: list[str] | None
    values: Mapping[str, Any]

    def frame(self) -> pd.DataFrame:
        return self.source if self.columns is None else self.source[self.columns]

    def records(self) -> pd.DataFrame:
        return set_values(self.frame().iloc[self.positions], self.values, dataset=self.name)


def _combined(parts: list[pd.DataFrame], qualified: list[bool]) -> pd.DataFrame:
    """The events' records one after the other; the events without a qualifying record are left out of the
    concatenation but keep their variables, with their types."""
    combined = pd.concat([p for p, q in zip(parts, qualified) if q] or parts[:1], ignore_index=True)
    for part in parts:  # over the events
        for col in part.columns.difference(combined.columns, sort=False):
            combined[col] = pd.Series(index=combined.index, dtype=part[col].dtype)
    return combined


def _taken_by_run(found: list[_Qualifying]) -> tuple[list[pd.DataFrame], list[bool]]:
    """Each event's records with its values (and whether it has any), those of consecutive events of one kind
    (`_same_kind`) taken at once: their records have the same variables with the same types, so one take is what
    concatenating them gives."""
    parts, qualified = [], []
    run: list[_Qualifying] = []

    def close() -> None:
        if run:
            parts.append(run[0].records() if len(run) == 1 else _run_records(run))
            qualified.append(True)
            run.clear()

    for q in found:  # over the events
        if not len(q.positions):  # no qualifying record: its variables and their types only
            parts.append(q.records())
            qualified.append(False)
            continue
        if run and not _same_kind(run[0], q):
            close()
        run.append(q)
    close()
    return parts, qualified


_PLAIN_CONSTANTS = (str, bool, int, float, type(None))  # constants whose column type `_run_records` keeps exactly


def _same_kind(a: _Qualifying, b: _Qualifying) -> bool:
    """Events whose records get the same variables with the same types: one source, the same kept variables and
    plain constants (text, numbers, booleans, None) of the same Python types for the same variables.  Any other
    value (an expression, whose type depends on the values; pd.NA, NaT, datetimes ..., whose column type numpy
    would not keep) makes its event a run of its own."""
    return (a.source is b.source and a.columns == b.columns and list(a.values) == list(b.values)
            and all(type(v) in _PLAIN_CONSTANTS and type(v) is type(b.values[k]) for k, v in a.values.items()))


def _run_records(run: list[_Qualifying]) -> pd.DataFrame:
    """The records of a run of events of one kind taken at once, each with its event's values (a value every
    event of the run sets alike is set as the one constant, as each event sets it)."""
    frame = run[0].frame().iloc[np.concatenate([q.positions for q in run])]
    counts = [len(q.positions) for q in run]
    values = {}
    for name, value in run[0].values.items():  # over the variables the events set
        given = [q.values[name] for q in run]
        if all(v == value for v in given):
            values[name] = value
        else:  # each event's value taken to its records (text as text, numbers in numpy's type)
            event_of = np.repeat(np.arange(len(run)), counts)
            distinct = pd.array(given, dtype="str") if isinstance(value, str) else np.array(given)
            values[name] = pd.Series(distinct.take(event_of), index=frame.index)
    return set_values(frame, values, dataset=run[0].name)


def _source(event: Event, sources: dict[str, pd.DataFrame], dataset: pd.DataFrame | None) -> tuple[pd.DataFrame, str]:
    if event.dataset_name is None:
        if dataset is None:
            raise ValueError(f"event '{event.description}' has no dataset_name and no dataset was given")
        return dataset, "dataset"
    if event.dataset_name not in sources:
        raise InputError(
            f"event '{event.description}' reads dataset '{event.dataset_name}', which is not among source_datasets "
            f"({', '.join(sources) or 'none'})"
        )
    return check_frame(sources[event.dataset_name], name=event.dataset_name), event.dataset_name


def derive_extreme_event(
    dataset: pd.DataFrame | None,
    *,
    events: Sequence[Event],
    source_datasets: Mapping[str, pd.DataFrame] | None = None,
    by_vars: Iterable[str] = SUBJECT_KEYS,
    order: Iterable[str] = (),
    mode: str = "first",
    ignore_event_order: bool = False,
    set_values_to: Mapping[str, Any] | None = None,
    description_var: str | None = None,
) -> pd.DataFrame:
    """Add one record per `by_vars` group: the first/last qualifying record among the ordered `events`.

    The new records carry their source variables (see `Event.keep_source_vars`), the event's `set_values_to`,
    then the `set_values_to` given here (e.g. PARAMCD).  `description_var`, if given, receives the description of
    the event that produced each record.  Returns `dataset` (None: nothing) with the new records appended."""
    if dataset is not None:
        check_frame(dataset, name="dataset")
    new = select_extreme_event(events=events, source_datasets=source_datasets, dataset=dataset, by_vars=by_vars,
                               order=order, mode=mode, ignore_event_order=ignore_event_order,
                               description_var=description_var)
    new = set_values(new, set_values_to, dataset="the new records")
    if dataset is None:
        return new
    return pd.concat([dataset, new], ignore_index=True)


def derive_vars_extreme_event(
    dataset: pd.DataFrame,
    *,
    events: Sequence[Event],
    new_vars: Iterable[str] | Mapping[str, str],
    source_datasets: Mapping[str, pd.DataFrame] | None = None,
    by_vars: Iterable[str] = SUBJECT_KEYS,
    order: Iterable[str] = (),
    mode: str = "first",
    ignore_event_order: bool = False,
    missing_values: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Add variables (`new_vars`) of the selected event record to `dataset` (one value per `by_vars` group).

    Example, the last date known alive as the latest of several dates:
    ``events=[Event("AE start", "notna(ASTDT)", {"LSTALVDT": Expr("ASTDT")}, "ae"), ...]``,
    ``order=("LSTALVDT",), mode="last", ignore_event_order=True, new_vars=("LSTALVDT",)``."""
    check_frame(dataset, name="dataset")
    chosen = select_extreme_event(events=events, source_datasets=source_datasets, dataset=dataset,
                                  by_vars=by_vars, order=order, mode=mode, ignore_event_order=ignore_event_order)
    return derive_vars_merged(dataset, dataset_add=chosen, by_vars=by_vars, new_vars=new_vars,
                              missing_values=missing_values, dataset_add_name="the selected event records")


# ----------------------------------------------------------------------------------------------------------------
# derive_vars_extreme_event as data (the `extreme_events:` section of specs/<study>/adam/adsl.yaml)

_RULE_KEYS = {"new_vars", "events", "order", "mode", "ignore_event_order", "description"}
_EVENT_KEYS = {"dataset", "condition", "set_values_to", "description"}


@dataclass(frozen=True)
class ExtremeEventRule:
    """One `derive_vars_extreme_event` call written as data, e.g. admiral's cause of death::

        - new_vars: [DTHCAUS, DTHDOM]
          mode: first                          # first (default) or last
          order: [AESEQ]                       # optional: which record of an event (all events: ignore_event_order)
          events:                              # tried in this order; the first with a record wins
            - {dataset: AE, condition: "AEOUT == 'FATAL'", set_values_to: {DTHCAUS: {expr: AEDECOD}, DTHDOM: AE}}
            - {dataset: DS, condition: "DSDECOD == 'DEATH'", set_values_to: {DTHCAUS: {expr: DSTERM}, DTHDOM: DS}}

    `dataset` is an SDTM dataset (SUPP-- joined, dates added) or ADSL itself; values in set_values_to are constants
    or ``{expr: ...}`` computed from the event's record."""

    new_vars: tuple[str, ...]
    events: tuple[Event, ...]  # dataset_name "<DATASET>#<n>"
    order: tuple[str, ...] = ()
    mode: str = "first"
    ignore_event_order: bool = False

    def apply(self, dataset: pd.DataFrame, source, *, dataset_name: str = "dataset") -> pd.DataFrame:
        """The new variables on `dataset`; `source(name)` gives the frame of a dataset name (e.g. "AE")."""
        frames = {e.dataset_name: source(e.dataset_name.split("#")[0]) for e in self.events}
        return derive_vars_extreme_event(dataset, events=self.events, source_datasets=frames, order=self.order,
                                         mode=self.mode, ignore_event_order=self.ignore_event_order,
                                         new_vars=self.new_vars)


def load_extreme_event_rules(section: Any, *, where: str) -> tuple[ExtremeEventRule, ...]:
    """Parse an `extreme_events:` list (see `ExtremeEventRule`); raise SpecError listing every problem."""
    if section is None:
        return ()
    if not isinstance(section, (list, tuple)):
        raise SpecError(f"{where}: must be a list of {{new_vars: [...], events: [{{dataset, condition, "
                        f"set_values_to}}, ...]}}")
    problems: list[str] = []
    rules = []
    for i, item in enumerate(section):
        loc = f"{where}[{i + 1}]"
        if not isinstance(item, Mapping):
            problems.append(f"{loc}: must be a mapping with new_vars and events")
            continue
        for key in sorted(set(item) - _RULE_KEYS, key=str):
            problems.append(f"{loc}: unknown key '{key}' (expected {', '.join(sorted(_RULE_KEYS))})")
        new_vars = item.get("new_vars")
        new_vars = [new_vars] if isinstance(new_vars, str) else new_vars
        if not isinstance(new_vars, (list, tuple)) or not new_vars or not all(_is_name(v) for v in new_vars):
            problems.append(f"{loc}: new_vars must list the new variables")
            new_vars = []
        order = item.get("order") or ()
        order = [order] if isinstance(order, str) else order
        if not isinstance(order, (list, tuple)) or not all(_is_name(str(o).lstrip("-")) for o in order):
            problems.append(f"{loc}: order must list variable names")
            order = ()
        mode = item.get("mode", "first")
        if mode not in ("first", "last"):
            problems.append(f"{loc}: mode must be first or last, not {mode!r}")
        if not isinstance(item.get("ignore_event_order", False), bool):
            problems.append(f"{loc}: ignore_event_order must be true or false")
        raw_events = item.get("events")
        if not isinstance(raw_events, (list, tuple)) or not raw_events:
            problems.append(f"{loc}: events must list at least one {{dataset, condition, set_values_to}}")
            raw_events = []
        events = []
        for j, raw in enumerate(raw_events):
            eloc = f"{loc}.events[{j + 1}]"
            event = _event_from_yaml(raw, eloc, f"#{i + 1}.{j + 1}", problems)
            if event is not None:
                events.append(event)
        if any(p.startswith(loc) for p in problems):
            continue
        rules.append(ExtremeEventRule(tuple(new_vars), tuple(events), tuple(order), mode,
                                      bool(item.get("ignore_event_order", False))))
    if problems:
        raise SpecError(problems)
    return tuple(rules)


def _event_from_yaml(raw: Any, loc: str, tag: str, problems: list[str]) -> Event | None:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("dataset"), str) or not raw.get("dataset"):
        problems.append(f"{loc}: give dataset, optionally condition and set_values_to")
        return None
    for key in sorted(set(raw) - _EVENT_KEYS, key=str):
        problems.append(f"{loc}: unknown key '{key}' (expected {', '.join(sorted(_EVENT_KEYS))})")
    condition = raw.get("condition")
    if condition is not None:
        try:
            parse(str(condition))
        except ExpressionError as exc:
            problems.append(f"{loc}.condition: {exc}")
            return None
    values: dict[str, Any] = {}
    raw_values = raw.get("set_values_to") or {}
    if not isinstance(raw_values, Mapping):
        problems.append(f"{loc}.set_values_to: must map variables to constants or {{expr: ...}}")
        raw_values = {}
    for var, value in raw_values.items():
        if not _is_name(var):
            problems.append(f"{loc}.set_values_to: {var!r} is not a variable name")
        elif isinstance(value, Mapping):
            if set(value) != {"expr"}:
                problems.append(f"{loc}.set_values_to.{var}: a computed value is written {{expr: <expression>}}")
                continue
            try:
                values[var] = Expr(str(value["expr"]))
            except ExpressionError as exc:
                problems.append(f"{loc}.set_values_to.{var}: {exc}")
        elif value is None or isinstance(value, (str, int, float)) and not isinstance(value, bool):
            values[var] = value
        else:
            problems.append(f"{loc}.set_values_to.{var}: {value!r} is neither a constant nor {{expr: ...}}")
    dataset = raw["dataset"].upper()
    description = str(raw.get("description") or f"{dataset}: {condition or 'every record'}")
    return Event(description, None if condition is None else str(condition), values, f"{dataset}{tag}")


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(NAME_RE.match(value))


__all__ = ["Event", "Expr", "ExtremeEventRule", "derive_extreme_event", "derive_vars_extreme_event",
           "load_extreme_event_rules", "select_extreme_event"]