"""Check Databricks job task parameters against the pipeline's own argument parsers.

The stack (Pulumi, TypeScript) declares ``python_wheel_task`` tasks: a console-script entry point
and the command-line parameters it passes. This script resolves each entry point through the
package metadata of whatever ``oms_pipeline`` is importable (the installed wheel, when run with it
on ``PYTHONPATH``), imports the module, calls its ``build_parser()`` and parses the parameters.
Nothing about the options is re-declared on the TypeScript side.

Usage: python check_job_params.py TASKS.json  ->  JSON report on stdout, exit 0 (even when a task
fails to parse: the report says which and why; exit 2 only for unusable input).

Input:  {"tasks": [{"taskKey": "...", "entryPoint": "oms-silver", "parameters": ["--catalog", ...]}]}
Output: {"results": [{"taskKey", "entryPoint", "target", "ok", "error", "args"}],
         "entities": {"orders": ["order_lines"], ...}, "distribution": {"name", "version", "path"},
         "manifest": {"shipped": <oms_pipeline/manifest.json of the importable package>,
                      "package": <the manifest that package builds from its own modules and its
                                  distribution's entry points>}}
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata as metadata
import io
import json
import sys
from typing import Any


def _entry_point(name: str) -> metadata.EntryPoint | None:
    found = metadata.entry_points(group="console_scripts", name=name)
    return next(iter(found), None)


def check_task(task: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "taskKey": task.get("taskKey"),
        "entryPoint": task.get("entryPoint"),
        "target": None,
        "ok": False,
        "error": None,
        "args": None,
    }
    ep = _entry_point(str(task.get("entryPoint")))
    if ep is None:
        result["error"] = f"no console_scripts entry point named {task.get('entryPoint')!r}"
        return result
    result["target"] = ep.value
    module = importlib.import_module(ep.module)
    if not callable(getattr(module, ep.attr, None)):
        result["error"] = f"{ep.value}: {ep.attr} is not a callable of {ep.module}"
        return result
    build_parser = getattr(module, "build_parser", None)
    if build_parser is None:
        result["error"] = f"{ep.module} has no build_parser()"
        return result
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            parsed = build_parser().parse_args([str(p) for p in task.get("parameters", [])])
    except SystemExit:
        result["error"] = stderr.getvalue().strip() or "argument parsing failed"
        return result
    result["ok"] = True
    result["args"] = {k: v for k, v in vars(parsed).items() if isinstance(v, str | int | list)}
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as fh:
        request = json.load(fh)
    from oms_pipeline import manifest
    from oms_pipeline.contracts.entities import CONTRACTS, ENTITIES

    dist = metadata.distribution("oms-pipeline")
    report = {
        "results": [check_task(t) for t in request.get("tasks", [])],
        "entities": {e: list(CONTRACTS[e].silver_tables) for e in ENTITIES},
        "distribution": {
            "name": dist.metadata["Name"],
            "version": dist.version,
            "path": str(dist.locate_file("")),
        },
        "manifest": {
            "shipped": manifest.shipped(),
            "package": manifest.build(manifest.scripts_from_distribution()),
        },
    }
    print(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
