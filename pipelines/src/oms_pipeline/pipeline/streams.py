"""Trigger handling shared by the streaming layers."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql.streaming import DataStreamWriter, StreamingQuery


@dataclass(frozen=True)
class Trigger:
    """``available_now`` processes what is there and stops; otherwise a processing-time trigger."""

    available_now: bool = True
    processing_time: str = "30 seconds"

    def apply(self, writer: DataStreamWriter) -> DataStreamWriter:
        if self.available_now:
            return writer.trigger(availableNow=True)
        return writer.trigger(processingTime=self.processing_time)


def finish(query: StreamingQuery, trigger: Trigger, timeout_s: float | None = None) -> None:
    """Wait for an availableNow query; a processing-time query is left running (caller owns it)."""
    if trigger.available_now:
        query.awaitTermination(timeout_s) if timeout_s else query.awaitTermination()
        exc = query.exception()
        if exc is not None:
            raise RuntimeError(f"stream {query.name} failed: {exc}")


def writer_id(checkpoint_dir: str) -> str:
    """A stable id for the idempotent writes of one stream checkpoint.

    Delta skips an append whose (txnAppId, txnVersion) it has seen. The version is the
    micro-batch id, which restarts at 0 with a new checkpoint, so the application id must change
    with the checkpoint: it is created once and kept beside the checkpoint.
    """
    import os
    import uuid

    path = os.path.join(checkpoint_dir, "_writer_id")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    os.makedirs(checkpoint_dir, exist_ok=True)
    value = uuid.uuid4().hex
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(value)
    return value
