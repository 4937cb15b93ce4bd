"""Atomic, deterministic file output.

Every file cdiscflow writes goes through `atomic_write`: the bytes go to a temporary file in the same folder, are
flushed to disk, and only then renamed over the target.  A run killed mid-write leaves the previous complete file
(or none), never a truncated one.  Inside a folder that `staged_output` is building, the flush to disk waits:
every file of the folder is flushed together just before the folder is swapped in (`make_durable`), which keeps
the same guarantee for the swapped-in folder (after a crash or power cut: the old output or the new one, each
file whole) while the work that writes the files no longer waits for the disk file by file (big files are written
back by the kernel while later work runs); a killed process never needed the flush (its written bytes are the
kernel's already).

The temporary files are hidden and end in `.part` (`.dm.xpt.k3j9x.part`): no reader takes them for a dataset.  A
run killed with SIGKILL cannot remove its own; the next run into the same folder does (`remove_stale_parts`).  One
run per output folder at a time.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import IO, Iterator

from cdiscflow.core.errors import CdiscflowError

PART_SUFFIX = ".part"
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}(\.[^.]+)?\.part$")  # mkstemp's 8 random characters


def _umask_mode() -> int:
    """The mode a plain open() would give a new file (mkstemp's 0600 is too private for shared output folders)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None, *,
                 durable: bool = True) -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; rename it onto `path` when the block ends without error.
    `durable=False`: a scratch file that lives only as long as the run writing it (a partitioned run's spills and
    pieces), never flushed to disk: still whole or absent (a task run again writes it again), and a crash loses
    the run, whose scratch folder goes with it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=PART_SUFFIX, dir=target.parent)
    try:
        with os.fdopen(fd, mode, encoding=encoding, newline="" if "b" not in mode else None) as fh:
            yield fh
            fh.flush()
            if durable and not _durable_at_swap(target):
                os.fsync(fh.fileno())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _durable_at_swap(target: Path) -> bool:
    """Whether `target` is inside a folder this process is staging (`staged_output`): its files are flushed to disk
    all together just before the folder is swapped in (`make_durable`), not one by one as they are written."""
    if not _STAGING:
        return False
    path = os.path.abspath(target)
    return any(path.startswith(root) for root in tuple(_STAGING))  # a copy: other threads may stage meanwhile


_STAGING: set[str] = set()  # staging folders of this process (each with a trailing separator)


def make_durable(folder: str | os.PathLike) -> None:
    """fsync every file and folder under `folder`, so that it survives a power cut as it is now.  The write-back of
    every file is started first (Linux sync_file_range, where available) and only then is each file fsynced, so
    that the kernel writes them together.  (Linux's syncfs would be one call, but it also waits for every other
    process's unwritten data on the file system.)"""
    files, folders = [], []
    for dirpath, _, filenames in os.walk(folder):  # over the staged folders
        folders.append(dirpath)
        files += [os.path.join(dirpath, name) for name in filenames]
    start = _sync_file_range()
    for first in range(0, len(files), 256):  # over batches of files: a bounded number of open descriptors
        fds = []
        try:
            for path in files[first:first + 256]:  # over files: start their write-back
                try:
                    fd = os.open(path, _FLUSH_FLAGS)
                except FileNotFoundError:  # removed meanwhile (a temporary of a writer that failed)
                    continue
                except OSError as exc:
                    if exc.errno != errno.ELOOP:  # a symbolic link: not ours to flush
                        raise
                    continue
                fds.append(fd)
                if start is not None:
                    start(fd, 0, 0, 2)  # SYNC_FILE_RANGE_WRITE: start write-back, do not wait
            for fd in fds:  # over the same files: wait until each is on disk
                os.fsync(fd)
        finally:
            for fd in fds:
                os.close(fd)
    for path in reversed(folders):  # over folders, deepest first: their entries
        _fsync_folder(Path(path))


# Windows' fsync (_commit) needs a descriptor open for writing; elsewhere read-only is enough (and works on files the
# process may not write)
_FLUSH_FLAGS = (os.O_RDWR | getattr(os, "O_BINARY", 0) if os.name == "nt"
                else os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))


@functools.lru_cache(maxsize=1)
def _sync_file_range():
    import ctypes

    return _libc("sync_file_range", [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint])


def _libc(name: str, argtypes: list):
    """The C library's function `name` (Linux; None elsewhere or when this libc lacks it), returning an int and
    setting errno."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        func = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    func.argtypes = argtypes
    func.restype = ctypes.c_int
    return func


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
        if not _durable_at_swap(target):
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


# ----------------------------------------------------------------------------------------------------------------
# run-level atomicity: a whole output folder staged beside the target and swapped in at the end
#
#     with staged_output("out", owned_by=("run.json",)) as build:
#         write_everything_into(build)          # `out` is untouched until the block ends without an exception
#
# `out` then holds the previous complete output or the new complete one, never a mix:
#   * the new output is built in a hidden sibling `.out.<pid>.<random>.staging/` (same file system: renames are
#     atomic); an exception or Ctrl-C inside the block removes it and leaves `out` as it was;
#   * before the swap every file and folder in the staging folder is flushed to disk (`make_durable`: the files
#     written into it by this process were not fsynced one by one), so the swapped-in output is whole on disk;
#   * at the end the two folders are exchanged in one atomic system call where the platform has one (Linux
#     renameat2 RENAME_EXCHANGE); elsewhere `out` is renamed aside to `.out.<pid>.<random>.old`, the staging folder
#     renamed onto `out`, and the old one removed: between those two renames (microseconds, no I/O but two
#     directory entries) `out` does not exist; a run killed exactly there leaves the previous output complete in
#     the `.old` folder, and the next run into `out` renames it back before doing anything else;
#   * one run per output folder: `.out.lock` beside `out` holds the writer's pid under an exclusive lock
#     (fcntl.flock, released by the kernel when the process dies, so a lock left by a killed run is stale and
#     taken over; where flock does not exist, the pid is checked for life).  A second run refuses with
#     OutputBusyError (exit 2) naming the pid;
#   * leftovers of a killed run (SIGKILL cannot clean up: its staging folder, a half-removed `.old`) are removed by
#     the next run into the same `out`, under the lock: while it is held no other run can own them.
# `out` is replaced as a whole: files someone put into it by hand do not survive the next run.  An existing,
# non-empty `out` is therefore replaced only when it holds one of `owned_by` (e.g. run.json: it is the output of an
# earlier run); any other folder is refused (it may be a raw export, a home folder ...).

STAGING_SUFFIX = ".staging"
OLD_SUFFIX = ".old"
LOCK_SUFFIX = ".lock"


class OutputBusyError(CdiscflowError):
    """Another cdiscflow process is writing the same output folder (exit 2)."""


def _leftover(name: str, suffix: str) -> "re.Pattern[str]":
    return re.compile(rf"^\.{re.escape(name)}\.(\d+)\.[a-z0-9_]{{8}}{re.escape(suffix)}$")


def lock_path(target: str | os.PathLike) -> Path:
    target = Path(target)
    return target.parent / f".{target.name}{LOCK_SUFFIX}"


@contextlib.contextmanager
def output_lock(target: str | os.PathLike) -> Iterator[Path]:
    """Hold the lock of output folder `target` (`.<name>.lock` beside it, holding this process's pid) for the
    block; raise OutputBusyError when a live process holds it.  The lock file is removed at the end."""
    target = Path(target).resolve()  # two spellings of one folder (a link, ..) share one lock
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # the parent is a file
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(target)) from None
    lock = lock_path(target)
    fd = _acquire_flock(lock, target) if _HAS_FLOCK else _acquire_pidfile(lock, target)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield lock
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)  # still holding the lock: a waiter that locks the unlinked file sees it gone and retries
        os.close(fd)


try:
    import fcntl

    _HAS_FLOCK = True
except ImportError:  # pragma: no cover - Windows
    _HAS_FLOCK = False


def _busy(target: Path, lock: Path, pid: str) -> OutputBusyError:
    who = f"pid {pid}" if pid else "another process"
    return OutputBusyError(f"{target}: another cdiscflow run ({who}) is writing this output folder; wait until it "
                           f"has finished or choose another --out (lock file {lock})")


def _acquire_flock(lock: Path, target: Path) -> int:
    while True:  # over a lock file removed and made again by another run while we opened it (rare)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise _busy(target, lock, pid) from None
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, someone else's
    except OSError:
        return False
    return True


def _acquire_pidfile(lock: Path, target: Path) -> int:  # pragma: no cover - platforms without flock
    while True:
        try:
            return os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                pid = lock.read_text(encoding="ascii", errors="replace").strip()
            except FileNotFoundError:
                continue
            if pid.isdigit() and _pid_alive(int(pid)):
                raise _busy(target, lock, pid) from None
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()  # stale: its process is gone


def clear_leftovers(target: str | os.PathLike) -> list[Path]:
    """Tidy what killed runs left beside output folder `target`; call it holding `output_lock(target)`.  A `.old`
    folder while `target` is missing is the previous complete output of a run killed between its two renames: it is
    renamed back.  Every other staging or `.old` folder of `target` is removed.  Returns the folders removed."""
    target = Path(target)
    parent = target.parent
    if not parent.is_dir():
        return []
    staging, old = _leftover(target.name, STAGING_SUFFIX), _leftover(target.name, OLD_SUFFIX)
    found = sorted(p for p in parent.iterdir() if p.is_dir() and (staging.match(p.name) or old.match(p.name)))
    olds = [p for p in found if old.match(p.name)]
    if olds and not os.path.lexists(target):
        newest = max(olds, key=lambda p: p.stat().st_mtime)
        os.replace(newest, target)
        found.remove(newest)
    for p in found:  # over leftover folders (a handful)
        shutil.rmtree(p, ignore_errors=True)
    return found


@contextlib.contextmanager
def staged_output(out: str | os.PathLike, *, owned_by: tuple[str, ...] = ()) -> Iterator[Path]:
    """Build output folder `out` whole: yields an empty staging folder beside it; when the block ends without an
    exception the staging folder becomes `out` in one swap (see the notes above).  Holds `output_lock(out)` for the
    whole block and clears leftovers of killed runs first.  An existing non-empty `out` without any file of
    `owned_by` is refused with OutputBusyError before anything is built (nothing else may be replaced)."""
    target = Path(out).resolve()  # beside the real folder: the same file system, the same lock for every spelling
    with output_lock(target):
        clear_leftovers(target)
        _check_replaceable(target, owned_by)
        build = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=STAGING_SUFFIX,
                                      dir=target.parent))
        root = os.path.join(os.path.abspath(build), "")
        _STAGING.add(root)  # files written into it are made durable all together before the swap
        try:
            yield build
            _swap_in(build, target)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
        finally:
            _STAGING.discard(root)


def _check_replaceable(target: Path, owned_by: tuple[str, ...]) -> None:
    if not os.path.lexists(target):
        return
    if not target.is_dir() or target.is_symlink():
        raise OutputBusyError(f"{target}: the output folder is a file or a link; choose a folder name")
    if owned_by and any(target.iterdir()) and not any((target / name).is_file() for name in owned_by):
        raise OutputBusyError(f"{target} is not empty and is not an earlier cdiscflow output (no "
                              f"{' or '.join(owned_by)}): the output folder is replaced as a whole, so choose a new "
                              "or empty folder")


def _swap_in(build: Path, target: Path) -> None:
    make_durable(build)  # every file and folder on disk before the swap: a power cut leaves old or new, both whole
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(build, 0o777 & ~mask)  # mkdtemp's 0700 is too private for an output folder people share
    old = None
    try:
        with _signals_deferred():  # Ctrl-C cannot land between the two renames of the fallback
            if not os.path.lexists(target):
                os.replace(build, target)
            elif exchange(build, target):
                old = build  # the staging name now holds the previous output
            else:
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=OLD_SUFFIX,
                                            dir=target.parent))
                os.rmdir(old)
                os.replace(target, old)  # until the next line `target` is missing (clear_leftovers restores it)
                os.replace(build, target)
            _fsync_folder(target.parent)
    finally:  # also when a Ctrl-C held back during the swap arrives: the new output is in place, the old one goes
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)  # killed half-way: the next run removes the rest


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for a few system calls: while the block runs their Python handlers only note
    them; afterwards the usual handlers are back and the noted signals are raised again (Ctrl-C's KeyboardInterrupt
    then comes after the block).  Python runs signal handlers in the main thread only, so this works whatever other
    threads exist; called from another thread it defers nothing."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):  # over the two stop signals
        handler = signal.getsignal(signum)
        if handler is not None:  # None: installed outside Python, cannot be restored; left alone
            previous[signum] = signal.signal(signum, lambda n, frame: noted.append(n))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(noted):
            signal.raise_signal(signum)


def exchange(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Swap two existing paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where the platform or
    the file system cannot, so the caller falls back to two renames."""
    func = _renameat2()
    if func is None:
        return False
    import ctypes

    if func(-100, os.fsencode(os.fspath(a)), -100, os.fsencode(os.fspath(b)), 2) == 0:  # AT_FDCWD, RENAME_EXCHANGE
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), os.fspath(b))


@functools.lru_cache(maxsize=1)
def _renameat2():
    import ctypes

    return _libc("renameat2", [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint])


def _fsync_folder(folder: Path) -> None:
    """Make the renames in `folder` durable (POSIX); a no-op where folders cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
