"""great-expectations suites derived from the spec, run on the datasets and rendered as Data Docs HTML.

The suites come from the same `DatasetPlan` as the pandera schemas (metadata.py), so the Data Docs show the spec's
rules as expectations: Req/Exp variables exist, Req variables are never missing, codelist terms, lengths, ISO 8601
formats, unique keys and the declared variable order.  Each expectation's notes name the cdiscflow check (SCH-...)
that covers the same rule on every record.

Layout of `out_dir` (self-contained, readable offline, deterministic for the same input):

    index.html                 datasets, expectation results, findings per rule, links
    validations/<DS>.html      GE validation-results page per dataset
    expectations/<DS>.html     GE expectation-suite page per dataset

Offline: the GE page templates pull Bootstrap, jQuery, Font Awesome and a logo from CDNs; cdiscflow renders them
with a few overriding templates (datadocs_assets/templates) and inlines its own small stylesheet and script.  No GE
context folder or temporary directory is created: the context is ephemeral (in memory) and pages are rendered
directly by GE's page renderers.  Bounded time: datasets larger than `max_rows` are validated by GE on a
deterministic random sample (seed 0) of `max_rows` records, which every page says; the pandera schemas and
conformance rules still check every record.

great-expectations takes seconds to import, so it is imported inside `write_data_docs` only.
"""

from __future__ import annotations

import contextlib
import copy
import html
import importlib
import importlib.util
import itertools
import logging
import re
import sys
import threading
import types
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from cdiscflow.core.atomic import write_text
from cdiscflow.core.errors import InputError
from cdiscflow.core.findings import Findings
from cdiscflow.specs.model import StudySpec
from cdiscflow.validation import iso8601
from cdiscflow.validation.metadata import STUDY, DatasetPlan
from cdiscflow.validation.rules import RULES
from cdiscflow.validation.schema import SCHEMA_CHECKS

ASSETS = Path(__file__).resolve().parent / "datadocs_assets"
MAX_ROWS = 100_000
_PAGE_NAME = re.compile(r"^[A-Z0-9_][A-Z0-9_.-]*$")


def write_data_docs(datasets: Mapping[str, pd.DataFrame], spec: StudySpec | None, out_dir: str | Path, *,
                    findings: Findings | None = None, plans: Mapping[str, DatasetPlan] | None = None,
                    max_rows: int = MAX_ROWS, engine: str = "cdiscflow") -> Path:
    """Build expectation suites from the spec (or the IGs when `spec` is None), validate every dataset and write the
    Data Docs into `out_dir`; returns the path of index.html.

    `engine` decides who evaluates the expectations (the pages are the same either way): "cdiscflow" (default,
    fast) evaluates them with vectorised pandas and hands every expectation that is not met, with its data, to
    great-expectations' validator, so that the unexpected values, counts and indices on the pages are GE's own;
    "great-expectations" runs GE's validator on every expectation (about 20 ms each: 28 s on the embedded study).
    """
    return write_dataset_pages(datasets, spec, out_dir, plans=plans, max_rows=max_rows, engine=engine)(findings)


def write_dataset_pages(datasets: Mapping[str, pd.DataFrame], spec: StudySpec | None, out_dir: str | Path, *,
                        plans: Mapping[str, DatasetPlan] | None = None, max_rows: int = MAX_ROWS,
                        engine: str = "cdiscflow"):
    """The first part of `write_data_docs`, which needs no findings: the expectation-suite and validation-result
    pages of every dataset.  Returns index(findings) -> Path, which writes index.html (the datasets' summary and
    the findings per rule): the pages can be rendered while the datasets are still being validated."""
    from cdiscflow.validation.plans import dataset_plans

    datasets = {k.upper(): v for k, v in datasets.items()}
    check_page_names(datasets)
    if plans is None:
        plans, _ = dataset_plans(datasets, spec)
    samples = {name: data_docs_sample(frame, max_rows) for name, frame in datasets.items()}
    return write_sample_pages(samples, {name: len(frame) for name, frame in datasets.items()}, spec, out_dir,
                              plans=plans, max_rows=max_rows, engine=engine)


def data_docs_sample(frame: pd.DataFrame, max_rows: int = MAX_ROWS) -> pd.DataFrame:
    """The records of `frame` that great-expectations validates for its Data Docs: the frame itself when it has at
    most `max_rows` records, else a deterministic random sample of `max_rows` of them (seed 0; which positions
    depends on the row count only, see `data_docs_sample_positions`), in index order with the frame's index labels
    (the pages cite them).  The pages of a dataset are made from this sample, its row count and its plan alone, so
    a caller holding the data (a run's main process, a partitioned run) takes the sample and hands over only that
    (`write_data_docs_from_samples`)."""
    if len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=0).sort_index()


def data_docs_sample_positions(rows: int, max_rows: int = MAX_ROWS) -> np.ndarray | None:
    """The row positions `data_docs_sample` takes from a frame of `rows` records (what pandas' `sample(n=max_rows,
    random_state=0)` draws, in draw order), or None when it takes the whole frame: for a caller that assembles the
    sample from pieces of the data (a frame with a default RangeIndex gives `frame.take(sorted(positions))`)."""
    if rows <= max_rows:
        return None
    return np.random.RandomState(0).choice(rows, size=max_rows, replace=False)


def write_data_docs_from_samples(samples: Mapping[str, pd.DataFrame], rows: Mapping[str, int],
                                 spec: StudySpec | None, out_dir: str | Path, *, findings: Findings | None = None,
                                 plans: Mapping[str, DatasetPlan] | None = None, max_rows: int = MAX_ROWS,
                                 engine: str = "cdiscflow") -> Path:
    """`write_data_docs` from each dataset's `data_docs_sample` and row count instead of the datasets: the same
    pages, byte for byte, with a fraction of the data (at most `max_rows` records per dataset) in memory or sent to
    another process.  `plans`: each dataset's plan (`validation.plans.dataset_plans` of the datasets); None takes
    them from the spec, or for a dataset the spec does not declare from the guides and the sample (its columns,
    types and first RDOMAIN/DOMAIN value)."""
    return write_sample_pages(samples, rows, spec, out_dir, plans=plans, max_rows=max_rows, engine=engine)(findings)


def write_sample_pages(samples: Mapping[str, pd.DataFrame], rows: Mapping[str, int], spec: StudySpec | None,
                       out_dir: str | Path, *, plans: Mapping[str, DatasetPlan] | None = None,
                       max_rows: int = MAX_ROWS, engine: str = "cdiscflow"):
    """The first part of `write_data_docs_from_samples` (as `write_dataset_pages` is of `write_data_docs`): the
    pages of every dataset; returns index(findings) -> Path."""
    from cdiscflow.validation.plans import dataset_plans

    out_dir = Path(out_dir)
    samples = {k.upper(): v for k, v in samples.items()}
    rows = {k.upper(): int(v) for k, v in rows.items()}
    check_page_names(samples)
    _check_samples(samples, rows, max_rows)
    if plans is None:
        plans, _ = dataset_plans(samples, spec)
    synthetic = bool(spec is not None and spec.study.get("synthetic"))
    gx, view = _great_expectations()
    engine = _Engine(gx, engine)
    css = (ASSETS / "datadocs.css").read_text(encoding="utf-8")
    js = (ASSETS / "datadocs.js").read_text(encoding="utf-8")
    summary = []
    for name in sorted(samples):
        sample, plan = samples[name], plans[name]
        notice = _sample_notice(rows[name], max_rows)
        suite = engine.suite(name, _expectations(gx, plan, sample), _suite_notes(plan, notice))
        result = engine.validate(name, suite, sample)
        _deterministic(result)
        text = _text  # our own page parts are written raw by the templates: escape what they say
        extra = dict(cdiscflow_css=css, cdiscflow_js=js, cdiscflow_synthetic=synthetic,
                     cdiscflow_notice=text(f"{name}: {notice} Metadata: {plan.basis}. cdiscflow checks behind the "
                                           f"expectations: {legend()}."))
        write_text(out_dir / "validations" / f"{name}.html", _fix_links(view.render_validation(
            result, cdiscflow_title=text(f"{name} validation"), page_title=text(f"{name}: validation results"),
            **extra)))
        write_text(out_dir / "expectations" / f"{name}.html", _fix_links(view.render_suite(
            suite, cdiscflow_title=text(f"{name} expectations"), page_title=text(f"{name}: expectation suite"),
            **extra)))
        stats = result.statistics
        summary.append(dict(name=name, basis=plan.basis, rows=rows[name], checked=len(sample),
                            evaluated=int(stats["evaluated_expectations"]),
                            failed=int(stats["unsuccessful_expectations"]), success=bool(result.success)))

    def index(findings: Findings | None = None) -> Path:
        path = out_dir / "index.html"
        write_text(path, _index_page(summary, findings, spec, css, synthetic, max_rows))
        return path

    return index


def _check_samples(samples: Mapping[str, pd.DataFrame], rows: Mapping[str, int], max_rows: int) -> None:
    """Each sample is what `data_docs_sample` takes from a dataset of its row count: all of it, or `max_rows`."""
    for name, sample in samples.items():
        if name not in rows:
            raise ValueError(f"Data Docs: no row count for dataset {name}")
        if len(sample) != min(rows[name], max_rows):
            raise ValueError(f"Data Docs: the sample of {name} has {len(sample):,} records; a dataset of "
                             f"{rows[name]:,} records gives {min(rows[name], max_rows):,} (data_docs_sample)")


def check_page_names(datasets: Mapping[str, object]) -> None:
    """Every dataset name is a page's file name and is written into the pages as it is: letters, digits, _ . -"""
    odd = sorted(n for n in (k.upper() for k in datasets) if not _PAGE_NAME.match(n))
    if odd:
        raise InputError(f"Data Docs: dataset name(s) {', '.join(map(repr, odd))} cannot name a page; use letters, "
                         "digits, '_', '.' and '-' only")


def prepared_writer(spec: StudySpec | None, **options):
    """`write_data_docs` for `spec` with great-expectations imported and its page templates compiled now (seconds),
    for a worker started ahead of the data: returns a job in two parts (`core.background.Continue`) that
    `pipeline` runs in a forked child: job((samples, rows, out_dir, plans)) writes the pages of the datasets from
    their `data_docs_sample`s and row counts (`write_sample_pages`; the datasets themselves are not sent), then its
    next part takes the findings and writes index.html, whose path it returns.  Only here, in a process of its own,
    are the modules GE imports for an expectation cdiscflow never builds deferred (`_defer_imports`: a stand-in in
    sys.modules until first used); a caller's process (`write_data_docs` in a library) gets great_expectations
    imported as it is."""
    _defer_imports()
    _great_expectations()[1].compile_templates()

    from cdiscflow.core.background import Continue

    def job(payload) -> Continue:
        samples, rows, out_dir, plans = payload
        return Continue(write_sample_pages(samples, rows, spec, out_dir, plans=plans, **options))

    return job


# ----------------------------------------------------------------------------------------------------------------
# suites from the plan


def _expectations(gx, plan: DatasetPlan, frame: pd.DataFrame) -> list:
    E = gx.expectations
    present = set(frame.columns)
    out = []

    def add(expectation_cls, rule_id: str, why: str, **kwargs) -> None:
        severity = SCHEMA_CHECKS[rule_id].severity_for(plan.source)
        out.append(expectation_cls(**kwargs, meta={"attributes": {"check": rule_id, "severity": severity,
                                                                  "why": why}}))

    if plan.ordered and plan.strict and plan.source == STUDY:  # against the IG these are notes only
        declared = [v.name for v in plan.variables if v.name in present]
        add(E.ExpectTableColumnsToMatchOrderedList, "SCH-COL-004",
            f"variables in the order of {plan.basis}, nothing undeclared", column_list=declared)
    for v in plan.variables:
        if v.required or v.expected:
            add(E.ExpectColumnToExist, "SCH-COL-001" if v.required else "SCH-COL-002",
                f"{v.core} variable ({plan.basis})", column=v.name)
        if v.name not in present:
            continue
        if v.never_null:
            add(E.ExpectColumnValuesToNotBeNull, "SCH-NULL-001", "Req: never missing", column=v.name)
        if v.codelist is not None:
            rule_id = "SCH-CT-002" if v.codelist.extensible else "SCH-CT-001"
            values = list(v.codelist.values)
            if not v.char:
                values = pd.to_numeric(pd.Series(values), errors="coerce").dropna().tolist()
            add(E.ExpectColumnValuesToBeInSet, rule_id,
                f"codelist {v.codelist.code or v.codelist.id} ({v.codelist.name})"
                + (", extensible" if v.codelist.extensible else ""), column=v.name, value_set=values)
        if v.char and v.max_bytes:
            add(E.ExpectColumnValueLengthsToBeBetween, "SCH-LEN-001",
                f"at most {v.max_bytes} characters here; cdiscflow counts UTF-8 bytes", column=v.name,
                max_value=v.max_bytes)
        if v.iso:
            rule_id = "SCH-DUR-001" if v.iso == iso8601.DURATION else "SCH-DTC-001"
            add(E.ExpectColumnValuesToMatchRegex, rule_id,
                f"ISO 8601 {v.iso} format (cdiscflow SCH-DTC-002 also checks that dates exist)", column=v.name,
                regex=iso8601.regex_for(v.iso))
    keys = [k for k in plan.keys if k in present]
    if keys and len(keys) == len(plan.keys):
        if len(keys) == 1:
            add(E.ExpectColumnValuesToBeUnique, "SCH-KEY-001", "the key identifies each record", column=keys[0])
        else:
            add(E.ExpectCompoundColumnsToBeUnique, "SCH-KEY-001", f"keys {', '.join(keys)} identify each record",
                column_list=keys)
    return out


# which cdiscflow check covers each kind of expectation on every record (the legend on every page)
CHECK_OF_EXPECTATION = {
    "column exists": "SCH-COL-001 (Req) / SCH-COL-002 (Exp)",
    "columns in this order": "SCH-COL-003 / SCH-COL-004",
    "never null": "SCH-NULL-001",
    "belong to this set": "SCH-CT-001 (non-extensible) / SCH-CT-002 (extensible)",
    "length": "SCH-LEN-001 (in UTF-8 bytes)",
    "match this regular expression": "SCH-DTC-001 / SCH-DUR-001 (and SCH-DTC-002: the date exists)",
    "unique": "SCH-KEY-001",
}


def legend() -> str:
    return "; ".join(f"{k} → {v}" for k, v in CHECK_OF_EXPECTATION.items())


def _suite_notes(plan: DatasetPlan, notice: str) -> list[str]:
    lines = [f"Generated by cdiscflow from **{plan.basis}**. {notice}",
             "Each expectation mirrors a cdiscflow schema check that runs on every record (findings.csv):"]
    lines += [f"* {k}: **{v}**" for k, v in CHECK_OF_EXPECTATION.items()]
    lines.append("cdiscflow also counts lengths in UTF-8 bytes (GE counts characters) and rejects dates that do not "
                 "exist (2020-02-30), which a regular expression cannot.")
    coded = [v for v in plan.variables if v.codelist is not None]
    if coded:
        lines.append("Codelists:")
        lines += [f"* {v.name}: {v.codelist.code or v.codelist.id} {v.codelist.name} "
                  f"({'extensible' if v.codelist.extensible else 'non-extensible'})" for v in coded]
    return lines


def _sample_notice(rows: int, max_rows: int) -> str:
    """What every page of a dataset of `rows` records says about the records great-expectations checked."""
    if rows <= max_rows:
        return f"all {rows:,} records were checked."
    return (f"great-expectations checked a deterministic random sample of {max_rows:,} of {rows:,} records "
            f"(seed 0); cdiscflow's schema checks and conformance rules (findings.csv) cover all records.")


# ----------------------------------------------------------------------------------------------------------------
# great-expectations plumbing


# Modules great-expectations imports for one expectation cdiscflow never builds (the KL divergence's statistics and
# charts): imported when first used, not with GE (scipy.stats and altair are 0.6 s of GE's 1.5 s import).
DEFERRED_BY_GE = ("scipy.stats", "altair")


class _Deferred(types.ModuleType):
    """Stands in sys.modules for a module not imported yet: the first attribute read imports the real module (which
    then replaces this one in sys.modules) and every read is answered by it, so that code holding this object
    behaves as with the real module, only later."""

    def __getattr__(self, attr: str):
        name = self.__name__
        with _DEFER_LOCK:
            if sys.modules.get(name) is self:
                del sys.modules[name]
            module = importlib.import_module(name)
        return getattr(module, attr)


_DEFER_LOCK = threading.RLock()


def _defer_imports(names: tuple[str, ...] = DEFERRED_BY_GE) -> None:
    """Put a `_Deferred` in sys.modules for each module of `names` that is not imported yet (its parent package
    is imported now, as `find_spec` needs it; a module that is not installed is left alone)."""
    for name in names:
        if name in sys.modules:
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        module = _Deferred(name)
        module.__spec__ = spec  # what the import system reads of a module in sys.modules, without importing it
        sys.modules[name] = module


def _great_expectations():
    """great_expectations and the page view (made once per process: its compiled templates are kept)."""
    if not _GE:
        with _GE_LOCK:  # threads of one process (`batch --scheduler`) make it once
            if not _GE:
                _GE.append(_make_page_view())
    return _GE[0]


def _make_page_view():
    import great_expectations as gx  # lazy: 1-3 s
    from great_expectations.render.renderer import ExpectationSuitePageRenderer, ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView
    from jinja2 import ChoiceLoader, FileSystemLoader

    class PageView(DefaultJinjaPageView):
        """GE's page view with cdiscflow's offline templates first and element ids that do not change per run.
        Templates are compiled once and not looked up on disk again (GE asks for a template for every block of a
        page: 13,000 times a run, each a `stat` of the template file with jinja's auto-reload)."""

        def __init__(self) -> None:
            super().__init__()
            self.env.loader = ChoiceLoader([FileSystemLoader(str(ASSETS / "templates")), self.env.loader])
            self.env.auto_reload = False
            self._page = threading.local()  # the element-id counter of the page being rendered, per thread: one
            # view serves every render of the process (`batch --scheduler` validates exports in threads)

        def compile_templates(self) -> None:
            """Compile every template the pages use now (a worker does it before the data arrive)."""
            for name in self.env.list_templates():
                with contextlib.suppress(Exception):  # a template that fails to compile fails when used, as before
                    self.env.get_template(name)

        def generate_html_element_uuid(self, prefix=None):
            return f"{prefix or ''}cdiscflow-{next(self._page.ids)}"

        def render_validation(self, result, **kwargs) -> str:
            self._page.ids = itertools.count(1)
            return self.render(ValidationResultsPageRenderer().render(_data_escaped(result)), **kwargs)

        def render_suite(self, suite, **kwargs) -> str:
            self._page.ids = itertools.count(1)
            return self.render(ExpectationSuitePageRenderer().render(suite), **kwargs)

    return gx, PageView()


_GE: list = []  # (great_expectations, page view) once made
_GE_LOCK = threading.Lock()
ENGINES = ("cdiscflow", "great-expectations")
_NO_EXCEPTION = {"raised_exception": False, "exception_traceback": None, "exception_message": None}


class _Engine:
    """Who evaluates the expectations of a run, with at most one (in-memory) great-expectations context per run,
    made only when GE's validator has something to do."""

    def __init__(self, gx, engine: str):
        if engine not in ENGINES:
            raise ValueError(f"Data Docs engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        self.gx, self.engine = gx, engine
        self._context = self._source = None
        self._assets: dict[str, object] = {}

    def suite(self, name: str, expectations: list, notes: list[str]):
        suite = self.gx.ExpectationSuite(name=name, expectations=expectations, notes=notes)
        if self.engine == "great-expectations":
            suite = self._ge()[0].suites.add(suite)
        return suite

    def validate(self, name: str, suite, sample: pd.DataFrame):
        if self.engine == "great-expectations":
            return self._run(name, suite, sample)
        return self._validate_in_memory(name, suite, sample)

    # -- GE's validator ------------------------------------------------------------------------------------------

    def _ge(self):
        if self._context is None:
            self._context = self.gx.get_context(mode="ephemeral")
            _quiet(self._context)
            self._source = self._context.data_sources.add_pandas("cdiscflow")
        return self._context, self._source

    def _run(self, name: str, suite, sample: pd.DataFrame):
        """GE's validator over `suite` (added to the context) on the in-memory batch `sample` of dataset `name`."""
        context, source = self._ge()
        if name not in self._assets:  # the asset's name is the batch id GE writes on every result
            self._assets[name] = source.add_dataframe_asset(name=name)
        batch = self._assets[name].add_batch_definition_whole_dataframe(suite.name)
        definition = context.validation_definitions.add(self.gx.ValidationDefinition(name=suite.name, data=batch,
                                                                                     suite=suite))
        return definition.run(batch_parameters={"dataframe": sample})

    # -- cdiscflow's evaluation ----------------------------------------------------------------------------------

    def _validate_in_memory(self, name: str, suite, sample: pd.DataFrame):
        """The result GE's validator would give: expectations met are evaluated here (vectorised), the others --
        and their unexpected values -- by GE's validator on the same batch."""
        from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
        from great_expectations.validator.validation_statistics import calc_validation_statistics

        batch_id = f"cdiscflow-{name}"
        configs = _in_validation_order(suite.expectation_configurations)
        results: list = []
        unmet = []
        for config in configs:
            met = _met(config, sample)
            if met is None:
                unmet.append(config)
                results.append(None)
                continue
            evaluated = copy.copy(config)  # what GE reports: the expectation with the batch it ran on
            evaluated.kwargs = {**config.kwargs, "batch_id": batch_id}
            results.append(ExpectationValidationResult(success=True, expectation_config=evaluated, result=met,
                                                       meta={}, exception_info=dict(_NO_EXCEPTION)))
        meta = None
        if unmet:
            recheck = self._ge()[0].suites.add(self.gx.ExpectationSuite(
                name=f"{name} (not met)", expectations=[c.to_domain_obj() for c in unmet]))
            checked = self._run(name, recheck, sample)
            by_config = {_config_key(r.expectation_config): r for r in checked.results}
            results = [r if r is not None else by_config[_config_key(c)] for r, c in zip(results, configs)]
            meta = checked.meta
        statistics = calc_validation_statistics(results)
        return ExpectationSuiteValidationResult(
            results=results, success=statistics.success, suite_name=suite.name,
            statistics={"evaluated_expectations": statistics.evaluated_expectations,
                        "successful_expectations": statistics.successful_expectations,
                        "unsuccessful_expectations": statistics.unsuccessful_expectations,
                        "success_percent": statistics.success_percent},
            meta=meta or self._batch_meta(name, sample), batch_id=batch_id)

    def _batch_meta(self, name: str, sample: pd.DataFrame) -> dict:
        """The run metadata GE's validator records for an in-memory pandas batch (its fingerprint included)."""
        from great_expectations.execution_engine.pandas_execution_engine import HASH_THRESHOLD, hash_pandas_dataframe

        markers = {}
        if sample.memory_usage().sum() < HASH_THRESHOLD:
            markers["pandas_data_fingerprint"] = hash_pandas_dataframe(sample)
        return {"great_expectations_version": self.gx.__version__, "batch_spec": {"batch_data": "PandasDataFrame"},
                "batch_markers": markers,
                "active_batch_definition": {"datasource_name": "cdiscflow", "data_connector_name": "fluent",
                                            "data_asset_name": name,
                                            "batch_identifiers": {"dataframe": "<DATAFRAME>"}},
                "validation_id": None, "checkpoint_id": None, "run_id": None,
                "batch_parameters": {"dataframe": "<DATAFRAME>"}}


def _in_validation_order(configs: list) -> list:
    """GE's validator evaluates (and reports) expectations grouped by column, in order of first appearance."""
    groups: dict[str, list] = {}
    for c in configs:
        column = c.kwargs.get("column")
        groups.setdefault(column if isinstance(column, str) else "\0", []).append(c)
    return [c for group in groups.values() for c in group]


def _config_key(config) -> tuple:
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    return config.type, repr(sorted(kwargs.items()))


def _met(config, frame: pd.DataFrame) -> dict | None:
    """GE's SUMMARY result of an expectation that `frame` meets, or None when it is not met (or not one of ours)."""
    kw, kind, n = config.kwargs, config.type, len(frame)
    if kind == "expect_column_to_exist":
        return {} if kw["column"] in frame.columns else None
    if kind == "expect_table_columns_to_match_ordered_list":
        columns = list(frame.columns)
        return {"observed_value": columns} if columns == list(kw["column_list"]) else None
    if not n:
        return None
    if kind == "expect_compound_columns_to_be_unique":
        if any(c not in frame.columns for c in kw["column_list"]):
            return None
        part = frame[list(kw["column_list"])]
        part = part[part.notna().any(axis=1)]  # GE's default: ignore a row only when all its values are missing
        return None if part.duplicated(keep=False).any() else _map_passed(n, len(part))
    column = frame.get(kw.get("column"))
    if column is None:
        return None
    nonnull = int(column.notna().sum())
    if kind == "expect_column_values_to_not_be_null":
        return None if nonnull < n else _map_passed(n, None)
    if kind == "expect_column_values_to_be_unique":
        return None if column.dropna().duplicated().any() else _map_passed(n, nonnull)
    values = _distinct(column)
    if kind == "expect_column_values_to_be_in_set":
        allowed = set(kw["value_set"])
        ok = all(v in allowed for v in values)
    elif kind == "expect_column_value_lengths_to_be_between":
        if kw.get("min_value") is not None or kw.get("strict_max"):
            return None
        ok = all(len(str(v)) <= kw["max_value"] for v in values)
    elif kind == "expect_column_values_to_match_regex":
        search = re.compile(kw["regex"]).search
        ok = all(search(str(v)) for v in values)
    else:
        return None
    return _map_passed(n, nonnull) if ok else None


def _distinct(column: pd.Series) -> list:
    """The distinct values present in a column (a compact text column: its categories in use)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        return column.cat.categories[np.unique(codes[codes >= 0])].tolist()
    return column.dropna().unique().tolist()


def _map_passed(n: int, nonnull: int | None) -> dict:
    """What GE's `_format_map_output` reports (SUMMARY) for a map expectation with no unexpected value."""
    if nonnull is None:  # not_be_null: GE reports no missing values (they are what it counts)
        return {"element_count": n, "unexpected_count": 0, "unexpected_percent": 0 / n * 100,
                "partial_unexpected_list": [], "partial_unexpected_counts": [], "partial_unexpected_index_list": []}
    missing = n - nonnull
    percent = 0 / nonnull * 100 if nonnull else None  # of the values present: none when all are missing
    return {"element_count": n, "unexpected_count": 0, "unexpected_percent": percent,
            "partial_unexpected_list": [], "missing_count": missing, "missing_percent": missing / n * 100,
            "unexpected_percent_total": 0 / n * 100, "unexpected_percent_nonmissing": percent,
            "partial_unexpected_counts": [], "partial_unexpected_index_list": []}


def _text(value: str) -> str:
    """Text for an HTML text node (quotes need no escaping there, so pages without markup characters keep their
    bytes)."""
    return html.escape(value, quote=False)


# result fields whose values come from the data and that GE's page templates put into the page as they are
_RAW_DATA_FIELDS = ("partial_unexpected_list", "partial_unexpected_counts", "partial_unexpected_index_list",
                    "unexpected_list", "unexpected_index_list", "details")


def _data_escaped(result):
    """A copy of a validation result in which every data value that GE's templates would write raw into the page
    (the unexpected values and their counts) is HTML-escaped text: a value `<script>` in a dataset is shown, never
    run.  Values GE escapes itself (template parameters, the observed value) are left to it."""
    escaped = copy.copy(result)
    escaped.results = []
    for r in result.results:
        if any(k in r.result for k in _RAW_DATA_FIELDS):
            r = copy.copy(r)
            r.result = {k: _escape_leaves(v) if k in _RAW_DATA_FIELDS else v for k, v in r.result.items()}
        escaped.results.append(r)
    return escaped


def _escape_leaves(value):
    if isinstance(value, str):
        return html.escape(value, quote=True)
    if isinstance(value, dict):
        return {k: _escape_leaves(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_escape_leaves(v) for v in value)
    return value


def _quiet(context) -> None:
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    logging.getLogger("great_expectations").setLevel(logging.ERROR)


def _deterministic(result) -> None:
    """Drop the run time and load time GE stamps on a result, so the same data give the same pages."""
    result.meta["run_id"] = {"run_name": "cdiscflow validate", "run_time": None}
    markers = result.meta.get("batch_markers")
    if isinstance(markers, dict):
        markers.pop("ge_load_time", None)
    result.meta.pop("validation_time", None)


_LINK = re.compile(r'href="(?:\.\./)+(index\.html|expectations/|validations/)')


def _fix_links(page: str) -> str:
    """GE's renderers link as if pages lived in its own deep store layout; point them at ours."""
    return _LINK.sub(lambda m: f'href="../{m.group(1)}', page)


# ----------------------------------------------------------------------------------------------------------------
# index page (our own, in the same style)


def _index_page(summary: list[dict], findings: Findings | None, spec: StudySpec | None, css: str, synthetic: bool,
                max_rows: int) -> str:
    e = html.escape
    frame = findings.frame() if findings is not None else None
    per_ds: dict[str, dict[str, int]] = {}
    if frame is not None and len(frame):
        counts = frame.groupby(["dataset", "severity"]).size()
        for (ds, sev), n in counts.items():
            per_ds.setdefault(ds, {})[sev] = int(n)
    rows = []
    for s in summary:
        f = per_ds.get(s["name"], {})
        status = ('<span class="badge badge-success">passed</span>' if s["success"]
                  else f'<span class="badge badge-danger">{s["failed"]} failed</span>')
        checked = f'{s["checked"]:,}' + ("" if s["checked"] == s["rows"] else " (sample)")
        rows.append(
            f'<tr><td><strong>{e(s["name"])}</strong></td><td>{e(s["basis"])}</td>'
            f'<td class="num">{s["rows"]:,}</td><td class="num">{checked}</td>'
            f'<td class="num">{s["evaluated"]}</td><td>{status}</td>'
            f'<td class="num">{f.get("error", 0)}</td><td class="num">{f.get("warning", 0)}</td>'
            f'<td class="num">{f.get("note", 0)}</td>'
            f'<td><a href="validations/{e(s["name"])}.html">results</a> · '
            f'<a href="expectations/{e(s["name"])}.html">expectations</a></td></tr>')
    title = f"Study {e(spec.studyid)}" if spec is not None else "Datasets checked against SDTMIG 3.4 / ADaMIG 1.3"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="UTF-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1.0">',
        f"<title>cdiscflow Data Docs</title><style>{css}</style></head><body>",
        '<nav class="navbar border-bottom"><div class="navbar-brand">cdiscflow Data Docs</div>'
        + ('<span class="synthetic">SYNTHETIC DATA</span>' if synthetic else "") + "</nav>",
        '<div class="container-fluid pt-4 pb-4 pl-5 pr-5">',
        f"<h1>{title}</h1>",
    ]
    if frame is not None:
        c = findings.counts()
        parts.append(
            '<div class="alert alert-secondary">Findings over all records (findings.csv): '
            f'<span class="badge badge-danger">{c["error"]} errors</span> '
            f'<span class="badge badge-warning">{c["warning"]} warnings</span> '
            f'<span class="badge badge-info">{c["note"]} notes</span></div>')
    parts.append(
        f'<p class="lead">great-expectations validates each dataset against expectations generated from the '
        f'{"study spec" if spec is not None else "implementation guides"}; datasets above {max_rows:,} records are '
        f'validated on a deterministic sample. Every record is checked by cdiscflow\'s schemas and conformance '
        f'rules, summarised below.</p>')
    parts.append('<h2>Datasets</h2><div class="table-responsive"><table class="table table-sm"><thead><tr>'
                 '<th>Dataset</th><th>Metadata</th><th class="num">Records</th><th class="num">Checked by GE</th>'
                 '<th class="num">Expectations</th><th>GE result</th><th class="num">Errors</th>'
                 '<th class="num">Warnings</th><th class="num">Notes</th><th>Pages</th></tr></thead><tbody>'
                 + "".join(rows) + "</tbody></table></div>")
    if frame is not None and len(frame):
        by_rule = frame.groupby(["rule_id", "severity"], sort=True).agg(
            findings=("rule_id", "size"), datasets=("dataset", lambda d: ", ".join(sorted(set(d) - {""})))
        ).reset_index()
        lines = []
        for r in by_rule.itertuples(index=False):
            desc = (RULES[r.rule_id].message if r.rule_id in RULES
                    else SCHEMA_CHECKS[r.rule_id].title if r.rule_id in SCHEMA_CHECKS else "")
            lines.append(f"<tr><td><code>{e(r.rule_id)}</code></td><td>{e(r.severity)}</td>"
                         f'<td class="num">{r.findings:,}</td><td>{e(r.datasets)}</td><td>{e(desc)}</td></tr>')
        parts.append('<h2>Findings by rule</h2><table class="table table-sm"><thead><tr><th>Rule</th>'
                     '<th>Severity</th><th class="num">Findings</th><th>Datasets</th><th>What it checks</th></tr></thead>'
                     "<tbody>" + "".join(lines) + "</tbody></table>")
    parts.append("</div></body></html>")
    return "\n".join(parts) + "\n"
