"""Raw dates and times to ISO 8601, vectorised over whole columns.

SDTM keeps what was collected: a partial date keeps its known parts (`2017-03`, `2017`, `2017---15` = the 15th of an
unknown month), nothing is imputed.  A value that does not follow the declared raw format, or names a day that does
not exist (30 February), is an error the caller reports with file, row and column.

Raw formats (forms.yaml `format:`):

    DD-MON-YYYY   05-JUL-2016, UN-MAR-2017, UN-UNK-2009 (month names in English, any case; UN/UNK unknown)
    DD-Mon-YYYY   the same, written in the usual mixed case
    MM/DD/YYYY    07/05/2016, UN/05/2016 is not allowed: unknown parts are UN (day) / UN or UNK (month)
    MM-DD-YYYY    07-05-2016, the same with hyphens
    YYYY-MM-DD    2016-07-05, 2016-07, 2016 (ISO already; partial allowed)
    YYYY          2016 (only the year is known)

A field may accept several formats, tried in the order given (forms.yaml `format: [MM/DD/YYYY, YYYY]`, held as
"MM/DD/YYYY|YYYY"): each value takes the first format it follows, e.g. a US date form on which only the year of an
event long ago was written.
    HH:MM         09:30 (24 h)
    HH:MM:SS      09:30:15
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cdiscflow.core import iso8601
from cdiscflow.core.text import extract, lookup, strip_blank

MONTHS = {m: f"{i:02d}" for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
UNKNOWN_DAY = {"UN", "UK", "--", "XX"}
UNKNOWN_MONTH = {"UNK", "UN", "UK", "---", "--", "XXX"}

# format -> (regex with named groups day/month/year, month given as name?)
_DATE_FORMATS: dict[str, tuple[str, bool]] = {
    "DD-MON-YYYY": (r"^(?P<day>\d{1,2}|UN|UK|XX)-(?P<month>[A-Z]{3}|UNK|UN|UK|XXX)-(?P<year>\d{4})$", True),
    "DD-Mon-YYYY": (r"^(?P<day>\d{1,2}|UN|UK|XX)-(?P<month>[A-Z]{3}|UNK|UN|UK|XXX)-(?P<year>\d{4})$", True),
    "DDMONYYYY": (r"^(?P<day>\d{2}|UN|UK)(?P<month>[A-Z]{3}|UNK)(?P<year>\d{4})$", True),
    "MM/DD/YYYY": (r"^(?P<month>\d{1,2}|UN|UK|UNK)/(?P<day>\d{1,2}|UN|UK)/(?P<year>\d{4})$", False),
    "MM-DD-YYYY": (r"^(?P<month>\d{1,2}|UN|UK|UNK)-(?P<day>\d{1,2}|UN|UK)-(?P<year>\d{4})$", False),
    "YYYY": (r"^(?P<year>\d{4})$", False),
    "YYYY-MM-DD": (r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2}))?)?$", False),
}
_TIME_FORMATS: dict[str, str] = {
    "HH:MM": r"^(?P<hour>\d{1,2}):(?P<minute>\d{2})$",
    "HH:MM:SS": r"^(?P<hour>\d{1,2}):(?P<minute>\d{2}):(?P<second>\d{2})$",
}
DATE_FORMATS = tuple(_DATE_FORMATS)
TIME_FORMATS = tuple(_TIME_FORMATS)


@dataclass(frozen=True)
class Converted:
    """ISO 8601 text per row (NaN where missing or invalid) and why a row is invalid (NaN where fine)."""

    iso: pd.Series
    problem: pd.Series

    @property
    def invalid(self) -> pd.Series:
        return self.problem.notna()


def _blank(values: pd.Series) -> pd.Series:
    return strip_blank(values)


def formats_of(fmt: str) -> list[str]:
    """The alternative formats of a field ("MM/DD/YYYY|YYYY" -> ["MM/DD/YYYY", "YYYY"])."""
    return [f.strip() for f in str(fmt).split("|") if f.strip()]


def unknown_date_formats(fmt: str) -> list[str]:
    return [f for f in formats_of(fmt) if f not in _DATE_FORMATS]


def per_distinct(values: pd.Series, convert: Callable[[pd.Series], Converted]) -> Converted:
    """`convert` run on the distinct values of a column (missing counts as one), its answer taken back to every row
    by the value's code.  A raw date column repeats few distinct values, and a conversion reads each value on its
    own, so the rows get exactly what converting them one by one gives (same text, problems, dtypes, names)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    done = convert(pd.Series(uniques))
    return Converted(_taken(done.iso, codes, values.index), _taken(done.problem, codes, values.index))


def _taken(distinct: pd.Series, codes: np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(distinct.array.take(codes), index=index, name=distinct.name)


def _date_formats(fmt: str) -> list[str]:
    if unknown_date_formats(fmt) or not formats_of(fmt):
        raise ValueError(f"unknown date format {fmt!r}; use one of {', '.join(DATE_FORMATS)}")
    return formats_of(fmt)


def parse_date(values: pd.Series, fmt: str) -> Converted:
    """Convert raw date text in format `fmt` to ISO 8601 (partial dates keep their known parts).

    With alternatives ("A|B") a value is read by the first format it follows; one that follows none is reported
    against the whole list.  Each distinct value is read once (`per_distinct`)."""
    _date_formats(fmt)  # an unknown format is an error before anything is read
    return per_distinct(values, lambda distinct: parse_date_rows(distinct, fmt))


def parse_date_rows(values: pd.Series, fmt: str) -> Converted:
    """`parse_date` row by row (every row read, repeated values again): the conversion itself."""
    alternatives = _date_formats(fmt)
    if len(alternatives) > 1:
        return _parse_alternatives(values, alternatives)
    fmt = alternatives[0]
    pattern, named = _DATE_FORMATS[fmt]
    text = _blank(values).str.upper()
    parts = extract(text, pattern)
    present = text.notna()
    shaped = parts["year"].notna()
    year = parts["year"]
    day_raw = parts["day"].fillna("UN") if "day" in parts else pd.Series("UN", index=text.index)
    month_raw = parts["month"].fillna("UNK") if "month" in parts else pd.Series("UNK", index=text.index)
    if named:
        month = lookup(month_raw, pd.Series(MONTHS, dtype=str))
        month_known = month.notna()
        month_bad = ~month_known & ~month_raw.isin(UNKNOWN_MONTH)
    else:
        mnum = pd.to_numeric(month_raw.where(~month_raw.isin(UNKNOWN_MONTH)), errors="coerce")
        month_known = mnum.notna()
        month_bad = month_known & ~mnum.between(1, 12)
        month = mnum.astype("Int64").astype(str).str.zfill(2)
    dnum = pd.to_numeric(day_raw.where(~day_raw.isin(UNKNOWN_DAY)), errors="coerce")
    day_known = dnum.notna()
    day_text = dnum.astype("Int64").astype(str).str.zfill(2)

    iso = year.astype(str)
    ym = month_known & ~day_known
    ymd = month_known & day_known
    y_d = ~month_known & day_known
    iso = iso.mask(ym, year + "-" + month.astype(str))
    iso = iso.mask(ymd, year + "-" + month.astype(str) + "-" + day_text)
    iso = iso.mask(y_d, year + "---" + day_text)

    # existence of complete dates (30 FEB, 31 APR, day 00 ...) and of day numbers in partial dates
    full = date_part(iso.where(ymd))
    impossible = ymd & full.isna()
    day_range_bad = day_known & ~dnum.between(1, 31)
    problem = pd.Series(np.nan, index=text.index, dtype=str)
    problem = problem.mask(present & ~shaped, f"does not follow the date format {fmt}")
    problem = problem.mask(present & shaped & month_bad, "has an unknown month")
    problem = problem.mask(present & shaped & ~month_bad & (impossible | day_range_bad), "is not a calendar date")
    iso = iso.where(present & problem.isna() & shaped).astype(str)
    return Converted(iso, problem)


def _parse_alternatives(values: pd.Series, formats: list[str]) -> Converted:
    shape = f"does not follow the date format {formats[0]}"
    iso = pd.Series(np.nan, index=values.index, dtype=str)
    problem = pd.Series(np.nan, index=values.index, dtype=str)
    todo = _blank(values).notna()
    for fmt in formats:  # over alternatives: a value takes the first format whose shape it has
        c = parse_date_rows(values.where(todo), fmt)
        shaped = todo & (c.problem.isna() | (c.problem != f"does not follow the date format {fmt}")).astype(bool)
        iso = iso.mask(shaped, c.iso)
        problem = problem.mask(shaped, c.problem)
        todo &= ~shaped
    problem = problem.mask(todo, f"does not follow any of the date formats {', '.join(formats)}")
    return Converted(iso.astype(str), problem.astype(str))


def parse_time(values: pd.Series, fmt: str) -> Converted:
    """Convert raw time text (HH:MM or HH:MM:SS) to ISO 8601 time text `hh:mm[:ss]`, each distinct value once."""
    _time_pattern(fmt)
    return per_distinct(values, lambda distinct: parse_time_rows(distinct, fmt))


def _time_pattern(fmt: str) -> str:
    if fmt not in _TIME_FORMATS:
        raise ValueError(f"unknown time format {fmt!r}; use one of {', '.join(TIME_FORMATS)}")
    return _TIME_FORMATS[fmt]


def parse_time_rows(values: pd.Series, fmt: str) -> Converted:
    """`parse_time` row by row: the conversion itself."""
    pattern = _time_pattern(fmt)
    text = _blank(values)
    parts = extract(text, pattern)
    present = text.notna()
    hour = pd.to_numeric(parts["hour"], errors="coerce")
    minute = pd.to_numeric(parts["minute"], errors="coerce")
    ok = hour.between(0, 23) & minute.between(0, 59)
    iso = hour.astype("Int64").astype(str).str.zfill(2) + ":" + parts["minute"].astype(str)
    if "second" in parts:
        second = pd.to_numeric(parts["second"], errors="coerce")
        ok &= second.between(0, 59)
        iso = iso + ":" + parts["second"].astype(str)
    problem = pd.Series(np.nan, index=text.index, dtype=str)
    problem = problem.mask(present & parts["hour"].isna(), f"does not follow the time format {fmt}")
    problem = problem.mask(present & parts["hour"].notna() & ~ok.fillna(False), "is not a clock time")
    return Converted(iso.where(present & problem.isna()).astype(str), problem)


def combine_date_time(date_iso: pd.Series, time_iso: pd.Series | None) -> pd.Series:
    """`YYYY-MM-DD` + `hh:mm` -> `YYYY-MM-DDThh:mm`; a time goes with a complete date only (otherwise dropped)."""
    if time_iso is None:
        return date_iso
    complete = date_iso.str.len() == 10
    with_time = complete & time_iso.notna()
    return date_iso.mask(with_time, date_iso + "T" + time_iso)


def date_part(iso: pd.Series) -> pd.Series:
    """Complete dates as datetime64 (day precision); NaT for partial or missing values (core.iso8601, the one
    parser of every layer)."""
    return iso8601.to_date(iso)


def study_day(dates: pd.Series, reference: pd.Series) -> pd.Series:
    """SDTM study day: on/after the reference date `d - ref + 1`, before it `d - ref` (no day 0); both complete."""
    return study_day_of_dates(date_part(dates), date_part(reference))


def study_day_of_dates(d: pd.Series, r: pd.Series) -> pd.Series:
    """`study_day` of dates already parsed (datetime64, NaT where not complete; both on the same index), in numpy:
    whole days between them (floored, NaN where either is NaT), plus one from the reference day on."""
    if not r.index.equals(d.index):  # matched by label, as pandas' arithmetic on the two Series would
        r = r.reindex(d.index)
    diff = np.floor((d.to_numpy() - r.to_numpy()) / np.timedelta64(1, "D"))
    return pd.Series(np.where(diff < 0, diff, diff + 1), index=d.index)


def age_in_years(birth: pd.Series, reference: pd.Series) -> pd.Series:
    """Completed years between two complete dates (NaN when either is partial or missing)."""
    b, r = date_part(birth), date_part(reference)
    years = r.dt.year - b.dt.year
    before_birthday = (r.dt.month < b.dt.month) | ((r.dt.month == b.dt.month) & (r.dt.day < b.dt.day))
    return (years - before_birthday.astype("Int64")).astype("Float64").astype("float64")
