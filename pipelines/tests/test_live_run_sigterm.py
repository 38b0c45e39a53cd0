"""The local live run stopped by a SIGTERM to its whole process group during its first Gold refresh
(``kill -TERM -<pgid>``, ``timeout``, service managers): it stops cleanly, as a Ctrl-C does
(test_live_run.py). Kept apart from that module's shared lakehouse so that pytest-xdist can run
it on another worker at the same time."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.test_live_run import (
    FEED,
    RUN_TIMEOUT,
    assert_clean_log,
    log_text,
    start,
    status,
    wait_for,
)


def test_sigterm_to_the_process_group_during_the_first_gold_refresh_stops_cleanly(
    tmp_path: Path,
) -> None:
    """``kill -TERM -<pgid>``, ``timeout`` and service managers signal the whole process group,
    Python and the JVM (Ctrl-C, SIGINT to the group, stops the uninterrupted run of test_live_run.py)."""
    root = tmp_path / "interrupted"
    proc = start(root, *FEED)
    try:
        wait_for(
            lambda: status(root).get("gold_running") and status(root)["gold_refreshes"] == 0,
            RUN_TIMEOUT,
            "the first Gold refresh",
            proc,
        )
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=RUN_TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert status(root)["state"] == "stopped"
    text = log_text(root)
    assert_clean_log(text)
    assert "Stopped: kept bronze" in "\n".join(text.splitlines()[-3:])
