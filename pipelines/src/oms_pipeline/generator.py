"""Deterministic synthetic OMS generator: landing JSON-lines files per entity plus a manifest.

Realistic shape (skewed customers, several lines per order, cancellations, late shipments,
stock movements), and the awkward parts of real feeds: exact duplicates, events out of order
across files, later customer versions arriving before earlier ones, and a configurable rate of
malformed or rule-breaking lines. The manifest holds the true final state so tests can
recompute Gold independently of Spark.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

REGIONS = ("East", "West", "Central", "South")
SEGMENTS = (("Consumer", 0.5), ("Corporate", 0.3), ("Home Office", 0.2))
CATEGORIES = ("Furniture", "Office Supplies", "Technology")
CARRIERS = ("UPS", "FedEx", "DHL")
SERVICE_LEVELS = (("Standard", 0.6, 5), ("Express", 0.25, 1), ("Economy", 0.15, 7))
LOCATIONS = ("WH-EAST", "WH-WEST", "WH-CENTRAL")


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


def _ts(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _weighted(rng: random.Random, options: Sequence[tuple]) -> tuple:
    return rng.choices(options, weights=[o[1] for o in options], k=1)[0]


def generate(landing: str, config: GeneratorConfig | None = None) -> Manifest:
    cfg = config or GeneratorConfig()
    rng = random.Random(cfg.seed)
    m = Manifest(config={k: str(v) for k, v in cfg.__dict__.items()})
    t0 = dt.datetime.combine(cfg.start, dt.time(0, 0))
    records: dict[str, list[dict]] = {
        "customers": [],
        "orders": [],
        "shipments": [],
        "inventory": [],
    }

    # Customers: an initial version before the period, some with a later change.
    versions: dict[str, list[dict]] = {}
    for i in range(cfg.customers):
        cid = f"C{i + 1:05d}"
        v1 = {
            "customer_id": cid,
            "customer_name": f"Customer {i + 1}",
            "region": rng.choice(REGIONS),
            "segment": _weighted(rng, SEGMENTS)[0],
            "country": "United States",
            "updated_ts": _ts(t0 - dt.timedelta(days=30, minutes=i)),
        }
        versions[cid] = [v1]
        if rng.random() < cfg.customer_update_rate:
            changed = dict(v1)
            changed["segment"] = _weighted(rng, SEGMENTS)[0]
            changed["region"] = rng.choice(REGIONS)
            changed["updated_ts"] = _ts(t0 + dt.timedelta(days=rng.randrange(cfg.days), hours=3))
            versions[cid].append(changed)
    for vs in versions.values():
        records["customers"].extend(vs)
        m.customers.append(vs[-1])

    def version_at(cid: str, ts: str) -> dict:
        best = versions[cid][0]
        for v in versions[cid]:
            if v["updated_ts"] <= ts:
                best = v
        return best

    products = [
        {
            "sku": f"P{j + 1:04d}",
            "product_name": f"Product {j + 1}",
            "category": CATEGORIES[j % len(CATEGORIES)],
            "sub_category": f"Sub {j % 7}",
            "price": Decimal(rng.randrange(500, 50000)) / 100,
        }
        for j in range(cfg.products)
    ]
    weights = [1 / (k + 1) for k in range(cfg.customers)]  # a few customers order a lot
    cids = list(versions)
    sold: dict[str, list[tuple[dt.date, int]]] = {}

    for n in range(cfg.orders):
        oid = f"{cfg.id_prefix}O{n + 1:06d}"
        cid = rng.choices(cids, weights=weights, k=1)[0]
        order_t = t0 + dt.timedelta(minutes=rng.randrange(cfg.days * 24 * 60))
        cust = version_at(cid, _ts(order_t))
        cancelled = rng.random() < cfg.cancel_rate
        for ln in range(rng.randint(1, 4)):
            p = rng.choice(products)
            qty = rng.randint(1, 5)
            disc = rng.choice([Decimal("0"), Decimal("0"), Decimal("0.1"), Decimal("0.2")])
            base = {
                "order_id": oid,
                "line_id": f"{oid}-{ln + 1}",
                "customer_id": cid,
                "sku": p["sku"],
                "product_name": p["product_name"],
                "category": p["category"],
                "sub_category": p["sub_category"],
                "quantity": qty,
                "unit_price": str(p["price"]),
                "discount": str(disc),
                "currency": "USD",
                "region": cust["region"],
                "order_ts": _ts(order_t),
            }
            records["orders"].append(base | {"status": "CREATED", "event_ts": _ts(order_t)})
            final = "CONFIRMED"
            records["orders"].append(
                base | {"status": "CONFIRMED", "event_ts": _ts(order_t + dt.timedelta(hours=1))}
            )
            if cancelled:
                final = "CANCELLED"
                records["orders"].append(
                    base | {"status": "CANCELLED", "event_ts": _ts(order_t + dt.timedelta(hours=2))}
                )
            else:
                sold.setdefault(p["sku"], []).append((order_t.date(), qty))
            m.order_lines.append(
                {
                    "order_id": oid,
                    "line_id": base["line_id"],
                    "customer_id": cid,
                    "sku": p["sku"],
                    "category": p["category"],
                    "quantity": qty,
                    "net_amount": str((qty * p["price"] * (1 - disc)).quantize(Decimal("0.0001"))),
                    "status": final,
                    "order_date": order_t.date().isoformat(),
                    "region": cust["region"],
                    "segment": cust["segment"],
                }
            )
        if cancelled:
            continue
        level, _, sla = _weighted(rng, SERVICE_LEVELS)
        late = rng.random() < cfg.late_rate
        ship_days = sla + rng.randint(1, 3) if late else rng.randint(0, sla)
        shipped_t = order_t + dt.timedelta(days=ship_days, hours=rng.randint(0, 5))
        promised = (order_t + dt.timedelta(days=sla + 3)).date()
        delivered_t = shipped_t + dt.timedelta(days=rng.randint(1, 4))
        sid = f"{cfg.id_prefix}S{n + 1:06d}"
        common = {
            "shipment_id": sid,
            "order_id": oid,
            "carrier": rng.choice(CARRIERS),
            "service_level": level,
            "promised_delivery_date": promised.isoformat(),
        }
        records["shipments"].append(
            common
            | {
                "event_id": f"{sid}-1",
                "status": "CREATED",
                "status_ts": _ts(order_t + dt.timedelta(hours=1)),
            }
        )
        records["shipments"].append(
            common | {"event_id": f"{sid}-2", "status": "SHIPPED", "status_ts": _ts(shipped_t)}
        )
        horizon = t0 + dt.timedelta(days=cfg.days)
        delivered = delivered_t <= horizon
        if delivered:
            records["shipments"].append(
                common
                | {
                    "event_id": f"{sid}-3",
                    "status": "DELIVERED",
                    "status_ts": _ts(delivered_t),
                    "actual_delivery_ts": _ts(delivered_t),
                }
            )
        m.shipments.append(
            {
                "shipment_id": sid,
                "order_id": oid,
                "service_level": level,
                "ship_lead_days": (shipped_t - order_t).total_seconds() / 86400,
                "late_vs_sla": (shipped_t - order_t).total_seconds() / 86400 > sla,
                "delivered": delivered,
                "on_time_vs_promise": delivered_t.date() <= promised if delivered else None,
                "status": "DELIVERED" if delivered else "SHIPPED",
            }
        )

    # Inventory: an opening snapshot per SKU and location, then receipts and sales.
    ev = 0
    for p in products:
        for loc in LOCATIONS:
            on_hand = rng.randint(0, 200)
            ev += 1
            records["inventory"].append(
                {
                    "event_id": f"{cfg.id_prefix}I{ev:07d}",
                    "event_type": "SNAPSHOT",
                    "sku": p["sku"],
                    "location_id": loc,
                    "quantity": on_hand,
                    "sku_status": "ACTIVE",
                    "event_ts": _ts(t0),
                }
            )
            for _ in range(rng.randint(0, 4)):
                delta = rng.choice([-1, -1, 1]) * rng.randint(1, 30)
                ev += 1
                records["inventory"].append(
                    {
                        "event_id": f"{cfg.id_prefix}I{ev:07d}",
                        "event_type": "ADJUSTMENT",
                        "sku": p["sku"],
                        "location_id": loc,
                        "quantity": delta,
                        "reason": "receipt" if delta > 0 else "sale",
                        "event_ts": _ts(t0 + dt.timedelta(days=rng.randrange(1, cfg.days))),
                    }
                )
                on_hand += delta
            m.stock.append({"sku": p["sku"], "location_id": loc, "on_hand": on_hand})

    for entity, recs in records.items():
        m.valid_records[entity] = len(recs)
        lines = [json.dumps(r, sort_keys=True) for r in recs]
        dups = [rng.choice(lines) for _ in range(int(len(lines) * cfg.duplicate_rate))]
        m.duplicates[entity] = len(dups)
        bad = [
            _malformed(rng, rng.choice(recs), entity)
            for _ in range(int(len(lines) * cfg.malformed_rate))
        ]
        m.malformed[entity] = len(bad)
        everything = lines + dups + bad
        rng.shuffle(everything)  # out of order within and across files
        folder = os.path.join(landing, entity)
        os.makedirs(folder, exist_ok=True)
        m.files[entity] = []
        k = max(1, cfg.files_per_entity)
        for f in range(k):
            chunk = everything[f::k]
            path = os.path.join(folder, f"{entity}-{cfg.id_prefix}{cfg.seed}-{f:04d}.jsonl")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write("\n".join(chunk) + ("\n" if chunk else ""))
            m.files[entity].append(path)
        m.lines_written[entity] = len(everything)
    return m


def _malformed(rng: random.Random, record: dict, entity: str) -> str:
    """One bad line: invalid JSON, a truncated line, a wrong type, or a broken rule."""
    kind = rng.choice(("invalid_json", "truncated", "wrong_type", "missing_key", "bad_value"))
    good = json.dumps(record, sort_keys=True)
    if kind == "invalid_json":
        return "{not json: " + good[:20]
    if kind == "truncated":
        return good[: max(5, len(good) // 2)]
    r = dict(record)
    key = {
        "orders": "order_id",
        "shipments": "event_id",
        "inventory": "event_id",
        "customers": "customer_id",
    }[entity]
    if kind == "missing_key":
        r.pop(key, None)
    elif kind == "wrong_type":
        r[
            {
                "orders": "quantity",
                "shipments": "status_ts",
                "inventory": "quantity",
                "customers": "updated_ts",
            }[entity]
        ] = "n/a"
    else:
        r[
            {
                "orders": "status",
                "shipments": "status",
                "inventory": "event_type",
                "customers": "segment",
            }[entity]
        ] = "???"
    return json.dumps(r, sort_keys=True)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="oms-generate", description=__doc__)
    p.add_argument("--landing", required=True)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--orders", type=int, default=400)
    p.add_argument("--malformed-rate", type=float, default=0.01)
    p.add_argument("--manifest", default=None)
    a = p.parse_args(argv)
    man = generate(
        a.landing, GeneratorConfig(seed=a.seed, orders=a.orders, malformed_rate=a.malformed_rate)
    )
    if a.manifest:
        man.write(a.manifest)
    print(json.dumps(man.summary(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
