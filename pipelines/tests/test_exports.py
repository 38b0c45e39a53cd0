"""CSV imports: byte-order marks, header checks, placeholders and fallbacks, exact parsing, and a
landing folder that never holds part of an import. Plain Python (no Spark) except the last test,
which takes a delivery history with placeholder dates through to Gold."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from oms_pipeline import exports
from oms_pipeline.config import PipelineSettings, TableLocator
from oms_pipeline.exports import ExportAlreadyImported, convert_export, load_mapping, map_row
from oms_pipeline.io.tables import read_table
from oms_pipeline.local import run_once

from .conftest import FIXTURES, MAPPINGS

SUPERSTORE = FIXTURES / "superstore" / "superstore.csv"
SCMS = FIXTURES / "scms" / "delivery_history.csv"


def _superstore_lines(n: int = 3) -> list[str]:
    return SUPERSTORE.read_text(encoding="utf-8").splitlines()[: n + 1]


def _landed(landing: Path) -> list[str]:
    return sorted(str(p.relative_to(landing)) for p in landing.rglob("*") if p.is_file())


def _orders(landing: Path) -> list[dict]:
    return [
        json.loads(line)
        for f in sorted((landing / "orders").glob("*.jsonl"))
        for line in f.read_text(encoding="utf-8").splitlines()
    ]


# --- 4. BOMs, header check, exact values ------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "written"),
    [
        ("utf-8", "utf-8-sig"),  # Excel's "CSV UTF-8"
        ("utf-8-sig", "utf-8-sig"),
        ("utf-16", "utf-16"),  # BOM + little-endian
        ("utf-16-le", "utf-16"),  # explicit byte order: the codec keeps the BOM as a character
        ("utf-16-be", "utf-16-be"),
        ("utf-32-le", "utf-32-le"),
    ],
)
def test_a_byte_order_mark_never_renames_the_first_column(tmp_path, declared, written):
    text = "\n".join(_superstore_lines()) + "\n"
    data = text.encode(written)
    if written in ("utf-16-be", "utf-32-le"):
        data = "\ufeff".encode(written) + data
    csv_path = tmp_path / "export.csv"
    csv_path.write_bytes(data)
    mapping = load_mapping(str(MAPPINGS / "superstore.yaml"))
    mapping = exports.Mapping(**{**mapping.__dict__, "encoding": declared})
    convert_export(mapping, str(csv_path), str(tmp_path / "landing"))
    assert [o["line_id"] for o in _orders(tmp_path / "landing")] == ["1", "2", "3"]


def test_a_mapped_column_missing_from_the_header_is_refused_before_any_row(tmp_path):
    lines = _superstore_lines()
    csv_path = tmp_path / "export.csv"
    csv_path.write_text("\n".join([lines[0].replace("Ship Mode", "Shipping Mode"), *lines[1:]]))
    with pytest.raises(ValueError) as err:
        convert_export(
            load_mapping(str(MAPPINGS / "superstore.yaml")), str(csv_path), str(tmp_path / "l")
        )
    message = str(err.value)
    assert "'Ship Mode' (for shipments.promised_delivery_date)" in message
    assert "'Ship Mode' (for shipments.service_level)" in message
    assert "'Shipping Mode'" in message and "'Row ID'" in message  # the headers found
    assert _landed(tmp_path / "l") == []


def test_template_and_fallback_columns_are_checked_too(tmp_path):
    mapping = load_mapping(str(MAPPINGS / "scms_delivery_history.yaml"))
    header = SCMS.read_text(encoding="utf-8").splitlines()[0].split(",")
    exports.check_header(mapping, header)
    for column in ("ASN/DN #", "PQ First Sent to Client Date"):
        with pytest.raises(ValueError, match=f"'{column}'"):
            exports.check_header(mapping, [h for h in header if h != column])


def test_a_date_that_no_format_parses_exactly_lands_as_is(tmp_path):
    """Silver then quarantines it (invalid_type): nothing is reinterpreted on the way."""
    mapping = load_mapping(str(MAPPINGS / "superstore.yaml"))
    spec = mapping.entities["orders"]
    row = dict(
        zip(_superstore_lines()[0].split(","), _superstore_lines()[1].split(","), strict=False)
    )
    assert map_row(row, spec, mapping)["order_ts"] == "2016-11-08T00:00:00Z"
    for cell in ("1/2/16", "2016", "2016-13-45", "11/31/2016"):  # short year, partial, invalid
        assert map_row(row | {"Order Date": cell}, spec, mapping)["order_ts"] == cell
    ships = mapping.entities["shipments"]
    assert map_row(row | {"Order Date": "2016"}, ships, mapping)["promised_delivery_date"] == "2016"


def test_placeholders_are_no_value_and_fallbacks_apply(tmp_path):
    mapping = load_mapping(str(MAPPINGS / "scms_delivery_history.yaml"))
    spec = mapping.entities["orders"]
    header = SCMS.read_text(encoding="utf-8").splitlines()[0].split(",")
    row = dict.fromkeys(header, "x")
    both = row | {
        "PO Sent to Vendor Date": "N/A - From RDC",
        "PQ First Sent to Client Date": " date not captured ",
    }
    assert map_row(both, spec, mapping)["order_ts"] is None
    quote = both | {"PQ First Sent to Client Date": "11/13/14"}
    assert map_row(quote, spec, mapping)["order_ts"] == "2014-11-13T00:00:00Z"  # 2nd format
    po = quote | {"PO Sent to Vendor Date": "2-Jun-06"}
    assert map_row(po, spec, mapping)["order_ts"] == "2006-06-02T00:00:00Z"
    assert map_row(row | {"Pack Price": "N/A"}, spec, mapping)["unit_price"] is None


# --- 5. an import is all or nothing; a re-import is new or detected ---------------------------


def test_a_failed_import_leaves_nothing_in_the_landing_folder(tmp_path, monkeypatch):
    mapping = load_mapping(str(MAPPINGS / "superstore.yaml"))
    landing = tmp_path / "landing"
    bad_bytes = tmp_path / "latin1.csv"  # a UTF-8 mapping given a Latin-1 export, row 3 breaks
    lines = _superstore_lines()
    bad_bytes.write_bytes("\n".join([*lines[:3], lines[3].replace(",", ",é", 1)]).encode("latin-1"))
    with pytest.raises(UnicodeDecodeError):
        convert_export(mapping, str(bad_bytes), str(landing))
    assert _landed(landing) == []

    calls = {"n": 0}
    real = exports.map_row

    def dies_on_row_5(row, spec, m):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # an import stopped part-way (Ctrl-C, kill)
        return real(row, spec, m)

    monkeypatch.setattr(exports, "map_row", dies_on_row_5)
    with pytest.raises(KeyboardInterrupt):
        convert_export(mapping, str(SUPERSTORE), str(landing))
    assert _landed(landing) == []


def test_a_reimport_is_detected_and_a_corrected_export_is_a_new_file(tmp_path):
    mapping = load_mapping(str(MAPPINGS / "superstore.yaml"))
    landing = tmp_path / "landing"
    csv_path = tmp_path / "export.csv"
    csv_path.write_text("\n".join(_superstore_lines()) + "\n", encoding="utf-8")
    convert_export(mapping, str(csv_path), str(landing))
    first = _landed(landing)
    assert len(first) == 3 and all(f.endswith(".jsonl") for f in first)
    with pytest.raises(ExportAlreadyImported, match="already imported"):
        convert_export(mapping, str(csv_path), str(landing))
    assert _landed(landing) == first
    csv_path.write_text("\n".join(_superstore_lines(4)) + "\n", encoding="utf-8")
    assert convert_export(mapping, str(csv_path), str(landing))["orders"] == 4
    assert len(_landed(landing)) == 6


# --- 9. a real delivery history: quarantined orders still count in Gold ----------------------


def test_delivery_history_with_placeholder_dates_reconciles_in_gold(spark, loc: TableLocator):
    mapping = load_mapping(str(MAPPINGS / "scms_delivery_history.yaml"))
    assert convert_export(mapping, str(SCMS), loc.landing_root) == {"orders": 13, "shipments": 13}
    run_once(
        spark,
        loc,
        PipelineSettings(as_of_date=dt.date(2015, 12, 31)),
        entities=tuple(mapping.entities),
    )
    q = read_table(spark, loc, "ops", "quarantine_orders").collect()
    assert sorted(list(r["reasons"]) for r in q) == [["missing:order_ts"]] * 6
    assert read_table(spark, loc, "gold", "fact_order_lines").count() == 7

    fact = read_table(spark, loc, "gold", "fact_shipments")
    agg = read_table(spark, loc, "gold", "agg_shipment_sla_daily")
    f = fact.agg(
        F.count("*"), F.count("is_on_time_vs_promise"), F.count_if(~F.col("is_on_time_vs_promise"))
    ).first()
    a = agg.agg(
        F.sum("shipment_count"), F.sum("promise_evaluated_count"), F.sum("late_vs_promise_count")
    ).first()
    assert tuple(f) == tuple(a) == (13, 13, 3)  # late vs promise: 23.1 % in both
    by_basis = {
        r[0]: r[1] for r in agg.groupBy("date_basis").agg(F.sum("shipment_count")).collect()
    }
    assert by_basis == {"order": 7, "promise": 6}
