"""SYNTHETIC DARA-ATRA design, part of build_design (design.py).  Table 1 traits: the categorical rows per column, ages
at each registration, myeloma history.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from cdiscflow.studies.dara_atra.simulate import allocate
from cdiscflow.studies.dara_atra.simulate.steps import EPOCH, _rng


def _by_column(p: pd.DataFrame, counts: Mapping[str, Mapping[str, int]], rng, *, time_invariant: bool,
               missing: str = "") -> pd.Series:
    """Allocate a categorical Table 1 row: per column (A, B1, B2) counts -> shuffled labels.

    Time-invariant traits: the 13 patients never in Part B carry A - B1 - B2.  Time-varying traits are allocated
    separately for the Part A value (all 63, column A) and the Part B value (B1/B2) by the caller."""
    out = pd.Series(missing, index=p.index, dtype=object)
    cols = {"B1": p.col.eq("B1"), "B2": p.col.eq("B2")}
    if time_invariant:
        cols["N"] = p.col.eq("N")
        counts = {k: dict(v, N=v["A"] - v["B1"] - v["B2"]) for k, v in counts.items()}
    for col, mask in cols.items():
        lab = allocate.labels({k: int(v[col]) for k, v in counts.items()}, rng)
        if len(lab) != int(mask.sum()):
            raise RuntimeError(f"allocation for column {col}: {len(lab)} labels for {int(mask.sum())} patients")
        out[mask] = lab
    return out


def _column_a(p, counts, rng):
    """A time-varying row at Part A registration: column A counts over all 63 patients."""
    lab = allocate.labels({k: int(v["A"]) for k, v in counts.items()}, rng)
    return pd.Series(lab, index=p.index, dtype=object)


def _traits(p: pd.DataFrame, facts, seed: int) -> None:
    t1 = facts["table1"]["categorical"]
    rng = _rng(seed, "traits")
    p["sex"] = _by_column(p, t1["sex"], rng, time_invariant=True)
    p["heavy"] = _by_column(p, t1["heavy_chain"], rng, time_invariant=True)
    p["light"] = _by_column(p, t1["light_chain"], rng, time_invariant=True)
    p["measdis"] = p.heavy.map({"IgG": "Serum M-protein", "IgA": "Serum M-protein", "Light chain only": "Serum FLC",
                                "Bence-Jones": "Urine M-protein"})
    two = lambda key: {"Yes": t1[key], "No": {c: n - t1[key][c] for c, n in facts["table1"]["columns"].items()}}
    p["asct"] = _by_column(p, two("autologous_sct"), rng, time_invariant=True)
    p["allo"] = _by_column(p, two("allogeneic_sct"), rng, time_invariant=True)
    # time-varying: Part A value for everyone (column A), Part B value at Part B registration (B1/B2)
    for key, name in (("who_performance_status", "who"), ("iss", "iss"), ("extramedullary_plasmacytoma", "emd")):
        counts = {("" if k == "missing" else k): v for k, v in t1[key].items()}
        p[f"{name}_a"] = _column_a(p, counts, rng)
        p[f"{name}_b"] = _by_column(p, counts, rng, time_invariant=False)
    # race/ethnicity are not reported in the paper: mostly White, some not collected (assumed)
    p["race"] = allocate.labels({"White": 50, "Caucasian": 4, "Black": 2, "Asian": 1, "Not collected": 6}, rng)
    p["ethnic"] = np.where(p.race.eq("Not collected"), "Not collected", "Not Hispanic or Latino")
    male = p.sex.eq("Male").to_numpy()
    p["height"] = np.round(np.where(male, rng.normal(178, 7, len(p)), rng.normal(165, 6, len(p))), 0)
    w = np.clip(np.where(male, rng.normal(82, 12, len(p)), rng.normal(68, 11, len(p))), 45, 130)
    p["weight_a"] = np.round(w, 1)
    p["weight_b"] = np.where(p.in_b, np.round(w * rng.normal(0.99, 0.03, len(p)), 1), np.nan)


def _ages(p: pd.DataFrame, facts, seed: int) -> None:
    """Birth dates: Part B ages hit the B1/B2 rows exactly, Part A ages of the other 13 complete column A.  No
    birthday falls between consent and first dose of either part, so every reference-date convention agrees."""
    rng = _rng(seed, "ages")
    t1 = facts["table1"]
    bands_src = t1["categorical"]["age_band"]
    age = t1["continuous"]["age_years"]

    def bands(col):
        return [(0, 65, bands_src["<65"][col]), (65, 75, bands_src["65-<75"][col]), (75, 200, bands_src[">=75"][col])]

    # Candidate birthdays (month/day of a non-leap year) per patient, and how many birthdays fall between Part A and
    # Part B registration for each.
    doy = np.arange(365)
    month_day = (np.datetime64("2015-01-01") + doy).astype("datetime64[D]")
    md = pd.DatetimeIndex(month_day)
    a1 = p.a1.to_numpy()
    enr, ic = a1 + p.enr.to_numpy(), a1 + p.ic.to_numpy()
    reg = a1 + p.reg.fillna(0).to_numpy()
    b1 = a1 + p.b1.fillna(0).to_numpy()
    years = np.arange(2014, 2022)
    ann = np.array([[_ymd(y, m, d) for y in years] for m, d in zip(md.month, md.day)])  # (365, years)
    ok = np.ones((len(p), 365), bool)
    delta = np.zeros((len(p), 365), int)
    for k in range(len(years)):
        a = ann[:, k][None, :]
        ok &= ~((a >= ic[:, None]) & (a <= a1[:, None]))
        inb = p.in_b.to_numpy()[:, None]
        ok &= ~(inb & (a >= reg[:, None]) & (a <= b1[:, None]))
        delta += (inb & (a > enr[:, None]) & (a <= reg[:, None])).astype(int)
    # Part B ages per column, then the Part A ages they imply (choose the smaller feasible birthday count).
    age_b = np.full(len(p), np.nan)
    age_a = np.full(len(p), np.nan)
    for col in ("B1", "B2"):
        m = p.col.eq(col).to_numpy()
        vals = allocate.exact_values(int(m.sum()), *age[col], 0, rng, bands(col))
        age_b[m] = vals[rng.permutation(len(vals))]
    dmin = np.where(ok, delta, 99).min(axis=1)
    inb = p.in_b.to_numpy()
    age_a[inb] = age_b[inb] - dmin[inb]
    # exactly enough patients aged 75 at Part B have turned 75 since Part A to keep Part A's >=75 band
    over = int(np.sum(age_a[inb] >= 75)) - bands_src[">=75"]["A"]
    if over > 0:
        cand = np.flatnonzero(inb & (age_b == 75) & (age_a == 75) & (ok & (delta == dmin[:, None] + 1)).any(axis=1))
        if len(cand) < over:
            raise RuntimeError("cannot place birthdays for the Part A >=75 band")
        pick = cand[:over]
        age_a[pick] -= 1
        dmin[pick] += 1
    free = ~inb
    age_a[free] = allocate.fill_values(age_a[inb], int(free.sum()), *age["A"], 0, rng, bands("A"))
    want = np.where(inb, dmin, 0)
    good = ok & ((delta == want[:, None]) | ~inb[:, None])
    if not good.any(axis=1).all():
        raise RuntimeError("no admissible birthday for some patients")
    # pick a random admissible birthday per patient (vectorised: random key, masked argmax)
    key = np.where(good, rng.random(good.shape), -1)
    choice = key.argmax(axis=1)
    bm, bd = md.month.to_numpy()[choice], md.day.to_numpy()[choice]
    enr_dt = pd.to_datetime(enr, unit="D")
    had = (enr_dt.month.to_numpy() > bm) | ((enr_dt.month.to_numpy() == bm) & (enr_dt.day.to_numpy() >= bd))
    birth_year = enr_dt.year.to_numpy() - age_a.astype(int) - (~had).astype(int)
    p["birth"] = [_ymd(y, m, d) for y, m, d in zip(birth_year, bm, bd)]
    p["age_a"] = age_a.astype(int)
    p["age_b"] = np.where(inb, age_a + want, np.nan)


def _ymd(y: int, m: int, d: int) -> int:
    return int((np.datetime64(f"{int(y):04d}-{int(m):02d}-{int(d):02d}", "D") - EPOCH).astype(int))


def _history(p: pd.DataFrame, facts, seed: int) -> None:
    """First treatment date (time since first treatment) and prior lines, Part B columns exact, Part A completed."""
    rng = _rng(seed, "history")
    cont = facts["table1"]["continuous"]
    inb = p.in_b.to_numpy()
    enr = p.enr.to_numpy().astype(float)
    reg = p.reg.to_numpy()
    # time since first treatment at Part B registration
    t_b = np.full(len(p), np.nan)
    for col in ("B1", "B2"):
        m = np.flatnonzero(p.col.eq(col).to_numpy())
        vals = allocate.exact_values(len(m), *cont["time_since_first_treatment_years"][col], 1, rng)
        order = m[rng.permutation(len(m))]
        t_b[order] = vals
        # the smallest values go to the patients with the shortest Part A, so no Part A value drops below the minimum
        lo = cont["time_since_first_treatment_years"]["A"][1]
        for _ in range(len(m)):
            t_a = t_b[m] - (reg[m] - enr[m]) / 365.25
            bad = m[t_a < lo + 0.05]
            if not len(bad):
                break
            j = bad[0]
            k = m[np.argmax(np.where(reg[m] - enr[m] < 120, t_b[m], -1))]
            t_b[j], t_b[k] = t_b[k], t_b[j]
    ftrt = np.where(inb, reg - np.round(t_b * 365.25), np.nan)
    t_a = (enr - ftrt) / 365.25
    near_half = np.abs((t_a * 10) % 1 - 0.5) < 0.05  # keep Part A values clear of a rounding tie
    ftrt = np.where(near_half, ftrt - 3, ftrt)
    t_a = np.round((enr - ftrt) / 365.25, 1)
    free = ~inb
    t_free = allocate.fill_values(t_a[inb], int(free.sum()), *cont["time_since_first_treatment_years"]["A"], 1, rng)
    ftrt[free] = enr[free] - np.round(t_free * 365.25)
    p["ftrt"] = ftrt.astype(int)
    p["diag"] = p.ftrt - rng.integers(10, 75, len(p))
    p["diag_prec"] = allocate.labels({"D": 40, "M": 19, "Y": 4}, rng)  # partial diagnosis dates as EDCs hold them
    # prior lines before Part A: Part B = Part A + 1 (daratumumab)
    lines = np.zeros(len(p), int)
    spec = {"B1": [3, 4, 5, 6, 6, 7, 7, 7, 8, 8, 9, 9, 10, 10],
            "B2": [2] * 4 + [3] * 8 + [4] * 8 + [5] * 5 + [6] * 4 + [7] * 3 + [8] * 2 + [9, 11],
            "N": [2, 2, 2, 2, 2, 3, 3, 3, 3, 4, 5, 6, 11]}
    for col, vals in spec.items():
        m = np.flatnonzero(p.col.eq(col).to_numpy())
        lines[m] = np.array(vals)[rng.permutation(len(vals))]
    p["lines_a"] = lines
    _check_lines(p, facts)


def _check_lines(p: pd.DataFrame, facts) -> None:
    cont = facts["table1"]["continuous"]["prior_lines"]
    gt3 = facts["table1"]["categorical"]["gt3_prior_lines"]
    for col in ("A", "B1", "B2"):
        v = p.lines_a if col == "A" else p.lines_a[p.col.eq(col)] + 1
        n = len(v)
        med = np.median(np.sort(v))
        if (med, v.min(), v.max()) != tuple(cont[col]) or int((v > 3).sum()) != gt3[col]:
            raise RuntimeError(f"prior lines column {col}: {med} {v.min()} {v.max()} >3: {(v > 3).sum()} (n {n})")
