"""Exactly one job per pipeline version and inputs: duplicate events, SIGKILL after submitting, restarts."""

from __future__ import annotations

import signal

from confluent_kafka import Producer

from tests.integration.processors.conftest import Bed

COUNT_RUNS = """
import os, pathlib
with open(os.environ["RUNS_FILE"], "a") as runs:
    runs.write(os.environ["CUSTODY_JOB_ID"] + "\\n")
pathlib.Path(os.environ["CUSTODY_OUTPUTS"], "done.txt").write_text("ok")
"""


def test_one_job_despite_sigkill_and_duplicates(bed: Bed):
    runs_file = bed.directory / "runs.txt"
    bed.register_repo("raw")
    bed.register_repo("out")
    spec = {
        "name": "once",
        "owner": "data-team",
        "input": {"repo": "raw"},
        "transform": {"command": ["python3", str(bed.script("count.py", COUNT_RUNS))], "env": {"RUNS_FILE": str(runs_file)}},
        "output": "out",
    }
    assert bed.cli("pipeline", "apply", "-f", str(bed.write_spec(spec))).exit_code == 0
    reader = bed.reader("custody.data.commits", "custody.decisions", "custody.jobs")

    # 1. The worker kills itself with SIGKILL right after the executor accepted the job.
    crashing = bed.start_worker("a", CUSTODY_PROCESSORS_FAILPOINT="after-submit")
    reader.wait_for(lambda events: reader.of_type("trigger.decided", pipeline="once"), "the decision on the applied version")
    commit = bed.commit("raw", {"rows.csv": "1\n2\n"})
    assert crashing.process.wait(timeout=90) == -signal.SIGKILL
    job_dirs = [p for p in (bed.directory / "state-a" / "local-jobs").iterdir() if not p.name.startswith(".")]
    assert len(job_dirs) == 1
    assert (job_dirs[0] / "request.json").exists()
    assert not (job_dirs[0] / "released").exists()
    reader.drain(1.0)
    assert reader.of_type("job.scheduled") == []

    # 2. The same DataCommitted record arrives a second time.
    commits_topic = f"{bed.settings.topic_prefix}custody.data.commits"
    duplicate = next(raw for topic, key, raw in reader.raw if topic == commits_topic and commit.event.id.encode() in raw)
    producer = Producer({"bootstrap.servers": bed.settings.kafka.bootstrap_servers})
    producer.produce(commits_topic, duplicate, key=b"raw")
    producer.flush(10)

    # 3. The worker restarts on the same state directory and finishes what it had begun.
    restarted = bed.start_worker("a")
    job_id = job_dirs[0].name
    reader.wait_for(lambda events: reader.of_type("job.succeeded", job_id=job_id), "the job to succeed after the restart")
    reader.wait_for(lambda events: reader.of_type("trigger.decided", pipeline="once", outcome="duplicate"), "a duplicate decision")
    restarted.stop()

    # 4. A worker with an empty state directory has only the claims changelog to go by.
    fresh = bed.start_worker("b")
    producer.produce(commits_topic, duplicate, key=b"raw")
    producer.flush(10)
    reader.wait_for(lambda events: len(reader.of_type("trigger.decided", pipeline="once", outcome="duplicate")) >= 2, "a second duplicate decision")
    fresh.stop()

    reader.drain(1.0)
    scheduled = reader.of_type("job.scheduled", pipeline="once")
    assert [e.data.job_id for e in scheduled] == [job_id]
    assert [i.commit_id for i in scheduled[0].data.inputs] == [commit.commit_id]
    assert len(reader.of_type("trigger.decided", pipeline="once", outcome="started")) == 1
    assert {e.data.job_id for e in reader.of_type("trigger.decided", pipeline="once", outcome="duplicate")} == {job_id}
    assert runs_file.read_text().split() == [job_id]
    assert len([e for e in reader.of_type("data.committed") if e.data.repo == "out"]) == 1
    assert not (bed.directory / "state-b" / "local-jobs" / job_id).exists()
    reader.close()
