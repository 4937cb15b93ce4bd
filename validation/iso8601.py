"""ISO 8601 text dates as SDTM writes them: checked, split into parts and compared, never imputed.

SDTM keeps dates as text with only the known parts (SDTMIG 3.4 section 4.4): trailing unknown parts are dropped
(`2017-03`), unknown middle parts become a single hyphen (`2017---15` is the 15th of an unknown month, `--03-15` a
15 March of an unknown year, `2017-03-15T-:30` an unknown hour).  Durations (`P28D`, `-P2M`) and intervals
(`start/end`, either side a date/time or a duration) are the other value domains.

Single dates and times are parsed by the one kernel every layer uses (`core.iso8601`: any length of decimal
seconds, an optional UTC offset); this module adds the value domains, intervals and comparisons validation needs.
Every function here works on whole columns.  Clinical date columns repeat few distinct values, so the text is parsed
once per distinct value and the result is broadcast back with `pandas.factorize`: a 3-million-row column with 50,000
distinct dates costs 50,000 regex matches, not 3 million.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from cdiscflow.core import iso8601 as kernel
from cdiscflow.core.frames import per_unique
from cdiscflow.core.iso8601 import BAD_CALENDAR, BAD_FORMAT, OK, PARTS  # noqa: F401 (this module's vocabulary)

_DURATION = kernel.DURATION

# The value domains a character variable can have, and what each accepts: (a single date/time, a single duration,
# an interval of two of them).  SDTMIG 3.4 names them "ISO 8601 datetime or interval", "ISO 8601 duration" and
# "ISO 8601 duration or interval"; define.xml data types map onto them (see metadata.py).
DATETIME, INTERVAL, DURATION, DURATION_OR_INTERVAL = "datetime", "interval", "duration", "duration or interval"
KINDS = {
    DATETIME: (True, False, False),
    INTERVAL: (True, False, True),
    DURATION: (False, True, False),
    DURATION_OR_INTERVAL: (False, True, True),
}


# ----------------------------------------------------------------------------------------------------------------
# parsing distinct values


def _parts(text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(n x 6 float parts with NaN for absent/unknown, status per value) for date/time text (no intervals)."""
    return kernel.parse_text(text)


def _status(values: np.ndarray, kind: str) -> np.ndarray:
    """Status code per distinct value for one of the value domains in KINDS."""
    allow_datetime, allow_duration, allow_interval = KINDS[kind]
    text = pd.Series(values, dtype=object).astype(str)
    is_interval = text.str.contains("/", regex=False).to_numpy()
    out = np.full(len(text), BAD_FORMAT, dtype=np.int8)
    single = ~is_interval
    if allow_duration:
        out[single] = np.where(text[single].str.match(_DURATION).to_numpy(), OK, BAD_FORMAT)
    if allow_datetime:
        _, st = _parts(text[single])
        out[single] = st
    if allow_interval and is_interval.any():
        sides = text[is_interval].str.split("/", n=1, expand=True).reindex(columns=[0, 1])
        side_status, side_duration = [], []
        for c in (0, 1):
            s = sides[c].fillna("")
            dur = s.str.match(_DURATION).to_numpy()
            _, st = _parts(s)
            side_status.append(np.where(dur, OK, st))
            side_duration.append(dur)
        worst = np.maximum(side_status[0], side_status[1])
        # a malformed side makes the interval malformed, whatever the other side's calendar says
        worst = np.where((side_status[0] == BAD_FORMAT) | (side_status[1] == BAD_FORMAT), BAD_FORMAT, worst)
        out[is_interval] = np.where(side_duration[0] & side_duration[1], BAD_FORMAT, worst)
    return out


# ----------------------------------------------------------------------------------------------------------------
# column API


def status(values: pd.Series, kind: str = DATETIME) -> np.ndarray:
    """Per row: OK, BAD_FORMAT or BAD_CALENDAR (missing rows are OK) for a value domain in KINDS."""
    if kind not in KINDS:
        raise ValueError(f"unknown ISO 8601 value domain {kind!r}; use one of {', '.join(KINDS)}")
    return per_unique(values, lambda u: _status(u, kind), OK)


def value_status(values: np.ndarray, kind: str = DATETIME) -> np.ndarray:
    """`status` of each of the given distinct, non-missing values (an array of text)."""
    if kind not in KINDS:
        raise ValueError(f"unknown ISO 8601 value domain {kind!r}; use one of {', '.join(KINDS)}")
    return _status(values, kind)


def parts(values: pd.Series) -> np.ndarray:
    """Per row the six parts (year .. second) as floats; NaN where unknown, absent, missing or invalid."""
    return kernel.parts(values)


def to_date(values: pd.Series) -> pd.Series:
    """The date part as datetime64 (day precision) where year, month and day are all known; NaT otherwise."""
    return kernel.to_date(values)


def compare(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Order of two dates given as parts (see `parts`), compared only as far as both are known.

    Returns -1 where a is before b, 1 where a is after b and 0 where they agree to the common precision or cannot be
    compared (a missing value, or an unknown part before any difference).
    """
    out = np.zeros(len(a), dtype=np.int8)
    open_ = np.ones(len(a), dtype=bool)
    for j in range(a.shape[1]):
        both = open_ & ~np.isnan(a[:, j]) & ~np.isnan(b[:, j])
        out[both & (a[:, j] < b[:, j])] = -1
        out[both & (a[:, j] > b[:, j])] = 1
        open_ = both & (a[:, j] == b[:, j])
    return out


def date_part(values: pd.Series) -> pd.Series:
    """The text before 'T' (the date part as written), for messages and same-day comparisons."""
    present = values.notna()
    out = pd.Series(np.nan, index=values.index, dtype=object)
    if present.any():
        out[present] = values[present].map(str).str.split("T", n=1).str[0].to_numpy(dtype=object)
    return out


def regex_for(kind: str) -> str:
    """A plain regular expression for a value domain (format only; calendar validity needs `status`).

    Used where a tool wants a pattern rather than a function (great-expectations' regex expectation)."""
    dt = re.sub(r"\?P<\w+>", "?:", kernel.DATETIME_PATTERN)
    dur = _DURATION.pattern[1:-1]
    allow_datetime, allow_duration, allow_interval = KINDS[kind]
    single = "|".join(p for p, ok in ((dt, allow_datetime), (dur, allow_duration)) if ok)
    if allow_interval:
        side = f"{dt}|{dur}"
        return rf"^(?:(?:{single})|(?:(?:{side})/(?:{side})))$"
    return rf"^(?:{single})$"
