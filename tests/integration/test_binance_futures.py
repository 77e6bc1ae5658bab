"""The Binance connection test for a USDⓈ-M futures strategy, through the real ccxt `binance` and
`binanceusdm` clients against the sandbox venue: the perpetuals load from the public fapi
exchangeInfo alone, a key with `enableFutures` reads its futures account, one without fails with
no_futures_permission, and a pair without a perpetual is not tradable.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from backfuture_daemon.configuration.models import Policy
from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import CheckStep, ConnectionReport, ConnectionStatus
from backfuture_daemon.health import ErrorClass as E
from backfuture_daemon.health import StepStatus as S
from tests.integration.binance_support import (
    CANARY,
    FULL,
    BinanceVenue,
    binance_registered,
    connection_for,
)
from tests.integration.connection_test_support import strategy

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("binance_registered")]
__all__ = ["binance_registered"]
LOOPBACK = Policy(egress_ips=("127.0.0.1",))
FUTURES = (*FULL, "enableFutures")


@pytest.fixture
async def venue() -> AsyncIterator[BinanceVenue]:
    v = BinanceVenue()
    await v.start()
    try:
        yield v
    finally:
        await v.stop()


@pytest.fixture
async def tester() -> AsyncIterator[ConnectionTester]:
    t = ConnectionTester(timeout=2.0)
    yield t
    await t.close()


async def run(
    tester: ConnectionTester,
    venue: BinanceVenue,
    pairs: tuple[str, ...] = ("BTC/USDT",),
    **key: Any,
) -> ConnectionReport:
    k = venue.add_key(**key)
    connection = connection_for(venue, k)
    report = await tester.test(connection, [strategy(connection, pairs, "futures")], LOOPBACK)
    assert CANARY not in json.dumps(report.to_dict())
    return report


def step(report: ConnectionReport, name: str) -> CheckStep:
    return next(s for s in report.steps if s.name == name)


async def test_futures_key_online_markets_public(
    tester: ConnectionTester, venue: BinanceVenue
) -> None:
    report = await run(tester, venue, permissions=FUTURES)
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    loads = {p for p in venue.counts() if "exchangeInfo" in p or p.startswith("/sapi/v1/margin")}
    assert loads == {"/api/v3/exchangeInfo", "/fapi/v1/exchangeInfo"}, venue.counts()
    venue.reset_counts()
    report = await run(tester, venue, permissions=FUTURES)
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    futures = step(report, "futures")
    assert futures.status is S.PASS
    assert "USDT 1000" in futures.reason
    assert report.permissions["futures"] is True
    assert sum(venue.counts().values()) <= 5, venue.counts()


async def test_key_without_futures_permission(
    tester: ConnectionTester, venue: BinanceVenue
) -> None:
    report = await run(tester, venue)
    assert report.status is ConnectionStatus.FAILED
    for name in ("permissions", "futures"):
        found = step(report, name)
        assert (found.status, found.error_class) == (S.FAIL, E.NO_FUTURES_PERMISSION)
    assert report.error_classes == (E.NO_FUTURES_PERMISSION,)


async def test_pair_without_a_perpetual(tester: ConnectionTester, venue: BinanceVenue) -> None:
    report = await run(tester, venue, ("BTC/USDT", "SOL/USDT"), permissions=FUTURES)
    pairs = step(report, "pairs")
    assert (pairs.status, pairs.error_class) == (S.FAIL, E.PAIR_NOT_TRADABLE)
    assert "SOL/USDT: no such USDⓈ-M perpetual market on Binance" in pairs.reason


async def test_futures_account_refused_names_the_request_ip(
    tester: ConnectionTester,
) -> None:
    """Without the key endpoint the futures flag is unknown; the futures account answers -2015
    with the caller's address (fapi's wording), and the step says what to do."""
    bare = BinanceVenue(without=frozenset({"/sapi/v1/account/apiRestrictions"}))
    await bare.start()
    try:
        report = await run(tester, bare)
    finally:
        await bare.stop()
    futures = step(report, "futures")
    assert futures.status is S.FAIL, report.to_dict()
    assert "request ip: 127.0.0.1" in futures.reason
    assert "enable futures" in futures.reason
