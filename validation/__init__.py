"""Spec-generated schemas, conformance rules and Data Docs."""
