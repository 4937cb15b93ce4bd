"""Data Docs: hostile data values are shown as text, never run (issue 16.2), and cdiscflow's in-memory evaluation
of the expectations gives the same pages as great-expectations' validator (issue 18)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from cdiscflow.core.errors import InputError
from cdiscflow.report.html import Section, Table, Text, render_html
from cdiscflow.validation import validate_datasets, write_data_docs
from cdiscflow.validation.api import run_validation, write_outputs

pytestmark = pytest.mark.slow  # module fixtures run the pipeline end to end

HOSTILE = ('<script>alert(1)</script>', '"><img src=x onerror=alert(2)>', "'><svg onload=alert(3)>")
# markup that must never reach a page unescaped
RAW_MARKUP = re.compile(r"<script>alert|<img src=x|<svg onload|onerror=alert\(2\)>")


def _text_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]


def _hostile(data: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every text column of every dataset gets the hostile values in its first rows (cycling)."""
    out = {}
    for name, frame in data.items():
        frame = frame.copy()
        for c in _text_columns(frame):
            values = frame[c].astype(object).to_numpy().copy()
            for i in range(len(values)):
                values[i] = HOSTILE[i % len(HOSTILE)] if i < 2 * len(HOSTILE) else values[i]
            frame[c] = values
        out[name] = frame
    return out


@pytest.fixture(scope="module")
def hostile_docs(tmp_path_factory, make_clean, spec):
    data = _hostile(make_clean())
    out = tmp_path_factory.mktemp("hostile")
    result = run_validation(data, spec)
    write_outputs(result, data, spec, out / "validation")
    return data, out / "validation"


@pytest.mark.slow
def test_every_text_column_was_made_hostile(hostile_docs):
    data, _ = hostile_docs
    assert sum(len(_text_columns(f)) for f in data.values()) > 50
    dm = data["DM"]
    assert dm.loc[0, "USUBJID"] == HOSTILE[0] and dm.loc[1, "SEX"] == HOSTILE[1] and dm.loc[2, "COUNTRY"] == HOSTILE[2]


def test_no_page_holds_unescaped_markup_from_the_data(hostile_docs):
    _, out = hostile_docs
    pages = sorted(out.rglob("*.html"))
    assert len(pages) == 21  # index + results and suite page of each of the 10 datasets
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not RAW_MARKUP.search(text), (page, RAW_MARKUP.search(text).group(0))
        assert "&amp;lt;" not in text and "&amp;gt;" not in text, page  # escaped once, not twice


def test_hostile_values_are_shown_escaped(hostile_docs):
    _, out = hostile_docs
    dm = (out / "datadocs" / "validations" / "DM.html").read_text(encoding="utf-8")
    # SEX is checked against its codelist: the unexpected values are listed, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dm
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in dm
    assert "&#x27;&gt;&lt;svg onload=alert(3)&gt;" in dm


@pytest.mark.parametrize("name", ["A<B>", "../X", "DM\"><script>"])
def test_dataset_names_that_cannot_name_a_page_are_refused(tmp_path, make_clean, name):
    with pytest.raises(InputError, match="cannot name a page"):
        write_data_docs({name: make_clean()["TE"]}, None, tmp_path / "dd")
    assert not (tmp_path / "dd").exists()


def test_report_pages_escape_data():
    frame = pd.DataFrame({"term": list(HOSTILE), HOSTILE[0]: [1, 2, 3]})
    page = render_html(HOSTILE[1], [Section(HOSTILE[2], [Table("t", frame, caption=HOSTILE[0], note=HOSTILE[1]),
                                                         Text(HOSTILE[2])])], synthetic=True, subtitle=HOSTILE[0])
    assert not RAW_MARKUP.search(page)
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 4  # cell, header, caption, subtitle


@pytest.mark.slow
@pytest.mark.parametrize("planted", ["clean", "hostile"])
def test_in_memory_evaluation_gives_the_pages_of_ge_validator(tmp_path, make_clean, spec, planted):
    """The default engine evaluates met expectations itself and hands the others to GE: same bytes as GE alone."""
    data = make_clean()
    data["AE"].loc[2, "AESEV"] = "mild"
    data["AE"].loc[1, "AESTDTC"] = "2020-13"
    data["DM"].loc[0, "SEX"] = None  # a Req variable missing
    data["DM"].loc[1, "USUBJID"] = data["DM"].loc[0, "USUBJID"]  # a duplicate key
    if planted == "hostile":
        data = _hostile(data)
    findings = validate_datasets(data, spec)
    ours = write_data_docs(data, spec, tmp_path / "ours", findings=findings).parent
    ge = write_data_docs(data, spec, tmp_path / "ge", findings=findings, engine="great-expectations").parent
    pages = sorted(p.relative_to(ge) for p in ge.rglob("*.html"))
    assert pages == sorted(p.relative_to(ours) for p in ours.rglob("*.html")) and len(pages) == 21
    for p in pages:
        assert (ours / p).read_bytes() == (ge / p).read_bytes(), p
    index = (ours / "index.html").read_text(encoding="utf-8")
    assert "failed" in index and ("passed" in index) == (planted == "clean")


def test_unknown_engine_is_refused(tmp_path, make_clean, spec):
    with pytest.raises(ValueError, match="engine"):
        write_data_docs(make_clean(), spec, tmp_path / "dd", engine="fast")
