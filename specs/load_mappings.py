"""Loading the raw form dictionary (forms.yaml) and the SDTM mapping files (sdtm/*.yaml) of a study spec: the part of
the spec loader (specs/load.py) that reads forms, mapping blocks, rules and conditions."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

from cdiscflow.specs.cdisc import pattern_problem
from cdiscflow.specs.conditions import CODED_OPS, CONDITION_OPS
from cdiscflow.specs.model import (
    NAME_RE, FIELD_TYPES, OAK_ALIASES, RULE_KINDS, Codelist, _condition_fields, Dataset, FormField, Form, Rule, Block,
    Mapping_, _freeze,
)


class MappingLoader:
    """The forms and SDTM mapping methods of the spec loader (`specs.load._Loader`, which supplies `problem`,
    `yaml` and `csv`)."""

    # -- raw forms ----------------------------------------------------------------------------------------------
    def load_forms(self, codelists: Mapping[str, Codelist]) -> dict[str, Form]:
        doc = self.yaml("forms.yaml", required=False)
        if doc is None:
            return {}
        forms_doc = doc.get("forms") if isinstance(doc, dict) else None
        if not isinstance(forms_doc, dict):
            self.problem("forms.yaml", "must contain 'forms:' mapping form name -> definition")
            return {}
        out: dict[str, Form] = {}
        files: dict[str, str] = {}
        for fname, fd in forms_doc.items():
            loc = f"forms.yaml form {fname}"
            if not isinstance(fd, dict):
                self.problem(loc, "definition must be a mapping")
                continue
            fields = []
            seen = set()
            for i, f in enumerate(fd.get("fields") or []):
                if not isinstance(f, dict) or "name" not in f:
                    self.problem(loc, f"field #{i + 1} needs at least a name")
                    continue
                n = str(f["name"])
                if n in seen:
                    self.problem(loc, f"field {n} listed twice")
                seen.add(n)
                dt = str(f.get("type", "text"))
                if dt not in FIELD_TYPES:
                    self.problem(loc, f"field {n}: type {dt!r} is not one of {', '.join(sorted(FIELD_TYPES))}")
                fmt = f.get("format", "") or ""
                fmt = "|".join(map(str, fmt)) if isinstance(fmt, (list, tuple)) else str(fmt)  # alternatives
                if dt in ("date", "datetime", "time") and not fmt:
                    self.problem(loc, f"field {n}: a {dt} field needs a format (e.g. DD-MON-YYYY)")
                cl = str(f.get("codelist", "") or "")
                if cl and cl not in codelists:
                    self.problem(loc, f"field {n}: unknown codelist {cl!r}")
                fields.append(FormField(n, str(f.get("label", n)), dt, fmt, cl, bool(f.get("required", False)),
                                        str(f.get("description", "") or "")))
            keys = tuple(str(k) for k in (fd.get("keys") or ()))
            for k in keys:
                if k not in seen:
                    self.problem(loc, f"key {k} is not one of its fields")
            file = str(fd.get("file", f"{fname}.csv"))
            if file in files:
                self.problem(loc, f"file {file} is also used by form {files[file]}")
            files[file] = fname
            out[str(fname)] = Form(str(fname), file, str(fd.get("label", fname)), keys, tuple(fields),
                                   str(fd.get("description", "") or ""))
        return out

    # -- SDTM mappings ------------------------------------------------------------------------------------------
    def load_mappings(self, datasets, forms, codelists, valuelevel) -> dict[str, Mapping_]:
        out: dict[str, Mapping_] = {}
        folder = self.path / "sdtm"
        if not folder.is_dir():
            return out
        qnams = {(vl.dataset, w.values[0]) for vl in valuelevel if vl.variable == "QVAL"
                 for w in vl.where if w.variable == "QNAM" and w.comparator == "EQ" and len(w.values) == 1}
        for p in sorted(folder.glob("*.yaml")):
            rel = f"sdtm/{p.name}"
            doc = self.yaml(rel)
            if not isinstance(doc, dict):
                if doc is not None:
                    self.problem(rel, "must be a mapping with 'dataset' and 'blocks'")
                continue
            unknown = set(doc) - {"dataset", "blocks", "derive", "options", "description"}
            if unknown:
                self.problem(rel, f"unknown section(s) {', '.join(sorted(map(str, unknown)))} "
                                  "(use dataset, description, blocks, derive, options)")
            ds = str(doc.get("dataset", "")).upper()
            if ds not in datasets:
                self.problem(rel, f"dataset {ds!r} is not declared in datasets.csv")
                continue
            if ds in out:
                self.problem(rel, f"dataset {ds} is mapped twice (also {out[ds].path})")
                continue
            target = datasets[ds]
            blocks = []
            for i, b in enumerate(doc.get("blocks") or [], start=1):
                block = self.block(f"{rel} block {i}", b, ds, target, forms, codelists, datasets, qnams)
                if block is not None:
                    blocks.append(block)
            derive = {}
            for var, spec in (doc.get("derive") or {}).items():
                var = str(var).upper()
                if var not in target:
                    self.problem(rel, f"derives {var}, which is not a variable of {ds} in variables.csv")
                rule = self.rule(f"{rel} derive {ds}.{var}", spec, None, target, var, codelists)
                if rule is not None:
                    if rule.kind != "derive":
                        self.problem(f"{rel} derive {ds}.{var}", f"dataset-level rules must be 'derive', got {rule.kind!r}")
                    for w in _condition_fields(rule.when):
                        if str(w) not in target:
                            self.problem(f"{rel} derive {ds}.{var}", f"when names {w}, which is not a variable of {ds}")
                    derive[var] = rule
            options = doc.get("options") or {}
            out[ds] = Mapping_(ds, tuple(blocks), MappingProxyType(derive), _freeze(options), rel)
        return out

    def block(self, loc, b, ds, target, forms, codelists, datasets, qnams) -> Block | None:
        if not isinstance(b, dict):
            self.problem(loc, "must be a mapping with 'form' and 'map'")
            return None
        unknown = set(b) - {"form", "where", "map", "supp", "ignore", "description"}
        if unknown:
            self.problem(loc, f"unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                              "(use form, where, map, supp, ignore, description)")
        form_name = str(b.get("form", ""))
        form = forms.get(form_name)
        if form is None:
            self.problem(loc, f"unknown form {form_name!r} (not in forms.yaml)")
        where = b.get("where") or {}
        self.condition(loc, "where", where, form, codelists)
        rules: dict[str, tuple[Rule, ...]] = {}
        for var, spec in (b.get("map") or {}).items():
            var = str(var).upper()
            if spec is None:  # `VAR: null` leaves a variable unmapped (e.g. after a YAML merge `<<: *anchor`)
                continue
            if var not in target:
                self.problem(loc, f"maps {var}, which is not a variable of {ds} in variables.csv")
            rules[var] = self.rules(f"{loc} {ds}.{var}", spec, form, target, var, codelists)
        supp: dict[str, tuple[Rule, ...]] = {}
        supp_doc = b.get("supp") or {}
        if supp_doc and f"SUPP{ds}" not in datasets:
            self.problem(loc, f"has supplemental qualifiers but dataset SUPP{ds} is not declared in datasets.csv")
        for qnam, spec in supp_doc.items():
            qnam = str(qnam).upper()
            if not NAME_RE.match(qnam):
                self.problem(loc, f"QNAM {qnam!r} must be 1-8 characters A-Z, 0-9, _ starting with a letter")
            if (f"SUPP{ds}", qnam) not in qnams:
                self.problem(loc, f"QNAM {qnam} has no value-level row in valuelevel.csv "
                                  f"(SUPP{ds}, QVAL, where 'QNAM EQ {qnam}') giving its label and origin")
            supp[qnam] = self.rules(f"{loc} SUPP{ds}.{qnam}", spec, form, None, qnam, codelists)
        ignore = b.get("ignore") or {}
        if not isinstance(ignore, dict):
            self.problem(loc, "'ignore' must map raw field -> reason it is not mapped")
            ignore = {}
        for f, why in ignore.items():
            if form is not None and str(f) not in form.names:
                self.problem(loc, f"ignore names unknown field {form_name}.{f}")
            if not why:
                self.problem(loc, f"ignore {f}: give the reason the field is not mapped")
        return Block(form_name, MappingProxyType(rules), _freeze(where if isinstance(where, (dict, str)) else {}),
                     MappingProxyType(supp), _freeze({str(k): str(v) for k, v in ignore.items()}),
                     str(b.get("description", "") or ""))

    def rules(self, loc, spec, form, target, var, codelists) -> tuple[Rule, ...]:
        """One rule, or a list of rules for one target (each but the last usually with `when`)."""
        specs = spec if isinstance(spec, list) else [spec]
        out = []
        for i, one in enumerate(specs, start=1):
            rule = self.rule(loc if len(specs) == 1 else f"{loc} rule {i}", one, form, target, var, codelists)
            if rule is not None:
                out.append(rule)
        for r in out[:-1]:
            if not r.when:
                self.problem(loc, "only the last of several rules may lack 'when' (the rules after it could never write)")
        return tuple(out)

    def condition(self, loc: str, key: str, cond: Any, form: Form | None, codelists=None) -> None:
        """A `where`/`when`: expression text (cdiscflow.core.expr) or the mapping form that compiles to it."""
        from cdiscflow.core.expr import ExpressionError, codelists_named, names
        from cdiscflow.specs.conditions import compile_condition

        if isinstance(cond, str):
            try:
                fields, used = names(cond), codelists_named(cond)
            except ExpressionError as exc:
                self.problem(loc, f"{key}: {exc}")
                return
            for f in fields if form is not None else ():
                if f not in form.names:
                    self.problem(loc, f"{key} names unknown field {form.name}.{f}")
            for cl in used if codelists is not None else ():
                if cl not in codelists:
                    self.problem(loc, f"{key}: unknown codelist {cl!r}")
            return
        if not isinstance(cond, dict):
            self.problem(loc, f"'{key}' must be an expression, or map raw field -> value, [values] or "
                              "{not|present|ge|gt|le|lt: ...}")
            return
        try:
            compile_condition(cond)
        except ExpressionError as exc:
            if "a test is" not in str(exc) and "a codelist test is" not in str(exc):  # those are reported below
                self.problem(loc, f"{key}: {exc}")
        for f, test in cond.items():
            if form is not None and str(f) not in form.names:
                self.problem(loc, f"{key} names unknown field {form.name}.{f}")
            values = test if isinstance(test, (list, tuple)) else list(test.values()) if isinstance(test, dict) else [test]
            for v in values if not (isinstance(test, dict) and "present" in test) else ():
                if isinstance(v, bool):
                    self.problem(loc, f"{key} {f}: YAML reads an unquoted Yes/No/true/false as a boolean; "
                                      f"quote the collected text, e.g. \"Yes\"")
            if isinstance(test, dict) and "codelist" in test:
                ops = set(test) - {"codelist"}
                cl = (codelists or {}).get(str(test["codelist"]))
                if len(ops) != 1 or not ops <= CODED_OPS:
                    self.problem(loc, f"{key} {f}: a codelist test is {{codelist: CL, in: [...]}} "
                                      "or {codelist: CL, not: ...}")
                elif codelists is not None and cl is None:
                    self.problem(loc, f"{key} {f}: unknown codelist {test['codelist']!r}")
                elif cl is not None:
                    (op,) = ops
                    wanted = test[op] if isinstance(test[op], (list, tuple)) else [test[op]]
                    for w in wanted:
                        if str(w) not in cl.values:
                            self.problem(loc, f"{key} {f}: {w!r} is not a term of codelist {cl.id}")
            elif isinstance(test, dict):
                bad = set(test) - CONDITION_OPS
                if bad or len(test) != 1:
                    self.problem(loc, f"{key} {f}: a test is one of {', '.join(sorted(CONDITION_OPS))}, got {dict(test)}")
                for op in set(test) & {"ge", "gt", "le", "lt"}:
                    if not isinstance(test[op], (int, float)):
                        self.problem(loc, f"{key} {f}: {op} needs a number, got {test[op]!r}")

    def rule(self, loc: str, spec: Any, form: Form | None, target: Dataset | None, var: str, codelists) -> Rule | None:
        if isinstance(spec, str):  # shorthand: a bare field name means assign
            spec = {"assign": spec}
        if not isinstance(spec, dict):
            self.problem(loc, f"rule must be a mapping such as {{assign: FIELD}}, got {spec!r}")
            return None
        oak_names = [k for k in spec if k in OAK_ALIASES]
        spec, clashes = our_keywords(spec)
        for clash in clashes:
            self.problem(loc, clash)
        default_cl = target.variable(var).codelist if (target is not None and var in target) else ""
        if "hardcode_ct" in oak_names and not (spec.get("codelist") or default_cl):
            self.problem(loc, "hardcode_ct rule needs a codelist (on the rule or on the variable in variables.csv); "
                              "without one it is hardcode_no_ct")
        kinds = [k for k in spec if k in RULE_KINDS]
        if len(kinds) != 1:
            self.problem(loc, f"rule needs exactly one of {', '.join(sorted(RULE_KINDS))}; got {sorted(spec)}")
            return None
        kind = kinds[0]
        if form is not None:
            fields = []
            if kind in ("assign", "ct", "dtc"):
                fields += spec[kind] if isinstance(spec[kind], list) else [spec[kind]]
            for extra in ("time", "field"):
                if spec.get(extra):
                    fields.append(spec[extra])
            if isinstance(spec.get("fields"), list):
                fields += spec["fields"]
            for f in fields:
                if str(f) not in form.names:
                    self.problem(loc, f"{kind} names unknown field {form.name}.{f}")
            if kind == "assign" and isinstance(spec[kind], list) and len(spec[kind]) > 1 and not spec.get("format"):
                self.problem(loc, "assign from several fields needs a 'format' such as \"{A} {B}\"")
        if kind in ("ct", "hardcode") or spec.get("codelist"):
            cl = spec.get("codelist") or default_cl
            if kind == "ct" and not cl:
                self.problem(loc, "ct rule needs a codelist (on the rule or on the variable in variables.csv)")
            elif cl and cl not in codelists:
                self.problem(loc, f"unknown codelist {cl!r}")
            elif kind == "hardcode" and cl and codelists[cl].terms and str(spec["hardcode"]) not in codelists[cl].values:
                self.problem(loc, f"hard-coded value {spec['hardcode']!r} is not a term of codelist {cl}")
        pattern = spec.get("pattern")
        if pattern is not None:
            msg = pattern_problem(pattern)
            if msg:
                self.problem(loc, msg)
        if spec.get("case") is not None and spec.get("case") not in ("upper", "lower"):
            self.problem(loc, f"case must be upper or lower, got {spec.get('case')!r}")
        for key in ("pattern", "case"):
            if spec.get(key) is not None and kind != "assign":
                self.problem(loc, f"'{key}' belongs to an assign rule")
        via = spec.get("via")
        if via is not None:
            if kind != "ct":
                self.problem(loc, "'via' belongs to a ct rule")
            elif via not in codelists:
                self.problem(loc, f"via: unknown codelist {via!r}")
        when = spec.get("when")
        if when is not None:
            self.condition(loc, "when", when, form, codelists)
        return Rule(kind, _freeze(spec))


def our_keywords(spec: dict) -> tuple[dict, list[str]]:
    """A mapping rule with sdtm.oak's algorithm names (specs.model.OAK_ALIASES) renamed to our keys, in place of
    the oak key; and a problem for each rule that gives an oak name beside the key it stands for (or two oak names
    for one key: hardcode_ct and hardcode_no_ct)."""
    renamed: dict = {}
    given: dict[str, str] = {}
    problems = []
    for key, value in spec.items():
        ours = OAK_ALIASES.get(key, key)
        if ours in given:
            problems.append(f"'{given[ours]}' and '{key}' both give the rule's {ours} (sdtm.oak's algorithm names are "
                            "aliases of ours): keep one")
            continue
        given[ours] = key
        renamed[ours] = value
    return renamed, problems
