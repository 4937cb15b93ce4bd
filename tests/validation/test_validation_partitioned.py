"""Validation by partitions of subjects (validation/partitioned.py): a study's datasets split by USUBJID
(scale.subject_partition) into 1-3 partitions, each validated alone, then combined, give exactly the findings,
rule runs, row counts and files of `run_validation` on the whole study, in the study's row numbers; also with
defects planted in records, across datasets of a subject, in keys, and in whole-study checks whose answer depends on
subjects of other partitions."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cdiscflow.scale import subject_partition
from cdiscflow.validation.api import ValidationResult, run_validation, write_outputs
from cdiscflow.validation.partitioned import (client_dataset_names, combine_validation,
                                              validate_partition)

S1, S2, S3 = "VALTEST-001", "VALTEST-002", "VALTEST-003"  # the VALTEST study's subjects (conftest.py)

OUTPUT_FILES = ("findings.csv", "findings.json", "findings.xlsx", "rules.csv")


def split(datasets: dict[str, pd.DataFrame], count: int, spec, *, design_in_partitions: bool = True):
    """(datasets of each partition, final_rows, the client's datasets): the records of each subject dataset by
    subject_partition(USUBJID), each partition's in the study's order (as `finalize` leaves them) with the text
    categories of its own records; the trial design
    stays with the client and, when `design_in_partitions`, is also given to every partition (as its own mapping
    gives it), else each partition builds it from the spec."""
    client = {n: f for n, f in datasets.items() if n in client_dataset_names()}
    parts: list[dict[str, pd.DataFrame]] = [dict(client) if design_in_partitions else {} for _ in range(count)]
    final_rows = {}
    for name, frame in datasets.items():
        if name in client:
            continue
        where = subject_partition(frame["USUBJID"], count)
        final_rows[name] = [np.flatnonzero(where == i) for i in range(count)]
        for i in range(count):
            parts[i][name] = own_categories(frame.iloc[final_rows[name][i]].reset_index(drop=True))
    return parts, final_rows, client


def own_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """A partition's records with the categories of its own text only, as its own mapping compacts them."""
    for name in frame.columns:  # over columns
        if isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].cat.remove_unused_categories()
    return frame


def partitioned(datasets, spec, count, *, define=None, design_in_partitions=True) -> ValidationResult:
    parts, final_rows, client = split(datasets, count, spec, design_in_partitions=design_in_partitions)
    # what crosses a process boundary is pickled: combine from the partitions' pickled results
    results = [pickle.loads(pickle.dumps(validate_partition(p, spec, define=define))) for p in parts]
    return combine_validation(results, final_rows, client, spec, define=define)


def assert_same(whole: ValidationResult, combined: ValidationResult, spec, tmp_path: Path) -> pd.DataFrame:
    frame = whole.findings.frame()
    pd.testing.assert_frame_equal(combined.findings.frame(), frame)
    assert ([(r.rule.id, r.status, r.reason, r.findings) for r in combined.rule_runs]
            == [(r.rule.id, r.status, r.reason, r.findings) for r in whole.rule_runs])
    assert list(combined.rows.items()) == list(whole.rows.items())
    assert list(combined.plans) == list(whole.plans)
    write_outputs(whole, None, spec, tmp_path / "whole", data_docs=False)
    write_outputs(combined, None, spec, tmp_path / "combined", data_docs=False)
    for name in OUTPUT_FILES:
        assert (tmp_path / "combined" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    return frame


def hits(frame: pd.DataFrame, rule_id: str) -> list[tuple]:
    got = frame[frame["rule_id"] == rule_id]
    return [(r.dataset, r.subject, None if pd.isna(r.row) else int(r.row), r.value) for r in got.itertuples()]


def _set(frame: pd.DataFrame, row: int, **values) -> None:
    for k, v in values.items():
        frame.loc[row, k] = v


def test_valtest_subjects_fall_in_different_partitions():
    # the planted cross-partition defects below rely on it
    subjects = pd.Series([S1, S2, S3])
    assert subject_partition(subjects, 2).tolist() == [0, 1, 0]
    assert subject_partition(subjects, 3).tolist() == [1, 0, 2]


@pytest.mark.parametrize("count", [1, 2, 3])
def test_clean_study_split_gives_the_whole_studys_result(count, spec, define, make_clean, tmp_path):
    datasets = make_clean()
    whole = run_validation(datasets, spec, define=define)
    frame = assert_same(whole, partitioned(datasets, spec, count, define=define), spec, tmp_path)
    assert frame.empty and {r.status for r in whole.rule_runs} == {"ran"}


def planted_defects(d: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The clean VALTEST datasets with defects of every kind (subjects: S1 and S2 in different partitions)."""
    _set(d["AE"], 2, USUBJID="VALTEST-999")  # CF-SUBJ-001: a subject not in DM (partition 0 of 2)
    _set(d["AE"], 0, AESTDY=7.0)  # CF-DY-001: the study day of 2020-01-15 is 6
    _set(d["DM"], 1, DTHFL="N")  # CF-DTH-002 (and SCH-CT on DTHFL)
    _set(d["DS"], 1, DSDECOD="DEATH", DSTERM="DIED")  # CF-DTH-003, CF-DTH-004 stays quiet
    d["EX"] = pd.concat([d["EX"].iloc[:3], d["EX"].iloc[[2]], d["EX"].iloc[3:]], ignore_index=True)  # key repeated
    _set(d["DM"], 2, SEX="X")  # SCH-CT-001: a record of S3
    _set(d["RS"], 1, RSCAT="IMWG")  # CF-RS-002: 3 records of 2 subjects, the first is row 2 (S1)
    _set(d["RS"], 2, RSCAT="IMWG")
    _set(d["RS"], 3, RSCAT="IMWG")
    _set(d["ADTTE"], 1, EVNTDESC="DEATH")  # CF-ADTTE-003: S1 dies (event), S2 is censored with the same text
    _set(d["TA"], 1, ETCD="DARA2")  # CF-TE-001 on the design: the client's
    d["AE"]["AEXTRA"] = "x"  # SCH-COL-003 and CF-DEF-002 once, not once per partition
    d["DM"]["COUNTRY"] = d["DM"]["COUNTRY"].astype(object)
    _set(d["DM"], 0, COUNTRY=5)  # SCH-TYPE-001: one column, found in one partition only
    return d


@pytest.mark.parametrize("count", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_planted_defects_come_once_with_the_studys_row_numbers(count, spec, define, clean, tmp_path):
    datasets = planted_defects(clean)
    whole = run_validation(datasets, spec, define=define)
    frame = assert_same(whole, partitioned(datasets, spec, count, define=define), spec, tmp_path)
    assert hits(frame, "CF-SUBJ-001") == [("AE", "VALTEST-999", 3, "VALTEST-999")]
    assert hits(frame, "CF-DY-001") == [("AE", S1, 1, "7.0")]
    assert hits(frame, "CF-DTH-002") == [("DM", S2, 2, "N")]
    assert hits(frame, "CF-DTH-003") == [("DM", S2, 2, "N")]
    assert hits(frame, "SCH-KEY-001") == [("EX", S2, 3, "VALTEST / VALTEST-002 / DARATUMUMAB / 2020-02-03"),
                                          ("EX", S2, 4, "VALTEST / VALTEST-002 / DARATUMUMAB / 2020-02-03")]
    assert hits(frame, "CF-SEQ-001") == [("EX", S2, 3, "1.0"), ("EX", S2, 4, "1.0")]
    assert hits(frame, "SCH-CT-001") == [("DM", S3, 3, "X")]
    assert hits(frame, "CF-RS-002") == [("RS", "", 2, "RSCAT=IMWG RSTESTCD=OVRLRESP")]
    assert frame.loc[frame["rule_id"] == "CF-RS-002", "message"].str.startswith("RS: 3 records of RSCAT").all()
    assert hits(frame, "CF-ADTTE-003") == [("ADTTE", S1, 1, "DEATH"), ("ADTTE", S2, 2, "DEATH")]
    assert hits(frame, "CF-TE-001") == [("TA", "", 2, "DARA2")]
    assert hits(frame, "SCH-COL-003") == [("AE", "", None, "")]
    assert hits(frame, "CF-DEF-002") == [("AE", "", None, "AEXTRA")]
    assert hits(frame, "SCH-TYPE-001") == [("DM", "", None, "Char (object)")]


def test_mixed_event_description_is_found_only_over_the_study(spec, clean, tmp_path):
    # neither partition alone uses DEATH for an event and a censoring: only the combination does
    datasets = clean
    _set(datasets["ADTTE"], 1, EVNTDESC="DEATH")
    parts, final_rows, client = split(datasets, 2, spec)
    alone = [run_validation(p, spec).findings.frame() for p in parts]
    assert all(hits(f, "CF-ADTTE-003") == [] for f in alone)
    frame = assert_same(run_validation(datasets, spec), partitioned(datasets, spec, 2), spec, tmp_path)
    assert hits(frame, "CF-ADTTE-003") == [("ADTTE", S1, 1, "DEATH"), ("ADTTE", S2, 2, "DEATH")]


def test_keys_without_usubjid_are_checked_over_the_study(spec, clean, tmp_path):
    # RS keyed by test and date alone (a key across subjects): S2's assessment on S1's date repeats a key of
    # another partition
    keyed = replace(spec, datasets={**spec.datasets, "RS": replace(spec.dataset("RS"),
                                                                    keys=("STUDYID", "RSTESTCD", "RSDTC"))})
    datasets = clean
    _set(datasets["RS"], 3, RSDTC="2020-02-10", RSDY=8.0)
    parts, final_rows, client = split(datasets, 2, keyed)
    assert all(hits(run_validation(p, keyed).findings.frame(), "SCH-KEY-001") == [] for p in parts)
    frame = assert_same(run_validation(datasets, keyed), partitioned(datasets, keyed, 2), keyed, tmp_path)
    assert hits(frame, "SCH-KEY-001") == [("RS", S1, 1, "VALTEST / OVRLRESP / 2020-02-10"),
                                          ("RS", S2, 4, "VALTEST / OVRLRESP / 2020-02-10")]


def test_a_rule_that_cannot_run_is_reported_once(spec, clean, tmp_path, monkeypatch):
    from cdiscflow.validation import rules_sdtm

    def broken(*args, **kwargs):
        raise RuntimeError("planted")

    monkeypatch.setattr(rules_sdtm, "_rs_results", broken)  # CF-RS-001 (per record) and CF-RS-002 (whole study)
    whole = run_validation(clean, spec)
    frame = assert_same(whole, partitioned(clean, spec, 2), spec, tmp_path)
    assert hits(frame, "CF-ERR-001") == [("", "", None, "CF-RS-001"), ("", "", None, "CF-RS-002")]
    assert [r.rule.id for r in whole.rule_runs if r.status == "failed"] == ["CF-RS-001", "CF-RS-002"]

def test_a_partition_returns_no_dataset(spec, clean):
    parts, _, _ = split(planted_defects(clean), 2, spec)
    part = validate_partition(parts[0], spec)
    assert part.rows == {n: len(f) for n, f in parts[0].items() if n not in ("TA", "TE")}
    assert "TA" not in part.names and "TA" not in part.schema
    sizes = {n: len(f) for n, f in part.schema.items()} | {n: len(f) for n, f in part.rules.items()}
    assert max(sizes.values()) <= 2  # findings, not records


@pytest.mark.slow
@pytest.mark.parametrize("count", [1, 2, 3])
def test_embedded_study_split_gives_the_whole_studys_result(count, embedded, tmp_path):
    spec, datasets = embedded
    whole = run_validation(datasets, spec)
    # 3 partitions build TE/TA/TV/TI from the spec, as a partition not given them does
    assert_same(whole, partitioned(datasets, spec, count, design_in_partitions=count != 3), spec, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("count", [2, 3])
def test_embedded_study_with_defects_gives_the_whole_studys_findings(count, embedded, tmp_path):
    spec, clean = embedded
    d = {n: f.copy() for n, f in clean.items()}
    subjects = d["DM"]["USUBJID"].astype(str)
    ae = d["AE"]
    for col in ("USUBJID", "AESTDY"):
        d["AE"][col] = ae[col].astype(object) if col == "USUBJID" else ae[col]
    d["AE"].loc[5, "USUBJID"] = "DARA-ATRA-NOBODY"  # CF-SUBJ-001
    d["AE"].loc[7, "AESTDY"] = d["AE"].loc[7, "AESTDY"] + 1  # CF-DY-001
    d["DM"]["DTHFL"] = d["DM"]["DTHFL"].astype(object)
    alive = int(np.flatnonzero(d["DM"]["DTHFL"].isna().to_numpy())[0])
    d["DM"].loc[alive, "DTHFL"] = "Y"  # CF-DTH-004/005
    d["EX"] = pd.concat([d["EX"].iloc[:11], d["EX"].iloc[[10]], d["EX"].iloc[11:]], ignore_index=True)  # key twice
    rs = d["RS"]
    rs["RSTESTCD"] = rs["RSTESTCD"].astype(object)
    kumar = rs.index[(rs["RSCAT"] == "KUMAR IMWG 2016").to_numpy()]
    rows = rs.loc[kumar].drop_duplicates("USUBJID").index[:3]  # CF-RS-002: the first record of three subjects
    rs.loc[rows, "RSTESTCD"] = "NOSUCH"
    assert len(set(subject_partition(rs.loc[rows, "USUBJID"].astype(str), count))) > 1
    whole = run_validation(d, spec)
    frame = assert_same(whole, partitioned(d, spec, count), spec, tmp_path)
    assert hits(frame, "CF-SUBJ-001") == [("AE", "DARA-ATRA-NOBODY", 6, "DARA-ATRA-NOBODY")]
    assert [h[2] for h in hits(frame, "CF-DY-001")] == [8]
    assert hits(frame, "CF-DTH-004") == [("DM", subjects[alive], alive + 1, "Y")]
    assert [h[2] for h in hits(frame, "SCH-KEY-001")] == [11, 12]
    assert hits(frame, "CF-RS-002") == [("RS", "", rows[0] + 1, "RSCAT=KUMAR IMWG 2016 RSTESTCD=NOSUCH")]
    assert frame.loc[frame["rule_id"] == "CF-RS-002", "message"].str.startswith("RS: 3 records").all()


@pytest.fixture(scope="module")
def embedded():
    from cdiscflow.adam import derive_study
    from cdiscflow.core.frames import compact_all
    from cdiscflow.sdtm import map_study
    from cdiscflow.specs.load import load_study

    spec = load_study("dara_atra")
    sdtm = map_study(spec, on_error="strict", compact_text=True)
    compact_all(sdtm.datasets)
    return spec, {**sdtm.datasets, **derive_study(spec, sdtm.datasets, compact_text=True).datasets}
