"""derive_var_obs_number (admiral's name): the one ASEQ verb of ADAE and ADRS.  Expected numbers worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from cdiscflow.adam import derive_var_obs_number
from cdiscflow.core.errors import InputError


@pytest.fixture
def ae() -> pd.DataFrame:
    return pd.DataFrame({
        "STUDYID": ["X"] * 7,
        "USUBJID": ["S2", "S1", "S1", "S1", "S2", "S3", "S3"],
        "ASTDT": pd.to_datetime(["2020-01-05", None, "2020-01-03", "2020-01-03", "2020-01-02", "2020-02-01",
                                 "2020-02-01"]),
        "AESEQ": [1.0, 3.0, 2.0, 1.0, 2.0, 1.0, 1.0],
        "AETERM": ["a", "b", "c", "d", "e", "later-tie-1", "later-tie-2"],
    })


def _numbered(frame: pd.DataFrame, var: str = "ASEQ") -> list[tuple[str, str, float]]:
    return list(zip(frame["USUBJID"], frame["AETERM"], frame[var]))


def test_numbers_each_subject_by_the_order_missing_dates_last(ae):
    out = derive_var_obs_number(ae, order=("ASTDT", "AESEQ"), dataset_name="ADAE")
    # S1: 01-03/AESEQ 1 (d), 01-03/AESEQ 2 (c), no date (b); S2: 01-02 (e), 01-05 (a); S3: a tie keeps input order
    assert _numbered(out) == [("S1", "d", 1.0), ("S1", "c", 2.0), ("S1", "b", 3.0), ("S2", "e", 1.0),
                              ("S2", "a", 2.0), ("S3", "later-tie-1", 1.0), ("S3", "later-tie-2", 2.0)]
    assert out["ASEQ"].dtype == "float64"
    assert list(ae["AETERM"]) == ["a", "b", "c", "d", "e", "later-tie-1", "later-tie-2"]  # the input is untouched


def test_missing_first_and_a_descending_variable(ae):
    first = derive_var_obs_number(ae, order=("ASTDT", "AESEQ"), missing="first", dataset_name="ADAE")
    assert _numbered(first)[:3] == [("S1", "b", 1.0), ("S1", "d", 2.0), ("S1", "c", 3.0)]
    down = derive_var_obs_number(ae, order=("ASTDT", "-AESEQ"), dataset_name="ADAE")
    assert _numbered(down)[:3] == [("S1", "c", 1.0), ("S1", "d", 2.0), ("S1", "b", 3.0)]


def test_other_groups_and_names(ae):
    out = derive_var_obs_number(ae, order=("AESEQ",), by_vars=("STUDYID",), new_var="APSEQ", dataset_name="ADAE")
    # one group: AESEQ 1 (a, d, later-tie-1, later-tie-2 in input order), 2 (c, e), 3 (b)
    assert list(out["AETERM"]) == ["a", "d", "later-tie-1", "later-tie-2", "c", "e", "b"]
    assert list(out["APSEQ"]) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]


def test_bad_input_names_the_dataset_and_the_variable(ae):
    with pytest.raises(InputError, match=r"ADAE lacks variable\(s\) AESTDY \(needed for ASEQ\)"):
        derive_var_obs_number(ae, order=("AESTDY",), dataset_name="ADAE")
    with pytest.raises(ValueError, match="missing must be 'first' or 'last'"):
        derive_var_obs_number(ae, order=("ASTDT",), missing="middle")
