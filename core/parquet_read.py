"""The one way cdiscflow reads a Parquet file: footer first, then the data, and the row counts must agree.

A Parquet file ends with its footer (metadata, its length, the magic bytes `PAR1`): a truncated file or one with
bytes appended has no readable footer and fails here with the file name, instead of some library message.  The
footer declares the number of rows (in total and per row group); the decoded table must hold exactly that many.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cdiscflow.core.errors import InputError

MAGIC = b"PAR1"


def read_parquet(path: str | Path) -> pd.DataFrame:
    """A Parquet file as a DataFrame; `InputError` naming the file when it is damaged or its rows disagree with
    its footer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    size = path.stat().st_size if path.is_file() else None
    if size is None:
        raise InputError(f"{path}: no such file")
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(max(0, size - 4))
        tail = fh.read(4)
    if size < 12 or head != MAGIC or tail != MAGIC:
        where = 0 if head != MAGIC else max(0, size - 4)
        raise InputError(f"{path}: not a readable Parquet file: no 'PAR1' mark at byte {where:,} (the file is "
                         f"truncated, has bytes appended, or is not Parquet; {size:,} bytes)")
    try:
        parquet = pq.ParquetFile(path)
        declared = parquet.metadata.num_rows
        groups = sum(parquet.metadata.row_group(i).num_rows for i in range(parquet.metadata.num_row_groups))
        table = parquet.read()
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    if not declared == groups == table.num_rows:
        raise InputError(f"{path}: not a readable Parquet file: the footer declares {declared:,} rows (row groups "
                         f"{groups:,}) but {table.num_rows:,} were decoded")
    try:
        return table.to_pandas()
    except (ValueError, pa.ArrowException) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
