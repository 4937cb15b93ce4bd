"""Kaplan-Meier plots as PNG: step curves with censor ticks, one line per group, a numbers-at-risk table below.

Rendering uses matplotlib's object API (`Figure` + Agg canvas, no pyplot state) under matplotlib's built-in
defaults (a user's matplotlibrc does not leak in), and writes PNGs without the 'Software' text chunk; matplotlib
writes no timestamp.  The same input therefore gives the same bytes on every run (for one matplotlib build).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cdiscflow.core.atomic import write_bytes
from cdiscflow.report.survival import _as_arrays, _count_at_risk, _groups, _num_label, km_fit

#: Okabe-Ito colour-blind safe palette (black last: the single-curve default is the first colour)
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
_NICE_STEPS = (1, 2, 3, 6, 12, 24, 36, 48, 60, 120)


def risk_times(last_time: float, *, max_ticks: int = 10) -> np.ndarray:
    """Tick times 0, k, 2k ... covering `last_time`, with k the smallest of 1, 2, 3, 6, 12 ... months giving at most
    `max_ticks` + 1 ticks."""
    if not last_time > 0:
        return np.array([0.0])
    step = next((s for s in _NICE_STEPS if last_time / s <= max_ticks), _NICE_STEPS[-1])
    return np.arange(0.0, math.ceil(last_time / step) * step + step / 2, step)


def km_plot_png(time, event, group=None, *, order: Sequence[str] | None = None,
                labels: Mapping[str, str] | None = None, xlabel: str = "Months",
                ylabel: str = "Survival probability", title: str | None = None,
                at: Sequence[float] | None = None, size: tuple[float, float] = (7.0, 5.0), dpi: int = 150) -> bytes:
    """Render a Kaplan-Meier plot and return the PNG bytes.

    `time` in the unit of the x axis (months for the report), `event` 1/0, `group` optional (one curve per group,
    in `order`).  `labels` maps a group to its legend/row label (default: the group value).  `at` are the times of
    the x ticks and of the numbers-at-risk table (default: `risk_times` up to the largest time).
    """
    t, e, g = _as_arrays(time, event, group)
    if g is None:
        g = np.full(t.size, "All", dtype=object)
    names = _groups(g, order)
    if len(names) > len(PALETTE):
        raise ValueError(f"at most {len(PALETTE)} groups per plot, got {len(names)}")
    labels = dict(labels or {})
    ticks = np.asarray(at if at is not None else risk_times(float(t.max()) if t.size else 0.0), dtype=float)
    xmax = float(max(ticks.max(), t.max() if t.size else 0.0))

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                                    "svg.hashsalt": "cdiscflow"})
        fig = Figure(figsize=size, dpi=dpi)
        FigureCanvasAgg(fig)
        n_rows = len(names)
        longest = max(len(str(labels.get(name, name))) for name in names)
        left = min(0.45, 0.05 + 0.075 * max(longest, 14) / size[0])  # ~0.075 in per character at 9 pt
        grid = fig.add_gridspec(2, 1, height_ratios=[4.0, 0.45 + 0.28 * n_rows], hspace=0.32,
                                left=left, right=0.97, top=0.93 if title else 0.97, bottom=0.04)
        ax = fig.add_subplot(grid[0])
        table = fig.add_subplot(grid[1], sharex=ax)

        for k, name in enumerate(names):
            keep = g == name
            km = km_fit(t[keep], e[keep])
            colour = PALETTE[k]
            xs = np.concatenate(([0.0], km.time, [km.last_time]))
            ys = np.concatenate(([1.0], km.surv, [km.surv[-1] if km.surv.size else 1.0]))
            label = f"{labels.get(name, name)} (n = {km.n})"
            ax.plot(xs, ys, drawstyle="steps-post", color=colour, linewidth=1.6, label=label)
            censored = km.obs_time[km.obs_event == 0]
            if censored.size:
                ax.plot(censored, km.surv_at(censored), linestyle="none", marker="|", markersize=7,
                        markeredgewidth=1.2, color=colour)

        ax.set_xlim(0, xmax * 1.02)
        ax.set_ylim(0, 1.02)
        ax.set_xticks(ticks)
        ax.set_xticklabels([_num_label(x) for x in ticks])
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.set_yticklabels([f"{y:.1f}" for y in np.linspace(0, 1, 6)])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        if len(names) > 1 or group is not None:
            ax.legend(loc="upper right", frameon=False)
        if title:
            ax.set_title(title, loc="left", fontsize=10, fontweight="bold")

        table.set_ylim(n_rows - 0.5, -1.1)
        table.axis("off")
        table.text(-0.04, -0.95, "Number at risk", transform=table.get_yaxis_transform(), ha="right",
                   va="center", fontweight="bold")
        for k, name in enumerate(names):
            counts = _count_at_risk(t[g == name], ticks)
            table.text(-0.04, k, labels.get(name, name), transform=table.get_yaxis_transform(), ha="right",
                       va="center", color=PALETTE[k])
            for x, c in zip(ticks, counts):
                table.text(x, k, str(int(c)), ha="center", va="center", color=PALETTE[k])

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def plot_km(path: str | Path, time, event, group=None, **options) -> Path:
    """Render a Kaplan-Meier plot (see `km_plot_png` for the options) and write it to `path` atomically."""
    path = Path(path)
    write_bytes(path, km_plot_png(time, event, group, **options))
    return path
