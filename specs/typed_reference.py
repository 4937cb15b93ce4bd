"""The typed spec model as documents: the JSON Schema of `SpecFiles` (`cdiscflow spec schema`) and
docs/spec-reference.md (every key of every file, with the embedded studies' examples)."""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel

from cdiscflow.specs.typed import CSV_MODELS, FILE_MODELS, SpecFiles, file_kind


def schema_text() -> str:
    """The JSON Schema of every spec file kind (`SpecFiles`), as stable, sorted JSON text."""
    import json

    schema = SpecFiles.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cdiscflow study spec"
    return json.dumps(schema, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def reference_markdown() -> str:
    """docs/spec-reference.md: every key of every spec file kind (type, required, description), from the model."""
    import typing

    def type_name(tp: Any) -> str:
        origin = typing.get_origin(tp)
        if origin is Union:
            return " or ".join(type_name(a) for a in typing.get_args(tp) if a is not type(None))
        if origin in (list, tuple):
            return f"list of {type_name(typing.get_args(tp)[0])}"
        if origin is dict:
            k, v = typing.get_args(tp)
            return f"mapping {type_name(k)} -> {type_name(v)}"
        if origin is Literal:
            return " / ".join(repr(a) for a in typing.get_args(tp))
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return f"[{tp.__name__}](#{tp.__name__.lower()})"
        return getattr(tp, "__name__", str(tp)).replace("NoneType", "null")

    seen: list[type[BaseModel]] = []

    def collect(tp: Any) -> None:
        for arg in typing.get_args(tp):
            collect(arg)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and tp not in seen and tp.model_fields:
            seen.append(tp)
            for f in tp.model_fields.values():
                collect(f.annotation)

    examples = _examples()
    lines = ["# Spec reference (generated from specs/typed.py: `cdiscflow spec schema` writes the JSON Schema)", "",
             "Every key of every spec file. A key not listed is an error (`cdiscflow check-spec` names it, with",
             "the closest known key). Examples are the first use in the embedded studies (`specs/*/`).", "",
             "| file | model |", "|---|---|"]
    for kind, model in [*FILE_MODELS.items(), *CSV_MODELS.items()]:
        lines.append(f"| `{kind}` | [{model.__name__}](#{model.__name__.lower()}) |")
        collect(model)
    for model in seen:
        lines += ["", f"## {model.__name__}", "", (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else "",
                  "", "| key | type | required | description | example |", "|---|---|---|---|---|"]
        for name, f in model.model_fields.items():
            key = f.alias or name
            example = examples.get((model.__name__, key), "")
            example = f"`{example}`" if example else ""
            lines.append(f"| `{key}` | {type_name(f.annotation)} | {'yes' if f.is_required() else ''} "
                         f"| {f.description or ''} | {example} |")
    lines += ["", *_conditions_section()]
    return "\n".join(lines) + "\n"


def _conditions_section() -> list[str]:
    """The one condition language, as specs.conditions documents it (one text, two places)."""
    from cdiscflow.specs import conditions

    doc = (conditions.__doc__ or "").strip().splitlines()
    return ["## Conditions", "", *(line.rstrip() for line in doc)]


def _examples() -> dict[tuple[str, str], str]:
    """(model name, key) -> the first value the embedded studies give it, as one short line of YAML."""
    import csv
    import typing

    import yaml

    from cdiscflow.specs.load import embedded_studies
    from cdiscflow.specs.model import SPECS_DIR
    from cdiscflow.specs.safe_yaml import load_yaml

    out: dict[tuple[str, str], str] = {}

    def shown(value: Any) -> str:
        text = yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True).strip()
        text = text.removesuffix("...").strip().replace("|", "\\|").replace("`", "'")
        return text if len(text) <= 70 else text[:67] + "..."

    def walk(tp: Any, value: Any) -> None:
        origin = typing.get_origin(tp)
        if origin is Union:
            arms = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in arms if isinstance(a, type) and issubclass(a, BaseModel)]
            if isinstance(value, dict) and models:
                walk(max(models, key=lambda m: len(set(map(str, value)) & set(_keys(m)))), value)
            elif isinstance(value, list):
                for a in arms:
                    if typing.get_origin(a) in (list, tuple):
                        walk(a, value)
                        break
            return
        if origin in (list, tuple) and isinstance(value, list):
            for v in value:
                walk(typing.get_args(tp)[0], v)
        elif origin is dict and isinstance(value, dict):
            for v in value.values():
                walk(typing.get_args(tp)[1], v)
        elif isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(value, dict):
            fields = {f.alias or n: f for n, f in tp.model_fields.items()}
            for k, v in value.items():
                if k in fields:
                    out.setdefault((tp.__name__, k), shown(v))
                    walk(fields[k].annotation, v)

    for name in embedded_studies():
        root = SPECS_DIR / name
        for p in sorted([*root.glob("*.yaml"), *root.glob("sdtm/*.yaml"), *root.glob("adam/*.yaml")]):
            kind = file_kind(p.relative_to(root).as_posix())
            if kind is not None and kind != "facts.yaml":
                walk(FILE_MODELS[kind], load_yaml(p)[0])
        for file, model in CSV_MODELS.items():
            if (root / file).is_file():
                with open(root / file, encoding="utf-8-sig", newline="") as fh:
                    for row in csv.DictReader(fh):
                        for k, v in row.items():
                            if k and v and v.strip():
                                out.setdefault((model.__name__, k.strip()), shown(v.strip()))
    return out


def _keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]
