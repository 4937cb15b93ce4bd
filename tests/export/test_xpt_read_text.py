"""The XPT reader's text decoding per distinct value (issue 18): trimming, NUL bytes, encodings, blanks."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from cdiscflow.core.xpt_read import read_xpt
from cdiscflow.export.xpt import XptVariable, write_xpt

VALUES = ["ABC", "ABC", np.nan, "A#B", "AB#", " lead", "é", "ABC", "x y "]  # '#': a NUL byte in the file


def _write(path, values):
    """The values as a transport file; each '#' becomes a NUL byte (the writer itself writes NULs as blanks)."""
    frame = pd.DataFrame({"TEXT": pd.Series(values, dtype=object), "PLAIN": ["P"] * len(values),
                          "N": np.arange(len(values), dtype=float)})
    write_xpt(path, frame, [XptVariable("TEXT", "Text", "Char", 6), XptVariable("PLAIN", "Plain", "Char", 3),
                            XptVariable("N", "Number", "Num", 8)], dataset="X", created=date(2020, 1, 1))
    path.write_bytes(path.read_bytes().replace(b"#", b"\x00"))


def test_text_is_trimmed_and_decoded_value_by_value(tmp_path):
    _write(tmp_path / "x.xpt", VALUES)
    data = read_xpt(tmp_path / "x.xpt")
    assert data.encoding == "utf-8"
    # trailing blanks go, then trailing NULs (as numpy's bytes type drops them); inner NULs and leading blanks stay
    # (the reader used to cut a value at its first NUL byte, silently: "A\x00B" was read as "A")
    assert data.frame["TEXT"].tolist() == ["ABC", "ABC", "", "A\x00B", "AB", " lead", "é", "ABC", "x y"]
    assert data.frame["PLAIN"].tolist() == ["P"] * len(VALUES)
    assert str(data.frame["TEXT"].dtype) == "str"
    missing = read_xpt(tmp_path / "x.xpt", blank_missing=True).frame["TEXT"]
    assert missing.isna().tolist() == [False, False, True] + [False] * 6
    assert missing.dropna().tolist() == ["ABC", "ABC", "A\x00B", "AB", " lead", "é", "ABC", "x y"]


def test_windows_1252_text_is_decoded_as_such(tmp_path):
    _write(tmp_path / "x.xpt", ["café", "ABC"])
    raw = (tmp_path / "x.xpt").read_bytes()
    (tmp_path / "x.xpt").write_bytes(raw.replace("café ".encode("utf-8"), "café  ".encode("cp1252")))
    data = read_xpt(tmp_path / "x.xpt")
    assert data.encoding == "cp1252" and data.frame["TEXT"].tolist() == ["café", "ABC"]
