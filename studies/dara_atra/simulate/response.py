"""SYNTHETIC DARA-ATRA design, part of build_design (design.py).  Response: the M-protein / FLC values behind each
investigator response.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscflow.studies.dara_atra.simulate.steps import LV, _rng


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
