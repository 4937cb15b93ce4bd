"""SYNTHETIC DARA-ATRA design, part of build_design (design.py).  The disease at entry: baseline laboratory,
cytogenetics, prior therapy and its lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscflow.studies.dara_atra.simulate import allocate, catalogue as cat
from cdiscflow.studies.dara_atra.simulate.steps import _rng


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
