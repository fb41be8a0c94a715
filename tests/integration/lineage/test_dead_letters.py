"""Records the lineage consumer cannot write go to the dead-letter topic; the rest of their batch lands."""

from __future__ import annotations

import base64
import time

from custody.events import decode, make_event
from custody.events import models
from custody.kafka import DurableProducer, ManualCommitConsumer
from tests.integration.lineage.conftest import (
    LineageEnv,
    caught_up,
    create_single_partition_topics,
    start_consumer,
    wait_for,
)


def scheduled(job_id: str) -> models.JobScheduled:
    return models.JobScheduled(
        job_id=job_id, pipeline="clean", pipeline_version="v1", executor="local",
        inputs=[models.InputCommit(repo="raw", commit_id="d" * 64)], output_repo="clean",
        service_account=models.Agent(kind="service_account", name="clean-runner"),
    )


def read_dead_letters(env: LineageEnv, count: int) -> list:
    reader = ManualCommitConsumer(env.kafka, group_id=f"{env.group_id}-dlq")
    reader.subscribe([env.topic("custody.dlq")])
    letters = []
    deadline = time.monotonic() + 30
    while len(letters) < count and time.monotonic() < deadline:
        message = reader.poll(0.5)
        if message is not None:
            letters.append(decode(message.value()).data)
    reader.close()
    return letters


def test_invalid_and_rejected_records_are_dead_lettered(lineage_env: LineageEnv):
    env = lineage_env
    create_single_partition_topics(env)
    # Neo4j cannot index a key this long, so the write is rejected whatever is retried.
    oversized_id = "j-" + "x" * 40_000
    producer = DurableProducer(env.kafka, topic_prefix=env.prefix)
    producer.send_event(make_event(scheduled("j-good-1"), source="/custody/tests"))
    producer.produce(env.topic("custody.jobs"), b"hello", key=b"j-garbage")
    producer.send_event(make_event(scheduled(oversized_id), source="/custody/tests"))
    producer.send_event(make_event(scheduled("j-good-2"), source="/custody/tests"))
    producer.flush()

    consumer = start_consumer(env)
    wait_for(lambda: caught_up(env), "the consumer to commit all four records")
    consumer.stop()
    letters = sorted(read_dead_letters(env, 2), key=lambda letter: letter.offset)

    with env.connector.driver().session(database=env.connector.database) as session:
        jobs = session.run("MATCH (j:Job) WHERE j.ns = $ns RETURN j.id AS id ORDER BY id", ns=env.namespace).value()
    assert jobs == ["j-good-1", "j-good-2"]
    assert [(letter.offset, letter.error_type) for letter in letters] == [(1, "InvalidEvent"), (2, "GraphWriteRejected")]
    assert base64.b64decode(letters[0].value_b64) == b"hello"
    assert "too large" in letters[1].reason
    assert letters[1].service == "lineage"
    assert consumer.consumer.stats.dead_lettered == 2
    assert consumer.consumer.stats.events_written == 2
