"""Draw a provenance result as Graphviz (SVG, PNG, PDF, DOT) or Mermaid (`.mmd`).

The picture uses the W3C PROV drawing conventions: entities (commits, files)
are yellow ellipses, activities (jobs) blue boxes and agents orange houses.
Every arrow points from the later thing to the earlier one, such as a commit to
the job that generated it, so the uploads end up on top.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from custody.errors import ConfigurationError
from lineage.audit.rendering import short_id, short_time
from lineage.audit.tracing import Provenance
from lineage.exceptions import QueryRejected

# Files drawn per commit; the rest are summed up in one node.
FILES_PER_COMMIT = 6

GRAPHVIZ_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf"}
SOURCE_SUFFIXES = {".dot", ".gv"}
MERMAID_SUFFIXES = {".mmd", ".mermaid"}

_STYLES = {
    "entity": {"shape": "ellipse", "style": "filled", "fillcolor": "#fffc87", "color": "#808080"},
    "file": {"shape": "note", "style": "filled", "fillcolor": "#fffed6", "color": "#808080"},
    "activity": {"shape": "box", "style": "filled", "fillcolor": "#9fb1fc", "color": "#0000ff"},
    "agent": {"shape": "house", "style": "filled", "fillcolor": "#fed37f", "color": "#808080"},
    "plan": {"shape": "component", "style": "filled", "fillcolor": "#e0e0e0", "color": "#808080"},
}


@dataclass
class Drawing:
    """Nodes (id, kind, label lines) and labelled edges of a picture."""

    nodes: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)

    def node(self, node_id: str, kind: str, lines: list[str]) -> str:
        self.nodes.setdefault(node_id, (kind, lines))
        return node_id

    def edge(self, source: str, target: str, label: str) -> None:
        if (source, target, label) not in self.edges:
            self.edges.append((source, target, label))


def build_drawing(result: Provenance) -> Drawing:
    """Return the nodes and edges of a provenance result."""
    drawing = Drawing()
    for commit in result.commits.values():
        commit_node = drawing.node(f"c:{commit['id']}", "entity", [f"{commit.get('repo') or '?'}@{short_id(commit['id'])}", short_time(commit.get("committed_at"))])
        files = commit.get("files", [])
        for file in files[:FILES_PER_COMMIT]:
            file_node = drawing.node(f"f:{commit['id']}:{file['path']}", "file", [file["path"], f"sha256 {short_id(file['sha256'])}"])
            drawing.edge(commit_node, file_node, "hadMember")
        hidden = max(len(files), commit.get("file_count") or 0) - FILES_PER_COMMIT
        if hidden > 0:
            drawing.edge(commit_node, drawing.node(f"f:{commit['id']}:more", "file", [f"{hidden} more file(s)"]), "hadMember")
        for author in commit.get("authors", []):
            drawing.edge(commit_node, drawing.node(f"a:{author}", "agent", [author]), "wasAttributedTo")
        for job_id in commit.get("generated_by", []):
            if job_id in result.jobs:
                drawing.edge(commit_node, f"j:{job_id}", "wasGeneratedBy")

    for job in result.jobs.values():
        status = f"{job.get('status') or '?'}" + (f", exit {job['exit_code']}" if job.get("exit_code") is not None else "")
        job_node = drawing.node(f"j:{job['id']}", "activity", [job.get("plan") or "?", job["id"], status])
        for commit_id in job.get("input_commits", []):
            if commit_id in result.commits:
                drawing.edge(job_node, f"c:{commit_id}", "used")
        for agent in job.get("agents", []):
            drawing.edge(job_node, drawing.node(f"a:{agent['id']}", "agent", [agent["id"]]), "wasAssociatedWith")
        if job.get("plan"):
            drawing.edge(job_node, drawing.node(f"p:{job['plan']}", "plan", [f"plan {job['plan']}"]), "hadPlan")

    for agent in result.agents.values():
        for person in agent.get("acting_for", []):
            drawing.edge(drawing.node(f"a:{agent['id']}", "agent", [agent["id"]]), drawing.node(f"a:{person}", "agent", [person]), "actedOnBehalfOf")
    return drawing


def picture_format(path: Path) -> str:
    """Return `mermaid`, `dot`, `svg`, `png` or `pdf` for a picture file name; raise QueryRejected for another suffix."""
    suffix = path.suffix.lower()
    if suffix in MERMAID_SUFFIXES:
        return "mermaid"
    if suffix in SOURCE_SUFFIXES:
        return "dot"
    if suffix in GRAPHVIZ_FORMATS:
        return GRAPHVIZ_FORMATS[suffix]
    known = ", ".join(sorted([*GRAPHVIZ_FORMATS, *SOURCE_SUFFIXES, *MERMAID_SUFFIXES]))
    raise QueryRejected(f"cannot draw {path.name}: unknown picture suffix {suffix or '(none)'!r}; use one of {known}")


def write_picture(result: Provenance, path: Path) -> str:
    """Write the picture in the format its suffix names; return the format written."""
    output_format = picture_format(path)
    drawing = build_drawing(result)
    if output_format == "mermaid":
        path.write_text(mermaid(drawing), encoding="utf-8")
    elif output_format == "dot":
        path.write_text(graphviz_source(drawing), encoding="utf-8")
    else:
        path.write_bytes(render_graphviz(drawing, output_format))
    return output_format


def mermaid(drawing: Drawing) -> str:
    """Return Mermaid flowchart text."""
    ids = {node_id: f"n{index}" for index, node_id in enumerate(drawing.nodes)}
    shapes = {"entity": ('(["', '"])'), "file": ('["', '"]'), "activity": ('["', '"]'), "agent": ('[/"', '"\\]'), "plan": ('[["', '"]]')}
    lines = ["flowchart BT"]
    for node_id, (kind, label_lines) in drawing.nodes.items():
        opening, closing = shapes[kind]
        label = "<br>".join(_mermaid_text(line) for line in label_lines)
        lines.append(f"  {ids[node_id]}{opening}{label}{closing}")
    for source, target, label in drawing.edges:
        lines.append(f"  {ids[source]} -->|{label}| {ids[target]}")
    for kind, style in _STYLES.items():
        members = [ids[node_id] for node_id, (node_kind, _) in drawing.nodes.items() if node_kind == kind]
        if members:
            lines.append(f"  classDef {kind} fill:{style['fillcolor']},stroke:{style['color']}")
            lines.append(f"  class {','.join(members)} {kind}")
    return "\n".join(lines) + "\n"


def graphviz_source(drawing: Drawing) -> str:
    """Return the DOT source of the picture."""
    return _digraph(drawing).source


def render_graphviz(drawing: Drawing, output_format: str) -> bytes:
    """Render the picture with Graphviz's `dot`; raise ConfigurationError when `dot` is not installed."""
    import graphviz

    if shutil.which("dot") is None:
        raise ConfigurationError(_MISSING_DOT)
    try:
        return _digraph(drawing).pipe(format=output_format)
    except graphviz.ExecutableNotFound as exc:
        raise ConfigurationError(_MISSING_DOT) from exc
    except graphviz.CalledProcessError as exc:
        raise ConfigurationError(f"Graphviz dot failed to render {output_format}: {exc.stderr!r}") from exc


_MISSING_DOT = (
    "Graphviz `dot` is not installed, so SVG, PNG and PDF pictures cannot be drawn. "
    "Install it (Debian: apt-get install graphviz, or `make system-deps`), or write Mermaid with a .mmd file name."
)


def _digraph(drawing: Drawing):
    import graphviz

    graph = graphviz.Digraph("provenance", graph_attr={"rankdir": "BT", "fontname": "Helvetica"}, node_attr={"fontname": "Helvetica", "fontsize": "10"}, edge_attr={"fontname": "Helvetica", "fontsize": "8"})
    # Node names are plain indexes because the graphviz package reads `a:b` in an edge as node `a`, port `b`.
    ids = {node_id: f"n{index}" for index, node_id in enumerate(drawing.nodes)}
    for node_id, (kind, label_lines) in drawing.nodes.items():
        # In DOT, a backslash-n in a label ends a centred line; a backslash from the data is doubled so it stays a backslash.
        label = "\\n".join(line.replace("\\", "\\\\") for line in label_lines)
        graph.node(ids[node_id], label=label, **_STYLES[kind])
    for source, target, label in drawing.edges:
        graph.edge(ids[source], ids[target], label=label)
    return graph


def _mermaid_text(value: str) -> str:
    return value.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
