"""The reconciler layer: desired (git) + observed (tests, bots) -> plan -> apply, in one loop.

Imports `bots`, `configuration` and the leaves (`health`, `errors`, `redaction`, `logs`); reaches
exchanges only through the `Tester` port wired by daemon.py; never `telemetry`/`commands`/`daemon`.
Pure: plan, gate, backoff, desired, events; I/O: config_tracker, checks, loop, watch.
"""
