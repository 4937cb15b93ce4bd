"""Reading dataset folders (`core.datasets`, through `export.read.read_datasets` and the use cases): XPT in the
in-memory convention, clear errors for unusable input, and the explicit differences between the callers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from cdiscflow.core.errors import InputError
from cdiscflow.core.datasets import find_defines, read_xpt_frame
from cdiscflow.core.findings import Findings
from cdiscflow.export.read import read_datasets as read_folder_with_meta
from cdiscflow.usecases import read_dataset_folder_for_validation as read_datasets


def read_xpt(path):
    return read_xpt_frame(path)[0]


def _xpt(path, frame, name):
    pyreadstat.write_xport(frame, str(path), file_format_version=5, table_name=name)


def test_blank_text_is_missing_and_names_come_from_file_stems(tmp_path):
    _xpt(tmp_path / "dm.xpt", pd.DataFrame({"USUBJID": ["A-1", "A-2"], "DTHFL": ["Y", None], "AGE": [50.0, np.nan]}),
         "DM")
    got = read_datasets(tmp_path)
    assert list(got) == ["DM"]
    dm = got["DM"]
    assert dm["DTHFL"].isna().tolist() == [False, True] and dm["AGE"].isna().tolist() == [False, True]
    assert pd.api.types.is_string_dtype(dm["USUBJID"].dtype)


def test_unusable_folders(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        read_datasets(tmp_path / "nope")
    with pytest.raises(InputError, match=r"no datasets \(\*\.xpt or Dataset-JSON \*\.json\) found"):
        read_datasets(tmp_path)
    (tmp_path / "ae.xpt").write_bytes(b"this is not a transport file" * 10)
    with pytest.raises(InputError, match=r"ae\.xpt: not a readable SAS transport \(XPT\) file"):
        read_datasets(tmp_path)


def test_dataset_json_is_read_like_xpt(tmp_path):
    from cdiscflow.export import convert_dataset_file as convert

    _xpt(tmp_path / "dm.xpt", pd.DataFrame({"USUBJID": ["A-1", "A-2"], "DTHFL": ["Y", None]}), "DM")
    (tmp_path / "json").mkdir()
    convert(tmp_path / "dm.xpt", tmp_path / "json")
    got = read_datasets(tmp_path / "json")
    assert list(got) == ["DM"] and got["DM"]["DTHFL"].isna().tolist() == [False, True]


def test_subfolders_and_defines(tmp_path):
    (tmp_path / "sdtm").mkdir()
    _xpt(tmp_path / "sdtm" / "dm.xpt", pd.DataFrame({"USUBJID": ["A-1"]}), "DM")
    (tmp_path / "sdtm" / "define.xml").write_text("<ODM/>")
    assert list(read_datasets(tmp_path)) == ["DM"]
    assert find_defines(tmp_path) == [tmp_path / "sdtm" / "define.xml"]


def test_pilot_xpt_reading(shared):
    ts = read_xpt(shared / "reference-data/cdiscpilot01/sdtm/ts.xpt")  # Windows-1252 text
    assert len(ts) == 33 and ts["TSVAL"].str.contains("\u2019").sum() == 3
    adsl = read_xpt(shared / "reference-data/cdiscpilot01/adam/adsl.xpt")
    assert str(adsl["TRTSDT"].dtype).startswith("datetime64")
    assert adsl.loc[0, "TRTSDT"] == pd.Timestamp("2014-01-02")
    assert not (adsl.select_dtypes(include="str") == "").any().any()


def _two_formats(folder):
    """dm.xpt (member DM), dm.json (the same dataset as Dataset-JSON), xx.xpt holding member AE, and bookkeeping."""
    from cdiscflow.export import convert_dataset_file

    folder.mkdir()
    _xpt(folder / "dm.xpt", pd.DataFrame({"USUBJID": ["A-1", "A-2"]}), "DM")
    convert_dataset_file(folder / "dm.xpt", folder / "dm.json")
    _xpt(folder / "xx.xpt", pd.DataFrame({"USUBJID": ["A-1"], "AETERM": ["HEADACHE"]}), "AE")
    (folder / "_findings.json").write_text("[]")
    (folder / "run.json").write_text('{"stage": "sdtm"}')
    return folder


def test_export_reading_keys_by_declared_name_and_notes_the_second_copy(tmp_path):
    folder = _two_formats(tmp_path / "data")
    findings = Findings()
    frames, metas = read_folder_with_meta(folder, findings)
    assert list(frames) == ["DM", "AE"]  # XPT first by file name: dm.xpt, xx.xpt; dm.json is the second DM
    assert metas["AE"].path.endswith("xx.xpt") and frames["AE"]["AETERM"].tolist() == ["HEADACHE"]
    notes = findings.frame()
    assert notes["rule_id"].tolist() == ["XPT-DUPLICATE-FILE"]
    assert notes["message"].tolist() == ["DM is also in dm.xpt; dm.json not read"]


def test_validation_reading_keys_by_file_stem_and_skips_bookkeeping_by_name(tmp_path):
    folder = _two_formats(tmp_path / "data")
    (folder / "run.json").unlink()  # not bookkeeping by name: validation would read it as a dataset and refuse it
    got = read_datasets(folder)
    assert list(got) == ["DM", "XX"] and got["XX"]["AETERM"].tolist() == ["HEADACHE"]
    (folder / "run.json").write_text('{"stage": "sdtm"}')
    with pytest.raises(InputError, match=r"run\.json: does not match the Dataset-JSON 1\.1 schema"):
        read_datasets(folder)


def test_the_same_format_twice_is_an_error_only_when_asked(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    _xpt(folder / "dm.xpt", pd.DataFrame({"USUBJID": ["A-1"]}), "DM")
    _xpt(folder / "dm2.xpt", pd.DataFrame({"USUBJID": ["A-1", "A-2"]}), "DM")
    frames, _ = read_folder_with_meta(folder)  # keyed by member name: dm2.xpt is the second DM, left
    assert len(frames["DM"]) == 1
    with pytest.raises(InputError, match=r"dm2\.xpt: dataset DM also read from .*dm\.xpt"):
        read_folder_with_meta(folder, key="dataset", duplicate="error")


def test_empty_folders_by_caller(tmp_path):
    assert read_folder_with_meta(tmp_path) == ({}, {})  # the export reader: nothing to read is no error
    with pytest.raises(InputError, match="no datasets"):
        read_folder_with_meta(tmp_path, required=True)


def test_sdtm_folder_reading_takes_one_file_per_stem_keyed_by_declared_name(tmp_path):
    from cdiscflow.usecases import read_sdtm

    folder = _two_formats(tmp_path / "data")
    findings = Findings()
    got = read_sdtm(folder, findings)
    assert list(got) == ["DM", "AE"]  # xx.xpt declares AE; dm.json (beside dm.xpt) is not read, and not noted
    assert got["AE"]["AETERM"].tolist() == ["HEADACHE"] and findings.frame().empty
    with pytest.raises(InputError, match=r"no SDTM datasets \(\*\.xpt or Dataset-JSON \*\.json\) found"):
        read_sdtm(tmp_path)
