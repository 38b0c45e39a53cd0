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

ORDER_STATUSES = {"CREATED", "CONFIRMED", "SHIPPED", "DELIVERED", "CANCELLED", "RETURNED"}
SHIPMENT_STATUSES = {"CREATED", "SHIPPED", "DELIVERED"}
# A slow feed (one batch every 12 s) so the kill below lands while the feed is still writing.
BATCHES = 5
FEED = ("--seed", "5", "--rate", "3", "--tick", "12", "--batches", str(BATCHES))
RUN_TIMEOUT = 600


def start(root: Path, *args: str) -> subprocess.Popen:
    log = open(root.parent / f"{root.name}.log", "a", encoding="utf-8")  # noqa: SIM115
    cmd = [sys.executable, "-m", "oms_pipeline.live", "--root", str(root), "--port", "0"]
    cmd += ["--status-every", "1", *args]
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


def landed_files(root: Path) -> int:
    return sum(1 for _ in (root / "landing").glob("*/*.jsonl"))


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An uninterrupted run over BATCHES feed batches, stopped with SIGINT once Gold is current."""
    root = tmp_path_factory.mktemp("live") / "run"
    proc = start(root, *FEED)
    try:

        def caught_up() -> bool:
            st = status(root)
            fr = st.get("freshness") or {}
            return (
                (st.get("feed") or {}).get("done", False)
                and fr.get("files", 0) == landed_files(root)
                and st.get("pending_files") == 0
                and st.get("dashboard_version", 0) >= 1
                and (st.get("gold_last_s") or 0) > 0
            )

        wait_for(caught_up, RUN_TIMEOUT, "Gold to reflect every landed file", proc)
        time.sleep(6)  # one more dashboard publication after the last Gold refresh
        running = status(root)
        with urllib.request.urlopen(f"http://127.0.0.1:{running['port']}/api/dashboard") as r:
            dashboard = json.load(r)
        family = descendants(proc.pid)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while alive(family) and time.monotonic() < deadline:
        time.sleep(0.5)
    return {
        "root": root,
        "rc": rc,
        "family": family,
        "orphans": alive(family),
        "running": running,
        "final": status(root),
        "dashboard": dashboard,
    }


def test_gold_reflects_the_generated_events(spark: SparkSession, live_run: dict) -> None:
    root = live_run["root"]
    want = expected(root / "landing")
    assert want["orders"] > 0 and want["shipments"] > 0 and want["on_hand"] > 0
    assert gold_figures(spark, root / "lakehouse") == want
    kpis = live_run["dashboard"]["views"]
    assert kpis["orders"]["kpis"]["Orders"] == want["orders"]
    assert kpis["orders"]["kpis"]["Units"] == want["units"]
    assert kpis["revenue"]["kpis"]["Revenue"] == pytest.approx(float(want["revenue"]))
    assert kpis["sla"]["kpis"]["Shipments"] == want["shipments"]
    assert kpis["inventory"]["kpis"]["Stock On Hand"] == want["on_hand"]
    fr = live_run["running"]["freshness"]
    assert fr["files"] == landed_files(root) and 0 < fr["p50_s"] <= fr["p95_s"]


def test_sigint_stops_everything_cleanly(live_run: dict) -> None:
    assert live_run["running"]["state"] == "running"
    assert live_run["running"]["active_queries"] == 8
    assert live_run["family"], "the Spark JVM runs as a child process"
    assert live_run["rc"] == 0
    assert not live_run["orphans"], "no process outlives the run"
    final = live_run["final"]
    assert final["state"] == "stopped" and final["active_queries"] == 0


def test_kill_and_resume_equals_the_uninterrupted_run(
    spark: SparkSession, tmp_path: Path, live_run: dict
) -> None:
    clean = live_run["root"]
    root = tmp_path / "killed"
    proc = start(root, *FEED)
    try:
        wait_for(
            lambda: status(root).get("counts", {}).get("bronze_rows", 0) > 0,
            RUN_TIMEOUT,
            "bronze to commit a first micro-batch",
            proc,
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its JVM, mid-stream
        proc.wait()
    assert (status(root).get("feed") or {}).get("next_batch", 0) < BATCHES, "killed mid-feed"

    resume = start(root, *FEED, "--duration", "0")  # finish the feed, process, exit
    assert resume.wait(timeout=RUN_TIMEOUT) == 0
    assert status(root)["state"] == "stopped"

    # The feed resumed its sequence: the same files with the same bytes, none missing or extra.
    for entity in ("orders", "shipments", "inventory", "customers"):
        a, b = clean / "landing" / entity, root / "landing" / entity
        names = sorted(p.name for p in a.glob("*.jsonl"))
        assert names == sorted(p.name for p in b.glob("*.jsonl"))
        assert filecmp.cmpfiles(a, b, names, shallow=False)[0] == names

    for layer in ("silver", "gold"):
        tables = sorted(p.name for p in (clean / "lakehouse" / layer).iterdir())
        assert tables == sorted(p.name for p in (root / "lakehouse" / layer).iterdir())
        for t in tables:
            assert table_rows(spark, root / "lakehouse" / layer / t) == table_rows(
                spark, clean / "lakehouse" / layer / t
            ), f"{layer}.{t} differs from the uninterrupted run"
