"""A small, self-contained HTML report: tables, figures and text in sections, one file, no external assets.

`write_html_report(out_dir, title, sections, synthetic=...)` writes `index.html` (inline CSS, no JavaScript, no
web fonts; figures are `<img>` elements with relative PNG paths inside `out_dir`) and every table also as
`<name>.csv`.  Output is deterministic: no timestamps, stable ordering, '\\n' line ends, written atomically.
When the data are synthetic the page says so in a banner at the top, before anything else.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence, Union

import pandas as pd

from cdiscflow import __version__
from cdiscflow.core.atomic import write_text
from cdiscflow.core.errors import InputError
from cdiscflow.core.spreadsheet import csv_text

SYNTHETIC_BANNER = ("SYNTHETIC DATA: every record behind this report was simulated. No real patient data; "
                    "the numbers test the pipeline and must not be read as clinical results.")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1b1b1b;max-width:1100px;margin:0 auto;
padding:0 24px 48px;line-height:1.45;font-size:15px}
header{border-bottom:2px solid #0072b2;margin-bottom:24px;padding-top:16px}
h1{font-size:26px;margin:8px 0 4px}h2{font-size:20px;margin:32px 0 8px;border-bottom:1px solid #ddd}
.subtitle{color:#555;margin:0 0 12px}
.synthetic{background:#fff4e5;border:2px solid #d55e00;color:#7a2e00;font-weight:600;padding:10px 14px;
border-radius:4px;margin:16px 0}
table{border-collapse:collapse;margin:8px 0 4px;font-size:14px}
caption{caption-side:top;text-align:left;font-weight:600;padding:4px 0}
th,td{padding:4px 10px;border-bottom:1px solid #e3e3e3;vertical-align:top}
td:last-child{overflow-wrap:anywhere}
th{background:#f3f6f9;text-align:left;border-bottom:2px solid #c8d3dd}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tbody tr:nth-child(even){background:#fafbfc}
.note{color:#555;font-size:13px;margin:2px 0 16px}
.csv{font-size:12px;color:#0072b2}
figure{margin:12px 0 24px}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#333;font-size:14px;margin-top:4px}
tr.heading td{font-weight:600;background:#eef3f7}
td.pass{color:#1b7f3b;font-weight:600}td.fail{color:#b00020;font-weight:700}
nav{font-size:14px;margin:0 0 16px}nav a{color:#0072b2;margin-right:14px;white-space:nowrap}
footer{margin-top:48px;color:#777;font-size:12px;border-top:1px solid #ddd;padding-top:8px}
""".strip()


@dataclass(frozen=True)
class Table:
    """A table: `name` is its file stem (`<name>.csv`) and HTML id; cells are shown as they are in `frame`
    (format numbers beforehand for print; floats otherwise show with up to 4 significant digits)."""

    name: str
    frame: pd.DataFrame
    caption: str = ""
    note: str = ""
    index: bool = False
    notes: Sequence[str] = ()  # further footnotes, one paragraph each
    headings: Sequence[int] = ()  # positions of heading lines (shown bold)
    marks: Mapping[str, str] = field(default_factory=dict)  # cell text -> CSS class (e.g. {"FAIL": "fail"})


@dataclass(frozen=True)
class Figure:
    """A figure: `src` is a PNG path relative to the report folder (it must exist when the report is written)."""

    src: str
    caption: str = ""
    alt: str = ""


@dataclass(frozen=True)
class Text:
    """A paragraph of plain text (escaped; no markup)."""

    text: str


Item = Union[Table, Figure, Text]


@dataclass(frozen=True)
class Section:
    title: str
    items: Sequence[Item]


def table_html(table: Table) -> str:
    """One table as HTML (header escaped, numeric columns right-aligned, missing cells empty)."""
    frame = table.frame.reset_index() if table.index else table.frame
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               for c in frame.columns]
    cls = [' class="num"' if n else "" for n in numeric]
    head = "".join(f"<th{c}>{_esc(col)}</th>" for col, c in zip(frame.columns, cls))
    body = []
    headings = set(table.headings)
    for i, row in enumerate(frame.itertuples(index=False, name=None)):  # display rows of a report table
        tr = '<tr class="heading">' if i in headings else "<tr>"
        body.append(tr + "".join(f"<td{_mark(table, v, c)}>{_cell(v)}</td>" for v, c in zip(row, cls)) + "</tr>")
    caption = f"<caption>{_esc(table.caption)}</caption>" if table.caption else ""
    parts = [f'<table id="{_esc(table.name)}">{caption}<thead><tr>{head}</tr></thead>',
             "<tbody>" + "\n".join(body) + "</tbody></table>"]
    parts += [f'<p class="note">{_esc(n)}</p>' for n in table.notes]
    note = f"{_esc(table.note)} " if table.note else ""
    parts.append(f'<p class="note">{note}<a class="csv" href="{_esc(table.name)}.csv">{_esc(table.name)}.csv</a></p>')
    return "\n".join(parts)


def _mark(table: Table, value: object, cls: str) -> str:
    mark = table.marks.get(value) if isinstance(value, str) else None
    return f' class="{_esc(mark)}"' if mark else cls


def figure_html(figure: Figure) -> str:
    alt = figure.alt or figure.caption or figure.src
    caption = f"<figcaption>{_esc(figure.caption)}</figcaption>" if figure.caption else ""
    return f'<figure><img src="{_esc(figure.src)}" alt="{_esc(alt)}">{caption}</figure>'


def render_html(title: str, sections: Sequence[Section], *, synthetic: bool, subtitle: str = "") -> str:
    """The whole page as a string (see `write_html_report`)."""
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_esc(('[SYNTHETIC] ' if synthetic else '') + title)}</title>",
           f"<style>\n{CSS}\n</style>", "</head>", "<body>", "<header>"]
    if synthetic:
        out.append(f'<p class="synthetic" role="note">{_esc(SYNTHETIC_BANNER)}</p>')
    out.append(f"<h1>{_esc(title)}</h1>")
    if subtitle:
        out.append(f'<p class="subtitle">{_esc(subtitle)}</p>')
    if len(sections) > 2:  # a table of contents
        out.append("<nav>" + " ".join(f'<a href="#s{k + 1}">{_esc(s.title)}</a>' for k, s in enumerate(sections))
                   + "</nav>")
    out.append("</header>")
    for k, section in enumerate(sections):
        out.append(f'<section id="s{k + 1}">\n<h2>{_esc(section.title)}</h2>')
        for item in section.items:
            if isinstance(item, Table):
                out.append(table_html(item))
            elif isinstance(item, Figure):
                out.append(figure_html(item))
            elif isinstance(item, Text):
                out.append(f"<p>{_esc(item.text)}</p>")
            else:
                raise TypeError(f"report items are Table, Figure or Text, got {type(item).__name__}")
        out.append("</section>")
    out.append(f"<footer>Generated by cdiscflow {_esc(__version__)}.</footer>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def write_html_report(out_dir: str | Path, title: str, sections: Sequence[Section], *, synthetic: bool,
                      subtitle: str = "", filename: str = "index.html") -> list[Path]:
    """Write `<out_dir>/index.html` and one `<name>.csv` per table; return the written paths (HTML first).

    Checks before writing anything: table names are unique file stems, figure paths are relative, stay inside
    `out_dir` and exist.
    """
    out_dir = Path(out_dir)
    tables = [i for s in sections for i in s.items if isinstance(i, Table)]
    figures = [i for s in sections for i in s.items if isinstance(i, Figure)]
    problems = []
    names = [t.name for t in tables]
    problems += [f"table name {n!r} is not a plain file stem (letters, digits, _ . -)" for n in names
                 if not _NAME_RE.match(n)]
    problems += [f"table name {n!r} is used twice" for n in sorted({n for n in names if names.count(n) > 1})]
    for fig in figures:
        src = PurePosixPath(fig.src)
        if src.is_absolute() or ".." in src.parts or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", fig.src):
            problems.append(f"figure {fig.src!r} must be a path relative to the report folder")
        elif not (out_dir / src).is_file():
            problems.append(f"figure {fig.src!r} does not exist in {out_dir}")
    if problems:
        raise InputError("report: " + "; ".join(problems))
    page = out_dir / filename
    write_text(page, render_html(title, sections, synthetic=synthetic, subtitle=subtitle))
    written = [page]
    for table in tables:
        frame = table.frame.reset_index() if table.index else table.frame
        path = out_dir / f"{table.name}.csv"
        write_text(path, csv_text(frame))
        written.append(path)
    return written


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return _esc(f"{value:.4g}")
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return _esc(value)
