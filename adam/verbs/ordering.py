"""Record ordering for the ADaM verbs: `order=` arguments, sorting positions, first/last record per group.

Ordering (`order=` arguments) follows admiral: a sequence of variable names, ascending; a leading ``-`` sorts that
variable descending (``("ADT", "-AVAL")``).  For "first"/"last" selections a record whose order variable is missing
never wins over one that has a value (unlike dplyr, where NA sorts last and so is picked by "last"); ties keep the
input row order ("last" takes the later row), so selections are deterministic.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from cdiscflow.adam.verbs.checks import as_names
from cdiscflow.core.frames import is_text_category

MODES = ("first", "last")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be 'first' or 'last', not {mode!r}")
    return mode


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
    ranks: dict[str, np.ndarray] = {}
    digits: list[tuple[np.ndarray, int]] = []  # most significant first: (values 0 .. radix-1, radix)
    for name, ascending in spec:
        codes = ranks[name] if name in ranks else _rank_codes(frame[name])
        ranks[name] = codes
        digits += _key_digits(codes, ascending, missing_last=True)
    return _stable_order(digits, len(frame), ties_last_first=reverse_order), ranks


def _key_digits(codes: np.ndarray, ascending: bool, *, missing_last: bool) -> list[tuple[np.ndarray, int]]:
    """One sort key as mixed-radix digits: whether the value is missing (missing values together, after or before
    the others), then its rank (flipped when descending).  Digits that cannot differ are left out."""
    missing = codes < 0
    distinct = int(codes.max()) + 1 if len(codes) else 0
    out = []
    if missing.any():
        out.append(((missing if missing_last else ~missing).astype(np.int64), 2))
    if distinct > 1:
        out.append((codes.clip(0) if ascending else (distinct - 1) - codes.clip(0), distinct))
    return out


def _stable_order(digits: list[tuple[np.ndarray, int]], n: int, *, ties_last_first: bool = False) -> np.ndarray:
    """Positions that sort n rows by `digits` (most significant first), ties in input order (or, with
    `ties_last_first`, the later row first): `np.lexsort` of the digits and the row position, computed as one
    stable argsort of the digits combined into one integer when they fit in 63 bits (runs of rows already in
    order, e.g. records by subject, then cost almost nothing)."""
    if not digits:
        return np.arange(n)[::-1].copy() if ties_last_first else np.arange(n)
    size = 1
    for _, radix in digits:
        size *= radix
    if size < 2 ** 63:
        key = np.zeros(n, dtype=np.int64)
        for values, radix in digits:
            key *= radix
            key += values
        if ties_last_first:
            return (n - 1) - np.argsort(key[::-1], kind="stable")  # ties: the later row first
        return np.argsort(key, kind="stable")
    position = np.arange(n)
    keys = [-position if ties_last_first else position] + [values for values, _ in reversed(digits)]
    return np.lexsort(keys)


def _rank_codes(col: pd.Series) -> np.ndarray:
    """Integer codes that sort like the column's values (missing get -1; the missing flag separates them).  A
    compacted text column (`core.frames.compact`: categories sorted) is ranked by its codes as they are; codes of
    unused categories leave gaps, which order the same."""
    if is_text_category(col) and col.cat.categories.is_monotonic_increasing and col.cat.categories.is_unique:
        return col.cat.codes.to_numpy().astype(np.int64)
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
