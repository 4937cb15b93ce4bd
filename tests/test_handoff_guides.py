"""Draft SDRG and ADRG: every dataset with its record count, every remaining issue with its explanation, data
escaped."""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest

from cdiscflow.core.findings import Findings
from cdiscflow.report.guides import remaining_issues, reviewers_guides
from cdiscflow.specs.load import load_study


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.fixture
def guides(tmp_path, study_copy):
    (study_copy / "conformance.yaml").write_text(
        "explanations:\n"
        "  CF-AE-001:\n"
        "    text: Grade 5 events are recorded as deaths in DD; the <b>outcome</b> is left as collected.\n"
        "    datasets: [AE]\n"
        "  CF-ADSL-009: {text: 'Screen failures are not in ADSL by design.', datasets: [ADAE]}\n")
    spec = load_study(study_copy)
    findings = Findings()
    findings.add(severity="error", rule_id="CF-AE-001", dataset="AE", subject="S1", row=3,
                 message="AEOUT <script>alert(1)</script> with grade 5")
    findings.add(severity="error", rule_id="CF-AE-001", dataset="AE", subject="S2", row=7, message="second")
    findings.add(severity="warning", rule_id="CF-ADSL-009", dataset="ADSL", subject="S3", message="ADSL issue")
    findings.add(severity="note", rule_id="DEFINE-VLM", dataset="", message="a note about no dataset")
    run = tmp_path / "out"
    run.mkdir()
    findings.write(run)
    records = {ds: i + 10 for i, ds in enumerate(spec.datasets)}
    log = {"cdiscflow": "9.9.9", "python": "3.11.7", "libraries": {"pandas": "3.1.1"},
           "options": {"on_error": "reject", "fail_on": "error", "data_docs": True},
           "study": {"studyid": spec.studyid, "datacut": "2020-10-01"},
           "standards": dict(spec.study["standards"]),
           "stages": [{"stage": "sdtm", "rows_in": {"enrol": 63}, "rows_out": {}},
                      {"stage": "export", "rows_out": records}]}
    sdrg, adrg = reviewers_guides(run, log, spec)
    return spec, records, sdrg, adrg


def test_guides_list_every_dataset_with_its_records(guides):
    spec, records, sdrg, adrg = guides
    for page, standard in ((sdrg, "SDTM"), (adrg, "ADaM")):
        rows = re.findall(r"<tr><td>([A-Z0-9]+)</td><td>[^<]*</td><td>[^<]*</td><td>[^<]*</td>\s*<td>[^<]*</td>"
                          r"<td>(\d+)</td><td>([a-z0-9]+\.xpt)</td></tr>", page)
        expected = [(ds.name, str(records[ds.name]), f"{ds.name.lower()}.xpt") for ds in spec.standard(standard)]
        assert rows == expected
        assert len(expected) > 4
    assert "<td>enrol</td>" in sdrg and "<td>63</td>" in sdrg  # raw form -> SDTM with the rows read
    assert "ADSL" in _text(adrg) and "Best confirmed response per part" in _text(adrg)  # a report display


def test_guides_hold_every_remaining_issue_with_its_explanation(guides):
    _, _, sdrg, adrg = guides
    s, a = _text(sdrg), _text(adrg)
    assert "CF-AE-001" in s and "CF-AE-001" not in a
    assert "CF-ADSL-009" in a and "CF-ADSL-009" not in s
    assert "DEFINE-VLM" in s and "DEFINE-VLM" in a  # no dataset: in both
    assert "Grade 5 events are recorded as deaths in DD; the <b>outcome</b> is left as collected." in s
    # the ADSL explanation is for ADAE only: the ADSL finding is not explained
    assert "Screen failures" not in a and "Not yet explained" in a
    row = re.search(r"<td>CF-AE-001</td><td>AE</td><td>(\d+)</td>\s*<td>(\d+)</td>", sdrg)
    assert row.groups() == ("2", "2")


@pytest.mark.slow
def test_guides_escape_the_data(guides):
    _, _, sdrg, _ = guides
    assert "<script>" not in sdrg and "&lt;script&gt;alert(1)&lt;/script&gt;" in sdrg
    assert "<b>outcome</b>" not in sdrg and "&lt;b&gt;outcome&lt;/b&gt;" in sdrg


def test_remaining_issues_without_findings_is_empty(study_copy):
    assert remaining_issues(pd.DataFrame(columns=["severity", "rule_id", "dataset", "subject", "message"]),
                            load_study(study_copy)) == []
