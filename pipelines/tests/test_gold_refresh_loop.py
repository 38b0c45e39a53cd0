"""The Gold entry point as a processing-time loop: fixed-interval boundaries, no starvation."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import pytest

from oms_pipeline.jobs import gold_refresh as job


@dataclass
class FakeClock:
    """A monotonic clock that moves only when a step takes time or the loop sleeps."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, seconds
        self.sleeps.append(seconds)
        self.now += seconds


def test_interval_seconds_parses_spark_intervals_and_rejects_the_rest() -> None:
    assert job.interval_seconds("10 seconds") == 10
    assert job.interval_seconds("1 minute") == 60
    assert job.interval_seconds("2 minutes") == 120
    for bad in ("", "0 seconds", "10", "ten seconds", "5 hours"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected '<n> seconds'"):
            job.interval_seconds(bad)


def test_steps_start_on_interval_boundaries() -> None:
    fake = FakeClock()
    starts: list[float] = []

    def step() -> None:
        starts.append(fake.now)
        fake.now += 3  # each refresh takes 3 s

    assert job.run_every(10, step, max_runs=4, clock=fake.clock, sleep=fake.sleep) == 4
    assert starts == [1000, 1010, 1020, 1030]
    assert fake.sleeps == [7, 7, 7]


def test_an_overrun_starts_the_next_step_at_once_and_skips_missed_boundaries() -> None:
    fake = FakeClock()
    starts: list[float] = []
    durations = iter([25, 2, 2])

    def step() -> None:
        starts.append(fake.now)
        fake.now += next(durations)

    job.run_every(10, step, max_runs=3, clock=fake.clock, sleep=fake.sleep)
    # 25 s overran two boundaries (1010, 1020): the next refresh starts at 1030, not 1025
    # followed by a burst of catch-up refreshes.
    assert starts == [1000, 1030, 1040]


def test_a_failed_step_ends_the_loop_with_its_error() -> None:
    fake = FakeClock()

    def step() -> None:
        raise RuntimeError("silver table missing")

    with pytest.raises(RuntimeError, match="silver table missing"):
        job.run_every(10, step, clock=fake.clock, sleep=fake.sleep)


def test_main_refreshes_once_by_default_and_every_interval_with_processing_time(
    monkeypatch, tmp_path
) -> None:
    import oms_pipeline.pipeline.freshness_log as freshness_log
    import oms_pipeline.pipeline.gold as gold
    from oms_pipeline.pipeline.gold import RefreshReport

    calls: list[bool] = []

    def fake_refresh(spark, loc, settings, *, full_refresh: bool = False) -> RefreshReport:
        calls.append(full_refresh)
        return RefreshReport(full=False, versions={})

    logged: list[RefreshReport] = []

    def fake_record(spark, loc, report) -> dict:
        logged.append(report)
        return {"rows": 0}

    monkeypatch.setattr(job, "get_spark", lambda name: object())
    monkeypatch.setattr(gold, "refresh_gold", fake_refresh)
    monkeypatch.setattr(freshness_log, "record_refresh", fake_record)
    prepared: list[object] = []
    monkeypatch.setattr(freshness_log, "prepare_freshness_log", lambda s, loc: prepared.append(loc))
    slept: list[float] = []
    monkeypatch.setattr(job.time, "sleep", slept.append)
    base = ["--lakehouse-root", str(tmp_path), "--apply-constraints", "off"]

    assert job.main([*base, "--full-refresh"]) == 0
    assert calls == [True]
    calls.clear()
    argv = [*base, "--full-refresh", "--trigger", "processingTime", "--processing-time"]
    assert job.main([*argv, "10 seconds", "--max-refreshes", "3"]) == 0
    # Only the first tick of the loop is a full refresh; the rest are incremental.
    assert calls == [True, False, False]
    # Every refresh, the first included, is logged in the freshness log, prepared once a run.
    assert len(logged) == 4 and len(prepared) == 2
    assert len(slept) == 2 and all(0 < s <= 10 for s in slept)
    with pytest.raises(SystemExit):
        job.main([*base, "--trigger", "processingTime", "--processing-time", "soon"])
