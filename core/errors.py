"""The few exception classes cdiscflow raises.  Each maps to a documented exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1  # findings or rejections at or above the threshold
EXIT_UNUSABLE = 2  # unusable input or spec
EXIT_INTERNAL = 3  # an unexpected exception: a bug in cdiscflow, never bad data (bad data is 1 or 2)


class CdiscflowError(Exception):
    """Base class; `exit_code` tells the CLI how to end."""

    exit_code = EXIT_UNUSABLE


class SpecError(CdiscflowError):
    """The study spec cannot be used: it is malformed or contradicts itself.  Carries every problem found."""

    def __init__(self, problems: list[str] | str, *, path: str | None = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.path = path
        head = f"spec {path}: " if path else ""
        if len(self.problems) == 1:
            msg = head + self.problems[0]
        else:
            msg = head + f"{len(self.problems)} problems\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(msg)


class InputError(CdiscflowError):
    """Raw or dataset input cannot be read at all (missing file, empty file, wrong delimiter ...)."""


class FindingsError(CdiscflowError):
    """Findings at or above the failure threshold stopped the run (strict mode)."""

    exit_code = EXIT_FINDINGS

    def __init__(self, message: str, findings=None):
        super().__init__(message)
        self.findings = findings


def exit_code_for(findings=None, fail_on: str = "error", *, failures: int = 0) -> int:
    """The one exit-code policy of every command that produces findings (`--fail-on`).

    EXIT_FINDINGS (1) when a finding of `findings` (a core.findings.Findings) is at or above the severity `fail_on`,
    or when `failures` is not zero: things that did not make it or do not agree, which have no severity to weigh
    (rejected raw rows, comparisons not explained by comparison.yaml, reproduction failures not documented); else
    EXIT_OK (0).  Unusable input (2) and bugs (3) end a command as exceptions before it gets here."""
    failing = failures + (findings.count_at_or_above(fail_on) if findings is not None else 0)
    return EXIT_FINDINGS if failing else EXIT_OK
