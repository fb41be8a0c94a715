"""Lineage: the consumer that writes the provenance graph to Neo4j, and the audit queries over it.

`consuming` reads the commit, pipeline history, decision and job topics and
writes every batch through `writing.GraphWriter`, whose statements (`statements`)
are built from events by `rows`. `audit` runs the trace, impact, who, job, cypher
and report queries; `docs/audit.md` describes the graph model.
"""
