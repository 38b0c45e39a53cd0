"""Run-time configuration: where tables live (the table locator) and the business settings."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

LAYERS = ("bronze", "silver", "gold", "ops")

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
            return f"/Volumes/{self.catalog}/ops/landing/{entity}"
        assert self.lakehouse_root is not None
        return os.path.join(self.lakehouse_root, "_landing", entity)

    def checkpoint(self, *parts: str) -> str:
        if self.checkpoint_root:
            root = self.checkpoint_root
        elif self.catalog:
            root = f"/Volumes/{self.catalog}/ops/checkpoints"
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
