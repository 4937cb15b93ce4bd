"""Study-specific code that is not part of the generic library (test-data generators calibrated to one trial).

The generic layers (core, specs, sdtm, adam, validation, export, report) never import from here; a study package sits
at the top level beside pipeline.py and may use any layer.  A study's metadata stays in specs/<study>/.
"""
