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

Options for real exports (see pipelines/README.md, "CSV exports and mappings"):

- ``placeholders: ["N/A", "Date Not Captured"]`` (top level, and per field to add more): a cell
  equal to one of them (ignoring case and surrounding blanks) is no value;
- ``date_format`` (top level or per field) is one format or a list tried in order;
- ``fallback: <rule>`` on a field: the rule used when the field's own cell is blank or a
  placeholder (e.g. another date column).

Guarantees:

- a byte-order mark is removed from the header whatever the declared encoding;
- every column a mapping reads must be in the header, else the import is refused before any row
  is written (the error names the missing columns and the headers found);
- an import never changes what a value means: a date cell that no declared format parses
  exactly is passed through as landed, and Silver quarantines it (``invalid_type:<field>``);
  numbers are passed as text and Silver's exact type checks decide;
- the landing folder never holds part of an import: each entity file is written under a hidden
  temporary name (which the landing readers skip) and renamed when the whole export converted;
- the output name carries a digest of the export and the mapping, so a corrected export is a new
  file; importing the same export again lands only the entity files that are missing (an import
  killed between its renames is completed) and is refused with ``ExportAlreadyImported`` once
  every entity file has landed;
- temporary files left by a killed import (of the same export, or of a process that no longer
  exists) are removed when the next import starts;
- bytes that are not in the declared encoding raise ``ExportEncodingError`` naming the file, the
  encoding, the byte offset and the supported encodings (``SUPPORTED_ENCODINGS``).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import itertools
import json
import os
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from oms_pipeline.contracts.entities import ENTITIES, get_contract
from oms_pipeline.sources import landing as L

BOM = "\ufeff"

# ``csv.encoding`` values a mapping may declare: the Unicode encodings (any byte order, with or
# without a BOM) and the Western single-byte encodings that Excel and older systems export.
SUPPORTED_ENCODINGS = (
    "utf-8",
    "utf-8-sig",
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "utf-32",
    "utf-32-le",
    "utf-32-be",
    "cp1252",
    "latin-1",
)

# What an import refuses with a message that names the problem (bad header, wrong encoding,
# unsupported encoding, already imported, missing file): entry points print it, not a traceback.
IMPORT_ERRORS = (ValueError, OSError)


class ExportAlreadyImported(FileExistsError):
    """The same export, converted by the same mapping, is already in the landing folder."""


class ExportEncodingError(ValueError):
    """The export holds bytes that are not in the mapping's declared encoding."""


@dataclass(frozen=True)
class Mapping:
    source: str
    date_format: str | list[str]
    encoding: str
    delimiter: str
    lookups: dict[str, dict[str, Any]]
    entities: dict[str, dict[str, dict[str, Any]]]
    placeholders: tuple[str, ...] = ()
    digest: str = field(default="", compare=False)

    @property
    def sla_days(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.lookups.get("sla_days", {}).items()}


class _Strict(BaseModel):
    """A mapping node: no coercion, and a key it does not know is refused naming the allowed."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = set(cls.model_fields)
            unknown = sorted(str(k) for k in data if k not in allowed)
            if unknown:
                raise ValueError(f"unknown key(s) {unknown}; allowed: {', '.join(sorted(allowed))}")
        return data


class AddDays(_Strict):
    """``{column, lookup, key}``: the date in ``column`` plus ``lookups[lookup][row[key]]`` days."""

    column: str
    lookup: str
    key: str


class FieldRule(_Strict):
    """How one canonical field is obtained: exactly one of column, const, template, add_days."""

    column: str | None = None
    const: str | int | float | bool | None = None
    template: str | None = None
    add_days: AddDays | None = None
    date: Literal["timestamp", "date"] | None = None
    date_format: str | list[str] | None = None
    placeholders: list[str] | None = None
    fallback: FieldRule | None = None

    @field_validator("template")
    @classmethod
    def _valid_template(cls, value: str | None) -> str | None:
        if value is not None:
            try:  # as a conversion renders it, with every named column blank
                value.format_map(_AnyColumn())
            except (ValueError, AttributeError, IndexError, KeyError, TypeError) as e:
                raise ValueError(
                    f"{value!r} is not a valid template ({e}); a column is written "
                    "{Column name}, a literal brace {{ or }}"
                ) from None
        return value

    @model_validator(mode="after")
    def _one_source(self) -> FieldRule:
        sources = [k for k in _RULE_SOURCES if k in self.model_fields_set]
        if len(sources) != 1:
            raise ValueError(
                f"a field rule needs exactly one of {', '.join(_RULE_SOURCES)}; found "
                f"{sources or 'none'}"
            )
        return self


_RULE_SOURCES = ("column", "const", "template", "add_days")


class _AnyColumn(dict):
    """Every column a template names, as the blank cell a conversion may meet."""

    def __missing__(self, key: str) -> str:
        return ""


class EntityMapping(_Strict):
    fields: dict[str, FieldRule]


class CsvOptions(_Strict):
    encoding: str = "utf-8"
    delimiter: str = ","

    @field_validator("encoding")
    @classmethod
    def _supported_encoding(cls, value: str) -> str:
        if not _supported(value):
            raise ValueError(
                f"{value!r} is not supported; use one of {', '.join(SUPPORTED_ENCODINGS)}"
            )
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError(f"{value!r} is not one character (e.g. ',', ';' or a tab)")
        return value


class MappingSchema(_Strict):
    """The typed schema of a mapping file; entity and field names come from the contracts."""

    source: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]
    date_format: str | list[str] = "%Y-%m-%d"
    csv: CsvOptions = CsvOptions()
    placeholders: list[str] = []
    lookups: dict[str, dict[str, int]] = {}
    entities: dict[str, EntityMapping]

    @field_validator("entities")
    @classmethod
    def _some_entity(cls, value: dict[str, EntityMapping]) -> dict[str, EntityMapping]:
        if not value:
            raise ValueError(f"needs at least one entity; allowed: {', '.join(ENTITIES)}")
        return value

    @model_validator(mode="after")
    def _contract_names(self) -> MappingSchema:
        problems = []
        for entity, spec in self.entities.items():
            if entity not in ENTITIES:
                problems.append(
                    f"entities.{entity}: unknown entity; allowed: {', '.join(ENTITIES)}"
                )
                continue
            contract = get_contract(entity)
            allowed = contract.field_names
            absent = [f for f in contract.required_fields if f not in spec.fields]
            if absent:
                problems.append(
                    f"entities.{entity}: missing required field(s) {', '.join(absent)}; the "
                    f"contract requires: {', '.join(contract.required_fields)}"
                )
            unknown = sorted(set(spec.fields) - set(allowed))
            if unknown:
                problems.append(
                    f"entities.{entity}.fields: unknown field(s) {unknown}; allowed: "
                    f"{', '.join(allowed)}"
                )
            for name, rule in spec.fields.items():
                while rule is not None:
                    if rule.add_days is not None and rule.add_days.lookup not in self.lookups:
                        problems.append(
                            f"entities.{entity}.fields.{name}.add_days.lookup: "
                            f"{rule.add_days.lookup!r} is not under lookups; defined: "
                            f"{', '.join(self.lookups) or 'none'}"
                        )
                    rule = rule.fallback
        if problems:
            raise ValueError("; ".join(problems))
        return self


class MappingError(ValueError):
    """A mapping file that does not fit ``MappingSchema``: every problem with its key path."""


def _describe(err: ValidationError, path: str) -> MappingError:
    problems = []
    for e in err.errors(include_url=False):
        where = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-"))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] not in ("value_error", "assertion_error", "missing") and "input" in e:
            msg += f" (got {_shown(e['input'])})"
        # the contract checks name their own key paths (entities.<entity>...)
        problems.append(
            msg if not where and msg.startswith("entities.") else f"{where or 'top level'}: {msg}"
        )
    return MappingError(f"{path}: invalid mapping: " + "; ".join(problems))


def _shown(value: Any) -> str:
    """A wrong input as an error shows it: in full when short, else only what it is."""
    text = repr(value)
    if len(text) <= 60:
        return text
    if isinstance(value, dict):
        return f"a mapping of {len(value)} key(s)"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    return text[:57] + "..."


def load_mapping(path: str) -> Mapping:
    """Read and validate a mapping file (YAML or JSON, UTF-8) against ``MappingSchema``.

    Raises ``MappingError`` (a ``ValueError``) naming each bad key path and what is allowed:
    unknown keys, missing keys, wrong types, no entity, unknown entities or fields, a field the
    entity's contract requires left out, a template that does not parse, an unsupported
    ``csv.encoding``.
    """
    with open(path, "rb") as fb:
        content = fb.read()
    try:
        text = content.decode("utf-8")
        raw = yaml.safe_load(text) if path.endswith((".yaml", ".yml")) else json.loads(text)
    except yaml.MarkedYAMLError as e:  # where and what, without the parser's excerpt
        at = e.problem_mark
        where = f"line {at.line + 1}, column {at.column + 1}: " if at else ""
        raise MappingError(f"{path}: not valid YAML: {where}{e.problem or e.context}") from None
    except (UnicodeDecodeError, yaml.YAMLError, json.JSONDecodeError) as e:
        raise MappingError(f"{path}: not a UTF-8 YAML or JSON mapping: {e}") from None
    try:
        schema = MappingSchema.model_validate(raw)
    except ValidationError as e:
        raise _describe(e, path) from None
    return Mapping(
        source=schema.source,
        date_format=schema.date_format,
        encoding=schema.csv.encoding,
        delimiter=schema.csv.delimiter,
        lookups=schema.lookups,
        entities={
            e: {"fields": {n: r.model_dump(exclude_unset=True) for n, r in s.fields.items()}}
            for e, s in schema.entities.items()
        },
        placeholders=tuple(schema.placeholders),
        digest=hashlib.sha256(content).hexdigest(),
    )


def _supported(encoding: str) -> bool:
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    return name in {codecs.lookup(e).name for e in SUPPORTED_ENCODINGS}


def _rule_columns(rule: dict[str, Any]) -> Iterator[str]:
    """Every CSV column a field rule reads (its fallbacks included)."""
    if "column" in rule:
        yield rule["column"]
    if "add_days" in rule:
        yield rule["add_days"]["column"]
        yield rule["add_days"]["key"]
    if "template" in rule:
        yield from (n for _, n, _, _ in string.Formatter().parse(rule["template"]) if n)
    if "fallback" in rule:
        yield from _rule_columns(rule["fallback"])


def check_header(mapping: Mapping, header: list[str]) -> None:
    """Refuse a mapping that reads a column the export does not have.

    Raises ``ValueError`` naming each missing column (with the entity field that reads it) and
    the headers found.
    """
    present = set(header)
    missing = sorted(
        {
            (column, f"{entity}.{name}")
            for entity, spec in mapping.entities.items()
            for name, rule in spec["fields"].items()
            for column in _rule_columns(rule)
            if column not in present
        }
    )
    if missing:
        wanted = ", ".join(f"{c!r} (for {f})" for c, f in missing)
        raise ValueError(
            f"mapping {mapping.source!r} reads columns missing from the export header: {wanted}; "
            f"headers found: {header}"
        )


def _formats(rule: dict[str, Any], mapping: Mapping) -> list[str]:
    fmt = rule.get("date_format", mapping.date_format)
    return [fmt] if isinstance(fmt, str) else list(fmt)


def _date(value: str, formats: list[str]) -> dt.date | None:
    """The date of ``value`` under the first format that parses all of it, else None.

    A four-digit-year format (``%Y``) does not accept a short year ("1/2/17" is not 0017).
    """
    for fmt in formats:
        try:
            parsed = dt.datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
        if "%Y" in fmt and parsed.year < 1000:
            continue
        return parsed
    return None


def _render(d: dt.date, kind: str) -> str:
    return d.isoformat() if kind == "date" else f"{d.isoformat()}T00:00:00Z"


def _is_placeholder(value: str, tokens: set[str]) -> bool:
    return value.strip().casefold() in tokens


def _value(name: str, rule: dict[str, Any], row: dict[str, str | None], mapping: Mapping) -> Any:
    tokens = {t.strip().casefold() for t in (*mapping.placeholders, *rule.get("placeholders", ()))}

    def cell(column: str) -> str | None:
        v = row.get(column)
        return None if v is None or v.strip() == "" or _is_placeholder(v, tokens) else v

    if "const" in rule:
        out = rule["const"]
    elif "template" in rule:
        out = rule["template"].format_map({k: (v or "") for k, v in row.items()})
    elif "add_days" in rule:
        a = rule["add_days"]
        base_text = cell(a["column"])
        base = _date(base_text, _formats(rule, mapping)) if base_text is not None else None
        days = mapping.lookups.get(a["lookup"], {}).get(row.get(a["key"]) or "")
        out = None
        if base_text is not None and base is None:
            out = base_text  # not a date: landed as is, Silver quarantines it
        elif base is not None and days is not None:
            try:
                out = _render(base + dt.timedelta(days=int(days)), rule.get("date", "date"))
            except OverflowError:
                out = base_text  # beyond year 9999: Silver rejects the text
    elif "column" in rule:
        out = cell(rule["column"])
        if "date" in rule and out is not None:
            parsed = _date(out, _formats(rule, mapping))
            out = _render(parsed, rule["date"]) if parsed else out
    else:
        raise ValueError(f"field {name}: no column, const, template or add_days")
    if out is None and "fallback" in rule:
        fallback = {"date": rule["date"]} if "date" in rule else {}
        return _value(name, fallback | rule["fallback"], row, mapping)
    return out


def map_row(row: dict[str, str | None], spec: dict[str, Any], mapping: Mapping) -> dict[str, Any]:
    return {name: _value(name, rule, row, mapping) for name, rule in spec["fields"].items()}


def _rows(fh: Any, mapping: Mapping) -> Iterator[dict[str, str | None]]:
    """CSV rows as dicts, after the header check; a leading BOM is dropped for any encoding."""
    lines = iter(fh)
    first = next(lines, "")
    lines = itertools.chain([first.removeprefix(BOM)], lines)
    reader = csv.DictReader(lines, delimiter=mapping.delimiter)
    check_header(mapping, list(reader.fieldnames or []))
    yield from reader


def export_digest(mapping: Mapping, csv_path: str) -> str:
    """12 hex digits of sha256(mapping file + export bytes): names one conversion."""
    h = hashlib.sha256(mapping.digest.encode())
    with open(csv_path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def _encoding_error(csv_path: str, encoding: str) -> ExportEncodingError:
    """The first byte of ``csv_path`` that ``encoding`` cannot decode, as a readable error."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    reason = "cannot be decoded"
    with open(csv_path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                offset += e.start - pending
                reason = e.reason
                break
            offset += len(chunk)
    return ExportEncodingError(
        f"{csv_path}: byte offset {offset} is not valid {encoding} ({reason}), the encoding "
        f"the mapping declares; set `encoding:` under `csv:` in the mapping to the export's "
        f"encoding, one of {', '.join(SUPPORTED_ENCODINGS)}"
    )


def convert_export(mapping: Mapping, csv_path: str, landing: str) -> dict[str, int]:
    """Write one JSON-lines file per entity under ``landing/<entity>/``; returns record counts.

    Files are named ``<source>-<export name>-<digest>.jsonl`` (``sources.landing``'s scheme) and
    appear only when the whole export converted (``sources.landing.PendingFile``: temporary
    hidden names, fsync, then an atomic rename per entity). An
    entity file already landed by an earlier import of the same export (same digest, so same
    content) is kept and not counted: a re-import lands only the missing ones.
    Raises ``ExportAlreadyImported`` when every entity file of this export and mapping already
    landed, ``ValueError`` for a header the mapping does not fit, ``ExportEncodingError`` (a
    ``ValueError``) for bytes not in the declared encoding; on any error nothing new is left in
    the landing folder.
    """
    base = os.path.splitext(os.path.basename(csv_path))[0]
    name = L.landing_name(mapping.source, base, export_digest(mapping, csv_path))
    L.remove_stale_temps([os.path.join(landing, e) for e in mapping.entities], name)
    finals = {e: L.landing_path(landing, e, name) for e in mapping.entities}
    missing = [e for e, p in finals.items() if not os.path.exists(p)]
    if not missing:
        raise ExportAlreadyImported(
            f"{csv_path} was already imported with this mapping: {', '.join(finals.values())}; "
            "a corrected export (different content) lands as a new file"
        )
    outputs = dict.fromkeys(missing, 0)
    pending: dict[str, L.PendingFile] = {}
    try:
        for entity in missing:
            pending[entity] = L.PendingFile(finals[entity])
        with open(csv_path, encoding=mapping.encoding, newline="") as fh:
            try:
                for row in _rows(fh, mapping):
                    for entity in missing:
                        record = map_row(row, mapping.entities[entity], mapping)
                        pending[entity].write_lines([json.dumps(record, sort_keys=True)])
                        outputs[entity] += 1
            except UnicodeDecodeError:
                raise _encoding_error(csv_path, mapping.encoding) from None
        for p in pending.values():
            p.commit()
    finally:
        for p in pending.values():
            p.discard()  # after a commit: nothing left to remove
    return outputs
