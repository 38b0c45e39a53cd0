"""Plain-Python contract building blocks (no Spark import, so any tool can read a contract)."""

from __future__ import annotations

from dataclasses import dataclass

from oms_pipeline.contracts.silver import SILVER_TABLES, SilverTable


@dataclass(frozen=True)
class Field:
    """One field of a landed record.

    ``type`` is a Spark SQL type name (string, int, bigint, double, boolean, date, timestamp,
    decimal(p,s)). Landed values are kept as text in bronze and cast to ``type`` in silver;
    a value that does not cast is a quarantine reason, never a job failure.
    """

    name: str
    type: str
    description: str
    required: bool = False
    allowed: tuple[str, ...] | None = None
    min_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True)
class EntityContract:
    """The contract of one landed entity (one landing folder, one bronze table)."""

    name: str
    version: int
    description: str
    fields: tuple[Field, ...]
    business_key: tuple[str, ...]
    event_time: str

    @property
    def silver(self) -> tuple[SilverTable, ...]:
        """The Silver tables this entity's stream writes, in write order (``silver.toml``)."""
        return SILVER_TABLES[self.name]

    @property
    def silver_tables(self) -> tuple[str, ...]:
        """The names of :attr:`silver`."""
        return tuple(t.name for t in self.silver)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    @property
    def required_fields(self) -> list[str]:
        return [f.name for f in self.fields if f.required]

    def schema_hints(self) -> str:
        """Autoloader ``cloudFiles.schemaHints``: every contract field as STRING (bronze is raw)."""
        return ", ".join(f"{f.name} STRING" for f in self.fields)
