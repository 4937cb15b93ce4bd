"""Draw the package-level import graph of cdiscflow as docs/architecture.svg (the picture ARCHITECTURE.md opens with).

    python docs/architecture_graph.py            # rewrite docs/architecture.svg
    python docs/architecture_graph.py --check    # exit 1 when the checked-in picture is stale

The imports are read exactly as `tests/test_architecture.py` reads them (that module's `GRAPH`, `LAYER` and
`_package`: `ast` over every module, lazy imports included), then folded to packages.  Layers are rows of boxes,
lowest (core) at the bottom; the top-level modules are the use-case row (pipeline, batch, hand-off ...) under the
command line.  An arrow runs from the importing package to the imported one; an arrow that runs up a layer (against
ARCHITECTURE.md) is red.  Pure Python, no Graphviz; the same source gives the same bytes.
"""

from __future__ import annotations

import importlib.util
import sys
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SVG = ROOT / "docs" / "architecture.svg"
ENTRY = ("cli", "cli_commands", "__main__")  # the command line: the top row
BOX_W, BOX_H, GAP_X, ROW_H, MARGIN, LEGEND_H, LANE = 112, 34, 26, 92, 24, 40, 5


def _architecture_test():
    """tests/test_architecture.py as a module: its import graph is the one this picture shows."""
    spec = importlib.util.spec_from_file_location("_cdiscflow_architecture", ROOT / "tests" / "test_architecture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def package_graph() -> tuple[dict[str, int], set[tuple[str, str]]]:
    """(package -> layer, arrows importer -> imported) over packages and top-level modules."""
    arch = _architecture_test()
    top = max(arch.LAYER.values())
    layers: dict[str, int] = {}
    for module in arch.MODULES:
        name = arch._package(module)
        if name:
            layers[name] = arch.LAYER.get(name, top + 2 if name in ENTRY else top + 1)
    arrows = {(arch._package(m), arch._package(t)) for m, targets in arch.GRAPH.items() for t in targets}
    return layers, {(a, b) for a, b in arrows if a and b and a != b}


def _rows(layers: dict[str, int]) -> list[list[str]]:
    return [sorted(p for p, lv in layers.items() if lv == level) for level in sorted(set(layers.values()), reverse=True)]


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def render_svg(layers: dict[str, int], arrows: set[tuple[str, str]]) -> str:
    """The picture as SVG text (deterministic: sorted rows, boxes and arrows, fixed number format)."""
    rows = _rows(layers)
    level_row = {p: i for i, row in enumerate(rows) for p in row}
    # an arrow over more than one row runs in a lane beside the boxes (downward on the left, upward on the right),
    # the longest outermost, so that it never passes behind a box of a row it skips
    long = sorted(((a, b) for a, b in arrows if abs(level_row[a] - level_row[b]) > 1),
                  key=lambda e: (abs(level_row[e[0]] - level_row[e[1]]), e))
    lanes = {side: [e for e in long if (layers[e[1]] > layers[e[0]]) == (side == "right")] for side in ("left", "right")}
    lane_w = {side: LANE * len(es) + (GAP_X if es else 0) for side, es in lanes.items()}
    boxes_w = max(len(r) for r in rows) * (BOX_W + GAP_X) - GAP_X
    width = MARGIN * 2 + lane_w["left"] + boxes_w + lane_w["right"]
    height = MARGIN * 2 + len(rows) * ROW_H - (ROW_H - BOX_H) + LEGEND_H
    place: dict[str, tuple[float, float]] = {}  # package -> (box left, box top)
    for i, row in enumerate(rows):
        row_w = len(row) * (BOX_W + GAP_X) - GAP_X
        for j, name in enumerate(row):
            place[name] = (MARGIN + lane_w["left"] + (boxes_w - row_w) / 2 + j * (BOX_W + GAP_X), MARGIN + i * ROW_H)
    lane_x = {e: MARGIN + lane_w["left"] - GAP_X - LANE * k for k, e in enumerate(lanes["left"])}
    lane_x |= {e: MARGIN + lane_w["left"] + boxes_w + GAP_X + LANE * k for k, e in enumerate(lanes["right"])}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(width)}" height="{_num(height)}" '
           f'viewBox="0 0 {_num(width)} {_num(height)}" font-family="Helvetica, Arial, sans-serif" font-size="13">',
           "<title>cdiscflow: packages by layer and their imports</title>",
           "<defs>",
           '<marker id="down" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5b6b7a"/></marker>',
           '<marker id="up" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c0392b"/></marker>',
           "</defs>",
           f'<rect x="0" y="0" width="{_num(width)}" height="{_num(height)}" fill="#ffffff"/>']
    outgoing: dict[str, list[tuple[str, str]]] = {}
    incoming: dict[str, list[tuple[str, str]]] = {}
    for a, b in sorted(arrows):
        outgoing.setdefault(a, []).append((a, b))
        incoming.setdefault(b, []).append((a, b))
    # attach points spread along the box edge, in the order of the other end's position (fewer crossings)
    def spread(name: str, edges: list[tuple[str, str]], other: int) -> dict[tuple[str, str], float]:
        edges = sorted(edges, key=lambda e: (place[e[other]][0], e))
        left = place[name][0]
        return {e: left + BOX_W * (k + 1) / (len(edges) + 1) for k, e in enumerate(edges)}

    x_out = {e: x for n, es in outgoing.items() for e, x in spread(n, es, 1).items()}
    x_in = {e: x for n, es in incoming.items() for e, x in spread(n, es, 0).items()}
    for a, b in sorted(arrows):
        (ax, ay), (bx, by) = place[a], place[b]
        upward = layers[b] > layers[a]
        colour, marker, cls = ("#c0392b", "up", "upward") if upward else ("#5b6b7a", "down", "arrow")
        x1, x2 = x_out[(a, b)], x_in[(a, b)]
        if (a, b) in lane_x:
            y1, y2 = (ay + BOX_H, by) if by > ay else (ay, by + BOX_H)
            step = 12 if y2 > y1 else -12
            lx = lane_x[(a, b)]
            path = (f"M{_num(x1)},{_num(y1)} L{_num(x1)},{_num(y1 + step)} L{_num(lx)},{_num(y1 + 2 * step)} "
                    f"L{_num(lx)},{_num(y2 - 2 * step)} L{_num(x2)},{_num(y2 - step)} L{_num(x2)},{_num(y2)}")
        elif ay == by:  # same row: a bow over the boxes
            y = ay
            path = f"M{_num(x1)},{_num(y)} C{_num(x1)},{_num(y - 30)} {_num(x2)},{_num(y - 30)} {_num(x2)},{_num(y)}"
        else:
            y1, y2 = (ay + BOX_H, by) if by > ay else (ay, by + BOX_H)
            mid = (y1 + y2) / 2
            path = f"M{_num(x1)},{_num(y1)} C{_num(x1)},{_num(mid)} {_num(x2)},{_num(mid)} {_num(x2)},{_num(y2)}"
        out.append(f'<path id="edge-{escape(a)}-{escape(b)}" class="{cls}" d="{path}" fill="none" stroke="{colour}" '
                   f'stroke-width="{"1.6" if upward else "1"}" opacity="{"1" if upward else "0.55"}" '
                   f'marker-end="url(#{marker})"/>')
    for name in sorted(place):
        x, y = place[name]
        label = name + ("/" if name not in ENTRY and (ROOT / name).is_dir() else ".py")
        out.append(f'<g id="box-{escape(name)}"><rect x="{_num(x)}" y="{_num(y)}" width="{BOX_W}" height="{BOX_H}" '
                   f'rx="5" fill="#eef3f7" stroke="#0072b2"/><text x="{_num(x + BOX_W / 2)}" y="{_num(y + 22)}" '
                   f'text-anchor="middle">{escape(label)}</text></g>')
    y = height - MARGIN
    out.append(f'<text x="{MARGIN}" y="{_num(y)}" fill="#333">Rows are layers (lowest at the bottom); an arrow '
               f'runs from the importing package to the imported one.</text>')
    n_up = sum(layers[b] > layers[a] for a, b in arrows)
    out.append(f'<text x="{MARGIN}" y="{_num(y + 16)}" fill="#c0392b">Red: an import that runs up a layer '
               f'({n_up} package pair{"" if n_up == 1 else "s"} left, tests/test_architecture.py KNOWN_UPWARD).</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def generate() -> str:
    return render_svg(*package_graph())


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        same = SVG.is_file() and SVG.read_text(encoding="utf-8") == text
        print("docs/architecture.svg is up to date" if same else
              "docs/architecture.svg is stale: run python docs/architecture_graph.py")
        return 0 if same else 1
    from cdiscflow.core.atomic import write_text  # the project's one way to write a file

    write_text(SVG, text)
    print(f"wrote {SVG.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
