"""The final record order of a partitioned dataset, from the partitions' blocks, without the records.

A partition holds its subjects' records of a dataset in the plain run's order (SDTM: the dataset keys, then raw
origin; ADaM: subject by subject, each subject's records as derived).  The plain run's order over all subjects
interleaves the partitions subject by subject: the records whose leading keys up to USUBJID are equal (a *block*:
for most datasets STUDYID, USUBJID, i.e. one subject) all sit in one partition, one after the other, so the final
order is the blocks sorted by those leading keys, each block's records in the partition's order.  A partition sends
one row per block (its leading keys, where it starts), not its records; the client sorts the blocks as the plain run
sorts records (`core.text.sort_order` over the partitions' block keys joined as `scale.concat_frames` joins
records) and gives every partition's rows their final row numbers:

    blocks = [dataset_blocks(frame, prefix) for each partition]       # in the partitions
    final = final_rows(blocks)                                         # in the client
    final[p][r]   the 0-based row of the final dataset that row r of partition p becomes (increasing in r)

A dataset whose keys do not name USUBJID has one block per record (its keys and raw origin: the sort of the plain
run record by record); a dataset without keys (ADaM without STUDYID/USUBJID) is the partitions one after another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cdiscflow.core.text import same_as_previous, sort_order
from cdiscflow.scale.combine import concat_frames


@dataclass
class Blocks:
    """A partition's records of one dataset as blocks: `keys` has one row per block (the sort columns), `starts` the
    partition row where each block starts; `rows` the partition's records of the dataset."""

    keys: pd.DataFrame
    starts: np.ndarray
    rows: int

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(np.append(self.starts, self.rows)).astype(np.int64)


def block_prefix(keys: list[str]) -> list[str] | None:
    """The leading keys a block shares: the keys up to and including USUBJID; None when USUBJID is not a key (then
    every record is a block of its own)."""
    return keys[:keys.index("USUBJID") + 1] if "USUBJID" in keys else None


def dataset_blocks(sort_frame: pd.DataFrame, prefix: list[str] | None) -> Blocks:
    """The blocks of a partition's dataset already in its final order; `sort_frame` holds the columns the plain run
    sorts by (with `prefix` None: all of them, one block a record; with `prefix` []: one block)."""
    n = len(sort_frame)
    if prefix is None:
        return Blocks(sort_frame.reset_index(drop=True), np.arange(n, dtype=np.int64), n)
    if not prefix:
        return Blocks(pd.DataFrame(index=range(min(n, 1))), np.zeros(min(n, 1), dtype=np.int64), n)
    keys = sort_frame[prefix]
    starts = np.flatnonzero(~same_as_previous(keys, prefix)).astype(np.int64)
    return Blocks(keys.take(starts).reset_index(drop=True), starts, n)


def final_rows(parts: list[Blocks | None]) -> list[np.ndarray]:
    """Per partition (None: the partition has no such dataset), the final 0-based row of each of its records: the
    blocks of all partitions sorted by their keys (stable: ties keep partition order), each block's records kept
    together in their partition's order.  Vectorised over blocks and records."""
    present = [b for b in parts if b is not None and len(b.starts)]
    if not present:
        return [np.zeros(0, dtype=np.int64) for _ in parts]
    if len(present[0].keys.columns):
        keys = concat_frames([b.keys for b in present])
        order = sort_order(keys, list(keys.columns))  # final position -> block (in concatenated order)
    else:  # no keys: one block a partition, the partitions one after another
        order = np.arange(len(present), dtype=np.int64)
    lengths = np.concatenate([b.lengths for b in present])
    first = np.empty(len(order), dtype=np.int64)  # each block's first final row
    first[order] = np.concatenate(([0], np.cumsum(lengths[order])[:-1]))
    out, at = [], 0
    for b in parts:  # over partitions
        if b is None or not len(b.starts):
            out.append(np.zeros(0, dtype=np.int64))
            continue
        k = len(b.starts)
        shift = first[at:at + k] - b.starts  # final row - partition row, constant inside a block
        out.append(np.repeat(shift, b.lengths) + np.arange(b.rows, dtype=np.int64))
        at += k
    return out


def sources(final: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of `final_rows`: for each final row, its partition and its row there."""
    total = sum(len(f) for f in final)
    partition = np.empty(total, dtype=np.int32)
    row = np.empty(total, dtype=np.int64)
    for p, f in enumerate(final):  # over partitions
        partition[f] = p
        row[f] = np.arange(len(f), dtype=np.int64)
    return partition, row
