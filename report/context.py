"""What every part of the report works from: the ADaM datasets with their populations, and the numbers it computed.

`ReportData` evaluates the report spec's conditions on the ADaM frames (cached: many cells share a column's
condition) and knows each population's subjects.  `Stats` collects every number the report computes, addressed by
table, row, category, column and stat; it becomes `statistics.csv` and is what the reproduction check and the
tests read (never the HTML).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from cdiscflow.core.expr import evaluate_condition
from cdiscflow.core.errors import InputError
from cdiscflow.report.spec import Population

SUBJECT = "USUBJID"
MASK_CACHE = 32  # conditions kept evaluated: a table's columns and its current row; bounded for big datasets
STAT_COLUMNS = ("table", "row", "category", "column", "stat", "value", "row_label", "category_label", "column_label")


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


@dataclass
class Stats:
    """Every number of the report: (table, row, category, column, stat) -> value, with the labels people read."""

    records: list[dict[str, Any]] = field(default_factory=list)
    _index: dict[tuple[str, str, str, str, str], float] = field(default_factory=dict)
    _labels: dict[tuple[str, str, str, str], tuple[str, str, str]] = field(default_factory=dict)
    single_column: set[str] = field(default_factory=set)  # tables with one column: their cells need no column name
    stat_labels: dict[tuple[str, str], str] = field(default_factory=dict)  # (table, stat) -> how to name the stat

    def add(self, table: str, row: str, stat: str, value: float, *, category: str = "", column: str = "",
            row_label: str = "", category_label: str = "", column_label: str = "") -> None:
        value = float(value) if value is not None else math.nan
        key = (table, row, category, column, stat)
        if key in self._index:
            raise ValueError(f"report statistic {key} computed twice")
        self._index[key] = value
        labels = (row_label or row, category_label or category, column_label or column)
        self._labels.setdefault(key[:4], labels)
        self.records.append({"table": table, "row": row, "category": category, "column": column, "stat": stat,
                             "value": value, "row_label": labels[0], "category_label": labels[1],
                             "column_label": labels[2]})

    def get(self, table: str, row: str = "", category: str = "", column: str = "", stat: str = "n") -> float | None:
        """The value, or None when the report has no such number."""
        return self._index.get((table, row, category, column, stat))

    def label(self, table: str, row: str = "", category: str = "", column: str = "") -> str:
        """A readable name for a cell: row, category and column labels as the report prints them."""
        labels = list(self._labels.get((table, row, category, column), (row, category, column)))
        if table in self.single_column:
            labels[2] = ""
        return " / ".join(p.strip() for p in labels if p and p.strip())

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.records, columns=list(STAT_COLUMNS))

    def table(self, name: str) -> pd.DataFrame:
        frame = self.frame()
        return frame[frame["table"] == name].reset_index(drop=True)
