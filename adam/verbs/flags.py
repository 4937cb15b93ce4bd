"""Record flags: first/last per group, relative to a reference record, treatment-emergent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from cdiscflow.adam.verbs.checks import as_names, check_frame, require_columns, require_dates
from cdiscflow.adam.verbs.ordering import check_mode, order_columns, sort_rows
from cdiscflow.core.expr import Condition, ExpressionError, evaluate_condition, parse
from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.specs.model import NAME_RE


def _flag_series(mask: np.ndarray, index: pd.Index, true_value: Any, false_value: Any) -> pd.Series:
    values = np.where(mask, true_value, false_value)
    dtype = "str" if isinstance(true_value, str) and (false_value is None or isinstance(false_value, str)) else None
    return pd.Series(values, index=index, dtype=dtype)


def _no_collision(dataset: pd.DataFrame, name: str, dataset_name: str) -> None:
    if name in dataset.columns:
        raise InputError(f"{dataset_name} already has {name}; drop it first or choose another new_var")


def derive_var_extreme_flag(
    dataset: pd.DataFrame,
    *,
    by_vars: Iterable[str],
    order: Iterable[str],
    new_var: str,
    mode: str = "first",
    true_value: Any = "Y",
    false_value: Any = None,
    filter: Condition = None,
    dataset_name: str = "dataset",
) -> pd.DataFrame:
    """Flag the first or last record (by `order`) of each `by_vars` group among the records meeting `filter`.

    Other records get `false_value` (missing by default).  A record with a missing order value is flagged only if
    no record of its group has one; among equal records "first" flags the earlier row, "last" the later one.  Example, one assessment per
    subject and date, the worst first: ``by_vars=("STUDYID", "USUBJID", "ADT"), order=("AVAL", "RSSEQ")``."""
    check_frame(dataset, name=dataset_name)
    check_mode(mode)
    by = as_names(by_vars, arg="by_vars")
    require_columns(dataset, [*by, *order_columns(order)], dataset=dataset_name)
    _no_collision(dataset, new_var, dataset_name)
    eligible = np.flatnonzero(evaluate_condition(filter, dataset, dataset=dataset_name))
    sub = dataset.iloc[eligible]
    pos = sort_rows(sub, by, order, reverse_order=(mode == "last"))
    if by:
        chosen = ~sub.iloc[pos][list(by)].duplicated(keep="first").to_numpy()
    else:
        chosen = np.arange(len(pos)) == 0
    mask = np.zeros(len(dataset), dtype=bool)
    mask[eligible[pos][chosen]] = True
    out = dataset.copy(deep=False)
    out[new_var] = _flag_series(mask, dataset.index, true_value, false_value)
    return out


def derive_var_relative_flag(
    dataset: pd.DataFrame,
    *,
    by_vars: Iterable[str],
    order: Iterable[str],
    new_var: str,
    condition: Condition,
    mode: str = "first",
    selection: str = "before",
    inclusive: bool = True,
    flag_no_ref_groups: bool = True,
    true_value: Any = "Y",
    false_value: Any = None,
    dataset_name: str = "dataset",
) -> pd.DataFrame:
    """Flag the records before or after the first/last record meeting `condition` in each `by_vars` group.

    Example, assessments up to and including the first PD: ``condition="AVALC == 'PD'", mode="first",
    selection="before", inclusive=True``.  Groups without such a record are flagged entirely when
    `flag_no_ref_groups` (the default), otherwise not at all."""
    check_frame(dataset, name=dataset_name)
    check_mode(mode)
    if selection not in ("before", "after"):
        raise ValueError(f"selection must be 'before' or 'after', not {selection!r}")
    by = list(as_names(by_vars, arg="by_vars"))
    require_columns(dataset, [*by, *order_columns(order)], dataset=dataset_name)
    _no_collision(dataset, new_var, dataset_name)
    is_ref = evaluate_condition(condition, dataset, dataset=dataset_name)
    pos = sort_rows(dataset, by, order)
    ordered = dataset.iloc[pos][by].reset_index(drop=True)
    ref = pd.Series(is_ref[pos])
    group = ordered.groupby(by, sort=False, dropna=False).ngroup() if by else pd.Series(0, index=ordered.index)
    rank = group.groupby(group).cumcount()
    ref_rank = rank.where(ref)
    agg = "min" if mode == "first" else "max"
    target = ref_rank.groupby(group).transform(agg)
    if selection == "before":
        flag = (rank < target) | (inclusive & (rank == target))
    else:
        flag = (rank > target) | (inclusive & (rank == target))
    flag = flag.to_numpy() | (target.isna().to_numpy() & flag_no_ref_groups)
    mask = np.zeros(len(dataset), dtype=bool)
    mask[pos] = flag
    out = dataset.copy(deep=False)
    out[new_var] = _flag_series(mask, dataset.index, true_value, false_value)
    return out


def derive_var_trtemfl(
    dataset: pd.DataFrame,
    *,
    new_var: str = "TRTEMFL",
    start_date: str = "ASTDTM",
    end_date: str = "AENDTM",
    trt_start_date: str = "TRTSDTM",
    trt_end_date: str | None = None,
    end_window: int | None = None,
    ignore_time_for_trt_end: bool = True,
    initial_intensity: str | None = None,
    intensity: str | None = None,
    dataset_name: str = "dataset",
) -> pd.DataFrame:
    """Treatment-emergent flag ("Y" or missing).  The first case that applies decides, as in admiral:

    1. not treated (trt_start_date missing) -> missing;
    2. event ended before treatment start -> missing;
    3. start date missing -> "Y" (the conservative choice);
    4. started on/after treatment start and, when `end_window` is given, on or before treatment end + end_window
       days (dates only if `ignore_time_for_trt_end`) -> "Y";
    5. with `initial_intensity`/`intensity`: started before treatment and worsened (intensity greater than the
       initial one, or either missing) -> "Y";
    6. otherwise missing.
    Intensities must compare with < (numeric grades, or text grades of one digit)."""
    check_frame(dataset, name=dataset_name)
    if (initial_intensity is None) != (intensity is None):
        raise ValueError("give both initial_intensity and intensity, or neither")
    if end_window is not None:
        if trt_end_date is None:
            raise ValueError("end_window needs trt_end_date")
        if not isinstance(end_window, int) or end_window < 0:
            raise ValueError(f"end_window must be a non-negative whole number of days, not {end_window!r}")
    dates = [start_date, end_date, trt_start_date] + ([trt_end_date] if trt_end_date else [])
    require_columns(dataset, dates + [v for v in (initial_intensity, intensity) if v], dataset=dataset_name)
    require_dates(dataset, dates, dataset=dataset_name)
    _no_collision(dataset, new_var, dataset_name)
    start, end, trt_start = dataset[start_date], dataset[end_date], dataset[trt_start_date]
    if end_window is None:
        in_window = pd.Series(True, index=dataset.index)
    else:
        trt_end = dataset[trt_end_date]
        if ignore_time_for_trt_end:
            in_window = trt_end.isna() | (start.dt.floor("D") <= trt_end.dt.floor("D") + pd.Timedelta(days=end_window))
        else:
            in_window = trt_end.isna() | (start <= trt_end + pd.Timedelta(days=end_window))
    new_event = (start >= trt_start) & in_window
    if intensity is not None:
        initial, current = dataset[initial_intensity], dataset[intensity]
        worse = (start < trt_start) & ((initial < current) | initial.isna() | current.isna())
    else:
        worse = pd.Series(False, index=dataset.index)
    untreated = trt_start.isna()
    ended_before = end.notna() & (end < trt_start)
    flag = np.select(
        [untreated, ended_before, start.isna(), new_event, worse],
        [False, False, True, True, True],
        default=False,
    )
    out = dataset.copy(deep=False)
    out[new_var] = _flag_series(flag, dataset.index, "Y", None)
    return out



# ----------------------------------------------------------------------------------------------------------------
# first/last flags as data (`flags:` sections of specs/<study>/adam/*.yaml)


@dataclass(frozen=True)
class ExtremeFlagRule:
    """``AOCC01FL: {by: [APERIOD, AEDECOD], order: [-ATOXGRN, ASTDT, AESEQ], filter: TRTEMFL == 'Y'}``: Y on the
    first record (by `order`; `mode: last` for the last) of each subject and `by` group among the records meeting
    `filter`."""

    name: str
    by: tuple[str, ...]
    order: tuple[str, ...]
    mode: str = "first"
    filter: str | None = None

    def apply(self, dataset: pd.DataFrame, *, subject_keys: Iterable[str] = ("STUDYID", "USUBJID"),
              dataset_name: str = "dataset") -> pd.DataFrame:
        return derive_var_extreme_flag(dataset, by_vars=[*subject_keys, *self.by], order=self.order,
                                       new_var=self.name, mode=self.mode, filter=self.filter,
                                       dataset_name=dataset_name)


def load_extreme_flag_rules(section: Any, *, where: str) -> tuple[ExtremeFlagRule, ...]:
    """Parse a `flags:` section ({FLAG: {by, order, mode, filter}}); SpecError lists every problem."""
    if section is None:
        return ()
    if not isinstance(section, Mapping):
        raise SpecError(f"{where}: must map each flag to {{by: [...], order: [...], filter: ...}}")
    problems, rules = [], []
    for name, spec in section.items():
        loc = f"{where}.{name}"
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.append(f"{loc}: {name!r} is not a variable name")
            continue
        if not isinstance(spec, Mapping) or not spec.get("order"):
            problems.append(f"{loc}: give order (and by, mode, filter)")
            continue
        unknown = sorted(set(spec) - {"by", "order", "mode", "filter"})
        if unknown:
            problems.append(f"{loc}: unknown key(s) {', '.join(unknown)} (expected by, order, mode, filter)")
        mode = spec.get("mode", "first")
        if mode not in ("first", "last"):
            problems.append(f"{loc}: mode must be first or last")
        if spec.get("filter") is not None:
            try:
                parse(str(spec["filter"]))
            except ExpressionError as exc:
                problems.append(f"{loc}.filter: {exc}")
        by, order = spec.get("by") or (), spec["order"]
        rules.append(ExtremeFlagRule(name, (by,) if isinstance(by, str) else tuple(by),
                                     (order,) if isinstance(order, str) else tuple(order), mode,
                                     None if spec.get("filter") is None else str(spec["filter"])))
    if problems:
        raise SpecError(problems)
    return tuple(rules)
