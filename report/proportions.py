"""Exact confidence intervals for proportions and the number formats the report prints.

Formats follow the DARA-ATRA paper (and most clinical papers): counts with percentages "20 (31.7)" in tables and
"16 (25%)" in text, medians with ranges "69 (38-80)", estimates with CIs "2.8 (1.6-4.0)".  Numbers are rounded
half away from zero on their decimal value (as SPSS and SAS print them), never with Python's banker's rounding:
2/44 = 4.545...% prints as 5%, and 0.125 at 2 decimals as 0.13.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterable

import numpy as np

NOT_REACHED = "NR"


def clopper_pearson(count: int, nobs: int, *, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided 1 - alpha confidence interval for a binomial proportion count/nobs.

    The limits solve P(X >= count | p_lower) = alpha/2 and P(X <= count | p_upper) = alpha/2, i.e.
    p_lower = Beta(alpha/2; count, nobs - count + 1) and p_upper = Beta(1 - alpha/2; count + 1, nobs - count),
    with p_lower = 0 when count = 0 and p_upper = 1 when count = nobs (statsmodels method "beta").
    """
    count, nobs = _check_count(count, nobs)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if nobs == 0:
        return math.nan, math.nan
    from statsmodels.stats.proportion import proportion_confint  # lazy: seconds to import (scipy.stats)

    lower, upper = proportion_confint(count, nobs, alpha=alpha, method="beta")
    lower = 0.0 if count == 0 else float(lower)
    upper = 1.0 if count == nobs else float(upper)
    return lower, upper


def _check_count(count, nobs) -> tuple[int, int]:
    if int(count) != count or int(nobs) != nobs or count < 0 or nobs < 0 or count > nobs:
        raise ValueError(f"need integers 0 <= count <= nobs, got count={count}, nobs={nobs}")
    return int(count), int(nobs)


def round_half_up(value: float, decimals: int = 0) -> str:
    """`value` rounded half away from zero to `decimals` places, as text ('' for NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    quantum = Decimal(1).scaleb(-decimals)
    rounded = Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)  # no "-0.0"
    return f"{rounded:f}"


def format_pct(count: int, nobs: int, *, decimals: int = 0) -> str:
    """'5%' for 2/44."""
    count, nobs = _check_count(count, nobs)
    return round_half_up(100 * count / nobs, decimals) + "%" if nobs else ""


def format_n_pct(count: int, nobs: int, *, decimals: int = 1, percent_sign: bool = False, zero: str = "0") -> str:
    """'20 (31.7)' (Table 1 style) or with `percent_sign` and `decimals=0` '16 (25%)' (text style).

    A zero count prints as `zero` ('0' as in the paper's tables).
    """
    count, nobs = _check_count(count, nobs)
    if count == 0:
        return zero
    pct = round_half_up(100 * count / nobs, decimals) + ("%" if percent_sign else "")
    return f"{count} ({pct})"


def format_median_range(values: Iterable[float], *, decimals: int = 0) -> str:
    """'69 (38-80)': the median of the non-missing values and their minimum-maximum; '' if there are none."""
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    arr = arr[~np.isnan(arr)]
    if not arr.size:
        return ""
    med, lo, hi = (round_half_up(float(x), decimals) for x in (np.median(arr), arr.min(), arr.max()))
    return f"{med} ({lo}-{hi})"


def format_estimate_ci(estimate: float, lower: float, upper: float, *, decimals: int = 1,
                       not_reached: str = NOT_REACHED) -> str:
    """'2.8 (1.6-4.0)'; a missing estimate or limit prints as 'NR' (not reached), e.g. '19.1 (15.0-NR)'."""
    def one(x: float) -> str:
        return not_reached if x is None or math.isnan(x) or math.isinf(x) else round_half_up(x, decimals)
    return f"{one(estimate)} ({one(lower)}-{one(upper)})"


def format_pvalue(p: float, *, decimals: int = 3) -> str:
    """'0.027'; below the smallest printable value '<0.001'; '' for NaN."""
    if p is None or math.isnan(p):
        return ""
    floor = 10.0 ** -decimals
    if p < floor:
        return "<" + round_half_up(floor, decimals)
    return round_half_up(p, decimals)
