"""Small shared pieces of the ADaM derivations: argument normalisation, input checks, ordering.

Every derivation checks its inputs before it computes anything and raises `InputError` naming the dataset and the
variables (data problems) or `ValueError` (a wrong argument in the calling code).  Nothing here keeps state.

Ordering (`order=` arguments) follows admiral: a sequence of variable names, ascending; a leading ``-`` sorts that
variable descending (``("ADT", "-AVAL")``).  For "first"/"last" selections a record whose order variable is missing
never wins over one that has a value (unlike dplyr, where NA sorts last and so is picked by "last"); ties keep the
input row order ("last" takes the later row), so selections are deterministic.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from cdiscflow.core.errors import InputError

SUBJECT_KEYS: tuple[str, ...] = ("STUDYID", "USUBJID")
MODES = ("first", "last")
_ROW = "__row__"  # temporary column: the caller's row position


def as_names(value: str | Iterable[str] | None, *, arg: str) -> tuple[str, ...]:
    """A variable name or a sequence of names as a tuple (None -> ())."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    names = tuple(value)
    bad = [n for n in names if not isinstance(n, str) or not n]
    if bad:
        raise ValueError(f"{arg}: expected variable names, got {bad!r}")
    return names


def as_mapping(value: str | Iterable[str] | Mapping[str, str] | None, *, arg: str) -> dict[str, str]:
    """Names or a {new: source} mapping as a {new: source} dict (a plain name maps to itself)."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        out = {}
        for new, src in value.items():
            if not isinstance(new, str) or not isinstance(src, str):
                raise ValueError(f"{arg}: expected {{new_name: source_name}} strings, got {new!r}: {src!r}")
            out[new] = src
        return out
    return {n: n for n in as_names(value, arg=arg)}


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be 'first' or 'last', not {mode!r}")
    return mode


def check_frame(frame: object, *, name: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, not {type(frame).__name__}")
    return frame


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, dataset: str, purpose: str = "") -> None:
    """Raise InputError listing every variable `frame` lacks."""
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        why = f" (needed for {purpose})" if purpose else ""
        raise InputError(
            f"{dataset} lacks variable(s) {', '.join(missing)}{why}; it has: {', '.join(map(str, frame.columns)) or 'none'}"
        )


def require_dates(frame: pd.DataFrame, columns: Iterable[str], *, dataset: str) -> None:
    """Raise InputError unless every column is a datetime64 column (an ADaM date or datetime)."""
    bad = [f"{c} ({frame[c].dtype})" for c in columns if not pd.api.types.is_datetime64_any_dtype(frame[c])]
    if bad:
        raise InputError(
            f"{dataset}: {', '.join(bad)} must be date/datetime (datetime64) variables; "
            "convert --DTC text first with derive_vars_dt / derive_vars_dtm"
        )


def require_unique(frame: pd.DataFrame, keys: Sequence[str], *, dataset: str, hint: str = "") -> None:
    """Raise InputError if `keys` do not identify the rows of `frame`, showing the first duplicates."""
    dup = frame.duplicated(list(keys), keep=False)
    if dup.any():
        shown = frame.loc[dup, list(keys)].drop_duplicates().head(5)
        examples = "; ".join(", ".join(f"{k}={v}" for k, v in zip(keys, row)) for row in shown.itertuples(index=False))
        more = f" {hint}" if hint else ""
        raise InputError(
            f"{dataset} has {int(dup.sum())} records that are not unique by {', '.join(keys)} (e.g. {examples}).{more}"
        )


def parse_order(order: str | Iterable[str] | None) -> list[tuple[str, bool]]:
    """("ADT", "-AVAL") -> [("ADT", True), ("AVAL", False)]: (variable, ascending)."""
    out = []
    for item in as_names(order, arg="order"):
        if item.startswith("-"):
            out.append((item[1:], False))
        else:
            out.append((item, True))
    return out


def order_columns(order: str | Iterable[str] | None) -> list[str]:
    return [name for name, _ in parse_order(order)]


def sort_rows(frame: pd.DataFrame, keys: Sequence[str], order: str | Iterable[str] | None = (), *,
              reverse_order: bool = False, priority: Sequence[str] = ()) -> np.ndarray:
    """Positions (for `frame.iloc`) that sort `frame` by `keys`, then `priority` (both ascending), then `order`.

    Missing values sort after all values in either direction.  Ties keep the input order; with `reverse_order`
    every `order` direction is flipped and ties go to the later input row.  The caller's frame is not reordered."""
    return _sorted(frame, keys, order, reverse_order=reverse_order, priority=priority)[0]


def _sorted(frame: pd.DataFrame, keys: Sequence[str], order: str | Iterable[str] | None, *, reverse_order: bool,
            priority: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """`sort_rows`' positions, and the rank codes of each variable sorted on (missing: -1), by name."""
    spec = [(k, True) for k in (*keys, *priority)]
    spec += [(name, ascending != reverse_order) for name, ascending in parse_order(order)]
    position = np.arange(len(frame))
    sort_keys: list[np.ndarray] = [-position if reverse_order else position]
    ranks: dict[str, np.ndarray] = {}
    for name, ascending in reversed(spec):  # np.lexsort sorts by the last key first
        codes = ranks[name] if name in ranks else _rank_codes(frame[name])
        ranks[name] = codes
        sort_keys.append(codes if ascending else -codes)
        sort_keys.append(frame[name].isna().to_numpy().astype(np.int8))
    return np.lexsort(sort_keys), ranks


def _rank_codes(col: pd.Series) -> np.ndarray:
    """Integer codes that sort like the column's values (missing get -1; the missing flag separates them)."""
    codes, _ = pd.factorize(col, sort=True, use_na_sentinel=True)
    return codes.astype(np.int64)


def extreme_rows(frame: pd.DataFrame, by_vars: Sequence[str], order: str | Iterable[str] | None, mode: str, *,
                 priority: Sequence[str] = ()) -> pd.DataFrame:
    """The first or last row per `by_vars` group with respect to `order` (a new frame, groups in sorted order).

    `priority` variables are compared first and always ascending (e.g. an event number: earlier events win
    whatever the mode).  Records with a missing `order` value are chosen only when no record of the group has one;
    among equal records "first" takes the earlier input row and "last" the later one."""
    check_mode(mode)
    pos, ranks = _sorted(frame, by_vars, order, reverse_order=(mode == "last"), priority=priority)
    if not by_vars:
        return frame.iloc[pos[:1]]
    # the groups are contiguous once sorted: a group's first row is where a key's code changes (all missing values
    # of a key share code -1, as they form one group); the frame is taken once, at the end
    first = np.zeros(len(pos), dtype=bool)
    first[:1] = True
    for name in by_vars:
        codes = ranks[name][pos]
        first[1:] |= codes[1:] != codes[:-1]
    return frame.iloc[pos[first]]


def text(values: object, index: pd.Index | None = None) -> pd.Series:
    """A character variable: pandas' string dtype with NaN for missing."""
    return pd.Series(values, index=index, dtype="str")


def describe_rows(frame: pd.DataFrame, mask: pd.Series | np.ndarray, columns: Sequence[str], limit: int = 5) -> str:
    """'row 3 (USUBJID=01-001, AESTDTC=2020-02-30); row 9 (...)' for the first `limit` rows of `mask`.

    Row numbers are 1-based record numbers of `frame` as given."""
    positions = np.flatnonzero(np.asarray(mask))
    shown = []
    for p in positions[:limit]:
        parts = ", ".join(f"{c}={frame.iloc[p][c]}" for c in columns if c in frame.columns)
        shown.append(f"row {p + 1} ({parts})")
    more = f" and {len(positions) - limit} more" if len(positions) > limit else ""
    return "; ".join(shown) + more
