"""Worker functions for tests of the batch's process pool (importable by name in a spawned worker process)."""

from __future__ import annotations

import os
import time

from cdiscflow.batch import OK, ExportOutcome


def die_on_boom(job, settings) -> ExportOutcome:
    """Kills its own process for the export named 'boom' (as the OOM killer would); the others succeed."""
    if job.name == "boom":
        os._exit(9)
    time.sleep(0.2)
    return ExportOutcome(job.name, str(job.raw_dir), OK, 0, subjects=1, datasets=1, seconds=0.2)
