"""Small allocation helpers: exact category counts and exact summary statistics, shuffled with the seed.

Every exact target of the simulation is built this way: first the list of values that has the published counts,
minimum, maximum and median, then a seeded permutation across the patients of that column.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def labels(counts: Mapping[str, int], rng: np.random.Generator) -> np.ndarray:
    """A shuffled array holding each label exactly `counts[label]` times."""
    out = np.repeat(np.array(list(counts.keys()), dtype=object), list(counts.values()))
    return out[rng.permutation(len(out))]


def exact_values(n: int, median: float, lo: float, hi: float, decimals: int, rng: np.random.Generator,
                 bands: Sequence[tuple[float, float, int]] = ()) -> np.ndarray:
    """Sorted values with exactly this minimum, maximum and median (for even n the two middle values both equal the
    median, so every median convention agrees).  `bands` optionally fixes how many values fall in [low, high)."""
    step = 10.0 ** -decimals
    if bands:
        parts = []
        for low, high, k in bands:
            top = min(high - step, hi)
            parts.append(np.sort(rng.uniform(max(low, lo), top, k)))
        v = np.concatenate(parts)
    else:
        v = np.sort(rng.uniform(lo, hi, n))
    if len(v) != n:
        raise ValueError(f"bands hold {len(v)} values, expected {n}")
    v = np.round(v, decimals)
    mids = [n // 2] if n % 2 else [n // 2 - 1, n // 2]
    v[mids] = median
    v[: mids[0]] = np.minimum(v[: mids[0]], median)
    v[mids[-1] + 1:] = np.maximum(v[mids[-1] + 1:], median)
    v[0], v[-1] = lo, hi
    v = np.sort(np.round(v, decimals))
    _check_summary(v, median, lo, hi)
    return v


def _check_summary(v: np.ndarray, median: float, lo: float, hi: float) -> None:
    n = len(v)
    mids = v[[n // 2]] if n % 2 else v[[n // 2 - 1, n // 2]]
    if not (np.allclose(mids, median) and np.isclose(v.min(), lo) and np.isclose(v.max(), hi)):
        raise RuntimeError(f"exact_values failed: median {mids} min {v.min()} max {v.max()}")


def fill_values(fixed: np.ndarray, n_free: int, median: float, lo: float, hi: float, decimals: int,
                rng: np.random.Generator, bands: Sequence[tuple[float, float, int]] = ()) -> np.ndarray:
    """Values for `n_free` patients so that `fixed` + them has this median (odd total), minimum and maximum, and the
    band counts (bands give the *total* per band).  Used where some patients' values are already determined by
    another column (Part A values of patients whose Part B values are published)."""
    total = len(fixed) + n_free
    if total % 2 != 1:
        raise ValueError("fill_values needs an odd total")
    step = 10.0 ** -decimals
    edges = list(bands) if bands else [(lo, hi + step, total)]
    need = []
    for low, high, k in edges:
        have = int(np.sum((fixed >= low) & (fixed < high)))
        if have > k:
            raise ValueError(f"{have} fixed values already in band [{low}, {high}), target {k}")
        need.append(k - have)
    if sum(need) != n_free:
        raise ValueError("band counts do not add up")
    mid = (total - 1) // 2  # 0-based position of the median
    tol = step / 2
    below = int(np.sum(fixed < median - tol))
    at = int(np.sum(np.abs(fixed - median) < tol))
    spans = []
    for (low, high, _), k in zip(edges, need):
        spans.append((max(low, lo), min(high - step, hi), k))
    below += sum(k for low_, high_, k in spans if high_ < median - tol)
    values: list[float] = []
    for low_, high_, k in spans:
        if k == 0:
            continue
        if high_ < median - tol:  # whole band below the median
            values += list(rng.uniform(low_, high_, k))
        elif low_ > median + tol:  # whole band above
            values += list(rng.uniform(low_, high_, k))
        else:  # the band holding the median: as many below as allowed, then enough at the median, rest above
            kb = max(0, min(k, mid - below))
            below += kb
            ka = min(k - kb, max(0, mid + 1 - below - at))
            at += ka
            values += list(rng.uniform(low_, median - step, kb)) + [median] * ka
            values += list(rng.uniform(median + step, max(high_, median + step), k - kb - ka))
    v = np.round(np.array(values, dtype=float), decimals)
    # pin the extremes inside the free values when the fixed ones do not reach them (a free value of the lowest /
    # highest band moves to lo / hi, so band counts are kept)
    if fixed.size == 0 or fixed.min() > lo:
        v[np.argmin(v)] = lo
    if fixed.size == 0 or fixed.max() < hi:
        v[np.argmax(v)] = hi
    allv = np.sort(np.concatenate([fixed, v]))
    if not (np.isclose(allv[mid], median) and np.isclose(allv[0], lo) and np.isclose(allv[-1], hi)):
        raise ValueError(f"cannot reach median {median}: got {allv[mid]} (min {allv[0]}, max {allv[-1]})")
    for low, high, k in edges:
        if int(np.sum((allv >= low) & (allv < high))) != k:
            raise ValueError(f"band [{low}, {high}) holds {int(np.sum((allv >= low) & (allv < high)))}, target {k}")
    return v[rng.permutation(len(v))]


def cyclic_union(n_union: int, counts: Sequence[int]) -> list[np.ndarray]:
    """Positions 0..n_union-1 for each lesion so that every position gets at least one lesion (their union is exactly
    n_union) and each lesion covers `count` distinct positions; overlaps = sum(counts) - n_union."""
    if sum(counts) < n_union or any(c > n_union for c in counts):
        raise ValueError(f"counts {counts} cannot cover a union of {n_union}")
    out, ptr = [], 0
    for c in counts:
        out.append((ptr + np.arange(c)) % n_union if n_union else np.array([], int))
        ptr += c
    return out
