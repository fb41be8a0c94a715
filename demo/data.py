"""Write the demo's patient table: scikit-learn's diabetes data plus made-up identifiers.

The 442 clinical rows are the real diabetes study data bundled with
scikit-learn (age, sex, BMI, blood pressure, six serum measurements and a
disease progression score one year later). Names, dates of birth, ZIP codes and
patient ids are invented from a fixed seed, so every run writes the same bytes
and the demo can check exact SHA-256 hashes.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from sklearn.datasets import load_diabetes

FIRST_NAMES = ["Ada", "Ben", "Chloe", "Dmitri", "Elif", "Farah", "Goran", "Hana", "Ivo", "Jun", "Kofi", "Lena", "Mateo", "Nia", "Omar", "Priya"]
LAST_NAMES = ["Novak", "Okafor", "Silva", "Tanaka", "Keller", "Haddad", "Larsen", "Moreau", "Ivanova", "Chen", "Mensah", "Rossi"]
COLUMNS = ["patient_id", "name", "date_of_birth", "zip", "age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6", "progression"]
# In the first delivery the blood-pressure sensor of one clinic failed and wrote 0
# for these rows; the corrected delivery carries the measured values.
FAULTY_BP_ROWS = range(0, 40)
STUDY_YEAR = 2024


def patient_rows(*, corrected: bool) -> list[dict[str, object]]:
    """Return the rows of the patient table, as first delivered or corrected."""
    dataset = load_diabetes(scaled=False)
    names = list(dataset.feature_names)
    rng = random.Random(20240501)

    rows = []
    for index, (features, target) in enumerate(zip(dataset.data, dataset.target)):
        values = dict(zip(names, (float(v) for v in features)))
        age = int(values["age"])
        bp = values["bp"] if corrected or index not in FAULTY_BP_ROWS else 0.0
        rows.append(
            {
                "patient_id": f"P{100000 + index}",
                "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                "date_of_birth": f"{STUDY_YEAR - age}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "zip": f"{rng.randint(10000, 99999)}",
                "age": age,
                "sex": int(values["sex"]),
                "bmi": values["bmi"],
                "bp": bp,
                **{f"s{i}": values[f"s{i}"] for i in range(1, 7)},
                "progression": float(target),
            }
        )
    return rows


def write_patients_csv(path: Path, *, corrected: bool = False) -> Path:
    """Write the table as CSV (LF line ends, fixed column order) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(patient_rows(corrected=corrected))
    return path
