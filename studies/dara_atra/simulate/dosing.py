"""SYNTHETIC DARA-ATRA design, part of build_design (design.py).  Dosing: the planned daratumumab infusions and ATRA
courses of each part.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscflow.studies.dara_atra.simulate.steps import _rng


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
