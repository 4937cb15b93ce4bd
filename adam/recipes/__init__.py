"""The ADaM recipes: one module per dataset a study spec may declare (`adsl`, `adrs`, `adae`, `adbase`, `adtte`).

A recipe reads its section of the study spec (``specs/<study>/adam/<name>.yaml``) and builds its dataset from the
verbs of `cdiscflow.adam.verbs`; `cdiscflow.adam.study.derive_study` runs the recipes in dependency order.
"""
