"""The `cdiscflow` command line: the entry point that assembles the commands of cli_commands/ into one group.
Commands parse options and call library functions; nothing else lives there.

Exit codes (every command):
    0  success
    1  findings or rejections at or above the threshold
    2  unusable input or spec (missing/unreadable file, spec that contradicts itself, output folder not writable)
    3  internal error: a bug in cdiscflow (one line on stderr; CDISCFLOW_DEBUG=1 shows the traceback)
  130  interrupted (Ctrl-C)
"""


from __future__ import annotations

import atexit
import os
import sys
import threading

import click

from cdiscflow import __version__
from cdiscflow.cli_commands import pipeline, simulate, spec, stages
from cdiscflow.cli_commands.shared import EXIT_CODES, CommandGroup


@click.group(cls=CommandGroup, epilog=EXIT_CODES,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="cdiscflow")
def main() -> None:
    """cdiscflow: raw clinical-trial records to validated CDISC SDTM and ADaM datasets.

    \b
    Quick start (embedded, synthetic DARA-ATRA study):
      cdiscflow run                 # raw -> SDTM -> ADaM -> validate -> export -> report into ./out
    \b
    Everyday work:
      cdiscflow check-spec specs/my_study                         # is the spec usable?
      cdiscflow run --raw export/ --study specs/my_study --out out
      cdiscflow batch cuts/2020_06 cuts/2020_10 --out out -j 2    # many exports, one summary
      cdiscflow validate out/sdtm --study specs/my_study          # in CI: exit 1 on errors

    Every command explains itself: cdiscflow COMMAND --help.  Progress is live on a terminal and plain lines
    when output is captured or CI is set.
    """


# in the order of a working day: `cdiscflow --help` lists them so
for command in (pipeline.run_command, pipeline.package_command, pipeline.batch_command, spec.check_spec,
                spec.init_command, stages.sdtm_command, stages.adam_command, stages.report_command,
                stages.compare_command, stages.export_cmd, stages.convert_cmd, simulate.simulate_cmd,
                stages.validate, spec.spec_group):
    main.add_command(command)


def entry() -> None:
    """The `cdiscflow` console script: `main`, then the process ends without Python's own shutdown, which spends
    ~0.3 s CPU unloading modules and freeing every object of a run after the work is done (benchmarks/RESULTS.md,
    "Data Docs off the critical path").  The exit handlers still run and the output streams are flushed first;
    while a non-daemon thread is alive the interpreter ends as usual (it waits for the thread).  In-process callers
    (click's CliRunner, `python -m cdiscflow` under a debugger) call `main` and are not affected."""
    try:
        main()  # standalone mode: always ends in SystemExit with the exit code
    except SystemExit as exc:
        code = exc.code
    else:  # pragma: no cover (click's standalone mode does not return)
        code = 0
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    if code is not None and not isinstance(code, int):  # as Python prints a SystemExit with a message
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`cdiscflow ... | head`): nothing more to say
            pass
    os._exit(code or 0)


if __name__ == "__main__":  # pragma: no cover
    main()
