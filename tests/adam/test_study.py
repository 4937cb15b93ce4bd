"""The DARA-ATRA ADaM datasets derived from the embedded synthetic export (raw -> SDTM -> ADaM), checked against the
paper's counts (specs/dara_atra/facts.yaml) and against values worked out by hand from the SDTM records."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from cdiscflow.adam.study import derive_study
from cdiscflow.usecases import write_adam
from cdiscflow.cli import main
from cdiscflow.report.survival import DAYS_PER_MONTH, km_median, tte_arrays
from cdiscflow.sdtm import map_study
from cdiscflow.specs.load import load_study
from cdiscflow.specs.model import SPECS_DIR
from cdiscflow.validation import validate_datasets

pytestmark = pytest.mark.slow  # module fixtures run the pipeline end to end

FACTS = yaml.safe_load((SPECS_DIR / "dara_atra" / "facts.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def spec():
    return load_study("dara_atra")


@pytest.fixture(scope="module")
def sdtm(spec):
    return map_study(spec).datasets


@pytest.fixture(scope="module")
def adam(spec, sdtm):
    return derive_study(spec, sdtm).datasets


def _subject(frame: pd.DataFrame, subjid: str) -> pd.DataFrame:
    return frame[frame["USUBJID"] == f"DARA-ATRA-{subjid}"]


def _param(adam, dataset: str, paramcd: str, **where) -> pd.DataFrame:
    frame = adam[dataset]
    rows = frame["PARAMCD"] == paramcd
    for var, value in where.items():
        rows &= frame[var] == value
    return frame[rows]


# ----------------------------------------------------------------------------------------------------------------
# ADSL


@pytest.mark.slow
@pytest.mark.calibration
def test_adsl_populations_and_patient_flow(adam, spec):
    adsl = adam["ADSL"]
    assert list(adsl.columns) == list(spec.dataset("ADSL").names)
    assert len(adsl) == 63 and adsl["USUBJID"].is_unique
    counts = {fl: int((adsl[fl] == "Y").sum()) for fl in ("ENRLFL", "SAFFL", "PARTBFL", "RP2DFL")}
    assert counts == {"ENRLFL": 63, "SAFFL": 63, "PARTBFL": 50, "RP2DFL": 44}
    assert adsl["BPHASE"].value_counts().to_dict() == {2.0: 36, 1.0: 14}
    assert adsl.loc[adsl["RP2DFL"] == "Y", "DOSE02A"].eq(45).all()
    assert adsl["ENTRREAS"].value_counts().to_dict() == {
        "PD AFTER RESPONSE": 20, "LESS THAN MR AFTER CYCLE 2": 16, "LESS THAN PR AFTER CYCLE 3": 8,
        "PD DURING CYCLE 1": 6}
    rp2d = adsl[adsl["RP2DFL"] == "Y"]
    assert rp2d["ENTRREAS"].value_counts().to_dict() == {
        "PD AFTER RESPONSE": 18, "LESS THAN MR AFTER CYCLE 2": 14, "LESS THAN PR AFTER CYCLE 3": 7,
        "PD DURING CYCLE 1": 5}
    # status at the cut (paper: 2 ongoing, 38 stopped for PD, 2 patient's and 1 investigator's decision, 1 death)
    status = rp2d["EOT02STT"].where(rp2d["EOT02STT"] == "ONGOING", rp2d["DCT02RS"]).value_counts().to_dict()
    assert status == {"PROGRESSIVE DISEASE": 38, "ONGOING": 2, "WITHDRAWAL BY SUBJECT": 2,
                      "PHYSICIAN DECISION": 1, "DEATH": 1}
    assert adsl["AGEGR1"].value_counts().to_dict() == {"65-<75": 30, "<65": 20, ">=75": 13}


def test_adsl_subject_worked_by_hand(adam):
    # 01-001: first infusion 2016-07-06, Part B registration 2016-08-12 at 15 mg/m2 (phase 1), first ATRA course
    # 2016-08-12, last dose 2016-09-04 (end of an ATRA course), dead 2017-04-08; last alive contact 2017-01-14 (SS)
    row = _subject(adam["ADSL"], "01-001").iloc[0]
    dates = {v: str(row[v].date()) for v in ("TRTSDT", "AP01SDT", "AP01EDT", "PARTBDT", "AP02SDT", "TRTEDT", "DTHDT",
                                           "LSTALVDT", "ENRLDT")}
    assert dates == {"TRTSDT": "2016-07-06", "AP01SDT": "2016-07-06", "AP01EDT": "2016-07-27",
                     "PARTBDT": "2016-08-12", "AP02SDT": "2016-08-12", "TRTEDT": "2016-09-04",
                     "DTHDT": "2017-04-08", "LSTALVDT": "2017-01-14", "ENRLDT": "2016-07-01"}
    assert (row["TRTSDTM"], row["TRTSTMF"]) == (pd.Timestamp("2016-07-06 08:40"), "S")  # seconds not collected
    assert (row["TRT01P"], row["TRT02P"], row["DOSE02P"], row["BPHASE"]) == (
        "Daratumumab 16 mg/kg IV", "Daratumumab 16 mg/kg IV + ATRA 15 mg/m2/day", 15.0, 1.0)
    assert (row["TRTDURD"], row["AGEGR1"], row["RP2DFL"], row["BORA"], row["BORAGR1"]) == (
        61.0, ">=75", "N", "PD", "PD")
    assert (row["EOSSTT"], row["DCSREAS"], row["DTHCAUS"]) == ("DISCONTINUED", "DEATH", "Progressive disease")


# ----------------------------------------------------------------------------------------------------------------
# ADRS


def test_best_confirmed_response_per_part(adam):
    adsl = adam["ADSL"]
    part_a = _param(adam, "ADRS", "CBOR", APERIOD=1.0)
    assert len(part_a) == 63
    # the paper's NE row (3) = NE (1, only an unconfirmed PD) + MISSING (2, no assessment)
    assert part_a["AVALC"].value_counts().to_dict() == {
        "SD": 19, "PR": 14, "PD": 9, "VGPR": 9, "MR": 6, "CR": 3, "MISSING": 2, "NE": 1}
    rp2d = set(adsl.loc[adsl["RP2DFL"] == "Y", "USUBJID"])
    part_b = _param(adam, "ADRS", "CBOR", APERIOD=2.0)
    assert len(part_b) == 50
    assert part_b[part_b["USUBJID"].isin(rp2d)]["AVALC"].value_counts().to_dict() == {
        "SD": 25, "PD": 14, "VGPR": 2, "MR": 2, "MISSING": 1}
    rates = {}
    for paramcd in ("RSP", "CBR", "DCR"):
        rows = _param(adam, "ADRS", paramcd, APERIOD=2.0)
        rates[paramcd] = int((rows[rows["USUBJID"].isin(rp2d)]["AVALC"] == "Y").sum())
    assert rates == {"RSP": 2, "CBR": 4, "DCR": 29}
    groups = adsl.loc[adsl["RP2DFL"] == "Y", "BORAGR1"].value_counts().to_dict()
    assert groups == FACTS["rp2d_subgroups_by_part_a_response"]["counts"]
    # the two VGPR patients of Part B had MR and CR in Part A (paper)
    vgpr = set(part_b.loc[part_b["AVALC"] == "VGPR", "USUBJID"]) & rp2d
    assert sorted(adsl.loc[adsl["USUBJID"].isin(vgpr), "BORA"]) == ["CR", "MR"]


def test_confirmed_and_unconfirmed_response(adam):
    adrs = adam["ADRS"]
    # 05-051 Part A: SD (07-29), MR (08-26), SD (09-23): the MR is not confirmed (the next assessment is lower) and
    # becomes SD; the best confirmed response in Part A is SD
    s = _subject(adrs, "05-051")
    ovr = s[(s["PARAMCD"] == "OVR") & (s["APERIOD"] == 1)].sort_values("ADT")
    covr = s[(s["PARAMCD"] == "COVR") & (s["APERIOD"] == 1)].sort_values("ADT")
    assert ovr["AVALC"].tolist() == ["SD", "MR", "SD"] and covr["AVALC"].tolist() == ["SD", "SD", "SD"]
    cbor = s[(s["PARAMCD"] == "CBOR") & (s["APERIOD"] == 1)].iloc[0]
    assert (cbor["AVALC"], cbor["AVAL"], str(cbor["ADT"].date())) == ("SD", 2.0, "2017-07-29")
    # 01-008 Part B: PR (2018-01-02) then VGPR at every assessment: the PR is confirmed by the better VGPR, the VGPR
    # of 2018-01-30 by the next VGPR; RSP is reached at the first PR
    s = _subject(adrs, "01-008")
    cbor = s[(s["PARAMCD"] == "CBOR") & (s["APERIOD"] == 2)].iloc[0]
    assert (cbor["AVALC"], cbor["AVAL"], str(cbor["ADT"].date()), cbor["SRCDOM"], cbor["SRCSEQ"]) == (
        "VGPR", 5.0, "2018-01-30", "RS", 24.0)
    rsp = s[(s["PARAMCD"] == "RSP") & (s["APERIOD"] == 2)].iloc[0]
    assert (rsp["AVALC"], rsp["AVAL"], str(rsp["ADT"].date())) == ("Y", 1.0, "2018-01-02")
    # 02-061 Part A: PD (11-02) followed by NE only: the PD is not confirmed (NE), the best response is NE
    s = _subject(adrs, "02-061")
    assert s[(s["PARAMCD"] == "COVR") & (s["APERIOD"] == 1)]["AVALC"].tolist() == ["NE", "NE"]
    assert s[(s["PARAMCD"] == "CBOR") & (s["APERIOD"] == 1)]["AVALC"].tolist() == ["NE"]


def test_adrs_traceability_and_flags(adam, sdtm):
    adrs = adam["ADRS"]
    ovr = adrs[adrs["PARAMCD"] == "OVR"]
    rs = sdtm["RS"]
    assert len(ovr) == int((rs["RSTESTCD"] == "OVRLRESP").sum()) == 874
    # every OVR record points at its RS record, with the same response
    back = ovr.merge(rs, left_on=["USUBJID", "SRCSEQ"], right_on=["USUBJID", "RSSEQ"], how="left")
    assert (back["AVALC"] == back["RSSTRESC"]).all() and (ovr["SRCVAR"] == "RSSTRESC").all()
    assert adrs.groupby("USUBJID")["ASEQ"].apply(lambda s: s.tolist() == list(range(1, len(s) + 1))).all()
    # 01-001: PD confirmed by the unscheduled PD in each part; ANL03FL stops after the first PD
    s = _subject(adrs, "01-001")
    covr = s[s["PARAMCD"] == "COVR"].sort_values("ADT")
    assert covr["AVALC"].tolist() == ["PD"] * 4 and covr["ANL03FL"].fillna("-").tolist() == ["Y", "-", "Y", "-"]
    death = s[s["PARAMCD"] == "DEATH"].iloc[0]
    assert (death["AVALC"], str(death["ADT"].date()), death["SRCDOM"], death["SRCVAR"]) == (
        "Y", "2017-04-08", "ADSL", "DTHDT")


# ----------------------------------------------------------------------------------------------------------------
# ADTTE


def test_tte_event_and_censored_subjects_by_hand(adam):
    adtte = adam["ADTTE"]
    assert adtte.groupby("PARAMCD").size().to_dict() == {"OSAB": 50, "OSB": 50, "PFSAB": 50, "PFSB": 50}

    def rec(subjid, paramcd):
        r = _subject(adtte, subjid)
        r = r[r["PARAMCD"] == paramcd].iloc[0]
        return str(r["STARTDT"].date()), str(r["ADT"].date()), r["AVAL"], r["CNSR"], r["EVNTDESC"]

    # 01-009: Part B registration 2018-07-16, first Part B PD 2018-08-28 (confirmed on the next visit): 43 + 1
    assert rec("01-009", "PFSB") == ("2018-07-16", "2018-08-28", 44.0, 0.0, "Disease progression in Part B (IMWG)")
    # ... from the first Part A infusion 2016-08-15: 743 days later
    assert rec("01-009", "PFSAB") == ("2016-08-15", "2018-08-28", 744.0, 0.0, "Disease progression in Part B (IMWG)")
    # died 2018-12-12
    assert rec("01-009", "OSB") == ("2018-07-16", "2018-12-12", 150.0, 0.0, "Death")
    assert rec("01-009", "OSAB") == ("2016-08-15", "2018-12-12", 850.0, 0.0, "Death")
    # 01-008: still in VGPR at the last Part B assessment 2020-09-08 (registration 2017-12-01): censored
    assert rec("01-008", "PFSB") == ("2017-12-01", "2020-09-08", 1013.0, 1.0, "Last adequate Part B assessment")
    assert rec("01-008", "PFSAB") == ("2016-08-01", "2020-09-08", 1500.0, 1.0, "Last adequate Part B assessment")
    # alive at the last contact 2020-09-10 (a survival follow-up call), before the cut 2020-10-01
    assert rec("01-008", "OSB") == ("2017-12-01", "2020-09-10", 1015.0, 1.0, "Last date known alive")
    assert rec("01-008", "OSAB") == ("2016-08-01", "2020-09-10", 1502.0, 1.0, "Last date known alive")
    censored = adtte[adtte["CNSR"] > 0]
    assert censored["CNSDTDSC"].notna().all() and adtte.loc[adtte["CNSR"] == 0, "CNSDTDSC"].isna().all()
    assert (adtte["ADT"] >= adtte["STARTDT"]).all()  # no event or censoring before the time origin


@pytest.mark.calibration
@pytest.mark.parametrize("item", FACTS["time_to_event"]["km_medians_months"],
                         ids=lambda i: f"{i['endpoint']}-{i['group']}")
def test_km_medians_reproduce_the_paper(adam, item):
    adtte = adam["ADTTE"]
    rows = adtte[(adtte["PARAMCD"] == item["endpoint"].replace("_", "")) & (adtte["RP2DFL"] == "Y")]
    if item["group"] != "all":
        rows = rows[rows["BORAGR1"] == item["group"]]
    data = tte_arrays(rows, scale=DAYS_PER_MONTH)
    median = km_median(data.time, data.event)
    assert abs(median - item["published"]) <= item["tol_calibrated"], (item, median)


# ----------------------------------------------------------------------------------------------------------------
# ADAE


@pytest.mark.calibration
def test_table2_counts_from_adae(adam):
    adae = adam["ADAE"]
    part_b_rp2d = (adae["APERIOD"] == 2) & (adae["RP2DFL"] == "Y")
    table = adae[(adae["AOCC01FL"] == "Y") & ((adae["APERIOD"] == 1) | part_b_rp2d)].copy()
    table["GRADE"] = table["ATOXGRN"].map({1: "1", 2: "2", 3: "3-4", 4: "3-4", 5: "5"})
    got = table.groupby(["AEDECOD", "APERIOD", "GRADE"]).size()
    for _, pt, part, grade, n in FACTS["table2"]["rows"]:
        assert got.get((pt, 1.0 if part == "A" else 2.0, grade), 0) == n, (pt, part, grade)
    soc = adae[(adae["AOCC02FL"] == "Y") & (adae["AEBODSYS"] == "Infections and infestations")
               & ((adae["APERIOD"] == 1) | part_b_rp2d)]
    totals = soc.assign(G=soc["ATOXGRN"].map({2: "2", 3: "3-4", 4: "3-4"})).groupby(["APERIOD", "G"]).size()
    assert totals.to_dict() == {(1.0, "2"): 26, (1.0, "3-4"): 11, (2.0, "2"): 28, (2.0, "3-4"): 6}
    irr = table[table["AEDECOD"] == "Infusion related reaction"]
    assert irr.groupby("APERIOD").size().to_dict() == {1.0: 22}
    # footnotes: supportive care per part (Part B = RP2D set), from ADSL
    adsl = adam["ADSL"]
    rp2d = adsl["RP2DFL"] == "Y"
    support = {name: (int((adsl[f"{code}AFL"] == "Y").sum()), int(((adsl[f"{code}BFL"] == "Y") & rp2d).sum()))
               for name, code in (("Red blood cell transfusion", "RBC"), ("Platelet transfusion", "PLT"),
                                  ("G-CSF", "GCSF"))}
    assert support == {k: (v["A"], v["B"]) for k, v in FACTS["table2"]["support_patients"].items()}


def test_adae_dates_periods_and_treatment_emergence(adam):
    adae = adam["ADAE"]
    # 01-021 AE 1 ended "2017-05": imputed to the last day of the month
    r = _subject(adae, "01-021")
    r = r[r["AESEQ"] == 1].iloc[0]
    assert (r["AEENDTC"], str(r["AENDT"].date()), r["AENDTF"]) == ("2017-05", "2017-05-31", "D")
    assert adae["AENDTF"].value_counts().to_dict() == {"D": 22} and adae["ASTDTF"].isna().all()
    # 02-048 sudden death 2017-09-07, six days after the last Part B dose (2017-09-01): Part B, treatment-emergent
    r = _subject(adae, "02-048")
    r = r[r["AEDECOD"] == "Sudden death"].iloc[0]
    assert (r["APERIOD"], r["APERIODC"], r["TRTEMFL"], r["ATOXGRN"]) == (2.0, "PART B", "Y", 5.0)
    assert (adae["TRTEMFL"] == "Y").all()  # the simulated export records only events of the protocol window


# ----------------------------------------------------------------------------------------------------------------
# ADBASE (Table 1)


@pytest.mark.calibration
def test_table1_counts_from_adbase(adam):
    base = adam["ADBASE"]
    column = pd.Series("A", index=base.index).where(base["AVISITN"] == 100,
                                                    "B" + base["BPHASE"].astype("Int64").astype(str))
    t1 = FACTS["table1"]["categorical"]

    def count(paramcd, value):
        rows = (base["PARAMCD"] == paramcd) & (base["AVALC"] == value)
        return column[rows].value_counts().to_dict()

    assert count("TRIPREF", "Y") == t1["triple_class_refractory"]
    assert count("DBLREF", "Y") == t1["double_class_refractory"]
    assert count("LINESGT3", "Y") == t1["gt3_prior_lines"]
    assert count("AUTOSCT", "Y") == t1["autologous_sct"]
    assert {v: count("CYTORISK", v.upper()) for v in t1["cytogenetic_risk"]} == t1["cytogenetic_risk"]
    assert {v: count("HCHAIN", v) for v in t1["heavy_chain"]} == t1["heavy_chain"]
    assert count("LENREF", "Y") == {"A": 51, "B1": 11, "B2": 27}
    assert count("DARAEXP", "Y") == {"A": 3, "B1": 14, "B2": 36}
    assert base.groupby(["AVISITN"]).USUBJID.nunique().to_dict() == {100.0: 63, 200.0: 50}
    # unknown = the record is there (the assessment was planned) but without a value (RSSTAT NOT DONE, not asked)
    unknown = {p: column[(base["PARAMCD"] == p) & base["AVALC"].isna()].value_counts().to_dict()
               for p in ("WHOPS", "ISS", "EMD")}
    assert unknown == {"WHOPS": {"A": 2}, "ISS": {"A": 5, "B1": 1, "B2": 4}, "EMD": {"A": 2, "B2": 1}}
    assert {k: v for k, v in t1["iss"]["Unknown"].items() if v} == unknown["ISS"]
    for paramcd, key in (("AGE", "age_years"), ("CACORR", "calcium_corrected_mmol_per_L"),
                         ("TSFTY", "time_since_first_treatment_years")):
        rows = base[base["PARAMCD"] == paramcd]
        got = rows.groupby(column[rows.index])["AVAL"].agg(["median", "min", "max"]).round(2)
        assert {c: got.loc[c].tolist() for c in got.index} == FACTS["table1"]["continuous"][key], paramcd
    # 01-001 at Part B registration: age 79 (born 1936-09-19, registered 2016-08-12), WHO PS 0 from RS
    r = _subject(base, "01-001")
    who = r[(r["PARAMCD"] == "WHOPS") & (r["AVISITN"] == 200)].iloc[0]
    assert (who["AVAL"], who["AVALC"], who["SRCDOM"], who["SRCVAR"], who["SRCSEQ"]) == (0.0, "0", "RS", "RSSTRESC", 6.0)
    assert r[(r["PARAMCD"] == "AGE") & (r["AVISITN"] == 200)]["AVAL"].tolist() == [79.0]


# ----------------------------------------------------------------------------------------------------------------
# validation, output, command line


def test_adam_validates_with_zero_errors(adam, sdtm, spec):
    findings = validate_datasets({"DM": sdtm["DM"], **adam}, spec)
    assert findings.count_at_or_above("warning") == 0, findings.summary()


def test_write_is_deterministic_and_reads_back(adam, spec, tmp_path):
    from cdiscflow.adam.study import AdamResult
    from cdiscflow.core.findings import Findings
    from cdiscflow.export import read_dataset

    first, second = tmp_path / "a", tmp_path / "b"
    write_adam(AdamResult(adam, Findings()), spec, first)
    write_adam(AdamResult(adam, Findings()), spec, second)
    for path in sorted(first.iterdir()):
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name
    adtte, meta = read_dataset(first / "adtte.xpt")
    assert meta.label == "Time-to-Event Analysis Dataset" and len(adtte) == 200
    assert adtte["STARTDT"].dtype.kind == "M" and (adtte["AVAL"] == adam["ADTTE"]["AVAL"]).all()


@pytest.mark.slow
def test_cli_adam_then_validate(tmp_path, spec, sdtm):
    from cdiscflow.usecases import write_sdtm

    result = map_study(spec)
    write_sdtm(result, spec, tmp_path / "sdtm", formats=("xpt",))
    runner = CliRunner()
    out = runner.invoke(main, ["adam", "--sdtm", str(tmp_path / "sdtm"), "--out", str(tmp_path / "adam")])
    assert out.exit_code == 0, out.output
    assert "ADTTE        200 records" in out.output and "no findings" in out.output
    assert sorted(p.name for p in (tmp_path / "adam").iterdir()) == [
        "_findings.csv", "_findings.json", "adae.json", "adae.xpt", "adbase.json", "adbase.xpt", "adrs.json",
        "adrs.xpt", "adsl.json", "adsl.xpt", "adtte.json", "adtte.xpt", "define.xml", "define2-1.xsl"]
    checked = runner.invoke(main, ["validate", str(tmp_path / "adam"), "--study", "dara_atra", "--out",
                                   str(tmp_path / "val"), "--no-data-docs"])
    assert checked.exit_code == 0, checked.output
    assert "no findings" in checked.output
    missing = runner.invoke(main, ["adam", "--sdtm", str(tmp_path / "val"), "--out", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "no SDTM datasets" in missing.output


def test_adam_req_variables_may_be_missing_keys_may_not(adam, spec):
    # ADaMIG 1.3 3.1: Req = the variable is in the dataset.  A subject with a partial birth date has no DM.AGE, so
    # no ADSL.AGE; TRT02P is Req in the IG and missing for subjects who never entered Part B.  Keys stay non-null.
    adsl = adam["ADSL"].copy()
    adsl.loc[0, "AGE"] = float("nan")
    assert validate_datasets({"ADSL": adsl}, spec).count_at_or_above("warning") == 0
    adsl.loc[1, "USUBJID"] = float("nan")
    findings = validate_datasets({"ADSL": adsl}, spec).frame()
    null = findings[findings["rule_id"] == "SCH-NULL-001"]
    assert null[["dataset", "variable", "row"]].values.tolist() == [["ADSL", "USUBJID", 2]]
