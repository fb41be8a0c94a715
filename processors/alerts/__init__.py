"""Alerts: rules and built-in detectors over the event stream, delivered to sinks.

`rules.py` reads the YAML rules file, `matching.py` evaluates field predicates,
`engine.py` turns events into alerts with dedupe and throttling, `detectors.py`
contains the built-in detectors, `sinks.py` delivers alerts, `subscribers.py` is the
Python API for user handlers, and `service.py` runs it all on Kafka.
"""
