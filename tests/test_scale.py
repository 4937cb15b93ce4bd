"""Subject-partitioned runs (cdiscflow.scale): the partition of a subject, the row numbers a partition reports,
and the bytes of a partitioned run, which must not depend on the partition count or on where partitions run."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cdiscflow.core.errors import CdiscflowError, FindingsError, InputError
from cdiscflow.pipeline import run, without_timings
from cdiscflow.scale import (SubjectSelection, combine_findings, fnv1a_64, map_partitions, run_partitioned,
                             subject_partition)
from cdiscflow.specs.load import load_study


def _fnv1a_reference(text: str) -> int:  # the published algorithm, byte by byte, as an independent check
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) % (1 << 64)
    return h


# ----------------------------------------------------------------------------------------------------------------
# which partition


def test_fnv1a_64_matches_the_published_test_vectors():
    got = fnv1a_64(pd.Series(["", "a", "foobar", None]))
    assert [int(x) for x in got] == [0xCBF29CE484222325, 0xAF63DC4C8601EC8C, 0x85944171F73967E8, 0xCBF29CE484222325]


def test_subject_partition_is_the_hash_modulo_the_count_whatever_the_other_subjects():
    subjects = pd.Series(["01-001", "01-002", "02-017", "01-001", "03-104", "Ünïcode-7", None])
    for count in (1, 2, 4, 16):
        got = subject_partition(subjects, count)
        expected = [_fnv1a_reference(s if isinstance(s, str) else "") % count for s in subjects]
        assert got.tolist() == expected
        alone = [int(subject_partition(pd.Series([s]), count)[0]) for s in subjects]  # same partition alone
        assert alone == expected
    assert subject_partition(subjects, 1).tolist() == [0] * 7


def test_a_selection_keeps_a_partitions_rows_numbered_from_1_and_knows_their_rows_in_the_file():
    frame = pd.DataFrame({"SUBJID": ["a", "b", "a", "c", "b", "a"], "X": list("123456")},
                         index=pd.RangeIndex(1, 7, name="row"))
    broken = pd.DataFrame({"rule_id": ["RAW-FIELDS", "RAW-FIELDS"]}, index=pd.Index([3, 4], name="row"))
    part = int(subject_partition(pd.Series(["a"]), 2)[0])
    select = SubjectSelection("SUBJID", part, 2)

    class _F:  # the selection reads only the form's name
        name = "f"

    kept, kept_broken = select(_F(), frame, broken)
    same = subject_partition(frame["SUBJID"], 2) == part
    assert kept["X"].tolist() == frame.loc[same, "X"].tolist()
    assert kept.index.tolist() == list(range(1, int(same.sum()) + 1)) and kept.index.name == "row"
    assert select.rows["f"].tolist() == frame.index[same].tolist()
    originals = select.original("f", pd.Series([1, None, len(kept)], dtype="Int64"))
    assert originals.tolist()[0] == frame.index[same][0] and pd.isna(originals.tolist()[1])
    assert originals.tolist()[2] == frame.index[same][-1]
    # broken row 3 belongs to subject a: kept, renumbered to its place among a's rows (only if a is here)
    expected_broken = [list(frame.index[same]).index(r) + 1 for r in (3, 4) if same[r - 1]]
    assert (kept_broken.index.tolist() if kept_broken is not None else []) == expected_broken


def test_a_selection_refuses_a_form_without_the_subject_field():
    class _F:
        name = "labs"

    with pytest.raises(InputError, match="form 'labs' has no subject field SUBJID"):
        SubjectSelection("SUBJID", 0, 2)(_F(), pd.DataFrame({"X": ["1"]}), None)


def test_findings_about_a_file_come_once_findings_about_subjects_from_every_partition():
    bom = {"severity": "warning", "rule_id": "RAW-BOM", "dataset": "AE", "variable": "", "subject": "", "row": None,
           "value": "", "expected": "", "message": "byte-order mark", "source": "ae.csv"}
    date = {**bom, "severity": "error", "rule_id": "RAW-DATE", "subject": "S-1", "row": 7, "message": "bad date"}
    p0 = pd.DataFrame([bom, date])
    p1 = pd.DataFrame([bom, {**date, "subject": "S-2", "row": 9}])
    frame = combine_findings([p0.astype({"row": "Int64"}), p1.astype({"row": "Int64"})]).frame()
    assert frame["rule_id"].tolist() == ["RAW-DATE", "RAW-DATE", "RAW-BOM"]
    assert frame["row"].tolist()[:2] == [7, 9]


# ----------------------------------------------------------------------------------------------------------------
# bytes: partitioned == plain


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _assert_same_output(plain: Path, other: Path, partitions: int) -> None:
    a, b = _files(plain), _files(other)
    assert sorted(a) == sorted(b)
    differ = [name for name in a if name != "run.json" and a[name] != b[name]]
    assert differ == []
    log_a, log_b = (without_timings(json.loads(x["run.json"])) for x in (a, b))
    assert log_b["options"].pop("partitions") == partitions
    log_b["options"].pop("jobs"), log_b["options"].pop("scheduler")
    assert log_a == log_b


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plain") / "out"
    run(None, None, out, data_docs=False)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("partitions", [1, 2, 4, 18])  # 18: partition 0 has no subject
def test_a_partitioned_run_writes_the_plain_runs_bytes(plain_run, tmp_path, partitions):
    result = run_partitioned(None, None, tmp_path / "out", partitions=partitions, data_docs=False)
    assert result.exit_code == 0 and result.subjects == 63
    _assert_same_output(plain_run, tmp_path / "out", partitions)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left behind


@pytest.mark.slow
def test_partitions_on_a_dask_cluster_write_the_plain_runs_bytes(plain_run, tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        result = run_partitioned(None, None, tmp_path / "out", partitions=3, scheduler=cluster.scheduler_address,
                                 data_docs=False)
    assert result.exit_code == 0
    _assert_same_output(plain_run, tmp_path / "out", 3)
    assert json.loads((tmp_path / "out" / "run.json").read_text())["options"]["scheduler"].startswith("tcp://")


# ----------------------------------------------------------------------------------------------------------------
# raw rows with errors: the same findings, rejects and accounting (raw file row numbers) as a plain run


def _broken_export(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(load_study("dara_atra").raw_dir, raw)
    ae = (raw / "ae.csv").read_text().splitlines()
    fields = ae[5].split(",")
    fields[14] = "31-FEB-2016"  # AESTDAT: no such day (RAW-DATE, row 4)
    ae[5] = ",".join(fields)
    ae[9] = ae[9] + ",extra"  # one field too many (RAW-FIELDS, row 8)
    ae.append(ae[2].replace(",01-001,", ",99-999,"))  # a subject nobody enrolled (RAW-NOT-ENROLLED)
    ae.append(ae[40])  # a record twice (RAW-DUPKEY: its message names both rows of the file)
    (raw / "ae.csv").write_bytes(b"\xef\xbb\xbf" + ("\n".join(ae) + "\n").encode())  # and a BOM (once per file)
    enrol = (raw / "enrol.csv").read_text().splitlines()
    fields = enrol[12].split(",")
    fields[4] = "32-JAN-1950"  # BRTHDAT: the subject's enrolment row is rejected, and with it all its rows
    enrol[12] = ",".join(fields)
    (raw / "enrol.csv").write_text("\n".join(enrol) + "\n")
    return raw


@pytest.mark.slow
def test_rejected_rows_are_reported_with_the_raw_files_row_numbers(tmp_path):
    raw = _broken_export(tmp_path)
    plain = run(None, raw, tmp_path / "plain", on_error="reject", data_docs=False)
    parted = run_partitioned(None, raw, tmp_path / "parted", partitions=3, on_error="reject", data_docs=False)
    assert plain.exit_code == parted.exit_code == 1 and plain.rejected_rows == parted.rejected_rows > 5
    rejects = pd.read_csv(tmp_path / "plain" / "sdtm" / "_rejects.csv")
    assert {"RAW-DATE", "RAW-FIELDS", "RAW-NOT-ENROLLED", "MAP-SUBJECT-REJECTED"} <= \
        set(";".join(rejects["rule_id"]).split(";"))
    assert 4 in rejects.loc[rejects["form"] == "ae", "row"].tolist()
    assert rejects["reason"].str.contains(r"duplicate key .* \(rows 39, 227\)").any()  # the file's rows
    _assert_same_output(tmp_path / "plain", tmp_path / "parted", 3)


@pytest.mark.slow
def test_strict_errors_stop_a_partitioned_run_with_the_plain_runs_findings(tmp_path):
    raw = _broken_export(tmp_path)
    (tmp_path / "parted").mkdir()
    (tmp_path / "parted" / "run.json").write_text("{}")  # an earlier run's output: replaced whole
    with pytest.raises(FindingsError) as plain_error:
        run(None, raw, tmp_path / "plain", data_docs=False)
    with pytest.raises(FindingsError) as parted_error:
        run_partitioned(None, raw, tmp_path / "parted", partitions=2, data_docs=False)
    assert str(parted_error.value) == str(plain_error.value)
    assert sorted(_files(tmp_path / "parted")) == sorted(_files(tmp_path / "plain"))  # run.json and findings.*
    assert "run.json" in _files(tmp_path / "parted") and not (tmp_path / "parted" / "sdtm").exists()
    for name in ("findings.csv", "findings.json"):
        assert (tmp_path / "parted" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()


def test_a_partitioned_run_does_not_replace_a_folder_that_is_not_a_run_output(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(CdiscflowError, match="is not an earlier cdiscflow output"):  # the plain run's rule
        run_partitioned(None, None, tmp_path, partitions=2)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


@pytest.mark.slow
def test_a_crash_leaves_the_output_folder_as_it_was(tmp_path, monkeypatch):
    import cdiscflow.scale.stream as stream

    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text('{"old": true}')

    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(stream, "map_and_derive", crash)
    with pytest.raises(RuntimeError, match="boom"):
        run_partitioned(None, None, out, partitions=2)
    assert _files(out) == {"run.json": b'{"old": true}'}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left


@pytest.mark.slow
def test_map_partitions_in_this_process_returns_every_partition_in_order():
    parts = map_partitions(str(load_study("dara_atra").path), load_study("dara_atra").raw_dir, 3, "strict")
    assert [p.index for p in parts] == [0, 1, 2]
    subjects = [set(p.kept["ts"]["DM"]["USUBJID"]) for p in parts]  # kept: DM's subjects (TS counts them)
    assert sum(len(s) for s in subjects) == 63 and not (subjects[0] & subjects[1] or subjects[1] & subjects[2])
    ids = pd.Series(sorted(set().union(*subjects))).str.replace("DARA-ATRA-", "", regex=False)
    expected = {i: set("DARA-ATRA-" + ids[subject_partition(ids, 3) == i]) for i in range(3)}
    assert subjects == [expected[0], expected[1], expected[2]]
    assert np.all([len(p.rejects) == 0 for p in parts])


@pytest.mark.slow
def test_a_dask_scheduler_and_worker_started_apart_run_the_partitions(plain_run, tmp_path):
    """The documented deployment: `dask scheduler` + `dask worker` (here on localhost, in subprocesses), then
    `cdiscflow run --scheduler tcp://...`; the output is the plain run's."""
    import subprocess
    import sys
    import time

    dask = Path(sys.executable).with_name("dask")
    if not dask.is_file():
        pytest.skip("the dask command is not installed beside this Python")
    address_file = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(address_file)], stderr=subprocess.DEVNULL)
    worker = None
    try:
        for _ in range(600):  # over tenths of a second: the scheduler writes its address when it listens
            if address_file.is_file() and address_file.read_text().strip():
                break
            time.sleep(0.1)
        address = json.loads(address_file.read_text())["address"]
        worker = subprocess.Popen([str(dask), "worker", address, "--nworkers", "1", "--nthreads", "1",
                                   "--no-dashboard"], stderr=subprocess.DEVNULL)
        cli = subprocess.run([sys.executable, "-m", "cdiscflow", "run", "--out", str(tmp_path / "out"),
                              "--no-data-docs", "-q", "--partitions", "2", "--scheduler", address],
                             capture_output=True, text=True, timeout=1800)
        assert cli.returncode == 0, cli.stderr
    finally:
        for proc in (worker, scheduler):  # the processes this test started, by their handles
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=60)
    _assert_same_output(plain_run, tmp_path / "out", 2)
    assert json.loads((tmp_path / "out" / "run.json").read_text())["options"]["scheduler"] == address


def test_auto_partitions_fit_one_partition_in_a_workers_share_of_the_memory(tmp_path, monkeypatch):
    import cdiscflow.scale.partitions as scale

    (tmp_path / "ae.csv").write_bytes(b"x" * 1000)
    (tmp_path / "dm.csv").write_bytes(b"x" * 500)
    monkeypatch.setattr(scale, "RAW_MEMORY_FACTOR", 1 << 20)  # 1,500 raw bytes need 1,500 MiB
    monkeypatch.setattr(scale, "available_memory", lambda: 1 << 30)  # 1 GiB free
    assert scale.auto_partitions(tmp_path, 1) == 2  # ceil(1500 MiB / 1024 MiB)
    assert scale.auto_partitions(tmp_path, 2) == 3  # 512 MiB a worker: ceil(1500 / 512)
    assert scale.auto_partitions(tmp_path, 8) == 8  # at least one partition per worker (256 MiB floor each)
    monkeypatch.setattr(scale, "RAW_MEMORY_FACTOR", 1)
    assert scale.auto_partitions(tmp_path, 1) == 1


def test_the_reject_log_names_the_raw_files_rows_also_in_its_reasons():
    from cdiscflow.scale.partitions import _rejects_in_file_rows
    from cdiscflow.sdtm.raw.forms import roster_form

    spec = load_study("dara_atra")
    roster = roster_form(spec)
    select = SubjectSelection("SUBJID", 0, 2, rows={roster: np.array([3, 8, 21]), "ae": np.array([5, 6, 40, 41])})
    rejects = pd.DataFrame({
        "form": [roster, "ae", "ae"], "file": ["enrol.csv", "ae.csv", "ae.csv"], "row": pd.array([3, 2, 4], "Int64"),
        "subject": ["S", "S", "S"], "rule_id": ["RAW-DATE", "MAP-SUBJECT-REJECTED", "RAW-DATE;MAP-SUBJECT-REJECTED"],
        "reason": ["BRTHDAT: no such date", "the subject's enrolment row 3 in enrol.csv was rejected",
                   "AESTDTC: bad | the subject's enrolment row 3 in enrol.csv was rejected"]})
    out = _rejects_in_file_rows(rejects, select, spec)
    assert out["row"].tolist() == [21, 6, 41]
    assert out["reason"].tolist() == ["BRTHDAT: no such date", "the subject's enrolment row 21 in enrol.csv was rejected",
                                      "AESTDTC: bad | the subject's enrolment row 21 in enrol.csv was rejected"]


def test_run_refuses_a_partition_count_that_is_not_a_whole_number_or_auto(tmp_path):
    from click.testing import CliRunner

    from cdiscflow.cli import main

    for bad, says in (("0", "at least 1"), ("many", "'many' is neither a whole number nor 'auto'")):
        res = CliRunner().invoke(main, ["run", "--out", str(tmp_path / "out"), "--partitions", bad])
        assert res.exit_code == 2 and says in res.output, res.output
        assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------------------------------
# the raw files are read once, by the client, and split


@pytest.mark.slow
def test_split_export_hands_each_partition_its_rows_of_every_file_once(tmp_path):
    import pickle

    from cdiscflow.scale import split_export

    spec = load_study("dara_atra")
    pieces = split_export(spec, spec.raw_dir, 3, tmp_path)
    assert len(pieces) == 3 and all(sorted(p) == sorted(spec.forms) for p in pieces)
    import io

    text = (spec.raw_dir / spec.forms["ae"].file).read_text()
    ae_csv = pd.read_csv(io.StringIO("\n".join(line for line in text.splitlines() if not line.startswith("#"))),
                        dtype=str, keep_default_na=False)  # a '#' line: the export's provenance comment
    rows = [pickle.loads(Path(p["ae"]).read_bytes()).frame for p in pieces]
    assert sum(len(r) for r in rows) == len(ae_csv)  # every row in exactly one partition
    for i, frame in enumerate(rows):  # over partitions: the file's row numbers (first data row = 1), its subjects
        assert (subject_partition(frame["SUBJID"], 3) == i).all()
        expected = ae_csv.index[subject_partition(ae_csv["SUBJID"], 3) == i] + 1
        assert frame.index.tolist() == expected.tolist()
        assert frame["AETERM"].tolist() == ae_csv.loc[expected - 1, "AETERM"].str.strip().tolist()


# ----------------------------------------------------------------------------------------------------------------
# a worker that dies mid-partition


def _die_once(marker: str) -> None:
    """In a Dask worker: the next partition task of any worker kills its process (os._exit, as the OOM killer
    would) the first time only; the marker file says it happened."""
    import os

    import cdiscflow.scale.stream as stream

    original = stream.run_partition

    def run_partition(*args, **kwargs):
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return original(*args, **kwargs)
        os._exit(9)

    stream.run_partition = run_partition  # a submitted function is looked up by name in the worker


@pytest.mark.slow
def test_a_worker_that_dies_mid_partition_is_replaced_and_the_run_completes_identically(plain_run, tmp_path):
    import cloudpickle
    from distributed import Client, LocalCluster

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # _die_once travels by value to the workers
    marker = tmp_path / "died"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(_die_once, str(marker))
        result = run_partitioned(None, None, tmp_path / "out", partitions=2, scheduler=cluster.scheduler_address,
                                 data_docs=False)
    assert marker.is_file()  # a worker did die
    assert result.exit_code == 0
    _assert_same_output(plain_run, tmp_path / "out", 2)


# ----------------------------------------------------------------------------------------------------------------
# cdiscflow batch on a Dask cluster


@pytest.fixture(scope="module")
def two_exports(tmp_path_factory):
    from click.testing import CliRunner

    from cdiscflow.cli import main

    root = tmp_path_factory.mktemp("exports")
    for seed in (1, 2):
        res = CliRunner().invoke(main, ["simulate", "--seed", str(seed), "--subjects", "40",
                                        "--out", str(root / f"cut{seed}")])
        assert res.exit_code == 0, res.output
    return [root / "cut1", root / "cut2"]


@pytest.mark.slow
def test_a_batch_on_a_dask_cluster_writes_the_plain_batchs_bytes(two_exports, tmp_path):
    from cdiscflow.batch import run_batch

    plain = run_batch(two_exports, tmp_path / "plain", jobs=1, data_docs=False)
    events: list[tuple[str, str, str]] = []
    dask = run_batch(two_exports, tmp_path / "dask", jobs=2, data_docs=False, scheduler="local", partitions=3,
                     progress=lambda *event: events.append(event))
    assert plain.exit_code == dask.exit_code == 0
    assert [(o.export, o.status, o.subjects) for o in dask.outcomes] == [("cut1", "ok", 40), ("cut2", "ok", 40)]
    for name in ("cut1", "cut2"):  # over exports: every file the plain batch's, run.json but for its options
        _assert_same_output(tmp_path / "plain" / name, tmp_path / "dask" / name, 3)
        assert json.loads((tmp_path / "dask" / name / "run.json").read_text())["options"]["scheduler"] == "local"
    partitions_done = [(e, m) for e, s, m in events if s == "sdtm" and "partitions mapped" in m]
    assert sorted(partitions_done) == [(e, f"under way: {k}/3 partitions mapped and derived")
                                       for e in ("cut1", "cut2") for k in (1, 2, 3)]
    summary = json.loads((tmp_path / "dask" / "batch_summary.json").read_text())
    assert summary["options"]["scheduler"] == "local" and summary["options"]["partitions"] == 3


def test_batch_refuses_partitions_without_a_scheduler(tmp_path):
    from click.testing import CliRunner

    from cdiscflow.cli import main

    res = CliRunner().invoke(main, ["batch", str(tmp_path), "--out", str(tmp_path / "out"), "--partitions", "2"])
    assert res.exit_code == 2 and "give --scheduler too" in res.output, res.output
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_local_clusters_workers_keep_glibcs_malloc_defaults(monkeypatch):
    """Dask's nanny would start each worker with MALLOC_TRIM_THRESHOLD_=65536 (glibc's adaptive mmap threshold off:
    3x the kernel time of a plain run); ours start without it, and Dask's other settings stay."""
    import os

    from cdiscflow.scale import dask_client

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with dask_client("local", 2) as client:
        seen = client.run(lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OMP_NUM_THREADS")))
    assert sorted(seen.values()) == [(None, "1"), (None, "1")]


@pytest.mark.slow
def test_an_unreachable_scheduler_is_an_input_error_naming_it():
    import dask

    from cdiscflow.scale import dask_client

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), \
            pytest.raises(InputError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9 "):
        with dask_client("tcp://127.0.0.1:9", 1):
            pass


def test_partitions_text_categoricals_are_joined_by_code_into_the_categories_a_plain_run_has():
    from cdiscflow.scale import concat_frames

    a = pd.DataFrame({"T": pd.Series(["b", None, "a", "b"], dtype=object).astype("category"), "N": [1.0, 2, 3, 4]})
    b = pd.DataFrame({"T": pd.Series(["c", "a", None], dtype=object).astype("category"), "N": [5.0, 6, 7]})
    b["T"] = b["T"].cat.add_categories(["zz"])  # a category no row of the partition uses any more
    joined = concat_frames([a, b])
    assert [None if pd.isna(v) else v for v in joined["T"]] == ["b", None, "a", "b", "c", "a", None]
    assert list(joined["T"].cat.categories) == ["a", "b", "c"]  # sorted, only the values used: as `compact` gives
    assert joined["T"].cat.categories.dtype == pd.Series(["a"], dtype=object).astype("category").cat.categories.dtype
    assert joined["N"].tolist() == [1.0, 2, 3, 4, 5, 6, 7] and joined.index.tolist() == list(range(7))


@pytest.mark.slow
def test_validation_errors_block_a_partitioned_runs_export_as_a_plain_runs(tmp_path, study_copy):
    """Each partition validates its own records: DM.DTHDTC declared Required makes every living subject an
    SCH-NULL-001 error in its partition; the combined findings carry the final record numbers, nothing is exported,
    and the Data Docs (made from the samples the partitions pick out) are the plain run's, byte for byte."""
    from cdiscflow.specs.model import SPECS_DIR

    shutil.copytree(SPECS_DIR / "dara_atra" / "raw", study_copy / "raw")
    text = (study_copy / "variables.csv").read_text()
    (study_copy / "variables.csv").write_text(
        text.replace("DM,11,DTHDTC,,date,,,Derived,,,", "DM,11,DTHDTC,,date,,,Derived,,Req,", 1))
    plain = run(study_copy, None, tmp_path / "plain")
    parted = run_partitioned(study_copy, None, tmp_path / "parted", partitions=3)
    assert plain.exit_code == parted.exit_code == 1
    findings = pd.read_csv(tmp_path / "parted" / "validation" / "findings.csv")
    nulls = findings[(findings["rule_id"] == "SCH-NULL-001") & (findings["dataset"] == "DM")]
    assert len(nulls) == 63 - 49  # the living subjects (49 deaths in the embedded study)
    assert nulls["row"].tolist() == sorted(nulls["row"]) and nulls["row"].max() <= 63
    assert not list((tmp_path / "parted").glob("*/*.xpt"))
    assert (tmp_path / "parted" / "validation" / "datadocs" / "index.html").is_file()
    _assert_same_output(tmp_path / "plain", tmp_path / "parted", 3)


@pytest.mark.slow
def test_a_duplicate_key_in_the_trial_design_is_found_once_as_in_a_plain_run(tmp_path, study_copy):
    """Every partition builds TE/TA/TV/TI (rules read them) but the client builds and checks them once: an I/E
    criterion listed twice in trial_design.yaml gives the plain run's two MAP-KEY-DUP findings on TI."""
    from cdiscflow.specs.model import SPECS_DIR

    shutil.copytree(SPECS_DIR / "dara_atra" / "raw", study_copy / "raw")
    text = (study_copy / "trial_design.yaml").read_text()
    line = '  - {IETESTCD: INCLB02, IECAT: INCLUSION, TIVERS: "1", IETEST: "Part B: creatinine clearance >= 30 mL/min"}\n'
    (study_copy / "trial_design.yaml").write_text(text.replace(line, line + line))
    plain = run(study_copy, None, tmp_path / "plain", data_docs=False)
    parted = run_partitioned(study_copy, None, tmp_path / "parted", partitions=2, data_docs=False)
    assert plain.exit_code == parted.exit_code == 1
    found = pd.read_csv(tmp_path / "parted" / "sdtm" / "_findings.csv")
    assert found.loc[found["rule_id"] == "MAP-KEY-DUP", "dataset"].tolist() == ["TI", "TI"]
    _assert_same_output(tmp_path / "plain", tmp_path / "parted", 2)


def test_split_export_reads_the_spec_once_not_once_per_form(tmp_path, monkeypatch):
    """The tasks carry the form and the raw settings: the split loads no spec (it loaded one per form, 15 loads that
    cost more than reading the files at 10,000 subjects)."""
    import pickle

    import cdiscflow.specs.load as spec_load
    from cdiscflow.scale import split_export
    from cdiscflow.scale.partitions import raw_settings

    spec = load_study("dara_atra")
    settings = raw_settings(spec)
    assert settings == {"dir": "raw", "subject": "SUBJID", "site": "SITEID", "usubjid": "{STUDYID}-{SUBJID}",
                        "encoding": "utf-8", "delimiter": ",", "comment": "#"}
    assert type(settings) is dict and pickle.loads(pickle.dumps(settings)) == settings

    def no_load(*args, **kwargs):
        raise AssertionError("split_export loaded the spec again")

    monkeypatch.setattr(spec_load._Loader, "load", no_load)
    pieces = split_export(spec, spec.raw_dir, 2, tmp_path)
    rows = [pickle.loads(Path(p["ae"]).read_bytes()).frame for p in pieces]
    assert sum(len(r) for r in rows) == 225  # the embedded export's AE rows, all of them, once
    assert sorted(rows[0].index.tolist() + rows[1].index.tolist()) == list(range(1, 226))


def test_provenance_gets_the_raw_files_row_numbers_form_by_form():
    from cdiscflow.scale.partitions import translate_provenance

    select = SubjectSelection("SUBJID", 0, 2, rows={"ae": np.array([4, 9, 17]), "cm": np.array([2, 3])})
    prov = pd.DataFrame({"source": pd.Categorical(["ae", "cm", "ae", "derived", None, "ae"]),
                         "row": pd.array([1, 2, 3, 1, None, None], dtype="Int64")})
    out = translate_provenance({"AE": prov}, select)["AE"]
    # ae rows 1 and 3 of the partition are the file's rows 4 and 17, cm row 2 is row 3; rows of a source that is
    # not a raw form ("derived") and of a missing source keep their numbers; missing rows stay missing
    assert out["row"].tolist() == [4, 3, 17, 1, pd.NA, pd.NA]
    assert str(out["row"].dtype) == "Int64" and out["source"].tolist()[:4] == ["ae", "cm", "ae", "derived"]
    assert prov["row"].tolist() == [1, 2, 3, 1, pd.NA, pd.NA]  # the partition's frame is not changed


def test_a_selection_reading_its_piece_keeps_every_row_without_hashing_again(monkeypatch):
    import cdiscflow.scale.partitions as partitions

    def no_hash(*args, **kwargs):
        raise AssertionError("hashed the subjects of a piece again")

    class _F:
        name = "f"

    monkeypatch.setattr(partitions, "subject_partition", no_hash)
    select = SubjectSelection("SUBJID", 1, 2, pieces={"f": "unused.pkl"})  # the piece's rows: file rows 2, 5, 6
    piece = pd.DataFrame({"SUBJID": ["b", "b", "d"], "X": ["2", "5", "6"]}, index=pd.Index([2, 5, 6], name="row"))
    broken = pd.DataFrame({"rule_id": ["RAW-FIELDS"]}, index=pd.Index([5], name="row"))
    kept, kept_broken = select(_F(), piece, broken)
    assert kept["X"].tolist() == ["2", "5", "6"] and kept.index.tolist() == [1, 2, 3]
    assert select.rows["f"].tolist() == [2, 5, 6] and kept_broken.index.tolist() == [2]
    assert select.original("f", pd.Series([3, 1])).tolist() == [6, 2]


@pytest.mark.slow
@pytest.mark.parametrize("data_docs", [False, True])
def test_phase_two_prepares_the_records_again_only_when_data_docs_need_them_as_validated(
        plain_run, tmp_path, monkeypatch, data_docs):
    """Without Data Docs a partition spills its records as written: each is prepared for export once (phase 1),
    not again for its pieces; with Data Docs the spill holds them as validated and phase 2 prepares them."""
    import cdiscflow.export.pieces as pieces

    prepared: dict[str, int] = {}
    original = pieces.prepare_dataset

    def counted(frame, dataset, findings):
        prepared[dataset.name] = prepared.get(dataset.name, 0) + 1
        return original(frame, dataset, findings)

    monkeypatch.setattr(pieces, "prepare_dataset", counted)
    run_partitioned(None, None, tmp_path / "out", partitions=2, data_docs=data_docs)
    per_partition = 2 if data_docs else 1
    assert prepared["AE"] == prepared["ADSL"] == prepared["SUPPEX"] == 2 * per_partition
    assert prepared["TA"] == 2  # a trial design dataset: statistics and pieces in the client, as before
    a, b = _files(plain_run), _files(tmp_path / "out")
    docs = [n for n in b if n.startswith("validation/datadocs/")]
    assert bool(docs) == data_docs
    assert sorted(a) == sorted(set(b) - set(docs))
    assert [n for n in a if n != "run.json" and a[n] != b[n]] == []  # the plain run's bytes
