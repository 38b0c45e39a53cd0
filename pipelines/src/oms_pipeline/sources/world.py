"""The synthetic OMS world: master data and the domain constants the event factory draws from.

Facts a contract already holds are read from it (``contracts.entities.SEGMENTS``); the rest are
the world's own: regions, categories, carriers, warehouse locations and service levels with
their SLA (days from order to ship, the ``sla_days`` Gold evaluates in the tests).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from oms_pipeline.contracts.entities import SEGMENTS

REGIONS = ("East", "West", "Central", "South")
# Relative weight of each contract segment among customers (every contract segment occurs).
SEGMENT_WEIGHTS: dict[str, int] = dict(zip(SEGMENTS, (5, 3, 2, 1), strict=True))
CATEGORIES = ("Furniture", "Office Supplies", "Technology")
CARRIERS = ("UPS", "FedEx", "DHL")
LOCATIONS = ("WH-EAST", "WH-WEST", "WH-CENTRAL")


@dataclass(frozen=True)
class ServiceLevel:
    name: str
    weight: float  # share of shipments
    sla_days: int  # days from order to ship


SERVICE_LEVELS = (
    ServiceLevel("Standard", 0.6, 5),
    ServiceLevel("Express", 0.25, 1),
    ServiceLevel("Economy", 0.15, 7),
)
DISCOUNTS = ("0", "0", "0", "0.1", "0.2")  # a line's discount share, drawn uniformly
PRICE_CENTS = (500, 50000)  # a product's unit price range in cents, end excluded

T = TypeVar("T")


def ts(t: dt.datetime) -> str:
    """An event time as landed: ISO-8601 UTC to the second (``2025-01-01T00:00:00Z``)."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def weighted(rng: random.Random, options: Sequence[T], weights: Sequence[float]) -> T:
    return rng.choices(options, weights=weights, k=1)[0]


def segment(rng: random.Random) -> str:
    return weighted(rng, SEGMENTS, list(SEGMENT_WEIGHTS.values()))


def service_level(rng: random.Random) -> ServiceLevel:
    return weighted(rng, SERVICE_LEVELS, [s.weight for s in SERVICE_LEVELS])


@dataclass(frozen=True)
class MasterData:
    """The master data of a world: customers (first versions) and products (with ``price``)."""

    customers: tuple[dict, ...]
    products: tuple[dict, ...]


def master_data(
    rng: random.Random, customers: int, products: int, as_of: dt.datetime
) -> MasterData:
    """``customers`` customers, first versions stamped 30 days before ``as_of`` (a minute apart),
    and ``products`` products spread over the categories."""
    return MasterData(
        tuple(
            {
                "customer_id": f"C{i + 1:05d}",
                "customer_name": f"Customer {i + 1}",
                "region": rng.choice(REGIONS),
                "segment": segment(rng),
                "country": "United States",
                "updated_ts": ts(as_of - dt.timedelta(days=30, minutes=i)),
            }
            for i in range(customers)
        ),
        tuple(
            {
                "sku": f"P{j + 1:04d}",
                "product_name": f"Product {j + 1}",
                "category": CATEGORIES[j % len(CATEGORIES)],
                "sub_category": f"Sub {j % 7}",
                "price": Decimal(rng.randrange(*PRICE_CENTS)) / 100,
            }
            for j in range(products)
        ),
    )
