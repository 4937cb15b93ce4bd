"""The hand-off package (`cdiscflow package`): eCTD layout, manifest checksums, FDA file rules, refusals."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from cdiscflow.core.errors import InputError
from cdiscflow.core.findings import Findings
from cdiscflow.handoff import (check_file_rules, make_package, package_paths, read_manifest,
                                      refuse_overlap, study_folder)

ROOT = "m5/datasets/dara-atra"


@pytest.fixture(scope="module")
def run_out(tmp_path_factory) -> Path:
    from cdiscflow.pipeline import run

    out = tmp_path_factory.mktemp("handoff") / "out"
    run(out_dir=out, data_docs=False)
    return out


@pytest.fixture(scope="module")
def package(run_out) -> Path:
    target = run_out.parent / "submission"
    make_package(run_out, target)
    return target


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------------------------------------------
# quick: names, rules, refusals


def test_study_folder_is_lower_case_with_hyphens():
    assert study_folder("DARA-ATRA") == "dara-atra"
    assert study_folder("CDISCPILOT01") == "cdiscpilot01"
    assert study_folder("ABC 123/x") == "abc-123-x"
    assert package_paths("DARA-ATRA")["adam"] == f"{ROOT}/analysis/adam/datasets"


def test_file_rules_flag_upper_case_names_and_datasets_above_the_split_size():
    findings = Findings()
    plan = {f"{ROOT}/tabulations/sdtm/dm.xpt": b"x" * 11, f"{ROOT}/tabulations/sdtm/AE.xpt": b"x" * 5,
            f"{ROOT}/analysis/adam/datasets/adsl.xpt": b"x" * 10,
            f"{ROOT}/analysis/adam/programs/run.json": b"x" * 50,
            f"{ROOT}/analysis/adam/datasets/adtte_long.xpt": b"x"}
    check_file_rules(plan, 10, findings)
    frame = findings.frame()
    assert sorted(zip(frame["rule_id"], frame["severity"], frame["source"])) == [
        ("PKG-FILE-NAME", "error", f"{ROOT}/analysis/adam/datasets/adtte_long.xpt"),  # 10 characters
        ("PKG-FILE-NAME", "error", f"{ROOT}/tabulations/sdtm/AE.xpt"),
        ("PKG-FILE-SIZE", "warning", f"{ROOT}/tabulations/sdtm/dm.xpt"),  # 11 > 10; adsl (10) and the program are not
    ]


def test_the_package_never_goes_into_or_around_the_run_folder(tmp_path):
    run = tmp_path / "out"
    for target in (run, run / "submission", tmp_path):
        with pytest.raises(InputError, match="outside the run folder"):
            refuse_overlap(run, target)
    refuse_overlap(run, tmp_path / "submission")  # a sibling is fine


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(InputError, match="no run.json"):
        make_package(tmp_path / "out", tmp_path / "sub")
    assert not (tmp_path / "sub").exists()


# ----------------------------------------------------------------------------------------------------------------
# slow: a real run packaged


@pytest.mark.slow
def test_package_has_the_ectd_layout(run_out, package):
    files = _files(package)
    sdtm, adam = f"{ROOT}/tabulations/sdtm", f"{ROOT}/analysis/adam"
    run_files = json.loads((run_out / "run.json").read_text())["files"]
    for rel in run_files:
        folder, name = rel.split("/", 1) if "/" in rel else ("", rel)
        if name.endswith((".xpt", "define.xml", ".xsl")) and folder in ("sdtm", "adam"):
            where = sdtm if folder == "sdtm" else f"{adam}/datasets"
            assert files[f"{where}/{name}"] == (run_out / rel).read_bytes(), rel
    assert f"{sdtm}/dm.xpt" in files and f"{adam}/datasets/adsl.xpt" in files
    assert not [p for p in files if p.endswith(".json") and ("/sdtm/" in p or "adam/datasets/" in p)]
    # the program: the spec folder (without the raw export), run.json and how to rerun
    assert files[f"{adam}/programs/spec/study.yaml"] == Path(
        json.loads((run_out / "run.json").read_text())["study"]["spec"], "study.yaml").read_bytes()
    assert not [p for p in files if "/programs/spec/raw/" in p]
    rerun = files[f"{adam}/programs/rerun.txt"].decode()
    from cdiscflow import __version__

    assert f"pip install cdiscflow=={__version__}" in rerun
    assert ("cdiscflow run --raw RAW_EXPORT --study spec --out out --on-error strict --fail-on error "
            "--no-data-docs") in rerun
    assert files[f"{adam}/programs/run.json"] == (run_out / "run.json").read_bytes()


@pytest.mark.slow
def test_packaged_spec_has_the_fingerprint_recorded_in_run_json(run_out, package):
    from cdiscflow.pipeline import _spec_fingerprint
    from cdiscflow.specs.load import load_study

    spec = load_study(package / ROOT / "analysis/adam/programs/spec")
    assert _spec_fingerprint(spec) == json.loads((run_out / "run.json").read_text())["study"]["spec_sha256"]


@pytest.mark.slow
def test_manifest_lists_every_file_with_its_size_and_sha256(package):
    manifest = read_manifest(package / "manifest.csv")
    files = _files(package)
    assert sorted(manifest["path"]) == sorted(p for p in files if p != "manifest.csv")
    for row in manifest.itertuples(index=False):
        data = files[row.path]
        assert row.bytes == len(data)
        assert row.sha256 == hashlib.sha256(data).hexdigest()
    findings = (package / "package_findings.csv").read_text()
    assert findings.splitlines()[0].startswith("severity,rule_id,dataset")
    assert len(findings.splitlines()) == 1  # our own names are lower-case and small


@pytest.mark.slow
def test_package_is_deterministic_and_dataset_json_is_optional(run_out, package, tmp_path):
    again = tmp_path / "again"
    make_package(run_out, again)
    assert _files(again) == _files(package)
    with_json = tmp_path / "with_json"
    make_package(run_out, with_json, dataset_json=True)
    files = _files(with_json)
    assert files[f"{ROOT}/tabulations/sdtm/dm.json"] == (run_out / "sdtm" / "dm.json").read_bytes()
    assert f"{ROOT}/analysis/adam/datasets/adsl.json" in files


@pytest.mark.slow
def test_package_refuses_a_non_empty_folder_and_a_changed_spec(run_out, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        make_package(run_out, busy)
    assert (busy / "keep.txt").read_text() == "mine"
    make_package(run_out, busy, force=True)  # replaced whole
    assert not (busy / "keep.txt").exists() and (busy / "manifest.csv").is_file()

    spec = Path(json.loads((run_out / "run.json").read_text())["study"]["spec"])
    moved = tmp_path / "spec"
    shutil.copytree(spec, moved, ignore=shutil.ignore_patterns("raw"))
    make_package(run_out, tmp_path / "moved_ok", study=moved)  # same files: same fingerprint
    (moved / "methods.csv").write_text((moved / "methods.csv").read_text() + "\n")
    with pytest.raises(InputError, match="changed since the run"):
        make_package(run_out, tmp_path / "changed", study=moved)
    assert not (tmp_path / "changed").exists()


@pytest.mark.slow
def test_cli_package_and_run_package(run_out, tmp_path):
    from click.testing import CliRunner

    from cdiscflow.cli import main

    res = CliRunner().invoke(main, ["package", "--run", str(run_out), "--out", str(tmp_path / "sub")])
    assert res.exit_code == 0, res.output
    assert "checksums in" in res.output
    res = CliRunner().invoke(main, ["package", "--run", str(run_out), "--out", str(run_out / "sub")])
    assert res.exit_code == 2 and "outside the run folder" in res.output


@pytest.mark.slow
def test_package_carries_arm_ars_and_guides(run_out, package):
    from lxml import etree

    from cdiscflow.export.arm import ARM
    from cdiscflow.export.define import validate_define
    from cdiscflow.report.ars import validate_reporting_event

    adam = package / ROOT / "analysis/adam"
    define = adam / "datasets/define.xml"
    assert validate_define(define) == []
    assert len(etree.parse(str(define)).getroot().findall(f".//{{{ARM}}}ResultDisplay")) == 17
    event = json.loads((adam / "results/reporting_event.json").read_text())
    assert validate_reporting_event(event) == []
    ard = (adam / "results/ard.csv").read_text().splitlines()
    assert len(ard) == 1 + len((run_out / "report/statistics.csv").read_text().splitlines()) - 1
    log = json.loads((run_out / "run.json").read_text())
    written = next(s for s in log["stages"] if s["stage"] == "export")["rows_out"]
    sdrg = (package / ROOT / "tabulations/sdtm/sdrg.html").read_text()
    adrg = (adam / "datasets/adrg.html").read_text()
    for name, records in written.items():
        page = adrg if name.startswith("AD") else sdrg
        assert f"<tr><td>{name}</td>" in page and f"<td>{records}</td><td>{name.lower()}.xpt</td>" in page, name


def test_run_package_inside_the_run_folder_is_refused_before_any_work(tmp_path):
    from click.testing import CliRunner

    from cdiscflow.cli import main

    res = CliRunner().invoke(main, ["run", "--out", str(tmp_path / "out"), "--package", str(tmp_path / "out" / "p")])
    assert res.exit_code == 2 and "outside the run folder" in res.output
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_run_with_package_writes_both(tmp_path):
    from click.testing import CliRunner

    from cdiscflow.cli import main

    res = CliRunner().invoke(main, ["run", "--out", str(tmp_path / "out"), "--no-data-docs", "-q",
                                    "--package", str(tmp_path / "submission")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "findings.xlsx").is_file()
    manifest = read_manifest(tmp_path / "submission" / "manifest.csv")
    assert f"{ROOT}/analysis/adam/datasets/adsl.xpt" in set(manifest["path"])


def test_a_run_that_stopped_or_wrote_nothing_is_refused(tmp_path):
    run = tmp_path / "out"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"error": {"type": "InputError", "message": "raw/dm.csv is missing"},
                                              "files": []}))
    with pytest.raises(InputError, match="the run stopped .raw/dm.csv is missing"):
        make_package(run, tmp_path / "sub")
    (run / "run.json").write_text(json.dumps({"files": ["findings.csv"], "study": {"spec": str(tmp_path / "x")}}))
    with pytest.raises(InputError, match="wrote no datasets"):
        make_package(run, tmp_path / "sub")
    (run / "run.json").write_text(json.dumps({"files": ["adam/define.xml"], "study": {"spec": str(tmp_path / "x")}}))
    (run / "adam").mkdir()
    (run / "adam" / "define.xml").write_text("<ODM/>")
    with pytest.raises(InputError, match="is not there any more; give it with --study"):
        make_package(run, tmp_path / "sub")
    assert not (tmp_path / "sub").exists()
