"""The SDTM mapping engine: the study spec executed on raw forms.

    engine        map_study: forms -> domains, rejects, accounting, SUPP--, trial design, checks
    algorithms    the mapping keywords (assign, codelist decode, conditions ...)
    columns       a dataset's columns as the blocks build them (missing columns, a block's frame, blocks stacked)
    derivations   cross-dataset derivations (--SEQ, --DY, EPOCH, RFSTDTC ...)
    supp, visits  SUPP-- datasets, VISIT/VISITNUM
    state         the run's working state (StudyState) and how derivations read other datasets and raw forms
    bookkeeping   _rejects.csv, _accounting.csv, _findings.* beside the SDTM datasets
"""
