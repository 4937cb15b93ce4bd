"""SYNTHETIC DARA-ATRA design, part of build_design (design.py).  Adverse events and the supportive therapy they bring,
within each part's collection window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscflow.studies.dara_atra.simulate import catalogue as cat
from cdiscflow.studies.dara_atra.simulate.steps import _rng


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
