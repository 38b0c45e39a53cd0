"""The one OMS event factory, driven in streaming mode (``batch_events``) and batch mode
(``generate``).

Batch ``n`` covers ``step_minutes`` of a simulated clock from ``FeedConfig.start`` and depends
only on the seed, ``n`` and its size, so a feed resumed at batch ``n`` emits what an
uninterrupted one would. Batch 0 carries the customer master (``sources.world``) and an opening
stock snapshot; every batch carries orders and their line events (CREATED, CONFIRMED,
CANCELLED), shipments and their milestones, stock movements (sales and receipts), later customer
versions -- and the awkward parts of real feeds: exact duplicates, events out of order and a
share of malformed or rule-breaking lines (``noise``). Batch mode lands batches 0..k-1 as files
and reads the oracle ``Manifest`` off the clean records they emitted, so tests recompute Gold
without Spark.
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
) -> tuple[list[dict], list[dict]]:
    """The line events of order ``oid`` (1-3 lines) and its lines as placed (the fields every
    event of a line carries)."""
    events, lines = [], []
    for ln in range(rng.randint(1, 3)):
        p = rng.choice(products)
        base = {
            "order_id": oid,
            "line_id": f"{oid}-{ln + 1}",
            "customer_id": customer["customer_id"],
            "sku": p["sku"],
            "product_name": p["product_name"],
            "category": p["category"],
            "sub_category": p["sub_category"],
            "quantity": rng.randint(1, 5),
            "unit_price": str(p["price"]),
            "discount": rng.choice(W.DISCOUNTS),
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
    rng: random.Random, sid: str, oid: str, order_t: dt.datetime, *, late_rate: float
) -> list[dict]:
    """The milestone events of shipment ``sid``: created, shipped within the service level's SLA
    or 1-3 days after it (``late_rate``), delivered 1-4 days after shipping; promised SLA + 3
    days after the order."""
    level = W.service_level(rng)
    late = rng.random() < late_rate
    ship_days = level.sla_days + rng.randint(1, 3) if late else rng.randint(0, level.sla_days)
    shipped_t = order_t + dt.timedelta(days=ship_days, hours=rng.randint(0, 5))
    delivered_t = shipped_t + dt.timedelta(days=rng.randint(1, 4))
    promised = (order_t + dt.timedelta(days=level.sla_days + 3)).date()
    common = {
        "shipment_id": sid,
        "order_id": oid,
        "carrier": rng.choice(W.CARRIERS),
        "service_level": level.name,
        "promised_delivery_date": promised.isoformat(),
    }
    milestones = [
        ("CREATED", order_t + SHIPMENT_CREATED_AFTER),
        ("SHIPPED", shipped_t),
        ("DELIVERED", delivered_t),
    ]
    events = [
        common | {"event_id": f"{sid}-{i + 1}", "status": status, "status_ts": W.ts(t)}
        for i, (status, t) in enumerate(milestones)
    ]
    events[-1]["actual_delivery_ts"] = events[-1]["status_ts"]
    return events


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
    elif kind == "wrong_type":
        r[_TYPED[entity]] = "n/a"
    else:
        r[_RULED[entity]] = "???"
    return json.dumps(r, sort_keys=True)


def _count(rng: random.Random, n: int, rate: float) -> int:
    """``n`` x ``rate`` rounded at random, so small batches keep the rate on average."""
    expected = n * rate
    return int(expected) + (1 if rng.random() < expected - int(expected) else 0)


def noise(
    rng: random.Random,
    entity: str,
    records: Sequence[dict],
    duplicate_rate: float,
    malformed_rate: float,
) -> tuple[list[str], int, int]:
    """``records`` as JSON lines plus exact duplicates (``duplicate_rate``) and malformed lines
    (``malformed_rate``), both counts rounded at random, in random order; returns (the lines as
    landed, how many are duplicates, how many are malformed)."""
    good = [json.dumps(r, sort_keys=True, default=str) for r in records]
    if not good:
        return [], 0, 0
    dups = [rng.choice(good) for _ in range(_count(rng, len(good), duplicate_rate))]
    bad = [
        malformed(rng, rng.choice(good), entity)
        for _ in range(_count(rng, len(good), malformed_rate))
    ]
    everything = good + dups + bad
    rng.shuffle(everything)
    return everything, len(dups), len(bad)


@dataclass(frozen=True)
class FeedConfig:
    """The factory's settings in both modes. Rates are shares: of orders (``cancel_rate``, and
    ``customer_update_rate``: a customer gets a later version), of shipments (``late_rate``), of
    a batch's records per entity (``duplicate_rate``, ``malformed_rate``). ``id_prefix`` keeps
    the ids of separately generated data sets apart. Batch mode only: ``orders`` spread evenly
    over ``batches`` batches, landed as ``files_per_entity`` files per entity."""

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
    id_prefix: str = ""
    orders: int = 400
    batches: int = 24
    files_per_entity: int = 4


def master_data(cfg: FeedConfig) -> W.MasterData:
    """The master data of a feed (fixed for its seed)."""
    rng = random.Random(f"catalog:{cfg.seed}")  # the label is part of the seed: kept as is
    return W.master_data(rng, cfg.customers, cfg.products, cfg.start)


@dataclass(frozen=True)
class Batch:
    """One batch: per entity (``ENTITY_ORDER``) its clean records, and its lines as landed with
    how many of them are duplicates and how many malformed (``noise``)."""

    records: dict[str, list[dict]]
    landed: dict[str, tuple[list[str], int, int]]


def batch(cfg: FeedConfig, cat: W.MasterData, n: int, *, events: int = 0, orders: int = 1) -> Batch:
    """Batch ``n``: orders until it holds at least ``orders`` orders and ``events`` records.

    Orders are drawn in a sequence fixed by the seed and ``n``, so a batch cut at a given size
    is the same whichever of the two bounds reached it."""
    rng = random.Random(f"batch:{cfg.seed}:{n}")
    t0 = cfg.start + dt.timedelta(minutes=n * cfg.step_minutes)
    out: dict[str, list[dict]] = {e: [] for e in ENTITY_ORDER}
    if n == 0:
        out["customers"].extend(cat.customers)
        opening = cfg.start - dt.timedelta(hours=1)
        out["inventory"].extend(
            stock_snapshot(
                f"{cfg.id_prefix}I{n:08d}-{p['sku']}-{loc}",
                p["sku"],
                loc,
                rng.randint(150, 400),
                opening,
            )
            for p in cat.products
            for loc in W.LOCATIONS
        )
    weights = [1 / (k + 1) ** 0.7 for k in range(len(cat.customers))]  # a few order a lot
    k = 0
    while k < orders or sum(len(v) for v in out.values()) < events:
        oid = f"{cfg.id_prefix}O{n:08d}{k:04d}"
        cust = W.weighted(rng, cat.customers, weights)
        order_t = t0 + dt.timedelta(seconds=rng.randrange(cfg.step_minutes * 60))
        cancelled = rng.random() < cfg.cancel_rate
        loc = rng.choice(W.LOCATIONS)
        order_events, lines = order(rng, oid, cust, cat.products, order_t, cancelled=cancelled)
        out["orders"].extend(order_events)
        if not cancelled:
            sold_t = order_t + SALE_AFTER
            out["inventory"].extend(
                stock_movement(f"I{ln['line_id']}", ln["sku"], loc, -ln["quantity"], sold_t)
                for ln in lines
            )
            sid = f"{cfg.id_prefix}S{n:08d}{k:04d}"
            out["shipments"].extend(shipment(rng, sid, oid, order_t, late_rate=cfg.late_rate))
        if rng.random() < 0.08:  # a receipt
            sku, to = rng.choice(cat.products)["sku"], rng.choice(W.LOCATIONS)
            out["inventory"].append(
                stock_movement(f"I{oid}-R", sku, to, rng.randint(40, 160), order_t)
            )
        if rng.random() < cfg.customer_update_rate:
            c = rng.choice(cat.customers)
            out["customers"].append(customer_version(rng, c, order_t - dt.timedelta(seconds=1)))
        k += 1
    landed = {e: noise(rng, e, out[e], cfg.duplicate_rate, cfg.malformed_rate) for e in out}
    return Batch(out, landed)


def batch_events(cfg: FeedConfig, cat: W.MasterData, n: int, target: int) -> dict[str, list[str]]:
    """JSON lines per entity for batch ``n``: about ``target`` events (at least one order).

    Entities without a line are left out; each entity's lines are shuffled."""
    landed = batch(cfg, cat, n, events=target).landed
    return {e: lines for e, (lines, _, _) in landed.items() if lines}


@dataclass
class Manifest:
    """What batch mode generated: counts per entity and the true final state, read off the clean
    records (``final_state``)."""

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


def generate(landing: str, config: FeedConfig | None = None) -> Manifest:
    """Batch mode: batches 0..``batches``-1 of the factory, ``orders`` orders spread evenly over
    them, landed as ``files_per_entity`` files per entity (``sources.landing`` names, source
    ``generated``, run ``<id_prefix>s<seed>``), and the oracle ``Manifest``.

    Raises ``sources.landing.LandingFileExists`` (a ``FileExistsError``), before anything is
    written, when one of its file names already landed (an earlier generate with the same seed):
    a landed file is never rewritten."""
    cfg = config or FeedConfig()
    k, run = max(1, cfg.files_per_entity), f"{cfg.id_prefix}s{cfg.seed}"
    paths = {
        e: [
            L.landing_path(landing, e, L.landing_name("generated", run, f"f{f:04d}"))
            for f in range(k)
        ]
        for e in ENTITY_ORDER
    }
    L.refuse_landed(
        (p for e in ENTITY_ORDER for p in paths[e]),
        f"an earlier generate with seed {cfg.seed} landed it; use another --landing or another "
        "--seed",
    )
    cat = master_data(cfg)
    batches = [  # batch n holds orders n, n + batches, n + 2 x batches ...: an even spread
        batch(cfg, cat, n, orders=len(range(n, cfg.orders, cfg.batches)))
        for n in range(cfg.batches)
    ]
    m = Manifest(config={k: str(v) for k, v in cfg.__dict__.items()})
    records = {e: [r for b in batches for r in b.records[e]] for e in ENTITY_ORDER}
    m.order_lines, m.shipments, m.stock, m.customers = final_state(records)
    for e in ENTITY_ORDER:
        lines = [line for b in batches for line in b.landed[e][0]]
        m.duplicates[e] = sum(b.landed[e][1] for b in batches)
        m.malformed[e] = sum(b.landed[e][2] for b in batches)
        m.valid_records[e], m.lines_written[e] = len(records[e]), len(lines)
        m.files[e] = [L.write_landing_file(p, lines[f::k]) for f, p in enumerate(paths[e])]
    return m


# The fields of an order line's truth taken as its latest event carries them.
LINE_TRUTH = (
    "order_id",
    "line_id",
    "customer_id",
    "sku",
    "category",
    "quantity",
    "status",
    "region",
)


def final_state(records: dict[str, list[dict]]) -> tuple[list, list, list, list]:
    """The truth Gold must reach from the clean ``records`` per entity: (order lines with their
    final status, net amount, ship-to region and the customer's segment at order time;
    shipments' outcome, ``ship_lead_days`` in days; on hand per SKU and location; each
    customer's latest version)."""
    versions: dict[str, list[dict]] = {}
    for c in sorted(records["customers"], key=lambda c: c["updated_ts"]):
        versions.setdefault(c["customer_id"], []).append(c)

    def segment_at(cid: str, t: str) -> str:  # before its first version: the first one
        first, *later = versions[cid]
        return [first, *(v for v in later if v["updated_ts"] <= t)][-1]["segment"]

    latest = {ev["line_id"]: ev for ev in sorted(records["orders"], key=lambda e: e["event_ts"])}
    order_lines = [
        {k: ev[k] for k in LINE_TRUTH}
        | {
            "net_amount": str(net_amount(ev)),
            "order_date": ev["order_ts"][:10],
            "segment": segment_at(ev["customer_id"], ev["order_ts"]),
        }
        for ev in latest.values()
    ]
    placed = {ev["order_id"]: dt.datetime.fromisoformat(ev["order_ts"]) for ev in latest.values()}
    sla_days = {s.name: s.sla_days for s in W.SERVICE_LEVELS}
    delivered = {e["shipment_id"]: e for e in records["shipments"] if e["status"] == "DELIVERED"}
    shipments = []
    for s in (e for e in records["shipments"] if e["status"] == "SHIPPED"):
        lead = dt.datetime.fromisoformat(s["status_ts"]) - placed[s["order_id"]]
        lead_days = lead.total_seconds() / 86400
        d = delivered.get(s["shipment_id"])
        on_time = d["actual_delivery_ts"][:10] <= d["promised_delivery_date"] if d else None
        shipments.append(
            {k: s[k] for k in ("shipment_id", "order_id", "service_level")}
            | {
                "ship_lead_days": lead_days,
                "late_vs_sla": lead_days > sla_days[s["service_level"]],
                "delivered": d is not None,
                "on_time_vs_promise": on_time,
                "status": "DELIVERED" if d else "SHIPPED",
            }
        )
    on_hand: dict[tuple[str, str], int] = {}
    for ev in sorted(records["inventory"], key=lambda e: e["event_ts"]):  # a snapshot resets
        key, moved = (ev["sku"], ev["location_id"]), ev["event_type"] == "ADJUSTMENT"
        on_hand[key] = ev["quantity"] + (on_hand.get(key, 0) if moved else 0)
    stock = [{"sku": s, "location_id": loc, "on_hand": q} for (s, loc), q in on_hand.items()]
    return order_lines, shipments, stock, [vs[-1] for vs in versions.values()]
