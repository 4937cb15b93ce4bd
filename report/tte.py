"""Time-to-event part of the report: Kaplan-Meier medians with two kinds of CI, log-rank tests, numbers at risk,
median follow-up and KM plots, for every endpoint a report spec names (ADTTE parameters), overall and by group.

Numbers go into `Stats` under the tables `<name>` (row = endpoint id, category = group id: n, events, censored,
median, lower, upper, spss_median, spss_se, spss_lower, spss_upper), `<name>_logrank` (row = endpoint, category =
group, column = reference group: chisq, p; category 'overall': p of the test over all compared groups; stat
min_pairwise_p over every pair of compared groups) and `<name>_followup` (row = endpoint: median, lower, upper).
Times are in the spec's unit (months = days / 30.4375).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from cdiscflow.core.atomic import write_bytes
from cdiscflow.core.errors import InputError
from cdiscflow.report.data import SUBJECT, ReportData
from cdiscflow.report.kmplot import km_plot_png, risk_times
from cdiscflow.report.proportions import format_estimate_ci, format_pvalue, round_half_up
from cdiscflow.report.survival import (TRANSFORMS, logrank, median_follow_up, numbers_at_risk, survival_summary,
                                       tte_arrays)
from cdiscflow.report.stats import Stats
from cdiscflow.report.tables import ReportTable
from cdiscflow.specs.report.model import Category, Endpoint, TimeToEventSpec

MISSING_GROUP = "Missing"


@dataclass(frozen=True)
class FigureOut:
    """A written KM plot: file name (inside the report folder) and caption."""

    src: str
    caption: str


@dataclass(frozen=True)
class TteOutput:
    tables: list[ReportTable]  # estimates, log-rank tests, follow-up
    figures: list[FigureOut]
    texts: list[str]
    written: list[Path]
    risk_tables: list[ReportTable]  # numbers at risk per endpoint


def _group_ids(values: pd.Series, categories: tuple[Category, ...]) -> pd.Series:
    """Group id per record: the category whose values hold the record's value; other values as they are; missing
    values as 'Missing' (shown, never dropped)."""
    out = values.astype(object).where(values.notna(), MISSING_GROUP).map(str)
    for cat in categories:
        out = out.where(~values.astype(object).map(str).isin([str(v) for v in cat.values]) | values.isna(), cat.id)
    return out


def _order(present: list[str], categories: tuple[Category, ...]) -> list[str]:
    configured = [c.id for c in categories]
    return [c for c in configured if c in present] + sorted(set(present) - set(configured))


def time_to_event(spec: TimeToEventSpec, data: ReportData, stats: Stats, out_dir: Path, *,
                  population_label: str = "", published: Mapping[tuple[str, str], tuple[float, Any]] | None = None
                  ) -> TteOutput:
    """Compute the Kaplan-Meier analyses of `spec` and write its PNGs into `out_dir`.

    `published` maps (endpoint id, group id) to the published median and its 95% CI ([lower, upper] or None), shown
    beside the estimates."""
    published = published or {}
    frame = data.frame(spec.dataset)
    in_population = data.members(spec.dataset, spec.population)
    labels = {spec.overall.id: spec.overall.label}
    categories = spec.groups.categories if spec.groups else ()
    labels.update({c.id: c.label for c in categories})
    unit = spec.unit
    summary_lines, risk_tables, logrank_lines, figures, written, texts = [], [], [], [], [], []
    n_population = data.size(spec.population)
    stats.stat_labels[(spec.name, "n")] = " (patients)"
    stats.stat_labels[(spec.name, "events")] = " (events)"

    for endpoint in spec.endpoints:
        mask = in_population & data.mask(spec.dataset, f"PARAMCD == {endpoint.paramcd!r}")
        records = frame.loc[mask]
        duplicated = records[SUBJECT].duplicated()
        if duplicated.any():
            raise InputError(f"report: {spec.dataset} has {int(duplicated.sum())} subject(s) with more than one "
                             f"{endpoint.paramcd} record (first {records.loc[duplicated, SUBJECT].iloc[0]})")
        if records.empty:
            texts.append(f"{endpoint.label}: no {endpoint.paramcd} records in the population; nothing to estimate.")
            continue
        groups = None
        if spec.groups is not None:
            records = records.assign(_GROUP=_group_ids(records[spec.groups.variable], categories).to_numpy())
        data_ = tte_arrays(records, scale=spec.days_per_unit, group_var="_GROUP" if spec.groups else None,
                           dataset=spec.dataset)
        time, event = data_.time, data_.event
        if spec.groups is not None:
            groups = data_.group
            order = _order(sorted(set(groups.tolist())), categories)
            for g in order:
                labels.setdefault(g, g)
        summary = survival_summary(time, event, groups, order=order if groups is not None else None,
                                   transform=spec.ci_transform, overall=spec.overall.id)
        for r in summary.itertuples(index=False):  # one line per group
            for stat in ("n", "events", "censored", "median", "lower", "upper", "spss_median", "spss_se",
                         "spss_lower", "spss_upper"):
                stats.add(spec.name, endpoint.id, stat, getattr(r, stat), category=r.group, row_label=endpoint.label,
                          category_label=labels.get(r.group, r.group))
        tests = _logrank_tests(spec, endpoint, time, event, groups, stats, labels) if groups is not None else {}
        for r in summary.itertuples(index=False):
            p = tests.get(r.group)
            summary_lines.append([endpoint.label, labels.get(r.group, r.group), int(r.n), int(r.events),
                                  format_estimate_ci(r.median, r.lower, r.upper, decimals=1),
                                  format_estimate_ci(r.spss_median, r.spss_lower, r.spss_upper, decimals=1),
                                  "" if p is None else format_pvalue(p),
                                  _published(published.get((endpoint.id, r.group)))])
        logrank_lines += _logrank_lines(spec, endpoint, stats, labels)

        ticks = risk_times(float(time.max()))
        at_risk = numbers_at_risk(time, ticks)
        at_risk.index = [spec.overall.label]
        if groups is not None:
            by_group = numbers_at_risk(time, ticks, groups, order=order)
            by_group.index = [labels.get(g, g) for g in by_group.index]
            at_risk = pd.concat([at_risk, by_group])
        at_risk.index.name = "Number at risk"
        at_risk.columns = [f"{c} {unit}" if i == 0 else str(c) for i, c in enumerate(at_risk.columns)]
        for group_id, row in zip([spec.overall.id, *(order if groups is not None else [])], at_risk.to_numpy()):
            for t, n in zip(ticks, row):
                stats.add(f"{spec.name}_at_risk", endpoint.id, "n", n, category=group_id, column=f"{t:g}",
                          row_label=endpoint.label, category_label=labels.get(group_id, group_id),
                          column_label=f"{t:g} {unit}")
        risk_tables.append(ReportTable(f"{spec.name}_at_risk_{endpoint.id}",
                                       f"Numbers at risk: {endpoint.label} ({unit})",
                                       at_risk.reset_index()))

        caption_pop = f"{population_label} (n = {n_population})" if population_label else f"n = {n_population}"
        name = f"km_{endpoint.id}.png"
        png = km_plot_png(time, event, xlabel=unit.capitalize(), ylabel=endpoint.ylabel, at=ticks,
                          labels={"All": spec.overall.label}, title=f"{endpoint.label}: {endpoint.title}")
        written.append(_write(out_dir / name, png))
        figures.append(FigureOut(name, f"{endpoint.figure + ' analogue. ' if endpoint.figure else ''}"
                                       f"{endpoint.title}, {caption_pop}. Ticks mark censored patients."))
        if groups is not None:
            name = f"km_{endpoint.id}_by_group.png"
            png = km_plot_png(time, event, groups, order=order, labels=labels, xlabel=unit.capitalize(),
                              ylabel=endpoint.ylabel, at=ticks,
                              title=f"{endpoint.label} by {_lower_first(spec.groups.title)}")
            written.append(_write(out_dir / name, png))
            figures.append(FigureOut(name, f"{endpoint.group_figure + ' analogue. ' if endpoint.group_figure else ''}"
                                           f"{endpoint.title} by {_lower_first(spec.groups.title)}, {caption_pop}."))

    tables = []
    if summary_lines:
        reference = labels.get(spec.groups.reference, "") if spec.groups and spec.groups.reference else ""
        headers = ["Endpoint", "Group", "n", "Events", f"Median, {unit} (95% CI, Brookmeyer-Crowley)",
                   f"Median, {unit} (95% CI, median +/- 1.96 SE)",
                   f"Log-rank p vs {reference}" if reference else "Log-rank p", "Published median (95% CI)"]
        estimates = pd.DataFrame(summary_lines, columns=headers)
        if not published:
            estimates = estimates.drop(columns=headers[-1])
        tables.append(ReportTable(spec.name, f"Kaplan-Meier estimates, {population_label or spec.population}",
                                  estimates, notes=_methods(spec)))
    if logrank_lines:
        tables.append(ReportTable(f"{spec.name}_logrank", "Two-sided log-rank tests",
                                  pd.DataFrame(logrank_lines, columns=["Endpoint", "Comparison", "Chi-square", "df",
                                                                       "p"])))
    if spec.follow_up is not None:
        follow = _follow_up(spec, data, stats, frame, in_population)
        if follow is not None:
            tables.append(follow)
    return TteOutput(tables, figures, texts, written, risk_tables)


def _published(value: tuple[float, Any] | None) -> str:
    if value is None:
        return ""
    median, ci = value
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        return format_estimate_ci(median, float(ci[0]), float(ci[1]), decimals=1)
    return round_half_up(median, 1)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _write(path: Path, png: bytes) -> Path:
    write_bytes(path, png)
    return path


def _methods(spec: TimeToEventSpec) -> tuple[str, ...]:
    return (
        f"Times in {spec.unit}" + (f" (ADTTE AVAL in days / {spec.days_per_unit:g})" if spec.unit != "days" else "")
        + "; CNSR = 0 is an event.  Median: first time the Kaplan-Meier curve is at or below 0.5 (midpoint rule "
          "when it equals 0.5 over an interval, as R survival and SAS PROC LIFETEST).",
        f"95% CI (Brookmeyer-Crowley): {TRANSFORMS[spec.ci_transform]}.",
        "95% CI (median +/- 1.96 SE): as SPSS prints it, symmetric, SE from the Greenwood variance and the KM "
        "density between the 45th and 55th percentiles, lower limit truncated at 0; the paper's intervals are of "
        "this kind (computed with SPSS 22).  NR: not reached / not estimable.",
        "Log-rank: two-sided, unweighted, each group against the reference group with the two groups' patients only.",
    )


def _logrank_tests(spec: TimeToEventSpec, endpoint: Endpoint, time: np.ndarray, event: np.ndarray,
                   groups: np.ndarray, stats: Stats, labels: dict[str, str]) -> dict[str, float]:
    """Each compared group against the reference; every pair of compared groups (their smallest p); all together."""
    g = spec.groups
    names = set(groups.tolist())
    tested = [c for c in (*g.compare, *([g.reference] if g.reference else [])) if c in names]
    pvalues: dict[str, float] = {}

    def test(a: str, b: str | None) -> tuple[float, float, int]:
        keep = np.isin(groups, [a, b] if b else tested)
        if event[keep].sum() == 0 or len(set(groups[keep].tolist())) < 2:
            return math.nan, math.nan, 0
        result = logrank(time[keep], event[keep], groups[keep])
        return result.chisq, result.pvalue, result.df

    for group in g.compare:
        if g.reference is None or group not in names or g.reference not in names:
            continue
        chisq, p, df = test(group, g.reference)
        pvalues[group] = p
        for stat, value in (("chisq", chisq), ("df", df), ("p", p)):
            stats.add(f"{spec.name}_logrank", endpoint.id, stat, value, category=group, column=g.reference,
                      row_label=endpoint.label, category_label=labels.get(group, group),
                      column_label=f"vs {labels.get(g.reference, g.reference)}")
    pairs = [test(a, b)[1] for a, b in itertools.combinations(tested, 2)]
    pairs = [p for p in pairs if not math.isnan(p)]
    stats.add(f"{spec.name}_logrank", endpoint.id, "min_pairwise_p", min(pairs) if pairs else math.nan,
              row_label=endpoint.label)
    if len(tested) > 2:
        chisq, p, df = test(tested[0], None)
        for stat, value in (("chisq", chisq), ("df", df), ("p", p)):
            stats.add(f"{spec.name}_logrank", endpoint.id, stat, value, category="overall",
                      row_label=endpoint.label, category_label=f"all of {', '.join(labels.get(t, t) for t in tested)}")
    return pvalues


def _logrank_lines(spec: TimeToEventSpec, endpoint: Endpoint, stats: Stats, labels: dict[str, str]) -> list[list]:
    table = f"{spec.name}_logrank"
    lines = []
    if spec.groups is None:
        return lines
    for category, column in [(c, spec.groups.reference) for c in spec.groups.compare] + [("overall", "")]:
        p = stats.get(table, endpoint.id, category, column or "", "p")
        if p is None:
            continue
        chisq = stats.get(table, endpoint.id, category, column or "", "chisq")
        df = stats.get(table, endpoint.id, category, column or "", "df")
        what = (f"{labels.get(category, category)} vs {labels.get(column, column)}" if column
                else stats.label(table, endpoint.id, category))
        lines.append([endpoint.label, what.replace(f"{endpoint.label} / ", ""),
                      "" if math.isnan(chisq) else round_half_up(chisq, 2), "" if math.isnan(df) else int(df),
                      format_pvalue(p, decimals=4) if not math.isnan(p) else ""])
    smallest = stats.get(table, endpoint.id, "", "", "min_pairwise_p")
    if smallest is not None and not math.isnan(smallest):
        lines.append([endpoint.label, "smallest p over every pair of compared groups", "", "",
                      format_pvalue(smallest, decimals=4)])
    return lines


def _follow_up(spec: TimeToEventSpec, data: ReportData, stats: Stats, frame: pd.DataFrame,
               in_population: np.ndarray) -> ReportTable | None:
    endpoint_id, label = spec.follow_up
    endpoint = next(e for e in spec.endpoints if e.id == endpoint_id)
    records = frame.loc[in_population & data.mask(spec.dataset, f"PARAMCD == {endpoint.paramcd!r}")]
    if records.empty:
        return None
    arrays = tte_arrays(records, scale=spec.days_per_unit, dataset=spec.dataset)
    result = median_follow_up(arrays.time, arrays.event, transform=spec.ci_transform)
    for stat in ("median", "lower", "upper"):
        value = {"median": result.estimate, "lower": result.lower, "upper": result.upper}[stat]
        stats.add(f"{spec.name}_followup", endpoint.id, stat, value, row_label=label)
    frame_out = pd.DataFrame([[label, len(records), format_estimate_ci(result.estimate, result.lower, result.upper,
                                                                      decimals=1)]],
                             columns=["Follow-up", "n", f"Median, {spec.unit} (95% CI)"])
    return ReportTable(f"{spec.name}_followup", "Median follow-up", frame_out,
                       notes=(f"Method: {result.method}: censored patients are the 'events' and deaths the "
                              f"censorings, so the median is the time the patients still alive were followed.",))
