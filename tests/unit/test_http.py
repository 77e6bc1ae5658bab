"""HTTP endpoints over a real socket on 127.0.0.1 (port 0): metrics, health, readiness, status."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families

from backfuture_daemon.reconciler.state import ConfigStatus, DaemonSnapshot
from backfuture_daemon.telemetry.http import HttpServer, start_http_server
from backfuture_daemon.telemetry.metrics import SnapshotCollector
from tests.helpers.snapshots import (
    BAD_REVISION,
    CANARIES,
    CANARY_KEY,
    REVISION,
    realistic_snapshot,
    register_canaries,
)


@dataclass
class Daemon:
    """Stands in for the reconcile loop: owns the snapshot and counts reconcile requests."""

    snapshot: DaemonSnapshot = field(default_factory=realistic_snapshot)
    reconciles: int = 0
    alive: bool = True

    def snap(self) -> DaemonSnapshot:
        return self.snapshot

    async def reconcile(self) -> None:
        self.reconciles += 1


Start = Callable[..., Awaitable[HttpServer]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    servers: list[HttpServer] = []

    async def _start(
        daemon: Daemon,
        *,
        reconcile: bool = True,
        liveness: bool = False,
    ) -> HttpServer:
        registry = CollectorRegistry()
        registry.register(SnapshotCollector(daemon.snap))
        server = await start_http_server(
            "127.0.0.1",
            0,
            registry=registry,
            snapshot_fn=daemon.snap,
            reconcile_fn=daemon.reconcile if reconcile else None,
            liveness_fn=(lambda: daemon.alive) if liveness else None,
        )
        servers.append(server)
        return server

    yield _start
    for server in servers:
        await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(
    http: aiohttp.ClientSession, server: HttpServer, path: str, **kw: object
) -> tuple[int, str, str]:
    async with http.get(server.url + path, **kw) as resp:  # type: ignore[arg-type]
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def test_port_zero_binds_a_free_port_and_stop_releases_it(
    start: Start, http: aiohttp.ClientSession
) -> None:
    server = await start(Daemon())
    assert server.port > 0
    status, _, _ = await get(http, server, "/healthz")
    assert status == 200
    await server.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(http, server, "/healthz")


async def test_metrics_prometheus_text(start: Start, http: aiohttp.ClientSession) -> None:
    server = await start(Daemon())
    status, ctype, body = await get(http, server, "/metrics")
    assert status == 200
    assert ctype.startswith("text/plain")
    names = {s.name for f in text_string_to_metric_families(body) for s in f.samples}
    assert "backfuture_connection_up" in names
    assert "backfuture_build_info" in names


async def test_metrics_gzip_when_asked(start: Start, http: aiohttp.ClientSession) -> None:
    server = await start(Daemon())
    async with http.get(server.url + "/metrics", headers={"Accept-Encoding": "gzip"}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Encoding"] == "gzip"
        assert "backfuture_connection_up{" in await resp.text()


async def test_metrics_openmetrics_when_asked(start: Start, http: aiohttp.ClientSession) -> None:
    server = await start(Daemon())
    status, ctype, body = await get(
        http, server, "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert status == 200
    assert ctype.startswith("application/openmetrics-text")
    families = {f.name: f.type for f in parse_om(body)}
    assert families["backfuture_connection_checks"] == "counter"
    assert families["backfuture_build"] == "info"


async def test_healthz_never_depends_on_the_snapshot(
    start: Start, http: aiohttp.ClientSession
) -> None:
    daemon = Daemon()

    def broken() -> DaemonSnapshot:
        raise RuntimeError("exchange down")

    daemon.snap = broken  # type: ignore[method-assign]
    server = await start(daemon)
    status, ctype, body = await get(http, server, "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert ctype.startswith("application/json")
    status, _, _ = await get(http, server, "/readyz")
    assert status == 503


async def test_healthz_follows_the_heartbeat(start: Start, http: aiohttp.ClientSession) -> None:
    daemon = Daemon()
    server = await start(daemon, liveness=True)
    assert (await get(http, server, "/healthz"))[0] == 200
    daemon.alive = False
    status, _, body = await get(http, server, "/healthz")
    assert status == 503
    assert "heartbeat" in json.loads(body)["reason"]


async def test_readyz_lifecycle(start: Start, http: aiohttp.ClientSession) -> None:
    daemon = Daemon(snapshot=DaemonSnapshot(config=ConfigStatus()))
    server = await start(daemon)
    status, _, body = await get(http, server, "/readyz")
    assert status == 503
    assert json.loads(body)["reason"] == "first config load not done"
    daemon.snapshot = realistic_snapshot()
    status, _, body = await get(http, server, "/readyz")
    assert (status, json.loads(body)["revision"]) == (200, REVISION)
    daemon.snapshot = replace(daemon.snapshot, shutting_down=True)
    status, _, body = await get(http, server, "/readyz")
    assert (status, json.loads(body)["reason"]) == (503, "shutting down")
    # liveness stays green while shutting down: the process is fine, it is just leaving
    assert (await get(http, server, "/healthz"))[0] == 200


async def test_status_document(start: Start, http: aiohttp.ClientSession) -> None:
    server = await start(Daemon())
    status, ctype, body = await get(http, server, "/status")
    assert status == 200
    assert ctype.startswith("application/json")
    doc = json.loads(body)
    assert doc["ready"] is True
    config = doc["config"]
    assert config["applied_revision"] == REVISION
    assert config["attempted_revision"] == BAD_REVISION
    assert config["in_sync"] is False
    assert config["last_error"].startswith("config/prod.sops.yaml: ")
    assert config["applied_digest"] == "sha256:" + "ab" * 32
    assert len(doc["reconciles"]) == 5
    assert doc["reconciles"][-1]["result"] == "failure"
    assert doc["reconciles"][-1]["error_classes"] == ["decrypt_corrupt"]
    by_name = {c["name"]: c for c in doc["connections"]}
    assert set(by_name) == {
        "MEXC Spot Main",
        "KuCoin Spot",
        "MEXC Withdraw Key",
        "KuCoin Futures New",
    }
    failed = by_name["MEXC Withdraw Key"]
    assert failed["status"] == "failed"
    assert failed["report"]["error_classes"] == ["withdraw_enabled", "ip_not_allowed"]
    assert failed["report"]["remedies"][0].startswith("Disable the withdrawal permission")
    assert failed["report"]["permissions"]["withdraw"] is True
    assert failed["scheduling"]["consecutive_failures"] == 2
    assert failed["fingerprint"] == "fp-failed"
    assert by_name["MEXC Spot Main"]["report"]["key"] == "mx0v…9f2c"
    assert by_name["KuCoin Futures New"]["report"] is None
    assert by_name["KuCoin Futures New"]["status"] == "unknown"
    bots = {b["strategy"]: b for b in doc["bots"]}
    assert bots["Withdraw Bot"]["state"] == "paused"
    assert bots["Withdraw Bot"]["enabled"] is False
    assert bots["KC Alts"]["state"] == "running"


async def test_secrets_never_in_status_or_metrics(
    start: Start, http: aiohttp.ClientSession
) -> None:
    register_canaries()
    server = await start(Daemon())
    _, _, status_body = await get(http, server, "/status")
    _, _, metrics_body = await get(http, server, "/metrics")
    for canary in CANARIES:
        assert canary not in status_body
        assert canary not in metrics_body
    doc = json.loads(status_body)
    failed = next(c for c in doc["connections"] if c["name"] == "MEXC Withdraw Key")
    # the unmasked key from a careless producer comes out masked
    assert failed["report"]["key"] == CANARY_KEY[:4] + "…" + CANARY_KEY[-4:]
    assert "<redacted>" in failed["report"]["steps"][0]["reason"]
    assert "<redacted>" in doc["config"]["last_error"]


async def test_post_reconcile(start: Start, http: aiohttp.ClientSession) -> None:
    daemon = Daemon()
    server = await start(daemon)
    async with http.post(server.url + "/reconcile") as resp:
        assert resp.status == 202
        assert (await resp.json())["status"] == "accepted"
    assert daemon.reconciles == 1
    async with http.get(server.url + "/reconcile") as resp:
        assert resp.status == 405
    daemon.snapshot = replace(daemon.snapshot, shutting_down=True)
    async with http.post(server.url + "/reconcile") as resp:
        assert resp.status == 503
    assert daemon.reconciles == 1


async def test_post_reconcile_unwired(start: Start, http: aiohttp.ClientSession) -> None:
    server = await start(Daemon(), reconcile=False)
    async with http.post(server.url + "/reconcile") as resp:
        assert resp.status == 503


async def test_unknown_path_is_404(start: Start, http: aiohttp.ClientSession) -> None:
    server = await start(Daemon())
    assert (await get(http, server, "/nope"))[0] == 404
