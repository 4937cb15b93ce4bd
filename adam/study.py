"""The ADaM orchestrator: every ADaM dataset a study spec declares, derived from the SDTM datasets only.

    result = derive_study(spec, sdtm)          # AdamResult: datasets (spec variables only), findings, timings

(Reading an SDTM folder and writing an ADaM folder are the use-case module's: `cdiscflow.usecases.write_adam`.)
The recipe of a dataset is chosen by its name (datasets.csv, standard ADaM) and configured by the spec section of
the same name (``specs/<study>/adam/<name>.yaml``):

    ADSL    adam.recipes.adsl     subject level (always first)
    ADRS    adam.recipes.adrs     response (then the `analysis` section of adsl.yaml: e.g. best response in Part A)
    ADTTE   adam.recipes.adtte    time to event, parameters from tte.yaml (adam.verbs.tte)
    ADAE    adam.recipes.adae     adverse events
    ADBASE  adam.recipes.adbase   baseline characteristics per registration

The last step keeps each dataset's spec variables in spec order (`conform_to_spec`): ADSL variables a BDS/OCCDS
dataset declares are carried from ADSL, types become the spec's, and a declared variable no step derives stops the
run with a SpecError naming it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdiscflow.adam.verbs.checks import SUBJECT_KEYS, describe_rows
from cdiscflow.adam.recipes.adae import derive_adae
from cdiscflow.adam.recipes.adbase import derive_adbase
from cdiscflow.adam.recipes.adrs import derive_adrs
from cdiscflow.adam.recipes.adsl import complete_adsl, derive_adsl, load_adsl_spec
from cdiscflow.adam.recipes.adtte import derive_adtte
from cdiscflow.adam.verbs.merge import derive_vars_merged
from cdiscflow.adam.verbs.sources import SourceData, supp_qualifiers
from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.core.findings import Findings
from cdiscflow.core.frames import REPEAT_SHARE, as_text, compact, is_text_category
from cdiscflow.core.sasformats import format_kind
from cdiscflow.specs.model import Dataset, StudySpec

RECIPES = ("ADSL", "ADRS", "ADTTE", "ADAE", "ADBASE")


@dataclass
class AdamResult:
    datasets: dict[str, pd.DataFrame]  # spec variables in spec order, sorted by the dataset keys
    findings: Findings
    timings: dict[str, float] = field(default_factory=dict)  # seconds per dataset (+ "conform", "total")


def derive_study(spec: StudySpec, sdtm: Mapping[str, pd.DataFrame], *, findings: Findings | None = None,
                 compact_text: bool = False, compact_output: bool = False) -> AdamResult:
    """Derive every ADaM dataset declared in the study spec from the SDTM datasets `sdtm` (keyed by name).

    compact_text: return repeated text as categoricals (core.frames.compact), each dataset as soon as it is done, so
    that a large study fits in memory (the pipeline does); by default the datasets hold plain text.
    compact_output: the returned datasets only (what `compact` makes of them, made while conforming them to the
    spec, from each column's distinct values), the working datasets stay plain text (`cdiscflow adam`: the export
    writes categoricals from their categories)."""
    keep = compact if compact_text else (lambda frame: frame)
    compact_output = compact_output or compact_text
    findings = findings if findings is not None else Findings()
    declared = [d.name for d in spec.standard("ADaM")]
    if not declared:  # a study with SDTM only (e.g. a mapping pilot): nothing to derive
        return AdamResult({}, findings, {"total": 0.0})
    unknown = [n for n in declared if n not in RECIPES]
    if unknown:
        raise SpecError(f"datasets.csv declares ADaM dataset(s) {', '.join(unknown)}, for which cdiscflow has no "
                        f"recipe (it derives {', '.join(RECIPES)})", path=str(spec.path))
    if "ADSL" not in declared:
        raise SpecError("datasets.csv declares ADaM datasets but not ADSL, which every other one needs",
                        path=str(spec.path))
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    sources = SourceData(sdtm, qualifiers=supp_qualifiers(spec))
    work: dict[str, pd.DataFrame] = {}

    def timed(name: str, fn):
        t = time.perf_counter()
        work[name] = fn() if name == "ADSL" else keep(fn())  # ADSL is completed later: it stays plain text
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t

    adsl_cfg = load_adsl_spec(spec)
    timed("ADSL", lambda: derive_adsl(spec, sources, adsl_cfg))
    if "ADRS" in declared:
        timed("ADRS", lambda: derive_adrs(spec, sources, work["ADSL"], periods=adsl_cfg.periods, findings=findings))
    timed("ADSL", lambda: complete_adsl(work["ADSL"], work, adsl_cfg))
    if "ADAE" in declared:  # before ADTTE, whose sources may read it (time to the first event of a kind)
        timed("ADAE", lambda: derive_adae(spec, sources, work["ADSL"], periods=adsl_cfg.periods))
    if "ADTTE" in declared:
        timed("ADTTE", lambda: derive_adtte(spec, work))
    done: dict[str, pd.DataFrame] = {}

    def conform(name: str) -> None:  # to the spec, as soon as nothing else derives from it; compact from then on
        t = time.perf_counter()
        adsl = work["ADSL"]  # as derived (ADSL is conformed last)
        done[name] = conform_to_spec(work.pop(name), spec.dataset(name), adsl=adsl, compact_text=compact_output)
        timings["conform"] = timings.get("conform", 0.0) + time.perf_counter() - t

    if "ADAE" in declared:
        conform("ADAE")
    if "ADBASE" in declared:
        timed("ADBASE", lambda: derive_adbase(spec, sources, work["ADSL"]))
        conform("ADBASE")
    for name in [n for n in declared if n in work and n != "ADSL"] + ["ADSL"]:
        conform(name)
    timings["total"] = time.perf_counter() - t0
    return AdamResult({name: done[name] for name in declared}, findings, timings)


# ----------------------------------------------------------------------------------------------------------------
# the spec's variables


def conform_to_spec(frame: pd.DataFrame, dataset: Dataset, *, adsl: pd.DataFrame | None = None,
                    compact_text: bool = False) -> pd.DataFrame:
    """The spec's variables of `dataset` in spec order, with the spec's types.

    A variable the frame lacks is carried from ADSL (by STUDYID/USUBJID) when ADSL has it; a variable nobody
    derives is a SpecError.  Text variables become strings (missing: NaN), numeric ones float, date/datetime ones
    datetime64; a text value that is not a number in a numeric variable is an InputError naming the records.
    With `compact_text` the result is what `core.frames.compact` makes of it (repeated text as categoricals)."""
    names = list(dataset.names)
    carry = [n for n in names if n not in frame.columns and adsl is not None and n in adsl.columns
             and dataset.name != "ADSL"]
    if carry:
        add = adsl[[*SUBJECT_KEYS, *carry]]
        if compact_text:  # carried by code: ADSL's text is not repeated as text on every record (ADBASE: 97 a subject)
            add = pd.concat([add[list(SUBJECT_KEYS)], compact(add[carry].copy())], axis=1)
        frame = derive_vars_merged(frame, dataset_add=add, new_vars=carry, dataset_name=dataset.name,
                                   dataset_add_name="ADSL")
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise SpecError(f"{dataset.name}: variables.csv declares {', '.join(missing)}, which no step of the "
                        f"{dataset.name} recipe derives (check the spec section adam/{dataset.name.lower()}.yaml)")
    columns = {}  # the frame is made once at the end: a column inserted at a time costs more than the data here
    rest = []  # text variables to compact after coercion (not held as Arrow text)
    for var in dataset.variables:
        col = _compact_text(frame[var.name], len(frame)) if compact_text and not var.is_numeric else None
        if col is None:
            col = _coerce(frame[var.name], var, dataset.name, frame)
            rest += [var.name] if compact_text and not var.is_numeric else []
        columns[var.name] = col.array  # every column on the frame's rows, in its order
    index = pd.RangeIndex(len(frame))
    if rest:
        done = compact(pd.DataFrame({name: columns[name] for name in rest}, index=index))
        columns.update({name: done[name].array for name in rest})
    return pd.DataFrame(columns, index=index)


def _compact_text(col: pd.Series, rows: int) -> pd.Series | None:
    """`compact(_coerce(col))` of a text variable from its distinct values (Arrow text or a text categorical), or
    None when the column is neither or stays plain text."""
    if is_text_category(col):
        return _text_by_categories(col, rows)
    return _text_by_values(col, rows)


def _text_by_categories(col: pd.Series, rows: int) -> pd.Series | None:
    """`compact(_coerce(col))` of a text categorical (e.g. an ADSL variable carried by code), from the categories
    in use: blank ones (Python's str.strip) become missing, the others the sorted categories, when there are at
    most REPEAT_SHARE per record (else None: the column is coerced to plain text as before)."""
    categories = col.cat.categories
    if rows < 2 or categories.dtype != "str":
        return None
    codes = col.cat.codes.to_numpy()
    used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(categories)))
    words = pa.array(categories.array).take(pa.array(used))  # the categories in use, by Arrow as pandas' .str does
    blank = pc.equal(pc.utf8_trim_whitespace(words), "").to_numpy(zero_copy_only=False)
    kept, words = used[~blank], words.filter(pa.array(~blank))
    if len(kept) > REPEAT_SHARE * rows:
        return None
    by_text = pc.array_sort_indices(words).to_numpy()  # code point order, as compact sorts
    code_of = np.full(len(categories) + 1, -1, dtype=np.int64)  # unused, blank and missing (code -1) -> -1
    code_of[kept[by_text]] = np.arange(len(kept), dtype=np.int64)
    dtype = pd.CategoricalDtype(pd.Index(words.take(pa.array(by_text)), dtype="str"), ordered=False)
    return pd.Series(pd.Categorical.from_codes(code_of[codes], dtype=dtype), index=col.index, name=col.name)


def _text_by_values(col: pd.Series, rows: int) -> pd.Series | None:
    """`compact(_coerce(col))` of a text variable held as Arrow text (else None), from its distinct values: blank
    values (Python's str.strip) become missing, and the column becomes a categorical of its sorted values when it
    has at most REPEAT_SHARE distinct values per record (plain text otherwise), as `compact` decides."""
    data = getattr(col.array, "_pa_array", None)
    if data is None or not (pa.types.is_large_string(data.type) or pa.types.is_string(data.type)) or rows < 2:
        return None
    encoded = pc.dictionary_encode(data)  # one dictionary over the chunks; missing values: null indices
    if not encoded.num_chunks:
        return None
    words = encoded.chunk(0).dictionary
    blank = np.fromiter((w.strip() == "" for w in words.to_pylist()), dtype=bool, count=len(words))
    kept = np.flatnonzero(~blank)
    if len(kept) > REPEAT_SHARE * rows:  # mostly distinct: stays plain text, blanks missing
        if not blank.any():
            return col.astype("str")
        return _coerce_plain_text(col)
    order = kept[pc.sort_indices(words.take(pa.array(kept))).to_numpy()]  # UTF-8 order: code point order, as str
    code_of = np.full(len(words) + 1, -1, dtype=np.int64)  # blank and missing (index -1) -> -1
    code_of[order] = np.arange(len(order), dtype=np.int64)
    indices = [pc.fill_null(c.indices, -1).to_numpy() for c in encoded.chunks]
    codes = code_of[indices[0] if len(indices) == 1 else np.concatenate(indices)]
    categories = pd.Index(words.take(pa.array(order)).to_pylist(), dtype="str")
    return pd.Series(pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories)), index=col.index)


def _coerce_plain_text(col: pd.Series) -> pd.Series:
    # a text categorical by code (core.frames.as_text): astype("str") builds a Python object per record
    out = as_text(col).astype("str")
    return out.mask(out.str.strip() == "")


def _coerce(col: pd.Series, var, dataset: str, frame: pd.DataFrame) -> pd.Series:
    kind = format_kind(var.display_format) if var.is_numeric else ""  # the one SAS format table (core.sasformats)
    if kind in ("date", "datetime"):
        if col.isna().all() and not pd.api.types.is_datetime64_any_dtype(col):
            return pd.Series(pd.NaT, index=col.index, dtype="datetime64[us]")
        if not pd.api.types.is_datetime64_any_dtype(col):
            raise InputError(f"{dataset}.{var.name}: the spec says a date ({var.display_format}) but the derivation "
                             f"gives {col.dtype} values")
        col = col.astype("datetime64[us]")
        return col if kind == "datetime" else col.dt.floor("D")
    if var.is_numeric:
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_datetime64_any_dtype(col):
            raise InputError(f"{dataset}.{var.name}: the spec says a number, the derivation gives {col.dtype}")
        if pd.api.types.is_numeric_dtype(col):
            return col.astype("float64")
        number = pd.to_numeric(col, errors="coerce")
        bad = (col.notna() & number.isna()).to_numpy()
        if bad.any():
            raise InputError(f"{dataset}.{var.name}: {int(bad.sum())} value(s) are not numbers: "
                             f"{describe_rows(frame.assign(**{var.name: col}), bad, ['USUBJID', var.name])}")
        return number.astype("float64")
    if pd.api.types.is_datetime64_any_dtype(col):
        raise InputError(f"{dataset}.{var.name}: the spec says text, the derivation gives dates")
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        num = col.astype("float64")
        whole = num.notna() & (num == np.round(num))
        textual = num.astype("str")
        textual[whole] = num[whole].astype("int64").astype("str")
        return textual.where(num.notna(), np.nan).astype("str")
    return _coerce_plain_text(col)


__all__ = ["AdamResult", "RECIPES", "conform_to_spec", "derive_study"]
