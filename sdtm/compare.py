"""Compare mapped SDTM datasets with a reference implementation of the same study, value by value.

A second programming of a study (or a public reference such as pharmaversesdtm) is the usual way to prove a
mapping: records are paired by key variables, then every variable both sides carry is compared record by record.
What may differ, and why, is written in the study spec (`comparison.yaml`), so an agreement test can demand exact
counts: an unexplained difference fails, and so does an explained one that went away.

    comparison.yaml
      reference: {name: pharmaversesdtm 1.5.0.9001, files: {DM: dm.parquet, ...}}
      datasets:
        AE:
          keys: [USUBJID, AETERM, AEDTC, AEENDTC]     # pair records; must be unique within each side ...
          order_by: [AESTDTC, AESEQ]                  # ... after numbering repeats of a key in this order
          not_mapped: {AESPID: why the reference has it and we do not}
          differences: {AESEQ: {count: 229, reason: why}}
          extra_records: [{key: {USUBJID: ..., ...}, reason: why we have it}]
          missing_records: [{key: {...}, reason: why the reference has it}]

Values are equal when both are missing (NaN, None or blank), or both read as the same number (1 and 1.0; a
numeric variable on one side and text on the other), or the same text after trimming blanks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.sdtm.algorithms import plain_number_text
from cdiscflow.specs.model import StudySpec

SECTION = "comparison"
_OCC = "_occurrence"


@dataclass(frozen=True)
class DatasetComparison:
    """The outcome of comparing one dataset: record pairing and per-variable agreement."""

    dataset: str
    keys: tuple[str, ...]
    rows_ours: int
    rows_reference: int
    only_ours: pd.DataFrame  # key values of records the reference does not have
    only_reference: pd.DataFrame  # key values of records we do not have
    agreement: pd.DataFrame  # variable, n_equal, n_different, pct_agreement over the paired records (shared vars)
    differences: pd.DataFrame  # one row per differing value: keys, variable, ours, reference
    only_in_ours: tuple[str, ...]  # variables the reference does not carry
    only_in_reference: tuple[str, ...]  # variables we do not carry

    @property
    def paired(self) -> int:
        return self.rows_ours - len(self.only_ours)


# ---------------------------------------------------------------------------------------------------------------
# values


def comparable(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(numbers, text) of a column: the number each value reads as (NaN if none) and the trimmed text (NaN for
    missing and blank)."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        num = values.astype("float64")
        return num, num.astype(str).where(num.notna())
    text = values.astype(str).str.strip()
    text = text.mask(text == "")
    return pd.to_numeric(text, errors="coerce").astype("float64"), text


def key_text(values: pd.Series) -> pd.Series:
    """How key values pair up: numbers as their plain text (7 and 7.0 both "7"), other text trimmed, missing ""."""
    num, text = comparable(values)
    return plain_number_text(num).where(num.notna(), text).fillna("").astype(str)


def equal_values(ours: pd.Series, reference: pd.Series) -> pd.Series:
    """Element-wise equality of two aligned columns (see the module docstring)."""
    n1, t1 = comparable(ours)
    n2, t2 = comparable(reference)
    both_missing = t1.isna() & t2.isna()
    numbers = n1.notna() & n2.notna() & np.isclose(n1.fillna(0), n2.fillna(0), rtol=0, atol=1e-9)
    text = (t1 == t2).fillna(False).astype(bool)
    return (both_missing | numbers | text).astype(bool)


# ---------------------------------------------------------------------------------------------------------------
# one dataset


def _numbered(frame: pd.DataFrame, keys: list[str], order_by: list[str]) -> pd.DataFrame:
    """The frame with an occurrence number within equal keys, in `order_by` order (repeats of a key pair up in
    that order on both sides)."""
    order = [c for c in order_by if c in frame]
    work = frame.reset_index(drop=True)
    ranked = work.sort_values(keys + order, kind="stable", na_position="last")
    work[_OCC] = ranked.groupby(keys, dropna=False, sort=False).cumcount().reindex(work.index)
    return work


def compare_dataset(name: str, ours: pd.DataFrame, reference: pd.DataFrame, keys, order_by=()) -> DatasetComparison:
    """Pair the records of `ours` and `reference` by `keys` (repeats numbered by `order_by`) and compare every
    other variable both carry."""
    keys = list(keys)
    missing = [k for k in keys if k not in ours or k not in reference]
    if missing:
        raise SpecError(f"comparison keys {', '.join(missing)} of {name} are not variables of both datasets")
    left = _numbered(ours, keys, list(order_by))
    right = _numbered(reference, keys, list(order_by))
    pair = keys + [_OCC]
    lkey = pd.DataFrame({k: key_text(left[k]) for k in keys}).assign(**{_OCC: left[_OCC]})
    rkey = pd.DataFrame({k: key_text(right[k]) for k in keys}).assign(**{_OCC: right[_OCC]})
    merged = lkey.reset_index().merge(rkey.reset_index(), on=pair, how="outer", suffixes=("_l", "_r"),
                                      indicator=True)
    both = merged[merged["_merge"] == "both"]
    only_l = left.loc[merged.loc[merged["_merge"] == "left_only", "index_l"].astype(int), keys].reset_index(drop=True)
    only_r = right.loc[merged.loc[merged["_merge"] == "right_only", "index_r"].astype(int), keys].reset_index(drop=True)
    li, ri = both["index_l"].astype(int).to_numpy(), both["index_r"].astype(int).to_numpy()
    shared = [c for c in ours.columns if c in reference.columns]
    rows, diffs = [], []
    for var in shared:  # over shared variables
        if var in keys:  # paired on equal values: every paired record agrees
            rows.append({"variable": var, "n_equal": len(li), "n_different": 0, "pct_agreement": 100.0})
            continue
        a = left[var].take(li).reset_index(drop=True)
        b = right[var].take(ri).reset_index(drop=True)
        eq = equal_values(a, b)
        n_eq, n_diff = int(eq.sum()), int((~eq).sum())
        rows.append({"variable": var, "n_equal": n_eq, "n_different": n_diff,
                     "pct_agreement": round(100.0 * n_eq / (n_eq + n_diff), 2) if n_eq + n_diff else 100.0})
        if n_diff:
            d = left[keys].take(li).reset_index(drop=True)[~eq.to_numpy()]
            diffs.append(d.assign(variable=var, ours=comparable(a)[1][~eq].to_numpy(),
                                  reference=comparable(b)[1][~eq].to_numpy()))
    agreement = pd.DataFrame(rows, columns=["variable", "n_equal", "n_different", "pct_agreement"])
    differences = (pd.concat(diffs, ignore_index=True) if diffs
                   else pd.DataFrame(columns=[*keys, "variable", "ours", "reference"]))
    return DatasetComparison(
        name, tuple(keys), len(ours), len(reference), only_l, only_r, agreement, differences,
        tuple(c for c in ours.columns if c not in reference.columns),
        tuple(c for c in reference.columns if c not in ours.columns))


# ---------------------------------------------------------------------------------------------------------------
# the study's comparison spec


@dataclass(frozen=True)
class Expected:
    """What comparison.yaml says about one dataset."""

    dataset: str
    file: str
    keys: tuple[str, ...]
    order_by: tuple[str, ...]
    not_mapped: Mapping[str, str]
    differences: Mapping[str, tuple[int, str]]  # variable -> (count, reason)
    extra_records: tuple[Mapping[str, Any], ...]
    missing_records: tuple[Mapping[str, Any], ...]


def load_comparison(spec: StudySpec) -> dict[str, Expected]:
    """The comparison section of a study spec, checked: datasets and variables exist, every listed difference has
    a count and a reason.  Raises SpecError listing every problem."""
    doc = spec.section(SECTION)
    if doc is None:
        raise SpecError(f"study {spec.studyid} has no {SECTION}.yaml", path=str(spec.path))
    problems: list[str] = []
    files = (doc.get("reference") or {}).get("files") or {}
    out = {}
    for name, d in (doc.get("datasets") or {}).items():
        where = f"{SECTION}.yaml {name}"
        if name not in spec.datasets:
            problems.append(f"{where}: {name} is not a dataset of the study")
            continue
        ds = spec.dataset(name)
        keys = tuple(d.get("keys") or ())
        if not keys:
            problems.append(f"{where}: needs keys")
        for k in (*keys, *(d.get("order_by") or ())):
            if k not in ds:
                problems.append(f"{where}: key/order_by {k} is not a variable of {name}")
        diffs = {}
        for var, item in (d.get("differences") or {}).items():
            if var not in ds:
                problems.append(f"{where}: difference in {var}, which is not a variable of {name}")
            count = item.get("count") if isinstance(item, Mapping) else None
            if not isinstance(count, int) or count <= 0 or not (item.get("reason") or "").strip():
                problems.append(f"{where} {var}: a difference needs count (a positive whole number) and reason")
                continue
            diffs[var] = (count, str(item["reason"]).strip())
        for var, why in (d.get("not_mapped") or {}).items():
            if var in ds:
                problems.append(f"{where}: {var} is listed as not mapped but is a variable of {name}")
            if not str(why or "").strip():
                problems.append(f"{where}: not_mapped {var} needs the reason")
        records = {}
        for kind in ("extra_records", "missing_records"):
            records[kind] = tuple(d.get(kind) or ())
            for r in records[kind]:
                if not isinstance(r, Mapping) or set((r.get("key") or {})) != set(keys) or not r.get("reason"):
                    problems.append(f"{where} {kind}: each needs key (values of {', '.join(keys)}) and reason")
        if name not in files:
            problems.append(f"{where}: reference.files names no file for {name}")
        out[name] = Expected(name, str(files.get(name, "")), keys, tuple(d.get("order_by") or ()),
                             dict(d.get("not_mapped") or {}), diffs, records["extra_records"],
                             records["missing_records"])
    if problems:
        raise SpecError(problems, path=str(spec.path))
    return out


def read_reference(path: str | Path) -> pd.DataFrame:
    """A reference dataset from Parquet, CSV or XPT (by extension)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"reference dataset {path} does not exist")
    if path.suffix == ".parquet":
        from cdiscflow.core.parquet_read import read_parquet

        return read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False).replace("", np.nan)
    if path.suffix == ".xpt":  # cdiscflow's reader: DATE9./DATETIME20. variables come back as dates
        from cdiscflow.export.read import read_dataset

        return read_dataset(path)[0]
    raise InputError(f"reference dataset {path.name}: cannot read {path.suffix} files (use .parquet, .csv, .xpt)")


def compare_study(spec: StudySpec, datasets: Mapping[str, pd.DataFrame], reference_dir: str | Path
                  ) -> dict[str, DatasetComparison]:
    """Compare every dataset comparison.yaml names with its reference file in `reference_dir`."""
    expected = load_comparison(spec)
    out = {}
    for name, e in expected.items():  # over datasets
        if name not in datasets:
            raise InputError(f"{name} was not mapped, so it cannot be compared")
        out[name] = compare_dataset(name, datasets[name], read_reference(Path(reference_dir) / e.file), e.keys,
                                    e.order_by)
    return out


def agreement_table(comparisons: Mapping[str, DatasetComparison], expected: Mapping[str, Expected]) -> pd.DataFrame:
    """One row per dataset and shared variable: n equal, n different, % agreement, the listed count and reason."""
    parts = []
    for name, c in comparisons.items():  # over datasets
        listed = expected[name].differences if name in expected else {}
        t = c.agreement.assign(dataset=name)
        t["listed"] = [listed.get(v, (0, ""))[0] for v in t["variable"]]  # over variables
        t["reason"] = [listed.get(v, (0, ""))[1] for v in t["variable"]]
        parts.append(t)
    cols = ["dataset", "variable", "n_equal", "n_different", "pct_agreement", "listed", "reason"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def unexplained(comparisons: Mapping[str, DatasetComparison], expected: Mapping[str, Expected]) -> list[str]:
    """Every way the comparison departs from comparison.yaml: a difference count other than the listed one (0 when
    not listed), records or variables on one side only that are not listed.  Empty when all is explained."""
    out = []
    for name, c in comparisons.items():  # over datasets
        e = expected[name]
        for row in c.agreement.itertuples():  # over variables
            listed = e.differences.get(row.variable, (0, ""))[0]
            if row.n_different != listed:
                out.append(f"{name}.{row.variable}: {row.n_different} value(s) differ, comparison.yaml lists {listed}")
        for var in set(e.differences) - set(c.agreement["variable"]):
            out.append(f"{name}.{var}: listed as different but not a variable both datasets carry")
        if set(c.only_in_reference) != set(e.not_mapped):
            out.append(f"{name}: variables only in the reference {sorted(c.only_in_reference)}, comparison.yaml "
                       f"lists {sorted(e.not_mapped)} as not mapped")
        for kind, found in (("extra_records", c.only_ours), ("missing_records", c.only_reference)):
            rows = list(getattr(e, kind))
            written = pd.DataFrame({k: [r["key"][k] for r in rows] for k in e.keys}, dtype=object)
            listed = set(zip(*[key_text(written[k]) for k in e.keys])) if rows else set()
            got = set(zip(*[key_text(found[k]) for k in e.keys])) if len(found) else set()
            if got != listed:
                out.append(f"{name}: {kind} found {sorted(got)}, comparison.yaml lists {sorted(listed)}")
    return out


@dataclass(frozen=True)
class StudyComparison:
    table: pd.DataFrame  # agreement_table
    differences: pd.DataFrame  # dataset, keys as text, variable, ours, reference, listed reason
    problems: list[str]  # unexplained(): empty when everything agrees as comparison.yaml says
    rows: Mapping[str, tuple[int, int]] | None = None  # dataset -> (our records, the reference's records)

    def cell_agreement(self) -> tuple[int, int]:
        """(equal values, compared values) over every paired record and shared variable."""
        equal = int(self.table["n_equal"].sum())
        return equal, equal + int(self.table["n_different"].sum())


def compare_with_reference(study, raw_dir, reference_dir, out_dir=None) -> StudyComparison:
    """Map the raw export with the study spec, compare with the reference SDTM in `reference_dir`, and write
    `agreement.csv` (per dataset and variable) and `differences.csv` (every differing value) into `out_dir`."""
    from cdiscflow.sdtm.engine import map_study
    from cdiscflow.specs.load import load_study

    from cdiscflow.core.outputs import check_output

    spec = load_study(study)
    load_comparison(spec)  # a broken comparison.yaml stops before the mapping
    if out_dir is not None:
        check_output(out_dir, [("raw export", raw_dir if raw_dir is not None else spec.raw_dir),
                               ("reference folder", reference_dir), ("spec folder", spec.path)])
    result = map_study(spec, raw_dir)
    return compare_datasets_with_reference(spec, result.datasets, reference_dir, out_dir)


def compare_datasets_with_reference(spec: StudySpec, datasets: Mapping[str, pd.DataFrame], reference_dir,
                                    out_dir=None) -> StudyComparison:
    """Compare datasets made by any layer (SDTM mapped from raw, ADaM derived from SDTM) with the reference files
    comparison.yaml names, and write `agreement.csv` and `differences.csv` into `out_dir` (if given)."""
    from cdiscflow.core.atomic import write_text
    from cdiscflow.core.spreadsheet import csv_text

    expected = load_comparison(spec)
    comparisons = compare_study(spec, datasets, reference_dir)
    table = agreement_table(comparisons, expected)
    parts = []
    for name, c in comparisons.items():  # over datasets
        d = c.differences
        key = pd.Series("", index=d.index, dtype=str)
        for k in c.keys:  # over key variables
            key = key + (k + "=" + key_text(d[k]) + " ")
        reasons = {v: why for v, (_, why) in expected[name].differences.items()}
        parts.append(pd.DataFrame({"dataset": name, "key": key.str.strip(), "variable": d["variable"],
                                   "ours": d["ours"], "reference": d["reference"],
                                   "reason": [reasons.get(v, "") for v in d["variable"]]}))  # over variables
    differences = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if out_dir is not None:
        out = Path(out_dir)
        write_text(out / "agreement.csv", csv_text(table))
        write_text(out / "differences.csv", csv_text(differences))
    rows = {name: (c.rows_ours, c.rows_reference) for name, c in comparisons.items()}
    return StudyComparison(table, differences, unexplained(comparisons, expected), rows)
