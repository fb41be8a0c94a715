"""Copy patient records for a marketing export; the demo's policy check must refuse to run it."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def main() -> int:
    outputs = Path(os.environ["CUSTODY_OUTPUTS"])
    for source in Path(os.environ["CUSTODY_INPUTS"]).rglob("*.csv"):
        shutil.copy(source, outputs / source.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
