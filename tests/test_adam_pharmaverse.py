"""The engines on foreign SDTM that follows the IG: pharmaverse's CDISC-pilot SDTM with IMWG and RECIST responses.

The recipes below (ADSL, ADRS, ADTTE) call only the public engines; no code knows this study.  Results are compared
with pharmaverseadam (built by admiral/admiralonco from the same SDTM) where the two are comparable, and with values
worked out by hand from the rules where pharmaverseadam has nothing to compare (IMWG).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cdiscflow.adam import (
    SUBJECT_KEYS, YN_AVAL, Event, Expr, best_response_events, combine_supp, death_events, derive_extreme_event,
    derive_param_confirmed_response, derive_var_relative_flag, derive_var_worst_flag, derive_vars_dt,
    derive_vars_dtm, derive_vars_extreme_event, derive_vars_merged, last_assessment_events, load_response_criteria,
    load_tte_parameters, progression_events, rate_events,
)

# admiralonco's predefined time-to-event sources (R/tte_sources.R), declared as data
TTE_SPEC = """
sources:
  death:
    type: event
    dataset: ADRS
    date: ADT
    filter: PARAMCD == 'DEATH' and AVALC == 'Y' and ANL01FL == 'Y'
    set_values_to: {EVNTDESC: Death, SRCDOM: ADRS, SRCVAR: ADT, SRCSEQ: {expr: ASEQ}}
  pd:
    type: event
    dataset: ADRS
    date: ADT
    filter: PARAMCD == 'PD' and AVALC == 'Y' and ANL01FL == 'Y'
    set_values_to: {EVNTDESC: Disease Progression, SRCDOM: ADRS, SRCVAR: ADT, SRCSEQ: {expr: ASEQ}}
  lasta:
    type: censor
    dataset: ADRS
    date: ADT
    filter: PARAMCD == 'LSTA' and ANL01FL == 'Y'
    set_values_to: {EVNTDESC: Last Tumor Assessment, CNSDTDSC: Last Tumor Assessment, SRCDOM: ADRS, SRCVAR: ADT,
                    SRCSEQ: {expr: ASEQ}}
  alive:
    type: censor
    dataset: ADSL
    date: LSTALVDT
    set_values_to: {EVNTDESC: Alive, CNSDTDSC: Alive During Study, SRCDOM: ADSL, SRCVAR: LSTALVDT}
  rand:
    type: censor
    dataset: ADSL
    date: RANDDT
    set_values_to: {EVNTDESC: Randomization, CNSDTDSC: Randomization, SRCDOM: ADSL, SRCVAR: RANDDT}
parameters:
  OS: {start_date: RANDDT, events: [death], censors: [alive, rand], set_values_to: {PARAM: Overall Survival}}
  PFS: {start_date: RANDDT, events: [pd, death], censors: [lasta, rand],
        set_values_to: {PARAM: Progression Free Survival}}
"""


def _read(shared: Path, layer: str, name: str) -> pd.DataFrame:
    """A pharmaverse dataset with the in-memory conventions of cdiscflow (missing text is NaN, never '')."""
    frame = pd.read_parquet(shared / "reference-data" / "pharmaverse" / layer / f"{name}.parquet")
    for col in frame.columns:
        if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col]):
            frame[col] = frame[col].astype("str").replace("", np.nan)
    return frame


@lru_cache(maxsize=2)
def _sdtm(shared: Path) -> dict[str, pd.DataFrame]:
    names = ("dm", "ex", "ds", "ae", "sv", "rs_onco_imwg", "supprs_onco_imwg", "rs_onco_recist")
    return {n: _read(shared, "sdtm", n) for n in names}


@lru_cache(maxsize=2)
def _reference(shared: Path) -> dict[str, pd.DataFrame]:
    out = {n: _read(shared, "adam", n) for n in ("adsl", "adrs_onco", "adtte_onco")}
    for name, cols in (("adsl", ["TRTSDT", "TRTEDT", "RANDDT", "DTHDT", "LSTALVDT"]), ("adrs_onco", ["ADT"]),
                       ("adtte_onco", ["ADT", "STARTDT"])):
        for col in cols:
            out[name][col] = pd.to_datetime(out[name][col])
    return out


@pytest.fixture
def sdtm(shared) -> dict[str, pd.DataFrame]:
    return _sdtm(shared)


@pytest.fixture
def reference(shared) -> dict[str, pd.DataFrame]:
    return _reference(shared)


# ----------------------------------------------------------------------------------------------------------------
# recipes


def make_adsl(sdtm: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """ADSL as admiral's template derives it: treatment dates from EX, randomisation from DS, death from DM, last
    date known alive from AE and the last dose (the template also reads LB, which this copy of the data lacks)."""
    ex = derive_vars_dtm(sdtm["ex"], new_vars_prefix="EXST", dtc="EXSTDTC")
    ex = derive_vars_dtm(ex, new_vars_prefix="EXEN", dtc="EXENDTC", time_imputation="last")
    dose = "(EXDOSE > 0 or (EXDOSE == 0 and upper(EXTRT) in ('PLACEBO',)))"
    adsl = derive_vars_merged(sdtm["dm"], dataset_add=ex, filter_add=f"{dose} and notna(EXSTDTM)",
                              order=("EXSTDTM", "EXSEQ"), mode="first",
                              new_vars={"TRTSDTM": "EXSTDTM", "TRTSTMF": "EXSTTMF"})
    adsl = derive_vars_merged(adsl, dataset_add=ex, filter_add=f"{dose} and notna(EXENDTM)",
                              order=("EXENDTM", "EXSEQ"), mode="last",
                              new_vars={"TRTEDTM": "EXENDTM", "TRTETMF": "EXENTMF"})
    adsl = adsl.assign(TRTSDT=adsl["TRTSDTM"].dt.floor("D"), TRTEDT=adsl["TRTEDTM"].dt.floor("D"))
    adsl = derive_vars_merged(adsl, dataset_add=ex, filter_add=dose, order=("EXSEQ",), new_vars=(),
                              exist_flag="SAFFL", false_value="N")
    ds = derive_vars_dt(sdtm["ds"], new_vars_prefix="DSST", dtc="DSSTDTC")
    adsl = derive_vars_merged(adsl, dataset_add=ds, filter_add="DSDECOD == 'RANDOMIZED'", new_vars={"RANDDT": "DSSTDT"})
    adsl = derive_vars_dt(adsl, new_vars_prefix="DTH", dtc="DTHDTC", highest_imputation="M")
    ae = derive_vars_dt(sdtm["ae"], new_vars_prefix="AST", dtc="AESTDTC", highest_imputation="M")
    ae = derive_vars_dt(ae, new_vars_prefix="AEN", dtc="AEENDTC", highest_imputation="M")
    alive = [Event("AE start", "notna(ASTDT)", {"LSTALVDT": Expr("ASTDT")}, "ae"),
             Event("AE end", "notna(AENDT)", {"LSTALVDT": Expr("AENDT")}, "ae"),
             Event("last dose", "notna(TRTEDT)", {"LSTALVDT": Expr("TRTEDT")}, "adsl")]
    return derive_vars_extreme_event(adsl, events=alive, source_datasets={"ae": ae, "adsl": adsl},
                                     order=("LSTALVDT",), mode="last", ignore_event_order=True,
                                     new_vars=("LSTALVDT",))


def make_adrs(rs: pd.DataFrame, adsl: pd.DataFrame, criteria_id: str) -> pd.DataFrame:
    """OVR from investigator overall responses, COVR, ANL flags, CBOR/BOR, rates, PD, DEATH, LSTA."""
    criteria = load_response_criteria(criteria_id)
    recist = criteria.confirmation.method == "interval"
    adrs = rs[(rs["RSEVAL"] == "INVESTIGATOR") & (rs["RSTESTCD"] == "OVRLRESP")].assign(PARAMCD="OVR")
    adrs = derive_vars_merged(adrs, dataset_add=adsl, new_vars=("RANDDT",))
    adrs = derive_vars_dt(adrs, new_vars_prefix="A", dtc="RSDTC", highest_imputation="D", date_imputation="last")
    adrs = adrs.assign(AVALC=adrs["RSSTRESC"], AVAL=criteria.aval(adrs["RSSTRESC"]))
    anl = dict(set_values_to={"ANL01FL": "Y"})
    if recist:  # admiralonco's RECIST template: flags on OVR, confirmation and best response up to the first PD
        adrs = derive_var_worst_flag(adrs, criteria=criteria, filter="ADT >= RANDDT", order=("RSSEQ",))
        adrs = derive_var_relative_flag(adrs, by_vars=SUBJECT_KEYS, order=("ADT", "RSSEQ"), new_var="ANL02FL",
                                        condition="AVALC == 'PD'", selection="before", inclusive=True)
        adrs = derive_param_confirmed_response(
            adrs, criteria=criteria, set_values_to={"PARAMCD": "COVR"}, order=("RSSEQ",), origin_date="RANDDT",
            source_filter="PARAMCD == 'OVR' and ANL01FL == 'Y' and ANL02FL == 'Y'")
        ovr = adrs.query("PARAMCD == 'OVR' and ANL01FL == 'Y' and ANL02FL == 'Y'")
        lsta = adrs.query("PARAMCD == 'OVR' and ANL01FL == 'Y'")
        covr = adrs.query("PARAMCD == 'COVR'")
    else:  # admiralonco's IMWG vignette: confirmation on all OVR, flags on COVR
        adrs = derive_param_confirmed_response(
            adrs, criteria=criteria, set_values_to={"PARAMCD": "COVR"}, order=("RSSEQ",),
            new_therapy_date="NACTDT", pd_confirmed_vars=("PDIFL", "DTHPDFL"))
        adrs = derive_var_worst_flag(adrs, criteria=criteria, filter="PARAMCD == 'COVR' and ADT >= RANDDT",
                                     order=("RSSEQ",))
        before_therapy = (adrs["PARAMCD"] == "COVR") & (adrs["NACTDT"].isna() | (adrs["ADT"] < adrs["NACTDT"]))
        adrs["ANL02FL"] = pd.Series(np.where(before_therapy, "Y", None), index=adrs.index, dtype="str")
        adrs = derive_var_relative_flag(adrs, by_vars=[*SUBJECT_KEYS, "PARAMCD"], order=("ADT", "RSSEQ"),
                                        new_var="ANL03FL", condition="AVALC == 'PD'", selection="before")
        covr = adrs.query("PARAMCD == 'COVR' and ANL01FL == 'Y' and ANL02FL == 'Y' and ANL03FL == 'Y'")
        ovr = lsta = covr
    src = {"ovr": ovr, "covr": covr, "lsta": lsta, "adsl": adsl[[*SUBJECT_KEYS, "DTHDT"]]}
    aval = {"AVAL": criteria.aval_expr(), **anl["set_values_to"]}
    yn = {"AVAL": YN_AVAL, **anl["set_values_to"]}
    if recist:
        adrs = derive_extreme_event(adrs, events=best_response_events(criteria, origin_date="RANDDT"),
                                    source_datasets=src, order=("ADT",), set_values_to={"PARAMCD": "BOR", **aval})
        adrs = derive_extreme_event(adrs, events=rate_events(criteria, "RSP", dataset_name="ovr"),
                                    source_datasets=src, order=("ADT",), set_values_to={"PARAMCD": "RSP", **yn})
        rates = {"CRSP": "RSP"}
    else:
        rates = {name: name for name in criteria.rates}
    adrs = derive_extreme_event(adrs, events=best_response_events(criteria, dataset_name="covr"), source_datasets=src,
                                order=("ADT",), set_values_to={"PARAMCD": "CBOR", **aval})
    for paramcd, rate in rates.items():
        adrs = derive_extreme_event(adrs, events=rate_events(criteria, rate, dataset_name="covr"),
                                    source_datasets=src, order=("ADT",), set_values_to={"PARAMCD": paramcd, **yn})
    adrs = derive_extreme_event(adrs, events=progression_events(criteria), source_datasets=src, order=("ADT",),
                                set_values_to={"PARAMCD": "PD", **yn})
    adrs = derive_extreme_event(adrs, events=death_events(), source_datasets=src, order=("ADT",),
                                set_values_to={"PARAMCD": "DEATH", **yn})
    adrs = derive_extreme_event(adrs, events=last_assessment_events(criteria, dataset_name="lsta"),
                                source_datasets=src, order=("ADT",), mode="last",
                                set_values_to={"PARAMCD": "LSTA", **anl["set_values_to"]})
    return adrs.assign(ASEQ=np.arange(1, len(adrs) + 1, dtype="float64"))


def make_adtte(adsl: pd.DataFrame, adrs: pd.DataFrame) -> pd.DataFrame:
    adtte = None
    for parameter in load_tte_parameters(yaml.safe_load(TTE_SPEC), where="TTE_SPEC").values():
        adtte = parameter.derive(adsl, {"ADSL": adsl, "ADRS": adrs}, dataset=adtte)
    return adtte


def _param(frame: pd.DataFrame, paramcd: str) -> pd.DataFrame:
    return frame[frame["PARAMCD"] == paramcd].set_index("USUBJID")


def _mismatches(ours: pd.DataFrame, theirs: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    both = ours[columns].merge(theirs[columns], how="outer", left_index=True, right_index=True, suffixes=("", "_ref"))
    bad = pd.Series(False, index=both.index)
    for col in columns:
        a, b = both[col], both[f"{col}_ref"]
        bad |= ~((a == b) | (a.isna() & b.isna()))
    return both[bad]


# ----------------------------------------------------------------------------------------------------------------
# ADSL


def test_adsl_matches_pharmaverseadam(sdtm, reference):
    adsl = make_adsl(sdtm).set_index("USUBJID")
    ref = reference["adsl"].set_index("USUBJID")
    assert len(adsl) == len(ref) == 306
    same = ["TRTSDT", "TRTEDT", "TRTSTMF", "TRTETMF", "SAFFL", "RANDDT", "DTHDT", "DTHDTF"]
    assert _mismatches(adsl, ref, same).empty
    assert (adsl["SAFFL"] == "Y").sum() == 254 and adsl["DTHDT"].notna().sum() == 3
    # LSTALVDT: the template also takes lab dates (LB is not in this copy of the data), so ours can only be earlier.
    diff = _mismatches(adsl, ref, ["LSTALVDT"])
    assert len(diff) == 83
    assert (diff["LSTALVDT"].isna() | (diff["LSTALVDT"] < diff["LSTALVDT_ref"])).all()
    assert diff["LSTALVDT"].isna().sum() == 2  # two subjects without dose or AE: only labs date them
    # each of those reference dates is a visit date (SV) or the final lab visit (DS), when labs were drawn
    sv, ds = sdtm["sv"], sdtm["ds"][sdtm["ds"]["DSDECOD"] == "FINAL LAB VISIT"]
    visits = set(zip(sv["USUBJID"], pd.to_datetime(sv["SVSTDTC"].str[:10])))
    lab_visits = set(zip(ds["USUBJID"], pd.to_datetime(ds["DSSTDTC"].str[:10])))
    explained = [(s, d) in visits or (s, d) in lab_visits for s, d in zip(diff.index, diff["LSTALVDT_ref"])]
    assert all(explained) and sum((s, d) in visits for s, d in zip(diff.index, diff["LSTALVDT_ref"])) == 82


# ----------------------------------------------------------------------------------------------------------------
# IMWG (no pharmaverseadam counterpart: values worked out by hand from admiralonco's IMWG rules)


@pytest.fixture
def imwg(shared):
    return _imwg(shared)


@lru_cache(maxsize=2)
def _imwg(shared: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    sdtm = _sdtm(shared)
    adsl = make_adsl(sdtm)
    rs = combine_supp(sdtm["rs_onco_imwg"], sdtm["supprs_onco_imwg"]).rename(columns={"NACTDT": "NACTDTC"})
    rs = derive_vars_dt(rs, new_vars_prefix="NACT", dtc="NACTDTC")
    adrs = make_adrs(rs, adsl, "IMWG2016")
    return adsl, adrs, make_adtte(adsl, adrs)


@pytest.mark.slow
def test_imwg_confirmed_response_per_visit(imwg):
    _, adrs, _ = imwg
    covr = adrs[adrs["PARAMCD"] == "COVR"].sort_values(["USUBJID", "ADT"])
    seq = covr.groupby("USUBJID")["AVALC"].agg(list)
    # 1287: PR PR PD(PDOFL) PD: PR confirmed; PD confirmed by the next PD
    assert seq["01-701-1287"] == ["PR", "PR", "PD", "PD"]
    # 1082: PD (other reason) followed by CR -> NE; the last CR unconfirmed -> SD
    assert seq["01-702-1082"] == ["NE", "SD"]
    # 1153: sCR MR SD sCR MR (the unscheduled SD is dated before the unscheduled sCR): MR is the best confirmed
    assert seq["01-701-1153"] == ["MR"] * 5
    # 1302: PD by imaging stands alone and dominates the later CR
    assert seq["01-701-1302"] == ["PD", "PD"]
    # 1028: the first date is "2013-08", imputed to the last day
    first = covr[covr["USUBJID"] == "01-701-1028"].iloc[0]
    assert (str(first["ADT"].date()), first["ADTF"], first["AVALC"]) == ("2013-08-31", "D", "sCR")


def test_imwg_best_confirmed_response_and_rates(imwg):
    _, adrs, _ = imwg
    cbor = _param(adrs, "CBOR")
    subjects = sorted(set(adrs.loc[adrs["PARAMCD"] == "OVR", "USUBJID"]))
    assert len(cbor) == 306 and len(subjects) == 23
    assert cbor.loc[subjects, "AVALC"].to_dict() == {
        "01-701-1015": "PD", "01-701-1028": "sCR", "01-701-1034": "CR", "01-701-1097": "MISSING",
        "01-701-1115": "PD", "01-701-1118": "VGPR", "01-701-1130": "VGPR", "01-701-1133": "PR",
        "01-701-1146": "NE", "01-701-1148": "PR", "01-701-1153": "MR", "01-701-1203": "MR", "01-701-1211": "MR",
        "01-701-1239": "MR", "01-701-1275": "MR", "01-701-1287": "PR", "01-701-1294": "SD", "01-701-1302": "PD",
        "01-701-1345": "MR", "01-701-1363": "SD", "01-701-1415": "MR", "01-702-1082": "SD", "01-703-1076": "SD",
    }
    # 1097's only assessment (PD) is after new anti-cancer therapy (ANL02FL), so nothing qualifies
    assert (cbor["AVALC"] == "MISSING").sum() == 306 - 22
    assert str(cbor.loc["01-701-1028", "ADT"].date()) == "2013-08-31" and cbor.loc["01-701-1028", "AVAL"] == 7.0
    counts = {p: int((_param(adrs, p)["AVALC"] == "Y").sum()) for p in ("RSP", "CBR", "DCR", "PD", "DEATH")}
    # RSP: sCR/CR/VGPR/PR = 1028 1034 1118 1130 1133 1148 1287; CBR adds the 7 MR; DCR adds the 4 SD
    assert counts == {"RSP": 7, "CBR": 14, "DCR": 18, "PD": 4, "DEATH": 3}


def test_imwg_pfs_and_os(imwg):
    _, _, adtte = imwg
    pfs, os_ = _param(adtte, "PFS"), _param(adtte, "OS")
    assert len(pfs) == len(os_) == 254  # subjects with a randomisation date
    got = {s: (pfs.loc[s, "CNSR"], pfs.loc[s, "AVAL"], pfs.loc[s, "EVNTDESC"]) for s in
           ("01-701-1287", "01-702-1082", "01-701-1211", "01-701-1097")}
    assert got == {
        "01-701-1287": (0, 125.0, "Disease Progression"),  # 2014-01-25 -> 2014-05-29
        "01-702-1082": (1, 115.0, "Last Tumor Assessment"),  # 2013-07-26 -> 2013-11-17
        "01-701-1211": (0, 61.0, "Death"),  # 2012-11-15 -> 2013-01-14
        "01-701-1097": (1, 1.0, "Randomization"),  # no assessment before new therapy
    }
    assert (os_.loc["01-701-1287", "CNSR"], os_.loc["01-701-1287", "AVAL"]) == (1, 183.0)  # -> LSTALVDT 2014-07-26
    assert (os_.loc["01-701-1211", "CNSR"], os_.loc["01-701-1211", "AVAL"]) == (0, 61.0)


# ----------------------------------------------------------------------------------------------------------------
# RECIST 1.1: the same engines against pharmaverseadam's adrs_onco and adtte_onco


@pytest.mark.slow
def test_recist_adrs_and_adtte_match_pharmaverseadam(sdtm, reference):
    # pharmaverseadam's ADRS/ADTTE start from its own ADSL (whose LSTALVDT includes lab dates): use it as input
    ref_adsl = reference["adsl"][[*SUBJECT_KEYS, "RANDDT", "DTHDT", "LSTALVDT"]]
    adrs = make_adrs(sdtm["rs_onco_recist"], ref_adsl, "RECIST11")
    ref = reference["adrs_onco"]
    for paramcd in ("BOR", "CBOR", "RSP", "CRSP", "PD", "DEATH", "LSTA"):
        ours, theirs = _param(adrs, paramcd), _param(ref, paramcd)
        assert len(ours) == len(theirs) == 306, paramcd
        assert _mismatches(ours, theirs, ["AVALC", "AVAL", "ADT"]).empty, paramcd
    # the 22 OVR records: same dates (WEEK 6 of 1015 imputed from "2014-02") and values
    assert _mismatches(_param(adrs, "OVR").set_index("VISIT", append=True),
                       _param(ref, "OVR").set_index("VISIT", append=True), ["AVALC", "AVAL", "ADT", "ADTF"]).empty
    adtte, ref_tte = make_adtte(ref_adsl, adrs), reference["adtte_onco"]
    for paramcd in ("OS", "PFS"):
        ours, theirs = _param(adtte, paramcd), _param(ref_tte, paramcd)
        assert len(ours) == len(theirs) == 254
        columns = ["STARTDT", "ADT", "CNSR", "AVAL", "EVNTDESC", "CNSDTDSC", "SRCDOM", "SRCVAR"]
        assert _mismatches(ours, theirs, columns).empty, paramcd
    pfs = _param(adtte, "PFS")
    assert pfs.groupby(["CNSR", "EVNTDESC"]).size().to_dict() == {
        (0, "Death"): 3, (0, "Disease Progression"): 3, (1, "Last Tumor Assessment"): 5, (1, "Randomization"): 243}


@pytest.mark.slow
def test_recist_clinical_benefit_and_duration_of_response_match_pharmaverseadam(sdtm, reference):
    """admiralonco's CB (CR/PR at any time, or SD / NON-CR/NON-PD at least 42 days after randomisation) as a rate with
    `sustained` levels, and its RSD (first response to PD or death, censored at the last assessment; responders
    only) as a time-to-event parameter whose origin is the RSP date merged into ADSL."""
    ref_adsl = reference["adsl"][[*SUBJECT_KEYS, "RANDDT", "DTHDT", "LSTALVDT"]]
    adrs = make_adrs(sdtm["rs_onco_recist"], ref_adsl, "RECIST11")
    criteria = load_response_criteria("RECIST11", overrides={"rates": {"CB": {
        "values": ["CR", "PR", "SD", "NON-CR/NON-PD"],
        "sustained": {"values": ["SD", "NON-CR/NON-PD"], "min_days": 42}}}})
    ovr = adrs.query("PARAMCD == 'OVR' and ANL01FL == 'Y' and ANL02FL == 'Y'")
    cb = derive_extreme_event(None, events=rate_events(criteria, "CB", dataset_name="ovr", origin_date="RANDDT"),
                              source_datasets={"ovr": ovr, "adsl": ref_adsl}, order=("ADT",),
                              set_values_to={"PARAMCD": "CB", "AVAL": YN_AVAL})
    ours, theirs = _param(cb, "CB"), _param(reference["adrs_onco"], "CB")
    assert len(ours) == len(theirs) == 306
    assert _mismatches(ours, theirs, ["AVALC", "AVAL", "ADT"]).empty
    # 1034's NON-CR/NON-PD and 1130's SD are exactly 42 days after randomisation: they count
    assert ours.loc[ours["AVALC"] == "Y", "ADT"].dt.strftime("%Y-%m-%d").to_dict() == {
        "01-701-1015": "2014-03-06", "01-701-1034": "2014-08-12", "01-701-1115": "2013-01-11",
        "01-701-1118": "2014-04-23", "01-701-1130": "2014-03-29", "01-701-1133": "2012-11-18"}
    with pytest.raises(ValueError, match="give origin_date"):
        rate_events(criteria, "CB")

    tte = yaml.safe_load(TTE_SPEC)
    tte["parameters"]["RSD"] = {"start_date": "RSPDT", "events": ["pd", "death"], "censors": ["lasta"],
                                "set_values_to": {"PARAM": "Duration of Response"}}
    adsl = derive_vars_merged(ref_adsl, dataset_add=adrs, new_vars={"RSPDT": "ADT"},
                              filter_add="PARAMCD == 'RSP' and AVALC == 'Y' and ANL01FL == 'Y'")
    adtte = None
    for parameter in load_tte_parameters(tte, where="TTE_SPEC").values():
        adtte = parameter.derive(adsl, {"ADSL": adsl, "ADRS": adrs}, dataset=adtte)
    ours, theirs = _param(adtte, "RSD"), _param(reference["adtte_onco"], "RSD")
    assert len(ours) == len(theirs) == 4
    columns = ["STARTDT", "ADT", "CNSR", "AVAL", "EVNTDESC", "CNSDTDSC", "SRCDOM", "SRCVAR"]
    assert _mismatches(ours, theirs, columns).empty
    assert ours.groupby(["CNSR", "EVNTDESC"]).size().to_dict() == {
        (0, "Disease Progression"): 1, (1, "Last Tumor Assessment"): 3}
