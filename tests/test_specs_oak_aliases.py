"""sdtm.oak's algorithm names are accepted in a mapping rule as aliases of our keywords (specs.model.OAK_ALIASES).

The embedded DARA-ATRA spec rewritten with oak's names (assign_no_ct, assign_ct, hardcode_ct / hardcode_no_ct,
assign_datetime, condition_add) loads into the same rules as the original and maps the hand-made raw export to the
same SDTM; the loader and check-spec reject what oak's names cannot mean together.
"""

from __future__ import annotations

import re

import pytest

from cdiscflow.core.errors import SpecError
from cdiscflow.specs.load import load_study, load_study_with_problems
from cdiscflow.specs.load_mappings import our_keywords
from cdiscflow.specs.model import OAK_ALIASES

OUR_KEY = {  # our keyword -> the oak name written in its place (hardcode: see _oak_line)
    "assign": "assign_no_ct", "ct": "assign_ct", "dtc": "assign_datetime", "when": "condition_add",
}


def _oak_line(line: str) -> str:
    """One line of an sdtm/*.yaml with our rule keywords renamed to oak's (a hardcode with a codelist on the rule
    becomes hardcode_ct, any other hardcode_no_ct)."""
    for ours, oak in OUR_KEY.items():
        line = re.sub(rf"(?<![\w-]){ours}:", f"{oak}:", line)
    hardcode = "hardcode_ct:" if "codelist:" in line else "hardcode_no_ct:"
    return re.sub(r"(?<![\w-])hardcode:", hardcode, line)


@pytest.fixture
def oak_study(study_copy):
    counts = dict.fromkeys(["assign_no_ct", "assign_ct", "assign_datetime", "condition_add", "hardcode_ct",
                            "hardcode_no_ct"], 0)
    for path in sorted((study_copy / "sdtm").glob("*.yaml")):
        text = "".join(_oak_line(line) for line in path.read_text(encoding="utf-8").splitlines(keepends=True))
        path.write_text(text, encoding="utf-8")
        for name in counts:
            counts[name] += len(re.findall(rf"(?<![\w-]){name}:", text))
    # the rewrite used every oak name, and left none of our keys behind (counted by hand in specs/dara_atra/sdtm:
    # 17 assign, 43 ct, 36 dtc, 31 when, 113 hardcode of which 16 name a codelist on the rule)
    assert counts == {"assign_no_ct": 17, "assign_ct": 43, "assign_datetime": 36, "condition_add": 31,
                      "hardcode_ct": 16, "hardcode_no_ct": 97}
    return study_copy


def test_the_aliases_are_the_six_oak_algorithms():
    assert dict(OAK_ALIASES) == {"assign_no_ct": "assign", "assign_ct": "ct", "hardcode_no_ct": "hardcode",
                                 "hardcode_ct": "hardcode", "assign_datetime": "dtc", "condition_add": "when"}


def test_oak_names_are_renamed_to_ours_in_place():
    rule = {"assign_ct": "AESEV", "codelist": "AESEV", "condition_add": {"AESEV": {"present": True}}}
    assert our_keywords(rule) == ({"ct": "AESEV", "codelist": "AESEV", "when": {"AESEV": {"present": True}}}, [])
    assert list(our_keywords(rule)[0]) == ["ct", "codelist", "when"]
    renamed, problems = our_keywords({"assign": "A", "assign_no_ct": "B"})
    assert renamed == {"assign": "A"}
    assert problems == ["'assign' and 'assign_no_ct' both give the rule's assign (sdtm.oak's algorithm names are "
                        "aliases of ours): keep one"]
    assert len(our_keywords({"hardcode_ct": "Y", "hardcode_no_ct": "N"})[1]) == 1


def test_a_spec_written_with_oak_names_loads_into_the_same_rules(oak_study):
    ours, oak = load_study(), load_study(oak_study)
    assert list(oak.mappings) == list(ours.mappings)
    for name, mapping in ours.mappings.items():
        assert oak.mappings[name] == mapping, name


def test_check_spec_accepts_oak_names(oak_study):
    from cdiscflow.usecases import check_spec

    assert check_spec(oak_study) == []


@pytest.mark.slow
def test_hardcode_ct_needs_a_codelist(study_copy):
    ae = study_copy / "sdtm" / "ae.yaml"
    text = ae.read_text(encoding="utf-8")
    assert "AEENTPT: {hardcode: DATA CUTOFF, " in text  # AEENTPT has no codelist in variables.csv
    ae.write_text(text.replace("AEENTPT: {hardcode: DATA CUTOFF, ", "AEENTPT: {hardcode_ct: DATA CUTOFF, "),
                  encoding="utf-8")
    _, problems = load_study_with_problems(study_copy)
    assert [p for p in problems if "hardcode_ct" in p] == [
        p for p in problems if "AEENTPT" in p and "hardcode_ct rule needs a codelist" in p]
    assert len([p for p in problems if "hardcode_ct" in p]) == 1
    with pytest.raises(SpecError, match="hardcode_ct rule needs a codelist"):
        load_study(study_copy)


@pytest.mark.slow
def test_a_spec_written_with_oak_names_maps_to_the_same_sdtm(oak_study, raw_small):
    from cdiscflow.sdtm.mapping.engine import map_study

    ours = map_study(load_study(), raw_small)
    oak = map_study(load_study(oak_study), raw_small)
    assert list(oak.datasets) == list(ours.datasets) and len(ours.datasets) == 26
    for name, frame in ours.datasets.items():
        assert oak.datasets[name].equals(frame), name
    assert sum(len(f) for f in oak.datasets.values()) == 368  # as `cdiscflow sdtm` on raw_small reports
