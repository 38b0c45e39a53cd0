"""CSV imports: byte-order marks, header checks, placeholders and fallbacks, exact parsing, and a
landing folder that never holds part of an import. Plain Python (no Spark) except the last test,
which takes a delivery history with placeholder dates through to Gold."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from oms_pipeline import exports
from oms_pipeline.config import PipelineSettings, TableLocator
from oms_pipeline.contracts.entities import get_contract
from oms_pipeline.exports import ExportAlreadyImported, convert_export, load_mapping, map_row
from oms_pipeline.io.tables import read_table
from oms_pipeline.live.runner import run_once

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


# --- a mapping is checked against its typed schema when it is loaded --------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # an unknown key, named with its path and the keys allowed there
        (
            ('  delimiter: ","', '  delimiter: ","\n  quoting: all'),
            ["csv: unknown key(s) ['quoting']; allowed: delimiter, encoding"],
        ),
        (
            ("order_id: {column: Order ID}", "order_id: {column: Order ID, colum: x}"),
            ["entities.orders.fields.order_id: unknown key(s) ['colum']; allowed: add_days,"],
        ),
        # a wrong type: no silent coercion
        (
            ("source: superstore", "source: [superstore]"),
            ["source: Input should be a valid string"],
        ),
        (
            ("Same Day: 0", "Same Day: zero"),
            ["lookups.sla_days.Same Day: Input should be a valid integer (got 'zero')"],
        ),
        (
            (
                "order_ts: {column: Order Date, date: timestamp}",
                "order_ts: {column: Order Date, date: datetime}",
            ),
            ["entities.orders.fields.order_ts.date: Input should be 'timestamp' or 'date'"],
        ),
        # no source, or two, for one field
        (
            ("currency: {const: USD}", "currency: {const: USD, column: Currency}"),
            [
                "entities.orders.fields.currency: a field rule needs exactly one of column, const, "
                "template, add_days; found ['column', 'const']"
            ],
        ),
        # an entity or a field the contracts do not have
        (
            ("  customers:\n", "  clients:\n"),
            ["entities.clients: unknown entity; allowed: orders,"],
        ),
        (
            ("line_profit: {column: Profit}", "profit: {column: Profit}"),
            ["entities.orders.fields: unknown field(s) ['profit']; allowed: ", "line_profit"],
        ),
        (
            ("lookup: sla_days", "lookup: ship_days"),
            ["add_days.lookup: 'ship_days' is not under lookups; defined: sla_days"],
        ),
        # an encoding Python does not know, or one imports do not support
        (
            ("encoding: utf-8", "encoding: ebcdic"),
            ["csv.encoding: 'ebcdic' is not supported; use one of utf-8, "],
        ),
        (
            ("encoding: utf-8", "encoding: cp037"),
            ["csv.encoding: 'cp037' is not supported; use one of utf-8, ", "latin-1"],
        ),
    ],
)
def test_a_bad_mapping_is_refused_at_load_naming_the_key_and_what_is_allowed(
    tmp_path, change, expected
):
    text = (MAPPINGS / "superstore.yaml").read_text(encoding="utf-8")
    old, new = change
    assert old in text
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(exports.MappingError) as err:
        load_mapping(str(path))
    message = str(err.value)
    assert message.startswith(f"{path}: invalid mapping: ")
    for part in expected:
        assert part in message


def _refusal(tmp_path: Path, text: str) -> str:
    """The message ``load_mapping`` refuses the mapping ``text`` with, after its path."""
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(exports.MappingError) as err:
        load_mapping(str(path))
    message = str(err.value)
    assert message.startswith(f"{path}: invalid mapping: ")
    return message.removeprefix(f"{path}: invalid mapping: ")


def _superstore_with(old: str, new: str) -> str:
    text = (MAPPINGS / "superstore.yaml").read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


def test_a_mapping_without_entities_is_refused_naming_the_allowed(tmp_path):
    text = (MAPPINGS / "superstore.yaml").read_text(encoding="utf-8")
    text = text[: text.index("entities:")] + "entities: {}\n"
    assert _refusal(tmp_path, text) == (
        "entities: needs at least one entity; allowed: orders, shipments, inventory, customers"
    )


@pytest.mark.parametrize(
    ("template", "where", "problem"),
    [
        ("{Order ID:SHIPPED", "event_id.template", "(unmatched '{' in format spec)"),
        ("{Order ID}:SHIPPED}", "event_id.template", "(Single '}' encountered in format string)"),
        ("{}:SHIPPED", "event_id.template", "(Format string contains positional fields)"),
        ("{Order ID!x}", "event_id.template", "(Unknown conversion specifier x)"),
    ],
)
def test_a_template_that_does_not_parse_is_refused_at_load_naming_its_key(
    tmp_path, template, where, problem
):
    text = _superstore_with('{template: "{Order ID}:SHIPPED"}', f"{{template: {template!r}}}")
    assert _refusal(tmp_path, text) == (
        f"entities.shipments.fields.{where}: {template!r} is not a valid template {problem}; "
        "a column is written {Column name}, a literal brace {{ or }}"
    )
    # a fallback's template too, under its own key path
    text = _superstore_with(
        "order_ts: {column: Order Date, date: timestamp}",
        f"order_ts: {{column: Order Date, date: timestamp, fallback: {{template: {template!r}}}}}",
    )
    assert _refusal(tmp_path, text).startswith(
        "entities.orders.fields.order_ts.fallback.template: "
    )


def test_a_template_naming_columns_and_literal_braces_loads_and_renders(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(
        _superstore_with('"{Order ID}:SHIPPED"', '"{{{Order ID}}}:{Ship Mode!s:>4}"'),
        encoding="utf-8",
    )
    mapping = load_mapping(str(path))
    row = {"Order ID": "CA-1", "Ship Mode": "Air"}
    assert map_row(row, mapping.entities["shipments"], mapping)["event_id"] == "{CA-1}: Air"


@pytest.mark.parametrize("entity", ["orders", "customers", "shipments"])
def test_a_mapping_without_a_field_the_contract_requires_is_refused(tmp_path, entity):
    required = get_contract(entity).required_fields
    dropped = {"orders": "line_id", "customers": "segment", "shipments": "carrier"}[entity]
    text = (MAPPINGS / "superstore.yaml").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    (line,) = [ln for ln in lines if ln.startswith(f"      {dropped}: ")]
    assert _refusal(tmp_path, text.replace(line, "", 1)) == (
        f"entities.{entity}: missing required field(s) {dropped}; the contract requires: "
        f"{', '.join(required)}"
    )


def test_a_missing_key_is_said_required_without_dumping_the_mapping(tmp_path):
    assert _refusal(tmp_path, _superstore_with("source: superstore\n", "")) == (
        "source: Field required"
    )
    # a wrong type shows a short input, and only what a long one is
    assert _refusal(tmp_path, _superstore_with("source: superstore", "source: 12")) == (
        "source: Input should be a valid string (got 12)"
    )
    long = "{" + ", ".join(f"k{i}: {i}" for i in range(30)) + "}"
    message = _refusal(tmp_path, _superstore_with("source: superstore", f"source: {long}"))
    assert message == "source: Input should be a valid string (got a mapping of 30 key(s))"


def test_a_mapping_file_that_is_not_utf8_yaml_is_refused(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_bytes("source: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(exports.MappingError, match="not a UTF-8 YAML or JSON mapping"):
        load_mapping(str(path))


def test_a_mapping_that_does_not_parse_is_refused_naming_where(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("source: x\nentities:\n  orders: [1\n", encoding="utf-8")
    with pytest.raises(exports.MappingError) as err:
        load_mapping(str(path))
    assert str(err.value) == (
        f"{path}: not valid YAML: line 4, column 1: expected ',' or ']', but got '<stream end>'"
    )


# --- 5. an import is all or nothing; a re-import is new or detected ---------------------------


def test_a_failed_import_leaves_nothing_in_the_landing_folder(tmp_path, monkeypatch):
    mapping = load_mapping(str(MAPPINGS / "superstore.yaml"))
    landing = tmp_path / "landing"
    bad_bytes = tmp_path / "latin1.csv"  # a UTF-8 mapping given a Latin-1 export, row 3 breaks
    lines = _superstore_lines()
    bad_bytes.write_bytes("\n".join([*lines[:3], lines[3].replace(",", ",é", 1)]).encode("latin-1"))
    with pytest.raises(exports.ExportEncodingError):
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


def test_a_reimport_completes_an_import_killed_between_its_renames(tmp_path):
    mapping = load_mapping(str(MAPPINGS / "superstore.yaml"))
    landing = tmp_path / "landing"
    full = convert_export(mapping, str(SUPERSTORE), str(landing))
    first = {p: (landing / p).read_bytes() for p in _landed(landing)}
    kept = next(p for p in first if p.startswith("orders/"))
    for p in first:
        if p != kept:  # only orders had been renamed into place when the import was killed
            (landing / p).unlink()
    again = convert_export(mapping, str(SUPERSTORE), str(landing))
    assert again == {e: n for e, n in full.items() if e != "orders"}
    assert {p: (landing / p).read_bytes() for p in _landed(landing)} == first
    with pytest.raises(ExportAlreadyImported) as err:
        convert_export(mapping, str(SUPERSTORE), str(landing))
    assert all(p.split("/")[1] in str(err.value) for p in first)  # names every entity file


def test_temporaries_of_a_killed_import_are_removed_by_the_next_import(tmp_path):
    mapping = load_mapping(str(MAPPINGS / "superstore.yaml"))
    landing = tmp_path / "landing"
    name = f"superstore-superstore-{exports.export_digest(mapping, str(SUPERSTORE))}.jsonl"
    dead = 2**22 + 1  # above Linux's pid_max default: no such process
    stale = [
        landing / "orders" / f".{name}.{os.getpid()}.tmp",  # same export, any pid
        landing / "customers" / f".{name}.{dead}.tmp",
        landing / "shipments" / f".other-export-0123456789ab.jsonl.{dead}.tmp",  # dead process
    ]
    live = landing / "orders" / f".other-export-0123456789ab.jsonl.{os.getppid()}.tmp"
    feed = landing / "orders" / ".orders-s7-b00000001.jsonl.tmp"  # not an import's temporary
    for p in [*stale, live, feed]:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text('{"order_id": "half')
    convert_export(mapping, str(SUPERSTORE), str(landing))
    assert not any(p.exists() for p in stale)
    assert live.exists() and feed.exists()  # a live import's and the feed's files are kept
    assert all(n.endswith(".jsonl") for n in _landed(landing) if "/." not in n)


def test_bytes_not_in_the_declared_encoding_name_file_encoding_offset_and_the_fix(tmp_path):
    mapping = load_mapping(str(MAPPINGS / "superstore.yaml"))
    lines = _superstore_lines()
    head = ("\n".join(lines[:3]) + "\n").encode("utf-8")
    bad = tmp_path / "cp1252.csv"
    bad.write_bytes(head + lines[3].replace(",", ",\u00e9", 1).encode("cp1252"))
    offset = len(head) + lines[3].index(",") + 1
    with pytest.raises(exports.ExportEncodingError) as err:
        convert_export(mapping, str(bad), str(tmp_path / "landing"))
    message = str(err.value)
    assert str(bad) in message and "utf-8" in message and f"byte offset {offset} " in message
    assert "`encoding:`" in message and "cp1252" in message  # what to do, and what is allowed
    ok = exports.Mapping(**{**mapping.__dict__, "encoding": "cp1252"})
    assert convert_export(ok, str(bad), str(tmp_path / "landing"))["orders"] == 3

    unsupported = tmp_path / "m.yaml"
    text = (MAPPINGS / "superstore.yaml").read_text(encoding="utf-8")
    unsupported.write_text(text.replace("encoding: utf-8", "encoding: ebcdic"))
    with pytest.raises(ValueError, match="'ebcdic' is not supported; use one of utf-8, "):
        load_mapping(str(unsupported))


@pytest.mark.parametrize(
    ("entry", "fault"),
    [
        ("run-local", "header"),
        ("run-local", "encoding"),  # run-local resumes from an export that already landed
        ("import", "header"),
        ("import", "encoding"),
        ("import", "already imported"),
    ],
)
def test_an_import_error_prints_its_message_only_and_exits_2(tmp_path, capfd, entry, fault):
    from oms_pipeline import cli

    lines = _superstore_lines()
    csv_path = tmp_path / "export.csv"
    if fault == "header":
        lines[0] = lines[0].replace("Ship Mode", "Shipping Mode")
    csv_path.write_bytes("\n".join(lines).encode("utf-16" if fault == "encoding" else "utf-8"))
    mapping, landing = str(MAPPINGS / "superstore.yaml"), tmp_path / "landing"
    if fault == "already imported":
        convert_export(load_mapping(mapping), str(csv_path), str(landing))
    if entry == "run-local":
        args = ["--import", str(csv_path), "--mapping", mapping, "--landing", str(landing)]
        code = cli.main([*args, "--root", str(tmp_path)])
    else:
        args = ["--mapping", mapping, "--csv", str(csv_path), "--landing", str(landing)]
        code = cli.main(["import", *args])
    err = capfd.readouterr().err
    assert code == 2
    assert err.startswith("Import refused: ") and "Traceback" not in err
    assert {"header": "'Ship Mode'", "encoding": "byte offset 0 ", "already imported": "already"}[
        fault
    ] in err


def test_run_local_resumes_an_export_that_already_landed(tmp_path, capsys):
    from oms_pipeline import cli

    a = argparse.Namespace(mapping=str(MAPPINGS / "superstore.yaml"), import_csv=str(SUPERSTORE))
    landing = str(tmp_path / "landing")
    for _ in range(2):
        assert cli._import(a, landing, resume=True) is not None
    out = capsys.readouterr().out
    assert "Landed {" in out and "already landed" in out and len(_landed(Path(landing))) == 3


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
