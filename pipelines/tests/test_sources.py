"""The synthetic world, the event factory in both modes and the one landing-file writer (plain
Python, no Spark)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from oms_pipeline.contracts.entities import SEGMENTS
from oms_pipeline.exports import convert_export, load_mapping
from oms_pipeline.io.landing_files import classify
from oms_pipeline.live import feed_writer
from oms_pipeline.sources import factory, landing
from oms_pipeline.sources.factory import FeedConfig, batch_events, generate

from .conftest import FIXTURES, MAPPINGS

NAME = re.compile(r"^(?P<source>[A-Za-z0-9][^/]*?)-(?P<run>[^/]+)-(?P<part>[^/-]+)\.jsonl$")


def _names(root: Path) -> set[str]:
    return {p.name for p in root.rglob("*") if p.is_file()}


def test_segments_are_the_contracts_in_both_modes(tmp_path):
    m = generate(str(tmp_path), FeedConfig(seed=5, customers=200, orders=20))
    assert {c["segment"] for c in m.customers} == set(SEGMENTS)
    cat = factory.master_data(FeedConfig(seed=5))
    assert {c["segment"] for c in cat.customers} == set(SEGMENTS)


def test_every_producer_lands_under_one_naming_scheme(tmp_path):
    gen, feed, imp = tmp_path / "gen", tmp_path / "feed", tmp_path / "imp"
    generate(str(gen), FeedConfig(seed=5, orders=10, files_per_entity=2))
    cfg = FeedConfig(seed=5)
    feed_writer.write_batch(str(feed), 5, 3, batch_events(cfg, factory.master_data(cfg), 3, 20))
    convert_export(
        load_mapping(str(MAPPINGS / "superstore.yaml")),
        str(FIXTURES / "superstore" / "superstore.csv"),
        str(imp),
    )
    parsed = {
        root.name: {(m["source"], m["run"], m["part"]) for m in map(NAME.match, _names(root))}
        for root in (gen, feed, imp)
    }
    assert parsed["gen"] == {("generated", "s5", "f0000"), ("generated", "s5", "f0001")}
    assert parsed["feed"] == {("feed", "s5", "b00000003")}
    ((source, run, digest),) = parsed["imp"]
    assert (source, run) == ("superstore", "superstore") and re.fullmatch("[0-9a-f]{12}", digest)


@pytest.mark.parametrize(
    ("source", "run", "part"),
    [(".hidden", "s1", "b1"), ("_x", "s1", "b1"), ("feed", "", "b1"), ("feed", "a/b", "b1")],
)
def test_a_name_the_readers_would_skip_or_misplace_is_refused(source, run, part):
    with pytest.raises(ValueError, match="landing file"):
        landing.landing_name(source, run, part)


def test_a_write_killed_midway_leaves_only_an_ignored_temporary(tmp_path, monkeypatch):
    final = str(tmp_path / "orders" / landing.landing_name("feed", "s1", "b00000000"))

    def lines():
        yield '{"order_id": "O1"}'
        raise KeyboardInterrupt  # killed part-way

    with pytest.raises(KeyboardInterrupt):
        landing.write_landing_file(final, lines())
    assert not os.path.exists(final) and _names(tmp_path) == set()

    # A kill between write and rename (the process dies, no clean-up runs): a hidden temporary.
    monkeypatch.setattr(landing.PendingFile, "discard", lambda self: None)
    monkeypatch.setattr(os, "replace", lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        landing.write_landing_file(final, ['{"order_id": "O1"}'])
    monkeypatch.undo()
    (temp,) = [f for f in classify(str(tmp_path), {}) if f.entity == "orders"]
    assert os.path.basename(temp.path).startswith(".") and temp.status == "ignored"
    assert landing.remove_stale_temps([os.path.dirname(final)], os.path.basename(final))
    written = landing.write_landing_file(final, ['{"order_id": "O1"}', '{"order_id": "O2"}'])
    assert Path(written).read_text() == '{"order_id": "O1"}\n{"order_id": "O2"}\n'
    assert [f.status for f in classify(str(tmp_path), {})] == ["pending"]


def test_generate_never_rewrites_a_landed_file_and_refuses_before_writing(tmp_path):
    first = generate(str(tmp_path), FeedConfig(seed=5, orders=10, files_per_entity=1))
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    # same seed, other content (more orders, more files): the same names, so refused
    with pytest.raises(landing.LandingFileExists) as err:
        generate(str(tmp_path), FeedConfig(seed=5, orders=30, files_per_entity=2))
    assert isinstance(err.value, FileExistsError)
    assert str(err.value) == (
        f"{first.files['customers'][0]} already exists; a landed file is never rewritten (a file "
        "stream does not read it again, so the lakehouse would no longer match the landing "
        "folder): an earlier generate with seed 5 landed it; use another --landing or another "
        "--seed"
    )
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    # another seed lands beside them
    other = generate(str(tmp_path), FeedConfig(seed=6, orders=10, files_per_entity=1))
    assert not set(other.files["orders"]) & set(first.files["orders"])


def _malformed_kinds(entity: str, rows: list[str]) -> set[str]:
    """The kinds of malformed line among ``rows`` (``factory.MALFORMED_KINDS``)."""
    kinds = set()
    for row in rows:
        try:
            r = json.loads(row)
        except ValueError:
            kinds.add("invalid_json" if row.startswith("{not json") else "truncated")
            continue
        if "???" in r.values():
            kinds.add("bad_value")
        elif "n/a" in r.values():
            kinds.add("wrong_type")
        elif factory._KEY[entity] not in r:
            kinds.add("missing_key")
    return kinds


def test_feed_batches_carry_every_kind_of_malformed_line():
    cfg = FeedConfig(seed=1, malformed_rate=0.2)
    cat = factory.master_data(cfg)
    bad = set()
    for n in range(3):
        for entity, rows in batch_events(cfg, cat, n, 200).items():
            bad |= _malformed_kinds(entity, rows)
    assert bad == set(factory.MALFORMED_KINDS)


def _landed(m: factory.Manifest) -> dict[str, list[str]]:
    return {
        e: [x for f in files for x in Path(f).read_text().splitlines()]
        for e, files in m.files.items()
    }


def test_batch_mode_lands_the_feeds_batches(tmp_path):
    cfg = FeedConfig(seed=4, orders=30, batches=5, customers=20, products=10)
    m = generate(str(tmp_path), cfg)
    cat = factory.master_data(cfg)
    expected: dict[str, list[str]] = {}
    for n in range(cfg.batches):
        # The streaming batch of the size batch mode reached with its share of the orders.
        records = factory.batch(cfg, cat, n, orders=cfg.orders // cfg.batches).records
        size = sum(map(len, records.values()))
        for entity, rows in batch_events(cfg, cat, n, size).items():
            expected.setdefault(entity, []).extend(rows)
    assert {e: sorted(rows) for e, rows in _landed(m).items()} == {
        e: sorted(rows) for e, rows in expected.items()
    }
    assert len({line["order_id"] for line in m.order_lines}) == cfg.orders


def test_batch_mode_covers_every_kind_of_event(tmp_path):
    m = generate(str(tmp_path), FeedConfig(seed=2, malformed_rate=0.02))
    clean = {
        e: [json.loads(x) for x in rows if x.startswith("{") and not _malformed_kinds(e, [x])]
        for e, rows in _landed(m).items()
    }
    assert {r["status"] for r in clean["orders"]} == {"CREATED", "CONFIRMED", "CANCELLED"}
    assert {r["status"] for r in clean["shipments"]} == {"CREATED", "SHIPPED", "DELIVERED"}
    assert {s["late_vs_sla"] for s in m.shipments} == {True, False}
    kinds = {(r["event_type"], r.get("reason")) for r in clean["inventory"]}
    assert kinds == {("SNAPSHOT", None), ("ADJUSTMENT", "sale"), ("ADJUSTMENT", "receipt")}
    versions = {(r["customer_id"], r["updated_ts"]) for r in clean["customers"]}
    assert len(versions) > len({cid for cid, _ in versions})  # some customers change (SCD2)
    assert all(m.duplicates.values())
    bad = set().union(*(_malformed_kinds(e, rows) for e, rows in _landed(m).items()))
    assert bad == set(factory.MALFORMED_KINDS)


def test_same_seed_same_bytes_in_batch_mode(tmp_path):
    a, b = (generate(str(tmp_path / d), FeedConfig(seed=9, orders=50)) for d in "ab")
    assert _landed(a) == _landed(b) and a.summary() == b.summary()


def test_the_oracle_is_read_off_the_records():
    """Final status by event time, segment as of the order, lead time and promise from the
    milestones, stock from the latest snapshot plus later movements, the latest version."""

    def line(lid: str, status: str, order_ts: str, event_ts: str) -> dict:
        return {"order_id": lid[:2], "line_id": lid, "customer_id": "C1", "sku": "P1",
                "category": "Technology", "quantity": 2, "unit_price": "10.00", "discount": "0.1",
                "region": "West", "status": status, "order_ts": order_ts, "event_ts": event_ts}  # fmt: skip

    def stock(kind: str, qty: int, ts: str) -> dict:
        return {"event_type": kind, "sku": "P1", "location_id": "WH-EAST", "quantity": qty,
                "event_ts": ts}  # fmt: skip

    early, late = "2025-01-01T09:00:00Z", "2025-01-01T11:00:00Z"
    records = {
        "customers": [
            {"customer_id": "C1", "segment": "Corporate", "updated_ts": "2025-01-01T10:00:00Z"},
            {"customer_id": "C1", "segment": "Consumer", "updated_ts": "2024-12-01T00:00:00Z"},
        ],
        "orders": [
            line("O1-1", "CREATED", early, early),
            line("O2-1", "CANCELLED", late, "2025-01-01T11:30:00Z"),
            line("O2-1", "CONFIRMED", late, "2025-01-01T11:05:00Z"),
        ],
        "shipments": [
            {
                "shipment_id": "S1",
                "order_id": "O1",
                "service_level": "Express",
                "status": status,
                "status_ts": ts,
                "actual_delivery_ts": ts,
                "promised_delivery_date": "2025-01-05",
            }
            for status, ts in (
                ("SHIPPED", "2025-01-03T09:00:00Z"),
                ("DELIVERED", "2025-01-06T00:00:00Z"),
            )
        ],
        "inventory": [
            stock("ADJUSTMENT", 10, "2025-01-02T00:00:00Z"),
            stock("SNAPSHOT", 100, "2025-01-01T00:00:00Z"),
            stock("ADJUSTMENT", -3, "2025-01-01T12:00:00Z"),
            stock("SNAPSHOT", 50, "2025-01-01T18:00:00Z"),
        ],
    }
    lines, shipments, on_hand, customers = factory.final_state(records)
    truth = {x["line_id"]: (x["status"], x["segment"], x["net_amount"]) for x in lines}
    assert truth == {"O1-1": ("CREATED", "Consumer", "18.0000"),
                     "O2-1": ("CANCELLED", "Corporate", "18.0000")}  # fmt: skip
    (s,) = shipments
    assert (s["ship_lead_days"], s["late_vs_sla"], s["on_time_vs_promise"]) == (2.0, True, False)
    assert on_hand == [{"sku": "P1", "location_id": "WH-EAST", "on_hand": 60}]
    assert [c["segment"] for c in customers] == ["Corporate"]
