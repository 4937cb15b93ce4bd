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


# ---------------------------------------------------------------------------------------------------------------
# the Arrow reader (RE2 over every value at once) against Python's `re`, one value at a time (issue 18)

HOSTILE = [
    "2020-01-02", "2020-02-30", "2019-02-29", "2000-02-29", "1900-02-29", "2020---15", "--03-15", "-", "2020-03-",
    "2020-01-02T25:00", "2020-01-02T10:30:59.999999999999999", "2020-01-02T10:30:60", "2020-01-02T10:30:05.1234567",
    "2020-01-02T10:30+01:00", "2020-01-02T10:30-0500", "2020-01-02T10:30+01", "2020-01-02T10:30Z", "2020-01-02T-:30",
    "2020\n", "2020\n\n", "\n2020", "2020-01-01T10:30:05.5\n", "", " 2020", "2020 ", "2020-1-1", "2020-01-02T10",
    "2020-01-02T1", "0000-00-00", "9999-12-31T23:59:59", "2020-01-02T10:30:05,5", "2020-01-02T10:30:05.",
    "2020-01-02T10:30:-", "2020-01-02T-:-:-", "2020-01-02T", "T10:30", "2020-01-02t10:30", "2020-01-02T10:30:05.5Z",
    "\u0662\u0660\u0662\u0660-01-01", "2020-\uff10\uff11-01", "2020-01-01T10:30\u00e9", "caf\u00e9", "2020/01/01",
    "P28D", "2020-01-01/2020-02-01", "-2020", "+2020", "20200101", "2020-01-01T10:30:05+25:00",
]


def _random_texts(n: int, seed: int = 18) -> list[str]:
    rng = np.random.default_rng(seed)
    alphabet = np.array(list("0123456789-T:.Z+ \nP") + ["\u0662", "\u00e9"])
    out = []
    for _ in range(n):  # over generated values (test data)
        base = HOSTILE[rng.integers(len(HOSTILE))]
        chars = list(base) or ["0"]
        chars[rng.integers(len(chars))] = str(rng.choice(alphabet))
        out.append("".join(chars))
    return out


def test_arrow_reader_reads_every_value_as_python_re_does():
    from cdiscflow.core.iso8601 import _split_arrow, _split_python

    values = np.array(sorted(set(HOSTILE + _random_texts(20000))), dtype=object)
    fast, slow = _split_arrow(values), _split_python(values)
    for got, want in zip(fast, slow):  # matched, present, known, numbers
        assert np.array_equal(got, want, equal_nan=True) if got.dtype.kind == "f" else np.array_equal(got, want)
    status = parse_text(pd.Series(values))[1]
    assert (status == OK).sum() > 50 and (status == BAD_CALENDAR).sum() > 20 and (status == BAD_FORMAT).sum() > 1000


def test_arrow_reader_edge_values():
    nums, status = parse_text(pd.Series(["2020\n", "\u0662\u0660\u0662\u0660-01-01", "2020-01-02T10:30:05.1234567",
                                         "\ud800", "2020-01-02T10:30\u00e9"], dtype=object))
    assert status[0] == OK and nums[0, 0] == 2020  # Python's `$` takes a final newline: kept as before
    # ISO 8601 digits are ASCII: Arabic-Indic digits (U+0660-0669) are not a year, in either engine
    assert status[1] == BAD_FORMAT and np.isnan(nums[1]).all()
    assert status[2] == OK and nums[2, 5] == 5.1234567
    assert status[3] == BAD_FORMAT and status[4] == BAD_FORMAT  # a lone surrogate: Python path, not a crash


def test_other_scripts_digits_are_not_iso8601_in_either_engine():
    from cdiscflow.core.iso8601 import _split_arrow, _split_python

    values = np.array(["\u0662\u0660\u0662\u0660-01-01", "2020-\u0660\u0661-01", "2020-01-01T1\u0669:00",
                       "P\u0663D", "2020-01-01"], dtype=object)
    for split in (_split_arrow, _split_python):
        matched = split(values)[0]
        assert matched.tolist() == [False, False, False, False, True]
    status = parse_text(pd.Series(values))[1]
    assert status.tolist() == [BAD_FORMAT, BAD_FORMAT, BAD_FORMAT, BAD_FORMAT, OK]
    from cdiscflow.validation import iso8601 as checks

    durations = np.array(["P3D", "P\u0663D", "PT1\u0669H"], dtype=object)
    assert checks.value_status(durations, checks.DURATION_OR_INTERVAL).tolist() == [0, 1, 1]
