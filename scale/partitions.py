"""Which partition a subject belongs to, and a partition's rows of the raw export (with the raw file's row numbers).

    subject_partition(subjects, count)    FNV-1a (64 bit) of the UTF-8 bytes of each raw subject key, modulo count
    split_export(spec, raw, count, dir)   every raw file read once, each partition's rows of it written apart
    SubjectSelection                      how `map_study(select=...)` keeps a partition's rows, numbered 1..n, and
                                          gives back the raw file's row numbers afterwards
"""

from __future__ import annotations

import math
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from cdiscflow.core.atomic import atomic_write
from cdiscflow.core.errors import InputError
from cdiscflow.core.findings import Findings
from cdiscflow.specs.model import Form, StudySpec

FNV_OFFSET, FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)
# `--partitions auto`: a partition needs about this many bytes of memory per raw byte (benchmarks/RESULTS.md: a
# plain run peaked at 7.88 GiB over a 625 MB raw export at 100,000 subjects)
RAW_MEMORY_FACTOR = 14


# ----------------------------------------------------------------------------------------------------------------
# 1. which partition a subject belongs to


def fnv1a_64(values: pd.Series) -> np.ndarray:
    """FNV-1a 64-bit hash of the UTF-8 bytes of each text value (missing = ""), vectorised over the distinct values
    and their byte positions (no Python loop over records)."""
    codes, uniques = pd.factorize(values.astype(object).where(values.notna(), ""), sort=False)
    encoded = np.array([str(u).encode("utf-8") for u in uniques] or [b""], dtype=bytes)  # distinct subjects only
    lengths = np.char.str_len(encoded)
    width = int(lengths.max()) if len(lengths) else 0
    matrix = np.frombuffer(encoded.tobytes(), dtype=np.uint8).reshape(len(encoded), encoded.itemsize)
    h = np.full(len(encoded), FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):  # multiplication modulo 2**64 is the algorithm
        for i in range(width):  # over byte positions (a subject key is a few bytes)
            live = lengths > i
            h = np.where(live, (h ^ matrix[:, i].astype(np.uint64)) * FNV_PRIME, h)
    return h[codes] if len(codes) else np.zeros(0, dtype=np.uint64)


def subject_partition(subjects: pd.Series, count: int) -> np.ndarray:
    """The partition (0..count-1) of each subject key: FNV-1a 64 of its UTF-8 bytes, modulo `count`."""
    return (fnv1a_64(subjects) % np.uint64(count)).astype(np.int64)


@dataclass
class SubjectSelection:
    """The rows of partition `index` of `count`, for `map_study(select=...)`; remembers, per form, the raw file's
    row numbers of the rows it kept (row i of the partition is `rows[form][i - 1]` of the file)."""

    subject_field: str
    index: int
    count: int
    rows: dict[str, np.ndarray] = field(default_factory=dict)
    pieces: dict[str, str] | None = None  # form -> this partition's rows, read once by `split_export` (a pickle)

    @property
    def read_file(self):
        """How `read_export` reads a form: from the piece `split_export` wrote (the raw file is not read again), or
        None (read the raw file whole, then keep this partition's rows)."""
        return None if self.pieces is None else self._read_piece

    def _read_piece(self, path: Path, form: Form, settings, findings: Findings):
        with open(self.pieces[form.name], "rb") as handle:
            piece: ReadForm = pickle.load(handle)
        if piece.error is not None:  # the raw file cannot be used: reported as reading it here would
            raise piece.error
        findings.extend(piece.findings)  # about the file (a byte-order mark, a column not in forms.yaml)
        return piece.frame, piece.broken

    def __call__(self, form: Form, frame: pd.DataFrame, broken: pd.DataFrame | None):
        if self.subject_field not in frame.columns:
            raise InputError(f"form {form.name!r} has no subject field {self.subject_field} (study.yaml raw.subject): "
                             "a partitioned run splits every form by subject; run without --partitions")
        if self.pieces is not None:  # read from this partition's piece: `split_export` kept its subjects' rows only
            kept = frame
        else:
            kept = frame[subject_partition(frame[self.subject_field], self.count) == self.index]
        self.rows[form.name] = kept.index.to_numpy(dtype=np.int64)
        numbers = pd.RangeIndex(1, len(kept) + 1, name=frame.index.name)
        if broken is not None:
            renumber = pd.Series(np.asarray(numbers), index=kept.index)
            broken = broken[broken.index.isin(kept.index)]
            broken = broken.set_axis(pd.Index(renumber.reindex(broken.index).to_numpy(), name=broken.index.name))
            broken = broken if len(broken) else None
        return kept.set_axis(numbers), broken

    def original(self, form: str, rows: pd.Series) -> pd.Series:
        """Partition row numbers (1-based, missing allowed) of `form` as the raw file's row numbers."""
        table = self.rows.get(form)
        number = pd.to_numeric(rows, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        ok = ~np.isnan(number) if table is not None else np.zeros(len(rows), dtype=bool)
        values = np.zeros(len(rows), dtype=np.int64)  # read only where ok: the rest is missing
        if ok.any():
            values[ok] = table[number[ok].astype(np.int64) - 1]
        return pd.Series(pd.arrays.IntegerArray(values, ~ok), index=rows.index)


@dataclass
class ReadForm:
    """One partition's rows of one raw file (index: the file's data row numbers), with what reading the whole
    file found, or the error that makes the file unusable."""

    frame: pd.DataFrame | None
    broken: pd.DataFrame | None
    findings: pd.DataFrame | None
    error: InputError | None = None


def split_export(spec: StudySpec, raw_dir: Path, count: int, folder: Path, runner=None) -> list[dict[str, str]] | None:
    """Read every raw file of the export once and write each partition's rows of it to `folder` (one pickle per
    partition and form); return, per partition, form -> file.  A partition then reads only its rows instead of
    every raw file whole (`SubjectSelection.read_file`).  The files are split one per task on `runner`
    (`scale.cluster`: here one after another, or on the cluster's workers side by side, largest first); one raw
    file is in a task's memory at a time.  None for an ODM-XML export (each partition reads it, and is refused as
    before)."""
    from cdiscflow.sdtm.raw.files import locate
    from cdiscflow.sdtm.raw.forms import is_odm_export

    if is_odm_export(spec, raw_dir) or not raw_dir.is_dir():
        return None
    forms = list(spec.forms.values())

    def size(position: int) -> int:
        try:
            return locate(raw_dir, forms[position]).stat().st_size
        except (InputError, OSError):
            return 0

    order = sorted(range(len(forms)), key=lambda i: -size(i))  # the largest files first: the workers end together
    settings = raw_settings(spec)
    tasks = [(forms[i], settings, str(raw_dir), i, count, str(folder)) for i in order]  # (a spec does not pickle)
    split = runner.map(split_form, tasks) if runner is not None else [split_form(*task) for task in tasks]
    pieces: list[dict[str, str]] = [{} for _ in range(count)]
    for position in range(len(forms)):  # over forms, in the spec's order
        for i, file in enumerate(split[order.index(position)]):  # over partitions
            pieces[i][forms[position].name] = file
    return pieces


def raw_settings(spec: StudySpec) -> dict:
    """The study's `raw:` settings (study.yaml) as plain dicts and lists, which a task to a worker can carry."""
    def plain(value):
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        return [plain(v) for v in value] if isinstance(value, tuple) else value

    return plain(spec.study.get("raw", {}))


def split_form(form: Form, settings: dict, raw_dir: str, position: int, count: int, folder: str) -> list[str]:
    """Read the raw file of `form` (number `position` of the study's forms; `settings`: the study's `raw_settings`)
    and write each partition's rows of it (with what reading it found, or the error that makes it unusable) to
    `folder`; the files, by partition.  The task carries the form, not the study: loading the spec once per form
    cost more than reading the file (15 loads: 9 of the 13 s of the split at 10,000 subjects)."""
    from cdiscflow.sdtm.raw.files import locate, read_file

    subject = str(settings.get("subject", "SUBJID"))
    findings = Findings()
    try:
        path = locate(Path(raw_dir), form)
        frame, broken = read_file(path, form, settings, findings)
        if subject not in frame.columns:
            SubjectSelection(subject, 0, count)(form, frame, broken)  # raises its InputError
    except InputError as exc:
        parts = [ReadForm(None, None, None, exc)] * count
    else:
        which = subject_partition(frame[subject], count)
        broken_which = None if broken is None else \
            pd.Series(which, index=frame.index).reindex(broken.index).to_numpy()
        parts = [ReadForm(frame[which == i], None if broken is None else broken[broken_which == i],
                          findings.frame()) for i in range(count)]
    files = []
    for i, part in enumerate(parts):  # over partitions
        file = Path(folder) / f"{i}-{position}.pkl"
        with atomic_write(file, durable=False) as handle:  # scratch: gone with the run
            pickle.dump(part, handle, protocol=pickle.HIGHEST_PROTOCOL)
        files.append(str(file))
    return files


def auto_partitions(raw_dir: Path, jobs: int) -> int:
    """`--partitions auto`: enough partitions that one fits in the memory available per worker (RAW_MEMORY_FACTOR
    bytes a raw byte, at least 256 MiB a worker), and at least one per worker.  A raw export that is not a folder
    (missing, an ODM-XML file) gets one per worker: the run then reports it as a plain run does."""
    if not Path(raw_dir).is_dir():
        return max(jobs, 1)
    raw_bytes = sum(p.stat().st_size for p in Path(raw_dir).iterdir() if p.is_file())
    per_worker = max(available_memory() // max(jobs, 1), 1 << 28)
    return max(jobs, math.ceil(raw_bytes * RAW_MEMORY_FACTOR / per_worker))


def available_memory() -> int:
    """Bytes of memory free on this machine now (4 GiB when the system cannot tell)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def translate_provenance(provenance: dict[str, pd.DataFrame], select: SubjectSelection) -> dict[str, pd.DataFrame]:
    """Each dataset's provenance with the raw file's row numbers instead of the partition's."""
    out = {}
    for name, prov in provenance.items():  # over datasets: partition rows back to the file's rows
        row = prov["row"].copy()
        codes, forms = pd.factorize(prov["source"])  # the forms coded once (a categorical: its codes), then by code
        for code, form in enumerate(forms):  # over source forms
            if form in select.rows:
                hit = codes == code
                row[hit] = select.original(form, prov["row"][hit])
        out[name] = prov.assign(row=row)
    return out


def _rejects_in_file_rows(rejects: pd.DataFrame, select: SubjectSelection, spec: StudySpec) -> pd.DataFrame:
    """The reject log with the raw file's row numbers: in `row`, and in the reason of a row rejected with its
    subject's enrolment row ("the subject's enrolment row 12 in enrol.csv was rejected")."""
    from cdiscflow.sdtm.raw.forms import roster_form

    rejects = rejects.copy()
    if not len(rejects):
        return rejects
    for form in pd.unique(rejects["form"]):  # over forms
        hit = rejects["form"] == form
        rejects.loc[hit, "row"] = select.original(form, rejects.loc[hit, "row"])
        named = hit & rejects["reason"].str.extract(_ROWS_IN_TEXT, expand=False).notna()  # names rows of the file
        if named.any():  # a duplicate key's rows, in the reason
            rejects.loc[named, "reason"] = _file_rows_in_text(rejects.loc[named, "reason"], form, select)
    roster = roster_form(spec)
    pattern = r"(the subject's enrolment row )(\d+)( in )"
    rejects["reason"] = rejects["reason"].str.replace(  # over the rejected rows that name an enrolment row
        pattern, lambda m: f"{m.group(1)}{select.original(roster, pd.Series([int(m.group(2))])).iloc[0]}{m.group(3)}",
        regex=True)
    return rejects


_ROWS_IN_TEXT = r"\(rows (\d+(?:, \d+)*)\)"  # RAW-DUPKEY's "(rows 3, 17)": the duplicates' rows of the file


def _file_rows_in_text(text: pd.Series, form: str, select: SubjectSelection) -> pd.Series:
    """Messages naming the partition's rows of `form` ("duplicate key ... (rows 3, 17)") with the file's rows;
    one call per message that names rows (duplicate keys: few)."""
    def original(match) -> str:
        rows = pd.Series([int(r) for r in match.group(1).split(", ")])
        return "(rows " + ", ".join(str(r) for r in select.original(form, rows)) + ")"

    return text.str.replace(_ROWS_IN_TEXT, original, regex=True)


def _raw_rows(findings: pd.DataFrame, select: SubjectSelection, spec: StudySpec) -> pd.DataFrame:
    """Findings with the raw file's row numbers where they name a raw row (`source` is the form's file).  The
    record numbers of MAP-KEY-DUP stay the partition's records: the client puts them in final record numbers (keys
    name USUBJID, so duplicate keys are one subject's, in one partition)."""
    form_of_file = {f.file: f.name for f in spec.forms.values()}
    findings = findings.copy()
    for file, form in form_of_file.items():  # over forms
        hit = (findings["source"] == file) & findings["row"].notna()
        if hit.any():
            findings.loc[hit, "row"] = select.original(form, findings.loc[hit, "row"])
        named = (findings["source"] == file) & (findings["rule_id"] == "RAW-DUPKEY")
        if named.any():
            findings.loc[named, "message"] = _file_rows_in_text(findings.loc[named, "message"], form, select)
    return findings
