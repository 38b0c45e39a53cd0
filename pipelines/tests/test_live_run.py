"""The local live run as a user starts it (``python -m oms_pipeline.live``, what scripts/run-local
executes), in a subprocess: it reaches Gold, stops cleanly on SIGINT, and after a SIGKILL a restart
ends with exactly the Silver and Gold of an uninterrupted run over the same events.

Expected figures are recomputed from the landed files with plain ``json`` -- not with the
pipeline's code.
"""

from __future__ import annotations

import filecmp
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from oms_pipeline.config import TableLocator
from oms_pipeline.live import feed_writer
from oms_pipeline.live.cli import LIVE_AS_OF
from oms_pipeline.live.feed import FeedConfig, batch_events, catalog
from oms_pipeline.local import run_once

ORDER_STATUSES = {"CREATED", "CONFIRMED", "SHIPPED", "DELIVERED", "CANCELLED", "RETURNED"}
SHIPMENT_STATUSES = {"CREATED", "SHIPPED", "DELIVERED"}
RATE, TICK, BATCHES = "40", "0.5", 8
RUN_TIMEOUT = 240


def start(root: Path, *args: str) -> subprocess.Popen:
    log = open(root.parent / f"{root.name}.log", "a", encoding="utf-8")  # noqa: SIM115
    cmd = [sys.executable, "-m", "oms_pipeline.live", "--root", str(root), "--port", "0"]
    cmd += ["--rate", RATE, "--tick", TICK, "--status-every", "1", *args]
    return subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: a SIGKILL can take the JVM with it
        env=os.environ | {"TZ": "UTC"},
    )


def status(root: Path) -> dict:
    try:
        return json.loads((root / "lakehouse" / "_run" / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def wait_for(pred: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        if proc.poll() is not None:
            pytest.fail(f"run exited ({proc.returncode}) while waiting for {what}")
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def alive(pids: set[int]) -> set[int]:
    live = set()
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            live.add(p)
    return live


def expected(landing: Path) -> dict:
    """Gold figures from the landed JSON lines, independently of the pipeline."""
    lines: dict[tuple, dict] = {}
    for f in sorted((landing / "orders").glob("*.jsonl")):
        for raw in f.read_text().splitlines():
            try:
                r = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if r.get("status") not in ORDER_STATUSES:
                continue
            key = (r["order_id"], r["line_id"])
            if key not in lines or r["event_ts"] > lines[key]["event_ts"]:
                lines[key] = r
    live = [r for r in lines.values() if r["status"] != "CANCELLED"]
    shipments, stock = set(), {}
    for f in sorted((landing / "shipments").glob("*.jsonl")):
        for raw in f.read_text().splitlines():
            try:
                r = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if r.get("status") in SHIPMENT_STATUSES:
                shipments.add(r["shipment_id"])
    for f in sorted((landing / "inventory").glob("*.jsonl")):
        for raw in f.read_text().splitlines():
            try:
                r = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if r.get("event_type") in ("SNAPSHOT", "ADJUSTMENT"):
                stock[r["event_id"]] = r["quantity"]
    return {
        "lines": len(lines),
        "orders": len({r["order_id"] for r in live}),
        "units": sum(r["quantity"] for r in live),
        "revenue": sum(
            Decimal(r["quantity"]) * Decimal(r["unit_price"]) * (1 - Decimal(r["discount"]))
            for r in live
        ),
        "shipments": len(shipments),
        "on_hand": sum(stock.values()),  # every adjustment follows the opening snapshot
    }


def gold_figures(spark: SparkSession, lakehouse: Path) -> dict:
    def t(name: str):
        return spark.read.format("delta").load(str(lakehouse / "gold" / name))

    fact = t("fact_order_lines")
    live = fact.where("NOT is_cancelled")
    row = live.selectExpr("COUNT(DISTINCT order_id)", "SUM(quantity)", "SUM(net_amount)").first()
    return {
        "lines": fact.count(),
        "orders": row[0],
        "units": row[1],
        "revenue": row[2],
        "shipments": t("fact_shipments").count(),
        "on_hand": t("fact_inventory").selectExpr("SUM(on_hand)").first()[0],
    }


def table_rows(spark: SparkSession, path: Path) -> list[tuple]:
    df = spark.read.format("delta").load(str(path))
    cols = sorted(c for c in df.columns if not c.startswith("_"))  # lineage and run stamps
    return sorted((tuple(r) for r in df.select(*cols).collect()), key=repr)


def test_live_run_reaches_gold_and_stops_cleanly(spark: SparkSession, tmp_path: Path) -> None:
    root = tmp_path / "run"
    proc = start(root)
    try:
        wait_for(
            lambda: (
                (status(root).get("freshness") or {}).get("files", 0) >= 4
                and status(root).get("dashboard_version", 0) >= 1
            ),
            RUN_TIMEOUT,
            "Gold to reflect landed files",
            proc,
        )
        st = status(root)
        assert st["state"] == "running" and st["active_queries"] == 8
        with urllib.request.urlopen(f"http://127.0.0.1:{st['port']}/api/dashboard") as r:
            dash = json.load(r)
        assert set(dash["views"]) == {"orders", "sla", "inventory", "revenue"}
        assert dash["views"]["orders"]["kpis"]["Orders"] > 0
        assert st["freshness"]["p50_s"] > 0

        family = descendants(proc.pid)
        assert family, "the Spark JVM runs as a child process"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while alive(family) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not alive(family), "no process outlives the run"
    final = status(root)
    assert final["state"] == "stopped" and final["active_queries"] == 0

    # Resume: the feed continues to batch BATCHES, the run processes everything and exits.
    landed = final["feed"]["next_batch"]
    resume = start(root, "--batches", str(max(BATCHES, landed + 2)))
    assert resume.wait(timeout=RUN_TIMEOUT) == 0
    assert status(root)["state"] == "stopped"

    want = expected(root / "landing")
    got = gold_figures(spark, root / "lakehouse")
    assert want["orders"] > 0 and want["shipments"] > 0
    assert got == want


@pytest.fixture(scope="module")
def clean_run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Batches 0..BATCHES-1 of the feed, landed at once and processed in one availableNow pass."""
    root = tmp_path_factory.mktemp("clean")
    cfg = FeedConfig(seed=9)
    cat = catalog(cfg)
    size = round(float(RATE) * float(TICK))
    for n in range(BATCHES):
        feed_writer.write_batch(str(root / "landing"), 9, n, batch_events(cfg, cat, n, size))
    loc = TableLocator(lakehouse_root=str(root / "lakehouse"), landing_root=str(root / "landing"))
    from oms_pipeline.config import PipelineSettings

    run_once(spark, loc, PipelineSettings(as_of_date=LIVE_AS_OF))
    return root


def test_kill_and_resume_equals_clean_run(
    spark: SparkSession, tmp_path: Path, clean_run: Path
) -> None:
    root = tmp_path / "killed"
    args = ("--seed", "9", "--batches", str(BATCHES))
    proc = start(root, *args)
    try:
        wait_for(
            lambda: (
                status(root).get("counts", {}).get("silver_rows", 0) > 0
                and (status(root).get("feed") or {}).get("next_batch", 0) >= 3
            ),
            RUN_TIMEOUT,
            "silver to process a first batch",
            proc,
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its JVM, mid-stream
        proc.wait()
    assert (status(root).get("feed") or {}).get("next_batch", 0) < BATCHES, "killed mid-stream"

    resume = start(root, *args)
    assert resume.wait(timeout=RUN_TIMEOUT) == 0

    # The feed resumed its sequence: the same files with the same bytes, none missing or extra.
    for entity in ("orders", "shipments", "inventory", "customers"):
        a, b = clean_run / "landing" / entity, root / "landing" / entity
        names = sorted(p.name for p in a.glob("*.jsonl"))
        assert names == sorted(p.name for p in b.glob("*.jsonl"))
        assert filecmp.cmpfiles(a, b, names, shallow=False)[0] == names

    for layer in ("silver", "gold"):
        tables = sorted(p.name for p in (clean_run / "lakehouse" / layer).iterdir())
        assert tables == sorted(p.name for p in (root / "lakehouse" / layer).iterdir())
        for t in tables:
            assert table_rows(spark, root / "lakehouse" / layer / t) == table_rows(
                spark, clean_run / "lakehouse" / layer / t
            ), f"{layer}.{t} differs from the clean run"
