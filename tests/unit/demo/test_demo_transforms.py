"""The demo's data and transforms, run as the runner contract runs them."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from demo.data import FAULTY_BP_ROWS, write_patients_csv

PIPELINES = Path(__file__).resolve().parents[3] / "demo" / "pipelines"


def run_transform(script: str, inputs: Path, outputs: Path) -> subprocess.CompletedProcess:
    outputs.mkdir(parents=True, exist_ok=True)
    env = {"CUSTODY_INPUTS": str(inputs), "CUSTODY_OUTPUTS": str(outputs), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, str(PIPELINES / script)], env=env, capture_output=True, text=True, check=False)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_patient_csv_is_deterministic(tmp_path):
    first = write_patients_csv(tmp_path / "a.csv").read_bytes()
    second = write_patients_csv(tmp_path / "b.csv").read_bytes()

    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()
    assert len(read_rows(tmp_path / "a.csv")) == 442


def test_correction_changes_only_faulty_rows(tmp_path):
    original = read_rows(write_patients_csv(tmp_path / "a.csv"))
    corrected = read_rows(write_patients_csv(tmp_path / "b.csv", corrected=True))

    changed = [i for i, (a, b) in enumerate(zip(original, corrected)) if a != b]
    assert changed == list(FAULTY_BP_ROWS)
    assert all(float(original[i]["bp"]) == 0.0 for i in changed)
    assert all(float(corrected[i]["bp"]) > 0.0 for i in changed)


def test_deidentify_drops_and_coarsens(tmp_path):
    write_patients_csv(tmp_path / "in" / "patients" / "raw" / "patients.csv")

    result = run_transform("deidentify.py", tmp_path / "in", tmp_path / "out")
    rows = read_rows(tmp_path / "out" / "patients.deidentified.csv")

    assert result.returncode == 0, result.stderr
    assert len(rows) == 442
    for column in ("patient_id", "name", "date_of_birth"):
        assert column not in rows[0]
    assert all(row["zip"].endswith("XX") and len(row["zip"]) == 5 for row in rows)
    assert rows[0]["age"] == "50-59"


def test_train_writes_model_and_metrics(tmp_path):
    write_patients_csv(tmp_path / "in" / "patients" / "patients.csv")
    run_transform("deidentify.py", tmp_path / "in", tmp_path / "features")

    result = run_transform("train.py", tmp_path / "features", tmp_path / "model")
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    model = json.loads((tmp_path / "model" / "model.json").read_text())

    assert result.returncode == 0, result.stderr
    assert metrics["rows"] == 442
    assert 0.3 < metrics["r2"] < 0.7
    assert set(model["coefficients"]) == {"sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"}


def test_transform_without_inputs_fails(tmp_path):
    (tmp_path / "empty").mkdir()

    result = run_transform("deidentify.py", tmp_path / "empty", tmp_path / "out")

    assert result.returncode == 2
    assert "no CSV files" in result.stderr
