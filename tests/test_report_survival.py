"""Kaplan-Meier statistics checked against a small example computed by hand.

THE EXAMPLE (12 subjects, months; E = event, C = censored; group A/B for the log-rank test)

    subject   1  2  3  4  5  6  7  8  9  10 11 12
    time      1  2  2  3  4  4  5  6  7  8  9  10
    status    E  E  C  E  E  E  C  E  E  C  E  C
    group     A  B  A  A  A  B  B  A  B  B  B  B

Ties: an event and a censoring at 2 (the event counts first, both are at risk), two events at 4.

KAPLAN-MEIER (n_j at risk just before t_j, d_j events; G = Greenwood sum of d/(n(n-d)); se S = S sqrt(G))

    t_j  n_j d_j  S(t_j)                 G(t_j)                      se S
    1    12  1    11/12 = 0.916667       1/132         = 0.0075758   0.079786
    2    11  1    10/12 = 0.833333       + 1/110       = 0.0166667   0.107583
    3     9  1    20/27 = 0.740741       + 1/72        = 0.0305556   0.129483
    4     8  2     5/9  = 0.555556       + 2/48        = 0.0722222   0.149301
    6     5  1     4/9  = 0.444444       + 1/20        = 0.1222222   0.155379
    7     4  1     1/3  = 0.333333       + 1/12        = 0.2055556   0.151127
    9     2  1     1/6  = 0.166667       + 1/2         = 0.7055556   0.139996
    (censored at 2, 5, 8 and 10: the curve ends at 10 with S = 1/6)

MEDIAN: first t_j with S <= 0.5 is 6 (S(4) = 0.5556 > 0.5, S(6) = 0.4444).

BROOKMEYER-CROWLEY (z = 1.959964): limits are where the pointwise band of S crosses 0.5.
  log-log (SAS default): band S ** exp(-/+ z sqrt(G)/|log S|).
    lower band at t=1: exp(log(11/12) * exp(z * 0.0870388/0.0870114)) = exp(-0.0870114 * 7.10374) = 0.53897 > 0.5
    lower band at t=2: exp(-0.182322 * exp(z * 0.129099/0.182322)) = exp(-0.182322 * 4.00614) = 0.48172 <= 0.5
      -> lower limit 2
    upper band at t=7: exp(-1.098612 * exp(-z * 0.453382/1.098612)) = exp(-1.098612 * 0.445363) = 0.61307 > 0.5
    upper band at t=9: exp(-1.791759 * exp(-z * 0.839974/1.791759)) = exp(-1.791759 * 0.398999) = 0.48923 <= 0.5
      -> upper limit 9.                                                          95% CI (2, 9)
  log (R default): band S exp(-/+ z sqrt(G)).
    lower band at t=3: 0.740741 exp(-z 0.174801) = 0.52588 > 0.5; at t=4: 0.555556 exp(-z 0.268742) = 0.32808
      -> lower limit 4
    upper band at t=6, 7, 9: 0.88186, 0.81057, 0.86465, never <= 0.5 -> upper limit not reached.  95% CI (4, NR)
  linear: band S -/+ z se S.
    lower at t=2: 0.833333 - z 0.107583 = 0.62248; at t=3: 0.740741 - z 0.129483 = 0.48696 -> 3
    upper at t=7: 0.333333 + z 0.151127 = 0.62954; at t=9: 0.166667 + z 0.139996 = 0.44105 -> 9.  95% CI (3, 9)

SPSS (median +/- z SE; SE = se S(median) / f, f = (S(u) - S(l)) / (l - u)):
    u = max{t_j : S >= 0.55} = 4 (S = 5/9),  l = min{t_j : S <= 0.45} = 6 (S = 4/9)
    f = (5/9 - 4/9) / (6 - 4) = 1/18;  SE = 0.155379 * 18 = 2.79682
    CI = 6 -/+ 1.959964 * 2.79682 = 6 -/+ 5.48167 = (0.51833, 11.48167)

KM AT 5 MONTHS: S = 5/9 = 0.555556, se 0.149301; log-log CI: log S = -0.587787, se_ll = 0.268742/0.587787 =
    0.457213, exp(z se_ll) = 2.450125 -> lower exp(-0.587787 * 2.450125) = 0.23690, upper
    exp(-0.587787 / 2.450125) = 0.78670.

NUMBERS AT RISK (time >= t): t = 0: 12; 3: 9 (3,4,4,5,6,7,8,9,10); 6: 5; 9: 2.  By group at 0/3/6/9:
    A (1,2,3,4,6): 5, 3, 1, 0;  B (2,4,5,7,8,9,10): 7, 6, 4, 2.

LOG-RANK A vs B (O = observed in A, E = expected in A, V = variance):
    t  n  nA d  dA  E = d nA/n   V = d (nA/n)(1-nA/n)(n-d)/(n-1)
    1  12  5 1  1   5/12  = 0.416667   35/144             = 0.243056
    2  11  4 1  0   4/11  = 0.363636   28/121             = 0.231405
    3   9  3 1  1   3/9   = 0.333333   18/81              = 0.222222
    4   8  2 2  1   4/8   = 0.500000   2 (2/8)(6/8)(6/7)  = 0.321429
    6   5  1 1  1   1/5   = 0.200000   (1/5)(4/5)         = 0.160000
    7, 9: no subject of A at risk (E = V = 0)
    O = 4, E = 1.813636, V = 1.178112;  chi2 = (4 - 1.813636)^2 / 1.178112 = 4.05750;  p = P(chi2_1 > 4.0575) = 0.04398

REVERSE KM (censorings are the events): at 2: 11 at risk, 1 -> 10/11; at 5: 6 at risk -> 0.757576; at 8: 3 at risk
    -> 0.505051; at 10: 1 at risk -> 0.  Median follow-up = 10 months (the naive median of times is 5.5).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.duration.survfunc import SurvfuncRight

from cdiscflow.core.errors import InputError
from cdiscflow.report.survival import (DAYS_PER_MONTH, km_estimates, km_fit, km_median, logrank, logrank_pairwise,
                                       median_ci_brookmeyer_crowley, median_ci_spss, median_follow_up,
                                       numbers_at_risk, survival_summary, tte_arrays)

TIME = np.array([1, 2, 2, 3, 4, 4, 5, 6, 7, 8, 9, 10], dtype=float)
EVENT = np.array([1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 0])
GROUP = np.array(list("ABAAABBABBBB"))


def test_km_table_matches_hand_computation():
    km = km_fit(TIME, EVENT)
    assert km.time.tolist() == [1, 2, 3, 4, 6, 7, 9]
    assert km.n_risk.tolist() == [12, 11, 9, 8, 5, 4, 2]
    assert km.n_event.tolist() == [1, 1, 1, 2, 1, 1, 1]
    np.testing.assert_allclose(km.surv, [11 / 12, 10 / 12, 20 / 27, 5 / 9, 4 / 9, 1 / 3, 1 / 6])
    np.testing.assert_allclose(km.se, [0.079786, 0.107583, 0.129483, 0.149301, 0.155379, 0.151127, 0.139996],
                               atol=5e-7)
    assert km.last_time == 10 and km.n == 12 and km.events == 8


def test_median_and_brookmeyer_crowley_intervals_by_transform():
    assert km_median(TIME, EVENT) == 6
    loglog = median_ci_brookmeyer_crowley(TIME, EVENT, transform="loglog")
    assert (loglog.estimate, loglog.lower, loglog.upper) == (6, 2, 9)
    assert "SAS" in loglog.method and "log-log" in loglog.method
    log = median_ci_brookmeyer_crowley(TIME, EVENT, transform="log")
    assert (log.estimate, log.lower) == (6, 4) and math.isnan(log.upper)
    assert "R survival" in log.method
    linear = median_ci_brookmeyer_crowley(TIME, EVENT, transform="linear")
    assert (linear.lower, linear.upper) == (3, 9)


def test_spss_median_interval_uses_the_density_based_se():
    spss = median_ci_spss(TIME, EVENT)
    assert spss.estimate == 6
    assert spss.se == pytest.approx(2.79682, abs=5e-6)
    assert spss.lower == pytest.approx(0.51833, abs=5e-6)
    assert spss.upper == pytest.approx(11.48167, abs=5e-6)
    assert spss.upper - spss.estimate == pytest.approx(spss.estimate - spss.lower)  # symmetric


def test_spss_interval_truncates_lower_limit_at_zero_and_uses_time_zero_when_no_time_has_s_above_055():
    """5 subjects, events at 1, 2, 3, censored at 4, 5: S = 0.8, 0.6, 0.4 -> median 3.
    u = max{S >= 0.55} = 2 (0.6), l = min{S <= 0.45} = 3 (0.4): f = 0.2/1; se S(3) = 0.4 sqrt(1/20+1/12+1/6)
    = 0.4 * 0.547723 = 0.219089; SE = 1.095445; CI = 3 -/+ 2.147033 = (0.852967, 5.147033).
    2 subjects, events at 1 and 5: S = 0.5, 0 -> median 1 (S <= 0.5 at 1); u: no S >= 0.55 -> time 0, S 1;
    l = 5 (S = 0); f = 1/5; se S(1) = 0.5 sqrt(1/2) = 0.353553; SE = 1.767767; lower = 1 - 3.464 < 0 -> 0."""
    five = median_ci_spss([1, 2, 3, 4, 5], [1, 1, 1, 0, 0])
    assert five.estimate == 3
    assert five.se == pytest.approx(1.095445, abs=1e-6)
    assert (five.lower, five.upper) == (pytest.approx(0.852967, abs=1e-6), pytest.approx(5.147033, abs=1e-6))
    two = median_ci_spss([1, 5], [1, 1])
    assert two.estimate == 1 and two.lower == 0.0
    assert two.se == pytest.approx(1.767767, abs=1e-6)
    assert two.upper == pytest.approx(1 + 1.959964 * 1.767767, abs=1e-5)


def test_median_not_reached_gives_nan_everywhere():
    """Events at 1 and 2 among 10: S = 0.9, 0.8; the median is not reached."""
    t, e = np.arange(1, 11), np.array([1, 1] + [0] * 8)
    assert math.isnan(km_median(t, e))
    bc = median_ci_brookmeyer_crowley(t, e)
    assert math.isnan(bc.estimate) and math.isnan(bc.upper)
    spss = median_ci_spss(t, e)
    assert math.isnan(spss.estimate) and math.isnan(spss.se)


def test_median_uses_midpoint_when_s_is_exactly_half():
    """Uncensored 1..4: S = 0.75, 0.5, 0.25, 0. S = 0.5 on [2, 3) -> median (2 + 3) / 2 = 2.5 (R, SAS);
    SPSS's rule min{t: S <= 0.5} gives 2; statsmodels' quantile uses S < 0.5 and gives 3."""
    t, e = [1, 2, 3, 4], [1, 1, 1, 1]
    assert km_median(t, e) == 2.5
    assert median_ci_spss(t, e).estimate == 2
    assert SurvfuncRight(np.array(t, float), np.array(e, float)).quantile(0.5) == 3


def test_km_estimates_at_fixed_times():
    frame = km_estimates(TIME, EVENT, [0, 5, 10, 11])
    assert frame["n_risk"].tolist() == [12, 6, 1, 0]
    assert frame.loc[0, ["surv", "se", "lower", "upper"]].tolist() == [1.0, 0.0, 1.0, 1.0]
    assert frame.loc[1, "surv"] == pytest.approx(5 / 9)
    assert frame.loc[1, "se"] == pytest.approx(0.149301, abs=5e-7)
    assert frame.loc[1, "lower"] == pytest.approx(0.23690, abs=5e-6)
    assert frame.loc[1, "upper"] == pytest.approx(0.78670, abs=5e-6)
    assert frame.loc[2, "surv"] == pytest.approx(1 / 6)  # flat after the last event up to the last censoring
    assert frame.loc[3, ["surv", "se", "lower", "upper"]].isna().all()  # beyond follow-up


def test_numbers_at_risk_overall_and_by_group():
    overall = numbers_at_risk(TIME, [0, 3, 6, 9])
    assert overall.loc["All"].tolist() == [12, 9, 5, 2]
    by_group = numbers_at_risk(TIME, [0, 3, 6, 9], GROUP, order=["B", "A"])
    assert by_group.index.tolist() == ["B", "A"]
    assert by_group.loc["A"].tolist() == [5, 3, 1, 0]
    assert by_group.loc["B"].tolist() == [7, 6, 4, 2]
    assert by_group.columns.tolist() == ["0", "3", "6", "9"]


def test_logrank_chi_square_and_p_value():
    test = logrank(TIME, EVENT, GROUP)
    assert test.chisq == pytest.approx(4.05750, abs=5e-6)
    assert test.df == 1
    assert test.pvalue == pytest.approx(0.043976, abs=5e-7)
    pairwise = logrank_pairwise(TIME, EVENT, GROUP, reference="A")
    assert pairwise["group"].tolist() == ["B"]
    assert pairwise.loc[0, "chisq"] == pytest.approx(test.chisq)


def test_logrank_pairwise_against_reference_uses_only_the_two_groups():
    """Adding a third group C must not change the B-vs-A statistic; the overall test then has 2 df."""
    time = np.concatenate([TIME, [1.5, 2.5, 3.5]])
    event = np.concatenate([EVENT, [1, 1, 0]])
    group = np.concatenate([GROUP, ["C", "C", "C"]])
    pairwise = logrank_pairwise(time, event, group, reference="A")
    assert pairwise["group"].tolist() == ["B", "C"]
    assert pairwise.loc[0, "chisq"] == pytest.approx(4.05750, abs=5e-6)
    assert logrank(time, event, group).df == 2
    with pytest.raises(InputError, match="reference group 'Z'"):
        logrank_pairwise(time, event, group, reference="Z")


def test_median_follow_up_by_reverse_km():
    follow = median_follow_up(TIME, EVENT)
    assert follow.estimate == 10
    assert "reverse Kaplan-Meier" in follow.method
    reverse = km_fit(TIME, 1 - EVENT)
    np.testing.assert_allclose(reverse.surv, [10 / 11, 10 / 11 * 5 / 6, 10 / 11 * 5 / 6 * 2 / 3, 0])


def test_survival_summary_rows_and_columns():
    summary = survival_summary(TIME, EVENT, GROUP, overall="All patients")
    assert summary["group"].tolist() == ["All patients", "A", "B"]
    assert summary["n"].tolist() == [12, 5, 7]
    assert summary["events"].tolist() == [8, 4, 4]
    assert summary["censored"].tolist() == [4, 1, 3]
    first = summary.iloc[0]
    assert (first["median"], first["lower"], first["upper"]) == (6, 2, 9)
    assert first["spss_se"] == pytest.approx(2.79682, abs=5e-6)
    assert "log-log" in summary.attrs["methods"]["median CI"]


def test_statsmodels_quantile_ci_agrees_with_band_crossing_when_the_set_is_an_interval():
    """statsmodels `quantile_ci` takes the first non-rejected event time and the event time after the last one;
    on this example (log-log) that is the same interval as R's band crossing."""
    sf = SurvfuncRight(TIME, EVENT.astype(float))
    assert sf.quantile_ci(0.5, method="cloglog") == (2.0, 9.0)
    assert sf.quantile_ci(0.5, method="linear") == (3.0, 9.0)
    lower, upper = sf.quantile_ci(0.5, method="log")
    assert lower == 4.0 and math.isinf(upper)  # statsmodels says inf where R says NA (not reached)


def test_statsmodels_differs_from_r_when_the_curve_ends_at_zero():
    """Same data but the last subject (time 10) has an event: S(10) = 0.  R's log band is undefined at S = 0, so
    the upper limit is not reached; statsmodels counts S = 0 as 'rejected' and reports 10."""
    event = EVENT.copy()
    event[-1] = 1
    ours = median_ci_brookmeyer_crowley(TIME, event, transform="log")
    assert ours.lower == 4 and math.isnan(ours.upper)
    with np.errstate(divide="ignore", invalid="ignore"):
        assert SurvfuncRight(TIME, event.astype(float)).quantile_ci(0.5, method="log") == (4.0, 10.0)


def test_tte_arrays_from_adtte_frame():
    adtte = pd.DataFrame({"USUBJID": [f"S{i}" for i in range(3)], "AVAL": [30.4375, 60.875, 91.3125],
                          "CNSR": [0, 1, 2], "GRP": ["a", "b", "a"]})
    data = tte_arrays(adtte, group_var="GRP", scale=DAYS_PER_MONTH)
    np.testing.assert_allclose(data.time, [1, 2, 3])
    assert data.event.tolist() == [1, 0, 0]  # CNSR 0 is the event; any positive CNSR a censoring
    assert data.group.tolist() == ["a", "b", "a"]


def test_tte_arrays_names_dataset_variable_record_and_subject():
    adtte = pd.DataFrame({"USUBJID": ["S1", "S2", "S3"], "AVAL": [10.0, np.nan, -1.0], "CNSR": [0, 0.5, 1]})
    with pytest.raises(InputError) as err:
        tte_arrays(adtte, dataset="ADTTE")
    text = str(err.value)
    assert "ADTTE.AVAL" in text and "record 2 (USUBJID S2)" in text and "record 3 (USUBJID S3)" in text
    assert "ADTTE.CNSR" in text and "record 2" in text
    with pytest.raises(InputError, match="no variable PARAMX"):
        tte_arrays(adtte, group_var="PARAMX")


def test_plain_inputs_are_checked():
    with pytest.raises(InputError, match="event not 0/1 at positions 2"):
        km_fit([1, 2], [1, 2])
    with pytest.raises(InputError, match="time missing, infinite or negative at positions 1"):
        km_fit([np.nan, 2], [1, 0])
    with pytest.raises(InputError, match="group missing at positions 3"):
        logrank([1, 2, 3], [1, 1, 1], ["a", "b", None])
    with pytest.raises(ValueError, match="unknown transform"):
        median_ci_brookmeyer_crowley(TIME, EVENT, transform="arcsin")


def test_cdisc_pilot_adtte_counts(shared):
    """The CDISC pilot ADTTE (time to first dermatologic event, days): 254 subjects, 152 events, 102 censored."""
    import pyreadstat

    adtte, _ = pyreadstat.read_xport(str(shared / "reference-data/cdiscpilot01/adam/adtte.xpt"))
    data = tte_arrays(adtte, group_var="TRTA")
    summary = survival_summary(data.time, data.event, data.group, overall="All")
    assert summary.loc[0, ["n", "events", "censored"]].tolist() == [254, 152, 102]
    assert summary["n"].iloc[1:].sum() == 254
    assert numbers_at_risk(data.time, [0], data.group).sum().item() == 254
    assert logrank(data.time, data.event, data.group).df == 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 60), st.booleans()), min_size=2, max_size=60))
def test_log_log_interval_matches_statsmodels_on_random_data(rows):
    """On any data (times in whole months: many ties) our log-log limits equal statsmodels' `quantile_ci`
    ('not reached' is NaN here, inf there), except the documented case of a curve that ends at S = 0, where
    statsmodels reports the last event time and R/we report NR; each limit brackets the median."""
    time = np.array([r[0] for r in rows], dtype=float)
    event = np.array([float(r[1]) for r in rows])
    ours = median_ci_brookmeyer_crowley(time, event)
    with np.errstate(all="ignore"):
        lower, upper = SurvfuncRight(time, event).quantile_ci(0.5, method="cloglog")
    assert (math.isnan(ours.lower) and math.isnan(lower)) or ours.lower == lower
    ends_at_zero = km_fit(time, event).surv[-1:].tolist() == [0.0]
    if ends_at_zero and math.isnan(ours.upper) and np.isfinite(upper):
        assert upper == time[event == 1].max()
    else:
        assert (math.isnan(ours.upper) and (math.isnan(upper) or math.isinf(upper))) or ours.upper == upper
    if not math.isnan(ours.estimate):
        assert math.isnan(ours.lower) or ours.lower <= ours.estimate
        assert math.isnan(ours.upper) or ours.upper >= ours.estimate
