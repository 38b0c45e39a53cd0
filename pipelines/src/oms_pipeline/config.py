"""Run-time configuration: where tables live (the table locator) and the business settings."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

# The schemas of the catalog, in data-flow order (medallion layers, then pipeline operations),
# with what each holds. The stack creates them from the package manifest (``manifest.py``).
LAYER_COMMENTS: dict[str, str] = {
    "bronze": "Raw OMS records as landed, append-only, with ingestion metadata",
    "silver": "Cleaned, deduplicated and conformed OMS entities",
    "gold": "Business-ready aggregates and facts for BI",
    "ops": "Pipeline operations: quarantined records, checkpoints, landing volume",
}
LAYERS = tuple(LAYER_COMMENTS)

# Unity Catalog volumes of the pipeline: name -> (schema, what it holds). Files in a volume are
# addressed as /Volumes/<catalog>/<schema>/<volume>/<path> ("What are Unity Catalog volumes?").
# Landing files of an entity are under <landing>/<entity>/ (TableLocator.landing); checkpoints
# under <checkpoints>/<layer>/<entity>/... (TableLocator.checkpoint); the stack uploads this
# package's wheels to artifacts. The stack creates them from the package manifest.
VOLUME_PATH = "/Volumes/{catalog}/{schema}/{volume}"
VOLUMES: dict[str, tuple[str, str]] = {
    "landing": ("ops", "Raw OMS extracts, read by the Autoloader streams"),
    "checkpoints": ("ops", "Structured Streaming checkpoints and schema-tracking locations"),
    "artifacts": (
        "ops",
        "Pipeline code the jobs run (content-addressed wheels uploaded by the stack)",
    ),
}


def volume_path(catalog: str, volume: str) -> str:
    """``/Volumes/<catalog>/<schema>/<volume>`` of one of :data:`VOLUMES`; ValueError otherwise."""
    if volume not in VOLUMES:
        raise ValueError(f"unknown volume {volume!r}; expected one of {', '.join(VOLUMES)}")
    return VOLUME_PATH.format(catalog=catalog, schema=VOLUMES[volume][0], volume=volume)


def bronze_table(entity: str) -> str:
    """The bronze table (layer ``bronze``) an entity's records land in, as landed."""
    return entity


def quarantine_table(entity: str) -> str:
    """The table (layer ``ops``) holding an entity's rejected records with their reasons."""
    return f"quarantine_{entity}"


DEFAULT_SLA_DAYS: dict[str, int] = {
    "Same Day": 0,
    "First Class": 2,
    "Second Class": 4,
    "Standard Class": 5,
    "Express": 1,
    "Standard": 5,
    "Economy": 7,
}


@dataclass(frozen=True)
class TableLocator:
    """Maps a (layer, table) to a Unity Catalog name or a local Delta path.

    On Databricks ``catalog`` is set: tables are ``catalog.layer.table``, landing files live in
    the external volume ``/Volumes/<catalog>/ops/landing/<entity>`` and stream checkpoints in
    the managed volume ``/Volumes/<catalog>/ops/checkpoints``. Locally ``lakehouse_root`` is set:
    tables are Delta folders ``<root>/<layer>/<table>`` and checkpoints ``<root>/_checkpoints``.
    """

    catalog: str | None = None
    lakehouse_root: str | None = None
    landing_root: str | None = None
    checkpoint_root: str | None = None

    def __post_init__(self) -> None:
        if bool(self.catalog) == bool(self.lakehouse_root):
            raise ValueError("exactly one of catalog or lakehouse_root must be given")

    @property
    def uses_catalog(self) -> bool:
        return bool(self.catalog)

    def name(self, layer: str, table: str) -> str:
        """Catalog table name or local path of a table."""
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}")
        if self.catalog:
            return f"{self.catalog}.{layer}.{table}"
        assert self.lakehouse_root is not None
        return os.path.join(self.lakehouse_root, layer, table)

    def landing(self, entity: str) -> str:
        if self.landing_root:
            return os.path.join(self.landing_root, entity)
        if self.catalog:
            return f"{volume_path(self.catalog, 'landing')}/{entity}"
        assert self.lakehouse_root is not None
        return os.path.join(self.lakehouse_root, "_landing", entity)

    def checkpoint(self, *parts: str) -> str:
        if self.checkpoint_root:
            root = self.checkpoint_root
        elif self.catalog:
            root = volume_path(self.catalog, "checkpoints")
        else:
            assert self.lakehouse_root is not None
            root = os.path.join(self.lakehouse_root, "_checkpoints")
        return os.path.join(root, *parts)


@dataclass(frozen=True)
class PipelineSettings:
    """Business parameters. Everything time-dependent takes a fixed as-of date (determinism)."""

    as_of_date: dt.date | None = None
    sla_days: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_SLA_DAYS))
    trailing_sales_days: int = 28
    low_stock_days_of_cover: float = 7.0
    min_plausible_ts: str = "2000-01-01 00:00:00"
    max_future_skew_days: int = 1
