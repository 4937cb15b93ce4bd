"""out/reviewers_guide.html, "Conformance issues": rule, dataset, count, explanation from specs/<study>/conformance.yaml,
for cdiscflow's findings and a CDISC CORE report (issue 16)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from cdiscflow.core.errors import InputError, SpecError
from cdiscflow.core.findings import Findings
from cdiscflow.specs.model import SPECS_DIR
from cdiscflow.validation.reviewers_guide import (NOT_EXPLAINED, conformance_issues, core_issues, load_explanations,
                                                 write_reviewers_guide)

HOSTILE = "<script>alert('x')</script> & \"q\""


def _core(tmp_path, rules: dict) -> str:
    p = tmp_path / "core.json"
    p.write_text(json.dumps({"elapsed_s": 12.5, "rules": rules}))
    return str(p)


def _findings() -> Findings:
    f = Findings()
    for row in (1, 2):
        f.add(severity="warning", rule_id="SCH-CT-002", dataset="AE", variable="EPOCH", subject="S-1", row=row,
              value=HOSTILE, expected="", message="", source="schema")
    f.add(severity="note", rule_id="CF-RS-002", dataset="RS", variable="RSCAT", subject="", row=None, value="",
          expected="", message="", source="rules")
    return f


def _spec(tmp_path, conformance: str | None):
    folder = tmp_path / "study"
    folder.mkdir(exist_ok=True)
    if conformance is not None:
        (folder / "conformance.yaml").write_text(conformance)
    return SimpleNamespace(path=folder, studyid="TEST<1>")


def test_issues_are_counted_per_rule_and_dataset_and_explained_only_where_covered(tmp_path):
    spec = _spec(tmp_path, f"""explanations:
  CORE-001078:
    text: Deaths from progression are not adverse events. {HOSTILE}
    datasets: [AE]
  SCH-CT-002:
    text: Sponsor epochs.
""")
    core = _core(tmp_path, {"CORE-001078": {"issues": 48, "by_dataset": {"AE": 46, "DM": 2, "CM": 0}},
                            "CORE-000001": {"issues": 0, "by_dataset": {"AE": 0}}})
    table = conformance_issues(_findings(), load_explanations(spec.path), core)
    got = [tuple(r) for r in table[["source", "rule", "dataset", "severity", "count"]].itertuples(index=False)]
    assert got == [("CDISC CORE", "CORE-001078", "AE", "issue", 46), ("CDISC CORE", "CORE-001078", "DM", "issue", 2),
                   ("cdiscflow", "CF-RS-002", "RS", "note", 1), ("cdiscflow", "SCH-CT-002", "AE", "warning", 2)]
    assert list(table["explanation"]) == [f"Deaths from progression are not adverse events. {HOSTILE}",
                                          NOT_EXPLAINED, NOT_EXPLAINED, "Sponsor epochs."]


def test_page_escapes_every_value_and_is_deterministic(tmp_path):
    spec = _spec(tmp_path, f"explanations:\n  SCH-CT-002:\n    text: {json.dumps(HOSTILE)}\n")
    core = _core(tmp_path, {"CORE-<b>1</b>": {"by_dataset": {"A<E": 3}}})
    path = write_reviewers_guide(spec, _findings(), tmp_path / "out", core_report=core)
    html = path.read_text()
    assert path.name == "reviewers_guide.html" and "Conformance issues" in html
    assert "<script>" not in html and "<b>1" not in html and "A<E" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;q&#34;" in html
    assert "CORE-&lt;b&gt;1&lt;/b&gt;" in html and "TEST&lt;1&gt;" in html
    first = html
    write_reviewers_guide(spec, _findings(), tmp_path / "out", core_report=core)
    assert path.read_text() == first


@pytest.mark.parametrize("text, message", [
    ("rules: {}\n", "expected one top-level key 'explanations', found rules"),
    ("explanations:\n  CORE-1: {datasets: [AE]}\n", "explanations.CORE-1: needs 'text'"),
    ("explanations:\n  CORE-1: {text: x, why: y}\n", "explanations.CORE-1: unknown key(s) why"),
    ("explanations:\n  CORE-1: {text: x, datasets: AE}\n", "explanations.CORE-1.datasets: a list"),
])
def test_malformed_conformance_yaml_is_a_spec_error_naming_the_key(tmp_path, text, message):
    with pytest.raises(SpecError, match="conformance.yaml: " + message.replace("(", r"\(").replace(")", r"\)")):
        load_explanations(_spec(tmp_path, text).path)


def test_conformance_yaml_that_is_not_yaml_or_an_alias_bomb_is_a_spec_error_naming_the_line(tmp_path):
    with pytest.raises(SpecError, match=r"conformance.yaml line 4: not valid YAML"):
        load_explanations(_spec(tmp_path, "explanations:\n  CORE-1: {text: x}\n  CORE-2: [unclosed\n").path)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{k}: &{k} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, k in zip("abcdef", "bcdefg"))
    with pytest.raises(SpecError, match="alias bomb"):  # read as every spec file is, within its limits
        load_explanations(_spec(tmp_path, bomb).path)


def test_not_a_core_report(tmp_path):
    p = tmp_path / "core.json"
    p.write_text('{"results": []}')
    with pytest.raises(InputError, match="core.json: not a CORE report"):
        core_issues(p)


def test_embedded_study_explains_every_core_rule_left():
    """The seven CORE rules that still report issues on DARA-ATRA's SDTM are explained (rule -> datasets)."""
    found = load_explanations(SPECS_DIR / "dara_atra")
    assert {r: e.datasets for r, e in found.items()} == {
        "CORE-000701": ("CM", "GF", "LB"), "CORE-000717": ("AE",), "CORE-000726": ("DM",), "CORE-000741": ("TS",),
        "CORE-000766": ("MH",), "CORE-000767": ("AE", "CM", "DS", "MH", "PR"), "CORE-001078": ("AE",)}


@pytest.mark.slow
def test_check_spec_reports_a_malformed_conformance_yaml(study_copy):
    from click.testing import CliRunner

    from cdiscflow.cli import main

    good = CliRunner().invoke(main, ["check-spec", str(study_copy)])
    assert good.exit_code == 0 and "conformance.yaml: 7 explained rules: OK" in good.output
    (study_copy / "conformance.yaml").write_text("explanations:\n  CORE-000701: {txt: typo}\n")
    bad = CliRunner().invoke(main, ["check-spec", str(study_copy)])
    assert bad.exit_code == 2  # the typed spec model names file, line, key and the likely fix
    assert "conformance.yaml:2: explanations.CORE-000701.txt: unknown key 'txt' (hint: did you mean 'text'?)" \
        in bad.output
