"""Validation: pandera schemas generated from the spec, a conformance rule catalogue, great-expectations Data Docs.

Public API:

    build_schema(dataset_spec, codelists=None, *, source="study") -> pandera DataFrameSchema
    validate_datasets(datasets, spec=None, *, define=None) -> Findings
    RULES                                   the conformance rule registry (rule ID -> Rule)
    SCHEMA_CHECKS                           the schema checks (SCH-... ID -> SchemaCheck)
    write_data_docs(datasets, spec, out_dir, *, findings=None) -> Path of index.html
    run_validation(datasets, spec=None, *, define=None) -> ValidationResult (findings, plans, rule runs, timings)
    write_outputs(result, datasets, spec, out_dir) -> findings.csv/json, rules.csv, datadocs/ (out/validation/)

A folder is validated by `cdiscflow.usecases.validate_folder` (`cdiscflow validate`).
"""

from cdiscflow.validation.api import run_validation, validate_datasets, write_outputs
from cdiscflow.validation.datadocs import write_data_docs
from cdiscflow.validation.rules import RULES
from cdiscflow.validation.schema import SCHEMA_CHECKS, build_schema

__all__ = ["RULES", "SCHEMA_CHECKS", "build_schema", "run_validation", "validate_datasets",
           "write_data_docs", "write_outputs"]
