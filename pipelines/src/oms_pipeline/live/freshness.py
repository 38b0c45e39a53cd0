"""Landing -> Gold freshness and throughput bookkeeping (no Spark, no file access).

A landed file is *in silver* once the silver micro-batch that read its rows has committed, and
*reflected in Gold* once a Gold refresh that started after that commit has finished. Its
freshness is the Gold refresh's end time minus the file's landing time.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (the PERCENTILE.INC definition); None when empty."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


@dataclass
class Reflected:
    path: str
    landed_at: float
    gold_at: float
    rows: int

    @property
    def latency_s(self) -> float:
        return self.gold_at - self.landed_at


@dataclass
class FreshnessTracker:
    """Thread-safe: the ingest stream's thread calls ``in_silver``, the Gold loop ``gold_*``."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pending: dict[str, tuple[float, int]] = field(default_factory=dict)
    _counted: set[tuple[str, int]] = field(default_factory=set)
    reflected: list[Reflected] = field(default_factory=list)
    silver_rows: int = 0
    quarantined_rows: int = 0

    def in_silver(
        self,
        files: dict[str, tuple[float, int]],
        stats: dict[str, int],
        batch: tuple[str, int] | None = None,
    ) -> None:
        """``files``: path -> (landing time, rows) of a committed silver batch; ``batch``: its
        (entity, micro-batch id). A batch run again (a stop landed between its writes and its
        checkpoint commit, so the next start replays it; the writes are idempotent) is taken
        once."""
        with self._lock:
            if batch is not None:
                if batch in self._counted:
                    return  # its files and rows were taken when it first ran
                self._counted.add(batch)
            self._pending.update(files)
            # Rows accepted into silver; quarantined rows are counted apart (rows in = both).
            quarantined = stats.get("quarantined", 0)
            self.silver_rows += stats.get("rows_in", 0) - quarantined
            self.quarantined_rows += quarantined

    def committed_before(self, batches: Iterable[tuple[str, int]]) -> None:
        """(entity, micro-batch id) of silver batches an earlier run committed: replayed by this
        run, they are not taken again (their rows are not this run's)."""
        with self._lock:
            self._counted.update(batches)

    def gold_started(self) -> dict[str, tuple[float, int]]:
        """Snapshot of the files a Gold refresh starting now will reflect."""
        with self._lock:
            return dict(self._pending)

    def gold_finished(self, snapshot: dict[str, tuple[float, int]], at: float) -> None:
        with self._lock:
            for path, (landed, rows) in snapshot.items():
                if self._pending.pop(path, None) is not None:
                    self.reflected.append(Reflected(path, landed, at, rows))

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def summary(self, since: float | None = None) -> dict[str, float | int | None]:
        """p50/p95/max freshness (s), files and rows reflected; ``since``: landed after it."""
        with self._lock:
            items = [r for r in self.reflected if since is None or r.landed_at >= since]
        lat = [r.latency_s for r in items]
        recent = [r.latency_s for r in items if r.gold_at >= time.time() - 60]
        return {
            "files": len(items),
            "rows": sum(r.rows for r in items),
            "p50_s": percentile(lat, 0.5),
            "p95_s": percentile(lat, 0.95),
            "max_s": max(lat) if lat else None,
            "last_minute_p95_s": percentile(recent, 0.95),
            "last_gold_at": max((r.gold_at for r in items), default=None),
        }
