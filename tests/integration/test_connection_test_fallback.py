"""Probe fallback and shared market data, end to end against the sandbox with real ccxt.

An older exchange deployment without the key-info endpoint is played by a small forwarding
proxy in front of the sandbox that answers 404 for that one path (a fake at the port: ccxt and
the sandbox are untouched); the connection test must then prove trade with a test order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import ConnectionStatus, ErrorClass, StepStatus
from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.connection_test_support import (
    FULL,
    LOOPBACK_POLICY,
    add_key,
    connection_for,
    key_info_404_proxy,
    strategy,
)

pytestmark = pytest.mark.integration
S = StepStatus


@pytest.fixture
async def old_endpoints(sandbox: Sandbox) -> AsyncIterator[dict[str, dict[str, str]]]:
    mexc_runner, mexc_url = await key_info_404_proxy(sandbox.mexc_url)
    kucoin_runner, kucoin_url = await key_info_404_proxy(sandbox.kucoin_url)
    yield {
        "mexc": {"spot": mexc_url},
        "kucoin": {"spot": kucoin_url, "futures": sandbox.kucoin_futures_url},
    }
    await mexc_runner.cleanup()
    await kucoin_runner.cleanup()


@pytest.mark.parametrize("exchange", ["mexc", "kucoin"])
async def test_without_key_info_trade_is_proven_by_a_test_order(
    tester: ConnectionTester,
    sandbox: Sandbox,
    old_endpoints: dict[str, dict[str, str]],
    exchange: str,
) -> None:
    key = add_key(sandbox, exchange)
    conn = connection_for(sandbox, key, endpoints=old_endpoints[exchange])
    report = await tester.test(conn, [strategy(conn)], LOOPBACK_POLICY)
    steps = {s.name: s for s in report.steps}
    assert steps["permissions"].status is S.PASS, report.to_dict()
    assert "test order" in steps["permissions"].reason
    assert steps["withdraw"].status is S.UNKNOWN
    assert steps["ip_whitelist"].status is S.UNKNOWN
    assert report.status is ConnectionStatus.DEGRADED
    assert report.permissions["trade"] is True
    assert report.permissions["withdraw"] is None

    read_only = [p for p in FULL[exchange] if p not in ("SPOT_DEAL_WRITE", "Spot")]
    key = add_key(sandbox, exchange, permissions=read_only)
    conn = connection_for(sandbox, key, endpoints=old_endpoints[exchange])
    report = await tester.test(conn, [strategy(conn)], LOOPBACK_POLICY)
    assert report.status is ConnectionStatus.FAILED
    assert report.error_classes == (ErrorClass.NO_TRADE_PERMISSION,)


@pytest.mark.parametrize("exchange", ["mexc", "kucoin"])
async def test_concurrent_tests_load_market_data_once(
    tester: ConnectionTester, sandbox: Sandbox, exchange: str
) -> None:
    conns = [connection_for(sandbox, add_key(sandbox, exchange)) for _ in range(20)]
    reports = await asyncio.gather(*(tester.test(c, [strategy(c)], LOOPBACK_POLICY) for c in conns))
    assert all(r.status is ConnectionStatus.ONLINE for r in reports)
    counts = sandbox.request_counts()
    market_path = "/api/v3/exchangeInfo" if exchange == "mexc" else "/api/v2/symbols"
    assert counts[market_path] == 1
    assert tester.markets.loads == 1
    assert sum(counts.values()) <= 2 + 5 * len(conns)


async def test_market_data_is_refreshed_after_the_interval(sandbox: Sandbox) -> None:
    now = [0.0]
    tester = ConnectionTester(timeout=2.0, market_refresh_interval=60.0, monotonic=lambda: now[0])
    try:
        conn = connection_for(sandbox, add_key(sandbox, "mexc"))
        await tester.test(conn, [strategy(conn)], LOOPBACK_POLICY)
        await tester.test(conn, [strategy(conn)], LOOPBACK_POLICY)
        assert tester.markets.loads == 1
        now[0] = 61.0
        report = await tester.test(conn, [strategy(conn)], LOOPBACK_POLICY)
        assert report.status is ConnectionStatus.ONLINE  # served from the previous copy
        for _ in range(100):
            if tester.markets.loads == 2:
                break
            await asyncio.sleep(0.01)
        assert tester.markets.loads == 2
        assert sandbox.request_counts()["/api/v3/exchangeInfo"] == 2
    finally:
        await tester.close()


async def test_failed_market_load_is_retried_by_the_next_caller(
    tester: ConnectionTester, sandbox: Sandbox
) -> None:
    from backfuture_daemon.configuration.models import Endpoints
    from backfuture_daemon.exchanges import mexc

    spec = mexc.client_spec(Endpoints(**sandbox.endpoints("mexc")))
    sandbox.faults("mexc").http_5xx = 503
    results = await asyncio.gather(
        *(tester.markets.source(spec) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, Exception) for r in results)
    assert sandbox.request_counts()["/api/v3/exchangeInfo"] == 1  # five callers, one load
    sandbox.faults("mexc").http_5xx = 0
    source = await tester.markets.source(spec)
    assert "BTC/USDT" in source.markets
    assert tester.markets.loads == 1
