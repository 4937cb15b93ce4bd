"""The Data Docs sample of a dataset: what a run hands its Data Docs worker instead of the dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscflow.validation.datadocs import data_docs_sample, data_docs_sample_positions


def _frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"USUBJID": pd.Series([f"S-{i % 7}" for i in range(rows)], dtype="category"),
                         "AVAL": np.arange(rows, dtype="float64")})


def test_a_small_dataset_is_its_own_sample():
    frame = _frame(10)
    assert data_docs_sample(frame, 10) is frame
    assert data_docs_sample_positions(10, 10) is None


def test_the_sample_depends_on_the_row_count_only():
    frame = _frame(1000)
    sample = data_docs_sample(frame, 25)
    positions = data_docs_sample_positions(1000, 25)
    assert len(sample) == 25 and sample.index.is_monotonic_increasing
    assert sample.equals(frame.take(np.sort(positions)))
    assert sample["AVAL"].tolist() == sorted(positions.tolist())  # AVAL is the position here
    other = _frame(1000).assign(AVAL=lambda f: -f["AVAL"])  # other values, same row count: the same records
    assert data_docs_sample(other, 25).index.equals(sample.index)
    assert not data_docs_sample(_frame(1001), 25).index.equals(sample.index)
