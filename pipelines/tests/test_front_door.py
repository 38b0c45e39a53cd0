"""The ``oms`` command line and the one stream start/finish loop (``pipeline.streams``), without
Spark: the loop is driven with scripted queries, so its order and stops are exact."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import urllib.request

import pytest

from oms_pipeline import cli
from oms_pipeline.live import pbip, runner
from oms_pipeline.live.server import DashboardServer, Snapshot
from oms_pipeline.pipeline.streams import Trigger, run_stream

ONCE = Trigger(available_now=True)
CONTINUOUS = Trigger(available_now=False, processing_time="1 second")


# --- the command line -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "command"),
    [
        ([], "run"),
        (["--rate", "5", "--duration", "0", "--batches", "3"], "run"),  # run-local's flags
        (["--benchmark", "--rate", "1000"], "bench"),  # the benchmark protocol's spelling
        (["run", "--benchmark", "--profile"], "bench"),
        (["bench", "--duration", "30"], "bench"),
        (["run", "--source", "kafka"], "run"),
    ],
)
def test_flags_without_a_command_are_the_live_runs(argv, command) -> None:
    assert cli.parse(argv).command == command


def test_a_benchmark_takes_its_defaults_and_no_dashboard() -> None:
    a = cli.parse(["--benchmark", "--profile"])
    assert (a.rate, a.duration, a.profile, "port" in a) == (1000.0, 120.0, True, False)
    assert (cli.parse([]).rate, cli.parse([]).duration, cli.parse([]).port) == (50.0, None, 8050)


def test_every_command_parses() -> None:
    assert cli.parse(["once", "--landing", "l", "--lakehouse", "h"]).as_of_date is None
    assert cli.parse(["show", "gold.fact_order_lines"]).lakehouse == ".local/lakehouse"
    assert cli.parse(["sql", "SELECT 1", "--format", "json"]).target == "SELECT 1"
    assert cli.parse(["generate", "--landing", "l", "--orders", "5"]).orders == 5
    assert cli.parse(["import", "--mapping", "m", "--csv", "c", "--landing", "l"]).import_csv == "c"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "--landing", "l", "--orders", "0"], "argument --orders: '0': expected a whole number of at least 1"),
        (["generate", "--landing", "l", "--malformed-rate", "2"], "'2': expected a number of at least 0 and at most 1"),
        (["show", "gold.x", "--limit", "-1"], "argument --limit: '-1': expected a whole number of at least 1"),
        (["run", "--mapping", "m.yaml"], "--mapping: only with --import"),
        (["bench", "--mapping", "m.yaml"], "usage: oms bench"),
        (["run", "--profile"], "usage: oms run"),
        (["run", "--profile"], "unrecognized arguments: --profile (taken by oms bench)"),
        (["import", "--mapping", "m", "--csv", "c", "--landing", "l", "--rate", "5"], "--rate 5 (taken by oms run and oms bench)"),
        (["once", "--landing", "l", "--lakehouse", "h", "--as-of-date", "2025-13-01"], "argument --as-of-date: '2025-13-01': expected a date YYYY-MM-DD"),
        (["sideways"], "invalid choice: 'sideways'"),
        (["bench", "--import", "x.csv", "--mapping", "m.yaml"], "unrecognized arguments: --import x.csv --mapping m.yaml"),
        (["--benchmark", "--no-feed", "--port", "1"], "unrecognized arguments: --no-feed --port 1"),
        (["--bench"], "unrecognized arguments: --bench"),  # no prefix of --benchmark(s-file)
        (["bench", "--benchmark"], "unrecognized arguments: --benchmark"),
        (["run", "--trigger", "banana"], "argument --trigger: 'banana': expected a whole number and a unit"),
        (["run", "--trigger", "0 seconds"], "argument --trigger: '0 seconds'"),
        (["run", "--trigger", "1.5 minutes"], "'1.5 minutes': expected a whole number and a unit"),
        (["run", "--trigger", "25 hours"], "from 1 millisecond to 24 hours"),
        (["run", "--trigger", "86400001 milliseconds"], "from 1 millisecond to 24 hours"),
        (["run", "--duration", "0"], "--duration 0 with the feed needs --batches"),
        (["bench", "--duration", "0", "--batches", "3"], "argument --duration: '0': expected a number above 0"),
    ],
)  # fmt: skip
def test_bad_options_exit_2_naming_the_flag(argv, message, capsys, monkeypatch) -> None:
    monkeypatch.setattr(runner, "_spark", lambda _l: pytest.fail("Spark started"))
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_accepted_triggers_are_spark_intervals() -> None:
    for text in ("5 seconds", "500 milliseconds", "1 minute", "1 millisecond", "24 hours"):
        assert cli.parse(["run", "--trigger", text]).trigger == text


def test_a_dashboard_port_in_use_is_refused_before_spark_starts(capsys, monkeypatch) -> None:
    monkeypatch.setattr(runner, "_spark", lambda _l: pytest.fail("Spark started"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli.main(["run", "--no-feed", "--duration", "0", "--port", str(port)]) == 2
    assert f"--port {port}: cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("nowhere.invalid", "--host nowhere.invalid: cannot listen there"),  # resolves to nothing
        ("192.0.2.1", "--host 192.0.2.1: cannot listen there"),  # an address of no interface here
    ],
)
def test_a_dashboard_host_that_is_no_address_here_is_refused_naming_host(
    host, message, capsys, monkeypatch
) -> None:
    monkeypatch.setattr(runner, "_spark", lambda _l: pytest.fail("Spark started"))
    assert cli.main(["run", "--no-feed", "--duration", "0", "--host", host]) == 2
    err = capsys.readouterr().err
    assert message in err and "--port" not in err


def test_the_dashboards_listen_on_ipv6_too() -> None:
    server = DashboardServer(Snapshot(), "::1", 0).start()
    try:
        assert server.url == f"http://[::1]:{server.port}/"
        with urllib.request.urlopen(server.url + "api/status") as r:
            assert json.load(r) == {}
    finally:
        server.stop()


def test_a_report_the_dashboards_cannot_draw_is_refused_before_spark_starts(
    tmp_path, capsys, monkeypatch
) -> None:
    """A visual bound to a measure the semantic model lacks: refused naming its file."""
    root = tmp_path / "powerbi"
    shutil.copytree(pbip.pbip_root(), root)
    visuals = sorted((root / pbip.REPORT_DIR).glob("pages/*/visuals/*/visual.json"))
    visual = next(v for v in visuals if '"Revenue"' in v.read_text(encoding="utf-8"))
    visual.write_text(visual.read_text(encoding="utf-8").replace('"Revenue"', '"Gross Margin"'))
    monkeypatch.setenv("OMS_POWERBI_DIR", str(root))
    monkeypatch.setattr(runner, "_spark", lambda _l: pytest.fail("Spark started"))
    assert cli.main(["run", "--no-feed", "--duration", "0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert f"Report refused: {visual}" in err and "'Gross Margin'" in err


def test_show_without_a_lakehouse_says_so_before_spark_starts(tmp_path, capsys, monkeypatch):
    import oms_pipeline.session as session

    monkeypatch.setattr(session, "local_session", lambda *_a, **_k: pytest.fail("Spark started"))
    assert cli.main(["show", "--lakehouse", str(tmp_path / "none"), "gold.fact_order_lines"]) == 2
    assert f"No lakehouse at {tmp_path / 'none'}" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


# --- the start/finish loop --------------------------------------------------------------------
class ScriptedQuery:
    """A streaming query that terminates after ``polls`` looks at it (never, if None)."""

    def __init__(self, name: str, log: list[str], polls: int | None = 0, error: str | None = None):
        self.id = self.name = name
        self.log, self.polls, self.error = log, polls, error
        self.stopped = False

    def _ended(self) -> bool:
        return self.stopped or self.polls == 0

    @property
    def isActive(self) -> bool:
        if self.polls:
            self.polls -= 1
        return not self._ended()

    def awaitTermination(self, _timeout: float | None = None) -> bool:
        active = self.isActive
        if self.error is not None and not active:
            raise RuntimeError(self.error)
        return not active

    def exception(self) -> str | None:
        return self.error if self._ended() else None

    def stop(self) -> None:
        self.log.append(f"stop {self.name}")
        self.stopped = True


def starter(log: list[str], name: str, **kw):  # type: ignore[no-untyped-def]
    def start() -> ScriptedQuery:
        log.append(f"start {name}")
        return ScriptedQuery(name, log, **kw)

    return start


def test_an_available_now_query_runs_until_it_has_processed_everything() -> None:
    log: list[str] = []
    assert run_stream(starter(log, "a", polls=3), ONCE)
    assert log == ["start a"]  # a finished query needs no stop


def test_a_stop_request_starts_nothing_and_stops_what_runs() -> None:
    log: list[str] = []
    stop = threading.Event()
    stop.set()
    assert run_stream(starter(log, "a"), ONCE, stop) is False
    assert log == []

    def start_b() -> ScriptedQuery:
        stop.set()  # e.g. a Ctrl-C while b starts
        log.append("start b")
        return ScriptedQuery("b", log, polls=None)

    for trigger in (ONCE, CONTINUOUS):
        log.clear()
        stop.clear()
        assert run_stream(start_b, trigger, stop) is False
        assert log == ["start b", "stop b"]


def test_a_failed_query_is_raised_naming_it() -> None:
    log: list[str] = []
    with pytest.raises(RuntimeError, match="silver failed: Boom"):
        run_stream(starter(log, "silver", polls=2, error="Boom"), CONTINUOUS)
    assert log == ["start silver"]  # it ended: nothing to stop


def test_a_processing_time_query_runs_until_it_ends_or_a_stop() -> None:
    log: list[str] = []
    assert run_stream(starter(log, "a", polls=2), CONTINUOUS)
    assert log == ["start a"]

    log.clear()
    stop = threading.Event()
    timer = threading.Timer(0.2, stop.set)
    timer.start()
    assert run_stream(starter(log, "a", polls=None), CONTINUOUS, stop) is False
    assert log == ["start a", "stop a"]


def test_a_kraft_cluster_id_never_starts_with_a_dash(monkeypatch) -> None:
    """The storage tool reads ``-t -...`` as a missing value: such a draw is drawn again."""
    import uuid

    from oms_pipeline.live import broker

    dashed = uuid.UUID(bytes=b"\xfb" + bytes(15))  # URL-safe base64 "-w..."
    plain = uuid.UUID(bytes=bytes(16))
    draws = iter([dashed, plain])
    monkeypatch.setattr(broker.uuid, "uuid4", lambda: next(draws))
    assert broker.new_cluster_id() == "AAAAAAAAAAAAAAAAAAAAAA"
