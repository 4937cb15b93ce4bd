"""The self-contained HTML report: synthetic banner, escaping, CSV copies, relative figures, determinism."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from cdiscflow.core.errors import InputError
from cdiscflow.report.html import SYNTHETIC_BANNER, Figure, Section, Table, Text, render_html, write_html_report
from cdiscflow.report.kmplot import plot_km


def _sections(figure: str | None = "km.png") -> list[Section]:
    efficacy = pd.DataFrame({"Endpoint": ["PFS-B", "OS-B <all>"], "n": [44, 44], "Median": [2.8, np.nan],
                             "95% CI": ["1.6-4.0", "15.0-NR"]})
    items = [Text("Kaplan-Meier medians; CI by Brookmeyer-Crowley & SPSS."),
             Table("efficacy", efficacy, caption="Table 1. Medians", note="NR: not reached.")]
    if figure:
        items.append(Figure(figure, caption="Figure 1. PFS-B"))
    return [Section("Efficacy", items)]


def _write_png(folder):
    plot_km(folder / "km.png", [1, 2, 3], [1, 0, 1])


def test_report_has_banner_tables_figures_and_csv(tmp_path):
    _write_png(tmp_path)
    paths = write_html_report(tmp_path, "DARA-ATRA report", _sections(), synthetic=True, subtitle="Data cut 2020")
    assert [p.name for p in paths] == ["index.html", "efficacy.csv"]
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert page.index('class="synthetic"') < page.index("<h1>")  # the banner comes first
    assert "SYNTHETIC DATA" in page and "<title>[SYNTHETIC] DARA-ATRA report</title>" in page
    assert "OS-B &lt;all&gt;" in page and "Brookmeyer-Crowley &amp; SPSS" in page  # escaped
    assert '<img src="km.png" alt="Figure 1. PFS-B">' in page
    assert '<td class="num">2.8</td><td>1.6-4.0</td>' in page
    assert '<td class="num"></td>' in page  # NaN shows empty
    assert '<a class="csv" href="efficacy.csv">' in page
    assert not re.search(r"<(script|link)\b|https?://", page)  # self-contained: no JS, no external assets
    csv = (tmp_path / "efficacy.csv").read_text(encoding="utf-8")
    assert csv.splitlines()[0] == "Endpoint,n,Median,95% CI"
    assert csv.splitlines()[1] == "PFS-B,44,2.8,1.6-4.0"


def test_real_data_have_no_banner():
    page = render_html("Report", _sections(figure=None), synthetic=False)
    assert SYNTHETIC_BANNER not in page and "[SYNTHETIC]" not in page


def test_report_is_deterministic(tmp_path):
    _write_png(tmp_path)
    write_html_report(tmp_path, "R", _sections(), synthetic=True)
    first = {p.name: p.read_bytes() for p in sorted(tmp_path.iterdir())}
    write_html_report(tmp_path, "R", _sections(), synthetic=True)
    second = {p.name: p.read_bytes() for p in sorted(tmp_path.iterdir())}
    assert first == second
    assert not any(name.endswith(".part") for name in second)


def test_bad_figures_and_table_names_are_refused_before_writing(tmp_path):
    sections = _sections(figure="missing.png") + [
        Section("More", [Table("efficacy", pd.DataFrame({"a": [1]})), Table("bad name", pd.DataFrame({"a": [1]})),
                         Figure("/etc/passwd"), Figure("../km.png"), Figure("https://example.org/x.png")])]
    with pytest.raises(InputError) as err:
        write_html_report(tmp_path, "R", sections, synthetic=True)
    text = str(err.value)
    for part in ("'missing.png' does not exist", "'efficacy' is used twice", "'bad name' is not a plain file stem",
                 "'/etc/passwd' must be a path relative", "'../km.png' must be a path relative",
                 "'https://example.org/x.png' must be a path relative"):
        assert part in text
    assert not any(tmp_path.iterdir())
