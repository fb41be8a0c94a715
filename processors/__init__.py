"""Processors: pipeline specs, the faust worker that triggers jobs on commits, and the executors that run them.

Entry points: `custody pipeline ...` (processors.registry, processors.specfiles,
processors.reruns) and `custody processors run` (processors.worker). The design,
the runner contract and the exactly-once protocol are described in docs/processors.md.
"""
