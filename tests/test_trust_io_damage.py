"""Property: byte-level damage to a dataset file (truncation, flipped bytes, appended junk) is either an error that
names the file, or the file reads back as the exact original rows -- never fewer rows, never silently.

The files are a folder as cdiscflow writes it (dm.xpt with dm.json beside it) and a Parquet file.  A flipped byte
inside the values of an observation changes that value and nothing tells (no format here has checksums), so for
flips the property is the row count: an error naming the file, or every original row still there.

Derandomised and without an example database, like the other property tests; CDISCFLOW_HYPOTHESIS_EXAMPLES hunts
longer."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdiscflow.core.errors import InputError
from cdiscflow.core.parquet_read import read_parquet
from cdiscflow.export.datasetjson import JsonHeader, write_dataset_json
from cdiscflow.export.read import read_dataset
from cdiscflow.export.xpt import XptVariable, write_xpt

EXAMPLES = int(os.environ.get("CDISCFLOW_HYPOTHESIS_EXAMPLES", "0")) or 120
PROFILE = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None, print_blob=False,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

VARS = [XptVariable("USUBJID", "Subject", "Char", 12), XptVariable("AGE", "Age", "Num", 8),
        XptVariable("SITE", "Site name", "Char", 30)]  # 50-byte observations: cuts can land on row+record ends


def _frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"USUBJID": [f"S-{i:03d}" for i in range(rows)], "AGE": np.arange(rows, dtype=float) + 40.5,
                         "SITE": [f"site {i % 3}" for i in range(rows)]})


def _originals(folder: Path) -> dict[str, bytes]:
    """dm.xpt and dm.json as `cdiscflow export` writes them, and f.parquet; their bytes."""
    frame = _frame(23)
    write_xpt(folder / "dm.xpt", frame, VARS, dataset="DM", label="Demographics", created=dt.date(2020, 10, 1))
    _, meta = read_dataset(folder / "dm.xpt")
    write_dataset_json(folder / "dm.json", frame, meta, JsonHeader(created="2020-10-01T00:00:00"))
    frame.to_parquet(folder / "f.parquet")
    return {p.name: p.read_bytes() for p in (folder / "dm.xpt", folder / "dm.json", folder / "f.parquet")}


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> tuple[Path, dict[str, bytes], dict[str, pd.DataFrame]]:
    folder = tmp_path_factory.mktemp("damage")
    data = _originals(folder)
    frames = {"dm.xpt": read_dataset(folder / "dm.xpt")[0], "dm.json": read_dataset(folder / "dm.json")[0],
              "f.parquet": read_parquet(folder / "f.parquet")}
    assert len(frames["dm.xpt"]) == len(frames["dm.json"]) == len(frames["f.parquet"]) == 23
    return folder, data, frames


def _read(path: Path) -> pd.DataFrame:
    return read_parquet(path) if path.suffix == ".parquet" else read_dataset(path)[0]


damage = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True), st.just(b"")),
    st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(1, 255).map(lambda b: bytes([b]))),
    st.tuples(st.just("append"), st.just(0.0), st.binary(min_size=1, max_size=200)),
)


@PROFILE
@given(name=st.sampled_from(["dm.xpt", "dm.json", "f.parquet"]), how=damage)
def test_damage_is_an_error_naming_the_file_or_the_original_rows(originals, name, how):
    folder, data, frames = originals
    kind, where, extra = how
    raw = data[name]
    if kind == "truncate":
        damaged = raw[:int(where * len(raw))]
    elif kind == "flip":
        at = int(where * len(raw))
        damaged = raw[:at] + bytes([raw[at] ^ extra[0]]) + raw[at + 1:]
    else:
        damaged = raw + extra
    path = folder / name
    try:
        path.write_bytes(damaged)
        try:
            frame = _read(path)
        except InputError as exc:
            assert str(path) in str(exc), str(exc)  # the error names the file
            return
        original = frames[name]
        assert len(frame) == len(original), f"{kind} at {where}: {len(frame)} rows read, {len(original)} written"
        if kind != "flip":
            pd.testing.assert_frame_equal(frame, original)
    finally:
        path.write_bytes(raw)
