"""Run the end-to-end demo on real data and verify every result it prints.

    python -m demo.run            (or `make demo`)

1. Start the producers, processors, lineage and alerts services against the local stack.
2. Create the repos `patients` (labels health, pii), `features` and `models`.
3. Apply the pipelines `deidentify`, `train` and `marketing-export`.
4. Commit the diabetes study table as alice and wait for the chain to run by itself.
5. Print the trace of the model, the impact of the raw file and the refusal of
   `marketing-export`, and draw the provenance graph.
6. Commit the corrected table as bob and compare the new model's lineage with the old.

Every run uses its own topic prefix, bucket and graph namespace, so runs never
mix. The script exits with status 1 when a check fails.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from custody.settings import Settings
from demo.checks import Checker, DemoFailure
from demo.delivery import compare, run_delivery
from demo.events import EventWatcher
from demo.services import CUSTODY, ServiceSet

log = logging.getLogger("demo")

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "demo" / "pipelines"
ALERT_RULES = ROOT / "demo" / "alerts.yaml"
CHAIN_TIMEOUT_S = float(os.environ.get("CUSTODY_DEMO_TIMEOUT_S", "300"))


def custody(env: dict[str, str], *args: str, capture: bool = False, quiet: bool = False) -> str:
    """Run one `custody` command, echoing it unless `quiet`; raise DemoFailure when it fails."""
    if not quiet:
        print(f"\n$ custody {' '.join(args)}", flush=True)
    result = subprocess.run([*CUSTODY, *args], env=env, text=True, capture_output=capture, check=False)
    if result.returncode != 0:
        detail = (result.stderr or "")[-2000:] if capture else ""
        raise DemoFailure(f"`custody {' '.join(args)}` exited with {result.returncode}. {detail}")
    return result.stdout if capture else ""


def demo_environment(run_id: str, output: Path) -> dict[str, str]:
    """Return the environment that scopes this run's topics, graph, state and groups."""
    env = dict(os.environ)
    env.update(
        {
            "CUSTODY_TOPIC_PREFIX": f"demo-{run_id}.",
            "CUSTODY_LINEAGE_NAMESPACE": f"demo-{run_id}",
            "CUSTODY_PROCESSORS_STATE_DIR": str(output / "processors-state"),
            "CUSTODY_PRODUCERS_S3_EVENTS_TOPIC": "custody.storage.s3-events",
            "CUSTODY_PRODUCERS_S3_EVENTS_KEY_ENCODING": "raw",
            "CUSTODY_PRODUCERS_S3_EVENTS_GROUP": f"demo-{run_id}-s3-events",
            "CUSTODY_PRODUCERS_WATCH_INTERVAL_S": "5",
            "PYTHONUNBUFFERED": "1",
            # Wide enough for the audit tables when output goes to a file or pipe.
            "COLUMNS": env.get("COLUMNS", "160"),
        }
    )
    return env


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:4]
    output = Path(os.environ.get("CUSTODY_DEMO_OUTPUT", ROOT / "demo-output")) / run_id
    output.mkdir(parents=True, exist_ok=True)
    env = demo_environment(run_id, output)
    bucket = f"custody-demo-{run_id}".lower()
    services = ServiceSet(env, output / "logs")
    check = Checker()

    print(f"Custody demo run {run_id}: output in {output}")
    try:
        custody(env, "check")
        custody(env, "topics", "create")
        watcher = EventWatcher(Settings(topic_prefix=env["CUSTODY_TOPIC_PREFIX"]), run_id)

        services.start("producers-s3-events", "producers", "run", "s3-events")
        services.start("producers-watch", "producers", "run", "watch", "--reconcile")
        services.start("processors", "processors", "run")
        services.start("lineage", "lineage", "run")
        services.start("alerts", "alerts", "run", str(ALERT_RULES), "--from-beginning")

        create_repos(env, bucket)
        custody(env, "pipeline", "apply", "-f", str(PIPELINES))

        first = run_delivery(env, services, watcher, output, bucket, author="alice", corrected=False, check=check, custody=custody, timeout_s=CHAIN_TIMEOUT_S)
        second = run_delivery(env, services, watcher, output, bucket, author="bob", corrected=True, check=check, custody=custody, timeout_s=CHAIN_TIMEOUT_S)
        compare(first, second, check, env=env, custody=custody)
    except (DemoFailure, TimeoutError, RuntimeError) as failure:
        check.fail(str(failure))
    finally:
        services.stop()

    return check.report(output)


def create_repos(env: dict[str, str], bucket: str) -> None:
    """Create the four repos in one versioned bucket, each under its own prefix."""
    custody(env, "repo", "create", "patients", "--bucket", bucket, "--prefix", "patients/", "--label", "health", "--label", "pii", "--create-bucket", "--registered-by", "person:alice")
    for name in ("features", "models", "marketing"):
        custody(env, "repo", "create", name, "--bucket", bucket, "--prefix", f"{name}/", "--create-bucket", "--registered-by", "person:alice")


if __name__ == "__main__":
    sys.exit(main())
