"""SDTM to ADaM derivations, admiral style: small pure functions (dataset in, new dataset out) and data-driven
engines for time-to-event parameters and best/confirmed response.

Naming follows pharmaverse admiral: ``derive_var_*`` adds one variable, ``derive_vars_*`` several,
``derive_param_*`` adds a parameter's records; the first argument is the dataset, other inputs are `dataset_add`,
`dataset_adsl` or `source_datasets`; outputs are named by `new_var(s)` or `set_values_to`.  Conditions are text in
a small expression language (`cdiscflow.core.expr`) so that events, sources and criteria can live in YAML specs.

Three parts: the verbs (`cdiscflow.adam.verbs`: study-independent derivations), the recipes
(`cdiscflow.adam.recipes`: one module per dataset, `adsl`, `adrs`, `adae`, `adbase`, `adtte`, configured by the
study's ``specs/<study>/adam/*.yaml``) and the orchestrator `cdiscflow.adam.study.derive_study(spec, sdtm) ->
AdamResult`, which runs the recipes.  Folders of datasets are read and written by `cdiscflow.usecases`.
"""

from cdiscflow.adam.verbs.checks import SUBJECT_KEYS
from cdiscflow.adam.verbs.dates import (
    convert_dtc_to_dt, derive_vars_aage, derive_vars_dt, derive_vars_dtm, derive_vars_duration, derive_vars_dy,
    parse_dtc,
)
from cdiscflow.adam.verbs.categories import VariableRule, apply_variable_rules, derive_vars_cat, load_variable_rules
from cdiscflow.core.expr import Expr, ExpressionError
from cdiscflow.adam.verbs.extreme import Event, derive_extreme_event, derive_vars_extreme_event, select_extreme_event
from cdiscflow.adam.verbs.flags import (
    ExtremeFlagRule, derive_var_extreme_flag, derive_var_relative_flag, derive_var_trtemfl, load_extreme_flag_rules,
)
from cdiscflow.adam.verbs.merge import (
    MergeRule, SummaryRule, combine_supp, derive_vars_merged, derive_vars_merged_summary, load_merge_rules,
    load_summary_rules,
)
from cdiscflow.adam.verbs.obs_number import derive_var_obs_number
from cdiscflow.adam.verbs.query import Query, TermGroup, derive_vars_query, load_queries
from cdiscflow.adam.verbs.periods import Period, create_period_dataset, derive_vars_period, derive_vars_period_by_date
from cdiscflow.adam.verbs.sources import DateRule, SourceData, load_date_rules
from cdiscflow.adam.verbs.response import (
    YN_AVAL, best_response_events, death_events, derive_param_confirmed_response, derive_var_worst_flag,
    last_assessment_events, progression_events, rate_events,
)
from cdiscflow.adam.verbs.response_criteria import (
    ResponseCriteria, available_criteria, load_response_criteria, response_criteria_from_spec,
)
from cdiscflow.adam.verbs.tte import (
    CensorSource, EventSource, TteParameter, derive_param_tte, load_tte_parameters, tte_parameters_from_spec,
)
from cdiscflow.adam.study import AdamResult, conform_to_spec, derive_study

__all__ = [
    "AdamResult", "DateRule", "ExtremeFlagRule", "MergeRule", "Period", "SourceData", "VariableRule",
    "apply_variable_rules", "conform_to_spec", "create_period_dataset", "derive_study", "derive_vars_cat",
    "derive_vars_period", "derive_vars_period_by_date", "load_date_rules", "load_extreme_flag_rules",
    "load_merge_rules", "load_variable_rules",
    "Query", "SummaryRule", "TermGroup", "derive_vars_merged_summary", "derive_vars_query", "load_queries",
    "load_summary_rules",
    "SUBJECT_KEYS", "CensorSource", "Event", "EventSource", "Expr", "ExpressionError", "ResponseCriteria",
    "TteParameter", "YN_AVAL", "available_criteria", "best_response_events", "combine_supp", "convert_dtc_to_dt",
    "death_events", "derive_extreme_event", "derive_param_confirmed_response", "derive_param_tte",
    "derive_var_extreme_flag", "derive_var_obs_number", "derive_var_relative_flag", "derive_var_trtemfl",
    "derive_var_worst_flag",
    "derive_vars_aage", "derive_vars_dt", "derive_vars_dtm", "derive_vars_duration", "derive_vars_dy",
    "derive_vars_extreme_event", "derive_vars_merged", "last_assessment_events", "load_response_criteria",
    "load_tte_parameters", "parse_dtc", "progression_events", "rate_events", "response_criteria_from_spec",
    "select_extreme_event",
    "tte_parameters_from_spec",
]
