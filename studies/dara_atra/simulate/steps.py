"""What every step of the design shares: the calendar epoch, one random stream per step, retrying an allocation.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from cdiscflow.studies.dara_atra.simulate import catalogue as cat


EPOCH = np.datetime64("1970-01-01", "D")
LV = cat.LEVELS


def _day(iso: str) -> int:
    return int((np.datetime64(iso, "D") - EPOCH).astype(int))


def _retry(step, p: pd.DataFrame, facts, seed: int, attempts: int = 200):
    """Run an allocation step whose constraints a particular shuffle may not meet (e.g. no 75-year-old at Part B
    who can have turned 75 since Part A): try the step's next random stream until one fits.  Deterministic."""
    last = None
    for attempt in range(attempts):
        try:
            return step(p, facts, seed if attempt == 0 else seed * 1000 + attempt)
        except (ValueError, RuntimeError) as exc:
            last = exc
    raise RuntimeError(f"{step.__name__}: no allocation satisfies the published counts ({last})")


def _rng(seed: int, name: str) -> np.random.Generator:
    """One independent stream per design step, so changing one step does not reshuffle the others."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])
