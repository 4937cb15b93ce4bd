"""The spec loader: the embedded study loads; broken specs fail with messages naming file, line and item."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdiscflow.core.errors import SpecError
from cdiscflow.specs.load import load_study
from cdiscflow.specs.model import normalise


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def _problems(study: Path) -> str:
    with pytest.raises(SpecError) as exc:
        load_study(study)
    return str(exc.value)


def test_embedded_study_loads():
    spec = load_study()
    assert spec.studyid == "DARA-ATRA"
    assert str(spec.datacut) == "2020-10-01"
    dm = spec.dataset("DM")
    assert dm.keys == ("STUDYID", "USUBJID")
    # blank label/core/role are filled from SDTMIG 3.4
    studyid = dm.variable("STUDYID")
    assert (studyid.label, studyid.core, studyid.role) == ("Study Identifier", "Req", "Identifier")
    assert dm.variable("SEX").sas_type == "Char"
    assert spec.forms["ae"].keys == ("SUBJID", "AESPID")


def test_codelist_synonyms_and_ccodes_from_cdisc_ct():
    spec = load_study()
    sex = spec.codelist("SEX")
    assert sex.lookup()[normalise(" female ")] == "F"
    # term C-codes left blank in codelists.csv are filled from the CDISC CT copy
    assert {t.value: t.code for t in sex.terms}["F"] == "C16576"
    assert spec.codelist("NY").lookup()["YES"] == "Y"


def test_label_over_40_and_bad_name(study_copy):
    _edit(study_copy / "variables.csv", "DM,4,SUBJID,,", "DM,4,SUBJID,Subject Identifier for the Study as Given on the CRF,")
    _edit(study_copy / "variables.csv", "DM,13,SITEID", "DM,13,SITE_IDENT")
    msg = _problems(study_copy)
    assert "variables.csv line 5: DM.SUBJID: label is 52 characters (max 40)" in msg
    assert "variables.csv line 14: DM.SITE_IDENT: variable name must be 1-8 characters" in msg


def test_unknown_codelist_and_duplicate_variable(study_copy):
    _edit(study_copy / "variables.csv", "SEX,Collected", "GENDER,Collected")
    with open(study_copy / "variables.csv", "a") as fh:
        fh.write("DM,99,SITEID,,text,,,Collected,,,,,,\n")
    msg = _problems(study_copy)
    assert "DM.SEX: unknown codelist 'GENDER' (not in codelists.csv)" in msg
    assert "dataset DM: variable SITEID declared twice in variables.csv" in msg


@pytest.mark.slow
def test_broken_references_in_keys_forms_and_methods(study_copy):
    _edit(study_copy / "datasets.csv", '"STUDYID,USUBJID"', '"STUDYID,USUBJID,DMSEQ"')
    _edit(study_copy / "variables.csv", "MT.USUBJID", "MT.NOPE")
    _edit(study_copy / "forms.yaml", "{name: SEX, label: Sex, type: text, codelist: SEX", "{name: SEX, label: Sex, type: text, codelist: SEXX")
    msg = _problems(study_copy)
    assert "dataset DM: key variable DMSEQ is not one of its variables" in msg
    assert "DM.USUBJID: unknown method 'MT.NOPE' (not in methods.csv)" in msg
    assert "forms.yaml form enrol: field SEX: unknown codelist 'SEXX'" in msg


def test_contradicting_codelist_synonyms(study_copy):
    # "Man" already means M; listing it under F too makes the spec contradict itself
    _edit(study_copy / "codelists.csv", "Female|Woman", "Female|Woman|Man")
    msg = _problems(study_copy)
    assert "codelist SEX: collected value 'Man' maps to both 'F' and 'M'" in msg


def test_non_extensible_codelist_rejects_new_term(study_copy):
    with open(study_copy / "codelists.csv", "a") as fh:
        fh.write("SEX,C66731,,,,X,,,Other,,,9\n")
    assert "codelist SEX (C66731) is not extensible and has no term 'X'" in _problems(study_copy)


def test_wrong_ccode_is_reported(study_copy):
    _edit(study_copy / "codelists.csv", "SEX,C66731,,,,M,,", "SEX,C66731,,,,M,C99999,")
    assert "term 'M' has C-code C20197 in CDISC CT, spec says C99999" in _problems(study_copy)


def test_mapping_references_are_checked(study_copy):
    (study_copy / "sdtm").mkdir(exist_ok=True)
    (study_copy / "sdtm" / "zz_dm_broken.yaml").write_text(
        "dataset: DM\nblocks:\n  - form: enrol\n    map:\n      SEX: {ct: GENDER}\n      XXAGE: {assign: BRTHDAT}\n"
        "      SUBJID: {assign: SUBJID}\n"
    )
    for p in (study_copy / "sdtm").glob("*.yaml"):
        if p.name != "zz_dm_broken.yaml":
            p.unlink()
    msg = _problems(study_copy)
    assert "sdtm/zz_dm_broken.yaml block 1 DM.SEX: ct names unknown field enrol.GENDER" in msg
    assert "maps XXAGE, which is not a variable of DM in variables.csv" in msg


def test_missing_study_yaml(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpecError, match="no study.yaml"):
        load_study(tmp_path / "empty")


@pytest.mark.slow
def test_mapping_conditions_rules_and_supplemental_qualifiers_are_checked(study_copy):
    (study_copy / "sdtm" / "ae.yaml").write_text(
        "dataset: AE\nblocks:\n  - form: ae\n    where: {AEGRAD: {ge: 3}}\n    map:\n"
        "      AEENRTPT:\n        - {hardcode: ONGOING}\n        - {hardcode: BEFORE, when: {AEONGO: {maybe: Yes}}}\n"
        "      AETOXGR: {assign: [AEGRADE, AESER]}\n"
        "      AESER: {hardcode: Y, when: {AESER: Yes}}\n"
        "      AEOUT: {hardcode: FATAL, when: {AEOUT: {codelist: OUT, in: DEAD}}}\n"
        "    supp:\n      AEXYZ: AETERM\n      AERELDAR: {ct: AERELDAR}\n"
    )
    msg = _problems(study_copy)
    assert "sdtm/ae.yaml block 1: where names unknown field ae.AEGRAD" in msg
    assert "AE.AEENRTPT: only the last of several rules may lack 'when'" in msg
    assert "AE.AEENRTPT rule 2: when AEONGO: a test is one of ge, gt, le, lt, not, present" in msg
    assert "AE.AETOXGR: assign from several fields needs a 'format'" in msg
    assert "AE.AESER: when AESER: YAML reads an unquoted Yes/No/true/false as a boolean" in msg
    assert "AE.AEOUT: when AEOUT: 'DEAD' is not a term of codelist OUT" in msg
    assert "QNAM AEXYZ has no value-level row in valuelevel.csv (SUPPAE, QVAL, where 'QNAM EQ AEXYZ')" in msg
    assert "SUPPAE.AERELDAR: ct rule needs a codelist" in msg


def test_embedded_mappings_load_with_rule_lists_and_supp():
    spec = load_study()
    ex = spec.mappings["EX"]
    freq = ex.blocks[0].rules["EXDOSFRQ"]
    assert [r.source for r in freq] == ["EVERY WEEK", "EVERY 2 WEEKS", "EVERY 4 WEEKS"]
    assert dict(freq[0].when) == {"CYCLE": {"le": 2}}
    assert set(ex.blocks[1].supp) == {"EXCYCLE", "DOSELVL", "EXACN"}
    assert spec.mappings["SE"].options["build"] == "subject_elements"


def test_cdisc_ct_is_the_ct_copies_read_row_by_row():
    # the CT copies as plain csv reads them: the first header row of a codelist and the first row of a term win
    import csv
    import gzip

    from cdiscflow.specs.cdisc import CT_FILES, _cdisc_ct
    from cdiscflow.specs.model import STANDARDS_DIR

    rows = []
    for f in CT_FILES:
        with (gzip.open if f.endswith(".gz") else open)(STANDARDS_DIR / f, "rt", encoding="utf-8") as fh:
            rows += list(csv.DictReader(fh))
    expected: dict[str, dict] = {}
    for r in rows:
        if not r["Codelist Code"]:
            expected.setdefault(r["Code"], {"name": r["Codelist Name"], "terms": {},
                                            "extensible": r["Codelist Extensible (Yes/No)"] == "Yes"})
    for r in rows:
        if r["Codelist Code"] in expected:
            expected[r["Codelist Code"]]["terms"].setdefault(
                r["CDISC Submission Value"], {"code": r["Code"], "decode": r["NCI Preferred Term"]})
    ct = _cdisc_ct()
    assert list(ct) == list(expected) and len(ct) == len(expected) == 188
    for code, codelist in expected.items():
        assert ct[code] == codelist and list(ct[code]["terms"]) == list(codelist["terms"])
    acn = ct["C66767"]
    assert (acn["name"], acn["extensible"]) == ("Action Taken with Study Treatment", False)
    assert acn["terms"]["DOSE INCREASED"] == {"code": "C49503", "decode": "Dose Increased"}
    assert ct.get("C00000") is None and "C00000" not in ct and "C66767" in ct


def test_the_report_spec_is_built_once_per_spec_and_anew_for_a_changed_one():
    # the spec check's report spec is the one the run's export and report read (StudySpec.built)
    from dataclasses import replace

    from cdiscflow.specs.report import load_report_spec

    spec = load_study()
    report = load_report_spec(spec)
    assert load_report_spec(spec) is report and report.title.startswith("DARA-ATRA")
    doc = dict(spec.section("report"))
    retitled = replace(spec, sections={**spec.sections, "report": {**doc, "title": "Another title"}})
    assert load_report_spec(retitled).title == "Another title" and load_report_spec(spec) is report
    broken = replace(spec, sections={**spec.sections, "report": {**doc, "sections": []}})
    for _ in range(2):  # a spec with problems keeps nothing: each call reports them
        with pytest.raises(SpecError, match="sections: must be a non-empty list"):
            load_report_spec(broken)
