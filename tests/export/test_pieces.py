"""Export from partition pieces (export/pieces.py): statistics per partition, combined, pieces, assembled -- the files
of `write_datasets` on the whole datasets, byte for byte, with the same findings."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cdiscflow.export import pieces
from cdiscflow.export.api import write_datasets
from cdiscflow.export.datasetjson import _row_ends
from cdiscflow.export.pieces import assemble_export, combine_stats, export_stats, prepare_partition, write_pieces
from cdiscflow.scale import subject_partition


def split(frame: pd.DataFrame, count: int) -> list[np.ndarray]:
    """final_rows of a dataset split by USUBJID (without USUBJID: all in partition 0), each part in final order."""
    part = (subject_partition(frame["USUBJID"], count) if "USUBJID" in frame.columns
            else np.zeros(len(frame), dtype=np.int64))
    return [np.flatnonzero(part == p) for p in range(count)]


def export_by_pieces(frames: dict[str, pd.DataFrame], spec, out: Path, scratch: Path, count: int, *,
                     spill_prepared: bool = True, **options):
    """What a partitioned run does: statistics per partition (pickled, as they cross processes), combined, pieces
    (from the prepared records `prepare_partition` returns, or from the partition's frames), assembled.  Returns the
    ExportResult and the finals."""
    finals, piece_infos, rows = {}, {}, {}
    for name, frame in frames.items():
        rows[name] = split(frame, count)
        parts = [frame.iloc[r].reset_index(drop=True) for r in rows[name]]
        prepared = [prepare_partition(name, part, spec) for part in parts]
        stats = [pickle.loads(pickle.dumps(s)) for s, _ in prepared]
        assert [s.findings.to_dict() for s in stats] == [export_stats(name, p, spec).findings.to_dict() for p in parts]
        finals[name] = pickle.loads(pickle.dumps(combine_stats(name, stats, spec, rows[name])))
        spilled = [f for _, f in prepared] if spill_prepared else parts
        piece_infos[name] = [write_pieces(name, part, finals[name], scratch, p, prepared=spill_prepared)
                             for p, part in enumerate(spilled)]
    return assemble_export(finals, piece_infos, rows, spec, out, **options), finals


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def same_export(frames, spec, tmp_path: Path, count: int, spill_prepared: bool = True, **options):
    plain = write_datasets(frames, spec, tmp_path / "plain", **options)
    by_pieces, finals = export_by_pieces(frames, spec, tmp_path / f"pieces{count}", tmp_path / f"scratch{count}",
                                         count, spill_prepared=spill_prepared, **options)
    want, got = files_of(tmp_path / "plain"), files_of(tmp_path / f"pieces{count}")
    assert sorted(got) == sorted(want)
    assert [k for k in want if got[k] != want[k]] == []
    pd.testing.assert_frame_equal(by_pieces.findings.frame(), plain.findings.frame())
    assert by_pieces.blocked == plain.blocked and by_pieces.written == plain.written
    assert [p.relative_to(tmp_path / f"pieces{count}") for p in by_pieces.files] == \
        [p.relative_to(tmp_path / "plain") for p in plain.files]
    return plain, finals


@pytest.mark.parametrize("count, spill_prepared", [(1, True), (2, True), (2, False), (3, True)])
def test_pieces_give_the_bytes_of_the_whole_export(frames, xspec, tmp_path, count, spill_prepared):
    plain, _ = same_export(frames, xspec, tmp_path, count, spill_prepared)
    assert plain.ok and len(plain.files) == 2 * len(frames) + 4  # a .xpt and .json each, two define.xml + .xsl


def test_a_text_length_takes_the_longest_value_of_any_partition(frames, xspec, tmp_path):
    ae = frames["AE"]
    rows = split(ae, 2)
    assert len(rows[0]) and len(rows[1])
    long_row = rows[1][0]  # the longest AETERM in partition 1
    ae.loc[long_row, "AETERM"] = "Infusion related reaction with a long verbatim term"
    plain, finals = same_export(frames, xspec, tmp_path, 2)
    first = export_stats("AE", ae.iloc[rows[0]].reset_index(drop=True), xspec)
    assert first.meta.column("AETERM").length == max(len(v) for v in ae.loc[rows[0], "AETERM"])
    assert finals["AE"].meta.column("AETERM").length == len(ae.loc[long_row, "AETERM"]) > \
        first.meta.column("AETERM").length
    assert plain.written["AE"].column("AETERM").length == finals["AE"].meta.column("AETERM").length


def test_findings_come_back_in_final_row_numbers(frames, xspec, tmp_path):
    ae = frames["AE"]
    rows = split(ae, 2)
    ae.loc[rows[1][-1], "AETERM"] = "Fatigue café"  # non-ASCII: an error (AE is not written)
    ae.loc[rows[0][-1], "AEDECOD"] = "x" * 201  # longer than an XPT value holds
    ae.loc[rows[1][0], "AESEV"] = "MILD\tGRADE"  # a control character: a warning
    plain, finals = same_export(frames, xspec, tmp_path, 2)
    found = finals["AE"].findings.set_index("rule_id")
    assert finals["AE"].blocked and plain.blocked == ["AE"]
    assert found.loc["XPT-ASCII", "row"] == rows[1][-1] + 1
    assert found.loc["XPT-VALUE-200", "row"] == rows[0][-1] + 1
    assert found.loc["XPT-CONTROL", "row"] == rows[1][0] + 1
    assert found.loc["XPT-ASCII", "subject"] == ae.loc[rows[1][-1], "USUBJID"]


def test_a_type_error_in_one_partition_blocks_the_dataset_once(frames, xspec, tmp_path):
    """Text in a numeric variable in partition 1 only: one XPT-TYPE error, the dataset blocked, as in the whole
    export; the type it names is the partition's ("text"), where the whole column's is "mixed" (a known limit)."""
    adsl = frames["ADSL"]
    rows = split(adsl, 2)
    adsl["AGE"] = adsl["AGE"].astype(object)
    adsl.loc[rows[1][0], "AGE"] = "sixty"
    plain = write_datasets(frames, xspec, tmp_path / "plain")
    by_pieces, finals = export_by_pieces(frames, xspec, tmp_path / "pieces", tmp_path / "scratch", 2)
    assert files_of(tmp_path / "pieces") == files_of(tmp_path / "plain")
    assert by_pieces.blocked == plain.blocked == ["ADSL"]
    want, got = plain.findings.frame(), by_pieces.findings.frame()
    typed = (want["rule_id"] == "XPT-TYPE").to_numpy()
    assert typed.sum() == 1 and (got["rule_id"] == "XPT-TYPE").sum() == 1
    assert (want.loc[typed, "value"].tolist(), got.loc[typed, "value"].tolist()) == (["mixed"], ["text"])
    pd.testing.assert_frame_equal(got.drop(columns=["value", "message"]), want.drop(columns=["value", "message"]))


def test_windows_copied_run_by_run_and_gathered_give_the_same_bytes(frames, xspec, tmp_path, monkeypatch):
    """Windows of a few rows (many windows per dataset), runs copied in the kernel (every window) and gathered
    (none): the same files."""
    monkeypatch.setattr(pieces, "WINDOW_BYTES", 300)
    for long_run, label in ((0, "copied"), (1 << 40, "gathered")):
        monkeypatch.setattr(pieces, "LONG_RUN", long_run)
        same_export({n: frames[n] for n in ("AE", "RS", "ADTTE")}, xspec, tmp_path / label, 3)


def test_runs_are_read_and_written_where_the_kernel_cannot_copy_them(frames, xspec, tmp_path, monkeypatch):
    def refused(*args):
        raise OSError(18, "Invalid cross-device link")
    monkeypatch.setattr(pieces.os, "copy_file_range", refused)
    monkeypatch.setattr(pieces, "LONG_RUN", 0)
    monkeypatch.setattr(pieces, "_CHUNK", 5)  # several reads and writes per run
    same_export({n: frames[n] for n in ("AE", "ADSL")}, xspec, tmp_path, 2)


def test_rows_the_json_module_writes_are_cut_at_their_ends(xspec, tmp_path, monkeypatch):
    """A float orjson writes differently (1e-05) sends a chunk through the json module; its rows' ends are found in
    the text, past brackets, commas and escaped quotes inside strings."""
    monkeypatch.setattr(pieces, "WINDOW_BYTES", 200)
    adtte = pd.DataFrame({
        "STUDYID": pd.Series(["XPTTEST"] * 6, dtype="str"),
        "USUBJID": pd.Series([f"XPTTEST-00{i}" for i in range(6)], dtype="str"),
        "PARAMCD": pd.Series(["OS", "PFS", "OS", "PFS", "OS", "PFS"], dtype="str"),
        "PARAM": pd.Series(['a "],[" b', "c\\", 'd\\"]', "e", "f],", "g"], dtype="str"),
        "STARTDT": pd.to_datetime(["2016-07-01"] * 6), "ADT": pd.to_datetime(["2017-03-01"] * 6),
        "AVAL": [1e-05, 2.5, 3.0, 1.5e-7, 5.0, 6.0], "CNSR": [1.0, 0.0, 0.0, 1.0, 0.0, 0.0],
    })
    same_export({"ADTTE": adtte}, xspec, tmp_path, 2)


def test_row_ends_are_found_in_json_text():
    rows = [["a", 1.5, None], ['"],["', 2, "\\"], ["\\\"", 1e-05, "é],"], []]
    text = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))[1:-1].encode() + b","
    ends = _row_ends(text)
    pieces_of_text = [text[a:b] for a, b in zip(ends[:-1], ends[1:])]
    assert [json.loads(p[:-1]) for p in pieces_of_text] == rows and ends[-1] == len(text)


def test_pieces_match_their_row_maps_or_assembly_refuses(frames, xspec, tmp_path):
    dm = frames["DM"]
    rows = split(dm, 2)
    parts = [dm.iloc[r].reset_index(drop=True) for r in rows]
    final = combine_stats("DM", [export_stats("DM", p, xspec) for p in parts], xspec, rows)
    infos = [write_pieces("DM", p, final, tmp_path / "s", i) for i, p in enumerate(parts)]
    swapped = [rows[1], rows[0]]
    with pytest.raises(ValueError, match="DM: pieces of"):
        pieces.assemble("DM", infos, swapped, final, tmp_path / "out", xspec)
    with pytest.raises(ValueError, match="row map of partition 1 is not increasing"):
        pieces.assemble("DM", infos, [rows[0], rows[1][::-1]], final, tmp_path / "out", xspec)
    overlapping = [rows[0], np.sort(np.concatenate([rows[0][:1], rows[1][1:]]))]
    with pytest.raises(ValueError, match="do not cover final rows"):
        pieces.assemble("DM", infos, overlapping, final, tmp_path / "out", xspec)
    assert not (tmp_path / "out" / "sdtm" / "dm.xpt").exists()


def test_an_undeclared_dataset_is_blocked_as_in_the_whole_export(frames, xspec, tmp_path):
    plain, finals = same_export({"DM": frames["DM"], "XX": frames["DM"].copy()}, xspec, tmp_path, 2)
    assert "XX" in plain.blocked and finals["XX"].blocked


def test_a_dataset_without_records(frames, xspec, tmp_path):
    plain, finals = same_export({"RS": frames["RS"].iloc[:0], "DM": frames["DM"]}, xspec, tmp_path, 2)
    assert finals["RS"].rows == 0 and json.loads((tmp_path / "pieces2" / "sdtm" / "rs.json").read_bytes())["rows"] == []


def test_one_standard_and_one_format(frames, xspec, tmp_path):
    adam = {n: frames[n] for n in ("ADSL", "ADTTE")}
    same_export(adam, xspec, tmp_path, 2, formats=("json",), by_standard=False)


# ----------------------------------------------------------------------------------------------------------------
# the embedded study


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory):
    from cdiscflow.pipeline import run

    out = tmp_path_factory.mktemp("embedded") / "out"
    return run(out_dir=out, data_docs=False)


@pytest.mark.slow
@pytest.mark.parametrize("count", [1, 2, 3])
def test_the_embedded_study_assembled_from_pieces_is_the_runs_export(embedded_run, tmp_path, count):
    result = embedded_run
    got, finals = export_by_pieces(result.datasets, result.spec, tmp_path / "out", tmp_path / "scratch", count)
    for standard in ("sdtm", "adam"):
        made = files_of(tmp_path / "out" / standard)
        run_files = {k: v for k, v in files_of(result.out_dir / standard).items() if k in made or k.endswith(".xpt")}
        assert sorted(made) == sorted(k for k in run_files)
        assert [k for k in made if made[k] != run_files[k]] == []
    assert got.ok and not got.blocked and len(got.written) == len(result.datasets)
    run_findings = result.findings.frame()
    run_export = run_findings[run_findings["rule_id"].str.startswith(("XPT-", "DEFINE-"))].reset_index(drop=True)
    pd.testing.assert_frame_equal(got.findings.frame(), run_export)
    assert sum(f.rows for f in finals.values()) == sum(len(d) for d in result.datasets.values())
