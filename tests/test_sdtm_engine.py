"""End to end on the hand-made export: values checked by hand against SDTMIG 3.4 and the raw rows.

Subjects: 01-001 Part A only (IRR, SAE pneumonia, PD, follow-up, death); 01-002 Part A then Part B phase 2 at
ATRA 45 mg/m2/day (ATRA-related headache, ongoing); 02-003 still on Part A, partial birth date.
"""

from __future__ import annotations

import pandas as pd
import pytest

from cdiscflow.sdtm import map_study
from cdiscflow.specs.load import load_study

pytestmark = pytest.mark.slow  # module fixtures run the pipeline end to end

S1, S2, S3 = "DARA-ATRA-01-001", "DARA-ATRA-01-002", "DARA-ATRA-02-003"


@pytest.fixture(scope="module")
def result():
    from pathlib import Path

    return map_study(load_study(), Path(__file__).parent / "data" / "raw_small")


def _one(frame: pd.DataFrame, **where) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for k, v in where.items():
        mask &= frame[k] == v
    assert mask.sum() == 1, f"{mask.sum()} records match {where}"
    return frame[mask].iloc[0]


@pytest.mark.slow
def test_every_domain_written_with_spec_columns_and_unique_keys(result):
    spec = load_study()
    expected = {"DM", "SE", "SV", "CM", "EX", "PR", "AE", "DS", "MH", "DD", "GF", "LB", "RS", "SC", "SS", "VS",
                "TE", "TA", "TV", "TI", "TS", "SUPPAE", "SUPPCM", "SUPPDS", "SUPPEX", "SUPPMH"}
    assert set(result.datasets) == expected
    for name, frame in result.datasets.items():
        ds = spec.dataset(name)
        assert tuple(frame.columns) == ds.names, name
        assert not frame.duplicated(list(ds.keys)).any(), name
        assert len(result.provenance[name]) == len(frame)
    assert not (result.findings.frame()["severity"] == "error").any()


def test_accounting_balances_and_every_raw_row_is_mapped(result):
    acc = result.accounting
    assert acc["rows_lost"].eq(0).all()
    assert acc["rows_rejected"].eq(0).all()
    assert (acc["rows_in"] == acc["rows_mapped"]).all()
    assert acc.set_index("form").loc["resp", "datasets"] == "LB RS"
    assert result.lost_rows == 0


def test_dm_reference_dates_death_age_and_arms(result):
    dm = result.datasets["DM"].set_index("USUBJID")
    s1 = dm.loc[S1]
    assert (s1.RFICDTC, s1.RFSTDTC, s1.RFXENDTC) == ("2016-07-01", "2016-07-05T09:30", "2016-08-02T12:00")
    assert s1.RFPENDTC == "2017-03-01"  # the last survival contact, after the death date 2017-02-15
    assert (s1.DTHFL, s1.DTHDTC) == ("Y", "2017-02-15")
    assert (s1.AGE, s1.AGEU, s1.SEX, s1.RACE) == (68.0, "YEARS", "F", "WHITE")  # CT synonyms Female, Caucasian
    assert (s1.ARMCD, s1.ACTARMCD) == ("A_ONLY", "A_ONLY")
    s2 = dm.loc[S2]
    assert (s2.ARMCD, s2.ACTARMCD) == ("A_B45_P2", "A_B45_P2")
    assert s2.ARM == "Daratumumab, then Daratumumab + ATRA 45 mg/m2 (Phase 2)"
    assert pd.isna(s2.DTHFL)  # never "N"
    s3 = dm.loc[S3]
    assert s3.BRTHDTC == "1945" and pd.isna(s3.AGE) and pd.isna(s3.AGEU)  # no imputation of UN-UNK-1945
    assert pd.isna(s3.ARMNRS)


def test_subject_elements_follow_the_arm_paths(result):
    se = result.datasets["SE"]
    s1 = se[se.USUBJID == S1][["ETCD", "EPOCH", "SESTDTC", "SEENDTC"]].values.tolist()
    assert s1 == [["SCRN", "SCREENING", "2016-07-01", "2016-07-05"],
                  ["DARA", "PART A TREATMENT", "2016-07-05", "2016-09-01"],
                  ["FU", "FOLLOW-UP", "2016-09-01", "2017-03-01"]]
    s2 = se[se.USUBJID == S2][["ETCD", "SESTDTC", "SEENDTC"]].values.tolist()
    # Part A end of treatment (11 Feb) lies before the first ATRA course: it does not start follow-up
    assert s2 == [["SCRN", "2017-01-10", "2017-01-13"], ["DARA", "2017-01-13", "2017-02-16"],
                  ["DATRA45", "2017-02-16", "2017-03-16"]]
    ta = result.datasets["TA"]
    assert ta[ta.ARMCD == "A_B45_P2"]["ETCD"].tolist() == ["SCRN", "DARA", "DATRA45", "FU"]


def test_epoch_boundaries(result):
    ex = result.datasets["EX"]
    # the element's start day belongs to the element: first ATRA course and first infusion
    assert _one(ex, USUBJID=S2, EXTRT="TRETINOIN").EPOCH == "PART B TREATMENT"
    assert _one(ex, USUBJID=S1, EXSTDTC="2016-07-05T09:30").EPOCH == "PART A TREATMENT"
    ds = result.datasets["DS"]
    assert _one(ds, USUBJID=S1, DSDECOD="ENTERED INTO TRIAL").EPOCH == "SCREENING"
    # Part B registration (14 Feb) is before the first ATRA course (16 Feb): still Part A treatment
    assert _one(ds, USUBJID=S2, DSDECOD="REGISTERED IN PART B").EPOCH == "PART A TREATMENT"
    # end of treatment on the day follow-up starts keeps the epoch it ends (set in the block, fill: true)
    assert _one(ds, USUBJID=S1, DSDECOD="PROGRESSIVE DISEASE").EPOCH == "PART A TREATMENT"
    assert _one(ds, USUBJID=S1, DSDECOD="DEATH").EPOCH == "FOLLOW-UP"
    cm = result.datasets["CM"]
    assert _one(cm, USUBJID=S1, CMCAT="SUBSEQUENT ANTI-MYELOMA THERAPY").EPOCH == "FOLLOW-UP"
    assert pd.isna(_one(cm, USUBJID=S1, CMTRT="Revlimid").EPOCH)  # prior therapy: before the study


def test_study_days_before_and_after_rfstdtc(result):
    rs = result.datasets["RS"]
    who = _one(rs, USUBJID=S1, RSTESTCD="WHOPS01")
    assert (who.RSDTC, who.RSDY) == ("2016-07-04", -1.0)  # the day before first dose: -1, there is no day 0
    ex = result.datasets["EX"]
    assert _one(ex, USUBJID=S1, EXSTDTC="2016-07-05T09:30").EXSTDY == 1.0
    ae = result.datasets["AE"]
    assert _one(ae, USUBJID=S1, AEDECOD="Pneumonia").AESTDY == 47.0  # 20 Aug 2016 - 5 Jul 2016 + 1


def test_partial_dates_keep_their_known_parts(result):
    mh = result.datasets["MH"]
    mm = _one(mh, USUBJID=S1, MHTERM="MULTIPLE MYELOMA")
    assert mm.MHSTDTC == "2009-03" and pd.isna(mm.MHSTDY)  # UN-MAR-2009
    ae = result.datasets["AE"]
    pneu = _one(ae, USUBJID=S1, AEDECOD="Pneumonia")
    assert pneu.AEENDTC == "2016-09" and pd.isna(pneu.AEENDY)  # UN-SEP-2016
    fatigue = _one(ae, USUBJID=S3)
    assert fatigue.AESTDTC == "2017-03" and pd.isna(fatigue.EPOCH)
    supp = result.datasets["SUPPMH"]
    assert _one(supp, USUBJID=S1, QNAM="FTRTDTC").QVAL == "2009"  # UN-UNK-2009


def test_sae_with_criteria_and_per_drug_causality_and_action(result):
    ae = result.datasets["AE"]
    pneu = _one(ae, USUBJID=S1, AEDECOD="Pneumonia")
    assert (pneu.AESER, pneu.AESHOSP, pneu.AESLIFE, pneu.AESDTH, pneu.AETOXGR) == ("Y", "Y", "N", "N", "3")
    assert (pneu.AEACN, pneu.AEREL) == ("DRUG INTERRUPTED", "NOT RELATED")  # "Dose delayed" -> ACN synonym
    assert (pneu.AESOC, pneu.AEBODSYS, pneu.AEPTCD) == ("Infections and infestations",) * 2 + (10035664.0,)
    head = _one(ae, USUBJID=S2)
    # daratumumab: not related, no action; ATRA: probably related, interrupted
    assert (head.AEACN, head.AEREL, head.AEENRTPT) == ("MULTIPLE", "RELATED", "ONGOING")
    supp = result.datasets["SUPPAE"]
    per_drug = supp[supp.USUBJID == S2].set_index("QNAM")
    assert per_drug.loc["AEACNDAR", "QVAL"] == "DOSE NOT CHANGED"
    assert per_drug.loc["AEACNATR", "QVAL"] == "DRUG INTERRUPTED"
    assert per_drug.loc["AERELATR", "QVAL"] == "RELATED"
    assert set(per_drug["IDVAR"]) == {"AESEQ"} and set(per_drug["IDVARVAL"]) == {str(int(head.AESEQ))}
    assert per_drug.loc["AERELATR", "QLABEL"] == "Relationship to ATRA"


def test_response_and_part_b_registration(result):
    rs = result.datasets["RS"]
    mr = _one(rs, USUBJID=S1, RSTESTCD="OVRLRESP", VISIT="PART A CYCLE 1")
    assert (mr.RSORRES, mr.RSSTRESC, mr.RSCAT, mr.RSEVAL, mr.VISITNUM) == (
        "Minimal response", "MR", "KUMAR IMWG 2016", "INVESTIGATOR", 101.0)
    who_b = _one(rs, USUBJID=S2, RSTESTCD="WHOPS01", VISITNUM=200.0)
    assert (who_b.RSSTAT, who_b.RSREASND) == ("NOT DONE", "NOT KNOWN AT REGISTRATION") and pd.isna(who_b.RSORRES)
    ds = result.datasets["DS"]
    reg = _one(ds, USUBJID=S2, DSDECOD="REGISTERED IN PART B")
    assert reg.DSSTDTC == "2017-02-14"
    supp = result.datasets["SUPPDS"]
    vals = supp[(supp.USUBJID == S2) & (supp.IDVARVAL == str(int(reg.DSSEQ)))].set_index("QNAM")["QVAL"]
    assert vals.to_dict() == {"BDOSELVL": "45", "BPHASE": "2", "ENTRREAS": "PD DURING CYCLE 1"}


def test_exposure_per_drug_with_ct_and_schedule(result):
    ex = result.datasets["EX"]
    atra = _one(ex, USUBJID=S2, EXTRT="TRETINOIN")
    assert (atra.EXDOSE, atra.EXDOSU, atra.EXDOSFRQ, atra.EXROUTE, atra.EXDOSFRM) == (
        22.5, "mg/m2", "BID", "ORAL", "CAPSULE")  # "Twice daily" -> BID
    assert (atra.EXSTDTC, atra.EXENDTC) == ("2017-02-16", "2017-02-18")
    dara = _one(ex, USUBJID=S1, EXSTDTC="2016-08-02T09:00")
    assert (dara.EXDOSFRQ, dara.EXDOSU, dara.EXROUTE) == ("EVERY WEEK", "mg/kg", "INTRAVENOUS")
    assert result.provenance["EX"].loc[dara.name].tolist() == ["dara", 5]  # raw form and data row


def test_cytogenetics_labs_and_flags(result):
    gf = result.datasets["GF"]
    del17 = _one(gf, USUBJID=S1, GFSYM="del(17p)")
    assert (del17.GFTESTCD, del17.GFSTRESC, del17.GFMETHOD) == ("CPNUMVAR", "DETECTED", "FISH")
    nd = _one(gf, USUBJID=S3)
    assert (nd.GFSTAT, nd.GFREASND) == ("NOT DONE", "NO EVALUABLE SAMPLE") and pd.isna(nd.GFORRES)
    lb = result.datasets["LB"]
    plat = _one(lb, USUBJID=S1, LBTESTCD="PLAT")
    assert (plat.LBORRESU, plat.LBSTRESN, plat.LBLOBXFL, plat.LBCAT) == ("10^9/L", 168.0, "Y", "HEMATOLOGY")
    hgb_b = _one(lb, USUBJID=S2, LBTESTCD="HGB", VISITNUM=200.0)
    assert pd.isna(hgb_b.LBLOBXFL)  # after first exposure
    assert _one(lb, USUBJID=S2, LBTESTCD="CACRALB").LBTEST == "Calcium Corrected for Albumin"


def test_trial_summary(result):
    ts = result.datasets["TS"]
    assert _one(ts, TSPARMCD="SSTDTC").TSVAL == "2016-07-01"  # first informed consent
    assert _one(ts, TSPARMCD="ACTSUB").TSVAL == "3"
    phase = _one(ts, TSPARMCD="TPHASE")
    assert (phase.TSVAL, phase.TSVALCD, phase.TSVCDREF, phase.TSPARM) == (
        "PHASE I/II TRIAL", "C15693", "CDISC CT", "Trial Phase Classification")
    assert ts[ts.TSPARMCD == "TTYPE"]["TSSEQ"].tolist() == [1.0, 2.0, 3.0]
    assert _one(ts, TSPARMCD="SDTIGVER").TSVAL == "3.4"
    nct = _one(ts, TSPARMCD="REGID", TSVCDREF="ClinicalTrials.gov")
    assert (nct.TSVAL, nct.TSVALCD) == ("NCT02751255", "NCT02751255")


# ---------------------------------------------------------------------------------------------------------------
# the embedded synthetic export (specs/dara_atra/raw, 63 subjects)


@pytest.fixture(scope="module")
def embedded():
    spec = load_study()
    return map_study(spec, spec.raw_dir)


@pytest.mark.slow
def test_embedded_export_maps_without_findings_or_lost_rows(embedded):
    assert embedded.findings.count_at_or_above("warning") == 0
    assert embedded.accounting["rows_lost"].sum() == 0 and embedded.rejects.empty
    assert embedded.accounting["rows_in"].sum() == 6317  # as listed in raw/README.txt
    spec = load_study()
    for name, frame in embedded.datasets.items():
        assert not frame.duplicated(list(spec.dataset(name).keys)).any(), name


def test_embedded_arms_follow_the_paper_flow(embedded):
    dm = embedded.datasets["DM"]
    # 63 in Part A; 50 in Part B: 14 phase 1 (3 / 3 / 8 at 15 / 30 / 45 mg/m2) and 36 phase 2
    assert dm["ARMCD"].value_counts().to_dict() == {"A_B45_P2": 36, "A_ONLY": 13, "A_B45_P1": 8, "A_B15": 3,
                                                    "A_B30": 3}
    assert (dm["ACTARMCD"] == dm["ARMCD"]).all() and dm["ARMNRS"].isna().all()
    ds = embedded.datasets["DS"]
    assert (ds["DSDECOD"] == "REGISTERED IN PART B").sum() == 50
    se = embedded.datasets["SE"]
    paths = se.groupby("USUBJID")["ETCD"].agg(" ".join).value_counts().to_dict()
    # 3 still in Part A and 2 still on Part B treatment at the data cut have no follow-up element
    assert paths["SCRN DARA"] == 3 and paths["SCRN DARA DATRA45"] == 2
    assert dm["DTHFL"].eq("Y").sum() == len(embedded.datasets["DD"]) == 49
    assert set(embedded.datasets["EX"]["EXTRT"]) == {"DARATUMUMAB", "TRETINOIN"}


def test_embedded_supportive_care_is_split_by_the_coded_type(embedded):
    # "RBC transfusion", "Erythrocyte transfusion" ... -> PR; "G-CSF", "Filgrastim (G-CSF)" -> CM (where: codelist)
    pr = embedded.datasets["PR"]
    assert pr.loc[pr["PRCAT"] == "TRANSFUSION", "PRDECOD"].value_counts().to_dict() == {
        "RED BLOOD CELL TRANSFUSION": 57, "PLATELET TRANSFUSION": 21}
    cm = embedded.datasets["CM"]
    gcsf = cm[cm["CMCAT"] == "SUPPORTIVE CARE"]
    assert set(gcsf["CMTRT"]) == {"G-CSF", "Filgrastim (G-CSF)"} and set(gcsf["CMDECOD"]) == {"G-CSF"}
    assert len(gcsf) == 18


def test_unscheduled_visits_are_numbered_after_the_last_planned_visit(embedded):
    rs = embedded.datasets["RS"]
    unsched = rs[rs["VISIT"].str.contains("UNSCHEDULED", na=False)]
    assert len(unsched) > 0
    frac = (unsched["VISITNUM"] * 100).round() % 100
    assert frac.between(1, 9).all()  # 101.01, 101.02 ...
    # a Part A unscheduled visit follows a Part A visit, even on the day of the Part B baseline
    assert (unsched.loc[unsched["VISIT"].str.startswith("PART A"), "VISITNUM"] < 200).all()
    lb = embedded.datasets["LB"]
    # the same raw assessment gets the same VISITNUM in LB and RS
    both = unsched.merge(lb[["USUBJID", "LBDTC", "VISIT", "VISITNUM"]].drop_duplicates(),
                         left_on=["USUBJID", "RSDTC", "VISIT"], right_on=["USUBJID", "LBDTC", "VISIT"],
                         suffixes=("", "_lb"))
    assert len(both) > 0 and (both["VISITNUM"] == both["VISITNUM_lb"]).all()


# ---------------------------------------------------------------------------------------------------------------
# spec problems only the SDTM layer can see (derivation registry, trial design)


def test_trial_design_and_derivation_problems_are_listed_together(study_copy):
    from cdiscflow.core.errors import SpecError
    from cdiscflow.sdtm.mapping.engine import check_sdtm_spec

    td = study_copy / "trial_design.yaml"
    text = td.read_text()
    text = text.replace("elements: [SCRN, DARA, DATRA15, FU]", "elements: [SCRN, DARA, DATRA99, FU]")
    text = text.replace("start: {form: atra, where: {DOSELVL: 30}, date: STDAT, pick: first}",
                        "start: {form: atra, where: {DOSE_LEVEL: 30}, date: STDAT, pick: first}")
    text = text.replace("EPOCH: FOLLOW-UP", "EPOCH: AFTERCARE")
    text = text.replace("TEENRL: Death,", "TENRL: Death,")
    td.write_text(text)
    ae = study_copy / "sdtm" / "ae.yaml"
    ae.write_text(ae.read_text().replace("{derive: study_day, date: AESTDTC}", "{derive: study_days, date: AESTDTC}")
                  .replace("{derive: epoch, date: AESTDTC}", "{derive: epoch}"))
    spec = load_study(study_copy)
    with pytest.raises(SpecError) as exc:
        check_sdtm_spec(spec)
    msg = str(exc.value)
    assert "trial_design.yaml arm A_B15: element DATRA99 is not in elements" in msg
    assert "trial_design.yaml element DATRA30 start: DOSE_LEVEL is not a variable/field of atra" in msg
    assert "trial_design.yaml element FU: EPOCH 'AFTERCARE' is not a term of codelist EPOCH" in msg
    assert "trial_design.yaml element 6: TENRL is neither a variable of TE nor one of EPOCH, start" in msg
    assert "sdtm/ae.yaml derive AE.AESTDY: unknown derivation 'study_days'" in msg
    assert "sdtm/ae.yaml derive AE.EPOCH: derivation epoch needs date" in msg
