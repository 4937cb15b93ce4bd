"""The Dataset-JSON header check judges columns one by one (cached); it must say exactly what the full schema
validation says."""

import pytest

from cdiscflow.export import datasetjson as dsj

FULL_HEADER = {"fileOID": "F.1", "dbLastModifiedDateTime": "2020-10-01T00:00:00", "originator": "Sponsor",
               "sourceSystem": {"name": "cdiscflow", "version": "1.0"}, "studyOID": "S", "metaDataVersionOID": "M",
               "metaDataRef": "define.xml"}
GOOD = {"itemOID": "IT.DM.AGE", "name": "AGE", "label": "Age", "dataType": "integer", "keySequence": 1}


def doc(*columns, **top):
    return {"datasetJSONCreationDateTime": "2020-10-01T00:00:00", "datasetJSONVersion": "1.1.0",
            "itemGroupOID": "IG.DM", "records": 3, "name": "DM", "label": "Demographics",
            "columns": list(columns), **top}


def full(d):
    errors = sorted(dsj._validator().iter_errors(d), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}" for e in errors]


@pytest.mark.parametrize("d", [
    doc(GOOD),
    doc(GOOD, {**GOOD, "name": "SEX", "dataType": "string", "length": 1}),
    doc(),
    doc({**GOOD, "length": True}),  # True == 1 to a cache, not to the schema
    doc(GOOD, {**GOOD, "length": 1}, {**GOOD, "length": True}),
    doc({**GOOD, "dataType": "strin"}),
    doc({**GOOD, "keySequence": 0}),
    doc({**GOOD, "targetDataType": "date"}),
    doc({**GOOD, "extra": "x"}),
    doc({k: v for k, v in GOOD.items() if k != "label"}),
    doc({**GOOD, "itemOID": ["unhashable"]}),
    doc("not an object"),
    doc(GOOD, records=-1),
    doc(GOOD, unknown=1),
    {**doc(GOOD), "columns": "x"},
    doc(GOOD, **FULL_HEADER),
    doc(GOOD, **{**FULL_HEADER, "sourceSystem": {"name": "cdiscflow"}}),
    doc(GOOD, **{**FULL_HEADER, "sourceSystem": {"name": "cdiscflow", "version": "1", "vendor": "x"}}),
    doc(GOOD, datasetJSONCreationDateTime="2020-13-01T00:00:00"),
    doc(GOOD, datasetJSONCreationDateTime="2020-10-01T00:00:00.123+02:00"),
    doc(GOOD, datasetJSONVersion="1.2.0"),
    doc(GOOD, records=True),
    doc(GOOD, records=3.0),  # valid, but not proved so: jsonschema decides
    doc(GOOD, name=None),
    doc({**GOOD, "keySequence": 2.0}),
])
def test_same_verdict_and_messages_as_the_full_validation(d):
    assert dsj.validate_dataset_json(d) == full(d)
    if dsj._valid_by_parts(d):
        assert full(d) == []



@pytest.mark.parametrize("d", [doc(GOOD), doc(GOOD, **FULL_HEADER), doc(),
                               doc(GOOD, {**GOOD, "name": "D", "dataType": "date", "targetDataType": "integer",
                                          "displayFormat": "DATE9."}, {**GOOD, "name": "S", "length": 200})])
def test_what_the_writer_writes_is_proved_valid_without_jsonschema(d):
    assert full(d) == [] and dsj._valid_by_parts(d)


def test_valid_columns_are_judged_once():
    dsj._column_valid.cache_clear()
    for _ in range(3):
        assert dsj.validate_dataset_json(doc(GOOD, {**GOOD, "name": "X"})) == []
    info = dsj._column_valid.cache_info()
    assert (info.misses, info.hits) == (2, 4)
