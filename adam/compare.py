"""Compare derived ADaM datasets with a reference ADaM of the same study, value by value (`cdiscflow compare --sdtm`).

The ADaM counterpart of `cdiscflow.sdtm.compare`: the study's ADaM datasets are derived from an SDTM folder with
its spec, then paired with the reference files by the keys of the study's `comparison.yaml`, and every variable both
carry is compared record by record.  Each known difference is listed there with its count and reason; a difference
that is not listed (or a listed one that went away) is a problem, and `cdiscflow compare` exits 1.

    result = compare_adam_with_reference("specs/cdiscpilot01", "sdtm/", "pilot3/adam/", out_dir="out/compare")
    equal, compared = result.cell_agreement()

`specs/cdiscpilot01/comparison.yaml` (against the R Consortium submission pilot 3 XPTs) is the worked example.
"""

from __future__ import annotations

from pathlib import Path

from cdiscflow.sdtm.compare import StudyComparison, compare_datasets_with_reference, load_comparison


def compare_adam_with_reference(study, sdtm_dir: str | Path, reference_dir: str | Path,
                                out_dir: str | Path | None = None) -> StudyComparison:
    """Derive the study's ADaM datasets from the SDTM folder, compare them with the reference ADaM in
    `reference_dir`, and write `agreement.csv` and `differences.csv` into `out_dir` (if given)."""
    from cdiscflow.adam.study import derive_study, read_sdtm
    from cdiscflow.core.findings import Findings
    from cdiscflow.specs.load import load_study

    from cdiscflow.core.outputs import check_output

    spec = load_study(study)
    load_comparison(spec)  # a broken comparison.yaml stops before the derivations
    if out_dir is not None:
        check_output(out_dir, [("SDTM folder", sdtm_dir), ("reference folder", reference_dir),
                               ("spec folder", spec.path)])
    findings = Findings()
    result = derive_study(spec, read_sdtm(sdtm_dir, findings), findings=findings)
    return compare_datasets_with_reference(spec, result.datasets, reference_dir, out_dir)


__all__ = ["compare_adam_with_reference"]
