"""Shared test fixtures.  Tests that need ../shared reference data skip cleanly when it is absent."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CDISCFLOW_SHARED", REPO.parent / "shared"))


@pytest.fixture
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared reference data not available")
    return SHARED


@pytest.fixture
def study_copy(tmp_path: Path) -> Path:
    """A writable copy of the embedded DARA-ATRA spec (without its raw export) to break on purpose."""
    from cdiscflow.specs.model import SPECS_DIR

    dst = tmp_path / "study"
    shutil.copytree(SPECS_DIR / "dara_atra", dst, ignore=shutil.ignore_patterns("raw"))
    return dst


RAW_SMALL = REPO / "tests" / "data" / "raw_small"


@pytest.fixture
def raw_small(tmp_path: Path) -> Path:
    """A writable copy of the hand-made raw export (3 subjects, every form of forms.yaml) to break on purpose."""
    dst = tmp_path / "raw"
    shutil.copytree(RAW_SMALL, dst)
    return dst
