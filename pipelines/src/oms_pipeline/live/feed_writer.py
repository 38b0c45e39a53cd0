"""Writes feed batches into the landing folder, atomically and resumably (file I/O only).

Each entity's share of batch ``n`` becomes ``<landing>/<entity>/feed-s<seed>-b<n>.jsonl``, landed
by the one atomic writer (``sources.landing``: hidden temporary name, fsync, rename), so the
pipeline never sees a half-written file. The file's modification time is its landing time:
freshness is measured from it.

``<landing>/_feed/state.json`` records the next batch and, while a batch is being written, its
size. A restart finishes an interrupted batch with the same content (only the missing files) and
continues with the next one: nothing is emitted twice and nothing is skipped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from oms_pipeline.sources.factory import feed_file as batch_file
from oms_pipeline.sources.factory import write_feed_batch as write_batch
from oms_pipeline.sources.landing import write_landing_file

__all__ = ["FeedState", "batch_file", "read_state", "write_batch", "write_state"]

STATE_DIR = "_feed"


@dataclass
class FeedState:
    next_batch: int = 0
    pending_batch: int | None = None
    pending_events: int | None = None
    events_written: int = 0


def _state_path(landing: str) -> str:
    return os.path.join(landing, STATE_DIR, "state.json")


def read_state(landing: str) -> FeedState:
    try:
        with open(_state_path(landing), encoding="utf-8") as fh:
            return FeedState(**json.load(fh))
    except FileNotFoundError:
        return FeedState()


def write_state(landing: str, state: FeedState) -> None:
    """Replace the state file atomically (``sources.landing``'s writer: temp, fsync, rename)."""
    write_landing_file(_state_path(landing), [json.dumps(state.__dict__)])
