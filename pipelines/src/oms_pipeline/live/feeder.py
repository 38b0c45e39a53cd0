"""The feed thread: emits one batch every ``tick`` seconds at the requested event rate.

The batches are ``factory.batch_events``'s; a sink delivers them: landing files (``FileSink``, the
default) or Kafka records (``feed_kafka.KafkaSink``). The feed's position (``feed_writer``'s state
file) lives in the folder the feeder is given, whichever the sink.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from oms_pipeline.live import feed_writer as W
from oms_pipeline.sources.factory import FeedConfig, batch_events, master_data


@dataclass
class FeedProgress:
    next_batch: int = 0
    events_this_run: int = 0
    events_total: int = 0
    # What the sink delivered this run, in its unit: landing files, or Kafka records.
    delivered_this_run: int = 0
    delivered_as: str = "files"
    done: bool = False


class Sink(Protocol):
    unit: str  # what ``write`` counts: "files" or "records"

    def write(self, n: int, lines: dict[str, list[str]], *, resumed: bool) -> int:
        """Deliver batch ``n`` (entity -> lines); ``resumed``: an earlier attempt at the same
        batch was interrupted, deliver only what it did not. Returns the units delivered."""
        ...

    def close(self) -> None:
        """Release what the sink holds (called once the feed ends)."""
        ...


@dataclass(frozen=True)
class FileSink:
    """Batch ``n`` as one landing file per entity (``feed_writer.write_batch``)."""

    landing: str
    seed: int
    unit = "files"

    def write(self, n: int, lines: dict[str, list[str]], *, resumed: bool) -> int:
        # write_batch skips the files already there, so a resumed batch needs nothing else.
        return len(W.write_batch(self.landing, self.seed, n, lines))

    def close(self) -> None:
        pass


class Feeder(threading.Thread):
    """Writes batches until ``stop`` is set, ``until`` (monotonic) passes or ``batches`` exist.

    ``paced``: one batch every ``tick_s`` seconds (a live feed); otherwise back to back (a one-shot
    run, which processes nothing until the feed is done). A batch's content depends only on the
    seed, its number and ``rate * tick_s``, never on the pace. ``sink``: where batches go
    (default: files in ``landing``); ``landing`` holds the feed's state either way.
    """

    def __init__(
        self,
        landing: str,
        cfg: FeedConfig,
        *,
        rate: float,
        tick_s: float,
        batches: int | None,
        until: float | None,
        paced: bool = True,
        sink: Sink | None = None,
    ) -> None:
        super().__init__(name="oms-feed", daemon=True)
        self.landing, self.cfg, self.rate, self.tick_s = landing, cfg, rate, tick_s
        self.sink = sink or FileSink(landing, cfg.seed)
        self.batches, self.until, self.paced = batches, until, paced
        self.stop_event = threading.Event()
        self.progress = FeedProgress(delivered_as=self.sink.unit)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # surfaced by the run loop
            self.error = exc
        finally:
            try:
                self.sink.close()
            except BaseException as exc:
                self.error = self.error or exc
            self.progress.done = True

    def _run(self) -> None:
        cat = master_data(self.cfg)
        state = W.read_state(self.landing)
        self.progress.next_batch = state.next_batch
        self.progress.events_total = state.events_written
        target = max(1, round(self.rate * self.tick_s))
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            n = state.next_batch
            if self.batches is not None and n >= self.batches:
                return
            if self.until is not None and time.monotonic() >= self.until:
                return
            # An interrupted batch is finished with its original size, so its content is equal.
            resumed = state.pending_batch == n and bool(state.pending_events)
            size = state.pending_events if resumed and state.pending_events else target
            state.pending_batch, state.pending_events = n, size
            W.write_state(self.landing, state)
            lines = batch_events(self.cfg, cat, n, size)
            written = self.sink.write(n, lines, resumed=resumed)
            events = sum(len(v) for v in lines.values())
            state.next_batch, state.pending_batch, state.pending_events = n + 1, None, None
            state.events_written += events
            W.write_state(self.landing, state)
            p = self.progress
            p.next_batch, p.events_total = state.next_batch, state.events_written
            p.events_this_run += events
            p.delivered_this_run += written
            next_at += self.tick_s
            if self.paced:
                self.stop_event.wait(max(0.0, next_at - time.monotonic()))
