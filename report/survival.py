"""Kaplan-Meier statistics for the analysis report: curves, medians with two kinds of CI, log-rank, follow-up.

Every function takes plain arrays: `time` (>= 0, any unit), `event` (1 = event, 0 = censored) and, where it
compares groups, `group`.  An ADTTE frame (AVAL, CNSR with CNSR 0 = event) is turned into such arrays, checked, by
`tte_arrays`.  The estimates come from statsmodels (`SurvfuncRight`, `survdiff`); what statsmodels does not offer,
or offers with conventions that differ from R and SAS, is written here on top of its KM table and documented.

Notation used in the docstrings: t_j are the distinct event times, n_j the number at risk just before t_j (every
subject with time >= t_j), d_j the events at t_j.  Events precede censorings at the same time.

    S(t)      = prod_{t_j <= t} (1 - d_j / n_j)                       Kaplan-Meier (right-continuous)
    G(t)      = sum_{t_j <= t} d_j / (n_j (n_j - d_j))               Greenwood sum
    se S(t)   = S(t) sqrt(G(t))                                      Greenwood standard error

Medians (`km_median`) follow R `survival` and SAS PROC LIFETEST: the first t_j with S(t_j) <= 0.5; if S equals
0.5 exactly on [t_j, t_{j+1}) the median is (t_j + t_{j+1}) / 2.  A median that is not reached is NaN (print "NR").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from cdiscflow.core.errors import InputError
from cdiscflow.specs.report.model import TRANSFORMS  # pointwise CI transforms for S(t), as report.yaml names them

DAYS_PER_MONTH = 365.25 / 12  # 30.4375: converts ADTTE AVAL in days to months for tables and plots

DEFAULT_TRANSFORM = "loglog"
_TOL = math.sqrt(np.finfo(float).eps)  # R survival's tolerance for "S equals 0.5 exactly"


# ----------------------------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class MedianCI:
    """A median survival (or follow-up) time with its confidence interval.

    `estimate`, `lower`, `upper` are NaN when not reached / not estimable (print "NR").  `se` is set only by methods
    that use one (SPSS).  `method` says in words how the interval was computed.
    """

    estimate: float
    lower: float
    upper: float
    method: str
    se: float = math.nan


@dataclass(frozen=True)
class LogRank:
    """A two-sided log-rank test: chi-square with `df` = groups - 1 degrees of freedom, and its p-value."""

    chisq: float
    df: int
    pvalue: float
    groups: tuple[str, ...]


@dataclass(frozen=True)
class KaplanMeier:
    """The Kaplan-Meier table of one group, at its distinct event times, plus the observations it came from."""

    time: np.ndarray  # t_j, distinct event times, ascending
    n_risk: np.ndarray  # n_j
    n_event: np.ndarray  # d_j
    surv: np.ndarray  # S(t_j)
    greenwood: np.ndarray  # G(t_j); +inf once S reaches 0
    obs_time: np.ndarray  # every observation's time
    obs_event: np.ndarray  # every observation's status (1 event, 0 censored)

    @property
    def n(self) -> int:
        return int(self.obs_time.size)

    @property
    def events(self) -> int:
        return int(self.obs_event.sum())

    @property
    def last_time(self) -> float:
        """The largest observed time (event or censoring): where the curve ends."""
        return float(self.obs_time.max()) if self.obs_time.size else math.nan

    @property
    def se(self) -> np.ndarray:
        """Greenwood standard error of S(t_j); NaN once S reaches 0 (as in R)."""
        with np.errstate(invalid="ignore"):
            se = self.surv * np.sqrt(self.greenwood)
        return np.where(self.surv > 0, se, np.nan)

    def index_at(self, times: Iterable[float]) -> np.ndarray:
        """For each time t: the index j of the last event time t_j <= t (-1 before the first event)."""
        return np.searchsorted(self.time, np.asarray(list(times), dtype=float), side="right") - 1

    def surv_at(self, times: Iterable[float]) -> np.ndarray:
        """S(t) for each t (1 before the first event); not defined (NaN) beyond the last observed time."""
        t = np.asarray(list(times), dtype=float)
        j = self.index_at(t)
        s = np.where(j >= 0, self.surv[np.maximum(j, 0)] if self.surv.size else 1.0, 1.0)
        return np.where(t > self.last_time, np.nan, s)

    def table(self) -> pd.DataFrame:
        """The KM table as a frame: time, n_risk, n_event, surv, se."""
        return pd.DataFrame({"time": self.time, "n_risk": self.n_risk.astype(int), "n_event": self.n_event.astype(int),
                             "surv": self.surv, "se": self.se})


# ----------------------------------------------------------------------------------------------------------------
# Input


def _as_arrays(time, event, group=None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Check plain inputs; raise InputError naming the first bad positions (1-based)."""
    t = np.asarray(time, dtype=float).ravel()
    e_raw = np.asarray(event).ravel()
    if t.size != e_raw.size:
        raise InputError(f"time has {t.size} values but event has {e_raw.size}")
    try:
        e = e_raw.astype(float)
    except (TypeError, ValueError):
        raise InputError("event must be numeric 1 (event) / 0 (censored)") from None
    problems = []
    bad_t = np.flatnonzero(~np.isfinite(t) | (t < 0))
    if bad_t.size:
        problems.append(f"time missing, infinite or negative at positions {_positions(bad_t)}")
    bad_e = np.flatnonzero(~np.isin(e, (0.0, 1.0)))
    if bad_e.size:
        problems.append(f"event not 0/1 at positions {_positions(bad_e)}")
    g = None
    if group is not None:
        g = np.asarray(pd.Series(group, dtype="object").map(lambda v: None if _missing(v) else str(v)), dtype=object)
        if g.size != t.size:
            raise InputError(f"group has {g.size} values but time has {t.size}")
        bad_g = np.flatnonzero(pd.isna(g))
        if bad_g.size:
            problems.append(f"group missing at positions {_positions(bad_g)}")
    if problems:
        raise InputError("; ".join(problems))
    return t, e, g


def _missing(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _positions(idx: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(i + 1) for i in idx[:limit])
    return shown + (f" ... ({idx.size} in all)" if idx.size > limit else "")


@dataclass(frozen=True)
class TteData:
    """Checked time-to-event arrays taken from an ADTTE-like frame."""

    time: np.ndarray
    event: np.ndarray
    group: np.ndarray | None


def tte_arrays(adtte: pd.DataFrame, *, time_var: str = "AVAL", cnsr_var: str = "CNSR", group_var: str | None = None,
               scale: float = 1.0, dataset: str = "ADTTE", id_var: str = "USUBJID") -> TteData:
    """Turn an ADTTE frame (one parameter) into checked `time`, `event`, `group` arrays.

    `event = (CNSR == 0)` (ADaM: CNSR 0 is an event, any positive integer a censoring); `time = AVAL / scale`
    (e.g. `scale=DAYS_PER_MONTH` for days -> months).  Bad records raise InputError naming the dataset, variable,
    record (1-based position in the frame) and subject.
    """
    missing = [v for v in (time_var, cnsr_var, group_var) if v is not None and v not in adtte.columns]
    if missing:
        present = ", ".join(map(str, adtte.columns))
        raise InputError(f"{dataset}: no variable {', '.join(missing)} (variables: {present})")
    aval = pd.to_numeric(adtte[time_var], errors="coerce").to_numpy(dtype=float)
    cnsr = pd.to_numeric(adtte[cnsr_var], errors="coerce").to_numpy(dtype=float)
    ids = adtte[id_var].astype(str).to_numpy() if id_var in adtte.columns else None
    problems: list[str] = []

    def report(mask: np.ndarray, var: str, what: str) -> None:
        idx = np.flatnonzero(mask)
        if not idx.size:
            return
        where = ", ".join(f"record {i + 1}" + (f" ({id_var} {ids[i]})" if ids is not None else "") for i in idx[:5])
        more = f" and {idx.size - 5} more" if idx.size > 5 else ""
        raw = adtte[var].iloc[idx[0]]
        problems.append(f"{dataset}.{var} {what} in {idx.size} record(s): {where}{more} (first value {raw!r})")

    report(~np.isfinite(aval) | (aval < 0), time_var, "is missing, not numeric or negative")
    report(~np.isfinite(cnsr) | (cnsr < 0) | (cnsr != np.floor(cnsr)), cnsr_var, "is not a non-negative integer")
    group = None
    if group_var is not None:
        gcol = adtte[group_var]
        report(gcol.isna().to_numpy(), group_var, "is missing")
        group = gcol.astype(object).where(gcol.notna(), None).map(lambda v: v if v is None else str(v)).to_numpy()
    if problems:
        raise InputError("; ".join(problems))
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    return TteData(time=aval / scale, event=(cnsr == 0).astype(float), group=group)


# ----------------------------------------------------------------------------------------------------------------
# Kaplan-Meier


def km_fit(time, event) -> KaplanMeier:
    """Fit the Kaplan-Meier curve of one group (statsmodels `SurvfuncRight`) and keep its table."""
    t, e, _ = _as_arrays(time, event)
    if t.size == 0:
        raise InputError("no observations to fit a Kaplan-Meier curve")
    from statsmodels.duration.survfunc import SurvfuncRight  # lazy: seconds to import, only the report fits curves

    sf = SurvfuncRight(t, e)
    n = np.asarray(sf.n_risk, dtype=float)
    d = np.asarray(sf.n_events, dtype=float)
    with np.errstate(divide="ignore"):
        gw = np.cumsum(np.where(n > d, d / (n * (n - d)), np.inf))
    return KaplanMeier(time=np.asarray(sf.surv_times, dtype=float), n_risk=n, n_event=d,
                       surv=np.asarray(sf.surv_prob, dtype=float), greenwood=gw, obs_time=t, obs_event=e)


def _z(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    from scipy.stats import norm  # lazy, as statsmodels

    return float(norm.ppf(1 - alpha / 2))


def _check_transform(transform: str) -> str:
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transform {transform!r}; use one of {', '.join(TRANSFORMS)}")
    return transform


def _bands(km: KaplanMeier, transform: str, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise (1 - alpha) confidence band of S at the event times, NaN where S = 0.

        log:     S exp(-/+ z sqrt(G))                            (upper capped at 1)
        loglog:  S ** exp(+/- z sqrt(G) / |log S|)               i.e. log(-log S) +/- z se, transformed back
        linear:  S -/+ z S sqrt(G)                               (clipped to [0, 1])
    """
    z = _z(alpha)
    s, root = km.surv, np.sqrt(km.greenwood)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if _check_transform(transform) == "log":
            lower, upper = s * np.exp(-z * root), np.minimum(1.0, s * np.exp(z * root))
        elif transform == "loglog":
            se_ll = root / np.abs(np.log(s))
            lower, upper = s ** np.exp(z * se_ll), s ** np.exp(-z * se_ll)
        else:
            lower, upper = np.maximum(0.0, s - z * s * root), np.minimum(1.0, s + z * s * root)
    dead = ~(s > 0) | ~np.isfinite(km.greenwood)
    return np.where(dead, np.nan, lower), np.where(dead, np.nan, upper)


def _crossing(times: np.ndarray, values: np.ndarray, last_time: float, level: float = 0.5) -> float:
    """First time a non-increasing step curve (value at each event time) is <= level, R `survival` style.

    If the curve equals `level` (within R's tolerance sqrt(machine eps)) on [t_j, t_{j+1}), the answer is the
    midpoint (t_j + t_{j+1}) / 2, or (t_j + last observed time) / 2 when it stays there to the end.  NaN if the
    curve never reaches `level` (NaN values, e.g. a band where S = 0, never count as reaching it).
    """
    at_or_below = np.flatnonzero(values <= level + _TOL)
    if not at_or_below.size:
        return math.nan
    a = at_or_below[0]
    below = np.flatnonzero(values <= level - _TOL)
    if below.size and below[0] == a:
        return float(times[a])
    b_time = float(times[below[0]]) if below.size else last_time
    return (float(times[a]) + b_time) / 2


def km_median(time, event) -> float:
    """Kaplan-Meier median: min{t_j : S(t_j) <= 0.5}, with the midpoint rule when S = 0.5 exactly (R, SAS)."""
    km = km_fit(time, event)
    return _crossing(km.time, km.surv, km.last_time)


def median_ci_brookmeyer_crowley(time, event, *, transform: str = DEFAULT_TRANSFORM,
                                 alpha: float = 0.05) -> MedianCI:
    """Median with the Brookmeyer-Crowley (1982) confidence interval, as R `survival` and SAS PROC LIFETEST do.

    The interval is the set of times t at which the pointwise test of H0: S(t) = 0.5 is not rejected,

        { t : |g(S(t)) - g(0.5)| <= z_{1-alpha/2} * g'(S(t)) * se S(t) },

    with g the transform of S: `"loglog"` g = log(-log S) (SAS LIFETEST default CONFTYPE=LOGLOG; statsmodels
    `quantile_ci` default "cloglog"), `"log"` g = log S (R survfit default conf.type="log"), `"linear"` g = S.
    Equivalently (R's reading) the limits are where the pointwise CI band of S crosses 0.5:

        lower = first t_j with band_lower(t_j) <= 0.5,   upper = first t_j with band_upper(t_j) <= 0.5,

    with R's midpoint rule when a band equals 0.5 exactly.  The upper limit is NaN ("NR") when the upper band
    never reaches 0.5 (e.g. the curve stays high, or reaches 0 only at the last event where the band is undefined).
    Because S is a step function, both limits are observed event times.
    """
    km = km_fit(time, event)
    lower_band, upper_band = _bands(km, transform, alpha)
    return MedianCI(estimate=_crossing(km.time, km.surv, km.last_time),
                    lower=_crossing(km.time, lower_band, km.last_time),
                    upper=_crossing(km.time, upper_band, km.last_time),
                    method=f"Brookmeyer-Crowley, {TRANSFORMS[transform]}")


def median_ci_spss(time, event, *, alpha: float = 0.05, epsilon: float = 0.05) -> MedianCI:
    """Median with the symmetric interval SPSS KM prints: median +/- z * SE, lower limit truncated at 0.

    The median is min{t_j : S(t_j) <= 0.5} (no midpoint rule).  Its standard error is the large-sample one with a
    crude (uniform-kernel) density estimate, as in the KM chapter of the IBM SPSS Statistics Algorithms and in
    Klein & Moeschberger (2003, Practical Note 3 of section 4.5) / Collett (2015, section 2.4):

        SE(median) = se S(median) / f,        se S = Greenwood standard error at the median
        f          = (S(u) - S(l)) / (l - u)
        u          = max{t_j : S(t_j) >= 0.5 + epsilon}      (time 0, S = 1, when no event time qualifies)
        l          = min{t_j : S(t_j) <= 0.5 - epsilon}

    with epsilon = 0.05, i.e. the density is read between the 45th and 55th percentiles.  The interval is
    [max(0, median - z SE), median + z SE] with z = z_{1-alpha/2} (1.96).  SE and interval are NaN when the median
    is not reached, when S never falls to 0.5 - epsilon, or when S(median) = 0 (Greenwood undefined).
    """
    km = km_fit(time, event)
    z = _z(alpha)
    method = f"median +/- {z:.2f} x SE (SPSS KM; density-based SE, epsilon {epsilon:g}; lower limit truncated at 0)"
    hit = np.flatnonzero(km.surv <= 0.5 + _TOL)
    if not hit.size:
        return MedianCI(math.nan, math.nan, math.nan, method)
    m = hit[0]
    median = float(km.time[m])
    se_s = float(km.se[m])
    upper_side = np.flatnonzero(km.surv >= 0.5 + epsilon - _TOL)
    lower_side = np.flatnonzero(km.surv <= 0.5 - epsilon + _TOL)
    if not lower_side.size or not np.isfinite(se_s):
        return MedianCI(median, math.nan, math.nan, method)
    u_time, u_surv = (float(km.time[upper_side[-1]]), float(km.surv[upper_side[-1]])) if upper_side.size else (0.0, 1.0)
    l_time, l_surv = float(km.time[lower_side[0]]), float(km.surv[lower_side[0]])
    density = (u_surv - l_surv) / (l_time - u_time)
    se = se_s / density
    return MedianCI(median, max(0.0, median - z * se), median + z * se, method, se=se)


def km_estimates(time, event, at: Sequence[float], *, transform: str = DEFAULT_TRANSFORM,
                 alpha: float = 0.05) -> pd.DataFrame:
    """S(t) at fixed times with Greenwood SE and a pointwise CI (`transform` as in `_bands`).

    Columns: time, n_risk (subjects with time >= t), surv, se, lower, upper.  Before the first event S = 1 with
    SE 0 and CI [1, 1]; beyond the last observed time everything is NaN (R `summary.survfit` without extend).
    """
    km = km_fit(time, event)
    t = np.asarray(list(at), dtype=float)
    j = km.index_at(t)
    lower_band, upper_band = _bands(km, transform, alpha)
    jj = np.maximum(j, 0)
    before = j < 0

    def take(values: np.ndarray, before_first_event: float) -> np.ndarray:
        return np.where(before, before_first_event, values[jj] if values.size else before_first_event)

    frame = pd.DataFrame({
        "time": t,
        "n_risk": _count_at_risk(km.obs_time, t),
        "surv": take(km.surv, 1.0),
        "se": take(km.se, 0.0),
        "lower": take(lower_band, 1.0),
        "upper": take(upper_band, 1.0),
    })
    beyond = t > km.last_time
    frame.loc[beyond, ["surv", "se", "lower", "upper"]] = np.nan
    return frame


def _count_at_risk(obs_time: np.ndarray, at: np.ndarray) -> np.ndarray:
    ordered = np.sort(obs_time)
    return (ordered.size - np.searchsorted(ordered, at, side="left")).astype(int)


def _groups(g: np.ndarray, order: Sequence[str] | None) -> list[str]:
    present = sorted(set(g.tolist()))
    if order is None:
        return present
    order = [str(o) for o in order]
    unknown = sorted(set(present) - set(order))
    if unknown:
        raise InputError(f"group values {unknown} are not in the given order {order}")
    return [o for o in order if o in present]


def numbers_at_risk(time, at: Sequence[float], group=None, *, order: Sequence[str] | None = None) -> pd.DataFrame:
    """Numbers at risk (subjects with time >= t) at each time in `at`: one row per group, one column per time."""
    t, _, g = _as_arrays(time, np.zeros(np.asarray(time).size), group)
    points = np.asarray(list(at), dtype=float)
    if g is None:
        rows = {"All": _count_at_risk(t, points)}
    else:
        rows = {name: _count_at_risk(t[g == name], points) for name in _groups(g, order)}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=[_num_label(p) for p in points])
    frame.index.name = "group"
    return frame


def _num_label(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


# ----------------------------------------------------------------------------------------------------------------
# Comparisons and follow-up


def logrank(time, event, group) -> LogRank:
    """Two-sided log-rank test over all groups (statsmodels `survdiff`, unweighted).

        chi2 = (O - E)' V^-1 (O - E)   summed over event times, with groups - 1 degrees of freedom,

    O - E the observed minus expected events per group and V their hypergeometric covariance.
    """
    t, e, g = _as_arrays(time, event, group)
    names = _groups(g, None)
    if len(names) < 2:
        raise InputError(f"log-rank test needs at least 2 groups, got {names}")
    from scipy.stats import chi2
    from statsmodels.duration.survfunc import survdiff

    chisq, _ = survdiff(t, e, g)
    chisq = float(chisq)
    df = len(names) - 1
    return LogRank(chisq=chisq, df=df, pvalue=float(chi2.sf(chisq, df)), groups=tuple(names))


def logrank_pairwise(time, event, group, *, reference: str, order: Sequence[str] | None = None) -> pd.DataFrame:
    """Two-sided log-rank test of each group against `reference` (only the two groups' subjects each time).

    Columns: group, reference, chisq, df, pvalue.  A group without events in either arm gives chisq NaN.
    """
    t, e, g = _as_arrays(time, event, group)
    names = _groups(g, order)
    if reference not in names:
        raise InputError(f"reference group {reference!r} is not among the groups {names}")
    rows = []
    for name in names:
        if name == reference:
            continue
        keep = (g == name) | (g == reference)
        if e[keep].sum() == 0:
            rows.append({"group": name, "reference": reference, "chisq": math.nan, "df": 1, "pvalue": math.nan})
            continue
        test = logrank(t[keep], e[keep], g[keep])
        rows.append({"group": name, "reference": reference, "chisq": test.chisq, "df": 1, "pvalue": test.pvalue})
    return pd.DataFrame(rows, columns=["group", "reference", "chisq", "df", "pvalue"])


def median_follow_up(time, event, *, transform: str = DEFAULT_TRANSFORM, alpha: float = 0.05) -> MedianCI:
    """Median follow-up by the reverse Kaplan-Meier method (Schemper & Smith 1996).

    Censoring is the 'event' and events are censorings: the KM median of `(time, 1 - event)`, with its
    Brookmeyer-Crowley interval.  At a tie the (original) censoring comes first, as KM orders events first.
    """
    t, e, _ = _as_arrays(time, event)
    result = median_ci_brookmeyer_crowley(t, 1.0 - e, transform=transform, alpha=alpha)
    return MedianCI(result.estimate, result.lower, result.upper, "reverse Kaplan-Meier; " + result.method)


SUMMARY_COLUMNS = ("group", "n", "events", "censored", "median", "lower", "upper", "spss_median", "spss_se",
                   "spss_lower", "spss_upper")


def survival_summary(time, event, group=None, *, order: Sequence[str] | None = None,
                     transform: str = DEFAULT_TRANSFORM, alpha: float = 0.05,
                     overall: str | None = None) -> pd.DataFrame:
    """One row per group: n, events, censored, median with its Brookmeyer-Crowley CI and with the SPSS-style CI.

    `overall`, when given, adds a first row of that name over all subjects.  The frame's `attrs["methods"]` name
    both interval methods.  Column meanings: see `median_ci_brookmeyer_crowley` and `median_ci_spss`.
    """
    t, e, g = _as_arrays(time, event, group)
    parts: list[tuple[str, np.ndarray]] = []
    if g is None or overall is not None:
        parts.append((overall or "All", np.ones(t.size, dtype=bool)))
    if g is not None:
        parts += [(name, g == name) for name in _groups(g, order)]
    rows = []
    bc = spss = None
    for name, keep in parts:
        bc = median_ci_brookmeyer_crowley(t[keep], e[keep], transform=transform, alpha=alpha)
        spss = median_ci_spss(t[keep], e[keep], alpha=alpha)
        n_events = int(e[keep].sum())
        rows.append({"group": name, "n": int(keep.sum()), "events": n_events, "censored": int(keep.sum()) - n_events,
                     "median": bc.estimate, "lower": bc.lower, "upper": bc.upper, "spss_median": spss.estimate,
                     "spss_se": spss.se, "spss_lower": spss.lower, "spss_upper": spss.upper})
    frame = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    frame.attrs["methods"] = {"median CI": bc.method, "spss CI": spss.method}
    return frame
