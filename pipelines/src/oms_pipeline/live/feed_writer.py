"""Writes feed batches into the landing folder, atomically and resumably (file I/O only).

Each entity's share of batch ``n`` becomes ``<landing>/<entity>/<entity>-s<seed>-b<n>.jsonl``,
written under a hidden name and renamed into place (the file stream source ignores names starting
with ``.``), so the pipeline never sees a half-written file. The file's modification time is its
landing time: freshness is measured from it.

``<landing>/_feed/state.json`` records the next batch and, while a batch is being written, its
size. A restart finishes an interrupted batch with the same content (only the missing files) and
continues with the next one: nothing is emitted twice and nothing is skipped.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

STATE_DIR = "_feed"
FILE_RE = re.compile(r"^(?P<entity>[a-z]+)-s(?P<seed>\d+)-b(?P<batch>\d{8})\.jsonl$")


@dataclass
class FeedState:
    next_batch: int = 0
    pending_batch: int | None = None
    pending_events: int | None = None
    events_written: int = 0


def batch_file(landing: str, entity: str, seed: int, n: int) -> str:
    return os.path.join(landing, entity, f"{entity}-s{seed}-b{n:08d}.jsonl")


def parse_batch_file(path: str) -> tuple[str, int] | None:
    """(entity, batch number) of a landing file written by the feed, else None."""
    m = FILE_RE.match(os.path.basename(path))
    return (m["entity"], int(m["batch"])) if m else None


def _state_path(landing: str) -> str:
    return os.path.join(landing, STATE_DIR, "state.json")


def read_state(landing: str) -> FeedState:
    try:
        with open(_state_path(landing), encoding="utf-8") as fh:
            return FeedState(**json.load(fh))
    except FileNotFoundError:
        return FeedState()


def write_state(landing: str, state: FeedState) -> None:
    path = _state_path(landing)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(state.__dict__, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_batch(landing: str, seed: int, n: int, lines: dict[str, list[str]]) -> list[str]:
    """Write the files of batch ``n`` that are not there yet; returns the paths written."""
    written = []
    for entity, rows in lines.items():
        final = batch_file(landing, entity, seed, n)
        if os.path.exists(final):
            continue  # written before an interruption: identical content, keep it
        folder = os.path.dirname(final)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, "." + os.path.basename(final) + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("\n".join(rows) + "\n")
        os.replace(tmp, final)
        written.append(final)
    return written
