"""The console script `cdiscflow` (cli.entry) ends the process without Python's shutdown: its output must still be
flushed whole and its exit code be main's."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # a fresh interpreter per case

ENTRY = "import sys; from cdiscflow.cli import entry; sys.argv = ['cdiscflow', *sys.argv[1:]]; entry()"


def _entry(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ENTRY, *args], capture_output=True, text=True, timeout=120)


def test_output_is_flushed_and_the_exit_code_kept():
    done = _entry("check-spec", "dara_atra")
    assert done.returncode == 0
    assert done.stdout.startswith("DARA-ATRA: 31 datasets, 547 variables")  # piped, so block-buffered until flushed
    bad = _entry("check-spec", "/nonexistent/study")
    assert bad.returncode == 2 and "no study folder /nonexistent/study" in bad.stderr
    assert _entry("no-such-command").returncode == 2  # click's usage error


def test_exit_handlers_still_run():
    code = ("import atexit, sys; from cdiscflow.cli import entry; atexit.register(print, 'handler ran'); "
            "sys.argv = ['cdiscflow', '--version']; entry()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.splitlines() == ["cdiscflow, version 0.1.0", "handler ran"]


def test_a_running_thread_is_waited_for_as_in_a_normal_exit():
    code = ("import sys, threading, time; from cdiscflow.cli import entry\n"
            "threading.Thread(target=lambda: (time.sleep(0.5), print('thread done', flush=True))).start()\n"
            "sys.argv = ['cdiscflow', '--version']; entry()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.splitlines() == ["cdiscflow, version 0.1.0", "thread done"]
