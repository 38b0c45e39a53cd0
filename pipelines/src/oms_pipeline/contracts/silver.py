"""The Silver layout: per landed entity, the Silver tables its stream writes, in write order.

Plain Python (no Spark import). The tables' names, kinds, keys, event-time columns and MERGE guards
have one home, ``silver.toml`` beside this module (its header documents every key); the stack
reads the table names through the package manifest (``oms_pipeline.manifest``). :func:`~oms_pipeline.io.tables.merge_silver` runs the
MERGE a :class:`SilverTable` declares; ``pipeline/silver.py`` computes the rows.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

from oms_pipeline.contracts.ops import IDENTIFIER

CONTRACT_FILE = "silver.toml"
# How errors name the file.
CONTRACT_PATH = f"oms_pipeline/contracts/{CONTRACT_FILE}"

# Kind -> the guards its MERGE may apply (see silver.toml).
GUARDS: dict[str, tuple[str, ...]] = {
    "history": ("insert_only",),
    "state": ("newer", "changed_not_older"),
    "scd2": ("insert_only",),
}
KINDS = tuple(GUARDS)
REQUIRED_KEYS = ("name", "kind", "keys", "event_time", "guard", "change_data_feed")
SCD2_COLUMNS = ("valid_from", "valid_to", "current_flag")
# Kind -> the keys a table of that kind may have.
TABLE_KEYS: dict[str, frozenset[str]] = {
    "history": frozenset(REQUIRED_KEYS),
    "state": frozenset({*REQUIRED_KEYS, "change_column"}),
    "scd2": frozenset({*REQUIRED_KEYS, *SCD2_COLUMNS}),
}


@dataclass(frozen=True)
class SilverTable:
    """One Silver table as ``silver.toml`` declares it (see the file for each field's meaning).

    ``change_column`` is set only for the guard ``changed_not_older``; ``valid_from``,
    ``valid_to`` and ``current_flag`` only for kind ``scd2``.
    """

    entity: str
    name: str
    kind: str
    keys: tuple[str, ...]
    event_time: str
    guard: str
    change_data_feed: bool
    change_column: str | None = None
    valid_from: str | None = None
    valid_to: str | None = None
    current_flag: str | None = None

    @property
    def row_keys(self) -> tuple[str, ...]:
        """The columns that identify a stored row: ``keys``, plus ``valid_from`` for SCD2."""
        return (*self.keys, self.valid_from) if self.valid_from else self.keys

    @property
    def record_keys(self) -> tuple[str, ...]:
        """The columns of the accepted records that identify a row: ``keys``, plus the event
        time for SCD2 (a version starts at its record's event time, its ``valid_from``)."""
        return (*self.keys, self.event_time) if self.valid_from else self.keys


class _Checker:
    """Builds the ValueErrors of one contract file: ``<where>: <key> must be <expected>``."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, expected: str) -> ValueError:
        return ValueError(f"{self.where}: {key} must be {expected}")

    def ident(self, value: object, key: str) -> str:
        if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
            raise self.fail(key, "a lowercase identifier (letters, digits, _)")
        return value


def parse_contract(text: str, where: str) -> dict[str, tuple[SilverTable, ...]]:
    """The Silver layout in ``text`` (TOML): entity -> its tables in write order, checked.

    Raises ValueError naming ``where``, the entity / table and the key, and what is allowed: TOML
    that does not parse, an entity or table with an unknown or missing key, a name or column that
    is not a lowercase identifier, a table declared twice, a kind or guard not allowed, a guard
    ``changed_not_older`` without ``change_column``, an SCD2 table without its range columns, a
    table after the first that is not a state, or follows a table that is not a history (the
    first's history is its only source).
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{where}: not valid TOML: {exc}") from exc
    check = _Checker(where)
    if not doc:
        raise check.fail("the file", "a list of tables per entity ([[<entity>.tables]])")
    layout: dict[str, tuple[SilverTable, ...]] = {}
    seen: set[str] = set()
    for entity, body in doc.items():
        check.ident(entity, f"entity {entity!r}")
        if not isinstance(body, dict) or set(body) != {"tables"}:
            raise check.fail(entity, "a table with one key, tables ([[<entity>.tables]])")
        tables = body["tables"]
        if (
            not isinstance(tables, list)
            or not tables
            or not all(isinstance(t, dict) for t in tables)
        ):
            raise check.fail(f"{entity}.tables", "a non-empty list of tables")
        layout[entity] = tuple(_table(check, entity, i, t, seen) for i, t in enumerate(tables))
        if len(tables) > 1 and layout[entity][0].kind != "history":
            raise check.fail(
                f"{entity}.tables[0] ({layout[entity][0].name}).kind",
                "history when more tables follow (they are current states of its history)",
            )
    return layout


def _table(
    check: _Checker, entity: str, i: int, t: dict[str, object], seen: set[str]
) -> SilverTable:
    """Table ``i`` of ``entity``, checked (see :func:`parse_contract`); adds its name to ``seen``."""
    at = f"{entity}.tables[{i}]"
    for key in REQUIRED_KEYS:
        if key not in t:
            raise check.fail(f"{at}.{key}", f"present (required keys: {', '.join(REQUIRED_KEYS)})")
    name = check.ident(t["name"], f"{at}.name")
    at = f"{entity}.tables[{i}] ({name})"
    if name in seen:
        raise check.fail(f"{at}.name", f"unique ({name} is declared twice)")
    seen.add(name)
    kind = t["kind"]
    if not isinstance(kind, str) or kind not in GUARDS:
        raise check.fail(f"{at}.kind", f"one of {', '.join(KINDS)}, not {kind!r}")
    if i > 0 and kind != "state":
        raise check.fail(
            f"{at}.kind",
            "state: a table after the first is the current state of the first one's history",
        )
    unknown = sorted(set(t) - TABLE_KEYS[kind])
    if unknown:
        allowed = ", ".join(sorted(TABLE_KEYS[kind]))
        raise check.fail(f"{at}.{unknown[0]}", f"absent (keys of a {kind} table: {allowed})")
    keys = t["keys"]
    if not isinstance(keys, list) or not keys:
        raise check.fail(f"{at}.keys", "a non-empty list of column names")
    key_names = tuple(check.ident(k, f"{at}.keys[{j}]") for j, k in enumerate(keys))
    if len(set(key_names)) != len(key_names):
        raise check.fail(f"{at}.keys", f"distinct column names, not {', '.join(key_names)}")
    guard = t["guard"]
    if guard not in GUARDS[kind]:
        allowed = ", ".join(GUARDS[kind])
        raise check.fail(f"{at}.guard", f"one of {allowed} for a {kind} table, not {guard!r}")
    if not isinstance(t["change_data_feed"], bool):
        raise check.fail(f"{at}.change_data_feed", "true or false")
    columns = SCD2_COLUMNS if kind == "scd2" else ()
    if guard == "changed_not_older":
        columns = ("change_column",)
    for column in columns:
        if column not in t:
            raise check.fail(
                f"{at}.{column}", f"present (a {kind} table with guard {guard} names it)"
            )
    if "change_column" in t and guard != "changed_not_older":
        raise check.fail(
            f"{at}.change_column", "absent (only the guard changed_not_older reads it)"
        )
    return SilverTable(
        entity=entity,
        name=name,
        kind=kind,
        keys=key_names,
        event_time=check.ident(t["event_time"], f"{at}.event_time"),
        guard=str(guard),
        change_data_feed=bool(t["change_data_feed"]),
        **{c: check.ident(t[c], f"{at}.{c}") for c in columns},
    )


def check_entities(
    layout: Mapping[str, Iterable[SilverTable]],
    fields: Mapping[str, Iterable[str]],
    where: str,
) -> None:
    """Check the layout against the landed entities' contracts (``fields``: entity -> its field
    names). Raises ValueError naming ``where`` when the entities differ, or when a table's keys,
    or the first table's event time, are not fields of its entity (the first table is made from
    the accepted records; later tables from its history, by the same keys)."""
    if list(layout) != list(fields):
        raise ValueError(
            f"{where}: the entities must be the landed entities {', '.join(fields)}, in that "
            f"order, not {', '.join(layout)}"
        )
    for entity, tables in layout.items():
        known = set(fields[entity])
        for i, table in enumerate(tables):
            at = f"{entity}.tables[{i}] ({table.name})"
            columns = {
                "keys": table.keys,
                **({"event_time": (table.event_time,)} if i == 0 else {}),
            }
            for key, names in columns.items():
                missing = [c for c in names if c not in known]
                if missing:
                    raise ValueError(
                        f"{where}: {at}.{key} must be fields of the {entity} contract "
                        f"({', '.join(sorted(known))}), not {', '.join(missing)}"
                    )


SILVER_TABLES: dict[str, tuple[SilverTable, ...]] = parse_contract(
    resources.files("oms_pipeline.contracts").joinpath(CONTRACT_FILE).read_text(), CONTRACT_PATH
)
