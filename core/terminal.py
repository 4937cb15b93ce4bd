"""How cdiscflow talks to people: a live display on a terminal, plain parseable lines everywhere else.

Three modes, chosen per output stream:

    rich   the stream is a terminal and the CI environment variable is not set: a live progress display (spinner,
           stage bar, elapsed time) on stderr, finished stages printed above it; tables drawn with rich
    plain  output captured or piped, or CI set: one line per event, never a colour or a cursor movement:
               [sdtm] done in 0.9 s (0 raw row(s) rejected)          (cdiscflow run)
               [cut_2020_10/sdtm] done in 0.9 s (...)                 (cdiscflow batch)
               [cut_2020_10] ok: 63 subjects, 26 datasets, no findings, 4.1 s
           tables as aligned text
    quiet  --quiet: no progress at all; results and errors only

Nothing here knows the pipeline: stage names come in as arguments.  A stage reports "started" and then one closing
message; a closing message without a start (e.g. "skipped: ...") closes the stage too.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence, TextIO

RICH, PLAIN, QUIET = "rich", "plain", "quiet"
STARTED = "started"  # the message that opens a stage (pipeline.run's progress protocol)
UNDER_WAY = "under way: "  # a message that starts so tells how far a stage is, without ending it (partitions done)
_FALSE = {"", "0", "false", "no", "off"}
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def in_ci(environ: dict[str, str] | None = None) -> bool:
    """True when the CI environment variable is set to anything but a false value (GitHub, GitLab, Azure... set it)."""
    value = (os.environ if environ is None else environ).get("CI")
    return value is not None and value.strip().lower() not in _FALSE


def is_interactive(stream: TextIO | None) -> bool:
    """A person watches `stream`: it is a terminal and we are not in CI."""
    try:
        tty = bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        tty = False
    return tty and not in_ci()


def progress_mode(stream: TextIO | None = None, *, quiet: bool = False) -> str:
    """The mode for progress on `stream` (default stderr)."""
    if quiet:
        return QUIET
    return RICH if is_interactive(sys.stderr if stream is None else stream) else PLAIN


# ----------------------------------------------------------------------------------------------------------------
# tables


@dataclass
class Table:
    title: str
    columns: Sequence[str]
    rows: list[Sequence[Any]] = field(default_factory=list)

    def _cells(self) -> list[list[str]]:
        return [["" if v is None else str(v) for v in row] for row in self.rows]

    def _numeric(self) -> list[bool]:
        """Columns whose filled cells are all numbers (or numbers as text, '0.78') are right-aligned."""
        out = []
        for i in range(len(self.columns)):
            values = [str(row[i]) for row in self.rows if row[i] is not None and row[i] != ""]
            out.append(bool(values) and all(_NUMBER.match(v) for v in values))
        return out

    def plain(self) -> str:
        """Aligned text: a title line, a header, one line per row (two spaces between columns)."""
        cells = self._cells()
        widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(self.columns)]
        right = self._numeric()

        def line(values: Sequence[str]) -> str:
            parts = [v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)]
            return "  ".join(parts).rstrip()

        lines = [self.title] if self.title else []
        lines.append(line(list(self.columns)))
        lines.extend(line(r) for r in cells)
        return "\n".join(lines)

    def rich(self):
        from rich.table import Table as RichTable
        from rich.text import Text

        table = RichTable(title=self.title or None, title_justify="left", header_style="bold")
        for name, right in zip(self.columns, self._numeric()):
            table.add_column(name, justify="right" if right else "left")
        for row in self._cells():  # Text cells: a "[...]" in a path or message is never read as rich markup
            table.add_row(*(Text(c) for c in row))
        return table


def print_table(table: Table, stream: TextIO | None = None) -> None:
    """Draw `table` with rich on a terminal, as aligned text anywhere else."""
    stream = sys.stdout if stream is None else stream
    if is_interactive(stream):
        _console(stream).print(table.rich())
    else:
        print(table.plain(), file=stream, flush=True)


def _console(stream: TextIO):
    from rich.console import Console

    return Console(file=stream, highlight=False)


# ----------------------------------------------------------------------------------------------------------------
# progress of one run


class RunProgress:
    """Progress of one pipeline run.  Use as a context manager; the object is the run's `progress` callback.

        with RunProgress(progress_mode(), stages=STAGES, label="DARA-ATRA") as progress:
            run(..., progress=progress)
    """

    def __init__(self, mode: str, *, stages: Sequence[str], label: str = "", stream: TextIO | None = None):
        self.mode, self.stages, self.label = mode, tuple(stages), label
        self.stream = sys.stderr if stream is None else stream
        self._live = None
        self._task = None

    def __enter__(self) -> "RunProgress":
        if self.mode == RICH:
            self._live = _progress_bar(self.stream, unit="stages")
            self._live.start()
            self._task = self._live.add_task(self.label or "run", total=len(self.stages))
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __call__(self, stage: str, message: str) -> None:
        if self.mode == QUIET:
            return
        if self.mode == PLAIN:
            print(f"[{stage}] {message}", file=self.stream, flush=True)
            return
        if message == STARTED or message.startswith(UNDER_WAY):
            far = message.removeprefix(UNDER_WAY) if message != STARTED else ""
            self._live.update(self._task, description=f"{self.label} {stage} {far}".strip())
            return
        self._live.console.print(_stage_line(stage, message))
        self._live.advance(self._task, 1)

    def table(self, table: Table) -> None:
        """Details (--verbose) in the same style as the progress."""
        _print_on(self.mode, self._live, self.stream, table)


# ----------------------------------------------------------------------------------------------------------------
# progress of a batch


class BatchProgress:
    """Progress of many runs in parallel: one overall bar, one line per running export, finished exports printed
    above.  Use as a context manager; `progress(export, stage, message)` and `finished(export, line, ok)` are the
    callbacks of `run_batch`."""

    def __init__(self, mode: str, *, exports: Sequence[str], stages: Sequence[str], stream: TextIO | None = None):
        self.mode, self.exports, self.stages = mode, tuple(exports), tuple(stages)
        self.stream = sys.stderr if stream is None else stream
        self._live = None
        self._overall = None
        self._tasks: dict[str, Any] = {}
        self._done: set[str] = set()

    def __enter__(self) -> "BatchProgress":
        if self.mode == RICH:
            self._live = _progress_bar(self.stream, unit="")
            self._live.start()
            self._overall = self._live.add_task("exports", total=len(self.exports))
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def progress(self, export: str, stage: str, message: str) -> None:
        if self.mode == QUIET or export in self._done:
            return
        if self.mode == PLAIN:
            print(f"[{export}/{stage}] {message}", file=self.stream, flush=True)
            return
        task = self._tasks.get(export)
        if task is None:
            task = self._tasks[export] = self._live.add_task(export, total=len(self.stages))
        if message == STARTED or message.startswith(UNDER_WAY):
            far = message.removeprefix(UNDER_WAY) if message != STARTED else ""
            self._live.update(task, description=f"{export} {stage} {far}".strip())
        else:
            self._live.advance(task, 1)

    def finished(self, export: str, line: str, ok: bool) -> None:
        self._done.add(export)
        if self.mode == QUIET:
            return
        if self.mode == PLAIN:
            print(f"[{export}] {line}", file=self.stream, flush=True)
            return
        from rich.text import Text

        mark = Text("✓ ", style="green") if ok else Text("✗ ", style="bold red")
        self._live.console.print(mark + Text(f"{export}  {line}"))
        task = self._tasks.pop(export, None)
        if task is not None:
            self._live.remove_task(task)
        self._live.advance(self._overall, 1)

    def table(self, table: Table) -> None:
        """Details (--verbose) in the same style as the progress."""
        _print_on(self.mode, self._live, self.stream, table)


def _print_on(mode: str, live, stream: TextIO, table: Table) -> None:
    if mode == QUIET:
        return
    if live is not None:
        live.console.print(table.rich())
    elif mode == RICH:
        _console(stream).print(table.rich())
    else:
        print(table.plain(), file=stream, flush=True)


def _progress_bar(stream: TextIO, unit: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = [SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(bar_width=24),
               MofNCompleteColumn()]
    if unit:
        columns.append(TextColumn(unit))
    columns.append(TimeElapsedColumn())
    return Progress(*columns, console=_console(stream), transient=True)


def _stage_line(stage: str, message: str):
    from rich.text import Text

    if message.startswith("failed"):
        mark = Text("✗ ", style="bold red")
    elif message.startswith("skipped"):
        mark = Text("– ", style="dim")
    else:
        mark = Text("✓ ", style="green")
    return mark + Text(f"{stage:<9} {message}")
