"""What every part of the report reads: the ADaM datasets with the report's populations (`ReportData`).

`ReportData` evaluates the report spec's conditions on the ADaM frames (cached: many cells share a column's
condition) and knows each population's subjects.  The numbers computed from them go to `report.stats.Stats`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Mapping

import numpy as np
import pandas as pd

from cdiscflow.core.expr import evaluate_condition
from cdiscflow.core.errors import InputError
from cdiscflow.specs.report.model import SUBJECT, Population
MASK_CACHE = 32  # conditions kept evaluated: a table's columns and its current row; bounded for big datasets


class ReportData:
    """The ADaM datasets of one report, with cached condition masks and population memberships."""

    def __init__(self, adam: Mapping[str, pd.DataFrame], populations: Mapping[str, Population]):
        self.adam = {str(k).upper(): v for k, v in adam.items()}
        self.population_specs = dict(populations)
        self._masks: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()  # least recently used first
        self._members: dict[tuple[str, str], np.ndarray] = {}
        self._subjects: dict[str, pd.Index] = {}

    def frame(self, dataset: str) -> pd.DataFrame:
        try:
            frame = self.adam[dataset]
        except KeyError:
            have = ", ".join(sorted(self.adam)) or "none"
            raise InputError(f"report: the ADaM dataset {dataset} is missing (datasets given: {have})") from None
        if SUBJECT not in frame.columns:
            raise InputError(f"report: {dataset} has no {SUBJECT}")
        return frame

    def mask(self, dataset: str, condition: str | None) -> np.ndarray:
        """Records of `dataset` meeting `condition` (all records for None)."""
        if condition is None:
            return np.ones(len(self.frame(dataset)), dtype=bool)
        key = (dataset, condition)
        if key in self._masks:
            self._masks.move_to_end(key)
        else:
            self._masks[key] = evaluate_condition(condition, self.frame(dataset), dataset=dataset)
            if len(self._masks) > MASK_CACHE:
                self._masks.popitem(last=False)
        return self._masks[key]

    def subjects(self, population: str) -> pd.Index:
        """The population's subjects (sorted, unique)."""
        if population not in self._subjects:
            p = self.population_specs[population]
            frame = self.frame(p.dataset)
            ids = frame.loc[self.mask(p.dataset, p.where), SUBJECT]
            self._subjects[population] = pd.Index(sorted(ids.dropna().unique()))
        return self._subjects[population]

    def size(self, population: str) -> int:
        return len(self.subjects(population))

    def members(self, dataset: str, population: str) -> np.ndarray:
        """Records of `dataset` that belong to the population's subjects."""
        key = (dataset, population)
        if key not in self._members:
            self._members[key] = self.frame(dataset)[SUBJECT].isin(self.subjects(population)).to_numpy()
        return self._members[key]

    def count(self, dataset: str, mask: np.ndarray) -> int:
        """Distinct subjects among the records of `mask`."""
        return int(self.frame(dataset).loc[mask, SUBJECT].nunique())
