"""Landing-file accounting: every file under the landing root is ingested or reported.

``landed = ingested + pending + skipped + ignored`` holds for files as ``bronze = accepted +
quarantined`` holds for records (``docs/landing-files.md``):

- ``ingested``: a file source of the ingest query has read the file, in the version now on disk;
- ``pending``: in an entity folder, not read yet (the next micro-batch takes it);
- ``skipped`` (needs an operator): never read as it is, with a reason --
  ``outside_entity_folder`` (at the landing root or in a folder that names no entity) or
  ``changed_after_ingest`` (overwritten or appended to after bronze read it: only the version
  read is in bronze, the change is not ingested);
- ``ignored``: a name starting with ``_`` or ``.`` in its path (temporary files being written,
  the feed's bookkeeping); Spark file sources and Autoloader skip these by convention
  (``sources.landing.is_hidden``, the rule the landing writer's temporary names follow).

What the stream has read comes from the stream's own file log, so an empty file read is
``ingested`` too: locally the file source's log in the checkpoint (``sources/0``: one JSON entry
per file with its modification time in ms), on Databricks the ``cloud_files_state`` table-valued
function over the Autoloader checkpoint (path, size, create_time).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

from pyspark.sql import SparkSession

from oms_pipeline.config import TableLocator
from oms_pipeline.contracts.entities import ENTITIES
from oms_pipeline.sources.landing import is_hidden

LANDING_FILES_TABLE = "landing_files"
STATUSES = ("ingested", "pending", "skipped", "ignored")
OUTSIDE_ENTITY_FOLDER = "outside_entity_folder"
CHANGED_AFTER_INGEST = "changed_after_ingest"
HIDDEN_NAME = "hidden_name"
_LOG_NAME = re.compile(r"^\d+(\.compact)?$")


@dataclass(frozen=True)
class Seen:
    """A file as the stream read it: modification time (ms) and/or size (bytes) when known."""

    modified_ms: int | None = None
    size: int | None = None


@dataclass(frozen=True)
class LandedFile:
    """One file under the landing root and what became of it."""

    path: str
    entity: str | None
    size: int
    modified_ms: int
    status: str
    reason: str | None = None
    detail: str | None = None


def _local_path(uri: str) -> str:
    """``file:///a/b%20c`` or ``dbfs:/Volumes/x`` -> ``/a/b c`` / ``/Volumes/x``."""
    return unquote(urlparse(uri).path) if ":" in uri.split("/", 1)[0] else uri


def committed_batch(checkpoint: str) -> int:
    """The last micro-batch id the streaming query checkpointed in ``checkpoint`` committed
    (``<checkpoint>/commits/<id>``, written once the batch's sink work is done); -1: none."""
    folder = os.path.join(checkpoint, "commits")
    names = os.listdir(folder) if os.path.isdir(folder) else []
    return max((int(n) for n in names if n.isdigit()), default=-1)


def file_source_log(checkpoint: str, source: int = 0) -> dict[str, Seen]:
    """Files the plain file stream source number ``source`` of a query (its position in the
    query's plan) has read in a committed micro-batch, from ``<checkpoint>/sources/<source>``.

    Each log file holds a version line (``v1``) then one JSON entry per file:
    ``{"path": URI, "timestamp": modification time in ms, "batchId": n}``; compacted logs
    (``N.compact``) repeat every earlier entry. Later entries win. Missing log: nothing read yet.
    The source logs a file when it plans the batch that reads it, before the batch runs: a file
    of a batch past :func:`committed_batch` (a stop or a kill cut it short; the next start runs
    it again) is not read yet.
    """
    folder = os.path.join(checkpoint, "sources", str(source))
    if not os.path.isdir(folder):
        return {}
    committed = committed_batch(checkpoint)
    seen: dict[str, tuple[int, Seen]] = {}
    for name in os.listdir(folder):
        if not _LOG_NAME.match(name):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                entry = json.loads(line)
                path = _local_path(entry["path"])
                batch = int(entry.get("batchId", 0))
                if batch > committed:
                    continue
                if path not in seen or seen[path][0] <= batch:
                    seen[path] = (batch, Seen(modified_ms=int(entry["timestamp"])))
    return {p: s for p, (_b, s) in seen.items()}


def autoloader_log(spark: SparkSession, checkpoint: str) -> dict[str, Seen]:
    """Files the Auto Loader sources of the streaming query checkpointed in ``checkpoint`` have
    discovered, all of them ("cloud_files_state table-valued function": one row per file, with the
    ``source_id`` of the source that read it)."""
    escaped = checkpoint.replace("'", "\\'")
    try:
        rows = spark.sql(
            f"SELECT path, size, create_time FROM cloud_files_state('{escaped}')"
        ).collect()
    except Exception as exc:  # no checkpoint yet: the stream has read nothing
        if "not exist" in str(exc).lower() or "not found" in str(exc).lower():
            return {}
        raise
    return {
        _local_path(r["path"]): Seen(
            modified_ms=int(r["create_time"].timestamp() * 1000) if r["create_time"] else None,
            size=int(r["size"]) if r["size"] is not None else None,
        )
        for r in rows
    }


def _changed(seen: Seen, size: int, modified_ms: int) -> str | None:
    if seen.size is not None and seen.size != size:
        return f"size {seen.size} -> {size} bytes since it was ingested"
    if seen.modified_ms is not None and seen.modified_ms != modified_ms:
        then = dt.datetime.fromtimestamp(seen.modified_ms / 1000, dt.UTC).isoformat()
        now = dt.datetime.fromtimestamp(modified_ms / 1000, dt.UTC).isoformat()
        return f"modified {then} -> {now} since it was ingested"
    return None


def classify(
    landing_root: str, read: dict[str, dict[str, Seen]], entities: Iterable[str] = ENTITIES
) -> list[LandedFile]:
    """Walk ``landing_root`` and classify every file; ``read``: entity -> path -> ``Seen``.

    Files are sorted by path. A missing landing root holds no files.
    """
    entities = set(entities)
    out: list[LandedFile] = []
    for folder, dirs, names in os.walk(landing_root):
        dirs.sort()
        for name in names:
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
            except FileNotFoundError:  # renamed away while we looked (a temp file)
                continue
            size, mtime = st.st_size, st.st_mtime_ns // 1_000_000
            parts = os.path.relpath(path, landing_root).split(os.sep)
            entity = parts[0] if len(parts) > 1 and parts[0] in entities else None
            if any(is_hidden(p) for p in parts):
                out.append(
                    LandedFile(path, entity, size, mtime, "ignored", HIDDEN_NAME,
                               "a name starting with '_' or '.' is not data (temporary or "
                               "bookkeeping file)")
                )  # fmt: skip
            elif entity is None:
                out.append(
                    LandedFile(path, None, size, mtime, "skipped", OUTSIDE_ENTITY_FOLDER,
                               f"not in an entity folder; put it in one of "
                               f"{', '.join(sorted(entities))}")
                )  # fmt: skip
            else:
                seen = read.get(entity, {}).get(path)
                change = _changed(seen, size, mtime) if seen else None
                if seen is None:
                    out.append(LandedFile(path, entity, size, mtime, "pending"))
                elif change:
                    out.append(
                        LandedFile(path, entity, size, mtime, "skipped", CHANGED_AFTER_INGEST,
                                   f"{change}; only the version read is in bronze -- landing "
                                   "files are immutable, drop a correction under a new name")
                    )  # fmt: skip
                else:
                    out.append(LandedFile(path, entity, size, mtime, "ingested"))
    return sorted(out, key=lambda f: f.path)


@dataclass(frozen=True)
class LandingReport:
    files: list[LandedFile]
    root: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(f.status for f in self.files)
        return {"landed": len(self.files), **{s: c.get(s, 0) for s in STATUSES}}

    @property
    def skipped(self) -> list[LandedFile]:
        return [f for f in self.files if f.status == "skipped"]

    def summary(self) -> str:
        c = self.counts
        return (
            f"landing files: {c['landed']} landed = {c['ingested']} ingested + {c['pending']} "
            f"pending + {c['skipped']} skipped + {c['ignored']} ignored"
        )

    def as_status(self, limit: int = 50) -> dict:
        """JSON-ready: counts and the first ``limit`` skipped files (for status and dashboards)."""
        return {
            "counts": self.counts,
            "skipped": [
                {"path": f.path, "entity": f.entity, "reason": f.reason, "detail": f.detail}
                for f in self.skipped[:limit]
            ],
        }


def account(
    spark: SparkSession,
    loc: TableLocator,
    streams: Sequence[tuple[str, Sequence[int]]],
    *,
    use_autoloader: bool,
) -> LandingReport:
    """Classify every file under the landing root against what the streams have read.

    ``streams``: (checkpoint folder of a streaming query, the positions of its file sources).
    A file's entity is its folder, so the files every source read are one set.
    """
    entities = list(ENTITIES)
    seen: dict[str, Seen] = {}
    for checkpoint, sources in streams:
        if use_autoloader:  # one state for every Auto Loader source of the query
            seen.update(autoloader_log(spark, checkpoint))
        else:
            for source in sources:
                seen.update(file_source_log(checkpoint, source))
    root = os.path.dirname(loc.landing(entities[0]).rstrip("/"))
    return LandingReport(classify(root, dict.fromkeys(entities, seen), entities), root)


def record(spark: SparkSession, loc: TableLocator, report: LandingReport) -> list[LandedFile]:
    """Replace ``ops.landing_files`` with ``report``; return the skipped files it did not hold.

    One row per landed file: path, entity, status, reason, detail, size_bytes, modified_at,
    checked_at. The returned files are the ones to raise an alarm for (each alarms once).
    """
    from oms_pipeline.io.tables import overwrite, read_table, table_exists

    known: set[tuple[str, str, int]] = set()
    if table_exists(spark, loc, "ops", LANDING_FILES_TABLE):
        prev = read_table(spark, loc, "ops", LANDING_FILES_TABLE).where("status = 'skipped'")
        known = {
            (r["path"], r["reason"], round(r["modified_at"].timestamp() * 1000))
            for r in prev.select("path", "reason", "modified_at").collect()
        }
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = [
        (f.path, f.entity, f.status, f.reason, f.detail, f.size,
         dt.datetime.fromtimestamp(f.modified_ms / 1000, dt.UTC).replace(tzinfo=None), now)
        for f in report.files
    ]  # fmt: skip
    df = spark.createDataFrame(
        rows,
        "path string, entity string, status string, reason string, detail string, "
        "size_bytes bigint, modified_at timestamp, checked_at timestamp",
    )
    overwrite(df, loc, "ops", LANDING_FILES_TABLE)
    return [f for f in report.skipped if (f.path, f.reason, f.modified_ms) not in known]


def log_report(report: LandingReport, new: list[LandedFile] | None = None) -> None:
    """Print the summary line and one WARNING line per skipped file (console and job logs)."""
    print(report.summary(), flush=True)
    if report.root is not None and not os.path.isdir(report.root):
        # Not an error (nothing landed yet is valid), but a mistyped path looks the same.
        print(
            f"WARNING landing root {report.root} does not exist: nothing has landed there yet; "
            "check the landing path if files were expected",
            flush=True,
        )
    fresh = {f.path for f in new} if new is not None else None
    for f in report.skipped:
        tag = "" if fresh is None or f.path in fresh else " (reported before)"
        print(f"WARNING landing file skipped{tag}: {f.path}: {f.reason}: {f.detail}", flush=True)
