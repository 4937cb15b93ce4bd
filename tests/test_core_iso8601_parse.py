"""core.iso8601.parse_text reads each distinct value with the regular expression directly (issue 18): the parts and
statuses, hand-checked, of the shapes SDTM writes and of the ones it must refuse."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscflow.core.iso8601 import BAD_CALENDAR, BAD_FORMAT, OK, parse_text

N = np.nan
CASES = {
    "2020-02-29": (OK, [2020, 2, 29, N, N, N]),
    "2019-02-29": (BAD_CALENDAR, [N] * 6),
    "2017-03": (OK, [2017, 3, N, N, N, N]),
    "2021---15": (OK, [2021, N, 15, N, N, N]),
    "--03-15": (OK, [N, 3, 15, N, N, N]),
    "2017-03-15T-:30": (OK, [2017, 3, 15, N, 30, N]),
    "2020-01-01T10:30:05.25+01:00": (OK, [2020, 1, 1, 10, 30, 5.25]),
    "2020-01-01T10:30Z": (OK, [2020, 1, 1, 10, 30, N]),
    "2020-01-01T25:00": (BAD_CALENDAR, [N] * 6),
    "2020-01-01T10:30:60": (BAD_CALENDAR, [N] * 6),
    "2020-13-01": (BAD_CALENDAR, [N] * 6),
    "2020-03-": (BAD_FORMAT, [N] * 6),
    "-": (BAD_FORMAT, [N] * 6),
    "31/01/2020": (BAD_FORMAT, [N] * 6),
    "2020-1-01": (BAD_FORMAT, [N] * 6),
    "": (BAD_FORMAT, [N] * 6),
}


def test_parts_and_status_of_each_shape():
    parts, status = parse_text(pd.Series(list(CASES), dtype="str"))
    assert parts.shape == (len(CASES), 6) and parts.dtype == float and status.dtype == np.int8
    for i, (text, (want_status, want_parts)) in enumerate(CASES.items()):
        assert status[i] == want_status, text
        np.testing.assert_array_equal(parts[i], np.array(want_parts, dtype=float), err_msg=text)


def test_no_values_give_empty_arrays():
    parts, status = parse_text(pd.Series([], dtype="str"))
    assert parts.shape == (0, 6) and status.shape == (0,)
