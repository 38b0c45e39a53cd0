"""Row counts of append-only Delta tables from their transaction logs (file reads, no Spark).

Each append commit records ``operationMetrics.numOutputRows`` in its ``commitInfo``; summing them
gives the table's row count without a Spark job, so the console can show live counts per layer
every few seconds at no cost to the pipeline. Commits are read once, incrementally.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass


@dataclass
class AppendCounter:
    """Rows appended to the Delta table at ``path`` (bronze and quarantine tables)."""

    path: str
    rows: int = 0
    _next_version: int = 0

    def refresh(self) -> int:
        log = os.path.join(self.path, "_delta_log")
        while True:
            commit = os.path.join(log, f"{self._next_version:020d}.json")
            try:
                with open(commit, encoding="utf-8") as fh:
                    text = fh.read()
            except FileNotFoundError:
                return self.rows
            for line in text.splitlines():
                if '"commitInfo"' not in line:
                    continue
                info = json.loads(line)["commitInfo"]
                if info.get("operation") in ("WRITE", "STREAMING UPDATE"):
                    self.rows += int(info.get("operationMetrics", {}).get("numOutputRows", 0))
            self._next_version += 1
