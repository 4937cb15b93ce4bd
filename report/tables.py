"""Summary and adverse-event tables computed from ADaM as a report spec declares them (see `specs.report`).

`summary_table(table, data, stats)` and `adverse_event_tables(table, data, stats)` return `ReportTable`s (the
display frame in the paper's layout, with footnotes) and put every number they print into `stats`.  Counts are
distinct subjects (USUBJID) of the column's population among the records meeting the conditions; percentages use
the population size.  Nothing is dropped silently: values in no category, records without a value and subjects
without a record of a BDS parameter get their own lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cdiscflow.report.data import SUBJECT, ReportData
from cdiscflow.report.proportions import (clopper_pearson, format_median_range, format_n_pct, round_half_up)
from cdiscflow.report.stats import Stats
from cdiscflow.specs.report.model import Band, Category, Column, Percent, Row, TableSpec

INDENT = "\u00a0\u00a0\u00a0"  # no-break spaces: an indented line in HTML and CSV alike
OTHER, MISSING, NOT_RECORDED = "other", "missing", "not recorded"


@dataclass(frozen=True)
class ReportTable:
    """A table as printed: `display` (strings in the paper's layout), its caption and footnotes."""

    name: str
    caption: str
    display: pd.DataFrame
    notes: tuple[str, ...] = ()
    headings: tuple[int, ...] = field(default=())  # positions of heading lines


# ----------------------------------------------------------------------------------------------------------------
# formats


def n_pct(n: int, total: int, percent: Percent | None) -> str:
    """'20 (31.7)', '2 (5%)', '14 (100)' (100% printed without decimals, as the paper does) or just '20'."""
    if percent is None or total == 0:
        return str(n)
    if n == total:
        return f"{n} (100{'%' if percent.sign else ''})"
    return format_n_pct(n, total, decimals=percent.decimals, percent_sign=percent.sign)


def pct(n: int, total: int) -> float:
    return 100.0 * n / total if total else np.nan


def ci_text(lower: float, upper: float) -> str:
    if np.isnan(lower):
        return ""
    return f"{round_half_up(100 * lower, 1)}-{round_half_up(100 * upper, 1)}"


def column_header(column: Column, total: int) -> str:
    return f"{column.label} (n = {total})"


def _column_totals(table: TableSpec, totals: dict[str, int], stats: Stats) -> None:
    """The population size of every column: row '' of the table, stat N."""
    for column in table.columns:
        stats.add(table.name, "", "N", totals[column.id], column=column.id, row_label="Patients",
                  column_label=column.label)


# ----------------------------------------------------------------------------------------------------------------
# summary tables


class _Summary:
    """One summary table being computed: masks per row and column, cells, stats."""

    def __init__(self, table: TableSpec, data: ReportData, stats: Stats):
        self.t, self.data, self.stats = table, data, stats
        self.totals = {c.id: data.size(c.population) for c in table.columns}
        self.lines: list[tuple[str, list[str]]] = []
        self.headings: list[int] = []
        self.width = len(table.columns) * (2 if table.ci else 1)
        if len(table.columns) == 1:
            stats.single_column.add(table.name)
        _column_totals(table, self.totals, stats)

    # -- masks --------------------------------------------------------------------------------------------------
    def records(self, row: Row, column: Column) -> tuple[str, np.ndarray]:
        """The dataset of `row` and its records for `column`: population, column, table, parameter, row filters."""
        dataset = row.dataset or self.t.dataset
        d = self.data
        mask = d.members(dataset, column.population) & d.mask(dataset, column.where)
        if dataset == self.t.dataset:
            mask = mask & d.mask(dataset, self.t.where)
        if row.param is not None:
            mask = mask & d.mask(dataset, f"PARAMCD == {row.param!r}")
        return dataset, mask & d.mask(dataset, row.where_for(column.id))

    def value_mask(self, dataset: str, variable: str, values: tuple) -> np.ndarray:
        series = self.data.frame(dataset)[variable]
        if pd.api.types.is_numeric_dtype(series):
            wanted = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)
            return series.isin(wanted).to_numpy()
        return series.isin([str(v) for v in values]).to_numpy()

    # -- output -------------------------------------------------------------------------------------------------
    def line(self, label: str, cells: list[str], *, heading: bool = False) -> None:
        if heading:
            self.headings.append(len(self.lines))
        self.lines.append((label, cells))

    def add(self, row: Row, column: Column, stat: str, value: float, category: Category | None = None) -> None:
        self.stats.add(self.t.name, row.id, stat, value, category=category.id if category else "", column=column.id,
                       row_label=row.label, category_label=category.label if category else "",
                       column_label=column.label)

    def count_cell(self, row: Row, column: Column, n: int, category: Category | None = None) -> list[str]:
        total = self.totals[column.id]
        self.add(row, column, "n", n, category)
        self.add(row, column, "N", total, category)
        if self.t.percent is not None:
            self.add(row, column, "pct", pct(n, total), category)
        cells = [n_pct(n, total, self.t.percent)]
        if self.t.ci:
            lower, upper = clopper_pearson(n, total) if total else (np.nan, np.nan)
            self.add(row, column, "lower", 100 * lower, category)
            self.add(row, column, "upper", 100 * upper, category)
            cells.append(ci_text(lower, upper))
        return cells

    # -- rows ---------------------------------------------------------------------------------------------------
    def heading(self, row: Row) -> None:
        self.line(row.label, [""] * self.width, heading=True)

    def count(self, row: Row) -> None:
        cells: list[str] = []
        for column in self.t.columns:
            dataset, mask = self.records(row, column)
            if row.value is not None:
                mask = mask & self.value_mask(dataset, row.variable, (row.value,))
            cells += self.count_cell(row, column, self.data.count(dataset, mask))
        self.line(row.label, cells)

    def pair(self, row: Row) -> None:
        cells: list[str] = []
        for column in self.t.columns:
            dataset, mask = self.records(row, column)
            texts = []
            for part in row.pair:
                m = mask & self.data.mask(dataset, part.where)
                if row.value is not None:
                    m = m & self.value_mask(dataset, row.variable or "AVALC", (row.value,))
                texts.append(self.count_cell(row, column, self.data.count(dataset, m), part)[0])
            cells += [" / ".join(texts)] + ([""] if self.t.ci else [])
        self.line(f"{INDENT}{row.label}", cells)

    def median_range(self, row: Row) -> None:
        cells: list[str] = []
        for column in self.t.columns:
            dataset, mask = self.records(row, column)
            values = pd.to_numeric(self.data.frame(dataset).loc[mask, row.variable], errors="coerce").dropna()
            n = int(values.size)
            self.add(row, column, "n", n)
            for stat, value in (("median", values.median()), ("min", values.min()), ("max", values.max())):
                self.add(row, column, stat, value if n else np.nan)
            text = format_median_range(values.to_numpy(), decimals=row.decimals)
            if row.show_n and n:
                text += f"; n = {n}"
            cells += [text] + ([""] if self.t.ci else [])
        self.line(row.label, cells)

    def categories(self, row: Row) -> None:
        """A heading line, then one line per category (plus unknown / other / not recorded when they occur)."""
        per_column: dict[str, dict[str, int]] = {}
        other_values: set[str] = set()
        for column in self.t.columns:
            dataset, mask = self.records(row, column)
            frame = self.data.frame(dataset)
            counts: dict[str, int] = {}
            matched = np.zeros(len(frame), dtype=bool)
            for cat in row.categories:
                m = mask.copy()
                if cat.values:
                    m &= self.value_mask(dataset, row.variable, cat.values)
                if cat.where is not None:
                    m &= self.data.mask(dataset, cat.where)
                matched |= m
                counts[cat.id] = self.data.count(dataset, m)
            value_missing = frame[row.variable].isna().to_numpy() if row.variable else np.zeros(len(frame), bool)
            counts[MISSING] = self.data.count(dataset, mask & value_missing)
            rest = mask & ~matched & ~value_missing
            counts[OTHER] = self.data.count(dataset, rest)
            if counts[OTHER] and row.variable:
                other_values |= set(map(str, frame.loc[rest, row.variable].unique()))
            counts[NOT_RECORDED] = (self.totals[column.id] - self.data.count(dataset, mask)
                                    if row.param is not None else 0)
            per_column[column.id] = counts
        self.line(row.label, [""] * self.width)
        lines = list(row.categories)
        unknown = row.unknown or Category(MISSING, "Missing")
        if row.unknown is not None or any(c[MISSING] for c in per_column.values()):
            lines.append(unknown)
        if any(c[OTHER] for c in per_column.values()):
            label = "Other" + (f" ({', '.join(sorted(other_values))})" if other_values else "")
            lines.append(Category(OTHER, label))
        if any(c[NOT_RECORDED] for c in per_column.values()):
            lines.append(Category(NOT_RECORDED, "Not recorded"))
        for cat in lines:
            key = MISSING if cat is unknown else cat.id
            cells: list[str] = []
            for column in self.t.columns:
                cells += self.count_cell(row, column, per_column[column.id][key], cat)
            self.line(f"{INDENT}{cat.label}", cells)

    def build(self) -> ReportTable:
        for row in self.t.rows:
            getattr(self, row.kind)(row)  # heading, count, categories, median_range or pair
        headers = []
        for column in self.t.columns:
            headers.append(column_header(column, self.totals[column.id]))
            if self.t.ci:
                headers.append(f"{column.label}: 95% CI (%)")
        display = pd.DataFrame([[label, *cells] for label, cells in self.lines], columns=["Characteristic", *headers])
        return ReportTable(self.t.name, self.t.caption, display, self.t.notes, tuple(self.headings))


def summary_table(table: TableSpec, data: ReportData, stats: Stats) -> ReportTable:
    """Compute a `summary` table: counts n (%), medians (ranges) and exact CIs per population column."""
    return _Summary(table, data, stats).build()


# ----------------------------------------------------------------------------------------------------------------
# adverse events


def _worst(frame: pd.DataFrame, mask: np.ndarray, grade: str, by: list[str]) -> pd.DataFrame:
    """Each subject's worst grade among the records of `mask`, per `by` group: columns by + [USUBJID, grade]."""
    rows = frame.loc[mask, [*by, SUBJECT, grade]].copy()
    rows[grade] = pd.to_numeric(rows[grade], errors="coerce")
    return rows.groupby([*by, SUBJECT], sort=True, dropna=False)[grade].max().reset_index()


def _band_of(grades: pd.Series, bands: tuple[Band, ...]) -> pd.Series:
    out = pd.Series(OTHER, index=grades.index, dtype=object)
    for band in reversed(bands):
        out[grades.isin(band.grades)] = band.id
    return out


def adverse_event_tables(table: TableSpec, data: ReportData, stats: Stats) -> list[ReportTable]:
    """Table 2 style: patients by worst grade band per row and column; plus the every-term table (`by_term`)."""
    frame = data.frame(table.dataset)
    totals = {c.id: data.size(c.population) for c in table.columns}
    _column_totals(table, totals, stats)
    base = {c.id: data.members(table.dataset, c.population) & data.mask(table.dataset, c.where)
            & data.mask(table.dataset, table.where) for c in table.columns}
    lines, headings = [], []
    for row in table.rows:
        if row.kind == "heading":
            headings.append(len(lines))
            lines.append([row.label] + [""] * (len(table.columns) * len(table.bands)))
            continue
        cells = []
        for column in table.columns:
            mask = (base[column.id] & data.mask(table.dataset, row.records or table.records)
                    & data.mask(table.dataset, row.where_for(column.id)))
            worst = _worst(frame, mask, table.grade, [])
            for band in table.bands:
                n = int(worst[table.grade].isin(band.grades).sum())
                total = totals[column.id]
                for stat, value in (("n", n), ("N", total), ("pct", pct(n, total))):
                    stats.add(table.name, row.id, stat, value, category=band.id, column=column.id, row_label=row.label,
                              category_label=band.label, column_label=column.label)
                cells.append(n_pct(n, total, table.percent))
        lines.append([INDENT * (row.indent - 1) + row.label, *cells])
    headers = [f"{column_header(c, totals[c.id])}: {b.label}" for c in table.columns for b in table.bands]
    out = [ReportTable(table.name, table.caption, pd.DataFrame(lines, columns=["Adverse event", *headers]),
                       table.notes, tuple(headings))]
    if table.by_term is not None:
        out.append(_by_term(table, data, stats, base, totals))
    return out


def _by_term(table: TableSpec, data: ReportData, stats: Stats, base: dict[str, np.ndarray],
             totals: dict[str, int]) -> ReportTable:
    """Every term (by_term.by, e.g. SOC and PT): patients by worst grade band per column, sorted by term."""
    spec = table.by_term
    frame = data.frame(table.dataset)
    by = list(spec.by)
    counted = []
    for column in table.columns:
        worst = _worst(frame, base[column.id] & data.mask(table.dataset, table.records), table.grade, by)
        worst["band"] = _band_of(worst[table.grade], spec.bands)
        n = worst.groupby([*by, "band"], sort=True, dropna=False)[SUBJECT].nunique().rename("n").reset_index()
        n["column"] = column.id
        counted.append(n)
    counts = pd.concat(counted, ignore_index=True) if counted else pd.DataFrame(columns=[*by, "band", "n", "column"])
    bands = list(spec.bands)
    if (counts["band"] == OTHER).any():
        bands.append(Band(OTHER, "Grade missing or outside the bands", ()))
    terms = counts[by].drop_duplicates().sort_values(by, kind="stable").reset_index(drop=True)
    wide = counts.pivot_table(index=by, columns=["column", "band"], values="n", aggfunc="sum", fill_value=0)
    lines = []
    for term in terms.itertuples(index=False, name=None):  # one line per term: display rows
        key = term if len(by) > 1 else term[0]
        row_id, row_label = str(term[-1]), " / ".join(map(str, term))
        cells = []
        for column in table.columns:
            total = totals[column.id]
            for band in bands:
                n = int(wide.loc[key, (column.id, band.id)]) if (column.id, band.id) in wide.columns else 0
                for stat, value in (("n", n), ("N", total), ("pct", pct(n, total))):
                    stats.add(spec.name, row_id, stat, value, category=band.id, column=column.id,
                              row_label=row_label, category_label=band.label, column_label=column.label)
                cells.append(n_pct(n, total, table.percent))
        lines.append([*map(str, term), *cells])
    headers = [f"{column_header(c, totals[c.id])}: {b.label}" for c in table.columns for b in bands]
    display = pd.DataFrame(lines, columns=[*(spec.by_labels or by), *headers])
    return ReportTable(spec.name, spec.caption, display)
