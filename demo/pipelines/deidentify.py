"""Remove direct identifiers and coarsen quasi-identifiers of every patient CSV.

Runner contract: inputs under $CUSTODY_INPUTS/<repo>/<path>, outputs written to
$CUSTODY_OUTPUTS. Drops patient_id, name and date_of_birth; keeps the first three
ZIP digits; replaces exact age with a ten-year band. Clinical values are kept.
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

DROPPED = ("patient_id", "name", "date_of_birth")


def age_band(age: str) -> str:
    low = int(float(age)) // 10 * 10
    return f"{low}-{low + 9}"


def deidentify(source: Path, target: Path) -> int:
    with source.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise SystemExit(f"{source} has no rows")

    columns = [c for c in rows[0] if c not in DROPPED]
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            kept = {c: row[c] for c in columns}
            kept["zip"] = row["zip"][:3] + "XX"
            kept["age"] = age_band(row["age"])
            writer.writerow(kept)
    return len(rows)


def main() -> int:
    inputs = Path(os.environ["CUSTODY_INPUTS"])
    outputs = Path(os.environ["CUSTODY_OUTPUTS"])
    sources = sorted(inputs.rglob("*.csv"))
    if not sources:
        print(f"no CSV files under {inputs}", file=sys.stderr)
        return 2

    for source in sources:
        count = deidentify(source, outputs / source.name.replace(".csv", ".deidentified.csv"))
        print(f"deidentified {count} rows from {source.relative_to(inputs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
