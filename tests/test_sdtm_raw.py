"""The raw reader: unusable files stop with InputError naming the file; bad cells become RAW- findings."""

from __future__ import annotations

import pandas as pd
import pytest

from cdiscflow.core.errors import InputError
from cdiscflow.sdtm.raw.forms import read_export
from cdiscflow.specs.load import load_study



def edit(path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture(scope="module")
def spec():
    return load_study()


def _input_error(spec, raw) -> str:
    with pytest.raises(InputError) as exc:
        read_export(spec, raw)
    return str(exc.value)


@pytest.mark.slow
def test_fixture_reads_clean(spec, raw_small):
    export = read_export(spec, raw_small)
    assert len(export.forms) == len(spec.forms) == 15
    enrol = export.forms["enrol"]
    # the '#' banner is skipped; data rows are numbered from 1
    assert enrol.data.index.tolist() == [1, 2, 3]
    assert enrol.data.loc[1, "SUBJID"] == "01-001"
    assert enrol.iso["BRTHDAT"].tolist() == ["1948-03-15", "1950-02-02", "1945"]
    assert export.forms["dara"].numbers["DOSE"].tolist()[:2] == [16.0, 16.0]
    assert export.roster == "enrol"
    assert len(export.findings) == 0


@pytest.mark.slow
def test_unusable_files_are_all_reported_at_once(spec, raw_small):
    raw = raw_small
    (raw / "death.csv").unlink()
    edit(raw / "eot.csv", "SITEID,SUBJID,PART,EOTDAT,EOTREAS,EOTSPEC", "SITEID,SUBJID,PART,EOTDAT,EOTREAS")
    (raw / "subsq.csv").write_text("")
    (raw / "followup.csv").write_text("# SYNTHETIC\nSITEID;SUBJID;CONTDAT;STATUS\n01;01-001;01-DEC-2016;Alive\n")
    data = (raw / "labs.csv").read_bytes().replace(b"Albumin", "Albümin".encode("latin-1"))
    (raw / "labs.csv").write_bytes(data)
    msg = _input_error(spec, raw)
    assert "5 file(s) cannot be used" in msg
    assert "death.csv: file for form 'death' (Death) is missing" in msg
    assert "eot.csv: missing column(s) EOTSPEC" in msg
    assert "subsq.csv: the file is empty" in msg
    assert "followup.csv: the header row has no ',' delimiter; it looks ';'-delimited" in msg
    assert "labs.csv: not valid utf-8 at line 5 (byte 0xfc) (the file looks Latin-1/Windows-1252 encoded)" in msg


@pytest.mark.slow
def test_bom_is_a_warning_and_the_file_is_read(spec, raw_small):
    raw = raw_small
    (raw / "partb.csv").write_bytes(b"\xef\xbb\xbf" + (raw / "partb.csv").read_bytes())
    export = read_export(spec, raw)
    f = export.findings.frame()
    assert f[["severity", "rule_id", "source"]].values.tolist() == [["warning", "RAW-BOM", "partb.csv"]]
    assert export.forms["partb"].data.loc[1, "REGDAT"] == "14-FEB-2017"


@pytest.mark.slow
def test_cell_and_row_problems_name_form_row_and_column(spec, raw_small):
    raw = raw_small
    edit(raw / "ae.csv", "Fatigue,Fatigue,10016256", "Fatigué,Fatigue,10016256")
    edit(raw / "ae.csv", "01,01-001,2,Pneumonia", "01,01-001,two,Pneumonia")
    edit(raw / "ae.csv", "20-AUG-2016,UN-SEP-2016", "30-FEB-2016,UN-SEP-2016")
    edit(raw / "dara.csv", "01,01-002,A,1,8,20-JAN-2017", "01,01-002,A,1,1,20-JAN-2017")
    edit(raw / "resp.csv", "02,02-003,A,BASELINE", "02,09-999,A,BASELINE")
    edit(raw / "partb.csv", "14-FEB-2017,PD during", ",PD during")
    f = read_export(spec, raw).findings.frame()
    got = {(r.rule_id, r.dataset, r.variable, r.row) for r in f.itertuples()}
    assert ("RAW-NONASCII", "ae", "AETERM", 4) in got
    assert ("RAW-TYPE", "ae", "AESPID", 2) in got
    assert ("RAW-DATE", "ae", "AESTDAT", 2) in got
    assert ("RAW-DUPKEY", "dara", "SUBJID, PART, CYCLE, CDAY", 6) in got
    assert ("RAW-DUPKEY", "dara", "SUBJID, PART, CYCLE, CDAY", 7) in got
    assert ("RAW-NOT-ENROLLED", "resp", "SUBJID", 8) in got
    assert ("RAW-REQUIRED", "partb", "REGDAT", 1) in got
    date = f[f.rule_id == "RAW-DATE"].iloc[0]
    assert (date.value, date.expected, date.source, date.subject) == ("30-FEB-2016", "DD-MON-YYYY", "ae.csv",
                                                                      "DARA-ATRA-01-001")
    assert date.message == "AESTDAT (Start date) is not a calendar date"
    dup = f[(f.rule_id == "RAW-DUPKEY") & (f.row == 6)].iloc[0]
    assert dup.message == "duplicate key SUBJID=01-002, PART=A, CYCLE=1, CDAY=1 (rows 6, 7)"
    assert (f.severity == "error").all()


@pytest.mark.slow
def test_parquet_form_is_read_by_extension(spec, raw_small):
    frame = pd.read_csv(raw_small / "enrol.csv", skiprows=1, dtype=str, keep_default_na=False)
    frame.to_parquet(raw_small / "enrol.parquet")
    (raw_small / "enrol.csv").unlink()
    export = read_export(spec, raw_small)
    enrol = export.forms["enrol"]
    assert enrol.file == "enrol.parquet"
    assert enrol.iso["ICDAT"].tolist() == ["2016-07-01", "2017-01-10", "2017-03-03"]
    assert len(export.findings) == 0
