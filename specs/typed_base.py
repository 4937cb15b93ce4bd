"""The building blocks of the typed spec model (specs/typed.py): strict mappings, names, constants and `{expr: ...}`
values shared by every file's model."""

from __future__ import annotations

from typing import Union

from pydantic import BaseModel, ConfigDict

Condition = str  # the expression language of cdiscflow.core.expr, e.g. "AVALC in ('CR', 'PR') and ADT >= TRTSDT"
Name = str  # a variable or dataset name (upper case, 1-8 characters)
Scalar = Union[str, int, float, bool, None]


class Strict(BaseModel):
    """Every spec mapping: keys are exactly the fields (a typo is an error), values as declared.  A model's validator
    is built when it first validates (`defer_build`): the check validates whole files, so a model nested in them is
    not built on its own at import, nor is `SpecFiles` (only `cdiscflow spec schema` needs it)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, defer_build=True)


class ExprValue(Strict):
    """A value computed from each record: ``{expr: "ADT - TRTSDT + 1"}``."""

    expr: str


Value = Union[ExprValue, Scalar]  # a constant, or {expr: ...}
