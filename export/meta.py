"""Dataset and column metadata as the export files carry it.

One small model serves the three formats: the XPT writer needs name, label, SAS type, length and display format;
Dataset-JSON adds the item OID, the logical data type and the key sequence; define.xml adds everything else from
the study spec.  Readers return the same model, so a dataset read from XPT can be written as Dataset-JSON and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cdiscflow.export.xpt import XptVariable, format_kind
from cdiscflow.specs.model import DATATYPES

# define.xml DataType -> Dataset-JSON dataType for character variables
_DSJ_CHAR = {"text": "string", "date": "date", "datetime": "datetime", "time": "time"}
# Dataset-JSON dataType -> define.xml DataType (numbers and plain text)
_DEFINE_FROM_DSJ = {"string": "text", "integer": "integer", "float": "float", "double": "float", "decimal": "float",
                    "boolean": "integer", "URI": "text", "date": "date", "datetime": "datetime", "time": "time"}


@dataclass(frozen=True)
class ColumnMeta:
    name: str
    label: str
    datatype: str  # define.xml DataType: text, integer, float, date, datetime, time, partialDate ...
    length: int | None = None  # bytes written (character) / 8 (numeric); None when not known
    display_format: str = ""  # SAS display format, e.g. DATE9.
    key_sequence: int | None = None
    item_oid: str = ""
    numeric: bool | None = None  # None: from the datatype (define.xml date types are text unless numeric=True)

    @property
    def sas_type(self) -> str:
        if self.numeric is not None:
            return "Num" if self.numeric else "Char"
        return DATATYPES.get(self.datatype, "Char")

    @property
    def is_numeric(self) -> bool:
        return self.sas_type == "Num"

    @property
    def kind(self) -> str:
        """'date', 'datetime' or 'time' for a numeric SAS date/datetime/time (by display format), else ''."""
        return format_kind(self.display_format) if self.is_numeric else ""

    def dsj_types(self) -> tuple[str, str]:
        """(dataType, targetDataType) for Dataset-JSON 1.1; targetDataType '' when not needed."""
        if self.is_numeric:
            if self.kind:
                return self.kind, "integer"
            return ("integer" if self.datatype == "integer" else "float"), ""
        return _DSJ_CHAR.get(self.datatype, "string"), ""

    def xpt(self) -> XptVariable:
        length = 8 if self.is_numeric else (self.length or 1)
        return XptVariable(self.name, self.label, self.sas_type, length, self.display_format)

    @staticmethod
    def from_dsj(col: dict) -> "ColumnMeta":
        dtype, target = col["dataType"], col.get("targetDataType", "")
        numeric = target == "integer" or dtype in ("integer", "float", "double", "decimal", "boolean")
        if target == "integer":  # ADaM numeric date/datetime/time
            datatype = "integer"
            fmt = col.get("displayFormat") or {"date": "DATE9.", "datetime": "DATETIME20.", "time": "TIME8."}.get(dtype, "")
        else:
            datatype = _DEFINE_FROM_DSJ.get(dtype, "text")
            fmt = col.get("displayFormat", "")
        return ColumnMeta(
            name=col["name"], label=col.get("label", ""), datatype=datatype,
            length=8 if numeric else col.get("length"), display_format=fmt,
            key_sequence=col.get("keySequence"), item_oid=col.get("itemOID", ""), numeric=numeric,
        )


@dataclass(frozen=True)
class DatasetMeta:
    name: str
    label: str
    columns: tuple[ColumnMeta, ...]
    format: str = ""  # where it came from: xpt | json | spec
    path: str = ""
    encoding: str = ""  # the encoding the text was read with (XPT)
    created: str = ""  # ISO datetime the file states it was created
    item_group_oid: str = ""
    study_oid: str = ""
    metadata_version_oid: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnMeta:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name}")
