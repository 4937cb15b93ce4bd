"""SDTM to ADaM derivations, admiral style: small pure functions (dataset in, new dataset out) and data-driven
engines for time-to-event parameters and best/confirmed response.

Naming follows pharmaverse admiral: ``derive_var_*`` adds one variable, ``derive_vars_*`` several,
``derive_param_*`` adds a parameter's records; the first argument is the dataset, other inputs are `dataset_add`,
`dataset_adsl` or `source_datasets`; outputs are named by `new_var(s)` or `set_values_to`.  Conditions are text in
a small expression language (`cdiscflow.adam.expr`) so that events, sources and criteria can live in YAML specs.
"""

from cdiscflow.adam._common import SUBJECT_KEYS
from cdiscflow.adam.dates import (
    convert_dtc_to_dt, derive_vars_aage, derive_vars_dt, derive_vars_dtm, derive_vars_duration, derive_vars_dy,
    parse_dtc,
)
from cdiscflow.adam.expr import Expr, ExpressionError
from cdiscflow.adam.extreme import Event, derive_extreme_event, derive_vars_extreme_event, select_extreme_event
from cdiscflow.adam.flags import derive_var_extreme_flag, derive_var_relative_flag, derive_var_trtemfl
from cdiscflow.adam.merge import combine_supp, derive_vars_merged
from cdiscflow.adam.response import (
    YN_AVAL, ResponseCriteria, available_criteria, best_response_events, death_events, derive_param_confirmed_response,
    derive_var_worst_flag, last_assessment_events, load_response_criteria, progression_events, rate_events,
    response_criteria_from_spec,
)
from cdiscflow.adam.tte import (
    CensorSource, EventSource, TteParameter, derive_param_tte, load_tte_parameters, tte_parameters_from_spec,
)

__all__ = [
    "SUBJECT_KEYS", "CensorSource", "Event", "EventSource", "Expr", "ExpressionError", "ResponseCriteria",
    "TteParameter", "YN_AVAL", "available_criteria", "best_response_events", "combine_supp", "convert_dtc_to_dt",
    "death_events", "derive_extreme_event", "derive_param_confirmed_response", "derive_param_tte",
    "derive_var_extreme_flag", "derive_var_relative_flag", "derive_var_trtemfl", "derive_var_worst_flag",
    "derive_vars_aage", "derive_vars_dt", "derive_vars_dtm", "derive_vars_duration", "derive_vars_dy",
    "derive_vars_extreme_event", "derive_vars_merged", "last_assessment_events", "load_response_criteria",
    "load_tte_parameters", "parse_dtc", "progression_events", "rate_events", "response_criteria_from_spec",
    "select_extreme_event",
    "tte_parameters_from_spec",
]
