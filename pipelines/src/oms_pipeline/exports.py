"""Batch exports: a declarative mapping turns a CSV export into canonical landing records.

A mapping (YAML or JSON, one per source system) lists, per landed entity, how each canonical
field is obtained from a CSV row:

- ``{column: "Order ID"}``                     the cell as text
- ``{column: "Order Date", date: timestamp}``  a date cell, parsed with ``date_format`` and
  written as ISO-8601 UTC (``timestamp``) or ``YYYY-MM-DD`` (``date``)
- ``{const: "USD"}``                           a constant
- ``{template: "{Order ID}:SHIPPED"}``          cells substituted into a string
- ``{add_days: {column: "Order Date", lookup: sla_days, key: "Ship Mode"}, date: date}``
                                               a date column plus the days looked up by key

A cell that cannot be parsed is passed through unchanged, so Silver's type checks quarantine the
record with a reason -- an export row is never dropped here.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from dataclasses import dataclass
from typing import Any

import yaml

from oms_pipeline.contracts.entities import get_contract


@dataclass(frozen=True)
class Mapping:
    source: str
    date_format: str
    encoding: str
    delimiter: str
    lookups: dict[str, dict[str, Any]]
    entities: dict[str, dict[str, dict[str, Any]]]

    @property
    def sla_days(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.lookups.get("sla_days", {}).items()}


def load_mapping(path: str) -> Mapping:
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) if path.endswith((".yaml", ".yml")) else json.load(fh)
    csv_opts = raw.get("csv", {})
    mapping = Mapping(
        source=raw["source"],
        date_format=raw.get("date_format", "%Y-%m-%d"),
        encoding=csv_opts.get("encoding", "utf-8"),
        delimiter=csv_opts.get("delimiter", ","),
        lookups=raw.get("lookups", {}),
        entities=raw["entities"],
    )
    for entity, spec in mapping.entities.items():
        contract = get_contract(entity)
        unknown = set(spec["fields"]) - set(contract.field_names)
        if unknown:
            raise ValueError(f"{path}: {entity} maps unknown fields {sorted(unknown)}")
    return mapping


def _date(value: str | None, fmt: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.datetime.strptime(value.strip(), fmt).date()
    except ValueError:
        return None


def _render(d: dt.date, kind: str) -> str:
    return d.isoformat() if kind == "date" else f"{d.isoformat()}T00:00:00Z"


def map_row(row: dict[str, str | None], spec: dict[str, Any], mapping: Mapping) -> dict[str, Any]:
    out: dict[str, Any] = {}
    fmt = mapping.date_format
    for name, rule in spec["fields"].items():
        if "const" in rule:
            out[name] = rule["const"]
        elif "template" in rule:
            out[name] = rule["template"].format_map({k: (v or "") for k, v in row.items()})
        elif "add_days" in rule:
            a = rule["add_days"]
            base = _date(row.get(a["column"]), rule.get("date_format", fmt))
            days = mapping.lookups.get(a["lookup"], {}).get(row.get(a["key"]) or "")
            out[name] = (
                _render(base + dt.timedelta(days=int(days)), rule.get("date", "date"))
                if base is not None and days is not None
                else None
            )
        elif "column" in rule:
            value = row.get(rule["column"])
            if "date" in rule and value is not None:
                parsed = _date(value, rule.get("date_format", fmt))
                out[name] = _render(parsed, rule["date"]) if parsed else value
            else:
                out[name] = value
        else:
            raise ValueError(f"field {name}: no column, const, template or add_days")
    return out


def convert_export(mapping: Mapping, csv_path: str, landing: str) -> dict[str, int]:
    """Write one JSON-lines file per entity under ``landing/<entity>/``; returns record counts."""
    base = os.path.splitext(os.path.basename(csv_path))[0]
    outputs = {}
    handles = {}
    try:
        for entity in mapping.entities:
            folder = os.path.join(landing, entity)
            os.makedirs(folder, exist_ok=True)
            handles[entity] = open(  # noqa: SIM115
                os.path.join(folder, f"{mapping.source}-{base}.jsonl"), "w", encoding="utf-8"
            )
            outputs[entity] = 0
        with open(csv_path, encoding=mapping.encoding, newline="") as fh:
            for row in csv.DictReader(fh, delimiter=mapping.delimiter):
                for entity, spec in mapping.entities.items():
                    record = map_row(row, spec, mapping)
                    handles[entity].write(json.dumps(record, sort_keys=True) + "\n")
                    outputs[entity] += 1
    finally:
        for h in handles.values():
            h.close()
    return outputs
