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
