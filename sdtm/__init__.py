"""Raw EDC export to SDTM, executed from the study spec."""
