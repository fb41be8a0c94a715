"""The end-to-end demo, run as `make demo` runs it, against the real stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from custody.settings import KafkaSettings

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_to_verified_end(kafka_settings: KafkaSettings, neo4j_settings, s3_settings, tmp_path):
    env = {
        **os.environ,
        "CUSTODY_DEMO_OUTPUT": str(tmp_path),
        "CUSTODY_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "CUSTODY_NEO4J_URI": neo4j_settings.uri,
        "CUSTODY_NEO4J_USER": neo4j_settings.user,
        "CUSTODY_NEO4J_PASSWORD": neo4j_settings.password.get_secret_value(),
        "CUSTODY_S3_ENDPOINT_URL": s3_settings.endpoint_url,
        "CUSTODY_S3_ACCESS_KEY_ID": s3_settings.access_key_id,
        "CUSTODY_S3_SECRET_ACCESS_KEY": s3_settings.secret_access_key.get_secret_value(),
    }

    result = subprocess.run([sys.executable, "-m", "demo.run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)

    [run_dir] = [path for path in tmp_path.iterdir() if path.is_dir()]
    checks = json.loads((run_dir / "checks.json").read_text())
    failed = [check for check in checks if not check["ok"]]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert failed == []
    assert len(checks) >= 25
    assert "Demo verified" in result.stdout
    assert (run_dir / "provenance-alice.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
