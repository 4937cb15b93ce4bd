"""A foreign study by spec alone: pharmaverseraw mapped with specs/pharmaverse_pilot agrees with pharmaversesdtm.

Every variable both sides carry must agree value by value, except the differences comparison.yaml lists, which must
occur exactly as often as listed (an unexplained difference fails; so does an explained one that went away).
Needs ../shared (skips without it).
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pandas as pd
import pytest

from cdiscflow.sdtm import map_study
from cdiscflow.sdtm.compare import agreement_table, compare_study, load_comparison, unexplained
from cdiscflow.specs.load import load_study
from cdiscflow.specs.model import SPECS_DIR

pytestmark = pytest.mark.slow  # module fixtures run the pipeline end to end

STUDY = SPECS_DIR / "pharmaverse_pilot"
REPO = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=1)
def _mapped(shared: Path):
    spec = load_study(STUDY)
    result = map_study(spec, shared / "reference-data" / "pharmaverse" / "raw")
    comparisons = compare_study(spec, result.datasets, shared / "reference-data" / "pharmaverse" / "sdtm")
    return spec, result, comparisons


@pytest.fixture
def pilot(shared):
    return _mapped(shared)  # mapped once per session (about 1 s)


@pytest.mark.slow
def test_every_raw_row_mapped_without_findings(pilot):
    _, result, _ = pilot
    assert result.accounting.set_index("form")["rows_in"].to_dict() == {
        "dm": 306, "ae": 1191, "ds": 850, "ec": 591, "vs": 12978}
    assert (result.accounting["rows_in"] == result.accounting["rows_mapped"]).all()
    assert result.lost_rows == 0 and result.rejects.empty
    assert result.findings.frame().empty  # no RAW-/MAP- finding, not even an unused raw field


def test_same_records_as_pharmaversesdtm(pilot):
    spec, result, comparisons = pilot
    rows = {name: (c.rows_ours, c.rows_reference, len(c.only_ours), len(c.only_reference))
            for name, c in comparisons.items()}
    assert rows == {"DM": (306, 306, 0, 0), "AE": (1191, 1191, 0, 0), "DS": (850, 850, 0, 0),
                    "EX": (591, 591, 0, 0), "VS": (29644, 29643, 1, 0)}  # the listed extra NOT DONE record
    assert comparisons["VS"].only_ours.iloc[0].tolist() == ["01-713-1141", "DIABP", 7.0, 815.0]


def test_per_variable_agreement_is_100_percent_except_listed_differences(pilot, capsys):
    spec, _, comparisons = pilot
    expected = load_comparison(spec)
    table = agreement_table(comparisons, expected)
    with capsys.disabled():
        print("\nper-variable agreement with pharmaversesdtm (listed = difference explained in comparison.yaml)")
        print(table.drop(columns="reason").to_string(index=False))
    assert unexplained(comparisons, expected) == []
    unlisted = table[table["listed"] == 0]
    assert (unlisted["pct_agreement"] == 100.0).all() and (unlisted["n_different"] == 0).all()
    assert table.groupby("dataset").size().to_dict() == {"DM": 26, "AE": 34, "DS": 12, "EX": 17, "VS": 24}
    assert table["n_different"].sum() == table["listed"].sum() == 254 + 6 + 1 + 67 + 4 * 52 + 240 + 2 * 1182 + 15 \
        + 1 + 64 + 8463 + 8201 + 2 * 17


def test_values_checked_by_hand(pilot):
    _, result, _ = pilot
    dm = result.datasets["DM"].set_index("USUBJID")
    s = dm.loc["01-701-1015"]  # dm_raw: 701-1015, 63, Female, COL_DT 12/26/2013, IC_DT 12/26/2013, Placebo
    assert (s.SUBJID, s.SITEID, s.AGE, s.AGEU, s.SEX, s.ARM) == ("1015", "701", 63.0, "YEARS", "F", "Placebo")
    assert (s.RFSTDTC, s.RFXENDTC, s.RFPENDTC, s.DMDTC, s.DMDY) == (
        "2014-01-02", "2014-07-02", "2014-07-02T11:45", "2013-12-26", -7.0)
    d = dm.loc["01-710-1083"]  # died 08/02/2013 (ds_raw DEATHDT)
    assert (d.DTHDTC, d.DTHFL, d.RFENDTC) == ("2013-08-02", "Y", "2013-08-02")
    sf = dm.loc["01-701-1057"]  # screen failure: no arm, the reason instead
    assert pd.isna(sf.ARMCD) and pd.isna(sf.ACTARM) and sf.ARMNRS == "SCREEN FAILURE" and pd.isna(sf.RFSTDTC)
    vs = result.datasets["VS"]
    temp = vs[(vs.USUBJID == "01-701-1015") & (vs.VSTESTCD == "TEMP") & (vs.VISIT == "SCREENING 1")].iloc[0]
    assert (temp.VSORRES, temp.VSORRESU, temp.VSSTRESC, temp.VSSTRESN, temp.VSLOC) == (
        "96.9", "F", "36.06", 36.06, "ORAL CAVITY")  # (96.9 - 32) * 5 / 9 = 36.055...
    ds = result.datasets["DS"]
    unscheduled = ds[(ds.USUBJID == "01-701-1047") & (ds.DSCAT == "OTHER EVENT")].iloc[0]
    assert (unscheduled.VISIT, unscheduled.VISITNUM, unscheduled.DSTERM, unscheduled.DSDTC) == (
        "UNSCHEDULED 6.1", 6.1, "FINAL LAB VISIT", "2013-04-07T11:20")


def _code(path: Path) -> str:
    """A module's code without comments and docstrings (examples in docstrings may name a study)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            body[0] = ast.Pass()
    return ast.unparse(tree)


def test_no_study_specific_branch_in_the_engine():
    """Nothing in sdtm/ names a study, its raw fields or its values: studies differ by spec only."""
    names = [r"CDISCPILOT", r"DARA-ATRA", r"pharmaverse", r"PATNUM", r"Scrnfail", r"Xanomeline", r"\bIT\.",
             r"daratumumab", r"tretinoin", r"\bstudyid\s*==", r"\bstudy\s*==", r"\.studyid\s*(==|!=|in\b)"]
    pattern = re.compile("|".join(names), re.IGNORECASE)
    hits = [f"{p.relative_to(REPO / 'sdtm')}: {line.strip()}" for p in sorted((REPO / "sdtm").rglob("*.py"))
            for line in _code(p).splitlines() if pattern.search(line)]
    # `cdiscflow init` recognises a subject column by the names EDC systems commonly give it (PATNUM among them):
    # vocabulary for drafting a spec, not a branch on a study
    vocabulary = "draft.py: SUBJECT_NAMES = ("
    assert [h for h in hits if not h.startswith(vocabulary)] == []
    assert len(list((REPO / "sdtm").rglob("*.py"))) >= 15  # the engine's subfolders (mapping/, raw/) are read too


@pytest.mark.slow
def test_compare_command_writes_the_tables_and_fails_on_an_unexplained_difference(shared, tmp_path):
    import shutil

    from click.testing import CliRunner

    from cdiscflow.cli import main

    raw, ref = shared / "reference-data" / "pharmaverse" / "raw", shared / "reference-data" / "pharmaverse" / "sdtm"
    args = ["compare", "--raw", str(raw), "--reference", str(ref)]
    ok = CliRunner().invoke(main, [*args, "--study", str(STUDY), "--out", str(tmp_path / "ok")])
    assert ok.exit_code == 0, ok.output
    assert "EX: 17 shared variables, 17 identical, 0 with listed differences" in ok.output
    agreement = pd.read_csv(tmp_path / "ok" / "agreement.csv")
    assert agreement.set_index(["dataset", "variable"]).loc[("DM", "RFPENDTC"), "n_different"] == 67
    differences = pd.read_csv(tmp_path / "ok" / "differences.csv")
    assert len(differences) == agreement["n_different"].sum()
    study = tmp_path / "study"
    shutil.copytree(STUDY, study)
    text = (study / "comparison.yaml").read_text(encoding="utf-8")
    (study / "comparison.yaml").write_text(text.replace("count: 67", "count: 66"), encoding="utf-8")
    bad = CliRunner().invoke(main, [*args, "--study", str(study), "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 1
    assert "DM.RFPENDTC: 67 value(s) differ, comparison.yaml lists 66" in bad.output
