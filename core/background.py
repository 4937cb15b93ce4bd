"""One job in a forked child process, so that slow imports and rendering overlap the caller's own work.

    worker = ForkedWorker(prepare)      # forks now; the child runs prepare() -> job while the parent goes on
    worker.send(payload)                # later: the child runs job(payload) (pickled now, sent without waiting)
    worker.send(more)                   # a job in two parts: job(payload) returned Continue(step); step(more) runs
    value = worker.result()             # wait for it; the child's exception is raised here
    worker.stop()                       # always (a `with` block does it): the child is gone when this returns
    worker.timeline                     # when it was forked, prepared, sent, waited for, done (time.monotonic())

The child is forked, not spawned: it starts with the parent's memory (modules already imported, objects that cannot
be pickled such as a loaded spec), so only the payload and the answer cross the pipe.  `prepare` runs in the child
at once (e.g. importing a heavy library) and returns the job; an exception in `prepare` or the job is re-raised by
`result()` in the parent (as the same exception when it can be pickled, else as a RuntimeError carrying the child's
traceback), and a child that dies (killed, crashed) makes `result()` raise `WorkerDied`.  `stop()` kills a child
that is still working and waits for it, so nothing it writes can land after the caller has cleaned up.

`timeline` records, on the clock all processes share (`time.monotonic()`), when the child was forked ("forked",
"child started"), when `prepare` returned ("prepared"), when the caller began to send the payload ("sent"), the
child got it ("received") and the caller's send was written ("handed"), when the caller began to wait ("waited"),
when the job ended ("done") and its answer arrived ("answered"); and "cpu", the CPU seconds the child had used by
then.  `benchmarks/embedded.py` shows from it whether a worker holds the caller up.

A job in parts (work that can start before all its input is known) returns `Continue(step)` from its first part: the
child then waits for the next payload and runs `step(payload)`, and so on until a part returns a value. The caller
says how many parts (`ForkedWorker(prepare, parts=2)`) and sends one payload per part, in order; a part that fails
is reported at once (the child does not wait for the payloads of the parts that follow), and so is a part that
asks for more payloads than the caller said. The timeline then also has
"part done" (the child's last part that returned Continue ended), "sent more" and "received more" (the last payload
after the first).

`available()` says whether this platform can fork safely (Linux); elsewhere callers do the work in process.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from multiprocessing.reduction import ForkingPickler
from typing import Any, Callable


class WorkerDied(RuntimeError):
    """The child process ended without an answer."""


def available() -> bool:
    """Forking is the default and safe start method on Linux only (macOS frameworks are not fork-safe), and a
    daemonic process (a multiprocessing.Pool worker) may not start children."""
    return (sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
            and not multiprocessing.current_process().daemon)


class Continue:
    """What a part of a job returns when the job needs another payload: `step(payload)` is its next part."""

    def __init__(self, step: Callable[[Any], Any]):
        self.step = step


class ForkedWorker:
    def __init__(self, prepare: Callable[[], Callable[[Any], Any]], *, parts: int = 1, nice: int = 0):
        """`parts`: how many payloads the job takes (a job in parts returns Continue from all but its last).  `nice`:
        the child runs that much lower in CPU priority (os.nice) than the caller, so that the caller's own work (the
        critical path) is not slowed by a worker that has time to spare."""
        ctx = multiprocessing.get_context("fork")
        self._conn, child_conn = ctx.Pipe(duplex=True)
        self._process = ctx.Process(target=_child, args=(prepare, child_conn, self._conn, os.getpid(), nice, parts),
                                    daemon=True)
        self.timeline: dict[str, float] = {"forked": time.monotonic()}  # when each step happened (see timeline)
        self._process.start()
        child_conn.close()
        self._parts = parts
        self._sent = 0  # payloads sent
        self._sender: threading.Thread | None = None
        self._send_failed: BaseException | None = None

    @property
    def sent(self) -> bool:
        """The first payload has been sent."""
        return self._sent > 0

    @property
    def complete(self) -> bool:
        """Every part of the job has its payload: `result()` may be waited for."""
        return self._sent == self._parts

    @property
    def answered(self) -> bool:
        """The child's answer (its value or its exception) has been taken by `result()`."""
        return "answered" in self.timeline

    def send(self, payload: Any) -> None:
        """Hand the child its payload and return: the payload is pickled now (what it holds now is what the child
        gets), and written to the pipe by a thread, so that the caller does not wait while the child is still
        preparing or working on an earlier part (a payload larger than the pipe's buffer is only taken when the
        child reads it).  Send once per part of the job (see Continue), before `result()`."""
        if self._sent >= self._parts:
            raise RuntimeError(f"a ForkedWorker runs one job ({self._parts} payload(s))")
        data = ForkingPickler.dumps(payload)  # as Connection.send pickles it; the buffer itself, not a copy of it
        self.timeline["sent" if not self._sent else "sent more"] = time.monotonic()
        self._sent += 1
        self._sender = threading.Thread(target=self._write, args=(data, self._sender), name="ForkedWorker.send",
                                        daemon=True)
        self._sender.start()

    def _write(self, data: memoryview, before: threading.Thread | None) -> None:
        if before is not None:
            before.join()  # the payloads reach the child in the order they were sent
        if self._send_failed is not None:
            return
        try:
            self._conn.send_bytes(data)
        except (OSError, EOFError) as exc:  # the child died (or was stopped, or failed a part) before it took it
            self._send_failed = exc
        else:
            self.timeline["handed"] = time.monotonic()

    def result(self) -> Any:
        if not self._sent:
            raise RuntimeError("ForkedWorker.result() before send()")
        if self._sent < self._parts:
            raise RuntimeError(f"ForkedWorker.result() before the last of the job's {self._parts} payloads was sent")
        self.timeline["waited"] = time.monotonic()
        try:  # read before the sends end: a part that failed answers without taking the payloads that follow
            status, value, child_times = self._conn.recv()
        except (EOFError, ConnectionResetError) as exc:
            self._sender.join()
            raise self._died() from (self._send_failed or exc)
        self._sender.join()  # a payload the child did not take (a part failed) ends with the child (EPIPE)
        self.timeline.update(child_times, answered=time.monotonic())
        self._process.join()
        if status == "error":
            raise value
        return value

    def stop(self) -> None:
        """Kill the child if it is still running and wait for it (idempotent)."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        if self._sender is not None:
            self._sender.join()  # its write ends with the child (EPIPE)
        self._conn.close()

    def __enter__(self) -> ForkedWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _died(self) -> WorkerDied:
        self._process.join()
        return WorkerDied(f"the background worker (pid {self._process.pid}) ended with exit code "
                          f"{self._process.exitcode} before it answered")


def _child(prepare: Callable[[], Callable[[Any], Any]], conn, parent_end, parent: int, nice: int = 0,
           parts: int = 1) -> None:
    times = {"child started": time.monotonic()}
    _die_with(parent)
    if nice:
        with contextlib.suppress(OSError):  # a priority that cannot be lowered leaves the child as it is
            os.nice(nice)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops this child
    parent_end.close()  # so that the parent's death reads as end of file here, not as a wait for ever
    job = failure = None
    try:
        job = prepare()
    except BaseException as exc:  # reported when the parent asks for the result
        failure = exc
    times["prepared"] = time.monotonic()
    try:
        payload = conn.recv()
    except EOFError:  # the parent stopped before sending work
        return
    times["received"] = time.monotonic()
    try:
        if failure is not None:
            raise failure
        value, part = job(payload), 1
        while isinstance(value, Continue):  # a job in parts: the next part waits for its payload
            if part == parts:  # the parent sends no more: answer now rather than wait for ever
                raise RuntimeError(f"the background job asked for payload {part + 1} of a job in {parts} part(s)")
            part += 1
            times["part done"] = time.monotonic()
            try:
                payload = conn.recv()
            except EOFError:  # the parent stopped before sending the rest
                return
            times["received more"] = time.monotonic()
            value = value.step(payload)
        answer = ("ok", value)
    except BaseException as exc:
        answer = ("error", _picklable(exc))
    times["done"], times["cpu"] = time.monotonic(), time.process_time()
    conn.send((*answer, times))
    conn.close()


def _die_with(parent: int) -> None:
    """A parent killed with SIGKILL cannot stop its workers: the kernel kills them with it (Linux prctl
    PR_SET_PDEATHSIG), so that nothing of a killed run goes on writing."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def _picklable(exc: BaseException) -> BaseException:
    text = "".join(traceback.format_exception(exc))
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"in the background worker: {text}")
    exc.__notes__ = [*getattr(exc, "__notes__", []), f"in the background worker:\n{text}"]
    return exc
