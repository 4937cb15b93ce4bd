"""The report's numbers as a CDISC ARS 1.0 reporting event and ARD: schema-valid, every number in it, and the counts
recomputed from the ADaM datasets by the ARS metadata alone (where clauses of analysis sets, subsets and groups)."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest

from cdiscflow.specs.report.analyses import Selection
from cdiscflow.report.ars import ard_frame, read_statistics, reporting_event, validate_reporting_event, where_clause
from cdiscflow.specs.load import load_study


def test_where_clauses_are_conditions_or_an_and_of_them():
    assert where_clause(Selection("ADSL", ("SAFFL == 'Y'",))) == {
        "level": 1, "order": 1, "condition": {"dataset": "ADSL", "variable": "SAFFL", "comparator": "EQ",
                                              "value": ["Y"]}}
    two = where_clause(Selection("ADRS", ("PARAMCD == 'CBOR' and APERIOD == 1", "notna(ADT)")))
    assert two["compoundExpression"]["logicalOperator"] == "AND"
    assert [w["condition"]["variable"] for w in two["compoundExpression"]["whereClauses"]] == ["PARAMCD", "APERIOD"]


@pytest.fixture(scope="module")
def run_out(tmp_path_factory) -> Path:
    from cdiscflow.pipeline import run

    out = tmp_path_factory.mktemp("ars") / "out"
    run(out_dir=out, data_docs=False)
    return out


@pytest.fixture(scope="module")
def event(run_out):
    return reporting_event(load_study("dara_atra"), read_statistics(run_out / "report" / "statistics.csv"))


@pytest.mark.slow
def test_reporting_event_validates_against_the_ars_schema(event):
    assert validate_reporting_event(event) == []
    broken = copy.deepcopy(event)
    del broken["mainListOfContents"]
    broken["analyses"][0]["reason"] = {"controlledTerm": "BECAUSE"}
    problems = validate_reporting_event(broken)
    assert any("mainListOfContents" in p for p in problems) and any(p.startswith("analyses/0/reason") for p in problems)


@pytest.mark.slow
def test_every_number_is_a_result_of_one_analysis(run_out, event):
    stats = read_statistics(run_out / "report" / "statistics.csv")
    results = [r for a in event["analyses"] for r in a.get("results", [])]
    assert len(results) == len(stats) == 2129
    operations = {o["id"] for m in event["methods"] for o in m["operations"]}
    assert {r["operationId"] for r in results} <= operations
    groups = {g["id"] for gf in event["analysisGroupings"] for g in gf.get("groups", [])}
    assert {x["groupId"] for r in results for x in r.get("resultGroups", []) if "groupId" in x} <= groups
    ard = ard_frame(load_study("dara_atra"), stats)
    assert ard[["table", "row", "category", "column", "stat", "raw_value"]].values.tolist() == \
        stats[["table", "row", "category", "column", "stat", "value"]].values.tolist()
    # a hand-checked number: Part B at the RP2D, best confirmed response VGPR
    row = ard[(ard["table"] == "best_response") & (ard["category"] == "VGPR") & (ard["column"] == "B")
              & (ard["stat"] == "n")].iloc[0]
    assert (row.analysis_id, row.analysis_set_id, row.group_1) == ("AN.best_response.BOR.B", "AS.RP2D",
                                                                     "GF.best_response.BOR.VGPR")


def _mask(frame: pd.DataFrame, clause: dict) -> pd.Series:
    """Records meeting an ARS where clause (condition or AND compound), evaluated with pandas only."""
    if "compoundExpression" in clause:
        assert clause["compoundExpression"]["logicalOperator"] == "AND"
        mask = pd.Series(True, index=frame.index)
        for sub in clause["compoundExpression"]["whereClauses"]:
            mask &= _mask(frame, sub)
        return mask
    if "condition" not in clause:
        return pd.Series(True, index=frame.index)
    c = clause["condition"]
    col = frame[c["variable"]]
    values = pd.to_numeric(pd.Series(c["value"])) if pd.api.types.is_numeric_dtype(col) else pd.Series(c["value"])
    op = c["comparator"]
    if op in ("EQ", "IN"):
        return col.isin(values)
    if op in ("NE", "NOTIN"):
        return ~col.isin(values) & col.notna()
    value = values.iloc[0]
    return {"LT": col < value, "LE": col <= value, "GT": col > value, "GE": col >= value}[op].fillna(False)


@pytest.mark.slow
def test_counts_recomputed_from_adam_by_the_ars_metadata_alone(run_out, event):
    from cdiscflow.export.read import read_datasets

    adam, _ = read_datasets(run_out / "adam")
    sets = {s["id"]: s for s in event["analysisSets"]}
    subsets = {s["id"]: s for s in event["dataSubsets"]}
    groups = {g["id"]: g for gf in event["analysisGroupings"] for g in gf.get("groups", [])}
    unsaid = "not in the where clause"
    checked = 0
    for a in event["analyses"]:
        if a["methodId"] not in ("MTH.COUNT", "MTH.COUNT_CI"):
            continue
        aset, subset = sets[a["analysisSetId"]], subsets.get(a.get("dataSubsetId"), {})
        if unsaid in aset["description"] or unsaid in subset.get("description", ""):
            continue
        pop_ds = (aset.get("condition") or aset["compoundExpression"]["whereClauses"][0]["condition"])["dataset"]
        subjects = set(adam[pop_ds].loc[_mask(adam[pop_ds], aset), "USUBJID"])
        frame = adam[a["dataset"]]
        base = _mask(frame, subset) & frame["USUBJID"].isin(subjects)
        for result in a["results"]:
            stat = result["operationId"].rsplit(".", 1)[1]
            if stat == "N":
                assert float(result["rawValue"]) == len(subjects), a["id"]
                continue
            if stat != "n":
                continue
            mask = base
            for ref in result.get("resultGroups", []):
                group = groups[ref["groupId"]]
                if "condition" not in group and "compoundExpression" not in group:
                    mask = None  # missing / other / not recorded: defined by the method, not by a clause
                    break
                if unsaid in group.get("description", ""):
                    mask = None
                    break
                mask = mask & _mask(frame, group)
            if mask is None:
                continue
            assert frame.loc[mask, "USUBJID"].nunique() == float(result["rawValue"]), (a["id"], result)
            checked += 1
    assert checked >= 250  # 261 counts of Table 1, flow, response, entry and status tables (all with a where clause)


@pytest.mark.slow
def test_medians_and_worst_grades_recomputed_by_the_ars_metadata_alone(run_out, event):
    from cdiscflow.export.read import read_datasets

    adam, _ = read_datasets(run_out / "adam")
    sets = {s["id"]: s for s in event["analysisSets"]}
    subsets = {s["id"]: s for s in event["dataSubsets"]}
    groups = {g["id"]: g for gf in event["analysisGroupings"] for g in gf.get("groups", [])}
    variables = {gf["id"]: gf.get("groupingVariable") for gf in event["analysisGroupings"]}
    checked = {"MTH.MEDIAN_RANGE": 0, "MTH.WORST_GRADE": 0}
    for a in event["analyses"]:
        if a["methodId"] not in checked or "dataSubsetId" not in a:
            continue
        aset, subset = sets[a["analysisSetId"]], subsets[a["dataSubsetId"]]
        if "not in the where clause" in aset["description"] + subset["description"]:
            continue
        pop_ds = (aset.get("condition") or aset["compoundExpression"]["whereClauses"][0]["condition"])["dataset"]
        subjects = set(adam[pop_ds].loc[_mask(adam[pop_ds], aset), "USUBJID"])
        frame = adam[a["dataset"]]
        records = frame[_mask(frame, subset) & frame["USUBJID"].isin(subjects)]
        values = pd.to_numeric(records[a["variable"]], errors="coerce").dropna()
        worst = records.groupby("USUBJID")[a["variable"]].max().to_frame()
        for result in a["results"]:
            stat, raw = result["operationId"].rsplit(".", 1)[1], result.get("rawValue")
            if a["methodId"] == "MTH.MEDIAN_RANGE" and raw is not None:
                mine = {"n": len(values), "median": values.median(), "min": values.min(), "max": values.max()}[stat]
                assert float(raw) == pytest.approx(mine, rel=1e-9), (a["id"], stat)
                checked[a["methodId"]] += 1
            elif a["methodId"] == "MTH.WORST_GRADE" and stat == "n":
                (ref,) = [r for r in result["resultGroups"] if "groupId" in r]
                mine = worst
                for value in [r for r in result["resultGroups"] if "groupValue" in r]:  # a term of ae_terms
                    term = records[records[variables[value["groupingId"]]] == value["groupValue"]]
                    mine = term.groupby("USUBJID")[a["variable"]].max().to_frame()
                assert float(raw) == _mask(mine, groups[ref["groupId"]]).sum(), (a["id"], ref)
                checked[a["methodId"]] += 1
    # Table 1's continuous rows (n, median, min, max per column) and Table 2's rows by worst grade band
    assert checked["MTH.MEDIAN_RANGE"] >= 100 and checked["MTH.WORST_GRADE"] >= 200, checked
