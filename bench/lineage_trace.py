"""Benchmark: depth-20 upstream traces on a lineage graph of at least one million nodes.

The script writes a synthetic graph through the lineage writer (the same
statements the consumer runs): chains of `--stages` pipeline stages, each
stage a trigger decision, a job with one attempt, and an output commit with
two files. Every job also reads one shared reference commit per group of 100
chains, so traces cross between chains as real pipelines do.

It then times, on random chain ends, the full `custody audit trace` query with
`--max-depth` 20 and, as the baseline measured in the same run, an indexed point
lookup of one commit by key. It prints p50 and p95 of both and their ratios.

Run by hand (it takes several minutes); Neo4j comes from the CUSTODY_NEO4J_*
settings:

    .venv/bin/python bench/lineage_trace.py --nodes 1000000
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from custody.commits import compute_commit_id  # noqa: E402
from custody.events import CloudEvent, make_event  # noqa: E402
from custody.events import models  # noqa: E402
from custody.graphdb import Neo4jConnector  # noqa: E402
from custody.settings import load_settings  # noqa: E402
from lineage import model  # noqa: E402
from lineage.audit.targets import parse_target  # noqa: E402
from lineage.audit.tracing import trace  # noqa: E402
from lineage.synthetic import SOURCE, Stage, build_chain, sha256_text  # noqa: E402
from lineage.writing import GraphWriter  # noqa: E402

CHAINS_PER_REFERENCE = 100
FILES_PER_COMMIT = 2


def stages(count: int) -> list[Stage]:
    return [
        Stage(f"stage-{index:02d}", f"repo-{index + 1:02d}", owner=f"owner-{index % 5}", service_account=f"runner-{index:02d}", output_files=("part-0.parquet", "part-1.parquet"))
        for index in range(count)
    ]


def nodes_per_chain(stage_count: int) -> int:
    # Upload commit and its files, then per stage: decision, job, attempt, output commit and its files.
    return 1 + FILES_PER_COMMIT + stage_count * (4 + FILES_PER_COMMIT)


def reference_upload(group: int) -> tuple[CloudEvent, str]:
    file = models.FileVersion(path=f"lookup-{group}.csv", size=100, sha256=sha256_text(f"reference-{group}"))
    commit_id = compute_commit_id("reference", None, [file])
    data = models.DataCommitted(
        repo="reference", bucket="acme-reference", commit_id=commit_id, files=[file],
        author=models.Agent(kind="person", name="erin"), committed_at=datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=group),
        origin=models.UploadOrigin(via="cli"),
    )
    return make_event(data, source=SOURCE), commit_id


def build_graph(writer: GraphWriter, *, chain_count: int, stage_specs: list[Stage], batch_events: int) -> tuple[list[str], int, float]:
    """Write the chains; return the last commit of each chain, the event count and the seconds spent writing."""
    ends: list[str] = []
    pending: list[CloudEvent] = []
    events_written = 0
    write_seconds = 0.0
    reference = None
    started = time.monotonic()
    for index in range(chain_count):
        if index % CHAINS_PER_REFERENCE == 0:
            reference_event, reference_id = reference_upload(index // CHAINS_PER_REFERENCE)
            pending.append(reference_event)
            reference = models.InputCommit(repo="reference", commit_id=reference_id)
        chain = build_chain(
            tag=f"chain-{index}", stages=stage_specs, with_registrations=index == 0, extra_inputs=[reference],
            start=datetime(2026, 2, 1, tzinfo=timezone.utc) + timedelta(seconds=index),
        )
        pending.extend(chain.events)
        ends.append(chain.commits[-1])
        if len(pending) >= batch_events:
            write_seconds += _write(writer, pending)
            events_written += len(pending)
            pending = []
        if (index + 1) % 500 == 0:
            elapsed = time.monotonic() - started
            print(f"  {index + 1}/{chain_count} chains, {events_written} events written, {events_written / max(write_seconds, 1e-9):.0f} events/s in Neo4j, {elapsed:.0f}s", flush=True)
    if pending:
        write_seconds += _write(writer, pending)
        events_written += len(pending)
    return ends, events_written, write_seconds


def _write(writer: GraphWriter, events: list[CloudEvent]) -> float:
    started = time.monotonic()
    writer.write(events)
    return time.monotonic() - started


def count_nodes(connector: Neo4jConnector, namespace: str) -> int:
    total = 0
    with connector.driver().session(database=connector.database) as session:
        for label in model.KEY_LABELS:
            total += session.run(f"MATCH (n:{label}) WHERE n.ns = $ns RETURN count(n) AS n", ns=namespace).single()["n"]
    return total


def time_point_lookups(connector: Neo4jConnector, namespace: str, commit_ids: list[str]) -> list[float]:
    timings = []
    with connector.driver().session(database=connector.database) as session:
        for commit_id in commit_ids:
            started = time.perf_counter()
            record = session.execute_read(lambda tx: tx.run("MATCH (c:Commit {ns: $ns, id: $id}) RETURN c", ns=namespace, id=commit_id).single())
            timings.append(time.perf_counter() - started)
            assert record is not None, f"commit {commit_id} missing"
    return timings


def time_traces(connector: Neo4jConnector, namespace: str, commit_ids: list[str], depth: int) -> tuple[list[float], list[int]]:
    timings, sizes = [], []
    for commit_id in commit_ids:
        started = time.perf_counter()
        result = trace(connector, namespace, parse_target(f"commit:{commit_id}"), max_depth=depth)
        timings.append(time.perf_counter() - started)
        sizes.append(len(result.jobs))
    return timings, sizes


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1_000_000, help="Minimum number of nodes to write (default 1,000,000).")
    parser.add_argument("--stages", type=int, default=25, help="Pipeline stages per chain (default 25; must exceed --depth).")
    parser.add_argument("--depth", type=int, default=20, help="Job stages each trace follows (default 20).")
    parser.add_argument("--samples", type=int, default=200, help="Traces and lookups timed (default 200).")
    parser.add_argument("--batch-events", type=int, default=2000, help="Events per write transaction while building (default 2000).")
    parser.add_argument("--namespace", default="bench-trace", help="Graph namespace to build in (default bench-trace).")
    parser.add_argument("--reuse", action="store_true", help="Time an already built namespace instead of building it.")
    parser.add_argument("--keep", action="store_true", help="Keep the graph afterwards (default: delete it).")
    args = parser.parse_args()
    if args.stages <= args.depth:
        parser.error("--stages must be larger than --depth, so every trace is cut by the depth limit")
    logging.basicConfig(level=logging.WARNING)

    settings = load_settings()
    connector = Neo4jConnector(settings.neo4j)
    writer = GraphWriter(connector, namespace=args.namespace)
    writer.start()
    stage_specs = stages(args.stages)
    chain_count = -(-args.nodes // nodes_per_chain(args.stages))
    rng = random.Random(20260302)

    print(f"machine: {platform.machine()}, {_cpu_count()} cores, {_memory_gib():.0f} GiB; Neo4j {settings.neo4j.uri}; {datetime.now(timezone.utc):%Y-%m-%d}")
    if args.reuse:
        ends = [build_chain(tag=f"chain-{index}", stages=stage_specs, with_registrations=False, extra_inputs=[_reference_for(index)]).commits[-1] for index in rng.sample(range(chain_count), args.samples)]
        events_written, write_seconds = 0, 0.0
    else:
        writer.clear()
        print(f"building {chain_count} chains of {args.stages} stages ({nodes_per_chain(args.stages)} nodes each) in namespace {args.namespace!r}", flush=True)
        all_ends, events_written, write_seconds = build_graph(writer, chain_count=chain_count, stage_specs=stage_specs, batch_events=args.batch_events)
        ends = rng.sample(all_ends, args.samples)

    nodes = count_nodes(connector, args.namespace)
    print(f"graph: {nodes} nodes in namespace {args.namespace!r}")
    if events_written:
        print(f"build: {events_written} events in {write_seconds:.0f}s of write transactions ({events_written / write_seconds:.0f} events/s, batches of {args.batch_events})")

    # Warm the page cache and the query plans, as a running audit service would be.
    time_traces(connector, args.namespace, ends[: min(20, len(ends))], args.depth)
    time_point_lookups(connector, args.namespace, ends[: min(20, len(ends))])

    lookups = time_point_lookups(connector, args.namespace, ends)
    traces, sizes = time_traces(connector, args.namespace, ends, args.depth)
    report = {
        "nodes": nodes,
        "samples": len(ends),
        "depth": args.depth,
        "jobs_per_trace": statistics.median(sizes),
        "trace_p50_ms": percentile(traces, 0.50) * 1000,
        "trace_p95_ms": percentile(traces, 0.95) * 1000,
        "lookup_p50_ms": percentile(lookups, 0.50) * 1000,
        "lookup_p95_ms": percentile(lookups, 0.95) * 1000,
    }
    report["ratio_p50"] = report["trace_p50_ms"] / report["lookup_p50_ms"]
    report["ratio_p95"] = report["trace_p95_ms"] / report["lookup_p95_ms"]

    print(f"depth-{args.depth} upstream trace ({report['jobs_per_trace']:.0f} jobs each): p50 {report['trace_p50_ms']:.1f} ms, p95 {report['trace_p95_ms']:.1f} ms")
    print(f"indexed point lookup (baseline):      p50 {report['lookup_p50_ms']:.2f} ms, p95 {report['lookup_p95_ms']:.2f} ms")
    print(f"ratio trace / lookup: p50 {report['ratio_p50']:.1f}x, p95 {report['ratio_p95']:.1f}x")
    print("json: " + json.dumps(report))

    if not args.keep:
        writer.clear()
    connector.close()


def _reference_for(index: int) -> models.InputCommit:
    _, commit_id = reference_upload(index // CHAINS_PER_REFERENCE)
    return models.InputCommit(repo="reference", commit_id=commit_id)


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 0


def _memory_gib() -> float:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


if __name__ == "__main__":
    main()
