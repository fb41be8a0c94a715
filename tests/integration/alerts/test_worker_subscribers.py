"""`@subscriber` handlers running inside the faust worker, against real Kafka."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from custody.events import make_event
from custody.kafka import DurableProducer, ensure_topics
from tests.unit.alerts import events as sample


def test_handlers_run_inside_worker(kafka_settings, unique, tmp_path):
    prefix = f"subs-{unique}."
    ensure_topics(kafka_settings, prefix=prefix)
    producer = DurableProducer(kafka_settings, topic_prefix=prefix)
    producer.send_event(make_event(sample.models_failed(job_id="job-final", final=True), source="/custody/tests"))
    producer.send_event(make_event(sample.models_failed(job_id="job-retried", final=False), source="/custody/tests"))
    producer.flush()

    record_dir = tmp_path / "records"
    record_dir.mkdir()
    env = {
        **os.environ,
        "CUSTODY_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "CUSTODY_TOPIC_PREFIX": prefix,
        "CUSTODY_PROCESSORS_STATE_DIR": str(tmp_path / "state"),
        "CUSTODY_TEST_RECORD_DIR": str(record_dir),
        # Wide log lines, so the messages checked below are not wrapped.
        "COLUMNS": "400",
    }
    log_file = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "custody.cli.main", "processors", "run", "--handlers", "tests.integration.alerts.recording_handlers"],
        env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not (record_dir / "job-final").exists() and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.5)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    log_text = (tmp_path / "worker.log").read_text(errors="replace")

    assert (record_dir / "job-final").read_text() == "exit code 2", log_text[-3000:]
    assert not (record_dir / "job-retried").exists()
    assert "deliberate failure" in log_text
    assert "continuing with the other handlers" in log_text
