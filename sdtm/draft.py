"""A first study spec drafted from a raw export (`cdiscflow init`).

    result = draft_spec(Path("export/"), Path("specs/new"))      # DraftResult: proposals, todos, files written

The export is profiled (CSV, Parquet, XPT and SAS datasets: types, date formats and codelists from the values,
labels and formats from the SAS header) or, for an ODM-XML export, described by its own metadata (ItemDef
DataType, Question, CodeList).  Each form becomes a forms.yaml entry; a form whose name or label names an SDTMIG
domain gets an `sdtm/<domain>.yaml` mapping proposing, for each raw field, the SDTM variable it most likely feeds:

    name        the field name (without an `IT.` style prefix) is the variable (AETERM), or the variable without
                its domain prefix (TERM), or a date name ending DAT/DT/DATE for the --DTC variable (AESTDAT ->
                AESTDTC)
    label       the words of the field's label among those of the SDTMIG variable label ("Start date" ->
                "Start Date/Time of Adverse Event")
    values      every collected value is a term, decode or synonym of the variable's CDISC codelist ({ct: ...};
                the raw spellings become synonyms in codelists.csv)

Each proposal carries its evidence and a confidence (a comment beside the rule, and `proposals.csv`).  What is
not proposed is a TODO: a field under the block's `ignore:` with a reason starting "TODO", a form that no domain
matches in a comment of forms.yaml; `cdiscflow check-spec` lists every line holding "TODO" (`spec_todos`).
Nothing guessed is silent.  The folder is written whole or not at all (core.atomic).
"""

from __future__ import annotations

import csv
import gzip
import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from cdiscflow.core.errors import InputError
from cdiscflow.sdtm.raw.profile import Export, RawField, RawTable, profile_export
from cdiscflow.specs.model import STANDARDS_DIR
from cdiscflow.specs.tables import CODELIST_COLUMNS, DATASET_COLUMNS, VARIABLE_COLUMNS, csv_text, write_folder

STANDARDS = {"sdtmig-3.4": ("3.4", "sdtmig-3.4")}
CT_FILE = "ct-sdtm-2025-03-28.csv.gz"
MIN_CONFIDENCE = 0.5
SUBJECT_NAMES = ("SUBJECTKEY", "USUBJID", "SUBJID", "SUBJECT", "PATNUM", "PATID", "PTNO", "SUBJNO", "SUBNUM")
SITE_NAMES = ("SITEOID", "SITEID", "SITE", "SITENO", "SITENUM", "CENTRE", "CENTER", "INVSITE")
STOP = {"of", "the", "a", "an", "for", "or", "and", "to", "in", "with", "was", "is", "did", "does", "by", "at",
        "on", "per", "if", "as", "any", "subject", "patient", "study", "has", "have", "be", "what"}
_DATE_NAME = re.compile(r"^(?P<stem>.*?)(DAT|DT|DATE)$")
_TIME_NAME = re.compile(r"^(?P<stem>.*?)(TIM|TM|TIME)$")


# ---------------------------------------------------------------------------------------------------------------
# the standards


@lru_cache(maxsize=None)
def ig_tables() -> tuple[dict[str, dict[str, str]], dict[str, list[dict[str, str]]]]:
    """SDTMIG 3.4 datasets (code -> row) and variables (code -> rows in order) from specs/standards."""
    with open(STANDARDS_DIR / "sdtmig-3.4.datasets.csv", encoding="utf-8") as fh:
        datasets = {r["dataset"]: r for r in csv.DictReader(fh)}
    variables: dict[str, list[dict[str, str]]] = {}
    with open(STANDARDS_DIR / "sdtmig-3.4.variables.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            variables.setdefault(r["dataset"], []).append(r)
    return datasets, variables


@dataclass(frozen=True)
class CtCodelist:
    code: str
    name: str  # submission value of the codelist, e.g. NY
    extensible: bool
    terms: dict[str, tuple[str, str, tuple[str, ...]]]  # submission value -> (code, decode, synonyms)

    def resolve(self, value: str) -> str | None:
        """The submission value a collected value stands for (the value, its decode or a synonym), or None."""
        key = _norm(value)
        for term, (_, decode, synonyms) in self.terms.items():
            if key == _norm(term) or key == _norm(decode) or key in {_norm(s) for s in synonyms}:
                return term
        return None


def _norm(text: str) -> str:
    return " ".join(str(text).upper().split())


@lru_cache(maxsize=None)
def ct_codelists() -> dict[str, CtCodelist]:
    """CDISC SDTM CT by codelist C-code, with the synonyms (specs/standards, the project's copy)."""
    with gzip.open(STANDARDS_DIR / CT_FILE, "rt", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    heads = {r["Code"]: r for r in rows if not r["Codelist Code"]}
    terms: dict[str, dict] = {c: {} for c in heads}
    for r in rows:
        if r["Codelist Code"] in terms:
            syn = tuple(s.strip() for s in r["CDISC Synonym(s)"].split(";") if s.strip())
            terms[r["Codelist Code"]][r["CDISC Submission Value"]] = (r["Code"], r["NCI Preferred Term"], syn)
    return {c: CtCodelist(c, h["CDISC Submission Value"], h["Codelist Extensible (Yes/No)"] == "Yes", terms[c])
            for c, h in heads.items()}


# ---------------------------------------------------------------------------------------------------------------
# proposals


@dataclass
class Proposal:
    form: str
    field: str
    label: str
    dataset: str
    variable: str
    rule: dict
    confidence: float
    evidence: str
    status: str = "proposed"  # proposed | todo
    synonyms: dict[str, str] = field(default_factory=dict)  # collected value -> CT term (ct rules)
    codelist: str = ""  # C-code


def _words(text: str) -> set[str]:
    words = {w for w in re.split(r"[^a-z0-9]+", text.lower()) if w and w not in STOP}
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words}


def _bare(name: str) -> str:
    """The field name without an EDC prefix such as IT. or a form OID part, upper case."""
    return re.split(r"[.]", name.upper())[-1]


def domain_of(table: RawTable, taken: set[str]) -> tuple[str, float, str] | None:
    """The SDTMIG domain a form most likely feeds: (code, confidence, evidence)."""
    datasets, variables = ig_tables()
    tokens = {t.upper() for t in re.split(r"[^A-Za-z0-9]+", f"{table.name} {Path(table.file).stem}") if t}
    best = None
    for code, row in datasets.items():  # over the SDTMIG domains
        if code.startswith("SUPP") or code in ("RELREC", "CO") or len(code) != 2:
            continue
        score, why = 0.0, []
        if code in tokens:
            score += 0.6
            why.append(f"form name {table.name} has {code}")
        lw = _words(row["label"])
        if lw and lw <= _words(table.label):
            score += 0.4
            why.append(f"label '{table.label}' has '{row['label']}'")
        names = {v["variable"] for v in variables.get(code, [])}
        hits = sum(1 for f in table.fields if _bare(f.name) in names and _bare(f.name)[:2] == code)
        if hits:
            score += min(0.3, 0.1 * hits)
            why.append(f"{hits} field(s) named like {code} variables")
        if score and (best is None or score > best[1]):
            best = (code, round(min(score, 1.0), 2), "; ".join(why))
    if best and best[0] == "EC" and "EX" not in taken:
        return "EX", best[1], best[2] + "; exposure as collected in protocol units is EX (SDTMIG: EC only when " \
                                       "collected and administered doses differ)"
    return best


# Timing variables of the SDTM model's general observation classes that SDTMIG 3.4 does not list in every domain
# table (a domain may still use them): (name with -- for the domain prefix, label, type).
GENERAL_TIMING = (("VISITNUM", "Visit Number", "Num"), ("VISIT", "Visit Name", "Char"),
                  ("--DTC", "Date/Time of Collection", "Char"))


def domain_variables(domain: str) -> list[dict[str, str]]:
    """The domain's SDTMIG variables in order, plus the general timing variables its table does not list."""
    rows = list(ig_tables()[1].get(domain, []))
    if domain != "DM" and rows:
        names = {r["variable"] for r in rows}
        for name, label, vtype in GENERAL_TIMING:
            name = name.replace("--", domain)
            if name not in names:
                rows.append({"dataset": domain, "variable": name, "label": label, "type": vtype,
                             "codelist_codes": "", "role": "Timing", "core": "Perm"})
    return rows


def _candidates(domain: str) -> list[dict[str, str]]:
    skip = {"STUDYID", "DOMAIN", "USUBJID", f"{domain}SEQ", "SUBJID"} if domain != "DM" else {
        "STUDYID", "DOMAIN", "USUBJID"}
    return [v for v in domain_variables(domain) if v["variable"] not in skip]


ABBREVIATIONS = {"DT": "date", "DAT": "date", "DTC": "date", "TM": "time", "TIM": "time", "CD": "code",
                 "IC": "informed consent", "COL": "collection", "ST": "start", "EN": "end", "BRTH": "birth",
                 "DTH": "death", "NM": "name", "TRT": "treatment", "LOC": "location", "POS": "position",
                 "FRQ": "frequency", "DOS": "dose", "U": "unit", "SEV": "severity", "REL": "relationship",
                 "ACN": "action"}


def name_words(name: str) -> str:
    """A field name read as words, for a form without labels: IC_DT -> "informed consent date", PLANNED_ARMCD ->
    "planned arm code" (a part ending in a known abbreviation is split)."""
    words = []
    for part in re.split(r"[^A-Za-z0-9]+", _bare(name)):  # over the parts of one name
        part = part.upper()
        if part in ABBREVIATIONS:
            words.append(ABBREVIATIONS[part])
            continue
        tail = next((a for a in sorted(ABBREVIATIONS, key=len, reverse=True)
                     if part.endswith(a) and len(part) - len(a) >= 3), None)
        words += [part[: -len(tail)].lower(), ABBREVIATIONS[tail]] if tail else [part.lower()]
    return " ".join(words)


def _score(f: RawField, var: dict[str, str], domain: str, alias: str = "") -> tuple[float, list[str]]:
    """How likely field f feeds variable var, and why.  `alias` is a domain prefix the form's names use instead of
    the domain's own (EC for EX)."""
    name, vname, vlabel = _bare(f.name), var["variable"], var["label"]
    if alias and name.startswith(alias):
        name = domain + name[len(alias):]
    is_dtc = vname.endswith("DTC")
    empty = f.length == 0  # no value collected: the type is unknown, the name may still tell
    if not empty and ((f.datatype == "date") != is_dtc or f.datatype == "time"):
        return 0.0, []
    if not empty and var["type"] == "Num" and f.datatype not in ("integer", "float"):
        return 0.0, []
    score, why = 0.0, []
    stem = vname[len(domain):] if vname.startswith(domain) else vname
    if name == vname:
        score, why = 0.95, [f"name {f.name} is {vname}"]
    elif name in (stem, domain + name) and len(stem) > 2:
        score, why = 0.85, [f"name {f.name} is {vname} without its domain prefix"]
    elif is_dtc and (m := _DATE_NAME.match(name)) and m["stem"] and vname in (m["stem"] + "DTC",
                                                                              domain + m["stem"] + "DTC"):
        score, why = 0.9, [f"date name {f.name} -> {vname}"]
    elif len(vname) >= 5 and name.startswith(vname):
        score, why = 0.6, [f"name {f.name} starts with {vname}"]
    label = f.label if f.label and f.label != f.name else name_words(f.name)
    fw, vw = _words(label), _words(vlabel) | ({"date"} if is_dtc else set())
    if fw:
        overlap = len(fw & vw) / len(fw)
        if overlap >= 0.5:
            said = f"label '{f.label}'" if label == f.label else f"name read as '{label}'"
            if overlap == 1.0 and len(fw) >= 2 and score < 0.8:  # fewer other words in the variable label: better
                score, why = max(score, 0.75 + 0.05 * len(fw & vw) / len(vw)), why + [f"{said} within '{vlabel}'"]
            elif score < 0.6 and overlap >= 0.66:
                score, why = max(score, 0.55), why + [f"{said} ~ '{vlabel}'"]
            elif score:
                score, why = min(score + 0.03, 0.99), why + [f"label agrees ('{vlabel}')"]
    return round(score, 2), why


def _ct_fit(f: RawField, var: dict[str, str]) -> tuple[CtCodelist, dict[str, str]] | None:
    """The variable's codelist and the term of each collected value, when every value resolves."""
    code = (var.get("codelist_codes") or "").split(";")[0].strip()
    cl = ct_codelists().get(code)
    if cl is None or not f.values:
        return None
    resolved = {v: cl.resolve(v) for v in f.values}
    if any(t is None for t in resolved.values()):
        return None
    return cl, {v: t for v, t in resolved.items()}


def propose_block(table: RawTable, domain: str, subject: str, site: str, alias: str = "") -> list[Proposal]:
    """For each field of the form, the best-scoring variable of the domain (each variable taken once)."""
    candidates = _candidates(domain)
    scored = []
    for f in table.fields:  # over the fields x the domain's variables (a few hundred pairs)
        if f.name in (subject, site) and domain != "DM":
            continue
        for var in candidates:
            s, why = _score(f, var, domain, alias)
            fit = _ct_fit(f, var) if s else None
            if fit is not None:
                s, why = min(s + 0.05, 0.99), why + [f"all {len(f.values)} values are terms of {fit[0].name}"]
            if s >= MIN_CONFIDENCE:
                scored.append((s, f, var, why, fit))
    scored.sort(key=lambda x: -x[0])
    used_fields, used_vars, out = set(), set(), []
    for s, f, var, why, fit in scored:  # greedy: best pairs first
        if f.name in used_fields or var["variable"] in used_vars:
            continue
        used_fields.add(f.name)
        used_vars.add(var["variable"])
        rule: dict = {"assign": f.name}
        p = Proposal(table.name, f.name, f.label, domain, var["variable"], rule, s, "; ".join(why))
        if var["variable"].endswith("DTC"):
            p.rule = {"dtc": f.name}
            tf = _time_partner(table, f)
            if tf is not None:
                p.rule["time"] = tf.name
                used_fields.add(tf.name)
                p.evidence += f"; time from {tf.name}"
        elif fit is not None:
            p.rule = {"ct": f.name}
            p.codelist, p.synonyms = fit[0].code, fit[1]
        out.append(p)
    if domain == "DM":
        for var, src in (("SUBJID", subject), ("SITEID", site)):
            if src and var not in used_vars and src not in used_fields:
                out.append(Proposal(table.name, src, src, "DM", var, {"assign": src}, 0.9,
                                    f"the export's {'subject' if var == 'SUBJID' else 'site'} identifier"))
                used_fields.add(src)
    for f in table.fields:
        if f.name not in used_fields and f.name not in (subject, site):
            out.append(Proposal(table.name, f.name, f.label, domain, "", {}, 0.0,
                                f"no {domain} variable matches its name, label or values", "todo"))
    return out


def _time_partner(table: RawTable, f: RawField) -> RawField | None:
    """The time field collected with a date field: AESTDAT + AESTTIM, DSDTCOL + DSTMCOL."""
    name = _bare(f.name)
    m = _DATE_NAME.match(name)
    wanted = {name.replace("DAT", "TIM", 1), name.replace("DT", "TM", 1)} - {name}
    for other in table.fields:
        t = _TIME_NAME.match(_bare(other.name))
        if other.datatype == "time" and ((m and t and t["stem"] == m["stem"]) or _bare(other.name) in wanted):
            return other
    return None


def _identifier(tables: list[RawTable], names: tuple[str, ...]) -> str:
    """The field present in every form whose name is the most likely subject (site) identifier."""
    common = set.intersection(*({f.name for f in t.fields} for t in tables)) if tables else set()
    for n in names:
        for c in sorted(common):
            if _bare(c) == n:
                return c
    return ""


# ---------------------------------------------------------------------------------------------------------------
# the spec folder


@dataclass
class DraftResult:
    out: Path
    proposals: list[Proposal]
    forms: dict[str, str]  # form -> domain ('' when not mapped)
    files: dict[str, str]

    @property
    def todos(self) -> list[str]:
        return [line for text in self.files.values() for line in text.splitlines() if "TODO" in line]


def _flow(obj) -> str:
    """One YAML flow value on one line (a plain scalar without the document end marker)."""
    text = yaml.safe_dump(obj, default_flow_style=True, width=10_000, allow_unicode=True, sort_keys=False)
    return text.removesuffix("\n...\n").strip()


def _dates(tables: list[RawTable]) -> str:
    from cdiscflow.sdtm.raw.dates import parse_date

    last = ""
    for t in tables:
        for f in t.fields:
            if f.datatype == "date":
                iso = parse_date(t.data[f.name], f.format).iso.dropna()
                if len(iso):
                    last = max(last, str(iso.max())[:10])
    return last if len(last) == 10 else date.today().isoformat()


def draft_spec(raw: str | Path, out: str | Path, *, standard: str = "sdtmig-3.4", force: bool = False,
               studyid: str = "") -> DraftResult:
    if standard not in STANDARDS:
        raise InputError(f"--standard {standard}: known {', '.join(STANDARDS)}")
    export = profile_export(Path(raw))
    tables = export.tables
    subject = _identifier(tables, SUBJECT_NAMES)
    if not subject:
        raise InputError(f"{raw}: no field in every form names the subject ({', '.join(SUBJECT_NAMES)})")
    site = _identifier(tables, SITE_NAMES)
    domains: dict[str, tuple[str, float, str]] = {}
    taken: set[str] = set()
    for t in sorted(tables, key=lambda t: t.name):  # a domain is fed by one form (the best named)
        guess = domain_of(t, taken)
        if guess and guess[0] not in taken:
            domains[t.name] = guess
            taken.add(guess[0])
    if "DM" not in taken:
        roster = max(tables, key=lambda t: (t.data[subject].is_unique, t.data[subject].nunique(), -len(t.fields)))
        domains[roster.name] = ("DM", 0.5, f"one row per subject ({len(roster.data)} rows): the subject roster")
    proposals = [p for t in tables if t.name in domains
                 for p in propose_block(t, domains[t.name][0], subject, site, _alias(domains[t.name]))]
    for form, (domain, _, _) in list(domains.items()):  # a domain no field feeds is not a proposal
        if domain != "DM" and not any(p.form == form and p.status == "proposed" for p in proposals):
            del domains[form]
            proposals = [p for p in proposals if p.form != form]
    files = _files(export, domains, proposals, subject, site, standard, studyid or export.studyid)
    write_folder(files, out, force=force)
    return DraftResult(Path(out), proposals, {t.name: domains.get(t.name, ("",))[0] for t in tables}, files)


def _files(export: Export, domains, proposals: list[Proposal], subject: str, site: str, standard: str,
           studyid: str) -> dict[str, str]:
    tables = export.tables
    ct = ct_codelists()
    codelist_of = {(p.form, p.field): ct[p.codelist].name for p in proposals if p.codelist}
    files = {"study.yaml": _study_yaml(export, studyid, subject, site, standard, _dates(tables)),
             "forms.yaml": _forms_yaml(export, domains, codelist_of)}
    ig_ds = ig_tables()[0]
    ds_rows, var_rows = [], []
    keys = _ig_keys()
    for form, (domain, conf, why) in sorted(domains.items(), key=lambda kv: kv[1][0] != "DM"):
        mine = [p for p in proposals if p.form == form and p.status == "proposed"]
        row = ig_ds[domain]
        ds_rows.append({"standard": "SDTM", "dataset": domain, "label": row["label"], "class": row["class"].upper().replace("-", " "),
                        "structure": row["structure"], "keys": keys.get(domain, f"STUDYID,USUBJID,{domain}SEQ"),
                        "repeating": "No" if domain == "DM" else "Yes", "reference_data": "No",
                        "comment": f"Drafted by cdiscflow init from form {form}"})
        wanted = {"STUDYID", "DOMAIN", "USUBJID"} | ({f"{domain}SEQ"} if domain != "DM" else set())
        wanted |= {p.variable for p in mine}
        order = 0
        for v in domain_variables(domain):
            if v["variable"] not in wanted:
                continue
            order += 1
            p = next((p for p in mine if p.variable == v["variable"]), None)
            var_rows.append({"dataset": domain, "order": str(order), "variable": v["variable"], "label": v["label"],
                             "datatype": _datatype(v, p, export), "length": "",
                             "codelist": ct[p.codelist].name if p and p.codelist else "",
                             "origin": "Collected" if p else ("Derived" if v["variable"] in ("USUBJID",)
                                                              or v["variable"].endswith("SEQ") else "Assigned"),
                             "source": "", "core": v["core"], "role": v["role"]})
        files[f"sdtm/{domain.lower()}.yaml"] = _mapping_yaml(form, domain, conf, why, proposals, export)
    files["datasets.csv"] = csv_text(DATASET_COLUMNS, ds_rows)
    files["variables.csv"] = csv_text(VARIABLE_COLUMNS, var_rows)
    files["codelists.csv"] = csv_text(CODELIST_COLUMNS, _codelist_rows(proposals))
    files["proposals.csv"] = _proposals_csv(proposals, tables, domains)
    return files


@lru_cache(maxsize=None)
def _ig_keys() -> dict[str, str]:
    with open(STANDARDS_DIR / "ig-keys.csv", encoding="utf-8") as fh:
        return {r["dataset"]: r["keys"] for r in csv.DictReader(fh) if r["standard"] == "SDTM"}


def _datatype(var: dict[str, str], p: Proposal | None, export: Export) -> str:
    if var["variable"].endswith("DTC"):
        return "datetime" if p is not None and "time" in p.rule else "partialDate"
    if var["type"] == "Num":
        if p is not None:
            f = _field(export, p.form, p.field)
            return "float" if f is not None and f.datatype == "float" else "integer"
        return "integer"
    return "text"


def _field(export: Export, form: str, name: str) -> RawField | None:
    t = next((t for t in export.tables if t.name == form), None)
    return next((f for f in t.fields if f.name == name), None) if t else None


def _codelist_rows(proposals: list[Proposal]) -> list[dict[str, str]]:
    ct = ct_codelists()
    rows: list[dict[str, str]] = []
    used: dict[str, dict[str, set[str]]] = {}
    for p in proposals:
        if p.codelist:
            terms = used.setdefault(p.codelist, {})
            for value, term in p.synonyms.items():
                terms.setdefault(term, set())
                if value != term:
                    terms[term].add(value)
    for code in sorted(used, key=lambda c: ct[c].name):
        cl = ct[code]
        for i, term in enumerate(sorted(used[code]), start=1):
            rows.append({"codelist": cl.name, "codelist_code": code, "codelist_name": cl.name if i > 1 else cl.name,
                         "extensible": "Yes" if cl.extensible else "No", "datatype": "text", "term": term,
                         "term_code": cl.terms[term][0], "decode": "", "synonyms": ";".join(sorted(used[code][term])),
                         "dictionary": "", "version": "", "order": str(i)})
    return rows


def _study_yaml(export: Export, studyid: str, subject: str, site: str, standard: str, datacut: str) -> str:
    version, _ = STANDARDS[standard]
    doc = {"studyid": studyid, "name": studyid, "datacut": datacut,
           "standards": {"SDTMIG": version, "SDTM": "2.0", "define": "2.1.0",
                         "ct": {"SDTM": "2025-03-28", "Define-XML": "2025-09-26"}},
           "raw": {"subject": subject, **({"site": site} if site else {}), "usubjid": f"{{{subject}}}" if subject == "USUBJID" else f"{{STUDYID}}-{{{subject}}}",
                   **({"comment": export.comment} if export.comment else {})}}
    head = ("# Drafted by `cdiscflow init` from a raw export: check every value, then run `cdiscflow check-spec`.\n"
            "# datacut is the last date found in the data (no cut-off was given).\n")
    return head + yaml.safe_dump(doc, sort_keys=False, width=110)


def _forms_yaml(export: Export, domains, codelist_of) -> str:
    lines = ["# Raw form dictionary drafted by `cdiscflow init` "
             + ("from the ODM metadata (ItemDef DataType, Question, CodeList)." if export.kind == "odm"
                else "from the values (types, date formats) and the SAS labels where the files hold them."),
             "# Check types, formats and labels; `keys:` (the fields identifying one row) are left to you.", ""]
    skipped = [t for t in export.tables if t.name not in domains]
    for t in skipped:
        lines.append(f"# TODO: form {t.name} ({t.file}, {len(t.data)} rows) matches no SDTM domain; add it here "
                     "and map it in sdtm/, or leave it out")
    lines.append("forms:")
    for t in export.tables:
        if t.name not in domains:
            continue
        lines += [f"  {t.name}:", f"    file: {_flow(t.file)}", f"    label: {_flow(t.label)}", "    fields:"]
        for f in t.fields:
            d = {"name": f.name, "label": f.label}
            if f.datatype != "text":
                d["type"] = f.datatype
            if f.format:
                d["format"] = f.format.split("|") if "|" in f.format else f.format
            cl = codelist_of.get((t.name, f.name))
            if cl:
                d["codelist"] = cl
            elif f.values and len(f.values) <= 12:
                d["description"] = "values: " + ", ".join(f.values)
            if f.description:
                d["description"] = (d.get("description", "") + "; " + f.description).lstrip("; ")
            lines.append(f"      - {_flow(d)}")
        lines.append("")
    return "\n".join(lines) + "\n"


def _mapping_yaml(form: str, domain: str, conf: float, why: str, proposals: list[Proposal], export: Export) -> str:
    mine = [p for p in proposals if p.form == form]
    table = next(t for t in export.tables if t.name == form)
    order = {f.name: i for i, f in enumerate(table.fields)}
    lines = [f"# Drafted by `cdiscflow init`: form {form} ({table.file}) -> {domain}, confidence {conf:.2f} ({why}).",
             "# Each rule says why it was proposed and how sure init is; check each, then delete the comment.",
             f"dataset: {domain}", f"description: {_flow('Drafted from form ' + form + '; check every rule.')}",
             "blocks:", f"  - form: {_flow(form)}", "    map:"]
    for p in sorted((p for p in mine if p.status == "proposed"), key=lambda p: order.get(p.field, 0)):
        lines.append(f"      {p.variable}: {_flow(p.rule)}  # {p.confidence:.2f}: {p.evidence}")
    todo = [p for p in mine if p.status == "todo"]
    if todo:
        lines.append("    ignore:")
        for p in sorted(todo, key=lambda p: order.get(p.field, 0)):
            reason = f"TODO: map it, or give the reason it is not mapped (init: {p.evidence})"
            lines.append(f"      {_flow(p.field)}: {_flow(reason)}")
    if domain != "DM":
        lines += ["derive:", f"  {domain}SEQ: {{derive: seq}}"]
    return "\n".join(lines) + "\n"


def _proposals_csv(proposals: list[Proposal], tables: list[RawTable], domains) -> str:
    rows = [{"form": p.form, "field": p.field, "label": p.label, "dataset": p.dataset, "variable": p.variable,
             "rule": _flow(p.rule) if p.rule else "", "confidence": f"{p.confidence:.2f}", "evidence": p.evidence,
             "status": p.status} for p in proposals]
    rows += [{"form": t.name, "field": "", "label": t.label, "dataset": "", "variable": "", "rule": "",
              "confidence": "0.00", "evidence": "no SDTM domain matches the form's name or label", "status": "todo"}
             for t in tables if t.name not in domains]
    return csv_text(("form", "field", "label", "dataset", "variable", "rule", "confidence", "evidence", "status"), rows)


def spec_todos(path: str | Path) -> list[str]:
    """Every line of the spec folder's YAML files that holds "TODO", as 'file:line: text' (check-spec lists them)."""
    root = Path(path)
    out = []
    for p in sorted(root.rglob("*.yaml")):  # over the spec's YAML files
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
            if "TODO" in line:
                out.append(f"{p.relative_to(root).as_posix()}:{i}: {line.strip().lstrip('#').strip()}")
    return out


def agreement(reference, drafted) -> pd.DataFrame:
    """Per variable that a reference spec maps from raw data (block rules), what the drafted spec proposes and
    whether it is the same rule: same kind (assign, ct, dtc, hardcode) and same raw field(s).  `reference` and
    `drafted` are loaded StudySpecs."""
    def rules(spec) -> dict[tuple[str, str], set[str]]:
        out: dict[tuple[str, str], set[str]] = {}
        for m in spec.mappings.values():
            for b in m.blocks:
                for var, rs in b.rules.items():
                    for r in rs:
                        out.setdefault((m.dataset, var), set()).add(_rule_key(r, spec.forms[b.form].file))
        return out

    ref, new = rules(reference), rules(drafted)
    rows = [{"dataset": ds, "variable": var, "reference": " | ".join(sorted(ref[(ds, var)])),
             "proposed": " | ".join(sorted(new.get((ds, var), ()))),
             "identical": bool(ref[(ds, var)] & new.get((ds, var), set()))} for ds, var in sorted(ref)]
    return pd.DataFrame(rows, columns=["dataset", "variable", "reference", "proposed", "identical"])


def _alias(guess: tuple[str, float, str]) -> str:
    return "EC" if guess[0] == "EX" and "exposure as collected" in guess[2] else ""


def _rule_key(rule, form: str) -> str:
    src = rule.source
    src = ",".join(map(str, src)) if isinstance(src, (list, tuple)) else str(src)
    return f"{rule.kind}:{form}.{src}" if rule.kind in ("assign", "ct", "dtc") else f"{rule.kind}:{src}"
