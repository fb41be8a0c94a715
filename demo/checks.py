"""Record the demo's checks and print a verdict."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


class DemoFailure(Exception):
    """A step of the demo could not run."""


@dataclass
class Checker:
    """Collects named checks; the demo fails when any check fails."""

    results: list[tuple[str, bool, str]] = field(default_factory=list)

    def expect(self, name: str, condition: bool, detail: str = "") -> bool:
        """Record one check and print it at once."""
        self.results.append((name, bool(condition), detail))
        mark = "ok  " if condition else "FAIL"
        print(f"  [{mark}] {name}{': ' + detail if detail and not condition else ''}", flush=True)
        return bool(condition)

    def fail(self, reason: str) -> None:
        """Record a step that could not run."""
        self.expect("demo steps completed", False, reason)

    def report(self, output: Path) -> int:
        """Print the verdict, write checks.json, and return the exit status."""
        failed = [name for name, ok, _ in self.results if not ok]
        (output / "checks.json").write_text(
            json.dumps([{"check": name, "ok": ok, "detail": detail} for name, ok, detail in self.results], indent=2) + "\n"
        )
        if failed or not self.results:
            print(f"\nDEMO FAILED: {len(failed)} of {len(self.results)} checks failed: {', '.join(failed)}")
            return 1
        print(f"\nDemo verified: {len(self.results)} checks passed. Output in {output}")
        return 0
