"""The report spec: what a study's analysis report shows, read from `specs/<study>/report.yaml` and checked on load.

Metadata, like the rest of the study spec: the report engine (`cdiscflow.report`), the Analysis Results Metadata of
define.xml (`cdiscflow.export.arm`) and the ARS reporting event read it.  `model` holds the frozen dataclasses,
`load` reads report.yaml into them (`load_report_spec`, `check_report_spec`), `checks` the checks every item shares
(keys, conditions, variables, names, fact links), `targets` fits the fact links to the published figures, and
`analyses` describes every number of the report as an analysis (outputs, analysis sets, subsets, methods).

The report's content is configuration; one engine (`cdiscflow.report.build`) renders any study's report.yaml.

    title: "..."                      page title
    facts: facts                      spec section with the published figures (facts.yaml), for the reproduction check
    populations:                      id -> {label, where, dataset (default ADSL)}: the subjects of `dataset` with a
                                      record meeting `where` (an expression of cdiscflow.core.expr)
    sections:                         in page order: {title, items: [...]}, each item one of
      - text: "..."                   a paragraph
      - table: {...}                  kind `summary` or `adverse_events` (below)
      - time_to_event: {...}          Kaplan-Meier tables and figures (below)
      - reproduction: {...}           the side-by-side check of every `fact:` link against the published figure

A **summary** table counts subjects (or summarises values) of `dataset` (optionally filtered by `where`):

    columns: [{id, label, population, where}]    a cell counts the population's subjects among the records meeting
                                                 the column's and the row's conditions; percentages use the
                                                 population size; `where` may also be set per row and column
    percent: {decimals: 1, sign: false} | false  `n (%)` cells, or counts only
    ci: clopper-pearson                          adds an exact 95% CI column to every count row
    pair_labels: [exposed, refractory]           names of the two counts of a `pair` row
    notes: ["..."]                               footnotes under the table
    facts: [<fact link>]                         links that are not about one row (levels usually [row, column])
    rows:                                        one of
      {heading: "..."}                           a heading line
      {id, label, where}                         subjects with a record meeting `where` (a dict column id -> where
                                                 sets it per column); `param: X` adds PARAMCD == 'X' (BDS) and
                                                 `value: V` asks for AVALC == V (or `variable` == V)
      {id, label, variable, categories}          one line per category: {value | values | where, id, label};
                                                 `unknown: {id, label}` counts records without a value; values in
                                                 no category show as 'Other', subjects without a record of a BDS
                                                 parameter as 'Not recorded': nothing is left out silently
      {id, label, stat: median_range, decimals}  median (min-max) of `variable` (AVAL for a parameter); show_n
      {id, label, pair: [P1, P2], value: V}      two counts in one cell ('n (%) / n (%)'), e.g. exposed/refractory
      every row may name another `dataset` and carry `fact:` links

An **adverse_events** table counts patients by their worst grade (`grade`, e.g. ATOXGRN) in grade `bands`
({id, label, grades}) per column, among the records meeting `records` (e.g. AOCC01FL == 'Y'; a row may override
it) and the row's `where`; `by_term: {name, caption, by: [AEBODSYS, AEDECOD], bands}` adds a table of every term.

**time_to_event**: `dataset` (ADTTE), `population`, `unit` (days, weeks, months = days / 30.4375, years),
`endpoints: [{id, paramcd, label, title, ylabel, figure, group_figure}]`, `overall: {id, label}`, `groups:
{variable, title, categories, reference, compare}` (log-rank of each `compare` group against `reference`),
`follow_up: {endpoint, label}` (reverse Kaplan-Meier), `ci_transform` (loglog | log | linear) and `facts` (links
naming their `table`: `<name>` medians and counts, `<name>_logrank` p-values, `<name>_followup`; see report.tte).

Tables and time_to_event items may say why and what for (Analysis Results Metadata and ARS): `reason` (SPECIFIED
IN PROTOCOL, SPECIFIED IN SAP (default), DATA DRIVEN, REQUESTED BY REGULATORY AGENCY) and `purpose` (PRIMARY,
SECONDARY or EXPLORATORY (default) OUTCOME MEASURE); other text is taken as a sponsor term.

**reproduction**: `{name, not_covered: [{item, reason}], known_notes: {mismatch id: how the report shows it}}`;
where it stands, the report shows every fact link's comparison, the documented known mismatches and the gaps.

A **fact link** ties published figures (a node of the facts section, by dotted `path`) to the report's numbers.  The
report's numbers are addressed by table, row, category, column and stat (n, pct, median, min, max, p ...):

    fact: table1.categorical.sex                  tree: the node's keys are walked as the row's levels
                                                  ([category, column] for categories, [column] otherwise; a list
                                                  leaf gives median/min/max or the two counts of a pair)
    fact: {path, levels, column, category, row, stat, keys, round, tolerance, range, test, known}
    fact: {path, value: published, match: {endpoint: row, group: category}, tolerance: tol_accept, ci: ci95}
                                                  records: a dict or a list of dicts; `match` maps their fields to
                                                  the report's dimensions, `value`/`tolerance`/`range` name fields
                                                  (`ci`: a published interval, shown but not checked)
    fact: {path, fields: [~, row, column, category, value]}     tuples: a list of lists, by position
    fact: {path, tally: true}                     a list of values (one per subject) read as counts per value

Comparison: exact by default; `round: N` compares the value rounded half up to N decimals (printed precision);
`tolerance: x` |difference| <= x; `range: [lo, hi]`; `test: above` the report's value must exceed the fact.
`known: ID` (or `[{field: value, id: ID}]` in records) names the entry of the facts' `known_expected_mismatches`
that explains an expected failure: it is still shown as FAIL, marked as documented.
"""

from cdiscflow.specs.report.load import SECTION, check_report_spec, load_report_spec
from cdiscflow.specs.report.model import (ANALYSIS_PURPOSES, ANALYSIS_REASONS, DEFAULT_PURPOSE, DEFAULT_REASON, Band,
                                          ByTerm, Category, Column, Endpoint, FactLink, Groups, NotCovered, Percent,
                                          Population, ReportSpec, ReproductionSpec, Row, SectionSpec, TableSpec,
                                          TextItem, TimeToEventSpec)

__all__ = [
    "ANALYSIS_PURPOSES", "ANALYSIS_REASONS", "Band", "ByTerm", "Category", "Column", "DEFAULT_PURPOSE", "DEFAULT_REASON",
    "Endpoint", "FactLink", "Groups", "NotCovered", "Percent", "Population", "ReportSpec", "ReproductionSpec", "Row",
    "SECTION", "SectionSpec", "TableSpec", "TextItem", "TimeToEventSpec", "check_report_spec", "load_report_spec",
]
