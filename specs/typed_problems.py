"""The typed model's errors as problems people can act on: file, key path, what was expected, a hint (a close key
name for a typo).  `specs.check` turns them into its problem lines."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from cdiscflow.specs.typed import CSV_MODELS, FILE_MODELS


@dataclass(frozen=True)
class TypedProblem:
    path: tuple  # keys (str) and 0-based indexes (int) into the document
    message: str
    hint: str = ""


def validate_document(kind: str, data: Any) -> list[TypedProblem]:
    """Every problem the model of `kind` finds in a parsed YAML document (one per location)."""
    model = FILE_MODELS[kind]
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return _problems(model, data, exc)
    return []


def validate_row(file: str, row: dict[str, str]) -> list[TypedProblem]:
    """Problems of one CSV row (cells as text; blank cells left out so defaults apply)."""
    model = CSV_MODELS[file]
    data = {k: v for k, v in row.items() if v != ""}
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return _problems(model, data, exc)
    return []


def _problems(model: type[BaseModel], data: Any, exc: ValidationError) -> list[TypedProblem]:
    """One problem per data location: the union branches pydantic tried are folded into the likeliest reason."""
    by_path: dict[tuple, list[dict]] = {}
    for err in exc.errors(include_url=False):
        path = _data_path(data, err["loc"], err["type"] in ("missing", "extra_forbidden"))
        by_path.setdefault(path, []).append(err)
    out = []
    for path, errors in by_path.items():
        if any(p2 != path and p2[: len(path)] == path for p2 in by_path):
            continue  # a deeper location explains it (a union branch that got further)
        extra = [e for e in errors if e["type"] == "extra_forbidden"]
        if extra:
            key = path[-1] if path else "?"
            allowed = _allowed_keys(model, data, path[:-1])
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else (f"expected one of: {', '.join(allowed)}" if allowed else "")
            out.append(TypedProblem(path, f"unknown key '{key}'", hint))
            continue
        err = errors[0]
        out.append(TypedProblem(path, _message(err, errors), _hint(err)))
    return out


def _message(err: dict, errors: list[dict]) -> str:
    if err["type"] == "missing":
        return "required key is missing"
    got = err.get("input")
    shown = repr(got) if not isinstance(got, (dict, list)) else ("a mapping" if isinstance(got, dict) else "a list")
    kinds = sorted({_expected(e) for e in errors if _expected(e)})
    if kinds:
        return f"expected {' or '.join(kinds)}, got {shown}"
    return f"{err['msg']} (got {shown})"


def _expected(err: dict) -> str:
    return {"string_type": "text", "int_type": "a whole number", "int_parsing": "a whole number",
            "float_type": "a number", "float_parsing": "a number", "bool_type": "true/false",
            "bool_parsing": "true/false", "dict_type": "a mapping", "list_type": "a list",
            "model_type": "a mapping", "model_attributes_type": "a mapping",
            "literal_error": f"one of {err.get('ctx', {}).get('expected', '')}",
            "value_error": err["msg"].removeprefix("Value error, "),
            "none_required": "nothing"}.get(err["type"], "")


def _hint(err: dict) -> str:
    if err["type"] == "string_type" and isinstance(err.get("input"), float):
        return "quote it: YAML reads 2.10 as the number 2.1 (write \"2.10\")"
    if err["type"] == "string_type" and isinstance(err.get("input"), bool):
        return "quote it: YAML reads an unquoted Yes/No/true/false as a boolean"
    if err["type"] == "missing":
        return "add it"
    return ""


def _data_path(data: Any, loc: tuple, names_key: bool = False) -> tuple:
    """The path into the document of an error location: union branch tags in `loc` are skipped."""
    path: list = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and any(str(k) == part for k in node):
            key = next(k for k in node if str(k) == part)
            path.append(key)
            node = node[key]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part.endswith("_") and part[:-1] in node:
            path.append(part[:-1])
            node = node[part[:-1]]
        elif not isinstance(node, (dict, list)):
            break
        elif names_key and isinstance(node, dict) and part not in node and _looks_like_key(part, loc):
            path.append(part)  # the missing / unknown key itself
            break
    return tuple(path)


def _looks_like_key(part: Any, loc: tuple) -> bool:
    return isinstance(part, str) and part == loc[-1]


def _allowed_keys(model: type[BaseModel], data: Any, path: tuple) -> list[str]:
    """The keys a model allows at `path` (the mapping holding an unknown key), found by walking the annotations."""
    import typing

    def keys_of(tp: Any) -> list[str]:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return [f.alias or n for n, f in tp.model_fields.items()]
        return []

    def step(tp: Any, part: Any, value: Any) -> list[Any]:
        origin = typing.get_origin(tp)
        if origin is Union:
            out = []
            for arm in typing.get_args(tp):
                out += step(arm, part, value)
            return out
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            for n, f in tp.model_fields.items():
                if part in (n, f.alias):
                    return [f.annotation]
            return []
        if origin in (list, tuple) and isinstance(part, int):
            return [typing.get_args(tp)[0]]
        if origin is dict:
            return [typing.get_args(tp)[1]]
        return []

    candidates: list[Any] = [model]
    node = data
    for part in path:
        nxt = []
        for tp in candidates:
            nxt += step(tp, part, node)
        candidates = nxt
        node = node[part] if isinstance(node, (dict, list)) else None
    flat: list[Any] = []
    for tp in candidates:
        flat += list(typing.get_args(tp)) if typing.get_origin(tp) is Union else [tp]
    models = [tp for tp in flat if keys_of(tp)]
    if not models:
        return []
    present = set(map(str, node)) if isinstance(node, dict) else set()
    best = max(models, key=lambda tp: len(present & set(keys_of(tp))))
    return keys_of(best)
