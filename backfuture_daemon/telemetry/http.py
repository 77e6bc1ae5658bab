"""The daemon's HTTP endpoints (aiohttp): /metrics, /healthz, /readyz, /status, POST /reconcile.

`backfuture run` calls `start_http_server(...)` with its injected registry, a function returning
the current `DaemonSnapshot` and a function that requests a reconcile pass; tests do the same on
port 0. Liveness never depends on exchanges or git; readiness is "first config load done and not
shutting down"; /status is the snapshot as JSON with keys masked and secrets redacted.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from backfuture_daemon.reconciler.state import DaemonSnapshot
from backfuture_daemon.redaction import redact_tree
from backfuture_daemon.telemetry.page import render_page
from backfuture_daemon.telemetry.status import render_status

log = logging.getLogger("backfuture.http")

SnapshotFn = Callable[[], DaemonSnapshot]
ReconcileFn = Callable[[], Awaitable[None]]
LivenessFn = Callable[[], bool]

_JSON = "application/json"


def _json(payload: object, status: int = 200) -> web.Response:
    # The final guard: whatever rendered the payload, registered secrets do not leave. The tree
    # is redacted value by value before it is dumped, so the output is always valid JSON.
    text = json.dumps(redact_tree(payload), indent=2, sort_keys=False, ensure_ascii=False)
    return web.Response(text=text + "\n", status=status, content_type=_JSON)


@dataclass(slots=True)
class _Handlers:
    registry: CollectorRegistry
    snapshot_fn: SnapshotFn
    reconcile_fn: ReconcileFn | None
    liveness_fn: LivenessFn | None

    async def metrics(self, request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        body = encoder(self.registry)
        response = web.Response(body=body, headers={"Content-Type": content_type})
        if len(body) > 4096:  # Prometheus asks for gzip; 100 connections are ~370 kB of text
            response.enable_compression()
        return response

    async def healthz(self, request: web.Request) -> web.Response:
        # Answering at all proves the event loop runs; the optional heartbeat proves the
        # reconcile loop does. Exchanges and git are deliberately not consulted.
        if self.liveness_fn is not None and not self.liveness_fn():
            return _json({"status": "unhealthy", "reason": "reconcile loop heartbeat stale"}, 503)
        return _json({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        try:
            snapshot = self.snapshot_fn()
        except Exception:
            log.exception("readiness: no snapshot")
            return _json({"status": "not ready", "reason": "no snapshot yet"}, 503)
        if snapshot.shutting_down:
            return _json({"status": "not ready", "reason": "shutting down"}, 503)
        if not snapshot.ready:
            return _json({"status": "not ready", "reason": "first config load not done"}, 503)
        return _json({"status": "ready", "revision": snapshot.config.applied_revision})

    async def status(self, request: web.Request) -> web.Response:
        return _json(render_status(self.snapshot_fn()))

    async def page(self, request: web.Request) -> web.Response:
        # The same redacted document as /status, rendered for a person.
        doc = redact_tree(render_status(self.snapshot_fn()))
        assert isinstance(doc, dict)
        html = render_page(doc, now=time.time())
        return web.Response(
            text=html,
            content_type="text/html",
            charset="utf-8",
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )

    async def reconcile(self, request: web.Request) -> web.Response:
        if self.reconcile_fn is None:
            return _json({"status": "unavailable", "reason": "reconcile not wired"}, 503)
        if self.snapshot_fn().shutting_down:
            return _json({"status": "unavailable", "reason": "shutting down"}, 503)
        await self.reconcile_fn()
        log.info("reconcile requested over HTTP from %s", request.remote)
        return _json({"status": "accepted"}, 202)


class HttpServer:
    """A running server: `.port` is the bound port (useful with port 0); `await stop()`."""

    def __init__(self, runner: web.AppRunner, host: str, port: int) -> None:
        self._runner = runner
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        await self._runner.cleanup()


def build_app(
    *,
    registry: CollectorRegistry,
    snapshot_fn: SnapshotFn,
    reconcile_fn: ReconcileFn | None,
    liveness_fn: LivenessFn | None = None,
) -> web.Application:
    handlers = _Handlers(registry, snapshot_fn, reconcile_fn, liveness_fn)
    app = web.Application()
    app.router.add_get("/", handlers.page)
    app.router.add_get("/metrics", handlers.metrics)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/readyz", handlers.readyz)
    app.router.add_get("/status", handlers.status)
    app.router.add_post("/reconcile", handlers.reconcile)
    return app


async def start_http_server(
    host: str,
    port: int,
    *,
    registry: CollectorRegistry,
    snapshot_fn: SnapshotFn,
    reconcile_fn: ReconcileFn | None,
    liveness_fn: LivenessFn | None = None,
) -> HttpServer:
    """Serve the endpoints on host:port (0 picks a free port) until `await server.stop()`.

    `reconcile_fn` should only *request* a pass (set an event) and return quickly; POST /reconcile
    answers 202 once it returns. `liveness_fn`, when given, turns /healthz to 503 when it returns
    False (e.g. the reconcile loop's heartbeat is older than a few resync intervals).
    """
    app = build_app(
        registry=registry,
        snapshot_fn=snapshot_fn,
        reconcile_fn=reconcile_fn,
        liveness_fn=liveness_fn,
    )
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = port
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            bound = int(address[1])
            break
    log.info("serving / /metrics /healthz /readyz /status on %s:%d", host, bound)
    return HttpServer(runner, host, bound)
