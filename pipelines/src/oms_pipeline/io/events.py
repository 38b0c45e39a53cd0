"""The events reader: one Kafka topic per entity (Azure Event Hubs' Kafka endpoint on Databricks,
a local Apache Kafka broker elsewhere) into the same columns as the landing reader.

The rows it yields -- every contract field as STRING, ``_rescued_data``, ``_source_file`` (null)
and the record's topic, partition, offset and timestamp (``transforms.bronze.EVENT_LINEAGE``) --
go through the same bronze writer as landed files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from oms_pipeline.contracts.base import EntityContract
from oms_pipeline.transforms.bronze import parse_events

# Characters Kafka allows in a topic name (Event Hubs' event hub names are a subset).
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
_SERVER = re.compile(r"[A-Za-z0-9.-]+:\d{1,5}")


def entity_topic(entity: str) -> str:
    """The Kafka topic (Event Hubs: event hub) an OMS publishes ``entity``'s events to.

    The entity's name, as in the contract docs and the event hubs ``components/eventHubs.ts``
    provisions one per entity: the one naming rule for producers, the bronze source and tests.
    """
    return entity


@dataclass(frozen=True)
class KafkaSource:
    """Where an entity's events are read from.

    ``bootstrap_servers``: comma-separated ``host:port`` (Event Hubs:
    ``<namespace>.servicebus.windows.net:9093``). ``topic``: the entity's topic (event hub).
    ``service_credential``: the Unity Catalog service credential that authenticates to Event
    Hubs; ``None`` for a local PLAINTEXT broker. ``max_offsets_per_trigger``: cap of records per
    micro-batch (``None``: everything available). Raises ``ValueError`` naming the bad value
    and what is allowed.
    """

    bootstrap_servers: str
    topic: str
    service_credential: str | None = None
    max_offsets_per_trigger: int | None = None

    def __post_init__(self) -> None:
        servers = self.bootstrap_servers.split(",")
        if not all(_SERVER.fullmatch(s.strip()) for s in servers):
            raise ValueError(
                f"Kafka bootstrap servers {self.bootstrap_servers!r}: expected comma-separated "
                "host:port, e.g. mynamespace.servicebus.windows.net:9093"
            )
        if not _TOPIC.fullmatch(self.topic):
            raise ValueError(
                f"Kafka topic {self.topic!r}: expected 1-249 letters, digits, '.', '_' or '-'"
            )
        if self.max_offsets_per_trigger is not None and self.max_offsets_per_trigger < 1:
            raise ValueError(
                f"max offsets per trigger {self.max_offsets_per_trigger}: expected at least 1"
            )


def kafka_options(source: KafkaSource) -> dict[str, str]:
    """Options of Spark's Kafka source for ``source``.

    - ``startingOffsets`` earliest: a stream's first start reads everything the topic retains;
      from then on only its checkpoint decides (Spark ignores the option once a checkpoint
      holds offsets), so a restart neither skips nor re-reads a record ("Structured Streaming
      + Kafka Integration Guide").
    - ``failOnDataLoss`` true, stated rather than defaulted: offsets that expired from the topic
      before the stream read them fail the query instead of being skipped silently.
    - with a service credential: ``databricks.serviceCredential`` names it and Databricks
      supplies the SASL OAUTHBEARER login to Event Hubs over TLS (``SASL_SSL``, the Kafka
      endpoint's only protocol) -- "Authentication" (Azure Databricks, Kafka connector: Connect
      with Unity Catalog service credentials), Databricks Runtime 16.1 and above. No connection
      string or SAS key is involved. Without one: PLAINTEXT to a local broker.
    """
    options = {
        "kafka.bootstrap.servers": source.bootstrap_servers,
        "subscribe": source.topic,
        "startingOffsets": "earliest",
        "failOnDataLoss": "true",
    }
    if source.service_credential:
        options["databricks.serviceCredential"] = source.service_credential
        options["kafka.security.protocol"] = "SASL_SSL"
    else:
        options["kafka.security.protocol"] = "PLAINTEXT"
    if source.max_offsets_per_trigger:
        options["maxOffsetsPerTrigger"] = str(source.max_offsets_per_trigger)
    return options


def read_event_stream(
    spark: SparkSession, contract: EntityContract, source: KafkaSource
) -> DataFrame:
    """Stream the records of ``source.topic`` parsed against ``contract`` (``parse_events``)."""
    records = spark.readStream.format("kafka").options(**kafka_options(source)).load()
    return parse_events(records, contract)
