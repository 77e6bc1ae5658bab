"""Layer `telemetry`: the exporters — Prometheus metrics, the JSON `/status`, the status page at
`/`, and the HTTP server that serves them. Reads snapshots only (`reconciler.state`, `bots.spec`,
`health`); never imports exchanges (an import contract). The only code that imports
prometheus_client. Wired by daemon.py.
"""
