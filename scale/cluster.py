"""Where partitions run: one after another in this process, or as tasks on a Dask cluster (a LocalCluster of `jobs`
worker processes, or a running `dask scheduler` at tcp://HOST:PORT)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Callable

from cdiscflow.core.errors import InputError
from cdiscflow.scale.partitions import split_export
from cdiscflow.scale.stream import PartitionResult, run_partition
from cdiscflow.specs.load import load_study

# times Dask runs a task again when it raises: none (a partition's error is its data's, the same on a rerun); a task
# whose worker dies is run again on a live worker by Dask itself (distributed.scheduler.allowed-failures, 3 by default)
RETRIES = 0

# Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536 (distributed.nanny.pre-spawn-environ); setting it
# turns off glibc's adaptive mmap threshold, so every large temporary array of pandas is mapped and unmapped afresh:
# at 10,000 subjects one worker spent 28 s in the kernel instead of 10 and derived ADaM in 26 s instead of 18 s (the
# same partitions in this process: 20 s).  The workers we start keep glibc's defaults, as a plain run has them.
WORKER_ENVIRON = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


class InProcess:
    """Partitions one after another in this process."""

    def map(self, fn, tasks: list[tuple], done=None) -> list:
        out = []
        for task in tasks:  # over partitions
            out.append(fn(*task))
            if done is not None:
                done(len(out), len(tasks))
        return out


class OnDask:
    """Partitions as Dask tasks on `client`; a task whose worker dies is run again on a live worker (Dask's
    allowed-failures), one that raises `retries` times (RETRIES: none): a partition's phase is a pure function of its
    inputs (files in, files and a small answer out), so a rerun gives the same answer."""

    def __init__(self, client, retries: int):
        self.client, self.retries = client, retries

    def map(self, fn, tasks: list[tuple], done=None) -> list:
        from distributed import as_completed

        stamp = f"{os.getpid()}-{time.monotonic_ns()}"
        futures = [self.client.submit(fn, *task, pure=False, retries=self.retries,
                                      key=f"cdiscflow-{fn.__name__}-{i}-{stamp}") for i, task in enumerate(tasks)]
        try:
            for finished, _ in enumerate(as_completed(futures), start=1):  # over partitions as the cluster ends them
                if done is not None:
                    done(finished, len(futures))
            return self.client.gather(futures)
        except BaseException:  # a partition failed, or Ctrl-C: the others stop too (the scratch folder goes)
            self.client.cancel(futures)
            raise


def map_partitions(study: str, raw_dir: Path, count: int, on_error: str, *, jobs: int = 1,
                   scheduler: str | None = None, scratch: str | Path | None = None, retries: int = RETRIES,
                   client=None, done: Callable[[int, int], None] | None = None) -> list[PartitionResult]:
    """Phase 1 of every partition (`stream.run_partition`: mapped, derived, validated; nothing spilled), in
    partition order: here one after another (no scheduler and one job), on a Dask LocalCluster of `jobs` worker
    processes (`scheduler="local"`), or on the cluster at a `tcp://` address.

    The raw files are read once, one per task, and split by partition into a temporary folder in `scratch`
    (default: the system's; on a cluster it must be a folder the workers can read, as --out is); each partition
    reads its rows only.  A Dask task whose worker dies (killed, out of memory) is run again on another worker.  `client`: a Dask client to submit to (a batch shares one); `done(finished, count)` is called as
    partitions finish."""
    study, raw_dir = str(Path(study).resolve()), Path(raw_dir).resolve()  # workers may run in another folder
    with tempfile.TemporaryDirectory(prefix=".cdiscflow-partitions-", dir=scratch) as folder, \
            partition_runner(scheduler, jobs, client, retries) as runner:
        pieces = split_export(load_study(study), raw_dir, count, Path(folder), runner) or [None] * count
        return runner.map(run_partition, [(study, str(raw_dir), i, count, on_error, pieces[i]) for i in range(count)],
                          done)


@contextlib.contextmanager
def partition_runner(scheduler: str | None, jobs: int, client=None, retries: int = RETRIES):
    """Where partitions run: in this process one after another (no scheduler, one job, no client), or as tasks on a
    Dask cluster (`client`, or one `dask_client` starts)."""
    if client is None and scheduler is None and jobs <= 1:
        yield InProcess()
        return
    with contextlib.ExitStack() as stack:
        yield OnDask(client or stack.enter_context(dask_client(scheduler, jobs)), retries)


@contextlib.contextmanager
def dask_client(scheduler: str | None, jobs: int):
    """A Dask client: on a LocalCluster of `jobs` worker processes (one thread each) started here and stopped on
    leaving (`scheduler` None or "local"), or on the running cluster at `scheduler` (tcp://HOST:PORT)."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError("partitioned runs on several processes or a cluster need Dask: "
                          "pip install 'cdiscflow[scale]'") from exc
    with contextlib.ExitStack() as stack:
        if scheduler in (None, "local"):
            with dask.config.set(WORKER_ENVIRON):  # read by each worker's nanny as it starts
                cluster = stack.enter_context(LocalCluster(n_workers=max(jobs, 1), threads_per_worker=1,
                                                           processes=True, dashboard_address=None))
            yield stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(scheduler))
            except (OSError, ValueError) as exc:  # no scheduler there, or not an address
                raise InputError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); start one "
                                 "(`dask scheduler`) or use --scheduler local") from exc
            yield client
