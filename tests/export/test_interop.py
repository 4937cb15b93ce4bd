"""Third-party files: the CDISC Dataset-JSON examples convert both ways; the CDISC pilot XPTs load without loss."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from cdiscflow.core.findings import Findings
from cdiscflow.export import convert_dataset_file, read_dataset, read_datasets
from cdiscflow.export.datasetjson import validate_dataset_json
from cdiscflow.export.xpt import SAS_EPOCH_SECONDS

EXAMPLES = {  # CDISC's Dataset-JSON 1.1 examples: each .json was made from the .xpt beside it with this define.xml
    "sdtm": ("ae", "dm", "ds", "ex", "relrec", "rs", "se", "suppdm", "sv", "ta", "te", "ti", "ts", "tv"),
    "adam": ("adsl", "adtte"),
}
DEFINES = {"sdtm": "sdtm-msg-v2.0_define-2-1.xml", "adam": "adam-msg-v1.0_define-2-1.xml"}
CASES = [(std, name) for std, names in EXAMPLES.items() for name in names]


def _formats(shared: Path) -> Path:
    return shared / "reference-data" / "formats"


def _rows_equal(ours: list, theirs: list) -> int:
    """Number of differing cells; XPT cannot tell an empty string from a missing one, so "" and null are equal."""
    assert len(ours) == len(theirs)
    return sum(1 for a_row, b_row in zip(ours, theirs) for a, b in zip(a_row, b_row)
               if not (a == b or {a, b} <= {"", None}))


@pytest.mark.parametrize("std,name", CASES)
def test_our_conversion_of_their_xpt_matches_their_json(shared, tmp_path, std, name):
    fmt = _formats(shared)
    theirs = json.loads((fmt / "dataset-json" / std / f"{name}.json").read_text(encoding="utf-8"))
    out = convert_dataset_file(fmt / "dataset-json" / std / f"{name}.xpt", tmp_path / f"{name}.json",
                  define=fmt / "define-xml" / DEFINES[std])
    ours = json.loads(out.read_text(encoding="utf-8"))
    assert validate_dataset_json(ours) == []
    assert ours["columns"] == theirs["columns"]  # names, labels, dataType/targetDataType, lengths, formats, keys, OIDs
    assert (ours["name"], ours["label"], ours["itemGroupOID"], ours["records"]) == \
        (theirs["name"], theirs["label"], theirs["itemGroupOID"], theirs["records"])
    assert _rows_equal(ours["rows"], theirs["rows"]) == 0


@pytest.mark.parametrize("std,name", CASES)
def test_their_json_round_trips_through_our_xpt(shared, tmp_path, std, name):
    fmt = _formats(shared)
    src = fmt / "dataset-json" / std / f"{name}.json"
    theirs = json.loads(src.read_text(encoding="utf-8"))
    xpt = convert_dataset_file(src, tmp_path / f"{name}.xpt")
    frame_json, _ = read_dataset(src)
    frame_xpt, meta = read_dataset(xpt)
    assert meta.name == theirs["name"] and meta.label == theirs["label"]
    pd.testing.assert_frame_equal(frame_xpt, frame_json, check_dtype=False)
    back = json.loads(convert_dataset_file(xpt, tmp_path / f"{name}.json", define=fmt / "define-xml" / DEFINES[std])
                      .read_text(encoding="utf-8"))
    assert back["columns"] == theirs["columns"]
    assert _rows_equal(back["rows"], theirs["rows"]) == 0


def test_dataset_json_with_japanese_text_converts_to_utf8_xpt(shared, tmp_path):
    src = _formats(shared) / "dataset-json" / "i18n" / "ae_ja.json"
    findings = Findings()
    xpt = convert_dataset_file(src, tmp_path / "ae.xpt", findings=findings)
    assert findings.frame()[["severity", "rule_id", "variable"]].values.tolist() == [["warning", "XPT-ASCII", "AETERM"]]
    a, _ = read_dataset(src)
    b, _ = read_dataset(xpt)
    assert b["AETERM"].iloc[0] == "アプリケーションサイトの紅斑"
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


PILOT_ROWS = {  # rows per dataset in the CDISC pilot (reference-data README)
    "sdtm": {"AE": 1191, "CM": 7510, "DM": 306, "DS": 596, "EX": 591, "MH": 1818, "RELREC": 234, "SC": 254, "SE": 752,
             "SUPPAE": 1191, "SUPPDM": 1197, "SUPPDS": 3, "SV": 3559, "TA": 8, "TE": 7, "TI": 31, "TS": 33, "TV": 21},
    "adam": {"ADAE": 1191, "ADQSCIBC": 730, "ADSL": 254, "ADTTE": 254},
}


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["sdtm", "adam"])
def test_cdisc_pilot_xpts_load_without_loss(shared, folder):
    directory = shared / "reference-data" / "cdiscpilot01" / folder
    findings = Findings()
    frames, metas = read_datasets(directory, findings)
    assert {k: len(v) for k, v in frames.items()} == PILOT_ROWS[folder]
    for name, frame in frames.items():
        meta = metas[name]
        raw, _ = pyreadstat.read_xport(meta.path, encoding=meta.encoding, disable_datetime_conversion=True)
        assert list(frame.columns) == list(raw.columns)
        for col in meta.columns:
            ours, theirs = frame[col.name], raw[col.name]
            if not col.is_numeric:
                assert ours.fillna("").tolist() == theirs.tolist(), (name, col.name)
            elif col.kind in ("date", "datetime"):
                unit = 86400 if col.kind == "date" else 1
                secs = (ours.to_numpy(dtype="datetime64[us]") - SAS_EPOCH_SECONDS).astype("timedelta64[us]")
                values = secs.astype(np.int64) / 1e6 / unit
                values[ours.isna().to_numpy()] = np.nan
                assert np.allclose(values, theirs.to_numpy(dtype=float), equal_nan=True, rtol=0, atol=1e-6), \
                    (name, col.name)
            else:
                assert np.array_equal(ours.to_numpy(dtype=float), theirs.to_numpy(dtype=float), equal_nan=True)
    if folder == "sdtm":
        # ts.xpt is Windows-1252: read with the fallback, which is reported
        assert metas["TS"].encoding == "cp1252"
        assert findings.frame()[["rule_id", "dataset"]].values.tolist() == [["XPT-ENCODING", "TS"]]
        assert "Mild to Moderate Alzheimer\u2019s Disease" in frames["TS"]["TSVAL"].tolist()
    else:
        assert frames["ADSL"]["TRTSDT"].iloc[0] == pd.Timestamp("2014-01-02")
