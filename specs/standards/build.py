"""Rebuild the project's derived copies of the CDISC standards metadata.

The project ships trimmed copies (columns it reads, codelists the implementation guides reference) so that a fresh
clone needs nothing outside the repository.  This script documents how they were made; run it only to refresh them:

    python specs/standards/build.py ../shared/reference-data/standards
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def _codes(column: pd.Series) -> set[str]:
    out: set[str] = set()
    for cell in column.dropna():
        out.update(x.strip() for x in cell.replace(";", ",").split(",") if x.strip())
    return out


def build(src: Path) -> None:
    sdtm = pd.read_csv(src / "sdtmig-3.4" / "Variables.csv", dtype=str, keep_default_na=False)
    sdtm_out = sdtm.rename(
        columns={
            "Variable Order": "order", "Class": "class", "Dataset Name": "dataset", "Variable Name": "variable",
            "Variable Label": "label", "Type": "type", "CDISC CT Codelist Code(s)": "codelist_codes",
            "Role": "role", "Core": "core", "Described Value Domain(s)": "value_domain",
        }
    )[["dataset", "order", "variable", "label", "type", "codelist_codes", "value_domain", "role", "core", "class"]]
    sdtm_out.to_csv(HERE / "sdtmig-3.4.variables.csv", index=False)

    ds = pd.read_csv(src / "sdtmig-3.4" / "Datasets.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    ds.rename(columns={"Class": "class", "Dataset Name": "dataset", "Dataset Label": "label", "Structure": "structure"})[
        ["dataset", "label", "class", "structure"]
    ].to_csv(HERE / "sdtmig-3.4.datasets.csv", index=False)

    adam = pd.read_csv(src / "adamig-1.3" / "Variables.csv", dtype=str, keep_default_na=False)
    adam_out = adam.rename(
        columns={
            "Data Structure Name": "structure", "Variable Set": "variable_set", "Variable Name": "variable",
            "Variable Label": "label", "Type": "type", "CDISC CT Codelist Code(s)": "codelist_codes", "Core": "core",
        }
    )[["structure", "variable_set", "variable", "label", "type", "codelist_codes", "core"]]
    adam_out.to_csv(HERE / "adamig-1.3.variables.csv", index=False)

    wanted = _codes(sdtm["CDISC CT Codelist Code(s)"]) | _codes(adam["CDISC CT Codelist Code(s)"])
    ct = pd.read_csv(src / "ct" / "SDTM_Terminology_2025-03-28.txt.gz", sep="\t", dtype=str, keep_default_na=False)
    # Codelists the study specs use beyond the IG references (trial-summary parameter values, oncology results ...).
    extra = {"C66737", "C96785", "C124298", "C96782", "C96781", "C78735", "C66788", "C74558", "C66727", "C114118",
             "C66728", "C99079", "C142179", "C71113", "C71620", "C66726", "C66729", "C66781", "C66742", "C66767",
             "C66768", "C66769", "C66731", "C74457", "C66790", "C66734", "C67152", "C66738", "C66785", "C66789",
             "C65047", "C67154", "C74456", "C101865", "C124296", "C179588", "C127269", "C127262", "C128689"}
    keep = ct["Codelist Code"].isin(wanted | extra) | ct["Code"].isin(wanted | extra)
    ct = ct.loc[keep].drop(columns=["CDISC Definition"])
    ct.to_csv(HERE / "ct-sdtm-2025-03-28.csv.gz", index=False, compression={"method": "gzip", "mtime": 0})

    for name, out in (("ADaM_CT_2025-09-26.csv", "ct-adam-2025-09-26.csv"),
                      ("Define-XML_CT_2025-09-26.csv", "ct-define-xml-2025-09-26.csv")):
        t = pd.read_csv(src / "ct" / name, dtype=str, keep_default_na=False)
        t.drop(columns=["CDISC Definition", "Standard and Date"]).to_csv(HERE / out, index=False)


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference-data/standards"))
