"""Raw EDC export -> SDTM, executed from the study spec.

    from cdiscflow.sdtm import map_study, write_sdtm
    result = map_study(spec, raw_dir, on_error="strict")   # SdtmResult: datasets, provenance, findings, ...
    write_sdtm(result, spec, out_dir)                      # dm.xpt ... _rejects.csv _accounting.csv _findings.*
"""

from cdiscflow.sdtm.engine import SdtmResult, map_study
from cdiscflow.sdtm.output import write_sdtm

__all__ = ["SdtmResult", "map_study", "write_sdtm", "convert"]


def convert(study=None, raw_dir=None, out_dir="out/sdtm", *, on_error: str = "strict") -> SdtmResult:
    """Load the study spec, map the raw export and write the SDTM folder (what `cdiscflow sdtm` runs)."""
    from cdiscflow.core.atomic import staged_output
    from cdiscflow.core.outputs import check_output
    from cdiscflow.specs.check import require_valid_spec

    spec = require_valid_spec(study)  # refuses a spec with problems before reading the raw export
    check_output(out_dir, [("raw export", raw_dir if raw_dir is not None else spec.raw_dir),
                           ("spec folder", spec.path)])
    with staged_output(out_dir, owned_by=("_accounting.csv",)) as build:  # out_dir: the previous folder or this one
        result = map_study(spec, raw_dir, on_error=on_error, compact_text=True)  # written as is: no plain text needed
        write_sdtm(result, spec, build)
    return result
