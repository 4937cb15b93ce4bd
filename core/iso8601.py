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
import pyarrow as pa
import pyarrow.compute as pc

from cdiscflow.core.frames import per_unique

PARTS = ("year", "month", "day", "hour", "minute", "second")

# Status of a checked value: well formed and a real calendar date/time, not ISO 8601, or a date/time that does not
# exist (30 February, 25:00).
OK, BAD_FORMAT, BAD_CALENDAR = 0, 1, 2

_PART = r"[0-9]{2}|-"
DATETIME_PATTERN = (
    r"(?P<year>[0-9]{4}|-)(?:-(?P<month>" + _PART + r")(?:-(?P<day>" + _PART + r"))?)?"
    r"(?:T(?P<hour>" + _PART + r")(?::(?P<minute>" + _PART + r")(?::(?P<second>[0-9]{2}(?:\.[0-9]+)?|-))?)?"
    r"(?P<offset>Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
_NUM = r"[0-9]+(?:[.,][0-9]+)?"
DURATION_PATTERN = (
    rf"-?P(?=[0-9]|T[0-9])(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?"
    rf"(?:T(?=[0-9])(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?"
)
DATETIME = re.compile(f"^{DATETIME_PATTERN}$")
DURATION = re.compile(f"^{DURATION_PATTERN}$")
_NO_PARTS = (None,) * len(PARTS)
_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=float)


def parse_text(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(n x 6 float parts year .. second, NaN where absent or unknown; status per value) for date/time text.

    `text` holds distinct, non-missing strings (intervals are split by the caller).  Parts of a value whose status
    is not OK are NaN."""
    values = text.to_numpy(dtype=object)
    # Arrow pays about 1 ms a call whatever the size; Python's re about 3 us a value: re for short lists
    split = _split_arrow if len(values) >= ARROW_FROM else _split_python
    matched, present, known, nums = split(values)
    # the last part written must be known: "2020-03-" or "-" alone say nothing
    trailing_unknown = np.zeros(len(values), dtype=bool)
    seen = np.zeros(len(values), dtype=bool)
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


ARROW_FROM = 400  # distinct values from which the Arrow reader is the faster (same answers either way)

# Python's `$` also matches before a final newline ("2020\n" is read as 2020): RE2's `$` is the end of the text only
_ARROW_DATETIME = f"^(?:{DATETIME_PATTERN})\n?$"


def _split_arrow(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(matched, parts present, parts known, parts as numbers) per value: the regular expression run by Arrow (RE2,
    in C++) over all values at once.  The patterns spell digits `[0-9]` (ISO 8601 digits are ASCII; Python's `\\d`
    would also take other scripts' digits), so both engines give the same answer; values with non-ASCII
    characters, and everything when the text cannot be handed to Arrow, go through Python's `re` (`_split_python`)."""
    n = len(values)
    try:
        arr = pa.array(values, type=pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeError):
        return _split_python(values)
    ascii_ = pc.fill_null(pc.string_is_ascii(arr), True).to_numpy(zero_copy_only=False)
    found = pc.extract_regex(arr, _ARROW_DATETIME)
    matched = found.is_valid().to_numpy(zero_copy_only=False) & ascii_
    present = np.zeros((n, 6), dtype=bool)
    known = np.zeros((n, 6), dtype=bool)
    nums = np.full((n, 6), np.nan)
    if n == 0:
        return matched, present, known, nums
    for j, name in enumerate(PARTS):  # over the six parts: every value at once
        part = pc.fill_null(pc.struct_field(found, name), "")  # a part that takes no text is absent (never "")
        has = pc.not_equal(part, "").to_numpy(zero_copy_only=False) & matched
        unknown = pc.equal(part, "-").to_numpy(zero_copy_only=False)
        present[:, j] = has
        known[:, j] = has & ~unknown
        if name == "second":  # seconds may carry a fraction: read as pandas reads them (the Python path's numbers)
            fraction = known[:, j] & pc.match_substring(part, ".").to_numpy(zero_copy_only=False)
            whole = known[:, j] & ~fraction
            if fraction.any():
                texts = part.filter(pa.array(fraction)).to_numpy(zero_copy_only=False).astype(object)
                nums[fraction, j] = pd.to_numeric(texts, errors="coerce").astype(float)
        else:
            whole = known[:, j]
        if whole.any():  # plain digits: the same float whoever reads them
            digits = pc.if_else(pa.array(whole), part, pa.scalar(None, pa.large_string()))
            nums[:, j] = np.where(whole, pc.cast(digits, pa.float64()).to_numpy(zero_copy_only=False), nums[:, j])
    other = ~ascii_
    if other.any():
        m, p, k, x = _split_python(values[other])
        matched[other], present[other], known[other], nums[other] = m, p, k, x
    return matched, present, known, nums


def _split_python(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`_split_arrow` with Python's `re`, one value at a time."""
    found = [DATETIME.search(v) for v in values]
    cells = np.array([m.group(*PARTS) if m else _NO_PARTS for m in found], dtype=object).reshape(len(found), 6)
    matched = np.fromiter((m is not None for m in found), dtype=bool, count=len(found))
    present = ~pd.isna(cells)
    known = present & (cells != "-")
    # every known part at once (the numbers of a date are plain digits, seconds with a fraction)
    nums = pd.to_numeric(np.where(known, cells, None).ravel(), errors="coerce").astype(float).reshape(cells.shape)
    return matched, present, known, nums


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
