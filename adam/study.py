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
from cdiscflow.core.frames import compact
from cdiscflow.core.sasformats import format_kind
from cdiscflow.specs.model import Dataset, StudySpec

RECIPES = ("ADSL", "ADRS", "ADTTE", "ADAE", "ADBASE")


@dataclass
class AdamResult:
    datasets: dict[str, pd.DataFrame]  # spec variables in spec order, sorted by the dataset keys
    findings: Findings
    timings: dict[str, float] = field(default_factory=dict)  # seconds per dataset (+ "conform", "total")


def derive_study(spec: StudySpec, sdtm: Mapping[str, pd.DataFrame], *, findings: Findings | None = None,
                 compact_text: bool = False) -> AdamResult:
    """Derive every ADaM dataset declared in the study spec from the SDTM datasets `sdtm` (keyed by name).

    compact_text: return repeated text as categoricals (core.frames.compact), each dataset as soon as it is done, so
    that a large study fits in memory (the pipeline does); by default the datasets hold plain text."""
    keep = compact if compact_text else (lambda frame: frame)
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
        done[name] = keep(conform_to_spec(work.pop(name), spec.dataset(name), adsl=adsl))
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


def conform_to_spec(frame: pd.DataFrame, dataset: Dataset, *, adsl: pd.DataFrame | None = None) -> pd.DataFrame:
    """The spec's variables of `dataset` in spec order, with the spec's types.

    A variable the frame lacks is carried from ADSL (by STUDYID/USUBJID) when ADSL has it; a variable nobody
    derives is a SpecError.  Text variables become strings (missing: NaN), numeric ones float, date/datetime ones
    datetime64; a text value that is not a number in a numeric variable is an InputError naming the records."""
    names = list(dataset.names)
    carry = [n for n in names if n not in frame.columns and adsl is not None and n in adsl.columns
             and dataset.name != "ADSL"]
    if carry:
        frame = derive_vars_merged(frame, dataset_add=adsl[[*SUBJECT_KEYS, *carry]], new_vars=carry,
                                   dataset_name=dataset.name, dataset_add_name="ADSL")
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise SpecError(f"{dataset.name}: variables.csv declares {', '.join(missing)}, which no step of the "
                        f"{dataset.name} recipe derives (check the spec section adam/{dataset.name.lower()}.yaml)")
    out = pd.DataFrame(index=frame.index)
    for var in dataset.variables:
        out[var.name] = _coerce(frame[var.name], var, dataset.name, frame)
    return out.reset_index(drop=True)


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
    out = col.astype("str")
    return out.mask(out.str.strip() == "")


__all__ = ["AdamResult", "RECIPES", "conform_to_spec", "derive_study"]
