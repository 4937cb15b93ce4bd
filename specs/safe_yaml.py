"""Reading a spec's YAML files safely, remembering where every key is.

    data, lines = load_yaml(path, rel="adam/adsl.yaml")

* Only the safe YAML subset (no Python objects), as before.
* A file larger than `MAX_YAML_BYTES` is refused before it is parsed.
* Aliases are counted while the document is composed: a document whose aliases would expand to more than
  `MAX_EXPANDED_NODES` nodes (the "billion laughs" alias bomb: a few lines of anchors that double at every level)
  is refused before anything walks it, with a clear error, instead of exhausting memory later.
* `lines` maps the path of every mapping key and sequence item to its 1-based line: ``("merges", 0, "filter")``
  -> 14.  `check-spec` uses it to say on which line a problem is.

Problems raise `YamlProblem` (a ValueError) carrying the line when the parser knows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_YAML_BYTES = 5_000_000  # a hand-written spec file is a few kB; 5 MB is far beyond any real one
MAX_EXPANDED_NODES = 200_000  # nodes after expanding every alias (the largest embedded file has ~6,000)

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed (about 10x faster), same result
Path_ = tuple  # a path into the document: mapping keys (str) and sequence indexes (int, 0-based)


class YamlProblem(ValueError):
    """A YAML file that cannot be used; `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


def load_yaml(path: Path, rel: str | None = None) -> tuple[Any, dict[Path_, int]]:
    """The document in `path` and the line of every key; YamlProblem when it is too large, not YAML, or an alias
    bomb."""
    rel = rel or path.name
    size = path.stat().st_size
    if size > MAX_YAML_BYTES:
        raise YamlProblem(f"{rel} is {size:,} bytes; a spec file may have at most {MAX_YAML_BYTES:,}")
    return parse_yaml(path.read_text(encoding="utf-8"), rel)


def parse_yaml(text: str, rel: str = "document") -> tuple[Any, dict[Path_, int]]:
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        expanded = _expanded_size(node, {}, MAX_EXPANDED_NODES)
        if expanded > MAX_EXPANDED_NODES:
            raise YamlProblem(f"{rel}: its aliases (*name) expand to more than {MAX_EXPANDED_NODES:,} values; "
                              "a spec never needs that many (is it an alias bomb?)", node.start_mark.line + 1)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise YamlProblem(f"not valid YAML ({getattr(exc, 'problem', None) or exc})",
                          mark.line + 1 if mark else None) from None
    finally:
        loader.dispose()
    lines: dict[Path_, int] = {}
    _record_lines(node, (), lines, set())
    return data, lines


def _expanded_size(node: Node, memo: dict[int, int], limit: int) -> int:
    """How many nodes the document has with every alias expanded (shared nodes counted once per use); stops
    counting above `limit`.  Memoised per node, so an alias bomb costs a few hundred steps, not billions."""
    key = id(node)
    if key in memo:
        return memo[key]
    total = 1
    if isinstance(node, SequenceNode):
        for child in node.value:
            total += _expanded_size(child, memo, limit)
            if total > limit:
                break
    elif isinstance(node, MappingNode):
        for k, v in node.value:
            total += _expanded_size(k, memo, limit) + _expanded_size(v, memo, limit)
            if total > limit:
                break
    memo[key] = total
    return total


def _record_lines(node: Node, path: Path_, lines: dict[Path_, int], seen: set[int]) -> None:
    if id(node) in seen:  # an aliased node: its keys were recorded where it was defined
        return
    seen.add(id(node))
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`
                for sub in (v.value if isinstance(v, SequenceNode) else [v]):
                    _record_lines(sub, path, lines, set())
                continue
            key = _scalar_key(k)
            lines.setdefault((*path, key), k.start_mark.line + 1)
            _record_lines(v, (*path, key), lines, seen)
    elif isinstance(node, SequenceNode):
        for i, child in enumerate(node.value):
            lines.setdefault((*path, i), child.start_mark.line + 1)
            _record_lines(child, (*path, i), lines, seen)


def _scalar_key(node: Node) -> Any:
    """A mapping key as the safe constructor makes it (ints stay ints: `cases: {1: ...}`), else its text."""
    if not isinstance(node, ScalarNode):
        return str(node.value)
    if node.tag == _STR:  # most keys: the text itself, as the constructor makes it (without asking it)
        return node.value
    try:
        value = _KEYS.construct_object(node, deep=True)
    except Exception:  # noqa: BLE001 - a key the constructor rejects is reported when the document is built
        return node.value
    finally:
        _KEYS.constructed_objects.clear()
    return value if isinstance(value, (str, int, float, bool)) or value is None else node.value


_STR = "tag:yaml.org,2002:str"
_KEYS = yaml.SafeLoader("")  # builds mapping keys as the document's constructor does


def line_of(lines: dict[Path_, int], path: tuple) -> int | None:
    """The line of the deepest known prefix of `path` (keys compared as text as well, as messages give them)."""
    text = {tuple(str(p) for p in k): v for k, v in lines.items()}
    for n in range(len(path), 0, -1):
        prefix = path[:n]
        if prefix in lines:
            return lines[prefix]
        as_text = tuple(str(p) for p in prefix)
        if as_text in text:
            return text[as_text]
    return None
