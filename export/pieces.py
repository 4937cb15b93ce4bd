"""Export from partitions: the files `write_datasets` writes, built from per-partition statistics and pieces.

A partitioned run (`scale/`) holds each dataset as partitions of subjects, each in its own final order, and never
the whole dataset in one process.  The export is then four steps, the partitions' in their own processes:

    export_stats(name, frame, spec) -> ExportStats                    partition, phase 1: what the metadata and
                                                                      define.xml need of its records, its findings
                                                                      (`prepare_partition`: also the records as
                                                                      written, to spill instead of the frame)
    combine_stats(name, stats, spec, final_rows) -> ExportFinal       client: the final metadata (lengths over all
                                                                      records), findings in final row numbers, blocked
    write_pieces(name, frame, final, folder, partition) -> PieceInfo partition, phase 2: its XPT observations and
                                                                      Dataset-JSON rows, written with the final lengths
    assemble(name, pieces, final_rows, final, out_dir, spec) -> files client: the .xpt and .json in final row order

and `assemble_export(finals, pieces, final_rows, spec, out_dir) -> ExportResult` runs `assemble` for every dataset
and writes define.xml, giving what `write_datasets` gives on the whole datasets: the same files, byte for byte, the
same findings and result.

`final_rows` (per dataset) is a list with one int64 array per partition: `final_rows[p][r]` is the 0-based row of
the final dataset that local row r of partition p becomes (increasing: a partition's rows keep their order).  The
lists of statistics, row maps and pieces of a dataset are aligned (the same partitions in the same order); a
partition without records of the dataset may be left out of all three, and a dataset built whole in the client
(trial design) is a dataset of one partition, `final_rows = [np.arange(n)]`.

Every fact is computed by the code the whole-dataset path uses: `prepare_dataset` (types, checks, lengths: a text
variable's length is the longest value over the partitions), `define.valuelevel_lengths` (counts add up, longest
values take the maximum), `xpt.write_observations` and `datasetjson.row_chunks` (a record's bytes depend on that
record only, so the pieces' bytes are the file's).  Assembly streams: the final rows are taken a window at a time
(about `WINDOW_BYTES`); a window whose rows come in long runs from one piece is copied run by run inside the kernel
(`os.copy_file_range`), any other is read piece by piece into one buffer and put in final order by one Arrow `take`.
Memory holds a window of bytes and the row maps, never a dataset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from cdiscflow.core.atomic import atomic_write
from cdiscflow.core.findings import COLUMNS, Findings
from cdiscflow.export.api import (FORMATS, ExportResult, Written, check_formats, dataset_paths, export_order,
                                  finish_export, json_header, not_in_spec, valuelevel_stats)
from cdiscflow.export.datasetjson import END, checked_head, row_chunks
from cdiscflow.export.meta import DatasetMeta
from cdiscflow.export.prepare import prepare_dataset
from cdiscflow.export.xpt import check_xpt, end_padding, header_bytes, write_observations
from cdiscflow.specs.model import Dataset, StudySpec

WINDOW_BYTES = 16 << 20  # bytes of final rows assembled at a time
LONG_RUN = 1 << 20  # a window whose runs from one piece average this many bytes is copied run by run


@dataclass(frozen=True)
class ExportStats:
    """What one partition's records say for the final metadata (small, picklable)."""

    name: str
    rows: int
    meta: DatasetMeta | None  # the partition's metadata (its own text lengths); None: not a dataset of the spec
    findings: pd.DataFrame  # the export findings of the partition, rows numbered within it
    valuelevel: dict | None  # define.valuelevel_lengths of the partition's records


@dataclass(frozen=True)
class ExportFinal:
    """The final export metadata of a dataset, as `write_datasets` computes it on the whole dataset."""

    name: str
    rows: int
    dataset: Dataset | None  # the spec's dataset (None: not declared)
    meta: DatasetMeta | None  # what is written: final lengths
    findings: pd.DataFrame  # the export findings, rows numbered in the final dataset
    blocked: bool  # error findings: not written, not in define.xml
    valuelevel: dict | None


@dataclass(frozen=True)
class PieceInfo:
    """One partition's piece of a dataset: its row count and files (format -> path; "idx": the Dataset-JSON rows'
    ends, rows + 1 int64 byte offsets from 0)."""

    name: str
    partition: int
    rows: int
    files: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------------------
# phase 1 (partition) and combine (client)


def export_stats(name: str, frame: pd.DataFrame, spec: StudySpec) -> ExportStats:
    """The export statistics of one partition's records of dataset `name` (in the partition's final order)."""
    return prepare_partition(name, frame, spec)[0]


def prepare_partition(name: str, frame: pd.DataFrame, spec: StudySpec) -> tuple[ExportStats, pd.DataFrame | None]:
    """`export_stats`, and the partition's records as they are written (spec order and types; None when the
    dataset is not the spec's): spilled for phase 2 instead of `frame`, `write_pieces(..., prepared=True)` writes
    them without preparing them again."""
    name = name.upper()
    if name not in spec.datasets:
        return ExportStats(name, len(frame), None, Findings().frame(), None), None
    findings = Findings()
    prep = prepare_dataset(frame, spec.dataset(name), findings)
    stats = ExportStats(name, len(frame), prep.meta, findings.frame(), valuelevel_stats(prep.frame, spec, name))
    return stats, prep.frame


def combine_stats(name: str, stats: Sequence[ExportStats], spec: StudySpec,
                  final_rows: Sequence[np.ndarray]) -> ExportFinal:
    """The final metadata of dataset `name` from its partitions' statistics (index p: partition p), as
    `write_datasets` computes it on the whole dataset: text lengths the longest over all partitions, findings once
    each (those about the dataset and its variables are the same in every partition), rows in final numbers."""
    name = name.upper()
    if not stats or len(stats) != len(final_rows) or any(s.rows != len(r) for s, r in zip(stats, final_rows)):
        raise ValueError(f"{name}: {len(stats)} partitions' statistics ({[s.rows for s in stats]} rows) do not match "
                         f"the row maps ({[len(r) for r in final_rows]} rows)")
    rows = sum(s.rows for s in stats)
    if name not in spec.datasets:
        result = ExportResult()
        not_in_spec(name, spec, result)
        return ExportFinal(name, rows, None, None, result.findings.frame(), True, None)
    findings = _final_findings([s.findings for s in stats], final_rows)
    blocked = bool((findings["severity"] == "error").any())
    return ExportFinal(name, rows, spec.dataset(name), _final_meta([s.meta for s in stats]), findings, blocked,
                       _final_valuelevel([s.valuelevel for s in stats]))


def _final_meta(metas: list[DatasetMeta]) -> DatasetMeta:
    """The partitions' metadata with each text length the longest of any partition (the partitions write the same
    variables unless a type error blocks the dataset)."""
    longest: dict[str, int] = {}
    for meta in metas:  # over partitions
        for c in meta.columns:
            if c.length is not None:
                longest[c.name] = max(longest.get(c.name, 0), c.length)
    first = metas[0]
    return replace(first, columns=tuple(replace(c, length=longest.get(c.name, c.length)) for c in first.columns))


def _final_valuelevel(parts: list[dict | None]) -> dict | None:
    if parts[0] is None:
        return None
    out: dict = {}
    for part in parts:  # over partitions: counts add up, the longest value is the longest of all
        for row, (count, longest) in part.items():
            have = out.get(row, (0, 0))
            out[row] = (have[0] + count, max(have[1], longest))
    return out


def _final_findings(parts: list[pd.DataFrame], final_rows: Sequence[np.ndarray]) -> pd.DataFrame:
    """The partitions' findings as the whole dataset's: row numbers made final; the findings without a row (about
    the dataset or a variable: the same in every partition) once each; a variable's type error (XPT-TYPE) once,
    without the value checks a partition whose values had the type ran (the whole column has no such type)."""
    rowless, per_row = [], []
    for p, found in enumerate(parts):  # over partitions
        has_row = found["row"].notna().to_numpy()
        about = found[~has_row]  # the n-th of identical findings of a partition is the n-th of the dataset's
        rowless.append(about.assign(_nth=about.groupby(list(COLUMNS), dropna=False, sort=False).cumcount()))
        located = found[has_row]
        local = located["row"].to_numpy(dtype=np.int64) - 1
        per_row.append(located.assign(row=pd.array(final_rows[p][local] + 1, dtype="Int64")))
    once = pd.concat(rowless, ignore_index=True).drop_duplicates(subset=[*COLUMNS, "_nth"]).drop(columns="_nth")
    typed = once["rule_id"] == "XPT-TYPE"
    once = pd.concat([once[~typed], once[typed].drop_duplicates(subset=["variable"])])
    mistyped = once.loc[once["rule_id"] == "XPT-TYPE", "variable"]
    located = pd.concat(per_row, ignore_index=True)
    out = Findings()
    out.extend(pd.concat([once, located[~located["variable"].isin(mistyped)]]))
    return out.frame()


# ----------------------------------------------------------------------------------------------------------------
# phase 2 (partition): the pieces


def write_pieces(name: str, frame: pd.DataFrame, final: ExportFinal, folder: str | Path, partition: int, *,
                 formats: tuple[str, ...] = FORMATS, prepared: bool = False) -> PieceInfo | None:
    """Write one partition's records of dataset `name` (in its final order) with the final metadata into `folder`:
    `<name>.<partition>.xpt-rows` (the XPT observations), `.json-rows` (the Dataset-JSON rows, each followed by a
    comma) and `.json-ends` (where the rows end).  `prepared`: `frame` is the one `prepare_partition` returned.
    None for a blocked dataset (nothing is written)."""
    check_formats(formats)
    if final.blocked:
        return None
    if not prepared:  # the types and order the whole-dataset path writes
        frame = prepare_dataset(frame, final.dataset, Findings()).frame
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"{final.name.lower()}.{partition}"
    files = {}
    if "xpt" in formats:
        variables = [c.xpt() for c in final.meta.columns]
        check_xpt(frame, variables, final.name, final.meta.label)
        files["xpt"] = f"{stem}.xpt-rows"
        with atomic_write(files["xpt"], "wb", durable=False) as fh:  # whole or absent; scratch, never flushed
            write_observations(fh, frame, variables, dataset=final.name)
    if "json" in formats:
        files["json"], files["idx"] = f"{stem}.json-rows", f"{stem}.json-ends"
        base = 0
        with atomic_write(files["json"], "wb", durable=False) as rows, \
                atomic_write(files["idx"], "wb", durable=False) as ends:
            ends.write(np.zeros(1, dtype=np.int64).tobytes())
            for piece, chunk_ends in row_chunks(frame, final.meta):  # over chunks of rows
                rows.write(piece)
                ends.write((chunk_ends[1:] + base).astype(np.int64).tobytes())
                base += int(chunk_ends[-1])
    return PieceInfo(final.name, partition, len(frame), files)


# ----------------------------------------------------------------------------------------------------------------
# client: the files


def assemble(name: str, pieces: Sequence[PieceInfo], final_rows: Sequence[np.ndarray], final: ExportFinal,
             out_dir: str | Path, spec: StudySpec, *, formats: tuple[str, ...] = FORMATS,
             by_standard: bool = True) -> list[Path]:
    """Write dataset `name`'s .xpt and .json (atomically) from its partitions' pieces (index p: partition p) in
    final row order, as `write_datasets` writes them; returns the files written (none for a blocked dataset)."""
    check_formats(formats)
    if final.blocked:
        return []
    _check_pieces(name, pieces, final_rows, final.rows)
    meta = final.meta
    paths = dataset_paths(Path(out_dir), final.dataset.standard, final.name, formats, by_standard)
    if "xpt" in paths:
        variables = [c.xpt() for c in meta.columns]
        row_len = sum(v.length for v in variables)
        head = header_bytes(variables, dataset=final.name, label=meta.label, created=spec.datacut)
        sources = [_Source.fixed(p.files["xpt"], row_len, p.rows, name) for p in pieces]
        with atomic_write(paths["xpt"], "wb") as fh:
            fh.write(head)
            fh.flush()
            end = _copy_rows(fh.fileno(), len(head), sources, final_rows, final.rows)
            _write_at(fh.fileno(), end_padding(end - len(head)), end)
    if "json" in paths:
        head = checked_head(meta, json_header(spec, final.dataset.standard, final.name), final.rows)
        sources = [_Source.indexed(p.files["json"], p.files["idx"], p.rows, name) for p in pieces]
        with atomic_write(paths["json"], "wb") as fh:
            fh.write(head)
            fh.flush()
            end = _copy_rows(fh.fileno(), len(head), sources, final_rows, final.rows)
            _write_at(fh.fileno(), END, end - 1 if final.rows else end)  # over the last row's comma
    return list(paths.values())


def assemble_export(finals: Mapping[str, ExportFinal], pieces: Mapping[str, Sequence[PieceInfo]],
                    final_rows: Mapping[str, Sequence[np.ndarray]], spec: StudySpec, out_dir: str | Path, *,
                    formats: tuple[str, ...] = FORMATS, define: bool = True, by_standard: bool = True,
                    findings: Findings | None = None, remove_pieces: bool = False) -> ExportResult:
    """`write_datasets` from the partitions: every dataset of `finals` assembled from its pieces (blocked ones not
    written), then define.xml per standard; the same files, findings and result.  `remove_pieces`: each dataset's
    piece files are deleted once its files are assembled (the disk holds the output and the pieces not yet used,
    not both whole)."""
    check_formats(formats)
    out_dir = Path(out_dir)
    result = ExportResult(findings=findings if findings is not None else Findings())
    written = Written()
    for name in export_order(finals, spec):
        final = finals[name]
        result.findings.extend(final.findings)
        if final.blocked:
            result.blocked.append(name)
            continue
        paths = dataset_paths(out_dir, final.dataset.standard, name, formats, by_standard)
        assemble(name, pieces[name], final_rows[name], final, out_dir, spec, formats=formats, by_standard=by_standard)
        written.add(result, final.dataset.standard, final.meta, final.valuelevel, paths)
        if remove_pieces:
            for piece in pieces[name]:  # over partitions
                for file in piece.files.values():
                    Path(file).unlink(missing_ok=True)
    finish_export(result, spec, written, out_dir, define=define, by_standard=by_standard)
    return result


def _check_pieces(name: str, pieces: Sequence[PieceInfo], final_rows: Sequence[np.ndarray], total: int) -> None:
    counts = [len(r) for r in final_rows]
    if len(pieces) != len(final_rows) or [p.rows for p in pieces] != counts or sum(counts) != total:
        raise ValueError(f"{name}: pieces of {[p.rows for p in pieces]} rows do not match the row maps ({counts} "
                         f"rows) and the final {total} rows")
    for p, rows in enumerate(final_rows):  # over partitions
        if len(rows) and (rows[0] < 0 or rows[-1] >= total or (np.diff(rows) <= 0).any()):
            raise ValueError(f"{name}: the row map of partition {p} is not increasing within 0..{total - 1}")


@dataclass
class _Source:
    """A piece file and where its rows start: `starts(a, b)` gives the byte offsets of rows a..b (b + 1 - a)."""

    path: str
    starts: Callable[[int, int], np.ndarray]

    @staticmethod
    def fixed(path: str, row_len: int, rows: int, name: str) -> "_Source":
        size = os.path.getsize(path)
        if size != rows * row_len:
            raise ValueError(f"{name}: piece {path} holds {size} bytes, not {rows} rows of {row_len}")
        return _Source(path, lambda a, b: np.arange(a, b + 1, dtype=np.int64) * row_len)

    @staticmethod
    def indexed(path: str, index: str, rows: int, name: str) -> "_Source":
        if os.path.getsize(index) != (rows + 1) * 8:
            raise ValueError(f"{name}: row index {index} does not hold {rows + 1} offsets")

        def starts(a: int, b: int) -> np.ndarray:
            with open(index, "rb") as fh:
                fh.seek(a * 8)
                return np.frombuffer(fh.read((b + 1 - a) * 8), dtype=np.int64)
        if int(starts(rows, rows)[0]) != os.path.getsize(path):
            raise ValueError(f"{name}: piece {path} does not end where its row index {index} says")
        return _Source(path, starts)


def _copy_rows(out: int, position: int, sources: list[_Source], final_rows: Sequence[np.ndarray], total: int) -> int:
    """Write the final rows 0..total-1 from the pieces into file descriptor `out` from byte `position`, a window of
    rows at a time; returns the position after the last row."""
    handles = [os.open(s.path, os.O_RDONLY) for s in sources]
    try:
        sizes = sum(os.fstat(h).st_size for h in handles)
        per_window = max(1, min(total, int(WINDOW_BYTES // max(1.0, sizes / max(total, 1)))))
        for start in range(0, total, per_window):  # over windows of final rows
            position = _copy_window(out, position, sources, handles, final_rows, start, min(total, start + per_window))
    finally:
        for h in handles:
            os.close(h)
    return position


def _copy_window(out: int, position: int, sources: list[_Source], handles: list[int],
                 final_rows: Sequence[np.ndarray], start: int, stop: int) -> int:
    m = stop - start
    part = np.full(m, -1, dtype=np.int32)
    sizes = np.empty(m, dtype=np.int64)
    local = np.empty(m, dtype=np.int64)
    spans, taken = [], 0
    for p, rows in enumerate(final_rows):  # over partitions: their rows in the window are consecutive local rows
        a, b = (int(i) for i in np.searchsorted(rows, [start, stop]))
        at = rows[a:b] - start
        offsets = sources[p].starts(a, b)
        part[at], sizes[at], local[at] = p, np.diff(offsets), np.arange(a, b)
        spans.append((a, offsets))
        taken += b - a
    if taken != m or (part < 0).any():
        raise ValueError(f"the row maps do not cover final rows {start}..{stop - 1} exactly once")
    firsts = np.flatnonzero(np.concatenate([[True], part[1:] != part[:-1]]))
    run_bytes = np.add.reduceat(sizes, firsts)
    if run_bytes.mean() >= LONG_RUN:
        for i, nbytes in zip(firsts.tolist(), run_bytes.tolist()):  # over runs (few: each at least LONG_RUN on average)
            p = int(part[i])
            a, offsets = spans[p]
            _copy_range(handles[p], out, int(offsets[local[i] - a]), position, nbytes)
            position += nbytes
        return position
    return _gather_window(out, position, handles, spans, part, start)


def _gather_window(out: int, position: int, handles: list[int], spans: list, part: np.ndarray, start: int) -> int:
    """Read each piece's rows of the window (consecutive in the piece) into one buffer, grouped by piece, and write
    them in final order: one Arrow `take` over the window's rows as binary values."""
    total = sum(int(offsets[-1] - offsets[0]) for _, offsets in spans)
    buffer = np.empty(total, dtype=np.uint8)
    ends, picks = [np.zeros(1, dtype=np.int64)], np.empty(len(part), dtype=np.int64)
    at, row = 0, 0
    for p, (a, offsets) in enumerate(spans):  # over partitions
        count, nbytes = len(offsets) - 1, int(offsets[-1] - offsets[0])
        _read_into(handles[p], memoryview(buffer)[at:at + nbytes], int(offsets[0]))
        ends.append(offsets[1:] - offsets[0] + at)
        picks[part == p] = np.arange(row, row + count)
        at, row = at + nbytes, row + count
    rows = pa.LargeBinaryArray.from_buffers(pa.large_binary(), row, [None, pa.py_buffer(np.concatenate(ends)),
                                                                     pa.py_buffer(buffer)])
    ordered = rows.take(pa.array(picks))
    offsets = np.frombuffer(ordered.buffers()[1], dtype=np.int64)[ordered.offset:ordered.offset + len(ordered) + 1]
    data = memoryview(ordered.buffers()[2])[int(offsets[0]):int(offsets[-1])]
    _write_at(out, data, position)
    return position + len(data)


_CHUNK = 8 << 20  # bytes per read/write when the kernel cannot copy between the files


def _copy_range(src: int, dst: int, src_at: int, dst_at: int, count: int) -> None:
    """Copy `count` bytes between files at the given offsets: inside the kernel where it can, else in chunks."""
    copy = getattr(os, "copy_file_range", None)
    while count > 0:
        if copy is not None:
            try:
                done = copy(src, dst, count, src_at, dst_at)
            except OSError:  # another file system, or not supported: read and write
                copy = None
                continue
        else:
            data = os.pread(src, min(count, _CHUNK), src_at)
            _write_at(dst, data, dst_at)
            done = len(data)
        if done <= 0:
            raise ValueError(f"piece ended {count} bytes early")
        src_at, dst_at, count = src_at + done, dst_at + done, count - done


def _read_into(fd: int, view: memoryview, at: int) -> None:
    while len(view):
        got = os.preadv(fd, [view], at)
        if got <= 0:
            raise ValueError(f"piece ended {len(view)} bytes early")
        view, at = view[got:], at + got


def _write_at(fd: int, data: bytes | memoryview, at: int) -> None:
    view = memoryview(data)
    while len(view):
        done = os.pwrite(fd, view[:_CHUNK], at)
        view, at = view[done:], at + done
