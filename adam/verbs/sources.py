"""SDTM datasets made ready for ADaM derivations: SUPP-- qualifiers on their parent records, ISO 8601 dates as dates.

`SourceData(sdtm)` wraps the SDTM frames (keyed by upper-case dataset name, as `map_study` or `read_datasets` give
them).  Asking for a dataset (`sources["DS"]`) returns, once and then from a cache:

* the parent domain with its SUPP-- qualifiers as variables (`combine_supp`: SUPPDS ENTRREAS becomes DS.ENTRREAS);
* for every ISO 8601 text variable ``<x>DTC`` a date ``<x>DT`` (no imputation: a partial date gives no date; a
  time is dropped): DSSTDTC -> DSSTDT, EXSTDTC -> EXSTDT, the qualifier FTRTDTC -> FTRTDT.  Datetimes are derived
  where a recipe needs them (ADSL's TRTSDTM from EX).

Dates that need imputation are derived explicitly by the recipes from `date_rules` (a `dates:` section of a
dataset's spec), which run before the automatic ones:

    dates:
      ASTDT: {dtc: AESTDTC, highest_imputation: M, date_imputation: first, min_dates: [TRTSDT]}
      DTHDT: {dtc: DTHDTC, highest_imputation: M}

The SDTM frames themselves are never changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping

import pandas as pd

from cdiscflow.adam.verbs.dates import DATE_LEVELS, derive_vars_dt, derive_vars_dtm, dtc_as_dates
from cdiscflow.adam.verbs.merge import combine_supp
from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.core.frames import with_columns
from cdiscflow.specs.model import NAME_RE


class SourceData:
    """Lazily prepared SDTM datasets (see the module text)."""

    def __init__(self, sdtm: Mapping[str, pd.DataFrame], qualifiers: Mapping[str, Iterable[str]] | None = None):
        """`qualifiers`: per parent domain, the QNAMs the spec declares (`supp_qualifiers(spec)`); one that no record
        has in this data cut (no ATRA-related AE yet, or its only record rejected) is still a variable, all missing."""
        self._raw = {str(k).upper(): v for k, v in sdtm.items()}
        self._qualifiers = {str(k).upper(): tuple(v) for k, v in (qualifiers or {}).items()}
        self._ready: dict[str, pd.DataFrame] = {}

    def __contains__(self, name: str) -> bool:
        return name.upper() in self._raw

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._raw)

    def raw(self, name: str) -> pd.DataFrame:
        return self._raw[self._known(name)]

    def __getitem__(self, name: str) -> pd.DataFrame:
        name = self._known(name)
        if name not in self._ready:
            frame = self._raw[name]
            supp = self._raw.get(f"SUPP{name}")
            if supp is not None and len(supp):
                frame = combine_supp(frame, supp, dataset_name=name, supp_name=f"SUPP{name}")
            absent = [q for q in self._qualifiers.get(name, ()) if q not in frame.columns]
            if absent:
                frame = frame.assign(**{q: pd.Series(pd.NA, index=frame.index, dtype="str") for q in absent})
            self._ready[name] = add_dates(frame, dataset_name=name)
        return self._ready[name]

    def _known(self, name: str) -> str:
        name = name.upper()
        if name not in self._raw:
            raise InputError(f"the ADaM derivations need SDTM dataset {name}, which is not among the inputs "
                             f"({', '.join(sorted(self._raw)) or 'none'})")
        return name


def supp_qualifiers(spec) -> dict[str, list[str]]:
    """Per parent domain, the QNAMs a study declares in valuelevel.csv (SUPPAE.QVAL where QNAM EQ AERELATR ...)."""
    out: dict[str, list[str]] = {}
    for row in spec.valuelevel:  # over value-level rows (a few dozen)
        if row.dataset.upper().startswith("SUPP") and row.variable.upper() == "QVAL":
            for clause in row.where:
                if clause.variable.upper() == "QNAM" and clause.comparator in ("EQ", "IN"):
                    out.setdefault(row.dataset.upper()[4:], []).extend(clause.values)
    return out


def add_dates(frame: pd.DataFrame, *, dataset_name: str = "dataset") -> pd.DataFrame:
    """Add ``<x>DT`` for every ``<x>DTC`` text variable (unless the frame already has a variable of that name), as
    `derive_vars_dt` without imputation derives it; the dates are joined on at once."""
    dates = {}
    for col in [c for c in frame.columns if isinstance(c, str) and c.endswith("DTC") and len(c) > 3]:
        prefix = col[:-3]
        text = frame[col]
        if not (pd.api.types.is_string_dtype(text) or text.dtype == object or text.isna().all()):
            continue
        if f"{prefix}DT" not in frame.columns:
            dates[f"{prefix}DT"] = dtc_as_dates(frame, col, dataset_name=dataset_name)
    return with_columns(frame, dates)


# ----------------------------------------------------------------------------------------------------------------
# explicit dates (with imputation) as data

_DATE_KEYS = {"dtc", "highest_imputation", "date_imputation", "time_imputation", "min_dates", "max_dates", "preserve",
              "flag"}


@dataclass(frozen=True)
class DateRule:
    """``NEW: {dtc: X, highest_imputation: M, ...}``: NEW (a ..DT date, or a ..DTM datetime) from the text X, with
    the imputation flag ..DTF (and ..TMF for datetimes) unless `flag` is false."""

    name: str
    dtc: str
    options: Mapping[str, Any] = field(default_factory=dict)
    flag: bool = True

    @property
    def datetime(self) -> bool:
        return self.name.endswith("DTM")

    def needs(self) -> tuple[str, ...]:
        return (self.dtc, *self.options.get("min_dates", ()), *self.options.get("max_dates", ()))

    def apply(self, dataset: pd.DataFrame, *, dataset_name: str = "dataset") -> pd.DataFrame:
        prefix = self.name[:-3] if self.datetime else self.name[:-2]
        work = dataset
        replaced = self.dtc == self.name  # a qualifier such as NACTDT that holds ISO 8601 text under a date's name
        if replaced:
            work = dataset.rename(columns={self.dtc: "__dtc__"})
        stale = [c for c in (self.name, f"{prefix}DTF", f"{prefix}TMF") if c in work.columns and c != self.dtc]
        work = work.drop(columns=stale)
        dtc = "__dtc__" if replaced else self.dtc
        opts = dict(self.options)
        if self.datetime:
            out = derive_vars_dtm(work, new_vars_prefix=prefix, dtc=dtc, dataset_name=dataset_name,
                                  flag_imputation="auto" if self.flag else "none", **opts)
        else:
            out = derive_vars_dt(work, new_vars_prefix=prefix, dtc=dtc, dataset_name=dataset_name,
                                 flag_imputation="auto" if self.flag else "none", **opts)
        return out.drop(columns="__dtc__") if replaced else out


def load_date_rules(section: Any, *, where: str) -> tuple[DateRule, ...]:
    """Parse a `dates:` section ({NEWDT: {dtc: ..., ...}}); raise SpecError listing every problem."""
    if section is None:
        return ()
    if not isinstance(section, Mapping):
        raise SpecError(f"{where}: must map each new date variable to {{dtc: <ISO 8601 variable>, ...}}")
    problems, rules = [], []
    for name, spec in section.items():
        item = f"{where}.{name}"
        if not isinstance(name, str) or not NAME_RE.match(name) or not (name.endswith("DT") or name.endswith("DTM")):
            problems.append(f"{item}: a new date variable ends in DT (date) or DTM (datetime)")
            continue
        if not isinstance(spec, Mapping) or not isinstance(spec.get("dtc"), str):
            problems.append(f"{item}: give the ISO 8601 text variable, e.g. {{dtc: AESTDTC}}")
            continue
        unknown = sorted(set(spec) - _DATE_KEYS)
        if unknown:
            problems.append(f"{item}: unknown key(s) {', '.join(unknown)} (expected {', '.join(sorted(_DATE_KEYS))})")
            continue
        level = spec.get("highest_imputation", "n")
        allowed = ("n", "s", "m", "h", "D", "M", "Y") if name.endswith("DTM") else DATE_LEVELS
        if level not in allowed:
            problems.append(f"{item}: highest_imputation {level!r} is not one of {', '.join(allowed)}")
            continue
        options = {k: (tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in spec.items()
                   if k not in ("dtc", "flag")}
        rules.append(DateRule(name, spec["dtc"], MappingProxyType(options), bool(spec.get("flag", True))))
    if problems:
        raise SpecError(problems)
    return tuple(rules)


def apply_date_rules(dataset: pd.DataFrame, rules: Iterable[DateRule], *, dataset_name: str = "dataset"
                     ) -> pd.DataFrame:
    for rule in rules:
        dataset = rule.apply(dataset, dataset_name=dataset_name)
    return dataset
