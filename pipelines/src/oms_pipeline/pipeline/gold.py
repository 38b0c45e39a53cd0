"""Gold refresh as declared steps: reprocess only the keys and dates touched since the last refresh.

Silver tables carry a change data feed. A refresh reads each feed from the version after the one
it last consumed (kept in ``ops.gold_progress``) and runs the steps of ``GOLD_STEPS`` in dependency
order. A step names the Gold table it writes, what it reads, the key set that says which of its rows
to rebuild, how to build them, and which of the table's rows it may delete. Key sets
(``KEY_SETS``) are derived once per refresh from the change feeds -- from pre- and post-images, so
a row that moved clears its old key too. Adding a Gold table is adding one step; the Gold views
(daily sales and shipment SLA aggregates, ``contracts/<view>.sql``) are computed at query time
and have no step.

A step reads a Gold or Silver table only if it declares it as an input: ``GoldContext`` refuses
any other read, so no table is re-read in the middle of a refresh by accident.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Literal

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from oms_pipeline.config import PipelineSettings, TableLocator
from oms_pipeline.contracts.gold import GOLD_BY_NAME
from oms_pipeline.contracts.silver import CONTRACT_PATH as SILVER_CONTRACT
from oms_pipeline.contracts.silver import SILVER_TABLES, SilverTable
from oms_pipeline.io.tables import (
    current_version,
    merge_scoped,
    overwrite,
    read_changes,
    read_table,
    table_exists,
)
from oms_pipeline.transforms import gold as G

PROGRESS_TABLE = "gold_progress"
# The Silver tables Gold consumes (their change feeds); each must be declared in silver.toml.
SOURCES = ("order_lines", "shipments", "inventory_stock", "customers")


def check_sources(
    sources: tuple[str, ...], layout: Mapping[str, tuple[SilverTable, ...]] = SILVER_TABLES
) -> None:
    """Raise ValueError naming the Silver contract when Gold reads a table it does not declare
    (a table renamed in silver.toml must be renamed here too, or every import fails)."""
    declared = [t.name for tables in layout.values() for t in tables]
    unknown = [s for s in sources if s not in declared]
    if unknown:
        raise ValueError(
            f"Gold reads Silver tables {', '.join(unknown)} that {SILVER_CONTRACT} does not "
            f"declare (it declares {', '.join(declared)})"
        )


check_sources(SOURCES)


@dataclass
class RefreshReport:
    """What one refresh did: ``full`` rebuild or incremental, the Silver versions it consumed
    (and those the previous refresh had consumed, absent for a table never consumed), the size
    of each affected key set (rows), and seconds per step (the refresh's profile)."""

    full: bool
    versions: dict[str, int]
    previous_versions: dict[str, int] = field(default_factory=dict)
    affected_orders: int = 0
    affected_shipments: int = 0
    affected_customers: int = 0
    affected_products: int = 0
    step_seconds: dict[str, float] = field(default_factory=dict)
    # Rows each step upserted or deleted; 0: its rows were as Gold held them (nothing committed).
    step_rows: dict[str, int] = field(default_factory=dict)


# --- declarations ----------------------------------------------------------------------------
Build = Callable[["GoldContext", DataFrame | None], DataFrame | None]


@dataclass(frozen=True)
class KeySet:
    """Keys affected by this refresh: one column, derived from the change feeds and other inputs.

    ``derive`` returns None when nothing of its kind can be affected (no input changed), else a
    frame of key values (possibly empty).
    """

    name: str
    inputs: tuple[str, ...]
    derive: Callable[[GoldContext], DataFrame | None]


@dataclass(frozen=True)
class GoldStep:
    """One Gold table's refresh.

    - ``inputs``: ``silver.<t>``, ``gold.<t>`` and ``keys.<k>`` it reads (order and access check);
    - ``keys``: the key set whose rows are rebuilt (None: the whole table, every refresh); the
      step is skipped when that key set is None or empty;
    - ``build(ctx, keys)``: the rebuilt rows (any column order; conformed to the contract), or
      None when an input it needs does not exist yet;
    - ``delete``: which target rows missing from the build are deleted -- ``none`` (upsert only),
      ``keys`` (rows inside the key set), ``all``; ``full_delete`` the same on a full refresh.
    """

    table: str
    inputs: tuple[str, ...]
    build: Build
    keys: str | None = None
    delete: Literal["none", "keys", "all"] = "none"
    full_delete: Literal["none", "keys", "all"] | None = None
    full_rebuild: bool = False  # on a full refresh, build from everything (keys=None)

    @property
    def merge_keys(self) -> list[str]:
        return list(GOLD_BY_NAME[self.table].primary_key)


# --- the refresh context ---------------------------------------------------------------------
class UndeclaredInput(RuntimeError):
    """A step or key set read a table or key set it does not declare in ``inputs``."""


class GoldContext:
    """What steps read: Silver tables and change feeds, Gold tables and key sets, each checked
    against the ``inputs`` of the step (or key set) being evaluated."""

    def __init__(
        self,
        spark: SparkSession,
        loc: TableLocator,
        settings: PipelineSettings,
        as_of: dt.date,
        full: bool,
        changes: dict[str, DataFrame | None],
    ) -> None:
        self.spark, self.loc, self.settings = spark, loc, settings
        self.as_of, self.full, self.changes = as_of, full, changes
        self.sla = G.sla_frame(spark, settings)
        self._silver: dict[str, DataFrame | None] = {}
        self._keys: dict[str, DataFrame | None] = {}
        self.key_counts: dict[str, int] = {}
        self.rows_written: dict[str, int] = {}
        self._declared: tuple[str, ...] = ()

    def _check(self, name: str) -> None:
        if name not in self._declared:
            raise UndeclaredInput(f"{name} is read but not declared in inputs {self._declared}")

    def silver(self, table: str) -> DataFrame | None:
        """The whole Silver table (None until it exists)."""
        self._check(f"silver.{table}")
        if table not in self._silver:
            self._silver[table] = (
                read_table(self.spark, self.loc, "silver", table)
                if table_exists(self.spark, self.loc, "silver", table)
                else None
            )
        return self._silver[table]

    def changed(self, table: str) -> DataFrame | None:
        """Silver rows changed since the last refresh (all rows on a full one); None: no change."""
        self._check(f"silver.{table}")
        return self.changes.get(table)

    def gold(self, table: str) -> DataFrame | None:
        """The Gold table as of now (None until it exists)."""
        self._check(f"gold.{table}")
        if not table_exists(self.spark, self.loc, "gold", table):
            return None
        return read_table(self.spark, self.loc, "gold", table)

    def keys(self, name: str) -> DataFrame | None:
        """A key set, derived on first use (distinct, checkpointed) and counted."""
        self._check(f"keys.{name}")
        if name not in self._keys:
            key_set = KEY_SETS[name]
            outer, self._declared = self._declared, key_set.inputs
            try:
                self._set_keys(name, key_set.derive(self))
            finally:
                self._declared = outer
        return self._keys.get(name)

    def _set_keys(self, name: str, frame: DataFrame | None) -> None:
        if frame is not None:
            frame = frame.distinct().localCheckpoint()
            self.key_counts[name] = frame.count()
        self._keys[name] = frame

    def run(self, step: GoldStep) -> None:
        """Evaluate one step: keys, build, one MERGE of the rows that changed."""
        self._declared = step.inputs
        full = self.full and step.full_rebuild
        keys = None if full or step.keys is None else self.keys(step.keys)
        if step.keys is not None and not full and (keys is None or not self.key_counts[step.keys]):
            return
        built = step.build(self, keys)
        if built is None:
            return
        rows = _conform(built, step.table).localCheckpoint()
        delete = (step.full_delete or step.delete) if self.full else step.delete
        scope: DataFrame | str | None = {"none": None, "all": "all", "keys": keys}[delete]
        self.rows_written[step.table] = merge_scoped(
            self.spark, self.loc, "gold", step.table, rows, step.merge_keys, scope=scope
        )


def _union(*frames: DataFrame | None) -> DataFrame | None:
    """The union (by column name) of the frames that exist, or None when there are none."""
    present = [f for f in frames if f is not None]
    if not present:
        return None
    out = present[0]
    for frame in present[1:]:
        out = out.unionByName(frame)
    return out


def _conform(df: DataFrame, table: str) -> DataFrame:
    """Select and cast to the Gold contract (column order and types)."""
    t = GOLD_BY_NAME[table]
    return df.select(*[F.col(c.name).cast(c.type).alias(c.name) for c in t.columns])


def _semi(df: DataFrame | None, keys: DataFrame | None, on: str) -> DataFrame | None:
    """``df`` rows whose ``on`` is in ``keys`` (its single column, renamed to ``on``)."""
    if df is None or keys is None:
        return None
    return df.join(keys.withColumnRenamed(keys.columns[0], on), on, "left_semi")


# --- key sets --------------------------------------------------------------------------------
def _changed_customers(ctx: GoldContext) -> DataFrame | None:
    ch = ctx.changed("customers")
    return ch.select("customer_id") if ch is not None else None


def _orders(ctx: GoldContext) -> DataFrame | None:
    """Orders whose lines changed, and orders of customers whose versions changed."""
    lines = ctx.changed("order_lines")
    of_customers = _semi(ctx.silver("order_lines"), ctx.keys("changed_customers"), "customer_id")
    return _union(
        lines.select("order_id") if lines is not None else None,
        of_customers.select("order_id") if of_customers is not None else None,
    )


def _shipments(ctx: GoldContext) -> DataFrame | None:
    """Shipments that changed, and shipments of affected orders (their header may have moved)."""
    ch = ctx.changed("shipments")
    of_orders = _semi(ctx.silver("shipments"), ctx.keys("orders"), "order_id")
    return _union(
        ch.select("shipment_id") if ch is not None else None,
        of_orders.select("shipment_id") if of_orders is not None else None,
    )


def _customers(ctx: GoldContext) -> DataFrame | None:
    """Customers whose versions changed, and customers of affected orders (as now in Gold)."""
    of_orders = _semi(ctx.gold("fact_order_lines"), ctx.keys("orders"), "order_id")
    return _union(
        ctx.keys("changed_customers"),
        of_orders.select("customer_id") if of_orders is not None else None,
    )


def _products(ctx: GoldContext) -> DataFrame | None:
    """Products sold on changed lines or stocked in changed stock rows."""
    return _union(
        *[
            ch.select(F.col("sku").alias("product_id"))
            for ch in (ctx.changed("order_lines"), ctx.changed("inventory_stock"))
            if ch is not None
        ]
    )


def _differing(
    ctx: GoldContext, dim: str, key: str, candidates: list[DataFrame]
) -> DataFrame | None:
    """Keys of the candidate rows (changed Silver rows, pre- and post-images, projected on
    attributes of the dimension) that the dimension does not hold as they are: only these can
    change a member. None when no candidate source changed."""
    if not candidates:
        return None
    rows = _union(*candidates)
    assert rows is not None
    current = ctx.gold(dim)
    if current is not None:
        rows = rows.subtract(current.select(*rows.columns))
    return rows.select(key)


def _new_customer_members(ctx: GoldContext) -> DataFrame | None:
    """Customers whose versions changed, and customers of affected orders dim_customer does not
    hold yet (inferred members); an order does not change a member's attributes."""
    of_orders = _semi(ctx.gold("fact_order_lines"), ctx.keys("orders"), "order_id")
    if of_orders is None:
        return ctx.keys("changed_customers")
    dim = ctx.gold("dim_customer")
    new = of_orders.select("customer_id")
    if dim is not None:
        new = new.join(dim.select("customer_id"), "customer_id", "left_anti")
    return _union(ctx.keys("changed_customers"), new)


def _new_product_attributes(ctx: GoldContext) -> DataFrame | None:
    """Products whose changed lines carry a name or category, or whose changed stock rows carry
    a SKU status, that dim_product does not hold for them (a new name variant, a new latest
    name, a new product): a line or stock row that agrees with the member cannot change it."""
    lines, stock = ctx.changed("order_lines"), ctx.changed("inventory_stock")
    sold = (
        [
            lines.select(
                F.col("sku").alias("product_id"),
                "product_name",
                F.coalesce("category", F.lit(G.UNKNOWN)).alias("category"),
                F.coalesce("sub_category", F.lit(G.UNKNOWN)).alias("sub_category"),
            )
        ]
        if lines is not None
        else []
    )
    stocked = (
        [stock.select(F.col("sku").alias("product_id"), "sku_status")] if stock is not None else []
    )
    return _union(
        _differing(ctx, "dim_product", "product_id", sold),
        _differing(ctx, "dim_product", "product_id", stocked),
    )


def _locations(ctx: GoldContext) -> DataFrame | None:
    ch = ctx.changed("inventory_stock")
    return ch.select("location_id") if ch is not None else None


KEY_SETS: dict[str, KeySet] = {
    k.name: k
    for k in (
        KeySet("changed_customers", ("silver.customers",), _changed_customers),
        KeySet(
            "orders",
            ("silver.order_lines", "keys.changed_customers"),
            _orders,
        ),
        KeySet("shipments", ("silver.shipments", "keys.orders"), _shipments),
        KeySet(
            "customers",
            ("gold.fact_order_lines", "keys.orders", "keys.changed_customers"),
            _customers,
        ),
        KeySet("products", ("silver.order_lines", "silver.inventory_stock"), _products),
        KeySet(
            "new_customer_members",
            (
                "gold.fact_order_lines",
                "gold.dim_customer",
                "keys.orders",
                "keys.changed_customers",
            ),
            _new_customer_members,
        ),
        KeySet(
            "new_product_attributes",
            ("silver.order_lines", "silver.inventory_stock", "gold.dim_product"),
            _new_product_attributes,
        ),
        KeySet("locations", ("silver.inventory_stock",), _locations),
    )
}


# --- steps -----------------------------------------------------------------------------------
def _customer_versions(ctx: GoldContext) -> DataFrame:
    versions = ctx.silver("customers")
    return versions if versions is not None else _empty_customers(ctx.spark)


def _fact_order_lines(ctx: GoldContext, orders: DataFrame | None) -> DataFrame | None:
    lines = _semi(ctx.silver("order_lines"), orders, "order_id")
    return G.fact_order_lines(lines, _customer_versions(ctx)) if lines is not None else None


def _fact_shipments(ctx: GoldContext, shipments: DataFrame | None) -> DataFrame | None:
    ships = _semi(ctx.silver("shipments"), shipments, "shipment_id")
    fact = ctx.gold("fact_order_lines")
    if ships is None or fact is None:
        return None
    return G.fact_shipments(ships, G.order_headers(fact), ctx.sla)


def _dim_customer(ctx: GoldContext, customers: DataFrame | None) -> DataFrame:
    versions = _customer_versions(ctx)
    fact = ctx.gold("fact_order_lines")
    on_orders = (fact if fact is not None else versions).select("customer_id")
    return G.dim_customer(
        _semi(versions, customers, "customer_id"), _semi(on_orders, customers, "customer_id")
    )


def _dim_product(ctx: GoldContext, products: DataFrame | None) -> DataFrame:
    lines = ctx.silver("order_lines")
    sold = _semi(lines, products, "sku") if lines is not None else _empty_lines(ctx.spark)
    stock = ctx.silver("inventory_stock")
    stocked = _semi(stock if stock is not None else _empty_stock(ctx.spark), products, "sku")
    return G.dim_product(sold, stocked)


def _dim_location(_ctx: GoldContext, locations: DataFrame | None) -> DataFrame | None:
    return locations


def _dim_service_level(ctx: GoldContext, _keys: DataFrame | None) -> DataFrame:
    levels = ctx.sla.select("service_level")
    shipments = ctx.silver("shipments")
    if shipments is not None:
        levels = levels.unionByName(shipments.select("service_level")).distinct()
    return levels.join(ctx.sla, "service_level", "left")


def _fact_inventory(ctx: GoldContext, products: DataFrame | None) -> DataFrame | None:
    stock = ctx.silver("inventory_stock")
    if stock is None:
        return None
    fact = ctx.gold("fact_order_lines")
    if fact is None:
        fact = _empty_fact(ctx.spark)
    scoped = stock if products is None else _semi(stock, products, "sku")
    return G.fact_inventory(scoped, fact, ctx.as_of, ctx.settings)


def _customer_rfm(ctx: GoldContext, customers: DataFrame | None) -> DataFrame | None:
    fact = ctx.gold("fact_order_lines")
    if fact is None:
        return None
    scoped = fact if customers is None else _semi(fact, customers, "customer_id")
    return G.customer_rfm(scoped, ctx.as_of)


# Every date a shipment can be dated by in gold.agg_shipment_sla_daily has a dim_date member.
_SHIPMENT_DATES = ("order_ts", "shipped_ts", "delivered_ts", "status_ts", "promised_delivery_date")


def _dim_date(ctx: GoldContext, _keys: DataFrame | None) -> DataFrame | None:
    fact, ships = ctx.gold("fact_order_lines"), ctx.gold("fact_shipments")
    bounds = _union(
        fact.select(F.col("order_date").alias("d")) if fact is not None else None,
        *[ships.select(F.to_date(c).alias("d")) for c in _SHIPMENT_DATES if ships is not None],
    )
    row = bounds.agg(F.min("d"), F.max("d")).first() if bounds is not None else None
    if not row or row[0] is None:
        return None
    return G.dim_date(ctx.spark, row[0], row[1])


GOLD_STEPS: tuple[GoldStep, ...] = (
    GoldStep(
        "fact_order_lines",
        ("silver.order_lines", "silver.customers", "keys.orders"),
        _fact_order_lines,
        keys="orders",
    ),
    GoldStep(
        "fact_shipments",
        ("silver.shipments", "gold.fact_order_lines", "keys.shipments"),
        _fact_shipments,
        keys="shipments",
    ),
    GoldStep(
        "dim_customer",
        ("silver.customers", "gold.fact_order_lines", "keys.new_customer_members"),
        _dim_customer,
        keys="new_customer_members",
    ),
    GoldStep(
        "dim_product",
        ("silver.order_lines", "silver.inventory_stock", "keys.new_product_attributes"),
        _dim_product,
        keys="new_product_attributes",
    ),
    GoldStep("dim_location", ("keys.locations",), _dim_location, keys="locations"),
    GoldStep("dim_service_level", ("silver.shipments",), _dim_service_level),
    GoldStep(
        "fact_inventory",
        ("silver.inventory_stock", "gold.fact_order_lines", "keys.products"),
        _fact_inventory,
        keys="products",
        full_rebuild=True,
        full_delete="all",
    ),
    GoldStep(
        "customer_rfm",
        ("gold.fact_order_lines", "keys.customers"),
        _customer_rfm,
        keys="customers",
        delete="keys",
        full_rebuild=True,
        full_delete="all",
    ),
    GoldStep("dim_date", ("gold.fact_order_lines", "gold.fact_shipments"), _dim_date),
)


def step_order(steps: tuple[GoldStep, ...] = GOLD_STEPS) -> list[GoldStep]:
    """The steps in dependency order, declaration order among independent ones.

    A step depends on the step writing a Gold table it reads, also through the inputs of the key
    sets it reads. Raises ValueError naming the step and the input on an unknown input or a
    cycle, and naming the view on a step that writes one.
    """
    views = [s.table for s in steps if GOLD_BY_NAME[s.table].view]
    if views:
        raise ValueError(
            f"Gold steps write {', '.join(views)}, views of the Gold contract: a view is computed "
            "at query time from its query (contracts/<view>.sql), never written"
        )
    written = {s.table for s in steps}

    def needs(inputs: tuple[str, ...], owner: str, seen: frozenset[str]) -> set[str]:
        out: set[str] = set()
        for name in inputs:
            kind, _, what = name.partition(".")
            if kind == "silver" and what in SOURCES:
                continue
            if kind == "gold" and what in written:
                out.add(what)
            elif kind == "keys" and what in KEY_SETS:
                if what not in seen:
                    out |= needs(KEY_SETS[what].inputs, owner, seen | {what})
            else:
                raise ValueError(
                    f"Gold step {owner}: unknown input {name!r} (allowed: "
                    f"silver.<{'|'.join(SOURCES)}>, "
                    f"gold.<table a step writes>, keys.<{'|'.join(sorted(KEY_SETS))}>)"
                )
        out.discard(owner)
        return out

    deps = {s.table: needs(s.inputs, s.table, frozenset()) for s in steps}
    done: list[GoldStep] = []
    pending = list(steps)
    while pending:
        ready = next((s for s in pending if deps[s.table] <= {d.table for d in done}), None)
        if ready is None:
            raise ValueError(
                f"Gold steps depend on each other in a cycle: {[s.table for s in pending]}"
            )
        done.append(ready)
        pending.remove(ready)
    return done


# --- the refresh -----------------------------------------------------------------------------
def settings_fingerprint(settings: PipelineSettings, as_of: dt.date) -> str:
    payload = dataclasses.asdict(settings) | {"as_of_date": as_of.isoformat()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _read_progress(spark: SparkSession, loc: TableLocator) -> dict[str, str]:
    if not table_exists(spark, loc, "ops", PROGRESS_TABLE):
        return {}
    return {
        r["source"]: r["value"] for r in read_table(spark, loc, "ops", PROGRESS_TABLE).collect()
    }


def _write_progress(spark: SparkSession, loc: TableLocator, progress: dict[str, str]) -> None:
    df = spark.createDataFrame(sorted(progress.items()), "source string, value string")
    overwrite(df, loc, "ops", PROGRESS_TABLE)


def _changes(
    spark: SparkSession, loc: TableLocator, table: str, last: int | None, full: bool
) -> tuple[DataFrame | None, int]:
    """(changed rows or None if nothing changed, current version). Full: the whole table."""
    if not table_exists(spark, loc, "silver", table):
        return None, -1
    version = current_version(spark, loc, "silver", table)
    if full or last is None:
        return read_table(spark, loc, "silver", table), version
    if version <= last:
        return None, version
    return read_changes(spark, loc, "silver", table, last + 1), version


def _default_as_of(spark: SparkSession, loc: TableLocator) -> dt.date:
    if not table_exists(spark, loc, "silver", "order_lines"):
        return dt.date(1970, 1, 1)
    lines = read_table(spark, loc, "silver", "order_lines")
    row = lines.agg(F.max(F.to_date("order_ts"))).first()
    return row[0] if row and row[0] else dt.date(1970, 1, 1)


# Observes one phase of a refresh, named ``gold/changes``, ``gold/<table>`` or ``gold/progress``.
PhaseObserver = Callable[[str], AbstractContextManager[object]]


def _unobserved(_phase: str) -> AbstractContextManager[object]:
    return contextlib.nullcontext()


def refresh_gold(
    spark: SparkSession,
    loc: TableLocator,
    settings: PipelineSettings,
    *,
    full_refresh: bool = False,
    steps: tuple[GoldStep, ...] = GOLD_STEPS,
    observe: PhaseObserver = _unobserved,
) -> RefreshReport:
    """Run the Gold steps over what Silver changed since the last refresh.

    A full refresh (asked for, first run, or changed settings / as-of date) rebuilds from whole
    Silver tables. Nothing new in Silver: no step runs and no Gold table is written. The consumed
    Silver versions are recorded only after every step has merged, so an interrupted refresh is
    redone whole (each MERGE is idempotent). ``observe`` wraps each phase (a profiler): reading
    the progress table and the Silver versions (``gold/changes``), each step (``gold/<table>``),
    writing the progress table (``gold/progress``).
    """
    with observe("gold/changes"):
        progress = _read_progress(spark, loc)
        as_of = settings.as_of_date or _default_as_of(spark, loc)
        fingerprint = settings_fingerprint(settings, as_of)
        full = full_refresh or progress.get("settings") != fingerprint
        changes: dict[str, DataFrame | None] = {}
        versions: dict[str, int] = {}
        for src in SOURCES:
            last = progress.get(src)
            changes[src], versions[src] = _changes(
                spark, loc, src, int(last) if last is not None else None, full
            )
    previous = {src: int(progress[src]) for src in SOURCES if src in progress}
    report = RefreshReport(full=full, versions=versions, previous_versions=previous)
    if not full and all(c is None for c in changes.values()):
        return report  # nothing new in silver since the last refresh

    ctx = GoldContext(spark, loc, settings, as_of, full, changes)
    for step in step_order(steps):
        t0 = time.perf_counter()
        with observe(f"gold/{step.table}"):
            ctx.run(step)
        report.step_seconds[step.table] = round(time.perf_counter() - t0, 3)
    report.step_rows = dict(ctx.rows_written)
    counts = ctx.key_counts
    report.affected_orders = counts.get("orders", 0)
    report.affected_shipments = counts.get("shipments", 0)
    report.affected_customers = counts.get("customers", 0)
    report.affected_products = counts.get("products", 0)

    new_progress = dict(progress)
    for src, v in versions.items():
        if v >= 0:
            new_progress[src] = str(v)
    new_progress["settings"] = fingerprint
    with observe("gold/progress"):
        _write_progress(spark, loc, new_progress)
    return report


def _empty(spark: SparkSession, ddl: str) -> DataFrame:
    return spark.createDataFrame([], ddl)


def _empty_customers(spark: SparkSession) -> DataFrame:
    return _empty(
        spark,
        "customer_id string, customer_name string, region string, segment string, "
        "country string, state string, city string, updated_ts timestamp, valid_from timestamp",
    )


def _empty_stock(spark: SparkSession) -> DataFrame:
    return _empty(
        spark,
        "sku string, location_id string, on_hand bigint, sku_status string, "
        "last_snapshot_ts timestamp, last_event_ts timestamp",
    )


def _empty_lines(spark: SparkSession) -> DataFrame:
    return _empty(
        spark,
        "sku string, product_name string, category string, sub_category string, "
        "event_ts timestamp, order_ts timestamp",
    )


def _empty_fact(spark: SparkSession) -> DataFrame:
    t = GOLD_BY_NAME["fact_order_lines"]
    return _empty(spark, ", ".join(f"{c.name} {c.type}" for c in t.columns))
