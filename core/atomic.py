"""Atomic, deterministic file output.

Every file cdiscflow writes goes through `atomic_write`: the bytes go to a temporary file in the same folder, are
flushed to disk, and only then renamed over the target.  A run killed mid-write leaves the previous complete file
(or none), never a truncated one.

The temporary files are hidden and end in `.part` (`.dm.xpt.k3j9x.part`): no reader takes them for a dataset.  A
run killed with SIGKILL cannot remove its own; the next run into the same folder does (`remove_stale_parts`).  One
run per output folder at a time.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import IO, Iterator

PART_SUFFIX = ".part"
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}(\.[^.]+)?\.part$")  # mkstemp's 8 random characters


def _umask_mode() -> int:
    """The mode a plain open() would give a new file (mkstemp's 0600 is too private for shared output folders)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; rename it onto `path` when the block ends without error."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=PART_SUFFIX, dir=target.parent)
    try:
        with os.fdopen(fd, mode, encoding=encoding, newline="" if "b" not in mode else None) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_write(path, "wb") as fh:
        fh.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text with '\\n' line ends, atomically."""
    write_bytes(path, text.encode("utf-8"))


def atomic_path(path: str | os.PathLike) -> "contextlib.AbstractContextManager[Path]":
    """For libraries that insist on writing to a path themselves (pyreadstat, matplotlib): yield a temporary path in
    the target folder and rename it onto `path` afterwards."""
    return _atomic_path(Path(path))


@contextlib.contextmanager
def _atomic_path(target: Path) -> Iterator[Path]:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix + PART_SUFFIX, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, _umask_mode())
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def remove_stale_parts(*folders: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed run left in `folders` (not their subfolders); returns what was removed.
    Only names `atomic_write`/`atomic_path` make are touched (`.dm.xpt.k3j9x_a1.part`)."""
    stale = []
    for folder in map(Path, folders):  # over output folders
        if folder.is_dir():
            stale += [p for p in folder.glob(f".*{PART_SUFFIX}") if _TEMP_NAME.match(p.name) and p.is_file()]
    for p in sorted(stale):  # over leftover files (a handful)
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    return sorted(stale)


def write_folder(files: "dict[str, bytes | Path]", target: str | os.PathLike, *, replace: bool = False) -> Path:
    """Write a whole folder at once: every file into a hidden sibling `.<name>.<random>.part/`, then that folder is
    renamed onto `target`.  A failure leaves no folder (and no temporary); `target` must not exist or be empty
    unless `replace`, which swaps the old folder out whole (never a mix of old and new files).  A value is the
    file's bytes, or a `Path` whose file is copied (big datasets need not be held in memory)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=PART_SUFFIX, dir=target.parent))
    try:
        for rel, data in files.items():
            if isinstance(data, Path):
                (build / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(data, build / rel)
                os.chmod(build / rel, _umask_mode())
            else:
                write_bytes(build / rel, data)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(build, 0o777 & ~mask)  # mkdtemp's 0700 is too private for a spec folder people share
        if target.exists() and replace:
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.rmdir(old)
            os.replace(target, old)
            os.replace(build, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if target.is_dir():
                target.rmdir()  # empty (callers check): replaced by the built folder
            os.replace(build, target)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return target
