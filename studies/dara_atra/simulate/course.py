"""SYNTHETIC DARA-ATRA design, part of build_design (design.py).  Patients and their course: the profiles on the
calendar, each patient's planned visit timeline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscflow.studies.dara_atra.simulate.steps import LV, _day, _rng


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
