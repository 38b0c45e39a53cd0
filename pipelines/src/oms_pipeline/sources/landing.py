"""The one landing-file writer and naming scheme of every producer (generator, feed, CSV import).

Names: ``<landing>/<entity>/<source>-<run>-<part>.jsonl`` -- ``source`` the producer
(``generated``, ``feed``, a mapping's ``source``), ``run`` what it produced (a seed, an export's
name), ``part`` the piece of it (a file number, a batch number, an export's content digest, so
a corrected export is a new file). A landed file is never rewritten: a correction is a new name.

Writes are atomic: the content goes to ``.<name>.<pid>.tmp`` in the same folder, is fsync'ed and
renamed into place, then the folder is fsync'ed. Spark's file sources and Autoloader skip names
starting with ``.`` or ``_`` (the Hadoop hidden-file filter), so the pipeline never reads a
partial file; ``io.landing_files`` reports such names as ``ignored`` by the same rule.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable

SUFFIX = ".jsonl"
# ``.<landed name>.<pid>.tmp``: a landing file being written by process ``pid``.
TEMP_RE = re.compile(r"^\.(?P<name>.+\.jsonl)\.(?P<pid>\d+)\.tmp$")


def is_hidden(part: str) -> bool:
    """Whether a path component is skipped by the file readers (temporary or bookkeeping)."""
    return part.startswith((".", "_")) or part.endswith("._COPYING_")


def landing_name(source: str, run: str, part: str) -> str:
    """``<source>-<run>-<part>.jsonl``; raises ``ValueError`` naming a component that is empty,
    holds a path separator, or (``source``) would hide the file (a leading ``.`` or ``_``)."""
    for label, value in (("source", source), ("run", run), ("part", part)):
        if not value or "/" in value or os.sep in value or (label == "source" and is_hidden(value)):
            raise ValueError(
                f"landing file {label} {value!r}: must be non-empty, without '/', and the source "
                "must not start with '.' or '_' (the readers skip such names)"
            )
    return f"{source}-{run}-{part}{SUFFIX}"


def landing_path(landing: str, entity: str, name: str) -> str:
    return os.path.join(landing, entity, name)


class LandingFileExists(FileExistsError):
    """A file about to land has a name already landed: a landed file is never rewritten."""


def refuse_landed(paths: Iterable[str], hint: str) -> None:
    """Raise ``LandingFileExists`` naming the first of ``paths`` that already exists, and
    ``hint`` (what to do instead); called before anything of a run is written."""
    for path in paths:
        if os.path.lexists(path):
            raise LandingFileExists(
                f"{path} already exists; a landed file is never rewritten (a file stream does "
                f"not read it again, so the lakehouse would no longer match the landing folder): "
                f"{hint}"
            )


class PendingFile:
    """A landing file being written under its temporary name; ``commit`` lands it atomically,
    ``discard`` removes it. Several can be committed together (an import's entity files)."""

    def __init__(self, final: str) -> None:
        self.final = final
        folder, name = os.path.split(final)
        os.makedirs(folder or ".", exist_ok=True)
        self.temp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
        self._fh = open(self.temp, "w", encoding="utf-8")  # noqa: SIM115 (closed by commit/discard)

    def write_lines(self, lines: Iterable[str]) -> None:
        self._fh.writelines(line + "\n" for line in lines)

    def commit(self) -> str:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self.temp, self.final)
        _fsync_dir(os.path.dirname(self.final))
        return self.final

    def discard(self) -> None:
        self._fh.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.temp)


def _fsync_dir(folder: str) -> None:
    """Persist a rename (POSIX: the directory entry); a no-op where folders cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(folder or ".", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_landing_file(final: str, lines: Iterable[str]) -> str:
    """Land ``lines`` (one record each, newline-terminated) at ``final`` atomically."""
    pending = PendingFile(final)
    try:
        pending.write_lines(lines)
        return pending.commit()
    finally:
        pending.discard()  # after a commit: nothing left to remove


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (POSIX; elsewhere every process counts as alive)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def remove_stale_temps(folders: Iterable[str], name: str) -> list[str]:
    """Remove temporaries left in ``folders`` by a killed writer; returns their paths.

    A temporary is stale when it belongs to the file landing as ``name`` (the caller is about to
    write it again) or to a process that no longer exists. Another live writer's files are kept.
    """
    removed = []
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        for entry in os.listdir(folder):
            m = TEMP_RE.match(entry)
            if m and (m["name"] == name or not _alive(int(m["pid"]))):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(folder, entry))
                    removed.append(os.path.join(folder, entry))
    return removed
