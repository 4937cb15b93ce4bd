"""The ADaM verbs: study-independent derivations, admiral style (a dataset in, a new dataset out).

One module per kind of derivation: `merge` (variables from another dataset, SUPPQUAL), `dates` (imputation, study
days, durations, age), `flags` (extreme/relative/treatment-emergent flags), `extreme` (first/last record, extreme
events), `tte` (time-to-event parameters), `response` (best and confirmed response, rates), `categories` (cases,
expressions and durations as variable rules), `periods` (analysis periods, phases), `sources` (the SDTM source
datasets of a study and their date rules), `query` (SMQ/CQ-style term groups), `obs_number` (sequence numbers such as
ASEQ).  `checks` and `ordering` hold the argument/input checks and the record ordering the verbs share.

A verb knows no study and no dataset recipe: the recipes (`cdiscflow.adam.recipes`) call verbs with the settings of
the study's spec.
"""
