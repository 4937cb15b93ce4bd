"""core.background.ForkedWorker: one job in a forked child, its answer or its failure back in the parent (issue 18:
the pipeline renders Data Docs in such a child while SDTM, ADaM, export and report run)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from cdiscflow.core import background
from cdiscflow.core.background import Continue, ForkedWorker, WorkerDied

pytestmark = pytest.mark.skipif(not background.available(), reason="forking workers are used on Linux only")


class Unpicklable(Exception):
    def __init__(self, handle):
        super().__init__("cannot travel")
        self.handle = handle

    def __reduce__(self):
        raise TypeError("not picklable")


def _prepared_in_child():
    state = {"pid": os.getpid(), "table": {"a": 1, "b": 2}}  # prepared once, before the payload arrives

    def job(payload):
        return state["pid"], [state["table"][k] * 10 for k in payload]

    return job


def test_the_job_runs_in_another_process_with_what_prepare_made():
    with ForkedWorker(_prepared_in_child) as worker:
        worker.send(["b", "a", "b"])
        pid, values = worker.result()
    assert pid != os.getpid()
    assert values == [20, 10, 20]


def test_the_child_starts_with_the_parents_objects_unpickled():
    lock_like = {"spec": lambda: "made in the parent"}  # a lambda cannot be pickled: the child has it by fork
    with ForkedWorker(lambda: (lambda payload: lock_like["spec"]() + payload)) as worker:
        worker.send(", used in the child")
        assert worker.result() == "made in the parent, used in the child"


def test_an_error_in_the_job_is_raised_by_result_with_its_type_and_message():
    def prepare():
        def job(payload):
            raise ValueError(f"dataset {payload}: variable AESEQ is not numeric")
        return job

    with ForkedWorker(prepare) as worker:
        worker.send("AE")
        with pytest.raises(ValueError, match="dataset AE: variable AESEQ is not numeric") as info:
            worker.result()
    assert any("in the background worker" in note for note in info.value.__notes__)


def test_an_error_in_prepare_is_raised_when_the_result_is_asked_for():
    def prepare():
        raise ImportError("no module named great_expectations")

    with ForkedWorker(prepare) as worker:
        worker.send(None)
        with pytest.raises(ImportError, match="great_expectations"):
            worker.result()


def test_an_unpicklable_error_comes_back_as_runtime_error_with_the_traceback():
    def prepare():
        def job(payload):
            raise Unpicklable(object())
        return job

    with ForkedWorker(prepare) as worker:
        worker.send(1)
        with pytest.raises(RuntimeError, match="(?s)in the background worker.*Unpicklable: cannot travel"):
            worker.result()


def test_a_child_that_dies_is_a_failure_not_a_hang():
    def prepare():
        def job(payload):
            os.kill(os.getpid(), signal.SIGKILL)
        return job

    with ForkedWorker(prepare) as worker:
        worker.send(1)
        with pytest.raises(WorkerDied, match="exit code -9"):
            worker.result()


def test_stop_kills_a_working_child_and_waits_for_it():
    def prepare():
        def job(payload):
            time.sleep(60)
        return job

    worker = ForkedWorker(prepare)
    worker.send(1)
    t = time.perf_counter()
    worker.stop()
    assert time.perf_counter() - t < 10
    assert not worker._process.is_alive() and worker._process.exitcode == -signal.SIGKILL
    worker.stop()  # idempotent


def test_one_job_per_worker_and_no_result_before_send():
    with ForkedWorker(lambda: (lambda payload: payload)) as worker:
        with pytest.raises(RuntimeError, match="before send"):
            worker.result()
        worker.send(1)
        with pytest.raises(RuntimeError, match="one job"):
            worker.send(2)
        assert worker.result() == 1


def test_stopping_before_sending_ends_the_child():
    worker = ForkedWorker(lambda: (lambda payload: payload))
    worker.stop()
    assert not worker._process.is_alive()


def _report_availability(queue):
    queue.put(background.available())


def test_not_available_in_a_daemonic_process():
    """pipeline.run called in a multiprocessing.Pool worker (daemonic) renders in process instead of failing."""
    ctx = __import__("multiprocessing").get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_report_availability, args=(queue,), daemon=True)
    child.start()
    answer = queue.get(timeout=60)
    child.join()
    assert answer is False and background.available() is True


def test_send_returns_while_the_child_is_still_preparing(tmp_path):
    # a payload far larger than a pipe's buffer is only taken when the child reads it: send() must not wait for that
    # (the run goes on with its stages while the worker is still importing great-expectations)
    flag = tmp_path / "sent"

    def prepare():
        deadline = time.monotonic() + 30
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        ready_after_send = flag.exists()
        return lambda payload: (ready_after_send, len(payload), payload[-3:])

    with ForkedWorker(prepare) as worker:
        worker.send(b"x" * 5_000_000 + b"end")
        flag.touch()  # only reached if send() returned while the child was still in prepare()
        assert worker.result() == (True, 5_000_003, b"end")
    assert worker.timeline["sent"] <= worker.timeline["received"] <= worker.timeline["done"]


def test_a_payload_is_what_it_was_when_sent():
    table = {"rows": [1, 2, 3]}
    with ForkedWorker(lambda: (lambda payload: payload)) as worker:
        worker.send(table)
        table["rows"].append(4)  # changed after send: the child has the copy pickled by send()
        assert worker.result() == {"rows": [1, 2, 3]}


def test_a_job_in_two_parts_starts_its_first_part_before_the_second_payload_is_sent(tmp_path):
    # the Data Docs worker renders the dataset pages while the main process validates; index.html needs the findings
    made = tmp_path / "pages"

    def prepare():
        def job(datasets):
            made.write_text(",".join(datasets))  # the first part: needs only the first payload
            return Continue(lambda findings: (made.read_text(), findings, os.getpid()))
        return job

    with ForkedWorker(prepare, parts=2) as worker:
        worker.send(["AE", "DM"])
        deadline = time.monotonic() + 60
        while not made.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert made.read_text() == "AE,DM"  # written before the second payload exists
        assert not worker.complete
        with pytest.raises(RuntimeError, match="before the last of the job's 2 payloads"):
            worker.result()  # would wait for ever: the child waits for the second payload
        worker.send({"error": 3})
        assert worker.complete
        with pytest.raises(RuntimeError, match="one job"):
            worker.send("a third")
        pages, findings, pid = worker.result()
    assert (pages, findings) == ("AE,DM", {"error": 3}) and pid != os.getpid()
    t = worker.timeline
    assert t["sent"] <= t["received"] <= t["part done"] <= t["received more"] <= t["done"]
    assert t["sent more"] <= t["received more"]


def test_a_first_part_that_fails_is_reported_even_when_its_payload_never_comes(tmp_path):
    def prepare():
        def job(payload):
            raise ValueError(f"the {payload} page could not be rendered")
        return job

    with ForkedWorker(prepare, parts=2) as worker:
        worker.send("DM")
        time.sleep(0.2)  # the child has failed and may have exited before the second payload is written
        worker.send(b"x" * 5_000_000)  # larger than the pipe's buffer: the child never takes it
        with pytest.raises(ValueError, match="the DM page could not be rendered"):
            worker.result()


def test_a_job_asking_for_more_parts_than_declared_is_an_error_not_a_hang():
    def prepare():
        return lambda payload: Continue(lambda more: more)  # two parts, declared as one

    with ForkedWorker(prepare) as worker:
        worker.send(1)
        with pytest.raises(RuntimeError, match="asked for payload 2 of a job in 1 part"):
            worker.result()


def test_a_child_killed_between_the_parts_is_a_failure_not_a_hang():
    def prepare():
        def job(payload):
            return Continue(lambda more: os.kill(os.getpid(), signal.SIGKILL))
        return job

    with ForkedWorker(prepare, parts=2) as worker:
        worker.send(1)
        worker.send(2)
        with pytest.raises(WorkerDied, match="exit code -9"):
            worker.result()


def test_stopping_a_child_that_waits_for_its_second_payload():
    with ForkedWorker(lambda: (lambda payload: Continue(lambda more: more)), parts=2) as worker:
        worker.send(1)
        time.sleep(0.2)
        worker.stop()
        assert not worker._process.is_alive()


def test_a_worker_can_run_at_a_lower_cpu_priority():
    with ForkedWorker(lambda: (lambda payload: os.nice(0)), nice=5) as worker:
        worker.send(None)
        assert worker.result() == min(os.nice(0) + 5, 19)  # niceness is capped at 19
    with ForkedWorker(lambda: (lambda payload: os.nice(0))) as worker:
        worker.send(None)
        assert worker.result() == os.nice(0)
