"""The conformance rule catalogue: checks across records and datasets that a per-dataset schema cannot express.

Every rule is data (ID, severity, message, the datasets it needs, references to the published CDISC rules it
follows) plus one small function, registered with `@rule` in this module; `RULES` is the read-only registry.
A rule function receives a `RuleContext` and the names of the datasets it applies to, and yields findings frames
built with `ctx.hits(dataset, mask, ...)` from boolean masks over whole columns.  A rule whose datasets are absent
is skipped (and listed as skipped), never an error.  References name CDISC CORE rule IDs (and the SDTMIG
conformance rule / FDA business rule IDs they implement) from the published CORE rule set; cdiscflow's code is
its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from cdiscflow.core.findings import COLUMNS, SEVERITIES
from cdiscflow.specs.model import StudySpec
from cdiscflow.validation import iso8601
from cdiscflow.core.text import isin, lookup
from cdiscflow.validation.define import Define
from cdiscflow.validation.metadata import response_criteria, visible

SOURCE = "conformance rules"


# ----------------------------------------------------------------------------------------------------------------
# context


class RuleContext:
    """The datasets (row numbers = position + 1), their standards, the study spec and define.xml, if any."""

    def __init__(self, datasets: Mapping[str, pd.DataFrame], standards: Mapping[str, str] | None = None,
                 spec: StudySpec | None = None, define: Define | None = None):
        self.datasets = {k.upper(): v.reset_index(drop=True) for k, v in datasets.items()}
        self.standards = {k: (standards or {}).get(k) or ("ADaM" if k.startswith("AD") else "SDTM")
                          for k in self.datasets}
        self.spec = spec
        self.define = define
        self._cache: dict = {}

    def __contains__(self, name: str) -> bool:
        return name in self.datasets

    def provides(self, need: str) -> bool:
        """A rule's requirement is met: 'DM' (a dataset), 'DM.USUBJID' (a dataset with a variable), 'define.xml'."""
        if need == "define.xml":
            return self.define is not None
        name, _, column = need.partition(".")
        return name in self.datasets and (not column or column in self.datasets[name].columns)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.datasets[name]

    def names(self, standard: str, *columns: str, exclude: Sequence[str] = ()) -> list[str]:
        """Datasets of a standard that have all `columns`, in name order."""
        return sorted(n for n, df in self.datasets.items()
                      if self.standards[n] == standard and n not in exclude and all(c in df.columns for c in columns))

    def per_subject(self, dataset: str, column: str) -> pd.Series:
        """`column` of a one-record-per-subject dataset as a Series indexed by USUBJID (first record wins)."""
        key = ("per_subject", dataset, column)
        if key not in self._cache:
            df = self[dataset]
            first = df.loc[df["USUBJID"].notna()].drop_duplicates("USUBJID")
            values = first[column] if column in first.columns else pd.Series(np.nan, index=first.index)
            self._cache[key] = pd.Series(values.array, index=pd.Index(first["USUBJID"].to_numpy()), name=column)
        return self._cache[key]

    def subject_value(self, dataset: str, source: str, column: str) -> pd.Series:
        """For each record of `dataset`, `column` of its subject's record in `source` (DM, ADSL ...)."""
        return lookup(self[dataset]["USUBJID"], self.per_subject(source, column))

    def subjects_of(self, dataset: str) -> pd.Index:
        key = ("subjects", dataset)
        if key not in self._cache:
            self._cache[key] = pd.Index(self[dataset]["USUBJID"].dropna().unique())
        return self._cache[key]

    def cached(self, key, compute: Callable[[], object]):
        """Compute something once per validation run (e.g. study days shared by two rules)."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def hits(self, dataset: str, mask, variable: str, *, value=None, expected=None, message=None) -> pd.DataFrame:
        """Findings for the records where `mask` is true.  value/expected/message are scalars or Series on the
        dataset's index (only the flagged rows need to be present)."""
        df = self[dataset]
        pos = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(pos) == 0:
            return _empty()
        subject = (df["USUBJID"].to_numpy(dtype=object)[pos] if "USUBJID" in df.columns else "")
        return pd.DataFrame({
            "dataset": dataset, "variable": variable, "subject": subject, "row": pos + 1,
            "value": _pick(value, pos), "expected": _pick(expected, pos), "message": _pick(message, pos),
        })

    def finding(self, dataset: str, variable: str = "", *, value="", expected="", message=None, subject="",
                row: int | None = None) -> pd.DataFrame:
        """One finding that is not tied to a record mask (a dataset, a variable, a codelist ...)."""
        return pd.DataFrame([{"dataset": dataset, "variable": variable, "subject": subject, "row": row,
                              "value": value, "expected": expected, "message": message}])


def _pick(x, pos: np.ndarray):
    if x is None:
        return None
    if isinstance(x, pd.Series):
        return x.reindex(pos).to_numpy(dtype=object)
    if isinstance(x, np.ndarray):
        return x[pos]
    return x


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=["dataset", "variable", "subject", "row", "value", "expected", "message"])


# ----------------------------------------------------------------------------------------------------------------
# the registry


@dataclass(frozen=True)
class Scope:
    """Which datasets a rule reads beyond the ones it requires: a description and how to find them."""

    text: str
    find: Callable[[RuleContext], list[str]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    message: str  # what is wrong, in one sentence (the dataset name is put in front)
    requires: tuple[str, ...]  # datasets (or 'define.xml') that must be present
    check: Callable[[RuleContext, list[str]], Iterable[pd.DataFrame]]
    scope: Scope | None = None
    references: str = ""
    standard: str = "SDTM"

    @property
    def reads(self) -> str:
        """The datasets the rule reads, in words ("DM; SDTM datasets with USUBJID")."""
        scope = self.scope.text if self.scope is not None else ""
        names = list(dict.fromkeys(r.split(".")[0] if r != "define.xml" else r for r in self.requires))
        parts = [r for r in names if not scope.startswith(f"{r} with")]
        return "; ".join(parts + ([scope] if scope else []))

    def targets(self, ctx: RuleContext) -> tuple[list[str], str]:
        """(datasets to check, reason for skipping or '')."""
        missing = [r for r in self.requires if not ctx.provides(r)]
        if missing:
            return [], f"needs {', '.join(missing)}"
        found = (self.scope.find(ctx) if self.scope is not None
                 else list(dict.fromkeys(r.split(".")[0] for r in self.requires if r != "define.xml")))
        if self.scope is not None and not found:
            return [], f"no {self.scope.text}"
        return found, ""

    def run(self, ctx: RuleContext) -> tuple[pd.DataFrame, str]:
        """(findings in core.findings COLUMNS, reason the rule was skipped or '')."""
        targets, skipped = self.targets(ctx)
        if skipped:
            return pd.DataFrame(columns=list(COLUMNS)), skipped
        parts = [p for p in self.check(ctx, targets) if p is not None and len(p)]
        if not parts:
            return pd.DataFrame(columns=list(COLUMNS)), ""
        out = pd.concat(parts, ignore_index=True)
        default = out["dataset"].astype(str) + ": " + self.message
        out["message"] = out["message"].where(out["message"].notna(), default)
        out["severity"], out["rule_id"], out["source"] = self.severity, self.id, SOURCE
        return out.reindex(columns=list(COLUMNS)), ""


_REGISTRY: dict[str, Rule] = {}
RULES: Mapping[str, Rule] = MappingProxyType(_REGISTRY)


def rule(id: str, severity: str, message: str, *, requires: Sequence[str] = (), scope: Scope | None = None,
         references: str = "", standard: str = "SDTM"):
    """Register the decorated function as the check of a catalogue rule."""
    if severity not in SEVERITIES:
        raise ValueError(f"rule {id}: unknown severity {severity!r}")

    def register(fn: Callable[[RuleContext, list[str]], Iterable[pd.DataFrame]]):
        if id in _REGISTRY:
            raise ValueError(f"rule {id} registered twice")
        _REGISTRY[id] = Rule(id, severity, message, tuple(requires), fn, scope, references, standard)
        return fn

    return register


def datasets_with(standard: str, *columns: str, exclude: Sequence[str] = (), text: str = "") -> Scope:
    return Scope(text or f"{standard} datasets with {', '.join(columns)}",
                 lambda ctx: ctx.names(standard, *columns, exclude=exclude))


# ----------------------------------------------------------------------------------------------------------------
# helpers


def _text(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s.notna(), "")


def _date_text(s: pd.Series) -> pd.Series:
    """ADaM dates for messages: 2020-01-31 (datetime64), or the number as given (SAS day numbers)."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return s.dt.strftime("%Y-%m-%d").astype(object)
    return _text(s).map(str)


def _is(s: pd.Series, value: str) -> pd.Series:
    return s.eq(value).fillna(False).astype(bool)


def _domain_prefix(name: str, df: pd.DataFrame) -> str:
    if "DOMAIN" in df.columns and df["DOMAIN"].notna().any():
        return str(df["DOMAIN"].dropna().iloc[0])
    return name[:2]


def _days(s: pd.Series) -> pd.Series:
    """Days since 1960-01-01 (SAS dates) from datetime64 or numeric SAS dates."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return (s - pd.Timestamp("1960-01-01")) / pd.Timedelta(days=1)
    return pd.to_numeric(s, errors="coerce").astype(float)


# ----------------------------------------------------------------------------------------------------------------
# SDTM: subjects and records


@rule("CF-SUBJ-001", "error", "USUBJID is not a subject in DM", requires=("DM.USUBJID",),
      scope=datasets_with("SDTM", "USUBJID", exclude=("DM",)), references="CORE-000201 (CG0029)")
def subjects_in_dm(ctx: RuleContext, targets: list[str]):
    known = ctx.subjects_of("DM")
    for name in targets:
        usubjid = ctx[name]["USUBJID"]
        yield ctx.hits(name, usubjid.notna() & ~isin(usubjid, known), "USUBJID", value=usubjid,
                       expected="a USUBJID of DM")


def _seq_datasets(ctx: RuleContext) -> list[str]:
    return [n for n in ctx.names("SDTM", "USUBJID")
            if f"{_domain_prefix(n, ctx[n])}SEQ" in ctx[n].columns]


@rule("CF-SEQ-001", "error", "--SEQ is not unique within the subject",
      scope=Scope("SDTM datasets with USUBJID and --SEQ", _seq_datasets), references="CORE-000544 (CG0028)")
def seq_unique(ctx: RuleContext, targets: list[str]):
    for name in targets:
        df = ctx[name]
        seq = f"{_domain_prefix(name, df)}SEQ"
        dup = df.duplicated(["USUBJID", seq], keep=False) & df["USUBJID"].notna() & df[seq].notna()
        yield ctx.hits(name, dup, seq, value=df[seq], expected="unique per USUBJID",
                       message=f"{name}: {seq} is used more than once for the subject")


def _date_pairs(df: pd.DataFrame) -> list[tuple[str, str]]:
    return [(c, c[:-5] + "ENDTC") for c in df.columns if c.endswith("STDTC") and c[:-5] + "ENDTC" in df.columns]


@rule("CF-DTC-001", "error", "start date/time is after the end date/time",
      scope=Scope("SDTM datasets with --STDTC and --ENDTC", lambda ctx: [
          n for n in ctx.names("SDTM") if _date_pairs(ctx[n])]),
      references="CORE-000718 (FB3209), CORE-000711 (FB3404), CORE-000714 (FB3408)")
def start_before_end(ctx: RuleContext, targets: list[str]):
    for name in targets:
        df = ctx[name]
        for start, end in _date_pairs(df):
            after = iso8601.compare(iso8601.parts(df[start]), iso8601.parts(df[end])) > 0
            rows = df.index[after]
            value = df.loc[rows, start].astype(str) + " > " + df.loc[rows, end].astype(str)
            yield ctx.hits(name, after, f"{start}, {end}", value=value, expected=f"{start} <= {end}",
                           message=f"{name}: {start} is after {end} (compared to the precision both have)")


# ----------------------------------------------------------------------------------------------------------------
# SDTM: study days


def _dy_pairs(df: pd.DataFrame) -> list[tuple[str, str]]:
    return [(c, c[:-2] + "DTC") for c in df.columns if c.endswith("DY") and c[:-2] + "DTC" in df.columns]


def _dy_datasets(ctx: RuleContext) -> list[str]:
    return [n for n in ctx.names("SDTM", "USUBJID", exclude=("DM",)) if _dy_pairs(ctx[n])]


def _study_days(ctx: RuleContext, name: str) -> list[tuple]:
    """(dy column, dtc column, dy values, expected day, computable mask, subject in DM mask) per --DY pair;
    computed once per dataset and shared by CF-DY-001 and CF-DY-002."""

    def compute() -> list[tuple]:
        ref = ctx.per_subject("DM", "RFSTDTC")
        ref_date = iso8601.to_date(ref) if len(ref) else pd.Series(dtype="datetime64[s]")
        df = ctx[name]
        in_dm = pd.Series(isin(df["USUBJID"], ref.index), index=df.index)
        r = lookup(df["USUBJID"], ref_date)
        out = []
        for dy, dtc in _dy_pairs(df):
            d = iso8601.to_date(df[dtc])
            delta = (d - r).dt.days
            expected = delta + (delta >= 0)
            out.append((dy, dtc, pd.to_numeric(df[dy], errors="coerce"), expected, d.notna() & r.notna(), in_dm))
        return out

    return ctx.cached(("study days", name), compute)


@rule("CF-DY-001", "error", "--DY does not match the date and DM.RFSTDTC (or is 0)",
      requires=("DM.USUBJID", "DM.RFSTDTC"),
      scope=Scope("SDTM datasets with --DY and --DTC pairs", _dy_datasets),
      references="CORE-000529 (CG0006), CORE-000558")
def study_day_value(ctx: RuleContext, targets: list[str]):
    for name in targets:
        for dy, dtc, value, expected, computable, _ in _study_days(ctx, name):
            wrong = value.notna() & ((computable & value.ne(expected)) | value.eq(0))
            yield ctx.hits(name, wrong, dy, value=value, expected=expected.astype("Int64"),
                           message=f"{name}: {dy} is not the study day of {dtc} counted from DM.RFSTDTC "
                                   f"(day 1 = RFSTDTC, no day 0)")


@rule("CF-DY-002", "error", "--DY is populated although the date or DM.RFSTDTC is not a complete date",
      requires=("DM.USUBJID", "DM.RFSTDTC"), scope=Scope("SDTM datasets with --DY and --DTC pairs", _dy_datasets),
      references="CORE-000354 (CG0007), CORE-000139 (CG0223)")
def study_day_without_dates(ctx: RuleContext, targets: list[str]):
    for name in targets:
        for dy, dtc, value, _, computable, in_dm in _study_days(ctx, name):
            yield ctx.hits(name, value.notna() & ~computable & in_dm, dy, value=value,
                           expected=f"missing unless {dtc} and DM.RFSTDTC are complete dates",
                           message=f"{name}: {dy} is populated but {dtc} or DM.RFSTDTC lacks a complete date")


# ----------------------------------------------------------------------------------------------------------------
# SDTM: trial design


@rule("CF-EPOCH-001", "error", "EPOCH is not an epoch of the trial arms (TA.EPOCH)", requires=("TA.EPOCH",),
      scope=datasets_with("SDTM", "EPOCH", exclude=("TA",)), references="CORE-000271 (CG0009)")
def epoch_in_ta(ctx: RuleContext, targets: list[str]):
    known = pd.Index(ctx["TA"]["EPOCH"].dropna().unique()) if "EPOCH" in ctx["TA"] else pd.Index([])
    for name in targets:
        epoch = ctx[name]["EPOCH"]
        yield ctx.hits(name, epoch.notna() & ~isin(epoch, known), "EPOCH", value=epoch,
                       expected=" | ".join(map(str, known)) or "a TA.EPOCH value")


_ARM_PAIRS = (  # (code, name, codes allowed outside TA, rule)
    ("ARMCD", "ARM", ("SCRNFAIL", "NOTASSGN"), "CF-ARM-001"),
    ("ACTARMCD", "ACTARM", ("SCRNFAIL", "NOTASSGN", "NOTTRT", "UNPLAN"), "CF-ARM-002"),
)


def _arm_hits(ctx: RuleContext, rule_id: str):
    code, label, exempt, _ = next(p for p in _ARM_PAIRS if p[3] == rule_id)
    dm, ta = ctx["DM"], ctx["TA"]
    if code not in dm.columns or "ARMCD" not in ta.columns:
        return
    arms = ta[[c for c in ("ARMCD", "ARM") if c in ta.columns]].drop_duplicates()
    pair = label in dm.columns and "ARM" in arms.columns
    left = dm[[code, label]] if pair else dm[[code]]
    right = arms.rename(columns={"ARMCD": code, "ARM": label}) if pair else arms[["ARMCD"]].rename(
        columns={"ARMCD": code})
    matched = left.merge(right.drop_duplicates().assign(_ok=True), how="left", on=list(left.columns))["_ok"]
    x = dm[code]
    bad = x.notna() & ~x.isin(exempt) & matched.isna().to_numpy()
    value = _text(x) + (" / " + _text(dm[label]) if pair else "")
    expected = " | ".join((_text(arms["ARMCD"]) + (" / " + _text(arms["ARM"]) if pair else "")).map(str).tolist())
    yield ctx.hits("DM", bad, f"{code}, {label}" if pair else code, value=value, expected=expected,
                   message=f"DM: {code}" + (f"/{label}" if pair else "") + " is not an arm of TA")


@rule("CF-ARM-001", "error", "ARMCD/ARM is not an arm of TA", requires=("DM.ARMCD", "TA.ARMCD"),
      references="CORE-000531 (CG0126), CORE-000367 (CG0117), CORE-000318 (FB0902)")
def planned_arm_in_ta(ctx: RuleContext, targets: list[str]):
    yield from _arm_hits(ctx, "CF-ARM-001")


@rule("CF-ARM-002", "error", "ACTARMCD/ACTARM is not an arm of TA", requires=("DM.ACTARMCD", "TA.ARMCD"),
      references="CORE-000331 (CG0124, CG0125), CORE-000208 (CG0512)")
def actual_arm_in_ta(ctx: RuleContext, targets: list[str]):
    yield from _arm_hits(ctx, "CF-ARM-002")


@rule("CF-TE-001", "error", "ETCD is not an element of TE", requires=("TE.ETCD",),
      scope=Scope("TA or SE with ETCD", lambda ctx: [n for n in ("TA", "SE") if n in ctx and "ETCD" in ctx[n]]),
      references="SDTMIG 3.4 trial design model (TE describes every element TA and SE use); SDTMIG 3.4 SE: "
                 "an unplanned element is ETCD = UNPLAN, described by SEUPDES")
def elements_in_te(ctx: RuleContext, targets: list[str]):
    known = pd.Index(ctx["TE"]["ETCD"].dropna().unique()) if "ETCD" in ctx["TE"] else pd.Index([])
    for name in targets:
        etcd = ctx[name]["ETCD"]
        allowed = known.append(pd.Index([UNPLANNED_ELEMENT])) if name == "SE" else known
        yield ctx.hits(name, etcd.notna() & ~isin(etcd, allowed), "ETCD", value=etcd,
                       expected=" | ".join(map(str, allowed)))


UNPLANNED_ELEMENT = "UNPLAN"  # SDTMIG 3.4 SE: the ETCD of an element the trial design does not plan


# ----------------------------------------------------------------------------------------------------------------
# SDTM: death


def _dm_col(ctx: RuleContext, column: str) -> pd.Series:
    dm = ctx["DM"]
    return dm[column] if column in dm.columns else pd.Series(np.nan, index=dm.index, dtype=object)


def _dm_rows_for(ctx: RuleContext, subjects: pd.Index) -> pd.Series:
    return ctx["DM"]["USUBJID"].isin(subjects)


@rule("CF-DTH-001", "error", "DTHDTC is populated but DTHFL is not 'Y'", requires=("DM",),
      references="CORE-000007 (CG0435)")
def death_date_needs_flag(ctx: RuleContext, targets: list[str]):
    dthdtc, dthfl = _dm_col(ctx, "DTHDTC"), _dm_col(ctx, "DTHFL")
    yield ctx.hits("DM", dthdtc.notna() & ~_is(dthfl, "Y"), "DTHFL", value=dthfl, expected="Y")


@rule("CF-DTH-002", "error", "DTHFL has a value other than 'Y' (it is 'Y' or missing)", requires=("DM",),
      references="CORE-000006 (CG0131)")
def death_flag_values(ctx: RuleContext, targets: list[str]):
    dthfl = _dm_col(ctx, "DTHFL")
    yield ctx.hits("DM", dthfl.notna() & ~_is(dthfl, "Y"), "DTHFL", value=dthfl, expected="Y or missing")


def _ds_death(ctx: RuleContext) -> pd.Series:
    ds = ctx["DS"]
    return _is(ds["DSDECOD"], "DEATH") if "DSDECOD" in ds.columns else pd.Series(False, index=ds.index)


@rule("CF-DTH-003", "error", "DS records a death but DM.DTHFL is not 'Y'", requires=("DM.USUBJID", "DS.USUBJID"),
      references="CORE-000252 (CG0136)")
def ds_death_needs_flag(ctx: RuleContext, targets: list[str]):
    dead = pd.Index(ctx["DS"].loc[_ds_death(ctx), "USUBJID"].dropna().unique())
    dthfl = _dm_col(ctx, "DTHFL")
    yield ctx.hits("DM", _dm_rows_for(ctx, dead) & ~_is(dthfl, "Y"), "DTHFL", value=dthfl, expected="Y",
                   message="DM: DS has a DSDECOD = DEATH record for the subject but DTHFL is not Y")


@rule("CF-DTH-004", "warning", "DM.DTHFL is 'Y' but DS has no DSDECOD = DEATH record",
      requires=("DM.USUBJID", "DS.USUBJID"),
      references="CORE-000679 (FB0608)")
def flag_needs_ds_death(ctx: RuleContext, targets: list[str]):
    dead = pd.Index(ctx["DS"].loc[_ds_death(ctx), "USUBJID"].dropna().unique())
    dthfl = _dm_col(ctx, "DTHFL")
    yield ctx.hits("DM", _is(dthfl, "Y") & ~_dm_rows_for(ctx, dead), "DTHFL", value=dthfl,
                   expected="a DS record with DSDECOD = DEATH")


@rule("CF-DTH-005", "warning", "DTHFL is 'Y' but DTHDTC is missing (acceptable only if the date is unknown)",
      requires=("DM",), references="CORE-000705 (FB0610)")
def flag_needs_date(ctx: RuleContext, targets: list[str]):
    dthfl, dthdtc = _dm_col(ctx, "DTHFL"), _dm_col(ctx, "DTHDTC")
    yield ctx.hits("DM", _is(dthfl, "Y") & dthdtc.isna(), "DTHDTC", value="", expected="date of death")


@rule("CF-DTH-006", "error", "AE records a fatal event (AESDTH = Y or AEOUT = FATAL) but DM.DTHFL is not 'Y'",
      requires=("DM.USUBJID", "AE.USUBJID"), references="CORE-000253 (CG0135), CORE-000254 (CG0134)")
def fatal_ae_needs_flag(ctx: RuleContext, targets: list[str]):
    ae = ctx["AE"]
    fatal = pd.Series(False, index=ae.index)
    for col, value in (("AESDTH", "Y"), ("AEOUT", "FATAL")):
        if col in ae.columns:
            fatal |= _is(ae[col], value)
    dead = pd.Index(ae.loc[fatal, "USUBJID"].dropna().unique())
    dthfl = _dm_col(ctx, "DTHFL")
    yield ctx.hits("DM", _dm_rows_for(ctx, dead) & ~_is(dthfl, "Y"), "DTHFL", value=dthfl, expected="Y")


@rule("CF-DTH-007", "warning", "the DS death date differs from DM.DTHDTC", requires=("DM.USUBJID", "DS.USUBJID"),
      references="SDTMIG 3.4 DM/DS assumptions (DTHDTC and the DS death record describe one event)")
def death_dates_agree(ctx: RuleContext, targets: list[str]):
    ds = ctx["DS"]
    if "DSSTDTC" not in ds.columns:
        return
    death = _ds_death(ctx)
    dthdtc = ctx.subject_value("DS", "DM", "DTHDTC")
    ds_day, dm_day = iso8601.to_date(ds["DSSTDTC"]), iso8601.to_date(dthdtc)
    differ = death & ds_day.notna() & dm_day.notna() & ds_day.ne(dm_day)
    yield ctx.hits("DS", differ, "DSSTDTC", value=ds["DSSTDTC"], expected=iso8601.date_part(dthdtc),
                   message="DS: the DEATH record's DSSTDTC is not the date of DM.DTHDTC")


# ----------------------------------------------------------------------------------------------------------------
# SDTM: adverse events

_SERIOUS_CRITERIA = ("AESCAN", "AESCONG", "AESDISAB", "AESDTH", "AESHOSP", "AESLIFE", "AESOD", "AESMIE")


def _criteria(ae: pd.DataFrame) -> tuple[list[str], pd.Series]:
    flags = [c for c in _SERIOUS_CRITERIA if c in ae.columns]
    any_y = ae[flags].eq("Y").any(axis=1) if flags else pd.Series(False, index=ae.index)
    return flags, any_y


@rule("CF-AE-001", "error", "AESER is 'Y' but no seriousness criterion (AESCAN ... AESMIE) is 'Y'",
      requires=("AE",), scope=Scope("AE with AESER", lambda ctx: ["AE"] if "AESER" in ctx["AE"] else []),
      references="CORE-000266 (CG0042)")
def serious_needs_criterion(ctx: RuleContext, targets: list[str]):
    ae = ctx["AE"]
    _, any_y = _criteria(ae)
    yield ctx.hits("AE", _is(ae["AESER"], "Y") & ~any_y, "AESER", value="Y",
                   expected="at least one of " + ", ".join(_SERIOUS_CRITERIA) + " = Y")


@rule("CF-AE-002", "error", "a seriousness criterion is 'Y' but AESER is not 'Y'", requires=("AE",),
      references="CORE-000022 (CG0041)")
def criterion_needs_serious(ctx: RuleContext, targets: list[str]):
    ae = ctx["AE"]
    flags, any_y = _criteria(ae)
    aeser = ae["AESER"] if "AESER" in ae.columns else pd.Series(np.nan, index=ae.index, dtype=object)
    bad = any_y & ~_is(aeser, "Y")
    rows = ae.index[bad]
    which = pd.Series("", index=rows, dtype=object)
    for c in flags:  # names of the criteria set to Y, built column by column
        which = which + np.where(ae.loc[rows, c].eq("Y").fillna(False), c + "=Y ", "")
    yield ctx.hits("AE", bad, "AESER", value=_text(aeser), expected="Y",
                   message="AE: AESER is not Y although " + which.str.strip())


# ----------------------------------------------------------------------------------------------------------------
# SDTM: response


def _rs_results(ctx: RuleContext) -> dict[tuple[str, str], tuple[frozenset[str], str]]:
    """(RSCAT, RSTESTCD) -> (valid results, where the list comes from); RSCAT '*' matches any category."""
    table: dict[tuple[str, str], tuple[frozenset[str], str]] = {}
    crit = response_criteria()
    for (cat, test), grp in crit.groupby(["rscat", "rstestcd"], sort=False):
        table[(cat, test)] = (frozenset(grp["result"]), "specs/standards/response-criteria.csv")
    spec = ctx.spec
    if spec is not None:
        for vl in spec.valuelevel:
            if vl.dataset != "RS" or vl.variable not in ("RSSTRESC", "RSORRES") or not vl.codelist:
                continue
            cl = spec.codelists.get(vl.codelist)
            if cl is None or not cl.terms:
                continue
            tests, cats = ["*"], ["*"]
            for w in vl.where:
                if w.comparator in ("EQ", "IN") and w.variable == "RSTESTCD":
                    tests = list(w.values)
                elif w.comparator in ("EQ", "IN") and w.variable == "RSCAT":
                    cats = list(w.values)
            for cat in cats:
                for test in tests:
                    table[(cat, test)] = (frozenset(cl.values), f"study spec valuelevel.csv (codelist {cl.id})")
    return table


@rule("CF-RS-001", "error", "the response result is not valid for its RSCAT/RSTESTCD", requires=("RS",),
      scope=Scope("RS with RSTESTCD and RSSTRESC", lambda ctx: ["RS"] if {"RSTESTCD", "RSSTRESC"} <= set(
          ctx["RS"].columns) else []),
      references="response criteria (IMWG 2016, RECIST 1.1) via specs/standards/response-criteria.csv or the "
                 "study's value-level metadata")
def response_result_valid(ctx: RuleContext, targets: list[str]):
    rs = ctx["RS"]
    table = _rs_results(ctx)
    cat = _text(rs["RSCAT"]) if "RSCAT" in rs.columns else pd.Series("", index=rs.index, dtype=object)
    test = _text(rs["RSTESTCD"])
    result = rs["RSSTRESC"]
    codes, combos = pd.factorize(cat + "\x1f" + test)
    for i, combo in enumerate(combos):
        c, t = combo.split("\x1f")
        entry = table.get((c, t)) or table.get(("*", t))
        if entry is None:
            continue
        allowed, origin = entry
        bad = (codes == i) & result.notna().to_numpy() & ~isin(result, allowed)
        yield ctx.hits("RS", bad, "RSSTRESC", value=result, expected=" | ".join(sorted(allowed)),
                       message=f"RS: RSSTRESC is not a {c or 'any-category'} {t} result ({origin})")


@rule("CF-RS-002", "note", "no list of valid results is known for this RSCAT/RSTESTCD; its results were not checked",
      requires=("RS",), scope=Scope("RS with RSTESTCD", lambda ctx: ["RS"] if "RSTESTCD" in ctx["RS"] else []))
def response_criteria_known(ctx: RuleContext, targets: list[str]):
    rs = ctx["RS"]
    table = _rs_results(ctx)
    cat = _text(rs["RSCAT"]) if "RSCAT" in rs.columns else pd.Series("", index=rs.index, dtype=object)
    test = _text(rs["RSTESTCD"])
    codes, combos = pd.factorize(cat + "\x1f" + test)
    counts = np.bincount(codes[codes >= 0], minlength=len(combos))
    for i, combo in enumerate(combos):
        c, t = combo.split("\x1f")
        if (c, t) in table or ("*", t) in table:
            continue
        first = int(np.flatnonzero(codes == i)[0])
        yield ctx.finding("RS", "RSCAT, RSTESTCD", value=f"RSCAT={c} RSTESTCD={t}", row=first + 1,
                          expected="a criterion in specs/standards/response-criteria.csv or the study's "
                                   "value-level metadata",
                          message=f"RS: {counts[i]} records of RSCAT '{c}' / RSTESTCD '{t}' were not checked: no "
                                  f"list of valid results is known for this criterion")


# ----------------------------------------------------------------------------------------------------------------
# SDTM: exposure


@rule("CF-EX-001", "error", "exposure lies outside DM.RFXSTDTC..RFXENDTC", requires=("DM.USUBJID", "EX.USUBJID"),
      scope=Scope("EX with EXSTDTC", lambda ctx: ["EX"] if "EXSTDTC" in ctx["EX"] else []),
      references="SDTMIG 3.4 DM: RFXSTDTC/RFXENDTC are the first/last exposure (CG0147, CG0148)")
def exposure_within_reference(ctx: RuleContext, targets: list[str]):
    ex = ctx["EX"]
    start = ex["EXSTDTC"]
    end = ex["EXENDTC"].fillna(start) if "EXENDTC" in ex.columns else start
    first = ctx.subject_value("EX", "DM", "RFXSTDTC")
    last = ctx.subject_value("EX", "DM", "RFXENDTC")
    early = iso8601.compare(iso8601.parts(start), iso8601.parts(first)) < 0
    late = iso8601.compare(iso8601.parts(end), iso8601.parts(last)) > 0
    bad = early | late
    rows = ex.index[bad]
    value = _text(start[rows]) + ".." + _text(end[rows])
    expected = "within " + _text(first[rows]) + ".." + _text(last[rows])
    yield ctx.hits("EX", bad, "EXSTDTC, EXENDTC", value=value, expected=expected,
                   message="EX: the exposure record starts before DM.RFXSTDTC or ends after DM.RFXENDTC")


@rule("CF-EX-002", "error", "RFXSTDTC/RFXENDTC are not the first EXSTDTC / last EXENDTC of the subject",
      requires=("DM.USUBJID", "EX.USUBJID"),
      scope=Scope("EX with EXSTDTC", lambda ctx: ["EX"] if "EXSTDTC" in ctx["EX"] else []),
      references="CORE-000239 (CG0148), CORE-000238 (CG0147)")
def reference_exposure_dates(ctx: RuleContext, targets: list[str]):
    ex, dm = ctx["EX"], ctx["DM"]
    start_day = iso8601.to_date(ex["EXSTDTC"])
    end_text = ex["EXENDTC"].fillna(ex["EXSTDTC"]) if "EXENDTC" in ex.columns else ex["EXSTDTC"]
    end_day = iso8601.to_date(end_text)
    by = ex["USUBJID"]
    firsts = start_day.groupby(by).min()
    lasts = end_day.groupby(by).max()
    for var, per_subject in (("RFXSTDTC", firsts), ("RFXENDTC", lasts)):
        want = per_subject.reindex(dm["USUBJID"].to_numpy()).set_axis(dm.index)  # (map() fails on empty frames)
        have_text = _dm_col(ctx, var)
        have = iso8601.to_date(have_text)
        missing = have_text.isna() & want.notna()
        differ = have.notna() & want.notna() & have.ne(want)
        word = "first EXSTDTC" if var == "RFXSTDTC" else "last EXENDTC (or EXSTDTC)"
        yield ctx.hits("DM", missing | differ, var, value=_text(have_text), expected=want.dt.strftime("%Y-%m-%d"),
                       message=f"DM: {var} is not the date of the subject's {word} in EX")


# ----------------------------------------------------------------------------------------------------------------
# ADaM


@rule("CF-ADSL-001", "error", "ADSL has more than one record for the subject", requires=("ADSL.USUBJID",),
      references="ADaMIG 1.3 section 3.1 (one record per subject)", standard="ADaM")
def adsl_one_per_subject(ctx: RuleContext, targets: list[str]):
    adsl = ctx["ADSL"]
    dup = adsl["USUBJID"].duplicated(keep=False) & adsl["USUBJID"].notna()
    yield ctx.hits("ADSL", dup, "USUBJID", value=adsl["USUBJID"], expected="one record per USUBJID")


@rule("CF-ADSL-002", "error", "the ADSL subject is not in DM", requires=("ADSL.USUBJID", "DM.USUBJID"),
      references="ADaMIG 1.3 section 3.1 (ADSL subjects come from DM)", standard="ADaM")
def adsl_subjects_in_dm(ctx: RuleContext, targets: list[str]):
    usubjid = ctx["ADSL"]["USUBJID"]
    yield ctx.hits("ADSL", usubjid.notna() & ~isin(usubjid, ctx.subjects_of("DM")), "USUBJID", value=usubjid,
                   expected="a USUBJID of DM")


@rule("CF-SUBJ-002", "error", "USUBJID is not a subject in ADSL", requires=("ADSL.USUBJID",),
      scope=datasets_with("ADaM", "USUBJID", exclude=("ADSL",)),
      references="ADaMIG 1.3 section 3.1 (every analysis subject is in ADSL)", standard="ADaM")
def subjects_in_adsl(ctx: RuleContext, targets: list[str]):
    known = ctx.subjects_of("ADSL")
    for name in targets:
        usubjid = ctx[name]["USUBJID"]
        yield ctx.hits(name, usubjid.notna() & ~isin(usubjid, known), "USUBJID", value=usubjid,
                       expected="a USUBJID of ADSL")


_TTE = datasets_with("ADaM", "CNSR", text="ADaM time-to-event datasets (with CNSR)")


@rule("CF-ADTTE-001", "error", "ADT is before STARTDT", scope=_TTE, references="ADaM BDS for time-to-event analysis (ADT is on or after the origin STARTDT)",
      standard="ADaM")
def tte_date_order(ctx: RuleContext, targets: list[str]):
    for name in targets:
        df = ctx[name]
        if not {"ADT", "STARTDT"} <= set(df.columns):
            continue
        bad = (_days(df["ADT"]) < _days(df["STARTDT"])).to_numpy()
        rows = df.index[bad]
        yield ctx.hits(name, bad, "ADT", value=_date_text(df.loc[rows, "ADT"]),
                       expected=">= STARTDT " + _date_text(df.loc[rows, "STARTDT"]))


@rule("CF-ADTTE-002", "error", "CNSR is missing or not a whole number >= 0 (0 = event, 1, 2 ... = censoring reasons)",
      scope=_TTE, references="ADaM BDS for time-to-event analysis: CNSR", standard="ADaM")
def tte_cnsr_values(ctx: RuleContext, targets: list[str]):
    for name in targets:
        cnsr = ctx[name]["CNSR"]
        x = pd.to_numeric(cnsr, errors="coerce")
        bad = x.isna() | (x < 0) | (x != np.floor(x))
        yield ctx.hits(name, bad, "CNSR", value=_text(cnsr), expected="0, 1, 2 ...")


@rule("CF-ADTTE-003", "error", "EVNTDESC is used both for events (CNSR = 0) and censorings (CNSR > 0) of a parameter",
      scope=_TTE, references="ADaM BDS for time-to-event analysis: EVNTDESC describes the event or censoring",
      standard="ADaM")
def tte_event_descriptions(ctx: RuleContext, targets: list[str]):
    for name in targets:
        df = ctx[name]
        if "EVNTDESC" not in df.columns:
            continue
        param = _text(df["PARAMCD"]) if "PARAMCD" in df.columns else pd.Series("", index=df.index, dtype=object)
        event = pd.to_numeric(df["CNSR"], errors="coerce").eq(0)
        key = param + "\x1f" + _text(df["EVNTDESC"])
        kinds = event.groupby(key).nunique()
        mixed = key.map(kinds).gt(1) & df["EVNTDESC"].notna()
        yield ctx.hits(name, mixed, "EVNTDESC", value=df["EVNTDESC"],
                       expected="one kind per parameter: event or censoring",
                       message=f"{name}: the same EVNTDESC describes events and censorings of " + param)


@rule("CF-ADTTE-004", "warning", "CNSDTDSC is populated on an event record (CNSR = 0)", scope=_TTE,
      references="ADaM BDS for time-to-event analysis: CNSDTDSC describes censoring dates only",
      standard="ADaM")
def tte_censor_description(ctx: RuleContext, targets: list[str]):
    for name in targets:
        df = ctx[name]
        if "CNSDTDSC" not in df.columns:
            continue
        bad = df["CNSDTDSC"].notna() & pd.to_numeric(df["CNSR"], errors="coerce").eq(0)
        yield ctx.hits(name, bad, "CNSDTDSC", value=df["CNSDTDSC"], expected="missing when CNSR = 0")


@rule("CF-ADTTE-005", "warning", "AVAL (days) is not ADT - STARTDT + 1", scope=_TTE,
      references="the day-count convention of the CDISC pilot and admiral ADTTE (AVAL = ADT - STARTDT + 1)",
      standard="ADaM")
def tte_aval_days(ctx: RuleContext, targets: list[str]):
    for name in targets:
        df = ctx[name]
        if not {"AVAL", "ADT", "STARTDT"} <= set(df.columns):
            continue
        in_days = (df["AVALU"].isna() | df["AVALU"].astype(str).str.upper().isin(["DAYS", "DAY", "D"])
                   if "AVALU" in df.columns else pd.Series(True, index=df.index))
        want = _days(df["ADT"]) - _days(df["STARTDT"]) + 1
        aval = pd.to_numeric(df["AVAL"], errors="coerce")
        bad = in_days & aval.notna() & want.notna() & (aval - want).abs().gt(1e-6)
        yield ctx.hits(name, bad, "AVAL", value=aval, expected=want)


def _adrs_options(ctx: RuleContext) -> tuple[tuple[str, ...], tuple[str, ...]]:
    opts = (ctx.spec.study.get("validation", {}) or {}).get("adrs", {}) if ctx.spec is not None else {}
    return tuple(opts.get("ovr", ("OVR", "OVRLRESP"))), tuple(opts.get("bor", ("BOR", "CBOR")))


def _adrs_datasets(ctx: RuleContext) -> list[str]:
    ovr, bor = _adrs_options(ctx)
    out = []
    for n in ctx.names("ADaM", "USUBJID", "PARAMCD", "AVALC"):
        codes = set(ctx[n]["PARAMCD"].dropna().unique())
        if codes & set(ovr) and codes & set(bor):
            out.append(n)
    return out


@rule("CF-ADRS-001", "error", "best overall response is better than the subject's best OVR record",
      scope=Scope("ADaM datasets with OVR and BOR/CBOR parameters", _adrs_datasets),
      references="ADaMIG 1.3 BDS; admiralonco best overall response (derived from OVR records)", standard="ADaM")
def best_response_consistent(ctx: RuleContext, targets: list[str]):
    ovr_codes, bor_codes = _adrs_options(ctx)
    crit = response_criteria()
    rank = crit.groupby("result")["rank"].min()
    worst = int(rank.max())  # no OVR record counts as not evaluable
    name_of = crit.sort_values("rank").drop_duplicates("rank").set_index("rank")["result"]
    for name in targets:
        df = ctx[name]
        r = df["AVALC"].map(rank)
        is_ovr = df["PARAMCD"].isin(ovr_codes)
        best = r[is_ovr].groupby(df.loc[is_ovr, "USUBJID"]).min()
        subject_best = lookup(df["USUBJID"], best).astype(float).fillna(worst)
        bad = df["PARAMCD"].isin(bor_codes) & r.notna() & r.lt(subject_best)
        expected = "no better than " + subject_best[bad].map(name_of).fillna("NE").astype(str) + " (best OVR)"
        yield ctx.hits(name, bad, "AVALC", value=df["AVALC"], expected=expected,
                       message=f"{name}: " + _text(df["PARAMCD"]) + " is better than every OVR record of the subject")


# ----------------------------------------------------------------------------------------------------------------
# define.xml


@rule("CF-DEF-001", "error", "the dataset is not described in define.xml", requires=("define.xml",),
      scope=Scope("every dataset", lambda ctx: sorted(ctx.datasets)), standard="define.xml",
      references="Define-XML 2.1 (every submitted dataset has an ItemGroupDef)")
def datasets_in_define(ctx: RuleContext, targets: list[str]):
    for name in targets:
        if name not in ctx.define.datasets:
            yield ctx.finding(name, value=name, expected="an ItemGroupDef in define.xml")


@rule("CF-DEF-002", "error", "the variable is not declared in define.xml", requires=("define.xml",),
      scope=Scope("datasets described in define.xml", lambda ctx: [n for n in sorted(ctx.datasets)
                                                                  if n in ctx.define.datasets]),
      standard="define.xml", references="Define-XML 2.1 (ItemRef/ItemDef for every variable)")
def variables_in_define(ctx: RuleContext, targets: list[str]):
    for name in targets:
        declared = ctx.define.datasets[name].variables
        for col in ctx[name].columns:
            if col not in declared:
                yield ctx.finding(name, col, value=col, expected=f"an ItemDef of {name}")


@rule("CF-DEF-003", "warning", "define.xml declares a variable the dataset does not have", requires=("define.xml",),
      scope=Scope("datasets described in define.xml", lambda ctx: [n for n in sorted(ctx.datasets)
                                                                  if n in ctx.define.datasets]),
      standard="define.xml", references="Define-XML 2.1 (metadata describe the submitted data)")
def define_variables_present(ctx: RuleContext, targets: list[str]):
    for name in targets:
        columns = set(ctx[name].columns)
        for var in ctx.define.datasets[name].variables:
            if var not in columns:
                yield ctx.finding(name, var, value="", expected=var)


@rule("CF-DEF-004", "error", "the value is not in the variable's define.xml codelist", requires=("define.xml",),
      scope=Scope("datasets described in define.xml", lambda ctx: [n for n in sorted(ctx.datasets)
                                                                  if n in ctx.define.datasets]),
      standard="define.xml", references="Define-XML 2.1 CodeList (CodeListItem/EnumeratedItem)")
def values_in_define_codelist(ctx: RuleContext, targets: list[str]):
    for name in targets:
        df = ctx[name]
        for var, oid in ctx.define.datasets[name].variables.items():
            cl = ctx.define.codelists.get(oid) if oid else None
            if cl is None or cl.values is None or var not in df.columns:
                continue
            s = df[var]
            if cl.datatype in ("integer", "float") or pd.api.types.is_numeric_dtype(s.dtype):
                allowed = pd.to_numeric(pd.Series(sorted(cl.values)), errors="coerce").dropna()
                bad = s.notna() & ~pd.to_numeric(s, errors="coerce").isin(allowed)
            else:
                bad = s.notna() & ~isin(s, cl.values)
            shown = sorted(visible(v) for v in cl.values)
            yield ctx.hits(name, bad, var, value=s,
                           expected=" | ".join(shown) if len(shown) <= 12 else f"one of {len(shown)} values of {oid}",
                           message=f"{name}: {var} is not a value of define.xml codelist {oid} ({cl.name})")


# ----------------------------------------------------------------------------------------------------------------
# running the catalogue


@dataclass
class RuleRun:
    """What happened to each rule: findings counted, or why it was skipped."""

    rule: Rule
    status: str  # ran | skipped | failed
    reason: str = ""
    findings: int = 0


def run_rules(ctx: RuleContext, rules: Iterable[Rule] | None = None) -> tuple[pd.DataFrame, list[RuleRun]]:
    """Run catalogue rules; a rule that raises is reported as a CF-ERR-001 finding and the others still run."""
    frames, runs = [], []
    for r in (rules if rules is not None else RULES.values()):
        try:
            found, skipped = r.run(ctx)
        except Exception as exc:  # reported, not swallowed: the finding names the rule and the error
            frames.append(pd.DataFrame([{
                "severity": "error", "rule_id": "CF-ERR-001", "dataset": "", "variable": "", "subject": "",
                "row": None, "value": r.id, "expected": "",
                "message": f"rule {r.id} could not run: {type(exc).__name__}: {exc}", "source": SOURCE}]))
            runs.append(RuleRun(r, "failed", f"{type(exc).__name__}: {exc}"))
            continue
        if skipped:
            runs.append(RuleRun(r, "skipped", skipped))
            continue
        frames.append(found)
        runs.append(RuleRun(r, "ran", findings=len(found)))
    frames = [f for f in frames if len(f)]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(COLUMNS))
    return out, runs


def catalogue() -> pd.DataFrame:
    """The rule catalogue as a table (ID, severity, standard, reads, message, references)."""
    return pd.DataFrame([{"rule_id": r.id, "severity": r.severity, "standard": r.standard, "reads": r.reads,
                          "message": r.message, "references": r.references} for r in RULES.values()])
