"""Trigger handling, foreachBatch wiring and clean stops shared by the streaming layers."""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

BatchFunction = Callable[[DataFrame, int], None]


@dataclass(frozen=True)
class Trigger:
    """``available_now`` processes what is there and stops; otherwise a processing-time trigger."""

    available_now: bool = True
    processing_time: str = "30 seconds"

    def apply(self, writer: DataStreamWriter) -> DataStreamWriter:
        if self.available_now:
            return writer.trigger(availableNow=True)
        return writer.trigger(processingTime=self.processing_time)


class StoppedDuringBatch(RuntimeError):
    """A foreachBatch function failed because its query was being stopped.

    The message is the short form Spark recognises as an interruption (``StreamExecution.
    isInterruptionException``: a Py4J error naming ``java.lang.InterruptedException``), so the
    query ends as stopped, its batch uncommitted (the next start runs it again). Spark matches
    that form with a regular expression whose recursion grows with the message: the real error
    of an interrupted Py4J call carries a whole Java stack trace, and matching it overflowed the
    stream thread's stack (``java.lang.StackOverflowError`` in the query's thread).
    """

    def __init__(self, query: str) -> None:
        super().__init__(
            f"py4j.protocol.Py4JJavaError: An error occurred while calling {query}.\n"
            ": java.lang.InterruptedException (query stopped during a micro-batch)"
        )


class BatchGate:
    """Tracks the foreachBatch calls of one query, so a stop can wait until none is running."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.stopping = False
        self._running = 0
        self._cv = threading.Condition()

    def close(self, timeout_s: float | None) -> bool:
        """Mark the query as stopping and wait until no foreachBatch call runs; False on timeout.

        Returns the moment a running call ends, before Spark can call the function again (it
        first commits the batch and plans the next one, in the JVM).
        """
        with self._cv:
            self.stopping = True
            return self._cv.wait_for(lambda: self._running == 0, timeout=timeout_s)

    def wrap(self, fn: BatchFunction) -> BatchFunction:
        def run(batch: DataFrame, batch_id: int) -> None:
            with self._cv:
                self._running += 1
            try:
                fn(batch, batch_id)
            except Exception:
                if self.stopping:
                    raise StoppedDuringBatch(self.name) from None
                raise
            finally:
                with self._cv:
                    self._running -= 1
                    self._cv.notify_all()

        return run


_GATES: dict[str, BatchGate] = {}


def start_foreach_batch(
    writer: DataStreamWriter, name: str, fn: BatchFunction, trigger: Trigger
) -> StreamingQuery:
    """Start ``writer`` (named ``name``) with ``fn`` as its foreachBatch function, stoppable
    between micro-batches by :func:`stop_between_batches`."""
    gate = BatchGate(name)
    query = trigger.apply(writer.queryName(name).foreachBatch(gate.wrap(fn))).start()
    _GATES[query.id] = gate
    return query


# Seconds a stop gives a micro-batch in progress before it is cut (a safety net, not a budget).
STOP_GRACE_S = 60.0


def stop_between_batches(query: StreamingQuery, grace_s: float | None = STOP_GRACE_S) -> bool:
    """Stop ``query`` while none of its micro-batches runs; True if it stopped between batches.

    ``StreamingQuery.stop`` interrupts the query's thread wherever it is: in Spark's own code
    that is a clean stop, but inside a Python foreachBatch function it fails the function's next
    Spark call and throws the batch's work away. So the stop first waits until no foreachBatch
    call runs, at most ``grace_s`` seconds (a safety net; None: no limit); a batch interrupted
    after that is not committed in the checkpoint, and the restart runs it again (Delta
    transaction ids skip the writes it had made).
    """
    gate = _GATES.pop(query.id, None)
    between = gate.close(grace_s) if gate is not None else True
    if query.isActive:
        query.stop()
    return between


# Seconds between two looks at a stop request while a query runs.
WAIT_STEP_S = 0.5


def check(query: StreamingQuery) -> None:
    """Raise ``RuntimeError`` naming ``query`` when it failed."""
    exc = query.exception()
    if exc is not None:
        raise RuntimeError(f"stream {query.name} failed: {exc}")


def run_stream(
    start: Callable[[], StreamingQuery], trigger: Trigger, stop: threading.Event | None = None
) -> bool:
    """Start the query ``start`` makes and wait for it, raising its failure (:func:`check`): the
    one start/finish loop of the package (jobs, the local runs, the benchmark harness).

    availableNow: until it has processed everything there and stopped; processing-time: until it
    ends. ``stop`` (an event a signal handler sets) cuts the wait short: the query is not
    started when it is set before, and whatever runs is stopped between two micro-batches
    (:func:`stop_between_batches`). False when ``stop`` cut the run short (what was committed is
    kept; the next start goes on from there).
    """
    stop = stop or threading.Event()
    if stop.is_set():
        return False
    query = start()
    try:
        if trigger.available_now:
            while not query.awaitTermination(WAIT_STEP_S):
                if stop.is_set():
                    return False
        else:
            while query.isActive:
                if stop.wait(WAIT_STEP_S):
                    return False
        check(query)
        return not stop.is_set()
    finally:
        stop_between_batches(query)


def writer_id(checkpoint_dir: str) -> str:
    """A stable id for the idempotent writes of one stream checkpoint.

    Delta skips an append whose (txnAppId, txnVersion) it has seen. The version is the
    micro-batch id, which restarts at 0 with a new checkpoint, so the application id must change
    with the checkpoint: it is created once and kept beside the checkpoint. A file that does not
    hold a whole id was cut short by a kill before its stream ever started, so it is written
    again.
    """
    path = os.path.join(checkpoint_dir, "_writer_id")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            value = fh.read().strip()
        if _WRITER_ID.fullmatch(value):
            return value
    os.makedirs(checkpoint_dir, exist_ok=True)
    value = uuid.uuid4().hex
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(value)
    return value


_WRITER_ID = re.compile(r"[0-9a-f]{32}")
