"""Fit a linear regression of disease progression on the de-identified features.

Runner contract: reads every CSV under $CUSTODY_INPUTS, writes model.json
(coefficients) and metrics.json (R², RMSE, row count) to $CUSTODY_OUTPUTS.
Standard library only, so the transform runs with any Python 3.11.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from pathlib import Path

FEATURES = ("sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
TARGET = "progression"
RIDGE = 1e-6


def load(inputs: Path) -> tuple[list[list[float]], list[float]]:
    matrix, targets = [], []
    for path in sorted(inputs.rglob("*.csv")):
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                matrix.append([1.0] + [float(row[name]) for name in FEATURES])
                targets.append(float(row[TARGET]))
    return matrix, targets


def solve(matrix: list[list[float]], targets: list[float]) -> list[float]:
    """Solve the normal equations (XᵀX + λI) w = Xᵀy by Gauss-Jordan elimination."""
    width = len(matrix[0])
    normal = [[sum(r[i] * r[j] for r in matrix) + (RIDGE if i == j else 0.0) for j in range(width)] for i in range(width)]
    rhs = [sum(r[i] * y for r, y in zip(matrix, targets)) for i in range(width)]

    for col in range(width):
        pivot = max(range(col, width), key=lambda r: abs(normal[r][col]))
        normal[col], normal[pivot] = normal[pivot], normal[col]
        rhs[col], rhs[pivot] = rhs[pivot], rhs[col]
        for row in range(width):
            if row != col and normal[row][col]:
                factor = normal[row][col] / normal[col][col]
                normal[row] = [a - factor * b for a, b in zip(normal[row], normal[col])]
                rhs[row] -= factor * rhs[col]
    return [rhs[i] / normal[i][i] for i in range(width)]


def main() -> int:
    inputs = Path(os.environ["CUSTODY_INPUTS"])
    outputs = Path(os.environ["CUSTODY_OUTPUTS"])
    matrix, targets = load(inputs)
    if len(matrix) < len(FEATURES) + 1:
        print(f"only {len(matrix)} rows under {inputs}; need at least {len(FEATURES) + 1}", file=sys.stderr)
        return 2

    weights = solve(matrix, targets)
    predictions = [sum(w * x for w, x in zip(weights, row)) for row in matrix]
    mean = sum(targets) / len(targets)
    residual = sum((y - p) ** 2 for y, p in zip(targets, predictions))
    total = sum((y - mean) ** 2 for y in targets)

    outputs.mkdir(parents=True, exist_ok=True)
    model = {"kind": "linear-regression", "target": TARGET, "intercept": weights[0], "coefficients": dict(zip(FEATURES, weights[1:]))}
    metrics = {"rows": len(matrix), "r2": 1 - residual / total, "rmse": math.sqrt(residual / len(matrix))}
    (outputs / "model.json").write_text(json.dumps(model, indent=2, sort_keys=True) + "\n")
    (outputs / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    print(f"trained on {metrics['rows']} rows: r2={metrics['r2']:.3f} rmse={metrics['rmse']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
