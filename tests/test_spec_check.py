"""check-spec: one typed model of every spec file, every problem at once with file, line, key and hint; commands
refuse a spec with problems before reading any raw file (issue 15, first half; issue 16.9 YAML limits)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cdiscflow.cli import main
from cdiscflow.core.errors import SpecError
from cdiscflow.usecases import check_spec, require_valid_spec
from cdiscflow.specs.safe_yaml import YamlProblem, parse_yaml

REPO = Path(__file__).resolve().parents[1]
STUDIES = [REPO / "specs" / "dara_atra", REPO / "specs" / "pharmaverse_pilot", REPO / "specs" / "cdiscpilot01",
           REPO / "tests" / "data" / "pharmaverse_imwg", REPO / "tests" / "data" / "second_study"]


def _sub(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("study", STUDIES, ids=lambda p: p.name)
def test_every_study_in_the_repository_passes(study):
    assert [str(p) for p in check_spec(study)] == []


# one planted problem per kind: (file, old text, new text, expected (file, line, key, message part, hint part))
PLANTED = [
    ("adam/adsl.yaml", "  filter: EXDOSE > 0", "  filtre: EXDOSE > 0",
     ("adam/adsl.yaml", 7, "exposure.filtre", "unknown key 'filtre'", "did you mean 'filter'?")),
    ("adam/adsl.yaml", 'AGEGR1: {cases: {"<65": AGE < 65', 'AGEGR1: {cases: {"<65": AEG < 65',
     ("adam/adsl.yaml", 63, "derive.AGEGR1.cases.<65", "names AEG, which is no variable of the study", "")),
    ("adam/adae.yaml", "filter: ATOXGRN >= 2 or AEDECOD == 'Infusion related reaction'",
     "filter: ATOXGRN >= 2 or or AEDECOD == 'x'",
     ("adam/adae.yaml", 21, "treatment_emergent.filter", "is not a valid expression", "")),
    ("adam/tte.yaml", "    dataset: ADRS", "    dataset: ADRX",
     ("adam/tte.yaml", 8, "sources.pd_partb.dataset", "reads dataset 'ADRX'", "did you mean ADRS?")),
    ("sdtm/dm.yaml", "      SEX: {ct: SEX}", "      SEX: {ct: SEX, codlist: SEX}",
     ("sdtm/dm.yaml", 10, "blocks[1].map.SEX.codlist", "unknown key 'codlist'", "did you mean 'codelist'?")),
    ("sdtm/dm.yaml", "      RACE: {ct: RACE}", "      RACE: {ct: RACEE}",
     ("sdtm/dm.yaml", 11, "block 1 DM.RACE", "ct names unknown field enrol.RACEE", "")),
    ("variables.csv", "DM,4,SUBJID,,text,,,Collected,Enrollment,,,,,", "DM,4,SUBJID,,text,,NOSUCHCL,Collected,Enrollment,,,,,",
     ("variables.csv", 5, "", "unknown codelist 'NOSUCHCL'", "")),
    ("study.yaml", 'usubjid: "{STUDYID}-{SUBJID}"', 'usubjid: "{STUDYID}-{SUBJIDX}"',
     ("study.yaml", 40, "raw.usubjid", "template names field {SUBJIDX}", "did you mean {SUBJID}?")),
    ("study.yaml", '  SDTMIG: "3.4"', "  SDTMIG: 3.4",
     ("study.yaml", 23, "standards.SDTMIG", "expected text, got 3.4", "quote it")),
    ("report.yaml", "ENRL: {label: Part A, where: \"ENRLFL == 'Y'\"}",
     "ENRL: {label: Part A, where: \"ENRLFL == 'Y'\", colour: red}",
     ("report.yaml", 14, "populations.ENRL.colour", "unknown key 'colour'", "expected one of: label, where, dataset")),
    ("forms.yaml", "type: date", "type: dat",
     ("forms.yaml", 21, "forms.enrol.fields[3].type", "got 'dat'", "")),
    ("codelists.csv", "codelist,codelist_code", "codelist,codelist_cod",
     ("codelists.csv", 1, "codelist_cod", "unknown column", "did you mean 'codelist_code'?")),
]


@pytest.mark.slow
def test_check_spec_reports_every_planted_problem_at_once(study_copy):
    for file, old, new, _ in PLANTED:
        _sub(study_copy / file, old, new)
    problems = check_spec(study_copy)
    for _, _, _, (file, line, key, message, hint) in PLANTED:
        hits = [p for p in problems if p.file == file and p.line == line and p.key == key and message in p.message
                and hint in p.hint]
        assert len(hits) == 1, (file, line, key, message, [str(p) for p in problems if p.file == file])
    assert len(problems) == len(PLANTED)  # nothing reported twice, nothing else
    # the command prints them all, file:line first, and ends with the spec exit code
    res = CliRunner().invoke(main, ["check-spec", str(study_copy)])
    assert res.exit_code == 2
    assert f"{len(PLANTED)} problems" in res.output
    assert "adam/adsl.yaml:7: exposure.filtre: unknown key 'filtre' (hint: did you mean 'filter'?)" in res.output


@pytest.mark.slow
def test_run_and_sdtm_refuse_a_bad_spec_before_reading_raw(study_copy, tmp_path):
    _sub(study_copy / "adam/adsl.yaml", "  filter: EXDOSE > 0", "  filtre: EXDOSE > 0")
    missing_raw = tmp_path / "no_such_raw_folder"  # a read would be an InputError (exit 2 too): the message tells
    out = tmp_path / "out"
    for args in (["run", "--study", str(study_copy), "--raw", str(missing_raw), "--out", str(out)],
                 ["sdtm", "--study", str(study_copy), "--raw", str(missing_raw), "--out", str(out / "sdtm")]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2, res.output
        assert "exposure.filtre: unknown key 'filtre'" in res.output
        assert "no_such_raw_folder" not in res.output
    assert not (out / "sdtm").exists()


def test_batch_refuses_a_bad_spec_before_reading_raw(study_copy, tmp_path):
    _sub(study_copy / "adam/tte.yaml", "    dataset: ADRS", "    dataset: ADRX")
    raw = tmp_path / "exports" / "one"
    raw.mkdir(parents=True)
    (raw / "enrol.csv").write_bytes(b"\xff\xfe not a csv")  # unreadable: would fail differently if read
    res = CliRunner().invoke(main, ["batch", str(tmp_path / "exports"), "--study", str(study_copy),
                                    "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert "reads dataset 'ADRX'" in res.output


def test_require_valid_spec_lists_problems_in_the_error(study_copy):
    _sub(study_copy / "study.yaml", "synthetic: true", "synthetic: true\nsynthetc: true")
    with pytest.raises(SpecError) as exc:
        require_valid_spec(study_copy)
    assert any("study.yaml:" in p and "unknown key 'synthetc'" in p and "did you mean 'synthetic'?" in p
               for p in exc.value.problems)


def test_alias_bomb_fails_fast_with_a_clear_error():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))
    with pytest.raises(YamlProblem, match="expand to more than"):
        parse_yaml(bomb, "adam/adsl.yaml")


@pytest.mark.slow
def test_alias_bomb_in_a_spec_is_a_check_spec_problem(study_copy):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))
    (study_copy / "facts.yaml").write_text(bomb, encoding="utf-8")
    problems = check_spec(study_copy)
    assert any(p.file == "facts.yaml" and "expand to more than" in p.message for p in problems)


def test_oversized_yaml_is_refused(study_copy, monkeypatch):
    from cdiscflow.specs import safe_yaml

    monkeypatch.setattr(safe_yaml, "MAX_YAML_BYTES", 100)
    problems = check_spec(study_copy)
    assert any(p.file == "study.yaml" and "at most 100" in p.message for p in problems)


def test_key_lines_and_small_aliases():
    data, lines = parse_yaml("base: &b {x: 1}\nuse:\n  - *b\n  - {y: 2,\n     z: 3}\n")
    assert data == {"base": {"x": 1}, "use": [{"x": 1}, {"y": 2, "z": 3}]}
    assert lines[("base",)] == 1 and lines[("use", 1)] == 4 and lines[("use", 1, "z")] == 5


def test_key_lines_are_keyed_as_the_document_is():
    # keys as the safe constructor makes them: plain and quoted text, numbers, booleans; a date stays text
    data, lines = parse_yaml('cases:\n  1: one\n  "2": two\n  2.5: three\n  2020-01-01: four\n  "no": five\n'
                             '  no: six\n')
    assert list(data["cases"]) == [1, "2", 2.5, __import__("datetime").date(2020, 1, 1), "no", False]
    assert [k for k in lines if len(k) == 2] == [("cases", 1), ("cases", "2"), ("cases", 2.5),
                                                 ("cases", "2020-01-01"), ("cases", "no"), ("cases", False)]
    assert lines[("cases", 1)] == 2 and lines[("cases", 2.5)] == 4 and lines[("cases", False)] == 7


@pytest.mark.slow
def test_an_unknown_yaml_file_is_named(study_copy):
    shutil.copy(study_copy / "report.yaml", study_copy / "reprot.yaml")
    problems = check_spec(study_copy)
    assert [(p.file, p.hint) for p in problems] == [("reprot.yaml", "did you mean report.yaml?")]


@pytest.mark.slow
def test_docs_reference_and_schema_are_generated_from_the_model():
    """docs/spec-reference.md and docs/spec.schema.json are what the model says (regenerate: see the README)."""
    import json

    from cdiscflow.specs.typed_reference import reference_markdown, schema_text

    assert (REPO / "docs" / "spec-reference.md").read_text(encoding="utf-8") == reference_markdown()
    assert (REPO / "docs" / "spec.schema.json").read_text(encoding="utf-8") == schema_text()
    schema = json.loads(schema_text())
    adsl = schema["$defs"]["AdslFile"]
    assert adsl["additionalProperties"] is False and "extreme_events" in adsl["properties"]


@pytest.mark.slow
def test_schema_accepts_the_embedded_study_file_and_rejects_a_typo():
    import json

    import jsonschema
    import yaml

    from cdiscflow.specs.typed_reference import schema_text

    schema = json.loads(schema_text())
    study = yaml.safe_load((REPO / "specs/dara_atra/study.yaml").read_text(encoding="utf-8"))
    study["datacut"] = str(study["datacut"])
    sub = {"$defs": schema["$defs"], **schema["$defs"]["StudyFile"]}
    jsonschema.validate(study, sub)
    with pytest.raises(jsonschema.ValidationError, match="synthetc"):
        jsonschema.validate({**study, "synthetc": True}, sub)


def test_the_typed_model_and_the_loaders_allow_the_same_keys():
    """One fact in two places is checked here: the keys each ADaM loader accepts are the model's fields."""
    from cdiscflow.adam.recipes import adae, adrs, adsl
    from cdiscflow.adam.verbs import merge, sources, tte
    from cdiscflow.specs import typed_adam as typed

    def fields(model):
        return {f.alias or n for n, f in model.model_fields.items()}

    assert fields(typed.AdslFile) == adsl._KEYS
    assert fields(typed.AdaeFile) == adae._KEYS
    assert fields(typed.AdrsFile) == adrs._KEYS
    assert fields(typed.ResponseSource) == adrs._SOURCE_KEYS
    assert fields(typed.MergeRuleModel) == merge._MERGE_KEYS
    assert fields(typed.SummaryRuleModel) == merge._SUMMARY_KEYS
    assert fields(typed.DateRuleModel) == sources._DATE_KEYS
    assert fields(typed.TteSourceModel) == tte._SOURCE_KEYS
    assert fields(typed.TteParameterModel) == tte._PARAM_KEYS


def test_paramcd_and_param_are_codelists_in_the_adam_define(tmp_path):
    """PARAMCD (decoded by PARAM) and PARAM of ADRS/ADTTE/ADBASE are codelists from the parameters the ADaM spec
    files declare: define.xml lists them and validation checks the data against them."""
    import pandas as pd
    from lxml import etree

    from cdiscflow.export.define import validate_define
    from cdiscflow.specs.load import load_study
    from cdiscflow.usecases import export_spec_define as export_define
    from cdiscflow.validation.api import validate_datasets

    spec = load_study("dara_atra")
    adrs = spec.dataset("ADRS")
    assert adrs.variable("PARAMCD").codelist == "ADRS.PARAMCD" and adrs.variable("PARAM").codelist == "ADRS.PARAM"
    terms = spec.codelist("ADRS.PARAMCD").terms
    assert [t.value for t in terms] == ["OVR", "COVR", "CBOR", "RSP", "CBR", "DCR", "PD", "LSTA", "DEATH"]
    assert terms[0].decode == "Overall Response by Investigator (IMWG 2016)"
    assert not spec.codelist("ADRS.PARAMCD").extensible
    adbase = spec.codelist("ADBASE.PARAMCD")
    assert len(adbase.terms) == 55 and "AGE" in adbase.values
    adam = export_define(spec, tmp_path / "define.xml", "ADaM")
    assert validate_define(adam.path) == []
    ns = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
    root = etree.parse(str(adam.path)).getroot()
    cl = root.find(".//odm:CodeList[@OID='CL.ADRS.PARAMCD']", ns)
    assert cl is not None
    items = cl.findall("odm:CodeListItem", ns)
    assert [i.get("CodedValue") for i in items][:3] == ["OVR", "COVR", "CBOR"]
    assert items[0].find("odm:Decode/odm:TranslatedText", ns).text == "Overall Response by Investigator (IMWG 2016)"
    ref = root.find(".//odm:ItemDef[@OID='IT.ADRS.PARAMCD']/odm:CodeListRef", ns)
    assert ref is not None and ref.get("CodeListOID") == "CL.ADRS.PARAMCD"
    # a PARAMCD the spec does not declare is a validation error
    frame = pd.DataFrame({"STUDYID": ["DARA-ATRA"], "USUBJID": ["DARA-ATRA-001"], "PARAMCD": ["BESTRESP"],
                          "PARAM": ["Overall Response by Investigator (IMWG 2016)"]})
    findings = validate_datasets({"ADRS": frame}, spec).frame()
    hits = findings[(findings["variable"] == "PARAMCD") & (findings["rule_id"] == "SCH-CT-001")]
    assert list(hits["value"].astype(str)) == ["BESTRESP"]


@pytest.mark.slow
def test_adam_and_report_refuse_a_bad_spec_before_reading_their_inputs(study_copy, tmp_path):
    _sub(study_copy / "adam/adsl.yaml", "  filter: EXDOSE > 0", "  filtre: EXDOSE > 0")
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "dm.xpt").write_bytes(b"not an xpt file")  # reading it would be a different error
    (folder / "adsl.xpt").write_bytes(b"not an xpt file")
    for args in (["adam", "--sdtm", str(folder), "--study", str(study_copy), "--out", str(tmp_path / "adam")],
                 ["report", "--adam", str(folder), "--study", str(study_copy), "--out", str(tmp_path / "report")]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2, res.output
        assert "exposure.filtre: unknown key 'filtre'" in res.output and "xpt" not in res.output.lower()
    assert not (tmp_path / "adam").exists() and not (tmp_path / "report").exists()
