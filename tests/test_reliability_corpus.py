"""The malformed-export corpus: one defect per case, planted at run time in a copy of the 3-subject export
(tests/data/raw_small), run in strict and in reject mode.

For each case: the rule ID, file, data row and column of the finding (or the text of the InputError that names the
file), what strict does (stop, nothing mapped / unusable input) and what reject does (the row in the reject log with
its rule, every raw row accounted for).  The same defects then go through `cdiscflow sdtm` and `cdiscflow run`
together, checking the files on disk and the exit codes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest
from click.testing import CliRunner

from cdiscflow.cli import main
from cdiscflow.core.errors import FindingsError, InputError, SpecError
from cdiscflow.sdtm import map_study
from cdiscflow.specs.load import load_study

AE_ROW1 = "05-JUL-2016,05-JUL-2016,No,2"  # ae.csv data row 1: AESTDAT, AEENDAT, AEONGO, AEGRADE


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def append(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


@dataclass(frozen=True)
class Case:
    plant: Callable[[Path], None]
    # an unusable file: the InputError names it (both modes)
    unusable: str = ""
    # or row-level findings: (severity, rule_id, file, row, variable, text in the message)
    findings: tuple[tuple, ...] = ()
    # what the reject log holds for the planted rows: {(form, row): rule_id(s)}
    rejected: dict = field(default_factory=dict)


CASES = {
    "missing form file": Case(
        lambda raw: (raw / "atra.csv").unlink(),
        unusable="atra.csv: file for form 'atra' (ATRA (tretinoin) administration) is missing in"),
    "missing column": Case(
        lambda raw: edit(raw / "eot.csv", "EOTREAS,EOTSPEC", "EOTREAS"),
        unusable="eot.csv: missing column(s) EOTSPEC that forms.yaml declares for form 'eot'; the file has "
                 "SITEID, SUBJID, PART, EOTDAT, EOTREAS"),
    "empty file": Case(
        lambda raw: (raw / "subsq.csv").write_bytes(b""),
        unusable="subsq.csv: the file is empty (expected a header row with SITEID, SUBJID, LINE, REGIMEN ...)"),
    "UTF-8 byte-order mark": Case(
        lambda raw: (raw / "partb.csv").write_bytes(b"\xef\xbb\xbf" + (raw / "partb.csv").read_bytes()),
        findings=(("warning", "RAW-BOM", "partb.csv", None, "", "byte-order mark; it was ignored"),)),
    "Latin-1 file": Case(
        lambda raw: (raw / "ae.csv").write_bytes(
            (raw / "ae.csv").read_bytes().replace(b"Headache,Headache", "Céphalée,Headache".encode("latin-1"))),
        unusable="ae.csv: not valid utf-8 at line 5 (byte 0xe9) (the file looks Latin-1/Windows-1252 encoded)"),
    "wrong delimiter": Case(
        lambda raw: (raw / "eot.csv").write_text((raw / "eot.csv").read_text().replace(",", ";")),
        unusable="eot.csv: the header row has no ',' delimiter; it looks ';'-delimited (study.yaml raw.delimiter "
                 "is ',')"),
    "duplicate header column": Case(
        lambda raw: edit(raw / "eot.csv", "EOTSPEC\n", "EOTSPEC,SUBJID\n"),
        unusable="eot.csv: column(s) SUBJID appear more than once in the header"),
    "unreadable Parquet": Case(
        lambda raw: ((raw / "eot.csv").unlink(), (raw / "eot.parquet").write_bytes(b"PAR1 not really")),
        unusable="eot.parquet: not a readable Parquet file"),
    "unreadable SAS transport file": Case(
        lambda raw: ((raw / "eot.csv").unlink(), (raw / "eot.xpt").write_bytes(b"HEADER RECORD*** cut short")),
        unusable="eot.xpt: not a readable SAS transport (XPT) file"),
    "unknown CT value": Case(
        lambda raw: edit(raw / "enrol.csv", "UN-UNK-1945,Man,", "UN-UNK-1945,Femme,"),
        findings=(("error", "MAP-CT", "enrol.csv", 3, "SEX", "not a term or synonym of codelist SEX C66731"),),
        # the enrolment row goes, and with it every row of subject 02-003 (6 more rows in 5 forms)
        rejected={("enrol", 3): "MAP-CT", ("dara", 9): "MAP-SUBJECT-REJECTED", ("ae", 4): "MAP-SUBJECT-REJECTED"}),
    "impossible date": Case(
        lambda raw: edit(raw / "ae.csv", AE_ROW1, "31-JUN-2016,05-JUL-2016,No,2"),
        findings=(("error", "RAW-DATE", "ae.csv", 1, "AESTDAT", "AESTDAT (Start date) is not a calendar date"),),
        rejected={("ae", 1): "RAW-DATE"}),
    "malformed date": Case(
        lambda raw: edit(raw / "cytogen.csv", "01,01-001,20-JUN-2016,", "01,01-001,2016/06/20,"),
        findings=(("error", "RAW-DATE", "cytogen.csv", 1, "CYDAT",
                   "CYDAT (Date of sample) does not follow the date format DD-MON-YYYY"),),
        rejected={("cytogen", 1): "RAW-DATE"}),
    "impossible time": Case(
        lambda raw: edit(raw / "dara.csv", "19-JUL-2016,09:00,", "19-JUL-2016,25:00,"),
        findings=(("error", "RAW-TIME", "dara.csv", 3, "EXSTTIM",
                   "EXSTTIM (Infusion start time) is not a clock time"),),
        rejected={("dara", 3): "RAW-TIME"}),
    "duplicate record key": Case(
        lambda raw: append(raw / "dara.csv", "01,01-001,A,1,22,27-JUL-2016,09:15,12:30,16,mg/kg,1096"),
        findings=(("error", "RAW-DUPKEY", "dara.csv", 4, "SUBJID, PART, CYCLE, CDAY",
                   "duplicate key SUBJID=01-001, PART=A, CYCLE=1, CDAY=22 (rows 4, 10)"),
                  ("error", "RAW-DUPKEY", "dara.csv", 10, "SUBJID, PART, CYCLE, CDAY", "(rows 4, 10)")),
        rejected={("dara", 4): "RAW-DUPKEY", ("dara", 10): "RAW-DUPKEY"}),
    "subject not enrolled": Case(
        lambda raw: edit(raw / "death.csv", "01,01-001,", "01,01-999,"),
        findings=(("error", "RAW-NOT-ENROLLED", "death.csv", 1, "SUBJID",
                   "subject SUBJID is not enrolled (no row in enrol.csv)"),),
        rejected={("death", 1): "RAW-NOT-ENROLLED"}),
    "AE end before start": Case(
        lambda raw: edit(raw / "ae.csv", "20-AUG-2016,UN-SEP-2016", "20-AUG-2016,10-AUG-2016"),
        findings=(("error", "MAP-DATE-ORDER", "ae.csv", 2, "AEENDTC", "AEENDTC is before AESTDTC 2016-08-20"),),
        rejected={("ae", 2): "MAP-DATE-ORDER"}),
    "dose unit the spec does not know": Case(
        lambda raw: edit(raw / "dara.csv", "12-JUL-2016,09:00,13:30,16,mg/kg", "12-JUL-2016,09:00,13:30,16,mg/lb"),
        findings=(("error", "MAP-CT", "dara.csv", 2, "EXDOSU", "not a term or synonym of codelist UNIT C71620"),),
        rejected={("dara", 2): "MAP-CT"}),
    "non-ASCII text": Case(
        lambda raw: edit(raw / "ae.csv", "01,01-002,1,Headache,", "01,01-002,1,Hoofdpijn – ernstig,"),
        findings=(("error", "RAW-NONASCII", "ae.csv", 3, "AETERM", "AETERM has non-ASCII characters"),),
        rejected={("ae", 3): "RAW-NONASCII"}),
    "line separator inside a value": Case(  # U+2028 once split the row in two and renumbered the rest
        lambda raw: edit(raw / "subsq.csv", "Carfilzomib-dexamethasone", "Carfilzomib-\u2028dexamethasone"),
        findings=(("error", "RAW-NONASCII", "subsq.csv", 1, "REGIMEN", "REGIMEN has non-ASCII characters"),),
        rejected={("subsq", 1): "RAW-NONASCII"}),
    "text over 200 bytes": Case(
        lambda raw: edit(raw / "ae.csv", "02,02-003,1,Fatigue,", "02,02-003,1," + "Fatigue after infusion " * 9 + ","),
        findings=(("error", "MAP-LENGTH", "ae.csv", 4, "AETERM",
                   "AE.AETERM is 206 bytes long, over the XPT v5 limit of 200"),),
        rejected={("ae", 4): "MAP-LENGTH"}),
    "row with too many fields": Case(
        lambda raw: edit(raw / "eot.csv", "A,01-SEP-2016,Progressive disease,", "A,01-SEP-2016,Progressive, disease,"),
        findings=(("error", "RAW-FIELDS", "eot.csv", 1, "",
                   "row has 7 fields, the header has 6 (a value with an unquoted ',', or a shifted row?)"),),
        rejected={("eot", 1): "MAP-CT;RAW-FIELDS"}),  # the shifted EOTREAS "Progressive" is no term either
    "truncated last line": Case(
        lambda raw: edit(raw / "eot.csv", "01,01-002,A,11-FEB-2017,Progressive disease,\n", "01,01-002,A,11-FEB"),
        findings=(("error", "RAW-FIELDS", "eot.csv", 2, "",
                   "row has 4 fields, the header has 6 (a truncated or broken line?)"),
                  ("error", "RAW-DATE", "eot.csv", 2, "EOTDAT", "does not follow the date format")),
        rejected={("eot", 2): "RAW-DATE;RAW-FIELDS;RAW-REQUIRED"}),
    "number too large": Case(
        lambda raw: edit(raw / "dara.csv", "02-AUG-2016,09:00,12:00,16,", "02-AUG-2016,09:00,12:00,1e400,"),
        findings=(("error", "RAW-TYPE", "dara.csv", 5, "DOSE", "DOSE (Dose) is too large to store as a number"),),
        rejected={("dara", 5): "RAW-TYPE"}),
    "number beyond the XPT range": Case(
        lambda raw: edit(raw / "dara.csv", "18-FEB-2017,10:00,13:30,16,", "18-FEB-2017,10:00,13:30,1e100,"),
        findings=(("error", "MAP-NUMBER", "dara.csv", 8, "EXDOSE",
                   "EX.EXDOSE is too large for a SAS transport file"),),
        rejected={("dara", 8): "MAP-NUMBER"}),
    "required value blank": Case(
        lambda raw: edit(raw / "partb.csv", "14-FEB-2017,PD during", ",PD during"),
        findings=(("error", "RAW-REQUIRED", "partb.csv", 1, "REGDAT",
                   "required field REGDAT (Date of registration in Part B) is blank"),),
        rejected={("partb", 1): "RAW-REQUIRED"}),
}


@pytest.fixture(scope="module")
def spec():
    return load_study()


def _planted(raw_small: Path, case: Case) -> Path:
    case.plant(raw_small)
    return raw_small


def _has(findings: pd.DataFrame, severity, rule, file, row, variable, text) -> bool:
    hit = (findings.severity == severity) & (findings.rule_id == rule) & (findings.source == file) \
        & (findings.variable == variable) & findings.message.str.contains(text, regex=False)
    hit &= findings.row.isna() if row is None else findings.row.eq(row).fillna(False)
    return bool(hit.any())


def _balanced(accounting: pd.DataFrame) -> bool:
    a = accounting
    return bool((a.rows_lost == 0).all() and (a.rows_in == a.rows_mapped + a.rows_rejected).all())


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_strict(name, spec, raw_small):
    case = CASES[name]
    raw = _planted(raw_small, case)
    if case.unusable:
        with pytest.raises(InputError) as exc:
            map_study(spec, raw)
        assert case.unusable in str(exc.value)
        assert "1 file(s) cannot be used" in str(exc.value)
        return
    errors = [f for f in case.findings if f[0] == "error"]
    if not errors:  # a warning: the run goes on
        result = map_study(spec, raw)
        got = result.findings.frame()
    else:
        with pytest.raises(FindingsError) as exc:
            map_study(spec, raw)
        assert "nothing was written" in str(exc.value)
        got = exc.value.findings.frame()
    missing = [f for f in case.findings if not _has(got, *f)]
    assert missing == [], got[["severity", "rule_id", "source", "row", "variable", "message"]].to_string()


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n, c in CASES.items() if not c.unusable])
def test_reject(name, spec, raw_small):
    case = CASES[name]
    result = map_study(spec, _planted(raw_small, case), on_error="reject")
    got = result.findings.frame()
    assert [f for f in case.findings if not _has(got, *f)] == []
    log = {(r.form, int(r.row)): r.rule_id for r in result.rejects.itertuples()}
    assert {k: log.get(k) for k in case.rejected} == case.rejected
    assert _balanced(result.accounting)
    n_rejected = len(result.rejects)
    assert int(result.accounting.rows_rejected.sum()) == n_rejected
    assert (n_rejected > 0) == any(f[0] == "error" for f in case.findings)
    if name == "unknown CT value":  # the subject's rows in every form go with its enrolment row
        cascade = result.rejects[result.rejects.rule_id == "MAP-SUBJECT-REJECTED"]
        assert len(cascade) == 6 and set(cascade.subject) == {"DARA-ATRA-02-003"}
        assert "DARA-ATRA-02-003" not in set(result.datasets["DM"].USUBJID)


@pytest.mark.slow
def test_spec_that_contradicts_itself(study_copy, raw_small):
    # "Man" already means M: listing it under F too; and a key that is not a variable of its dataset
    edit(study_copy / "codelists.csv", "Female|Woman", "Female|Woman|Man")
    edit(study_copy / "datasets.csv", '"STUDYID,USUBJID"', '"STUDYID,USUBJID,DMSEQ"')
    with pytest.raises(SpecError) as exc:
        map_study(load_study(study_copy), raw_small)
    msg = str(exc.value)
    assert msg.startswith(f"spec {study_copy}: ") and "problems" in msg
    assert "codelist SEX: collected value 'Man' maps to both 'F' and 'M'" in msg
    assert "dataset DM: key variable DMSEQ is not one of its variables" in msg
    for mode in ("strict", "reject"):  # exit 2 whatever the mode, through both commands
        for cmd in ("sdtm", "run"):
            res = CliRunner().invoke(main, [cmd, "--raw", str(raw_small), "--study", str(study_copy), "--out",
                                            str(raw_small.parent / f"out_{cmd}_{mode}"), "--on-error", mode])
            assert res.exit_code == 2, res.output
            assert "maps to both 'F' and 'M'" in res.output
            assert not (raw_small.parent / f"out_{cmd}_{mode}").exists()


# ----------------------------------------------------------------------------------------------------------------
# all row-level defects at once, through the CLI: cdiscflow sdtm and cdiscflow run, strict and reject

ROW_CASES = [n for n, c in CASES.items() if c.rejected and n != "unknown CT value"]


@pytest.fixture
def many_defects(raw_small):
    for name in ROW_CASES:  # over cases; each plants its defect in a different row
        CASES[name].plant(raw_small)
    return raw_small


def _expected_rejects() -> dict:
    out = {}
    for name in ROW_CASES:
        out.update(CASES[name].rejected)
    assert len(out) == len(ROW_CASES) + 1  # one row per case (two for the duplicate key): no collisions
    return out


@pytest.mark.slow
@pytest.mark.parametrize("command", ["sdtm", "run"])
def test_cli_strict_lists_every_defect_and_writes_nothing(command, many_defects, tmp_path):
    out = tmp_path / "out"
    args = [command, "--raw", str(many_defects), "--out", str(out)] + (["--no-data-docs"] if command == "run" else [])
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1, res.output
    for (form, row), rules in _expected_rejects().items():
        rule = rules.split(";")[0]
        assert any(line.startswith(f"{rule} {form}.csv row {row} ") for line in res.output.splitlines()), \
            (rule, form, row)
    assert "nothing was written" in res.output
    if command == "sdtm":
        assert not out.exists()
    else:  # cdiscflow run writes no dataset, only its findings and run log (why it stopped)
        assert sorted(p.name for p in out.rglob("*")) == [
            "findings.csv", "findings.json", "findings.xlsx", "run.json"]
        found = pd.read_csv(out / "findings.csv", dtype=str, keep_default_na=False)
        errors = {(r.rule_id, r.source, int(r.row)) for r in found[found.severity == "error"].itertuples()}
        assert {(rules.split(";")[0], f"{form}.csv", row) for (form, row), rules in _expected_rejects().items()} \
            <= errors
        log = json.loads((out / "run.json").read_text())
        assert log["exit_code"] == 1 and log["error"]["type"] == "FindingsError" and log["files"] == []


@pytest.mark.slow
@pytest.mark.parametrize("command", ["sdtm", "run"])
def test_cli_reject_writes_good_records_and_accounts_for_every_row(command, many_defects, tmp_path):
    out = tmp_path / "out"
    args = [command, "--raw", str(many_defects), "--out", str(out), "--on-error", "reject"]
    res = CliRunner().invoke(main, args + (["--no-data-docs"] if command == "run" else []))
    assert res.exit_code == 1, res.output
    sdtm = out / "sdtm" if command == "run" else out
    rejects = pd.read_csv(sdtm / "_rejects.csv", dtype=str, keep_default_na=False)
    log = {(r.form, int(r.row)): r.rule_id for r in rejects.itertuples()}
    assert {k: log.get(k) for k in _expected_rejects()} == _expected_rejects()
    assert set(rejects.columns) >= {"form", "file", "row", "subject", "rule_id", "reason"}
    assert (rejects.reason != "").all() and (rejects.file == rejects.form + ".csv").all()
    acc = pd.read_csv(sdtm / "_accounting.csv")
    assert _balanced(acc)
    assert int(acc.rows_rejected.sum()) == len(rejects) == len(log)
    # rows in = the data rows of each file as planted (ae 4, dara 10, eot 2 ...)
    assert acc.set_index("form").loc[["ae", "dara", "eot", "death", "subsq"], "rows_in"].tolist() == [4, 10, 2, 1, 1]
    assert f"{len(rejects)} raw row(s) rejected" in res.output
    assert (sdtm / "ae.xpt").is_file() and (sdtm / "dm.xpt").is_file()
    if command == "run":
        log_json = json.loads((out / "run.json").read_text())
        assert log_json["rejected_raw_rows"] == len(rejects) and log_json["exit_code"] == 1
        stage = next(s for s in log_json["stages"] if s["stage"] == "sdtm")
        assert stage["rows_in"] == dict(zip(acc.form, acc.rows_in.astype(int)))
        # every AE row was rejected (SUPPAE is empty): ADAE is still derived, with no records
        from cdiscflow.export.read import read_dataset

        adae, _ = read_dataset(out / "adam" / "adae.xpt")
        assert "AERELATR" in adae.columns and adae.empty


@pytest.mark.slow
def test_typed_parquet_and_xpt_forms_read_like_their_csv(spec, raw_small):
    """Parquet and SAS transport store numbers as numbers (an integer field with a blank as float): read back they
    are the text the CSV holds ("16", not "16.0"), so no false RAW-TYPE; a missing number stays missing."""
    import pyreadstat

    csv_dara = map_study(spec, raw_small).datasets["EX"]
    dara = pd.read_csv(raw_small / "dara.csv", skiprows=1, dtype=str, keep_default_na=False)
    typed = dara.astype({"CYCLE": "float64", "CDAY": "int64", "DOSE": "float64", "DOSEMG": "float64"})
    typed.loc[8, "DOSEMG"] = float("nan")  # row 9: a blank number
    (raw_small / "dara.csv").unlink()
    typed.to_parquet(raw_small / "dara.parquet")
    enrol = pd.read_csv(raw_small / "enrol.csv", skiprows=1, dtype=str, keep_default_na=False)
    (raw_small / "enrol.csv").unlink()
    pyreadstat.write_xport(enrol, str(raw_small / "enrol.xpt"), file_format_version=5, table_name="ENROL")
    result = map_study(spec, raw_small)
    assert result.findings.count_at_or_above("warning") == 0, result.findings.summary()
    ex = result.datasets["EX"]
    assert ex["EXDOSE"].tolist() == csv_dara["EXDOSE"].tolist() and len(ex) == len(csv_dara)
    assert result.datasets["DM"]["USUBJID"].tolist() == ["DARA-ATRA-01-001", "DARA-ATRA-01-002", "DARA-ATRA-02-003"]
    acc = result.accounting.set_index("form")
    assert acc.loc["dara", "file"] == "dara.parquet" and acc.loc["enrol", "file"] == "enrol.xpt"


@pytest.mark.slow
def test_a_fraction_for_an_integer_variable_is_reported_on_its_raw_row(study_copy, raw_small):
    # the form says float, the SDTM variable is integer: 10051792.5 cannot be written as AELLTCD
    edit(study_copy / "forms.yaml", "{name: AELLTCD, label: MedDRA LLT code, type: integer",
         "{name: AELLTCD, label: MedDRA LLT code, type: float")
    edit(raw_small / "ae.csv", "Infusion related reaction,10051792,", "Infusion related reaction,10051792.5,")
    result = map_study(load_study(study_copy), raw_small, on_error="reject")
    got = result.findings.frame()
    assert _has(got, "error", "MAP-NUMBER", "ae.csv", 1, "AELLTCD",
                "AE.AELLTCD is not a whole number; its type in the spec is integer")
    assert result.rejects[["form", "row", "rule_id"]].values.tolist() == [["ae", 1, "MAP-NUMBER"]]


def test_a_declared_qualifier_no_record_has_is_still_a_variable(spec):
    """SUPPAE has AERELDAR but no AERELATR in this data cut (no ATRA-related AE yet): AE gets both, one all missing,
    instead of the ADaM recipe stopping with a spec error."""
    from cdiscflow.adam.verbs.sources import SourceData, supp_qualifiers

    assert supp_qualifiers(spec)["AE"] == ["AERELDAR", "AERELATR", "AEACNDAR", "AEACNATR"]
    ae = pd.DataFrame({"STUDYID": ["S", "S"], "USUBJID": ["S-1", "S-1"], "AESEQ": [1.0, 2.0]})
    supp = pd.DataFrame({"STUDYID": ["S"], "USUBJID": ["S-1"], "RDOMAIN": ["AE"], "IDVAR": ["AESEQ"],
                         "IDVARVAL": ["2"], "QNAM": ["AERELDAR"], "QLABEL": ["x"], "QVAL": ["RELATED"]})
    got = SourceData({"AE": ae, "SUPPAE": supp}, qualifiers=supp_qualifiers(spec))["AE"]
    assert got["AERELDAR"].tolist()[1] == "RELATED" and got["AERELATR"].isna().all()
    assert {"AEACNDAR", "AEACNATR"} <= set(got.columns)
    assert list(ae.columns) == ["STUDYID", "USUBJID", "AESEQ"]  # the SDTM frame itself is not changed
