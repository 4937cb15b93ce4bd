"""ISO 8601 dates, times and durations as SDTM writes them: the one parser every layer uses.

SDTM keeps dates as text with only the known parts (SDTMIG 3.4 section 4.4): trailing unknown parts are dropped
(`2017-03`), unknown middle parts become a single hyphen (`2017---15` is the 15th of an unknown month, `--03-15` a
15 March of an unknown year, `2017-03-15T-:30` an unknown hour).  Seconds may carry a decimal fraction of any
length (`10:30:05.1234567`), and a time may end with its offset from UTC (`Z`, `+01:00`, `-0500`, `+01`): the offset
is checked and then set aside, the date and time are taken as written (local time, as collected).  Durations look
like `P28D`, `P1DT2H`, `-P2M`.

The SDTM mapping (study days, ages), ADaM (`adam.verbs.dates`: imputation and flags) and validation (`validation.iso8601`:
format, calendar, intervals) all read dates through `parse_text`, so a value is valid or invalid for all of them
alike.  Clinical date columns repeat few distinct values, so every column function parses each distinct value once
(`core.frames.per_unique`).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from cdiscflow.core.frames import per_unique

PARTS = ("year", "month", "day", "hour", "minute", "second")

# Status of a checked value: well formed and a real calendar date/time, not ISO 8601, or a date/time that does not
# exist (30 February, 25:00).
OK, BAD_FORMAT, BAD_CALENDAR = 0, 1, 2

_PART = r"\d{2}|-"
DATETIME_PATTERN = (
    r"(?P<year>\d{4}|-)(?:-(?P<month>" + _PART + r")(?:-(?P<day>" + _PART + r"))?)?"
    r"(?:T(?P<hour>" + _PART + r")(?::(?P<minute>" + _PART + r")(?::(?P<second>\d{2}(?:\.\d+)?|-))?)?"
    r"(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)?)?"
)
_NUM = r"\d+(?:[.,]\d+)?"
DURATION_PATTERN = (
    rf"-?P(?=\d|T\d)(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?(?:T(?=\d)(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?"
)
DATETIME = re.compile(f"^{DATETIME_PATTERN}$")
DURATION = re.compile(f"^{DURATION_PATTERN}$")
_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=float)


def parse_text(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(n x 6 float parts year .. second, NaN where absent or unknown; status per value) for date/time text.

    `text` holds distinct, non-missing strings (intervals are split by the caller).  Parts of a value whose status
    is not OK are NaN."""
    m = text.str.extract(DATETIME)
    matched = m["year"].notna().to_numpy()
    m = m[list(PARTS)]
    present = m.notna().to_numpy()
    known = present & (m != "-").to_numpy()
    nums = np.full(m.shape, np.nan)
    for j, part in enumerate(PARTS):  # over the six parts
        col = m[part].where(known[:, j])
        nums[:, j] = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    # the last part written must be known: "2020-03-" or "-" alone say nothing
    trailing_unknown = np.zeros(len(m), dtype=bool)
    seen = np.zeros(len(m), dtype=bool)
    for j in reversed(range(len(PARTS))):  # over the six parts, last first
        first = present[:, j] & ~seen
        trailing_unknown |= first & ~known[:, j]
        seen |= present[:, j]
    bad_format = ~matched | trailing_unknown
    year, month, day, hour, minute, second = (nums[:, j] for j in range(6))
    leap = np.isnan(year) | ((year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0)))
    with np.errstate(invalid="ignore"):
        month_ix = np.where((month >= 1) & (month <= 12), month, 1).astype(int) - 1
        max_day = np.where(np.isnan(month), 31.0, _DAYS[month_ix] + ((month_ix == 1) & leap))
        bad_calendar = (
            (month < 1) | (month > 12) | (day < 1) | (day > max_day)
            | (hour > 23) | (minute > 59) | (second >= 60)
        )
    status = np.where(bad_format, BAD_FORMAT, np.where(bad_calendar, BAD_CALENDAR, OK)).astype(np.int8)
    nums[status != OK] = np.nan
    return nums, status


def _distinct_text(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype=object).astype(str)


def status(values: pd.Series) -> np.ndarray:
    """Per row OK, BAD_FORMAT or BAD_CALENDAR for a single date/time (missing rows are OK)."""
    return per_unique(values, lambda u: parse_text(_distinct_text(u))[1], OK)


def parts(values: pd.Series) -> np.ndarray:
    """Per row the six parts (year .. second) as floats; NaN where unknown, absent, missing or invalid."""
    return per_unique(values, lambda u: parse_text(_distinct_text(u))[0], np.nan).reshape(-1, 6)


def to_date(values: pd.Series) -> pd.Series:
    """The date as datetime64[s] (midnight) where year, month and day are known and valid; NaT otherwise."""

    def conv(u: np.ndarray) -> np.ndarray:
        p, _ = parse_text(_distinct_text(u))
        complete = ~np.isnan(p[:, :3]).any(axis=1)
        y, m, d = (np.where(complete, p[:, j], 1).astype(int) for j in range(3))
        days = (
            (np.array(y - 1970, dtype="datetime64[Y]").astype("datetime64[M]") + (m - 1)).astype("datetime64[D]")
            + (d - 1)
        )
        return np.where(complete, days, np.datetime64("NaT", "D"))

    out = per_unique(values, conv, np.datetime64("NaT", "D"))
    return pd.Series(out.astype("datetime64[s]"), index=values.index)
