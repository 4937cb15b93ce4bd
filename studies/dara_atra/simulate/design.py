"""The calibrated 63-patient DARA-ATRA design: a patient table plus child tables of planned records.

SYNTHETIC.  `build_design(facts, seed)` turns the hand-calibrated patient courses (profiles.py) and the published
counts (specs/dara_atra/facts.yaml) into tables whose dates are integer day offsets from each patient's first Part A
daratumumab infusion (day 0; `patients.a1` holds that calendar day as days since 1970-01-01).  Exact counts are
allocated deterministically and then shuffled across patients with the seed; nothing is drawn from probabilities.
records.py expands (and, for --subjects, tiles) these tables into the raw forms.

The design is patient-level work on 63 rows: a few steps build each patient's short planned visit list in a loop over
the 63 profiles; everything that scales with the number of subjects (tiling, calendar, record expansion, writing) is
vectorised in records.py.

One module per part of the design, in the order build_design runs them: course.py (patients, visit timeline),
traits.py (Table 1 traits, ages, history), disease.py (labs, cytogenetics, prior therapy), dosing.py, response.py
(M-protein), events.py (adverse events, supportive therapy), followup.py (subsequent therapy, survival); steps.py
holds what they share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from cdiscflow.studies.dara_atra.simulate.course import _patients, _timeline
from cdiscflow.studies.dara_atra.simulate.disease import _cytogenetics, _labs, _prior_therapy
from cdiscflow.studies.dara_atra.simulate.dosing import _dosing
from cdiscflow.studies.dara_atra.simulate.events import _adverse_events
from cdiscflow.studies.dara_atra.simulate.followup import _followup, _subsequent
from cdiscflow.studies.dara_atra.simulate.profiles import load_profiles
from cdiscflow.studies.dara_atra.simulate.response import _mprotein
from cdiscflow.studies.dara_atra.simulate.steps import _day, _retry
from cdiscflow.studies.dara_atra.simulate.traits import _ages, _history, _traits


@dataclass
class Design:
    """All tables of the design; every `*day*` column is days from the patient's first Part A infusion."""

    patients: pd.DataFrame
    visits: pd.DataFrame
    dara: pd.DataFrame
    atra: pd.DataFrame
    labs: pd.DataFrame
    cyto: pd.DataFrame
    prior: pd.DataFrame
    ae: pd.DataFrame
    supp: pd.DataFrame
    subsq: pd.DataFrame
    followup: pd.DataFrame
    cut: int  # data cut as days since 1970-01-01


# ----------------------------------------------------------------------------------------------------------------
def build_design(facts: Mapping[str, Any], seed: int) -> Design:
    """The whole 63-patient design for this seed (see module docstring)."""
    cut = _day(str(facts["datacut"]))
    p = _patients(load_profiles(), cut)
    visits = _timeline(p, seed)
    _traits(p, facts, seed)
    _retry(_ages, p, facts, seed)
    _retry(_history, p, facts, seed)
    labs = _labs(p, facts, seed)
    cyto = _cytogenetics(p, facts, seed)
    prior = _retry(_prior_therapy, p, facts, seed)
    dara, atra = _dosing(p, seed)
    visits = _mprotein(p, visits, seed)
    ae, supp = _adverse_events(p, facts, dara, atra, seed)
    subsq = _subsequent(p, facts, seed)
    followup = _followup(p, seed)
    _check(p, visits, dara, ae, supp, subsq, followup)
    return Design(p, visits, dara, atra, labs, cyto, prior, ae, supp, subsq, followup, cut)


# ----------------------------------------------------------------------------------------------------------------
def _check(p, visits, dara, ae, supp, subsq, fu) -> None:
    """Design invariants: nothing after the cut or after death, AE windows respected."""
    cutd = p.cutd.to_numpy()
    death = p.death.fillna(1e9).to_numpy()
    for name, frame, col in (("visit", visits, "day"), ("infusion", dara, "day"), ("AE", ae, "stday"),
                             ("support", supp, "stday"), ("subsequent", subsq, "stday"), ("follow-up", fu, "day")):
        d = frame[col].to_numpy()
        i = frame.pid.to_numpy()
        bad = d > cutd[i]
        if name not in ("follow-up",):
            bad |= d > death[i]
        if bad.any():
            j = np.flatnonzero(bad)[0]
            raise RuntimeError(f"design: {name} of profile {p.key[i[j]]} on day {d[j]} is after the cut or death")
