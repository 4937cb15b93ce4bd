"""cdiscflow: raw clinical-trial records to validated CDISC SDTM and ADaM datasets."""

__version__ = "0.1.0"
