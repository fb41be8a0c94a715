"""Benchmark: lineage events written per second, beside two baselines measured in the same run.

1. Raw consume rate: a Kafka consumer reads the same records and only polls them,
   the ceiling for any consumer of these topics.
2. The lineage consumer (`custody lineage run`): batched UNWIND writes, offsets
   committed after each batch. Its rate is measured from the first batch to the
   last commit, so joining the consumer group is not counted.
3. A one-transaction-per-event writer: the same statements, one event per
   transaction, as a naive writer would do.

The records are synthetic two-stage chains produced to topics with a fresh
prefix; the topics and graph namespaces are deleted at the end. Kafka and Neo4j
come from the CUSTODY_* settings:

    .venv/bin/python bench/lineage_ingest.py --events 20000
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from custody.events import decode  # noqa: E402
from custody.graphdb import Neo4jConnector  # noqa: E402
from custody.kafka import DurableProducer, ManualCommitConsumer  # noqa: E402
from custody.kafka.admin import admin_client  # noqa: E402
from custody.settings import Settings, load_settings  # noqa: E402
from custody.shutdown import StopSignal  # noqa: E402
from lineage.consuming import lineage_topic_names  # noqa: E402
from lineage.service import build_consumer, ensure_lineage_topics  # noqa: E402
from lineage.settings import LineageSettings  # noqa: E402
from lineage.synthetic import build_chain, publish  # noqa: E402
from lineage.writing import GraphWriter  # noqa: E402


def produce(settings: Settings, count: int) -> int:
    """Produce at least `count` events of two-stage chains; return how many records the lineage topics received."""
    producer = DurableProducer(settings.kafka, topic_prefix=settings.topic_prefix)
    produced = 0
    index = 0
    while produced < count:
        chain = build_chain(tag=f"ingest-{index}", with_registrations=index == 0, start=datetime(2026, 5, 1, tzinfo=timezone.utc) + timedelta(hours=index))
        publish(producer, chain.events, prefix=settings.topic_prefix)
        produced += len(chain.events)
        index += 1
    producer.flush(120)
    return produced


def raw_consume(settings: Settings, records: int) -> float:
    """Poll every record once with a fresh group; return records per second."""
    consumer = ManualCommitConsumer(settings.kafka, group_id=f"bench-raw-{uuid.uuid4().hex[:8]}")
    consumer.subscribe(lineage_topic_names(settings.topic_prefix))
    seen = 0
    started = None
    while seen < records:
        message = consumer.poll(1.0)
        if message is None:
            continue
        if started is None:
            started = time.monotonic()
        seen += 1
    elapsed = time.monotonic() - started
    consumer.close()
    return (seen - 1) / elapsed


def lineage_consume(settings: Settings, namespace: str, records: int, batch_size: int) -> tuple[float, int]:
    """Run the lineage consumer until it has committed every record; return events per second and events written."""
    lineage = LineageSettings(group_id=f"bench-lineage-{uuid.uuid4().hex[:8]}", namespace=namespace, batch_size=batch_size)
    consumer = build_consumer(settings, lineage, stop=StopSignal("bench"))
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    while consumer.stats.records < records or consumer.stats.last_commit_at is None or consumer.stats.commits < consumer.stats.batches:
        time.sleep(0.05)
    consumer.stop.set()
    thread.join(60)
    consumer.writer.connector.close()
    stats = consumer.stats
    return stats.events_written / (stats.last_commit_at - stats.first_batch_at), stats.events_written


def per_event_write(settings: Settings, namespace: str, limit: int) -> float:
    """Read the records and write each event in its own transaction; return events per second."""
    consumer = ManualCommitConsumer(settings.kafka, group_id=f"bench-single-{uuid.uuid4().hex[:8]}")
    consumer.subscribe(lineage_topic_names(settings.topic_prefix))
    events = []
    while len(events) < limit:
        message = consumer.poll(1.0)
        if message is not None:
            events.append(decode(message.value()))
    consumer.close()

    connector = Neo4jConnector(settings.neo4j)
    writer = GraphWriter(connector, namespace=namespace)
    writer.start()
    started = time.monotonic()
    for event in events:
        writer.write([event])
    elapsed = time.monotonic() - started
    connector.close()
    return len(events) / elapsed


def clean_up(settings: Settings, namespaces: list[str]) -> None:
    connector = Neo4jConnector(settings.neo4j)
    for namespace in namespaces:
        GraphWriter(connector, namespace=namespace).clear()
    connector.close()
    admin = admin_client(settings.kafka)
    names = [name for name in admin.list_topics(timeout=10).topics if name.startswith(settings.topic_prefix)]
    for future in admin.delete_topics(names, operation_timeout=30).values():
        future.result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000, help="Events to produce and ingest (default 20,000).")
    parser.add_argument("--per-event", type=int, default=0, help="Events for the one-transaction-per-event writer (default: all).")
    parser.add_argument("--batch-size", type=int, default=2000, help="Lineage consumer batch size (default 2000, as CUSTODY_LINEAGE_BATCH_SIZE).")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    run = uuid.uuid4().hex[:8]
    settings = load_settings().model_copy(update={"topic_prefix": f"bench-{run}."})
    ensure_lineage_topics(settings)
    namespaces = [f"bench-ingest-{run}", f"bench-single-{run}"]
    print(f"machine: {platform.machine()}, 2-core VM; Kafka {settings.kafka.bootstrap_servers}; Neo4j {settings.neo4j.uri}; {datetime.now(timezone.utc):%Y-%m-%d}")
    try:
        records = produce(settings, args.events)
        print(f"produced {records} records to {settings.topic_prefix}*", flush=True)

        raw_rate = raw_consume(settings, records)
        print(f"raw consume (poll only):             {raw_rate:9.0f} records/s", flush=True)
        lineage_rate, written = lineage_consume(settings, namespaces[0], records, args.batch_size)
        print(f"lineage consumer (batch {args.batch_size}):        {lineage_rate:9.0f} events/s ({written} events)", flush=True)
        single_rate = per_event_write(settings, namespaces[1], args.per_event or records)
        print(f"one transaction per event:           {single_rate:9.0f} events/s", flush=True)

        report = {
            "records": records,
            "raw_consume_per_s": raw_rate,
            "lineage_per_s": lineage_rate,
            "per_event_tx_per_s": single_rate,
            "lineage_over_raw": lineage_rate / raw_rate,
            "lineage_over_per_event": lineage_rate / single_rate,
        }
        print(f"ratio lineage / raw consume: {report['lineage_over_raw']:.3f}; lineage / one transaction per event: {report['lineage_over_per_event']:.1f}x")
        print("json: " + json.dumps(report))
    finally:
        clean_up(settings, namespaces)


if __name__ == "__main__":
    main()
