"""report.yaml read into the report spec's model, every problem reported at once with its place (SpecError)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from cdiscflow.core.errors import SpecError
from cdiscflow.specs.model import StudySpec
from cdiscflow.specs.report.checks import Checks, as_list
from cdiscflow.specs.report.model import (NAME_RE, SECTION, SUBJECT, TRANSFORMS, UNITS, Band, ByTerm, Category, Column,
                                          Endpoint, Groups, NotCovered, Percent, Population, ReportSpec,
                                          ReproductionSpec, Row, SectionSpec, TableSpec, TextItem, TimeToEventSpec)
from cdiscflow.specs.report.targets import expand_links


def load_report_spec(spec: StudySpec) -> ReportSpec | None:
    """The study's report spec (report.yaml), checked against the study's ADaM metadata; None if it has none.
    Loaded once per StudySpec (the check, the export's ARM, the report's inputs and the report share it).

    Raises SpecError listing every problem, each with its place in report.yaml."""
    doc = spec.section(SECTION)
    if doc is None:
        return None
    return spec.built("report spec", lambda: _Loader(spec, doc).load())  # the check's, in a run


def check_report_spec(spec: StudySpec) -> ReportSpec | None:
    """For `cdiscflow check-spec`: load the report spec (if any) and fit every fact link to its published figures,
    so that their problems are found before a run.  Raises SpecError listing them."""
    report = load_report_spec(spec)
    if report is not None:
        expand_links(report)
    return report


class _Loader(Checks):
    """report.yaml item by item: populations, sections, tables (rows, categories, bands), time to event, reproduction."""

    # -- top level ----------------------------------------------------------------------------------------------
    def load(self) -> ReportSpec:
        doc = self.doc
        path = str(Path(self.spec.path) / f"{SECTION}.yaml")
        if not isinstance(doc, Mapping):
            raise SpecError("report.yaml must be a mapping with title, populations and sections", path=path)
        self.keys("report.yaml", doc, {"title", "facts", "populations", "sections"})
        facts_name = str(doc.get("facts") or "")
        if facts_name:
            self.facts = self.spec.section(facts_name)
            if self.facts is None:
                self.problem("report.yaml: facts", f"the study has no {facts_name}.yaml")
        self.populations = self.load_populations(doc.get("populations"))
        sections = []
        raw_sections = doc.get("sections")
        if not isinstance(raw_sections, (list, tuple)) or not raw_sections:
            self.problem("report.yaml: sections", "must be a non-empty list")
            raw_sections = ()
        for i, s in enumerate(raw_sections):
            sections.append(self.load_section(f"sections[{i}]", s))
        if self.problems:
            raise SpecError(self.problems, path=path)
        reads = {dataset: tuple(sorted(names | {SUBJECT})) for dataset, names in sorted(self.reads.items())}
        return ReportSpec(title=str(doc.get("title") or self.spec.studyid), populations=self.populations,
                          sections=tuple(sections), facts=self.facts, facts_name=facts_name, path=path, reads=reads)

    def load_populations(self, node: Any) -> dict[str, Population]:
        out = {}
        if not isinstance(node, Mapping) or not node:
            self.problem("report.yaml: populations", "must map population ids to {label, where}")
            return out
        for pid, p in node.items():
            where = f"populations.{pid}"
            if not isinstance(p, Mapping):
                self.problem(where, "must be a mapping {label, where, dataset}")
                continue
            self.keys(where, p, {"label", "where", "dataset"}, ("where",))
            dataset = str(p.get("dataset") or "ADSL")
            self.expression(where, p.get("where"), dataset)
            out[str(pid)] = Population(str(pid), str(p.get("label") or pid), str(p.get("where") or ""), dataset)
        return out

    def load_section(self, where: str, node: Any) -> SectionSpec:
        if not isinstance(node, Mapping):
            self.problem(where, "must be a mapping {title, items}")
            return SectionSpec("", ())
        self.keys(where, node, {"title", "items"}, ("title",))
        items = []
        for j, item in enumerate(node.get("items") or ()):
            loc = f"{where}.items[{j}]"
            if not isinstance(item, Mapping) or len(item) != 1:
                self.problem(loc, "must be one of text:, table:, time_to_event:, reproduction:")
                continue
            (kind, body), = item.items()
            if kind == "text":
                items.append(TextItem(" ".join(str(body).split())))
            elif kind == "table":
                table = self.load_table(loc, body, str(node.get("title") or ""))
                if table is not None:
                    items.append(table)
            elif kind == "time_to_event":
                tte = self.load_tte(loc, body, str(node.get("title") or ""))
                if tte is not None:
                    items.append(tte)
            elif kind == "reproduction":
                items.append(self.load_reproduction(loc, body))
            else:
                self.problem(loc, f"unknown item {kind!r} (expected text, table, time_to_event, reproduction)")
        return SectionSpec(str(node.get("title") or ""), tuple(items))

    # -- tables -------------------------------------------------------------------------------------------------
    def load_table(self, where: str, node: Any, section: str = "") -> TableSpec | None:
        if not isinstance(node, Mapping):
            self.problem(where, "table must be a mapping")
            return None
        kind = node.get("kind", "summary")
        allowed = {"name", "kind", "caption", "area", "dataset", "where", "columns", "rows", "percent", "ci", "notes",
                   "pair_labels", "facts", "reason", "purpose"}
        if kind == "adverse_events":
            allowed |= {"records", "grade", "bands", "by_term"}
        elif kind != "summary":
            self.problem(where, f"kind must be summary or adverse_events, not {kind!r}")
            return None
        self.keys(where, node, allowed, ("name", "dataset", "columns", "rows"))
        name = self.name(where, node.get("name"))
        where = f"{where} ({name})"
        dataset = str(node.get("dataset") or "")
        self.dataset_names(where, dataset)
        self.expression(f"{where}.where", node.get("where"), dataset)
        columns = self.load_columns(where, node.get("columns"), dataset)
        column_ids = [c.id for c in columns]
        records = node.get("records")
        self.expression(f"{where}.records", records, dataset)
        grade = str(node.get("grade") or "ATOXGRN")
        bands: tuple[Band, ...] = ()
        if kind == "adverse_events":
            self.variables(f"{where}.grade", [grade], dataset)
            bands = self.load_bands(f"{where}.bands", node.get("bands"))
        pair_labels = tuple(str(x) for x in (node.get("pair_labels") or ("first", "second")))
        if len(pair_labels) != 2:
            self.problem(f"{where}.pair_labels", "must name the two counts of a pair row")
            pair_labels = ("first", "second")
        rows = []
        seen: set[str] = set()
        for i, r in enumerate(node.get("rows") or ()):
            row = self.load_row(f"{where}.rows[{i}]", r, dataset, column_ids, kind, pair_labels)
            if row is None:
                continue
            if row.kind != "heading":
                if row.id in seen:
                    self.problem(f"{where}.rows[{i}]", f"row id {row.id!r} is used twice")
                seen.add(row.id)
            rows.append(row)
        rows = [replace(r, facts=tuple(replace(f, table=f.table or name) for f in r.facts)) for r in rows]
        percent = self.load_percent(f"{where}.percent", node.get("percent", {}))
        ci = str(node.get("ci") or "")
        if ci and ci != "clopper-pearson":
            self.problem(f"{where}.ci", f"only clopper-pearson is available, not {ci!r}")
        by_term = None
        if kind == "adverse_events" and node.get("by_term") is not None:
            by_term = self.load_by_term(f"{where}.by_term", node.get("by_term"), dataset)
        single = {"column": column_ids[0]} if len(column_ids) == 1 else {}
        facts = tuple(self.load_fact(f"{where}.facts[{i}]", f, name, single, ("row", "column"), ())
                      for i, f in enumerate(as_list(node.get("facts"))))
        notes = tuple(" ".join(str(n).split()) for n in as_list(node.get("notes")))
        caption = str(node.get("caption") or name)
        return TableSpec(name=name, kind=kind, caption=caption, area=str(node.get("area") or section or caption),
                         dataset=dataset, columns=columns, rows=tuple(rows), where=node.get("where"),
                         percent=percent, ci=ci, notes=notes, pair_labels=pair_labels,  # type: ignore[arg-type]
                         facts=tuple(f for f in facts if f is not None), records=records, grade=grade, bands=bands,
                         by_term=by_term, **self.analysis_terms(where, node))

    def load_columns(self, where: str, node: Any, dataset: str) -> tuple[Column, ...]:
        out = []
        if not isinstance(node, (list, tuple)) or not node:
            self.problem(f"{where}.columns", "must be a non-empty list of {id, label, population, where}")
            return ()
        for i, c in enumerate(node):
            loc = f"{where}.columns[{i}]"
            if not isinstance(c, Mapping):
                self.problem(loc, "must be a mapping {id, label, population, where}")
                continue
            self.keys(loc, c, {"id", "label", "population", "where"}, ("id", "population"))
            self.expression(loc, c.get("where"), dataset)
            cid = str(c.get("id"))
            out.append(Column(cid, str(c.get("label") or cid), self.population(loc, c.get("population")),
                              c.get("where")))
        ids = [c.id for c in out]
        for dup in sorted({i for i in ids if ids.count(i) > 1}):
            self.problem(f"{where}.columns", f"column id {dup!r} is used twice")
        return tuple(out)

    def load_percent(self, where: str, node: Any) -> Percent | None:
        if node is False:
            return None
        if node is None:
            node = {}
        if not isinstance(node, Mapping):
            self.problem(where, "must be {decimals, sign} or false")
            return Percent()
        self.keys(where, node, {"decimals", "sign"})
        return Percent(int(node.get("decimals", 1)), bool(node.get("sign", False)))

    def load_bands(self, where: str, node: Any) -> tuple[Band, ...]:
        out = []
        if not isinstance(node, (list, tuple)) or not node:
            self.problem(where, "must be a non-empty list of {id, label, grades}")
            return ()
        for i, b in enumerate(node):
            loc = f"{where}[{i}]"
            if not isinstance(b, Mapping) or not isinstance(b.get("grades"), (list, tuple)):
                self.problem(loc, "must be {id, label, grades: [...]}")
                continue
            self.keys(loc, b, {"id", "label", "grades"}, ("id",))
            try:
                grades = tuple(float(g) for g in b["grades"])
            except (TypeError, ValueError):
                self.problem(loc, f"grades must be numbers, not {list(b['grades'])!r}")
                continue
            out.append(Band(str(b["id"]), str(b.get("label") or b["id"]), grades))
        return tuple(out)

    def load_by_term(self, where: str, node: Any, dataset: str) -> ByTerm | None:
        if not isinstance(node, Mapping):
            self.problem(where, "must be a mapping {name, caption, by, bands}")
            return None
        self.keys(where, node, {"name", "caption", "by", "bands", "fact"}, ("name", "by"))
        name = self.name(where, node.get("name"))
        by = tuple(str(v) for v in as_list(node.get("by")))
        self.variables(f"{where}.by", list(by), dataset)
        bands = self.load_bands(f"{where}.bands", node.get("bands"))
        facts = tuple(self.load_fact(f"{where}.fact", f, name, {}, ("row", "column", "category"), ())
                      for f in as_list(node.get("fact")))
        labels = []
        for v in by:
            try:
                labels.append(self.spec.dataset(dataset).variable(v).label or v)
            except KeyError:
                labels.append(v)
        return ByTerm(name, str(node.get("caption") or name), by, bands, tuple(f for f in facts if f is not None),
                      tuple(labels))

    def load_category(self, where: str, node: Any, dataset: str) -> Category | None:
        if not isinstance(node, Mapping):
            self.problem(where, "a category must be {value | values | where, id, label}")
            return None
        self.keys(where, node, {"value", "values", "where", "id", "label"})
        values = tuple(as_list(node["values"])) if "values" in node else (
            (node["value"],) if "value" in node else ())
        cond = node.get("where")
        if not values and cond is None:
            self.problem(where, "a category needs value, values or where")
            return None
        self.expression(where, cond, dataset)
        cid = str(node.get("id") if node.get("id") is not None else (values[0] if values else ""))
        if not cid:
            self.problem(where, "a category defined by where needs an id")
        return Category(cid, str(node.get("label") or cid), values, cond)

    def load_row(self, where: str, node: Any, table_dataset: str, column_ids: list[str], table_kind: str,
                 pair_labels: tuple[str, ...]) -> Row | None:
        if not isinstance(node, Mapping):
            self.problem(where, "a row must be a mapping")
            return None
        if "heading" in node:
            self.keys(where, node, {"heading"})
            return Row(id="", label=str(node["heading"]), kind="heading")
        allowed = {"id", "label", "dataset", "where", "param", "variable", "value", "categories", "unknown", "stat",
                   "decimals", "show_n", "pair", "fact", "indent", "records"}
        self.keys(where, node, allowed, ("id",))
        rid = str(node.get("id"))
        where = f"{where} ({rid})"
        dataset = str(node.get("dataset") or table_dataset)
        cond = node.get("where")
        if isinstance(cond, Mapping):
            for cid, text in cond.items():
                if str(cid) not in column_ids:
                    self.problem(where, f"where names column {cid!r}, not one of {', '.join(column_ids)}")
                self.expression(where, text, dataset)
        else:
            self.expression(where, cond, dataset)
        param = node.get("param")
        if param is not None:
            self.variables(where, ["PARAMCD"], dataset)
        self.expression(f"{where}.records", node.get("records"), dataset)
        stat = node.get("stat")
        variable = node.get("variable")
        kind = "count"
        categories: tuple[Category, ...] = ()
        pair: tuple[Category, ...] = ()
        unknown = None
        if stat is not None and stat != "median_range":
            self.problem(where, f"stat must be median_range, not {stat!r}")
        if "pair" in node:
            kind = "pair"
            items = as_list(node.get("pair"))
            if len(items) != 2:
                self.problem(where, "pair must name two parameters")
            pair = tuple(Category(str(p), label, (), f"PARAMCD == '{p}'") for p, label in zip(items, pair_labels))
            self.variables(where, ["PARAMCD"], dataset)
            if "value" in node:  # the value of each parameter of the pair (report.tables: its AVALC by default)
                self.variables(where, [str(variable or "AVALC")], dataset)
        elif stat == "median_range":
            kind = "median_range"
            variable = variable or ("AVAL" if param is not None else None)
            if variable is None:
                self.problem(where, "a median_range row needs a variable (or a param: AVAL)")
        elif "categories" in node:
            kind = "categories"
            variable = variable or ("AVALC" if param is not None else None)
            cats = [self.load_category(f"{where}.categories[{i}]", c, dataset)
                    for i, c in enumerate(as_list(node.get("categories")))]
            categories = tuple(c for c in cats if c is not None)
            if any(c.values for c in categories) and variable is None:
                self.problem(where, "categories with values need a variable (or a param: AVALC)")
            ids = [c.id for c in categories]
            for dup in sorted({i for i in ids if ids.count(i) > 1}):
                self.problem(where, f"category id {dup!r} is used twice")
            if node.get("unknown") is not None:
                u = node["unknown"]
                if not isinstance(u, Mapping) or "id" not in u:
                    self.problem(where, "unknown must be {id, label}")
                else:
                    unknown = Category(str(u["id"]), str(u.get("label") or u["id"]))
        elif "value" in node:
            variable = variable or ("AVALC" if param is not None else None)
            if variable is None:
                self.problem(where, "value needs a variable (or a param: AVALC)")
        if variable is not None:
            self.variables(where, [str(variable)], dataset)
        if table_kind == "adverse_events" and kind != "count":
            self.problem(where, "adverse event rows are terms: {id, label, where}")
        facts = []
        defaults = {"count": ("column",), "categories": ("category", "column"), "median_range": ("column",),
                    "pair": ("column",)}[kind]
        if table_kind == "adverse_events":
            defaults = ("column", "category")
        leaf: tuple[Any, ...] = ()
        if kind == "median_range":
            leaf = ({"stat": ("median", "min", "max")},)
        elif kind == "pair":
            leaf = ({"category": tuple(c.id for c in pair)},)
        for i, f in enumerate(as_list(node.get("fact"))):
            select = {"row": rid, **({"column": column_ids[0]} if len(column_ids) == 1 else {})}
            link = self.load_fact(f"{where}.fact[{i}]", f, "", select, defaults, leaf,
                                  round_default=int(node.get("decimals", 0)) if kind == "median_range" else None)
            if link is not None:
                facts.append(link)
        return Row(id=rid, label=str(node.get("label") or rid), kind=kind, dataset=dataset if "dataset" in node else "",
                   where=cond, param=None if param is None else str(param),
                   variable=None if variable is None else str(variable), value=node.get("value"),
                   categories=categories, unknown=unknown, pair=pair, decimals=int(node.get("decimals", 0)),
                   show_n=bool(node.get("show_n", False)), records=node.get("records"),
                   indent=int(node.get("indent", 1)), facts=tuple(facts))

    # -- time to event and reproduction -------------------------------------------------------------------------
    def load_tte(self, where: str, node: Any, section: str = "") -> TimeToEventSpec | None:
        if not isinstance(node, Mapping):
            self.problem(where, "time_to_event must be a mapping")
            return None
        self.keys(where, node, {"name", "dataset", "population", "unit", "endpoints", "overall", "groups",
                                "follow_up", "ci_transform", "facts", "area", "reason", "purpose"},
                  ("name", "dataset", "population", "endpoints"))
        endpoint_ids = tuple(str(e.get("id")) for e in as_list(node.get("endpoints")) if isinstance(e, Mapping))
        name = self.name(where, node.get("name"), ("_logrank", "_followup", *(f"_at_risk_{e}" for e in endpoint_ids)))
        where = f"{where} ({name})"
        dataset = str(node.get("dataset"))
        self.variables(where, ["PARAMCD", "AVAL", "CNSR"], dataset)
        population = self.population(where, node.get("population"))
        unit = str(node.get("unit") or "months")
        if unit not in UNITS:
            self.problem(f"{where}.unit", f"must be one of {', '.join(UNITS)}, not {unit!r}")
            unit = "months"
        endpoints = []
        for i, e in enumerate(as_list(node.get("endpoints"))):
            loc = f"{where}.endpoints[{i}]"
            if not isinstance(e, Mapping):
                self.problem(loc, "must be a mapping {id, paramcd, label, title}")
                continue
            self.keys(loc, e, {"id", "paramcd", "label", "title", "ylabel", "figure", "group_figure"},
                      ("id", "paramcd"))
            eid = str(e.get("id"))
            if not NAME_RE.match(eid):
                self.problem(loc, f"id {eid!r} must be letters, digits, _ . - (it names the figure files)")
            endpoints.append(Endpoint(eid, str(e.get("paramcd")), str(e.get("label") or eid),
                                      str(e.get("title") or e.get("label") or eid),
                                      str(e.get("ylabel") or "Survival probability"), str(e.get("figure") or ""),
                                      str(e.get("group_figure") or "")))
        overall_node = node.get("overall") or {}
        overall = Category(str(overall_node.get("id") or "all"), str(overall_node.get("label") or "All"))
        groups = None
        g = node.get("groups")
        if g is not None:
            if not isinstance(g, Mapping):
                self.problem(f"{where}.groups", "must be a mapping {variable, categories, reference, compare}")
            else:
                self.keys(f"{where}.groups", g, {"variable", "title", "categories", "reference", "compare"},
                          ("variable",))
                self.variables(f"{where}.groups", [str(g.get("variable"))], dataset)
                cats = [self.load_category(f"{where}.groups.categories[{i}]", c, dataset)
                        for i, c in enumerate(as_list(g.get("categories")))]
                cats = [c for c in cats if c is not None]
                ids = [c.id for c in cats]
                reference = g.get("reference")
                compare = tuple(str(c) for c in as_list(g.get("compare")))
                for c in ([reference] if reference is not None else []) + list(compare):
                    if str(c) not in ids:
                        self.problem(f"{where}.groups", f"{c!r} is not one of the group categories {ids}")
                if compare and reference is None:
                    self.problem(f"{where}.groups", "compare needs a reference group")
                groups = Groups(str(g.get("variable")), str(g.get("title") or g.get("variable")), tuple(cats),
                                None if reference is None else str(reference), compare)
        follow_up = None
        fu = node.get("follow_up")
        if fu is not None:
            if not isinstance(fu, Mapping) or str(fu.get("endpoint")) not in [e.id for e in endpoints]:
                self.problem(f"{where}.follow_up", "must be {endpoint: <an endpoint id>, label}")
            else:
                follow_up = (str(fu["endpoint"]), str(fu.get("label") or "Median follow-up (reverse Kaplan-Meier)"))
        transform = str(node.get("ci_transform") or "loglog")
        if transform not in TRANSFORMS:
            self.problem(f"{where}.ci_transform", f"must be one of {', '.join(TRANSFORMS)}, not {transform!r}")
            transform = "loglog"
        facts = []
        for i, f in enumerate(as_list(node.get("facts"))):
            link = self.load_fact(f"{where}.facts[{i}]", f, "", {}, (), ())
            if link is not None:
                if not link.table:
                    self.problem(f"{where}.facts[{i}]", f"table is missing (one of {name}, {name}_logrank, "
                                 f"{name}_followup)")
                facts.append(link)
        return TimeToEventSpec(name=name, dataset=dataset, population=population, unit=unit,
                               endpoints=tuple(endpoints), overall=overall, groups=groups, follow_up=follow_up,
                               ci_transform=transform, facts=tuple(facts),
                               area=str(node.get("area") or section or "Time to event"),
                               **self.analysis_terms(where, node))

    def load_reproduction(self, where: str, node: Any) -> ReproductionSpec:
        node = node or {}
        if not isinstance(node, Mapping):
            self.problem(where, "reproduction must be a mapping {name, not_covered, facts}")
            return ReproductionSpec("reproduction")
        self.keys(where, node, {"name", "not_covered", "facts", "known_notes"})
        name = self.name(where, node.get("name") or "reproduction", ("_summary", "_fail", "_known", "_not_covered"))
        not_covered = []
        for i, n in enumerate(as_list(node.get("not_covered"))):
            if not isinstance(n, Mapping) or "item" not in n:
                self.problem(f"{where}.not_covered[{i}]", "must be {item, reason}")
                continue
            not_covered.append(NotCovered(str(n["item"]), " ".join(str(n.get("reason", "")).split())))
        facts = []
        for i, f in enumerate(as_list(node.get("facts"))):
            link = self.load_fact(f"{where}.facts[{i}]", f, "", {}, (), ())
            if link is not None:
                facts.append(link)
        notes = {str(k): " ".join(str(v).split()) for k, v in (node.get("known_notes") or {}).items()}
        documented = {str(r.get("id")) for r in ((self.facts or {}).get("known_expected_mismatches") or ())
                      if isinstance(r, Mapping)}
        for k in notes:
            if k not in documented:
                self.problem(f"{where}.known_notes", f"{k!r} is not in known_expected_mismatches of the facts")
        return ReproductionSpec(name, tuple(not_covered), tuple(facts), notes)
