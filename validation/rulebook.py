"""How a conformance rule is written: the `RuleContext` a check reads, the `Rule` record and the `@rule` decorator
that registers a check, and the small column helpers the checks share.  The rules themselves are in
rules_sdtm.py, rules_adam.py and rules_define.py; validation/rules.py holds the catalogue and runs it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from cdiscflow.core.findings import COLUMNS, SEVERITIES
from cdiscflow.specs.model import StudySpec
from cdiscflow.core.text import lookup
from cdiscflow.validation.define import Define

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
        return finding(dataset, variable, value=value, expected=expected, message=message, subject=subject, row=row)


def finding(dataset: str, variable: str = "", *, value="", expected="", message=None, subject="",
            row: int | None = None) -> pd.DataFrame:
    """One finding as a rule yields it (`RuleContext.finding`, and a whole-study rule's `finish`, which has no
    context)."""
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


RowMap = Callable[[str, np.ndarray], np.ndarray]  # (dataset, 0-based rows of a partition) -> rows of the study


def same_rows(dataset: str, rows: np.ndarray) -> np.ndarray:
    """The row map of a study validated whole: a record's row is its row."""
    return rows


@dataclass(frozen=True)
class WholeStudy:
    """A rule whose findings depend on records of other subjects (a count, a mix over the whole dataset), split for
    validation by partitions of subjects (validation/partitioned.py): `part(ctx, targets)` summarises one
    partition's records (small, picklable; rows 0-based in the partition), `finish(summaries, row_maps)` makes the
    findings (rows 1-based in the study) from every partition's summary and row map, in partition order.  The
    rule's own check is `finish([part(ctx, targets)], [same_rows])`, so both paths share every text."""

    part: Callable[[RuleContext, list[str]], object]
    finish: Callable[[list, list[RowMap]], Iterable[pd.DataFrame]]

    def check(self, ctx: RuleContext, targets: list[str]) -> Iterable[pd.DataFrame]:
        return self.finish([self.part(ctx, targets)], [same_rows])


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
    whole_study: WholeStudy | None = None

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
        return self.complete(self.check(ctx, targets)), ""

    def complete(self, yielded: Iterable[pd.DataFrame]) -> pd.DataFrame:
        """The frames a check yielded as findings in core.findings COLUMNS (default message, severity, rule ID)."""
        parts = [p for p in yielded if p is not None and len(p)]
        if not parts:
            return pd.DataFrame(columns=list(COLUMNS))
        out = pd.concat(parts, ignore_index=True)
        default = out["dataset"].astype(str) + ": " + self.message
        out["message"] = out["message"].where(out["message"].notna(), default)
        out["severity"], out["rule_id"], out["source"] = self.severity, self.id, SOURCE
        return out.reindex(columns=list(COLUMNS))


_REGISTRY: dict[str, Rule] = {}  # id -> rule, as registered; validation/rules.py orders it into the catalogue RULES


def rule(id: str, severity: str, message: str, *, requires: Sequence[str] = (), scope: Scope | None = None,
         references: str = "", standard: str = "SDTM", whole_study: WholeStudy | None = None):
    """Register the decorated function as the check of a catalogue rule (`whole_study`: its split for partitions;
    the decorated function is then `whole_study.check`)."""
    if severity not in SEVERITIES:
        raise ValueError(f"rule {id}: unknown severity {severity!r}")

    def register(fn: Callable[[RuleContext, list[str]], Iterable[pd.DataFrame]]):
        if id in _REGISTRY:
            raise ValueError(f"rule {id} registered twice")
        _REGISTRY[id] = Rule(id, severity, message, tuple(requires), fn, scope, references, standard, whole_study)
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
