"""core: atomic output and the findings table."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from cdiscflow.core.atomic import atomic_path, atomic_write, write_text
from cdiscflow.core.findings import COLUMNS, Findings


def test_atomic_write_leaves_previous_file_on_error(tmp_path):
    target = tmp_path / "dm.xpt"
    write_text(target, "complete\n")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write(b"half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "complete\n"
    assert [p.name for p in tmp_path.iterdir()] == ["dm.xpt"]  # no temporary left behind


def test_atomic_files_get_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
        with atomic_path(tmp_path / "b.png") as p:
            p.write_bytes(b"png")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b.png").stat().st_mode) == 0o644


def test_findings_collect_sort_count_and_write(tmp_path):
    f = Findings()
    f.add(severity="warning", rule_id="CF-AE-01", dataset="AE", variable="AESER", subject="S-2", row=4,
          value="Y", message="AESER = Y without a criterion flag")
    f.extend(pd.DataFrame({"severity": ["error", "note"], "rule_id": ["SCH-CT", "RAW-BOM"],
                           "dataset": ["DM", ""], "message": ["SEX 'X' not in SEX", "file starts with a BOM"]}))
    assert len(f) == 3
    assert f.counts() == {"error": 1, "warning": 1, "note": 1}
    assert f.count_at_or_above("warning") == 2
    frame = f.frame()
    assert list(frame.columns) == list(COLUMNS)
    assert frame["severity"].tolist() == ["error", "warning", "note"]
    assert frame.loc[1, "row"] == 4 and pd.isna(frame.loc[0, "row"])
    csv_path, json_path = f.write(tmp_path)
    assert csv_path.read_text().splitlines()[0] == ",".join(COLUMNS)
    again = Findings()
    again.extend(f)
    again.write(tmp_path / "again")
    assert (tmp_path / "again" / "findings.json").read_bytes() == json_path.read_bytes()


def test_findings_with_a_numeric_column_read_it_as_text_without_pandas_fill_warning():
    import warnings

    f = Findings()
    f.extend(pd.DataFrame({"severity": ["error", "error"], "rule_id": ["TD-KEY", "TD-KEY"], "dataset": ["TI", "TI"],
                           "value": [3.0, float("nan")], "message": ["duplicate key", "duplicate key"]}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fillna("") of a float column warned (and will raise in pandas 4)
        frame = f.frame()
    assert frame["value"].tolist() == ["", "3.0"]  # sorted by value: the empty one first


def test_findings_reject_unknown_severity():
    with pytest.raises(ValueError, match="unknown severity"):
        Findings().add(severity="fatal", rule_id="X", message="m")
