"""The final record order of a partitioned dataset from the partitions' blocks (scale/order.py): each partition's
rows land where the whole dataset, sorted as the plain run sorts it, has them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cdiscflow.core.frames import compact
from cdiscflow.core.text import sort_order
from cdiscflow.scale.order import block_prefix, dataset_blocks, final_rows, sources
from cdiscflow.scale.partitions import subject_partition


def _split(whole: pd.DataFrame, count: int) -> tuple[list[pd.DataFrame], list[np.ndarray]]:
    """The partitions of a dataset in its final order (each keeps its rows' order) and where their rows are."""
    which = subject_partition(whole["USUBJID"].astype(object), count)
    parts = [whole[which == p].reset_index(drop=True) for p in range(count)]
    return parts, [np.flatnonzero(which == p) for p in range(count)]


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.take(sort_order(frame, keys)).reset_index(drop=True)


def test_block_prefix_is_the_keys_up_to_usubjid():
    assert block_prefix(["STUDYID", "USUBJID", "AETERM"]) == ["STUDYID", "USUBJID"]
    assert block_prefix(["STUDYID", "RDOMAIN", "USUBJID", "IDVAR"]) == ["STUDYID", "RDOMAIN", "USUBJID"]
    assert block_prefix(["STUDYID", "TAETORD"]) is None


def test_three_subjects_in_two_partitions_by_hand():
    whole = pd.DataFrame({"STUDYID": ["S"] * 6, "USUBJID": ["A", "A", "B", "C", "C", "C"],
                          "X": [1.0, 2.0, 1.0, 1.0, 2.0, 3.0]})
    a_and_c = whole.iloc[[0, 1, 3, 4, 5]].reset_index(drop=True)  # A's two records, then C's three
    b = whole.iloc[[2]].reset_index(drop=True)
    blocks = [dataset_blocks(a_and_c, ["STUDYID", "USUBJID"]), dataset_blocks(b, ["STUDYID", "USUBJID"])]
    assert blocks[0].starts.tolist() == [0, 2] and blocks[0].lengths.tolist() == [2, 3]
    final = final_rows(blocks)
    assert final[0].tolist() == [0, 1, 3, 4, 5] and final[1].tolist() == [2]
    partition, row = sources(final)
    assert partition.tolist() == [0, 0, 1, 0, 0, 0] and row.tolist() == [0, 1, 0, 2, 3, 4]


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_partitions_of_a_compacted_dataset_get_the_rows_the_whole_sort_gives_them(count):
    rng = np.random.default_rng(5)
    n = 4000
    subjects = np.array([f"S-{i:04d}" for i in rng.integers(0, 300, n)], dtype=object)
    subjects[rng.integers(0, n, 40)] = None  # records without a subject: all in one partition, sorted first
    whole = compact(pd.DataFrame({"STUDYID": "STUDY", "USUBJID": subjects,
                                  "TESTCD": rng.choice(["HGB", "PLAT", "WBC"], n).astype(object),
                                  "SEQ": rng.integers(1, 50, n).astype("float64")}))
    keys = ["STUDYID", "USUBJID", "TESTCD", "SEQ"]
    whole = _sorted(whole, keys)
    parts, where = _split(whole, count)
    final = final_rows([dataset_blocks(p, block_prefix(keys)) for p in parts])
    for p in range(count):  # over partitions
        assert np.array_equal(final[p], where[p])


def test_a_dataset_keyed_without_usubjid_is_ordered_record_by_record():
    rng = np.random.default_rng(1)
    whole = _sorted(pd.DataFrame({"USUBJID": [f"S{i}" for i in rng.integers(0, 50, 500)],
                                  "K": rng.integers(0, 20, 500).astype("float64"),
                                  "_src": "ae", "_row": np.arange(500, 0, -1).astype("float64")}), ["K", "_src", "_row"])
    parts, where = _split(whole, 3)
    final = final_rows([dataset_blocks(p[["K", "_src", "_row"]], None) for p in parts])
    assert [f.tolist() for f in final] == [w.tolist() for w in where]


def test_a_partition_without_the_dataset_gets_no_rows():
    only = pd.DataFrame({"STUDYID": ["S", "S"], "USUBJID": ["A", "B"]})
    final = final_rows([None, dataset_blocks(only, ["STUDYID", "USUBJID"]), None])
    assert [f.tolist() for f in final] == [[], [0, 1], []]
