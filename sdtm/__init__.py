"""Raw EDC export -> SDTM, executed from the study spec.

    from cdiscflow.sdtm import map_study
    result = map_study(spec, raw_dir, on_error="strict")   # SdtmResult: datasets, provenance, findings, ...

Writing the SDTM folder is a use case: `cdiscflow.usecases.write_sdtm` / `map_raw_to_sdtm_folder` (`cdiscflow sdtm`).
"""

from cdiscflow.sdtm.mapping.engine import SdtmResult, map_study

__all__ = ["SdtmResult", "map_study"]
