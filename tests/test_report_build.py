"""The DARA-ATRA analysis report (`build_report`, `cdiscflow report`): its numbers, read from the report's own table
objects and statistics (never from the HTML), checked against the paper and against values worked out by hand or by
an independent route through the ADaM datasets; the reproduction check; determinism; errors."""

from __future__ import annotations


import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from scipy.stats import beta

from cdiscflow.adam.study import derive_study
from cdiscflow.cli import main
from cdiscflow.core.errors import SpecError
from cdiscflow.report import build_report, load_report_spec, make_report
from cdiscflow.report.survival import DAYS_PER_MONTH, logrank, tte_arrays
from cdiscflow.sdtm import map_study
from cdiscflow.specs.load import load_study
from cdiscflow.specs.model import SPECS_DIR

pytestmark = pytest.mark.slow  # module fixtures run the pipeline end to end

FACTS = yaml.safe_load((SPECS_DIR / "dara_atra" / "facts.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def spec():
    return load_study("dara_atra")


@pytest.fixture(scope="module")
def adam(spec):
    return dict(derive_study(spec, map_study(spec).datasets).datasets)


@pytest.fixture(scope="module")
def report(spec, adam, tmp_path_factory):
    return make_report(spec, adam, tmp_path_factory.mktemp("report"))


def _stat(report, table, row="", category="", column="", stat="n"):
    value = report.stats.get(table, row, category, column, stat)
    assert value is not None, (table, row, category, column, stat)
    return value


def _cell(report, table: str, label: str, column: int) -> str:
    display = report.tables[table].display
    rows = display[display.iloc[:, 0].str.strip() == label]
    assert len(rows) == 1, (table, label, display.iloc[:, 0].tolist())
    return rows.iloc[0, column]


# ----------------------------------------------------------------------------------------------------------------
# Table 1


@pytest.mark.slow
@pytest.mark.calibration
def test_table1_cells(report):
    t = "table1"
    assert _stat(report, t, "AGEGR1", "<65", "A") == 20 and _stat(report, t, "AGEGR1", "<65", "A", "N") == 63
    assert round(_stat(report, t, "AGEGR1", "<65", "A", "pct"), 1) == 31.7
    assert _stat(report, t, "SEX", "Female", "B2") == 17 and _stat(report, t, "SEX", "Male", "B1") == 10
    # 'Unknown' = a record without a value: WHO PS not done for 2 Part A patients, EMD unknown for 1 in phase 2
    assert _stat(report, t, "WHOPS", "Unknown", "A") == 2 and _stat(report, t, "WHOPS", "Unknown", "B1") == 0
    assert _stat(report, t, "EMD", "missing", "B2") == 1
    # exposed / refractory pairs
    assert [_stat(report, t, "Thalidomide", p, "A") for p in ("THALEXP", "THALREF")] == [32, 11]
    assert [_stat(report, t, "Daratumumab", p, "B1") for p in ("DARAEXP", "DARAREF")] == [14, 14]
    assert [_stat(report, t, "AGE", column="A", stat=s) for s in ("median", "min", "max")] == [69, 38, 80]
    assert round(_stat(report, t, "CACORR", column="B1", stat="median"), 2) == 2.35
    assert _stat(report, t, "BMPC", column="A") == 39  # bone marrow biopsy available for 39 of 63
    # cells as printed, in the paper's layout (n (%), median (range); 100% without decimals)
    assert _cell(report, t, "<65", 1) == "20 (31.7)"
    assert _cell(report, t, "Median age, y (range)", 3) == "70 (46-80)"
    assert _cell(report, t, ">3 prior lines, n (%)", 2) == "14 (100)"
    assert _cell(report, t, "Lenalidomide", 1) == "63 (100) / 51 (81.0)"
    assert _cell(report, t, "Bone marrow plasma cell percentage in biopsy, median (range)", 1) == "50 (0-100); n = 39"
    assert _cell(report, t, "Absolute neutrophil count, x10^9/L", 3) == "3.36 (0.90-8.27)"
    # every printed count of the paper's Table 1 (facts.yaml), through the report's numbers
    for name, key in (("HCHAIN", "heavy_chain"), ("ISS", "iss"), ("CYTORISK", "cytogenetic_risk")):
        for category, cells in FACTS["table1"]["categorical"][key].items():
            for column, n in cells.items():
                assert _stat(report, t, name, category, column) == n, (name, category, column)


@pytest.mark.slow
def test_table1_unknown_and_unlisted_values_are_never_dropped(spec, adam, tmp_path):
    base = adam["ADBASE"].copy()
    # one subject's sex recorded as 'U' (not a category of the spec): shown as 'Other (U)'
    first = base.index[(base["PARAMCD"] == "SEX") & (base["AVISITN"] == 100)][0]
    base.loc[first, "AVALC"] = "U"
    # one subject's light-chain record removed: 'Not recorded'
    gone = base.index[(base["PARAMCD"] == "LCHAIN") & (base["AVISITN"] == 100)][0]
    base = base.drop(index=gone)
    result = make_report(spec, {**adam, "ADBASE": base}, tmp_path)
    assert _stat(result, "table1", "SEX", "other", "A") == 1
    assert _cell(result, "table1", "Other (U)", 1) == "1 (1.6)"
    assert _stat(result, "table1", "LCHAIN", "not recorded", "A") == 1
    assert _stat(result, "table1", "LCHAIN", "Kappa", "A") + _stat(result, "table1", "LCHAIN", "Lambda", "A") == 62


# ----------------------------------------------------------------------------------------------------------------
# response


def test_response_rates_with_exact_confidence_intervals(report):
    t = "response_rates"
    got = {r: (_stat(report, t, r, column="B"), _stat(report, t, r, column="B", stat="N"))
           for r in ("ORR", "CBR", "DCR")}
    assert got == {"ORR": (2, 44), "CBR": (4, 44), "DCR": (29, 44)}
    for row, n in (("ORR", 2), ("DCR", 29)):
        # Clopper-Pearson by its definition: beta quantiles
        lower, upper = beta.ppf(0.025, n, 44 - n + 1), beta.ppf(0.975, n + 1, 44 - n)
        assert _stat(report, t, row, column="B", stat="lower") == pytest.approx(100 * lower, abs=1e-9)
        assert _stat(report, t, row, column="B", stat="upper") == pytest.approx(100 * upper, abs=1e-9)
    assert _cell(report, t, "Overall response rate (PR or better)", 3) == "2 (4.5%)"
    assert _cell(report, t, "Overall response rate (PR or better)", 4) == "0.6-15.5"
    assert _cell(report, t, "Disease control rate (SD or better)", 4) == "50.1-79.5"
    assert _stat(report, t, "ORR", column="A") == 26  # Part A: 41% >= PR
    part_b = {c: _stat(report, "best_response", "BOR", c, "B") for c in ("VGPR", "PR", "MR", "SD", "PD", "NE")}
    assert part_b == {"VGPR": 2, "PR": 0, "MR": 2, "SD": 25, "PD": 14, "NE": 1}
    reasons = {c: _stat(report, "part_b_entry", "ENTRREAS", c, "all") for c in ("C1PD", "C2MR", "C3PR", "RESP")}
    assert reasons == {"C1PD": 6, "C2MR": 16, "C3PR": 8, "RESP": 20}


# ----------------------------------------------------------------------------------------------------------------
# time to event


def _product_limit_median(days, event) -> float:
    """Kaplan-Meier median in months written out here, independently of report.survival and statsmodels:
    S drops by (1 - d/n) at each event day; the median is the first day with S <= 0.5 (midpoint when S = 0.5 exactly
    up to the next event day), as in R `survival` and SAS LIFETEST."""
    frame = pd.DataFrame({"t": days, "e": event}).sort_values("t")
    surv, steps = 1.0, []
    for t, group in frame.groupby("t", sort=True):
        at_risk = int((frame["t"] >= t).sum())
        deaths = int(group["e"].sum())
        if deaths:
            surv *= 1 - deaths / at_risk
            steps.append((float(t), surv))
    for i, (t, s) in enumerate(steps):
        if abs(s - 0.5) < 1e-12:
            later = steps[i + 1][0] if i + 1 < len(steps) else float(frame["t"].max())
            return (t + later) / 2 / DAYS_PER_MONTH
        if s < 0.5:
            return t / DAYS_PER_MONTH
    return float("nan")


def test_km_medians_and_follow_up_agree_with_an_independent_route(report, adam):
    adtte = adam["ADTTE"]
    rp2d = adtte[adtte["RP2DFL"] == "Y"]
    for endpoint, paramcd in (("PFS_B", "PFSB"), ("OS_AB", "OSAB")):
        rows = rp2d[rp2d["PARAMCD"] == paramcd]
        # AVAL is in days; CNSR = 0 is an event, any positive value a censoring (ADaMIG ADTTE)
        expected = _product_limit_median(rows["AVAL"].to_numpy(), (rows["CNSR"] == 0).to_numpy())
        assert _stat(report, "tte", endpoint, "all", stat="median") == pytest.approx(expected, rel=1e-12)
        assert _stat(report, "tte", endpoint, "all", stat="n") == 44
        pr = rows[rows["BORAGR1"] == ">=PR"]
        expected = _product_limit_median(pr["AVAL"].to_numpy(), (pr["CNSR"] == 0).to_numpy())
        assert _stat(report, "tte", endpoint, ">=PR", stat="median") == pytest.approx(expected, rel=1e-12)
    # the paper's medians (months) to its printed precision
    assert round(_stat(report, "tte", "PFS_B", "all", stat="median"), 1) == 2.8
    assert round(_stat(report, "tte", "OS_B", "all", stat="median"), 1) == 19.1
    assert round(_stat(report, "tte", "PFS_AB", "SD/MR", stat="median"), 1) == 5.4
    # events: 40 PFS-B events (38 PD + 2 later events), 38 deaths by the cut
    assert _stat(report, "tte", "PFS_B", "all", stat="events") == 40
    assert _stat(report, "tte", "OS_B", "all", stat="events") == 38
    # SPSS-style interval of the overall PFS-B median: 2.8 (1.6-4.0) printed in the paper
    lo, hi = (_stat(report, "tte", "PFS_B", "all", stat=s) for s in ("spss_lower", "spss_upper"))
    assert (round(lo, 1), round(hi, 1)) == (1.5, 4.0)
    rows = rp2d[rp2d["PARAMCD"] == "OSAB"]
    # reverse Kaplan-Meier: censoring is the event
    expected = _product_limit_median(rows["AVAL"].to_numpy(), (rows["CNSR"] != 0).to_numpy())
    assert _stat(report, "tte_followup", "OS_AB", stat="median") == pytest.approx(expected, rel=1e-12)
    assert abs(_stat(report, "tte_followup", "OS_AB", stat="median") - 43) <= 2


@pytest.mark.calibration
def test_logrank_p_values(report, adam):
    adtte = adam["ADTTE"]
    rows = adtte[(adtte["RP2DFL"] == "Y") & (adtte["PARAMCD"] == "PFSB") & adtte["BORAGR1"].isin([">=PR", "PD"])]
    d = tte_arrays(rows, scale=DAYS_PER_MONTH, group_var="BORAGR1")
    p = _stat(report, "tte_logrank", "PFS_B", ">=PR", "PD", "p")
    assert p == pytest.approx(logrank(d.time, d.event, d.group).pvalue, rel=1e-12)
    assert 0.0006 <= p <= 0.006  # published 0.002
    assert 0.0085 <= _stat(report, "tte_logrank", "PFS_B", "SD/MR", "PD", "p") <= 0.0499  # published 0.027
    assert _stat(report, "tte_logrank", "OS_B", stat="min_pairwise_p") > 0.05  # no OS-B difference reported
    assert _stat(report, "tte_logrank", "PFS_AB", ">=PR", "PD", "p") < 1e-6  # the documented mismatch


def test_km_figures_and_numbers_at_risk(report):
    pngs = sorted(p.name for p in report.written if p.suffix == ".png")
    assert pngs == sorted(f"km_{e}{s}.png" for e in ("PFS_B", "OS_B", "PFS_AB", "OS_AB") for s in ("", "_by_group"))
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in report.written if p.suffix == ".png")
    assert _stat(report, "tte_at_risk", "PFS_B", "all", "0") == 44
    assert _stat(report, "tte_at_risk", "PFS_B", "PD", "0") == 5
    risk = report.tables["tte_at_risk_PFS_B"].display
    assert risk.iloc[0, 0] == "All patients" and risk.iloc[0, 1] == 44


# ----------------------------------------------------------------------------------------------------------------
# Table 2


def test_table2_cells(report):
    t = "table2"
    assert _stat(report, t, "anemia", "2", "B") == 21 and _stat(report, t, "anemia", "3-4", "A") == 8
    assert _stat(report, t, "infections", "2", "A") == 26 and _stat(report, t, "infections", "3-4", "A") == 11
    # 'Other' infections: eye and tooth (grade 2), CMV, device-related and tooth (grade 3-4): one patient each
    assert (_stat(report, t, "other_infection", "2", "A"), _stat(report, t, "other_infection", "3-4", "A")) == (2, 3)
    assert _stat(report, t, "irr", "2", "A") == 12 and _stat(report, t, "irr", "2", "B") == 0
    assert _cell(report, t, "Anemia", 3) == "21 (48)"
    assert _stat(report, "ae_terms", "Infusion related reaction", "1", "A") == 10
    assert _stat(report, "ae_terms", "Sudden death", "5", "B") == 1  # not in Table 2, but not lost
    foot = "table2_footnotes"
    support = {r: (_stat(report, foot, r, column="A"), _stat(report, foot, r, column="B"))
               for r in ("Red blood cell transfusion", "Platelet transfusion", "G-CSF", "irr_any")}
    assert support == {"Red blood cell transfusion": (16, 11), "Platelet transfusion": (6, 4), "G-CSF": (12, 6),
                       "irr_any": (22, 0)}


# ----------------------------------------------------------------------------------------------------------------
# reproduction check


@pytest.mark.calibration
def test_reproduction_has_no_unexpected_failure(report):
    checks = report.checks
    assert report.counts()["unexpected"] == 0
    assert len(checks) > 400 and (checks["result"] == "PASS").sum() == len(checks) - 4
    failed = checks[checks["result"] == "FAIL"]
    assert sorted(failed["note"]) == sorted([
        "documented mismatch FLOW_STILL_ON_A", "documented mismatch PFS_AB_LOGRANK_PR_VS_PD",
        "documented mismatch TABLE2_INFECTION_PCT", "documented mismatch TABLE2_INFECTION_PCT"])
    infections = failed[failed["fact"] == "printed.percent.table2_infections.A.2"].iloc[0]
    assert (infections["paper"], infections["cdiscflow"]) == ("42", "41 (41.27)")  # shown, never hidden
    medians = checks[checks["fact"].str.startswith("time_to_event.km_medians_months")]
    assert len(medians) == len(FACTS["time_to_event"]["km_medians_months"]) and (medians["result"] == "PASS").all()
    assert len(checks[checks["fact"].str.startswith("table2.rows[")]) == len(FACTS["table2"]["rows"])
    # the paper's text: the two Part B VGPR patients had MR and CR as best response in Part A
    vgpr = checks[checks["fact"].str.startswith("best_response_part_b_rp2d.vgpr_patients_part_a_best")]
    assert sorted(vgpr["item"].str.rsplit(" / ", n=1).str[-1]) == ["CR", "MR"] and (vgpr["result"] == "PASS").all()
    written = {p.name for p in report.written}
    assert {"index.html", "reproduction.csv", "reproduction_fail.csv", "statistics.csv", "table1.csv"} <= written


@pytest.mark.slow
def test_a_broken_figure_is_an_unexpected_fail(study_copy, adam, tmp_path):
    facts = study_copy / "facts.yaml"
    facts.write_text(facts.read_text().replace("enrolled_part_a: 63", "enrolled_part_a: 64"))
    result = make_report(load_study(study_copy), adam, tmp_path)
    assert result.counts()["unexpected"] == 1
    row = result.checks[result.checks["fact"] == "patient_flow.enrolled_part_a"].iloc[0]
    assert (row["paper"], row["cdiscflow"], row["result"]) == ("64", "63", "FAIL")


# ----------------------------------------------------------------------------------------------------------------
# files, determinism, command line, errors


@pytest.mark.slow
def test_report_is_deterministic_and_synthetic(spec, adam, report, tmp_path):
    again = build_report(spec, adam, tmp_path)
    first = {p.name: p.read_bytes() for p in report.written}
    assert {p.name: p.read_bytes() for p in again} == first
    page = first["index.html"].decode("utf-8")
    assert "SYNTHETIC DATA" in page and "data cut 2020-10-01" in page and "cdiscflow 0.1.0" in page
    stats = pd.read_csv(report.index.parent / "statistics.csv")
    assert list(stats.columns) == ["table", "row", "category", "column", "stat", "value", "row_label",
                                   "category_label", "column_label"]
    assert not stats.duplicated(["table", "row", "category", "column", "stat"]).any()


@pytest.mark.slow
def test_cli_report_from_xpt_matches_the_in_memory_report(spec, adam, report, tmp_path):
    from cdiscflow.adam.study import AdamResult
    from cdiscflow.usecases import write_adam
    from cdiscflow.core.findings import Findings

    write_adam(AdamResult(adam, Findings()), spec, tmp_path / "adam")
    res = CliRunner().invoke(main, ["report", "--adam", str(tmp_path / "adam"), "--out", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    assert "reproduction: 424 comparisons, 420 PASS, 4 FAIL (4 documented, 0 unexpected)" in res.output
    for path in report.written:
        assert (tmp_path / "rep" / path.name).read_bytes() == path.read_bytes(), path.name
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(main, ["report", "--adam", str(empty), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "no ADaM datasets" in res.output


def test_report_spec_problems_are_listed_with_their_place(study_copy):
    text = (study_copy / "report.yaml").read_text()
    text = text.replace("where: \"RP2DFL == 'Y'\"}", "where: \"RP2DLF == 'Y'\"}", 1)  # a variable ADSL lacks
    text = text.replace("fact: table1.categorical.sex", "fact: table1.categorical.gender")  # no such fact
    text = text.replace("population: B2, where: \"AVISITN == 200\"", "population: B3, where: \"AVISITN == 200\"")
    (study_copy / "report.yaml").write_text(text)
    with pytest.raises(SpecError) as err:
        load_report_spec(load_study(study_copy))
    problems = "\n".join(err.value.problems)
    assert "populations.RP2D: ADSL has no variable RP2DLF" in problems
    assert "(table1).rows[2] (SEX).fact[0]: the facts have no table1.categorical.gender" in problems
    assert "(table1).columns[2]: unknown population 'B3'" in problems
    res = CliRunner().invoke(main, ["check-spec", str(study_copy)])
    assert res.exit_code == 2 and "RP2DLF" in res.output


def test_a_study_without_report_yaml_gets_an_inventory(study_copy, adam, tmp_path):
    (study_copy / "report.yaml").unlink()
    paths = build_report(load_study(study_copy), {"ADSL": adam["ADSL"]}, tmp_path)
    assert [p.name for p in paths] == ["index.html", "datasets.csv"]
    assert pd.read_csv(tmp_path / "datasets.csv").values.tolist() == [["ADSL", 63, 63]]


@pytest.mark.slow
def test_a_tiny_cut_still_gives_a_report(spec, adam, tmp_path):
    keep = ["DARA-ATRA-01-001", "DARA-ATRA-01-008", "DARA-ATRA-01-009"]
    small = {name: frame[frame["USUBJID"].isin(keep)].reset_index(drop=True) for name, frame in adam.items()}
    result = make_report(spec, small, tmp_path)
    assert _stat(result, "patient_flow", "enrolled", column="n") == 3
    assert result.counts()["unexpected"] > 0  # three patients cannot reproduce the paper, and it says so
    assert (tmp_path / "km_PFS_B_by_group.png").is_file()


def test_a_second_study_writes_its_own_report_yaml(study_copy, tmp_path):
    # the engine is generic: a new report.yaml over hand-made ADSL/ADAE, counts worked out by hand
    (study_copy / "report.yaml").write_text("""
title: Mini
populations:
  ALL: {label: All, where: "SAFFL == 'Y'"}
  OLD: {label: Older, where: "SAFFL == 'Y' and AGE >= 65"}
sections:
  - title: Demographics
    items:
      - table:
          name: demo
          dataset: ADSL
          columns: [{id: all, label: All, population: ALL}, {id: old, label: "65+", population: OLD}]
          percent: {decimals: 0, sign: true}
          rows:
            - {id: age, label: Age, variable: AGE, stat: median_range}
            - {id: sex, label: Sex, variable: SEX, categories: [{value: F, label: Female}, {value: M, label: Male}]}
      - table:
          name: aes
          kind: adverse_events
          dataset: ADAE
          records: "TRTEMFL == 'Y'"
          bands: [{id: low, label: Grade 1-2, grades: [1, 2]}, {id: high, label: Grade 3+, grades: [3, 4, 5]}]
          columns: [{id: all, label: All, population: ALL}]
          rows: [{id: any, label: Any event, where: "notna(AEDECOD)"}]
""")
    adsl = pd.DataFrame({"USUBJID": ["S1", "S2", "S3", "S4"], "SAFFL": ["Y", "Y", "Y", "N"],
                         "AGE": [60.0, 70.0, 80.0, 90.0], "SEX": ["F", "M", "F", "M"]})
    adae = pd.DataFrame({"USUBJID": ["S1", "S1", "S2", "S4"], "AEDECOD": ["Nausea", "Rash", "Rash", "Rash"],
                         "ATOXGRN": [1.0, 3.0, 2.0, 4.0], "TRTEMFL": ["Y", "Y", "Y", "Y"]})
    result = make_report(load_study(study_copy), {"ADSL": adsl, "ADAE": adae}, tmp_path)
    assert _cell(result, "demo", "Age", 1) == "70 (60-80)" and _cell(result, "demo", "Age", 2) == "75 (70-80)"
    assert _stat(result, "demo", "sex", "F", "all") == 2 and _stat(result, "demo", "sex", "F", "old") == 1
    assert _cell(result, "demo", "Female", 1) == "2 (67%)"
    # S1's worst grade is 3 (counted once, in 3+), S2's 2; S4 is not in the safety set
    assert (_stat(result, "aes", "any", "low", "all"), _stat(result, "aes", "any", "high", "all")) == (1, 1)
    assert result.checks.empty and "reproduction.csv" not in {p.name for p in result.written}


@pytest.mark.slow
def test_the_report_from_the_variables_it_reads_is_the_same_report(spec, adam, report, tmp_path):
    """`report_inputs` names what the report reads (what `cdiscflow run` sends its report worker): the report from
    ADaM cut down to it has the same bytes, and a dataset it does not read travels as its record count."""
    from cdiscflow.report import report_frames, report_inputs

    inputs = report_inputs(spec)
    assert inputs["ADBASE"] == ("AVAL", "AVALC", "AVISITN", "PARAMCD", "USUBJID")
    assert inputs["ADTTE"] == ("AVAL", "BORAGR1", "CNSR", "PARAMCD", "USUBJID")
    assert sorted(inputs) == ["ADAE", "ADBASE", "ADRS", "ADSL", "ADTTE"]
    cut = report_frames({**adam, "ADXX": adam["ADSL"]}, inputs)
    assert list(cut["ADBASE"].columns) == ["USUBJID", "PARAMCD", "AVISITN", "AVAL", "AVALC"]  # ADBASE's order
    assert cut["ADBASE"].equals(adam["ADBASE"][list(cut["ADBASE"].columns)])
    assert cut["ADXX"].shape == (63, 0)
    again = build_report(spec, {n: f for n, f in cut.items() if n != "ADXX"}, tmp_path / "cut")
    assert {p.name: p.read_bytes() for p in again} == {p.name: p.read_bytes() for p in report.written}


def test_without_report_yaml_the_report_reads_only_the_subjects(study_copy, adam, tmp_path):
    from cdiscflow.report import report_frames, report_inputs

    (study_copy / "report.yaml").unlink()
    inputs = report_inputs(load_study(study_copy))
    assert inputs is None
    cut = report_frames(adam, inputs)
    assert all(list(frame.columns) == ["USUBJID"] for frame in cut.values())
    build_report(load_study(study_copy), {"ADSL": cut["ADSL"]}, tmp_path)
    assert pd.read_csv(tmp_path / "datasets.csv").values.tolist() == [["ADSL", 63, 63]]
