"""Pipelines triggered by commits, end to end: one worker subprocess on the real Kafka and S3."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.processors.conftest import Bed, EventReader, Worker

COPY_UPPER = """
import os, pathlib
inputs = pathlib.Path(os.environ["CUSTODY_INPUTS"])
outputs = pathlib.Path(os.environ["CUSTODY_OUTPUTS"])
with open(os.environ["RUNS_FILE"], "a") as runs:
    runs.write(os.environ["CUSTODY_JOB_ID"] + "\\n")
for source in sorted(inputs.rglob("*")):
    if source.is_file():
        target = outputs / source.relative_to(inputs).relative_to(source.relative_to(inputs).parts[0])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read_text().upper())
print("copied for", os.environ["CUSTODY_PIPELINE"])
"""

COUNT_LINES = """
import json, os, pathlib
inputs = pathlib.Path(os.environ["CUSTODY_INPUTS"])
lines = sum(len(p.read_text().splitlines()) for p in inputs.rglob("*") if p.is_file())
pathlib.Path(os.environ["CUSTODY_OUTPUTS"], "model.json").write_text(json.dumps({"lines": lines}))
"""

FAIL = """
import sys
print("cannot parse row 7")
sys.exit(3)
"""


@dataclass
class Chain:
    bed: Bed
    worker: Worker
    reader: EventReader
    runs_file: Path
    scripts: dict[str, Path]

    def spec(self, name: str, input_: dict, output: str, script: str, **extra) -> dict:
        return {
            "name": name,
            "owner": "data-team",
            "input": input_,
            "transform": {"command": ["python3", str(self.scripts[script])], "env": {"RUNS_FILE": str(self.runs_file)}},
            "output": output,
            **extra,
        }

    def apply(self, *documents: dict) -> str:
        for document in documents:
            result = self.bed.cli("pipeline", "apply", "-f", str(self.bed.write_spec(document)), "--as", "alice")
            assert result.exit_code == 0, result.output
        return result.output

    def commits_to(self, repo: str) -> list:
        return [e for e in self.reader.of_type("data.committed") if e.data.repo == repo]

    def runs(self) -> list[str]:
        return self.runs_file.read_text().split() if self.runs_file.exists() else []


@pytest.fixture(scope="module")
def chain(module_bed: Bed) -> Iterator[Chain]:
    bed = module_bed
    for repo in ("raw", "clean", "model", "secret", "cleared", "blocked", "broken", "failed-out"):
        bed.register_repo(repo, *(["pii"] if repo == "secret" else []))
    scripts = {
        "copy": bed.script("copy_upper.py", COPY_UPPER),
        "count": bed.script("count_lines.py", COUNT_LINES),
        "fail": bed.script("fail.py", FAIL),
    }
    worker = bed.start_worker("chain")
    reader = bed.reader("custody.data.commits", "custody.decisions", "custody.jobs")
    yield Chain(bed, worker, reader, bed.directory / "runs.txt", scripts)
    reader.close()


def test_two_pipelines_chain_on_one_commit(chain: Chain):
    chain.apply(
        chain.spec("clean", {"repo": "raw", "glob": "**/*.csv"}, "clean", "copy"),
        chain.spec("model", {"repo": "clean"}, "model", "count"),
    )
    # Once the worker has decided on the new versions, the commit below is what triggers them.
    chain.reader.wait_for(lambda events: len(chain.reader.of_type("trigger.decided", outcome="no_match")) == 2, "decisions on the new versions")

    raw = chain.bed.commit("raw", {"2024 Q1/a+b.csv": "x,1\ny,2\n", "notes.txt": "skip me"})
    model_commit = chain.reader.wait_for(lambda events: chain.commits_to("model"), "a commit in repo model")[0]

    clean_commit = chain.commits_to("clean")[0]
    assert clean_commit.data.origin.kind == "job"
    assert clean_commit.data.origin.pipeline == "clean"
    assert clean_commit.data.origin.input_commits == [raw.commit_id]
    assert [f.path for f in clean_commit.data.files] == ["2024 Q1/a+b.csv"]
    assert model_commit.data.origin.pipeline == "model"
    assert model_commit.data.origin.input_commits == [clean_commit.data.commit_id]

    clean_job = chain.reader.of_type("job.scheduled", pipeline="clean")[0]
    assert clean_commit.data.origin.job_id == clean_job.data.job_id
    assert clean_commit.causationid == clean_job.id
    decision = chain.reader.of_type("trigger.decided", pipeline="clean", outcome="started")[0]
    assert decision.causationid == raw.event.id
    assert clean_job.causationid == decision.id
    assert clean_job.data.service_account.agent_id == "service_account:custody-runner"

    succeeded = chain.reader.wait_for(lambda events: chain.reader.of_type("job.succeeded", job_id=clean_job.data.job_id), "JobSucceeded")
    assert succeeded[0].data.output_commit_id == clean_commit.data.commit_id
    assert succeeded[0].data.code.code_hash is not None
    assert "copied for clean" in succeeded[0].data.log_tail
    assert len(chain.reader.of_type("job.scheduled", pipeline="clean")) == 1


def test_rerun_and_unchanged_apply(chain: Chain):
    first_job = chain.reader.of_type("job.scheduled", pipeline="clean")[0].data.job_id

    unchanged = chain.apply(chain.spec("clean", {"repo": "raw", "glob": "**/*.csv"}, "clean", "copy"))
    rerun = chain.bed.cli("pipeline", "rerun", "clean", "--reason", "parser fixed", "--as", "bob", "--wait", "60")

    assert "unchanged clean" in unchanged
    assert rerun.exit_code == 0, rerun.output
    assert "decision: started" in rerun.output
    scheduled = chain.reader.wait_for(
        lambda events: [e for e in chain.reader.of_type("job.scheduled", pipeline="clean") if e.data.job_id != first_job],
        "the re-run's JobScheduled",
    )
    assert len(scheduled) == 1
    assert scheduled[0].data.requested_by.agent_id == "person:bob"
    assert scheduled[0].data.rerun_reason == "parser fixed"
    assert scheduled[0].data.inputs == chain.reader.of_type("job.scheduled", job_id=first_job)[0].data.inputs
    decision = chain.reader.of_type("trigger.decided", job_id=scheduled[0].data.job_id)[0]
    assert decision.data.requested_by.agent_id == "person:bob"
    assert "parser fixed" in decision.data.reason


def test_pii_refused_without_clearance(chain: Chain):
    chain.apply(
        chain.spec("blocked", {"repo": "secret"}, "blocked", "copy"),
        chain.spec("cleared", {"repo": "secret"}, "cleared", "copy", clearances=["pii"]),
    )
    chain.reader.wait_for(lambda events: chain.reader.of_type("trigger.decided", pipeline="cleared"), "a decision on the new version")

    chain.bed.commit("secret", {"patients.csv": "alice,42\n"})

    refused = chain.reader.wait_for(lambda events: chain.reader.of_type("trigger.decided", pipeline="blocked", outcome="refused"), "a refusal")
    assert refused[0].data.refused_labels == ["pii"]
    assert "pii" in refused[0].data.reason
    assert refused[0].data.job_id is None
    chain.reader.wait_for(lambda events: chain.commits_to("cleared"), "the cleared pipeline's output")
    assert chain.reader.of_type("job.scheduled", pipeline="blocked") == []
    assert chain.commits_to("blocked") == []


def test_failed_job_retries_then_commits_nothing(chain: Chain):
    chain.apply(chain.spec("broken", {"repo": "broken"}, "failed-out", "fail", retries={"count": 1, "backoff_s": 0.2}))
    chain.reader.wait_for(lambda events: chain.reader.of_type("trigger.decided", pipeline="broken"), "a decision on the new version")

    chain.bed.commit("broken", {"rows.csv": "1\n"})

    failures = chain.reader.wait_for(
        lambda events: len(chain.reader.of_type("job.failed", final=True)) and chain.reader.of_type("job.failed"), "a final JobFailed"
    )
    job_id = chain.reader.of_type("job.scheduled", pipeline="broken")[0].data.job_id
    mine = [e.data for e in failures if e.data.job_id == job_id]
    assert [(f.attempt, f.final) for f in mine] == [(1, False), (2, True)]
    assert mine[0].reason == "command exited with code 3"
    assert mine[0].exit_code == 3
    assert "cannot parse row 7" in mine[1].log_tail
    assert chain.reader.of_type("job.succeeded", job_id=job_id) == []
    chain.reader.drain(1.0)
    assert chain.commits_to("failed-out") == []


def test_new_version_runs_on_heads(chain: Chain):
    raw_head = chain.commits_to("raw")[-1].data.commit_id
    before = {e.data.job_id for e in chain.reader.of_type("job.scheduled", pipeline="clean")}

    chain.apply(chain.spec("clean", {"repo": "raw", "glob": "**/*.csv"}, "clean", "copy", timeout="5m"))

    new = chain.reader.wait_for(
        lambda events: [e for e in chain.reader.of_type("job.scheduled", pipeline="clean") if e.data.job_id not in before],
        "a job of the new version",
    )
    chain.reader.wait_for(lambda events: chain.reader.of_type("job.succeeded", job_id=new[0].data.job_id), "its JobSucceeded")
    assert len(new) == 1
    assert [i.commit_id for i in new[0].data.inputs] == [raw_head]
    assert new[0].data.pipeline_version != chain.reader.of_type("job.scheduled", job_id=min(before))[0].data.pipeline_version
    assert new[0].data.requested_by is None


def test_garbage_commit_record_dead_lettered(chain: Chain):
    from confluent_kafka import Producer

    commits_topic = f"{chain.bed.settings.topic_prefix}custody.data.commits"
    producer = Producer({"bootstrap.servers": chain.bed.settings.kafka.bootstrap_servers})
    producer.produce(commits_topic, b"hello", key=b"raw")
    producer.flush(10)
    dlq = chain.bed.reader("custody.dlq")

    dead = dlq.wait_for(lambda events: dlq.of_type("record.deadlettered", source_topic=commits_topic), "the dead-lettered record")
    chain.bed.commit("raw", {"later.csv": "still running\n"})
    chain.reader.wait_for(
        lambda events: [e for e in chain.commits_to("clean") if any(f.path == "later.csv" for f in e.data.files)],
        "the output of the commit that followed the garbage",
    )
    dlq.close()
    assert dead[0].data.service == "processors"
    assert dead[0].data.error_type == "InvalidEvent"
    assert "not JSON" in dead[0].data.reason
    assert dead[0].data.value_b64 == "aGVsbG8="
    assert dead[0].data.offset >= 0
