"""Validation: pandera schemas generated from the spec, a conformance rule catalogue, great-expectations Data Docs.

Public API:

    build_schema(dataset_spec, codelists=None, *, source="study") -> pandera DataFrameSchema
    validate_datasets(datasets, spec=None, *, define=None) -> Findings
    RULES                                   the conformance rule registry (rule ID -> Rule)
    SCHEMA_CHECKS                           the schema checks (SCH-... ID -> SchemaCheck)
    write_data_docs(datasets, spec, out_dir, *, findings=None) -> Path of index.html
    data_docs_sample(frame, max_rows=MAX_ROWS) -> the records the Data Docs of a dataset are made from
    write_data_docs_from_samples(samples, rows, spec, out_dir, *, findings=None, plans=None) -> the same pages
                                            from each dataset's sample and row count (what a worker is sent)
    run_validation(datasets, spec=None, *, define=None) -> ValidationResult (findings, plans, rule runs, timings)
    write_outputs(result, datasets, spec, out_dir) -> findings.csv/json, rules.csv, datadocs/ (out/validation/)
    validate_partition(datasets, spec=None, *, define=None) -> PartValidation (one partition of subjects)
    combine_validation(parts, final_rows, client_datasets, spec=None, ...) -> ValidationResult (== the whole study's)

A folder is validated by `cdiscflow.usecases.validate_folder` (`cdiscflow validate`).
"""

from importlib import import_module

# public name -> the module that defines it.  Imported on first use (PEP 562), as in cdiscflow.report: pandera,
# behind the schemas and the rules, takes ~0.25 s to import, and commands that only read a define.xml
# (`validation.define`, e.g. `cdiscflow adam` through the export layer's readers) need none of it.
_HOME = {
    **dict.fromkeys(("run_validation", "validate_datasets", "write_outputs"), "api"),
    **dict.fromkeys(("write_data_docs", "write_data_docs_from_samples", "data_docs_sample"), "datadocs"),
    **dict.fromkeys(("validate_partition", "combine_validation"), "partitioned"),
    "RULES": "rules",
    **dict.fromkeys(("SCHEMA_CHECKS", "build_schema"), "schema"),
}


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'cdiscflow.validation' has no attribute {name!r}")
    value = getattr(import_module(f"cdiscflow.validation.{_HOME[name]}"), name)
    globals()[name] = value
    return value


__all__ = ["RULES", "SCHEMA_CHECKS", "build_schema", "combine_validation", "data_docs_sample", "run_validation",
           "validate_datasets", "validate_partition", "write_data_docs", "write_data_docs_from_samples",
           "write_outputs"]
