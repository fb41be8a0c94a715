"""Read pipeline specs from YAML files and directories, with errors that name the file and the field.

Local scripts are found relative to the spec file: for the local executor, a
`command` or `args` entry that names a file next to the spec, and a relative
`working_dir`, become absolute paths when the spec is loaded. The worker may
run anywhere on the same machine, and the code hash covers exactly those files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from custody.errors import ValidationFailed
from processors.spec import PipelineSpec

SPEC_SUFFIXES = (".yaml", ".yml")


class SpecError(ValidationFailed):
    """One or more spec files are invalid; the message has one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class LoadedSpec:
    """A valid spec and the file it came from."""

    path: Path
    spec: PipelineSpec


def load_specs(target: Path) -> list[LoadedSpec]:
    """Load every spec in a file, or in the `.yaml`/`.yml` files of a directory (not recursive).

    Raises SpecError listing every problem of every file, so a directory is
    either applied whole or not at all.
    """
    files = _spec_files(target)
    loaded: list[LoadedSpec] = []
    problems: list[str] = []

    for path in files:
        for index, document in enumerate(_documents(path, problems)):
            where = path if index == 0 else f"{path} (document {index + 1})"
            spec = _validate(document, path, str(where), problems)
            if spec is not None:
                loaded.append(LoadedSpec(path, spec))

    _check_unique_names(loaded, problems)
    if problems:
        raise SpecError(problems)
    return loaded


def parse_spec(document: Any, *, where: str, base_dir: Path | None = None) -> PipelineSpec:
    """Validate one parsed YAML document; raise SpecError naming `where` and each bad field."""
    problems: list[str] = []
    spec = _validate(document, base_dir, where, problems)
    if spec is None:
        raise SpecError(problems)
    return spec


def _spec_files(target: Path) -> list[Path]:
    if target.is_dir():
        files = sorted(path for path in target.iterdir() if path.suffix in SPEC_SUFFIXES and path.is_file())
        if not files:
            raise SpecError([f"{target}: directory has no .yaml or .yml files"])
        return files
    if not target.is_file():
        raise SpecError([f"{target}: no such file or directory"])
    return [target]


def _documents(path: Path, problems: list[str]) -> list[Any]:
    try:
        documents = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        location = f" line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problems.append(f"{path}:{location} is not valid YAML: {getattr(exc, 'problem', None) or exc}")
        return []
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot be read: {exc}")
        return []
    if not documents:
        problems.append(f"{path}: contains no spec")
    return documents


def _validate(document: Any, path: Path | None, where: str, problems: list[str]) -> PipelineSpec | None:
    if not isinstance(document, dict):
        problems.append(f"{where}: a spec must be a mapping with `name`, `input`, `transform` and `output`, not {type(document).__name__}")
        return None

    base_dir = path.parent if isinstance(path, Path) and path.is_file() else path
    document = _resolve_local_paths(document, base_dir) if isinstance(base_dir, Path) else document
    try:
        return PipelineSpec.model_validate(document)
    except ValidationError as exc:
        problems.extend(f"{where}: {line}" for line in describe_validation(exc))
        return None


def describe_validation(exc: ValidationError) -> list[str]:
    """Return one line per error: the dotted field, the problem and, where there is one, the value."""
    lines = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or "(spec)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            lines.append(f"field '{field}': required field is missing")
        elif error["type"] == "extra_forbidden":
            lines.append(f"field '{field}': unknown field; check its spelling against docs/processors.md")
        else:
            lines.append(f"field '{field}': {message} (value {_shown(error.get('input'))})")
    return lines


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _resolve_local_paths(document: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    transform = document.get("transform")
    if document.get("executor", "local") != "local" or not isinstance(transform, dict):
        return document

    resolved = dict(transform)
    for field in ("command", "args"):
        entries = transform.get(field)
        if isinstance(entries, list):
            resolved[field] = [_absolute_if_file(entry, base_dir) for entry in entries]
    working_dir = transform.get("working_dir")
    if isinstance(working_dir, str) and working_dir and not Path(working_dir).is_absolute():
        resolved["working_dir"] = str((base_dir / working_dir).resolve())
    return {**document, "transform": resolved}


def _absolute_if_file(entry: Any, base_dir: Path) -> Any:
    if not isinstance(entry, str) or not entry or Path(entry).is_absolute():
        return entry
    candidate = base_dir / entry
    return str(candidate.resolve()) if candidate.is_file() else entry


def _check_unique_names(loaded: list[LoadedSpec], problems: list[str]) -> None:
    seen: dict[str, Path] = {}
    for item in loaded:
        first = seen.setdefault(item.spec.name, item.path)
        if first != item.path or sum(1 for other in loaded if other.spec.name == item.spec.name) > 1:
            message = f"{item.path}: field 'name': pipeline {item.spec.name!r} is defined more than once (also in {first})"
            if message not in problems:
                problems.append(message)
