"""Commit-to-JobScheduled latency of the processors worker, beside the Kafka round-trip floor.

The script starts `custody processors run` as a subprocess on a fresh topic
prefix, registers a one-input pipeline whose transform is `true`, and then
offers DataCommitted events at a steady rate. Each event names the same small
object (uploaded once), under a new commit id. Latency is the time from just
before the commit event is produced until a consumer here reads the matching
JobScheduled. On the way the event crosses three produce-and-consume hops:
commits topic, internal trigger topic, jobs topic.

The floor is measured in the same run with the same producer settings and the
same consumer settings: one produce-and-consume hop at the same rate.

    .venv/bin/python bench/trigger_latency.py --rate 10 --count 300

Needs Kafka and the S3 server (`custody dev up`); prints p50/p90/p99 of both
and their ratio. It asserts nothing: slow figures are reported, not failed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import yaml
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import NewTopic

from custody.events import decode, make_event
from custody.events.catalog import JobScheduledEvent
from custody.events.envelope import utc_now
from custody.events.models import Agent, DataCommitted, FileVersion, RepoRegistered, UploadOrigin
from custody.kafka import DurableProducer, ensure_topics
from custody.kafka.admin import admin_client
from custody.s3 import make_s3_client
from custody.settings import Settings, load_settings
from custody.topics import topic

BENCH = Agent(kind="service_account", name="trigger-bench")
CUSTODY = str(Path(sys.executable).parent / "custody")


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of the values."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(values_s: list[float]) -> str:
    millis = [v * 1000 for v in values_s]
    return (
        f"n={len(millis)} p50={percentile(millis, 0.50):.1f} ms p90={percentile(millis, 0.90):.1f} ms "
        f"p99={percentile(millis, 0.99):.1f} ms max={max(millis):.1f} ms mean={statistics.fmean(millis):.1f} ms"
    )


def consumer_for(settings: Settings, topic_name: str) -> Consumer:
    """Return a consumer assigned to every partition of the topic at its current end."""
    consumer = Consumer({**settings.kafka.client_config(), "group.id": f"bench-{uuid.uuid4().hex}", "enable.auto.commit": False})
    metadata = consumer.list_topics(topic_name, timeout=10).topics[topic_name]
    partitions = []
    for number in metadata.partitions:
        partitions.append(TopicPartition(topic_name, number, end_offset(consumer, topic_name, number)))
    consumer.assign(partitions)
    return consumer


def end_offset(consumer: Consumer, topic_name: str, partition: int) -> int:
    """Return the high watermark, retrying while a new topic's leader is still being elected."""
    for attempt in range(20):
        try:
            return consumer.get_watermark_offsets(TopicPartition(topic_name, partition), timeout=10)[1]
        except KafkaException:
            if attempt == 19:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


class Receiver(threading.Thread):
    """Record the arrival time of each expected key read from a topic."""

    def __init__(self, consumer: Consumer, key_of) -> None:
        super().__init__(daemon=True)
        self.consumer = consumer
        self.key_of = key_of
        self.arrivals: dict[str, float] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            message = self.consumer.poll(0.1)
            if message is None or message.error() is not None:
                continue
            arrived = time.perf_counter()
            key = self.key_of(message)
            if key is not None:
                self.arrivals.setdefault(key, arrived)
        self.consumer.close()


def offer(count: int, rate: float, send) -> dict[str, float]:
    """Call send(i) -> key at a steady rate; return the send time of each key."""
    sent: dict[str, float] = {}
    interval = 1.0 / rate
    start = time.perf_counter()
    for i in range(count):
        slot = start + i * interval
        delay = slot - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        began = time.perf_counter()
        sent[send(i)] = began
    return sent


def latencies(sent: dict[str, float], receiver: Receiver, timeout_s: float) -> list[float]:
    deadline = time.monotonic() + timeout_s
    while len(receiver.arrivals) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [receiver.arrivals[key] - began for key, began in sent.items() if key in receiver.arrivals]


def measure_floor(settings: Settings, *, count: int, rate: float) -> list[float]:
    """Measure one produce-and-consume hop with the durable producer's settings."""
    name = f"{settings.topic_prefix}bench.floor"
    admin = admin_client(settings.kafka)
    for future in admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)]).values():
        future.result()
    producer = DurableProducer(settings.kafka, topic_prefix=settings.topic_prefix, client_id="bench-floor")
    receiver = Receiver(consumer_for(settings, name), lambda message: message.value().decode())
    receiver.start()

    def send(i: int) -> str:
        key = f"floor-{i}"
        producer.produce(name, key.encode(), key=str(i).encode())
        producer.flush()
        return key

    sent = offer(count, rate, send)
    result = latencies(sent, receiver, 30)
    receiver.stopping.set()
    return result


def prepare(settings: Settings, workdir: Path) -> tuple[FileVersion, str]:
    """Create the bucket, the repos and the pipeline; return the input file version and the bucket."""
    from custody.repos import RepoRegistry

    bucket = f"bench-{uuid.uuid4().hex[:10]}"
    client = make_s3_client(settings.s3)
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    body = b"a,b\n1,2\n"
    put = client.put_object(Bucket=bucket, Key="raw/rows.csv", Body=body)
    version = FileVersion(path="rows.csv", size=len(body), sha256=hashlib.sha256(body).hexdigest(), version_id=put.get("VersionId"))

    registry = RepoRegistry(settings)
    for name in ("raw", "out"):
        registry.create(RepoRegistered(name=name, bucket=bucket, prefix=f"{name}/", registered_by=BENCH))

    spec = {"name": "bench", "owner": "bench", "input": {"repo": "raw"}, "transform": {"command": ["true"]}, "output": "out"}
    spec_path = workdir / "bench.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    subprocess.run([CUSTODY, "pipeline", "apply", "-f", str(spec_path)], env=worker_env(settings, workdir), check=True, capture_output=True)
    return version, bucket


def worker_env(settings: Settings, workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CUSTODY_TOPIC_PREFIX": settings.topic_prefix,
        "CUSTODY_PROCESSORS_STATE_DIR": str(workdir / "state"),
        "CUSTODY_LOG_LEVEL": "WARNING",
    }


def commit_event(version: FileVersion, bucket: str, index: int):
    commit_id = hashlib.sha256(f"bench-{uuid.uuid4().hex}-{index}".encode()).hexdigest()
    data = DataCommitted(
        repo="raw", bucket=bucket, prefix="raw/", commit_id=commit_id, files=[version], author=BENCH,
        committed_at=utc_now(), origin=UploadOrigin(via="api"),
    )
    return make_event(data, source="/custody/bench", subject="raw")


def wait_for_worker(settings: Settings, version: FileVersion, bucket: str, timeout_s: float = 120) -> None:
    """Send one commit and wait for its JobScheduled, so start-up is not measured."""
    receiver = Receiver(consumer_for(settings, topic("custody.jobs").full_name(settings.topic_prefix)), scheduled_commit)
    receiver.start()
    producer = DurableProducer(settings.kafka, topic_prefix=settings.topic_prefix, client_id="bench-warmup")
    event = commit_event(version, bucket, -1)
    producer.send_event(event)
    producer.flush()
    deadline = time.monotonic() + timeout_s
    while event.data.commit_id not in receiver.arrivals:
        if time.monotonic() > deadline:
            raise SystemExit("the worker did not schedule the warm-up job within 120 s; see its log")
        time.sleep(0.2)
    receiver.stopping.set()


def scheduled_commit(message) -> str | None:
    try:
        event = decode(message.value())
    except ValueError:
        return None
    return event.data.inputs[0].commit_id if isinstance(event, JobScheduledEvent) else None


def measure_pipeline(settings: Settings, version: FileVersion, bucket: str, *, count: int, rate: float) -> list[float]:
    receiver = Receiver(consumer_for(settings, topic("custody.jobs").full_name(settings.topic_prefix)), scheduled_commit)
    receiver.start()
    producer = DurableProducer(settings.kafka, topic_prefix=settings.topic_prefix, client_id="bench-commits")

    def send(i: int) -> str:
        event = commit_event(version, bucket, i)
        producer.send_event(event)
        producer.flush()
        return event.data.commit_id

    sent = offer(count, rate, send)
    result = latencies(sent, receiver, 60)
    receiver.stopping.set()
    if len(result) < len(sent):
        print(f"warning: {len(sent) - len(result)} of {len(sent)} commits got no JobScheduled within 60 s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10.0, help="Commits offered per second (default 10).")
    parser.add_argument("--count", type=int, default=300, help="Commits measured (default 300).")
    arguments = parser.parse_args()

    base = load_settings()
    settings = Settings(topic_prefix=f"bench-{uuid.uuid4().hex[:8]}.", kafka=base.kafka, s3=base.s3)
    ensure_topics(settings.kafka, prefix=settings.topic_prefix)

    with tempfile.TemporaryDirectory(prefix="custody-bench-") as directory:
        workdir = Path(directory)
        version, bucket = prepare(settings, workdir)
        log_path = workdir / "worker.log"
        with open(log_path, "wb") as log_file:
            worker = subprocess.Popen([CUSTODY, "processors", "run"], env=worker_env(settings, workdir), stdout=log_file, stderr=subprocess.STDOUT)
        try:
            wait_for_worker(settings, version, bucket)
            floor = measure_floor(settings, count=arguments.count, rate=arguments.rate)
            measured = measure_pipeline(settings, version, bucket, count=arguments.count, rate=arguments.rate)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)

    print(f"offered rate: {arguments.rate:g} commits/s, {arguments.count} commits, topic prefix {settings.topic_prefix}")
    print(f"kafka round trip (floor): {summary(floor)}")
    print(f"commit -> JobScheduled:   {summary(measured)}")
    print(
        f"ratio to floor: p50 {percentile(measured, 0.5) / percentile(floor, 0.5):.1f}x, "
        f"p99 {percentile(measured, 0.99) / percentile(floor, 0.99):.1f}x"
    )


if __name__ == "__main__":
    main()
