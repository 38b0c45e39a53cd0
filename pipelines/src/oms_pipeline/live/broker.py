"""A real Apache Kafka broker on loopback for the local run and the tests (KRaft, one node).

The broker is the Apache Kafka release's own ``kafka.Kafka`` server, run from the jars of
``org.apache.kafka:kafka_2.13`` and their dependencies as Maven Central serves them. ``fetch``
(called by ``scripts/bootstrap``) resolves them once with the Ivy that ships inside PySpark and
keeps the resulting class path beside the Ivy cache; the Spark side (the Spark release's own
``spark-sql-kafka-0-10`` connector, ``session.kafka_connector_package``) is resolved by a local
Spark session the same way as the Delta jars.

One process plays both KRaft roles (``process.roles=broker,controller``) on two free loopback
ports; its log segments and metadata live under a run folder the caller owns (never in git).
Producing and topic administration go through ``confluent-kafka`` (Confluent's client on
librdkafka: idempotent producer, admin client), so no Kafka command-line tool is started per call.

    python -m oms_pipeline.live.broker fetch     # resolve and cache the broker's jars
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import glob
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

KAFKA_VERSION = "4.1.1"
SCALA_BINARY = "2.13"
# (organisation, module, revision) resolved from Maven Central with their runtime dependencies.
# log4j-slf4j-impl binds the broker's SLF4J logging to the Log4j 2 it already depends on, so the
# broker's log reaches ``broker.log`` instead of SLF4J's no-op logger.
BROKER_MODULES = (
    ("org.apache.kafka", f"kafka_{SCALA_BINARY}", KAFKA_VERSION),
    ("org.apache.logging.log4j", "log4j-slf4j-impl", "2.24.3"),
)
# Ceilings of the waits below: safety nets for a broker that never comes up or never stops, not
# timings a run relies on.
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID in URL-safe base64 without padding (what ``StorageTool
    random-uuid`` prints). Like Kafka's ``Uuid.randomUuid``, never one starting with ``-``: the
    storage tool would read it as an option and refuse to format."""
    cluster_id = "-"
    while cluster_id.startswith("-"):
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    return cluster_id


class BrokerError(RuntimeError):
    """The broker's jars are missing, or the broker failed to start, stop or create topics."""


def jars_home() -> Path:
    """Folder holding the resolved class path: ``$OMS_KAFKA_HOME`` or ``~/.cache/oms-pipeline``."""
    root = os.environ.get("OMS_KAFKA_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache", "oms-pipeline"
    )
    return Path(root) / f"kafka_{SCALA_BINARY}-{KAFKA_VERSION}"


def _classpath_file() -> Path:
    return jars_home() / "classpath.txt"


def classpath() -> str:
    """The broker's Java class path (``:``-separated jar paths in the Ivy cache).

    Raises ``BrokerError`` naming the fix when ``fetch`` has not run or a jar has gone since.
    """
    path = _classpath_file()
    if not path.exists():
        raise BrokerError(
            f"Kafka {KAFKA_VERSION} broker jars not installed ({path} missing); "
            "run scripts/bootstrap (or: python -m oms_pipeline.live.broker fetch)"
        )
    jars = [j for j in path.read_text(encoding="utf-8").strip().split(os.pathsep) if j]
    missing = [j for j in jars if not os.path.exists(j)]
    if not jars or missing:
        raise BrokerError(
            f"Kafka broker class path {path} lists {len(missing)} missing jar(s) "
            f"(first: {missing[:1]}); run scripts/bootstrap again"
        )
    return os.pathsep.join(jars)


def _ivy_jar() -> str:
    import pyspark

    found = sorted(glob.glob(os.path.join(os.path.dirname(pyspark.__file__), "jars", "ivy-*.jar")))
    if not found:
        raise BrokerError("no ivy-*.jar in PySpark's jars; cannot resolve the Kafka broker")
    return found[-1]


def _ivy_file(modules: Iterable[tuple[str, str, str]]) -> str:
    deps = "\n".join(
        f'    <dependency org="{o}" name="{m}" rev="{r}" conf="default->default"/>'
        for o, m, r in modules
    )
    return (
        '<ivy-module version="2.0">\n'
        '  <info organisation="oms-pipeline" module="kafka-broker"/>\n'
        '  <configurations><conf name="default"/></configurations>\n'
        f"  <dependencies>\n{deps}\n  </dependencies>\n"
        "</ivy-module>\n"
    )


def fetch(*, ivy_cache: str | None = None) -> Path:
    """Resolve the broker's jars from Maven Central (once) and write their class path.

    Idempotent: with a complete class path already written nothing is resolved. ``ivy_cache``
    defaults to Spark's own Ivy cache (``~/.ivy2.5.2/cache``), so both share downloads. Returns
    the class-path file; raises ``BrokerError`` with Ivy's output when resolution fails.
    """
    with contextlib.suppress(BrokerError):
        classpath()
        return _classpath_file()
    home = jars_home()
    home.mkdir(parents=True, exist_ok=True)
    cache = ivy_cache or os.path.join(os.path.expanduser("~"), ".ivy2.5.2", "cache")
    with tempfile.TemporaryDirectory() as tmp:
        ivy_xml = os.path.join(tmp, "ivy.xml")
        Path(ivy_xml).write_text(_ivy_file(BROKER_MODULES), encoding="utf-8")
        out = os.path.join(tmp, "classpath.txt")
        cmd = ["java", "-jar", _ivy_jar(), "-ivy", ivy_xml, "-confs", "default"]
        cmd += ["-cache", cache, "-cachepath", out]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not os.path.exists(out):
            raise BrokerError(
                f"resolving Kafka {KAFKA_VERSION} from Maven Central failed "
                f"(exit {done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
            )
        os.replace(out, _classpath_file())
    classpath()
    return _classpath_file()


def _recorded_ports(props: Path) -> dict[str, int]:
    """Listener name -> port from a ``server.properties`` this module wrote (empty if none)."""
    try:
        text = props.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    listeners = next((x for x in text.splitlines() if x.startswith("listeners=")), "")
    found = re.findall(r"([A-Z]+)://[^:,]+:(\d+)", listeners)
    return {name: int(port) for name, port in found}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 at the time of the call."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class KafkaBroker:
    """A single-node KRaft broker on 127.0.0.1 with its data under ``run_dir``.

    ``start`` formats the storage on first use (a new cluster id), starts the JVM and returns once
    the broker answers a metadata request; ``stop`` ends it (SIGTERM, then SIGKILL after
    ``STOP_TIMEOUT_S``). Both may be called again: a restart keeps the ports, the data and so
    every topic and offset. The broker is stopped at interpreter exit and by ``with``; a broker
    left running by a killed owner (its pid in ``run_dir/broker.pid``) is stopped by the next
    ``start`` on the same folder. Raises ``BrokerError`` with the tail of ``broker.log`` when
    the broker exits or does not answer within ``START_TIMEOUT_S``.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        controller_port: int | None = None,
        heap: str = "512m",
    ) -> None:
        self.run_dir = Path(run_dir)
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        self.heap = heap
        self._proc: subprocess.Popen[bytes] | None = None

    # -- paths and configuration ------------------------------------------------------------
    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` of the PLAINTEXT listener, for producers and Spark's Kafka source."""
        return f"127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "broker.log"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "broker.pid"

    def _server_properties(self) -> str:
        c = self.controller_port
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{c}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{c}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir),
            # One node: every internal topic has one replica.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Topics are created explicitly (create_topics): a typo never makes a new topic.
            "auto.create.topics.enable": "false",
        }
        return "".join(f"{k}={v}\n" for k, v in settings.items())

    def _log4j2_properties(self) -> str:
        return (
            "appender.out.type=Console\nappender.out.name=OUT\n"
            "appender.out.layout.type=PatternLayout\n"
            "appender.out.layout.pattern=[%d] %p %m (%c)%n\n"
            "rootLogger.level=WARN\nrootLogger.appenderRef.out.ref=OUT\n"
            "logger.server.name=kafka.server.KafkaRaftServer\nlogger.server.level=INFO\n"
        )

    def _java(self, main: str, *args: str) -> list[str]:
        log4j = self.run_dir / "log4j2.properties"
        return [
            "java",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            classpath(),
            main,
            *args,
        ]

    # -- lifecycle ----------------------------------------------------------------------------
    @classmethod
    def at(cls, run_dir: str | os.PathLike[str]) -> KafkaBroker:
        """The broker of ``run_dir`` on the ports its last start recorded (``server.properties``),
        so a restarted cluster answers where it did; new free ports for a new folder."""
        ports = _recorded_ports(Path(run_dir) / "server.properties")
        return cls(run_dir, port=ports.get("PLAINTEXT"), controller_port=ports.get("CONTROLLER"))

    def running_elsewhere(self) -> int | None:
        """Pid of a live broker on ``run_dir`` that this object did not start, else ``None``."""
        if self.running:
            return None
        try:
            pid = int(self.pid_file.read_text(encoding="utf-8").strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (FileNotFoundError, ValueError):
            return None
        return pid if str(self.run_dir / "server.properties") in cmdline else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> KafkaBroker:
        if self.running:
            return self
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._stop_stale()
        props = self.run_dir / "server.properties"
        props.write_text(self._server_properties(), encoding="utf-8")
        (self.run_dir / "log4j2.properties").write_text(self._log4j2_properties(), "utf-8")
        if not (self.data_dir / "meta.properties").exists():
            self._format(props)
        with open(self.log_file, "ab") as log:
            # Own session: a Ctrl-C in the terminal reaches the owner, which stops the broker
            # after its own streams, instead of killing the broker under them.
            self._proc = subprocess.Popen(
                self._java("kafka.Kafka", str(props)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(self._proc.pid), encoding="utf-8")
        atexit.register(self.stop)
        self._wait_ready()
        return self

    def _format(self, props: Path) -> None:
        cmd = self._java(
            "kafka.tools.StorageTool", "format", "-t", new_cluster_id(), "-c", str(props)
        )
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BrokerError(f"formatting {self.data_dir} failed: {done.stdout}{done.stderr}")

    def _admin(self):  # type: ignore[no-untyped-def]
        from confluent_kafka.admin import AdminClient

        return AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 0})

    def _wait_ready(self) -> None:
        admin = self._admin()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if not self.running:
                raise BrokerError(f"Kafka broker exited at start:\n{self.log_tail()}")
            try:
                md = admin.list_topics(timeout=2)
                if md.brokers:
                    return
            except Exception as exc:  # KafkaException while the listener is not up yet
                last = exc
            else:
                last = None
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(
                    f"Kafka broker on {self.bootstrap_servers} not ready after "
                    f"{START_TIMEOUT_S:.0f}s ({last}):\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the broker (SIGTERM: a controlled shutdown; SIGKILL if it hangs). Idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        atexit.unregister(self.stop)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()

    def kill(self) -> None:
        """SIGKILL the broker (a crash): no controlled shutdown, data as the crash left it."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self.stop()

    def _stop_stale(self) -> None:
        """Stop a broker a killed owner left running on this folder (found by its pid file)."""
        pid = self.running_elsewhere()
        if pid is None:
            return  # none, or the pid was reused by another process
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_file.exists():
            return "(no broker log)"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- topics -------------------------------------------------------------------------------
    def create_topics(
        self,
        names: Sequence[str],
        *,
        partitions: int = 2,
        config: dict[str, str] | None = None,
    ) -> None:
        """Create ``names`` with ``partitions`` partitions each (one replica); existing ones stay.

        ``config``: topic-level settings of new topics (e.g. ``message.timestamp.type``).

        Raises ``BrokerError`` naming the topic when the broker refuses one.
        """
        from confluent_kafka import KafkaError
        from confluent_kafka.admin import NewTopic

        admin = self._admin()  # kept referenced: a collected client cancels its requests
        futures = admin.create_topics(
            [
                NewTopic(n, num_partitions=partitions, replication_factor=1, config=config or {})
                for n in names
            ],
            operation_timeout=30,
        )
        for name, future in futures.items():
            try:
                future.result()
            except Exception as exc:
                err = exc.args[0] if exc.args else None
                if getattr(err, "code", lambda: None)() == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                raise BrokerError(f"creating topic {name!r} failed: {exc}") from exc

    def publish(
        self, topic: str, values: Iterable[bytes | str | None], *, timeout_s: float = 60.0
    ) -> list[tuple[int, int]]:
        """Produce one record per value (``None``: a record without a value) and wait for all.

        Records carry no key (librdkafka's default partitioner spreads them). Returns the
        (partition, offset) of each record in ``values`` order; see ``Publisher.publish``.
        """
        with Publisher(self.bootstrap_servers, timeout_s=timeout_s) as pub:
            return [(p, o) for _t, p, o in pub.publish((topic, None, v) for v in values)]


Value = bytes | str | None


class Publisher:
    """An idempotent producer (``acks=all``: a retried send is written once) to one broker.

    ``publish`` sends (topic, key, value) records and returns once the broker acknowledged every
    one; ``close`` (or ``with``) flushes and releases the client.
    """

    def __init__(self, bootstrap_servers: str, *, timeout_s: float = 60.0) -> None:
        from confluent_kafka import Producer

        self.timeout_s = timeout_s
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "message.timeout.ms": int(timeout_s * 1000),
                "log_level": 3,  # errors only: retries while a restarted broker loads are normal
            }
        )

    def publish(self, records: Iterable[tuple[str, Value, Value]]) -> list[tuple[str, int, int]]:
        """Produce every (topic, key, value) and wait for the broker's acknowledgements.

        Returns the (topic, partition, offset) of each record in input order; raises
        ``BrokerError`` naming the first records the broker did not acknowledge within
        ``timeout_s`` seconds.
        """
        delivered: dict[int, tuple[str, int, int]] = {}
        errors: list[str] = []

        def report(i: int):  # type: ignore[no-untyped-def]
            def on_delivery(err, msg) -> None:  # type: ignore[no-untyped-def]
                if err is not None:
                    errors.append(f"record {i} (topic {msg.topic()!r}): {err}")
                else:
                    delivered[i] = (msg.topic(), msg.partition(), msg.offset())

            return on_delivery

        n = 0
        for i, (topic, key, value) in enumerate(records):
            n += 1
            while True:
                try:
                    self._producer.produce(topic, value=value, key=key, on_delivery=report(i))
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    self._producer.poll(0.1)
            self._producer.poll(0)
        left = self._producer.flush(self.timeout_s)
        if errors or left or len(delivered) != n:
            raise BrokerError(
                f"publishing: {len(delivered)} of {n} records acknowledged; "
                + "; ".join(errors[:5])
            )
        return [delivered[i] for i in range(n)]

    def close(self) -> None:
        """Flush, then release the client (no reconnecting to a broker that stops after)."""
        self._producer.flush(self.timeout_s)
        self._producer.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def latest_keys(bootstrap_servers: str, topic: str, per_partition: int) -> set[bytes]:
    """Keys of the last ``per_partition`` records of each partition of ``topic`` (committed ones).

    For a producer resuming an interrupted batch: what of it the broker already holds.
    """
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"oms-feed-resume-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "log_level": 3,
        }
    )
    keys: set[bytes] = set()
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            start = max(low, high - per_partition)
            if start >= high:
                continue
            consumer.assign([TopicPartition(topic, p, start)])
            position = start
            while position < high:
                msg = consumer.poll(30)
                if msg is None:
                    raise BrokerError(f"reading {topic}[{p}] from offset {position}: no record")
                if msg.error():
                    raise BrokerError(f"reading {topic}[{p}]: {msg.error()}")
                if msg.key() is not None:
                    keys.add(msg.key())
                position = msg.offset() + 1
    finally:
        consumer.close()
    return keys


@contextlib.contextmanager
def running_broker(
    run_dir: str | os.PathLike[str], topics: Sequence[str] = ()
) -> Iterator[KafkaBroker]:
    """``with running_broker(dir, topics) as b:`` a started broker with ``topics`` created."""
    broker = KafkaBroker(run_dir).start()
    try:
        if topics:
            broker.create_topics(topics)
        yield broker
    finally:
        broker.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args != ["fetch"]:
        print("usage: python -m oms_pipeline.live.broker fetch", file=sys.stderr)
        return 2
    print(f"Kafka {KAFKA_VERSION} broker class path: {fetch()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
