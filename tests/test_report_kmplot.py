"""Kaplan-Meier PNGs: valid, byte-identical on re-render, free of timestamps and software stamps."""

from __future__ import annotations

import struct
import zlib

import matplotlib
import numpy as np
import pytest

from cdiscflow.report.kmplot import km_plot_png, plot_km, risk_times

TIME = np.array([1, 2, 2, 3, 4, 4, 5, 6, 7, 8, 9, 10], dtype=float)
EVENT = np.array([1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 0])
GROUP = np.array(list("ABAAABBABBBB"))


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + data) & 0xFFFFFFFF
        out.append((kind, data))
        pos += 12 + length
    return out


@pytest.mark.slow
def test_png_is_byte_identical_on_two_renders_and_carries_no_stamp(tmp_path):
    options = dict(order=["A", "B"], labels={"A": "Arm A", "B": "Arm B"}, ylabel="Progression-free survival",
                   title="PFS by arm")
    first = plot_km(tmp_path / "a.png", TIME, EVENT, GROUP, **options).read_bytes()
    second = plot_km(tmp_path / "b.png", TIME, EVENT, GROUP, **options).read_bytes()
    assert first == second
    chunks = _chunks(first)
    kinds = [k for k, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    assert b"tIME" not in kinds
    text = b"".join(d for k, d in chunks if k in (b"tEXt", b"iTXt", b"zTXt"))
    assert b"Software" not in text and b"matplotlib" not in text.lower()
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert (width, height) == (1050, 750)  # 7 x 5 inches at 150 dpi


def test_user_matplotlib_style_does_not_change_the_bytes():
    plain = km_plot_png(TIME, EVENT, GROUP)
    with matplotlib.rc_context({"lines.linewidth": 5, "font.size": 20, "axes.facecolor": "#000000"}):
        styled = km_plot_png(TIME, EVENT, GROUP)
        # still inside the caller's context: plotting must leave the caller's own settings as they were
        assert (matplotlib.rcParams["lines.linewidth"], matplotlib.rcParams["font.size"],
                matplotlib.rcParams["axes.facecolor"]) == (5, 20, "#000000")
    assert plain == styled


@pytest.mark.slow
def test_different_data_give_different_pictures():
    base = km_plot_png(TIME, EVENT, GROUP)
    event = EVENT.copy()
    event[0] = 0
    assert km_plot_png(TIME, event, GROUP) != base
    assert km_plot_png(TIME, EVENT) != base  # one curve instead of two


def test_risk_times_pick_a_readable_step():
    assert risk_times(10).tolist() == list(range(0, 11))
    assert risk_times(28.6).tolist() == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    assert risk_times(50).tolist() == [0, 6, 12, 18, 24, 30, 36, 42, 48, 54]
    assert risk_times(0).tolist() == [0]


def test_too_many_groups_is_refused():
    with pytest.raises(ValueError, match="at most 8 groups"):
        km_plot_png(np.arange(1, 10), np.ones(9), [str(i) for i in range(9)])
