"""The lineage consumer never moves past an event it failed to write.

Neo4j is made unreachable for the consumer only: it connects through a TCP proxy
that the test closes and reopens, while the shared Neo4j keeps serving the test
itself and everyone else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from custody.events import CloudEvent, make_event
from custody.events import models
from custody.settings import Neo4jSettings
from lineage.dumping import dump_graph
from lineage.writing import GraphWriter
from tests.integration.lineage.conftest import (
    LineageEnv,
    clear_namespace,
    committed_offsets,
    create_single_partition_topics,
    start_consumer,
    wait_for,
)
from tests.integration.lineage.proxy import TcpProxy

T0 = datetime(2026, 4, 1, 8, 0, tzinfo=timezone.utc)
COMMIT = "a" * 64


def job_events() -> list[CloudEvent]:
    """Return JobScheduled(j1), JobSucceeded(j1), JobScheduled(j2)."""
    def scheduled(job_id: str) -> models.JobScheduled:
        return models.JobScheduled(
            job_id=job_id, pipeline="clean", pipeline_version="v1", executor="local",
            inputs=[models.InputCommit(repo="raw", commit_id=COMMIT)], output_repo="clean",
            service_account=models.Agent(kind="service_account", name="clean-runner", acting_for="alice"),
        )

    succeeded = models.JobSucceeded(
        job_id="j1", attempt=1, finished_at=T0 + timedelta(minutes=2), duration_s=120.0,
        output_commit_id="b" * 64, code=models.CodeIdentity(code_hash="c" * 64, command=["python", "clean.py"]),
    )
    return [
        make_event(scheduled("j1"), source="/custody/tests").model_copy(update={"time": T0}),
        make_event(succeeded, source="/custody/tests").model_copy(update={"time": T0 + timedelta(minutes=2)}),
        make_event(scheduled("j2"), source="/custody/tests").model_copy(update={"time": T0 + timedelta(minutes=3)}),
    ]


def proxied_neo4j(settings: Neo4jSettings, proxy: TcpProxy) -> Neo4jSettings:
    """Return Neo4j settings that go through the proxy and give up on a transaction after one second."""
    return settings.model_copy(update={"uri": f"bolt://127.0.0.1:{proxy.port}", "max_transaction_retry_time_s": 1.0, "connection_timeout_s": 1.0})


def start_proxy(env: LineageEnv) -> TcpProxy:
    upstream = urlsplit(env.neo4j.uri)
    proxy = TcpProxy(upstream.hostname or "127.0.0.1", upstream.port or 7687).start()
    env.cleanups.append(proxy.close)
    return proxy


def jobs_offset(env: LineageEnv) -> int:
    return committed_offsets(env, [env.topic("custody.jobs")])[(env.topic("custody.jobs"), 0)]


def job_state(env: LineageEnv) -> dict[str, tuple[str | None, int]]:
    """Return each job's status and how many nodes carry its id (a duplicate would show 2)."""
    with env.connector.driver().session(database=env.connector.database) as session:
        rows = session.run("MATCH (j:Job) WHERE j.ns = $ns RETURN j.id AS id, j.status AS status, count(*) AS n", ns=env.namespace)
        return {row["id"]: (row["status"], row["n"]) for row in rows}


def reference_dump(env: LineageEnv, events: list[CloudEvent]) -> dict:
    """Return the dump of the same events written directly into a second namespace."""
    namespace = env.namespace + "-reference"
    env.cleanups.append(lambda: clear_namespace(env.connector, namespace))
    writer = GraphWriter(env.connector, namespace=namespace)
    writer.write(events)
    dump = dump_graph(env.connector, namespace)
    return {"nodes": dump["nodes"], "relationships": dump["relationships"]}


def graph_dump(env: LineageEnv) -> dict:
    dump = dump_graph(env.connector, env.namespace)
    return {"nodes": dump["nodes"], "relationships": dump["relationships"]}


def test_outage_holds_offset_until_the_write_lands(lineage_env: LineageEnv):
    env = lineage_env
    create_single_partition_topics(env)
    proxy = start_proxy(env)
    events = job_events()
    consumer = start_consumer(env, neo4j=proxied_neo4j(env.neo4j, proxy))

    env.produce(events[:1])
    wait_for(lambda: jobs_offset(env) == 1, "the first event to be committed")
    proxy.close()
    env.produce(events[1:])
    wait_for(lambda: consumer.consumer.stats.write_failures >= 3, "three failed write attempts")

    assert jobs_offset(env) == 1
    assert job_state(env) == {"j1": ("scheduled", 1)}

    proxy.reopen()
    wait_for(lambda: jobs_offset(env) == 3, "the consumer to commit all three events after Neo4j returned")
    consumer.stop()

    assert job_state(env) == {"j1": ("succeeded", 1), "j2": ("scheduled", 1)}
    assert graph_dump(env) == reference_dump(env, events)


def test_consumer_killed_during_outage_resumes_without_gap(lineage_env: LineageEnv, tmp_path: Path):
    env = lineage_env
    create_single_partition_topics(env)
    proxy = start_proxy(env)
    events = job_events()
    log_file = tmp_path / "lineage.log"

    first = _start_process(env, proxy, log_file)
    env.produce(events[:1])
    wait_for(lambda: jobs_offset(env) == 1, "the first event to be committed")
    proxy.close()
    env.produce(events[1:])
    wait_for(lambda: "lineage write failed" in log_file.read_text(), "the consumer to log a failed write")

    assert jobs_offset(env) == 1
    first.kill()
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    assert jobs_offset(env) == 1
    assert job_state(env) == {"j1": ("scheduled", 1)}

    proxy.reopen()
    second = _start_process(env, proxy, log_file)
    wait_for(lambda: jobs_offset(env) == 3, "the restarted consumer to commit all three events")
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=60)

    assert second.returncode == 0, log_file.read_text()[-2000:]
    assert job_state(env) == {"j1": ("succeeded", 1), "j2": ("scheduled", 1)}
    assert graph_dump(env) == reference_dump(env, events)


def _start_process(env: LineageEnv, proxy: TcpProxy, log_file: Path) -> subprocess.Popen:
    variables = {
        **os.environ,
        "CUSTODY_KAFKA_BOOTSTRAP_SERVERS": env.kafka.bootstrap_servers,
        "CUSTODY_NEO4J_URI": f"bolt://127.0.0.1:{proxy.port}",
        "CUSTODY_NEO4J_USER": env.neo4j.user,
        "CUSTODY_NEO4J_PASSWORD": env.neo4j.password.get_secret_value(),
        "CUSTODY_NEO4J_MAX_TRANSACTION_RETRY_TIME_S": "1",
        "CUSTODY_NEO4J_CONNECTION_TIMEOUT_S": "1",
        "CUSTODY_TOPIC_PREFIX": env.prefix,
        "CUSTODY_LINEAGE_NAMESPACE": env.namespace,
        "CUSTODY_LINEAGE_GROUP_ID": env.group_id,
        "CUSTODY_LINEAGE_RETRY_MAX_S": "1",
        "CUSTODY_LINEAGE_POLL_TIMEOUT_S": "0.2",
        # The killed process stays a group member until its session expires; a short session lets the restart take over sooner.
        "CUSTODY_LINEAGE_SESSION_TIMEOUT_S": "6",
    }
    output = log_file.open("a")
    process = subprocess.Popen(
        [sys.executable, "-m", "custody.cli.main", "--log-level", "INFO", "lineage", "run"],
        env=variables, stdout=output, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[3],
    )
    env.cleanups.append(lambda: process.poll() is None and process.kill())
    return process
