"""One delivery of the patient table: commit it, wait for the chain, print and check the results."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from demo.checks import Checker, DemoFailure
from demo.events import EventWatcher
from demo.services import ServiceSet

CHAIN = ("deidentify", "train")


def run_delivery(
    env: dict[str, str],
    services: ServiceSet,
    watcher: EventWatcher,
    output: Path,
    bucket: str,
    *,
    author: str,
    corrected: bool,
    check: Checker,
    custody: Callable[..., str],
    timeout_s: float,
) -> dict[str, Any]:
    """Commit the table as `author`, wait for deidentify and train, then print and check trace, impact and refusal."""
    title = "corrected table" if corrected else "diabetes study table"
    print(f"\n=== {author} commits the {title} ===", flush=True)
    csv_path = write_csv(output / f"delivery-{author}" / "patients.csv", corrected)
    csv_sha = hashlib.sha256(csv_path.read_bytes()).hexdigest()
    print(f"patients.csv: {csv_path.stat().st_size} bytes, sha256 {csv_sha}")

    custody(env, "commit", "patients", str(csv_path), "--author", f"person:{author}", "--message", f"{title} from the study site", "--no-progress")

    def wait(description: str, condition: Callable[[], Any]) -> Any:
        return watcher.wait_for(description, condition, timeout_s, services.check_running)

    upload = wait(f"the patients commit by {author}", lambda: _find_commit(watcher, "patients", author=author))
    features = wait("the features commit made by deidentify", lambda: _find_output(watcher, "features", upload.data.commit_id))
    model = wait("the models commit made by train", lambda: _find_output(watcher, "models", features.data.commit_id))
    refusal = wait("the refusal of marketing-export", lambda: _find_decision(watcher, "marketing-export", upload.data.commit_id))
    print(f"chain finished: patients {upload.data.commit_id[:12]} -> features {features.data.commit_id[:12]} -> models {model.data.commit_id[:12]}")

    model_file = next(f for f in model.data.files if f.path.endswith("model.json"))
    model_uri = f"s3://{bucket}/{model.data.prefix}{model_file.path}?sha256={model_file.sha256}"
    raw_uri = f"s3://{bucket}/{upload.data.prefix}patients.csv?sha256={csv_sha}"

    trace = wait("the lineage of the model in Neo4j", lambda: _audit_json(env, custody, "trace", model_uri, upload.data.commit_id))
    custody(env, "audit", "trace", model_uri, "--graph", str(output / f"provenance-{author}.svg"))
    custody(env, "audit", "trace", model_uri, "--format", "markdown", "--graph", str(output / f"provenance-{author}.mmd"))
    impact = wait("the impact of the raw file in Neo4j", lambda: _audit_json(env, custody, "impact", raw_uri, model.data.commit_id))
    custody(env, "audit", "impact", raw_uri)
    print(f"\nRefused: marketing-export on commit {upload.data.commit_id[:12]}: {refusal.data.reason}")

    _check_delivery(check, author, csv_sha, trace, impact, refusal, features, model, output)
    return {"author": author, "csv_sha": csv_sha, "upload": upload, "features": features, "model": model, "trace": trace, "model_uri": model_uri}


def compare(first: dict[str, Any], second: dict[str, Any], check: Checker, *, env: dict[str, str], custody: Callable[..., str]) -> None:
    """Check that the new model's lineage differs from the old one exactly where it should."""
    print("\n=== Comparing the two models' lineage ===", flush=True)
    old_trace = _audit_json(env, custody, "trace", first["model_uri"], first["upload"].data.commit_id)
    new_trace = second["trace"]
    old, new = _lineage_summary(old_trace), _lineage_summary(new_trace)
    for field in ("people", "raw_sha", "commits", "jobs", "plans"):
        same = old[field] == new[field]
        print(f"  {field:8} {'same' if same else 'differs'}: {sorted(old[field])} -> {sorted(new[field])}"[:300])

    check.expect("old model still traces to alice only", old["people"] == {"person:alice"}, str(old["people"]))
    check.expect("new model traces to bob only", new["people"] == {"person:bob"}, str(new["people"]))
    check.expect("raw file bytes differ", old["raw_sha"] == {first["csv_sha"]} and new["raw_sha"] == {second["csv_sha"]} and first["csv_sha"] != second["csv_sha"])
    check.expect("every commit differs", not (old["commits"] & new["commits"]), str(old["commits"] & new["commits"]))
    check.expect("every job differs", not (old["jobs"] & new["jobs"]), str(old["jobs"] & new["jobs"]))
    check.expect("pipeline versions are the same", old["plans"] == new["plans"] and len(new["plans"]) == 2, f"{old['plans']} vs {new['plans']}")


def write_csv(path: Path, corrected: bool) -> Path:
    from demo.data import write_patients_csv

    return write_patients_csv(path, corrected=corrected)


def _find_commit(watcher: EventWatcher, repo: str, *, author: str):
    for event in watcher.of_type("data.committed.v1"):
        if event.data.repo == repo and event.data.author.name == author and event.data.origin.kind == "upload":
            return event
    return None


def _find_output(watcher: EventWatcher, repo: str, input_commit: str):
    for event in watcher.of_type("data.committed.v1"):
        origin = event.data.origin
        if event.data.repo == repo and origin.kind == "job" and input_commit in origin.input_commits:
            return event
    for event in watcher.of_type("job.failed.v1"):
        if event.data.final:
            raise DemoFailure(f"job {event.data.job_id} failed: {event.data.reason}\n{event.data.log_tail[-1500:]}")
    return None


def _find_decision(watcher: EventWatcher, pipeline: str, commit_id: str):
    for event in watcher.of_type("trigger.decided.v1"):
        if event.data.pipeline == pipeline and any(i.commit_id == commit_id for i in event.data.inputs):
            return event
    return None


def _audit_json(env: dict[str, str], custody: Callable[..., str], command: str, target: str, must_contain: str) -> dict | None:
    """Return the audit result as JSON once the graph contains `must_contain`, else None (lineage may lag)."""
    try:
        text = custody(env, "audit", command, target, "--format", "json", capture=True, quiet=True)
    except DemoFailure:
        return None
    return json.loads(text) if must_contain in text else None


def _lineage_summary(trace: dict[str, Any]) -> dict[str, set[str]]:
    people = {a["id"] for a in trace["agents"] if a["id"].startswith("person:")}
    uploads = [c for c in trace["commits"] if c.get("origin") == "upload"]
    return {
        "people": {author for c in uploads for author in c.get("authors", [])} or people,
        "raw_sha": {f["sha256"] for c in uploads for f in c.get("files", [])},
        "commits": {c["id"] for c in trace["commits"]},
        "jobs": {j["id"] for j in trace["jobs"]},
        "plans": {p["id"] for p in trace["plans"]},
    }


def _check_delivery(check, author, csv_sha, trace, impact, refusal, features, model, output) -> None:
    summary = _lineage_summary(trace)
    plans = {p["id"].split("@")[0]: p for p in trace["plans"]}
    jobs = trace["jobs"]

    check.expect(f"{author}: trace names {author}", f"person:{author}" in summary["people"], str(summary["people"]))
    check.expect(f"{author}: trace lists the exact sha256 of patients.csv", csv_sha in summary["raw_sha"], str(summary["raw_sha"]))
    check.expect(f"{author}: trace shows both pipeline versions", set(plans) == set(CHAIN), str(sorted(plans)))
    check.expect(f"{author}: every job has a code identity", len(jobs) == 2 and all(j.get("code_hash") or j.get("image_digest") for j in jobs), json.dumps([{k: j.get(k) for k in ("id", "code_hash", "image_digest")} for j in jobs])[:400])
    check.expect(f"{author}: every job has start and finish times", all(j.get("started_at") and j.get("finished_at") for j in jobs))
    check.expect(f"{author}: every job succeeded", all(j.get("status") == "succeeded" for j in jobs), str([j.get("status") for j in jobs]))
    check.expect(f"{author}: a service account ran the jobs", any(a["id"].startswith("service_account:") for a in trace["agents"]))
    impacted = {c["id"] for c in impact["commits"]}
    check.expect(f"{author}: impact of the raw file lists the features and models commits", {features.data.commit_id, model.data.commit_id} <= impacted, str(impacted)[:300])
    check.expect(f"{author}: marketing-export refused for pii", refusal.data.outcome == "refused" and "pii" in refusal.data.refused_labels, f"{refusal.data.outcome} {refusal.data.refused_labels}")
    svg = output / f"provenance-{author}.svg"
    mermaid = output / f"provenance-{author}.mmd"
    check.expect(f"{author}: provenance picture written", svg.exists() and "<svg" in svg.read_text()[:2000], str(svg))
    check.expect(f"{author}: Mermaid picture written", mermaid.exists() and mermaid.stat().st_size > 0, str(mermaid))
