"""The raw checks' column kernels (issue 18): non-ASCII text found by Arrow without a regex, numbers read once per
distinct text, USUBJID formatted once per subject; each equals the row-by-row answer on hostile values."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscflow.sdtm.raw.forms import _non_ascii, _numbers, _usubjid_rows, usubjid
from cdiscflow.specs.load import load_study

HOSTILE_TEXT = ["abc", "caf\u00e9", None, "", " ", "\x7f", "\x80", "na\u00efve", "\u2013", "\U0001f600", "tab\there",
                "abc", "caf\u00e9", "\x00", "line\nbreak"]


def test_non_ascii_is_the_regex_answer():
    col = pd.Series(HOSTILE_TEXT, index=range(1, len(HOSTILE_TEXT) + 1), dtype="str")
    want = col.str.contains(r"[^\x00-\x7f]", regex=True, na=False).to_numpy(dtype=bool)
    assert _non_ascii(col).tolist() == want.tolist()
    assert _non_ascii(col).tolist() == [False, True, False, False, False, False, True, True, True, True, False,
                                        False, True, False, False]


def test_numbers_are_read_as_pandas_reads_each_row():
    texts = ["1", "1", "-2.5", "+3", ".5", "5.", "1e3", "1E-2", "1e400", None, "abc", "0x10", "  7", "1_000",
             "007", "-0", "3.14159265358979323846", "nan", "inf", "1.5", "1.5"]
    col = pd.Series(texts, index=range(10, 10 + len(texts)), dtype="str", name="LBORRES")
    want = pd.to_numeric(col, errors="coerce").astype("float64")
    got = _numbers(col, np.ones(len(col), dtype=bool))
    pd.testing.assert_series_equal(got, want, check_exact=True)
    assert got.index.equals(col.index) and got.name == "LBORRES"
    assert _numbers(pd.Series([None, None], dtype="str"), np.ones(2, dtype=bool)).isna().all()
    ok = np.arange(len(col)) % 2 == 0  # rows that are not `ok` (not of the field's number shape) stay missing
    pd.testing.assert_series_equal(_numbers(col, ok), want.where(ok), check_exact=True)


def test_usubjid_per_subject_equals_the_row_formatting():
    spec = load_study("dara_atra")
    template = str(spec.study.get("raw", {}).get("usubjid", "{STUDYID}-{SUBJID}"))
    field = next(n for _, n, _, _ in __import__("string").Formatter().parse(template) if n not in (None, "STUDYID"))
    frame = pd.DataFrame({field: pd.array(["101-001", "101-002", None, "101-001", "", "x\u00e9"] * 3, dtype="str")},
                         index=np.arange(1, 19))
    want = _usubjid_rows(spec, template, frame)
    got = usubjid(spec, frame)
    pd.testing.assert_series_equal(got, want, check_exact=True)
    assert got.isna().sum() == 3 and got.iloc[0] == want.iloc[0] and got.iloc[0].endswith("101-001")


def test_usubjid_rows_join_literals_and_fields_missing_where_a_field_is():
    from types import SimpleNamespace

    spec = SimpleNamespace(studyid="ST1")
    frame = pd.DataFrame({"SUBJID": pd.array(["001", None, "003"], dtype="str"), "SITE": [1.0, 2.0, np.nan]},
                         index=[5, 6, 7])
    got = _usubjid_rows(spec, "{STUDYID}-{SUBJID}", frame)
    assert got.dtype == "str" and got.index.tolist() == [5, 6, 7]
    assert got.tolist()[0::2] == ["ST1-001", "ST1-003"] and pd.isna(got.iloc[1])
    mixed = _usubjid_rows(spec, "{STUDYID}-{SITE}/{SUBJID}", frame)  # a number field as astype(str) writes it
    assert mixed.iloc[0] == "ST1-1.0/001" and mixed.iloc[1:].isna().all()
    assert _usubjid_rows(spec, "X{SUBJID}Y", frame).iloc[2] == "X003Y"
    assert _usubjid_rows(spec, "{STUDYID}", frame).tolist() == ["ST1"] * 3  # no raw field: one text everywhere


def test_trimmed_is_pandas_strip_then_blank_as_missing():
    from cdiscflow.sdtm.raw.files import _trimmed

    values = [" a ", "", "  ", None, "b\t", "\u00a0x\u3000", "x", "\r\n", " in side ", "caf\u00e9 "]
    col = pd.Series(values, index=range(1, len(values) + 1), dtype="str", name="AETERM")
    want = col.astype(str).str.strip()
    want = want.mask(want == "")
    got = _trimmed(col)
    pd.testing.assert_series_equal(got, want, check_exact=True)
    assert got.iloc[0] == "a" and got.isna().tolist()[:4] == [False, True, True, True]
    objects = pd.Series(values, dtype=object)  # a column pandas holds as objects goes through pandas
    pd.testing.assert_series_equal(_trimmed(objects), objects.astype(str).str.strip().mask(
        objects.astype(str).str.strip() == ""), check_exact=True)


def test_dates_of_one_format_converted_together_across_forms_equal_each_field_alone():
    from dataclasses import replace
    from pathlib import Path

    from cdiscflow.sdtm.raw.forms import RawForm, _convert_datetime, _dates_together

    spec = load_study("dara_atra")
    with_dates = [f for f in spec.forms.values() if sum(x.datatype == "date" for x in f.fields) >= 2][:2]
    hostile = ["05-JUL-2016", "UN-MAR-2017", "30-FEB-2017", "05-XYZ-2016", None, "2016-07-05", " 05-jul-2016 ",
               "UN-UNK-2009", "00-JAN-2017", "31-APR-2017", "5-JUL-2016"]
    raws = []
    for k, form in enumerate(with_dates):  # two forms, of other lengths and row numbers
        dates = [x for x in form.fields if x.datatype == "date"]
        values = hostile[k:]
        rows = pd.Index(np.arange(3 + k, 3 + k + len(values)), name="row")
        data = pd.DataFrame({x.name: pd.array(values[i:] + values[:i], dtype="str") for i, x in enumerate(dates)},
                            index=rows)
        raws.append(RawForm(replace(form, fields=tuple(dates)), Path(form.file), data))
    together = _dates_together(raws)
    assert set(together) == {(r.name, x.name) for r in raws for x in r.form.fields}
    for raw in raws:  # over the forms
        for x in raw.form.fields:  # over their date fields
            alone = _convert_datetime(raw.data[x.name], x.datatype, x.format)
            pd.testing.assert_series_equal(together[raw.name, x.name].iso, alone.iso, check_exact=True)
            pd.testing.assert_series_equal(together[raw.name, x.name].problem, alone.problem, check_exact=True)
    first = raws[1]
    assert together[first.name, first.form.fields[0].name].problem.notna().sum() >= 4  # the bad ones are still bad
    assert together[first.name, first.form.fields[0].name].iso.loc[4] == "2017-03"  # UN-MAR-2017 on row 4


def test_usubjid_formatted_once_per_form_and_kept_by_subsets():
    from cdiscflow.sdtm.mapping.engine import _subset
    from cdiscflow.sdtm.raw.forms import form_usubjid, read_export

    spec = load_study("dara_atra")
    export = read_export(spec, spec.raw_dir)
    ae = export.forms["ae"]
    assert ae.subjects is not None
    pd.testing.assert_series_equal(form_usubjid(spec, ae), usubjid(spec, ae.data), check_exact=True)
    assert form_usubjid(spec, ae).iloc[0] == "DARA-ATRA-" + ae.data["SUBJID"].iloc[0]
    rows = pd.Series(np.arange(len(ae)) % 3 == 1, index=ae.data.index)
    part = _subset(ae, rows, {"SUBJID"})
    assert len(part.subjects) == rows.sum() and part.subjects.index.equals(part.data.index)
    pd.testing.assert_series_equal(form_usubjid(spec, part), usubjid(spec, part.data), check_exact=True)
