"""Issue 16, item 1: every XPT, Dataset-JSON and Parquet read goes through one structural reader; a damaged file is
an error naming the file (and, for XPT, the byte offset), never fewer rows."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cdiscflow.cli import main
from cdiscflow.core.errors import InputError
from cdiscflow.core.parquet_read import read_parquet
from cdiscflow.core.xpt_read import read_xpt, xpt_layout
from cdiscflow.export.read import read_dataset
from cdiscflow.export.xpt import XptVariable, write_xpt

PACKAGE = Path(__file__).resolve().parent.parent
CREATED = dt.date(2020, 10, 1)
VARS = [XptVariable("USUBJID", "Subject", "Char", 12), XptVariable("AGE", "Age", "Num", 8),
        XptVariable("SITE", "Site name", "Char", 30)]  # 50-byte observations


def small_frame(rows: int = 9) -> pd.DataFrame:
    return pd.DataFrame({"USUBJID": [f"S-{i:03d}" for i in range(rows)], "AGE": np.arange(rows, dtype=float) + 40,
                         "SITE": [f"site {i % 3}" for i in range(rows)]})


def write_small(path: Path, rows: int = 9) -> pd.DataFrame:
    frame = small_frame(rows)
    write_xpt(path, frame, VARS, dataset="DM", label="Demographics", created=CREATED)
    return frame


def test_layout_of_a_written_file(tmp_path):
    write_small(tmp_path / "dm.xpt")
    lay = xpt_layout(tmp_path / "dm.xpt")
    # 8 header records, 3 NAMESTRs (420 bytes -> 6 records), the OBS header: data from byte 15 * 80
    assert (lay.dataset, lay.row_length, lay.rows, lay.data_start) == ("DM", 50, 9, 1200)
    assert [(v.name, v.position, v.length) for v in lay.variables] == [("USUBJID", 0, 12), ("AGE", 12, 8),
                                                                        ("SITE", 20, 30)]
    assert (tmp_path / "dm.xpt").stat().st_size == 1200 + 480  # 450 bytes of data, padded to 6 records


def test_a_truncated_xpt_is_an_error_with_file_and_offset(tmp_path):
    write_small(tmp_path / "dm.xpt", rows=63)
    data = (tmp_path / "dm.xpt").read_bytes()
    assert len(data) == 1200 + 3200  # 63 * 50 = 3,150 bytes of observations, padded to 40 records
    (tmp_path / "dm.xpt").write_bytes(data[:len(data) // 2])  # 1,000 bytes of data: 20 of 63 observations
    with pytest.raises(InputError, match=r"dm\.xpt: not a readable SAS transport \(XPT\) file: the data section is "
                                         r"1,000 bytes, .* starts at byte 2,160"):
        read_dataset(tmp_path / "dm.xpt")
    # cut at a record boundary inside an observation: the partial observation is not padding
    (tmp_path / "dm.xpt").write_bytes(data[:1200 + 1040])
    with pytest.raises(InputError, match=r"40 bytes after the last whole observation are not blank padding .* at "
                                         r"byte 2,200"):
        read_dataset(tmp_path / "dm.xpt")


def test_truncated_xpt_fails_every_command(tmp_path):
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["run", "--out", str(out), "-q", "--no-data-docs"]).exit_code == 0
    dm = out / "sdtm" / "dm.xpt"
    data = dm.read_bytes()
    dm.write_bytes(data[:len(data) // 2])
    for args in (["convert", str(dm), "--out", str(tmp_path / "dm.json")],
                 ["validate", str(out / "sdtm"), "--out", str(tmp_path / "v"), "--no-data-docs"],
                 ["adam", "--sdtm", str(out / "sdtm"), "--out", str(tmp_path / "adam")],
                 ["export", "--in", str(out / "sdtm"), "--out", str(tmp_path / "x")]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2, (args, res.output)
        assert f"{dm}: not a readable SAS transport (XPT) file" in res.output and "at byte" in res.output, res.output


test_truncated_xpt_fails_every_command = pytest.mark.slow(test_truncated_xpt_fails_every_command)


def test_a_cut_on_a_record_and_observation_boundary_is_caught_by_the_json_beside_it(tmp_path):
    # 9 observations of 50 bytes: a cut after 400 data bytes leaves 8 whole observations and no padding -- a valid
    # shorter XPT v5 file.  The Dataset-JSON written beside it knows the count.
    write_small(tmp_path / "dm.xpt")
    data = (tmp_path / "dm.xpt").read_bytes()
    (tmp_path / "dm.xpt").write_bytes(data[:1200 + 400])
    assert xpt_layout(tmp_path / "dm.xpt").rows == 8  # what the structure alone can tell
    (tmp_path / "dm.json").write_text('{"datasetJSONCreationDateTime": "2020-10-01T00:00:00", '
                                      '"datasetJSONVersion": "1.1.0", "itemGroupOID": "IG.DM", "records": 9}')
    with pytest.raises(InputError, match=r"dm\.xpt: holds 8 observations but the Dataset-JSON beside it \(dm\.json\) "
                                         "declares 9 records"):
        read_dataset(tmp_path / "dm.xpt")


def test_appended_bytes_and_a_second_member_are_errors(tmp_path):
    write_small(tmp_path / "dm.xpt")
    data = (tmp_path / "dm.xpt").read_bytes()
    (tmp_path / "dm.xpt").write_bytes(data + b"x" * 7)
    with pytest.raises(InputError, match="not a whole number of 80-byte records"):
        read_xpt(tmp_path / "dm.xpt")
    (tmp_path / "dm.xpt").write_bytes(data + b" " * 80)  # read as a 10th observation, of blanks
    with pytest.raises(InputError, match=r"observation 10 is all blanks, which no numeric value is .* at byte 1,650"):
        read_xpt(tmp_path / "dm.xpt")
    (tmp_path / "dm.xpt").write_bytes(data[:-80] + b" " * 50 + b"x" * 30)  # padding that is not blank
    with pytest.raises(InputError, match=r"30 bytes after the last whole observation are not blank padding"):
        read_xpt(tmp_path / "dm.xpt")
    (tmp_path / "dm.xpt").write_bytes(data + data[3 * 80:])  # a second dataset after the first
    with pytest.raises(InputError, match=r"a second dataset \(MEMBER header\) follows the first; .* at byte 1,680"):
        read_xpt(tmp_path / "dm.xpt")


def test_damaged_descriptors_are_errors_with_offsets(tmp_path):
    write_small(tmp_path / "dm.xpt")
    data = bytearray((tmp_path / "dm.xpt").read_bytes())
    bad = bytearray(data)
    bad[640 + 140 + 5] = 9  # AGE: length 8 -> 9
    (tmp_path / "dm.xpt").write_bytes(bad)
    with pytest.raises(InputError, match=r"length 9 is impossible for a numeric variable in XPT v5 at byte 784"):
        read_xpt(tmp_path / "dm.xpt")
    bad = bytearray(data)
    bad[640 + 2 * 140 + 87] = 21  # SITE starts at 21 instead of 20
    (tmp_path / "dm.xpt").write_bytes(bad)
    with pytest.raises(InputError, match=r"variable SITE starts at position 21 of the observation, expected 20"):
        read_xpt(tmp_path / "dm.xpt")
    (tmp_path / "dm.xpt").write_bytes(data[:700])
    with pytest.raises(InputError, match=r"ends inside the 3 variable descriptors \(NAMESTR records\) at byte 700"):
        read_xpt(tmp_path / "dm.xpt")
    (tmp_path / "dm.xpt").write_bytes(data.replace(b"LIBRARY ", b"LIBV8   ", 1))
    with pytest.raises(InputError, match="version 8 file without its OBSV8 header record"):
        read_xpt(tmp_path / "dm.xpt")


def test_trailing_all_blank_observations_are_kept(tmp_path):
    # pyreadstat (the decoder before) dropped the last observation when all its values were blank
    frame = pd.DataFrame({"QVAL": ["A", None, "B", None]})
    write_xpt(tmp_path / "x.xpt", frame, [XptVariable("QVAL", "Value", "Char", 100)], dataset="X", created=CREATED)
    read, _ = read_dataset(tmp_path / "x.xpt")
    assert read["QVAL"].tolist()[:1] == ["A"] and len(read) == 4 and read["QVAL"].isna().tolist() == [
        False, True, False, True]


@pytest.mark.slow
def test_a_raw_xpt_form_cut_short_is_unusable(raw_small):
    import pyreadstat

    from cdiscflow.sdtm import map_study
    from cdiscflow.specs.load import load_study

    spec = load_study()
    enrol = pd.read_csv(raw_small / "enrol.csv", skiprows=1, dtype=str, keep_default_na=False)
    (raw_small / "enrol.csv").unlink()
    pyreadstat.write_xport(enrol, str(raw_small / "enrol.xpt"), file_format_version=5, table_name="ENROL")
    data = (raw_small / "enrol.xpt").read_bytes()
    (raw_small / "enrol.xpt").write_bytes(data[:-80])  # the last record: whole observations lost before
    with pytest.raises(InputError, match=r"enrol\.xpt: not a readable SAS transport \(XPT\) file"):
        map_study(spec, raw_small)


def test_a_parquet_file_cut_short_or_extended_is_an_error(tmp_path):
    small_frame().to_parquet(tmp_path / "f.parquet")
    data = (tmp_path / "f.parquet").read_bytes()
    pd.testing.assert_frame_equal(read_parquet(tmp_path / "f.parquet"), small_frame())
    (tmp_path / "f.parquet").write_bytes(data[:-10])
    with pytest.raises(InputError, match=r"f\.parquet: not a readable Parquet file: no 'PAR1' mark at byte"):
        read_parquet(tmp_path / "f.parquet")
    (tmp_path / "f.parquet").write_bytes(data + b"junk")
    with pytest.raises(InputError, match=r"f\.parquet: not a readable Parquet file"):
        read_parquet(tmp_path / "f.parquet")


def test_nothing_reads_xpt_or_parquet_around_the_core_readers():
    """One reader each: no pandas.read_sas anywhere; pyreadstat.read_xport, pd.read_parquet and pyarrow's readers
    nowhere outside core/."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in (".venv", "tests", "benchmarks", "build", "core"):
            continue
        text = path.read_text(encoding="utf-8")
        for pattern in (r"read_sas\(", r"read_xport\(", r"\bpd\.read_parquet\(", r"pandas\.read_parquet\(",
                        r"\bread_table\(", r"ParquetFile\("):
            offenders += [f"{rel}: {pattern}"] * len(re.findall(pattern, text))
    assert offenders == []


def test_a_version_8_file_is_checked_against_its_observation_count(tmp_path):
    import pyreadstat

    pyreadstat.write_xport(small_frame(), str(tmp_path / "v8.xpt"), file_format_version=8, table_name="DM")
    frame, meta = read_dataset(tmp_path / "v8.xpt")
    assert len(frame) == 9 and meta.name == "DM" and frame["SITE"].tolist()[:2] == ["site 0", "site 1"]
    data = (tmp_path / "v8.xpt").read_bytes()
    (tmp_path / "v8.xpt").write_bytes(data[:-80])  # the last record: 1 or 2 observations lost before
    with pytest.raises(InputError, match=r"v8\.xpt: not a readable SAS transport \(XPT\) file: the OBSV8 header "
                                         r"declares '9' observations, [0-8] were decoded"):
        read_dataset(tmp_path / "v8.xpt")
