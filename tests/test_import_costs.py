"""Heavy libraries are imported where they are used, not by the command line or the spec check (issue 18).

great_expectations (~3 s), statsmodels/scipy.stats (~2 s) and matplotlib cost seconds to import; every command loads
the CLI and checks the spec first, so those imports must wait for the stage that needs them."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("great_expectations", "statsmodels", "scipy.stats", "matplotlib")


@pytest.mark.parametrize("module", ["cdiscflow.cli", "cdiscflow.specs.check", "cdiscflow.specs.report", "cdiscflow.report.reproduce",
                                    "cdiscflow.pipeline", "cdiscflow.validation.api"])
@pytest.mark.slow
def test_importing_does_not_load_heavy_libraries(module):
    code = (f"import sys, {module}\n"
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == [], f"importing {module} loads {loaded}"


def test_report_names_still_resolve():
    import cdiscflow.report as report

    assert report.build_report.__module__ == "cdiscflow.report.build"
    assert report.km_fit.__module__ == "cdiscflow.report.survival"
    assert set(report.__all__) == set(report._HOME)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        report.nothing
