"""docs/architecture.svg, the picture ARCHITECTURE.md opens with, is the import graph of the code as it is.

After moving modules, regenerate it: `python docs/architecture_graph.py` (the lead after each merge)."""

from __future__ import annotations

import pytest
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("_architecture_graph", ROOT / "docs" / "architecture_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()


@pytest.mark.slow
def test_the_checked_in_picture_is_the_code_as_it_is():
    assert (ROOT / "docs" / "architecture.svg").read_text(encoding="utf-8") == GEN.generate(), \
        "docs/architecture.svg is stale: run python docs/architecture_graph.py"


@pytest.mark.slow
def test_the_picture_is_drawn_the_same_every_time():
    assert GEN.generate() == GEN.generate()


@pytest.mark.slow
def test_layers_are_rows_with_core_at_the_bottom_and_the_command_line_on_top():
    layers, _ = GEN.package_graph()
    rows = GEN._rows(layers)
    assert rows[-1] == ["core"]
    assert rows[-2] == ["specs"]
    assert rows.index(["studies"]) == rows.index(["report"]) - 1  # study-specific test data above every layer
    assert rows[0] == ["__main__", "cli", "cli_commands"]
    assert ["report"] in rows and rows.index(["report"]) < rows.index(["export"]) < rows.index(["adam"])


def test_an_upward_import_is_red_and_a_downward_one_is_not():
    svg = GEN.render_svg({"core": 0, "adam": 3, "export": 5}, {("adam", "core"), ("adam", "export")})
    up = re.search(r'<path id="edge-adam-export" class="(\w+)"[^>]*stroke="([^"]+)"', svg)
    down = re.search(r'<path id="edge-adam-core" class="(\w+)"[^>]*stroke="([^"]+)"', svg)
    assert up.groups() == ("upward", "#c0392b")
    assert down.groups() == ("arrow", "#5b6b7a")
    assert "(1 package pair left" in svg
    # adam -> core skips no row here (rows are the layers present), so it is drawn directly, not in a side lane
    assert re.search(r'id="edge-adam-core"[^>]* d="M[\d.]+,[\d.]+ C', svg)


def test_an_arrow_over_several_rows_runs_in_a_lane_beside_the_boxes():
    layers = {"core": 0, "sdtm": 2, "adam": 3, "report": 6}
    svg = GEN.render_svg(layers, {("report", "core"), ("report", "adam"), ("adam", "sdtm")})
    path = re.search(r'id="edge-report-core"[^>]* d="([^"]+)"', svg).group(1)
    xs = [float(p.split(",")[0]) for p in re.findall(r"[\d.]+,[\d.]+", path)]
    box_left = min(float(x) for x in re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="112"', svg))
    assert min(xs) < box_left  # the lane is left of every box: report -> core is downward


@pytest.mark.slow
def test_the_picture_shows_every_package_with_an_arrow_for_report_to_specs():
    layers, arrows = GEN.package_graph()
    svg = GEN.generate()
    for name in layers:
        assert f'<g id="box-{name}">' in svg
    # hand-checked: the report reads the report spec in specs/, the ARM writer in export/ no longer reads report/
    assert ("report", "specs") in arrows and ("export", "report") not in arrows
