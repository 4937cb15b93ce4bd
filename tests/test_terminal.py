"""What people see: live progress on a terminal; plain lines without colours or bars in CI or when captured; a
--help on every command that teaches with an example and the exit codes."""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner

from cdiscflow.cli import main
from cdiscflow.core.terminal import (PLAIN, QUIET, RICH, BatchProgress, RunProgress, Table, in_ci, print_table,
                                     progress_mode)
from cdiscflow.pipeline import STAGES

ANSI = "\x1b["


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def no_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)


@pytest.mark.parametrize("value, expected", [("true", True), ("1", True), ("yes", True), ("false", False),
                                             ("0", False), ("", False), (None, False)])
def test_ci_variable(value, expected):
    assert in_ci({} if value is None else {"CI": value}) is expected


def test_mode_follows_the_stream_and_ci(monkeypatch, no_ci):
    assert progress_mode(FakeTTY()) == RICH
    assert progress_mode(io.StringIO()) == PLAIN  # captured or piped
    assert progress_mode(FakeTTY(), quiet=True) == QUIET
    monkeypatch.setenv("CI", "true")
    assert progress_mode(FakeTTY()) == PLAIN  # a CI runner with a pseudo-terminal still gets plain lines


def _feed(progress) -> None:
    progress("sdtm", "started")
    progress("sdtm", "done in 1.0 s (0 raw row(s) rejected)")
    progress("export", "skipped: 3 finding(s) at or above 'error'")


def test_plain_run_progress_is_one_line_per_event():
    stream = FakeTTY()
    with RunProgress(PLAIN, stages=STAGES, stream=stream) as progress:
        _feed(progress)
    assert stream.getvalue() == ("[sdtm] started\n[sdtm] done in 1.0 s (0 raw row(s) rejected)\n"
                                 "[export] skipped: 3 finding(s) at or above 'error'\n")


def test_rich_run_progress_draws_on_a_terminal(no_ci):
    stream = FakeTTY()
    with RunProgress(RICH, stages=STAGES, stream=stream, label="run") as progress:
        _feed(progress)
    text = stream.getvalue()
    assert ANSI in text and "✓ sdtm" in text and "– export    skipped" in text


def test_quiet_prints_nothing():
    stream = FakeTTY()
    with RunProgress(QUIET, stages=STAGES, stream=stream) as progress:
        _feed(progress)
    with BatchProgress(QUIET, exports=["a"], stages=STAGES, stream=stream) as batch:
        batch.progress("a", "sdtm", "started")
        batch.finished("a", "ok", True)
    assert stream.getvalue() == ""


def test_plain_batch_progress_names_the_export():
    stream = io.StringIO()
    with BatchProgress(PLAIN, exports=["cut1", "cut2"], stages=STAGES, stream=stream) as batch:
        batch.progress("cut1", "sdtm", "started")
        batch.finished("cut2", "unusable: ae.csv is missing", False)
        batch.progress("cut2", "report", "done in 0.1 s")  # late event of a finished export: not shown
    assert stream.getvalue() == "[cut1/sdtm] started\n[cut2] unusable: ae.csv is missing\n"


def test_rich_batch_progress_marks_failures(no_ci):
    stream = FakeTTY()
    with BatchProgress(RICH, exports=["cut1", "cut2"], stages=STAGES, stream=stream) as batch:
        batch.progress("cut1", "sdtm", "started")
        batch.progress("cut1", "sdtm", "done in 1.0 s")
        batch.finished("cut1", "ok: 63 subjects", True)
        batch.finished("cut2", "unusable: [ae.csv] missing", False)
    text = stream.getvalue()
    assert ANSI in text and "✓ cut1  ok: 63 subjects" in text and "✗ cut2  unusable: [ae.csv] missing" in text


def test_table_plain_text_is_aligned():
    table = Table("batch", ["export", "status", "subjects", "seconds"],
                  [["cut1", "ok", 63, "4.1"], ["cut10", "unusable", None, "12.0"]])
    assert table.plain() == ("batch\n"
                             "export  status    subjects  seconds\n"
                             "cut1    ok              63      4.1\n"
                             "cut10   unusable               12.0")


def test_tables_are_plain_in_ci_even_on_a_terminal(monkeypatch):
    table = Table("t", ["a", "b"], [["x", 1]])
    monkeypatch.setenv("CI", "1")
    stream = FakeTTY()
    print_table(table, stream)
    assert stream.getvalue() == "t\na  b\nx  1\n"
    monkeypatch.delenv("CI")
    stream = FakeTTY()
    print_table(table, stream)
    assert ANSI in stream.getvalue() and "┃" in stream.getvalue()


@pytest.mark.slow
def test_cli_run_in_ci_verbose(tmp_path, raw_small):
    res = CliRunner().invoke(main, ["run", "--raw", str(raw_small), "--out", str(tmp_path / "out"),
                                    "--no-data-docs", "-v"], env={"CI": "true"})
    assert res.exit_code == 0, res.output
    text = res.output
    assert ANSI not in text and "━" not in text
    assert "[sdtm] started" in text and "[validate] done in" in text
    lines = text.splitlines()
    assert "dataset  records  validated  written" in lines
    dm = next(line for line in lines if line.startswith("DM "))
    assert dm.split() == ["DM", "3", "3", "3"]
    enrol = next(line for line in lines if line.startswith("enrol "))
    assert enrol.split() == ["enrol", "3", "0"]


def test_quiet_and_verbose_exclude_each_other():
    res = CliRunner().invoke(main, ["run", "-q", "-v"])
    assert res.exit_code == 2 and "--quiet and --verbose exclude each other" in res.output


def test_every_command_teaches_with_an_example_and_the_exit_codes():
    runner = CliRunner()
    for name in sorted(main.commands):
        res = runner.invoke(main, [name, "--help"])
        assert res.exit_code == 0, name
        assert "Example" in res.output, f"cdiscflow {name} --help has no example"
        assert f"cdiscflow {name}" in res.output, name
        assert "Exit codes:" in res.output and "2  unusable input or spec" in res.output, name


def test_main_help_lists_commands_and_exit_codes():
    res = CliRunner().invoke(main, ["--help"])
    assert res.exit_code == 0
    for text in ("batch", "run", "validate", "Exit codes:", "0  success",
                 "1  findings or rejections at or above the threshold", "2  unusable input or spec",
                 "cdiscflow batch cuts/2020_06 cuts/2020_10 --out out -j 2"):
        assert text in res.output, text


def test_version():
    from cdiscflow import __version__

    res = CliRunner().invoke(main, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"cdiscflow, version {__version__}"


def test_readme_guides_every_command_and_keeps_the_set_up():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "    python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/cdiscflow run\n" in readme
    assert '    python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest\n' in readme
    for name in main.commands:
        assert f"| `{name}` |" in readme, f"README command table lacks `cdiscflow {name}`"
    assert "| 2 | unusable input or spec" in readme and "batch_summary.csv" in readme
    assert readme.count("uses: actions/upload-artifact") == 1  # one CI snippet, not two


def test_ctrl_c_exits_130_not_1(monkeypatch):
    import cdiscflow.pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cdiscflow.pipeline, "run", interrupted)
    res = CliRunner().invoke(main, ["run", "-q"])
    assert res.exit_code == 130 and "cdiscflow: interrupted" in res.output and "Traceback" not in res.output
