"""A small, self-contained HTML report: tables, figures and text in sections, one file, no external assets.

`write_html_report(out_dir, title, sections, synthetic=...)` writes `index.html` (inline CSS, no JavaScript, no
web fonts; figures are `<img>` elements with relative PNG paths inside `out_dir`) and every table also as
`<name>.csv`.  The page comes from the jinja2 templates in `templates/` (autoescaped, style sheet `report.css`).
Output is deterministic: no timestamps, stable ordering, '\\n' line ends, written atomically.
When the data are synthetic the page says so in a banner at the top, before anything else.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence, Union

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from cdiscflow import __version__
from cdiscflow.core.atomic import write_text
from cdiscflow.core.errors import InputError
from cdiscflow.core.spreadsheet import csv_text

SYNTHETIC_BANNER = ("SYNTHETIC DATA: every record behind this report was simulated. No real patient data; "
                    "the numbers test the pipeline and must not be read as clinical results.")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
TEMPLATES = Path(__file__).resolve().parent / "templates"  # jinja2 templates of the page (package data)



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
    return str(_templates().get_template("items.html.j2").module.table(_table_view(table)))


def _table_view(table: Table) -> dict:
    """What the table template shows: header and cells as text with their CSS class (numeric columns `num`; a
    marked cell text its mark), heading lines flagged."""
    frame = table.frame.reset_index() if table.index else table.frame
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               for c in frame.columns]
    cls = ["num" if n else "" for n in numeric]
    headings = set(table.headings)
    rows = [(i in headings, [(_cell(v), _mark(table, v, c)) for v, c in zip(row, cls)])
            for i, row in enumerate(frame.itertuples(index=False, name=None))]  # display rows of a report table
    return {"name": table.name, "caption": table.caption, "head": list(zip(frame.columns, cls)), "rows": rows,
            "notes": list(table.notes), "note": table.note}


def _mark(table: Table, value: object, cls: str) -> str:
    mark = table.marks.get(value) if isinstance(value, str) else None
    return mark or cls


def figure_html(figure: Figure) -> str:
    return str(_templates().get_template("items.html.j2").module.figure(figure))


def _item_view(item: Item) -> tuple[str, object]:
    if isinstance(item, Table):
        return "table", _table_view(item)
    if isinstance(item, Figure):
        return "figure", item
    if isinstance(item, Text):
        return "text", item.text
    raise TypeError(f"report items are Table, Figure or Text, got {type(item).__name__}")


def render_html(title: str, sections: Sequence[Section], *, synthetic: bool, subtitle: str = "") -> str:
    """The whole page as a string (see `write_html_report`), from templates/page.html.j2."""
    views = [{"title": s.title, "entries": [_item_view(i) for i in s.items]} for s in sections]
    return _templates().get_template("page.html.j2").render(
        title=title, subtitle=subtitle, synthetic=synthetic, banner=SYNTHETIC_BANNER, sections=views,
        version=__version__)


@lru_cache(maxsize=1)
def _templates() -> Environment:
    """The report's jinja2 templates: autoescaped (every value HTML-escaped as `html.escape` does, quotes included),
    block tags leave no blank lines."""
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, finalize=_escaped,
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=StrictUndefined)


def _escaped(value: object) -> Markup:
    """A value as page text: escaped once, as `html.escape(quote=True)` writes entities (markup is kept as is)."""
    return value if isinstance(value, Markup) else Markup(html.escape(str(value), quote=True))


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


def _cell(value: object) -> object:
    """A cell as shown: missing empty, floats with up to 4 significant digits (escaped by the template)."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.4g}"
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return value
