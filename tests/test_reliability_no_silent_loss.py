"""No layer is lost silently (issue 16.7): an ImportError in adam/ or report/ used to become a stage note "not
available in this version" -- `run` exited 0 without ADaM and said "no findings".  It is a bug in cdiscflow: exit 3
with the message, and the output folder keeps what it held (the run is not committed)."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from cdiscflow.cli import main


@pytest.mark.slow
@pytest.mark.parametrize("layer", ["cdiscflow.adam", "cdiscflow.report"])
def test_a_layer_that_cannot_be_imported_is_exit_3_never_a_note(layer, raw_small, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, layer, None)  # `from cdiscflow.adam import ...` now raises ImportError
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["run", "--raw", str(raw_small), "--out", str(out), "--no-data-docs", "-q"])
    assert res.exit_code == 3, res.output
    assert res.output.startswith(f"cdiscflow: internal error ModuleNotFoundError: import of {layer} halted")
    assert "This is a bug in cdiscflow" in res.output and "not available" not in res.output
    assert not out.exists()  # nothing committed: no run that looks complete without its ADaM or report
