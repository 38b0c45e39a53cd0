"""The local live run as a user starts it (``python -m oms_pipeline``, what scripts/run-local
executes), in a subprocess: it reaches Gold, stops cleanly on a Ctrl-C (SIGINT) to its whole
process group, and after SIGKILLs -- mid-feed, during the first creation of a table, at a random
instant -- a restart ends with exactly the Silver and Gold of an uninterrupted run over the same
events. A clean run's log holds no stack trace. A SIGTERM to the process group during the first
Gold refresh is test_live_run_sigterm.py (its own lakehouse, so it may run beside these).

Each scenario starts cold JVMs and costs minutes, so kills share one lakehouse: the restart after
all of them must still equal the uninterrupted run.

Expected figures are recomputed from the landed files with plain ``json`` -- not with the
pipeline's code.
"""

from __future__ import annotations

import datetime as dt
import filecmp
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

ORDER_STATUSES = {"CREATED", "CONFIRMED", "SHIPPED", "DELIVERED", "CANCELLED", "RETURNED"}
SHIPMENT_STATUSES = {"CREATED", "SHIPPED", "DELIVERED"}
# A paced feed (one batch every 12 s): the runs below stream while the feed is writing.
BATCHES = 5
FEED = ("--seed", "5", "--rate", "3", "--tick", "12", "--batches", str(BATCHES))
# The same batches (a batch's content depends on the seed, its number and rate * tick, never on
# the pace), one every 120 s: the first kill below must land while the feed is still writing, also
# when a loaded machine takes a minute or more to commit bronze's first micro-batch. It waits for
# that commit, not for the feed, so the slower pace costs nothing.
SLOW_FEED = ("--seed", "5", "--rate", "0.3", "--tick", "120", "--batches", str(BATCHES))
RUN_TIMEOUT = 1800  # a safety net only: other Spark processes may load the machine


KILLPOINTS = Path(__file__).parent / "killpoints"
# What only a stack trace (Python or Java) or a failed run prints.
TRACE = re.compile(
    r"Traceback \(most recent call last\)|^\s+at \S+\(|Exception in thread|StackOverflowError"
    r"|^\S+ Failed",
    re.M,
)


def start(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    log = open(log_path(root), "a", encoding="utf-8")  # noqa: SIM115
    cmd = [sys.executable, "-m", "oms_pipeline", "--root", str(root), "--port", "0"]
    cmd += ["--status-every", "1", *args]
    return subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: a SIGKILL can take the JVM with it
        env=os.environ | {"TZ": "UTC"} | (env or {}),
    )


def log_path(root: Path) -> Path:
    return root.parent / f"{root.name}.log"


def log_text(root: Path) -> str:
    return log_path(root).read_text(encoding="utf-8")


def assert_clean_log(text: str) -> None:
    """No stack trace, no failure, and no status figure shown as None."""
    assert not TRACE.search(text), TRACE.search(text)
    status_lines = [line for line in text.splitlines() if "| not yet in Gold " in line]
    assert status_lines and not [line for line in status_lines if "None" in line]


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


def _records(landing: Path, entity: str, key: str, typed: str, kind: Callable) -> Iterator[dict]:
    """The landed records of ``entity`` that Silver can accept: JSON objects with their ``key``
    and a ``typed`` field ``kind`` takes (the feed's malformed lines are invalid JSON, cut lines,
    a missing key, a mistyped field or a forbidden value; callers check the values)."""
    for f in sorted((landing / entity).glob("*.jsonl")):
        for raw in f.read_text().splitlines():
            try:
                r = json.loads(raw)
                if r[key] is None or not kind(r[typed]):
                    continue
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
            yield r


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def expected(landing: Path) -> dict:
    """Gold figures from the landed JSON lines, independently of the pipeline."""
    lines: dict[tuple, dict] = {}
    for r in _records(landing, "orders", "order_id", "quantity", _whole):
        if r.get("status") in ORDER_STATUSES:
            key = (r["order_id"], r["line_id"])
            if key not in lines or r["event_ts"] > lines[key]["event_ts"]:
                lines[key] = r
    live = [r for r in lines.values() if r["status"] != "CANCELLED"]
    shipments = {
        r["shipment_id"]
        for r in _records(landing, "shipments", "event_id", "status_ts", dt.datetime.fromisoformat)
        if r.get("status") in SHIPMENT_STATUSES
    }
    stock = {
        r["event_id"]: r["quantity"]
        for r in _records(landing, "inventory", "event_id", "quantity", _whole)
        if r.get("event_type") in ("SNAPSHOT", "ADJUSTMENT")
    }
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
    """An uninterrupted run over BATCHES feed batches, stopped once Gold is current with a Ctrl-C
    (SIGINT to the whole process group, as a terminal sends it)."""
    root = tmp_path_factory.mktemp("live") / "run"
    proc = start(root, *FEED)
    try:

        def caught_up() -> bool:
            st = status(root)
            fr = st.get("freshness") or {}
            return (
                (st.get("feed") or {}).get("done", False)
                and fr.get("files", 0) == landed_files(root)
                and st.get("pending_in_silver") == 0
                and st.get("dashboard_version", 0) >= 1
                and st.get("dashboard_gold_refreshes") == st.get("gold_refreshes")
                and (st.get("gold_last_s") or 0) > 0
            )

        wait_for(caught_up, RUN_TIMEOUT, "Gold to reflect every landed file", proc)
        running = status(root)
        with urllib.request.urlopen(f"http://127.0.0.1:{running['port']}/api/dashboard") as r:
            dashboard = json.load(r)
        family = descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 60  # a safety net: the loop ends once none is alive
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
        "log": log_text(root),
    }


def test_gold_reflects_the_generated_events(spark: SparkSession, live_run: dict) -> None:
    root = live_run["root"]
    want = expected(root / "landing")
    assert want["orders"] > 0 and want["shipments"] > 0 and want["on_hand"] > 0
    assert gold_figures(spark, root / "lakehouse") == want
    totals = live_run["dashboard"]["totals"]  # grand totals of the report's measures
    assert totals["Orders"] == want["orders"]
    assert totals["Units"] == want["units"]
    assert totals["Revenue"] == pytest.approx(float(want["revenue"]))
    assert totals["Shipments"] == want["shipments"]
    assert totals["Stock On Hand"] == want["on_hand"]
    fr = live_run["running"]["freshness"]
    assert fr["files"] == landed_files(root) and 0 < fr["p50_s"] <= fr["p95_s"]


def test_ctrl_c_stops_everything_cleanly(live_run: dict) -> None:
    assert live_run["running"]["state"] == "running"
    assert live_run["running"]["active_queries"] == 1  # the ingest query
    assert live_run["family"], "the Spark JVM runs as a child process"
    assert live_run["rc"] == 0
    assert not live_run["orphans"], "no process outlives the run"
    final = live_run["final"]
    assert final["state"] == "stopped" and final["active_queries"] == 0
    assert_clean_log(live_run["log"])
    assert "Stopped: kept bronze" in live_run["log"]


def assert_same_as_clean(spark: SparkSession, clean: Path, root: Path) -> None:
    """Landed files, Silver and Gold of ``root`` equal those of the uninterrupted run."""
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


def resume_one_shot(root: Path) -> str:
    """Restart with ``--duration 0`` (finish the feed, process, exit); its part of the log."""
    before = len(log_text(root))
    resume = start(root, *FEED, "--duration", "0")
    assert resume.wait(timeout=RUN_TIMEOUT) == 0
    assert status(root)["state"] == "stopped"
    text = log_text(root)[before:]
    assert "Ingest stream running" not in text, "a one-shot run starts no processing-time stream"
    assert_clean_log(text)
    return text


def committed(root: Path, table: str) -> bool:
    return any((root / "lakehouse" / table / "_delta_log").glob("*.json"))


def test_kills_at_any_stage_then_resume_equal_the_uninterrupted_run(
    spark: SparkSession, tmp_path: Path, live_run: dict
) -> None:
    """Four SIGKILLs of the whole process group (the driver and its JVM) on one lakehouse, each at
    a different stage, then a one-shot restart that needs no manual step:

    1. mid-feed, right after bronze commits its first micro-batch;
    2. between a table's ``_delta_log/`` folder and its first commit, in the ingest stream's thread
       (``silver/customers``);
    3. the same during the first Gold refresh (``gold/fact_order_lines``);
    4. at a random instant of a run's first seconds of streaming (table creations, micro-batches,
       feed writes, Gold refreshes).
    """
    root = tmp_path / "killed"
    proc = start(root, *SLOW_FEED)
    try:
        wait_for(
            lambda: status(root).get("counts", {}).get("bronze_rows", 0) > 0,
            RUN_TIMEOUT,
            "bronze to commit a first micro-batch",
            proc,
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert (status(root).get("feed") or {}).get("next_batch", 0) < BATCHES, "killed mid-feed"

    for table in ("silver/customers", "gold/fact_order_lines"):
        # A table that exists already has no first creation left to interrupt.
        assert not committed(root, table), f"{table} was created before its kill point"
        env = {"PYTHONPATH": str(KILLPOINTS), "OMS_KILL_AT_CREATE": table}
        proc = start(root, *FEED, env=env)
        assert proc.wait(timeout=RUN_TIMEOUT) == -signal.SIGKILL
        log = root / "lakehouse" / table / "_delta_log"
        assert log.is_dir() and not any(log.glob("*.json")), "killed before the first commit"

    rng = random.Random(2026)
    started = log_text(root).count("Ingest stream running")
    proc = start(root, *FEED)
    try:
        wait_for(
            lambda: log_text(root).count("Ingest stream running") > started,
            RUN_TIMEOUT,
            "the streams to start",
            proc,
        )
        time.sleep(rng.uniform(0, 8))  # where the kill lands; every instant must be safe
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    resume_one_shot(root)
    assert_same_as_clean(spark, live_run["root"], root)
