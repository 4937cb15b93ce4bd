"""One rule for where a command may write: never into or over its inputs, never into cdiscflow's own package
folders, and only where it can write — checked before any work.

Every command that writes (`run`, `sdtm`, `adam`, `validate`, `convert`, `export`, `report`, `batch`, `compare`,
`spec import`, `spec export`) calls `check_output` with its output path and its inputs (raw export, SDTM/ADaM
folders, spec folder, source files).  An output folder equal to an input folder, inside one, or containing one is
refused (`InputError`, exit 2): a run replaces what is in its output folder, so any of the three could overwrite
or delete the data it reads.  Paths are compared after resolving symbolic links and `..`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterable

from cdiscflow.core.errors import InputError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the repository root is the `cdiscflow` package


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def package_folders() -> list[Path]:
    """cdiscflow's own folders (sdtm/, validation/, report/, specs/ ...): outputs never go there."""
    return sorted(p for p in PACKAGE_ROOT.iterdir()
                  if p.is_dir() and ((p / "__init__.py").is_file() or p.name in ("specs", "tests")))


def inside_package(path: str | os.PathLike) -> Path | None:
    """The package folder `path` is in (or is), else None."""
    target = Path(path).resolve()
    return next((f for f in package_folders() if _inside(target, f)), None)


def check_output(out: str | os.PathLike, inputs: Iterable[tuple[str, str | os.PathLike | None]], *,
                 option: str = "--out", is_file: bool = False) -> Path:
    """Refuse an output that would write into or over an input; check it can be written.  Returns `out`.

    `inputs` are (what, path) pairs, e.g. ("raw export", raw_dir), ("spec folder", spec.path); a None path is
    skipped.  An input folder may not be the output, hold it, or lie inside it; an input file may not be the output
    or lie inside it.  `is_file`: the output is one file (its folder is probed for writing).
    """
    out_path = Path(out)
    target = out_path.resolve()
    for what, given in inputs:  # over the few inputs of a command
        if given is None:
            continue
        source = Path(given).resolve()
        if target == source:
            raise InputError(f"{option} {out_path} is the {what} {given}: a command never writes over its input; "
                             f"choose another {option}")
        if source.is_dir() and _inside(target, source):
            raise InputError(f"{option} {out_path} is inside the {what} {given}: a command never writes into its "
                             f"input; choose an {option} outside it")
        if not is_file and _inside(source, target):
            raise InputError(f"{option} {out_path} contains the {what} {given}: writing there could replace the "
                             f"input; choose an {option} that does not hold it")
    package = inside_package(target)
    if package is not None:
        raise InputError(f"{option} {out_path} is inside cdiscflow's own {package.name}/ folder ({package}); "
                         f"choose an {option} outside the installed package")
    check_writable(out_path.parent if is_file else out_path, option=option)
    return out_path


def check_writable(folder: str | os.PathLike, *, option: str = "--out") -> None:
    """Find an output folder that cannot be written before any work: a file in the way, no permission, a read-only
    file system.  Probes with a hidden file in the nearest folder that exists (removed at once); creates nothing
    else."""
    folder = Path(folder)
    existing = folder.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{option} {folder}: {existing} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".cdiscflow-write-check.", dir=existing)
    except OSError as exc:
        raise InputError(f"{option} {folder}: cannot write into {existing} ({exc.strerror or exc})") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
