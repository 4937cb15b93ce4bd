"""From the design to raw EDC records: subject numbering, tiling for --subjects, calendar dates, one frame per form.

Everything here is vectorised over subjects and records.  A block of subjects is expanded by gathering each design
child table's rows for the block's design patients (a ragged gather with numpy repeat/cumsum), adding the subject's
calendar offset, and formatting the values the way the EDC exports them (DD-MON-YYYY dates, partial dates with UN /
UNK, HH:MM times, investigator wording).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdiscflow.studies.dara_atra.simulate import catalogue as cat
from cdiscflow.studies.dara_atra.simulate.design import Design

MONTHS = np.array(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
SITES = np.array(["01", "02", "03", "04", "05", "06", "07"])
SITE_P = np.array([0.40, 0.11, 0.10, 0.10, 0.10, 0.10, 0.09])  # ~40% at the sponsor site (01)
ABBREVIATING_SITES = {"01", "03", "06"}  # investigators there write response as PD/SD/MR/PR/VGPR/CR


# ----------------------------------------------------------------------------------------------------------------
# subjects


def subject_table(design: Design, subjects: int | None, seed: int) -> pd.DataFrame:
    """One row per subject of the export: which design patient it copies, its calendar shift, site and SUBJID.

    Copy 0 is the calibrated design itself (all 63 patients when `subjects` >= 63); further copies shift every date
    of a patient by 0-21 days earlier and jitter laboratory / M-protein values by a few percent.  Subjects are
    numbered in order of copy and enrolment date."""
    p = design.patients
    n_design = len(p)
    n = n_design if subjects is None else int(subjects)
    if n < 1:
        raise ValueError("--subjects must be at least 1")
    rng = np.random.default_rng([int(seed), 7])
    copies = -(-n // n_design)
    copy = np.repeat(np.arange(copies), n_design)
    pid = np.tile(np.arange(n_design), copies)
    keep = np.ones(len(pid), bool)
    extra = copies * n_design - n
    if extra:  # the last copy (or the only one) keeps a random subset
        last = np.flatnonzero(copy == copies - 1)
        keep[rng.choice(last, extra, replace=False)] = False
    copy, pid = copy[keep], pid[keep]
    shift = np.where(copy == 0, 0, -rng.integers(0, 22, len(pid)))
    jitter = np.where(copy == 0, 1.0, rng.uniform(0.97, 1.03, len(pid)))
    mscale = np.where(copy == 0, 1.0, rng.uniform(0.9, 1.1, len(pid)))
    site = SITES[rng.choice(len(SITES), len(pid), p=SITE_P)]
    first = copy == 0
    site[first] = _design_sites(int(first.sum()), rng)
    sub = pd.DataFrame({"copy": copy, "pid": pid, "shift": shift, "jitter": jitter, "mscale": mscale, "site": site})
    sub["enrol"] = p.a1.to_numpy()[pid] + p.enr.to_numpy()[pid] + shift
    sub = sub.sort_values(["copy", "enrol", "pid"], kind="stable").reset_index(drop=True)
    width = max(3, len(str(len(sub))))
    num = pd.Series(np.arange(1, len(sub) + 1)).astype(str).str.zfill(width)
    sub["subjid"] = sub.site + "-" + num
    sub["a1"] = p.a1.to_numpy()[sub.pid] + sub["shift"].to_numpy()
    return sub


def _design_sites(n: int, rng: np.random.Generator) -> np.ndarray:
    """Deterministic site counts for the calibrated copy: 40% at site 01, the rest spread over 02-07."""
    n01 = round(0.4 * n)
    rest = np.array_split(np.arange(n - n01), 6)
    counts = [n01] + [len(r) for r in rest]
    lab = np.repeat(SITES, counts)
    return lab[rng.permutation(n)]


# ----------------------------------------------------------------------------------------------------------------
# formatting


def dates(days: np.ndarray, prec: np.ndarray | None = None) -> np.ndarray:
    """Days since 1970-01-01 (float, NaN = blank) -> DD-MON-YYYY; precision 'M' -> UN-MON-YYYY, 'Y' -> UN-UNK-YYYY."""
    days = np.asarray(days, dtype=float)
    out = np.full(days.shape, "", dtype=object)
    ok = ~np.isnan(days)
    if not ok.any():
        return out
    d = days[ok].astype("int64").astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(int) + 1970
    m = d.astype("datetime64[M]").astype(int) % 12
    dd = (d - d.astype("datetime64[M]")).astype(int) + 1
    ys = y.astype(str)
    day_s = np.char.zfill(dd.astype(str), 2).astype(object)
    mon = MONTHS[m].astype(object)
    if prec is not None:
        pr = np.asarray(prec)[ok]
        day_s = np.where(pr == "D", day_s, "UN")
        mon = np.where(pr == "Y", "UNK", mon)
    out[ok] = day_s + "-" + mon + "-" + ys.astype(object)
    return out


def times(minutes: np.ndarray) -> np.ndarray:
    m = np.asarray(minutes, dtype=int)
    return (np.char.zfill((m // 60).astype(str), 2).astype(object) + ":"
            + np.char.zfill((m % 60).astype(str), 2).astype(object))


def numbers(values: np.ndarray, decimals: int) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    out = np.full(v.shape, "", dtype=object)
    ok = ~np.isnan(v)
    out[ok] = np.char.mod(f"%.{decimals}f", v[ok]).astype(object)
    return out


def _pick(options: tuple[str, ...], index: np.ndarray) -> np.ndarray:
    arr = np.array(options, dtype=object)
    return arr[np.asarray(index) % len(arr)]


# ----------------------------------------------------------------------------------------------------------------
# the gather: child rows for a block of subjects


def _gather(child: pd.DataFrame, sub: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows of a design child table (sorted by pid) for each subject of `sub`, in subject order; returns the rows and,
    for each, the position of its subject in `sub`."""
    pids = child.pid.to_numpy()
    order = np.argsort(pids, kind="stable")
    counts = np.bincount(pids, minlength=int(sub.pid.max()) + 1 if len(sub) else 0)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    k = counts[sub.pid.to_numpy()]
    owner = np.repeat(np.arange(len(sub)), k)
    offs = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k)
    rows = order[np.repeat(starts[sub.pid.to_numpy()], k) + offs]
    return child.iloc[rows].reset_index(drop=True), owner


def _frame(sub: pd.DataFrame, owner: np.ndarray, **cols) -> pd.DataFrame:
    out = {"SITEID": sub.site.to_numpy()[owner], "SUBJID": sub.subjid.to_numpy()[owner]}
    out.update(cols)
    return pd.DataFrame(out)


def forms(design: Design, sub: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every raw form for this block of subjects (columns in form order are set by the writer from forms.yaml)."""
    p = design.patients
    P = p.iloc[sub.pid.to_numpy()].reset_index(drop=True)
    a1 = sub.a1.to_numpy()
    own = np.arange(len(sub))
    out: dict[str, pd.DataFrame] = {}

    out["enrol"] = _frame(sub, own, ICDAT=dates(a1 + P.ic), ENRDAT=dates(a1 + P.enr),
                          BRTHDAT=dates(P.birth.to_numpy() + sub["shift"].to_numpy()), SEX=P.sex, RACE=P.race,
                          ETHNIC=P.ethnic)

    # baseline: one row per part
    parts = []
    for part, day, m in (("A", P.enr.to_numpy(), np.ones(len(P), bool)), ("B", P.reg.to_numpy(), P.in_b.to_numpy())):
        s = "a" if part == "A" else "b"
        lines = P.lines_a.to_numpy() + (1 if part == "B" else 0)
        f = _frame(sub, own, PART=part, ASSDAT=dates(a1 + day), DIAGDAT=dates(a1 + P.diag, P.diag_prec.to_numpy()),
                   FTRTDAT=dates(a1 + P.ftrt), WHOPS=P[f"who_{s}"], ISS=P[f"iss_{s}"], EMD=P[f"emd_{s}"],
                   HEAVY=P.heavy, LIGHT=P.light, MEASDIS=P.measdis, NPRLINES=lines, ASCT=P.asct, ALLOSCT=P.allo,
                   HEIGHT=numbers(P.height, 0), WEIGHT=numbers(P[f"weight_{s}"], 1))
        parts.append(f[m].assign(_k=np.flatnonzero(m), _p=part))
    out["baseline"] = _ordered(parts)

    c, o = _gather(design.cyto, sub)
    tested = c.tested.to_numpy()
    out["cytogen"] = _frame(sub, o, CYDAT=np.where(tested, dates(a1[o] + c.day), ""),
                            METHOD=np.where(tested, c.method, ""), ABN=c.abn,
                            RESULT=np.where(tested, np.where(c.present, "Present", "Absent"), "Not done"))

    t, o = _gather(design.prior, sub)
    names = _drug_names(t)
    out["priortx"] = _frame(sub, o, LINE=t.line, DRUG=names, DRUGDEC=t.drug,
                            DRUGCLS=t.drug.map({d: v[0] for d, v in cat.DRUGS.items()}),
                            STDAT=dates(a1[o] + t.stday, t.prec.to_numpy()), ENDAT=dates(a1[o] + t.enday, t.prec.to_numpy()),
                            REFRACT=np.where(t.refract, "Yes", "No"))

    b = P.in_b.to_numpy()
    out["partb"] = _frame(sub, own[b], REGDAT=dates(a1[b] + P.reg.to_numpy()[b]),
                          REASON=P.route[b].map(cat.REASON_TEXT).to_numpy(), PHASE=P.phase.to_numpy()[b],
                          DOSELVL=P.doselvl.to_numpy()[b])

    d, o = _gather(design.dara, sub)
    out["dara"] = _frame(sub, o, PART=d.part, CYCLE=d.cycle, CDAY=d.cday, EXDAT=dates(a1[o] + d.day),
                         EXSTTIM=times(d.sttim), EXENTIM=times(d.entim), DOSE="16", DOSEU="mg/kg",
                         DOSEMG=numbers(d.dosemg, 0))

    x, o = _gather(design.atra, sub)
    out["atra"] = _frame(sub, o, CYCLE=x.cycle, STDAT=dates(a1[o] + x.stday), ENDAT=dates(a1[o] + x.enday),
                         DOSE=numbers(x.dose, 0), DOSEU="mg", FREQ="BID", DOSELVL=x.doselvl, ACTION=x.action)

    out["ae"] = _ae(design, sub, a1)
    out["resp"] = _resp(design, sub, a1)

    lb, o = _gather(design.labs, sub)
    dec = lb.test.map({k: v[2] for k, v in cat.LAB_TESTS.items()}).to_numpy()
    val = lb.value.to_numpy() * np.where(lb.test.isin(["ALB", "BMPC"]), 1.0, sub.jitter.to_numpy()[o])
    res = np.empty(len(lb), dtype=object)
    for k in np.unique(dec):
        m = dec == k
        res[m] = numbers(np.round(val[m], int(k)), int(k))
    out["labs"] = _frame(sub, o, PART=lb.part, LBDAT=dates(a1[o] + lb.day),
                         LBTEST=lb.test.map({k: v[0] for k, v in cat.LAB_TESTS.items()}), LBORRES=res,
                         LBORRESU=lb.test.map({k: v[1] for k, v in cat.LAB_TESTS.items()}))

    s, o = _gather(design.supp, sub)
    written = np.array([cat.SUPPORT_WRITTEN[t][i % len(cat.SUPPORT_WRITTEN[t])] for t, i in zip(s.type, s.name_i)],
                       dtype=object) if len(s) else np.array([], dtype=object)
    out["suppcare"] = _frame(sub, o, SCTYPE=written, SCSTDAT=dates(a1[o] + s.stday), SCENDAT=dates(a1[o] + s.enday))

    eot = []
    for part, col, reas, spec in (("A", "eot_a", "eot_a_reas", "eot_a_spec"), ("B", "eot_b", "eot_b_reas", "eot_b_spec")):
        m = P[col].notna().to_numpy()
        f = _frame(sub, own, PART=part, EOTDAT=dates(a1 + P[col]), EOTREAS=P[reas], EOTSPEC=P[spec])
        eot.append(f[m].assign(_k=np.flatnonzero(m), _p=part))
    out["eot"] = _ordered(eot)

    m = P.death.notna().to_numpy()
    out["death"] = _frame(sub, own[m], DTHDAT=dates(a1[m] + P.death.to_numpy()[m]), DTHCAUS=P.dthcaus.to_numpy()[m])

    q, o = _gather(design.subsq, sub)
    out["subsq"] = _frame(sub, o, LINE=q.line, REGIMEN=q.regimen, STDAT=dates(a1[o] + q.stday), BESTRESP=q.best,
                          PDDAT=dates(a1[o] + q.pdday))

    f, o = _gather(design.followup, sub)
    out["followup"] = _frame(sub, o, CONTDAT=dates(a1[o] + f.day), STATUS=f.status)
    return out


def _ordered(parts: list[pd.DataFrame]) -> pd.DataFrame:
    df = pd.concat(parts, ignore_index=True)
    return df.sort_values(["_k", "_p"], kind="stable").drop(columns=["_k", "_p"]).reset_index(drop=True)


def _drug_names(t: pd.DataFrame) -> np.ndarray:
    out = np.empty(len(t), dtype=object)
    for d, (_, names, _) in cat.DRUGS.items():
        m = (t.drug == d).to_numpy()
        out[m] = _pick(names, t.name_i.to_numpy()[m])
    return out


def _ae(design: Design, sub: pd.DataFrame, a1: np.ndarray) -> pd.DataFrame:
    e, o = _gather(design.ae, sub)
    terms = cat.AE_TERMS
    verb = np.empty(len(e), dtype=object)
    for k, v in terms.items():
        m = (e.term == k).to_numpy()
        verb[m] = _pick(v["verbatim"], e.verb_i.to_numpy()[m])
    pt, ptcd, soc, soccd = (e.term.map({k: v[level][i] for k, v in terms.items()})  # a lookup per term, not per row
                            for level, i in (("pt", 0), ("pt", 1), ("soc", 0), ("soc", 1)))
    grade = e.grade.to_numpy()
    spm = e.term.isin(["bcc", "mesothelioma"]).to_numpy()
    life = (grade == 4) & (e.ser.to_numpy() == "Y")
    ser = (e.ser.to_numpy() == "Y") | spm
    yn = lambda b: np.where(b, "Yes", "No")
    return _frame(sub, o, AESPID=e.aespid, AETERM=verb, AELLT=pt, AELLTCD=ptcd, AEPT=pt, AEPTCD=ptcd, AEHLT="",
                  AEHLTCD="", AEHLGT="", AEHLGTCD="", AESOC=soc, AESOCCD=soccd,
                  AESTDAT=dates(a1[o] + e.stday), AEENDAT=dates(a1[o] + e.enday, e.end_prec.to_numpy()),
                  AEONGO=e.ongo, AEGRADE=grade, AESER=yn(ser), AESDTH=yn(e.sdth.to_numpy() == "Y"), AESLIFE=yn(life),
                  AESHOSP=yn(e.hosp.to_numpy() == "Y"), AESDISAB="No", AESCONG="No", AESMIE=yn(spm),
                  AERELDAR=e.rel_dar, AERELATR=e.rel_atr, AEACNDAR=e.acn_dar, AEACNATR=e.acn_atr, AEOUT=e.out)


def _resp(design: Design, sub: pd.DataFrame, a1: np.ndarray) -> pd.DataFrame:
    v, o = _gather(design.visits, sub)
    cyc = v.cycle.to_numpy()
    # unscheduled visits are numbered within subject and part
    key = pd.Series(o).astype(str) + v.part.to_numpy()
    uns = pd.Series(cyc == 0)
    nth = uns.astype(int).groupby(key.to_numpy()).cumsum().to_numpy()
    visit = np.where(cyc == -1, "BASELINE", np.where(cyc == 0, "UNSCHEDULED " + nth.astype(str).astype(object),
                                                      "CYCLE " + cyc.astype(str).astype(object)))
    lvl = v.level.to_numpy()
    abbrev = np.isin(sub.site.to_numpy()[o], list(ABBREVIATING_SITES))
    short = np.array([cat.RESPONSE_TEXT.get(k, ("", ""))[0] for k in range(-1, 6)], dtype=object)
    full = np.array([cat.RESPONSE_TEXT.get(k, ("", ""))[1] for k in range(-1, 6)], dtype=object)
    idx = np.clip(lvl + 1, 0, 6)
    resp = np.where(lvl == -9, "", np.where(abbrev, short[idx], full[idx]))
    ms = sub.mscale.to_numpy()[o]
    return _frame(sub, o, PART=v.part, VISIT=visit, RSDAT=dates(a1[o] + v.day), SMPROT=numbers(v.smprot * ms, 1),
                  UMPROT=numbers(v.umprot * ms, 0), FLCKAP=numbers(v.flckap * ms, 1),
                  FLCLAM=numbers(v.flclam * ms, 1), SIFE=v.sife, RESP=resp)
