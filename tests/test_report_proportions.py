"""Clopper-Pearson exact CIs and the paper's number formats."""

from __future__ import annotations

import math

import pytest
from scipy.stats import binom

from cdiscflow.report.proportions import (clopper_pearson, format_estimate_ci, format_median_range, format_n_pct,
                                          format_pct, format_pvalue, round_half_up)


def test_clopper_pearson_2_of_44_known_values():
    """DARA-ATRA primary endpoint: ORR 2/44.  Exact 95% CI 0.56% to 15.47% (R binom.test(2, 44): 0.005553,
    0.154732) -- the upper limit is just above the 15% success threshold."""
    lower, upper = clopper_pearson(2, 44)
    assert lower == pytest.approx(0.0055530, abs=5e-7)
    assert upper == pytest.approx(0.1547316, abs=5e-7)
    # the defining equations: P(X >= 2 | p_lower) = 0.025 and P(X <= 2 | p_upper) = 0.025
    assert binom.sf(1, 44, lower) == pytest.approx(0.025, abs=1e-9)
    assert binom.cdf(2, 44, upper) == pytest.approx(0.025, abs=1e-9)


def test_clopper_pearson_edges():
    """0/10: lower 0, upper 1 - 0.025**(1/10) = 0.308497; 10/10 mirrors it."""
    assert clopper_pearson(0, 10) == (0.0, pytest.approx(1 - 0.025 ** 0.1))
    assert clopper_pearson(10, 10) == (pytest.approx(0.025 ** 0.1), 1.0)
    assert all(math.isnan(x) for x in clopper_pearson(0, 0))
    lower, upper = clopper_pearson(23, 38, alpha=0.10)
    assert binom.sf(22, 38, lower) == pytest.approx(0.05, abs=1e-9)
    assert binom.cdf(23, 38, upper) == pytest.approx(0.05, abs=1e-9)
    with pytest.raises(ValueError, match="0 <= count <= nobs"):
        clopper_pearson(5, 4)


def test_rounding_is_half_up_on_the_decimal_value():
    assert round_half_up(4.5454545, 0) == "5"  # 2/44 -> "5%" as printed in the paper
    assert round_half_up(0.125, 2) == "0.13"  # Python's round() gives 0.12
    assert round_half_up(31.746, 1) == "31.7"
    assert round_half_up(-0.04, 1) == "0.0"
    assert round_half_up(float("nan")) == ""


def test_paper_formats():
    assert format_n_pct(20, 63) == "20 (31.7)"  # Table 1: <65 years, Part A
    assert format_n_pct(16, 63, decimals=0, percent_sign=True) == "16 (25%)"  # transfusions, text style
    assert format_n_pct(0, 14) == "0"
    assert format_pct(2, 44) == "5%"
    assert format_pct(29, 44) == "66%"  # disease control rate
    assert format_median_range([38, 80, 69, 70, None, float("nan")]) == "70 (38-80)"  # median 69.5 rounds up
    assert format_median_range([2.92, 0.60, 8.87], decimals=2) == "2.92 (0.60-8.87)"
    assert format_median_range([]) == ""
    assert format_estimate_ci(2.8, 1.6, 4.0) == "2.8 (1.6-4.0)"
    assert format_estimate_ci(19.1, 15.0, float("nan")) == "19.1 (15.0-NR)"
    assert format_estimate_ci(float("nan"), float("nan"), float("inf")) == "NR (NR-NR)"
    assert format_pvalue(0.0266) == "0.027"
    assert format_pvalue(0.0004) == "<0.001"
    assert format_pvalue(float("nan")) == ""
