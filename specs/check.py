"""`cdiscflow check-spec`: every problem of a study spec at once, each with file, line, key and a hint.

    problems = check_spec("specs/my_study")        # [] when the spec is usable
    spec = require_valid_spec("specs/my_study")   # the StudySpec, or SpecError listing every problem

The checks, all run whatever the others find:

1. files: only the files a spec consists of are read (`SPEC_FILES`, sdtm/*.yaml, adam/*.yaml); each YAML file
   through `specs.safe_yaml` (size limit, alias-bomb limit, the line of every key); an unknown YAML file is a
   problem (a misspelt `reprot.yaml` would otherwise be ignored);
2. shape: every file against its typed model (`specs.typed`, unknown keys are errors, with "did you mean");
3. meaning: the loaders of every layer (`specs.load.load_study`, the SDTM trial design and derivations, the ADaM
   recipes' settings, the report), which check references (codelists, methods, forms, fields, datasets ...) and
   parse every expression;
4. cross-references the loaders cannot see alone: the raw `usubjid` template's fields, the datasets ADaM rules
   read, and the variables every expression names.

`run`, `batch`, `sdtm`, `adam` and `report` call `require_valid_spec` before they read any data.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from cdiscflow.core.errors import SpecError
from cdiscflow.specs import typed, typed_problems
from cdiscflow.specs.safe_yaml import YamlProblem, line_of, load_yaml

# The YAML files a spec folder may hold at its top level (besides sdtm/*.yaml and adam/*.yaml).
SPEC_FILES = ("study.yaml", "forms.yaml", "trial_design.yaml", "report.yaml", "facts.yaml", "comparison.yaml",
              "conformance.yaml")
ADAM_FILES = ("adam/adsl.yaml", "adam/adrs.yaml", "adam/adae.yaml", "adam/tte.yaml", "adam/adbase.yaml")
MAX_CSV_BYTES = 50_000_000


@dataclass(frozen=True)
class Problem:
    file: str  # relative to the study folder
    line: int | None  # 1-based line of the YAML key or CSV row
    key: str  # where in the file: a dotted key path, or the CSV column
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        key = f" {self.key}:" if self.key else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{where}:{key} {self.message}{hint}"


# StudySpec -> problem texts of the layers' loaders ("adam/adsl.yaml: merges[3].filter: ...")
LayerChecks = Callable[[Any], Iterable[str]]


def check_spec(study: str | Path | None, layer_checks: LayerChecks | None = None) -> list[Problem]:
    """Every problem of the spec folder `study` (a path or an embedded study name); [] when it is usable.

    `layer_checks` runs the loaders of the layers above specs/ (SDTM, ADaM recipes) on the loaded spec; the
    use case passes them (`usecases.spec_layer_problems`), so this module imports no layer above it.  Without it
    the files, the typed model, the spec model and the cross-references are checked."""
    return _Check(study, layer_checks).run()[1]


def require_valid_spec(study: str | Path | None, layer_checks: LayerChecks | None = None):
    """The loaded StudySpec when check-spec finds nothing; else SpecError listing every problem (file:line)."""
    from cdiscflow.specs.load import resolve_study

    spec, problems = _Check(study, layer_checks).run()
    if problems or spec is None:
        raise SpecError([str(p) for p in problems] or ["the spec cannot be loaded"], path=str(resolve_study(study)))
    return spec


# ----------------------------------------------------------------------------------------------------------------


def _path_text(path: Iterable[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p + 1}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


class _Check:
    def __init__(self, study: str | Path | None, layer_checks: LayerChecks | None = None):
        self.layer_checks = layer_checks
        from cdiscflow.specs.load import resolve_study

        self.path = resolve_study(study)
        self.problems: list[Problem] = []
        self.lines: dict[str, dict] = {}  # file -> YAML key path -> line
        self.docs: dict[str, Any] = {}

    def add(self, file: str, line: int | None, key: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(file, line, key, message, hint))

    def run(self):
        self.check_files()
        self.n_typed = len(self.problems)  # problems before this are the files' and the typed model's
        spec, loader_problems = self.load()
        for text in loader_problems:
            self.add_loader_problem(text)
        if spec is not None:
            for text in self.layer_problems(spec):
                self.add_loader_problem(text)
            self.cross_references(spec)
        return spec, self.deduplicated()

    # -- 1 and 2: files and their shape -------------------------------------------------------------------------
    def check_files(self) -> None:
        root = self.path
        if not (root / "study.yaml").is_file():
            self.add("study.yaml", None, "", "file is missing: a study folder starts with study.yaml")
        for p in sorted(root.glob("*.yaml")) + sorted(root.glob("*.yml")):
            if p.name not in SPEC_FILES:
                close = difflib.get_close_matches(p.name, SPEC_FILES, n=1)
                self.add(p.name, None, "", "not a spec file: cdiscflow does not read it",
                         f"did you mean {close[0]}?" if close else f"spec files are {', '.join(SPEC_FILES)}")
        for p in sorted((root / "adam").glob("*.y*ml")) if (root / "adam").is_dir() else ():
            rel = f"adam/{p.name}"
            if rel not in ADAM_FILES:
                close = difflib.get_close_matches(rel, ADAM_FILES, n=1)
                self.add(rel, None, "", "not a spec file: no ADaM recipe reads it",
                         f"did you mean {close[0]}?" if close else f"ADaM spec files are {', '.join(ADAM_FILES)}")
        yaml_files = [n for n in SPEC_FILES if (root / n).is_file()]
        yaml_files += [f"sdtm/{p.name}" for p in sorted((root / "sdtm").glob("*.yaml"))] if (root / "sdtm").is_dir() else []
        yaml_files += [n for n in ADAM_FILES if (root / n).is_file()]
        for rel in yaml_files:
            self.check_yaml(rel)
        for name in typed.CSV_MODELS:
            if (root / name).is_file():
                self.check_csv(name)

    def check_yaml(self, rel: str) -> None:
        p = self.path / rel
        if p.is_symlink() and not p.resolve().is_relative_to(self.path.resolve()):
            self.add(rel, None, "", "is a link to a file outside the study folder; copy the file in instead")
            return
        try:
            data, lines = load_yaml(p, rel)
        except YamlProblem as exc:
            self.add(rel, exc.line, "", str(exc))
            return
        self.docs[rel], self.lines[rel] = data, lines
        kind = typed.file_kind(rel)
        if kind is None:
            return
        if data is None:
            data = {}
        for tp in typed_problems.validate_document(kind, data):
            self.add(rel, line_of(lines, tp.path) if tp.path else 1, _path_text(tp.path), tp.message, tp.hint)

    def check_csv(self, name: str) -> None:
        p = self.path / name
        if p.stat().st_size > MAX_CSV_BYTES:
            self.add(name, None, "", f"is larger than {MAX_CSV_BYTES:,} bytes; a metadata table never is")
            return
        try:
            text = p.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            self.add(name, None, "", f"is not UTF-8 text ({exc.reason} at byte {exc.start})")
            return
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip() for h in (reader.fieldnames or [])]
        model = typed.CSV_MODELS[name]
        columns = [f.alias or n for n, f in model.model_fields.items()]
        unknown = [h for h in header if h and h not in columns]
        for h in unknown:
            close = difflib.get_close_matches(h, columns, n=1)
            self.add(name, 1, h, "unknown column", f"did you mean '{close[0]}'?" if close else
                     f"columns are {', '.join(columns)}")
        for i, row in enumerate(reader, start=2):
            clean = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None and k.strip() not in unknown}
            if not any(clean.values()):
                continue
            for tp in typed_problems.validate_row(name, clean):
                col = str(tp.path[0]) if tp.path else ""
                self.add(name, i, col, tp.message if col else tp.message, tp.hint)

    # -- 3: the loaders of every layer ----------------------------------------------------------------------------
    def load(self):
        from cdiscflow.specs.load import load_study_with_problems

        try:  # the YAML files check_files read are not read again (nothing here changes the documents)
            return load_study_with_problems(self.path, parsed=self.docs)
        except SpecError as exc:
            return None, exc.problems

    def layer_problems(self, spec) -> list[str]:
        """The problems the layers' own loaders find (`layer_checks`, given by the use case: SDTM and ADaM), then
        the report spec's (specs/report), as loader texts."""
        out = list(self.layer_checks(spec)) if self.layer_checks is not None else []
        if spec.section("report") is not None:
            from cdiscflow.specs.report import check_report_spec

            report_problems: list[str] = []
            try:
                check_report_spec(spec)
            except SpecError as exc:
                report_problems = exc.problems
            out.extend(p if p.split(" ", 1)[0].endswith(".yaml") or p.startswith("report.yaml")
                       else f"report.yaml: {p}" for p in report_problems)
        return out

    def add_loader_problem(self, text: str) -> None:
        """A loader's problem text ('adam/adsl.yaml: merges[3].filter: ...', 'variables.csv line 12: ...') with
        the line looked up from the key path it names."""
        m = re.match(r"^(?P<file>[\w./-]+\.(?:yaml|csv))(?: line (?P<line>\d+))?[: ]\s*(?P<rest>.*)$", text, re.S)
        if not m:
            self.add("", None, "", text)
            return
        file, rest = m["file"], m["rest"]
        if m["line"]:
            self.add(file, int(m["line"]), "", rest.lstrip(": "))
            return
        key, _, message = rest.partition(": ")
        if not message:
            key, message = "", rest
        path = self.key_path(file, key)
        lines = self.lines.get(file, {})
        self.add(file, line_of(lines, path) if path else None, key.strip(), message.strip())

    def key_path(self, file: str, key: str) -> tuple:
        """The document path a loader's location text names (block 2 DM.SEX -> blocks, 1, map, SEX ...)."""
        doc = self.docs.get(file)
        words = key.split()
        path: list[Any] = []
        if file.startswith("sdtm/") and words:
            i = 0
            while i < len(words):
                w = words[i]
                if w == "block" and i + 1 < len(words) and words[i + 1].isdigit():
                    path += ["blocks", int(words[i + 1]) - 1]
                    i += 2
                    continue
                if w == "derive":
                    path.append("derive")
                elif w == "rule" and i + 1 < len(words) and words[i + 1].isdigit():
                    path.append(int(words[i + 1]) - 1)
                    i += 2
                    continue
                elif "." in w:
                    ds, var = w.split(".", 1)
                    if path and path[-1] == "derive":
                        path.append(var)
                    else:
                        path += ["supp" if ds.startswith("SUPP") else "map", var]
                i += 1
            return tuple(path)
        if file == "forms.yaml" and len(words) >= 2 and words[0] == "form":
            return ("forms", words[1])
        one_based = file.startswith("adam/")
        for token in re.findall(r"[^.\[\]\s]+|\[\d+\]", key):
            if token.startswith("["):
                n = int(token[1:-1])
                path.append(n - 1 if one_based else n)
            else:
                path.append(token)
        del doc
        return tuple(path)

    # -- 4: cross-references ------------------------------------------------------------------------------------
    def cross_references(self, spec) -> None:
        self.check_usubjid(spec)
        from cdiscflow.specs.xref import expression_problems

        for file, path, message, hint in expression_problems(spec, self.docs):
            self.add(file, line_of(self.lines.get(file, {}), path), _path_text(path), message, hint)

    def check_usubjid(self, spec) -> None:
        raw = spec.study.get("raw") or {}
        if not spec.forms or not raw:
            return
        template = str(raw.get("usubjid", "{STUDYID}-{SUBJID}"))
        line = line_of(self.lines.get("study.yaml", {}), ("raw", "usubjid"))
        try:
            names = [n for _, n, _, _ in string.Formatter().parse(template) if n is not None]
        except ValueError as exc:
            self.add("study.yaml", line, "raw.usubjid", f"template {template!r} is not valid ({exc})",
                     "write fields in braces: \"{STUDYID}-{SUBJID}\"")
            return
        used = {b.form for m in spec.mappings.values() for b in m.blocks} or set(spec.forms)
        known = {f for form in used if form in spec.forms for f in spec.forms[form].names}
        for name in names:
            if name == "STUDYID" or not name:
                continue
            lacking = sorted(form for form in used if form in spec.forms and name not in spec.forms[form].names)
            if lacking:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                self.add("study.yaml", line, "raw.usubjid",
                         f"template names field {{{name}}}, which form(s) {', '.join(lacking)} lack",
                         f"did you mean {{{close[0]}}}?" if close else "use a field every mapped form has")

    def explained_by_typed(self, p: Problem) -> bool:
        """A loader's complaint about what the typed model already reported: the same value of the same key, or
        the mapping holding a key the model rejected."""
        quoted = set(re.findall(r"'([^']*)'", p.message))
        for t in self.problems[: self.n_typed]:
            if t.file != p.file or not t.key:
                continue
            last = re.sub(r"\[\d+\]$", "", t.key.rsplit(".", 1)[-1])
            if last in p.message and quoted & set(re.findall(r"'([^']*)'", t.message)):
                return True
            if p.key and t.key.startswith(p.key + ".") and t.message.startswith("unknown key"):
                return True
        return False

    def deduplicated(self) -> list[Problem]:
        """One problem per fact: a loader's 'unknown key x' where the typed model already reported key x."""
        typed_unknown = {(p.file, p.key.rsplit(".", 1)[-1].split("[")[0]) for p in self.problems[: self.n_typed]
                         if p.message.startswith("unknown key")}
        out: list[Problem] = []
        seen: set[tuple] = set()
        for i, p in enumerate(self.problems):
            names = re.findall(r"'([^']+)'", p.message) if "unknown" in p.message else []
            if not names and "unknown key" in p.message:
                names = [p.key.rsplit(".", 1)[-1]]
            dup = i >= self.n_typed and (any((p.file, n) in typed_unknown for n in names)
                                         or self.explained_by_typed(p))
            ident = (p.file, p.line, p.key, p.message)
            if dup or ident in seen:
                continue
            seen.add(ident)
            out.append(p)
        return out
