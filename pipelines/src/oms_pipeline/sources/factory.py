"""The one OMS event factory, driven in batch mode (``generate``) and streaming mode
(``batch_events``).

Both modes build the same events from the world (``sources.world``): orders and their line
events (CREATED, CONFIRMED, CANCELLED), shipments and their milestones, stock movements, later
customer versions -- and the awkward parts of real feeds: exact duplicates, events out of order
and a share of malformed or rule-breaking lines (``noise``).

- Batch (``generate``, ``GeneratorConfig``): a whole period at once, written as
  ``files_per_entity`` landing files per entity, plus the oracle ``Manifest``: counts per entity
  and the true final state, so tests recompute Gold without Spark.
- Streaming (``batch_events``, ``FeedConfig``): an endless sequence of batches, one per step of a
  simulated clock. Batch ``n`` depends only on the seed, ``n`` and the number of events asked
  for, so a feed resumed at batch ``n`` emits exactly what an uninterrupted one would. Batch 0
  carries the customer master and an opening stock snapshot.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from oms_pipeline.sources import landing as L
from oms_pipeline.sources import world as W

ENTITY_ORDER = ("customers", "inventory", "orders", "shipments")
# An order's timeline after it is placed.
CONFIRMED_AFTER = dt.timedelta(minutes=5)
SALE_AFTER = dt.timedelta(minutes=10)  # the stock movement of a line that is not cancelled
SHIPMENT_CREATED_AFTER = dt.timedelta(minutes=15)
CANCELLED_AFTER = dt.timedelta(minutes=30)

# The malformed lines a feed carries; per entity: its key, a typed field and a rule-bound field.
MALFORMED_KINDS = ("invalid_json", "truncated", "wrong_type", "missing_key", "bad_value")
_KEY = {"orders": "order_id", "shipments": "event_id", "inventory": "event_id",
        "customers": "customer_id"}  # fmt: skip
_TYPED = {"orders": "quantity", "shipments": "status_ts", "inventory": "quantity",
          "customers": "updated_ts"}  # fmt: skip
_RULED = {"orders": "status", "shipments": "status", "inventory": "event_type",
          "customers": "segment"}  # fmt: skip


def net_amount(line: dict) -> Decimal:
    """A placed line's net amount in USD: quantity x unit price x (1 - discount), to 4 places."""
    price, discount = Decimal(line["unit_price"]), Decimal(line["discount"])
    return (line["quantity"] * price * (1 - discount)).quantize(Decimal("0.0001"))


def order(
    rng: random.Random,
    oid: str,
    customer: dict,
    products: Sequence[dict],
    order_t: dt.datetime,
    *,
    cancelled: bool,
    max_lines: int,
) -> tuple[list[dict], list[dict]]:
    """The line events of order ``oid`` (1..``max_lines`` lines) and its lines as placed (the
    fields every event of a line carries)."""
    events, lines = [], []
    for ln in range(rng.randint(1, max_lines)):
        p = rng.choice(products)
        qty = rng.randint(1, 5)
        disc = rng.choice(W.DISCOUNTS)
        base = {
            "order_id": oid,
            "line_id": f"{oid}-{ln + 1}",
            "customer_id": customer["customer_id"],
            "sku": p["sku"],
            "product_name": p["product_name"],
            "category": p["category"],
            "sub_category": p["sub_category"],
            "quantity": qty,
            "unit_price": str(p["price"]),
            "discount": disc,
            "currency": "USD",
            "region": customer["region"],
            "order_ts": W.ts(order_t),
        }
        events.append(base | {"status": "CREATED", "event_ts": W.ts(order_t)})
        events.append(base | {"status": "CONFIRMED", "event_ts": W.ts(order_t + CONFIRMED_AFTER)})
        if cancelled:
            events.append(
                base | {"status": "CANCELLED", "event_ts": W.ts(order_t + CANCELLED_AFTER)}
            )
        lines.append(base)
    return events, lines


def shipment(
    rng: random.Random,
    sid: str,
    oid: str,
    order_t: dt.datetime,
    *,
    late_rate: float,
    horizon: dt.datetime | None = None,
) -> tuple[list[dict], dict]:
    """The milestone events of shipment ``sid`` and its true outcome.

    Shipped within the service level's SLA, or 1-3 days after it (``late_rate``); promised
    SLA + 3 days after the order; delivered 1-4 days after shipping -- unless that is after
    ``horizon`` (the end of a batch period), then it is still in transit.
    """
    level = W.service_level(rng)
    late = rng.random() < late_rate
    ship_days = level.sla_days + rng.randint(1, 3) if late else rng.randint(0, level.sla_days)
    shipped_t = order_t + dt.timedelta(days=ship_days, hours=rng.randint(0, 5))
    promised = (order_t + dt.timedelta(days=level.sla_days + 3)).date()
    delivered_t = shipped_t + dt.timedelta(days=rng.randint(1, 4))
    delivered = horizon is None or delivered_t <= horizon
    common = {
        "shipment_id": sid,
        "order_id": oid,
        "carrier": rng.choice(W.CARRIERS),
        "service_level": level.name,
        "promised_delivery_date": promised.isoformat(),
    }
    milestones = [("CREATED", order_t + SHIPMENT_CREATED_AFTER), ("SHIPPED", shipped_t)]
    if delivered:
        milestones.append(("DELIVERED", delivered_t))
    events = []
    for i, (status, t) in enumerate(milestones):
        ev = common | {"event_id": f"{sid}-{i + 1}", "status": status, "status_ts": W.ts(t)}
        if status == "DELIVERED":
            ev["actual_delivery_ts"] = W.ts(t)
        events.append(ev)
    lead_days = (shipped_t - order_t).total_seconds() / 86400
    outcome = {
        "shipment_id": sid,
        "order_id": oid,
        "service_level": level.name,
        "ship_lead_days": lead_days,
        "late_vs_sla": lead_days > level.sla_days,
        "delivered": delivered,
        "on_time_vs_promise": delivered_t.date() <= promised if delivered else None,
        "status": "DELIVERED" if delivered else "SHIPPED",
    }
    return events, outcome


def stock_snapshot(event_id: str, sku: str, loc: str, on_hand: int, t: dt.datetime) -> dict:
    return {"event_id": event_id, "event_type": "SNAPSHOT", "sku": sku, "location_id": loc,
            "quantity": on_hand, "sku_status": "ACTIVE", "event_ts": W.ts(t)}  # fmt: skip


def stock_movement(event_id: str, sku: str, loc: str, delta: int, t: dt.datetime) -> dict:
    """A receipt (``delta`` > 0) or a sale (``delta`` < 0) at ``loc``."""
    return {"event_id": event_id, "event_type": "ADJUSTMENT", "sku": sku, "location_id": loc,
            "quantity": delta, "reason": "receipt" if delta > 0 else "sale",
            "event_ts": W.ts(t)}  # fmt: skip


def customer_version(rng: random.Random, current: dict, t: dt.datetime) -> dict:
    """A later version of a customer: a new segment and region from ``t`` on."""
    return current | {"segment": W.segment(rng), "region": rng.choice(W.REGIONS),
                      "updated_ts": W.ts(t)}  # fmt: skip


def malformed(rng: random.Random, line: str, entity: str) -> str:
    """One bad line from a good one: invalid JSON, a truncated line, a wrong type, a missing key
    or a value a rule forbids (``MALFORMED_KINDS``); Silver quarantines each."""
    kind = rng.choice(MALFORMED_KINDS)
    if kind == "invalid_json":
        return "{not json: " + line[:20]
    if kind == "truncated":
        return line[: max(5, len(line) // 2)]
    r = json.loads(line)
    if kind == "missing_key":
        r.pop(_KEY[entity], None)
    else:
        r[_TYPED[entity] if kind == "wrong_type" else _RULED[entity]] = (
            "n/a" if kind == "wrong_type" else "???"
        )
    return json.dumps(r, sort_keys=True)


def noise(
    rng: random.Random, entity: str, records: Sequence[dict], duplicate_rate: float,
    malformed_rate: float,
) -> tuple[list[str], int, int]:  # fmt: skip
    """``records`` as JSON lines plus exact duplicates (``duplicate_rate``, rounded down) and
    malformed lines (``malformed_rate``, rounded at random), in random order; returns (the lines
    as landed, how many are duplicates, how many are malformed)."""
    good = [json.dumps(r, sort_keys=True, default=str) for r in records]
    if not good:
        return [], 0, 0
    dups = [rng.choice(good) for _ in range(int(len(good) * duplicate_rate))]
    expected = len(good) * malformed_rate
    n_bad = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
    bad = [malformed(rng, rng.choice(good), entity) for _ in range(n_bad)]
    everything = good + dups + bad
    rng.shuffle(everything)
    return everything, len(dups), len(bad)


@dataclass(frozen=True)
class GeneratorConfig:
    seed: int = 7
    orders: int = 400
    customers: int = 80
    products: int = 40
    start: dt.date = dt.date(2025, 1, 1)
    days: int = 60
    cancel_rate: float = 0.06
    late_rate: float = 0.15
    duplicate_rate: float = 0.03
    malformed_rate: float = 0.01
    customer_update_rate: float = 0.15
    files_per_entity: int = 4
    id_prefix: str = ""  # keeps ids of separately generated batches apart


@dataclass
class Manifest:
    """What was generated: counts per entity and the true final state."""

    config: dict
    lines_written: dict[str, int] = field(default_factory=dict)
    valid_records: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    malformed: dict[str, int] = field(default_factory=dict)
    files: dict[str, list[str]] = field(default_factory=dict)
    order_lines: list[dict] = field(default_factory=list)
    shipments: list[dict] = field(default_factory=list)
    stock: list[dict] = field(default_factory=list)
    customers: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "lines_written": self.lines_written,
            "valid_records": self.valid_records,
            "duplicates": self.duplicates,
            "malformed": self.malformed,
            "order_lines": len(self.order_lines),
            "shipments": len(self.shipments),
        }

    def write(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.__dict__, fh, default=str, indent=1)


def generate(landing: str, config: GeneratorConfig | None = None) -> Manifest:
    """Generate ``config``'s period into ``landing``: ``files_per_entity`` landing files per
    entity (``sources.landing`` names, source ``generated``) and the oracle ``Manifest``."""
    cfg = config or GeneratorConfig()
    rng = random.Random(cfg.seed)
    m = Manifest(config={k: str(v) for k, v in cfg.__dict__.items()})
    t0 = dt.datetime.combine(cfg.start, dt.time(0, 0))
    horizon = t0 + dt.timedelta(days=cfg.days)
    records: dict[str, list[dict]] = {e: [] for e in ENTITY_ORDER}
    world = W.master_data(rng, cfg.customers, cfg.products, t0)

    # Customers: the first version before the period, some with a later change in it.
    versions: dict[str, list[dict]] = {}
    for c in world.customers:
        vs = versions[c["customer_id"]] = [c]
        if rng.random() < cfg.customer_update_rate:
            t = t0 + dt.timedelta(days=rng.randrange(cfg.days), hours=3)
            vs.append(customer_version(rng, c, t))
        records["customers"].extend(vs)
        m.customers.append(vs[-1])

    def version_at(cid: str, t: str) -> dict:
        return [v for v in versions[cid] if v["updated_ts"] <= t or v is versions[cid][0]][-1]

    weights = [1 / (k + 1) for k in range(cfg.customers)]  # a few customers order a lot
    for n in range(cfg.orders):
        oid = f"{cfg.id_prefix}O{n + 1:06d}"
        cid = W.weighted(rng, list(versions), weights)
        order_t = t0 + dt.timedelta(minutes=rng.randrange(cfg.days * 24 * 60))
        cust = version_at(cid, W.ts(order_t))
        cancelled = rng.random() < cfg.cancel_rate
        events, lines = order(
            rng, oid, cust, world.products, order_t, cancelled=cancelled, max_lines=4
        )
        records["orders"].extend(events)
        m.order_lines.extend(
            {
                "order_id": oid,
                "line_id": ln["line_id"],
                "customer_id": cid,
                "sku": ln["sku"],
                "category": ln["category"],
                "quantity": ln["quantity"],
                "net_amount": str(net_amount(ln)),
                "status": "CANCELLED" if cancelled else "CONFIRMED",
                "order_date": order_t.date().isoformat(),
                "region": cust["region"],
                "segment": cust["segment"],
            }
            for ln in lines
        )
        if not cancelled:
            sid = f"{cfg.id_prefix}S{n + 1:06d}"
            ship_events, outcome = shipment(
                rng, sid, oid, order_t, late_rate=cfg.late_rate, horizon=horizon
            )
            records["shipments"].extend(ship_events)
            m.shipments.append(outcome)

    # Inventory: an opening snapshot per SKU and location, then receipts and sales.
    ev = 0
    for p in world.products:
        for loc in W.LOCATIONS:
            on_hand = rng.randint(0, 200)
            ev += 1
            records["inventory"].append(
                stock_snapshot(f"{cfg.id_prefix}I{ev:07d}", p["sku"], loc, on_hand, t0)
            )
            for _ in range(rng.randint(0, 4)):
                delta = rng.choice([-1, -1, 1]) * rng.randint(1, 30)
                ev += 1
                t = t0 + dt.timedelta(days=rng.randrange(1, cfg.days))
                records["inventory"].append(
                    stock_movement(f"{cfg.id_prefix}I{ev:07d}", p["sku"], loc, delta, t)
                )
                on_hand += delta
            m.stock.append({"sku": p["sku"], "location_id": loc, "on_hand": on_hand})

    k, run = max(1, cfg.files_per_entity), f"{cfg.id_prefix}s{cfg.seed}"
    for entity, recs in records.items():
        lines, m.duplicates[entity], m.malformed[entity] = noise(
            rng, entity, recs, cfg.duplicate_rate, cfg.malformed_rate
        )
        m.valid_records[entity], m.lines_written[entity] = len(recs), len(lines)
        m.files[entity] = [
            L.write_landing_file(
                L.landing_path(landing, entity, L.landing_name("generated", run, f"f{f:04d}")),
                lines[f::k],
            )
            for f in range(k)
        ]
    return m


@dataclass(frozen=True)
class FeedConfig:
    seed: int = 7
    customers: int = 200
    products: int = 60
    start: dt.datetime = dt.datetime(2025, 1, 1)
    step_minutes: int = 60
    cancel_rate: float = 0.05
    late_rate: float = 0.15
    duplicate_rate: float = 0.01
    malformed_rate: float = 0.005
    customer_update_rate: float = 0.02


def master_data(cfg: FeedConfig) -> W.MasterData:
    """The master data of a feed (fixed for its seed)."""
    rng = random.Random(f"catalog:{cfg.seed}")  # the label is part of the seed: kept as is
    return W.master_data(rng, cfg.customers, cfg.products, cfg.start)


def batch_events(cfg: FeedConfig, cat: W.MasterData, n: int, target: int) -> dict[str, list[str]]:
    """JSON lines per entity for batch ``n``: about ``target`` events (at least one order).

    Entities without a line are left out; each entity's lines are shuffled."""
    rng = random.Random(f"batch:{cfg.seed}:{n}")
    t0 = cfg.start + dt.timedelta(minutes=n * cfg.step_minutes)
    window = cfg.step_minutes * 60
    out: dict[str, list[dict]] = {e: [] for e in ENTITY_ORDER}
    if n == 0:
        out["customers"].extend(cat.customers)
        opening = cfg.start - dt.timedelta(hours=1)
        for p in cat.products:
            for loc in W.LOCATIONS:
                out["inventory"].append(
                    stock_snapshot(
                        f"I{n:08d}-{p['sku']}-{loc}", p["sku"], loc, rng.randint(150, 400), opening
                    )
                )
    weights = [1 / (k + 1) ** 0.7 for k in range(len(cat.customers))]
    emitted = sum(len(v) for v in out.values())
    k = 0
    while emitted < target or k == 0:
        oid = f"O{n:08d}{k:04d}"
        cust = W.weighted(rng, cat.customers, weights)
        order_t = t0 + dt.timedelta(seconds=rng.randrange(window))
        cancelled = rng.random() < cfg.cancel_rate
        loc = rng.choice(W.LOCATIONS)
        events, lines = order(
            rng, oid, cust, cat.products, order_t, cancelled=cancelled, max_lines=3
        )
        out["orders"].extend(events)
        if not cancelled:
            out["inventory"].extend(
                stock_movement(
                    f"I{ln['line_id']}", ln["sku"], loc, -ln["quantity"],
                    order_t + SALE_AFTER,
                )
                for ln in lines
            )  # fmt: skip
            out["shipments"].extend(
                shipment(rng, f"S{oid[1:]}", oid, order_t, late_rate=cfg.late_rate)[0]
            )
        if rng.random() < 0.08:
            p = rng.choice(cat.products)
            out["inventory"].append(
                stock_movement(
                    f"I{oid}-R", p["sku"], rng.choice(W.LOCATIONS), rng.randint(40, 160), order_t
                )
            )
        if rng.random() < cfg.customer_update_rate:
            c = rng.choice(cat.customers)
            out["customers"].append(customer_version(rng, c, order_t - dt.timedelta(seconds=1)))
        emitted = sum(len(v) for v in out.values())
        k += 1
    lines_out: dict[str, list[str]] = {}
    for entity in ENTITY_ORDER:
        lines = noise(rng, entity, out[entity], cfg.duplicate_rate, cfg.malformed_rate)[0]
        if lines:
            lines_out[entity] = lines
    return lines_out
