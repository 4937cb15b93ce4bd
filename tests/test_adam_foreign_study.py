"""A foreign study through `derive_study` without code changes: pharmaverse's CDISC-pilot SDTM with IMWG responses
(dm, ex, ds, ae, rs_onco_imwg + supprs_onco_imwg) and the spec folder tests/data/pharmaverse_imwg, which declares
the ADaM datasets, selects IMWG 2016 and admiralonco's PFS/OS sources.

Expected values: pharmaverseadam's ADSL where the two are comparable; for IMWG (which pharmaverseadam lacks) the
values worked out by hand from admiralonco's IMWG rules, as in tests/test_adam_pharmaverse.py (there from
hand-written recipes, here from the spec folder)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cdiscflow.adam.study import derive_study
from cdiscflow.usecases import write_adam
from cdiscflow.specs.load import load_study
from cdiscflow.usecases import validate_folder
from cdiscflow.validation import validate_datasets

STUDY = Path(__file__).resolve().parent / "data" / "pharmaverse_imwg"
FILES = {"DM": "dm", "EX": "ex", "DS": "ds", "AE": "ae", "RS": "rs_onco_imwg", "SUPPRS": "supprs_onco_imwg"}


def _read(path: Path) -> pd.DataFrame:
    """A pharmaverse parquet file with the in-memory conventions of cdiscflow (missing text is NaN, never '')."""
    frame = pd.read_parquet(path)
    for col in frame.columns:
        if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col]):
            frame[col] = frame[col].astype("str").replace("", np.nan)
    return frame


@lru_cache(maxsize=2)
def _derive(shared: Path):
    base = shared / "reference-data" / "pharmaverse"
    sdtm = {name: _read(base / "sdtm" / f"{stem}.parquet") for name, stem in FILES.items()}
    spec = load_study(STUDY)
    return spec, sdtm, derive_study(spec, sdtm)


@pytest.fixture
def derived(shared):
    return _derive(shared)


def _param(frame: pd.DataFrame, paramcd: str) -> pd.DataFrame:
    return frame[frame["PARAMCD"] == paramcd].set_index("USUBJID")


@pytest.mark.slow
def test_adsl_matches_pharmaverseadam(derived, shared):
    spec, _, result = derived
    adsl = result.datasets["ADSL"].set_index("USUBJID")
    assert list(result.datasets) == ["ADSL", "ADRS", "ADTTE"]
    ref = _read(shared / "reference-data" / "pharmaverse" / "adam" / "adsl.parquet").set_index("USUBJID")
    assert len(adsl) == len(ref) == 306
    for col in ("TRTSDT", "TRTEDT", "RANDDT", "DTHDT"):
        ref[col] = pd.to_datetime(ref[col])
    for col in ("TRTSDT", "TRTEDT", "RANDDT", "DTHDT", "TRTSTMF", "TRTETMF", "SAFFL", "DTHDTF", "TRT01P", "TRT01A"):
        ours, theirs = adsl[col], ref.loc[adsl.index, col]
        same = (ours == theirs) | (ours.isna() & theirs.isna())
        assert same.all(), (col, adsl.loc[~same, col].head())
    assert (adsl["SAFFL"] == "Y").sum() == 254 and adsl["DTHDT"].notna().sum() == 3


def test_imwg_confirmed_and_best_response(derived):
    _, _, result = derived
    adrs = result.datasets["ADRS"]
    covr = adrs[adrs["PARAMCD"] == "COVR"].sort_values(["USUBJID", "ADT"])
    seq = covr.groupby("USUBJID")["AVALC"].agg(list)
    assert seq["01-701-1287"] == ["PR", "PR", "PD", "PD"]  # PD confirmed by the next PD
    assert seq["01-702-1082"] == ["NE", "SD"]  # PD for another reason then CR: NE, the last CR unconfirmed
    assert seq["01-701-1153"] == ["MR"] * 5
    assert seq["01-701-1302"] == ["PD", "PD"]  # PD by imaging (SUPPRS PDIFL) stands alone
    first = covr[covr["USUBJID"] == "01-701-1028"].iloc[0]
    assert (str(first["ADT"].date()), first["ADTF"], first["AVALC"]) == ("2013-08-31", "D", "sCR")
    cbor = _param(adrs, "CBOR")
    assert len(cbor) == 306 and (cbor["AVALC"] == "MISSING").sum() == 306 - 22
    assert cbor.loc[["01-701-1028", "01-701-1146", "01-701-1153", "01-701-1097"], "AVALC"].tolist() == [
        "sCR", "NE", "MR", "MISSING"]
    counts = {p: int((_param(adrs, p)["AVALC"] == "Y").sum()) for p in ("RSP", "CBR", "DCR", "PD", "DEATH")}
    assert counts == {"RSP": 7, "CBR": 14, "DCR": 18, "PD": 4, "DEATH": 3}


def test_pfs_and_os(derived):
    _, _, result = derived
    adtte = result.datasets["ADTTE"]
    pfs, os_ = _param(adtte, "PFS"), _param(adtte, "OS")
    assert len(pfs) == len(os_) == 254
    got = {s: (pfs.loc[s, "CNSR"], pfs.loc[s, "AVAL"], pfs.loc[s, "EVNTDESC"]) for s in
           ("01-701-1287", "01-702-1082", "01-701-1211", "01-701-1097")}
    assert got == {
        "01-701-1287": (0, 125.0, "Disease Progression"),  # 2014-01-25 -> 2014-05-29
        "01-702-1082": (1, 115.0, "Last Tumor Assessment"),  # 2013-07-26 -> 2013-11-17
        "01-701-1211": (0, 61.0, "Death"),  # 2012-11-15 -> 2013-01-14
        "01-701-1097": (1, 1.0, "Randomization"),  # no assessment before new therapy
    }
    assert (os_.loc["01-701-1287", "CNSR"], os_.loc["01-701-1287", "AVAL"]) == (1, 183.0)


@pytest.mark.slow
def test_foreign_output_validates_and_writes(derived, tmp_path):
    spec, sdtm, result = derived
    findings = validate_datasets({"DM": sdtm["DM"], **result.datasets}, spec)
    assert findings.count_at_or_above("error") == 0, findings.summary()
    write_adam(result, spec, tmp_path / "adam")
    report = validate_folder(tmp_path / "adam", STUDY, out_dir=tmp_path / "validation", fail_on="error",
                             data_docs=False)
    assert report.exit_code == 0
