"""The test markers: every marker a test uses is registered in pyproject.toml, and the calibration tests (the
synthetic DARA-ATRA data reproduce the paper) are told apart from correctness tests (hand-worked values)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILTIN = {"parametrize", "skip", "skipif", "xfail", "usefixtures", "filterwarnings"}


def _registered() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {m.split(":")[0].strip() for m in config["tool"]["pytest"]["ini_options"]["markers"]}


def _used() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for name in re.findall(r"pytest\.mark\.(\w+)", path.read_text(encoding="utf-8")):
            used.setdefault(name, set()).add(path.relative_to(ROOT / "tests").as_posix())
    return used


def test_every_marker_in_use_is_registered():
    assert _registered() == {"slow", "calibration"}
    assert sorted(set(_used()) - _registered() - BUILTIN) == []


def test_calibration_tests_are_the_ones_against_the_paper():
    # hand-picked: the simulator's export, the ADaM and the report checked against facts.yaml
    assert _used()["calibration"] == {"test_simulate.py", "adam/test_study.py", "test_report_build.py"}
    for name in _used()["calibration"]:
        text = (ROOT / "tests" / name).read_text(encoding="utf-8")
        assert "facts" in text.lower()  # a calibration test compares with the published figures of facts.yaml
