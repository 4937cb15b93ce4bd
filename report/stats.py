"""Every number the report computes (`Stats`): addressed by table, row, category, column and stat.

It becomes `statistics.csv` and is what the reproduction check and the tests read (never the HTML).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

STAT_COLUMNS = ("table", "row", "category", "column", "stat", "value", "row_label", "category_label", "column_label")


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
