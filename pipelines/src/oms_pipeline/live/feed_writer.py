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

from oms_pipeline.sources import landing as L

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
    L.write_landing_file(_state_path(landing), [json.dumps(state.__dict__)])


def batch_file(landing: str, entity: str, seed: int, n: int) -> str:
    """The landing file of ``entity``'s share of feed batch ``n``."""
    return L.landing_path(landing, entity, L.landing_name("feed", f"s{seed}", f"b{n:08d}"))


def write_batch(landing: str, seed: int, n: int, lines: dict[str, list[str]]) -> list[str]:
    """Land the files of batch ``n`` that are not there yet; returns the paths written.

    A file already there was written before an interruption with identical content: kept."""
    written = []
    for entity, rows in lines.items():
        final = batch_file(landing, entity, seed, n)
        if not os.path.exists(final):
            L.remove_stale_temps([os.path.dirname(final)], os.path.basename(final))
            written.append(L.write_landing_file(final, rows))
    return written
