"""Dataset-JSON rows are written by orjson with exactly the bytes of the json module (issue 18).

The reference is written here independently: the header and every row through `json.dumps(..., ensure_ascii=False,
allow_nan=False, separators=(",", ":"))`, what the writer did before orjson.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cdiscflow.export import datasetjson
from cdiscflow.export.datasetjson import JsonHeader, header_json, write_dataset_json
from cdiscflow.export.meta import ColumnMeta, DatasetMeta

HEADER = JsonHeader(created="2020-10-01T00:00:00")
TRICKY_FLOATS = [0.1, 1 / 3, -0.0, 0.0, 2.5, 100.0, 1e-4, 1e-05, 1.5e-07, 1e-09, 1e-10, 5e-324, 1e15, 1e16, 1e22,
                 123456789012345.6, 1.7976931348623157e308, -2.2250738585072014e-308, 12345678.9, np.nan]
TRICKY_TEXT = ["é", "中文", "😀", "\u2028\u2029", "\x00\x1f\x7f", '"quoted"', "back\\slash", "/slash",
               "tab\tnew\nline\rcr\b\f", "<script>&</script>", "   ", np.nan, "ascii", "Ü" * 50, "\u00a0", "\ufeff",
               "a", "b", "c", "d"]


def _reference(frame: pd.DataFrame, meta: DatasetMeta) -> bytes:
    head = json.dumps(header_json(meta, HEADER, len(frame)), ensure_ascii=False, separators=(",", ":"))
    cols = [datasetjson._column_values(frame[c.name], c) for c in meta.columns]
    rows = json.dumps(list(zip(*cols)), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return (head[:-1] + ',"rows":' + rows + "}\n").encode("utf-8")


def _tricky() -> tuple[pd.DataFrame, DatasetMeta]:
    n = len(TRICKY_FLOATS)
    frame = pd.DataFrame({
        "TEXT": TRICKY_TEXT,
        "CAT": pd.Categorical(["x", "é", np.nan, "x"] * (n // 4)),
        "AVAL": TRICKY_FLOATS,
        "BIG": [float(2 ** 53), -float(2 ** 53), 9007199254740993.0, 1e15, 0.0] * (n // 5),
        "ADT": pd.to_datetime(["2020-02-29", "1960-01-01", "1900-01-01", None, "2099-12-31"] * (n // 5)),
        "ADTM": pd.to_datetime(["2020-02-29T23:59:59", None, "1959-12-31T00:00:01", "2020-01-01T00:00:00", "2020-01-01T08:00:00"]
                               * (n // 5)),
        "ATM": pd.to_timedelta(["00:00:00", "23:59:59", None, "12:30:00", "01:02:03"] * (n // 5)),
    })
    meta = DatasetMeta("ADX", "Tricky values", (
        ColumnMeta("TEXT", "Text", "text", 200), ColumnMeta("CAT", "Category", "text", 2),
        ColumnMeta("AVAL", "Analysis Value", "float"), ColumnMeta("BIG", "Big whole numbers", "integer"),
        ColumnMeta("ADT", "Date", "integer", display_format="DATE9."),
        ColumnMeta("ADTM", "Datetime", "integer", display_format="DATETIME20."),
        ColumnMeta("ATM", "Time", "integer", display_format="TIME8.")))
    return frame, meta


def test_tricky_values_give_the_json_module_bytes(tmp_path):
    frame, meta = _tricky()
    size = write_dataset_json(tmp_path / "adx.json", frame, meta, HEADER)
    written = (tmp_path / "adx.json").read_bytes()
    assert written == _reference(frame, meta) and size == len(written)
    text = written.decode("utf-8")
    assert "1e-05" in text and "1.5e-07" in text and "1e+16" in text and "9007199254740992" in text
    assert '"\\u0000\\u001f\x7f"' in text and "😀" in text and '"2020-02-29T23:59:59"' in text


def test_orjson_writes_the_plain_chunks(tmp_path, monkeypatch):
    """Where the values allow it (no float below 1e-4, plain text), orjson writes the rows, not json."""
    frame, meta = _tricky()
    plain = frame[(frame["AVAL"].abs() >= 1e-4) | (frame["AVAL"] == 0) | frame["AVAL"].isna()].reset_index(drop=True)
    calls = []
    real = datasetjson._row_runs
    monkeypatch.setattr(datasetjson, "_row_runs", lambda tokens, n: calls.append(len(tokens)) or real(tokens, n))
    write_dataset_json(tmp_path / "plain.json", plain, meta, HEADER)
    write_dataset_json(tmp_path / "tricky.json", frame, meta, HEADER)
    assert calls == [len(meta.columns)]  # the plain file by columns, the tricky one by the json module
    assert (tmp_path / "plain.json").read_bytes() == _reference(plain, meta)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_numbers_are_refused_as_before(tmp_path, value):
    frame = pd.DataFrame({"AVAL": [1.0, value]})
    meta = DatasetMeta("ADX", "x", (ColumnMeta("AVAL", "Analysis Value", "float"),))
    with pytest.raises(ValueError, match="Out of range float values"):
        write_dataset_json(tmp_path / "x.json", frame, meta, HEADER)
    assert not (tmp_path / "x.json").exists()


def test_many_rows_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(datasetjson, "_ROWS_PER_CHUNK", 7)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"USUBJID": [f"S-{i:03d}" for i in range(50)],
                          "AVAL": np.where(rng.random(50) < 0.2, np.nan, rng.normal(size=50) * 1e3)})
    meta = DatasetMeta("ADX", "x", (ColumnMeta("USUBJID", "Subject", "text", 5), ColumnMeta("AVAL", "Value", "float")))
    write_dataset_json(tmp_path / "x.json", frame, meta, HEADER)
    assert (tmp_path / "x.json").read_bytes() == _reference(frame, meta)
    assert len(json.loads((tmp_path / "x.json").read_bytes())["rows"]) == 50


def test_whole_column_encoding_paths_give_the_json_module_bytes(tmp_path, monkeypatch):
    """Every way a column is encoded once per dataset -- integer ranges, mostly distinct floats (row by row), floats
    by distinct value with -0.0 and 0.0 apart, categoricals paired with their neighbour, texts with escapes among
    plain ones -- across several chunks."""
    monkeypatch.setattr(datasetjson, "_ROWS_PER_CHUNK", 7)
    monkeypatch.setattr(datasetjson, "_SAMPLE", 10)  # 50 rows > 4 x 10: the row-by-row float path is taken
    rng = np.random.default_rng(1)
    n = 50
    floats = rng.normal(size=n) * 1e3
    floats[[3, 17]] = np.nan
    floats[[5, 40]] = -0.0
    floats[[6, 41]] = 0.0
    frame = pd.DataFrame({
        "STUDYID": pd.Categorical(["S1"] * n),
        "ARM": pd.Categorical(rng.choice(["A", 'B "quoted"', "C\\D", np.nan], n)),
        "SEQ": np.where(np.arange(n) % 9 == 4, np.nan, np.arange(-20, n - 20)).astype(float),
        "AVAL": floats,
        "BASE": np.where(np.arange(n) % 3 == 0, -0.0, np.where(np.arange(n) % 3 == 1, 0.0, 2.5)),
        "TEXT": rng.choice(["plain", "tab\there", "é", "😀", ""], n).astype(object),
    })
    meta = DatasetMeta("ADX", "x", (ColumnMeta("STUDYID", "Study", "text", 2), ColumnMeta("ARM", "Arm", "text", 10),
                                    ColumnMeta("SEQ", "Sequence", "integer"), ColumnMeta("AVAL", "Value", "float"),
                                    ColumnMeta("BASE", "Base", "float"), ColumnMeta("TEXT", "Text", "text", 9)))
    write_dataset_json(tmp_path / "x.json", frame, meta, HEADER)
    written = (tmp_path / "x.json").read_bytes()
    assert written == _reference(frame, meta)
    rows = json.loads(written)["rows"]
    assert rows[0][:3] == ["S1", rows[0][1], -20] and rows[4][2] is None and rows[5][3] == 0.0
    assert b'"B \\"quoted\\""' in written and b'"C\\\\D"' in written and b'"tab\\there"' in written
    assert b",-0.0," in written  # BASE keeps the sign of zero as the json module does


def test_a_chunk_orjson_writes_differently_goes_through_json(tmp_path, monkeypatch):
    """One value (1e-05) that orjson would write as 0.00001 sends the dataset chunk by chunk: that chunk through the
    json module, the others by columns; the bytes are the json module's."""
    monkeypatch.setattr(datasetjson, "_ROWS_PER_CHUNK", 4)
    frame = pd.DataFrame({"USUBJID": [f"S-{i}" for i in range(10)], "AVAL": [float(i) for i in range(10)]})
    frame.loc[6, "AVAL"] = 1e-05
    meta = DatasetMeta("ADX", "x", (ColumnMeta("USUBJID", "Subject", "text", 4), ColumnMeta("AVAL", "Value", "float")))
    calls = []
    real = datasetjson._row_runs
    monkeypatch.setattr(datasetjson, "_row_runs", lambda tokens, n: calls.append(n) or real(tokens, n))
    write_dataset_json(tmp_path / "x.json", frame, meta, HEADER)
    assert calls == [4, 2]  # rows 0-3 and 8-9 by columns; rows 4-7 (with 1e-05) by the json module
    assert (tmp_path / "x.json").read_bytes() == _reference(frame, meta)
    assert b"1e-05" in (tmp_path / "x.json").read_bytes()


def test_decimal_floats_and_number_tables_give_the_json_module_bytes(tmp_path, monkeypatch):
    """Floats with few decimals are coded by their scaled value (k / 10, k / 100 ...) without hashing; numbers first,
    in the middle and last in the row; missing values scattered; -0.0 and 0.0 apart; a float that only looks like a
    decimal (0.1 + 0.2) sends its column to pd.factorize."""
    monkeypatch.setattr(datasetjson, "_ROWS_PER_CHUNK", 7)
    monkeypatch.setattr(datasetjson, "_DECIMAL_MIN_ROWS", 1)
    rng = np.random.default_rng(2)
    n = 60
    one_decimal = np.round(rng.normal(50, 20, n), 1)
    one_decimal[[2, 9, 30]] = np.nan
    one_decimal[[4, 5]] = [-0.0, 0.0]
    cents = np.round(rng.uniform(-3, 3, n), 2)
    almost = np.array([0.1 + 0.2, 0.3, 1.5, np.nan] * (n // 4))
    frame = pd.DataFrame({
        "SEQ": np.arange(1, n + 1, dtype=float),
        "AVAL": one_decimal,
        "CENTS": cents,
        "ALMOST": almost,
        "WHOLE": np.where(np.arange(n) % 5 == 0, np.nan, rng.integers(-5, 5, n)).astype(float),
        "DY": np.where(np.arange(n) % 7 == 0, np.nan, np.arange(-30, n - 30)).astype(float),
    })
    meta = DatasetMeta("ADX", "x", (ColumnMeta("SEQ", "Sequence", "integer"), ColumnMeta("AVAL", "Value", "float"),
                                    ColumnMeta("CENTS", "Cents", "float"), ColumnMeta("ALMOST", "Almost", "float"),
                                    ColumnMeta("WHOLE", "Whole", "float"), ColumnMeta("DY", "Day", "integer")))
    assert datasetjson._decimal_codes(one_decimal, np.isnan(one_decimal)) is not None
    assert datasetjson._decimal_codes(cents, None)[1][1] == pytest.approx(cents.min() + 0.01)
    assert datasetjson._decimal_codes(almost, np.isnan(almost)) is None  # 0.30000000000000004 is no k / 1000
    write_dataset_json(tmp_path / "x.json", frame, meta, HEADER)
    written = (tmp_path / "x.json").read_bytes()
    assert written == _reference(frame, meta)
    rows = json.loads(written)["rows"]
    assert rows[0][0] == 1 and rows[2][1] is None and rows[0][5] is None and rows[1][5] == -29
    assert b",-0.0," in written and b"0.30000000000000004" in written


def test_categories_held_in_arrow_chunks_give_the_json_module_bytes(tmp_path):
    # a partitioned run joins the partitions' categoricals; their categories may come back as chunked Arrow text
    import pyarrow as pa

    from cdiscflow.export.xpt import text_categories

    cats = pd.Index(pd.array(pa.chunked_array([["x"], ["y", 'q"uote']], type=pa.large_string()), dtype="str"))
    frame = pd.DataFrame({"CAT": pd.Categorical.from_codes([2, 0, -1, 1, 0], dtype=pd.CategoricalDtype(cats))})
    assert isinstance(text_categories(frame["CAT"])[1], pa.Array)
    meta = DatasetMeta("ADX", "Chunked categories", (ColumnMeta("CAT", "Category", "text", 7),))
    write_dataset_json(tmp_path / "adx.json", frame, meta, HEADER)
    assert (tmp_path / "adx.json").read_bytes() == _reference(frame, meta)
