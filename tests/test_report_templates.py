"""The report's pages come from jinja2 templates shipped with the package, autoescaped (issue 21)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pandas as pd

from cdiscflow.report.html import Section, Table, Text, render_html

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_template_is_package_data():
    templates = sorted(p.name for p in (ROOT / "report" / "templates").iterdir())
    assert templates == ["items.html.j2", "page.html.j2", "report.css", "reviewers_guide.html.j2"]
    patterns = SETUPTOOLS["package-data"]["cdiscflow.report"]
    assert [t for t in templates if not any(fnmatch.fnmatch(f"templates/{t}", p) for p in patterns)] == []


def test_every_package_folder_is_installed():
    # a non-editable install ships only the packages listed: specs/report/ (the report spec) must be one of them
    folders = {".".join(("cdiscflow",) + p.parent.relative_to(ROOT).parts) for p in ROOT.rglob("__init__.py")
               if not {"tests", "benchmarks", "docs", ".venv", "build"} & set(p.relative_to(ROOT).parts)}
    assert "cdiscflow.specs.report" in folders
    assert sorted(folders - set(SETUPTOOLS["packages"])) == []


def test_page_text_is_escaped_once_with_the_entities_of_html_escape():
    frame = pd.DataFrame({"<th>": ["a & 'b'", None], "n": [1.23456, float("nan")]})
    page = render_html("R&D <1> 'x' \"y\"", [Section("S<", [Table("t", frame, caption="c'"), Text("<b>")])],
                       synthetic=False)
    assert "<title>R&amp;D &lt;1&gt; &#x27;x&#x27; &quot;y&quot;</title>" in page
    assert "<h1>R&amp;D &lt;1&gt; &#x27;x&#x27; &quot;y&quot;</h1>" in page
    assert '<section id="s1">\n<h2>S&lt;</h2>\n<table id="t"><caption>c&#x27;</caption>' in page
    assert '<thead><tr><th>&lt;th&gt;</th><th class="num">n</th></tr></thead>' in page
    assert '<tbody><tr><td>a &amp; &#x27;b&#x27;</td><td class="num">1.235</td></tr>\n<tr><td></td><td class="num"></td></tr></tbody></table>' in page
    assert "<p>&lt;b&gt;</p>\n</section>" in page
    assert page.endswith("</body>\n</html>\n") and "<nav>" not in page  # a contents line only from three sections
