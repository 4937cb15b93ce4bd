"""One ISO 8601 kernel (core/iso8601.py) and one SAS date-format table (core/sasformats.py) for every layer
(issue 16.8): the same value gets the same verdict in SDTM, ADaM, validation and export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cdiscflow.adam.verbs.dates import parse_dtc
from cdiscflow.adam.study import conform_to_spec
from cdiscflow.core import iso8601
from cdiscflow.core.errors import InputError
from cdiscflow.core.sasformats import format_kind
from cdiscflow.export.xpt import to_sas_numbers
from cdiscflow.sdtm.dates import date_part, study_day
from cdiscflow.specs.model import Dataset, Variable
from cdiscflow.validation import iso8601 as validation_iso
from cdiscflow.validation.metadata import plan_dataset

ZONE = "2019-02-15T10:30+01:00"
FRACTION = "2019-02-15T10:30:05.1234567"


@pytest.mark.parametrize("value", [ZONE, FRACTION, "2019-02-15T10:30:05Z", "2019-02-15T10:30-0500", "2019---15"])
def test_valid_values_are_valid_in_validation_and_adam(value):
    s = pd.Series([value])
    assert validation_iso.status(s).tolist() == [iso8601.OK]
    comp = parse_dtc(s, variable="AESTDTC")  # used to stop with exit 2 on the time zone
    assert comp.loc[0, "Y"] == 2019 and comp.loc[0, "D"] == 15


def test_time_zone_and_fraction_parts_are_the_time_as_written():
    comp = parse_dtc(pd.Series([ZONE, FRACTION]), variable="AESTDTC")
    assert comp[["h", "m"]].to_numpy().tolist() == [[10, 30], [10, 30]]
    assert np.isnan(comp.loc[0, "s"]) and comp.loc[1, "s"] == pytest.approx(5.1234567)
    assert date_part(pd.Series([ZONE])).tolist() == [pd.Timestamp("2019-02-15")]


@pytest.mark.parametrize("value, verdict", [("2019-02-29", iso8601.BAD_CALENDAR), ("2019-02-", iso8601.BAD_FORMAT),
                                            ("2019-02-15T10:30+1", iso8601.BAD_FORMAT), ("15/02/2019", iso8601.BAD_FORMAT)])
def test_invalid_values_are_invalid_in_validation_and_adam(value, verdict):
    s = pd.Series([value])
    assert validation_iso.status(s).tolist() == [verdict]
    with pytest.raises(InputError, match="AESTDTC: 1 value"):
        parse_dtc(s, variable="AESTDTC", dataset="AE")
    assert date_part(s).isna().all()


def test_sdtm_study_day_reads_the_kernel():
    assert study_day(pd.Series(["2019-02-15T10:30+01:00", "2019-02-10"]),
                     pd.Series(["2019-02-11", "2019-02-11"])).tolist() == [5.0, -1.0]


@pytest.mark.parametrize("fmt, kind", [("MMDDYY10.", "date"), ("IS8601DA.", "date"), ("E8601DA.", "date"),
                                       ("DATE9.", "date"), ("IS8601DT.", "datetime"), ("DATETIME20.", "datetime"),
                                       ("TIME8.", "time"), ("8.2", ""), ("$20.", "")])
def test_one_format_table(fmt, kind):
    assert format_kind(fmt) == kind


@pytest.mark.parametrize("fmt", ["MMDDYY10.", "IS8601DA."])
def test_mmddyy_and_is8601da_dates_behave_the_same_in_export_adam_and_validation(fmt):
    """Export wrote these as SAS dates; ADaM stopped ('the spec says a number'); validation agreed with export."""
    when = pd.Series(pd.to_datetime(["2020-03-01 13:45", None]))
    var = Variable(dataset="ADX", name="ASTDT", label="Start Date", datatype="integer", order=1, display_format=fmt)
    ds = Dataset(name="ADX", label="x", standard="ADaM", cls="", structure="", keys=(), variables=(var,))
    conformed = conform_to_spec(pd.DataFrame({"ASTDT": when}), ds)["ASTDT"]
    assert conformed.tolist()[0] == pd.Timestamp("2020-03-01") and pd.isna(conformed.tolist()[1])
    sas = to_sas_numbers(conformed, format_kind(fmt))
    assert sas[0] == (pd.Timestamp("2020-03-01") - pd.Timestamp("1960-01-01")).days == 21975
    assert plan_dataset(ds).variable("ASTDT").date_num
