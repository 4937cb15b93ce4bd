"""The one general join of ADaM programming, summaries of another dataset's records, and SUPP-- qualifiers back onto
their parent domain.

`derive_vars_merged` builds most of ADSL (treatment dates from EX, randomisation date from DS, death from DM ...):

    adsl = derive_vars_merged(adsl, dataset_add=ex, by_vars=SUBJECT_KEYS,
                              new_vars={"TRTSDTM": "EXSTDTM"}, filter_add="EXDOSE > 0 and notna(EXSTDTM)",
                              order=("EXSTDTM", "EXSEQ"), mode="first")

`derive_vars_merged_summary` adds per subject a sum, mean, minimum, maximum, count or number of distinct values over
another dataset's records (cumulative dose, questionnaire totals); `MergeRule` / `SummaryRule` are the same calls
written as data (`merges:` / `summaries:` sections of specs/<study>/adam/*.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from cdiscflow.adam.verbs.checks import SUBJECT_KEYS, as_mapping, check_frame, require_columns, require_unique
from cdiscflow.adam.verbs.ordering import check_mode, extreme_rows, order_columns
from cdiscflow.core.expr import Condition, Expr, ExpressionError, evaluate_condition, evaluate_value, names, parse
from cdiscflow.core import frames
from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.specs.model import NAME_RE

_HIT = "__hit__"
_ROW = "__row__"  # temporary column: the caller's row position


def derive_vars_merged(
    dataset: pd.DataFrame,
    *,
    dataset_add: pd.DataFrame,
    by_vars: Iterable[str] | Mapping[str, str] = SUBJECT_KEYS,
    new_vars: Iterable[str] | Mapping[str, str] | None = None,
    filter_add: Condition = None,
    order: Iterable[str] | None = None,
    mode: str = "first",
    exist_flag: str | None = None,
    true_value: Any = "Y",
    false_value: Any = None,
    missing_values: Mapping[str, Any] | None = None,
    dataset_name: str = "dataset",
    dataset_add_name: str = "dataset_add",
) -> pd.DataFrame:
    """Add variables from `dataset_add` to `dataset` by a left join on `by_vars`.

    * `by_vars`: names, or {dataset variable: dataset_add variable} when the key is named differently.
    * `new_vars`: names or {new name: dataset_add variable}; default every dataset_add variable but the keys.
    * `filter_add`: condition selecting the dataset_add records that may be merged.
    * `order` + `mode`: if given, the first/last record per by group is merged; otherwise dataset_add must be
      unique by `by_vars` (an error lists the duplicates).
    * `exist_flag`: a new variable set to `true_value` where a record was merged, else `false_value`.
    * `missing_values`: {new variable: value} for the rows of `dataset` without a merged record.

    Stops if a new variable already exists in `dataset` (rename it with new_vars={'NEW': 'OLD'}).  Returns a new
    frame with the rows, row order and index of `dataset`."""
    check_frame(dataset, name=dataset_name)
    check_frame(dataset_add, name=dataset_add_name)
    check_mode(mode)
    keys = as_mapping(by_vars, arg="by_vars")
    if not keys:
        raise ValueError("by_vars must name at least one variable")
    left_keys, right_keys = list(keys), list(keys.values())
    require_columns(dataset, left_keys, dataset=dataset_name, purpose="by_vars")
    require_columns(dataset_add, right_keys, dataset=dataset_add_name, purpose="by_vars")
    if new_vars is None:
        add = {c: c for c in dataset_add.columns if c not in right_keys}
    else:
        add = as_mapping(new_vars, arg="new_vars")
    require_columns(dataset_add, add.values(), dataset=dataset_add_name, purpose="new_vars")
    require_columns(dataset_add, order_columns(order), dataset=dataset_add_name, purpose="order")
    created = list(add) + ([exist_flag] if exist_flag else [])
    collide = [c for c in created if c in dataset.columns]
    if collide:
        raise InputError(
            f"derive_vars_merged: {dataset_name} already has {', '.join(collide)}; drop them first or give new names "
            f"(new_vars={{'NEWNAME': '{collide[0]}'}})"
        )
    unknown_missing = [c for c in (missing_values or {}) if c not in add]
    if unknown_missing:
        raise ValueError(f"missing_values names {', '.join(unknown_missing)}, which are not among new_vars")

    mask = evaluate_condition(filter_add, dataset_add, dataset=dataset_add_name)
    used = list(dict.fromkeys([*right_keys, *add.values(), *order_columns(order)]))
    # only the columns the merge uses (wide SDTM frames are costly to copy), and their rows only when filtered
    selected = dataset_add[used] if mask.all() else dataset_add.loc[mask, used]
    if order is not None:
        selected = extreme_rows(selected, right_keys, order, mode)
    else:
        require_unique(selected, right_keys, dataset=dataset_add_name,
                       hint="Give order= and mode= to pick one record per group, or restrict filter_add.")

    right = pd.DataFrame({**{lk: selected[rk].to_numpy() for lk, rk in keys.items()},
                          **{new: selected[src].to_numpy() for new, src in add.items()}})  # one frame, made at once
    columns = _left_join(dataset, right, left_keys, list(add))
    hit = columns.pop(_HIT)

    new = {}
    for col in add:
        values = columns[col]
        if missing_values and col in missing_values:
            values = values.where(hit, missing_values[col])
        new[col] = values._values
    if exist_flag:
        new[exist_flag] = pd.Series(np.where(hit, true_value, false_value),
                                    dtype="str" if isinstance(true_value, str) else None)._values
    return frames.with_columns(dataset, new) if new else dataset.copy(deep=False)


def _left_join(dataset: pd.DataFrame, right: pd.DataFrame, keys: list[str], columns: list[str]) -> dict:
    """{column: Series in `dataset`'s row order} of `right` (unique by `keys`) joined on `keys`, plus {_HIT: bool
    array}: what ``dataset[keys].merge(right, how="left")`` gives, values and dtypes alike (an unmatched row gets
    the column's missing value: int becomes float, bool object, as in pandas' merge).

    The row indexer comes from factorizing each key once over both frames (missing keys match each other, as in
    pandas); only when a key's dtypes differ does pandas' merge itself run (its casting rules and errors)."""
    indexer = _join_indexer(dataset, right, keys)
    if indexer is None:
        left = dataset[keys].copy(deep=False)
        left[_ROW] = np.arange(len(dataset))
        merged = left.merge(right.assign(**{_HIT: True}), how="left", on=keys, sort=False, validate="many_to_one")
        merged = merged.sort_values(_ROW, kind="stable")
        out = {col: merged[col].reset_index(drop=True) for col in columns}
        out[_HIT] = merged[_HIT].notna().to_numpy()
        return out
    out = {}
    for col in columns:
        values = pd.api.extensions.take(right[col]._values, indexer, allow_fill=True)
        out[col] = pd.Series(values, dtype=values.dtype)
    out[_HIT] = indexer >= 0
    return out


def _join_indexer(dataset: pd.DataFrame, right: pd.DataFrame, keys: list[str]) -> np.ndarray | None:
    """For each row of `dataset`, the position of the `right` row with the same `keys` (-1: none); None when a
    key's dtype differs between the two frames."""
    ids = _key_ids(dataset, right, keys)
    if ids is None:
        return None
    left_ids, right_ids, groups = ids
    position = np.full(groups, -1, dtype=np.intp)
    position[right_ids] = np.arange(len(right), dtype=np.intp)
    return position[left_ids]


def inner_join_positions(left: pd.DataFrame, right: pd.DataFrame,
                         keys: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """Row positions (left, right) of ``left.merge(right, how="inner", on=keys, sort=False)``: every pair of rows
    with equal keys (missing keys match each other), by left row, then right row; None when a key's dtype differs
    between the two frames (then let pandas' merge apply its casting rules)."""
    ids = _key_ids(left, right, keys)
    if ids is None:
        return None
    left_ids, right_ids, groups = ids
    by_group = np.argsort(right_ids, kind="stable")
    counts = np.bincount(right_ids, minlength=groups)
    starts = np.cumsum(counts) - counts
    per_left = counts[left_ids]
    left_pos = np.repeat(np.arange(len(left), dtype=np.intp), per_left)
    offset = np.arange(len(left_pos)) - np.repeat(np.cumsum(per_left) - per_left, per_left)
    return left_pos, by_group[starts[left_ids[left_pos]] + offset]


def _text(col: pd.Series) -> bool:
    return col.dtype == "str" or frames.is_text_category(col)


def _key_ids(left: pd.DataFrame, right: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, np.ndarray, int] | None:
    """One integer per distinct key combination over both frames: (left ids, right ids, number of ids).  A text key
    held as text on one side and as a text categorical (`core.frames.compact`) on the other is compared as text."""
    pairs = [(left[k], right[k]) for k in keys]
    mixed = [a.dtype != b.dtype and _text(a) and _text(b) for a, b in pairs]
    if any(a.dtype != b.dtype and not m for (a, b), m in zip(pairs, mixed)):
        return None
    n = len(left)
    ids = None
    for (a, b), m in zip(pairs, mixed):
        codes, distinct = _mixed_text_codes(a, b) if m else _codes_and_count(_stacked(a, b))
        ids = codes if ids is None else pd.factorize(ids * distinct + codes)[0]
    ids = np.asarray(ids, dtype=np.intp)
    return ids[:n], ids[n:], int(ids.max()) + 1 if len(ids) else 0


def _codes_and_count(values) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(values, use_na_sentinel=False)  # missing values: one code, as pandas matches them
    return codes, len(uniques)


def _mixed_text_codes(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, int]:
    """Codes of two text columns held differently (plain text, text categoricals of other categories) over both,
    one after the other, as factorizing their text would give them (missing values: one code of their own): each
    side's distinct values come from its categories or one factorization of its own, and only those are matched."""
    sides = [(c.cat.codes.to_numpy(), c.cat.categories) if frames.is_text_category(c) else
             pd.factorize(c, use_na_sentinel=True) for c in (a, b)]
    joint, words = pd.factorize(pd.Index(sides[0][1], dtype="str").append(pd.Index(sides[1][1], dtype="str")))
    missing = len(words)
    start = 0
    codes = []
    for side_codes, side_words in sides:  # the two sides
        of_word = np.append(joint[start:start + len(side_words)], missing)  # code -1 (missing) reads `missing`
        codes.append(of_word[side_codes])
        start += len(side_words)
    return np.concatenate(codes), missing + 1


def _stacked(a: pd.Series, b: pd.Series):
    """The values of two columns of one dtype one after the other, as one array (the extension array interface's
    concatenation): `pd.concat` of the Series and factorizing a Series cost about four times as much per join."""
    return type(a.array)._concat_same_type([a.array, b.array])


def combine_supp(dataset: pd.DataFrame, supp: pd.DataFrame, *, dataset_name: str = "dataset",
                 supp_name: str = "supp") -> pd.DataFrame:
    """Add the SUPP-- qualifiers (one variable per QNAM, values from QVAL) to their parent domain records.

    Records are matched on STUDYID, USUBJID and IDVAR/IDVARVAL (a blank IDVAR qualifies the whole subject).  Stops
    if a QNAM already is a variable of the parent, if a qualifier matches no parent record, or if one record gets
    two values for the same QNAM.

    IDVAR, QNAM and QVAL are read by code (a text categorical's own, or one factorization each): each IDVAR's and
    each qualifier's records are picked by code, and each parent record's value is kept as the code of its text
    until the variables are made (SUPPEX has 935,000 records at 10,000 subjects)."""
    check_frame(dataset, name=dataset_name)
    check_frame(supp, name=supp_name)
    require_columns(supp, ("STUDYID", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL"), dataset=supp_name)
    require_columns(dataset, ("STUDYID", "USUBJID"), dataset=dataset_name)
    qnam_codes, qnam_values = _value_codes(supp["QNAM"])
    in_use = np.bincount(qnam_codes[qnam_codes >= 0], minlength=len(qnam_values)) > 0
    qnams = sorted(str(q) for q in qnam_values[in_use])
    collide = sorted(set(qnams) & set(dataset.columns))
    if collide:
        raise InputError(f"{supp_name}: QNAM {', '.join(collide)} already are variables of {dataset_name}")
    require_unique(supp, ["STUDYID", "USUBJID", "IDVAR", "IDVARVAL", "QNAM"], dataset=supp_name)
    qnam_code = {str(q): i for i, q in enumerate(qnam_values)}
    qval_codes, qval_values = _value_codes(supp["QVAL"])
    # each qualifier's values gathered by row position (codes of QVAL, -1: none), the variables joined on at once
    found = {qnam: np.full(len(dataset), -1, dtype=np.intp) for qnam in qnams}
    for idvar, rows in _idvar_groups(supp["IDVAR"]):  # over the IDVARs (one or two)
        keys = ["STUDYID", "USUBJID"]
        left = dataset[keys].copy()
        if idvar:
            require_columns(dataset, [idvar], dataset=dataset_name, purpose=f"{supp_name} IDVAR")
            left["IDVARVAL"] = _idvar_text(dataset[idvar])._values
            keys = keys + ["IDVARVAL"]
        part = supp[keys] if len(rows) == len(supp) else supp[keys].iloc[rows]
        ids = _key_ids(left, part, keys)  # by row indexer; pandas' merge when a key's dtypes differ
        if ids is None:
            _merge_supp_part(supp.iloc[rows].assign(QVAL=qval_codes[rows]), left, keys, found, idvar, supp_name,
                             dataset_name)
            continue
        left_ids, part_ids, groups = ids
        orphans = ~np.isin(part_ids, left_ids)
        if orphans.any():  # the record groups (keys) in key order, as pandas' pivot of the part lists them
            _orphan_error(part.loc[orphans, keys].drop_duplicates().sort_values(keys), idvar, supp_name,
                          dataset_name)
        qval = qval_codes[rows]
        by_qnam = _rows_by_code(qnam_codes[rows], len(qnam_values))
        for qnam in qnams:  # over the qualifiers: each record's value, if any
            of_qnam = by_qnam[qnam_code[qnam]]
            twice = np.bincount(part_ids[of_qnam], minlength=groups) > 1
            if twice.any():  # a blank IDVAR keys by subject only: records of other IDVARVALs meet here
                _two_values_error(supp.iloc[rows[of_qnam[twice[part_ids[of_qnam]]]]], keys, qnam, idvar, supp_name,
                                  dataset_name)
            position = np.full(groups, -1, dtype=np.intp)
            position[part_ids[of_qnam]] = of_qnam  # one row a record group and qualifier
            indexer = position[left_ids]
            hit = np.flatnonzero(indexer >= 0)
            values = qval[indexer[hit]]
            have = values >= 0
            found[qnam][hit[have]] = values[have]
    if not found:
        return dataset.copy(deep=False)
    text = pd.Series(qval_values, dtype="str")._values  # each distinct QVAL once, as text
    return frames.with_columns(dataset, {qnam: pd.api.extensions.take(text, codes, allow_fill=True)
                                         for qnam, codes in found.items()})


def _value_codes(col: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Each record's value as a code into the column's distinct values (-1: missing), and those values: a
    categorical's own codes and categories, else one factorization."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.codes.to_numpy(), col.cat.categories
    codes, values = pd.factorize(col, use_na_sentinel=True)
    return codes, pd.Index(values)


def _idvar_groups(idvar: pd.Series) -> list[tuple[str, np.ndarray]]:
    """(IDVAR, the positions of its SUPP-- records) for each IDVAR in sorted order; a missing IDVAR is blank."""
    codes, values = _value_codes(idvar)
    names = np.array([*(str(v) for v in values), ""], dtype=object)  # code -1 (missing) reads the blank at the end
    distinct, group_of = np.unique(names, return_inverse=True)
    group = group_of[codes]
    out = []
    for number, name in enumerate(distinct):  # over the distinct IDVARs
        rows = np.flatnonzero(group == number)
        if len(rows):
            out.append((str(name), rows))
    return out


def _rows_by_code(codes: np.ndarray, count: int) -> list[np.ndarray]:
    """For each code 0..count-1, the positions holding it, in order (one stable sort for all codes)."""
    order = np.argsort(codes, kind="stable")
    ends = np.cumsum(np.bincount(codes + 1, minlength=count + 1))  # code -1 (missing) first, then 0, 1 ...
    return [order[ends[c]:ends[c + 1]] for c in range(count)]


def _merge_supp_part(part: pd.DataFrame, left: pd.DataFrame, keys: list[str], found: dict, idvar: str,
                     supp_name: str, dataset_name: str) -> None:
    """`combine_supp`'s join of one IDVAR's qualifiers by pandas' merge (key dtypes it cannot index, e.g. a
    number against text): the QVAL codes (`part`'s QVAL) put into `found` by row position.  As on the indexed path,
    a record without QNAM qualifies nothing, but its keys must match a parent record."""
    wide = part[part["QNAM"].notna()].pivot(index=keys, columns="QNAM", values="QVAL").reset_index()
    qnams = list(wide.columns.difference(keys))
    left = left.assign(**{_ROW: np.arange(len(left))})
    joined = left.merge(wide, how="left", on=keys, sort=False).sort_values(_ROW, kind="stable")
    groups = part[keys].drop_duplicates().sort_values(keys)  # in key order, as the pivot lists them
    matched = groups.merge(left[keys].drop_duplicates(), how="left", on=keys, indicator=True)
    orphans = (matched["_merge"] == "left_only").to_numpy()
    if orphans.any():
        _orphan_error(matched.loc[orphans, keys], idvar, supp_name, dataset_name)
    for qnam in qnams:
        values = joined[qnam].to_numpy(dtype="float64", na_value=np.nan)
        have = values >= 0
        found[qnam][have] = values[have].astype(np.intp)


def _two_values_error(records: pd.DataFrame, keys: list[str], qnam: str, idvar: str, supp_name: str,
                      dataset_name: str) -> None:
    shown = records[[*keys, "IDVARVAL", "QVAL"]] if "IDVARVAL" not in keys else records[[*keys, "QVAL"]]
    raise InputError(f"{supp_name}: QNAM {qnam} has {len(records)} values for the same {dataset_name} record(s) "
                     f"(IDVAR '{idvar or '(blank)'}': matched on {', '.join(keys)}), e.g. "
                     f"{shown.head(3).to_dict('records')}")


def _orphan_error(shown: pd.DataFrame, idvar: str, supp_name: str, dataset_name: str) -> None:
    raise InputError(f"{supp_name}: {len(shown)} qualifier record group(s) with IDVAR '{idvar or '(blank)'}' match "
                     f"no {dataset_name} record, e.g. {shown.head(3).to_dict('records')}")


def _idvar_text(col: pd.Series) -> pd.Series:
    """IDVAR values as SUPP-- IDVARVAL text: integral numbers without a decimal point (RSSEQ 7 -> '7'); each distinct
    number is written once and taken to its records by code (a --SEQ repeats a few hundred numbers)."""
    if pd.api.types.is_numeric_dtype(col):
        codes, distinct = pd.factorize(pd.to_numeric(col, errors="coerce"), use_na_sentinel=True)
        num = pd.Series(distinct)
        integral = num.notna() & (num == np.floor(num))
        as_text = num.astype("str")
        as_text[integral] = num[integral].astype("int64").astype("str")
        return pd.Series(pd.api.extensions.take(as_text._values, codes, allow_fill=True), index=col.index)
    return frames.as_text(col).astype("str")  # a text categorical by code, not a Python object per record


# ----------------------------------------------------------------------------------------------------------------
# merges as data (the `merges:` sections of specs/<study>/adam/*.yaml)

_MERGE_KEYS = {"dataset", "filter", "new_vars", "by_vars", "order", "mode", "exist_flag", "true_value", "false_value",
               "missing_values", "description"}


@dataclass(frozen=True)
class MergeRule:
    """One `derive_vars_merged` call written as data::

        - dataset: DS                                   # an SDTM dataset (SUPP-- joined, dates added) or ADaM one
          filter: DSDECOD == 'REGISTERED IN PART B'
          new_vars: {PARTBDT: DSSTDT, BPHASE: BPHASE}    # new name: source variable (a list keeps the names)
          order: [DSSTDT, DSSEQ]                          # optional, with mode first|last
          exist_flag: PARTBFL                             # optional, with true_value (Y) / false_value (N)

    The filter may use variables of the dataset merged into (see `apply`).
    """

    dataset: str
    new_vars: Mapping[str, str]
    filter: str | None = None
    by_vars: tuple[str, ...] = SUBJECT_KEYS
    order: tuple[str, ...] | None = None
    mode: str = "first"
    exist_flag: str | None = None
    true_value: Any = "Y"
    false_value: Any = None
    missing_values: Mapping[str, Any] | None = None

    def apply(self, dataset: pd.DataFrame, source: pd.DataFrame, *, dataset_name: str = "dataset") -> pd.DataFrame:
        """The merge; the filter may also use variables of `dataset` (e.g. ``PRSTDT >= AP02SDT`` on PR records
        merged into ADSL), which are first joined onto the source records by `by_vars`."""
        borrow = [n for n in (names(self.filter) if self.filter else ())
                  if n not in source.columns and n in dataset.columns and n not in self.by_vars]
        if borrow:
            source = derive_vars_merged(source, dataset_add=dataset[[*self.by_vars, *borrow]], by_vars=self.by_vars,
                                        new_vars=borrow, dataset_name=self.dataset, dataset_add_name=dataset_name)
        return derive_vars_merged(dataset, dataset_add=source, by_vars=self.by_vars, new_vars=dict(self.new_vars),
                                  filter_add=self.filter, order=self.order, mode=self.mode,
                                  exist_flag=self.exist_flag, true_value=self.true_value,
                                  false_value=self.false_value, missing_values=self.missing_values,
                                  dataset_name=dataset_name, dataset_add_name=self.dataset)


def load_merge_rules(section: Any, *, where: str) -> tuple[MergeRule, ...]:
    """Parse a `merges:` list; raise SpecError listing every problem with its place."""
    if section is None:
        return ()
    if not isinstance(section, (list, tuple)):
        raise SpecError(f"{where}: must be a list of merges ({{dataset: ..., new_vars: {{NEW: SOURCE}}, ...}})")
    problems, rules = [], []
    for i, item in enumerate(section):
        loc = f"{where}[{i + 1}]"
        if not isinstance(item, Mapping):
            problems.append(f"{loc}: must be a mapping with dataset and new_vars")
            continue
        unknown = sorted(set(item) - _MERGE_KEYS)
        if unknown:
            problems.append(f"{loc}: unknown key(s) {', '.join(map(str, unknown))} "
                            f"(expected {', '.join(sorted(_MERGE_KEYS))})")
        dataset, new_vars = item.get("dataset"), item.get("new_vars")
        if not isinstance(dataset, str) or not dataset:
            problems.append(f"{loc}: dataset is missing")
        if isinstance(new_vars, (list, tuple)):
            new_vars = {str(v): str(v) for v in new_vars}
        if not isinstance(new_vars, Mapping) or (not new_vars and not item.get("exist_flag")):
            problems.append(f"{loc}: new_vars must map new variables to source variables")
            new_vars = {}
        bad = [n for n in [*new_vars, *([item["exist_flag"]] if item.get("exist_flag") else [])]
               if not isinstance(n, str) or not NAME_RE.match(n)]
        if bad:
            problems.append(f"{loc}: {bad} are not variable names")
        flt = item.get("filter")
        if flt is not None:
            try:
                parse(str(flt))
            except ExpressionError as exc:
                problems.append(f"{loc}.filter: {exc}")
        order = item.get("order")
        if isinstance(order, str):
            order = [order]
        mode = item.get("mode", "first")
        if mode not in ("first", "last"):
            problems.append(f"{loc}: mode must be first or last, not {mode!r}")
        by_vars = item.get("by_vars") or SUBJECT_KEYS
        if isinstance(by_vars, str):
            by_vars = [by_vars]
        if any(p.startswith(loc) for p in problems):
            continue
        rules.append(MergeRule(
            dataset=dataset.upper(), new_vars=MappingProxyType({str(k): str(v) for k, v in new_vars.items()}),
            filter=None if flt is None else str(flt), by_vars=tuple(by_vars),
            order=None if order is None else tuple(order), mode=mode, exist_flag=item.get("exist_flag"),
            true_value=item.get("true_value", "Y"), false_value=item.get("false_value"),
            missing_values=dict(item["missing_values"]) if item.get("missing_values") else None))
    if problems:
        raise SpecError(problems)
    return tuple(rules)


# ----------------------------------------------------------------------------------------------------------------
# summaries of the records of another dataset (admiral's derive_vars_merged_summary)

SUMMARY_FUNCTIONS = ("sum", "mean", "min", "max", "count", "n_distinct")


def derive_vars_merged_summary(
    dataset: pd.DataFrame,
    *,
    dataset_add: pd.DataFrame,
    new_vars: Mapping[str, tuple[str, Any]],
    by_vars: Iterable[str] | Mapping[str, str] = SUBJECT_KEYS,
    filter_add: Condition = None,
    missing_values: Mapping[str, Any] | None = None,
    dataset_name: str = "dataset",
    dataset_add_name: str = "dataset_add",
) -> pd.DataFrame:
    """Add per `by_vars` group a summary of the `dataset_add` records meeting `filter_add`.

    `new_vars` maps each new variable to (function, value): the value is an expression of the condition language
    computed on every record (``"EXDOSE * ((EXENDT - EXSTDT) / days(1) + 1)"``), or a variable name; the function
    is one of

    * ``sum``, ``mean``, ``min``, ``max``: over the non-missing values (missing when a group has none);
    * ``count``: the number of non-missing values; ``n_distinct``: the number of distinct non-missing values.

    Rows of `dataset` without a record get missing (or `missing_values`, e.g. ``{"NDOSES": 0}``).  Stops if a new
    variable already exists.  Example, the cumulative dose of the planned dose over each dosing interval::

        derive_vars_merged_summary(adsl, dataset_add=ex,
                                   new_vars={"CUMDOSE": ("sum", "EXDOSE * ((EXENDT - EXSTDT) / days(1) + 1)")})
    """
    check_frame(dataset, name=dataset_name)
    check_frame(dataset_add, name=dataset_add_name)
    keys = as_mapping(by_vars, arg="by_vars")
    if not keys:
        raise ValueError("by_vars must name at least one variable")
    if not new_vars:
        raise ValueError("new_vars must name at least one summary")
    for name, item in new_vars.items():
        if not isinstance(item, tuple) or len(item) != 2 or item[0] not in SUMMARY_FUNCTIONS:
            raise ValueError(f"new_vars {name}: expected (function, value) with function one of "
                             f"{', '.join(SUMMARY_FUNCTIONS)}, not {item!r}")
    right_keys = list(keys.values())
    require_columns(dataset_add, right_keys, dataset=dataset_add_name, purpose="by_vars")
    collide = [c for c in new_vars if c in dataset.columns]
    if collide:
        raise InputError(f"derive_vars_merged_summary: {dataset_name} already has {', '.join(collide)}; drop them "
                         f"first or choose other names")
    records = dataset_add.loc[evaluate_condition(filter_add, dataset_add, dataset=dataset_add_name)]
    values = pd.DataFrame({k: records[k].to_numpy() for k in right_keys})
    for name, (_, value) in new_vars.items():
        computed = evaluate_value(value if isinstance(value, Expr) else Expr(str(value)), records,
                                  dataset=dataset_add_name)
        values[name] = np.asarray(computed)
    grouped = values.groupby(right_keys, sort=False, dropna=False)
    summary = grouped.size().rename("__n__").reset_index()[right_keys]
    for name, (fun, _) in new_vars.items():
        column = grouped[name]
        if fun == "sum":
            result = column.sum(min_count=1)
        elif fun == "count":
            result = column.count()
        elif fun == "n_distinct":
            result = column.nunique(dropna=True)
        else:
            result = getattr(column, fun)()
        summary[name] = result.to_numpy()
    return derive_vars_merged(dataset, dataset_add=summary, by_vars=keys, new_vars=list(new_vars),
                              missing_values=missing_values, dataset_name=dataset_name,
                              dataset_add_name=f"the summaries of {dataset_add_name}")


_SUMMARY_KEYS = {"dataset", "filter", "new_vars", "by_vars", "missing_values", "description"}


@dataclass(frozen=True)
class SummaryRule:
    """One `derive_vars_merged_summary` call written as data (the `summaries:` sections)::

        - dataset: QS                                       # a dataset (adsl.yaml also offers EXPOSURE: the doses)
          filter: QSCAT == 'MINI-MENTAL STATE'
          new_vars: {MMSETOT: {sum: number(QSORRES)}}        # new variable: {function: value expression}
          missing_values: {MMSETOT: 0}                      # optional, for subjects without a record
          by_vars: [STUDYID, USUBJID]                       # optional (default)

    Functions: sum, mean, min, max, count, n_distinct.  The filter and the expressions may use variables of the
    dataset summarised into (e.g. ADSL's TRTSDT), joined onto the records by `by_vars` first."""

    dataset: str
    new_vars: Mapping[str, tuple[str, str]]
    filter: str | None = None
    by_vars: tuple[str, ...] = SUBJECT_KEYS
    missing_values: Mapping[str, Any] | None = None

    def apply(self, dataset: pd.DataFrame, source: pd.DataFrame, *, dataset_name: str = "dataset") -> pd.DataFrame:
        used = [*(names(self.filter) if self.filter else ()), *(n for _, v in self.new_vars.values() for n in names(v))]
        borrow = list(dict.fromkeys(n for n in used if n not in source.columns and n in dataset.columns
                                    and n not in self.by_vars))
        if borrow:
            source = derive_vars_merged(source, dataset_add=dataset[[*self.by_vars, *borrow]], by_vars=self.by_vars,
                                        new_vars=borrow, dataset_name=self.dataset, dataset_add_name=dataset_name)
        return derive_vars_merged_summary(dataset, dataset_add=source, new_vars=dict(self.new_vars),
                                          by_vars=self.by_vars, filter_add=self.filter,
                                          missing_values=self.missing_values, dataset_name=dataset_name,
                                          dataset_add_name=self.dataset)


def load_summary_rules(section: Any, *, where: str) -> tuple[SummaryRule, ...]:
    """Parse a `summaries:` list; raise SpecError listing every problem with its place."""
    if section is None:
        return ()
    if not isinstance(section, (list, tuple)):
        raise SpecError(f"{where}: must be a list of summaries ({{dataset: ..., new_vars: {{NEW: {{sum: ...}}}}}})")
    problems, rules = [], []
    for i, item in enumerate(section):
        loc = f"{where}[{i + 1}]"
        if not isinstance(item, Mapping):
            problems.append(f"{loc}: must be a mapping with dataset and new_vars")
            continue
        unknown = sorted(set(item) - _SUMMARY_KEYS)
        if unknown:
            problems.append(f"{loc}: unknown key(s) {', '.join(map(str, unknown))} "
                            f"(expected {', '.join(sorted(_SUMMARY_KEYS))})")
        dataset, new_vars = item.get("dataset"), item.get("new_vars")
        if not isinstance(dataset, str) or not dataset:
            problems.append(f"{loc}: dataset is missing")
        parsed: dict[str, tuple[str, str]] = {}
        if not isinstance(new_vars, Mapping) or not new_vars:
            problems.append(f"{loc}: new_vars must map each new variable to {{function: expression}}")
            new_vars = {}
        for name, spec in new_vars.items():
            if not isinstance(name, str) or not NAME_RE.match(name):
                problems.append(f"{loc}: {name!r} is not a variable name")
                continue
            if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in SUMMARY_FUNCTIONS:
                problems.append(f"{loc}.{name}: write {{function: expression}} with one function of "
                                f"{', '.join(SUMMARY_FUNCTIONS)}")
                continue
            fun, value = next(iter(spec.items()))
            try:
                parse(str(value))
            except ExpressionError as exc:
                problems.append(f"{loc}.{name}: {exc}")
                continue
            parsed[name] = (fun, str(value))
        flt = item.get("filter")
        if flt is not None:
            try:
                parse(str(flt))
            except ExpressionError as exc:
                problems.append(f"{loc}.filter: {exc}")
        by_vars = item.get("by_vars") or SUBJECT_KEYS
        if isinstance(by_vars, str):
            by_vars = [by_vars]
        missing = item.get("missing_values")
        if missing is not None and (not isinstance(missing, Mapping) or set(missing) - set(parsed)):
            problems.append(f"{loc}: missing_values must map new variables of this summary to values")
        if any(p.startswith(loc) for p in problems):
            continue
        rules.append(SummaryRule(dataset=dataset.upper(), new_vars=MappingProxyType(parsed),
                                 filter=None if flt is None else str(flt), by_vars=tuple(by_vars),
                                 missing_values=dict(missing) if missing else None))
    if problems:
        raise SpecError(problems)
    return tuple(rules)
