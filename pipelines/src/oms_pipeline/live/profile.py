"""Where a steady-state cycle of the local run spends its time (``oms bench --profile``).

Per stage -- each streaming query (``stream/<name>``: the ingest query), each Gold step
(``gold/<table>``) and the Gold bookkeeping (``gold/changes``: progress table and change-feed
versions read before the steps; ``gold/progress``: the progress table written after them;
``gold/freshness_log``: the ops freshness log appended by the runner) -- the profile counts
micro-batches (or refreshes), Spark jobs, Delta commits, seconds and rows.

A *cycle* is one Gold refresh plus what the streams did since the previous refresh ended: cycle
``i`` spans ``(end of refresh i-1, end of refresh i]``. The warm-up is the first ``warmup``
refreshes (default 1: the first refresh is a full rebuild on a cold JVM, while the streams run
their first micro-batches) and everything before their end; the drain at the end of a run
(availableNow streams and their refresh, not the steady state) is never counted. The
steady-state window is the remaining cycles; figures are totals over that window and their mean
per cycle. A run whose streams fall so far behind that Gold refreshes at most ``warmup`` times
before the drain has no such cycle: its window is then the last two thirds of the feed
(:func:`steady_window`), and the figures are per refresh ending in it, or totals when none does.

Attribution:

- a micro-batch belongs to the cycle in which it ended (progress ``timestamp`` plus
  ``durationMs.triggerExecution``); its seconds are ``triggerExecution``, split into the parts
  of ``durationMs``;
- a stream's Spark jobs are those of the job group equal to the query's ``runId`` (Spark runs a
  micro-batch's jobs, those of its foreachBatch function included, in that group), each counted
  in the cycle in which it was first seen;
- a Gold phase's jobs are the jobs the Gold job group gained while the phase ran (Gold runs in
  the main thread, one phase at a time);
- a Delta commit belongs to the stage that writes its table (``StageMap``) and to the cycle of its
  ``commitInfo.timestamp``.

Everything here but :class:`Profiler` is pure accounting over plain records, so it can be tested
from scripted progress events and commit logs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The parts of a micro-batch's ``durationMs`` the profile splits its seconds into; walCommit and
# commitOffsets (the offset and commit logs of the checkpoint) are one part.
SPLIT = ("addBatch", "getBatch", "queryPlanning", "walCommit+commitOffsets", "latestOffset")
GOLD_BOOKKEEPING = ("gold/changes", "gold/progress", "gold/freshness_log")


# --- records ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Batch:
    """One progress event of a streaming query: ``end_s`` epoch seconds, ``seconds`` of
    ``triggerExecution``, ``split`` seconds per :data:`SPLIT` part, ``ran`` False for an
    idle report (no ``addBatch``: the trigger found no new data)."""

    stage: str
    run_id: str
    end_s: float
    seconds: float
    rows: int
    ran: bool
    split: Mapping[str, float]


@dataclass(frozen=True)
class Commit:
    """One Delta commit: the table (``layer.table``), version, ``ts_s`` epoch seconds
    (``commitInfo.timestamp``), operation, transaction application ids and rows written
    (``numOutputRows``, or inserted + updated + deleted for a MERGE)."""

    table: str
    version: int
    ts_s: float
    operation: str
    app_ids: tuple[str, ...]
    rows: int


@dataclass(frozen=True)
class Phase:
    """One Gold phase of one refresh (a step or bookkeeping): epoch seconds and Spark jobs."""

    stage: str
    start_s: float
    end_s: float
    jobs: int


@dataclass(frozen=True)
class Refresh:
    """One Gold refresh (epoch seconds); ``drain``: the run's last one, after the feed."""

    start_s: float
    end_s: float
    drain: bool = False


@dataclass(frozen=True)
class JobSeen:
    """A stream's Spark job: its job group (the query's ``runId``) and when it was first seen."""

    job_id: int
    group: str
    seen_s: float


def stage_of_query(name: str | None) -> str:
    """A streaming query's stage: ``stream/<query name>`` (``stream/ingest``)."""
    return f"stream/{name}"


def _epoch(timestamp: str) -> float:
    """Epoch seconds of a progress timestamp (ISO 8601, UTC, ``Z``)."""
    return dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def batch_from_progress(progress: Mapping[str, Any]) -> Batch:
    """A :class:`Batch` from a progress event as JSON (``StreamingQueryProgress.json``)."""
    ms = progress.get("durationMs") or {}
    seconds = ms.get("triggerExecution", 0) / 1000
    split = {
        "addBatch": ms.get("addBatch", 0) / 1000,
        "getBatch": ms.get("getBatch", 0) / 1000,
        "queryPlanning": ms.get("queryPlanning", 0) / 1000,
        "walCommit+commitOffsets": (ms.get("walCommit", 0) + ms.get("commitOffsets", 0)) / 1000,
        "latestOffset": ms.get("latestOffset", 0) / 1000,
    }
    return Batch(
        stage=stage_of_query(progress.get("name")),
        run_id=str(progress.get("runId")),
        end_s=_epoch(progress["timestamp"]) + seconds,
        seconds=seconds,
        rows=int(progress.get("numInputRows") or 0),
        ran="addBatch" in ms,
        split=split,
    )


def read_commits(table: str, path: str, from_version: int = 0) -> list[Commit]:
    """The commits of the Delta table at ``path`` (named ``table``) from ``from_version`` on,
    read from its ``_delta_log`` JSON files (no Spark); [] when the table does not exist."""
    out: list[Commit] = []
    version = from_version
    while True:
        name = os.path.join(path, "_delta_log", f"{version:020d}.json")
        try:
            with open(name, encoding="utf-8") as fh:
                actions = [json.loads(line) for line in fh if line.strip()]
        except FileNotFoundError:
            return out
        info = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
        app_ids = tuple(a["txn"]["appId"] for a in actions if "txn" in a)
        metrics = {k: int(v) for k, v in (info.get("operationMetrics") or {}).items()}
        rows = metrics.get("numOutputRows")
        if rows is None or info.get("operation") == "MERGE":
            rows = sum(
                metrics.get(k, 0)
                for k in ("numTargetRowsInserted", "numTargetRowsUpdated", "numTargetRowsDeleted")
            )
        out.append(
            Commit(
                table=table,
                version=version,
                ts_s=info.get("timestamp", 0) / 1000,
                operation=info.get("operation", ""),
                app_ids=app_ids,
                rows=rows,
            )
        )
        version += 1


@dataclass(frozen=True)
class StageMap:
    """Which stage writes which table: ``tables`` maps ``layer.table`` to a stage."""

    tables: Mapping[str, str]

    def stage(self, commit: Commit) -> str:
        return self.tables.get(commit.table, f"other/{commit.table}")


# --- accounting ---------------------------------------------------------------------------------
@dataclass
class StageFigures:
    """One stage over the window: micro-batches run (streams) or phases run (Gold), Spark
    jobs, Delta commits, seconds, rows (streams: input rows; Gold: rows its commits wrote),
    and for streams the seconds per :data:`SPLIT` part."""

    stage: str
    runs: int = 0
    jobs: int = 0
    commits: int = 0
    seconds: float = 0.0
    rows: int = 0
    split: dict[str, float] = field(default_factory=dict)


@dataclass
class Profile:
    """The steady-state window (epoch seconds), the Gold refreshes (cycles) ending in it, figures
    per stage (totals over the window; :meth:`per_cycle` divides them by the cycles), the CPU
    seconds the processes used in it (None: not sampled), and how the window was chosen."""

    window: tuple[float, float] | None
    cycles: int
    stages: dict[str, StageFigures]
    cpu_s: float | None = None
    how: str = ""

    @property
    def wall_s(self) -> float:
        return self.window[1] - self.window[0] if self.window else 0.0

    def per_cycle(self, value: float) -> float:
        """``value`` per cycle; the window's total when no refresh ended in it."""
        return value / self.cycles if self.cycles else value


def stage_order(stage: str, gold_steps: Sequence[str]) -> tuple[int, int, str]:
    """Flow order: streams, Gold bookkeeping before the steps, steps in refresh order,
    bookkeeping after them, anything else last."""
    kind, _, what = stage.partition("/")
    if kind == "stream":
        return (0, 0, what)
    if stage == "gold/changes":
        return (2, 0, "")
    if kind == "gold" and what in gold_steps:
        return (3, list(gold_steps).index(what), "")
    if stage in GOLD_BOOKKEEPING:
        return (4, GOLD_BOOKKEEPING.index(stage), "")
    return (5, 0, stage)


def _cpu_at(samples: Sequence[tuple[float, float]], t: float) -> float | None:
    """The last CPU sample at or before ``t`` (the first one if none is), None without any."""
    before = [cpu for at, cpu in samples if at <= t]
    if before:
        return before[-1]
    return samples[0][1] if samples else None


def steady_window(
    refreshes: Sequence[Refresh], feed: tuple[float, float] | None, warmup: int = 1
) -> tuple[tuple[float, float] | None, str]:
    """The steady-state window (epoch seconds) and how it was chosen.

    With more than ``warmup`` Gold refreshes before the drain: from the end of the last warm-up
    refresh to the end of the last refresh before the drain (whole cycles). Otherwise, with
    ``feed`` (epoch seconds of the feed's start and of the drain's start, which waits for the
    Gold refresh running when the feed ends): its last two thirds (the first third is the
    warm-up), however many refreshes end in it. Neither: no window.
    """
    steady = sorted((r for r in refreshes if not r.drain), key=lambda r: r.end_s)
    if len(steady) > warmup:
        return (steady[warmup - 1].end_s if warmup else steady[0].start_s, steady[-1].end_s), (
            f"the cycles after the first {warmup} Gold refresh(es) (the warm-up: the first is a "
            "full rebuild on a cold JVM while the streams run their first micro-batches), up to "
            "the drain"
        )
    if feed is not None:
        first, last = feed
        return (first + (last - first) / 3, last), (
            f"only {len(steady)} Gold refresh(es) before the drain, so the window is the last two "
            "thirds of the time from the feed's start to the drain's (the first third is the "
            "warm-up)"
        )
    return None, "no Gold refresh and no feed times: nothing to profile"


def account(
    *,
    batches: Iterable[Batch],
    stream_jobs: Iterable[JobSeen],
    run_stages: Mapping[str, str],
    phases: Iterable[Phase],
    refreshes: Sequence[Refresh],
    commits: Iterable[Commit],
    stage_map: StageMap,
    feed: tuple[float, float] | None = None,
    cpu_samples: Sequence[tuple[float, float]] = (),
    warmup: int = 1,
) -> Profile:
    """The :class:`Profile` of the steady-state window (:func:`steady_window`; see the module's
    docstring for what counts where).

    ``run_stages`` maps a query ``runId`` (a stream job's group) to its stage; ``feed`` is the
    feed's (start, end) in epoch seconds; ``cpu_samples`` are (epoch seconds, CPU seconds used
    so far) pairs in time order.
    """
    window, how = steady_window(refreshes, feed, warmup)
    if window is None:
        return Profile(None, 0, {}, how=how)
    begin, end = window

    def inside(t: float) -> bool:
        return begin < t <= end

    cycles = sum(1 for r in refreshes if not r.drain and inside(r.end_s))
    cpu_begin, cpu_end = _cpu_at(cpu_samples, begin), _cpu_at(cpu_samples, end)
    cpu = cpu_end - cpu_begin if cpu_end is not None and cpu_begin is not None else None
    stages: dict[str, StageFigures] = {}

    def fig(stage: str) -> StageFigures:
        return stages.setdefault(stage, StageFigures(stage))

    for b in batches:
        if not inside(b.end_s):
            continue
        f = fig(b.stage)
        f.runs += int(b.ran)
        f.seconds += b.seconds
        f.rows += b.rows
        for part, secs in b.split.items():
            f.split[part] = f.split.get(part, 0.0) + secs
    for j in stream_jobs:
        if inside(j.seen_s):
            fig(run_stages.get(j.group, f"stream/{j.group}")).jobs += 1
    for p in phases:
        if inside(p.end_s):
            f = fig(p.stage)
            f.runs += 1
            f.jobs += p.jobs
            f.seconds += p.end_s - p.start_s
    for c in commits:
        if inside(c.ts_s):
            f = fig(stage_map.stage(c))
            f.commits += 1
            if not f.stage.startswith("stream/"):
                f.rows += c.rows  # a stream's rows are its input rows, counted above
    return Profile(window, cycles, stages, cpu_s=cpu, how=how)


# --- recording during a run ---------------------------------------------------------------------
def _cpu_seconds(jvm_pid: int | None) -> float | None:
    """CPU seconds (user + system) of the Spark JVM (``/proc/<pid>/stat``) and this process."""
    own = os.times()
    total = own.user + own.system
    if jvm_pid is None:
        return None
    try:
        with open(f"/proc/{jvm_pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # Fields 14 and 15 of proc(5) (utime, stime), counted after the ")" closing the name.
    return total + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Profiler:
    """Records what :func:`account` needs while a local run runs: progress events (a
    ``StreamingQueryListener``), stream jobs (polling each query's job group every
    ``poll_s`` seconds), Gold phases and refreshes (:meth:`phase`, :meth:`refresh`, called by
    the runner) and, at the end, the Delta commits of the tables in ``stage_map``
    (``paths``: ``layer.table`` -> folder).

    Only the local benchmark uses this class, so it may use ``sparkContext`` (the job groups,
    the status tracker, the JVM's pid), which the package otherwise avoids for Spark Connect.
    """

    def __init__(
        self,
        spark: Any,
        gold_job_group: str,
        paths: Mapping[str, str],
        stage_map: StageMap,
        gold_steps: Sequence[str],
        *,
        poll_s: float = 1.0,
    ) -> None:
        self.spark, self.gold_job_group = spark, gold_job_group
        self.paths, self.stage_map, self.gold_steps = paths, stage_map, tuple(gold_steps)
        self.poll_s = poll_s
        self.progress: list[dict[str, Any]] = []
        self.run_stages: dict[str, str] = {}
        self.stream_jobs: dict[int, JobSeen] = {}
        self.phases: list[Phase] = []
        self.refreshes: list[Refresh] = []
        self._gold_seen: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._listener: Any = None
        self._jvm_pid: int | None = None
        self.cpu_samples: list[tuple[float, float]] = []
        self.feed: tuple[float, float] | None = None  # set by feed_started / feed_ended
        self._feed_start: float | None = None

    # The listener is made here so that importing this module needs no JVM.
    def _make_listener(self) -> Any:
        from pyspark.sql.streaming import StreamingQueryListener

        profiler = self

        class Listener(StreamingQueryListener):
            def onQueryStarted(self, event: Any) -> None:
                with profiler._lock:
                    profiler.run_stages[str(event.runId)] = stage_of_query(event.name)

            def onQueryProgress(self, event: Any) -> None:
                progress = json.loads(event.progress.json)
                with profiler._lock:
                    profiler.progress.append(progress)
                    profiler.run_stages[str(progress["runId"])] = stage_of_query(
                        progress.get("name")
                    )

            def onQueryIdle(self, event: Any) -> None:
                pass

            def onQueryTerminated(self, event: Any) -> None:
                pass

        return Listener()

    def start(self) -> None:
        """Listen to the streams and poll their jobs; call before the streams start."""
        self._jvm_pid = int(self.spark._jvm.java.lang.ProcessHandle.current().pid())
        self._sample_cpu()
        self._listener = self._make_listener()
        self.spark.streams.addListener(self._listener)
        self._poller = threading.Thread(target=self._poll, name="oms-profile", daemon=True)
        self._poller.start()

    def stop(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=10)
        if self._listener is not None:
            self.spark.streams.removeListener(self._listener)
            self._listener = None

    def _sample_cpu(self) -> None:
        cpu = _cpu_seconds(self._jvm_pid)
        if cpu is not None:
            self.cpu_samples.append((time.time(), cpu))

    def _poll(self) -> None:
        tracker = self.spark.sparkContext.statusTracker()
        while not self._stop.wait(self.poll_s):
            self._poll_once(tracker)
            self._sample_cpu()

    def feed_started(self) -> None:
        self._feed_start = time.time()

    def feed_ended(self) -> None:
        """The steady state's end: the drain begins, or the run stops; the first call counts."""
        if self._feed_start is not None and self.feed is None:
            self.feed = (self._feed_start, time.time())

    def _poll_once(self, tracker: Any) -> None:
        with self._lock:
            groups = list(self.run_stages)
        now = time.time()
        for group in groups:
            for job_id in tracker.getJobIdsForGroup(group):
                if job_id not in self.stream_jobs:
                    self.stream_jobs[job_id] = JobSeen(job_id, group, now)

    def _gold_jobs(self) -> set[int]:
        return set(self.spark.sparkContext.statusTracker().getJobIdsForGroup(self.gold_job_group))

    @contextlib.contextmanager
    def phase(self, stage: str) -> Iterator[None]:
        """Time one Gold phase and count the jobs the Gold job group gains meanwhile."""
        before = self._gold_jobs()
        start = time.time()
        try:
            yield
        finally:
            new = self._gold_jobs() - before - self._gold_seen
            self._gold_seen |= new
            self.phases.append(Phase(stage, start, time.time(), len(new)))

    @contextlib.contextmanager
    def refresh(self, *, drain: bool) -> Iterator[None]:
        """Mark one Gold refresh (a cycle's end)."""
        start = time.time()
        yield
        self.refreshes.append(Refresh(start, time.time(), drain=drain))

    def dump(self, path: str) -> None:
        """Write what was recorded (progress events, jobs, phases, refreshes) to ``path`` as
        JSON, so a profile can be recomputed after the run."""
        from dataclasses import asdict

        with self._lock:
            record = {
                "feed": self.feed,
                "cpu_samples": list(self.cpu_samples),
                "progress": list(self.progress),
                "run_stages": dict(self.run_stages),
                "stream_jobs": [asdict(j) for j in self.stream_jobs.values()],
                "phases": [asdict(p) for p in self.phases],
                "refreshes": [asdict(r) for r in self.refreshes],
            }
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(record, fh, default=str)

    def commits(self) -> list[Commit]:
        return [c for table, path in self.paths.items() for c in read_commits(table, path)]

    def result(self, warmup: int = 1) -> Profile:
        with self._lock:
            progress = list(self.progress)
            run_stages = dict(self.run_stages)
        return account(
            batches=[batch_from_progress(p) for p in progress],
            stream_jobs=list(self.stream_jobs.values()),
            run_stages=run_stages,
            phases=self.phases,
            refreshes=self.refreshes,
            commits=self.commits(),
            stage_map=self.stage_map,
            feed=self.feed,
            cpu_samples=list(self.cpu_samples),
            warmup=warmup,
        )


# --- rendering ----------------------------------------------------------------------------------
def render(profile: Profile, gold_steps: Sequence[str], nproc: int) -> list[str]:
    """Markdown lines of the profile: the per-cycle table, the streams' split, how it counts."""
    out = ["### Profile of one steady-state cycle", ""]
    if profile.window is None:
        return [*out, f"No steady-state window: {profile.how}."]
    ordered = sorted(profile.stages.values(), key=lambda f: stage_order(f.stage, gold_steps))
    n, wall = profile.cycles, profile.wall_s
    if n:
        per = "per cycle"
        lead = (
            f"Mean over {n} cycle(s), {wall / n:.1f} s of wall-clock each on average; a cycle is "
            f"one Gold refresh plus what the streams did since the previous one. Window ({wall:.1f} "
            f"s): {profile.how}."
        )
    else:
        per = "in the window"
        lead = (
            f"No Gold refresh ended in the window, so the figures are totals over it, not per "
            f"cycle. Window ({wall:.1f} s): {profile.how}."
        )
    out += [
        lead,
        "",
        "| stage | micro-batches or refreshes | Spark jobs | Delta commits | seconds | rows "
        "| % of wall-clock |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    total = StageFigures("total")
    for f in ordered:
        out.append(
            f"| {f.stage} | {profile.per_cycle(f.runs):.1f} | {profile.per_cycle(f.jobs):.1f} "
            f"| {profile.per_cycle(f.commits):.1f} | {profile.per_cycle(f.seconds):.1f} "
            f"| {profile.per_cycle(f.rows):.0f} | {100 * f.seconds / wall:.0f} % |"
        )
        total.jobs += f.jobs
        total.commits += f.commits
        total.seconds += f.seconds
    out.append(
        f"| **all stages** | | {profile.per_cycle(total.jobs):.1f} "
        f"| {profile.per_cycle(total.commits):.1f} | {profile.per_cycle(total.seconds):.1f} "
        f"| | {100 * total.seconds / wall:.0f} % |"
    )
    streams = [f for f in ordered if f.split]
    if streams:
        out += [
            "",
            f"Seconds {per} of each stream, by part of its micro-batches (`durationMs`):",
            "",
            "| stream | triggerExecution | " + " | ".join(SPLIT) + " |",
            "| --- | ---: | " + " | ".join("---:" for _ in SPLIT) + " |",
        ]
        for f in streams:
            parts = " | ".join(f"{profile.per_cycle(f.split.get(p, 0.0)):.1f}" for p in SPLIT)
            out.append(f"| {f.stage} | {profile.per_cycle(f.seconds):.1f} | {parts} |")
    capacity = nproc * wall
    cpu = (
        f"the Spark JVM and the driver used {profile.cpu_s:.0f} CPU-seconds of the "
        f"{capacity:.0f} the {nproc} cores offered ({100 * profile.cpu_s / capacity:.0f} %)"
        if profile.cpu_s is not None
        else "the CPU used was not sampled"
    )
    out += [
        "",
        f"Totals over the window: {total.jobs} Spark jobs, {total.commits} Delta commits, "
        f"{total.seconds:.1f} stage-seconds in {wall:.1f} s of wall-clock; {cpu}. "
        "How it counts: a stream's seconds are its micro-batches' `triggerExecution` (idle "
        "triggers included, which are not counted as micro-batches), a Gold phase's its "
        "wall-clock, each counted in the cycle in which it ended. The ingest stream and Gold run "
        "at once on the shared cores, so the shares of wall-clock add up to more than 100 % and "
        "a stage's seconds include time it waited for a core; the CPU figure is the processes' "
        "own (`/proc`), not split by stage. Spark jobs: a stream's job group (its `runId`), "
        "Gold's per phase. Delta commits: new versions in each table's `_delta_log`, counted for "
        "the stage writing the table. Rows: a stream's input rows, a Gold phase's rows written. "
        "Change-feed reads are lazy: `gold/changes` reads the progress table and the Silver "
        "versions; the feeds themselves are read by the steps that use them.",
    ]
    return out


class Unprofiled:
    """The profiler of a run that is not profiled: its hooks do nothing."""

    def phase(self, _stage: str) -> contextlib.AbstractContextManager[object]:
        return contextlib.nullcontext()

    def refresh(self, *, drain: bool) -> contextlib.AbstractContextManager[object]:
        return contextlib.nullcontext()

    def feed_started(self) -> None:
        pass

    def feed_ended(self) -> None:
        pass


@contextlib.contextmanager
def profiled(run: Any, spark: Any, gold_job_group: str) -> Iterator[None]:
    """Profile the ``LiveRun`` ``run`` while the block runs: the profiler listens to the streams
    from before they start; at the end it stops and writes its raw record to
    ``<lakehouse>/_run/profile.json``."""
    paths, stage_map, steps = local_stages(run.loc, run.opts.entities)
    profiler = run.profiler = Profiler(spark, gold_job_group, paths, stage_map, steps)
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        profiler.dump(os.path.join(run.opts.lakehouse, "_run", "profile.json"))


# --- the local run's stages ---------------------------------------------------------------------
def local_stages(loc: Any, entities: Sequence[str]) -> tuple[dict[str, str], StageMap, list[str]]:
    """For the local run's ``TableLocator`` ``loc``: (``layer.table`` -> folder of every table
    the run writes, which stage writes which, the Gold steps in refresh order)."""
    from oms_pipeline.config import bronze_table, quarantine_table
    from oms_pipeline.contracts import get_contract
    from oms_pipeline.contracts.ops import FRESHNESS_TABLE
    from oms_pipeline.pipeline.gold import PROGRESS_TABLE, step_order
    from oms_pipeline.pipeline.ingest import QUERY_NAME
    from oms_pipeline.pipeline.silver import AUDIT_TABLE

    steps = [s.table for s in step_order()]
    ingest = stage_of_query(QUERY_NAME)  # bronze, Silver, quarantine and audit: one query
    tables: dict[str, str] = {f"ops.{AUDIT_TABLE}": ingest}
    for e in entities:
        tables[f"bronze.{bronze_table(e)}"] = ingest
        tables[f"ops.{quarantine_table(e)}"] = ingest
        for t in get_contract(e).silver_tables:
            tables[f"silver.{t}"] = ingest
    for t in steps:
        tables[f"gold.{t}"] = f"gold/{t}"
    tables[f"ops.{PROGRESS_TABLE}"] = "gold/progress"
    tables[f"ops.{FRESHNESS_TABLE}"] = "gold/freshness_log"
    paths = {name: loc.name(*name.split(".", 1)) for name in tables}
    return paths, StageMap(tables), steps
