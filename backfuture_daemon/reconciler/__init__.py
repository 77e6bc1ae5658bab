"""The reconciler layer: desired (git) + observed (tests, bots) -> plan -> apply, in one loop.

May import `bots` (the lifecycle and its command type), `configuration` (models, revision probe),
and the leaves `health`, `errors`, `redaction`, `logs`. It reaches exchanges only through the
`Tester` port (checks.py), wired by backfuture_daemon/daemon.py; it never imports `telemetry`,
`commands` or `daemon` (telemetry reads its snapshots from above). `plan`, `gate`, `backoff`,
`desired` and `events` are pure; `config_tracker`, `checks`, `loop` and `watch` do the I/O.
"""
