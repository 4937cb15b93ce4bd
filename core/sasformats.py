"""SAS display formats: which ones make a numeric variable a date, a datetime or a time.  The one table every layer
reads (export writes and reads SAS days/seconds, ADaM types its date variables, validation checks them).

Names only: width and decimals are stripped (`MMDDYY10.` is MMDDYY, `IS8601DA.` is IS8601DA).
"""

from __future__ import annotations

import re

import numpy as np

SAS_EPOCH_DAYS = np.datetime64("1960-01-01", "D")  # SAS dates count days from here
SAS_EPOCH_SECONDS = np.datetime64("1960-01-01T00:00:00", "s")  # SAS datetimes count seconds from here

DATE_FORMATS = frozenset({
    "DATE", "DAY", "DDMMYY", "DDMMYYB", "DDMMYYC", "DDMMYYD", "DDMMYYN", "DDMMYYP", "DDMMYYS", "DOWNAME",
    "E8601DA", "B8601DA", "IS8601DA", "JULDAY", "JULIAN", "MMDDYY", "MMDDYYB", "MMDDYYC", "MMDDYYD", "MMDDYYN",
    "MMDDYYP", "MMDDYYS", "MMYY", "MONNAME", "MONTH", "MONYY", "NLDATE", "QTR", "WEEKDATE", "WEEKDATX",
    "WEEKDAY", "WORDDATE", "WORDDATX", "YEAR", "YYMM", "YYMMDD", "YYMMDDB", "YYMMDDC", "YYMMDDD", "YYMMDDN",
    "YYMMDDP", "YYMMDDS", "YYMON", "YYQ", "YYQR",
})
DATETIME_FORMATS = frozenset({"DATETIME", "DATEAMPM", "DTDATE", "E8601DT", "B8601DT", "IS8601DT", "E8601DN",
                              "NLDATM", "MDYAMPM"})
TIME_FORMATS = frozenset({"TIME", "TIMEAMPM", "TOD", "HHMM", "HOUR", "MMSS", "E8601TM", "B8601TM", "IS8601TM"})

# name (optional $, then a letter, letters/digits, ending in a letter: DATE, E8601DA), width, '.', decimals
_FORMAT_RE = re.compile(r"^(\$?(?:[A-Z_](?:[A-Z0-9_]*[A-Z_])?)?)(\d*)\.?(\d*)$")


def parse_format(fmt: str) -> tuple[str, int, int]:
    """Split a SAS format into (name, width, decimals): 'DATE9.' -> ('DATE', 9, 0), '8.2' -> ('', 8, 2)."""
    m = _FORMAT_RE.match(fmt.strip().upper())
    if not m or not fmt.strip():
        raise ValueError(f"{fmt!r} is not a SAS format (NAMEw.d, e.g. DATE9., 8.2, $20.)")
    return m.group(1), int(m.group(2) or 0), int(m.group(3) or 0)


def format_kind(fmt: str) -> str:
    """'date', 'datetime' or 'time' when a numeric with this display format holds SAS dates/datetimes/times."""
    if not fmt:
        return ""
    try:
        name = parse_format(fmt)[0]
    except ValueError:
        return ""
    if name in DATE_FORMATS:
        return "date"
    if name in DATETIME_FORMATS:
        return "datetime"
    if name in TIME_FORMATS:
        return "time"
    return ""
