"""Heavy libraries are imported where they are used, not by the command line or the spec check (issue 18).

great_expectations (~3 s), statsmodels/scipy.stats (~2 s) and matplotlib cost seconds to import, pyreadstat (with
narwhals) ~0.05 s; every command loads the CLI and checks the spec first, so those imports must wait for the stage
that needs them (pyreadstat: a raw export of .sas7bdat files)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("great_expectations", "statsmodels", "scipy.stats", "matplotlib", "pyreadstat")


@pytest.mark.parametrize("module", ["cdiscflow.cli", "cdiscflow.specs.check", "cdiscflow.specs.report", "cdiscflow.report.reproduce",
                                    "cdiscflow.pipeline", "cdiscflow.validation.api", "cdiscflow.sdtm.raw.files"])
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


@pytest.mark.slow
def test_great_expectations_is_imported_without_the_modules_it_defers_and_they_still_work():
    # the Data Docs import great_expectations without scipy.stats and altair (one expectation cdiscflow never builds
    # uses them); they are imported, whole and working, the first time anything reads from them
    code = ("import sys\n"
            "from cdiscflow.validation.datadocs import prepared_writer\n"
            "prepared_writer(None)\n"
            "heavy = ('scipy.linalg', 'scipy.stats._stats_py', 'altair.vegalite')\n"
            "print(sorted(m for m in heavy if m in sys.modules))\n"
            "from scipy import stats\n"
            "print(round(float(stats.norm.cdf(1.0)), 6), type(sys.modules['scipy.stats']).__name__)\n"
            "import scipy.stats\n"
            "print(scipy.stats.chi2.ppf(0.95, 1).round(4), 'scipy.linalg' in sys.modules)\n"
            "from great_expectations.expectations.core import expect_column_kl_divergence_to_be_less_than as kl\n"
            "print(round(float(kl.stats.entropy([0.5, 0.5], [0.25, 0.75])), 6), kl.alt.__name__)\n")
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert lines == ["[]", "0.841345 module", "3.8415 True", "0.143841 altair"]


@pytest.mark.slow
def test_in_a_callers_process_great_expectations_is_imported_as_it_is():
    # the stand-ins are for the forked Data Docs worker only: a library caller's sys.modules is left alone
    code = ("import sys\n"
            "from cdiscflow.validation.datadocs import _great_expectations\n"
            "_great_expectations()\n"
            "print(type(sys.modules['scipy.stats']).__name__, 'scipy.stats._stats_py' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["module", "True"]


def test_a_deferred_module_that_is_not_installed_is_left_alone():
    from cdiscflow.validation.datadocs import _defer_imports

    _defer_imports(("cdiscflow_no_such_module.sub", "cdiscflow_no_such_module"))
    assert "cdiscflow_no_such_module" not in sys.modules
    with pytest.raises(ImportError):
        __import__("cdiscflow_no_such_module")
