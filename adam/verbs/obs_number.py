"""Sequence numbers within groups (admiral's `derive_var_obs_number`): ASEQ, APSEQ ...

    adae = derive_var_obs_number(adae, order=("ASTDT", "AESEQ"), dataset_name="ADAE")   # ASEQ 1, 2 ... per subject

The dataset comes back sorted by `by_vars` then `order` (a leading ``-`` sorts a variable descending), with the new
variable numbering the records 1, 2 ... within each `by_vars` group (float, as every ADaM numeric).  Missing values
of an `order` variable sort after all values (`missing="last"`, pandas' and SAS's default for ascending keys) or
before them (`missing="first"`); ties keep the input row order.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd

from cdiscflow.adam.verbs.checks import SUBJECT_KEYS, check_frame, require_columns
from cdiscflow.adam.verbs.ordering import parse_order


def derive_var_obs_number(dataset: pd.DataFrame, *, order: str | Iterable[str], by_vars: Sequence[str] = SUBJECT_KEYS,
                          new_var: str = "ASEQ", missing: str = "last", dataset_name: str = "dataset") -> pd.DataFrame:
    """`dataset` sorted by `by_vars` and `order`, with `new_var` = the record's number within its `by_vars` group."""
    check_frame(dataset, name=dataset_name)
    if missing not in ("first", "last"):
        raise ValueError(f"missing must be 'first' or 'last', not {missing!r}")
    keys = [(name, True) for name in by_vars] + parse_order(order)
    require_columns(dataset, [name for name, _ in keys], dataset=dataset_name, purpose=new_var)
    out = dataset.sort_values([name for name, _ in keys], ascending=[up for _, up in keys], kind="stable",
                              na_position=missing, ignore_index=True)
    out[new_var] = (out.groupby(list(by_vars), sort=False).cumcount() + 1).astype("float64")
    return out


__all__ = ["derive_var_obs_number"]
