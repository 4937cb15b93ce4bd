"""SYNTHETIC DARA-ATRA design, part of build_design (design.py).  After treatment: subsequent therapy, survival follow-
up, cause of death.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from cdiscflow.studies.dara_atra.simulate import allocate, catalogue as cat
from cdiscflow.studies.dara_atra.simulate.steps import _rng


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
