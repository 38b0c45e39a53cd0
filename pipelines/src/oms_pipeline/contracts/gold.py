"""The Gold contract: every BI table with its columns, types, keys and descriptions.

Plain Python (no Spark import) so that other tools -- the Power BI semantic-model check, docs
generators -- can import it. ``GOLD_TABLES`` is the complete list; ``constraint_ddl`` renders the
informational PRIMARY KEY / FOREIGN KEY constraints applied on Databricks (Unity Catalog).

A table marked ``view`` is not materialized: its query (``contracts/<name>.sql``) is a view the
warehouse computes at query time (``view_ddl``), and the Gold refresh never writes it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources

GOLD_CONTRACT_VERSION = 3  # 3: the daily aggregates are views
GOLD_SCHEMA = "gold"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    nullable: bool = True


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class GoldTable:
    name: str
    kind: str  # "dimension" | "fact" | "aggregate"
    description: str
    grain: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = field(default_factory=tuple)
    # A view over other Gold tables (query in contracts/<name>.sql), not a materialized table.
    view: bool = False

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


def _c(name: str, type_: str, description: str, nullable: bool = True) -> Column:
    return Column(name, type_, description, nullable)


def _k(name: str, type_: str, description: str) -> Column:
    return Column(name, type_, description, nullable=False)


MONEY = "decimal(22,4)"

DIM_DATE = GoldTable(
    name="dim_date",
    kind="dimension",
    description="Calendar dimension covering every date referenced by a fact.",
    grain="one row per calendar date",
    columns=(
        _k("date_key", "int", "Surrogate key yyyymmdd."),
        _k("date", "date", "Calendar date."),
        _k("year", "int", "Calendar year."),
        _k("quarter", "int", "Calendar quarter 1..4."),
        _k("month", "int", "Month 1..12."),
        _k("month_name", "string", "Month name (January..December)."),
        _k("year_month", "string", "yyyy-MM, for month axes."),
        _k("day_of_month", "int", "Day of month 1..31."),
        _k("day_of_week", "int", "ISO day of week, 1 = Monday .. 7 = Sunday."),
        _k("day_name", "string", "Day name (Monday..Sunday)."),
        _k("is_weekend", "boolean", "Saturday or Sunday."),
    ),
    primary_key=("date_key",),
)

DIM_CUSTOMER = GoldTable(
    name="dim_customer",
    kind="dimension",
    description=(
        "Customers with their current attributes (silver keeps the SCD2 history). Customers "
        "referenced by orders before their master record arrived appear as inferred members."
    ),
    grain="one row per customer_id",
    columns=(
        _k("customer_id", "string", "Customer identifier (business key)."),
        _c("customer_name", "string", "Display name."),
        _k("region", "string", "Current region ('Unknown' for inferred members)."),
        _k("segment", "string", "Current segment ('Unknown' for inferred members)."),
        _c("country", "string", "Country."),
        _c("state", "string", "State or province."),
        _c("city", "string", "City."),
        _c("first_valid_from", "timestamp", "Start of the first known version."),
        _c("updated_ts", "timestamp", "Start of the current version."),
        _k("version_count", "int", "Number of SCD2 versions in silver."),
        _k("is_inferred", "boolean", "True when only seen on orders, without a master record."),
    ),
    primary_key=("customer_id",),
)

DIM_PRODUCT = GoldTable(
    name="dim_product",
    kind="dimension",
    description=(
        "Products / SKUs seen on order lines or inventory. When a product id was sold under "
        "several names, the name of its most recent line is kept (ties: alphabetically last)."
    ),
    grain="one row per product_id",
    columns=(
        _k("product_id", "string", "Product / SKU identifier."),
        _c("product_name", "string", "Product name (latest seen)."),
        _k("category", "string", "Category ('Unknown' when never sold)."),
        _k("sub_category", "string", "Sub-category ('Unknown' when never sold)."),
        _k("name_variants", "int", "Number of distinct names seen for this id."),
        _c(
            "sku_status",
            "string",
            "Latest SKU status from inventory (ACTIVE, DISCONTINUED, BLOCKED).",
        ),
    ),
    primary_key=("product_id",),
)

DIM_LOCATION = GoldTable(
    name="dim_location",
    kind="dimension",
    description="Stock locations (warehouses, stores) seen in inventory events.",
    grain="one row per location_id",
    columns=(_k("location_id", "string", "Location identifier."),),
    primary_key=("location_id",),
)

DIM_SERVICE_LEVEL = GoldTable(
    name="dim_service_level",
    kind="dimension",
    description="Carrier service levels / ship modes with the SLA (days from order to ship).",
    grain="one row per service_level",
    columns=(
        _k("service_level", "string", "Service level / ship mode."),
        _c("sla_days", "int", "Configured days from order to ship; null when not configured."),
    ),
    primary_key=("service_level",),
)

FACT_ORDER_LINES = GoldTable(
    name="fact_order_lines",
    kind="fact",
    description="Current state of every order line, with region and segment as of the order time.",
    grain="one row per (order_id, line_id)",
    columns=(
        _k("order_id", "string", "Order identifier."),
        _k("line_id", "string", "Line identifier."),
        _k("order_date_key", "int", "FK dim_date: order date (UTC)."),
        _k("customer_id", "string", "FK dim_customer."),
        _k("product_id", "string", "FK dim_product (the line's SKU)."),
        _k("order_ts", "timestamp", "Order time (UTC)."),
        _k("order_date", "date", "Order date (UTC)."),
        _k("status", "string", "Latest line status."),
        _k("is_cancelled", "boolean", "status = CANCELLED (excluded from revenue)."),
        _k("quantity", "int", "Units."),
        _c("unit_price", "decimal(18,4)", "Unit list price."),
        _k("discount", "decimal(9,4)", "Discount rate 0..1."),
        _k("net_amount", "decimal(18,4)", "Net line amount (revenue of the line)."),
        _c("profit", "decimal(18,4)", "Profit as reported by the source."),
        _k("currency", "string", "Currency code."),
        _k("region", "string", "Ship-to region of the order, else the customer's region then."),
        _k("segment", "string", "Customer segment as of the order time ('Unknown' if none)."),
        _k("category", "string", "Product category on the line ('Unknown' if none)."),
        _k("event_ts", "timestamp", "Event time of the line's latest state."),
    ),
    primary_key=("order_id", "line_id"),
    foreign_keys=(
        ForeignKey(("order_date_key",), "dim_date", ("date_key",)),
        ForeignKey(("customer_id",), "dim_customer", ("customer_id",)),
        ForeignKey(("product_id",), "dim_product", ("product_id",)),
    ),
)

FACT_SHIPMENTS = GoldTable(
    name="fact_shipments",
    kind="fact",
    description="Current state and milestones of every shipment, with SLA evaluation.",
    grain="one row per shipment_id",
    columns=(
        _k("shipment_id", "string", "Shipment identifier."),
        _k("order_id", "string", "Order fulfilled."),
        _c(
            "customer_id",
            "string",
            "FK dim_customer (from the order; null if the order is unknown).",
        ),
        _c("order_date_key", "int", "FK dim_date: order date (null if the order is unknown)."),
        _c("ship_date_key", "int", "FK dim_date: date of the first SHIPPED event."),
        _c("delivery_date_key", "int", "FK dim_date: delivery date."),
        _k("carrier", "string", "Carrier."),
        _k("service_level", "string", "FK dim_service_level."),
        _k("region", "string", "Region of the order ('Unknown' if the order is unknown)."),
        _k("current_status", "string", "Status of the latest event."),
        _k("status_ts", "timestamp", "Time of the latest event."),
        _c("order_ts", "timestamp", "Order time."),
        _c("shipped_ts", "timestamp", "First SHIPPED (or later) status time."),
        _c("delivered_ts", "timestamp", "Actual delivery time."),
        _c("promised_delivery_date", "date", "Promised delivery date."),
        _c("ship_lead_days", "double", "Days from order to ship."),
        _c("delivery_lead_days", "double", "Days from order to delivery."),
        _c("sla_days", "int", "SLA for the service level (days from order to ship)."),
        _k("is_shipped", "boolean", "Has shipped."),
        _k("is_delivered", "boolean", "Has been delivered."),
        _c("is_late_vs_sla", "boolean", "ship_lead_days > sla_days (null when not evaluable)."),
        _c(
            "is_on_time_vs_promise",
            "boolean",
            "Delivered on or before the promised date (null until delivered or without promise).",
        ),
    ),
    primary_key=("shipment_id",),
    foreign_keys=(
        ForeignKey(("customer_id",), "dim_customer", ("customer_id",)),
        ForeignKey(("order_date_key",), "dim_date", ("date_key",)),
        ForeignKey(("ship_date_key",), "dim_date", ("date_key",)),
        ForeignKey(("delivery_date_key",), "dim_date", ("date_key",)),
        ForeignKey(("service_level",), "dim_service_level", ("service_level",)),
    ),
)

FACT_INVENTORY = GoldTable(
    name="fact_inventory",
    kind="fact",
    description="Stock on hand per SKU and location with days of cover as of the as-of date.",
    grain="one row per (product_id, location_id)",
    columns=(
        _k("product_id", "string", "FK dim_product (SKU)."),
        _k("location_id", "string", "FK dim_location."),
        _k("as_of_date", "date", "As-of date of the cover computation (job parameter)."),
        _k("on_hand", "bigint", "Latest snapshot plus later adjustments."),
        _c("sku_status", "string", "Latest SKU status."),
        _c("last_snapshot_ts", "timestamp", "Time of the latest snapshot."),
        _k("last_event_ts", "timestamp", "Time of the latest event."),
        _k("trailing_sales_qty", "bigint", "Units sold (all locations) in the trailing window."),
        _k(
            "avg_daily_sales",
            "double",
            "trailing_sales_qty / window days / locations stocking the SKU.",
        ),
        _c("days_of_cover", "double", "on_hand / avg_daily_sales (null without sales)."),
        _k("is_low_stock", "boolean", "0 < on_hand and days_of_cover < low-stock threshold."),
        _k("is_stock_out", "boolean", "on_hand <= 0."),
    ),
    primary_key=("product_id", "location_id"),
    foreign_keys=(
        ForeignKey(("product_id",), "dim_product", ("product_id",)),
        ForeignKey(("location_id",), "dim_location", ("location_id",)),
    ),
)

AGG_SALES_DAILY = GoldTable(
    name="agg_sales_daily",
    kind="aggregate",
    description="Order volume and revenue by day, region, segment and category.",
    grain="one row per (order_date, region, segment, category)",
    columns=(
        _k("order_date", "date", "Order date (UTC)."),
        _k("date_key", "int", "FK dim_date."),
        _k("region", "string", "Region (see fact_order_lines.region)."),
        _k("segment", "string", "Segment as of order time."),
        _k("category", "string", "Product category."),
        _k("order_count", "bigint", "Distinct orders with a non-cancelled line in the group."),
        _k("line_count", "bigint", "Non-cancelled lines."),
        _k("quantity", "bigint", "Units on non-cancelled lines."),
        _k("revenue", MONEY, "Sum of net_amount of non-cancelled lines."),
        _k("profit", MONEY, "Sum of profit of non-cancelled lines (0 when not reported)."),
        _k("cancelled_line_count", "bigint", "Cancelled lines."),
        _k("cancelled_amount", MONEY, "Net amount of cancelled lines."),
    ),
    primary_key=("order_date", "region", "segment", "category"),
    foreign_keys=(ForeignKey(("date_key",), "dim_date", ("date_key",)),),
    view=True,
)

AGG_SHIPMENT_SLA_DAILY = GoldTable(
    name="agg_shipment_sla_daily",
    kind="aggregate",
    description=(
        "Shipment SLA by day, carrier, service level and region. Every shipment of "
        "fact_shipments is in exactly one row, so every count reconciles with the fact."
    ),
    grain="one row per (sla_date, date_basis, carrier, service_level, region)",
    columns=(
        _k(
            "sla_date",
            "date",
            "Order date of the shipments (the SLA clock start); for a shipment whose order "
            "line is missing or quarantined, its promised delivery, ship or status date.",
        ),
        _k(
            "date_basis",
            "string",
            "What sla_date is: order, promise, shipped or status (see docs/metrics.md).",
        ),
        _k("date_key", "int", "FK dim_date."),
        _k("carrier", "string", "Carrier."),
        _k("service_level", "string", "FK dim_service_level."),
        _k("region", "string", "Region of the order."),
        _k("shipment_count", "bigint", "Shipments."),
        _k("shipped_count", "bigint", "Shipments that shipped."),
        _k("delivered_count", "bigint", "Shipments delivered."),
        _k("sla_evaluated_count", "bigint", "Shipped shipments with a configured SLA."),
        _k(
            "late_vs_sla_count", "bigint", "Shipped later than the SLA (ship_lead_days > sla_days)."
        ),
        _c("on_time_vs_sla_rate", "double", "1 - late / evaluated (null when none evaluated)."),
        _k("promise_evaluated_count", "bigint", "Delivered shipments with a promised date."),
        _k("late_vs_promise_count", "bigint", "Delivered after the promised date."),
        _c("on_time_vs_promise_rate", "double", "1 - late / evaluated (null when none evaluated)."),
        _k("ship_lead_days_sum", "double", "Sum of ship_lead_days (for weighted means)."),
        _k(
            "ship_lead_days_count",
            "bigint",
            "Shipments with a ship_lead_days (shipped, order known): weighted mean = "
            "sum(ship_lead_days_sum) / sum(ship_lead_days_count).",
        ),
        _c("ship_lead_days_mean", "double", "Mean days from order to ship."),
        _c("ship_lead_days_p50", "double", "Median days from order to ship (exact, percentile)."),
        _c("ship_lead_days_p90", "double", "90th percentile of days from order to ship."),
        _c("delivery_lead_days_mean", "double", "Mean days from order to delivery."),
        _c("delivery_lead_days_p50", "double", "Median days from order to delivery."),
        _c("delivery_lead_days_p90", "double", "90th percentile of days from order to delivery."),
    ),
    primary_key=("sla_date", "date_basis", "carrier", "service_level", "region"),
    foreign_keys=(
        ForeignKey(("date_key",), "dim_date", ("date_key",)),
        ForeignKey(("service_level",), "dim_service_level", ("service_level",)),
    ),
    view=True,
)

CUSTOMER_RFM = GoldTable(
    name="customer_rfm",
    kind="aggregate",
    description="RFM segmentation of customers with at least one non-cancelled order, as of a fixed date.",
    grain="one row per customer_id",
    columns=(
        _k("customer_id", "string", "FK dim_customer."),
        _k("as_of_date", "date", "As-of date (job parameter)."),
        _k(
            "last_order_date",
            "date",
            "Date of the latest non-cancelled order on or before as_of_date.",
        ),
        _k("recency_days", "int", "as_of_date - last_order_date."),
        _k("frequency", "bigint", "Distinct non-cancelled orders on or before as_of_date."),
        _k("monetary", MONEY, "Revenue on or before as_of_date."),
        _k("r_score", "int", "1..5 from fixed recency thresholds."),
        _k("f_score", "int", "1..5 from fixed frequency thresholds."),
        _k("m_score", "int", "1..5 from fixed monetary thresholds."),
        _k("rfm_code", "string", "r_score, f_score, m_score concatenated, e.g. '545'."),
        _k(
            "rfm_segment", "string", "Champions, Loyal, Potential, New, At Risk, Hibernating, Lost."
        ),
    ),
    primary_key=("customer_id",),
    foreign_keys=(ForeignKey(("customer_id",), "dim_customer", ("customer_id",)),),
)

GOLD_TABLES: tuple[GoldTable, ...] = (
    DIM_DATE,
    DIM_CUSTOMER,
    DIM_PRODUCT,
    DIM_LOCATION,
    DIM_SERVICE_LEVEL,
    FACT_ORDER_LINES,
    FACT_SHIPMENTS,
    FACT_INVENTORY,
    AGG_SALES_DAILY,
    AGG_SHIPMENT_SLA_DAILY,
    CUSTOMER_RFM,
)

GOLD_BY_NAME: dict[str, GoldTable] = {t.name: t for t in GOLD_TABLES}


def gold_table(name: str) -> GoldTable:
    try:
        return GOLD_BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown gold table {name!r}") from None


MATERIALIZED: tuple[GoldTable, ...] = tuple(t for t in GOLD_TABLES if not t.view)
VIEWS: tuple[GoldTable, ...] = tuple(t for t in GOLD_TABLES if t.view)
# A Gold table a view reads, in its query: ``{table}``.
_VIEW_INPUT = re.compile(r"\{(\w+)\}")


@functools.cache
def _view_text(table: GoldTable) -> str:
    if not table.view:
        raise ValueError(f"gold.{table.name} is a table, not a view")
    return resources.files(__package__).joinpath(f"{table.name}.sql").read_text()


def view_inputs(table: GoldTable) -> tuple[str, ...]:
    """The Gold tables the view's query reads (sorted). Raises ValueError naming the view and
    the input when the query reads anything but a materialized Gold table."""
    names = tuple(sorted(set(_VIEW_INPUT.findall(_view_text(table)))))
    allowed = [t.name for t in MATERIALIZED]
    for name in names:
        if name not in allowed:
            raise ValueError(
                f"view gold.{table.name} reads {{{name}}}; a view reads materialized Gold "
                f"tables only: {', '.join(allowed)}"
            )
    return names


def view_query(table: GoldTable, name_of: Callable[[str], str]) -> str:
    """The view's SELECT with each ``{table}`` replaced by ``name_of(table)`` (a Unity Catalog
    name, a local path reference, a temporary view)."""
    view_inputs(table)
    return _VIEW_INPUT.sub(lambda m: name_of(m.group(1)), _view_text(table))


def view_ddl(table: GoldTable, name_of: Callable[[str], str]) -> str:
    """``CREATE OR REPLACE VIEW`` of the view, named ``name_of(table.name)``, with the contract's
    description and grain as the view comment and its column descriptions as column comments
    (a view takes them in its column list, not from ``ALTER ... COMMENT``: Databricks SQL
    reference, "CREATE VIEW"). Replacing a view keeps grants made on its schema, which is where
    the stack grants Gold's readers SELECT."""
    cols = ",\n".join(f"  {_q(c.name)} COMMENT {_sql_string(c.description)}" for c in table.columns)
    return (
        f"CREATE OR REPLACE VIEW {name_of(table.name)} (\n{cols}\n) "
        f"COMMENT {_sql_string(_table_comment(table))} AS\n{view_query(table, name_of)}"
    )


def _table_comment(t: GoldTable) -> str:
    return f"{t.description} Grain: {t.grain}." if t.grain else t.description


def _q(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def constraint_ddl(catalog: str, schema: str = GOLD_SCHEMA) -> list[str]:
    """SQL that declares the informational keys of every Gold table on Unity Catalog.

    Primary keys first (a foreign key must reference a declared primary key), then foreign keys.
    Keys are NOT ENFORCED; primary keys carry RELY so the optimizer may use them. Each statement
    is preceded by a DROP ... IF EXISTS so the DDL can be re-applied after every refresh.
    Key columns must be NOT NULL, so the ALTER COLUMN statements come first. Views carry no
    constraints (Unity Catalog declares keys on tables: Databricks SQL reference, "ALTER TABLE
    ... ADD CONSTRAINT"), and no table's foreign key references one.
    """
    statements: list[str] = []
    for t in MATERIALIZED:
        fqn = f"{_q(catalog)}.{_q(schema)}.{_q(t.name)}"
        for col in t.primary_key:
            statements.append(f"ALTER TABLE {fqn} ALTER COLUMN {_q(col)} SET NOT NULL")
    for t in MATERIALIZED:
        fqn = f"{_q(catalog)}.{_q(schema)}.{_q(t.name)}"
        name = f"pk_{t.name}"
        cols = ", ".join(_q(c) for c in t.primary_key)
        statements.append(f"ALTER TABLE {fqn} DROP CONSTRAINT IF EXISTS {_q(name)} CASCADE")
        statements.append(
            f"ALTER TABLE {fqn} ADD CONSTRAINT {_q(name)} PRIMARY KEY ({cols}) NOT ENFORCED RELY"
        )
    for t in MATERIALIZED:
        fqn = f"{_q(catalog)}.{_q(schema)}.{_q(t.name)}"
        for fk in t.foreign_keys:
            name = f"fk_{t.name}_{'_'.join(fk.columns)}"
            cols = ", ".join(_q(c) for c in fk.columns)
            ref = f"{_q(catalog)}.{_q(schema)}.{_q(fk.ref_table)}"
            ref_cols = ", ".join(_q(c) for c in fk.ref_columns)
            statements.append(f"ALTER TABLE {fqn} DROP CONSTRAINT IF EXISTS {_q(name)}")
            statements.append(
                f"ALTER TABLE {fqn} ADD CONSTRAINT {_q(name)} FOREIGN KEY ({cols}) "
                f"REFERENCES {ref} ({ref_cols}) NOT ENFORCED"
            )
    return statements


def _sql_string(text: str) -> str:
    """A Spark SQL string literal: backslashes and single quotes escaped, single-quoted."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def comment_ddl(catalog: str, schema: str = GOLD_SCHEMA) -> list[str]:
    """SQL that writes the contract's descriptions as Unity Catalog comments on every Gold table.

    Analysts browsing Catalog Explorer or Power BI's navigator then see the same definitions as
    the contract. A table comment states the description and the grain. Statements are
    idempotent (COMMENT replaces), so they are re-applied after every refresh. A view's comments
    are part of its definition (``view_ddl``).
    """
    statements: list[str] = []
    for t in MATERIALIZED:
        fqn = f"{_q(catalog)}.{_q(schema)}.{_q(t.name)}"
        statements.append(f"COMMENT ON TABLE {fqn} IS {_sql_string(_table_comment(t))}")
        for col in t.columns:
            statements.append(
                f"ALTER TABLE {fqn} ALTER COLUMN {_q(col.name)} COMMENT {_sql_string(col.description)}"
            )
    return statements
