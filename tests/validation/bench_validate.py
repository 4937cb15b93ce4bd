"""Timing of the validation layer on a large synthetic VALTEST study (not collected by pytest).

    .venv/bin/python tests/validation/bench_validate.py --subjects 100000 [--profile] [--data-docs]

Builds DM/AE/EX/DS/RS/TA/TE/ADSL/ADRS/ADTTE frames for N invented subjects (about 35 records per subject), plants
defects in about 0.1 % of AE/EX records (codelist, calendar date, study day) so the failure paths are timed too,
then times `run_validation` per phase.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def _iso(days: np.ndarray) -> pd.Series:
    return pd.Series((np.datetime64("2020-01-01") + days.astype("timedelta64[D]")).astype(str), dtype="str")


def synthetic_study(n: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    subj = pd.Series([f"V-{i:06d}" for i in range(n)], dtype="str")
    start = rng.integers(0, 700, n)  # first dose, days after 2020-01-01
    last = start + rng.integers(30, 300, n)

    def per_subject(k_mean: int):
        k = rng.poisson(k_mean, n) + 1
        idx = np.repeat(np.arange(n), k)
        seq = (pd.Series(idx).groupby(idx).cumcount() + 1).to_numpy().astype(float)
        return idx, seq

    def sdtm(domain: str, idx: np.ndarray, columns: dict) -> pd.DataFrame:
        return pd.DataFrame({"STUDYID": "VALTEST", "DOMAIN": domain, "USUBJID": subj.to_numpy()[idx], **columns})

    dm = sdtm("DM", np.arange(n), {
        "SUBJID": pd.Series(np.char.mod("%06d", np.arange(n)), dtype="str").str[-3:],
        "RFSTDTC": _iso(start), "RFENDTC": _iso(last + 30), "RFXSTDTC": _iso(start), "RFXENDTC": _iso(last),
        "DTHDTC": pd.Series(np.nan, index=range(n), dtype="str"), "DTHFL": pd.Series(np.nan, index=range(n), dtype="str"),
        "SITEID": "101", "AGE": rng.integers(40, 85, n).astype(float), "AGEU": "YEARS",
        "SEX": rng.choice(["F", "M"], n), "ARMCD": "A", "ARM": "Daratumumab", "ACTARMCD": "A", "ACTARM": "Daratumumab",
        "COUNTRY": "NLD"})

    idx, seq = per_subject(9)
    ae_day = start[idx] + rng.integers(0, 200, len(idx))
    ae_dy = (ae_day - start[idx] + 1).astype(float)
    ae = sdtm("AE", idx, {
        "AESEQ": seq, "AETERM": rng.choice([f"TERM {i}" for i in range(3000)], len(idx)),
        "AEDECOD": rng.choice([f"Preferred term {i}" for i in range(800)], len(idx)),
        "AESEV": rng.choice(["MILD", "MODERATE", "SEVERE"], len(idx)), "AESER": "N", "AESDTH": "N", "AESHOSP": "N",
        "AEOUT": "RECOVERED/RESOLVED", "EPOCH": "TREATMENT", "AESTDTC": _iso(ae_day), "AEENDTC": _iso(ae_day + 3),
        "AESTDY": ae_dy, "AEENDY": ae_dy + 3, "AEDUR": "P4D"})
    ae = ae.drop_duplicates(["USUBJID", "AEDECOD", "AESTDTC"]).reset_index(drop=True)
    ae["AESEQ"] = (ae.groupby("USUBJID").cumcount() + 1).astype(float)

    idx, seq = per_subject(9)
    ex_day = np.minimum(start[idx] + (seq.astype(int) - 1) * 7, last[idx])
    ex_day[seq == 1] = start[idx][seq == 1]
    ex = sdtm("EX", idx, {
        "EXSEQ": seq, "EXTRT": "DARATUMUMAB", "EXDOSE": 16.0, "EXDOSU": "mg/kg", "EPOCH": "TREATMENT",
        "EXSTDTC": _iso(ex_day), "EXENDTC": _iso(ex_day), "EXSTDY": (ex_day - start[idx] + 1).astype(float),
        "EXENDY": (ex_day - start[idx] + 1).astype(float)})
    ex = ex.drop_duplicates(["USUBJID", "EXSTDTC"]).reset_index(drop=True)
    ex["EXSEQ"] = (ex.groupby("USUBJID").cumcount() + 1).astype(float)
    dm["RFXENDTC"] = dm["USUBJID"].map(ex.groupby("USUBJID")["EXSTDTC"].max())

    ds = sdtm("DS", np.arange(n), {
        "DSSEQ": 1.0, "DSTERM": "COMPLETED", "DSDECOD": "COMPLETED", "DSCAT": "DISPOSITION EVENT", "EPOCH": "FOLLOW-UP",
        "DSSTDTC": _iso(last + 30), "DSSTDY": (last + 30 - start + 1).astype(float)})

    idx, seq = per_subject(4)
    rs_day = start[idx] + seq.astype(int) * 28
    resp = rng.choice(["sCR", "CR", "VGPR", "PR", "MR", "SD", "PD"], len(idx))
    rs = sdtm("RS", idx, {
        "RSSEQ": seq, "RSTESTCD": "OVRLRESP", "RSTEST": "Overall Response", "RSCAT": "KUMAR IMWG 2016",
        "RSORRES": resp, "RSSTRESC": resp, "EPOCH": "TREATMENT", "RSDTC": _iso(rs_day),
        "RSDY": (rs_day - start[idx] + 1).astype(float)})

    ta = pd.DataFrame({"STUDYID": "VALTEST", "DOMAIN": "TA", "ARMCD": "A", "ARM": "Daratumumab",
                       "TAETORD": [1.0, 2.0, 3.0], "ETCD": ["SCRN", "DARA", "FU"],
                       "ELEMENT": ["Screening", "Daratumumab", "Follow-up"],
                       "EPOCH": ["SCREENING", "TREATMENT", "FOLLOW-UP"]})
    te = pd.DataFrame({"STUDYID": "VALTEST", "DOMAIN": "TE", "ETCD": ["SCRN", "DARA", "FU"],
                       "ELEMENT": ["Screening", "Daratumumab", "Follow-up"],
                       "TESTRL": ["Informed consent", "First dose", "End of treatment"]})

    day0 = pd.Timestamp("2020-01-01")
    trtsdt = (day0 + pd.to_timedelta(start, unit="D")).astype("datetime64[s]")
    adsl = pd.DataFrame({"STUDYID": "VALTEST", "USUBJID": subj, "SUBJID": dm["SUBJID"], "SITEID": "101",
                         "AGE": dm["AGE"], "AGEU": "YEARS", "SEX": dm["SEX"], "ARM": "Daratumumab",
                         "TRT01P": "Daratumumab", "TRTSDT": trtsdt, "SAFFL": "Y",
                         "DTHFL": pd.Series(np.nan, index=range(n), dtype="str")})
    rank = {"sCR": 1, "CR": 2, "VGPR": 3, "PR": 4, "MR": 5, "SD": 6, "PD": 8}
    ovr = rs[["USUBJID", "RSSTRESC", "RSDTC"]].rename(columns={"RSSTRESC": "AVALC"})
    ovr["ADT"] = pd.to_datetime(ovr["RSDTC"]).astype("datetime64[s]")
    ovr["_r"] = ovr["AVALC"].map(rank)
    bor = ovr.sort_values(["USUBJID", "_r", "ADT"]).drop_duplicates("USUBJID")
    adrs = pd.concat([ovr.assign(PARAMCD="OVR", PARAM="Overall Response by Investigator"),
                      bor.assign(PARAMCD="BOR", PARAM="Best Overall Response by Investigator")], ignore_index=True)
    adrs = adrs.drop_duplicates(["USUBJID", "PARAMCD", "ADT"])
    adrs = adrs.assign(STUDYID="VALTEST", ANL01FL="Y")[["STUDYID", "USUBJID", "PARAMCD", "PARAM", "AVALC", "ADT",
                                                          "ANL01FL"]].reset_index(drop=True)
    adt = trtsdt + pd.to_timedelta(last - start + 30, unit="D")
    aval = (last - start + 30 + 1).astype(float)
    adtte = pd.concat([pd.DataFrame({"STUDYID": "VALTEST", "USUBJID": subj, "PARAMCD": code, "PARAM": label,
                                     "AVAL": aval, "STARTDT": trtsdt, "ADT": adt, "CNSR": 1.0, "EVNTDESC": "ALIVE",
                                     "CNSDTDSC": "LAST KNOWN ALIVE DATE"})
                       for code, label in (("OS", "Overall Survival"), ("PFS", "Progression-Free Survival"))],
                      ignore_index=True)

    # plant ~0.1 % defects in AE and EX
    bad = rng.random(len(ae)) < 0.001
    ae.loc[bad, "AESEV"] = "mild"
    bad = rng.random(len(ae)) < 0.001
    ae.loc[bad, "AESTDTC"] = "2021-02-30"
    bad = rng.random(len(ex)) < 0.001
    ex.loc[bad, "EXSTDY"] = ex.loc[bad, "EXSTDY"] + 1
    return {"TA": ta, "TE": te, "DM": dm, "AE": ae, "EX": ex, "DS": ds, "RS": rs, "ADSL": adsl, "ADRS": adrs,
            "ADTTE": adtte}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--data-docs", action="store_true")
    args = parser.parse_args()

    from cdiscflow.specs.load import load_study
    from cdiscflow.validation import run_validation

    t = time.perf_counter()
    data = synthetic_study(args.subjects)
    rows = {k: len(v) for k, v in data.items()}
    print(f"built {sum(rows.values()):,} records in {time.perf_counter() - t:.1f} s: {rows}")
    spec = load_study(HERE / "study")
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    t = time.perf_counter()
    result = run_validation(data, spec)
    wall = time.perf_counter() - t
    if prof:
        prof.disable()
    print(f"validated in {wall:.1f} s; findings {result.findings.counts()}")
    for k, v in sorted(result.timings.items(), key=lambda kv: -kv[1]):
        print(f"  {k:<14} {v:6.2f} s")
    t = time.perf_counter()
    frame = result.findings.frame()
    print(f"findings table ({len(frame):,} rows) in {time.perf_counter() - t:.2f} s")
    print(frame.groupby(["rule_id", "dataset"]).size().to_string())
    if args.data_docs:
        import tempfile

        from cdiscflow.validation import write_data_docs

        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            write_data_docs(data, spec, Path(tmp) / "dd", findings=result.findings, plans=result.plans)
            print(f"data docs in {time.perf_counter() - t:.1f} s")
    if prof:
        pstats.Stats(prof, stream=sys.stdout).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
