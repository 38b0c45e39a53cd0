"""Contracts of the four landed OMS entities (version 1). Documented in docs/contracts/."""

from __future__ import annotations

from oms_pipeline.contracts import silver
from oms_pipeline.contracts.base import EntityContract, Field

ORDER_STATUSES = ("CREATED", "CONFIRMED", "SHIPPED", "DELIVERED", "CANCELLED", "RETURNED")
SHIPMENT_STATUSES = (
    "CREATED",
    "PICKED",
    "SHIPPED",
    "IN_TRANSIT",
    "OUT_FOR_DELIVERY",
    "DELIVERED",
    "EXCEPTION",
    "RETURNED",
    "CANCELLED",
)
INVENTORY_EVENT_TYPES = ("SNAPSHOT", "ADJUSTMENT")
SKU_STATUSES = ("ACTIVE", "DISCONTINUED", "BLOCKED")
SEGMENTS = ("Consumer", "Corporate", "Home Office", "Small Business")

# A landed line_amount must agree with quantity * unit_price * (1 - discount) (when unit_price is
# landed too) within max(LINE_AMOUNT_TOLERANCE_ABS, LINE_AMOUNT_TOLERANCE_REL * |computed|): one
# cent covers rounding to the currency unit, 1 % covers per-unit price rounding on long lines.
LINE_AMOUNT_TOLERANCE_ABS = 0.01
LINE_AMOUNT_TOLERANCE_REL = 0.01

ORDERS = EntityContract(
    name="orders",
    version=1,
    description=(
        "Order line events. Every change to a line (creation, confirmation, cancellation, ...) "
        "is a new event for the same (order_id, line_id); the latest event_ts is the line's state. "
        "Product attributes (name, category) travel on the line, as the OMS knows them at sale."
    ),
    fields=(
        Field("order_id", "string", "Order identifier.", required=True),
        Field(
            "line_id", "string", "Line identifier, unique within the source system.", required=True
        ),
        Field("customer_id", "string", "Customer who placed the order.", required=True),
        Field("sku", "string", "Product / SKU identifier.", required=True),
        Field("product_name", "string", "Product name as sold."),
        Field("category", "string", "Product category (for revenue by category)."),
        Field("sub_category", "string", "Product sub-category."),
        Field("quantity", "int", "Units ordered.", required=True, min_value=1, max_value=100000),
        Field("unit_price", "decimal(18,4)", "List price per unit, in currency.", min_value=0),
        Field(
            "discount", "decimal(9,4)", "Discount rate 0..1 (0.2 = 20 %).", min_value=0, max_value=1
        ),
        Field(
            "line_amount",
            "decimal(18,4)",
            "Net line amount as reported by the source; when absent it is "
            "quantity * unit_price * (1 - discount) (which must fit decimal(18,4)). When "
            "unit_price is landed too, the two agree within "
            f"max({LINE_AMOUNT_TOLERANCE_ABS:g}, {LINE_AMOUNT_TOLERANCE_REL:.0%} of the computed "
            "amount), else the line is `inconsistent:line_amount`.",
            min_value=0,
        ),
        Field("line_profit", "decimal(18,4)", "Profit of the line as reported by the source."),
        Field("currency", "string", "ISO 4217 currency code.", required=True),
        Field("status", "string", "Line status.", required=True, allowed=ORDER_STATUSES),
        Field("region", "string", "Ship-to sales region of the order."),
        Field("order_ts", "timestamp", "When the order was placed (UTC).", required=True),
        Field(
            "event_ts",
            "timestamp",
            "When this state of the line was recorded (UTC).",
            required=True,
        ),
    ),
    business_key=("order_id", "line_id"),
    event_time="event_ts",
)

SHIPMENTS = EntityContract(
    name="shipments",
    version=1,
    description=(
        "Shipment status events. Silver keeps every event (history) and the current state per "
        "shipment; milestones (shipped, delivered) are derived from the history."
    ),
    fields=(
        Field("event_id", "string", "Unique id of the status event.", required=True),
        Field("shipment_id", "string", "Shipment identifier.", required=True),
        Field("order_id", "string", "Order the shipment fulfils.", required=True),
        Field("carrier", "string", "Carrier name.", required=True),
        Field("service_level", "string", "Carrier service level / ship mode.", required=True),
        Field("status", "string", "Shipment status.", required=True, allowed=SHIPMENT_STATUSES),
        Field("status_ts", "timestamp", "When the status was reached (UTC).", required=True),
        Field("promised_delivery_date", "date", "Delivery date promised to the customer."),
        Field("actual_delivery_ts", "timestamp", "Actual delivery time, on DELIVERED events."),
    ),
    business_key=("event_id",),
    event_time="status_ts",
)

INVENTORY = EntityContract(
    name="inventory",
    version=1,
    description=(
        "Inventory events per SKU and location: SNAPSHOT sets the counted on-hand quantity, "
        "ADJUSTMENT adds a signed delta (receipts, picks, shrinkage). On hand = latest snapshot "
        "plus the adjustments after it."
    ),
    fields=(
        Field("event_id", "string", "Unique id of the inventory event.", required=True),
        Field(
            "event_type",
            "string",
            "SNAPSHOT or ADJUSTMENT.",
            required=True,
            allowed=INVENTORY_EVENT_TYPES,
        ),
        Field("sku", "string", "Product / SKU identifier.", required=True),
        Field("location_id", "string", "Warehouse or store identifier.", required=True),
        Field(
            "quantity",
            "int",
            "On-hand count (SNAPSHOT, >= 0) or signed delta (ADJUSTMENT).",
            required=True,
            min_value=-1_000_000,
            max_value=1_000_000,
        ),
        Field("sku_status", "string", "Lifecycle status of the SKU.", allowed=SKU_STATUSES),
        Field("reason", "string", "Adjustment reason (receipt, sale, shrinkage, ...)."),
        Field("event_ts", "timestamp", "When the count or movement happened (UTC).", required=True),
    ),
    business_key=("event_id",),
    event_time="event_ts",
)

CUSTOMERS = EntityContract(
    name="customers",
    version=1,
    description="Customer master records; every update is a new version (SCD type 2 in silver).",
    fields=(
        Field("customer_id", "string", "Customer identifier.", required=True),
        Field("customer_name", "string", "Display name."),
        Field("region", "string", "Sales region of the customer.", required=True),
        Field("segment", "string", "Customer segment.", required=True, allowed=SEGMENTS),
        Field("country", "string", "Country."),
        Field("state", "string", "State or province."),
        Field("city", "string", "City."),
        Field("updated_ts", "timestamp", "When this version became valid (UTC).", required=True),
    ),
    business_key=("customer_id",),
    event_time="updated_ts",
)

CONTRACTS: dict[str, EntityContract] = {
    c.name: c for c in (ORDERS, SHIPMENTS, INVENTORY, CUSTOMERS)
}

ENTITIES: tuple[str, ...] = tuple(CONTRACTS)

# The Silver layout names these entities, and its keys are their fields.
silver.check_entities(
    silver.SILVER_TABLES,
    {c.name: c.field_names for c in CONTRACTS.values()},
    silver.CONTRACT_PATH,
)


def get_contract(entity: str) -> EntityContract:
    try:
        return CONTRACTS[entity]
    except KeyError:
        raise ValueError(
            f"unknown entity {entity!r}; expected one of {', '.join(CONTRACTS)}"
        ) from None
