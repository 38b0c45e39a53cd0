"""The live OMS feed: an endless, deterministic sequence of event batches (pure, no I/O).

Batch ``n`` depends only on the seed, ``n`` and the number of events asked for, so a feed that
stops and resumes at batch ``n`` emits exactly what an uninterrupted feed would have. Each batch
covers one step of a simulated clock (``step_minutes`` from ``start``): orders with their line
events, shipments with their milestones, a stock movement per sale and occasional receipts and
customer changes -- plus a small share of duplicate and malformed lines, as real feeds have.
Batch 0 also carries the customer master and an opening stock snapshot.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from decimal import Decimal

REGIONS = ("East", "West", "Central", "South")
SEGMENTS = ("Consumer", "Corporate", "Home Office")
CATEGORIES = ("Furniture", "Office Supplies", "Technology")
CARRIERS = ("UPS", "FedEx", "DHL")
# (service level, weight, SLA days from order to ship)
SERVICE_LEVELS = (("Standard", 0.6, 5), ("Express", 0.25, 1), ("Economy", 0.15, 7))
LOCATIONS = ("WH-EAST", "WH-WEST", "WH-CENTRAL")
ENTITY_ORDER = ("customers", "inventory", "orders", "shipments")


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


def _ts(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class MasterData:
    """The master data of a seed: its customers and products (fixed for the seed)."""

    customers: tuple[dict, ...]
    products: tuple[dict, ...]


def master_data(cfg: FeedConfig) -> MasterData:
    rng = random.Random(f"catalog:{cfg.seed}")  # the label is part of the seed: kept as is
    customers = tuple(
        {
            "customer_id": f"C{i + 1:05d}",
            "customer_name": f"Customer {i + 1}",
            "region": rng.choice(REGIONS),
            "segment": rng.choices(SEGMENTS, weights=(5, 3, 2))[0],
            "country": "United States",
            "updated_ts": _ts(cfg.start - dt.timedelta(days=30)),
        }
        for i in range(cfg.customers)
    )
    products = tuple(
        {
            "sku": f"P{j + 1:04d}",
            "product_name": f"Product {j + 1}",
            "category": CATEGORIES[j % len(CATEGORIES)],
            "sub_category": f"Sub {j % 7}",
            "price": Decimal(rng.randrange(500, 40000)) / 100,
        }
        for j in range(cfg.products)
    )
    return MasterData(customers, products)


def _malformed(rng: random.Random, line: str) -> str:
    kind = rng.choice(("invalid_json", "truncated", "bad_value"))
    if kind == "invalid_json":
        return "{not json: " + line[:20]
    if kind == "truncated":
        return line[: max(5, len(line) // 2)]
    r = json.loads(line)
    key = "event_type" if "event_type" in r else ("segment" if "segment" in r else "status")
    r[key] = "???"
    return json.dumps(r, sort_keys=True)


def batch_events(cfg: FeedConfig, cat: MasterData, n: int, target: int) -> dict[str, list[str]]:
    """JSON lines per entity for batch ``n``: about ``target`` events (at least one order)."""
    rng = random.Random(f"batch:{cfg.seed}:{n}")
    t0 = cfg.start + dt.timedelta(minutes=n * cfg.step_minutes)
    window = cfg.step_minutes * 60
    out: dict[str, list[dict]] = {e: [] for e in ENTITY_ORDER}
    if n == 0:
        out["customers"].extend(cat.customers)
        for p in cat.products:
            for loc in LOCATIONS:
                out["inventory"].append(
                    {
                        "event_id": f"I{n:08d}-{p['sku']}-{loc}",
                        "event_type": "SNAPSHOT",
                        "sku": p["sku"],
                        "location_id": loc,
                        "quantity": rng.randint(150, 400),
                        "sku_status": "ACTIVE",
                        "event_ts": _ts(cfg.start - dt.timedelta(hours=1)),
                    }
                )
    weights = [1 / (k + 1) ** 0.7 for k in range(len(cat.customers))]
    emitted = sum(len(v) for v in out.values())
    k = 0
    while emitted < target or k == 0:
        oid = f"O{n:08d}{k:04d}"
        cust = rng.choices(cat.customers, weights=weights)[0]
        order_t = t0 + dt.timedelta(seconds=rng.randrange(window))
        cancelled = rng.random() < cfg.cancel_rate
        loc = rng.choice(LOCATIONS)
        for ln in range(rng.randint(1, 3)):
            p = rng.choice(cat.products)
            qty = rng.randint(1, 5)
            disc = rng.choice(("0", "0", "0", "0.1", "0.2"))
            base = {
                "order_id": oid,
                "line_id": f"{oid}-{ln + 1}",
                "customer_id": cust["customer_id"],
                "sku": p["sku"],
                "product_name": p["product_name"],
                "category": p["category"],
                "sub_category": p["sub_category"],
                "quantity": qty,
                "unit_price": str(p["price"]),
                "discount": disc,
                "currency": "USD",
                "region": cust["region"],
                "order_ts": _ts(order_t),
            }
            out["orders"].append(base | {"status": "CREATED", "event_ts": _ts(order_t)})
            out["orders"].append(
                base | {"status": "CONFIRMED", "event_ts": _ts(order_t + dt.timedelta(minutes=5))}
            )
            if cancelled:
                out["orders"].append(
                    base
                    | {"status": "CANCELLED", "event_ts": _ts(order_t + dt.timedelta(minutes=30))}
                )
            else:
                out["inventory"].append(
                    {
                        "event_id": f"I{oid}-{ln + 1}",
                        "event_type": "ADJUSTMENT",
                        "sku": p["sku"],
                        "location_id": loc,
                        "quantity": -qty,
                        "reason": "sale",
                        "event_ts": _ts(order_t + dt.timedelta(minutes=10)),
                    }
                )
        if not cancelled:
            level, _, sla = rng.choices(SERVICE_LEVELS, weights=[s[1] for s in SERVICE_LEVELS])[0]
            late = rng.random() < cfg.late_rate
            ship_days = sla + rng.randint(1, 3) if late else rng.randint(0, sla)
            shipped_t = order_t + dt.timedelta(days=ship_days, hours=rng.randint(0, 5))
            delivered_t = shipped_t + dt.timedelta(days=rng.randint(1, 4))
            sid = f"S{oid[1:]}"
            common = {
                "shipment_id": sid,
                "order_id": oid,
                "carrier": rng.choice(CARRIERS),
                "service_level": level,
                "promised_delivery_date": (order_t + dt.timedelta(days=sla + 3)).date().isoformat(),
            }
            for i, (status, t) in enumerate(
                (
                    ("CREATED", order_t + dt.timedelta(minutes=15)),
                    ("SHIPPED", shipped_t),
                    ("DELIVERED", delivered_t),
                )
            ):
                ev = common | {"event_id": f"{sid}-{i + 1}", "status": status, "status_ts": _ts(t)}
                if status == "DELIVERED":
                    ev["actual_delivery_ts"] = _ts(t)
                out["shipments"].append(ev)
        if rng.random() < 0.08:
            p = rng.choice(cat.products)
            out["inventory"].append(
                {
                    "event_id": f"I{oid}-R",
                    "event_type": "ADJUSTMENT",
                    "sku": p["sku"],
                    "location_id": rng.choice(LOCATIONS),
                    "quantity": rng.randint(40, 160),
                    "reason": "receipt",
                    "event_ts": _ts(order_t),
                }
            )
        if rng.random() < cfg.customer_update_rate:
            c = dict(rng.choice(cat.customers))
            c["segment"] = rng.choice(SEGMENTS)
            c["updated_ts"] = _ts(order_t - dt.timedelta(seconds=1))
            out["customers"].append(c)
        emitted = sum(len(v) for v in out.values())
        k += 1

    lines: dict[str, list[str]] = {}
    for entity in ENTITY_ORDER:
        good = [json.dumps(r, sort_keys=True, default=str) for r in out[entity]]
        extra = (
            [rng.choice(good) for _ in range(int(len(good) * cfg.duplicate_rate))] if good else []
        )
        bad = (
            [_malformed(rng, rng.choice(good)) for _ in range(_count(rng, len(good), cfg))]
            if good
            else []
        )
        everything = good + extra + bad
        rng.shuffle(everything)
        if everything:
            lines[entity] = everything
    return lines


def _count(rng: random.Random, n: int, cfg: FeedConfig) -> int:
    """Malformed lines for ``n`` good ones: the expected share, rounded at random."""
    expected = n * cfg.malformed_rate
    return int(expected) + (1 if rng.random() < expected - int(expected) else 0)
