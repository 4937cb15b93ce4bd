"""The calibrated 63-patient DARA-ATRA design: a patient table plus child tables of planned records.

SYNTHETIC.  `build_design(facts, seed)` turns the hand-calibrated patient courses (profiles.py) and the published
counts (specs/dara_atra/facts.yaml) into tables whose dates are integer day offsets from each patient's first Part A
daratumumab infusion (day 0; `patients.a1` holds that calendar day as days since 1970-01-01).  Exact counts are
allocated deterministically and then shuffled across patients with the seed; nothing is drawn from probabilities.
records.py expands (and, for --subjects, tiles) these tables into the raw forms.

The design is patient-level work on 63 rows: a few steps build each patient's short planned visit list in a loop over
the 63 profiles; everything that scales with the number of subjects (tiling, calendar, record expansion, writing) is
vectorised in records.py.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy.stats import norm

from cdiscflow.simulate import allocate, catalogue as cat
from cdiscflow.simulate.profiles import load_profiles

EPOCH = np.datetime64("1970-01-01", "D")
LV = cat.LEVELS


def _day(iso: str) -> int:
    return int((np.datetime64(iso, "D") - EPOCH).astype(int))


@dataclass
class Design:
    """All tables of the design; every `*day*` column is days from the patient's first Part A infusion."""

    patients: pd.DataFrame
    visits: pd.DataFrame
    dara: pd.DataFrame
    atra: pd.DataFrame
    labs: pd.DataFrame
    cyto: pd.DataFrame
    prior: pd.DataFrame
    ae: pd.DataFrame
    supp: pd.DataFrame
    subsq: pd.DataFrame
    followup: pd.DataFrame
    cut: int  # data cut as days since 1970-01-01


def _retry(step, p: pd.DataFrame, facts, seed: int, attempts: int = 200):
    """Run an allocation step whose constraints a particular shuffle may not meet (e.g. no 75-year-old at Part B
    who can have turned 75 since Part A): try the step's next random stream until one fits.  Deterministic."""
    last = None
    for attempt in range(attempts):
        try:
            return step(p, facts, seed if attempt == 0 else seed * 1000 + attempt)
        except (ValueError, RuntimeError) as exc:
            last = exc
    raise RuntimeError(f"{step.__name__}: no allocation satisfies the published counts ({last})")


def _rng(seed: int, name: str) -> np.random.Generator:
    """One independent stream per design step, so changing one step does not reshuffle the others."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


# ----------------------------------------------------------------------------------------------------------------
def build_design(facts: Mapping[str, Any], seed: int) -> Design:
    """The whole 63-patient design for this seed (see module docstring)."""
    cut = _day(str(facts["datacut"]))
    p = _patients(load_profiles(), cut)
    visits = _timeline(p, seed)
    _traits(p, facts, seed)
    _retry(_ages, p, facts, seed)
    _retry(_history, p, facts, seed)
    labs = _labs(p, facts, seed)
    cyto = _cytogenetics(p, facts, seed)
    prior = _retry(_prior_therapy, p, facts, seed)
    dara, atra = _dosing(p, seed)
    visits = _mprotein(p, visits, seed)
    ae, supp = _adverse_events(p, facts, dara, atra, seed)
    subsq = _subsequent(p, facts, seed)
    followup = _followup(p, seed)
    _check(p, visits, dara, ae, supp, subsq, followup)
    return Design(p, visits, dara, atra, labs, cyto, prior, ae, supp, subsq, followup, cut)


# ----------------------------------------------------------------------------------------------------------------
# patients and their course


def _patients(prof: pd.DataFrame, cut: int) -> pd.DataFrame:
    p = prof.copy()
    p["pid"] = np.arange(len(p))
    p["col"] = np.select([p.stratum.isin(["P45", "L15", "L30"]), p.stratum.eq("B2")], ["B1", "B2"], "N")
    p["in_b"] = p.col.ne("N")
    p["rp2d"] = p.stratum.isin(["P45", "B2"])
    p["phase"] = np.select([p.col.eq("B1"), p.col.eq("B2")], [1, 2], 0)
    p["doselvl"] = p.stratum.map({"L15": 15, "L30": 30, "P45": 45, "B2": 45}).fillna(0).astype(int)
    p["a1"] = p.a1.map(_day).astype(np.int64)
    p["cutd"] = cut - p.a1  # the data cut as a day offset
    p["a_group"] = np.select([p.a_best.isin(["CR", "VGPR", "PR"]), p.a_best.isin(["SD", "MR"]), p.a_best.eq("PD")],
                             [">=PR", "SD/MR", "PD"], "NE")
    return p


def _ramp_a(best: str, c: int) -> int:
    """Response at the end of Part A cycle c for a patient whose best response is `best` (confirmed from cycle 2)."""
    order = {"PR": [LV["PR"]], "VGPR": [LV["PR"], LV["VGPR"]], "CR": [LV["PR"], LV["VGPR"], LV["CR"]]}[best]
    return order[min(c, len(order)) - 1]


def _ramp_b(best: str, c: int) -> int:
    return {"SD": LV["SD"], "MR": LV["MR"], "VGPR": LV["PR"] if c == 1 else LV["VGPR"]}[best]


def _timeline(p: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Dates of registration, end of treatment, progression, death, and each patient's planned assessments."""
    rng = _rng(seed, "timeline")
    n = len(p)
    first_enrolment = _day("2016-07-01")  # "enrolled from July 2016 to October 2017"
    p["enr"] = np.maximum(-rng.integers(0, 8, n), first_enrolment - p.a1)
    p["ic"] = p.enr - rng.integers(3, 22, n)
    for col in ("reg", "b1", "pd_a", "eot_a", "stop_a", "pd_b", "eot_b", "stop_b", "death", "alive_last"):
        p[col] = np.nan
    p["eot_a_reas"] = ""
    p["eot_a_spec"] = ""
    p["eot_b_reas"] = ""
    p["eot_b_spec"] = ""
    rows: list[tuple] = []  # pid, part, day, scheduled cycle (0 = unscheduled), level

    def visit(i, part, day, cyc, lvl):
        rows.append((i, part, int(day), int(cyc), int(lvl)))

    for r in p.itertuples():
        i, L, cutd = r.pid, r.L, r.cutd
        # -- Part A ------------------------------------------------------------------------------------------
        route = {"INE_RESP": "RESP", "INE_C2": "C2MR", "INE_C1": "C1PD"}.get(r.route, r.route)
        reas, spec = "Insufficient response", ""
        if route == "C1PD":
            conf = L if r.route.startswith("INE") else min(28 + int(rng.integers(7, 15)), int(L) - 1)
            visit(i, "A", 28, 1, LV["PD"])
            visit(i, "A", conf, 0, LV["NE"] if r.a_best == "NE" else LV["PD"])
            stop, eot, reas, spec = 28, conf, "Progressive disease", "PD during cycle 1"
        elif route == "C2MR" and r.a_best == "PD":
            conf = 56 + int(rng.integers(7, 15))
            visit(i, "A", 28, 1, LV["NE"]); visit(i, "A", 56, 2, LV["PD"]); visit(i, "A", conf, 0, LV["PD"])
            stop, eot, reas, spec = 56, conf, "Progressive disease", "Less than MR after cycle 2 (progression)"
        elif route == "C2MR" and r.a_best == "MR":
            visit(i, "A", 28, 1, LV["MR"]); visit(i, "A", 42, 0, LV["MR"])
            visit(i, "A", 56, 2, LV["PD"]); visit(i, "A", 63, 0, LV["PD"])
            stop, eot, reas, spec = 56, 63, "Progressive disease", "Less than MR after cycle 2 (progression)"
        elif route == "C2MR":
            visit(i, "A", 28, 1, LV["SD"]); visit(i, "A", 56, 2, LV["SD"])
            stop, eot, spec = 56, 56, "Less than MR after cycle 2"
        elif route == "C3PR":
            last = LV["MR"] if r.a_best == "MR" else LV["SD"]
            visit(i, "A", 28, 1, LV["SD"]); visit(i, "A", 56, 2, LV["MR"]); visit(i, "A", 84, 3, last)
            stop, eot, spec = 84, 84, "Less than PR after cycle 3"
        elif route == "RESP":
            conf = int(L) if r.route.startswith("INE") else int(L) - int(rng.integers(1, 6))
            pd_ = conf - int(rng.integers(7, 13))
            if pd_ % 28 <= 5:
                pd_ -= pd_ % 28
            for c in range(1, pd_ // 28 + 1):
                if 28 * c < pd_:
                    visit(i, "A", 28 * c, c, _ramp_a(r.a_best, c))
            visit(i, "A", pd_, pd_ // 28 if pd_ % 28 == 0 else 0, LV["PD"])
            visit(i, "A", conf, 0, LV["PD"])
            stop, eot, reas, spec = pd_, conf, "Progressive disease", "PD after initial response"
            p.loc[i, "pd_a"] = pd_
        elif route == "ONA":
            for c in range(1, (int(cutd) - 2) // 28 + 1):
                visit(i, "A", 28 * c, c, _ramp_a(r.a_best, c))
            stop, eot = int(cutd) + 1, np.nan
        elif route == "WD":
            stop, eot, reas, spec = int(L), int(L), "Withdrawal of consent", "Patient withdrew informed consent"
        else:  # pragma: no cover - profiles are fixed
            raise RuntimeError(f"unknown route {r.route}")
        if r.route.startswith("INE"):
            spec = f"{spec}; not eligible for Part B ({_INELIGIBLE[i % len(_INELIGIBLE)]})"
        p.loc[i, ["stop_a", "eot_a"]] = [stop, eot]
        p.loc[i, ["eot_a_reas", "eot_a_spec"]] = [reas if not np.isnan(eot) else "", spec if not np.isnan(eot) else ""]
        if r.col == "N":
            if not np.isnan(r.O):
                p.loc[i, "death"] = r.O - 1
            continue
        # -- Part B ------------------------------------------------------------------------------------------
        T = r.T
        if r.b_best == "PD":
            g = int(T) - 29
            if not 0 <= g <= 15:
                raise RuntimeError(f"profile {r.key}: PD at first assessment needs 29 <= T <= 44")
        elif r.b_end in ("PD", "PATIENT") and (T - 1) % 28 <= 10 and (T - 1) // 28 >= 1:
            g = int((T - 1) % 28)
        else:
            g = int(rng.integers(1, 6))
        b1 = L + g
        p.loc[i, ["reg", "b1"]] = [L, b1]
        death = L + r.O - 1 if not np.isnan(r.O) else np.nan
        p.loc[i, "death"] = death
        c = 1
        if r.b_end == "PD":
            pd_ = L + T - 1
            while b1 + 28 * c < pd_:
                visit(i, "B", b1 + 28 * c, c, _ramp_b(r.b_best, c)); c += 1
            visit(i, "B", pd_, c if b1 + 28 * c == pd_ else 0, LV["PD"])
            conf = pd_ + int(rng.integers(7, 15))
            if not np.isnan(death):
                conf = min(conf, int(death) - 1)
            visit(i, "B", conf, 0, LV["PD"])
            p.loc[i, ["pd_b", "eot_b", "stop_b"]] = [pd_, conf, pd_]
            p.loc[i, ["eot_b_reas", "eot_b_spec"]] = ["Progressive disease", ""]
        elif r.b_end == "PATIENT":
            last = L + T - 1
            while b1 + 28 * c <= last:
                visit(i, "B", b1 + 28 * c, c, _ramp_b(r.b_best, c)); c += 1
            if b1 + 28 * (c - 1) != last:
                visit(i, "B", last, 0, _ramp_b(r.b_best, c))
            eot = last + int(rng.integers(3, 11))
            p.loc[i, ["eot_b", "stop_b"]] = [eot, eot]
            p.loc[i, ["eot_b_reas", "eot_b_spec"]] = ["Patient decision", "Patient wished to stop study treatment"]
        elif r.b_end == "INVEST":
            pd_ = L + T - 1
            while b1 + 28 * c < pd_ - 21:
                visit(i, "B", b1 + 28 * c, c, _ramp_b(r.b_best, c)); c += 1
            eot = b1 + 28 * (c - 1) + 2
            visit(i, "B", pd_, 0, LV["PD"]); visit(i, "B", pd_ + int(rng.integers(7, 15)), 0, LV["PD"])
            p.loc[i, ["pd_b", "eot_b", "stop_b"]] = [pd_, eot, eot]
            p.loc[i, ["eot_b_reas", "eot_b_spec"]] = ["Investigator decision", "Clinical deterioration"]
        elif r.b_end == "DEATH":
            p.loc[i, ["eot_b", "stop_b"]] = [death, death]
            p.loc[i, ["eot_b_reas", "eot_b_spec"]] = ["Death", "Sudden death at home"]
        elif r.b_end == "ONGOING":
            while b1 + 28 * c <= cutd - 2:
                visit(i, "B", b1 + 28 * c, c, _ramp_b(r.b_best, c)); c += 1
            p.loc[i, "stop_b"] = cutd + 1
    # Alive patients who stopped treatment are followed up until shortly before the cut.
    fu = p.death.isna() & ~p.route.isin(["ONA", "WD"]) & ~p.b_end.eq("ONGOING")
    p.loc[fu, "alive_last"] = p.cutd[fu] - rng.integers(3, 21, int(fu.sum()))
    v = pd.DataFrame(rows, columns=["pid", "part", "day", "cycle", "level"])
    base = pd.concat([pd.DataFrame({"pid": p.pid, "part": "A", "day": p.enr, "cycle": -1, "level": -9}),
                      pd.DataFrame({"pid": p.pid[p.in_b], "part": "B", "day": p.reg[p.in_b].astype(int),
                                    "cycle": -1, "level": -9})])
    v = pd.concat([base, v], ignore_index=True).sort_values(["pid", "part", "day"], kind="stable")
    return v.reset_index(drop=True)


_INELIGIBLE = ("creatinine clearance < 30 mL/min", "WHO performance status 3", "platelets < 50 x10^9/L",
               "active infection at screening for Part B")


# ----------------------------------------------------------------------------------------------------------------
# Table 1 traits


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


# ----------------------------------------------------------------------------------------------------------------
def _labs(p: pd.DataFrame, facts, seed: int) -> pd.DataFrame:
    """Baseline local laboratory at each registration with Table 1 medians/ranges exact per column."""
    rng = _rng(seed, "labs")
    cont = facts["table1"]["continuous"]
    out = []
    for col, part, day in (("A", "A", p.enr), ("B1", "B", p.reg), ("B2", "B", p.reg)):
        m = np.ones(len(p), bool) if col == "A" else p.col.eq(col).to_numpy()
        pids = p.pid.to_numpy()[m]
        k = len(pids)
        lbday = day.to_numpy()[m] - rng.integers(0, 6, k)
        vals = {}
        for key, (_, _, dec, row) in cat.LAB_TESTS.items():
            if row:
                vals[key] = allocate.exact_values(k, *cont[row][col], dec, rng)[rng.permutation(k)]
        corr = allocate.exact_values(k, *cont["calcium_corrected_mmol_per_L"][col], 2, rng)[rng.permutation(k)]
        alb = rng.integers(30, 46, k).astype(float)
        vals["ALB"] = alb
        vals["CA"] = np.round(corr - (40 - alb) * 0.02, 2)
        for key, v in vals.items():
            out.append(pd.DataFrame({"pid": pids, "part": part, "day": lbday, "test": key, "value": v}))
        if col == "A":
            bm = cont["bone_marrow_plasma_cells_pct"]
            sel = rng.choice(k, int(bm["n_available"]), replace=False)
            v = allocate.exact_values(len(sel), *bm["A"], 0, rng)[rng.permutation(len(sel))]
            out.append(pd.DataFrame({"pid": pids[sel], "part": part, "day": lbday[sel], "test": "BMPC", "value": v}))
    labs = pd.concat(out, ignore_index=True)
    order = {k: i for i, k in enumerate(cat.LAB_TESTS)}
    return labs.assign(_o=labs.test.map(order)).sort_values(["pid", "part", "_o"], kind="stable").drop(columns="_o")


def _cytogenetics(p: pd.DataFrame, facts, seed: int) -> pd.DataFrame:
    """Lesion flags per stratum so that each Table 1 lesion row and the risk rows (union of high-risk lesions)
    are exact in A, B1 and B2; two B2 patients carry the unprinted monosomy 17."""
    rng = _rng(seed, "cyto")
    t1 = facts["table1"]["categorical"]
    les, risk = t1["cytogenetics"], t1["cytogenetic_risk"]
    hidden = facts["table1"]["categorical"]["hidden_high_risk_lesion"]
    flags = pd.DataFrame(False, index=p.index, columns=list(cat.CYTO_ABN))
    tested = pd.Series(False, index=p.index)
    hr_names = ["t(4;14)", "t(14;16)", "t(14;20)", "del(17p)", "monosomy 17", "amp(1q)"]
    for col in ("N", "B1", "B2"):
        idx = np.flatnonzero(p.col.eq(col).to_numpy())
        val = (lambda d: d["A"] - d["B1"] - d["B2"]) if col == "N" else (lambda d, c=col: d[c])
        n_na = val(risk["Not available"])
        n_hr = val(risk["High"])
        perm = idx[rng.permutation(len(idx))]
        tst = perm[n_na:]
        tested[tst] = True
        hr = tst[:n_hr]
        counts = {a: val(les[a]) for a in ("t(4;14)", "t(14;16)", "t(14;20)", "del(17p)", "amp(1q)")}
        counts["monosomy 17"] = int(hidden.get(col, 0))
        names = [a for a in hr_names if counts[a] > 0]
        for a, pos in zip(names, allocate.cyclic_union(len(hr), [counts[a] for a in names])):
            flags.loc[hr[pos], a] = True
        for a in ("del(1p)", "del(13q)"):
            flags.loc[rng.choice(tst, val(les[a]), replace=False), a] = True
    n = len(p)
    cydat = p.enr.to_numpy() - rng.integers(5, 40, n)
    method = np.where(rng.random(n) < 0.7, "FISH", "SNP array")
    rows = []
    for a in cat.CYTO_ABN:
        rows.append(pd.DataFrame({"pid": p.pid, "abn": a, "tested": tested.to_numpy(), "present": flags[a].to_numpy(),
                                  "day": cydat, "method": method}))
    return pd.concat(rows).sort_values(["pid"], kind="stable").reset_index(drop=True)


def _prior_therapy(p: pd.DataFrame, facts, seed: int) -> pd.DataFrame:
    """Prior lines with drugs (exposure and refractoriness exact per column, refractoriness classes exact)."""
    rng = _rng(seed, "prior")
    n = len(p)
    exp = {d: np.zeros(n, bool) for d in cat.DRUGS}
    ref = {d: np.zeros(n, bool) for d in cat.DRUGS}
    exp["LENALIDOMIDE"][:] = True

    def put(drug, idx, refractory=True):
        exp[drug][idx] = True
        if refractory:
            ref[drug][idx] = True

    # -- N (13): all lenalidomide-refractory; PI-refractory 5 = bortezomib 3 + carfilzomib 2 (disjoint)
    N = np.flatnonzero(p.col.eq("N").to_numpy())
    perm = N[rng.permutation(len(N))]
    put("LENALIDOMIDE", N)
    exp["BORTEZOMIB"][N] = True
    put("BORTEZOMIB", perm[:3]); put("CARFILZOMIB", perm[3:5])
    _imid_extra(put, exp, N, rng, thal=(7, 1), pom=(4, 3))
    # -- B1 (14): IMiD-ref 12, PI-ref 10 (all bortezomib, all also IMiD-ref); 5 of 8 at 45 mg/m2 double-refractory
    p45 = np.flatnonzero(p.stratum.eq("P45").to_numpy()); low = np.flatnonzero(p.stratum.isin(["L15", "L30"]).to_numpy())
    p45, low = p45[rng.permutation(len(p45))], low[rng.permutation(len(low))]
    both = np.r_[p45[:5], low[:5]]
    rest = np.r_[p45[5:], low[5:]]
    rest = rest[rng.permutation(len(rest))]
    imid = np.r_[both, rest[:2]]
    exp["BORTEZOMIB"][np.r_[both, rest]] = True
    put("BORTEZOMIB", both)
    _imid_split(put, exp, imid, np.r_[both, rest], rng, len_ref=11, pom_ref=6, thal=(9, 5))
    # -- B2 (36): IMiD-ref 31, PI-ref 30, double 27; PIs: ixazomib 2, carfilzomib 5, bortezomib 24, one overlap
    B2 = np.flatnonzero(p.col.eq("B2").to_numpy())
    perm = B2[rng.permutation(len(B2))]
    P = perm[:30]
    imid = perm[3:34]
    put("IXAZOMIB", P[0:2]); put("CARFILZOMIB", P[2:7]); put("BORTEZOMIB", P[6:30])
    exp["BORTEZOMIB"][perm[2:]] = True  # P[0:2] (ixazomib only) never had bortezomib: 34 of 36 exposed
    _imid_split(put, exp, imid, B2, rng, len_ref=27, pom_ref=13, thal=(16, 5))
    put("ELOTUZUMAB", rng.choice(B2, 2, replace=False))
    put("DURVALUMAB", rng.choice(B2, 6, replace=False))
    # -- prior daratumumab (GEN501): 2 refractory among double-refractory Part A PD patients, 1 Part A PR patient
    double = _any(ref, cat.IMIDS) & _any(ref, cat.PIS)
    long_hist = (p.enr - p.ftrt).to_numpy() > 365.25 * 4.6
    pd_pool = np.flatnonzero(p.a_best.eq("PD").to_numpy() & double & long_hist)
    pr_pool = np.flatnonzero(p.a_best.eq("PR").to_numpy() & long_hist)
    dara_ref = rng.choice(pd_pool, 2, replace=False)
    dara_nonref = rng.choice(pr_pool, 1, replace=False)
    put("DARATUMUMAB", dara_ref); put("DARATUMUMAB", dara_nonref, refractory=False)
    p["prior_dara_months"] = np.nan
    p.loc[dara_ref, "prior_dara_months"] = [42, 48]
    p.loc[dara_nonref, "prior_dara_months"] = 16
    p["prior_dara_best"] = ""
    p.loc[dara_ref, "prior_dara_best"] = ["MR", "VGPR"]
    p.loc[dara_nonref, "prior_dara_best"] = "VGPR"
    _check_drugs(p, facts, exp, ref)
    return _lines(p, exp, ref, rng)


def _any(ref, drugs):
    return np.logical_or.reduce([ref[d] for d in drugs])


def _imid_extra(put, exp, idx, rng, thal, pom):
    """Thalidomide and pomalidomide exposure/refractoriness (exposed, refractory) within `idx`."""
    t = rng.permutation(idx)
    exp["THALIDOMIDE"][t[: thal[0]]] = True
    put("THALIDOMIDE", t[: thal[1]])
    q = rng.permutation(idx)
    exp["POMALIDOMIDE"][q[: pom[0]]] = True
    put("POMALIDOMIDE", q[: pom[1]])


def _imid_split(put, exp, imid, allidx, rng, len_ref, pom_ref, thal):
    """IMiD-refractory set `imid` = lenalidomide-ref (len_ref) + the rest covered by pomalidomide; thalidomide-ref
    inside the set; pomalidomide exposure = refractoriness (as printed)."""
    imid = imid[rng.permutation(len(imid))]
    put("LENALIDOMIDE", imid[:len_ref])
    extra = imid[len_ref:]
    pom = np.r_[extra, rng.choice(imid[:len_ref], pom_ref - len(extra), replace=False)]
    put("POMALIDOMIDE", pom)
    tref = rng.choice(imid, thal[1], replace=False)
    put("THALIDOMIDE", tref)
    others = np.setdiff1d(allidx, tref)
    exp["THALIDOMIDE"][rng.choice(others, thal[0] - thal[1], replace=False)] = True


def _check_drugs(p, facts, exp, ref) -> None:
    t1 = facts["table1"]
    names = {d.capitalize(): d for d in cat.DRUGS}
    for drug, cols in t1["prior_drugs"].items():
        for col, (ne, nr) in cols.items():
            if drug == "Daratumumab" and col != "A":
                continue
            m = np.ones(len(p), bool) if col == "A" else p.col.eq(col).to_numpy()
            d = names[drug]
            if (int(exp[d][m].sum()), int(ref[d][m].sum())) != (ne, nr):
                raise RuntimeError(f"{drug} {col}: {exp[d][m].sum()}/{ref[d][m].sum()} != {ne}/{nr}")
    ra = t1["refractoriness_part_a"]
    imid, pi = _any(ref, cat.IMIDS), _any(ref, cat.PIS)
    overlap = sum(ref[d].astype(int) for d in cat.PIS)
    got = (int(imid.sum()), int(pi.sum()), int((imid & pi).sum()), int((overlap > 1).sum()))
    if got != (ra["imid_refractory"], ra["pi_refractory"], ra["double_refractory"], ra["pi_overlap"]):
        raise RuntimeError(f"refractoriness {got}")


def _lines(p, exp, ref, rng) -> pd.DataFrame:
    """Place each exposed drug in one prior line (typical order), fill empty lines, add steroids and HDM/ASCT."""
    recs = []
    n_lines = p.lines_a.to_numpy()
    enr, ftrt = p.enr.to_numpy(), p.ftrt.to_numpy()
    for d, (cls, _, pos) in cat.DRUGS.items():
        if d in ("DEXAMETHASONE", "PREDNISONE", "CYCLOPHOSPHAMIDE", "MELPHALAN", "DARATUMUMAB"):
            continue
        idx = np.flatnonzero(exp[d])
        line = np.clip(np.round(pos * (n_lines[idx] - 1) + rng.normal(0, 0.6, len(idx))) + 1, 1, n_lines[idx])
        recs.append(pd.DataFrame({"pid": idx, "line": line.astype(int), "drug": d, "refract": ref[d][idx]}))
    # daratumumab (GEN501) in the line that was running the given number of months before registration
    idx = np.flatnonzero(exp["DARATUMUMAB"])
    when = enr[idx] - np.round(p.prior_dara_months.to_numpy()[idx] * 30.4375)
    frac = (when - ftrt[idx]) / (enr[idx] - ftrt[idx])
    line = np.clip(np.floor(frac * n_lines[idx]) + 1, 1, n_lines[idx]).astype(int)
    recs.append(pd.DataFrame({"pid": idx, "line": line, "drug": "DARATUMUMAB", "refract": ref["DARATUMUMAB"][idx]}))
    tx = pd.concat(recs, ignore_index=True)
    # every line holds at least one anti-myeloma drug: empty lines get cyclophosphamide or melphalan
    allines = pd.DataFrame({"pid": np.repeat(p.pid, n_lines), "line": np.concatenate([np.arange(1, k + 1) for k in n_lines])})
    have = allines.merge(tx[["pid", "line"]].drop_duplicates(), how="left", indicator=True)
    empty = have[have._merge.eq("left_only")][["pid", "line"]]
    fill = np.where(rng.random(len(empty)) < 0.5, "CYCLOPHOSPHAMIDE", "MELPHALAN")
    tx = pd.concat([tx, empty.assign(drug=fill, refract=False)], ignore_index=True)
    asct = np.flatnonzero(p.asct.eq("Yes").to_numpy())
    tx = pd.concat([tx, pd.DataFrame({"pid": asct, "line": 1, "drug": "MELPHALAN", "refract": False})], ignore_index=True)
    tx = tx.drop_duplicates(["pid", "line", "drug"])
    steroid_lines = tx[~tx.drug.isin(["DARATUMUMAB", "DURVALUMAB"])][["pid", "line"]].drop_duplicates()
    pred = tx.groupby(["pid", "line"]).drug.transform(lambda s: s.eq("MELPHALAN").any())
    ster = steroid_lines.merge(tx.assign(pred=pred)[["pid", "line", "pred"]].drop_duplicates(["pid", "line"]))
    ster = ster.assign(drug=np.where(ster.pred, "PREDNISONE", "DEXAMETHASONE"), refract=False).drop(columns="pred")
    tx = pd.concat([tx, ster], ignore_index=True).sort_values(["pid", "line", "drug"], kind="stable")
    # dates: lines spread between the first treatment and registration; the GEN501 line at its stated time
    k = tx.pid.to_numpy()
    span = (enr[k] - 45) - ftrt[k]
    start = ftrt[k] + np.floor((tx.line.to_numpy() - 1) / n_lines[k] * span)
    end = ftrt[k] + np.floor(tx.line.to_numpy() / n_lines[k] * span) - 20
    isdara = tx.drug.eq("DARATUMUMAB").to_numpy()
    dstart = enr[k] - np.round(np.nan_to_num(p.prior_dara_months.to_numpy()[k]) * 30.4375)
    start = np.where(isdara, dstart - 300, start)
    end = np.where(isdara, dstart, end)
    tx["stday"] = start.astype(int)
    tx["enday"] = np.maximum(end, start + 28).astype(int)
    tx["prec"] = np.where(rng.random(len(tx)) < 0.25, np.where(rng.random(len(tx)) < 0.2, "Y", "M"), "D")
    tx.loc[tx.line.eq(1) & tx.drug.ne("MELPHALAN"), "prec"] = "D"  # the first-line start is the first treatment date
    tx.loc[tx.drug.eq("DARATUMUMAB"), "prec"] = "D"  # "16, 42 and 48 months before registration" needs full dates
    tx["name_i"] = rng.integers(0, 3, len(tx))
    return tx.reset_index(drop=True)


# ----------------------------------------------------------------------------------------------------------------
# dosing


def _schedule(first: np.ndarray, stop: np.ndarray, days: dict[str, list[int]], ncyc: np.ndarray):
    """Planned infusions: one row per (patient, cycle, planned cycle day) with day = first + 28 (cycle-1) + cday-1,
    kept while day < stop.  Vectorised with repeat: cycles per patient, then infusion days per cycle."""
    pid = np.repeat(np.arange(len(first)), ncyc)
    cyc = np.concatenate([np.arange(1, k + 1) for k in ncyc]) if len(ncyc) else np.array([], int)
    klass = np.where(cyc <= 2, "w", np.where(cyc <= 6, "b", "m"))
    per = np.select([klass == "w", klass == "b"], [len(days["w"]), len(days["b"])], len(days["m"]))
    pid2, cyc2 = np.repeat(pid, per), np.repeat(cyc, per)
    k2 = np.repeat(klass, per)
    pos = np.arange(len(pid2)) - np.repeat(np.cumsum(per) - per, per)
    table = {k: np.array(v + [0] * (4 - len(v))) for k, v in days.items()}
    cday = np.select([k2 == "w", k2 == "b"], [table["w"][pos], table["b"][pos]], table["m"][pos])
    day = first[pid2] + 28 * (cyc2 - 1) + cday - 1
    keep = day < stop[pid2]
    return pid2[keep], cyc2[keep], cday[keep], day[keep]


def _dosing(p: pd.DataFrame, seed: int):
    rng = _rng(seed, "dosing")
    death = p.death.fillna(1e9).to_numpy()
    out = []
    for part, first, stop, days in (
            ("A", np.zeros(len(p), int), np.minimum(p.stop_a.to_numpy(), death),
             {"w": [1, 8, 15, 22], "b": [1, 15], "m": [1]}),
            ("B", p.b1.fillna(0).to_numpy().astype(int), np.where(p.in_b, np.minimum(p.stop_b.fillna(0), death), 0),
             {"w": [3, 10, 17, 24], "b": [3, 17], "m": [3]})):
        ncyc = (np.maximum(stop - first, 0) // 28 + 1).astype(int)
        i, cyc, cday, day = _schedule(first, stop, days, ncyc)
        out.append(pd.DataFrame({"pid": p.pid.to_numpy()[i], "part": part, "cycle": cyc, "cday": cday, "day": day}))
    dara = pd.concat(out, ignore_index=True)
    # ~5% of infusions given 1-7 days late (never the first of a part; never past the next one or the stop)
    nxt = dara.groupby(["pid", "part"]).day.shift(-1).fillna(1e9).to_numpy()
    stop = np.where(dara.part.eq("A"), p.stop_a.to_numpy()[dara.pid], p.stop_b.fillna(0).to_numpy()[dara.pid])
    first = dara.groupby(["pid", "part"]).cumcount().eq(0).to_numpy()
    late = (rng.random(len(dara)) < 0.05) & ~first
    delay = np.minimum(rng.integers(1, 8, len(dara)), np.minimum(nxt, stop) - dara.day.to_numpy() - 2)
    dara["day"] = dara.day + np.where(late & (delay > 0), delay, 0)
    weight = np.where(dara.part.eq("A"), p.weight_a.to_numpy()[dara.pid], p.weight_b.to_numpy()[dara.pid])
    dara["dosemg"] = np.round(16 * weight / 10) * 10
    # infusion times: the first infusion takes ~7 h, the second ~4.5 h, later ones ~3.5 h
    nth = dara.groupby("pid").cumcount().to_numpy()
    start = 8 * 60 + 5 * rng.integers(0, 25, len(dara))
    dur = np.select([nth == 0, nth == 1], [420, 270], 210) + 5 * rng.integers(-4, 7, len(dara))
    dara["sttim"], dara["entim"] = start, start + dur
    # ATRA: a 3-day course before each Part B infusion (days 1-3, daratumumab on day 3), twice daily
    b = dara[dara.part.eq("B")]
    bsa = np.sqrt(p.height.to_numpy() * p.weight_b.to_numpy() / 3600)[b.pid]
    dose = np.maximum(10, np.round(p.doselvl.to_numpy()[b.pid] * bsa / 2 / 10) * 10)
    atra = pd.DataFrame({"pid": b.pid.to_numpy(), "cycle": b.cycle.to_numpy(), "stday": b.day.to_numpy() - 2,
                         "enday": b.day.to_numpy(), "dose": dose, "doselvl": p.doselvl.to_numpy()[b.pid],
                         "action": ""})
    return dara.reset_index(drop=True), atra.reset_index(drop=True)


# ----------------------------------------------------------------------------------------------------------------
def _mprotein(p: pd.DataFrame, v: pd.DataFrame, seed: int) -> pd.DataFrame:
    """M-protein / FLC values behind each investigator response, on the patient's measurable-disease parameter.

    Fractions of the part baseline: VGPR >=90% reduction, PR >=50% (urine >=90%), MR 25-49% (urine 50-89%), SD
    otherwise; PD >=25% and the IMWG absolute increase above the lowest value so far; CR has negative
    immunofixation and no detectable M-protein."""
    rng = _rng(seed, "mprotein")
    kind = p.measdis.map({"Serum M-protein": "S", "Urine M-protein": "U", "Serum FLC": "F"}).to_numpy()
    base_s = np.round(rng.uniform(12, 55, len(p)), 1)
    base_u = np.round(rng.uniform(1200, 4000, len(p)), 0)
    base_f = np.round(rng.uniform(300, 2500, len(p)), 1)
    unin = np.round(rng.uniform(4, 14, len(p)), 1)
    k = kind[v.pid]
    absmin = np.select([k == "S", k == "U"], [5 / base_s[v.pid], 200 / base_u[v.pid]], 100 / base_f[v.pid])
    lvl = v.level.to_numpy()
    urine = k == "U"
    nominal = np.select([lvl == LV["CR"], lvl == LV["VGPR"], lvl == LV["PR"], lvl == LV["MR"], lvl == -9],
                        [0.0, np.where(urine, np.minimum(0.05, 80 / base_u[v.pid]), 0.06),
                         np.where(urine, 0.085, 0.40), np.where(urine, 0.45, 0.65), 1.0], np.nan)
    key = v.pid.astype(str) + v.part
    f = pd.Series(nominal, index=v.index)
    # SD: near the baseline, or within +20% of the lowest value after an unconfirmed minimal response
    nadir = f.fillna(np.inf).groupby(key).cummin().groupby(key).shift(1).fillna(1.0)
    sd = lvl == LV["SD"]
    f[sd] = np.minimum(0.95, nadir[sd] * 1.2)
    nadir = f.fillna(np.inf).groupby(key).cummin().groupby(key).shift(1).fillna(1.0).to_numpy()
    pdm = lvl == LV["PD"]
    prev_pd = pd.Series(pdm, index=v.index).groupby(key).shift(1).fillna(False).to_numpy().astype(bool)
    f_pd = np.maximum(nadir * 1.5, nadir + absmin * 1.6)
    f = f.to_numpy(copy=True)
    f[pdm] = f_pd[pdm]
    # confirmation of PD: a little higher than the first PD value
    second = pdm & prev_pd
    f[second] = np.roll(f, 1)[second] * 1.08
    # Part B baseline = the last Part A value (before any Part B treatment)
    v = v.assign(frac=f)
    last_a = v[v.part.eq("A") & v.frac.notna()].groupby("pid").frac.last()
    bscale = (p.pid.map(last_a).fillna(1.0) * 1.03).to_numpy()
    scale = np.where(v.part.eq("B"), bscale[v.pid], 1.0)
    val = v.frac.to_numpy() * scale
    pid = v.pid.to_numpy()
    v["smprot"] = np.where(k == "S", np.round(base_s[pid] * val, 1), np.nan)
    v["umprot"] = np.where(k == "U", np.round(base_u[pid] * val, 0), np.nan)
    dflc = np.where(k == "F", base_f[pid] * val, base_f[pid] * 0.1 * (0.5 + 0.5 * np.nan_to_num(val, nan=1.0)))
    inv = np.round(unin[pid] + dflc, 1)
    kappa = p.light.to_numpy()[pid] == "Kappa"
    v["flckap"] = np.where(kappa, inv, unin[pid])
    v["flclam"] = np.where(kappa, unin[pid], inv)
    v["sife"] = np.where(lvl == LV["CR"], "Negative", "Positive")
    ne = (lvl == LV["NE"]) | np.isnan(val)
    v.loc[ne & (lvl != -9), ["smprot", "umprot", "flckap", "flclam"]] = np.nan
    v.loc[ne & (lvl != -9), "sife"] = ""
    return v.drop(columns="frac")


# ----------------------------------------------------------------------------------------------------------------
def _windows(p: pd.DataFrame, dara: pd.DataFrame):
    """AE collection windows per part: [start, end] as day offsets (inclusive)."""
    last = dara.groupby(["pid", "part"]).day.max().unstack()
    death = p.death.fillna(1e9).to_numpy()
    cutd = p.cutd.to_numpy()
    la = p.pid.map(last.get("A")).to_numpy()
    lb = p.pid.map(last.get("B")).to_numpy()
    a_end = np.minimum.reduce([la + 30, np.where(p.in_b, p.b1.fillna(0) - 1, 1e9), death - 1, cutd])
    b_end = np.minimum.reduce([lb + 30, death - 1, cutd])
    return np.zeros(len(p)), a_end, p.b1.to_numpy(), b_end


def _adverse_events(p: pd.DataFrame, facts, dara: pd.DataFrame, atra: pd.DataFrame, seed: int):
    """Table 2 by slots: each (row, part, grade) count goes to distinct patients; infections one patient per slot;
    plus the text-only events; grade >= 2 only, infusion-related reactions at any grade."""
    rng = _rng(seed, "ae")
    a_start, a_end, b_start, b_end = _windows(p, dara)
    by_pt = {v["pt"][0]: k for k, v in cat.AE_TERMS.items()}
    rows = facts["table2"]["rows"]
    infections = {k for k, v in cat.AE_TERMS.items() if v["soc"] == cat.SOC_INFECT}
    recs = []
    used_inf = {"A": set(), "B": set()}
    used_row: dict[tuple, set] = {}
    pool = {"A": np.flatnonzero(a_end > a_start + 3), "B": np.flatnonzero(p.rp2d.to_numpy() & (b_end > b_start + 3))}
    for row, pt, part, grade, count in rows:
        term = by_pt[pt]
        if term in ("chest_pain",):
            continue  # placed below with its story
        taken = used_row.setdefault((row, part), set())
        avoid = taken | (used_inf[part] if term in infections else set())
        if term == "headache" and part == "B":
            cand = pool["B"]
        else:
            cand = np.setdiff1d(pool[part], np.array(sorted(avoid), dtype=int))
        who = rng.choice(np.setdiff1d(cand, np.array(sorted(avoid), dtype=int)), int(count), replace=False)
        taken.update(who.tolist())
        if term in infections:
            used_inf[part].update(who.tolist())
        g = np.full(len(who), int(grade[0]))
        if grade == "3-4":
            g = np.where(rng.random(len(who)) < (0.35 if term in ("thrombocytopenia", "neutropenia") else 0.1), 4, 3)
        recs.append(pd.DataFrame({"pid": who, "part": part, "term": term, "grade": g}))
    ae = pd.concat(recs, ignore_index=True)
    lo = np.where(ae.part.eq("A"), a_start[ae.pid], b_start[ae.pid])
    hi = np.where(ae.part.eq("A"), a_end[ae.pid], b_end[ae.pid])
    ae["stday"] = (lo + np.floor(rng.random(len(ae)) * (hi - lo + 1))).astype(int)
    # infusion-related reactions: at the first infusion (a few at the second)
    irr = ae.term.eq("irr").to_numpy()
    ae.loc[irr, "stday"] = np.where(rng.random(irr.sum()) < 0.85, 0, 7)
    # ATRA headaches: in the first two cycles, on an ATRA day
    hb = (ae.term.eq("headache") & ae.part.eq("B")).to_numpy()
    ae.loc[hb, "stday"] = np.minimum(b_start[ae.pid[hb]] + rng.choice([0, 1, 7, 8, 14, 28, 29, 35], hb.sum()),
                                     b_end[ae.pid[hb]])
    # text-only events: non-cardiac chest pain after starting ATRA (interrupted, rechallenged on day 8)
    cp = rng.choice(np.setdiff1d(pool["B"], np.flatnonzero(p.b_end.eq("DEATH").to_numpy())), 1)[0]
    extra = [dict(pid=cp, part="B", term="chest_pain", grade=2, stday=int(b_start[cp]) + 2, enday=int(b_start[cp]) + 5,
                  action_atra="Drug interrupted")]
    # the death without progression in Part B
    for i in np.flatnonzero(p.b_end.eq("DEATH").to_numpy()):
        extra.append(dict(pid=i, part="B", term="sudden_death", grade=5, stday=int(p.death[i]), enday=int(p.death[i])))
    # a few AEs for the phase-1 patients at 15/30 mg/m2 (not in the RP2D Table 2 column)
    low = np.flatnonzero(p.stratum.isin(["L15", "L30"]).to_numpy())
    for j, (term, grade) in enumerate([("anaemia", 2), ("urti", 2), ("headache", 2), ("fatigue", 2), ("neutropenia", 3),
                                       ("anaemia", 2)]):
        i = low[j % len(low)]
        extra.append(dict(pid=i, part="B", term=term, grade=grade,
                          stday=int(b_start[i] + rng.integers(0, max(1, b_end[i] - b_start[i])))))
    ae = pd.concat([ae, pd.DataFrame(extra)], ignore_index=True)
    ae.loc[ae.term.eq("chest_pain"), "action_atra"] = "Drug interrupted"
    atra.loc[(atra.pid == cp) & (atra.stday == atra[atra.pid == cp].stday.min()), "action"] = "Drug interrupted"
    # end dates, outcome, seriousness, causality
    n = len(ae)
    dur = np.where(ae.term.isin(["anaemia", "thrombocytopenia", "neutropenia"]), rng.integers(7, 43, n),
                   rng.integers(2, 22, n))
    dur = np.where(ae.term.eq("irr"), 0, dur)
    end = np.where(ae.enday.notna(), ae.enday, ae.stday + dur) if "enday" in ae else ae.stday + dur
    death = p.death.fillna(1e9).to_numpy()[ae.pid]
    cutd = p.cutd.to_numpy()[ae.pid]
    malignant = ae.term.isin(["mesothelioma"]).to_numpy()
    ongoing = (end > cutd) | (end >= death) | malignant
    ongoing &= ae.grade.ne(5).to_numpy()
    ae["enday"] = np.where(ongoing, np.nan, end)
    ae["ongo"] = np.where(ongoing, "Yes", "No")
    ae["end_prec"] = np.where(~ongoing & (rng.random(n) < 0.08), "M", "D")
    serious = ((ae.grade >= 3) & ae.term.isin(list(infections) + ["febrile_neutropenia", "mesothelioma"])) | ae.grade.eq(5)
    ae["ser"] = np.where(serious, "Y", "N")
    ae["hosp"] = np.where(serious & ae.grade.lt(5), "Y", "N")
    ae["sdth"] = np.where(ae.grade.eq(5), "Y", "N")
    ae["out"] = np.select([ae.grade.eq(5), ongoing], ["Fatal", "Not recovered/not resolved"], "Recovered/resolved")
    rel_dar = np.select([ae.term.eq("irr"), ae.term.isin(["anaemia", "thrombocytopenia", "neutropenia", "urti", "fatigue"])],
                        ["Related", "Possibly related"], "Not related")
    ae["rel_dar"] = rel_dar
    ae["rel_atr"] = np.where(ae.part.eq("B"), np.where(ae.term.isin(["headache", "chest_pain"]), "Related",
                                                       "Not related"), "")
    ae["acn_dar"] = np.where(ae.grade.ge(3) & ae.grade.lt(5), "Drug interrupted", "Dose not changed")
    ae["acn_dar"] = np.where(ae.grade.eq(5), "Not applicable", ae.acn_dar)
    ae["acn_atr"] = np.where(ae.part.eq("B"), ae.get("action_atra", pd.Series("", index=ae.index)).fillna(""), "")
    ae["acn_atr"] = np.where(ae.part.eq("B") & ae.acn_atr.eq(""), np.where(ae.grade.eq(5), "Not applicable",
                                                                             "Dose not changed"), ae.acn_atr)
    ae["verb_i"] = rng.integers(0, 4, n)
    ae = ae.drop(columns=[c for c in ("action_atra",) if c in ae]).sort_values(["pid", "stday"], kind="stable")
    ae["aespid"] = ae.groupby("pid").cumcount() + 1
    supp = _support(p, facts, ae, a_end, b_end, rng)
    return ae.reset_index(drop=True), supp


def _support(p, facts, ae, a_end, b_end, rng) -> pd.DataFrame:
    """Transfusions and G-CSF for the footnote counts, given to the grade 3-4 cytopenia patients first."""
    link = {"Red blood cell transfusion": "anaemia", "Platelet transfusion": "thrombocytopenia", "G-CSF": "neutropenia"}
    out = []
    for sctype, parts in facts["table2"]["support_patients"].items():
        for part, n in parts.items():
            ev = ae[ae.term.eq(link[sctype]) & ae.part.eq(part) & (ae.part.eq("A") | p.rp2d.to_numpy()[ae.pid])]
            ev = ev.sort_values("grade", ascending=False, kind="stable")
            severe, mild = ev[ev.grade >= 3], ev[ev.grade < 3]
            pick = severe if len(severe) >= n else pd.concat([severe, mild.sample(n - len(severe), random_state=rng)])
            pick = pick.head(n)
            hi = np.where(part == "A", a_end[pick.pid], b_end[pick.pid])
            k = rng.integers(1, 4, len(pick)) if sctype != "G-CSF" else np.ones(len(pick), int)
            pid = np.repeat(pick.pid.to_numpy(), k)
            st = np.repeat(pick.stday.to_numpy(), k) + np.concatenate([np.arange(j) * 9 for j in k])
            st = np.minimum(st, np.repeat(hi, k)).astype(int)
            en = st + (4 if sctype == "G-CSF" else 0)
            out.append(pd.DataFrame({"pid": pid, "type": sctype, "stday": st, "enday": np.minimum(en, np.repeat(hi, k))}))
    s = pd.concat(out, ignore_index=True).drop_duplicates(["pid", "type", "stday"])
    s["name_i"] = rng.integers(0, 3, len(s))
    return s.sort_values(["pid", "stday", "type"], kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------------------------------------------
def _subsequent(p: pd.DataFrame, facts, seed: int) -> pd.DataFrame:
    """First subsequent regimen (Table 3 counts in the RP2D set), its best response and progression, later lines."""
    rng = _rng(seed, "subsq")
    st = facts["subsequent_therapy"]
    end = p.pd_b.fillna(p.eot_b)
    disc = p.rp2d & p.b_end.ne("ONGOING")
    # who does not get a next line: the death without PD, and the shortest survivors after stopping
    surv = (p.death - end).where(disc)
    no = list(np.flatnonzero(p.b_end.eq("DEATH").to_numpy()))
    need = int(disc.sum()) - st["received"] - len(no)
    no += list(surv.drop(index=no).nsmallest(need).index)
    got = np.flatnonzero((disc & ~p.index.isin(no)).to_numpy())
    regs = allocate.labels({k: int(v) for k, v in st["regimens"].items()}, rng)
    if len(regs) != len(got):
        raise RuntimeError(f"{len(got)} patients for {len(regs)} subsequent regimens")
    # others (phase-1 low dose, ineligible for Part B) also get a next line; not part of Table 3
    other = np.flatnonzero((p.stratum.isin(["L15", "L30"]) | p.route.isin(["INE_RESP", "INE_C2", "INE_C1"])).to_numpy())
    other_regs = rng.choice(["Pomalidomide-dexamethasone", "Carfilzomib-dexamethasone",
                             "Pomalidomide-cyclophosphamide-dexamethasone"], len(other))
    pid = np.r_[got, other]
    reg = np.r_[regs, other_regs]
    after = np.where(p.in_b.to_numpy()[pid], end.to_numpy()[pid], p.eot_a.to_numpy()[pid])
    start = after + rng.integers(14, 57, len(pid))
    death = p.death.to_numpy()[pid]
    limit = np.where(np.isnan(death), p.alive_last.to_numpy()[pid], death) - 10
    start = np.minimum(start, limit)
    resp = np.r_[allocate.labels({"yes": st["responders_ge_pr"], "no": len(got) - st["responders_ge_pr"]}, rng),
                 rng.choice(["yes", "no"], len(other))]
    best = np.where(resp == "yes", rng.choice(["PR", "VGPR", "Partial response", "Very good partial response", "CR"],
                                              len(pid), p=[.35, .25, .2, .15, .05]),
                    rng.choice(["SD", "PD", "MR", "Stable disease"], len(pid)))
    # progression on the next line: median about 6.2 months (approximate target)
    q = (np.arange(len(pid)) + 0.5) / len(pid)
    dur = np.round(np.exp(np.log(6.2 * 30.4375) + 0.85 * norm.ppf(q)))[rng.permutation(len(pid))]
    pdd = start + dur
    stop = np.where(np.isnan(death), p.alive_last.to_numpy()[pid], death)
    pdd = np.where(pdd < stop - 5, pdd, np.nan)
    sub = pd.DataFrame({"pid": pid, "line": 1, "regimen": reg, "stday": start.astype(int), "best": best, "pdday": pdd})
    # later lines: bispecific antibodies and CAR-T for the longest survivors of the RP2D set
    lat = sub[sub.pid.isin(got) & sub.pdday.notna()].copy()
    lat["room"] = np.where(np.isnan(p.death.to_numpy()[lat.pid]), p.alive_last.to_numpy()[lat.pid],
                           p.death.to_numpy()[lat.pid]) - lat.pdday
    lat = lat.sort_values("room", ascending=False, kind="stable")
    names = np.repeat([n for n, _ in cat.LATER_LINES], [k for _, k in cat.LATER_LINES])
    lat = lat.head(len(names)).assign(line=2, regimen=names[rng.permutation(len(names))])
    lat["stday"] = (lat.pdday + rng.integers(14, 45, len(lat))).astype(int)
    lat["best"] = rng.choice(["VGPR", "PR", "CR", "SD"], len(lat))
    lat["pdday"] = np.nan
    sub = pd.concat([sub, lat.drop(columns="room")], ignore_index=True)
    return sub.sort_values(["pid", "line"], kind="stable").reset_index(drop=True)


def _followup(p: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Survival follow-up contacts every ~3 months after the end of treatment; a last 'Alive' contact shortly before
    the cut for survivors and a 'Dead' contact when the death became known."""
    rng = _rng(seed, "followup")
    end_tx = np.where(p.in_b, p.eot_b, p.eot_a)
    has = ~np.isnan(end_tx) & ~p.route.eq("WD").to_numpy()
    death = p.death.to_numpy()
    stop = np.where(np.isnan(death), p.alive_last.to_numpy(), death)
    first = end_tx + 30
    gap = np.where(has & (stop > first), stop - first, -1.0)
    k = np.where(np.nan_to_num(gap, nan=-1.0) >= 0, np.floor(np.nan_to_num(gap, nan=0.0) / 91) + 1, 0).astype(int)
    pid = np.repeat(p.pid.to_numpy(), k)
    j = np.concatenate([np.arange(x) for x in k]) if len(k) else np.array([], int)
    day = first[pid] + 91 * j + rng.integers(-7, 8, len(pid))
    day = np.minimum(day, stop[pid] - 1)
    fu = pd.DataFrame({"pid": pid, "day": day.astype(int), "status": "Alive"})
    alive_last = ~np.isnan(p.alive_last.to_numpy()) & has
    last = pd.DataFrame({"pid": p.pid[alive_last], "day": p.alive_last[alive_last].astype(int), "status": "Alive"})
    dead = has & ~np.isnan(death)
    dday = np.minimum(death[dead] + rng.integers(0, 15, int(dead.sum())), p.cutd.to_numpy()[dead])
    dd = pd.DataFrame({"pid": p.pid[dead], "day": dday.astype(int), "status": "Dead"})
    fu = pd.concat([fu, last, dd], ignore_index=True).drop_duplicates(["pid", "day"], keep="last")
    cause = np.where(rng.random(len(p)) < 0.88, "Progressive disease", "Infection")
    p["dthcaus"] = np.where(p.b_end.eq("DEATH"), "Sudden death, cause unknown", np.where(p.death.notna(), cause, ""))
    return fu.sort_values(["pid", "day"], kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------------------------------------------
def _check(p, visits, dara, ae, supp, subsq, fu) -> None:
    """Design invariants: nothing after the cut or after death, AE windows respected."""
    cutd = p.cutd.to_numpy()
    death = p.death.fillna(1e9).to_numpy()
    for name, frame, col in (("visit", visits, "day"), ("infusion", dara, "day"), ("AE", ae, "stday"),
                             ("support", supp, "stday"), ("subsequent", subsq, "stday"), ("follow-up", fu, "day")):
        d = frame[col].to_numpy()
        i = frame.pid.to_numpy()
        bad = d > cutd[i]
        if name not in ("follow-up",):
            bad |= d > death[i]
        if bad.any():
            j = np.flatnonzero(bad)[0]
            raise RuntimeError(f"design: {name} of profile {p.key[i[j]]} on day {d[j]} is after the cut or death")
