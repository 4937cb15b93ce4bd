"""Reading dataset folders: XPT in the in-memory convention, clear errors for unusable input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from cdiscflow.core.errors import InputError
from cdiscflow.validation.io import find_defines, read_datasets, read_xpt


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
    from cdiscflow.export import convert

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
