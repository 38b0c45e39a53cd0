"""The package manifest: what the stack needs to know about this package, in one JSON document.

Plain Python (no Spark import). The stack (``components/pipelineManifest.ts``) reads the facts it
deploys the package with from ``manifest.json`` beside this module instead of restating them:

- ``entry_points``: console script -> ``module:function`` (pyproject ``[project.scripts]``);
  ``jobs``: job module (``oms_pipeline.jobs.<module>``) -> its console script;
- ``layers``: the catalog's schemas in data-flow order with their comments (``config.LAYERS``);
- ``volumes``: the Unity Catalog volumes, their schema and purpose, and ``volume_path``, the path
  template ``/Volumes/{catalog}/{schema}/{volume}`` (``config.VOLUMES``);
- ``entities``: per landed entity its contract version, bronze table, Silver tables in write
  order (``contracts/silver.toml``) and quarantine table, each as ``{schema, name(s)}``;
- ``freshness_log``: the Gold freshness log as ``contracts/ops.toml`` declares it (schema, name,
  comment, Delta properties, columns with Spark SQL type, comment and nullability, the alert's
  p95 look-back in minutes), checked by ``contracts.ops`` when the package loads it;
- ``contracts``: the Gold contract's schema and version and the SHA-256 of every contract file
  the package ships (``contracts/*.toml``, ``*.sql``), so a deployed job can be traced to
  the exact contract text.

``manifest.json`` is package data: committed, shipped in the wheel the stack builds (so the
stack reads exactly what the jobs run, and ``pulumi up`` needs no Python), and regenerated from
the sources with ``python -m oms_pipeline.manifest --write``; ``tests/test_manifest.py`` fails
while it is stale. ``python -m oms_pipeline.manifest`` prints the manifest built from the sources
(pyproject.toml beside ``src/``, else the installed distribution's entry points).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as metadata
import json
import sys
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from oms_pipeline import config
from oms_pipeline.contracts import ops
from oms_pipeline.contracts.entities import CONTRACTS
from oms_pipeline.contracts.gold import GOLD_CONTRACT_VERSION, GOLD_SCHEMA

DISTRIBUTION = "oms-pipeline"
PACKAGE = "oms_pipeline"
MANIFEST_FILE = "manifest.json"
# The document's own format; the stack refuses a manifest of another format.
FORMAT = 1
# The package's job entry points are the console scripts whose module is in this package.
JOBS_PACKAGE = f"{PACKAGE}.jobs"
# Where the sources keep pyproject.toml: <pipelines>/src/oms_pipeline/manifest.py.
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
SOURCE_MANIFEST = Path(__file__).resolve().with_name(MANIFEST_FILE)


def scripts_from_pyproject(file: Path = PYPROJECT) -> dict[str, str]:
    """``[project.scripts]`` of ``file``: console script -> ``module:function``.

    Raises ValueError naming the file when it is missing, not TOML, or the table is not one of
    ``"name" = "module:function"`` strings."""
    try:
        doc = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{file}: cannot read pyproject.toml: {exc}") from exc
    scripts = doc.get("project", {}).get("scripts", {})
    if not isinstance(scripts, dict) or not all(isinstance(v, str) for v in scripts.values()):
        raise ValueError(f'{file}: [project.scripts] must be a table of "name" = "module:function"')
    return dict(scripts)


def scripts_from_distribution(name: str = DISTRIBUTION) -> dict[str, str]:
    """The console scripts the installed distribution ``name`` declares (its entry_points.txt)."""
    return {
        ep.name: ep.value
        for ep in metadata.distribution(name).entry_points
        if ep.group == "console_scripts"
    }


def _sha256(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


def build(scripts: Mapping[str, str]) -> dict[str, Any]:
    """The manifest of the package whose console scripts are ``scripts`` (name -> target).

    Everything else comes from the package's own modules and contract files. Raises ValueError
    when a script target is not ``module:function`` or two scripts run the same job module.
    """
    jobs: dict[str, str] = {}
    for script, target in sorted(scripts.items()):
        module, sep, func = target.partition(":")
        if not sep or not module or not func:
            raise ValueError(f"entry point {script} = {target!r} must be 'module:function'")
        parent, _, job = module.rpartition(".")
        if parent == JOBS_PACKAGE:
            if job in jobs:
                raise ValueError(
                    f"entry points {jobs[job]} and {script} both run {module}; one script per job"
                )
            jobs[job] = script
    contract_files = resources.files(f"{PACKAGE}.contracts")
    files = sorted(
        f.name
        for f in contract_files.iterdir()
        if f.is_file() and f.name.endswith((".toml", ".sql"))
    )
    return {
        "format": FORMAT,
        "package": PACKAGE,
        "entry_points": dict(sorted(scripts.items())),
        "jobs": dict(sorted(jobs.items())),
        "layers": [{"name": n, "comment": c} for n, c in config.LAYER_COMMENTS.items()],
        "volume_path": config.VOLUME_PATH,
        "volumes": {
            name: {"schema": schema, "comment": comment}
            for name, (schema, comment) in config.VOLUMES.items()
        },
        "entities": {
            name: {
                "contract_version": c.version,
                "bronze": {"schema": "bronze", "table": config.bronze_table(name)},
                "silver": {"schema": "silver", "tables": list(c.silver_tables)},
                "quarantine": {"schema": ops.OPS_SCHEMA, "table": config.quarantine_table(name)},
            }
            for name, c in CONTRACTS.items()
        },
        "freshness_log": {
            "schema": ops.OPS_SCHEMA,
            "name": ops.FRESHNESS_TABLE,
            "comment": ops.FRESHNESS_COMMENT,
            "properties": dict(sorted(ops.FRESHNESS_PROPERTIES.items())),
            "columns": [
                {"name": c.name, "type": c.type, "comment": c.description, "nullable": c.nullable}
                for c in ops.FRESHNESS_COLUMNS
            ],
            "p95_window_minutes": ops.P95_WINDOW_MINUTES,
        },
        "contracts": {
            "gold": {"schema": GOLD_SCHEMA, "version": GOLD_CONTRACT_VERSION},
            "files": {
                f"contracts/{n}": _sha256(contract_files.joinpath(n).read_bytes()) for n in files
            },
        },
    }


def render(manifest: Mapping[str, Any]) -> str:
    """The manifest as its file holds it: JSON, two-space indent, keys as built, final newline."""
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def shipped() -> dict[str, Any]:
    """The ``manifest.json`` shipped with the importable package (as the stack read it)."""
    return json.loads(resources.files(PACKAGE).joinpath(MANIFEST_FILE).read_text("utf-8"))


def _scripts() -> dict[str, str]:
    return scripts_from_pyproject() if PYPROJECT.is_file() else scripts_from_distribution()


def differences(old: Any, new: Any, path: str = "") -> list[str]:
    """The JSON paths (``entities.orders.contract_version``) where two manifests differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            d
            for key in sorted(old.keys() | new.keys(), key=str)
            for d in differences(old.get(key), new.get(key), f"{path}.{key}" if path else key)
        ]
    return [] if old == new else [path or "(the whole manifest)"]


def stale_message(committed: str | None) -> str:
    """What is stale in ``committed`` (manifest.json's text, None when missing) and the fix."""
    built = build(_scripts())
    where = "missing" if committed is None else ", ".join(differences(json.loads(committed), built))
    return (
        f"{SOURCE_MANIFEST} is stale ({where}): run "
        "`.venv/bin/python -m oms_pipeline.manifest --write` and commit it"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m oms_pipeline.manifest",
        description="Print the package manifest built from the sources, or write manifest.json.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help=f"write {SOURCE_MANIFEST}")
    action.add_argument(
        "--check", action="store_true", help=f"exit 1 when {SOURCE_MANIFEST} is stale"
    )
    args = parser.parse_args(argv)
    text = render(build(_scripts()))
    if args.write:
        SOURCE_MANIFEST.write_text(text, encoding="utf-8")
    elif args.check:
        current = SOURCE_MANIFEST.read_text("utf-8") if SOURCE_MANIFEST.is_file() else None
        if current != text:
            print(stale_message(current), file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
