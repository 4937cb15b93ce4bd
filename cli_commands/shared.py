"""What every command shares: the exit-code epilog, the group class that turns errors into exit codes, the
options `run` and `batch` (and the finding commands) have in common, and the printing of blocking errors."""

from __future__ import annotations

import os
import sys

import click

from cdiscflow.core.errors import EXIT_INTERNAL, EXIT_UNUSABLE, CdiscflowError

EXIT_CODES = """\b
Exit codes:
  0  success
  1  findings or rejections at or above the threshold
  2  unusable input or spec
  3  internal error (a bug: please report it)
  130  interrupted (Ctrl-C): the output folder keeps its previous complete content"""


class CommandGroup(click.Group):
    """Turns every error into a clear message and the documented exit code (never a traceback)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CdiscflowError as exc:
            click.echo(f"cdiscflow: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:  # Ctrl-C: the shell's 130, not click's "Aborted!" with 1 (= findings)
            click.echo("\ncdiscflow: interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except OSError as exc:  # the file system said no: a folder not writable, a disk full, a path that is a file
            where = f" {exc.filename}" if exc.filename else ""
            click.echo(f"cdiscflow: cannot read or write{where}: {exc.strerror or exc}", err=True)
            sys.exit(EXIT_UNUSABLE)
        except Exception as exc:
            if os.environ.get("CDISCFLOW_DEBUG"):
                raise
            click.echo(f"cdiscflow: internal error {type(exc).__name__}: {exc}\nThis is a bug in cdiscflow; please "
                       "report it with the command you ran (CDISCFLOW_DEBUG=1 shows the traceback).", err=True)
            sys.exit(EXIT_INTERNAL)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # in the order of a working day (run, batch, check-spec ...), not alphabetical

# Options shared by `run` and `batch`.
study_option = click.option(
    "--study", default=None, help="Study spec folder or embedded study name (default: dara_atra).")
on_error_option = click.option(
    "--on-error", type=click.Choice(["strict", "reject"]), default="strict", show_default=True,
    help="strict: a raw-data error stops the run before anything is written. reject: write the good records, log "
         "rejected raw rows in sdtm/_rejects.csv (exit 1).")
fail_on_option = click.option(
    "--fail-on", type=click.Choice(["error", "warning"]), default="error", show_default=True,
    help="Validation findings at or above this severity block the export and give exit 1.")
# Every other command that produces findings: the threshold only decides the exit code (cdiscflow.core.errors.
# exit_code_for is the one policy; the command's files are written either way).
fail_on_exit_option = click.option(
    "--fail-on", type=click.Choice(["error", "warning"]), default="error", show_default=True,
    help="Exit 1 when there are findings of this severity or worse.")
data_docs_option = click.option(
    "--data-docs/--no-data-docs", default=True, show_default=True,
    help="Render great-expectations Data Docs into validation/datadocs/.")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress; print only the final summary.")
verbose_option = click.option("-v", "--verbose", is_flag=True,
                               help="Also print stage timings and row counts per raw form and per dataset.")


def progress_mode_from_flags(quiet: bool, verbose: bool) -> str:
    from cdiscflow.core.terminal import progress_mode

    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose exclude each other")
    return progress_mode(quiet=quiet)

ERROR_LINES = 20  # errors printed one per line; the rest are summarised per rule (all are in the findings files)


def error_lines(findings, limit: int = ERROR_LINES) -> str:
    """The errors that stopped a command, one line each up to `limit`, then one summary line per rule (an empty
    enrolment form makes every record of every other form an error: thousands of lines otherwise)."""
    frame = findings.frame()
    frame = frame[frame["severity"] == "error"]
    lines = [f"{r.rule_id} {r.source or r.dataset} row {'' if r.row is None else r.row} {r.variable} "
             f"[{r.subject}] {r.value!r}: {r.message}" for r in frame.head(limit).itertuples(index=False)]
    rest = frame.iloc[limit:]
    if len(rest):
        where = rest["source"].where(rest["source"] != "", rest["dataset"])
        by_rule = where.groupby(rest["rule_id"], sort=False).agg(["size", "nunique"])
        lines.append(f"... and {len(rest)} more error(s): " + "; ".join(
            f"{rule} {n} in {k} file(s)" for rule, (n, k) in by_rule.iterrows()))
    return "\n".join(lines)

