"""ISO 8601 --DTC text to ADaM dates and datetimes, with imputation and *DTF/*TMF flags; study days; durations.

SDTM keeps dates as collected ISO 8601 text (``2019-02``, ``2019---15``, ``2019-02-15T10:30``); ADaM needs numeric
dates.  The rules are admiral's:

* `highest_imputation` is the highest component that may be imputed: ``"Y"`` year, ``"M"`` month, ``"D"`` day,
  ``"h"``/``"m"``/``"s"`` hour/minute/second (datetimes), ``"n"`` none.  A date missing a higher component stays
  missing (with ``"D"``, ``2020`` gives no date).
* `date_imputation`: ``"first"`` (01-01 / day 01), ``"mid"`` (06-30 if month and day are missing, day 15 if only the
  day is), ``"last"`` (12-31 / last day of that month: 2020-02 gives 2020-02-29, 2019-02 gives 2019-02-28),
  ``"MM-DD"`` (highest ``"M"`` or ``"Y"``) or ``"DD"`` (highest ``"D"``).
* When the month is missing, a collected day is dropped unless `preserve=True` (``2019---15`` -> 2019-01-01, or
  2019-01-15 preserved).
* `min_dates` / `max_dates` (variables of the dataset): the imputed date is moved up to the latest minimum date /
  down to the earliest maximum date that lies within the range of dates the partial value allows (the collected
  parts never change: ``2020-03`` with TRTSDT 2020-03-10 -> 2020-03-10; with TRTSDT 2020-02-20 -> 2020-03-01).
  With ``"Y"`` a missing year is imputed from them (required: `min_dates` for "first", `max_dates` for "last").
* Flags (ADaM CT DATEFL / TIMEFL): *DTF ``Y``/``M``/``D`` = the highest date component imputed; *TMF ``H``/``M``/``S``
  likewise for the time.  Missing when nothing was imputed.
* Never an impossible date: text such as ``2019-02-29`` or ``2020-13-01`` stops with an error naming the rows, and
  an imputation rule that would produce one (``"30"`` for February) stops too.

Dates are returned as datetime64 at midnight; datetimes keep their time.  Each function returns a new dataset.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from cdiscflow.adam.verbs.checks import check_frame, describe_rows, require_columns, require_dates, text
from cdiscflow.core import iso8601
from cdiscflow.core.calendar import _completed_months, compute_completed_years  # noqa: F401 (ADaM verb)
from cdiscflow.core.errors import InputError
from cdiscflow.core.frames import is_text_category

DATE_LEVELS = ("n", "D", "M", "Y")
DATETIME_LEVELS = ("n", "s", "m", "h", "D", "M", "Y")
FLAG_IMPUTATION = ("auto", "date", "time", "both", "none")

_MDAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


# ----------------------------------------------------------------------------------------------------------------
# parsing


def parse_dtc(dtc: pd.Series, *, variable: str = "--DTC", dataset: str = "dataset",
              context: pd.DataFrame | None = None) -> pd.DataFrame:
    """Split ISO 8601 text into numeric components Y M D h m s (float, NaN = unknown) and check them.

    Blank/missing text gives all-NaN components.  Text that is not ISO 8601, or names an impossible date or time,
    raises InputError listing the rows (with the subject when `context` has USUBJID)."""
    # dates repeat: each distinct text is parsed once and the result is spread back over the rows
    if is_text_category(dtc):  # compacted text (core.frames.compact): its categories parsed, by its codes
        codes, distinct = dtc.cat.codes.to_numpy(), pd.Series(dtc.cat.categories, dtype="str").str.strip()
    else:
        codes, distinct = pd.factorize(dtc.astype("str").str.strip(), use_na_sentinel=True)
    parsed, bad_distinct = _parse_distinct(pd.Series(distinct, dtype="str"))
    rows = np.where(codes >= 0, codes, len(distinct))  # the extra last row of `parsed` is all missing
    comp = pd.DataFrame(parsed[rows], columns=list("YMDhms"), index=dtc.index)
    bad = np.append(bad_distinct, False)[rows]
    if bad.any():
        frame = context if context is not None else pd.DataFrame({variable: dtc})
        shown = frame.assign(**{variable: dtc.to_numpy()})
        cols = [c for c in ("USUBJID",) if c in shown.columns] + [variable]
        raise InputError(
            f"{dataset}.{variable}: {int(bad.sum())} value(s) are not valid ISO 8601 dates/times or name a date or "
            f"time that does not exist: {describe_rows(shown, bad, cols)}"
        )
    return comp


def _parse_distinct(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Components Y M D h m s (columns) of distinct ISO 8601 texts, plus one all-missing row at the end; and which
    texts are invalid.

    The text is read by the one ISO 8601 kernel (core.iso8601), so ADaM accepts exactly what validation accepts
    (a UTC offset is set aside: the time as collected; decimal seconds of any length)."""
    blank = (raw == "").to_numpy()
    nums, status = iso8601.parse_text(raw)
    comp = np.vstack([nums, np.full((1, 6), np.nan)]).astype("float64")
    comp[np.flatnonzero(blank)] = np.nan
    return comp, ~blank & (status != iso8601.OK)


def _leap(y: np.ndarray) -> np.ndarray:
    y = y.astype(np.int64)
    return (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))


def _days_in_month(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    m_idx = np.asarray(m, dtype=np.int64) - 1
    return _MDAYS[m_idx] + ((m_idx == 1) & _leap(np.asarray(y))).astype(np.int64)


# ----------------------------------------------------------------------------------------------------------------
# imputation (vectors)


def _check_level(level: str, allowed: Sequence[str], arg: str = "highest_imputation") -> int:
    if level not in allowed:
        raise ValueError(f"{arg} must be one of {', '.join(allowed)}, not {level!r}")
    return allowed.index(level)


def _date_targets(date_imputation: str, highest: str) -> tuple[str, int | None, int | None]:
    """('first'|'mid'|'last'|'fixed', fixed month, fixed day)."""
    if date_imputation in ("first", "mid", "last"):
        return date_imputation, None, None
    if re.fullmatch(r"\d{2}-\d{2}", date_imputation):
        if highest not in ("M", "Y"):
            raise ValueError(f"date_imputation {date_imputation!r} (MM-DD) needs highest_imputation 'M' or 'Y'")
        mm, dd = map(int, date_imputation.split("-"))
        if not 1 <= mm <= 12 or not 1 <= dd <= _days_in_month(np.array([2000]), np.array([mm]))[0]:
            raise ValueError(f"date_imputation {date_imputation!r} is not a day of the year")
        return "fixed", mm, dd
    if re.fullmatch(r"\d{2}", date_imputation):
        if highest != "D":
            raise ValueError(f"date_imputation {date_imputation!r} (DD) needs highest_imputation 'D'")
        dd = int(date_imputation)
        if not 1 <= dd <= 31:
            raise ValueError(f"date_imputation {date_imputation!r} is not a day of the month")
        return "fixed", None, dd
    raise ValueError(f"date_imputation must be 'first', 'mid', 'last', 'MM-DD' or 'DD', not {date_imputation!r}")


def _impute_parts(comp: pd.DataFrame, highest: str, date_imputation: str,
                  preserve: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Imputed year, month, day (float arrays, NaN where no date results), the date flag and 'imputable' mask."""
    kind, fix_m, fix_d = _date_targets(date_imputation, highest if highest in DATE_LEVELS else "n")
    levels = DATE_LEVELS
    rank = levels.index(highest)
    y, m, d = (comp[c].to_numpy(dtype=float) for c in ("Y", "M", "D"))
    miss_y, miss_m, miss_d = np.isnan(y), np.isnan(m), np.isnan(d)
    # the highest missing date component decides whether the date may be imputed and the flag
    flag = np.where(miss_y, "Y", np.where(miss_m, "M", np.where(miss_d, "D", "")))
    allowed = {"Y": rank >= levels.index("Y"), "M": rank >= levels.index("M"), "D": rank >= levels.index("D")}
    ok = np.where(miss_y, allowed["Y"], np.where(miss_m, allowed["M"], np.where(miss_d, allowed["D"], True)))
    drop_day = miss_m & ~(preserve & ~miss_d)  # the day is re-imputed when the month is unknown (unless preserved)
    new_m = m.copy()
    new_d = np.where(drop_day, np.nan, d)
    if kind == "first":
        new_m = np.where(miss_m, 1, new_m)
        day_fill = np.ones_like(y)
    elif kind == "mid":
        new_m = np.where(miss_m, 6, new_m)
        day_fill = np.where(miss_m, 30, 15)
    elif kind == "last":
        new_m = np.where(miss_m, 12, new_m)
        day_fill = None  # last day of the (imputed) month, below
    else:
        new_m = np.where(miss_m, fix_m if fix_m is not None else np.nan, new_m)
        day_fill = np.full_like(y, fix_d)
    year_for_days = np.where(miss_y, 2000, y)
    if day_fill is None:
        safe_m = np.where(np.isnan(new_m), 1, new_m)
        day_fill = _days_in_month(year_for_days, safe_m).astype(float)
    new_d = np.where(np.isnan(new_d), day_fill, new_d)
    keep = ok & ~miss_y  # a missing year can only come from min/max dates
    return np.where(keep, y, np.nan), np.where(keep, new_m, np.nan), np.where(keep, new_d, np.nan), flag, ok


def _to_dates(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """datetime64[D] from float components (NaT where any is NaN).  Days must already be valid."""
    valid = ~(np.isnan(y) | np.isnan(m) | np.isnan(d))
    out = np.full(len(y), np.datetime64("NaT"), dtype="datetime64[D]")
    if valid.any():
        months = ((y[valid] - 1970) * 12 + (m[valid] - 1)).astype(np.int64).astype("datetime64[M]")
        out[valid] = months.astype("datetime64[D]") + (d[valid] - 1).astype(np.int64).astype("timedelta64[D]")
    return out


def _range_bounds(comp: pd.DataFrame, preserve: bool) -> tuple[np.ndarray, np.ndarray]:
    """Earliest and latest date each partial value allows (NaT when the year is unknown: any date is possible)."""
    lo = _impute_parts(comp, "M", "first", preserve)
    hi = _impute_parts(comp, "M", "last", preserve)
    return _to_dates(*lo[:3]), _to_dates(*hi[:3])


def _restrict(imputed: np.ndarray, lower: np.ndarray, upper: np.ndarray, limits: Sequence[np.ndarray],
              use_min: bool, unbounded: np.ndarray) -> np.ndarray:
    """Move imputed values up to min dates (use_min) or down to max dates that lie within [lower, upper]."""
    out = imputed.copy()
    for lim in limits:
        have = ~np.isnat(lim)
        inside = have & (unbounded | ((lim >= lower) & (lim <= upper)))
        if use_min:
            move = inside & (np.isnat(out) | (lim > out))
        else:
            move = inside & (np.isnat(out) | (lim < out))
        out = np.where(move, lim, out)
    return out


def _limit_arrays(frame: pd.DataFrame, names: Iterable[str] | None, unit: str) -> list[np.ndarray]:
    out = []
    for name in names or ():
        col = frame[name]
        if unit == "D":
            out.append(col.dt.floor("D").to_numpy().astype("datetime64[D]"))
        else:
            out.append(col.to_numpy().astype("datetime64[s]"))
    return out


def _impute_dates(comp: pd.DataFrame, *, highest: str, date_imputation: str, preserve: bool,
                  min_dates: list[np.ndarray], max_dates: list[np.ndarray],
                  invalid_context: tuple[pd.Series, pd.DataFrame | None, str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Imputed dates (datetime64[D]) and date flags ('' = none) for parsed components."""
    if highest == "Y":
        if date_imputation == "first" and not min_dates:
            raise ValueError("highest_imputation 'Y' with date_imputation 'first' needs min_dates")
        if date_imputation == "last" and not max_dates:
            raise ValueError("highest_imputation 'Y' with date_imputation 'last' needs max_dates")
        if date_imputation not in ("first", "last"):
            raise ValueError("highest_imputation 'Y' needs date_imputation 'first' or 'last'")
    y, m, d, flag, ok = _impute_parts(comp, highest, date_imputation, preserve)
    # an imputation rule must not create an impossible date (e.g. day 30 in February, 31 June when preserved)
    known = ~(np.isnan(y) | np.isnan(m) | np.isnan(d))
    impossible = np.zeros(len(y), dtype=bool)
    impossible[known] = d[known] > _days_in_month(y[known], m[known])
    if impossible.any():
        dtc, context, variable, dataset = invalid_context
        frame = (context if context is not None else pd.DataFrame(index=dtc.index)).assign(**{variable: dtc.to_numpy()})
        cols = [c for c in ("USUBJID",) if c in frame.columns] + [variable]
        raise InputError(
            f"{dataset}.{variable}: date_imputation {date_imputation!r} would create impossible dates for "
            f"{describe_rows(frame, impossible, cols)}; choose another date_imputation"
        )
    dates = _to_dates(y, m, d)
    if min_dates or max_dates:
        lower, upper = _range_bounds(comp, preserve)
        unbounded = np.isnan(comp["Y"].to_numpy()) & ok  # year unknown and may be imputed
        partial = flag != ""
        if min_dates:
            dates = np.where(partial, _restrict(dates, lower, upper, min_dates, True, unbounded), dates)
        if max_dates:
            dates = np.where(partial, _restrict(dates, lower, upper, max_dates, False, unbounded), dates)
    flag = np.where(np.isnat(dates), "", flag)
    return dates, flag


def dtc_as_dates(dataset: pd.DataFrame, dtc: str, *, dataset_name: str = "dataset") -> np.ndarray:
    """The dates (datetime64[us], NaT where the text is partial or missing) that `derive_vars_dt` adds without
    imputation, with its checks and messages: for a caller that adds several date variables at once."""
    comp = parse_dtc(dataset[dtc], variable=dtc, dataset=dataset_name, context=dataset)
    dates, _ = _impute_dates(comp, highest="n", date_imputation="first", preserve=False, min_dates=[], max_dates=[],
                             invalid_context=(dataset[dtc], dataset, dtc, dataset_name))
    return dates.astype("datetime64[us]")


def convert_dtc_to_dt(dtc: pd.Series, *, highest_imputation: str = "n", date_imputation: str = "first",
                      min_dates: Sequence[pd.Series] = (), max_dates: Sequence[pd.Series] = (),
                      preserve: bool = False, variable: str = "--DTC") -> pd.Series:
    """Vector version of `derive_vars_dt`: ISO 8601 text -> dates (datetime64, NaT when not imputable)."""
    _check_level(highest_imputation, DATE_LEVELS)
    comp = parse_dtc(dtc, variable=variable)
    frame = pd.DataFrame({f"__min{i}": s.to_numpy() for i, s in enumerate(min_dates)}
                         | {f"__max{i}": s.to_numpy() for i, s in enumerate(max_dates)}, index=dtc.index)
    dates, _ = _impute_dates(
        comp, highest=highest_imputation, date_imputation=date_imputation, preserve=preserve,
        min_dates=_limit_arrays(frame, [f"__min{i}" for i in range(len(min_dates))], "D"),
        max_dates=_limit_arrays(frame, [f"__max{i}" for i in range(len(max_dates))], "D"),
        invalid_context=(dtc, None, variable, "vector"))
    return pd.Series(dates.astype("datetime64[us]"), index=dtc.index)


# ----------------------------------------------------------------------------------------------------------------
# derivations


def derive_vars_dt(
    dataset: pd.DataFrame,
    *,
    new_vars_prefix: str,
    dtc: str,
    highest_imputation: str = "n",
    date_imputation: str = "first",
    flag_imputation: str = "auto",
    min_dates: Sequence[str] | None = None,
    max_dates: Sequence[str] | None = None,
    preserve: bool = False,
    dataset_name: str = "dataset",
) -> pd.DataFrame:
    """Add ``<prefix>DT`` (date) and, when imputing, ``<prefix>DTF`` from the ISO 8601 text variable `dtc`.

    `flag_imputation`: "auto" adds the flag if highest_imputation is not "n"; "date"/"both" always; "none" never.
    See the module text for the imputation rules."""
    check_frame(dataset, name=dataset_name)
    _check_level(highest_imputation, DATE_LEVELS)
    if flag_imputation not in ("auto", "date", "none", "both"):
        raise ValueError(f"flag_imputation must be 'auto', 'date', 'both' or 'none', not {flag_imputation!r}")
    require_columns(dataset, [dtc, *(min_dates or ()), *(max_dates or ())], dataset=dataset_name)
    require_dates(dataset, [*(min_dates or ()), *(max_dates or ())], dataset=dataset_name)
    dt_var, flag_var = f"{new_vars_prefix}DT", f"{new_vars_prefix}DTF"
    add_flag = flag_imputation in ("date", "both") or (flag_imputation == "auto" and highest_imputation != "n")
    _no_collision(dataset, [dt_var] + ([flag_var] if add_flag else []), dataset_name)
    comp = parse_dtc(dataset[dtc], variable=dtc, dataset=dataset_name, context=dataset)
    dates, flag = _impute_dates(
        comp, highest=highest_imputation, date_imputation=date_imputation, preserve=preserve,
        min_dates=_limit_arrays(dataset, min_dates, "D"), max_dates=_limit_arrays(dataset, max_dates, "D"),
        invalid_context=(dataset[dtc], dataset, dtc, dataset_name))
    out = dataset.copy(deep=False)
    out[dt_var] = pd.Series(dates.astype("datetime64[us]"), index=dataset.index)
    if add_flag:
        out[flag_var] = text(np.where(flag == "", None, flag), index=dataset.index)
    return out


def derive_vars_dtm(
    dataset: pd.DataFrame,
    *,
    new_vars_prefix: str,
    dtc: str,
    highest_imputation: str = "h",
    date_imputation: str = "first",
    time_imputation: str = "first",
    flag_imputation: str = "auto",
    min_dates: Sequence[str] | None = None,
    max_dates: Sequence[str] | None = None,
    preserve: bool = False,
    ignore_seconds_flag: bool = False,
    dataset_name: str = "dataset",
) -> pd.DataFrame:
    """Add ``<prefix>DTM`` (datetime), ``<prefix>DTF`` and ``<prefix>TMF`` from the ISO 8601 text variable `dtc`.

    `time_imputation`: "first" (00:00:00), "last" (23:59:59) or "hh:mm:ss".  A date that is imputed gets its whole
    time imputed.  `flag_imputation` "auto" adds DTF when highest_imputation is Y/M/D and TMF when it is not "n";
    "date", "time", "both", "none" choose explicitly.  `ignore_seconds_flag`: no TMF "S" when only seconds are
    missing (seconds are often not collected)."""
    check_frame(dataset, name=dataset_name)
    rank = _check_level(highest_imputation, DATETIME_LEVELS)
    if flag_imputation not in FLAG_IMPUTATION:
        raise ValueError(f"flag_imputation must be one of {', '.join(FLAG_IMPUTATION)}, not {flag_imputation!r}")
    fill = _time_targets(time_imputation)
    require_columns(dataset, [dtc, *(min_dates or ()), *(max_dates or ())], dataset=dataset_name)
    require_dates(dataset, [*(min_dates or ()), *(max_dates or ())], dataset=dataset_name)
    dtm_var, dtf_var, tmf_var = f"{new_vars_prefix}DTM", f"{new_vars_prefix}DTF", f"{new_vars_prefix}TMF"
    date_level = highest_imputation if highest_imputation in ("Y", "M", "D") else "n"
    add_dtf = flag_imputation in ("date", "both") or (flag_imputation == "auto" and date_level != "n")
    add_tmf = flag_imputation in ("time", "both") or (flag_imputation == "auto" and highest_imputation != "n")
    _no_collision(dataset, [dtm_var] + [dtf_var] * add_dtf + [tmf_var] * add_tmf, dataset_name)

    comp = parse_dtc(dataset[dtc], variable=dtc, dataset=dataset_name, context=dataset)
    year_limits = date_level == "Y"  # a missing year comes from the limits (at day level; times follow below)
    dates, dflag = _impute_dates(
        comp, highest=date_level, date_imputation=date_imputation, preserve=preserve,
        min_dates=_limit_arrays(dataset, min_dates, "D") if year_limits else [],
        max_dates=_limit_arrays(dataset, max_dates, "D") if year_limits else [],
        invalid_context=(dataset[dtc], dataset, dtc, dataset_name))
    h, mi, s = (comp[c].to_numpy(dtype=float) for c in ("h", "m", "s"))
    s = np.floor(s)
    date_imputed = dflag != ""
    miss_h, miss_m, miss_s = np.isnan(h) | date_imputed, np.isnan(mi) | date_imputed, np.isnan(s) | date_imputed
    tflag = np.where(miss_h, "H", np.where(miss_m, "M", np.where(miss_s, "S", "")))
    may = {f: rank >= DATETIME_LEVELS.index(level) for f, level in (("H", "h"), ("M", "m"), ("S", "s"))}
    ok = np.select([tflag == "H", tflag == "M", tflag == "S"], [may["H"], may["M"], may["S"]], default=True)
    # once a component is imputed, every lower one is imputed too
    hh = np.where(miss_h, fill[0], h)
    mm = np.where(miss_h | miss_m, fill[1], mi)
    ss = np.where(miss_h | miss_m | miss_s, fill[2], s)
    seconds = (hh * 3600 + mm * 60 + ss)
    dtm = np.where(ok & ~np.isnat(dates), dates.astype("datetime64[s]")
                   + np.nan_to_num(seconds).astype(np.int64).astype("timedelta64[s]"), np.datetime64("NaT"))
    dtm = dtm.astype("datetime64[s]")
    if min_dates or max_dates:
        lower, upper = _range_bounds(comp, preserve)
        lower = lower.astype("datetime64[s]")
        upper = upper.astype("datetime64[s]") + np.timedelta64(86399, "s")
        # a known date with a partial time can only move within that day
        known_day = ~date_imputed & ~np.isnat(dates)
        lower = np.where(known_day, dates.astype("datetime64[s]"), lower)
        upper = np.where(known_day, dates.astype("datetime64[s]") + np.timedelta64(86399, "s"), upper)
        unbounded = np.isnan(comp["Y"].to_numpy()) & (highest_imputation == "Y")
        partial = (dflag != "") | (tflag != "")
        if min_dates:
            limits = _limit_arrays(dataset, min_dates, "s")
            dtm = np.where(partial, _restrict(dtm, lower, upper, limits, True, unbounded), dtm)
        if max_dates:
            limits = _limit_arrays(dataset, max_dates, "s")
            dtm = np.where(partial, _restrict(dtm, lower, upper, limits, False, unbounded), dtm)
    missing = np.isnat(dtm)
    if ignore_seconds_flag:
        tflag = np.where(tflag == "S", "", tflag)
    out = dataset.copy(deep=False)
    out[dtm_var] = pd.Series(dtm.astype("datetime64[us]"), index=dataset.index)
    if add_dtf:
        out[dtf_var] = text(np.where((dflag == "") | missing, None, dflag), index=dataset.index)
    if add_tmf:
        out[tmf_var] = text(np.where((tflag == "") | missing, None, tflag), index=dataset.index)
    return out


def _time_targets(time_imputation: str) -> tuple[int, int, int]:
    if time_imputation == "first":
        return 0, 0, 0
    if time_imputation == "last":
        return 23, 59, 59
    match = re.fullmatch(r"(\d{2}):(\d{2}):(\d{2})", time_imputation)
    if not match or int(match[1]) > 23 or int(match[2]) > 59 or int(match[3]) > 59:
        raise ValueError(f"time_imputation must be 'first', 'last' or 'hh:mm:ss', not {time_imputation!r}")
    return int(match[1]), int(match[2]), int(match[3])


def _no_collision(dataset: pd.DataFrame, names: Sequence[str], dataset_name: str) -> None:
    clash = [n for n in names if n in dataset.columns]
    if clash:
        raise InputError(f"{dataset_name} already has {', '.join(clash)}; drop it first or choose another prefix")


def derive_vars_dy(dataset: pd.DataFrame, *, reference_date: str, source_vars: Sequence[str] | dict[str, str],
                   dataset_name: str = "dataset") -> pd.DataFrame:
    """Add relative days: ``<x>DY`` for each ``<x>DT``/``<x>DTM`` (or {new: source}); no day 0.

    On or after the reference date: date - reference + 1; before: date - reference.  Times are ignored."""
    check_frame(dataset, name=dataset_name)
    mapping = dict(source_vars) if isinstance(source_vars, dict) else {_dy_name(v): v for v in source_vars}
    require_columns(dataset, [reference_date, *mapping.values()], dataset=dataset_name)
    require_dates(dataset, [reference_date, *mapping.values()], dataset=dataset_name)
    _no_collision(dataset, list(mapping), dataset_name)
    ref = dataset[reference_date].dt.floor("D")
    out = dataset.copy(deep=False)
    for new, src in mapping.items():
        diff = (dataset[src].dt.floor("D") - ref).dt.days.astype("float64")
        out[new] = np.where(diff >= 0, diff + 1, diff)
    return out


def _dy_name(var: str) -> str:
    for suffix in ("DTM", "DT"):
        if var.endswith(suffix):
            return var[: -len(suffix)] + "DY"
    raise ValueError(f"cannot name the relative day of {var}; give source_vars as {{'NEWDY': '{var}'}}")


_UNIT_DAYS = {"days": 1.0, "weeks": 7.0, "months": 30.4375, "years": 365.25}
_UNIT_SECONDS = {"hours": 3600.0, "minutes": 60.0, "seconds": 1.0}


def derive_vars_duration(
    dataset: pd.DataFrame,
    *,
    new_var: str,
    start_date: str,
    end_date: str,
    new_var_unit: str | None = None,
    in_unit: str = "days",
    out_unit: str = "days",
    floor_in: bool = True,
    add_one: bool = True,
    trunc_out: bool = False,
    dataset_name: str = "dataset",
) -> pd.DataFrame:
    """Add the duration from `start_date` to `end_date` as `new_var` (float; NaN if either is missing).

    `in_unit` "days" compares dates (times dropped when `floor_in`); "hours"/"minutes"/"seconds" keep time.
    `add_one` adds one in_unit to non-negative durations (a same-day event lasts 1 day).  `out_unit`: days, weeks,
    months (days / 30.4375), years (days / 365.25), hours, minutes, seconds.  `trunc_out` truncates to an integer.
    `new_var_unit`, if given, receives the upper-case unit (e.g. ADURU = "DAYS")."""
    check_frame(dataset, name=dataset_name)
    if in_unit not in ("days", "hours", "minutes", "seconds"):
        raise ValueError(f"in_unit must be days, hours, minutes or seconds, not {in_unit!r}")
    if out_unit not in _UNIT_DAYS and out_unit not in _UNIT_SECONDS:
        raise ValueError(f"out_unit must be one of {', '.join([*_UNIT_DAYS, *_UNIT_SECONDS])}, not {out_unit!r}")
    require_columns(dataset, [start_date, end_date], dataset=dataset_name)
    require_dates(dataset, [start_date, end_date], dataset=dataset_name)
    _no_collision(dataset, [new_var] + ([new_var_unit] if new_var_unit else []), dataset_name)
    start, end = dataset[start_date], dataset[end_date]
    if floor_in:
        freq = {"days": "D", "hours": "h", "minutes": "min", "seconds": "s"}[in_unit]
        start, end = start.dt.floor(freq), end.dt.floor(freq)
    seconds = (end - start).dt.total_seconds().to_numpy()
    in_seconds = {"days": 86400.0, **_UNIT_SECONDS}[in_unit]
    if add_one:
        seconds = np.where(seconds >= 0, seconds + in_seconds, seconds)
    if out_unit in _UNIT_DAYS:
        value = seconds / 86400.0 / _UNIT_DAYS[out_unit]
    else:
        value = seconds / _UNIT_SECONDS[out_unit]
    if trunc_out:
        value = np.trunc(value)
    out = dataset.copy(deep=False)
    out[new_var] = value.astype("float64")
    if new_var_unit:
        out[new_var_unit] = text(np.where(np.isnan(value), None, out_unit.upper()), index=dataset.index)
    return out


def derive_vars_aage(dataset: pd.DataFrame, *, start_date: str = "BRTHDT", end_date: str = "RANDDT",
                     age_unit: str = "YEARS", new_var: str = "AAGE", unit_var: str | None = "AAGEU",
                     dataset_name: str = "dataset") -> pd.DataFrame:
    """Add the analysis age in completed calendar units (YEARS, MONTHS, WEEKS or DAYS) and its unit.

    A subject born 2000-02-29 is 1 year old on 2001-03-01, not on 2001-02-28 (completed years by calendar)."""
    check_frame(dataset, name=dataset_name)
    if age_unit not in ("YEARS", "MONTHS", "WEEKS", "DAYS"):
        raise ValueError(f"age_unit must be YEARS, MONTHS, WEEKS or DAYS, not {age_unit!r}")
    require_columns(dataset, [start_date, end_date], dataset=dataset_name)
    require_dates(dataset, [start_date, end_date], dataset=dataset_name)
    _no_collision(dataset, [new_var] + ([unit_var] if unit_var else []), dataset_name)
    born, at = dataset[start_date].dt.floor("D"), dataset[end_date].dt.floor("D")
    if age_unit in ("YEARS", "MONTHS"):
        months = _completed_months(born, at)
        value = np.floor(months / 12) if age_unit == "YEARS" else months
    else:
        days = (at - born).dt.days
        value = np.floor(days / 7) if age_unit == "WEEKS" else days
    value = pd.Series(value, index=dataset.index, dtype="float64")
    out = dataset.copy(deep=False)
    out[new_var] = value
    if unit_var:
        out[unit_var] = text(np.where(value.isna(), None, age_unit), index=dataset.index)
    return out


