"""The feed as a Kafka producer: each entity's lines of a batch become records on its topic.

The same batches as the landing files (``factory.batch_events``: duplicates and malformed lines
included), one record per line, on the topic ``io.events.entity_topic`` names. Each record's key
is ``s<seed>-b<batch>-<entity>-<line>``, unique in the feed, so a batch interrupted by a crash
is finished without publishing a line twice: the keys of its lines the broker already holds are
skipped.
"""

from __future__ import annotations

from oms_pipeline.io.events import entity_topic
from oms_pipeline.live.broker import Publisher, latest_keys


def record_key(seed: int, n: int, entity: str, line: int) -> bytes:
    return f"s{seed}-b{n:08d}-{entity}-{line:06d}".encode()


class KafkaSink:
    """Publishes feed batches to a broker (``feeder.Sink``); returns the records published."""

    unit = "records"

    def __init__(self, bootstrap_servers: str, seed: int) -> None:
        self.bootstrap_servers, self.seed = bootstrap_servers, seed
        self.publisher = Publisher(bootstrap_servers)

    def write(self, n: int, lines: dict[str, list[str]], *, resumed: bool) -> int:
        records = [
            (entity_topic(entity), record_key(self.seed, n, entity, i), line.encode("utf-8"))
            for entity, rows in lines.items()
            for i, line in enumerate(rows)
        ]
        if resumed:
            # The feed publishes one batch at a time: batch n's records already on a partition
            # are among its last len(rows) records.
            held: set[bytes] = set()
            for entity, rows in lines.items():
                held |= latest_keys(self.bootstrap_servers, entity_topic(entity), len(rows))
            records = [r for r in records if r[1] not in held]
        self.publisher.publish(records)
        return len(records)

    def close(self) -> None:
        self.publisher.close()
