"""The layering rules of ARCHITECTURE.md, checked on the source: arrows that must never exist, and no import cycles.

Imports are read from the source with `ast` (module level and inside functions alike), so a lazy import cannot hide
an arrow.  Layers, lowest first: core -> specs -> sdtm -> adam -> validation -> export -> report -> studies
(study-specific test data, e.g. the DARA-ATRA simulator) -> pipeline/batch/usecases -> cli.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "specs", "sdtm", "adam", "validation", "export", "report", "studies")
COMMAND_LINE = ("cli_commands",)  # the commands cli.py assembles: the top row, with cli itself
USE_CASES = ("scale",)  # use cases grown into a package (beside pipeline.py, batch.py ...)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("cdiscflow",) + parts)


def _modules() -> dict[str, Path]:
    files = [p for p in ROOT.glob("*.py")] + [p for pkg in PACKAGES + USE_CASES + COMMAND_LINE for p in (ROOT / pkg).rglob("*.py")]
    return {_module_name(p): p for p in files if ".venv" not in p.parts}


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every cdiscflow module `name` imports (resolved to a known module: `from x import y` may name a module y)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` imports the module; `from pkg import name` imports pkg (its __init__)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target.startswith("cdiscflow") and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_graph_is_read():
    # a hand-checked arrow: the SDTM engine reads the study spec model
    assert "cdiscflow.specs.model" in GRAPH["cdiscflow.sdtm.mapping.engine"]
    assert len(MODULES) > 60


LAYER = {"core": 0, "specs": 1, "sdtm": 2, "adam": 3, "validation": 4, "export": 5, "report": 6, "studies": 7}

# Arrows that still run up a layer today.  Issue 21 removes them: the dataset folder readers/writers and the spec
# check's use of every layer move up to the use-case level; ARM reads the report catalogue.  The list only shrinks: a
# new upward arrow fails the test, and so does an entry that no longer exists.
KNOWN_UPWARD: set[tuple[str, str]] = set()  # issue 21 removed the last ones
KNOWN_CYCLES: list[list[str]] = []


def _upward_arrows() -> set[tuple[str, str]]:
    arrows = set()
    for module, targets in GRAPH.items():
        for target in targets:
            low, high = _package(module), _package(target)
            if low in LAYER and high in LAYER and LAYER[high] > LAYER[low]:
                arrows.add((module.removeprefix("cdiscflow."), target.removeprefix("cdiscflow.")))
    return arrows


def test_no_new_import_runs_up_a_layer():
    arrows = _upward_arrows()
    assert sorted(arrows - KNOWN_UPWARD) == [], "new import(s) against the layering of ARCHITECTURE.md"
    assert sorted(KNOWN_UPWARD - arrows) == [], "an arrow is gone: remove it from KNOWN_UPWARD"


def test_core_and_report_never_reach_the_wrong_way():
    # the rules that hold outright: core imports nothing of cdiscflow above it, and nothing below report imports
    # report (KNOWN_UPWARD is empty since issue 21)
    assert [m for m, t in GRAPH.items() if _package(m) == "core" and any(_package(x) != "core" for x in t)] == []
    assert {(m, t) for (m, t) in _upward_arrows() if t.startswith("report.")} <= KNOWN_UPWARD


def test_the_layers_below_export_do_their_io_through_the_use_cases():
    # issue 21: folders are read and written by usecases.py; core, specs, sdtm and validation never import export/
    offending = sorted((m, t) for m, targets in GRAPH.items() for t in targets
                       if _package(m) in ("core", "specs", "sdtm", "validation") and _package(t) == "export")
    assert offending == []


def test_no_library_module_imports_the_cli():
    offending = sorted(m for m, targets in GRAPH.items()
                       if any(t == "cdiscflow.cli" or _package(t) in COMMAND_LINE for t in targets)
                       and m != "cdiscflow.__main__" and m != "cdiscflow.cli" and _package(m) not in COMMAND_LINE)
    assert offending == []


def test_no_import_cycles():
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert sorted(cycles) == KNOWN_CYCLES  # only shrinks (issue 21): a new cycle fails, a removed one too


def test_the_library_never_imports_study_specific_code():
    # studies/ (the DARA-ATRA simulator) sits above every layer: the command line may call it, no layer may
    assert "cdiscflow.studies.dara_atra.simulate" in GRAPH["cdiscflow.cli_commands.simulate"]
    assert "cdiscflow.sdtm.raw.odm" in GRAPH["cdiscflow.studies.dara_atra.simulate.odm"]  # it uses the layers below
    offending = sorted(m for m, targets in GRAPH.items() if _package(m) in LAYER and _package(m) != "studies"
                       and any(_package(t) == "studies" for t in targets))
    assert offending == []


def test_adam_never_imports_export_and_its_verbs_never_import_recipes():
    # issue 21: folders of datasets are read and written by usecases.py; verbs know no recipe, recipes no orchestrator
    adam = {m: t for m, t in GRAPH.items() if m.startswith("cdiscflow.adam.")}
    assert "cdiscflow.adam.recipes.adtte" in adam and "cdiscflow.adam.verbs.obs_number" in adam  # the graph has them
    assert sorted((m, t) for m, ts in adam.items() for t in ts if t.startswith("cdiscflow.export")) == []
    assert sorted((m, t) for m, ts in adam.items() if m.startswith("cdiscflow.adam.verbs.") for t in ts
                  if t.startswith(("cdiscflow.adam.recipes", "cdiscflow.adam.study"))) == []
    assert sorted((m, t) for m, ts in adam.items() if m.startswith("cdiscflow.adam.recipes.") for t in ts
                  if t == "cdiscflow.adam.study") == []
